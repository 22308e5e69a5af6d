// Runs OCI hooks: each gets the container's state JSON on stdin, its own args and env, and is
// killed when it runs past its timeout. Hooks that must run inside the container's namespaces
// are started through trun-init, which joins them first.
import { spawn, type ChildProcess } from 'node:child_process';
import type { Hook, Linux, Process } from '../spec/types/runtime';
import { TrunError } from './errors';
import { launchInit } from './init/launch';
import { CloneMode, OpCode, type Op } from './init/protocol';
import { JOIN_ORDER, NAMESPACES, type NamespaceType } from './linux/namespaces';
import { processSteps, type HostSecurity } from './process-plan';

export type HookKind = 'prestart' | 'createRuntime' | 'createContainer' | 'startContainer' | 'poststart' | 'poststop';

/**
 * What confines a hook run inside the container: the container's process (user, capabilities,
 * no_new_privs, rlimits, labels, cwd) and its seccomp filter, as for a startContainer hook,
 * which runc 1.1 runs from the container's init after all of its setup.
 */
export interface HookConfinement {
  process: Process;
  linux: Linux | undefined;
  host: HostSecurity;
}

/** Where a hook runs: in trun's namespaces, or inside the container's (joined through /proc/<pid>/ns). */
export type HookPlace =
  | { kind: 'runtime' }
  | { kind: 'container'; pid: number; namespaces: NamespaceType[]; confinement?: HookConfinement };

function hookError(kind: HookKind, index: number, id: string, why: string): TrunError {
  return new TrunError('EHOOK', `error running ${kind} hook #${index}: ${why}`, { id });
}

function describeExit(code: number | null, signal: NodeJS.Signals | null, stderr: string): string {
  const how = signal ? `killed by signal ${signal}` : `exit status ${code}`;
  const tail = stderr.trim().split('\n').slice(-3).join('; ');
  return tail ? `${how}, stderr: ${tail}` : how;
}

function envObject(env: readonly string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of env ?? []) {
    const i = e.indexOf('=');
    if (i > 0) out[e.slice(0, i)] = e.slice(i + 1);
  }
  return out;
}

/**
 * The plan that runs a hook inside a container's namespaces; with a confinement, under the
 * container process's identity, capabilities and seccomp filter (its SCMP_ACT_NOTIFY syscalls
 * fail with ENOSYS: the listener has the container's notify fd, not the hook's).
 */
export function containerHookPlan(id: string, hook: Hook, pid: number, namespaces: readonly NamespaceType[], confinement?: HookConfinement): Op[] {
  const ops: Op[] = [];
  const types = JOIN_ORDER.filter((t) => namespaces.includes(t));
  for (const t of types) ops.push({ op: OpCode.SETNS, path: `/proc/${pid}/ns/${NAMESPACES[t].proc}`, nstype: NAMESPACES[t].flag });
  ops.push({ op: OpCode.CLONE, flags: 0, mode: CloneMode.WAIT });
  const argv = hook.args?.length ? hook.args : [hook.path];
  const env = hook.env ?? [];
  if (!confinement) {
    ops.push({ op: OpCode.RESOLVE_EXEC, file: hook.path, path: '' });
    ops.push({ op: OpCode.EXEC_PREPARE, env, preserveFds: 0, flags: 0 }, { op: OpCode.EXEC, argv });
    return ops;
  }
  const proc: Process = { ...confinement.process, args: argv, env, terminal: false };
  const steps = processSteps(id, proc, confinement.linux, confinement.host, 0, { waitsForStart: false, file: hook.path, listener: false });
  ops.push(...steps.prepare, ...steps.finish);
  return ops;
}

/**
 * How long, once a hook has exited, its stderr may stay open: a daemon the hook started holds the
 * pipe, and waiting for its EOF would wait for the daemon. What the hook wrote is in the pipe.
 */
const STDERR_GRACE_MS = 500;

/**
 * Wait: a hook with `timeout` is bounded by it (killed, then an error); one without waits for the
 * hook to exit, as runc 1.1's does, interruptible by the caller's signal. Its stderr is bounded
 * by STDERR_GRACE_MS after that exit.
 */
