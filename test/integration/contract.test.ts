// The process contract with callers (containerd's shim, conmon): where the container's init ends
// up in the process tree, what holds its stdio, what its /proc/<pid>/exe is, and the console socket.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readProcStat } from '../../runtime/linux/proc';
import { startRecvtty } from '../helpers/console';
import { REPO, TRUN_ARGV, TestEnv } from '../helpers/trun';

const env = new TestEnv('contract');
test.after(() => env.cleanup());

test('after create returns, the init is a child of the caller\'s subreaper, not of trun', () => {
  const id = env.id();
  env.ok(['create', '-b', env.bundle(() => {}, ['sleep', '1000']), id]);
  const pid = env.state(id).pid;
  // The tests run under build/subreaper (make test): the nearest subreaper among our ancestors.
  let reaper = process.ppid;
  while (reaper > 1 && !fs.readFileSync(`/proc/${reaper}/cmdline`, 'utf8').includes('subreaper')) reaper = readProcStat(reaper)!.ppid;
  assert.ok(reaper > 1, 'the test runs under build/subreaper');
  assert.is(readProcStat(pid)!.ppid, reaper);
  env.ok(['delete', id]);
});

test('the init runs from a sealed memfd copy, never the binary on disk', () => {
  const id = env.id();
  env.ok(['create', '-b', env.bundle(() => {}, ['sleep', '1000']), id]);
  const pid = env.state(id).pid;
  const exe = fs.readlinkSync(`/proc/${pid}/exe`);
  assert.match(exe, /^\/memfd:trun-init/);
  assert.is.not(exe, path.join(REPO, 'dist/trun-init'));
  env.ok(['delete', id]);
});

test('trun keeps no copy of the stdio it passes on: the caller sees EOF when the container exits', async () => {
  const id = env.id();
  const bundle = env.bundle(() => {}, ['sh', '-c', 'echo started; while [ ! -e /tmp/go ]; do sleep 0.01; done; echo done']);
  const child = spawn(TRUN_ARGV[0]!, [...TRUN_ARGV.slice(1), '--root', env.root, 'run', '-d', '-b', bundle, id], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  let ended = false;
  child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  const end = new Promise<void>((resolve) => child.stdout.on('end', () => { ended = true; resolve(); }));
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  assert.is(code, 0, 'run -d returns while the container still runs');
  assert.not.ok(ended, 'the container still holds the pipe');
  fs.writeFileSync(path.join(bundle, 'rootfs/tmp/go'), '');
  await end; // only once the container, the last holder of the pipe, has exited
  assert.is(out, 'started\ndone\n');
  env.ok(['delete', '-f', id]);
});

test('a console over --console-socket: the pty master goes to the caller', async () => {
  // A socket path longer than sun_path's 108 bytes: the init must still connect.
  const deep = path.join(env.dir, 'a'.repeat(60), 'b'.repeat(60));
  fs.mkdirSync(deep, { recursive: true });
  const sock = path.join(deep, 'console.sock');
  const tty = await startRecvtty(sock);
  const id = env.id();
  const bundle = env.bundle((s) => { s.process!.terminal = true; }, ['sh', '-c', 'tty; echo hello-tty']);
  const r = env.trun(['run', '-d', '--console-socket', sock, '-b', bundle, id]);
  assert.is(r.code, 0, r.stderr);
  assert.is(await tty.done, 0);
  assert.match(tty.log(), /pty \d+/);
  assert.match(tty.output(), /\/dev\/pts\/\d+\r?\n/);
  assert.match(tty.output(), /hello-tty/);
  env.ok(['delete', '-f', id]);
});

test('signals trun was started with ignored are default again in the container (glibc-reserved ones too)', () => {
  const bundle = env.bundle(() => {}, ['grep', '-E', '^Sig(Ign|Blk)', '/proc/self/status']);
  const r = spawnSync(path.join(REPO, 'build/sigign'), [...TRUN_ARGV, '--root', env.root, 'run', '-b', bundle, env.id()], { encoding: 'utf8' });
  assert.is(r.stderr, '');
  assert.is(r.stdout, 'SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n');
});

test('a terminal without --console-socket is refused for create', () => {
  const id = env.id();
  const r = env.trun(['create', '-b', env.bundle((s) => { s.process!.terminal = true; }), id]);
  assert.is(r.code, 1);
  assert.match(r.stderr, /cannot allocate tty if trun will detach without setting console socket/);
  assert.not.ok(fs.existsSync(path.join(env.root, id)));
});

test('a time namespace applies the configured offsets', () => {
  const bundle = env.bundle((s) => {
    s.linux!.namespaces!.push({ type: 'time' });
    s.linux!.timeOffsets = { boottime: { secs: 86400 * 365, nanosecs: 0 } };
  }, ['cat', '/proc/uptime']);
  const r = env.trun(['run', '-b', bundle, env.id()]);
  assert.is(r.stderr, '');
  const inside = Number(r.stdout.split(' ')[0]);
  const host = Number(fs.readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
  assert.ok(inside - host > 86400 * 364, `uptime inside ${inside}, host ${host}`);
});

test('run in the foreground passes SIGTERM on and returns 128+15', async () => {
  const id = env.id();
  const bundle = env.bundle(() => {}, ['sh', '-c', 'trap "exit 143" TERM; echo ready; while :; do sleep 0.05; done']);
  const child = env.spawn(['run', '-b', bundle, id]);
  await new Promise<void>((resolve) => child.stdout!.on('data', (d: Buffer) => { if (d.toString().includes('ready')) resolve(); }));
  child.kill('SIGTERM');
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  assert.is(code, 143);
  assert.not.ok(fs.existsSync(path.join(env.root, id)));
});

test.run();
