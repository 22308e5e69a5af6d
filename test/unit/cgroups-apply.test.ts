// apply() on fake cgroup trees (plain files in a temp dir): which file each setting lands in, on
// which side of a v1, v2 or hybrid host, and the errors and warnings. No root, no kernel: the
// real kernel's side is covered by test/integration/cgroups-*.test.ts.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { TrunError } from '../../runtime/errors';
import { type CgroupHost, cgroupManager, detectHost, loadCgroupManager } from '../../runtime/linux/cgroups';
import { HYBRID_MOUNTINFO, V1_MOUNTINFO, V2_MOUNTINFO, rebase } from './cgroups-fixtures';
import { expectTrunError } from '../helpers/errors';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'trun-cg-unit-'));
let n = 0;

const V2_FILES = [
  'cgroup.procs', 'cgroup.freeze', 'cgroup.events', 'cgroup.subtree_control', 'memory.max', 'memory.swap.max', 'memory.low', 'memory.high',
  'cpu.weight', 'cpu.max', 'cpu.max.burst', 'cpu.idle', 'cpuset.cpus', 'cpuset.mems', 'pids.max', 'io.weight', 'io.max', 'hugetlb.2MB.max', 'hugetlb.2MB.rsvd.max',
];
const V1_FILES: Record<string, string[]> = {
  memory: ['memory.limit_in_bytes', 'memory.soft_limit_in_bytes', 'memory.swappiness', 'memory.oom_control', 'memory.use_hierarchy', 'memory.usage_in_bytes'],
  cpu: ['cpu.shares', 'cpu.cfs_period_us', 'cpu.cfs_quota_us'],
  net_cls: ['net_cls.classid'],
  net_prio: ['net_prio.ifpriomap'],
  devices: ['devices.allow', 'devices.deny'],
  pids: ['pids.max'],
  hugetlb: ['hugetlb.2MB.limit_in_bytes'],
};

interface Fake {
  root: string;
  host: CgroupHost;
  dir: (controller: string) => string;
  read: (controller: string, file: string) => string;
}

/** A fake /sys/fs/cgroup for `mountinfo`, with the container's directory `trun/c` already made. */
function fake(mountinfo: string, v2Controllers: string[]): Fake {
  const root = path.join(tmp, String(n++));
  const host = detectHost(rebase(mountinfo, root), () => v2Controllers);
  const m = cgroupManager({ id: 'c', cgroupsPath: '/trun/c', host });
  for (const [controller, dir] of Object.entries(m.paths)) {
    fs.mkdirSync(dir, { recursive: true });
    const files = controller === 'unified' ? V2_FILES : (V1_FILES[controller] ?? []);
    for (const f of files) fs.writeFileSync(path.join(dir, f), '');
    if (controller === 'unified') {
      fs.writeFileSync(path.join(dir, 'cgroup.controllers'), v2Controllers.join(' '));
      fs.writeFileSync(path.join(dir, '..', '..', 'cgroup.controllers'), v2Controllers.join(' '));
      fs.writeFileSync(path.join(dir, '..', '..', 'cgroup.subtree_control'), '');
    }
  }
  if (m.paths['memory'] !== undefined) fs.writeFileSync(path.join(m.paths['memory'], 'memory.usage_in_bytes'), '1000');
  return {
    root,
    host,
    dir: (c) => m.paths[c] as string,
    read: (c, f) => fs.readFileSync(path.join(m.paths[c] as string, f), 'utf8'),
  };
}

const manager = (f: Fake) => cgroupManager({ id: 'c', cgroupsPath: '/trun/c', host: f.host });

const einval = (fn: () => unknown, pattern: RegExp): TrunError => expectTrunError(fn, 'EINVAL', pattern);

const ALL_V2 = ['cpuset', 'cpu', 'io', 'memory', 'hugetlb', 'pids'];

test('v2: memory, swap converted, reservation, -1 as max', () => {
  const f = fake(V2_MOUNTINFO, ALL_V2);
  const w = manager(f).apply({ memory: { limit: 100 << 20, swap: 300 << 20, reservation: 50 << 20 } });
  assert.equal(w, []);
  assert.is(f.read('unified', 'memory.max'), String(100 << 20));
  assert.is(f.read('unified', 'memory.swap.max'), String(200 << 20));
  assert.is(f.read('unified', 'memory.low'), String(50 << 20));
  manager(f).apply({ memory: { limit: -1 } });
  assert.is(f.read('unified', 'memory.max'), 'max');
  assert.is(f.read('unified', 'memory.swap.max'), 'max');
});

