// `trun exec`: run a new process inside a created or running container. It joins all the
// container's namespaces and its cgroup, with its own user, capabilities, rlimits and seccomp.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Process } from '../../spec/types/runtime';
import { cgroupOf, ociState, statusOf } from '../container';
import type { Context } from '../context';
import { storeOf } from '../context';
import { TrunError } from '../errors';
import { EXEC_CGROUP_SYNC, compileExecPlan, execNeedsCgroupSync, execRelaysTerminal } from '../exec-plan';
import { childExitCode, launchInit } from '../init/launch';
import { CAPABILITIES } from '../linux/capabilities';
import { execCgroupPaths, loadCgroupManager, refuseFrozen } from '../linux/cgroups';
import { probeMemoryNodes } from '../linux/memory-policy';
import { SECCOMP_NOTIFY_SYNC, containerProcessState, listenerError } from '../linux/seccomp';
import { probeHostSecurity } from '../linux/security';
import { cwdError } from '../process-plan';
import { writePidFile } from './create';

export interface ExecOptions {
  id: string;
  /** A process.json (runtime-spec `process` object); when set, args/env/cwd/user flags are overrides on top. */
  processFile?: string;
  args: string[];
  tty: boolean;
  consoleSocket?: string;
  detach: boolean;
  pidFile?: string;
  cwd?: string;
  env: string[];
  /** "uid" or "uid:gid". */
  user?: string;
  additionalGids: number[];
  caps: string[];
  noNewPrivs: boolean;
  preserveFds: number;
  apparmor?: string;
  processLabel?: string;
  ignorePaused: boolean;
  /** --cgroup: existing sub-cgroups of the container's to put the process in ("[controller[,controller]:]path"). */
  cgroups?: string[];
  /** Subscribes a forwarder to the signals trun receives (foreground only); returns the unsubscribe function. */
  forwardSignals?: (forward: (signal: NodeJS.Signals) => void) => () => void;
}

function readProcessFile(file: string, id: string): Process {
  let value: unknown;
  try {
    value = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new TrunError('EINVAL', `process file "${file}": ${(e as Error).message}`, { id, path: file });
  }
  const p = value as Process;
  if (typeof p !== 'object' || p === null || !Array.isArray(p.args) || typeof p.cwd !== 'string') {
    throw new TrunError('EINVAL', `process file "${file}": needs "args" (array) and "cwd" (string)`, { id, path: file });
  }
  return p;
}

function parseUser(text: string, id: string): { uid: number; gid?: number } {
  const m = /^(\d+)(?::(\d+))?$/.exec(text);
  if (!m) throw new TrunError('EINVAL', `invalid --user "${text}": want uid[:gid]`, { id });
  return m[2] === undefined ? { uid: Number(m[1]) } : { uid: Number(m[1]), gid: Number(m[2]) };
}

/** Sets or replaces KEY=VALUE entries. */
function mergeEnv(base: readonly string[], extra: readonly string[]): string[] {
  const out = [...base];
  for (const e of extra) {
    const key = e.split('=')[0];
    const i = out.findIndex((x) => x.split('=')[0] === key);
    if (i >= 0) out[i] = e;
    else out.push(e);
  }
  return out;
}

/** The process to exec: process.json or the container's own process, with the flags on top (runc's rules). */
export function execProcessSpec(base: Process, opts: ExecOptions): Process {
  const p: Process = opts.processFile ? { ...base } : { ...base, args: opts.args, terminal: opts.tty };
  if (opts.processFile && opts.args.length) p.args = opts.args;
  if (opts.tty) p.terminal = true;
  if (opts.cwd) p.cwd = opts.cwd;
  p.env = mergeEnv(p.env ?? [], opts.env);
  if (opts.user) {
    const u = parseUser(opts.user, opts.id);
    p.user = { ...(p.user ?? {}), uid: u.uid, gid: u.gid ?? p.user?.gid ?? 0 };
  }
  if (opts.additionalGids.length) p.user = { ...(p.user ?? {}), additionalGids: opts.additionalGids };
  if (opts.noNewPrivs) p.noNewPrivileges = true;
  if (opts.apparmor) p.apparmorProfile = opts.apparmor;
  if (opts.processLabel) p.selinuxLabel = opts.processLabel;
  if (opts.caps.length) {
    for (const c of opts.caps) {
      if (CAPABILITIES[c] === undefined) throw new TrunError('EINVAL', `unknown capability "${c}"`, { id: opts.id });
    }
    const caps = { ...(p.capabilities ?? {}) };
    for (const set of ['bounding', 'effective', 'permitted', 'ambient', 'inheritable'] as const) {
      caps[set] = [...new Set([...(caps[set] ?? []), ...opts.caps])];
    }
    p.capabilities = caps;
  }
  return p;
}

