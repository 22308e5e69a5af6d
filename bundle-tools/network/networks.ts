// The network store beside the image store: STORE/networks/{NAME.json, containers/ID.json, ipam/,
// lock}. A network file says what a bridge network is (subnet, bridge device); a container file
// (an attachment) says what the hook did for one container, so that DEL undoes exactly that and
// `network inspect` can list members. ipam/ is host-local's data dir. Files change by rename
// under the lock, except hosts files, which are rewritten in place.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TrunError, sysError } from '../../runtime/errors';
import { withPidLock } from '../../runtime/pid-lock';
import { DEFAULT_STORE } from '../lib/store';
import { BUILTIN_NETWORKS, checkNetworkName, DEFAULT_NETWORK, type Link, type PortMapping } from './modes';
import { checkUserSubnet, formatCidr, gatewayOf, overlaps, parseCidr, pickSubnet, type Subnet } from './subnet';

export interface NetworkDef {
  version: 1;
  name: string;
  id: string;
  driver: 'bridge';
  subnet: string;
  gateway: string;
  /** The Linux bridge device. */
  bridge: string;
  created: string;
}

export interface ProcRef {
  pid: number;
  /** Start time in clock ticks (/proc/PID/stat field 22): a reused pid has another. */
  start: number;
}

export interface Attachment {
  version: 1;
  id: string;
  network: string;
  /** adding: the ADD hook is (or was, when killed) at work; ready: set up; deleting: DEL running. */
  status: 'adding' | 'ready' | 'deleting';
  hook: ProcRef;
  /** The plugin the ADD hook is waiting for, its own process group, killed by a DEL that finds it. */
  plugin?: ProcRef;
  /** The container's netns: init pid at ADD and the netns inode, to find it again without trusting the pid. */
  pid: number;
  netnsIno: number;
  ifname: string;
  ip?: string;
  mac?: string;
  /** The host end of the veth pair, on the network's bridge. */
  veth?: string;
  hostname: string;
  hostsFile: string | null;
  links: Link[];
  ports: PortMapping[];
  cniPath: string;
  /** Plugins whose ADD was started, in order: DEL runs these, reversed. */
  ran: string[];
  /** The latest CNI result (prevResult for the next plugin and for DEL). */
  result?: unknown;
  created: string;
}

export const DEFAULT_STORE_BRIDGE = 'trun0';

/** The network store of an image store (created when missing). */
export function networkStore(storeRoot: string): NetworkStore {
  const root = path.resolve(storeRoot);
  return new NetworkStore(root, root === DEFAULT_STORE).init();
}

export class NetworkStore {
  readonly dir: string;

  constructor(readonly storeRoot: string, private readonly isDefaultStore: boolean) {
    this.dir = path.join(storeRoot, 'networks');
  }

  get ipamDir(): string {
    return path.join(this.dir, 'ipam');
  }
  get containersDir(): string {
    return path.join(this.dir, 'containers');
  }

  init(): this {
    for (const d of [this.dir, this.containersDir, this.ipamDir]) {
      try {
        fs.mkdirSync(d, { recursive: true, mode: 0o700 });
      } catch (err) {
        throw sysError('mkdir', d, err);
      }
    }
    return this;
  }

  /** Runs `fn` holding the network lock (a file naming its holder; a dead holder's lock is taken over). */
  async withLock<T>(fn: () => Promise<T> | T): Promise<T> {
    const lock = path.join(this.dir, 'lock');
    return withPidLock(lock, { busy: (holder) => new TrunError('EBUNDLE', `network store "${this.dir}" is locked by pid ${holder}`, { path: lock }) }, fn);
  }

  private file(name: string): string {
    return path.join(this.dir, `${name}.json`);
  }

  /** Every bridge network, the default one included (written on first use). Call under the lock. */
  list(hostUsed: readonly Subnet[] = []): NetworkDef[] {
    const out: NetworkDef[] = [];
    for (const f of fs.readdirSync(this.dir).sort()) {
      if (!f.endsWith('.json')) continue;
      out.push(readJson<NetworkDef>(path.join(this.dir, f)));
    }
    if (!out.some((n) => n.name === DEFAULT_NETWORK)) out.unshift(this.makeDefault(out, hostUsed));
    return out;
  }

  /** A network by name; the default network is made on first use. Call under the lock. */
  get(name: string, hostUsed: readonly Subnet[] = []): NetworkDef {
    if (BUILTIN_NETWORKS.includes(name)) throw new TrunError('EINVAL', `network "${name}" is not a bridge network`);
    checkNetworkName(name);
    const f = this.file(name);
    if (fs.existsSync(f)) return readJson<NetworkDef>(f);
    if (name === DEFAULT_NETWORK) return this.list(hostUsed).find((n) => n.name === name)!;
    throw new TrunError('EINVAL', `network "${name}" not found (see trun-bundle network ls)`);
  }

