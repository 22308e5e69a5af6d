// One front end's connection to the warm server: reads its REQUEST, decides whether the command
// may run here (else DECLINE: the front end runs it cold), and runs the CLI's main() with the
// front end's argv/env/cwd, its stdio relayed as OUT/ERR frames, its signals and its fork of
// trun-init. Frames and their order: protocol.ts in this directory.
import type { Socket } from 'node:net';
import { Writable } from 'node:stream';
import type { MainHost } from '../cli/main';
import type { SignalSource } from '../cli/signals';
import { FrameReader, frame } from '../init/protocol';
import { FrontendSpawner, signalName } from './frontend-spawner';
import { ClientMsg, ServerMsg, decodeRequest, u32s, type Request } from './protocol';

export type MainFn = (
  argv: string[], env: NodeJS.ProcessEnv, cwd: string, out: NodeJS.WritableStream, err: NodeJS.WritableStream, host: MainHost,
) => Promise<number>;

export interface ConnectionOptions {
  main: MainFn;
  /** Why this request must run cold instead (a difference from the server's own process), or undefined. */
  declineReason: (req: Request) => string | undefined;
  log: (line: string) => void;
  logRequests: boolean;
}

/**
 * Signals a Node.js process with no handler for them ignores (SIGWINCH by default, SIGUSR1 starts
 * the inspector); any other forwarded signal without a handler kills a cold trun, so the front end
 * is told to die of it too.
 */
const SURVIVED_WITHOUT_HANDLER = new Set<NodeJS.Signals>(['SIGWINCH', 'SIGUSR1']);

/** The signals one command hears: those its front end receives. */
class RelayedSignals implements SignalSource {
  private readonly handlers = new Map<NodeJS.Signals, Set<() => void>>();
  on(signal: NodeJS.Signals, handler: () => void): void {
    let set = this.handlers.get(signal);
    if (!set) this.handlers.set(signal, (set = new Set()));
    set.add(handler);
  }
  off(signal: NodeJS.Signals, handler: () => void): void {
    this.handlers.get(signal)?.delete(handler);
  }
  /** Delivers a signal; false when nothing listens to it. */
  deliver(signal: NodeJS.Signals): boolean {
    const set = this.handlers.get(signal);
    if (!set?.size) return false;
    for (const h of [...set]) h();
    return true;
  }
}

export function serveConnection(sock: Socket, opts: ConnectionOptions): Promise<void> {
  return new Promise<void>((done) => {
    const reader = new FrameReader();
    let open = true;
    let started = false;
    const send = (type: ServerMsg, payload: Buffer = Buffer.alloc(0)) => {
      if (open) sock.write(frame(type as number, payload));
    };
    const spawner = new FrontendSpawner(send);
    const signals = new RelayedSignals();
    let stdinWaiter: { resolve: (s: string) => void; reject: (e: Error) => void } | undefined;

    const finish = () => {
      if (!open) return;
      open = false;
      spawner.lost();
      stdinWaiter?.reject(new Error('read stdin: the front end is gone'));
      stdinWaiter = undefined;
      sock.destroy();
      done();
    };
    sock.on('error', finish);
    sock.on('close', finish);

    const stream = (type: ServerMsg.OUT | ServerMsg.ERR) => new Writable({
      write: (chunk: Buffer, _enc, cb) => { send(type, chunk); cb(); },
    });

    const start = (req: Request) => {
      started = true;
      const why = opts.declineReason(req);
      if (why !== undefined) {
        opts.log(`declined (the front end runs the command cold): ${why}`);
        send(ServerMsg.DECLINE, Buffer.from(why, 'utf8'));
        sock.end();
        return;
      }
      send(ServerMsg.ACCEPT);
      const host: MainHost = {
        signals,
        spawner,
        readStdin: () => new Promise<string>((resolve, reject) => {
          if (!open) { reject(new Error('read stdin: the front end is gone')); return; }
          stdinWaiter = { resolve, reject };
          send(ServerMsg.READ_STDIN);
        }),
      };
      const out = stream(ServerMsg.OUT);
      const err = stream(ServerMsg.ERR);
      const t0 = process.hrtime.bigint();
      opts.main(req.argv, req.env, req.cwd, out, err, host).then(
        (code) => code,
        (e: unknown) => { err.write(`${String(e)}\n`); return 1; },
      ).then(async (code) => {
        await Promise.all([out, err].map((w) => new Promise<void>((resolve) => w.end(resolve))));
        if (opts.logRequests) {
          opts.log(`served ${JSON.stringify(req.argv)}: exit ${code} in ${(Number(process.hrtime.bigint() - t0) / 1e6).toFixed(1)} ms`);
        }
        send(ServerMsg.EXIT, u32s([code]));
        if (open) sock.end();
      }).catch((e: unknown) => opts.log(`command failed to finish: ${String(e)}`));
    };

    sock.on('data', (chunk: Buffer) => {
      let messages;
      try {
        messages = reader.push(chunk);
      } catch (e) {
        opts.log(`bad frame: ${String(e)}`);
        finish();
        return;
      }
      for (const msg of messages) {
        const type = msg.type as number;
        const p = msg.payload;
        if (!started) {
          if (type !== ClientMsg.REQUEST) { opts.log(`first frame is ${type}, not REQUEST`); finish(); return; }
          let req: Request;
          try {
            req = decodeRequest(p);
          } catch (e) {
            opts.log(String(e));
            finish();
            return;
          }
          start(req);
          continue;
        }
        switch (type) {
          case ClientMsg.SPAWNED:
            spawner.spawned(p.readUInt32LE(0), p.readUInt32LE(4), p.readInt32LE(8));
            break;
          case ClientMsg.INIT_DATA:
            spawner.data(p.readUInt32LE(0), p.subarray(4));
            break;
          case ClientMsg.INIT_EOF:
            spawner.eof(p.readUInt32LE(0));
            break;
          case ClientMsg.INIT_EXIT:
            spawner.exit(p.readUInt32LE(0), p.readInt32LE(4));
            break;
          case ClientMsg.SIGNAL: {
            const signo = p.readUInt32LE(0);
            const name = signalName(signo);
            if (name && !signals.deliver(name) && !SURVIVED_WITHOUT_HANDLER.has(name)) send(ServerMsg.DIE, u32s([signo]));
            break;
          }
          case ClientMsg.STDIN:
            stdinWaiter?.resolve(p.toString('utf8'));
            stdinWaiter = undefined;
            break;
          case ClientMsg.STDIN_ERROR:
            stdinWaiter?.reject(new Error(p.toString('utf8')));
            stdinWaiter = undefined;
            break;
          default:
            opts.log(`unknown frame type ${type}`);
            finish();
            return;
        }
      }
    });
  });
}