test('v2: settings without an equivalent become warnings, not errors', () => {
  const f = fake(V2_MOUNTINFO, ALL_V2);
  const w = manager(f).apply({ memory: { limit: 1 << 30, kernel: 1 << 20, kernelTCP: 1 << 20, swappiness: 10 }, blockIO: { weight: 100, leafWeight: 100 } });
  assert.is(w.length, 4);
  assert.ok(w.every((x) => /no cgroup v2 equivalent: ignored/.test(x)));
});

test('v2: cpu shares -> weight, quota/period -> cpu.max, burst, idle, cpuset', () => {
  const f = fake(V2_MOUNTINFO, ALL_V2);
  manager(f).apply({ cpu: { shares: 1024, quota: 50000, period: 100000, burst: 1000, idle: 1, cpus: '0', mems: '0' } });
  assert.is(f.read('unified', 'cpu.weight'), '39');
  assert.is(f.read('unified', 'cpu.max'), '50000 100000');
  assert.is(f.read('unified', 'cpu.max.burst'), '1000');
  assert.is(f.read('unified', 'cpu.idle'), '1');
  assert.is(f.read('unified', 'cpuset.cpus'), '0');
  einval(() => manager(f).apply({ cpu: { realtimeRuntime: 100 } }), /realtime.*not supported on cgroup v2/);
});

test('v2: pids (0 is a limit), io weight and throttle, hugetlb', () => {
  const f = fake(V2_MOUNTINFO, ALL_V2);
  manager(f).apply({ pids: { limit: 0 }, blockIO: { weight: 500, throttleReadBpsDevice: [{ major: 8, minor: 0, rate: 1048576 }] }, hugepageLimits: [{ pageSize: '2MB', limit: 4 << 20 }] });
  assert.is(f.read('unified', 'pids.max'), '0');
  assert.is(f.read('unified', 'io.weight'), 'default 4950');
  assert.is(f.read('unified', 'io.max'), '8:0 rbps=1048576');
  assert.is(f.read('unified', 'hugetlb.2MB.max'), String(4 << 20));
  assert.is(f.read('unified', 'hugetlb.2MB.rsvd.max'), String(4 << 20));
  manager(f).apply({ pids: { limit: -1 }, blockIO: { throttleWriteIOPSDevice: [{ major: 8, minor: 0, rate: 0 }] } });
  assert.is(f.read('unified', 'pids.max'), 'max');
  assert.is(f.read('unified', 'io.max'), '8:0 wiops=max');
  einval(() => manager(f).apply({ hugepageLimits: [{ pageSize: '1GB', limit: 0 }] }), /hugepage size "1GB" is not supported/);
});

test('v2: a controller not delegated to the cgroup is a clear error', () => {
  const f = fake(V2_MOUNTINFO, ['cpu', 'pids']);
  const e = einval(() => manager(f).apply({ memory: { limit: 1 << 20 } }), /controller "memory", which is not available in .*subtree_control/);
  assert.is(e.path, f.dir('unified'));
});

test('v2: unified keys are written verbatim; bad keys and missing controllers refused', () => {
  const f = fake(V2_MOUNTINFO, ALL_V2);
  manager(f).apply({ unified: { 'memory.high': '1G' } });
  assert.is(f.read('unified', 'memory.high'), '1G');
  einval(() => manager(f).apply({ unified: { '../x': '1' } }), /invalid unified cgroup key "..\/x"/);
  einval(() => manager(f).apply({ unified: { '..': '1' } }), /invalid unified cgroup key/);
  einval(() => manager(f).apply({ unified: { 'rdma.max': 'x' } }), /controller "rdma" is not available/);
});

test('v2: net_cls/net_prio do not exist', () => {
  const f = fake(V2_MOUNTINFO, ALL_V2);
  einval(() => manager(f).apply({ network: { classID: 1 } }), /network.classID needs the cgroup controller "net_cls", which is not mounted/);
});

test('v2: device rules are validated by apply() and compiled into the eBPF filter, required only without v1 devices', () => {
  const rules = [{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 10, minor: 229, access: 'rw' }];
  const v2 = fake(V2_MOUNTINFO, ALL_V2);
  assert.equal(manager(v2).apply({ devices: rules }), []);
  einval(() => manager(v2).apply({ devices: [{ allow: true, type: 'x', access: 'rwm' }] }), /invalid device cgroup type "x"/);
  const f = manager(v2).deviceFilter(rules);
  assert.is(f?.cgroupPath, v2.dir('unified'));
  assert.is(f?.required, true);
  assert.ok((f?.insns.length ?? 0) > 6);
  const hybrid = fake(HYBRID_MOUNTINFO, ['hugetlb']);
  assert.is(manager(hybrid).deviceFilter(rules)?.required, false);
  assert.is(manager(fake(V1_MOUNTINFO, [])).deviceFilter(rules), undefined);
});

