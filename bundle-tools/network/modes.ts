// `trun-bundle create --network/--publish/--link` to config.json: the flags' syntax, and the
// plan (network namespace, hostname, /etc files, CNI hooks) that config generation applies.
// Pure: looking things up in the network store or in trun is bundle-network.ts.
import { TrunError } from '../../runtime/errors';
import type { Hook, Mount, Spec } from '../../spec/types/runtime';
import { ipToNumber } from './subnet';

export const DEFAULT_NETWORK = 'bridge';
/** Networks that exist without `network create` and cannot be removed or joined by CNI. */
export const BUILTIN_NETWORKS = ['host', 'none'];
const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/;
/** PATH for the hooks (trun gives hooks only the env the config names) and the plugins they call. */
export const HOOK_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
/** A CNI plugin stuck for this long makes the create fail (and poststop clean up). */
const HOOK_TIMEOUT_S = 120;

export type NetworkMode =
  | { kind: 'none' }
  | { kind: 'host' }
  | { kind: 'container'; id: string }
  | { kind: 'bridge'; network: string };

export interface PortMapping {
  hostIP?: string;
  hostPort: number;
  containerPort: number;
  protocol: 'tcp' | 'udp';
}

export interface Link {
  name: string;
  alias: string;
}

export function checkNetworkName(name: string): string {
  if (!NAME_RE.test(name)) throw new TrunError('EINVAL', `invalid network name "${name}": use letters, digits, "_", "." and "-", starting with a letter or digit`);
  return name;
}

export function parseNetworkFlag(value: string): NetworkMode {
  if (value === 'none' || value === 'host') return { kind: value };
  if (value.startsWith('container:')) {
    const id = value.slice('container:'.length);
    if (!id) throw new TrunError('EINVAL', '--network container: needs a container id');
    return { kind: 'container', id };
  }
  return { kind: 'bridge', network: checkNetworkName(value) };
}

function port(s: string, flag: string): number {
  if (!/^\d{1,5}$/.test(s) || Number(s) < 1 || Number(s) > 65535) throw new TrunError('EINVAL', `--publish ${flag}: "${s}" is not a port number (1-65535)`);
  return Number(s);
}

/** `[HOST_IP:]HOST_PORT:CTR_PORT[/tcp|/udp]`. */
export function parsePublish(value: string): PortMapping {
  const [spec, proto = 'tcp', extra] = value.split('/');
  if (extra !== undefined || (proto !== 'tcp' && proto !== 'udp')) throw new TrunError('EINVAL', `--publish ${value}: the protocol must be tcp or udp`);
  const parts = spec!.split(':');
  if (parts.length < 2 || parts.length > 3) throw new TrunError('EINVAL', `--publish ${value}: expected [HOST_IP:]HOST_PORT:CONTAINER_PORT[/tcp|udp]`);
  const out: PortMapping = { hostPort: port(parts[parts.length - 2]!, value), containerPort: port(parts[parts.length - 1]!, value), protocol: proto };
  if (parts.length === 3) {
    ipToNumber(parts[0]!);
    out.hostIP = parts[0]!;
  }
  return out;
}

export function formatPublish(p: PortMapping): string {
  return `${p.hostIP ? `${p.hostIP}:` : ''}${p.hostPort}:${p.containerPort}/${p.protocol}`;
}

/** `NAME[:ALIAS]`: ALIAS defaults to NAME. */
export function parseLink(value: string): Link {
  const [name, alias = name, extra] = value.split(':');
  if (extra !== undefined || !name || !alias || !/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(name) || !/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(alias)) {
    throw new TrunError('EINVAL', `--link ${value}: expected CONTAINER[:ALIAS]`);
  }
  return { name, alias };
}

/** What the network flags do to config.json. */
export interface NetworkPlan {
  namespace: { kind: 'new' } | { kind: 'host' } | { kind: 'join'; path: string };
  hostname?: string;
  /** Bind mounts of /etc/hosts, /etc/hostname, /etc/resolv.conf; a user's mount at the same path wins. */
  mounts: Mount[];
  createRuntime: Hook[];
  poststop: Hook[];
}

export interface PlanInput {
  mode: NetworkMode;
  /** The trun-bundle command line the hooks run: [node, /abs/dist/trun-bundle.js]. */
  hookCommand: string[];
  store: string;
  /** Absolute paths of the bundle's network files (hosts, hostname, resolv.conf). */
  files: { hosts: string; hostname: string; resolvConf: string };
  publish: PortMapping[];
  links: Link[];
  hostname?: string;
  /** For `host`: the host's hostname. */
  hostHostname: string;
  /** For `container:`: the other container's netns path and the network files of its bundle. */
  joined?: { netns: string; files: Partial<Record<'hosts' | 'hostname' | 'resolvConf', string>> };
}