  private makeDefault(others: readonly NetworkDef[], hostUsed: readonly Subnet[]): NetworkDef {
    const id = randomBytes(16).toString('hex');
    const subnet = pickSubnet([...others.map((n) => parseCidr(n.subnet)), ...hostUsed]);
    if (!subnet) throw new TrunError('EBUNDLE', 'no free subnet left for the default network');
    const def: NetworkDef = {
      version: 1, name: DEFAULT_NETWORK, id, driver: 'bridge', subnet: formatCidr(subnet), gateway: gatewayOf(subnet),
      bridge: this.isDefaultStore ? DEFAULT_STORE_BRIDGE : bridgeName(id), created: new Date().toISOString(),
    };
    writeJson(this.file(def.name), def);
    return def;
  }

  /** `network create`: a new bridge network on `subnet` or on the first free /24 of 10.89.0.0/16. Call under the lock. */
  create(name: string, subnet: string | undefined, hostUsed: readonly { subnet: Subnet; dev: string }[]): NetworkDef {
    checkNetworkName(name);
    if (BUILTIN_NETWORKS.includes(name) || fs.existsSync(this.file(name)) || name === DEFAULT_NETWORK) {
      throw new TrunError('EINVAL', `network "${name}" already exists`);
    }
    const existing = this.list(hostUsed.map((h) => h.subnet));
    let s: Subnet;
    if (subnet !== undefined) {
      s = checkUserSubnet(subnet);
      const clash = existing.find((n) => overlaps(parseCidr(n.subnet), s));
      if (clash) throw new TrunError('EINVAL', `subnet ${subnet} overlaps network "${clash.name}" (${clash.subnet})`);
      const ours = new Set(existing.map((n) => n.bridge));
      const route = hostUsed.find((h) => !ours.has(h.dev) && overlaps(h.subnet, s));
      if (route) throw new TrunError('EINVAL', `subnet ${subnet} overlaps ${formatCidr(route.subnet)} on the host's interface ${route.dev}`);
    } else {
      const picked = pickSubnet([...existing.map((n) => parseCidr(n.subnet)), ...hostUsed.map((h) => h.subnet)]);
      if (!picked) throw new TrunError('EBUNDLE', 'no free subnet left in 10.89.0.0/16; give one with --subnet');
      s = picked;
    }
    const id = randomBytes(16).toString('hex');
    const def: NetworkDef = {
      version: 1, name, id, driver: 'bridge', subnet: formatCidr(s), gateway: gatewayOf(s), bridge: bridgeName(id), created: new Date().toISOString(),
    };
    writeJson(this.file(name), def);
    return def;
  }

  /** The default network on a new subnet (when nothing uses it and its old one is taken elsewhere). Call under the lock. */
  resubnet(def: NetworkDef, avoid: readonly Subnet[]): NetworkDef {
    const others = this.list().filter((n) => n.name !== def.name).map((n) => parseCidr(n.subnet));
    const s = pickSubnet([...others, ...avoid]);
    if (!s) throw new TrunError('EBUNDLE', `no free subnet left in 10.89.0.0/16 for network "${def.name}"`);
    const next: NetworkDef = { ...def, subnet: formatCidr(s), gateway: gatewayOf(s) };
    writeJson(this.file(def.name), next);
    return next;
  }

  /** Forgets a network (the caller has taken its host side down). Call under the lock. */
  forget(name: string): void {
    fs.rmSync(this.file(name), { force: true });
    fs.rmSync(path.join(this.ipamDir, name), { recursive: true, force: true });
  }

  // ---- attachments ----

  attachments(): Attachment[] {
    const out: Attachment[] = [];
    for (const f of fs.readdirSync(this.containersDir).sort()) {
      if (!f.endsWith('.json')) continue;
      try {
        out.push(readJson<Attachment>(path.join(this.containersDir, f)));
      } catch {
        continue; // a record being written
      }
    }
    return out;
  }

  attachment(id: string): Attachment | null {
    try {
      return readJson<Attachment>(path.join(this.containersDir, `${safeId(id)}.json`));
    } catch (err) {
      if (err instanceof TrunError && err.code === 'ENOTEXIST') return null;
      throw err;
    }
  }

  saveAttachment(a: Attachment): void {
    writeJson(path.join(this.containersDir, `${safeId(a.id)}.json`), a);
  }

  removeAttachment(id: string): void {
    fs.rmSync(path.join(this.containersDir, `${safeId(id)}.json`), { force: true });
  }
}

/** Bridge device names: at most 15 characters, unique per network. */
function bridgeName(id: string): string {
  return `tb-${id.slice(0, 12)}`;
}

function safeId(id: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.+-]*$/.test(id)) throw new TrunError('EBADID', `invalid container id "${id}"`, { id });
  return id;
}

function readJson<T>(file: string): T {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new TrunError('ENOTEXIST', `"${file}" does not exist`, { path: file });
    throw sysError('read', file, err);
  }
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new TrunError('EBUNDLE', `"${file}": not valid JSON`, { path: file });
  }
}

function writeJson(file: string, value: unknown): void {
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    fs.writeFileSync(tmp, JSON.stringify(value, null, 2) + '\n', { mode: 0o600 });
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw sysError('write', file, err);
  }
}
