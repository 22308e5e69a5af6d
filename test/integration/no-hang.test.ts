// No command waits forever on a misbehaving peer or kernel state: each ends with a clear error
// within its bound and leaves nothing behind. Every trun run here has a short timeout, so a
// regression fails its test (killed, exit 137) instead of stalling the file.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { REPO, TRUN_FRONTEND, TestEnv, assertNothingLeft, newProcesses, ours, snapshot } from '../helpers/trun';

const env = new TestEnv('no-hang');
const BOUND_MS = 15_000;
const FREEZER = '/sys/fs/cgroup/freezer';
const UNIFIED = '/sys/fs/cgroup/unified';
/** Cgroups this file froze: thawed and removed at the end even when a test failed midway. */
const made: { dir: string; thaw: () => void }[] = [];
/** Misbehaving socket peers this file started: killed (by pid) at the end. */
const peers: ChildProcess[] = [];

test.after(() => {
  for (const p of peers) p.kill('SIGKILL');
  for (const m of made) {
    try { m.thaw(); } catch { /* gone */ }
  }
  env.cleanup();
  for (const m of made.reverse()) {
    try { fs.rmdirSync(m.dir); } catch { /* gone, or still holds a stuck process: left to see */ }
  }
});

function freezeV1(dir: string): void {
  fs.mkdirSync(dir, { recursive: true });
  made.push({ dir, thaw: () => fs.writeFileSync(path.join(dir, 'freezer.state'), 'THAWED') });
  fs.writeFileSync(path.join(dir, 'freezer.state'), 'FROZEN');
  assert.is(fs.readFileSync(path.join(dir, 'freezer.state'), 'utf8').trim(), 'FROZEN');
}

function freezeV2(dir: string): void {
  fs.mkdirSync(dir, { recursive: true });
  made.push({ dir, thaw: () => fs.writeFileSync(path.join(dir, 'cgroup.freeze'), '0') });
  fs.writeFileSync(path.join(dir, 'cgroup.freeze'), '1');
}

function bounded(args: string[]) {
  const t0 = Date.now();
  const r = env.trun(args, { timeoutMs: BOUND_MS });
  assert.ok(Date.now() - t0 < BOUND_MS, `trun ${args[0]} hung (killed after ${BOUND_MS} ms)`);
  return r;
}

