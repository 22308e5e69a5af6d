// The cgroup manager against the real kernel of this host (v1, v2 or hybrid): limits land on the
// side that owns each controller and are enforced, freeze/thaw, pids, killAll, destroy, stats.
// Plain child processes stand in for containers. Needs root.
import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type CgroupManager, cgroupManager, detectSystemHost } from '../../runtime/linux/cgroups';

const BUSYBOX = process.env.TRUN_BUSYBOX ?? '/bin/busybox';
const host = detectSystemHost();
const base = `/trun-itest-${process.pid}`;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'trun-cg-'));
const children: ChildProcess[] = [];
const managers: CgroupManager[] = [];
const parents = new Set<string>();
let n = 0;

/** A fresh cgroup under this run's parent, destroyed after the test even when it fails. */
function newCgroup(name: string): CgroupManager {
  const m = cgroupManager({ id: name, cgroupsPath: `${base}/${name}-${n++}` });
  managers.push(m);
  for (const dir of Object.values(m.paths)) parents.add(path.dirname(dir));
  m.create();
  return m;
}

/** The directory that owns `controller`: its v1 hierarchy, else the unified one. */
function ownerDir(m: CgroupManager, controller: string): string {
  return m.paths[controller] ?? (m.paths['unified'] as string);
}
const onV1 = (m: CgroupManager, controller: string): boolean => m.paths[controller] !== undefined;

interface Child {
  proc: ChildProcess;
  pid: number;
  stderr: () => string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  go: () => void;
}

/** Starts `sh -c script` blocked on a line of stdin, so it can be put in a cgroup before it runs. */
function start(script: string): Child {
  const proc = spawn(BUSYBOX, ['sh', '-c', `read _; ${script}`], { stdio: ['pipe', 'ignore', 'pipe'] });
  children.push(proc);
  let err = '';
  proc.stderr?.on('data', (b: Buffer) => (err += b.toString()));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  if (proc.pid === undefined) throw new Error('spawn failed');
  return { proc, pid: proc.pid, stderr: () => err, exit, go: () => proc.stdin?.write('\n') };
}

/** Polls until `cond` holds; fails the test after `ms`. */
async function until(what: string, cond: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function exitWithin<T>(p: Promise<T>, ms = 15_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('child did not exit in time')), ms)));
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

const read = (file: string): string => fs.readFileSync(file, 'utf8').trim();

