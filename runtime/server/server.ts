// The warm server: listens on <dir>/sock, refuses peers of another uid/gid (SO_PEERCRED), serves
// any number of front ends at once, and closes after `idleMs` without a connection. The socket
// is bound under a temporary name and renamed into place, so a second server started by a race
// never leaves a half-made socket; on exit it removes the socket only while it is still its own.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { serveConnection, type MainFn } from './connection';
import { difference, inheritedOf, peerCred, refusal, type Inherited } from './peer';
import type { Request } from './protocol';

export interface ServerOptions {
  dir: string;
  idleMs: number;
  main: MainFn;
  /** The directory the front end must come from (the same trun install: dist/). */
  installDir: string;
  log: (line: string) => void;
  /** Log each command served, with its exit code and duration. */
  logRequests?: boolean;
}

export interface RunningServer {
  socketPath: string;
  /** Stops listening; resolves when the last command has finished. */
  close(): Promise<void>;
  /** Resolves once the server has closed (idle, or close()). */
  closed: Promise<void>;
}

/** Environment variables that change what a cold trun does but that the server read once, at its start. */
const PROCESS_WIDE_ENV = ['TRUN_INIT', 'NODE_OPTIONS'];

function socketFd(sock: net.Socket): number | undefined {
  const fd = (sock as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}

export function startServer(opts: ServerOptions): Promise<RunningServer> {
  const socketPath = path.join(opts.dir, 'sock');
  const tmpPath = path.join(opts.dir, `sock.${process.pid}`);
  const self = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
  const own: Inherited = inheritedOf('self');
  const node = fs.realpathSync(process.execPath);
  let active = 0;
  let idleTimer: NodeJS.Timeout | undefined;
  let closing = false;
  let ino = 0;
  let resolveClosed: () => void = () => {};
  const closed = new Promise<void>((r) => { resolveClosed = r; });
  const commands = new Set<Promise<void>>();

  // A `make build` or an upgrade replaces the code under a running server: it must not go on
  // serving the old one. It declines, and closes so that the next front end starts a new server.
  const script = process.argv[1] ?? '';
  const identity = (): string => {
    try {
      const st = fs.statSync(script);
      return `${st.ino}:${st.mtimeMs}:${st.size}`;
    } catch {
      return 'gone';
    }
  };
  const builtAs = identity();

  const declineReason = (req: Request, peer: Inherited | undefined): string | undefined => {
    if (identity() !== builtAs) {
      void close();
      return `${script} changed since the server started: closing`;
    }
    if (!peer) return 'the client process could not be inspected';
    if (req.frontendDir !== opts.installDir) return `front end from "${req.frontendDir}", server from "${opts.installDir}"`;
    if (req.node !== node) return `node "${req.node}", server runs "${node}"`;
    for (const k of PROCESS_WIDE_ENV) {
      if ((req.env[k] ?? '') !== (process.env[k] ?? '')) return `$${k} differs`;
    }
    return difference(peer, own);
  };

  const server = net.createServer({ allowHalfOpen: false }, (sock) => {
    active += 1;
    if (idleTimer) { clearTimeout(idleTimer); idleTimer = undefined; }
    let peer: Inherited | undefined;
    let refused: string | undefined;
    try {
      const fd = socketFd(sock);
      if (fd === undefined) throw new Error('no fd for the connection');
      const cred = peerCred(fd);
      refused = refusal(cred, self);
      if (!refused) peer = inheritedOf(cred.pid);
    } catch (e) {
      refused ??= `peer credentials: ${(e as Error).message}`;
    }
    let served: Promise<void>;
    if (refused) {
      opts.log(`refused a client: ${refused}`);
      sock.destroy();
      served = Promise.resolve();
    } else {
      served = serveConnection(sock, {
        main: opts.main, declineReason: (req) => declineReason(req, peer), log: opts.log, logRequests: opts.logRequests ?? false,
      });
    }
    commands.add(served);
    void served.then(() => {
      commands.delete(served);
      active -= 1;
      armIdle();
    });
  });

  const removeSocket = () => {
    try {
      if (ino && fs.statSync(socketPath).ino === ino) fs.unlinkSync(socketPath);
    } catch {
      // gone already, or replaced by a newer server's
    }
  };

  const close = async (): Promise<void> => {
    if (!closing) {
      closing = true;
      if (idleTimer) clearTimeout(idleTimer);
      removeSocket();
      server.close();
    }
    while (commands.size) await Promise.all([...commands]);
    resolveClosed();
  };

  const armIdle = () => {
    if (closing || active > 0) return;
    if (idleTimer) clearTimeout(idleTimer);
    idleTimer = setTimeout(() => {
      if (active === 0) {
        opts.log(`idle for ${opts.idleMs} ms: exiting`);
        void close();
      }
    }, opts.idleMs);
  };

  return new Promise<RunningServer>((resolve, reject) => {
    fs.rmSync(tmpPath, { force: true });
    server.once('error', reject);
    server.listen(tmpPath, () => {
      try {
        fs.chmodSync(tmpPath, 0o600);
        fs.renameSync(tmpPath, socketPath);
        ino = fs.statSync(socketPath).ino;
      } catch (e) {
        server.close();
        reject(e);
        return;
      }
      server.off('error', reject);
      server.on('error', (e) => opts.log(`server error: ${e.message}`));
      armIdle();
      resolve({ socketPath, close, closed });
    });
  });
}
