// Who is on the other end of a connection, and whether running its command here would differ
// from running it in a fresh Node.js process of its own (the cold path). The kernel's SO_PEERCRED
// (through trun-peercred.node) says which uid/gid connected; /proc/<pid> says what a cold trun
// would have inherited from that process.
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface PeerCred {
  pid: number;
  uid: number;
  gid: number;
}

type PeerCredFn = (fd: number) => PeerCred;

let loaded: PeerCredFn | Error | undefined;

/** trun-peercred.node sits next to trun-server.js (dist/); from sources, in dist/ too. */
function loadPeerCred(): PeerCredFn {
  if (loaded === undefined) {
    const candidates = [path.join(__dirname, 'trun-peercred.node'), path.resolve(__dirname, '../../dist/trun-peercred.node')];
    const file = candidates.find((c) => fs.existsSync(c));
    try {
      if (!file) throw new Error(`trun-peercred.node not found next to "${__dirname}": run make build`);
      const mod: { exports: { peerCred?: PeerCredFn } } = { exports: {} };
      process.dlopen(mod, file);
      if (typeof mod.exports.peerCred !== 'function') throw new Error(`${file}: no peerCred function`);
      loaded = mod.exports.peerCred;
    } catch (e) {
      loaded = e as Error;
    }
  }
  if (loaded instanceof Error) throw loaded;
  return loaded;
}

/** SO_PEERCRED of a connected unix socket's fd. */
export function peerCred(fd: number): PeerCred {
  return loadPeerCred()(fd);
}

/** Only the server's own uid and gid may use it: anyone else would run commands with its rights. */
export function refusal(peer: PeerCred, self: { uid: number; gid: number }): string | undefined {
  if (peer.uid !== self.uid) return `uid ${peer.uid} is not the server's uid ${self.uid}`;
  if (peer.gid !== self.gid) return `gid ${peer.gid} is not the server's gid ${self.gid}`;
  return undefined;
}

/** What a cold trun would inherit from its caller and that the server cannot take on per command. */
export type Inherited = Record<string, string>;

const STATUS_FIELDS = ['Umask', 'Uid', 'Gid', 'Groups', 'CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb', 'NoNewPrivs', 'Seccomp'];
const NAMESPACES = ['mnt', 'pid', 'net', 'user', 'uts', 'ipc', 'cgroup', 'time'];

/** Reads /proc/<pid>: credentials, umask, capabilities, seccomp, namespaces, root directory and rlimits. */
export function inheritedOf(pid: number | 'self'): Inherited {
  const out: Inherited = {};
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  for (const line of status.split('\n')) {
    const i = line.indexOf(':');
    const key = line.slice(0, i);
    if (STATUS_FIELDS.includes(key)) out[key] = line.slice(i + 1).trim();
  }
  for (const ns of NAMESPACES) {
    try {
      out[`ns/${ns}`] = fs.readlinkSync(`/proc/${pid}/ns/${ns}`);
    } catch {
      out[`ns/${ns}`] = 'absent';
    }
  }
  out.root = fs.readlinkSync(`/proc/${pid}/root`);
  // Resource limits: the init gets the caller's from the front end, but hooks run by the server.
  out.limits = fs.readFileSync(`/proc/${pid}/limits`, 'utf8');
  return out;
}

/** The first difference between a client's inheritance and the server's, in words; undefined if none. */
export function difference(client: Inherited, server: Inherited): string | undefined {
  for (const key of new Set([...Object.keys(server), ...Object.keys(client)])) {
    if (client[key] !== server[key]) return `${key} differs (client "${client[key] ?? ''}", server "${server[key] ?? ''}")`;
  }
  return undefined;
}
