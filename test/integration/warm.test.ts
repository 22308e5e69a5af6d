// The warm path: dist/trun (the C front end) with a server under a private TRUN_SERVER_DIR. Each
// case checks what the cold path's tests check, through the front end, and that the server really
// served it (its request log), plus what only the warm path has: refusal of another uid, idle
// exit, and the fallback to the cold path with identical results.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isAlive, readProcStat } from '../../runtime/linux/proc';
import { frame } from '../../runtime/init/protocol';
import { ClientMsg, encodeRequest } from '../../runtime/server/protocol';
import { TRUN, TRUN_FRONTEND, TestEnv, type Result, type RunOpts } from '../helpers/trun';

const env = new TestEnv('warm');
const FRONTEND = [TRUN_FRONTEND];
const COLD = [process.execPath, TRUN];
const servers: string[] = [];

/** A socket dir for a server of its own; its server is stopped after the suite. */
function serverDir(name: string): string {
  const dir = path.join(env.dir, name);
  servers.push(dir);
  return dir;
}
const SRV = serverDir('srv');
const WARM_ENV = { TRUN_SERVER_DIR: SRV, TRUN_SERVER_LOG_REQUESTS: '1' };

function warm(args: string[], opts: RunOpts = {}): Result {
  return env.trun(args, { ...opts, cli: FRONTEND, env: { ...WARM_ENV, ...(opts.env ?? {}) } });
}
function cold(args: string[], opts: RunOpts = {}): Result {
  return env.trun(args, { ...opts, cli: COLD });
}
function warmOk(args: string[], opts: RunOpts = {}): string {
  const r = warm(args, opts);
  if (r.code !== 0) throw new Error(`trun ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

function serverLog(dir = SRV): string {
  try {
    return fs.readFileSync(path.join(dir, 'server.log'), 'utf8');
  } catch {
    return '';
  }
}
/** How many commands the server has served so far (TRUN_SERVER_LOG_REQUESTS). */
function served(dir = SRV): number {
  return serverLog(dir).split('\n').filter((l) => l.includes(': served [')).length;
}
function serverPid(dir: string): number {
  try {
    return Number(fs.readFileSync(path.join(dir, 'server.pid'), 'utf8'));
  } catch {
    return 0;
  }
}
function running(pid: number): boolean {
  return pid > 0 && isAlive(pid);
}
async function until(what: string, cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
async function stopServer(dir: string): Promise<void> {
  const pid = serverPid(dir);
  if (!pid || !running(pid)) return;
  process.kill(pid, 'SIGTERM');
  try {
    await until(`server ${pid} to exit`, () => !running(pid), 5000);
  } catch {
    process.kill(pid, 'SIGKILL');
  }
}

/** Runs a trun command, then asserts the warm server served it (and did not decline it). */
function served1<T>(fn: () => T): T {
  const before = served();
  const out = fn();
  assert.is(served(), before + 1, `served warm (server log:\n${serverLog()})`);
  return out;
}

test.before(() => {
  warmOk(['--version']);
  assert.ok(running(serverPid(SRV)), 'the first call started a server');
});
test.after(async () => {
  for (const dir of servers) await stopServer(dir);
  env.cleanup();
});

test('run echo hello; exit codes; a second run is served by the same server', () => {
  const pid = serverPid(SRV);
  const r = served1(() => warm(['run', '-b', env.bundle(() => {}, ['echo', 'hello']), env.id()]));
  assert.equal(r, { code: 0, stdout: 'hello\n', stderr: '' });
  const r3 = served1(() => warm(['run', '-b', env.bundle(() => {}, ['sh', '-c', 'echo oops >&2; exit 3']), env.id()]));
  assert.equal(r3, { code: 3, stdout: '', stderr: 'oops\n' });
  assert.is(serverPid(SRV), pid);
});

test('create --pid-file, state, start, kill, delete', async () => {
  const id = env.id();
  const pidFile = path.join(env.dir, `${id}.pid`);
  served1(() => warmOk(['create', '--pid-file', pidFile, '-b', env.bundle(() => {}, ['sleep', '1000']), id]));
  const st = JSON.parse(served1(() => warmOk(['state', id])));
  assert.is(st.status, 'created');
  assert.is(fs.readFileSync(pidFile, 'utf8'), String(st.pid));
  served1(() => warmOk(['start', id]));
  assert.is(JSON.parse(warmOk(['state', id])).status, 'running');
  served1(() => warmOk(['kill', id, 'KILL']));
  await until('the container to stop', () => JSON.parse(warmOk(['state', id])).status === 'stopped');
  served1(() => warmOk(['delete', id]));
  assert.not.ok(fs.existsSync(path.join(env.root, id)));
});

test('after create returns, the init is a child of the caller\'s subreaper', () => {
  const id = env.id();
  served1(() => warmOk(['create', '-b', env.bundle(() => {}, ['sleep', '1000']), id]));
  const pid = env.state(id).pid;
  let reaper = process.ppid;
  while (reaper > 1 && !fs.readFileSync(`/proc/${reaper}/cmdline`, 'utf8').includes('subreaper')) reaper = readProcStat(reaper)!.ppid;
  assert.ok(reaper > 1, 'the test runs under build/subreaper');
  assert.is(readProcStat(pid)!.ppid, reaper);
  assert.match(fs.readlinkSync(`/proc/${pid}/exe`), /^\/memfd:trun-init/);
  warmOk(['delete', '-f', id]);
});

test('create\'s stdio reaches the container; the caller sees EOF when the container exits', async () => {
  const id = env.id();
  const bundle = env.bundle(() => {}, ['sh', '-c', 'echo started; while [ ! -e /tmp/go ]; do sleep 0.01; done; echo done']);
  const before = served();
  const child = spawn(TRUN_FRONTEND, ['--root', env.root, 'run', '-d', '-b', bundle, id], {
    stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...WARM_ENV },
  });
  let out = '';
  let ended = false;
  child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  const end = new Promise<void>((resolve) => child.stdout.on('end', () => { ended = true; resolve(); }));
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  assert.is(code, 0);
  assert.is(served(), before + 1);
  assert.not.ok(ended, 'the container still holds the pipe');
  fs.writeFileSync(path.join(bundle, 'rootfs/tmp/go'), '');
  await end;
  assert.is(out, 'started\ndone\n');
  warmOk(['delete', '-f', id]);
});

test('run in the foreground passes SIGTERM on and returns 143', async () => {
  const id = env.id();
  const bundle = env.bundle(() => {}, ['sh', '-c', 'trap "exit 143" TERM; echo ready; while :; do sleep 0.05; done']);
  const before = served();
  const child = env.spawn(['run', '-b', bundle, id], { cli: FRONTEND, env: WARM_ENV });
  await new Promise<void>((resolve) => child.stdout!.on('data', (d: Buffer) => { if (d.toString().includes('ready')) resolve(); }));
  child.kill('SIGTERM');
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  assert.is(code, 143);
  assert.is(served(), before + 1);
  assert.not.ok(fs.existsSync(path.join(env.root, id)));
});

test('a signal the command does not handle kills the front end as it kills a cold trun', async () => {
  // `events` handles INT/TERM; a foreground-less command (here: events is busy) is killed by HUP.
  const id = env.id();
  warmOk(['run', '-d', '-b', env.bundle(() => {}, ['sleep', '1000']), id]);
  for (const cli of [FRONTEND, COLD]) {
    const child = env.spawn(['events', '--interval', '50ms', id], { cli, env: WARM_ENV });
    await new Promise<void>((resolve) => child.stdout!.once('data', () => resolve()));
    child.kill('SIGHUP');
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('exit', (c, s) => resolve([c, s])));
    assert.equal([code, signal], [null, 'SIGHUP'], cli.join(' '));
    const stopped = env.spawn(['events', '--interval', '50ms', id], { cli, env: WARM_ENV });
    await new Promise<void>((resolve) => stopped.stdout!.once('data', () => resolve()));
    stopped.kill('SIGINT');
    assert.is(await new Promise<number | null>((resolve) => stopped.on('exit', (c) => resolve(c))), 0, 'events ends cleanly on SIGINT');
  }
  warmOk(['delete', '-f', id]);
});

test('exec: output, exit code, --pid-file; update --resources - reads the caller\'s stdin', () => {
  const id = env.id();
  warmOk(['run', '-d', '-b', env.bundle(() => {}, ['sleep', '1000']), id]);
  assert.is(served1(() => warmOk(['exec', id, 'sh', '-c', 'echo in; cat /proc/1/cmdline'])), 'in\nsleep\u00001000\u0000');
  assert.is(served1(() => warm(['exec', id, 'sh', '-c', 'exit 5'])).code, 5);
  const pidFile = path.join(env.dir, `${id}.exec.pid`);
  served1(() => warmOk(['exec', '-d', '--pid-file', pidFile, id, 'sleep', '1000']));
  assert.ok(running(Number(fs.readFileSync(pidFile, 'utf8'))));
  served1(() => warmOk(['update', '-r', '-', id], { input: JSON.stringify({ pids: { limit: 42 } }) }));
  assert.equal(env.state(id).status, 'running');
  assert.equal((JSON.parse(fs.readFileSync(path.join(env.root, id, 'state.json'), 'utf8')) as { config: { linux: { resources: { pids: unknown } } } })
    .config.linux.resources.pids, { limit: 42 });
  warmOk(['delete', '-f', id]);
});

test('errors: the same message and exit code as the cold path', () => {
  for (const args of [['state', 'no-such-id'], ['start', 'no-such-id'], ['bogus'], ['create', '-b', '/nonexistent', 'x'], ['delete']]) {
    const w = served1(() => warm(args));
    const c = cold(args);
    assert.equal(w, c, args.join(' '));
    assert.is(w.code, args[0] === 'bogus' ? 3 : 1); // runc: 3 for an unknown command
  }
});

test('concurrent commands: parallel runs, and one create wins for one id', async () => {
  const runs = Array.from({ length: 6 }, (_, i) => {
    const child = spawn(TRUN_FRONTEND, ['--root', env.root, 'run', '-b', env.bundle(() => {}, ['echo', `n${i}`]), env.id()], {
      stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...WARM_ENV },
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    return new Promise<[number | null, string]>((resolve) => child.on('close', (c) => resolve([c, out])));
  });
  const results = await Promise.all(runs);
  assert.equal(results, results.map((_, i) => [0, `n${i}\n`]));

  const id = env.id();
  const bundle = env.bundle(() => {}, ['sleep', '1000']);
  const creates = Array.from({ length: 4 }, () => {
    const child = spawn(TRUN_FRONTEND, ['--root', env.root, 'create', '-b', bundle, id], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...WARM_ENV } });
    let err = '';
    child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    return new Promise<[number | null, string]>((resolve) => child.on('exit', (c) => resolve([c, err])));
  });
  const made = await Promise.all(creates);
  assert.is(made.filter(([c]) => c === 0).length, 1, JSON.stringify(made));
  for (const [c, err] of made.filter(([code]) => code !== 0)) assert.equal([c, err], [1, 'container with given ID already exists\n']);
  // start and delete of the same id at once: serialised by the lock, whatever the order.
  const [start, del] = await Promise.all([['start', id], ['delete', '-f', id]].map((args) => new Promise<number | null>((resolve) => {
    spawn(TRUN_FRONTEND, ['--root', env.root, ...args], { stdio: 'ignore', env: { ...process.env, ...WARM_ENV } }).on('exit', (c) => resolve(c));
  })));
  assert.is(del, 0);
  assert.ok(start === 0 || start === 1);
  assert.not.ok(fs.existsSync(path.join(env.root, id)));
});

test('TRUN_NO_SERVER, an unusable server dir, or a server that cannot start: the cold path, same results', () => {
  const file = path.join(env.dir, 'a-file');
  fs.writeFileSync(file, '');
  const open = serverDir('open');
  fs.mkdirSync(open, { mode: 0o755 });
  fs.chmodSync(open, 0o755); // others may enter: not private, so never used
  const broken = serverDir('broken');
  fs.mkdirSync(path.join(broken, 'server.log'), { recursive: true }); // the server cannot open its log
  fs.chmodSync(broken, 0o700);
  const bundle = env.bundle(() => {}, ['sh', '-c', 'echo hi; exit 4']);
  const cases: Record<string, string>[] = [{ TRUN_NO_SERVER: '1' }, { TRUN_SERVER_DIR: path.join(file, 'srv') }, { TRUN_SERVER_DIR: open }, { TRUN_SERVER_DIR: broken }];
  for (const extra of cases) {
    const before = served();
    const w = warm(['run', '-b', bundle, env.id()], { env: extra });
    assert.equal(w, { code: 4, stdout: 'hi\n', stderr: '' }, JSON.stringify(extra));
    assert.equal(warm(['state', 'nope'], { env: extra }), cold(['state', 'nope']));
    assert.is(served(), before, 'not served warm');
  }
  assert.not.ok(fs.existsSync(path.join(open, 'sock')));
  assert.not.ok(fs.existsSync(path.join(broken, 'sock')));
});

test('a client whose umask differs is declined and runs cold, with the same result', () => {
  const before = served();
  const r = spawnSync('sh', ['-c', `umask 077; exec "${TRUN_FRONTEND}" --root "${env.root}" state nope`], { encoding: 'utf8', env: { ...process.env, ...WARM_ENV } });
  assert.equal([r.status, r.stdout, r.stderr], [1, '', 'container does not exist\n']);
  assert.is(served(), before);
  assert.match(serverLog(), /declined \(the front end runs the command cold\): Umask differs/);
});

test('the server refuses a client of another uid (SO_PEERCRED)', async () => {
  const dir = serverDir('shared');
  warmOk(['--version'], { env: { TRUN_SERVER_DIR: dir } });
  // Let anyone reach the socket: only the server's own check stands in the way now.
  fs.chmodSync(dir, 0o711);
  fs.chmodSync(path.join(dir, 'sock'), 0o666);
  const request = frame(ClientMsg.REQUEST as number, encodeRequest({ frontendDir: path.dirname(TRUN_FRONTEND), node: fs.realpathSync(process.execPath), cwd: '/', argv: ['--version'], env: {} }));
  const client = `const s = require('net').connect(process.argv[1]); let n = 0;
    s.on('connect', () => s.write(Buffer.from(process.argv[2], 'hex')));
    s.on('data', (d) => { n += d.length; }); s.on('error', () => {});
    s.on('close', () => process.stdout.write(String(n)));`;
  const as = (pre: string[]) => spawnSync(pre[0]!, [...pre.slice(1), process.execPath, '-e', client, path.join(dir, 'sock'), request.toString('hex')], { encoding: 'utf8' });
  const nobody = as(['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--']);
  assert.is(nobody.stdout.trim(), '0', `nobody got no answer at all: ${nobody.stderr}`);
  assert.match(serverLog(dir), /refused a client: uid 65534 is not the server's uid 0/);
  const root = as(['env']);
  assert.ok(Number(root.stdout.trim()) > 0, 'the same request from root is answered');
});

test('the server exits after its idle time and removes its socket', async () => {
  const dir = serverDir('idle');
  warmOk(['--version'], { env: { TRUN_SERVER_DIR: dir, TRUN_SERVER_IDLE_MS: '300' } });
  const pid = serverPid(dir);
  assert.ok(running(pid));
  await until('the idle server to exit', () => !running(pid));
  assert.not.ok(fs.existsSync(path.join(dir, 'sock')));
  assert.not.ok(fs.existsSync(path.join(dir, 'server.pid')));
  // The next call starts a new one.
  warmOk(['--version'], { env: { TRUN_SERVER_DIR: dir, TRUN_SERVER_IDLE_MS: '300' } });
  assert.ok(serverPid(dir) !== pid && serverPid(dir) > 0);
});

test.run();
