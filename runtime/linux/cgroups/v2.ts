// cgroup v2: the file writers for each resource (converted from the OCI's v1-shaped values),
// controller delegation down the tree, `unified` keys, and the cgroup.freeze freezer.
import * as path from 'node:path';
import type { LinuxBlockIO, LinuxCPU, LinuxMemory, LinuxResources } from '../../../spec/types/runtime';
import { TrunError } from '../../errors';
import { normalizeDeviceRules } from './bpf-devices';
import { blkioWeightToIoWeight, cpuMax, hugepageSize, sharesToWeight, swapToV2, v2Limit } from './convert';
import { ControllerDir, errnoOf, parseFlatKeyed, readCgroupFile, readOptional, writeCgroupFile } from './files';
import { rdmaLines } from './v1';

export type V2Writer = (r: LinuxResources, d: ControllerDir) => void;

function memory(m: LinuxMemory, d: ControllerDir): void {
  if (m.checkBeforeUpdate && m.limit !== undefined && m.limit > 0) {
    const usage = Number(d.read('memory.current'));
    if (usage > m.limit) {
      throw new TrunError('EINVAL', `rejecting memory limit ${m.limit} below current usage ${usage} (${d.file('memory.current')})`, { path: d.file('memory.current') });
    }
  }
  const swap = swapToV2(m.swap, m.limit);
  if (swap !== undefined) {
    if (d.has('memory.swap.max')) d.write('memory.swap.max', swap);
    else if (m.swap !== undefined && m.swap !== 0) d.warn(`swap limit is not supported (no ${d.file('memory.swap.max')}): ignored`);
  }
  if (m.limit !== undefined && m.limit !== 0) d.write('memory.max', v2Limit(m.limit));
  if (m.reservation !== undefined && m.reservation !== 0) d.write('memory.low', v2Limit(m.reservation));
  if (m.kernel !== undefined) d.warn('memory.kernel has no cgroup v2 equivalent: ignored');
  if (m.kernelTCP !== undefined) d.warn('memory.kernelTCP has no cgroup v2 equivalent: ignored');
  if (m.swappiness !== undefined) d.warn('memory.swappiness has no cgroup v2 equivalent: ignored');
  if (m.disableOOMKiller) d.warn('memory.disableOOMKiller has no cgroup v2 equivalent: ignored');
  if (m.useHierarchy === false) d.warn('memory.useHierarchy false is impossible on cgroup v2 (always hierarchical): ignored');
}

function cpu(c: LinuxCPU, d: ControllerDir): void {
  if (c.realtimePeriod || c.realtimeRuntime) {
    throw new TrunError('EINVAL', 'cpu.realtimePeriod and cpu.realtimeRuntime are not supported on cgroup v2');
  }
  if (c.shares) d.write('cpu.weight', sharesToWeight(c.shares));
  const max = cpuMax(c.quota, c.period);
  if (max !== undefined) d.write('cpu.max', max);
  if (c.burst !== undefined) d.write('cpu.max.burst', c.burst);
  if (c.idle !== undefined) d.write('cpu.idle', c.idle);
}

function cpuset(c: LinuxCPU, d: ControllerDir): void {
  if (c.cpus) d.write('cpuset.cpus', c.cpus);
  if (c.mems) d.write('cpuset.mems', c.mems);
}

function io(b: LinuxBlockIO, d: ControllerDir): void {
  // io.weight exists with the io cost model; BFQ-only kernels offer io.bfq.weight, which takes
  // blkio's 1..1000 scale unconverted.
  const bfq = !d.has('io.weight') && d.has('io.bfq.weight');
  const weightFile = bfq ? 'io.bfq.weight' : 'io.weight';
  const conv = (w: number): number => (bfq ? w : blkioWeightToIoWeight(w));
  if (b.weight) d.write(weightFile, `default ${conv(b.weight)}`);
  if (b.leafWeight) d.warn('blockIO.leafWeight has no cgroup v2 equivalent: ignored');
  for (const w of b.weightDevice ?? []) {
    if (w.weight) d.write(weightFile, `${w.major}:${w.minor} ${conv(w.weight)}`);
    if (w.leafWeight) d.warn('blockIO.weightDevice.leafWeight has no cgroup v2 equivalent: ignored');
  }
  const throttles: Array<[keyof LinuxBlockIO, string]> = [
    ['throttleReadBpsDevice', 'rbps'],
    ['throttleWriteBpsDevice', 'wbps'],
    ['throttleReadIOPSDevice', 'riops'],
    ['throttleWriteIOPSDevice', 'wiops'],
  ];
  for (const [key, field] of throttles) {
    for (const t of (b[key] as Array<{ major: number; minor: number; rate?: number }> | undefined) ?? []) {
      // v1 removes a rule with rate 0; v2 spells that "max".
      d.write('io.max', `${t.major}:${t.minor} ${field}=${t.rate ? t.rate : 'max'}`);
    }
  }
}

function hugetlb(r: LinuxResources, d: ControllerDir): void {
  for (const h of r.hugepageLimits ?? []) {
    const size = hugepageSize(h.pageSize);
    const file = `hugetlb.${size}.max`;
    if (!d.has(file)) throw new TrunError('EINVAL', `hugepage size "${h.pageSize}" is not supported (no ${d.file(file)})`, { path: d.file(file) });
    d.write(file, v2Limit(h.limit));
    if (d.has(`hugetlb.${size}.rsvd.max`)) d.write(`hugetlb.${size}.rsvd.max`, v2Limit(h.limit));
  }
}

