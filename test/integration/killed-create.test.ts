// A `trun create` killed (SIGKILL) half way: what it leaves is listed as runc lists it, and
// `delete` removes all of it (state dir, cgroups on every hierarchy, processes), so the id can be
// used again. Also: a lock left by a trun whose pid was reused does not hold up later commands.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type HostSnapshot, TRUN, TestEnv, cgroupsOf, newProcesses, ours, snapshot, until } from '../helpers/trun';
import type { Spec } from '../../spec/types/runtime';

const env = new TestEnv('killed-create');
test.after(() => env.cleanup());
// Through the front end, the warm server starts with the first command: started before any test
// looks for new processes.
test.before(() => { env.trun(['list']); });

/**
 * Starts `trun create`, waits for `cond`, SIGKILLs that trun and waits for it to be gone. Always
 * the cold path's process, which does the work itself (a killed front end would leave the warm
 * server's create to finish or undo itself).
 */
async function killCreateWhen(id: string, bundle: string, cond: () => boolean, what: string): Promise<void> {
  const child = env.spawn(['create', '-b', bundle, id], { cli: [process.execPath, TRUN] });
  const exited = new Promise<void>((r) => child.on('exit', () => r()));
  let done = false;
  void exited.then(() => { done = true; });
  await until(() => cond() || done, what);
  assert.not.ok(done, `trun create ended before ${what}`);
  child.kill('SIGKILL');
  await exited;
}

/** A create of a new container killed once its cgroups exist (most often before its state.json). */
async function killOnceCgroupsExist(prefix: string): Promise<{ id: string; before: HostSnapshot; stateFile: string }> {
  const id = env.id(prefix);
  const before = snapshot();
  const stateFile = path.join(env.root, id, 'state.json');
  await killCreateWhen(id, env.bundle(() => {}, ['sleep', '1000']), () => cgroupsOf(id).length > 0 && !fs.existsSync(stateFile), 'the cgroups');
  return { id, before, stateFile };
}

/** After a killed create: delete --force leaves nothing, and the id can be created again. */
function assertDeleteForceCleans(id: string, before: HostSnapshot): void {
  assert.ok(fs.existsSync(path.join(env.root, id)), 'the killed create left its state dir');
  const r = env.trun(['delete', '--force', id]);
  assert.is(r.code, 0, r.stderr);
  assert.not.ok(fs.existsSync(path.join(env.root, id)), 'no state dir');
  assert.equal(cgroupsOf(id), [], 'no cgroup on any hierarchy');
  assert.equal(newProcesses(before).filter(ours), [], 'no process');
  // The id is free again.
  env.ok(['create', '-b', env.bundle(() => {}, ['sleep', '1000']), id]);
  assert.is(env.state(id).status, 'created');
  env.ok(['delete', '--force', id]);
  assert.equal(cgroupsOf(id), []);
}

test('create killed right after its state dir appears: delete --force removes everything', async () => {
  const bundle = env.bundle(() => {}, ['sleep', '1000']);
  for (let i = 0; i < 3; i++) {
    const id = env.id('killdir');
    const before = snapshot();
    await killCreateWhen(id, bundle, () => fs.existsSync(path.join(env.root, id)), 'the state dir');
    assertDeleteForceCleans(id, before);
  }
});

test('create killed once its cgroups exist, before state.json: listed as runc does, then delete --force removes everything', async () => {
  const { id, before, stateFile } = await killOnceCgroupsExist('killcg');
  if (!fs.existsSync(stateFile)) {
    // runc 1.1: the directory is not listed, its id is named on stderr, and list succeeds.
    const r = env.trun(['list']);
    assert.is(r.code, 0, r.stderr);
    assert.not.match(r.stdout, id);
    assert.match(r.stderr, `load container ${id}: container does not exist`);
    assert.match(env.trun(['list', '-q']).stderr, `load container ${id}`);
  }
  assertDeleteForceCleans(id, before);
});

test('create killed while a createRuntime hook runs: delete --force removes everything', async () => {
  const fifo = path.join(env.dir, `hook-fifo-${process.pid}`);
  const marker = path.join(env.dir, `hook-started-${process.pid}`);
  execFileSync('mkfifo', [fifo]);
  const bundle = env.bundle((s: Spec) => {
    s.hooks = { createRuntime: [{ path: '/bin/sh', args: ['sh', '-c', `echo > ${marker}; read x < ${fifo}`] }] };
  }, ['sleep', '1000']);
  const id = env.id('killhook');
  const before = snapshot();
  await killCreateWhen(id, bundle, () => fs.existsSync(marker), 'the createRuntime hook');
  assert.ok(cgroupsOf(id).length > 0, 'the cgroups were left behind');
  // Let the hook (trun's child, not the container's) go: opening the fifo for writing gives it EOF.
  fs.closeSync(fs.openSync(fifo, 'w'));
  await until(() => newProcesses(before).filter(ours).every((p) => !fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(fifo)), 'the hook to end');
  assertDeleteForceCleans(id, before);
});

test('delete without --force removes a killed create\'s directory and says the container does not exist (runc)', async () => {
  const { id, before, stateFile } = await killOnceCgroupsExist('killnf');
  const r = env.trun(['delete', id]);
  if (fs.existsSync(stateFile)) {
    // Killed just after state.json was written: an ordinary stopped (or created) container.
    env.trun(['delete', '--force', id]);
  } else {
    assert.is(r.code, 1);
    assert.match(r.stderr, /container does not exist/);
  }
  assert.not.ok(fs.existsSync(path.join(env.root, id)), 'no state dir');
  assert.equal(cgroupsOf(id), [], 'no cgroup');
  assert.equal(newProcesses(before).filter(ours), [], 'no process');
});

test('a lock left by a trun whose pid now belongs to another process does not hold commands up', () => {
  const id = env.id('stalelock');
  env.ok(['run', '-d', '-b', env.bundle(() => {}, ['sleep', '1000']), id]);
  // Our own pid is alive, but it was not alive when the lock's holder started (start time 1).
  fs.writeFileSync(path.join(env.root, id, 'lock'), `${process.pid} ${process.pid}.1 1`);
  const t0 = Date.now();
  const r = env.trun(['update', '--pids-limit', '20', id]);
  assert.is(r.code, 0, r.stderr);
  assert.ok(Date.now() - t0 < 10_000, `update took ${Date.now() - t0} ms`);
  env.ok(['delete', '--force', id]);
});

test.run();
