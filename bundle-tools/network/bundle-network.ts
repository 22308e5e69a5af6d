// What `trun-bundle create` needs from networking: the --network/--publish/--link flags resolved
// against the network store and trun (a network that exists, a running container to join), and
// the bundle's own network files (BUNDLE/network/{hosts,hostname,resolv.conf}) that config.json
// bind-mounts and the hook keeps up to date.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { TrunError, sysError } from '../../runtime/errors';
import { DEFAULT_STATE_ROOT, trunCommand } from '../lib/trun-client';
import { hostSubnets } from './bridge';
import { containerResolvConf, hostsText } from './hosts';
import { DEFAULT_NETWORK, networkPlan, parseLink, parseNetworkFlag, parsePublish, type NetworkMode, type NetworkPlan } from './modes';
import { networkStore } from './networks';

export interface NetworkFlags {
  /** --network; undefined: the default bridge (or, rootless, the host's network as before). */
  network?: string;
  publish: string[];
  links: string[];
  hostname?: string;
  trunRoot?: string;
  rootless: boolean;
}

export interface NetworkFiles {
  hosts: string;
  hostname: string;
  resolvConf: string;
}

export function bundleNetworkFiles(bundle: string): NetworkFiles {
  const dir = path.join(path.resolve(bundle), 'network');
  return { hosts: path.join(dir, 'hosts'), hostname: path.join(dir, 'hostname'), resolvConf: path.join(dir, 'resolv.conf') };
}

export interface ResolvedNetwork {
  mode: NetworkMode;
  plan: NetworkPlan;
}

/**
 * Checks the flags and what they name before any bundle exists, so a bad flag leaves nothing
 * behind. Returns null when networking is left as it was (rootless without --network).
 */
export async function resolveNetwork(f: NetworkFlags, bundle: string, store: string, hookCommand: string[]): Promise<ResolvedNetwork | null> {
  if (f.rootless && f.network === undefined && f.publish.length === 0 && f.links.length === 0) return null;
  const mode = parseNetworkFlag(f.network ?? DEFAULT_NETWORK);
  if (f.rootless && mode.kind !== 'host') throw new TrunError('EINVAL', `--network ${f.network ?? DEFAULT_NETWORK} needs root (rootless containers use --network host)`);
  const publish = f.publish.map(parsePublish);
  const links = f.links.map(parseLink);
  let joined: { netns: string; files: Partial<NetworkFiles> } | undefined;
  if (mode.kind === 'bridge') {
    const net = networkStore(store);
    await net.withLock(() => net.get(mode.network, mode.network === DEFAULT_NETWORK ? hostSubnets().map((h) => h.subnet) : []));
  }
  if (mode.kind === 'container') joined = containerNetwork(mode.id, f.trunRoot ?? DEFAULT_STATE_ROOT);
  const files = bundleNetworkFiles(bundle);
  const plan = networkPlan({
    mode, hookCommand, store: path.resolve(store), files, publish, links, hostHostname: os.hostname(),
    ...(f.hostname !== undefined ? { hostname: f.hostname } : {}), ...(joined ? { joined } : {}),
  });
  return { mode, plan };
}

/** `trun state ID`: the netns of a running container, and its bundle's network files when it has them. */
function containerNetwork(id: string, trunRoot: string): { netns: string; files: Partial<NetworkFiles> } {
  const cmd = trunCommand();
  const r = spawnSync(cmd[0]!, [...cmd.slice(1), '--root', trunRoot, 'state', id], { encoding: 'utf8' });
  if (r.error) throw new TrunError('ESYS', `run ${cmd.join(' ')}: ${r.error.message}`, { cause: r.error });
  if (r.status !== 0) throw new TrunError('EINVAL', `--network container:${id}: ${(r.stderr || r.stdout).trim().replace(/^trun: /, '') || 'no such container'}`);
  let st: { status?: string; pid?: number; bundle?: string };
  try {
    st = JSON.parse(r.stdout) as typeof st;
  } catch {
    throw new TrunError('EINVAL', `--network container:${id}: trun state printed no JSON`);
  }
  if ((st.status !== 'running' && st.status !== 'created') || !st.pid) {
    throw new TrunError('EINVAL', `--network container:${id}: the container is ${st.status ?? 'unknown'}, not running`);
  }
  const netns = `/proc/${st.pid}/ns/net`;
  if (!fs.existsSync(netns)) throw new TrunError('EINVAL', `--network container:${id}: ${netns} does not exist`);
  const files: Partial<NetworkFiles> = {};
  if (st.bundle) {
    const theirs = bundleNetworkFiles(st.bundle);
    for (const k of Object.keys(theirs) as Array<keyof NetworkFiles>) if (fs.existsSync(theirs[k])) files[k] = theirs[k];
  }
  return { netns, files };
}

/** The command the hooks run: node and the bundled trun-bundle.js this code is part of. */
export function defaultHookCommand(): string[] {
  return [process.execPath, path.join(__dirname, 'trun-bundle.js')];
}

/** The hostname config.json gives the container, null when it has none. */
export function bundleHostname(bundle: string): string | null {
  if (!bundle) return null;
  try {
    const spec = JSON.parse(fs.readFileSync(path.join(bundle, 'config.json'), 'utf8')) as { hostname?: unknown };
    return typeof spec.hostname === 'string' && spec.hostname ? spec.hostname : null;
  } catch {
    return null;
  }
}

/** Writes the files the plan bind-mounts from the bundle (the hook adds the addresses later). */
export function writeNetworkFiles(bundle: string, r: ResolvedNetwork): void {
  if (r.mode.kind !== 'none' && r.mode.kind !== 'bridge') return;
  const hostname = bundleHostname(bundle) ?? 'localhost';
  const files = bundleNetworkFiles(bundle);
  const write = (file: string, text: string): void => {
    try {
      fs.writeFileSync(file, text, { mode: 0o644 });
    } catch (err) {
      throw sysError('write', file, err);
    }
  };
  try {
    fs.mkdirSync(path.dirname(files.hosts), { mode: 0o755 });
  } catch (err) {
    throw sysError('mkdir', path.dirname(files.hosts), err);
  }
  write(files.hosts, hostsText(r.mode.kind === 'none' ? [{ ip: '127.0.0.1', names: [hostname] }] : []));
  write(files.hostname, `${hostname}\n`);
  if (r.mode.kind === 'bridge') {
    let host = '';
    try {
      host = fs.readFileSync('/etc/resolv.conf', 'utf8');
    } catch {
      // no resolver configured on the host: the fallback servers
    }
    write(files.resolvConf, containerResolvConf(host));
  }
}
