// cgroup v1: the file writers for each resource, cpuset inheritance for new directories, and
// the freezer. Each writer gets the directory of the hierarchy that owns its controller.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { LinuxBlockIO, LinuxCPU, LinuxMemory, LinuxNetwork, LinuxResources } from '../../../spec/types/runtime';
import { TrunError, sysError } from '../../errors';
import { deviceRule, hugepageSize } from './convert';
import { ControllerDir, errnoOf, readCgroupFile, writeCgroupFile } from './files';

export type V1Writer = (r: LinuxResources, d: ControllerDir) => void;

function checkBeforeUpdate(limit: number, usage: number, file: string): void {
  if (limit > 0 && usage > limit) {
    throw new TrunError('EINVAL', `rejecting memory limit ${limit} below current usage ${usage} (${file})`, { path: file });
  }
}

function writeTolerant(d: ControllerDir, name: string, value: string | number, what: string): void {
  if (!d.has(name)) return d.warn(`${what} is not supported by this kernel (no ${d.file(name)}): ignored`);
  try {
    d.write(name, value);
  } catch (err) {
    // Kernels from 5.16 on keep memory.kmem.limit_in_bytes but refuse writes; runc warns too.
    if (errnoOf(err) === 'EOPNOTSUPP' || errnoOf(err) === 'ENOTSUP') d.warn(`${what} is not supported by this kernel: ignored`);
    else throw err;
  }
}

function memory(m: LinuxMemory, d: ControllerDir): void {
  // 0 means "not set" (as runc, and as on v2): a zero limit would OOM the container at once.
  const limit = m.limit === 0 ? undefined : m.limit;
  // Unlimited memory with swap left unset means both unlimited (memsw may never be below limit).
  let swap = m.swap;
  if (limit === -1 && (swap === undefined || swap === 0)) swap = -1;
  if (m.checkBeforeUpdate && limit !== undefined) {
    checkBeforeUpdate(limit, Number(d.read('memory.usage_in_bytes')), d.file('memory.usage_in_bytes'));
  }
  const memsw = 'memory.memsw.limit_in_bytes';
  let writeSwap = swap !== undefined && swap !== 0;
  if (writeSwap && !d.has(memsw)) {
    if (m.swap !== undefined && m.swap !== 0) d.warn(`swap limit is not supported (no ${d.file(memsw)}, swap accounting off): ignored`);
    writeSwap = false;
  }
  // The kernel keeps limit <= memsw at every step, so the order depends on where we are heading.
  const memswFirst = writeSwap && (swap === -1 || limit === -1 || (limit !== undefined && limit > Number(d.read(memsw))));
  if (writeSwap && memswFirst) d.write(memsw, swap ?? -1);
  if (limit !== undefined) d.write('memory.limit_in_bytes', limit);
  if (writeSwap && !memswFirst) d.write(memsw, swap ?? -1);
  if (m.reservation !== undefined && m.reservation !== 0) d.write('memory.soft_limit_in_bytes', m.reservation);
  if (m.kernel !== undefined) writeTolerant(d, 'memory.kmem.limit_in_bytes', m.kernel, 'memory.kernel');
  if (m.kernelTCP !== undefined) writeTolerant(d, 'memory.kmem.tcp.limit_in_bytes', m.kernelTCP, 'memory.kernelTCP');
  if (m.swappiness !== undefined) {
    if (m.swappiness < 0 || m.swappiness > 100) throw new TrunError('EINVAL', `invalid memory.swappiness ${m.swappiness} (0 to 100)`);
    d.write('memory.swappiness', m.swappiness);
  }
  if (m.disableOOMKiller !== undefined) d.write('memory.oom_control', m.disableOOMKiller ? 1 : 0);
  if (m.useHierarchy !== undefined) {
    try {
      d.write('memory.use_hierarchy', m.useHierarchy ? 1 : 0);
    } catch (err) {
      // Kernels since 5.x are always hierarchical and refuse 0.
      if (errnoOf(err) !== 'EINVAL' || m.useHierarchy) throw err;
      d.warn('memory.useHierarchy false is not supported by this kernel (always hierarchical): ignored');
    }
  }
}

