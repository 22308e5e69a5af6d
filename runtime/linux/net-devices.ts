// linux.netDevices (config-linux.md "Network Devices"): host interfaces moved into the container's
// network namespace, renamed when asked, keeping their permanent global addresses, and set up.
// The move happens runtime side once the namespace exists (the "setup" sync point), before any
// hook runs, as runc does. Nothing moves them back when the container is deleted: the spec forbids
// it, and the kernel returns physical devices to the host (virtual ones die) with the namespace.
// A create that fails after the move does put them back, so that a failed create leaves the host
// as it found it.
//
// Why iproute2 rather than netlink: Node.js has no netlink sockets, and an init op would mean a
// netlink client (link, address dump, address add) in C that the init could only run before it
// enters the container; `ip` already is a dependency of trun (scripts/setup.sh, bundle-tools).
// Inside the container's namespace `ip` runs under nsenter(1), with the namespace passed as an
// inherited fd that trun holds open: no pid is trusted after the fact, and the namespace outlives
// an init that dies, so a failed create can still take the devices back.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import type { Linux } from '../../spec/types/runtime';
import { TrunError, sysError } from '../errors';

export interface NetDeviceMove {
  /** The device's name on the host (the key in linux.netDevices). */
  hostName: string;
  /** Its name in the container: the host name, a new one, or a template ending in "%d". */
  name: string;
}

/** The namespace a container's network devices go to: created, or joined at `path`. */
export interface NetnsTarget {
  path?: string;
}

/** IFNAMSIZ from <linux/if.h>, the terminating NUL included. */
const IFNAMSIZ = 16;

function fail(id: string, message: string): never {
  throw new TrunError('EINVAL', message, { id });
}

/** Why the kernel would refuse `name` as an interface name (dev_valid_name), or undefined. */
function badName(name: string, template: boolean): string | undefined {
  if (name === '') return 'is empty';
  if (Buffer.byteLength(name) >= IFNAMSIZ) return `is longer than ${IFNAMSIZ - 1} bytes`;
  if (name === '.' || name === '..') return 'is not a usable name';
  if (/[/:\s]/.test(name)) return 'contains "/", ":" or white space';
  const pct = name.indexOf('%');
  if (pct >= 0 && (!template || name[pct + 1] !== 'd' || name.includes('%', pct + 1))) {
    return template ? 'may only hold one "%d" template' : 'contains "%"';
  }
  return undefined;
}

/**
 * Checks linux.netDevices against the container's namespaces and the kernel's naming rules.
 * Pure: the host itself is checked later by checkNetDevicesOnHost.
 */
export function planNetDevices(id: string, linux: Linux | undefined, netns: NetnsTarget | undefined): NetDeviceMove[] {
  const entries = Object.entries(linux?.netDevices ?? {});
  if (entries.length === 0) return [];
  if (!netns) fail(id, 'linux.netDevices: moving network devices needs a network namespace of the container\'s own (linux.namespaces has no "network")');
  const moves: NetDeviceMove[] = [];
  const targets = new Map<string, string>();
  for (const [hostName, dev] of entries) {
    const why = badName(hostName, false);
    if (why) fail(id, `linux.netDevices: device name "${hostName}" ${why}`);
    const name = dev?.name || hostName;
    const whyNew = badName(name, true);
    if (whyNew) fail(id, `linux.netDevices["${hostName}"].name: "${name}" ${whyNew}`);
    // A new namespace starts with "lo" alone: the clash is known before anything moves.
    if (!netns.path && name === 'lo') fail(id, `linux.netDevices["${hostName}"].name: a new network namespace already has a device named "lo"`);
    const other = targets.get(name);
    if (other !== undefined && !name.includes('%d')) fail(id, `linux.netDevices: "${other}" and "${hostName}" would both be named "${name}" in the container`);
    targets.set(name, hostName);
    moves.push({ hostName, name });
  }
  return moves;
}