/**
 * v2 has no devices controller: the rules are compiled into an eBPF program that create's plan
 * attaches (CgroupManager.deviceFilter, device-filter.ts). Here they are only
 * validated, so that a bad rule fails apply() like it does on v1.
 */
function devices(r: LinuxResources): void {
  normalizeDeviceRules(r.devices ?? []);
}

function rdma(r: LinuxResources, d: ControllerDir): void {
  for (const line of rdmaLines(r)) d.write('rdma.max', line);
}

/** v2 writers by table key (see resources.ts). */
export const V2_WRITERS: Record<string, V2Writer> = {
  memory: (r, d) => r.memory && memory(r.memory, d),
  cpu: (r, d) => r.cpu && cpu(r.cpu, d),
  cpuset: (r, d) => r.cpu && cpuset(r.cpu, d),
  pids: (r, d) => r.pids && d.write('pids.max', v2Limit(r.pids.limit)),
  blkio: (r, d) => r.blockIO && io(r.blockIO, d),
  hugetlb,
  devices,
  rdma,
};

/** `unified` keys must name a file in the cgroup's own directory. */
export function checkUnifiedKey(key: string): void {
  if (key === '' || key.includes('/') || key === '.' || key === '..' || key.includes('\0')) {
    throw new TrunError('EINVAL', `invalid unified cgroup key "${key}": must name a file in the container's cgroup`);
  }
}

/** Writes linux.resources.unified verbatim; the controller (the key's prefix) must be available. */
export function writeUnified(unified: Record<string, string | undefined>, d: ControllerDir): void {
  const available = new Set(d.readOptional('cgroup.controllers')?.split(/\s+/) ?? []);
  for (const [key, value] of Object.entries(unified)) {
    checkUnifiedKey(key);
    if (value === undefined) continue;
    const controller = key.split('.')[0] ?? '';
    if (!d.has(key)) {
      const why = controller !== 'cgroup' && !available.has(controller) ? `controller "${controller}" is not available` : 'no such file';
      throw new TrunError('EINVAL', `unified cgroup key "${key}": ${why} in ${d.dir}`, { path: d.file(key) });
    }
    d.write(key, value);
  }
}

/**
 * Enables, on each ancestor from `top` (exclusive of the target) down, every controller it has,
 * so that the target gets them all. A controller that cannot be enabled (a populated non-root
 * ancestor, a threaded subtree) becomes a warning; using it later fails with a clear error.
 */
export function delegateControllers(top: string, target: string, warnings: string[]): void {
  const rel = path.relative(top, target);
  if (rel === '' || rel.startsWith('..')) return;
  const levels = rel.split(path.sep);
  let dir = top;
  for (let i = 0; i < levels.length; i++) {
    const have = (readOptional(path.join(dir, 'cgroup.controllers')) ?? '').split(/\s+/).filter(Boolean);
    const on = new Set((readOptional(path.join(dir, 'cgroup.subtree_control')) ?? '').split(/\s+/).filter(Boolean));
    const missing = have.filter((c) => !on.has(c));
    if (missing.length > 0) enableControllers(dir, missing, warnings);
    dir = path.join(dir, levels[i] as string);
  }
}

function enableControllers(dir: string, controllers: string[], warnings: string[]): void {
  const file = path.join(dir, 'cgroup.subtree_control');
  try {
    writeCgroupFile(file, controllers.map((c) => `+${c}`).join(' '));
    return;
  } catch {
    // One at a time, to enable what can be and name what cannot.
  }
  for (const c of controllers) {
    try {
      writeCgroupFile(file, `+${c}`);
    } catch (err) {
      warnings.push(`cannot enable controller "${c}" in ${file}: ${errnoOf(err) ?? String(err)}`);
    }
  }
}

const FREEZE_TIMEOUT_MS = 10_000;

export function frozenV2(dir: string): boolean {
  const events = readOptional(path.join(dir, 'cgroup.events'));
  if (events !== undefined) return parseFlatKeyed(events)['frozen'] === 1;
  return readCgroupFile(path.join(dir, 'cgroup.freeze')).trim() === '1';
}

/** Writes 1 to cgroup.freeze and waits for cgroup.events to say "frozen 1". */
export function freezeV2(dir: string, sleep: (ms: number) => void): void {
  const file = path.join(dir, 'cgroup.freeze');
  writeCgroupFile(file, '1');
  const deadline = Date.now() + FREEZE_TIMEOUT_MS;
  for (let delay = 1; !frozenV2(dir); delay = Math.min(delay * 2, 50)) {
    if (Date.now() > deadline) {
      writeCgroupFile(file, '0');
      throw new TrunError('ESYS', `freeze "${dir}": not frozen after ${FREEZE_TIMEOUT_MS} ms`, { path: file, syscall: 'write' });
    }
    sleep(delay);
  }
}

export function thawV2(dir: string): void {
  writeCgroupFile(path.join(dir, 'cgroup.freeze'), '0');
}
