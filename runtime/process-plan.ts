// The steps that turn a prepared process into the user's process: limits, security labels,
// identity, capabilities, working directory and the exec itself. Shared by create and exec.
import type { Linux, Process } from '../spec/types/runtime';
import { TrunError } from './errors';
import { ExecFlag, OpCode, RLIM_INFINITY, type Op } from './init/protocol';
import { capabilityMask } from './linux/capabilities';
import { memoryPolicyOp } from './linux/memory-policy';
import { ioPriorityOp, personalityOp, schedulerOp } from './linux/process-attrs';
import { RLIMITS } from './linux/rlimits';
import { seccompOps } from './linux/seccomp';
import { DEFAULT_PATH } from './defaults';

/** What the host offers that a process may ask for (probed by the caller, so planning stays pure). */
export interface HostSecurity {
  apparmor: boolean;
  selinux: boolean;
  /** Whether AppArmor has this profile loaded; undefined when the host cannot tell (no securityfs). */
  apparmorLoaded?: (profile: string) => boolean | undefined;
  /** Where a process asks for its next exec's profile: /proc/self/attr/apparmor/exec since Linux 5.8. */
  apparmorExecAttr?: string;
  /** Whether the loaded SELinux policy accepts this context; undefined when it cannot tell. */
  selinuxValid?: (context: string) => boolean | undefined;
  /** The NUMA memory nodes the host can have, for linux.memoryPolicy; undefined when it cannot tell. */
  memoryNodes?: readonly number[];
}

/** Refuses an SELinux context the host cannot apply: no SELinux, or not valid in its policy. */
export function checkSelinuxContext(id: string, field: string, context: string, host: HostSecurity): void {
  if (!host.selinux) fail(id, `${field}: selinux is not enabled on this host (label "${context}")`);
  if (host.selinuxValid?.(context) === false) fail(id, `${field}: "${context}" is not a valid context in the loaded SELinux policy`);
}

function fail(id: string, message: string): never {
  throw new TrunError('EINVAL', message, { id });
}

function rlimitValue(v: number): bigint {
  // JSON cannot carry 2^64-1 exactly; anything at or past 2^63 means "unlimited".
  return v >= 2 ** 63 || v < 0 ? RLIM_INFINITY : BigInt(v);
}

export function envPath(env: readonly string[]): string {
  const entry = env.find((e) => e.startsWith('PATH='));
  return entry ? entry.slice(5) : DEFAULT_PATH;
}

/**
 * Scheduler, I/O priority, personality and memory policy. They go first: a real-time policy or
 * class needs CAP_SYS_NICE/CAP_SYS_ADMIN, which the process may lose later, and a seccomp profile
 * loaded later may forbid the calls themselves. All are inherited by the user's process; the
 * container's personality and memory policy apply to its exec'd processes too, as in runc.
 */
export function processAttributeOps(id: string, proc: Process, linux: Linux | undefined, host: HostSecurity): Op[] {
  const ops: Op[] = [];
  if (proc.scheduler) ops.push(schedulerOp(id, proc.scheduler));
  if (proc.ioPriority) ops.push(ioPriorityOp(id, proc.ioPriority));
  if (linux?.personality) ops.push(personalityOp(id, linux.personality));
  if (linux?.memoryPolicy) ops.push(memoryPolicyOp(id, linux.memoryPolicy, host.memoryNodes));
  return ops;
}

export interface ProcessSteps {
  /** Before the final sync point: everything that may fail, so that create fails early. */
  prepare: Op[];
  /** After the sync point (and the exec fifo): the last steps and the exec. */
  finish: Op[];
}