export async function execProcess(ctx: Context, opts: ExecOptions): Promise<number> {
  const store = storeOf(ctx);
  const id = opts.id;
  const st = store.load(id);
  const status = statusOf(st, store);
  if (status === 'stopped') throw new TrunError('ENOTRUNNING', 'cannot exec in a stopped container', { id });
  if (status === 'paused' && !opts.ignorePaused) throw new TrunError('EPAUSED', 'cannot exec in a paused container (use --ignore-paused to override)', { id });

  const base = opts.processFile ? readProcessFile(path.resolve(ctx.cwd, opts.processFile), id) : st.config.process;
  if (!base) throw new TrunError('EINVAL', 'the container has no process to start from: use --process', { id });
  const proc = execProcessSpec(base, opts);
  const cgroup = opts.cgroups?.length ? loadCgroupManager(execCgroupPaths(st.cgroupPaths, opts.cgroups, id), id) : cgroupOf(st);
  // Frozen by someone other than `trun pause` (the other hierarchy's freezer, an ancestor, a
  // --cgroup sub-cgroup): the new process would stop before reporting its pid. A container trun
  // paused is "paused" above, and --ignore-paused asks to join it frozen, as runc's does.
  if (status !== 'paused') refuseFrozen(cgroup, id);
  const consoleSocket = opts.consoleSocket ? path.resolve(ctx.cwd, opts.consoleSocket) : undefined;
  const ops = compileExecPlan({
    id,
    initPid: st.pid,
    namespaces: (st.config.linux?.namespaces ?? []).map((n) => n.type),
    process: proc,
    linux: st.config.linux,
    ...(consoleSocket ? { consoleSocket } : {}),
    detach: opts.detach,
    preserveFds: opts.preserveFds,
    // sysfs is read only for a config that asks for a policy: every command is a process start.
    host: { ...probeHostSecurity(), ...(st.config.linux?.memoryPolicy ? { memoryNodes: probeMemoryNodes() } : {}) },
    noNewKeyring: st.noNewKeyring ?? false,
    userns: (st.config.linux?.namespaces ?? []).some((n) => n.type === 'user'),
  });

  let pid = 0;
  let pending: NodeJS.Signals[] = [];
  // With a relayed terminal the init resizes the pty on SIGWINCH, and the pty signals the process.
  const relay = execRelaysTerminal(proc, consoleSocket, opts.detach);
  const deliver = (sig: NodeJS.Signals) => {
    if (relay && sig === 'SIGWINCH') return;
    try { process.kill(pid, sig); } catch { /* exited */ }
  };
  // Wait (the launch): until the process exists, a signal is queued for it; but SIGTERM and
  // SIGINT are the caller giving up, and a launch that hangs (an init stuck in a syscall) would
  // then end only with SIGKILL, leaving the init. So they abort the launch instead: the init is
  // killed, nothing was started, and exec fails naming the signal.
  const aborter = new AbortController();
  const unsubscribe = opts.detach ? undefined : opts.forwardSignals?.((sig) => {
    if (pid) deliver(sig);
    else if (sig === 'SIGTERM' || sig === 'SIGINT') aborter.abort(new TrunError('EINIT', `exec interrupted by ${sig} before its process started`, { id }));
    else pending.push(sig);
  });
  try {
    // In the container's cgroup before it forks into the namespaces: every descendant is too.
    // With execCPUAffinity.initial, only once the init has set that affinity (a sync point).
    const lateCgroup = execNeedsCgroupSync(proc);
    let initPid = 0;
    const result = await launchInit({
      ops,
      stdio: ['inherit', 'inherit', 'inherit'],
      spawner: ctx.spawner,
      preserveFds: opts.preserveFds,
      id,
      debug: ctx.debug,
      abort: aborter.signal,
      beforePlan: (p) => {
        initPid = p;
        if (!lateCgroup) cgroup.addProcess(p);
      },
      onSync: (name) => {
        // As runc's exec: the container's state as it is, and the new process's pid.
        if (name === SECCOMP_NOTIFY_SYNC) return JSON.stringify(containerProcessState(st.config.linux?.seccomp, pid, ociState(st, status)));
        if (name !== EXEC_CGROUP_SYNC) throw new TrunError('EINIT', `trun-init stopped at an unknown sync point "${name}"`, { id });
        cgroup.addProcess(initPid);
        return undefined;
      },
      onPid: (p) => {
        pid = p;
        if (opts.pidFile) writePidFile(path.resolve(ctx.cwd, opts.pidFile), p);
        for (const sig of pending) deliver(sig);
        pending = [];
      },
    });
    if (opts.detach) return 0;
    // Wait: unbounded, as runc's: the process runs as long as it does; signals are forwarded.
    return await childExitCode(result.child);
  } catch (e) {
    throw cwdError(id, listenerError(id, st.config.linux?.seccomp, e));
  } finally {
    unsubscribe?.();
  }
}