async function runOne(kind: HookKind, index: number, hook: Hook, stateJson: string, id: string, place: HookPlace): Promise<void> {
  const timeoutMs = hook.timeout !== undefined ? hook.timeout * 1000 : 0;
  let stderr = '';
  let timedOut = false;
  let timer: NodeJS.Timeout | undefined;
  let clonedPid = 0;
  let stderrRead: Promise<void> = Promise.resolve();
  const arm = (child: ChildProcess) => {
    child.stderr?.on('data', (d: Buffer) => { if (stderr.length < 8192) stderr += d.toString(); });
    // The init may be reaped before its stderr is drained: an error message waits for the rest.
    if (child.stderr) stderrRead = new Promise((resolve) => child.stderr!.once('close', () => resolve()));
    child.once('exit', () => setTimeout(() => child.stderr?.destroy(), STDERR_GRACE_MS).unref());
    child.stdin?.on('error', () => { /* a hook need not read its stdin */ });
    child.stdin?.end(stateJson);
    if (timeoutMs > 0) {
      timer = setTimeout(() => {
        timedOut = true;
        if (clonedPid) { try { process.kill(clonedPid, 'SIGKILL'); } catch { /* gone */ } }
        child.kill('SIGKILL');
      }, timeoutMs);
    }
  };
  try {
    if (place.kind === 'runtime') {
      const child = spawn(hook.path, hook.args?.slice(1) ?? [], {
        argv0: hook.args?.[0] ?? hook.path,
        env: envObject(hook.env),
        stdio: ['pipe', 'ignore', 'pipe'],
      });
      arm(child);
      const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
        child.on('error', reject);
        // 'close', not 'exit': only then has all of its stderr been read.
        child.on('close', (c, s) => resolve([c, s]));
      }).catch((e: Error) => { throw hookError(kind, index, id, e.message); });
      if (timedOut) throw hookError(kind, index, id, `timed out after ${hook.timeout}s`);
      if (code !== 0) throw hookError(kind, index, id, describeExit(code, signal, stderr));
      return;
    }
    const result = await launchInit({
      ops: containerHookPlan(id, hook, place.pid, place.namespaces, place.confinement),
      stdio: ['pipe', 'ignore', 'pipe'],
      id,
      onSpawn: arm,
      onPid: (p) => { clonedPid = p; },
    }).catch((e: Error) => {
      if (timedOut) throw hookError(kind, index, id, `timed out after ${hook.timeout}s`);
      throw hookError(kind, index, id, e.message);
    });
    if (timedOut) throw hookError(kind, index, id, `timed out after ${hook.timeout}s`);
    const status = result.waitStatus ?? 0;
    if (status !== 0) {
      await stderrRead;
      const sig = status & 0x7f;
      throw hookError(kind, index, id, describeExit(sig ? null : (status >> 8) & 0xff, sig ? (`${sig}` as NodeJS.Signals) : null, stderr));
    }
  } finally {
    if (timer) clearTimeout(timer);
  }
}

/** Runs the hooks of one kind in order; the first failure stops the rest and is thrown. */
export async function runHooks(kind: HookKind, hooks: readonly Hook[] | undefined, state: object, id: string, place: HookPlace = { kind: 'runtime' }): Promise<void> {
  if (!hooks?.length) return;
  const json = JSON.stringify(state);
  for (let i = 0; i < hooks.length; i++) await runOne(kind, i, hooks[i]!, json, id, place);
}

/** For hooks whose failure the spec says only to log (poststart, poststop): collects messages instead. */
export async function runHooksLogged(kind: HookKind, hooks: readonly Hook[] | undefined, state: object, id: string, warn: (msg: string) => void): Promise<void> {
  if (!hooks?.length) return;
  const json = JSON.stringify(state);
  for (let i = 0; i < hooks.length; i++) {
    try {
      await runOne(kind, i, hooks[i]!, json, id, { kind: 'runtime' });
    } catch (e) {
      warn((e as Error).message);
    }
  }
}
