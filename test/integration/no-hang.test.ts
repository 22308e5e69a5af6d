// No command waits forever on a misbehaving peer or kernel state: each ends with a clear error
// within its bound and leaves nothing behind. Every trun run here has a short timeout, so a
// regression fails its test (killed, exit 137) instead of stalling the file.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { TestEnv, assertNothingLeft, newProcesses, ours, snapshot } from '../helpers/trun';

const env = new TestEnv('no-hang');
const BOUND_MS = 15_000;
const FREEZER = '/sys/fs/cgroup/freezer';
const UNIFIED = '/sys/fs/cgroup/unified';
/** Cgroups this file froze: thawed and removed at the end even when a test failed midway. */
const made: { dir: string; thaw: () => void }[] = [];

test.after(() => {
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

test.run();