/** Writes two files whose valid values depend on each other: a then b, or b then a if a refused. */
function writePair(d: ControllerDir, a: [string, number | undefined], b: [string, number | undefined]): void {
  const [fa, va] = a;
  const [fb, vb] = b;
  if (va === undefined || vb === undefined) {
    if (va !== undefined) d.write(fa, va);
    if (vb !== undefined) d.write(fb, vb);
    return;
  }
  try {
    d.write(fa, va);
  } catch (err) {
    if (errnoOf(err) !== 'EINVAL') throw err;
    d.write(fb, vb);
    d.write(fa, va);
    return;
  }
  d.write(fb, vb);
}

function cpu(c: LinuxCPU, d: ControllerDir): void {
  if (c.shares !== undefined && c.shares !== 0) d.write('cpu.shares', c.shares);
  writePair(d, ['cpu.cfs_period_us', c.period || undefined], ['cpu.cfs_quota_us', c.quota === 0 ? undefined : c.quota]);
  if (c.burst !== undefined) d.write('cpu.cfs_burst_us', c.burst);
  writePair(d, ['cpu.rt_period_us', c.realtimePeriod || undefined], ['cpu.rt_runtime_us', c.realtimeRuntime]);
  if (c.idle !== undefined) d.write('cpu.idle', c.idle);
}

function cpuset(c: LinuxCPU, d: ControllerDir): void {
  if (c.cpus) d.write('cpuset.cpus', c.cpus);
  if (c.mems) d.write('cpuset.mems', c.mems);
}

/** Newer kernels with BFQ name the weight files blkio.bfq.*. */
function blkioFile(d: ControllerDir, name: string): string {
  return d.has(`blkio.${name}`) ? `blkio.${name}` : `blkio.bfq.${name}`;
}

function blkio(b: LinuxBlockIO, d: ControllerDir): void {
  if (b.weight !== undefined && b.weight !== 0) d.write(blkioFile(d, 'weight'), b.weight);
  if (b.leafWeight !== undefined && b.leafWeight !== 0) d.writeIfPresent('blkio.leaf_weight', b.leafWeight, 'blockIO.leafWeight');
  for (const w of b.weightDevice ?? []) {
    if (w.weight !== undefined) d.write(blkioFile(d, 'weight_device'), `${w.major}:${w.minor} ${w.weight}`);
    if (w.leafWeight !== undefined) d.writeIfPresent('blkio.leaf_weight_device', `${w.major}:${w.minor} ${w.leafWeight}`, 'blockIO.weightDevice.leafWeight');
  }
  const throttles: Array<[keyof LinuxBlockIO, string]> = [
    ['throttleReadBpsDevice', 'blkio.throttle.read_bps_device'],
    ['throttleWriteBpsDevice', 'blkio.throttle.write_bps_device'],
    ['throttleReadIOPSDevice', 'blkio.throttle.read_iops_device'],
    ['throttleWriteIOPSDevice', 'blkio.throttle.write_iops_device'],
  ];
  for (const [key, file] of throttles) {
    for (const t of (b[key] as Array<{ major: number; minor: number; rate?: number }> | undefined) ?? []) {
      d.write(file, `${t.major}:${t.minor} ${t.rate ?? 0}`);
    }
  }
}

function hugetlb(r: LinuxResources, d: ControllerDir): void {
  for (const h of r.hugepageLimits ?? []) {
    const size = hugepageSize(h.pageSize);
    const file = `hugetlb.${size}.limit_in_bytes`;
    if (!d.has(file)) throw new TrunError('EINVAL', `hugepage size "${h.pageSize}" is not supported (no ${d.file(file)})`, { path: d.file(file) });
    d.write(file, h.limit);
    // Reservation accounting (kernel 5.7+) is what the spec prefers when it exists.
    const rsvd = `hugetlb.${size}.rsvd.limit_in_bytes`;
    if (d.has(rsvd)) d.write(rsvd, h.limit);
  }
}

function netCls(n: LinuxNetwork, d: ControllerDir): void {
  if (n.classID !== undefined) d.write('net_cls.classid', n.classID);
}

