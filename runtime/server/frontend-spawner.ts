// The warm path's InitSpawner: asks the caller's front end to fork trun-init (SPAWN), so the init
// inherits the caller's fds 0-2 and preserved fds and descends from the caller, then relays its
// sync socket (INIT_DATA both ways, INIT_EOF, INIT_CLOSE) and learns of its exit (INIT_EXIT).
import { EventEmitter } from 'node:events';
import * as os from 'node:os';
import { Duplex } from 'node:stream';
import type { InitChild, InitSpawnRequest, InitSpawner, SpawnedInit } from '../init/spawner';
import { ServerMsg, SpawnStdio, u32s } from './protocol';

/** Sends one frame to the front end. */
export type Send = (type: ServerMsg, payload?: Buffer) => void;

const SIGNAL_NAMES = new Map<number, NodeJS.Signals>(
  Object.entries(os.constants.signals).map(([name, n]) => [n, name as NodeJS.Signals]),
);
const ERRNO_NAMES = new Map<number, string>(Object.entries(os.constants.errno).map(([name, n]) => [n, name]));

export function signalName(signo: number): NodeJS.Signals | undefined {
  return SIGNAL_NAMES.get(signo);
}

/** An init the front end forked: its pid, exit, and kill (we share the caller's uid, so we signal it directly). */
class RemoteInit extends EventEmitter implements InitChild {
  exitCode: number | null = null;
  signalCode: NodeJS.Signals | null = null;
  constructor(readonly pid: number) {
    super();
  }

  kill(signal: NodeJS.Signals | number = 'SIGTERM'): boolean {
    if (this.exitCode !== null || this.signalCode !== null) return false;
    try {
      process.kill(this.pid, signal);
      return true;
    } catch {
      return false;
    }
  }

  exited(waitStatus: number): void {
    if (this.exitCode !== null || this.signalCode !== null) return;
    const sig = waitStatus & 0x7f;
    if (sig === 0) this.exitCode = (waitStatus >> 8) & 0xff;
    else this.signalCode = signalName(sig) ?? 'SIGKILL';
    this.emit('exit', this.exitCode, this.signalCode);
  }
}

interface Pending {
  resolve: (s: SpawnedInit) => void;
  reject: (e: Error) => void;
  binary: string;
}

interface Live {
  child?: RemoteInit;
  sync: Duplex;
  /** INIT_EOF arrived (or the front end is gone). */
  eof: boolean;
}

export class FrontendSpawner implements InitSpawner {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly live = new Map<number, Live>();
  private gone = false;

  constructor(private readonly send: Send) {}

  spawn(req: InitSpawnRequest): Promise<SpawnedInit> {
    const codes = req.stdio.map((s) => {
      if (s === 'inherit') return SpawnStdio.INHERIT;
      if (s === 'ignore') return SpawnStdio.DEV_NULL;
      throw new Error(`the front end passes on its own stdio or /dev/null only, not ${String(s)}`);
    });
    if (this.gone) return Promise.reject(new Error('the front end is gone'));
    const id = this.nextId++;
    const sync = this.syncStream(id);
    this.live.set(id, { sync, eof: false });
    this.send(ServerMsg.SPAWN, Buffer.concat([u32s([id, req.syncFd]), Buffer.from(codes), Buffer.from(req.binary, 'utf8')]));
    return new Promise<SpawnedInit>((resolve, reject) => this.pending.set(id, { resolve, reject, binary: req.binary }));
  }

  private syncStream(id: number): Duplex {
    let closedHere = false;
    return new Duplex({
      allowHalfOpen: false,
      read: () => { /* data is pushed as INIT_DATA arrives */ },
      write: (chunk: Buffer, _enc, cb) => {
        if (!this.gone) this.send(ServerMsg.INIT_DATA, u32s([id], chunk));
        cb();
      },
      final: (cb) => {
        closedHere = true;
        if (!this.gone) this.send(ServerMsg.INIT_CLOSE, u32s([id]));
        cb();
      },
      destroy: (err, cb) => {
        if (!closedHere && !this.gone) this.send(ServerMsg.INIT_CLOSE, u32s([id]));
        closedHere = true;
        cb(err);
      },
    });
  }

  /** SPAWNED: the fork's outcome. */
  spawned(id: number, pid: number, errno: number): void {
    const p = this.pending.get(id);
    const l = this.live.get(id);
    if (!p || !l) return;
    this.pending.delete(id);
    if (pid <= 0) {
      this.live.delete(id);
      l.sync.destroy();
      // Worded as Node's spawn error, so both paths report a missing trun-init alike.
      p.reject(new Error(`spawn ${p.binary} ${ERRNO_NAMES.get(errno) ?? `errno ${errno}`}`));
      return;
    }
    l.child = new RemoteInit(pid);
    p.resolve({ child: l.child, sync: l.sync });
  }

  data(id: number, bytes: Buffer): void {
    const l = this.live.get(id);
    if (l && !l.eof) l.sync.push(Buffer.from(bytes));
  }

  eof(id: number): void {
    const l = this.live.get(id);
    if (!l || l.eof) return;
    l.eof = true;
    l.sync.push(null);
    this.forgetIfDone(id, l);
  }

  exit(id: number, waitStatus: number): void {
    const l = this.live.get(id);
    if (!l?.child) return;
    l.child.exited(waitStatus);
    this.forgetIfDone(id, l);
  }

  /** The front end went away: every init it forked is lost to us (it dies of its sync socket's EOF). */
  lost(): void {
    this.gone = true;
    for (const [id, p] of this.pending) {
      p.reject(new Error('the front end is gone'));
      this.live.get(id)?.sync.destroy();
      this.live.delete(id);
    }
    this.pending.clear();
    for (const [id, l] of this.live) {
      if (!l.eof) { l.eof = true; l.sync.push(null); }
      l.child?.exited(9); // as if SIGKILLed: its fate is no longer ours to know
      this.live.delete(id);
    }
  }

  private forgetIfDone(id: number, l: Live): void {
    if (l.eof && l.child && (l.child.exitCode !== null || l.child.signalCode !== null)) this.live.delete(id);
  }
}
