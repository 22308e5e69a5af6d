// Compiles `trun exec` into an init plan: join every namespace of the container's init, fork
// into them, become the process's user and exec. Pure, like the create plan.
import type { Linux, Process } from '../spec/types/runtime';
import { TrunError } from './errors';
import { CloneMode, OpCode, type Op } from './init/protocol';
import { JOIN_ORDER, NAMESPACES, isNamespaceType, type NamespaceType } from './linux/namespaces';
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
}

export function containerNamespaces(types: readonly string[]): NamespaceType[] {
  return JOIN_ORDER.filter((t) => types.includes(t) && isNamespaceType(t));
}

export function compileExecPlan(input: ExecPlanInput): Op[] {
  const proc = input.process;
  if (proc.terminal && !input.consoleSocket) {
    throw new TrunError('EINVAL', 'a terminal for exec needs --console-socket', { id: input.id });
  }
  if (!proc.terminal && input.consoleSocket) {
    throw new TrunError('EINVAL', 'cannot use console socket if trun will not allocate tty', { id: input.id });
  }
  const ops: Op[] = [];
  if (proc.terminal && input.consoleSocket) ops.push({ op: OpCode.OPEN_CONSOLE_SOCKET, path: input.consoleSocket });
  if (proc.oomScoreAdj !== undefined) {
    ops.push({ op: OpCode.WRITE_FILE, path: '/proc/self/oom_score_adj', data: String(proc.oomScoreAdj), create: false });
  }
  for (const t of containerNamespaces(input.namespaces)) {
    ops.push({ op: OpCode.SETNS, path: `/proc/${input.initPid}/ns/${NAMESPACES[t].proc}`, nstype: NAMESPACES[t].flag });
  }
  // Joining a pid (or time) namespace applies to children only: the process is forked after.
  ops.push({ op: OpCode.CLONE, flags: 0, mode: input.detach ? CloneMode.DETACH : CloneMode.WAIT });
  if (proc.terminal) ops.push({ op: OpCode.CONSOLE, rows: proc.consoleSize?.height ?? 0, cols: proc.consoleSize?.width ?? 0 });
  const steps = processSteps(input.id, proc, input.linux, input.host, input.preserveFds);
  ops.push(...steps.prepare, ...steps.finish);
  return ops;
}
