// Process attributes that survive execve: scheduler (sched_setattr), I/O priority (ioprio_set),
// personality and CPU affinity. Names from config.json become kernel numbers here (tables from
// <linux/sched.h>, <linux/ioprio.h> and <sys/personality.h>), checked the way the kernel would,
// so that a bad value fails at plan time naming its field.
import type { IOPriority, LinuxPersonality, Scheduler } from '../../spec/types/runtime';
import { TrunError } from '../errors';
import { OpCode, type Op } from '../init/protocol';

export const SCHED_POLICIES: Readonly<Record<string, number>> = Object.freeze({
  SCHED_OTHER: 0,
  SCHED_FIFO: 1,
  SCHED_RR: 2,
  SCHED_BATCH: 3,
  // 4 is SCHED_ISO, reserved by Linux and never implemented: the spec lists it, the kernel refuses it.
  SCHED_IDLE: 5,
  SCHED_DEADLINE: 6,
});

export const SCHED_FLAGS: Readonly<Record<string, number>> = Object.freeze({
  SCHED_FLAG_RESET_ON_FORK: 0x01,
  SCHED_FLAG_RECLAIM: 0x02,
  SCHED_FLAG_DL_OVERRUN: 0x04,
  SCHED_FLAG_KEEP_POLICY: 0x08,
  SCHED_FLAG_KEEP_PARAMS: 0x10,
  // SCHED_FLAG_UTIL_CLAMP_MIN/MAX (0x20/0x40) need clamp values config.json cannot carry.
});

export const IOPRIO_CLASSES: Readonly<Record<string, number>> = Object.freeze({
  IOPRIO_CLASS_RT: 1,
  IOPRIO_CLASS_BE: 2,
  IOPRIO_CLASS_IDLE: 3,
});

export const PERSONALITY_DOMAINS: Readonly<Record<string, number>> = Object.freeze({
  LINUX: 0x0000, // PER_LINUX
  LINUX32: 0x0008, // PER_LINUX32
});

/** The kernel's smallest SCHED_DEADLINE runtime: 2^DL_SCALE ns. */
const DL_MIN_RUNTIME = 1024n;

function fail(id: string, message: string): never {
  throw new TrunError('EINVAL', message, { id });
}

const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v);

function nanos(id: string, field: string, v: number | undefined): bigint {
  if (v === undefined) return 0n;
  if (!isInt(v) || v < 0) fail(id, `process.scheduler.${field}: must be a non-negative integer (nanoseconds), got ${v}`);
  return BigInt(v);
}

/** process.scheduler as a SCHEDULER op, with the kernel's rules checked first. */
export function schedulerOp(id: string, s: Scheduler): Op {
  const policy = SCHED_POLICIES[s.policy];
  if (s.policy === 'SCHED_ISO') fail(id, 'process.scheduler.policy: SCHED_ISO is not implemented by Linux');
  if (policy === undefined) fail(id, `process.scheduler.policy: unknown policy "${String(s.policy)}"`);
  const nice = s.nice ?? 0;
  if (!isInt(nice) || nice < -20 || nice > 19) fail(id, `process.scheduler.nice: ${nice} is out of range (-20 to 19)`);
  const priority = s.priority ?? 0;
  const realtime = s.policy === 'SCHED_FIFO' || s.policy === 'SCHED_RR';
  if (realtime) {
    if (!isInt(priority) || priority < 1 || priority > 99) fail(id, `process.scheduler.priority: ${priority} is out of range for ${s.policy} (1 to 99)`);
  } else if (priority !== 0) {
    fail(id, `process.scheduler.priority: only SCHED_FIFO and SCHED_RR take a priority, not ${s.policy}`);
  }
  let flags = 0;
  for (const f of s.flags ?? []) {
    const bit = SCHED_FLAGS[f];
    if (bit === undefined) fail(id, `process.scheduler.flags: unsupported flag "${String(f)}"`);
    flags |= bit;
  }
  const runtime = nanos(id, 'runtime', s.runtime);
  const deadline = nanos(id, 'deadline', s.deadline);
  const period = nanos(id, 'period', s.period);
  if (s.policy === 'SCHED_DEADLINE') {
    // The kernel's admission rules (sched_dl_parameters_valid): runtime <= deadline <= period.
    if (runtime < DL_MIN_RUNTIME) fail(id, `process.scheduler.runtime: SCHED_DEADLINE needs a runtime of at least ${DL_MIN_RUNTIME} ns`);
    if (deadline < runtime) fail(id, 'process.scheduler.deadline: must be at least the runtime');
    if (period !== 0n && period < deadline) fail(id, 'process.scheduler.period: must be at least the deadline');
  } else if (runtime || deadline || period) {
    fail(id, `process.scheduler.runtime: runtime, deadline and period apply to SCHED_DEADLINE only, not ${s.policy}`);
  }
  return { op: OpCode.SCHEDULER, policy, flags: BigInt(flags), nice, priority, runtime, deadline, period };
}

