// Usage numbers for `trun events --stats`, in runc's JSON shape, read from whichever side owns
// each controller. Unlimited limits are reported as 0 (runc does so for pids; we do it throughout
// because v1's "unlimited" 9223372036854771712 is not a safe JavaScript number anyway).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseFlatKeyed, readOptional } from './files';

export interface CpuUsage {
  /** Nanoseconds. */
  total: number;
  percpu?: number[];
  percpu_kernel?: number[];
  percpu_user?: number[];
  kernel: number;
  user: number;
}
export interface Throttling {
  periods: number;
  throttled_periods: number;
  /** Nanoseconds. */
  throttled_time: number;
}
export interface MemoryEntry {
  limit: number;
  usage?: number;
  max?: number;
  failcnt: number;
}
export interface MemoryStats {
  cache: number;
  usage: MemoryEntry;
  swap: MemoryEntry;
  kernel: MemoryEntry;
  kernelTCP: MemoryEntry;
  raw: Record<string, number>;
}
export interface BlkioEntry {
  major: number;
  minor: number;
  op: string;
  value: number;
}
export interface HugetlbStats {
  usage: number;
  max: number;
  failcnt: number;
}
export interface CgroupStats {
  cpu: { usage: CpuUsage; throttling: Throttling };
  memory: MemoryStats;
  pids: { current: number; limit: number };
  blkio: { ioServiceBytesRecursive: BlkioEntry[]; ioServicedRecursive: BlkioEntry[] };
  hugetlb: Record<string, HugetlbStats>;
}

/** Where a controller's files are: a v1 directory, or the unified directory. */
export interface StatSource {
  version: 1 | 2;
  dir: string;
}

const UNLIMITED_FLOOR = 2 ** 62;
const USER_HZ = 100;

function num(dir: string, file: string): number {
  const t = readOptional(path.join(dir, file))?.trim();
  if (t === undefined || t === '' || t === 'max') return 0;
  const n = Number(t);
  return Number.isFinite(n) && n < UNLIMITED_FLOOR ? n : 0;
}

function flat(dir: string, file: string): Record<string, number> {
  const t = readOptional(path.join(dir, file));
  return t === undefined ? {} : parseFlatKeyed(t);
}

function numbers(dir: string, file: string): number[] | undefined {
  const t = readOptional(path.join(dir, file));
  return t === undefined ? undefined : t.split(/\s+/).filter(Boolean).map(Number);
}

function emptyEntry(): MemoryEntry {
  return { limit: 0, usage: 0, max: 0, failcnt: 0 };
}

export function emptyStats(): CgroupStats {
  return {
    cpu: { usage: { total: 0, kernel: 0, user: 0 }, throttling: { periods: 0, throttled_periods: 0, throttled_time: 0 } },
    memory: { cache: 0, usage: emptyEntry(), swap: emptyEntry(), kernel: emptyEntry(), kernelTCP: emptyEntry(), raw: {} },
    pids: { current: 0, limit: 0 },
    blkio: { ioServiceBytesRecursive: [], ioServicedRecursive: [] },
    hugetlb: {},
  };
}

function cpuacctV1(s: CgroupStats, dir: string): void {
  const u = s.cpu.usage;
  u.total = num(dir, 'cpuacct.usage');
  const percpu = numbers(dir, 'cpuacct.usage_percpu');
  if (percpu) u.percpu = percpu;
  const sys = numbers(dir, 'cpuacct.usage_percpu_sys');
  if (sys) u.percpu_kernel = sys;
  const usr = numbers(dir, 'cpuacct.usage_percpu_user');
  if (usr) u.percpu_user = usr;
  const st = flat(dir, 'cpuacct.stat');
  u.user = ((st['user'] ?? 0) * 1e9) / USER_HZ;
  u.kernel = ((st['system'] ?? 0) * 1e9) / USER_HZ;
}

function cpuV1(s: CgroupStats, dir: string): void {
  const st = flat(dir, 'cpu.stat');
  s.cpu.throttling = { periods: st['nr_periods'] ?? 0, throttled_periods: st['nr_throttled'] ?? 0, throttled_time: st['throttled_time'] ?? 0 };
}

/** cpu.stat is core on v2: usage is there even without the cpu controller. */
function cpuV2(s: CgroupStats, dir: string): void {
  const st = flat(dir, 'cpu.stat');
  s.cpu.usage = { total: (st['usage_usec'] ?? 0) * 1000, user: (st['user_usec'] ?? 0) * 1000, kernel: (st['system_usec'] ?? 0) * 1000 };
  s.cpu.throttling = { periods: st['nr_periods'] ?? 0, throttled_periods: st['nr_throttled'] ?? 0, throttled_time: (st['throttled_usec'] ?? 0) * 1000 };
}

function memEntryV1(dir: string, prefix: string): MemoryEntry {
  return {
    usage: num(dir, `${prefix}.usage_in_bytes`),
    max: num(dir, `${prefix}.max_usage_in_bytes`),
    limit: num(dir, `${prefix}.limit_in_bytes`),
    failcnt: num(dir, `${prefix}.failcnt`),
  };
}

function memoryV1(s: CgroupStats, dir: string): void {
  const raw = flat(dir, 'memory.stat');
  s.memory = {
    cache: raw['total_cache'] ?? raw['cache'] ?? 0,
    usage: memEntryV1(dir, 'memory'),
    swap: memEntryV1(dir, 'memory.memsw'),
    kernel: memEntryV1(dir, 'memory.kmem'),
    kernelTCP: memEntryV1(dir, 'memory.kmem.tcp'),
    raw,
  };
}