test.after.each(() => {
  for (const m of managers.splice(0)) {
    try {
      m.destroy();
    } catch (err) {
      console.error(`cleanup: ${String(err)}`);
    }
  }
  for (const c of children.splice(0)) {
    if (c.exitCode === null && c.signalCode === null && c.pid !== undefined) {
      try {
        process.kill(c.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
});

test.after(() => {
  for (const dir of parents) {
    try {
      fs.rmdirSync(dir);
    } catch {
      // never created on this hierarchy, or already removed
    }
  }
  fs.rmSync(tmp, { recursive: true, force: true });
});

test('paths cover every mounted hierarchy and create() makes them all', () => {
  const m = newCgroup('paths');
  for (const h of host.v1) {
    const key = h.name ?? h.controllers[0] ?? '';
    assert.ok(m.paths[key]?.startsWith(`${h.mountpoint}/`), `${key} under ${h.mountpoint}`);
  }
  if (host.unified) assert.ok(m.paths['unified']?.startsWith(host.unified.mountpoint));
  for (const dir of Object.values(m.paths)) assert.ok(fs.statSync(dir).isDirectory(), dir);
  assert.equal(m.create(), []); // idempotent
});

test('memory limit is written on the owning side and enforced by the OOM killer', async () => {
  const m = newCgroup('oom');
  const limit = 16 << 20;
  m.apply({ memory: { limit, swap: limit } });
  const dir = ownerDir(m, 'memory');
  assert.is(read(path.join(dir, onV1(m, 'memory') ? 'memory.limit_in_bytes' : 'memory.max')), String(limit));
  // busybox tail keeps its whole input when it holds no newline: it grows until killed.
  const c = start(`exec ${BUSYBOX} tail /dev/zero`);
  m.addProcess(c.pid);
  c.go();
  const { signal } = await exitWithin(c.exit);
  assert.is(signal, 'SIGKILL');
  if (onV1(m, 'memory')) assert.match(read(path.join(dir, 'memory.oom_control')), /oom_kill [1-9]/);
  else assert.match(read(path.join(dir, 'memory.events')), /oom_kill [1-9]/);
});

test('pids.limit stops forks beyond it', async () => {
  const m = newCgroup('pids');
  m.apply({ pids: { limit: 4 } });
  assert.is(read(path.join(ownerDir(m, 'pids'), 'pids.max')), '4');
  const c = start(`for i in 1 2 3 4 5 6; do ${BUSYBOX} sleep 1000 & done; echo all forked >&2; wait`);
  m.addProcess(c.pid);
  c.go();
  // The shell plus three sleeps fill the limit; the fourth fork fails and busybox sh gives up.
  const { code } = await exitWithin(c.exit);
  assert.is(code, 2);
  assert.match(c.stderr(), /can't fork: Resource temporarily unavailable/);
  assert.not.match(c.stderr(), /all forked/);
  assert.is(m.pids().length, 3);
  await until('pids.current to drop', () => m.stats().pids.current === 3);
  assert.is(m.stats().pids.limit, 4);
});

test('cpu quota is visible and throttles a busy loop', async () => {
  const m = newCgroup('cpu');
  m.apply({ cpu: { quota: 10000, period: 100000, shares: 512 } });
  const dir = ownerDir(m, 'cpu');
  if (onV1(m, 'cpu')) {
    assert.is(read(path.join(dir, 'cpu.cfs_quota_us')), '10000');
    assert.is(read(path.join(dir, 'cpu.cfs_period_us')), '100000');
    assert.is(read(path.join(dir, 'cpu.shares')), '512');
  } else {
    assert.is(read(path.join(dir, 'cpu.max')), '10000 100000');
    assert.is(read(path.join(dir, 'cpu.weight')), '20');
  }
  const c = start('while :; do :; done');
  m.addProcess(c.pid);
  c.go();
  await until('throttling', () => m.stats().cpu.throttling.throttled_periods > 0);
  await until('cpu usage', () => m.stats().cpu.usage.total > 0);
});

test('cpuset: a new cgroup inherits cpus/mems so a process can join; cpus can be narrowed', () => {
  const m = newCgroup('cpuset');
  const dir = ownerDir(m, 'cpuset');
  if (onV1(m, 'cpuset')) assert.is.not(read(path.join(dir, 'cpuset.cpus')), '', 'cpus copied from the parent');
  m.apply({ cpu: { cpus: '0', mems: '0' } });
  assert.is(read(path.join(dir, onV1(m, 'cpuset') ? 'cpuset.cpus' : 'cpuset.cpus.effective')), '0');
  const c = start(`exec ${BUSYBOX} sleep 1000`);
  m.addProcess(c.pid);
  assert.equal(m.pids(), [c.pid]);
});

test('freeze stops a writer, thaw lets it continue', async () => {
  const m = newCgroup('freeze');
  const file = path.join(tmp, 'counter');
  fs.writeFileSync(file, '');
  const c = start(`while :; do echo x >> ${file}; ${BUSYBOX} usleep 2000; done`);
  m.addProcess(c.pid);
  c.go();
  const size = (): number => fs.statSync(file).size;
  await until('the writer to start', () => size() > 10);
  m.freeze();
  assert.ok(m.frozen());
  const frozenAt = size();
  // A window, not synchronisation: a thawed writer appends every ~2 ms.
  await new Promise((r) => setTimeout(r, 300));
  assert.is(size(), frozenAt);
  m.thaw();
  assert.not.ok(m.frozen());
  await until('the writer to continue', () => size() > frozenAt);
});

test('pids() lists exactly the processes, children included, deduplicated across hierarchies', async () => {
  const m = newCgroup('list');
  const a = start(`exec ${BUSYBOX} sleep 1000`);
  const b = start(`${BUSYBOX} sleep 1000 & echo started >&2; wait`);
  m.addProcess(a.pid);
  m.addProcess(b.pid);
  b.go();
  await until('the grandchild', () => b.stderr().includes('started'));
  const grandchild = Number(read(`/proc/${b.pid}/task/${b.pid}/children`));
  assert.ok(grandchild > 0);
  assert.equal(m.pids(), [a.pid, b.pid, grandchild].sort((x, y) => x - y));
});

test('killAll signals every process', async () => {
  const m = newCgroup('killall');
  const a = start(`exec ${BUSYBOX} sleep 1000`);
  const b = start(`exec ${BUSYBOX} sleep 1000`);
  m.addProcess(a.pid);
  m.addProcess(b.pid);
  m.killAll(15);
  assert.is((await exitWithin(a.exit)).signal, 'SIGTERM');
  assert.is((await exitWithin(b.exit)).signal, 'SIGTERM');
  if (m.paths['freezer'] !== undefined || m.paths['unified'] !== undefined) assert.not.ok(m.frozen());
});

test('killAll on a paused cgroup delivers SIGKILL and leaves nothing', async () => {
  const m = newCgroup('killfrozen');
  const a = start(`exec ${BUSYBOX} sleep 1000`);
  m.addProcess(a.pid);
  m.freeze();
  m.killAll(9);
  assert.is((await exitWithin(a.exit)).signal, 'SIGKILL');
  await until('an empty cgroup', () => m.pids().length === 0);
});

test('destroy removes every directory, even after the processes were killed behind its back', async () => {
  const m = newCgroup('destroy');
  const a = start(`exec ${BUSYBOX} sleep 1000`);
  const b = start(`exec ${BUSYBOX} sleep 1000`);
  m.addProcess(a.pid);
  m.addProcess(b.pid);
  // A nested cgroup inside (as a container with its own cgroup namespace would make).
  const nested = path.join(ownerDir(m, 'pids'), 'inner');
  fs.mkdirSync(nested);
  fs.writeFileSync(path.join(nested, 'cgroup.procs'), String(b.pid));
  process.kill(a.pid, 'SIGKILL');
  m.destroy();
  for (const dir of Object.values(m.paths)) assert.not.ok(fs.existsSync(dir), `${dir} left behind`);
  assert.is((await exitWithin(b.exit)).signal, 'SIGKILL'); // destroy killed what was left
  m.destroy(); // fine when already gone
});

test('stats() returns numbers from the owning sides', async () => {
  const m = newCgroup('stats');
  m.apply({ memory: { limit: 64 << 20 }, pids: { limit: 10 } });
  const c = start(`x=$(${BUSYBOX} head -c 2000000 /dev/zero | ${BUSYBOX} tr '\\0' a); echo ready >&2; exec ${BUSYBOX} sleep 1000`);
  m.addProcess(c.pid);
  c.go();
  await until('the workload', () => c.stderr().includes('ready'));
  const s = m.stats();
  assert.is(s.memory.usage.limit, 64 << 20);
  assert.ok((s.memory.usage.usage ?? 0) > 0, 'memory usage');
  assert.is(s.pids.current, 1);
  assert.is(s.pids.limit, 10);
  assert.ok(s.cpu.usage.total > 0, 'cpu usage');
  assert.type(s.blkio.ioServiceBytesRecursive.length, 'number');
  assert.ok(Object.values(s.memory.raw).every((v) => typeof v === 'number' && !Number.isNaN(v)));
});

test('hugetlb goes to whichever side owns it', () => {
  const owner = host.v1.some((h) => h.controllers.includes('hugetlb')) ? 'v1' : host.unified?.controllers.includes('hugetlb') ? 'v2' : null;
  const size = fs.existsSync('/sys/kernel/mm/hugepages/hugepages-2048kB') ? '2MB' : null;
  if (!owner || !size) return; // no hugetlb on this host
  const m = newCgroup('hugetlb');
  m.apply({ hugepageLimits: [{ pageSize: size, limit: 4 << 20 }] });
  const file = owner === 'v1' ? path.join(ownerDir(m, 'hugetlb'), `hugetlb.${size}.limit_in_bytes`) : path.join(m.paths['unified'] as string, `hugetlb.${size}.max`);
  assert.is(read(file), String(4 << 20));
});

test('a relative cgroupsPath lands below our own cgroup on each hierarchy', () => {
  const self = fs.readFileSync('/proc/self/cgroup', 'utf8');
  const ownMemory = /^\d+:(?:[^:]*,)?memory(?:,[^:]*)?:(.*)$/m.exec(self)?.[1] ?? /^0::(.*)$/m.exec(self)?.[1] ?? '/';
  const name = `trun-itest-rel-${process.pid}`;
  const m = cgroupManager({ id: name, cgroupsPath: name });
  managers.push(m);
  m.create();
  const dir = ownerDir(m, 'memory');
  assert.ok(dir.endsWith(path.posix.join(ownMemory, name)), dir);
  assert.ok(fs.existsSync(dir));
  m.destroy();
  assert.not.ok(fs.existsSync(dir));
});

test('update: a second apply() changes limits in place', () => {
  const m = newCgroup('update');
  m.apply({ memory: { limit: 32 << 20, swap: 32 << 20 } });
  m.apply({ memory: { limit: 64 << 20, swap: 128 << 20 } }); // memsw must grow before the limit on v1
  m.apply({ memory: { limit: 8 << 20, swap: 8 << 20 } }); // and shrink after it
  const dir = ownerDir(m, 'memory');
  assert.is(read(path.join(dir, onV1(m, 'memory') ? 'memory.limit_in_bytes' : 'memory.max')), String(8 << 20));
  m.apply({ memory: { limit: -1 } });
  const unlimited = read(path.join(dir, onV1(m, 'memory') ? 'memory.limit_in_bytes' : 'memory.max'));
  assert.ok(unlimited === 'max' || Number(unlimited) > 2 ** 60, unlimited);
});

test('errors name the file and the syscall', () => {
  const m = newCgroup('errors');
  try {
    m.apply({ cpu: { cpus: '999' } });
    assert.unreachable('an impossible cpuset was accepted');
  } catch (err) {
    const e = err as { code?: string; path?: string; syscall?: string; message: string };
    assert.is(e.code, 'ESYS');
    assert.is(e.syscall, 'write');
    assert.ok(e.path?.endsWith('cpuset.cpus'), e.path);
    assert.match(e.message, /^write ".*cpuset.cpus": /);
  }
});

test.run();
