// Conversions between the OCI (cgroup v1 shaped) resource values and cgroup v2 file values,
// with the same arithmetic as runc so that a config behaves alike under either runtime.
import { TrunError } from '../../errors';

/** -1 (or any negative) means "no limit": "max" on v2, "-1" on v1. */
export function v2Limit(n: number): string {
  return n < 0 ? 'max' : String(n);
}

/** cpu.shares (2..262144, default 1024) -> cpu.weight (1..10000, default 100); 0 means unset. */
export function sharesToWeight(shares: number): number {
  if (shares === 0) return 0;
  return 1 + Math.floor(((shares - 2) * 9999) / 262142);
}

/** blkio.weight (10..1000) -> io.weight (1..10000); 0 means unset. */
export function blkioWeightToIoWeight(weight: number): number {
  if (weight === 0) return 0;
  return 1 + Math.floor(((weight - 10) * 9999) / 990);
}

/**
 * OCI memory.swap is the v1 memory+swap limit; v2's memory.swap.max counts swap alone, so it is
 * swap - limit. Returns undefined when nothing should be written.
 * Unlimited memory with no swap setting means "both unlimited", as on v1.
 */
export function swapToV2(swap: number | undefined, limit: number | undefined): string | undefined {
  const mem = limit ?? 0;
  const sw = swap ?? 0;
  if (mem === -1 && sw === 0) return 'max';
  if (sw === 0) return undefined;
  if (sw < 0) return 'max';
  if (mem === 0 || mem < 0) {
    throw new TrunError('EINVAL', `memory.swap ${sw} cannot be set without a memory limit`);
  }
  if (sw < mem) throw new TrunError('EINVAL', `memory.swap ${sw} (memory+swap) must not be below memory.limit ${mem}`);
  return String(sw - mem);
}

/** cpu.max: "<quota|max> [period]"; undefined when neither is set. */
export function cpuMax(quota: number | undefined, period: number | undefined): string | undefined {
  if (quota === undefined && period === undefined) return undefined;
  if ((quota ?? 0) === 0 && (period ?? 0) === 0) return undefined;
  const q = quota !== undefined && quota > 0 ? String(quota) : 'max';
  return period !== undefined && period > 0 ? `${q} ${period}` : q;
}

/** A v1 device cgroup rule line: "c 1:3 rwm", "a *:* rwm". */
export function deviceRule(rule: { type?: string; major?: number; minor?: number; access?: string }): string {
  const type = rule.type ?? 'a';
  if (!['a', 'b', 'c'].includes(type)) throw new TrunError('EINVAL', `invalid device cgroup type "${type}"`);
  const access = rule.access ?? 'rwm';
  if (!/^[rwm]+$/.test(access)) throw new TrunError('EINVAL', `invalid device cgroup access "${access}"`);
  const num = (n: number | undefined): string => (n === undefined || n < 0 ? '*' : String(n));
  return `${type} ${num(rule.major)}:${num(rule.minor)} ${access}`;
}

/** Hugepage size as named in cgroup files: "2MB", "1GB" (the spec uses the same spelling). */
export function hugepageSize(pageSize: string): string {
  const m = /^(\d+)(KB|MB|GB|TB|PB)$/i.exec(pageSize.trim());
  if (!m) throw new TrunError('EINVAL', `invalid hugepage size "${pageSize}"`);
  return `${m[1]}${(m[2] ?? '').toUpperCase()}`;
}

/** /sys/kernel/mm/hugepages/hugepages-<N>kB name for a cgroup hugepage size, to check support. */
export function hugepageSizeKB(size: string): number {
  const m = /^(\d+)(KB|MB|GB|TB|PB)$/.exec(size);
  const mult: Record<string, number> = { KB: 1, MB: 1024, GB: 1024 ** 2, TB: 1024 ** 3, PB: 1024 ** 4 };
  if (!m) throw new TrunError('EINVAL', `invalid hugepage size "${size}"`);
  return Number(m[1]) * (mult[m[2] ?? 'KB'] ?? 1);
}
