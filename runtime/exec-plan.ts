// Compiles `trun exec` into an init plan: join every namespace of the container's init, fork
// into them, become the process's user and exec. Pure, like the create plan.
import type { Linux, Process } from '../spec/types/runtime';
import { TrunError } from './errors';
import { CloneMode, OpCode, RelayFlag, type Op } from './init/protocol';
import { affinityOps } from './linux/process-attrs';
import { JOIN_ORDER, NAMESPACES, isNamespaceType, type NamespaceType } from './linux/namespaces';
import { seccompListenerOps } from './linux/seccomp';
import { sessionKeyringOp } from './plan';
import { processSteps, type HostSecurity } from './process-plan';

export interface ExecPlanInput {
  id: string;
  /** Host pid of the container's init, whose namespaces are joined. */
  initPid: number;
  /** The container's namespaces (created or joined by path: either way /proc/<pid>/ns has them). */
  namespaces: readonly string[];
  process: Process;
  linux: Linux | undefined;
  consoleSocket?: string;
  detach: boolean;
  preserveFds: number;
  host: HostSecurity;
  /** The container was created with --no-new-keyring: keep the caller's session keyring. */
  noNewKeyring?: boolean;
  /** The container has a user namespace (the keyring's owner may be unmapped). */
  userns?: boolean;
}

/**
 * The sync point an exec plan with execCPUAffinity.initial stops at once that affinity is set:
 * the caller moves the process into the container's cgroup there (instead of before the plan).
 */
export const EXEC_CGROUP_SYNC = 'cgroup';

/** Whether the plan for this process stops at EXEC_CGROUP_SYNC. */
export function execNeedsCgroupSync(proc: Process): boolean {
  return (proc.execCPUAffinity?.initial ?? '').trim() !== '';
}

/** Whether a foreground process with a terminal relays through the init (no --console-socket). */
export function execRelaysTerminal(proc: Process, consoleSocket: string | undefined, detach: boolean): boolean {
  return !!proc.terminal && !consoleSocket && !detach;
}

export function containerNamespaces(types: readonly string[]): NamespaceType[] {
  return JOIN_ORDER.filter((t) => types.includes(t) && isNamespaceType(t));
}

export function compileExecPlan(input: ExecPlanInput): Op[] {
  const proc = input.process;
  if (proc.terminal && !input.consoleSocket && input.detach) {
    throw new TrunError('EINVAL', 'a terminal for a detached exec needs --console-socket', { id: input.id });
  }
  if (!proc.terminal && input.consoleSocket) {
    throw new TrunError('EINVAL', 'cannot use console socket if trun will not allocate tty', { id: input.id });
  }
  // execCPUAffinity (not for a container's init, so exec only): `initial` while this process
  // works on the host, before it enters the container's cgroup (at the "cgroup" sync point, where
  // the caller places it when there is an initial affinity), `final` once inside, which is
  // after the clone.
  const affinity = proc.execCPUAffinity;
  const initial = affinityOps(input.id, 'process.execCPUAffinity.initial', affinity?.initial);
  const final = affinityOps(input.id, 'process.execCPUAffinity.final', affinity?.final);
  const ops: Op[] = [...initial];
  if (initial.length) ops.push({ op: OpCode.SYNC, name: EXEC_CGROUP_SYNC });
  if (proc.terminal && input.consoleSocket) ops.push({ op: OpCode.OPEN_CONSOLE_SOCKET, path: input.consoleSocket });
  if (proc.terminal && !input.consoleSocket) ops.push({ op: OpCode.CONSOLE_RELAY, flags: RelayFlag.RAW });
  ops.push(...seccompListenerOps(input.id, input.linux?.seccomp));
  if (proc.oomScoreAdj !== undefined) {
    ops.push({ op: OpCode.WRITE_FILE, path: '/proc/self/oom_score_adj', data: String(proc.oomScoreAdj), create: false });
  }
  for (const t of containerNamespaces(input.namespaces)) {
    ops.push({ op: OpCode.SETNS, path: `/proc/${input.initPid}/ns/${NAMESPACES[t].proc}`, nstype: NAMESPACES[t].flag });
  }
  // No mount namespace to join: the container's root is a chroot (runc's exec stays in the
  // host's root here; the process belongs in the container's).
  if (!input.namespaces.includes('mount')) ops.push({ op: OpCode.CHROOT, path: `/proc/${input.initPid}/root` });
  // Joining a pid (or time) namespace applies to children only: the process is forked after.
  ops.push({ op: OpCode.CLONE, flags: 0, mode: input.detach ? CloneMode.DETACH : CloneMode.WAIT });
  // In a joined user namespace we are still the host's root (kuid 0), the owner of every file
  // the host's root owns: become the namespace's root first, as runc's nsexec does, so that
  // the keyring and the cwd's first try are the container root's.
  if (input.userns) ops.push({ op: OpCode.SET_ID, uid: 0, gid: 0 });
  // As runc's exec: a session keyring of the container's own, like its init's.
  if (!input.noNewKeyring) ops.push(sessionKeyringOp(input.id, input.userns ?? false));
  if (proc.terminal) ops.push({ op: OpCode.CONSOLE, rows: proc.consoleSize?.height ?? 0, cols: proc.consoleSize?.width ?? 0 });
  ops.push(...final);
  const steps = processSteps(input.id, proc, input.linux, input.host, input.preserveFds, { waitsForStart: false });
  ops.push(...steps.prepare, ...steps.finish);
  return ops;
}
