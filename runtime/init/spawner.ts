// Who starts trun-init. The cold path spawns it with child_process; the warm path's server asks
// the caller's front end to fork it (runtime/server/frontend-spawner.ts), so that the container
// descends from the caller and inherits the caller's stdio. launchInit() sees the same three
// things either way: a pid, a duplex stream carrying protocol.ts frames, and an exit event.
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import type { Duplex } from 'node:stream';

export type StdioSlot = 'inherit' | 'pipe' | 'ignore' | number;

/** The part of a ChildProcess that launchInit and its callers use; a ChildProcess is one. */
export interface InitChild {
  readonly pid?: number | undefined;
  readonly exitCode: number | null;
  readonly signalCode: NodeJS.Signals | null;
  kill(signal?: NodeJS.Signals | number): boolean;
  on(event: 'exit', listener: (code: number | null, signal: NodeJS.Signals | null) => void): this;
  on(event: 'error', listener: (err: Error) => void): this;
  once(event: 'exit', listener: (code: number | null, signal: NodeJS.Signals | null) => void): this;
}

export interface InitSpawnRequest {
  /** The trun-init binary. */
  binary: string;
  /** fds 0, 1 and 2 of the init. */
  stdio: [StdioSlot, StdioSlot, StdioSlot];
  /** fds 3 .. 3+preserveFds-1 of the spawning process are passed through with the same numbers. */
  preserveFds: number;
  /** The fd (3 + preserveFds) at which the init finds its end of the sync socket. */
  syncFd: number;
}

export interface SpawnedInit {
  child: InitChild;
  /** Our end of the sync socket: protocol.ts frames both ways; 'close' once the init's end is gone. */
  sync: Duplex;
  /** Set when the init is a child of this process (its 'pipe' stdio is reachable through it). */
  process?: ChildProcess;
}

export interface InitSpawner {
  /**
   * Starts the init, or throws (rejects); a failure after the start is reported by the child's
   * 'error'. Asynchronous when the init's pid comes from elsewhere (the front end).
   */
  spawn(req: InitSpawnRequest): SpawnedInit | Promise<SpawnedInit>;
}

/** The cold path: trun-init as a child of this Node.js process, with an empty environment. */
export const childProcessSpawner: InitSpawner = {
  spawn(req) {
    const stdio: StdioOptions = [...req.stdio];
    for (let fd = 3; fd < req.syncFd; fd++) stdio.push(fd);
    stdio.push('pipe');
    const child = spawn(req.binary, [String(req.syncFd)], { stdio, env: {}, argv0: 'trun-init' });
    return { child, sync: child.stdio[req.syncFd] as Duplex, process: child };
  },
};
