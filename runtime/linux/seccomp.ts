// linux.seccomp compiled into SECCOMP_* init steps: action names become libseccomp's action
// values, comparison names its scmp_compare values. The init resolves syscall names with
// libseccomp (an unknown name fails create with that name) and loads the filter.
import type { LinuxSeccomp, LinuxSyscall } from '../../spec/types/runtime';
import { TrunError } from '../errors';
import { OpCode, type Op } from '../init/protocol';

const EPERM = 1;

/** libseccomp's SCMP_ACT_* values; ERRNO and TRACE carry their data in the low 16 bits. */
const ACTIONS: Readonly<Record<string, number>> = {
  SCMP_ACT_KILL: 0x00000000,
  SCMP_ACT_KILL_THREAD: 0x00000000,
  SCMP_ACT_KILL_PROCESS: 0x80000000,
  SCMP_ACT_TRAP: 0x00030000,
  SCMP_ACT_ERRNO: 0x00050000,
  SCMP_ACT_TRACE: 0x7ff00000,
  SCMP_ACT_LOG: 0x7ffc0000,
  SCMP_ACT_ALLOW: 0x7fff0000,
};

/** enum scmp_compare. */
const COMPARE: Readonly<Record<string, number>> = {
  SCMP_CMP_NE: 1, SCMP_CMP_LT: 2, SCMP_CMP_LE: 3, SCMP_CMP_EQ: 4, SCMP_CMP_GE: 5, SCMP_CMP_GT: 6, SCMP_CMP_MASKED_EQ: 7,
};

const FILTER_FLAGS: Readonly<Record<string, number>> = {
  SECCOMP_FILTER_FLAG_TSYNC: 1,
  SECCOMP_FILTER_FLAG_LOG: 2,
  SECCOMP_FILTER_FLAG_SPEC_ALLOW: 4,
  SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV: 32,
};

/** For `trun features`. */
export const SECCOMP_FEATURES = {
  enabled: true,
  actions: [...Object.keys(ACTIONS)],
  operators: Object.keys(COMPARE),
  archs: ['SCMP_ARCH_X86', 'SCMP_ARCH_X86_64', 'SCMP_ARCH_X32', 'SCMP_ARCH_ARM', 'SCMP_ARCH_AARCH64'],
  knownFlags: Object.keys(FILTER_FLAGS),
  supportedFlags: ['SECCOMP_FILTER_FLAG_TSYNC', 'SECCOMP_FILTER_FLAG_LOG', 'SECCOMP_FILTER_FLAG_SPEC_ALLOW'],
};

function fail(id: string, message: string): never {
  throw new TrunError('EINVAL', message, { id });
}

/** The action's value: ERRNO gets errnoRet (EPERM when absent), TRACE its data. */
export function actionValue(id: string, field: string, name: string, ret: number | undefined): number {
  if (name === 'SCMP_ACT_NOTIFY') fail(id, `${field}: SCMP_ACT_NOTIFY is not supported (no seccomp listener support)`);
  const base = ACTIONS[name];
  if (base === undefined) fail(id, `${field}: unknown seccomp action "${name}"`);
  if (name === 'SCMP_ACT_ERRNO') return (base | ((ret ?? EPERM) & 0xffff)) >>> 0;
  if (name === 'SCMP_ACT_TRACE') return (base | ((ret ?? 0) & 0xffff)) >>> 0;
  return base;
}

function ruleOps(id: string, index: number, rule: LinuxSyscall, defaultAction: number): Op[] {
  const field = `linux.seccomp.syscalls[${index}]`;
  const action = actionValue(id, `${field}.action`, rule.action, rule.errnoRet);
  // libseccomp refuses a rule that repeats the default action; it would change nothing anyway.
  if (action === defaultAction) return [];
  const args: bigint[] = [];
  for (const [i, a] of (rule.args ?? []).entries()) {
    const op = COMPARE[a.op];
    if (op === undefined) fail(id, `${field}.args[${i}].op: unknown comparison "${a.op}"`);
    if (a.index < 0 || a.index > 5) fail(id, `${field}.args[${i}].index: must be 0 to 5`);
    args.push(BigInt(a.index), BigInt(a.value), BigInt(a.valueTwo ?? 0), BigInt(op));
  }
  return rule.names.map((syscall): Op => ({ op: OpCode.SECCOMP_RULE, syscall, action, args }));
}

/**
 * `build` makes the filter in the init's memory (an unknown syscall fails there, during create);
 * `load` installs it, as late as the caller can.
 */
export function seccompOps(id: string, seccomp: LinuxSeccomp | undefined): { build: Op[]; load: Op[] } {
  if (!seccomp) return { build: [], load: [] };
  if (seccomp.listenerPath) fail(id, 'linux.seccomp.listenerPath: seccomp listeners are not supported');
  const defaultAction = actionValue(id, 'linux.seccomp.defaultAction', seccomp.defaultAction, seccomp.defaultErrnoRet);
  let flags = 0;
  for (const f of seccomp.flags ?? []) {
    const bit = FILTER_FLAGS[f];
    if (bit === undefined) fail(id, `linux.seccomp.flags: unknown flag "${f}"`);
    flags |= bit;
  }
  const architectures = [...(seccomp.architectures ?? [])];
  const ops: Op[] = [{ op: OpCode.SECCOMP_INIT, defaultAction, architectures, flags }];
  (seccomp.syscalls ?? []).forEach((rule, i) => ops.push(...ruleOps(id, i, rule, defaultAction)));
  return { build: ops, load: [{ op: OpCode.SECCOMP_LOAD }] };
}