test('oomKills: memory.oom_control on v1 (hybrid too), memory.events on v2, undefined when absent', () => {
  const v1 = fake(HYBRID_MOUNTINFO, ['hugetlb']);
  fs.writeFileSync(path.join(v1.dir('memory'), 'memory.oom_control'), 'oom_kill_disable 0\nunder_oom 0\noom_kill 3\n');
  fs.writeFileSync(path.join(v1.dir('unified'), 'memory.events'), 'oom 9\noom_kill 9\n');
  assert.is(manager(v1).oomKills(), 3);
  const v2 = fake(V2_MOUNTINFO, ALL_V2);
  assert.is(manager(v2).oomKills(), undefined);
  fs.writeFileSync(path.join(v2.dir('unified'), 'memory.events'), 'low 0\nhigh 0\nmax 5\noom 2\noom_kill 2\n');
  assert.is(manager(v2).oomKills(), 2);
  // A pre-4.13 v1 kernel has no oom_kill field.
  fs.writeFileSync(path.join(v1.dir('memory'), 'memory.oom_control'), 'oom_kill_disable 0\nunder_oom 0\n');
  assert.is(manager(v1).oomKills(), undefined);
});

test('v2: create() enables the available controllers down to the parent', () => {
  const f = fake(V2_MOUNTINFO, ALL_V2);
  const m = manager(f);
  assert.equal(m.create(), []);
  assert.is(fs.readFileSync(path.join(f.root, 'cgroup.subtree_control'), 'utf8'), ALL_V2.map((c) => `+${c}`).join(' '));
});

test('v1: memory, cpu, net_cls/net_prio, devices, pids each in its hierarchy', () => {
  const f = fake(V1_MOUNTINFO, []);
  const w = manager(f).apply({
    memory: { limit: 64 << 20, reservation: 32 << 20, swappiness: 0, disableOOMKiller: true, useHierarchy: true, kernel: 1 << 20 },
    cpu: { shares: 512, quota: 20000, period: 100000 },
    network: { classID: 0x100001, priorities: [{ name: 'eth0', priority: 5 }] },
    devices: [{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 1, minor: 3, access: 'rw' }],
    pids: { limit: -1 },
  });
  assert.is(f.read('memory', 'memory.limit_in_bytes'), String(64 << 20));
  assert.is(f.read('memory', 'memory.soft_limit_in_bytes'), String(32 << 20));
  assert.is(f.read('memory', 'memory.oom_control'), '1');
  assert.is(f.read('cpu', 'cpu.shares'), '512');
  assert.is(f.read('cpuacct', 'cpu.cfs_quota_us'), '20000'); // cpu,cpuacct share a directory
  assert.is(f.read('net_cls', 'net_cls.classid'), String(0x100001));
  assert.is(f.read('net_prio', 'net_prio.ifpriomap'), 'eth0 5');
  assert.is(f.read('devices', 'devices.deny'), 'a *:* rwm');
  assert.is(f.read('devices', 'devices.allow'), 'c 1:3 rw');
  assert.is(f.read('pids', 'pids.max'), 'max');
  // No memory.kmem.limit_in_bytes in this tree: warned, as runc does.
  assert.is(w.length, 1);
  assert.match(w[0] ?? '', /memory.kernel is not supported by this kernel/);
});

test('v1: checkBeforeUpdate refuses a limit below current usage', () => {
  const f = fake(V1_MOUNTINFO, []);
  einval(() => manager(f).apply({ memory: { limit: 500, checkBeforeUpdate: true } }), /rejecting memory limit 500 below current usage 1000/);
  manager(f).apply({ memory: { limit: 5000, checkBeforeUpdate: true } });
  assert.is(f.read('memory', 'memory.limit_in_bytes'), '5000');
});

test('v1: no cgroup v2, so unified is an error; swap without memsw is a warning', () => {
  const f = fake(V1_MOUNTINFO, []);
  einval(() => manager(f).apply({ unified: { 'memory.high': '1' } }), /cannot use unified on cgroup v1/);
  const w = manager(f).apply({ memory: { limit: 100, swap: 200 } });
  assert.match(w.join('\n'), /swap limit is not supported/);
});

