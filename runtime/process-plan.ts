// The steps that turn a prepared process into the user's process: limits, security labels,
// identity, capabilities, working directory and the exec itself. Shared by create and exec.
import type { Linux, Process } from '../spec/types/runtime';
import { TrunError } from './errors';
import { CapsetFlag, ChdirFlag, ExecFlag, OpCode, RLIM_INFINITY, type Op } from './init/protocol';
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

const CAP_SYS_ADMIN = capabilityMask(['CAP_SYS_ADMIN']);

/**
 * The steps from a prepared process to the user's: limits, labels, identity, capabilities, cwd,
 * the executable, and the seccomp filter as the very last thing before execve.
 *
 * With no_new_privs the filter is loaded after everything else (cwd, executable lookup, fd
 * closing, signal resets), so that only execve follows it: a profile need not allow the init's
 * own calls. Without no_new_privs loading a filter needs CAP_SYS_ADMIN, which the process may
 * not keep: runc 1.1 then loads it before it sets up the user, cwd and capabilities. We do
 * better: every step runs first with CAP_SYS_ADMIN kept in the effective and permitted sets
 * beside the final ones, and only one capset(2) (dropping it) follows the filter. Without a
 * capabilities object there are no final sets to keep it beside, so the load comes before the
 * user is set up, as in runc.
 *
 * With a seccomp listener the load waits for trun at a sync point, so for create it ends
 * `prepare`; for exec (`waitsForStart` false) it comes just before the exec.
 *
 * The cwd follows runc's order: a first try before the user is set up (the runtime's
 * credentials may reach a cwd the user cannot), and on EACCES/EPERM a second one after.
 */
export interface StepOptions {
  /** False when nothing stands between prepare and finish (exec, hooks): no exec fifo. */
  waitsForStart?: boolean;
  /** The file to execute, when not args[0] looked up in PATH (a hook's path). */
  file?: string;
  /**
   * False: load the filter without handing a notify fd to the listener (a startContainer hook,
   * whose SCMP_ACT_NOTIFY syscalls then fail with ENOSYS, as with no listener at all).
   */
  listener?: boolean;
}

export function processSteps(id: string, proc: Process, linux: Linux | undefined, host: HostSecurity, preserveFds: number, opts: StepOptions = {}): ProcessSteps {
  const { waitsForStart = true, listener = true } = opts;
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
  const seccomp = seccompOps(id, linux?.seccomp, listener);
  const hasFilter = seccomp.load.length > 0;
  prepare.push(...seccomp.build);
  if (proc.noNewPrivileges) prepare.push({ op: OpCode.NO_NEW_PRIVS });
  const caps = proc.capabilities;
  const loadBeforeUser = hasFilter && !proc.noNewPrivileges && !caps;
  if (loadBeforeUser) prepare.push(...seccomp.load);
  prepare.push({ op: OpCode.CHDIR, path: proc.cwd, flags: ChdirFlag.TRY });
  if (caps) prepare.push({ op: OpCode.CAPBSET, keep: capabilityMask(caps.bounding ?? []) });
  const user = proc.user ?? {};
  prepare.push({ op: OpCode.USER, uid: user.uid ?? 0, gid: user.gid ?? 0, groups: user.additionalGids ?? [] });
  prepare.push({ op: OpCode.UMASK, mask: user.umask ?? 0o022 });
  let dropAfterLoad: Op | undefined;
  if (caps) {
    const effective = capabilityMask(caps.effective ?? []);
    const permitted = capabilityMask(caps.permitted ?? []);
    const inheritable = capabilityMask(caps.inheritable ?? []);
    // The kernel refuses (EPERM) to raise an ambient capability that is not both permitted
    // and inheritable; runc and crun skip those and run the container, and so do we. The
    // configs `runc spec` and `crun spec` write list ambient capabilities with no inheritable set.
    const ambient = capabilityMask(caps.ambient ?? []) & permitted & inheritable;
    const final = { op: OpCode.CAPSET, effective, permitted, inheritable, ambient, flags: 0 } as const;
    const keepAdmin = hasFilter && !proc.noNewPrivileges && (effective & CAP_SYS_ADMIN) === 0n;
    if (keepAdmin) {
      prepare.push({ ...final, effective: effective | CAP_SYS_ADMIN, permitted: permitted | CAP_SYS_ADMIN });
      dropAfterLoad = { ...final, flags: CapsetFlag.KEEP_AMBIENT };
    } else {
      prepare.push(final);
    }
  }
  prepare.push({ op: OpCode.CHDIR, path: proc.cwd, flags: ChdirFlag.RETRY });
  const env = proc.env ?? [];
  prepare.push({ op: OpCode.RESOLVE_EXEC, file: opts.file ?? proc.args[0]!, path: opts.file ? '' : envPath(env) });

  const finish: Op[] = [{ op: OpCode.EXEC_PREPARE, env, preserveFds, flags: ExecFlag.LISTEN_PID }];
  if (!loadBeforeUser) (seccomp.notify && waitsForStart ? prepare : finish).push(...seccomp.load);
  if (dropAfterLoad) finish.push(dropAfterLoad);
  finish.push({ op: OpCode.EXEC, argv: proc.args });
  return { prepare, finish };
}

/**
 * A failed CHDIR step, as runc 1.1 words it, naming the container: `chdir to cwd ("/x") set in
 * config.json failed: permission denied`. Any other error is returned as it is.
 */
export function cwdError(id: string, e: unknown): unknown {
  if (!(e instanceof TrunError) || e.code !== 'EINIT') return e;
  const m = /^chdir: chdir "(.*)": ([^\n]*)$/.exec(e.message);
  if (!m) return e;
  return new TrunError('EINIT', `container "${id}": chdir to cwd ("${m[1]}") set in config.json failed: ${m[2]}`, { id, path: m[1]!, syscall: 'chdir', cause: e });
}
