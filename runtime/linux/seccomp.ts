// linux.seccomp compiled into SECCOMP_* init steps: action names become libseccomp's action
// values, comparison names its scmp_compare values. The init resolves syscall names with
// libseccomp (an unknown name fails create with that name) and loads the filter. With
// SCMP_ACT_NOTIFY rules, the init also hands the filter's notify fd to the listener at
// linux.seccomp.listenerPath, with the container process state trun gives it.
import * as path from 'node:path';
import type { LinuxSeccomp, LinuxSyscall } from '../../spec/types/runtime';
import type { StateDocument } from '../container';
import { OCI_VERSION } from '../defaults';
import { TrunError } from '../errors';
import { OpCode, type Op } from '../init/protocol';

const EPERM = 1;
const ENOSYS = 38;

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
  SCMP_ACT_NOTIFY: 0x7fc00000,
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
 * The syscalls trun-init makes between loading a filter and handing its notify fd over: were
 * one sent to the listener, it would wait for a listener that cannot have the fd yet.
 */
export const NOTIFY_REFUSED_SYSCALLS: readonly string[] = ['sendmsg', 'shutdown'];

/** The sync point at which the init asks for the container process state (SECCOMP_LOAD_NOTIFY). */
export const SECCOMP_NOTIFY_SYNC = 'seccomp';

/**
 * The listener's socket when the filter has SCMP_ACT_NOTIFY rules, else undefined: without
 * such a rule listenerPath is ignored, as the spec says (and runc does).
 */
export function seccompListener(id: string, seccomp: LinuxSeccomp | undefined): string | undefined {
  if (!seccomp) return undefined;
  // runc's reason holds here too: the default action would cover the hand-over's own calls.
  if (seccomp.defaultAction === 'SCMP_ACT_NOTIFY') fail(id, 'linux.seccomp.defaultAction: SCMP_ACT_NOTIFY cannot be the default action');
  let notify = false;
  (seccomp.syscalls ?? []).forEach((rule, i) => {
    if (rule.action !== 'SCMP_ACT_NOTIFY') return;
    notify = true;
    const refused = rule.names.find((n) => NOTIFY_REFUSED_SYSCALLS.includes(n));
    if (refused) {
      fail(id, `linux.seccomp.syscalls[${i}]: SCMP_ACT_NOTIFY cannot be used for "${refused}": trun-init hands the notify fd to the listener with it`);
    }
  });
  if (!notify) return undefined;
  const p = seccomp.listenerPath;
  if (!p) fail(id, 'linux.seccomp.listenerPath: must be set when a rule uses SCMP_ACT_NOTIFY (seccomp listenerPath is not set)');
  if (!path.posix.isAbsolute(p)) fail(id, `linux.seccomp.listenerPath: must be an absolute path: "${p}"`);
  return p;
}

/**
 * The step that connects to the listener: before the clone and any setns, while the runtime's
 * filesystem and credentials are those of the caller (a console socket is reached the same way).
 */
export function seccompListenerOps(id: string, seccomp: LinuxSeccomp | undefined): Op[] {
  const listener = seccompListener(id, seccomp);
  return listener === undefined ? [] : [{ op: OpCode.SECCOMP_LISTENER, path: listener }];
}

/**
 * runc's -ENOSYS stub (libcontainer/seccomp/patchbpf): a syscall whose number is higher than
 * every syscall the profile names on that architecture is newer than the profile, so it gets
 * ENOSYS, not the default action, and libc falls back (clone3 -> clone, faccessat2 -> faccessat).
 * Not for a permissive default (ALLOW, LOG, TRACE: a tracer handles new syscalls itself), nor
 * when the default already returns ENOSYS. Every rule's names count, whatever its action. The
 * native architecture is always included (runc 1.1.15 on: a profile may list none), and there
 * is no special case for clone3 beyond this rule: it is newer than any profile that omits it.
 */
function enosysStubOps(seccomp: LinuxSeccomp, defaultAction: number): Op[] {
  if (['SCMP_ACT_ALLOW', 'SCMP_ACT_LOG', 'SCMP_ACT_TRACE'].includes(seccomp.defaultAction)) return [];
  if (defaultAction === actionValue('', '', 'SCMP_ACT_ERRNO', ENOSYS)) return [];
  const syscalls = [...new Set((seccomp.syscalls ?? []).flatMap((r) => r.names))];
  const architectures = [...new Set(['SCMP_ARCH_NATIVE', ...(seccomp.architectures ?? [])])];
  return [{ op: OpCode.SECCOMP_ENOSYS, architectures, syscalls }];
}

export interface SeccompOps {
  /** Makes the filter in the init's memory (an unknown syscall fails there, during create). */
  build: Op[];
  /** Installs it, as late as the caller can; with a listener, also hands the notify fd over. */
  load: Op[];
  /** The load needs trun at SECCOMP_NOTIFY_SYNC (it answers with the container process state). */
  notify: boolean;
}

/** `withListener` false: the filter is loaded as it is, its SCMP_ACT_NOTIFY syscalls failing with ENOSYS. */
export function seccompOps(id: string, seccomp: LinuxSeccomp | undefined, withListener = true): SeccompOps {
  if (!seccomp) return { build: [], load: [], notify: false };
  const listener = withListener ? seccompListener(id, seccomp) : undefined;
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
  ops.push(...enosysStubOps(seccomp, defaultAction));
  if (listener === undefined) return { build: ops, load: [{ op: OpCode.SECCOMP_LOAD }], notify: false };
  return { build: ops, load: [{ op: OpCode.SECCOMP_LOAD_NOTIFY, sync: SECCOMP_NOTIFY_SYNC }], notify: true };
}

/** What the listener receives (config-linux.md, "The Container Process State"). */
export interface ContainerProcessState {
  ociVersion: string;
  /** Names of the fds sent with SCM_RIGHTS, in order. */
  fds: string[];
  /** The process the filter is loaded in, as the runtime sees it. */
  pid: number;
  metadata?: string;
  state: StateDocument;
}

export function containerProcessState(seccomp: LinuxSeccomp | undefined, pid: number, state: StateDocument): ContainerProcessState {
  const out: ContainerProcessState = { ociVersion: OCI_VERSION, fds: ['seccompFd'], pid, state };
  if (seccomp?.listenerMetadata !== undefined) out.metadata = seccomp.listenerMetadata;
  return out;
}

/**
 * An init failure to reach the listener or to hand it the fd, restated with the container id
 * and the listener's path (the init knows neither the id nor what the socket is for); any
 * other error is returned as it is.
 */
export function listenerError(id: string, seccomp: LinuxSeccomp | undefined, e: unknown): unknown {
  if (!(e instanceof TrunError) || e.code !== 'EINIT') return e;
  const m = /^(seccomp_listener|seccomp_load_notify): ((connect|sendmsg|shutdown)\b[\s\S]*)$/.exec(e.message)
    ?? /^(seccomp_listener): ((open|socket)\b[\s\S]*)$/.exec(e.message);
  if (!m) return e;
  const listener = seccomp?.listenerPath ?? '';
  const inner = m[2]!;
  const what = inner.includes(`"${listener}"`) ? 'seccomp listener' : `seccomp listener "${listener}"`;
  return new TrunError('EINIT', `container "${id}": ${what}: ${inner}`, { id, path: listener, syscall: m[3]!, cause: e });
}
