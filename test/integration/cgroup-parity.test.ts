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
// Through the front end, the warm server starts with the first command: not something a failed
// command leaves behind, so it is started before any test looks for new processes.
test.before(() => { env.trun(['list']); });
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

/** The container's directory for a v1 controller, or the unified one (pure v2 hosts). */
function dirOf(id: string, controller: string): { dir: string; v2: boolean } {
  const paths = stored(id).cgroupPaths;
  return paths[controller] !== undefined ? { dir: paths[controller]!, v2: false } : { dir: paths['unified']!, v2: true };
}

/** Runs `update ARGS` and bounds it: a hang fails the test instead of holding the suite up. */
function boundedUpdate(id: string, args: string[], input?: string): void {
  const t0 = Date.now();
  const r = env.trun(['update', ...args, id], input === undefined ? {} : { input });
  const took = Date.now() - t0;
  assert.is(r.code, 0, `update ${args.join(' ')}: ${r.stderr}`);
  assert.ok(took < 15_000, `update ${args.join(' ')} took ${took} ms`);
}

test('many updates in a row, of every kind, each finish promptly and the last values hold', () => {
  const id = env.id('manyup');
  env.ok(['run', '-d', '-b', env.bundle(() => {}, ['sh', '-c', 'while :; do usleep 20000; done']), id]);
  const resources = path.join(env.dir, `resources-${id}.json`);
  const cpus = read('/sys/fs/cgroup/cpuset/cpuset.cpus').split(/[,-]/)[0] ?? '0';
  const t0 = Date.now();
  for (let i = 1; i <= 6; i++) {
    boundedUpdate(id, ['--memory', `${64 + i}m`]);
    boundedUpdate(id, ['--memory-reservation', `${16 + i}m`]);
    boundedUpdate(id, ['--cpu-share', String(500 + i)]);
    boundedUpdate(id, ['--cpu-period', String(100_000 + i), '--cpu-quota', String(50_000 + i)]);
    boundedUpdate(id, ['--cpu-quota', String(40_000 + i)]);
    boundedUpdate(id, ['--pids-limit', String(100 + i)]);
    boundedUpdate(id, ['--cpuset-cpus', cpus, '--cpuset-mems', '0']);
    fs.writeFileSync(resources, JSON.stringify({ memory: { limit: (96 + i) << 20 }, pids: { limit: 200 + i } }));
    boundedUpdate(id, ['-r', resources]);
    boundedUpdate(id, ['-r', '-'], JSON.stringify({ cpu: { shares: 700 + i } }));
  }
  assert.ok(Date.now() - t0 < 120_000, `54 updates took ${Date.now() - t0} ms`);
  const mem = dirOf(id, 'memory');
  assert.is(read(path.join(mem.dir, mem.v2 ? 'memory.max' : 'memory.limit_in_bytes')), String(102 << 20));
  const pids = dirOf(id, 'pids');
  assert.is(read(path.join(pids.dir, 'pids.max')), '206');
  const cpu = dirOf(id, 'cpu');
  if (!cpu.v2) {
    assert.is(read(path.join(cpu.dir, 'cpu.shares')), '706');
    assert.is(read(path.join(cpu.dir, 'cpu.cfs_quota_us')), '40006');
    assert.is(read(path.join(cpu.dir, 'cpu.cfs_period_us')), '100006');
  }
  // blkio weight: written where the kernel has a weight file; refused, naming it, where not (as runc).
  const blkio = dirOf(id, 'blkio');
  const weightFile = ['blkio.weight', 'blkio.bfq.weight', 'io.weight', 'io.bfq.weight'].some((f) => fs.existsSync(path.join(blkio.dir, f)));
  const w = env.trun(['update', '--blkio-weight', '300', id]);
  if (weightFile) assert.is(w.code, 0, w.stderr);
  else assert.match(w.stderr, /weight": no such file or directory/);
  assert.is(env.state(id).status, 'running');
  env.ok(['delete', '--force', id]);
});

test('update ignores linux.resources.devices, as runc: the live rules and the stored ones stay', () => {
  const id = env.id('updev');
  env.ok(['run', '-d', '-b', env.bundle(() => {}, ['sleep', '1000']), id]);
  const devicesBefore = JSON.stringify(stored(id).config.linux?.resources?.['devices']);
  const denyNull = { devices: [{ allow: false, type: 'c', major: 1, minor: 3, access: 'rwm' }], pids: { limit: 33 } };
  const r = env.trun(['update', '-r', '-', id], { input: JSON.stringify(denyNull) });
  assert.is(r.code, 0, r.stderr);
  assert.is(env.trun(['exec', id, 'sh', '-c', 'echo x > /dev/null']).code, 0, '/dev/null is still writable');
  assert.is(JSON.stringify(stored(id).config.linux?.resources?.['devices']), devicesBefore);
  assert.is(read(path.join(dirOf(id, 'pids').dir, 'pids.max')), '33', 'the rest is applied');
  env.ok(['delete', '--force', id]);
});

if (host.v1.some((h) => h.controllers.includes('cpu'))) {
  test('update of cpu period and quota below a parent ("pod") that limits them: written in the order the kernel accepts, as runc', () => {
    const id = env.id('podcpu');
    const pod = `/trun/pod-${id}`;
    const cpuMount = host.v1.find((h) => h.controllers.includes('cpu'))!.mountpoint;
    fs.mkdirSync(path.join(cpuMount, pod), { recursive: true });
    try {
      fs.writeFileSync(path.join(cpuMount, pod, 'cpu.cfs_quota_us'), '50000'); // half a cpu per 100 ms
      env.ok(['run', '-d', '-b', env.bundle((s) => {
        s.linux!.cgroupsPath = `${pod}/ctr`;
        s.linux!.resources = { cpu: { quota: 50_000, period: 100_000 } };
      }, ['sleep', '1000']), id]);
      const dir = path.join(cpuMount, pod, 'ctr');
      const now = () => `${read(path.join(dir, 'cpu.cfs_quota_us'))}/${read(path.join(dir, 'cpu.cfs_period_us'))}`;
      // A shorter period first would exceed the parent (50000/50000): quota goes first.
      boundedUpdate(id, ['--cpu-period', '50000', '--cpu-quota', '25000']);
      assert.is(now(), '25000/50000');
      // A longer period: period first.
      boundedUpdate(id, ['--cpu-period', '200000', '--cpu-quota', '100000']);
      assert.is(now(), '100000/200000');
      // What the parent cannot allow is the kernel's EINVAL, naming the file; nothing changes.
      const r = env.trun(['update', '--cpu-quota', '200000', id]);
      assert.is(r.code, 1);
      assert.match(r.stderr, /cpu\.cfs_quota_us": invalid argument/);
      assert.is(now(), '100000/200000');
      assert.equal(stored(id).config.linux?.resources?.['cpu'], { quota: 100_000, period: 200_000 });
      env.ok(['delete', '--force', id]);
    } finally {
      // create made the pod's directory on every hierarchy; only the container's went with it.
      for (const m of [...host.v1.map((h) => h.mountpoint), ...(host.unified ? [host.unified.mountpoint] : [])]) {
        if (fs.existsSync(path.join(m, pod))) fs.rmdirSync(path.join(m, pod));
      }
    }
  });
}

test('a failed update puts back what was in force (runc sets the stored config back)', () => {
  const id = env.id('upback');
  env.ok(['run', '-d', '-b', env.bundle((s) => { s.linux!.resources = { memory: { limit: 64 << 20 } }; }, ['sleep', '1000']), id]);
  const mem = dirOf(id, 'memory');
  const limitFile = path.join(mem.dir, mem.v2 ? 'memory.max' : 'memory.limit_in_bytes');
  // memory is written before blkio: a weight of 5 is refused (out of range, or no weight file)
  // after the new memory limit went in.
  const r = env.trun(['update', '--memory', '32m', '--blkio-weight', '5', id]);
  assert.is(r.code, 1);
  assert.match(r.stderr, /weight/);
  assert.is(read(limitFile), String(64 << 20), 'the memory limit is back');
  assert.equal(stored(id).config.linux?.resources?.['memory'], { limit: 64 << 20 });
  env.ok(['delete', '--force', id]);
});

test('exec --cgroup puts the process in an existing sub-cgroup, per controller or in every hierarchy (runc 1.1)', () => {
  const id = env.id('execcg');
  // No cgroup namespace: /proc/self/cgroup then shows the host's paths.
  const bundle = env.bundle((s) => { s.linux!.namespaces = s.linux!.namespaces!.filter((n) => n.type !== 'cgroup'); }, ['sleep', '1000']);
  env.ok(['run', '-d', '-b', bundle, id]);
  const paths = stored(id).cgroupPaths;
  const own = (controller: string) => paths[controller] ?? paths['unified']!;
  const lines = (args: string[]) => {
    const r = env.trun(['exec', ...args, id, 'cat', '/proc/self/cgroup']);
    assert.is(r.code, 0, r.stderr);
    return r.stdout;
  };
  const inner = (dir: string) => {
    const mount = [...host.v1.map((h) => h.mountpoint), host.unified?.mountpoint].find((m) => m !== undefined && dir.startsWith(`${m}/`))!;
    return dir.slice(mount.length);
  };
  const controller = paths['pids'] ? 'pids' : undefined;
  if (controller) {
    fs.mkdirSync(path.join(own('pids'), 'sub/deeper'), { recursive: true });
    fs.mkdirSync(path.join(own('memory'), 'sub'), { recursive: true });
    const one = lines(['--cgroup', 'pids:sub']);
    assert.match(one, `:pids:${inner(own('pids'))}/sub\n`);
    assert.match(one, `:memory:${inner(own('memory'))}\n`);
    const two = lines(['--cgroup', 'pids,memory:sub']);
    assert.match(two, `:pids:${inner(own('pids'))}/sub\n`);
    assert.match(two, `:memory:${inner(own('memory'))}/sub\n`);
    assert.match(lines(['--cgroup', 'pids:sub/deeper', '--cgroup', 'memory:sub']), `:pids:${inner(own('pids'))}/sub/deeper\n`);
    // ".." that stays inside is fine; the container's own cgroup with an empty path.
    assert.match(lines(['--cgroup', 'pids:sub/deeper/..']), `:pids:${inner(own('pids'))}/sub\n`);
    assert.match(lines(['--cgroup', 'pids:']), `:pids:${inner(own('pids'))}\n`);
  }
  // The bare form: every hierarchy (a v1 cpuset sub-cgroup needs its cpus and mems first).
  const dirs = [...new Set(Object.values(paths))];
  for (const d of dirs) {
    fs.mkdirSync(path.join(d, 'all'));
    for (const f of ['cpuset.cpus', 'cpuset.mems']) {
      if (fs.existsSync(path.join(d, f)) && paths['cpuset'] === d) fs.writeFileSync(path.join(d, 'all', f), read(path.join(d, f)));
    }
  }
  const all = lines(['--cgroup', 'all']);
  for (const d of dirs) assert.ok(all.includes(`:${inner(d)}/all\n`), `${inner(d)}/all in\n${all}`);

  // runc's error cases; each leaves no process behind in the container.
  const before = fs.readFileSync(path.join(own('pids'), 'cgroup.procs'), 'utf8');
  for (const [args, message] of [
    [['--cgroup', 'pids:nosuch'], /cgroup ".*\/nosuch" does not exist/],
    [['--cgroup', 'pids:../..'], /invalid --cgroup argument: \.\.\/\.\. is not a sub cgroup path/],
    [['--cgroup', 'pids:sub/../..'], /is not a sub cgroup path/],
    [['--cgroup', 'pids:a:b'], /invalid --cgroup argument: pids:a:b/],
    [['--cgroup', 'nosuch:sub'], /invalid --cgroup argument: nosuch:sub \(unknown controller nosuch\)/],
    [['--cgroup', 'all', '--cgroup', 'pids:sub'], /invalid --cgroup argument: all \(missing <controller>: prefix\)/],
    [['--cgroup', 'pids,:sub'], /empty <controller> prefix/],
  ] as const) {
    if (!controller && String(args).includes('pids')) continue;
    const r = env.trun(['exec', ...args, id, 'true']);
    assert.is.not(r.code, 0, args.join(' '));
    assert.match(r.stderr, message);
  }
  assert.is(fs.readFileSync(path.join(own('pids'), 'cgroup.procs'), 'utf8'), before);
  // delete removes the sub-cgroups with the container's.
  env.ok(['delete', '--force', id]);
  for (const d of dirs) assert.not.ok(fs.existsSync(d), d);
});

test.run();
