// Starts trun-init with a plan and drives the sync protocol (see protocol.ts for the messages):
// records the pid it reports, answers each sync point through a callback, and turns ERROR
// frames into TrunErrors.
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { TrunError } from '../errors';
import { FrameReader, MsgType, OpCode, encodePlan, frame, type Op } from './protocol';
import { childProcessSpawner, type InitChild, type InitSpawner, type SpawnedInit, type StdioSlot } from './spawner';

export type { InitChild, InitSpawner, StdioSlot } from './spawner';

export function initBinary(): string {
  if (process.env.TRUN_INIT) return process.env.TRUN_INIT;
  // Bundled CLI: dist/trun.js sits next to dist/trun-init. From sources (tests): runtime/init/.
  for (const candidate of [path.join(__dirname, 'trun-init'), path.resolve(__dirname, '../../dist/trun-init')]) {
    if (fs.existsSync(candidate)) return candidate;
  }
  throw new TrunError('ESYS', `trun-init not found next to "${__dirname}": run make build`);
}

export interface LaunchOptions {
  ops: readonly Op[];
  /** What fds 0, 1 and 2 of the init are. */
  stdio: [StdioSlot, StdioSlot, StdioSlot];
  /** fds 3 .. 3+preserveFds-1 of this process are passed through with the same numbers. */
  preserveFds?: number;
  /** Container id, for error messages. */
  id?: string;
  /** Called with the first init process's pid before the plan is sent (cgroup placement). */
  beforePlan?: (pid: number) => void;
  /**
   * Called for each SYNC; resolve to answer GO, throw to answer ABORT (the error is rethrown).
   * What it returns goes with GO (the container process state at SECCOMP_LOAD_NOTIFY's sync).
   */
  onSync?: (name: string, pid: number) => Promise<string | void> | string | void;
  /** Called when the init reports the pid of the process it cloned. */
  onPid?: (pid: number) => void;
  /** After answering this sync point, stop listening: the init carries on alone (create). */
  finalSync?: string;
  /** With finalSync: return at once instead of reaping the first init process (it waits for the container). */
  keepChild?: boolean;
  /** Called once the init is running, with its process (to write to its stdin, say); needs a spawner that makes children of this process. */
  onSpawn?: (child: ChildProcess) => void;
  /** Who starts the init: child_process here (the default), or the caller's front end (warm path). */
  spawner?: InitSpawner;
  /** Under --debug: told each message exchanged with the init (the plan, pids, sync points). */
  debug?: ((message: string) => void) | undefined;
  /**
   * Aborting ends the launch: the init is killed (SIGKILL) and the launch fails with the abort's
   * reason (a TrunError). For the caller's SIGTERM/SIGINT during a launch that does not end.
   */
  abort?: AbortSignal;
}

export interface LaunchResult {
  /** Host pid of the cloned process (0 if the plan has no CLONE). */
  pid: number;
  /** The first init process; after a finalSync in WAIT mode its exit mirrors the container's. */
  child: InitChild;
  /** Wait status of the cloned process, when the plan's CLONE waits for it. */
  waitStatus?: number;
}

/** The exit code a shell would report for a wait status: the code, or 128 + signal. */
export function exitCodeOf(waitStatus: number): number {
  const sig = waitStatus & 0x7f;
  return sig === 0 ? (waitStatus >> 8) & 0xff : 128 + sig;
}

/** Waits for a process's exit: its exit code, or 128 + n when signal n killed it. */
export function childExitCode(child: InitChild): Promise<number> {
  return new Promise((resolve) => {
    const done = (code: number | null, signal: NodeJS.Signals | null) => {
      resolve(signal ? 128 + (os.constants.signals[signal] ?? 0) : code ?? 0);
    };
    if (child.exitCode !== null || child.signalCode !== null) done(child.exitCode, child.signalCode);
    else child.once('exit', done);
  });
}

export function launchInit(opts: LaunchOptions): Promise<LaunchResult> {
  const preserve = opts.preserveFds ?? 0;
  const syncFd = 3 + preserve;
  const spawner = opts.spawner ?? childProcessSpawner;

  return new Promise<LaunchResult>((resolve, reject) => {
    const fail = (e: unknown) => {
      reject(new TrunError('ESYS', `spawn trun-init: ${(e as Error).message}`, { cause: e, ...(opts.id ? { id: opts.id } : {}) }));
    };
    let spawned: SpawnedInit | Promise<SpawnedInit>;
    try {
      if (opts.onSpawn && spawner !== childProcessSpawner) throw new Error('onSpawn needs trun-init as a child of this process');
      spawned = spawner.spawn({ binary: initBinary(), stdio: opts.stdio, preserveFds: preserve, syncFd });
    } catch (e) {
      fail(e);
      return;
    }
    if (spawned instanceof Promise) spawned.then((s) => drive(opts, s, resolve, reject), fail);
    else drive(opts, spawned, resolve, reject);
  });
}