test('create refuses a cgroup frozen on the v1 freezer, and leaves it frozen', () => {
  if (!fs.existsSync(FREEZER)) return;
  const id = env.id();
  const dir = path.join(FREEZER, `trun-hang-${id}`);
  freezeV1(dir);
  const bundle = env.bundle((s) => { s.linux!.cgroupsPath = `/trun-hang-${id}`; });
  const before = snapshot();
  const r = bounded(['create', '-b', bundle, id]);
  assert.is(r.code, 1, r.stderr);
  assert.match(r.stderr, /container's cgroup unexpectedly frozen/);
  assert.ok(r.stderr.includes(dir), r.stderr);
  assertNothingLeft(env, before, id);
  // The other hierarchies' directories were never made; the frozen one is untouched.
  assert.not.ok(fs.existsSync(path.join('/sys/fs/cgroup/memory', `trun-hang-${id}`)), 'no memory cgroup made');
  assert.is(fs.readFileSync(path.join(dir, 'freezer.state'), 'utf8').trim(), 'FROZEN');
});

test('create refuses a cgroup frozen with cgroup.freeze (v2), and a frozen parent\'s new child', () => {
  if (!fs.existsSync(path.join(UNIFIED, 'cgroup.controllers'))) return;
  const id = env.id();
  const dir = path.join(UNIFIED, `trun-hang-${id}`);
  freezeV2(dir);
  for (const [cgroupsPath, child] of [[`/trun-hang-${id}`, dir], [`/trun-hang-${id}/child`, path.join(dir, 'child')]] as const) {
    const bundle = env.bundle((s) => { s.linux!.cgroupsPath = cgroupsPath; });
    const before = snapshot();
    const r = bounded(['run', '-d', '-b', bundle, id]);
    assert.is(r.code, 1, r.stderr);
    assert.match(r.stderr, /container's cgroup unexpectedly frozen: "[^"]*trun-hang-/);
    assertNothingLeft(env, before, id);
    assert.not.ok(fs.existsSync(child) && child !== dir, 'no child cgroup made');
    assert.is(fs.readFileSync(path.join(dir, 'cgroup.freeze'), 'utf8').trim(), '1');
  }
});

test('exec refuses a container whose cgroup someone else froze; trun pause keeps its own error', () => {
  if (!fs.existsSync(path.join(UNIFIED, 'cgroup.controllers'))) return;
  const id = env.id();
  const cg = `trun-hang-${id}`;
  env.ok(['run', '-d', '-b', env.bundle((s) => { s.linux!.cgroupsPath = `/${cg}`; }, ['sleep', '1000']), id]);
  const pid = env.state(id).pid;
  const before = snapshot();
  // trun freezes through the v1 freezer on this hybrid host: a v2 freeze is someone else's.
  const dir = path.join(UNIFIED, cg);
  made.push({ dir, thaw: () => fs.writeFileSync(path.join(dir, 'cgroup.freeze'), '0') });
  fs.writeFileSync(path.join(dir, 'cgroup.freeze'), '1');
  const r = bounded(['exec', id, 'true']);
  assert.is(r.code, 255, r.stderr); // runc's exit code for a failed exec
  assert.match(r.stderr, /container's cgroup unexpectedly frozen: "[^"]*trun-hang-/);
  assert.equal(newProcesses(before).filter(ours), [], 'no exec process left');
  assert.equal(fs.readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').trim().split('\n').map(Number), [pid], 'nothing joined the cgroup');
  fs.writeFileSync(path.join(dir, 'cgroup.freeze'), '0');
  env.ok(['pause', id]);
  const p = bounded(['exec', id, 'true']);
  assert.is(p.code, 255, p.stderr);
  assert.match(p.stderr, /cannot exec in a paused container/);
  env.ok(['resume', id]);
  assert.is(bounded(['exec', id, 'true']).code, 0);
  env.ok(['delete', '--force', id]);
});

test('start refuses a created container someone froze on the other hierarchy, and starts once thawed', () => {
  if (!fs.existsSync(path.join(UNIFIED, 'cgroup.controllers'))) return;
  const id = env.id();
  const cg = `trun-hang-${id}`;
  env.ok(['create', '-b', env.bundle((s) => { s.linux!.cgroupsPath = `/${cg}`; }, ['sleep', '1000']), id]);
  const dir = path.join(UNIFIED, cg);
  made.push({ dir, thaw: () => fs.writeFileSync(path.join(dir, 'cgroup.freeze'), '0') });
  fs.writeFileSync(path.join(dir, 'cgroup.freeze'), '1');
  const r = bounded(['start', id]);
  assert.is(r.code, 1, r.stderr);
  assert.match(r.stderr, /container's cgroup unexpectedly frozen: "[^"]*trun-hang-/);
  fs.writeFileSync(path.join(dir, 'cgroup.freeze'), '0');
  assert.is(env.state(id).status, 'created');
  assert.is(bounded(['start', id]).code, 0);
  assert.is(env.state(id).status, 'running');
  env.ok(['delete', '--force', id]);
});

test('a hook that exits leaving a daemon on its stderr does not hold create', () => {
  const id = env.id();
  const daemonPid = path.join(env.dir, `daemon-${id}`);
  // The daemon outlives the bound: before the fix, create waited for its stderr to close.
  const hook = { path: '/bin/sh', args: ['sh', '-c', `sleep 60 & echo $! >> ${daemonPid}; echo hook done >&2`] };
  const bundle = env.bundle((s) => { s.hooks = { createRuntime: [hook], poststart: [hook] }; }, ['sleep', '1000']);
  try {
    assert.is(bounded(['create', '-b', bundle, id]).code, 0);
    assert.is(bounded(['start', id]).code, 0);
    assert.is(env.state(id).status, 'running');
  } finally {
    const pids = fs.existsSync(daemonPid) ? fs.readFileSync(daemonPid, 'utf8').split('\n').filter(Boolean).map(Number) : [];
    for (const pid of pids) {
      try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    }
    env.trun(['delete', '--force', id]);
  }
});

test('delete --force of a container whose ancestor cgroup someone froze ends with an error naming the pid', () => {
  if (!fs.existsSync(FREEZER)) return;
  const id = env.id();
  const parent = path.join(FREEZER, `trun-hang-${id}`);
  fs.mkdirSync(parent);
  env.ok(['run', '-d', '-b', env.bundle((s) => { s.linux!.cgroupsPath = `/trun-hang-${id}/c`; }, ['sleep', '1000']), id]);
  const pid = env.state(id).pid;
  freezeV1(parent); // SIGKILL waits for a thaw of the ancestor, which trun does not own
  const r = bounded(['delete', '--force', id]);
  assert.is(r.code, 1, r.stderr);
  assert.match(r.stderr, new RegExp(`container init ${pid} did not exit within 10 s of SIGKILL \\(state [A-Z]`));
  assert.ok(fs.existsSync(path.join(env.root, id)), 'the state stays for a later delete');
  fs.writeFileSync(path.join(parent, 'freezer.state'), 'THAWED');
  assert.is(bounded(['delete', '--force', id]).code, 0);
});

/**
 * A unix socket peer that misbehaves (build/seccomp-listener's modes): "silent" accepts and then
 * neither reads nor closes; "noaccept" has its listen backlog full and never accepts.
 */
async function badPeer(sock: string, mode: 'silent' | 'noaccept'): Promise<void> {
  const child = spawn(path.join(REPO, 'build/seccomp-listener'), [sock, `${sock}.log`, mode], { stdio: ['ignore', 'pipe', 'inherit'] });
  peers.push(child);
  await new Promise<void>((resolve, reject) => {
    child.stdout!.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`seccomp-listener exited ${code}`)));
  });
}

test('a console socket or seccomp listener that never accepts fails create at once; one that never reads does not hold it', async () => {
  const bundles: Array<[string, (sock: string) => string, string[]]> = [
    ['console', () => env.bundle((s) => { s.process!.terminal = true; }, ['sleep', '1000']), ['--console-socket']],
    ['seccomp', (sock) => env.bundle((s) => {
      s.process!.noNewPrivileges = true;
      s.linux!.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', listenerPath: sock, syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_NOTIFY' }] };
    }, ['sleep', '1000']), []],
  ];
  for (const [what, bundleFor, flag] of bundles) {
    const stuck = path.join(env.dir, `${what}-noaccept.sock`);
    await badPeer(stuck, 'noaccept');
    const id = env.id();
    const before = snapshot();
    const r = bounded(['create', ...(flag.length ? [...flag, stuck] : []), '-b', bundleFor(stuck), id]);
    assert.is(r.code, 1, `${what}: ${r.stderr}`);
    assert.ok(r.stderr.includes(`connect "${stuck}" (its listen backlog is full: nothing accepts)`), `${what}: ${r.stderr}`);
    assertNothingLeft(env, before, id);

    const silent = path.join(env.dir, `${what}-silent.sock`);
    await badPeer(silent, 'silent');
    const ok = env.id();
    assert.is(bounded(['create', ...(flag.length ? [...flag, silent] : []), '-b', bundleFor(silent), ok]).code, 0, what);
    assert.is(env.state(ok).status, 'created');
    env.ok(['delete', '--force', ok]);
  }
});