test('hybrid: v1 controllers on v1, hugetlb on unified; a missing v1 controller is an error', () => {
  const f = fake(HYBRID_MOUNTINFO, ['hugetlb']);
  manager(f).apply({ memory: { limit: 4096 }, hugepageLimits: [{ pageSize: '2MB', limit: 2 << 20 }] });
  assert.is(f.read('memory', 'memory.limit_in_bytes'), '4096');
  assert.is(f.read('unified', 'hugetlb.2MB.max'), String(2 << 20));
  assert.is(f.read('unified', 'memory.max'), ''); // memory is v1's here, untouched on unified
  einval(() => manager(f).apply({ rdma: { mlx5_0: { hcaHandles: 2 } } }), /controller "rdma", which is not available/);
  einval(() => manager(f).apply({ network: { priorities: [{ name: 'eth0', priority: 1 }] } }), /"net_prio", which is not mounted/);
  // As runc's v1 manager: unified keys are refused on a hybrid host, before anything is written.
  einval(() => manager(f).apply({ memory: { limit: 8192 }, unified: { 'hugetlb.2MB.max': '1' } }), /cannot use unified on cgroup v1/);
  assert.is(f.read('memory', 'memory.limit_in_bytes'), '4096');
  einval(() => loadCgroupManager(manager(f).paths).check({ unified: { 'hugetlb.2MB.max': '1' } }), /cannot use unified on cgroup v1/);
  manager(f).check({ unified: {} });
});

test('mount sources: one cgroup2 entry on v2, each hierarchy named on hybrid', () => {
  const v2 = fake(V2_MOUNTINFO, ALL_V2);
  assert.equal(manager(v2).mountSources(), [{ name: '', fstype: 'cgroup2', options: '', hostPath: v2.dir('unified') }]);
  const h = fake(HYBRID_MOUNTINFO, ['hugetlb']);
  const names = manager(h).mountSources().map((s) => `${s.name}:${s.fstype}:${s.options}`);
  assert.ok(names.includes('systemd:cgroup:name=systemd'));
  assert.ok(names.includes('unified:cgroup2:'));
  assert.ok(names.includes('memory:cgroup:memory'));
});

test('v1: a memory limit of 0 means unset, not "OOM at once"', () => {
  const f = fake(V1_MOUNTINFO, []);
  fs.writeFileSync(path.join(f.dir('memory'), 'memory.limit_in_bytes'), 'untouched');
  manager(f).apply({ memory: { limit: 0, reservation: 0 } });
  assert.is(f.read('memory', 'memory.limit_in_bytes'), 'untouched');
});

test('v2 stats: cpu.stat, memory, io.stat, pids, hugetlb parsed into runc shape', () => {
  const f = fake(V2_MOUNTINFO, ALL_V2);
  const files: Record<string, string> = {
    'cpu.stat': 'usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 7\nnr_throttled 3\nthrottled_usec 20\n',
    'memory.current': '4096\n',
    'memory.max': 'max\n',
    'memory.peak': '8192\n',
    'memory.events': 'low 0\nhigh 0\nmax 5\noom 1\noom_kill 1\n',
    'memory.stat': 'anon 100\nfile 200\nsock 3\n',
    'io.stat': '8:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n',
    'pids.current': '2\n',
    'pids.max': 'max\n',
    'hugetlb.2MB.current': '0\n',
    'hugetlb.2MB.max': '2097152\n',
  };
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(f.dir('unified'), name), text);
  const s = manager(f).stats();
  assert.equal(s.cpu.usage, { total: 1_500_000, user: 1_000_000, kernel: 500_000 });
  assert.equal(s.cpu.throttling, { periods: 7, throttled_periods: 3, throttled_time: 20_000 });
  assert.equal(s.memory.usage, { usage: 4096, max: 8192, limit: 0, failcnt: 5 });
  assert.is(s.memory.cache, 200);
  assert.is(s.memory.kernelTCP.usage, 3);
  assert.equal(s.pids, { current: 2, limit: 0 });
  assert.equal(s.blkio.ioServiceBytesRecursive.slice(0, 2), [
    { major: 8, minor: 0, op: 'Read', value: 10 },
    { major: 8, minor: 0, op: 'Write', value: 20 },
  ]);
  assert.equal(s.hugetlb['2MB'], { usage: 0, max: 2097152, failcnt: 0 });
});

test('loadCgroupManager: the saved paths are the manager; frozen() is false once the cgroup is gone', () => {
  const f = fake(V2_MOUNTINFO, ALL_V2);
  const paths = manager(f).paths;
  const loaded = loadCgroupManager(paths);
  assert.equal(loaded.paths, paths);
  fs.writeFileSync(path.join(f.dir('unified'), 'cgroup.events'), 'populated 1\nfrozen 1\n');
  assert.ok(loaded.frozen());
  const gone = loadCgroupManager({ unified: path.join(f.root, 'no-such-cgroup') });
  assert.not.ok(gone.frozen());
  assert.equal(gone.pids(), []);
  gone.destroy(); // fine when missing
});

test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));

test.run();