/** "SETNS*6 CLONE MOUNT*21 ...": a plan's shape in one line, for --debug. */
function opNames(ops: readonly Op[]): string {
  const runs: Array<[string, number]> = [];
  for (const o of ops) {
    const name = OpCode[o.op] ?? String(o.op);
    const last = runs[runs.length - 1];
    if (last && last[0] === name) last[1] += 1;
    else runs.push([name, 1]);
  }
  return runs.map(([name, n]) => (n > 1 ? `${name}*${n}` : name)).join(' ');
}

/**
 * Sends the plan and answers the init's messages until it is done (or, with finalSync, released).
 * Wait: bounded by the init's life (its exit and the sync socket's EOF settle the promise), not by
 * time: a stage that legitimately takes long (a slow mount, a big rootfs copy) must not be cut off.
 * A live init that stops talking is refused up front where trun can know it (a frozen cgroup:
 * refuseFrozen); otherwise the caller's signal ends trun, and the init, at EOF on its sync socket,
 * exits.
 */
function drive(opts: LaunchOptions, spawned: SpawnedInit, resolve: (r: LaunchResult) => void, reject: (e: Error) => void): void {
  const { child, sync: sock, process: proc } = spawned;
  const reader = new FrameReader();
  let pid = 0;
  let waitStatus: number | undefined;
  let failure: TrunError | undefined;
  let finished = false;
  let exited = false;
  let exitInfo = '';
  let eof = false;
  const details = opts.id ? { id: opts.id } : {};

  const onAbort = () => {
    if (finished) return;
    const reason: unknown = opts.abort?.reason;
    failure ??= reason instanceof TrunError ? reason : new TrunError('EINIT', 'launch aborted', details);
    child.kill('SIGKILL');
  };
  opts.abort?.addEventListener('abort', onAbort, { once: true });
  if (opts.abort?.aborted) onAbort();

  const settle = () => {
    if (finished || !exited || !eof) return;
    finished = true;
    opts.abort?.removeEventListener('abort', onAbort);
    if (failure) reject(failure);
    else if (opts.finalSync) reject(new TrunError('EINIT', `trun-init exited before "${opts.finalSync}" (${exitInfo})`, details));
    else resolve(waitStatus === undefined ? { pid, child } : { pid, child, waitStatus });
  };

  const answer = async (name: string) => {
    try {
      const payload = opts.onSync ? await opts.onSync(name, pid) : undefined;
      sock.write(frame(MsgType.GO, payload ?? ''));
      opts.debug?.(`trun-init ${child.pid ?? '?'}: answered GO to "${name}" (${(payload ?? '').length} bytes)`);
      if (opts.finalSync === name) {
        finished = true;
        sock.destroy();
        // The first stage exited (or will) right after reporting the pid; reap it before returning.
        if (opts.keepChild || exited || child.exitCode !== null) resolve({ pid, child });
        else child.once('exit', () => resolve({ pid, child }));
      }
    } catch (e) {
      failure ??= e instanceof TrunError ? e : new TrunError('EINIT', String((e as Error).message ?? e), details);
      sock.write(frame(MsgType.ABORT, failure.message));
    }
  };

  const debug = opts.debug;
  sock.on('data', (chunk: Buffer) => {
    for (const msg of reader.push(chunk)) {
      const text = msg.payload.toString('utf8');
      debug?.(`trun-init ${child.pid ?? '?'}: ${MsgType[msg.type] ?? msg.type} ${JSON.stringify(text)}`);
      switch (msg.type) {
        case MsgType.PID:
          pid = Number(text);
          opts.onPid?.(pid);
          break;
        case MsgType.SYNC:
          void answer(text);
          break;
        case MsgType.ERROR:
          failure ??= new TrunError('EINIT', text, details);
          break;
        case MsgType.EXIT:
          waitStatus = Number(text);
          break;
        default:
          failure ??= new TrunError('EINIT', `trun-init sent an unknown message type ${msg.type}`, details);
      }
    }
  });
  sock.on('error', () => { /* EPIPE after the init died: reported through exit */ });
  sock.on('close', () => { eof = true; settle(); });
  child.on('error', (e) => {
    failure ??= new TrunError('ESYS', `spawn trun-init: ${e.message}`, { ...details, cause: e });
    exited = true;
    eof = true;
    settle();
  });
  child.on('exit', (code, signal) => {
    exited = true;
    exitInfo = signal ? `signal ${signal}` : `exit status ${code}`;
    debug?.(`trun-init ${child.pid ?? '?'}: exited (${exitInfo})`);
    settle();
  });

  if (child.pid === undefined) return; // 'error' follows
  if (proc) opts.onSpawn?.(proc);
  try {
    opts.beforePlan?.(child.pid);
  } catch (e) {
    child.kill('SIGKILL');
    failure = e instanceof TrunError ? e : new TrunError('ESYS', String(e), details);
    return;
  }
  debug?.(`trun-init ${child.pid}: sending a plan of ${opts.ops.length} ops: ${opNames(opts.ops)}`);
  sock.write(frame(MsgType.PLAN, encodePlan(opts.ops)));
}
