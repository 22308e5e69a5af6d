// `trun update`'s planning, pure: runc's single-value flags to a LinuxResources, the merge with
// what the container already has, and the part that is written to the live cgroup.
import type { LinuxResources } from '../spec/types/runtime';
import { TrunError } from './errors';
import { parseRamSize } from './units';

export type UpdateFlag =
  | 'blkio-weight'
  | 'cpu-period'
  | 'cpu-quota'
  | 'cpu-share'
  | 'cpu-rt-period'
  | 'cpu-rt-runtime'
  | 'cpuset-cpus'
  | 'cpuset-mems'
  | 'memory'
  | 'memory-reservation'
  | 'memory-swap'
  | 'kernel-memory'
  | 'kernel-memory-tcp'
  | 'pids-limit'
  | 'l3-cache-schema'
  | 'mem-bw-schema';

export type UpdateFlags = Partial<Record<UpdateFlag, string>>;

type Kind = 'uint' | 'int' | 'uint16' | 'size' | 'string' | 'rdt';

/** Each flag: how its value is read and where it lands in LinuxResources. */
const FLAG_TABLE: ReadonlyArray<[UpdateFlag, Kind, (r: LinuxResources, v: number | string) => void]> = [
  ['blkio-weight', 'uint16', (r, v) => { (r.blockIO ??= {}).weight = v as number; }],
  ['cpu-period', 'uint', (r, v) => { (r.cpu ??= {}).period = v as number; }],
  ['cpu-quota', 'int', (r, v) => { (r.cpu ??= {}).quota = v as number; }],
  ['cpu-share', 'uint', (r, v) => { (r.cpu ??= {}).shares = v as number; }],
  ['cpu-rt-period', 'uint', (r, v) => { (r.cpu ??= {}).realtimePeriod = v as number; }],
  ['cpu-rt-runtime', 'int', (r, v) => { (r.cpu ??= {}).realtimeRuntime = v as number; }],
  ['cpuset-cpus', 'string', (r, v) => { (r.cpu ??= {}).cpus = v as string; }],
  ['cpuset-mems', 'string', (r, v) => { (r.cpu ??= {}).mems = v as string; }],
  ['memory', 'size', (r, v) => { (r.memory ??= {}).limit = v as number; }],
  ['memory-reservation', 'size', (r, v) => { (r.memory ??= {}).reservation = v as number; }],
  ['memory-swap', 'size', (r, v) => { (r.memory ??= {}).swap = v as number; }],
  ['kernel-memory', 'size', (r, v) => { (r.memory ??= {}).kernel = v as number; }],
  ['kernel-memory-tcp', 'size', (r, v) => { (r.memory ??= {}).kernelTCP = v as number; }],
  ['pids-limit', 'int', (r, v) => { r.pids = { limit: v as number }; }],
  ['l3-cache-schema', 'rdt', () => {}],
  ['mem-bw-schema', 'rdt', () => {}],
];

function invalid(flag: string, reason: string): TrunError {
  return new TrunError('EINVAL', `invalid value for --${flag}: ${reason}`);
}

function parseValue(flag: UpdateFlag, kind: Kind, text: string): number | string {
  const t = text.trim();
  switch (kind) {
    case 'string':
      if (!/^[0-9,-]+$/.test(t)) throw invalid(flag, `${JSON.stringify(text)} is not a cpu or node list such as "0-2,4"`);
      return t;
    case 'size': {
      if (t === '-1') return -1;
      const n = parseRamSize(t);
      if (n === undefined) throw invalid(flag, `invalid size ${JSON.stringify(text)} (bytes, or a number with k, m, g, t or p; -1 for unlimited)`);
      return n;
    }
    case 'rdt':
      throw new TrunError('EINVAL', `--${flag}: intel rdt is not supported by trun`);
    default: {
      const signed = kind === 'int';
      if (!(signed ? /^-?\d+$/ : /^\d+$/).test(t)) throw invalid(flag, `${JSON.stringify(text)} is not ${signed ? 'an integer' : 'a non-negative integer'}`);
      const n = Number(t);
      if (!Number.isSafeInteger(n)) throw invalid(flag, `${text} is out of range`);
      if (kind === 'uint16' && n > 0xffff) throw invalid(flag, `${text} is out of range (0 to 65535)`);
      return n;
    }
  }
}

/**
 * The resources the flags ask for. As with runc, 0 means "leave unchanged" and is left out, and
 * memory sizes take "-1" for unlimited.
 */
export function resourcesFromFlags(flags: UpdateFlags): LinuxResources {
  const r: LinuxResources = {};
  for (const [flag, kind, set] of FLAG_TABLE) {
    const text = flags[flag];
    if (text === undefined) continue;
    const v = parseValue(flag, kind, text);
    if (v === 0) continue;
    set(r, v);
  }
  const known = new Set<string>(FLAG_TABLE.map(([f]) => f));
  for (const flag of Object.keys(flags)) if (!known.has(flag)) throw new TrunError('EINVAL', `update: unknown flag --${flag}`);
  return r;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Objects merge key by key; anything else (numbers, lists such as weightDevice) is replaced. */
function mergeValue(base: unknown, over: unknown): unknown {
  if (over === undefined) return base;
  if (!isObject(base) || !isObject(over)) return over;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = mergeValue(base[k], v);
  return out;
}

/** `over` laid on `base`: what the container's config says after the update. */
export function mergeResources(base: LinuxResources | undefined, over: LinuxResources): LinuxResources {
  return mergeValue(base ?? {}, over) as LinuxResources;
}

/** What `update` takes from --resources and the flags: the JSON first, the flags over it. */
export function requestedResources(json: LinuxResources | undefined, flags: UpdateFlags): LinuxResources {
  const fromFlags = resourcesFromFlags(flags);
  if (json !== undefined && !isObject(json)) throw new TrunError('EINVAL', '--resources: expected a JSON object (linux.resources)');
  return mergeResources(json, fromFlags);
}

/**
 * The part of the request written to the live cgroup, and the part stored. Device rules are left
 * out of both: on a live cgroup they only add to what is there, so an update cannot express them
 * faithfully (runc ignores them too; containerd's CRI sends them on every update). Values that
 * only make sense with a partner are completed from the merged result: a v2 swap limit is
 * computed against the memory limit, and quota and period are one file on v2.
 */
export function planUpdate(current: LinuxResources | undefined, requested: LinuxResources): { apply: LinuxResources; store: LinuxResources; ignoredDevices: boolean } {
  const { devices, ...rest } = requested;
  const store = mergeResources(current, rest);
  const apply: LinuxResources = structuredClone(rest);
  const mem = apply.memory;
  if (mem && mem.swap !== undefined && mem.swap !== 0 && mem.limit === undefined && store.memory?.limit !== undefined) mem.limit = store.memory.limit;
  const cpu = apply.cpu;
  if (cpu && (cpu.quota !== undefined || cpu.period !== undefined)) {
    if (cpu.quota === undefined && store.cpu?.quota !== undefined) cpu.quota = store.cpu.quota;
    if (cpu.period === undefined && store.cpu?.period !== undefined) cpu.period = store.cpu.period;
  }
  const ignoredDevices = devices !== undefined && JSON.stringify(devices) !== JSON.stringify(current?.devices ?? []);
  return { apply, store, ignoredDevices };
}
