// trun under a real containerd: a private daemon (its own config, root, state and socket under a
// temp dir), driven with ctr 1.6, whose runc shim (containerd-shim-runc-v2) calls dist/trun.js in
// runc's place (`ctr run --runc-binary`). The shim calls `trun --root <runc-root>/<ns> --log
// <bundle>/log.json --log-format json` with create/start/exec/ps/pause/resume/kill/delete.
import { spawn } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readProcStat } from '../../runtime/linux/proc';
import {
  IMAGE, buildImageArchive, cgroupDirs, cmd, cmdOk, onPty, removeCgroupTree, startDaemon, stopDaemon, unmountUnder, until,
} from '../helpers/callers';
import { TRUN, newProcesses, ours, snapshot, type HostSnapshot, type Result } from '../helpers/trun';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'trun-test-containerd-'));
const address = path.join(tmp, 'containerd.sock');
const ctdState = path.join(tmp, 'state');
const runcRoot = path.join(tmp, 'runc');
const fifoDir = path.join(tmp, 'fifo');
/** A namespace of our own: containerd puts containers' cgroups under /<namespace>/<id>. */
const ns = `trun-test-${process.pid}`;
/** Where trun keeps the state of the shim's containers: the shim passes --root <runc-root>/<namespace>. */
const trunRoot = path.join(runcRoot, ns);
/** What `ctr run` and `ctr task exec` need to call trun and keep their fifos under tmp. */
const RUNTIME = ['--runc-binary', TRUN, '--runc-root', runcRoot];
const ids: string[] = [];
let daemon: ReturnType<typeof startDaemon> | undefined;
let before: HostSnapshot;

const ctr = (args: string[], opts: { input?: string } = {}): Result =>
  cmd('ctr', ['--address', address, '--namespace', ns, ...args], opts);
const ctrOk = (args: string[]): string => cmdOk('ctr', ['--address', address, '--namespace', ns, ...args]);
const ctrArgv = (args: string[]): string[] => ['ctr', '--address', address, '--namespace', ns, ...args];
const trunState = (id: string) => cmd(process.execPath, [TRUN, '--root', trunRoot, 'state', id]);

function newId(name: string): string {
  const id = `${name}-${process.pid}`;
  ids.push(id);
  return id;
}

/** `ctr task ls` for one task: its pid and status (RUNNING, PAUSED, STOPPED...), or undefined. */
function task(id: string): { pid: number; status: string } | undefined {
  for (const line of ctrOk(['task', 'ls']).split('\n').slice(1)) {
    const [name, pid, status] = line.trim().split(/\s+/);
    if (name === id) return { pid: Number(pid), status: status! };
  }
  return undefined;
}

/** The shim's socket for a task (containerd 1.6: /run/containerd/s/sha256(<address>/<namespace>/<id>)). */
function shimSocket(id: string): string {
  return `/run/containerd/s/${crypto.createHash('sha256').update(path.join(address, ns, id)).digest('hex')}`;
}

/** A file in the running task's rootfs, which the shim mounts in the host's mount namespace. */
const inRootfs = (id: string, rel: string) => path.join(ctdState, 'io.containerd.runtime.v2.task', ns, id, 'rootfs', rel);

test.before(async () => {
  const archive = buildImageArchive(tmp);
  fs.writeFileSync(path.join(tmp, 'config.toml'), [
    'version = 2',
    `root = ${JSON.stringify(path.join(tmp, 'root'))}`,
    `state = ${JSON.stringify(ctdState)}`,
    // No CRI (it would look for CNI and the like on the host), no snapshotters we do not use.
    'disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",',
    '  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]',
    '[grpc]', `  address = ${JSON.stringify(address)}`,
    '[ttrpc]', `  address = ${JSON.stringify(`${address}.ttrpc`)}`,
    '[debug]', '  address = ""',
    '[metrics]', '  address = ""',
    '[plugins."io.containerd.internal.v1.opt"]', `  path = ${JSON.stringify(path.join(tmp, 'opt'))}`,
    '',
  ].join('\n'));
  daemon = startDaemon('containerd', ['--config', path.join(tmp, 'config.toml'), '--log-level', 'debug'], path.join(tmp, 'containerd.log'));
  await until('containerd to serve its socket', () => {
    if (daemon!.exitCode !== null) throw new Error(`containerd exited ${daemon!.exitCode}: ${fs.readFileSync(path.join(tmp, 'containerd.log'), 'utf8')}`);
    return fs.existsSync(address) && cmd('ctr', ['--address', address, 'version']).code === 0;
  }, 30_000);
  ctrOk(['images', 'import', archive]);
  before = snapshot();
});