test('a seccomp listener that never reads a state bigger than the socket buffer: killing create ends the init too', async () => {
  const sock = path.join(env.dir, 'seccomp-big-silent.sock');
  await badPeer(sock, 'silent');
  const id = env.id();
  const bundle = env.bundle((s) => {
    s.process!.noNewPrivileges = true;
    s.annotations = { big: 'x'.repeat(400 << 10) }; // in the state the listener gets: more than a socket buffer (208 KiB)
    s.linux!.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', listenerPath: sock, syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_NOTIFY' }] };
  }, ['sleep', '1000']);
  const before = snapshot();
  const t = env.spawn(['--debug', 'create', '-b', bundle, id]);
  let stderr = '';
  // Past the "seccomp" sync point the init hands the state over; the caller then gives up.
  await new Promise<void>((resolve, reject) => {
    t.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (/answered GO to [^ ]*seccomp/.test(stderr)) resolve();
    });
    t.once('exit', () => reject(new Error(`create exited early: ${stderr.slice(0, 2000)}`)));
  });
  t.kill('SIGTERM');
  await new Promise((resolve) => t.once('exit', resolve));
  // The init sees its caller gone (EOF on the sync socket) instead of waiting on the listener.
  const deadline = Date.now() + BOUND_MS;
  while (newProcesses(before).filter(ours).length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  assert.equal(newProcesses(before).filter(ours), [], 'no init left');
  env.trun(['delete', '--force', id]);
});