/** v2 counts swap alone; like runc we report memory+swap in `swap` so it reads as on v1. */
function memoryV2(s: CgroupStats, dir: string): void {
  const raw = flat(dir, 'memory.stat');
  const usage = num(dir, 'memory.current');
  const limit = num(dir, 'memory.max');
  const swapUsage = num(dir, 'memory.swap.current');
  const swapLimit = num(dir, 'memory.swap.max');
  s.memory = {
    cache: raw['file'] ?? 0,
    usage: { usage, max: num(dir, 'memory.peak'), limit, failcnt: flat(dir, 'memory.events')['max'] ?? 0 },
    swap: { usage: usage + swapUsage, limit: limit && swapLimit ? limit + swapLimit : 0, failcnt: flat(dir, 'memory.swap.events')['max'] ?? 0 },
    kernel: { usage: (raw['kernel'] ?? 0) || (raw['kernel_stack'] ?? 0) + (raw['slab'] ?? 0), limit: 0, failcnt: 0 },
    kernelTCP: { usage: raw['sock'] ?? 0, limit: 0, failcnt: 0 },
    raw,
  };
}

function pids(s: CgroupStats, dir: string): void {
  s.pids = { current: num(dir, 'pids.current'), limit: num(dir, 'pids.max') };
}

/** "8:0 Read 4096" lines (the "Total" line has no device and is skipped). */
function blkioEntries(dir: string, file: string): BlkioEntry[] {
  const out: BlkioEntry[] = [];
  for (const line of (readOptional(path.join(dir, file)) ?? '').split('\n')) {
    const m = /^(\d+):(\d+) (\w+) (\d+)$/.exec(line.trim());
    if (m) out.push({ major: Number(m[1]), minor: Number(m[2]), op: m[3] ?? '', value: Number(m[4]) });
  }
  return out;
}

function blkioV1(s: CgroupStats, dir: string): void {
  s.blkio = {
    ioServiceBytesRecursive: blkioEntries(dir, 'blkio.throttle.io_service_bytes_recursive'),
    ioServicedRecursive: blkioEntries(dir, 'blkio.throttle.io_serviced_recursive'),
  };
}

const IO_STAT_FIELDS: ReadonlyArray<[string, 'ioServiceBytesRecursive' | 'ioServicedRecursive', string]> = [
  ['rbytes', 'ioServiceBytesRecursive', 'Read'],
  ['wbytes', 'ioServiceBytesRecursive', 'Write'],
  ['dbytes', 'ioServiceBytesRecursive', 'Discard'],
  ['rios', 'ioServicedRecursive', 'Read'],
  ['wios', 'ioServicedRecursive', 'Write'],
  ['dios', 'ioServicedRecursive', 'Discard'],
];

function ioV2(s: CgroupStats, dir: string): void {
  s.blkio = { ioServiceBytesRecursive: [], ioServicedRecursive: [] };
  for (const line of (readOptional(path.join(dir, 'io.stat')) ?? '').split('\n')) {
    const [dev, ...kv] = line.trim().split(/\s+/);
    const m = /^(\d+):(\d+)$/.exec(dev ?? '');
    if (!m) continue;
    const values = Object.fromEntries(kv.map((p) => p.split('=')).map(([k, v]) => [k ?? '', Number(v)]));
    for (const [field, list, op] of IO_STAT_FIELDS) {
      if (values[field] !== undefined) s.blkio[list].push({ major: Number(m[1]), minor: Number(m[2]), op, value: values[field] as number });
    }
  }
}

function hugetlbSizes(dir: string, suffix: string): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  const re = new RegExp(`^hugetlb\\.([0-9]+[KMGTP]B)\\.${suffix.replace('.', '\\.')}$`);
  return names.map((n) => re.exec(n)?.[1]).filter((x): x is string => x !== undefined);
}

function hugetlbV1(s: CgroupStats, dir: string): void {
  for (const size of hugetlbSizes(dir, 'limit_in_bytes')) {
    s.hugetlb[size] = { usage: num(dir, `hugetlb.${size}.usage_in_bytes`), max: num(dir, `hugetlb.${size}.max_usage_in_bytes`), failcnt: num(dir, `hugetlb.${size}.failcnt`) };
  }
}

function hugetlbV2(s: CgroupStats, dir: string): void {
  for (const size of hugetlbSizes(dir, 'max')) {
    s.hugetlb[size] = { usage: num(dir, `hugetlb.${size}.current`), max: num(dir, `hugetlb.${size}.max`), failcnt: flat(dir, `hugetlb.${size}.events`)['max'] ?? 0 };
  }
}

type Reader = (s: CgroupStats, dir: string) => void;

/** Controller -> its reader on v1 and on v2 (null: not applicable there). */
const STAT_READERS: ReadonlyArray<[controller: string, v1: Reader | null, v2: Reader | null]> = [
  ['cpuacct', cpuacctV1, cpuV2],
  ['cpu', cpuV1, cpuV2],
  ['memory', memoryV1, memoryV2],
  ['pids', pids, pids],
  ['blkio', blkioV1, ioV2],
  ['hugetlb', hugetlbV1, hugetlbV2],
];

/** Reads each controller from its owner; `owner` returns undefined when nobody has it. */
export function collectStats(owner: (v1Controller: string) => StatSource | undefined): CgroupStats {
  const s = emptyStats();
  for (const [controller, v1, v2] of STAT_READERS) {
    const src = owner(controller);
    const reader = src?.version === 1 ? v1 : v2;
    if (src && reader) reader(s, src.dir);
  }
  return s;
}