export function processSteps(id: string, proc: Process, linux: Linux | undefined, host: HostSecurity, preserveFds: number): ProcessSteps {
  if (!proc.args || proc.args.length === 0) fail(id, 'process.args: must not be empty');
  const prepare: Op[] = [];
  for (const r of proc.rlimits ?? []) {
    const resource = RLIMITS[r.type];
    if (resource === undefined) fail(id, `process.rlimits: unknown rlimit type "${r.type}"`);
    prepare.push({ op: OpCode.RLIMIT, resource, soft: rlimitValue(r.soft), hard: rlimitValue(r.hard) });
  }
  prepare.push(...processAttributeOps(id, proc, linux, host));
  // Labels take effect at execve: written now, applied to the user's process only.
  if (proc.apparmorProfile) {
    if (!host.apparmor) fail(id, `process.apparmorProfile: apparmor is not enabled on this host (profile "${proc.apparmorProfile}")`);
    // Checked here because the kernel's answer to an unknown profile, ENOENT from a write to
    // /proc/self/attr, reads as if that file were missing.
    if (proc.apparmorProfile !== 'unconfined' && host.apparmorLoaded?.(proc.apparmorProfile) === false) {
      fail(id, `process.apparmorProfile: apparmor profile "${proc.apparmorProfile}" is not loaded`);
    }
    const attr = host.apparmorExecAttr ?? '/proc/self/attr/apparmor/exec';
    prepare.push({ op: OpCode.WRITE_FILE, path: attr, data: `exec ${proc.apparmorProfile}`, create: false });
  }
  if (proc.selinuxLabel) {
    checkSelinuxContext(id, 'process.selinuxLabel', proc.selinuxLabel, host);
    prepare.push({ op: OpCode.WRITE_FILE, path: '/proc/self/attr/exec', data: proc.selinuxLabel, create: false });
  }
  const seccomp = seccompOps(id, linux?.seccomp);
  prepare.push(...seccomp.build);
  // Without no_new_privs, loading a filter needs CAP_SYS_ADMIN: load it before dropping
  // capabilities. With it, as late as possible: just before the exec, or, when the notify fd
  // goes to a listener, at the end of prepare, while trun is still there to give the container
  // process state (runc too loads before its last sync then).
  const seccompEarly = !proc.noNewPrivileges;
  if (proc.noNewPrivileges) prepare.push({ op: OpCode.NO_NEW_PRIVS });
  if (seccompEarly) prepare.push(...seccomp.load);
  const caps = proc.capabilities;
  if (caps) prepare.push({ op: OpCode.CAPBSET, keep: capabilityMask(caps.bounding ?? []) });
  const user = proc.user ?? {};
  prepare.push({ op: OpCode.USER, uid: user.uid ?? 0, gid: user.gid ?? 0, groups: user.additionalGids ?? [] });
  prepare.push({ op: OpCode.UMASK, mask: user.umask ?? 0o022 });
  if (caps) {
    const permitted = capabilityMask(caps.permitted ?? []);
    const inheritable = capabilityMask(caps.inheritable ?? []);
    prepare.push({
      op: OpCode.CAPSET,
      effective: capabilityMask(caps.effective ?? []),
      permitted,
      inheritable,
      // The kernel refuses (EPERM) to raise an ambient capability that is not both permitted
      // and inheritable; runc and crun skip those and run the container, and so do we. The
      // configs `runc spec` and `crun spec` write list ambient capabilities with no inheritable set.
      ambient: capabilityMask(caps.ambient ?? []) & permitted & inheritable,
    });
  }
  prepare.push({ op: OpCode.CHDIR, path: proc.cwd });
  const env = proc.env ?? [];
  prepare.push({ op: OpCode.RESOLVE_EXEC, file: proc.args[0]!, path: envPath(env) });
  const seccompLate = !seccompEarly && !seccomp.notify;
  if (!seccompEarly && seccomp.notify) prepare.push(...seccomp.load);

  const finish: Op[] = seccompLate ? [...seccomp.load] : [];
  finish.push({ op: OpCode.EXEC, argv: proc.args, env, preserveFds, flags: ExecFlag.LISTEN_PID });
  return { prepare, finish };
}