test.after(async () => {
  for (const id of ids) {
    ctr(['task', 'kill', '-a', '-s', 'SIGKILL', id]);
    ctr(['task', 'delete', '-f', id]);
    ctr(['containers', 'rm', id]);
  }
  if (daemon) await stopDaemon(daemon);
  // What a failed test may have left: trun's containers and the shims' rootfs mounts.
  for (const id of fs.existsSync(trunRoot) ? fs.readdirSync(trunRoot) : []) cmd(process.execPath, [TRUN, '--root', trunRoot, 'delete', '--force', id]);
  unmountUnder(tmp);
  removeCgroupTree(ns);
  fs.rmSync(tmp, { recursive: true, force: true });
});

test('ctr run --rm: the output, the exit code and stdin go through the shim and trun', () => {
  const id = newId('fg');
  const r = ctr(['run', '--rm', '--fifo-dir', fifoDir, ...RUNTIME, IMAGE, id,
    'sh', '-c', 'read line; echo "hello from trun, $line"; echo to-stderr >&2; exit 3'], { input: 'with stdin\n' });
  assert.is(r.stdout, 'hello from trun, with stdin\n');
  assert.match(r.stderr, /to-stderr/);
  assert.is(r.code, 3);
  assert.not.ok(fs.existsSync(path.join(trunRoot, id)), 'trun deleted its state');
  assert.equal(cgroupDirs(`${ns}/${id}`), [], 'no cgroup left');
});