function netPrio(n: LinuxNetwork, d: ControllerDir): void {
  for (const p of n.priorities ?? []) d.write('net_prio.ifpriomap', `${p.name} ${p.priority}`);
}

function devices(r: LinuxResources, d: ControllerDir): void {
  // In the listed order, as the spec requires: later rules refine earlier ones.
  for (const rule of r.devices ?? []) d.write(rule.allow ? 'devices.allow' : 'devices.deny', deviceRule(rule));
}

export function rdmaLines(r: LinuxResources): string[] {
  const out: string[] = [];
  for (const [dev, lim] of Object.entries(r.rdma ?? {})) {
    if (!lim) continue;
    const parts: string[] = [];
    if (lim.hcaHandles !== undefined) parts.push(`hca_handle=${lim.hcaHandles}`);
    if (lim.hcaObjects !== undefined) parts.push(`hca_object=${lim.hcaObjects}`);
    if (parts.length === 0) throw new TrunError('EINVAL', `rdma "${dev}": one of hcaHandles or hcaObjects is required`);
    out.push(`${dev} ${parts.join(' ')}`);
  }
  return out;
}

function rdma(r: LinuxResources, d: ControllerDir): void {
  for (const line of rdmaLines(r)) d.write('rdma.max', line);
}

/** v1 writers by table key (see resources.ts for which controller each needs). */
export const V1_WRITERS: Record<string, V1Writer> = {
  memory: (r, d) => r.memory && memory(r.memory, d),
  cpu: (r, d) => r.cpu && cpu(r.cpu, d),
  cpuset: (r, d) => r.cpu && cpuset(r.cpu, d),
  pids: (r, d) => r.pids && d.write('pids.max', r.pids.limit < 0 ? 'max' : r.pids.limit),
  blkio: (r, d) => r.blockIO && blkio(r.blockIO, d),
  hugetlb,
  net_cls: (r, d) => r.network && netCls(r.network, d),
  net_prio: (r, d) => r.network && netPrio(r.network, d),
  devices,
  rdma,
};

/**
 * mkdir -p for the cpuset hierarchy: a new v1 cpuset directory starts with empty cpus and mems,
 * and no task may join it until both are filled, so each created level copies its parent's.
 */
export function mkdirCpuset(dir: string): void {
  const parent = path.dirname(dir);
  if (!fs.existsSync(parent)) mkdirCpuset(parent);
  try {
    fs.mkdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw sysError('mkdir', dir, err);
  }
  for (const f of ['cpuset.cpus', 'cpuset.mems']) {
    const own = path.join(dir, f);
    if (readCgroupFile(own).trim() !== '') continue;
    writeCgroupFile(own, readCgroupFile(path.join(parent, f)).trim());
  }
}

const FREEZE_TIMEOUT_MS = 10_000;

/** freezer.state: FROZEN, FREEZING or THAWED. */
export function freezerState(dir: string): string {
  return readCgroupFile(path.join(dir, 'freezer.state')).trim();
}

/**
 * Writes FROZEN until the state reads FROZEN. A task in an uninterruptible sleep keeps the
 * cgroup FREEZING; rewriting nudges the kernel to retry. Gives up (and thaws) after the timeout.
 */
export function freezeV1(dir: string, sleep: (ms: number) => void): void {
  const file = path.join(dir, 'freezer.state');
  const deadline = Date.now() + FREEZE_TIMEOUT_MS;
  for (let delay = 1; ; delay = Math.min(delay * 2, 50)) {
    writeCgroupFile(file, 'FROZEN');
    if (freezerState(dir) === 'FROZEN') return;
    if (Date.now() > deadline) {
      writeCgroupFile(file, 'THAWED');
      throw new TrunError('ESYS', `freeze "${dir}": cgroup still FREEZING after ${FREEZE_TIMEOUT_MS} ms`, { path: file, syscall: 'write' });
    }
    sleep(delay);
  }
}

export function thawV1(dir: string): void {
  writeCgroupFile(path.join(dir, 'freezer.state'), 'THAWED');
}