/** process.ioPriority as an IOPRIO op. */
export function ioPriorityOp(id: string, p: IOPriority): Op {
  const ioClass = IOPRIO_CLASSES[p.class];
  if (ioClass === undefined) fail(id, `process.ioPriority.class: unknown class "${String(p.class)}"`);
  const level = p.priority ?? 0;
  if (!isInt(level) || level < 0 || level > 7) fail(id, `process.ioPriority.priority: ${level} is out of range (0 to 7)`);
  return { op: OpCode.IOPRIO, ioClass, level };
}

/** linux.personality as a PERSONALITY op. */
export function personalityOp(id: string, p: LinuxPersonality): Op {
  if (p.domain === undefined) fail(id, 'linux.personality.domain: must be set');
  const domain = PERSONALITY_DOMAINS[p.domain];
  if (domain === undefined) fail(id, `linux.personality.domain: unknown domain "${String(p.domain)}"`);
  // The spec defines no flag yet; refusing beats silently ignoring one.
  if (p.flags?.length) fail(id, `linux.personality.flags: unsupported flag "${p.flags[0]}"`);
  return { op: OpCode.PERSONALITY, persona: domain };
}

/** Highest cpu number accepted in a list (the kernel's NR_CPUS maximum). */
export const MAX_CPU = 8191;

/**
 * A list of cpus or memory nodes ("0-3,7") as a bit mask: bit n of word n/64 is number n, the
 * layout both sched_setaffinity(2) and set_mempolicy(2) read. Throws naming `field` on a
 * malformed list or a number above `max`.
 */
export function numberListMask(id: string, field: string, list: string, noun: string, max: number): bigint[] {
  const words: bigint[] = [];
  const bad = (why: string): never => fail(id, `${field}: invalid ${noun} list "${list}": ${why}`);
  for (const part of list.split(',')) {
    const m = /^\s*(\d+)(?:-(\d+))?\s*$/.exec(part);
    if (!m) bad(`"${part}" is not a ${noun} or a range`);
    const lo = Number(m![1]);
    const hi = m![2] === undefined ? lo : Number(m![2]);
    if (hi < lo) bad(`range "${part}" goes backwards`);
    if (hi > max) bad(`${noun} ${hi} is above ${max}`);
    for (let n = lo; n <= hi; n++) {
      const w = n >> 6;
      while (words.length <= w) words.push(0n);
      words[w]! |= 1n << BigInt(n & 63);
    }
  }
  return words;
}

/** A cpu list ("0-3,7") as an affinity mask; throws naming `field` on a malformed list. */
export function cpuListMask(id: string, field: string, list: string): bigint[] {
  return numberListMask(id, field, list, 'cpu', MAX_CPU);
}

/** A CPU_AFFINITY op for a cpu list, or none when the list is absent or empty (leave the affinity alone). */
export function affinityOps(id: string, field: string, list: string | undefined): Op[] {
  if (list === undefined || list.trim() === '') return [];
  return [{ op: OpCode.CPU_AFFINITY, mask: cpuListMask(id, field, list) }];
}