interface Run {
  status: number;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], fds: number[] = []): Run {
  const r = spawnSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe', ...fds] });
  if (r.error) throw new TrunError('ESYS', `run ${cmd}: ${r.error.message}`, { cause: r.error });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** `ip` on the host; `fds` become the child's fds 3, 4... */
function ipHost(args: string[], fds: number[] = []): Run {
  return run('ip', args, fds);
}

/** `ip` inside the namespace open at `nsFd` (the child's fd 3); extra fds from 4 on. */
function ipIn(nsFd: number, args: string[], fds: number[] = []): Run {
  return run('nsenter', ['--net=/proc/self/fd/3', '--', 'ip', ...args], [nsFd, ...fds]);
}

interface IpAddr { family?: string; local?: string; prefixlen?: number; scope?: string; dynamic?: boolean }
interface IpLink { ifname?: string; flags?: string[]; addr_info?: IpAddr[] }

function parseJson<T>(r: Run): T[] {
  try {
    return JSON.parse(r.stdout || '[]') as T[];
  } catch {
    return [];
  }
}

function why(r: Run): string {
  return r.stderr.trim().split('\n').pop() || `exit status ${r.status}`;
}

function netError(id: string, message: string): TrunError {
  return new TrunError('ESYS', message, { id });
}

/** One device's host state: what a move must carry over and a rollback restore. */
function linkInfo(id: string, name: string, ip: (args: string[]) => Run): IpLink | undefined {
  const r = ip(['-j', 'addr', 'show', 'dev', name]);
  if (r.status !== 0) return undefined;
  const link = parseJson<IpLink>(r).find((l) => l.ifname === name);
  if (!link) throw netError(id, `ip addr show dev ${name}: the device is not in the answer`);
  return link;
}

/**
 * The host side of the spec's "MUST check if moving is possible": every device exists, is not a
 * loopback (the kernel keeps those in their namespace), and a joined namespace is not the host's.
 */
export function checkNetDevicesOnHost(id: string, moves: readonly NetDeviceMove[], netns: NetnsTarget | undefined): void {
  if (moves.length === 0) return;
  if (netns?.path) {
    let b: fs.Stats;
    try {
      b = fs.statSync(netns.path);
    } catch (e) {
      throw sysError('stat', netns.path, e, id);
    }
    const a = fs.statSync('/proc/self/ns/net');
    if (a.dev === b.dev && a.ino === b.ino) fail(id, `linux.netDevices: the network namespace "${netns.path}" is the host's; moving devices needs one of the container's own`);
  }
  for (const m of moves) {
    const link = linkInfo(id, m.hostName, ipHost);
    if (!link) fail(id, `linux.netDevices: network device "${m.hostName}" does not exist on the host`);
    if (link.flags?.includes('LOOPBACK')) fail(id, `linux.netDevices: network device "${m.hostName}" is a loopback device and cannot leave its namespace`);
  }
}

/** A device moved into the container, with what a rollback needs to put it back. */
interface Moved {
  hostName: string;
  /** Its name in the container (a template resolved). */
  name: string;
  wasUp: boolean;
  addresses: string[];
}

export interface MovedNetDevices {
  /** After a failed create: the devices back on the host, named, addressed and up as they were. */
  rollback(warn: (message: string) => void): void;
  /** Releases the namespace fd. */
  close(): void;
}

function linkNames(id: string, nsFd: number): string[] {
  const r = ipIn(nsFd, ['-j', 'link', 'show']);
  if (r.status !== 0) throw netError(id, `list the network devices in the container's network namespace: ${why(r)}`);
  return parseJson<IpLink>(r).map((l) => l.ifname ?? '').filter(Boolean);
}

/** Addresses the spec says to keep: permanent (not "dynamic") with global scope (RT_SCOPE_UNIVERSE). */
function keptAddresses(link: IpLink): string[] {
  return (link.addr_info ?? [])
    .filter((a) => !a.dynamic && a.scope === 'global' && a.local && a.prefixlen !== undefined)
    .map((a) => `${a.local}/${a.prefixlen}`);
}

function moveOne(id: string, nsFd: number, m: NetDeviceMove, moved: Moved[]): void {
  const link = linkInfo(id, m.hostName, ipHost);
  if (!link) throw netError(id, `move network device "${m.hostName}": it no longer exists on the host`);
  const before = linkNames(id, nsFd);
  if (!m.name.includes('%d') && before.includes(m.name)) {
    throw netError(id, `move network device "${m.hostName}": a device named "${m.name}" already exists in the container's network namespace`);
  }
  const record: Moved = { hostName: m.hostName, name: m.name, wasUp: link.flags?.includes('UP') ?? false, addresses: keptAddresses(link) };
  // Down first, so that nothing on the host uses it half-moved; then move and rename in one
  // request, so that its name never clashes on either side.
  const down = ipHost(['link', 'set', 'dev', m.hostName, 'down']);
  if (down.status !== 0) throw netError(id, `move network device "${m.hostName}": ip link set down: ${why(down)}`);
  const mv = ipHost(['link', 'set', 'dev', m.hostName, 'netns', '/proc/self/fd/3', 'name', m.name], [nsFd]);
  const added = linkNames(id, nsFd).filter((n) => !before.includes(n));
  if (added.length === 1) {
    record.name = added[0]!;
    moved.push(record); // whatever fails from here on, the rollback knows where it is
  } else if (record.wasUp) {
    ipHost(['link', 'set', 'dev', m.hostName, 'up']);
  }
  if (mv.status !== 0) throw netError(id, `move network device "${m.hostName}" into the container's network namespace: ${why(mv)}`);
  if (added.length !== 1) throw netError(id, `move network device "${m.hostName}": not found in the container's network namespace afterwards`);
  // The kernel drops a device's addresses when it changes namespace.
  for (const a of record.addresses) {
    const r = ipIn(nsFd, ['addr', 'add', a, 'dev', record.name]);
    if (r.status !== 0) throw netError(id, `network device "${record.name}": add address ${a}: ${why(r)}`);
  }
  const up = ipIn(nsFd, ['link', 'set', 'dev', record.name, 'up']);
  if (up.status !== 0) throw netError(id, `network device "${record.name}": ip link set up: ${why(up)}`);
}

/**
 * Moves the devices into the network namespace of process `pid` (the container's init, waiting
 * at a sync point). On failure the devices moved so far are put back before the error is thrown.
 */
export function moveNetDevices(id: string, pid: number, moves: readonly NetDeviceMove[]): MovedNetDevices {
  const nsPath = `/proc/${pid}/ns/net`;
  let nsFd: number;
  try {
    nsFd = fs.openSync(nsPath, 'r');
  } catch (e) {
    throw sysError('open', nsPath, e, id);
  }
  const moved: Moved[] = [];
  const handle: MovedNetDevices = {
    rollback(warn) {
      for (const d of moved.splice(0).reverse()) {
        try {
          moveBack(id, nsFd, d);
        } catch (e) {
          warn(`put network device "${d.hostName}" back on the host: ${(e as Error).message}`);
        }
      }
    },
    close() {
      if (nsFd >= 0) fs.closeSync(nsFd);
      nsFd = -1;
    },
  };
  try {
    for (const m of moves) moveOne(id, nsFd, m, moved);
  } catch (e) {
    handle.rollback(() => {}); // the move's own error is the one to report
    handle.close();
    throw e;
  }
  return handle;
}

function moveBack(id: string, nsFd: number, d: Moved): void {
  let hostFd = -1;
  try {
    hostFd = fs.openSync('/proc/self/ns/net', 'r');
    ipIn(nsFd, ['link', 'set', 'dev', d.name, 'down']);
    const r = ipIn(nsFd, ['link', 'set', 'dev', d.name, 'netns', '/proc/self/fd/4', 'name', d.hostName], [hostFd]);
    if (r.status !== 0) throw netError(id, why(r));
  } finally {
    if (hostFd >= 0) fs.closeSync(hostFd);
  }
  for (const a of d.addresses) ipHost(['addr', 'add', a, 'dev', d.hostName]);
  if (d.wasUp) ipHost(['link', 'set', 'dev', d.hostName, 'up']);
}