const ETC: Record<'hosts' | 'hostname' | 'resolvConf', string> = { hosts: '/etc/hosts', hostname: '/etc/hostname', resolvConf: '/etc/resolv.conf' };

function bind(source: string, destination: string, ro: boolean): Mount {
  return { destination, type: 'bind', source, options: ['rbind', 'rprivate', ro ? 'ro' : 'rw'] };
}

export function networkPlan(i: PlanInput): NetworkPlan {
  const { mode } = i;
  if ((i.publish.length > 0 || i.links.length > 0) && mode.kind !== 'bridge') {
    throw new TrunError('EINVAL', `--publish and --link need a bridge network, not --network ${mode.kind}`);
  }
  if (i.links.length > 0 && mode.kind === 'bridge' && mode.network !== DEFAULT_NETWORK) {
    throw new TrunError('EINVAL', `--link works on the default network "${DEFAULT_NETWORK}"; on "${mode.network}" containers reach each other by name`);
  }
  const hook = (...args: string[]): Hook => ({
    path: i.hookCommand[0]!, args: [...i.hookCommand, '--store', i.store, 'network', 'hook', ...args], env: [HOOK_PATH], timeout: HOOK_TIMEOUT_S,
  });
  const own = (names: Array<'hosts' | 'hostname' | 'resolvConf'>): Mount[] => names.map((n) => bind(i.files[n], ETC[n], false));
  const withName = <T extends object>(o: T): T & { hostname?: string } => (i.hostname !== undefined ? { ...o, hostname: i.hostname } : o);
  switch (mode.kind) {
    case 'host':
      // Docker's way: the host's files, read-only; the host's name unless one was given.
      return {
        namespace: { kind: 'host' }, hostname: i.hostname ?? i.hostHostname,
        mounts: [bind('/etc/hosts', ETC.hosts, true), bind('/etc/resolv.conf', ETC.resolvConf, true)], createRuntime: [], poststop: [],
      };
    case 'container': {
      const files = i.joined?.files ?? {};
      const mounts = (Object.keys(files) as Array<keyof typeof files>).map((n) => bind(files[n]!, ETC[n], false));
      return withName({ namespace: { kind: 'join', path: i.joined!.netns }, mounts, createRuntime: [], poststop: [] });
    }
    case 'none':
      return withName({ namespace: { kind: 'new' }, mounts: own(['hosts', 'hostname']), createRuntime: [hook('add', 'none')], poststop: [] });
    case 'bridge': {
      const extra = [...i.publish.flatMap((p) => ['--publish', formatPublish(p)]), ...i.links.flatMap((l) => ['--link', `${l.name}:${l.alias}`])];
      return withName({
        namespace: { kind: 'new' }, mounts: own(['hosts', 'hostname', 'resolvConf']),
        createRuntime: [hook('add', mode.network, ...extra)], poststop: [hook('del', mode.network)],
      });
    }
  }
}

/** Applies a plan to a generated spec (after the user's mounts, which keep their paths). */
export function applyNetworkPlan(spec: Spec, plan: NetworkPlan): void {
  const linux = (spec.linux ??= {});
  const namespaces = (linux.namespaces ?? []).filter((n) => n.type !== 'network');
  if (plan.namespace.kind === 'new') namespaces.unshift({ type: 'network' });
  if (plan.namespace.kind === 'join') namespaces.unshift({ type: 'network', path: plan.namespace.path });
  linux.namespaces = namespaces;
  if (plan.hostname !== undefined) spec.hostname = plan.hostname;
  const taken = new Set((spec.mounts ?? []).map((m) => m.destination.replace(/\/+$/, '')));
  spec.mounts = [...(spec.mounts ?? []), ...plan.mounts.filter((m) => !taken.has(m.destination))];
  if (plan.createRuntime.length > 0 || plan.poststop.length > 0) {
    const hooks = (spec.hooks ??= {});
    if (plan.createRuntime.length > 0) hooks.createRuntime = [...(hooks.createRuntime ?? []), ...plan.createRuntime];
    if (plan.poststop.length > 0) hooks.poststop = [...(hooks.poststop ?? []), ...plan.poststop];
  }
}