test('ctr run -d, then task exec, ps, metrics, pause/resume, kill and delete', async () => {
  const id = newId('detached');
  const loop = 'trap "exit 42" TERM; i=0; while :; do i=$((i+1)); echo $i > /tmp/n; mv /tmp/n /tmp/count; sleep 0.05; done';
  assert.is(ctrOk(['run', '-d', '--fifo-dir', fifoDir, ...RUNTIME, IMAGE, id, 'sh', '-c', loop]), '');
  const t = task(id)!;
  assert.is(t.status, 'RUNNING');
  // The shim's runc root is trun's state: same pid, and the init is the shim's child (its subreaper).
  const st = JSON.parse(cmdOk(process.execPath, [TRUN, '--root', trunRoot, 'state', id])) as { status: string; pid: number };
  assert.is(st.status, 'running');
  assert.is(st.pid, t.pid);
  const shim = readProcStat(t.pid)!.ppid;
  assert.match(fs.readFileSync(`/proc/${shim}/comm`, 'utf8'), /^containerd-shim/);

  const count = () => Number(fs.readFileSync(inRootfs(id, 'tmp/count'), 'utf8'));
  await until('the counter to start', () => fs.existsSync(inRootfs(id, 'tmp/count')));

  const ex = ctr(['task', 'exec', '--fifo-dir', fifoDir, '--exec-id', 'e1', id, 'sh', '-c', 'cat /tmp/count; echo exec-stderr >&2; exit 7']);
  assert.is(ex.code, 7, ex.stderr);
  assert.match(ex.stdout, /^\d+\n$/);
  assert.match(ex.stderr, /exec-stderr/);

  assert.is(ctrOk(['task', 'exec', '-d', '--fifo-dir', fifoDir, '--exec-id', 'sleeper', id, 'sleep', '1000']), '');
  const pids = ctrOk(['task', 'ps', id]).split('\n').slice(1).map((l) => Number(l.trim().split(/\s+/)[0])).filter((p) => p > 0);
  assert.ok(pids.includes(t.pid), `ps lists the init ${t.pid}: ${pids.join(' ')}`);
  assert.ok(pids.some((p) => { try { return fs.readFileSync(`/proc/${p}/cmdline`, 'utf8') === 'sleep\u00001000\u0000'; } catch { return false; } }),
    `ps lists the exec'd sleep: ${pids.join(' ')}`);

  // Read by the shim from the cgroup trun put the container in.
  const metrics = ctrOk(['task', 'metrics', id]);
  const current = /pids\.current\s+(\d+)/.exec(metrics);
  assert.ok(current && Number(current[1]) >= 2, metrics);

  assert.is(ctrOk(['task', 'pause', id]), '');
  assert.is(task(id)!.status, 'PAUSED');
  assert.is(JSON.parse(trunState(id).stdout).status, 'paused');
  const frozen = count();
  // Not a synchronisation: a frozen counter is one that does not move over many of its ticks.
  await new Promise((r) => setTimeout(r, 300));
  assert.is(count(), frozen, 'the counter stood still while paused');

  assert.is(ctrOk(['task', 'resume', id]), '');
  assert.is(task(id)!.status, 'RUNNING');
  await until('the counter to move again', () => count() > frozen);

  assert.is(ctrOk(['task', 'kill', id]), ''); // SIGTERM: the trap exits 42
  await until('the task to stop', () => task(id)?.status === 'STOPPED');
  const del = ctr(['task', 'delete', id]);
  assert.is(del.code, 0, del.stderr);
  assert.match(del.stderr, /exit code 42/);
  assert.not.ok(fs.existsSync(path.join(trunRoot, id)), 'trun deleted its state');
  assert.is(task(id), undefined);
  ctrOk(['containers', 'rm', id]);
  assert.equal(cgroupDirs(`${ns}/${id}`), [], 'no cgroup left');
});

test('ctr task kill --all reaches the exec\'d processes too', async () => {
  const id = newId('killall');
  ctrOk(['run', '-d', '--fifo-dir', fifoDir, ...RUNTIME, IMAGE, id, 'sleep', '1000']);
  ctrOk(['task', 'exec', '-d', '--fifo-dir', fifoDir, '--exec-id', 'x1', id, 'sleep', '999']);
  const pids = ctrOk(['task', 'ps', id]).split('\n').slice(1).map((l) => Number(l.trim().split(/\s+/)[0])).filter((p) => p > 0);
  assert.is(pids.length, 2, pids.join(' '));
  ctrOk(['task', 'kill', '--all', '--signal', 'SIGKILL', id]);
  await until('the task to stop', () => task(id)?.status === 'STOPPED');
  assert.match(ctr(['task', 'delete', id]).stderr, /exit code 137/);
  await until('every process of the container to be gone', () => pids.every((p) => { const s = readProcStat(p); return !s || s.state === 'Z'; }));
  ctrOk(['containers', 'rm', id]);
  assert.not.ok(fs.existsSync(path.join(trunRoot, id)));
});

test('a failed create: the shim reports trun\'s error from its JSON log, and nothing is left', () => {
  const id = newId('missing');
  const r = ctr(['run', '--rm', '--fifo-dir', fifoDir, ...RUNTIME, IMAGE, id, '/nonexistent']);
  assert.is.not(r.code, 0);
  assert.match(r.stderr, /OCI runtime create failed: .*exec "\/nonexistent": no such file or directory/);
  assert.not.ok(fs.existsSync(path.join(trunRoot, id)), 'no state');
  ctr(['containers', 'rm', id]);
  assert.equal(cgroupDirs(`${ns}/${id}`), [], 'no cgroup left');
});