test('the front end runs cold when its server takes the request and never answers, or never accepts', async () => {
  for (const mode of ['silent', 'noaccept'] as const) {
    const dir = path.join(env.dir, `srv-${mode}`);
    fs.mkdirSync(dir, { mode: 0o700 });
    await badPeer(path.join(dir, 'sock'), mode);
    const r = bounded(['--version']);
    const warm = env.trun(['--version'], { cli: [TRUN_FRONTEND], env: { TRUN_SERVER_DIR: dir }, timeoutMs: BOUND_MS });
    assert.is(warm.code, 0, `${mode}: ${warm.stderr}`);
    assert.is(warm.stdout, r.stdout, mode);
    if (mode === 'silent') assert.match(warm.stderr, /trun server did not answer within \d+ ms: running without it/);
  }
});

test('SIGTERM ends an exec whose launch hangs: the init is killed, nothing is left', async () => {
  const id = env.id();
  env.ok(['run', '-d', '-b', env.bundle(() => {}, ['sleep', '1000']), id]);
  // An init that never reads its plan: the launch waits on it with no bound of its own.
  const fake = path.join(env.dir, 'hung-init');
  fs.writeFileSync(fake, '#!/bin/sh\necho "hung init $$" >&2\nexec sleep 1000\n', { mode: 0o755 });
  const before = snapshot();
  const t = env.spawn(['exec', id, 'true'], { env: { TRUN_INIT: fake } });
  let stderr = '';
  const initPid = await new Promise<number>((resolve, reject) => {
    t.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
      const m = /hung init (\d+)/.exec(stderr);
      if (m) resolve(Number(m[1]));
    });
    t.once('exit', () => reject(new Error(`exec exited early: ${stderr}`)));
  });
  const killer = setTimeout(() => t.kill('SIGKILL'), BOUND_MS);
  const code = await new Promise<number | null>((resolve) => {
    t.once('exit', (c, sig) => resolve(c ?? (sig === 'SIGKILL' ? 137 : null)));
    t.kill('SIGTERM');
  });
  clearTimeout(killer);
  try { process.kill(initPid, 'SIGKILL'); } catch { /* gone, as it should be */ }
  assert.is(code, 255, stderr);
  assert.match(stderr, /exec interrupted by SIGTERM before its process started/);
  assert.equal(newProcesses(before).filter(ours), [], 'no init left');
  env.ok(['delete', '--force', id]);
});

test.run();