test('ctr run -t and ctr task exec -t: a pty from trun over the shim\'s console socket', async () => {
  const id = newId('tty');
  const r = onPty(ctrArgv(['run', '--rm', '-t', '--fifo-dir', fifoDir, ...RUNTIME, IMAGE, id,
    'sh', '-c', 'tty; [ -t 0 ] && [ -t 1 ] && echo both-ttys; exit 5']));
  assert.match(r.stdout, /\/dev\/pts\/\d+\r*\n/);
  assert.match(r.stdout, /both-ttys/);
  assert.is(r.code, 5, r.stdout + r.stderr);

  const id2 = newId('tty-exec');
  ctrOk(['run', '-d', '--fifo-dir', fifoDir, ...RUNTIME, IMAGE, id2, 'sleep', '1000']);
  const ex = onPty(ctrArgv(['task', 'exec', '-t', '--fifo-dir', fifoDir, '--exec-id', 't1', id2, 'sh', '-c', 'tty; exit 4']));
  assert.match(ex.stdout, /\/dev\/pts\/\d+\r*\n/);
  assert.is(ex.code, 4, ex.stdout + ex.stderr);
  ctrOk(['task', 'kill', '--signal', 'SIGKILL', id2]);
  await until('the task to stop', () => task(id2)?.status === 'STOPPED');
  ctr(['task', 'delete', id2]);
  ctrOk(['containers', 'rm', id2]);
});

// With swap, a container over its memory limit is swapped out rather than killed.
const hasSwap = /^SwapTotal:\s+[1-9]/m.test(fs.readFileSync('/proc/meminfo', 'utf8'));
(hasSwap ? test.skip : test)('an OOM kill: the shim sees it in the cgroup trun put the container in', async () => {
  const events = spawn('ctr', ['--address', address, '--namespace', ns, 'events'], { stdio: ['ignore', 'pipe', 'ignore'] });
  let seen = '';
  events.stdout.on('data', (d: Buffer) => { seen += d.toString(); });
  try {
    // Subscribed once an event we cause shows up: a namespace label publishes /namespaces/update.
    let n = 0;
    await until('ctr events to subscribe', () => {
      if (seen.includes('/namespaces/update')) return true;
      ctrOk(['namespaces', 'label', ns, `probe=${++n}`]);
      return false;
    });
    const id = newId('oom');
    const r = ctr(['run', '--rm', '--fifo-dir', fifoDir, '--memory-limit', String(32 << 20), ...RUNTIME, IMAGE, id,
      'sh', '-c', 'x=$(head -c 200000000 /dev/zero | tr "\\0" a); echo survived']);
    assert.is(r.code, 137, r.stdout + r.stderr);
    assert.not.match(r.stdout, /survived/);
    await until('the shim\'s /tasks/oom event', () => seen.includes(`/tasks/oom {"container_id":"${id}"}`));
  } finally {
    events.kill('SIGKILL');
  }
});

test('after all of it: no task, no trun state, no shim, no process, no mount, no cgroup', async () => {
  assert.is(ctrOk(['task', 'ls', '-q']), '');
  assert.is(ctrOk(['containers', 'ls', '-q']), '');
  assert.equal(fs.existsSync(trunRoot) ? fs.readdirSync(trunRoot) : [], [], 'trun state under the shim\'s runc root');
  // The shims exit once their task is deleted; the processes they leave would land on our subreaper.
  const stray = () => newProcesses(before).filter(ours);
  try {
    await until('the shims to exit', () => stray().length === 0);
  } catch {
    assert.equal(stray().map((p) => `${p} ${fs.readFileSync(`/proc/${p}/cmdline`, 'utf8')}`), [], 'no process');
  }
  for (const id of ids) {
    assert.not.ok(fs.existsSync(shimSocket(id)), `shim socket of ${id}`);
    assert.equal(cgroupDirs(`${ns}/${id}`), [], `cgroup of ${id}`);
  }
  assert.equal(snapshot().mounts.filter((m) => m.includes(tmp)), [], 'no mount under the temp dir');
});

test.run();
