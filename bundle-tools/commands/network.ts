// trun-bundle network create|ls|inspect|rm, and `network hook add|del`, which config.json runs as
// the createRuntime and poststop hooks of a networked container.
import { TrunError } from '../../runtime/errors';
import { hostSubnets, teardownNetwork } from '../network/bridge';
import { otherClaims, release } from '../network/claims';
import { hookAdd, hookDel, parseHookState } from '../network/hook';
import { BUILTIN_NETWORKS, DEFAULT_NETWORK, parseLink, parsePublish } from '../network/modes';
import { networkStore, type NetworkDef } from '../network/networks';
import { capacity, parseCidr } from '../network/subnet';

export async function networkCreate(o: { store: string; name: string; subnet?: string }): Promise<NetworkDef> {
  const net = networkStore(o.store);
  return net.withLock(() => {
    const taken = otherClaims(net.storeRoot, o.name).map((c) => ({ subnet: parseCidr(c.subnet), dev: `${c.bridge} (store ${c.store})` }));
    return net.create(o.name, o.subnet, [...hostSubnets(), ...taken]);
  });
}

export interface NetworkRow {
  name: string;
  driver: string;
  subnet: string;
  bridge: string;
  containers: number;
}

export async function networkLs(o: { store: string }): Promise<NetworkRow[]> {
  const net = networkStore(o.store);
  return net.withLock(() => {
    const all = net.attachments();
    const rows: NetworkRow[] = net.list(hostSubnets().map((h) => h.subnet)).map((n) => ({
      name: n.name, driver: n.driver, subnet: n.subnet, bridge: n.bridge, containers: all.filter((a) => a.network === n.name).length,
    }));
    rows.push({ name: 'host', driver: 'host', subnet: '', bridge: '', containers: 0 }, { name: 'none', driver: 'null', subnet: '', bridge: '', containers: 0 });
    return rows;
  });
}

/** `docker network inspect`'s shape: the network, its IPAM config and its containers with addresses and MACs. */
export async function networkInspect(o: { store: string; names: string[] }): Promise<object[]> {
  const net = networkStore(o.store);
  return net.withLock(() => {
    const all = net.attachments();
    return o.names.map((name) => {
      if (BUILTIN_NETWORKS.includes(name)) return { Name: name, Driver: name === 'host' ? 'host' : 'null', Containers: {} };
      const n = net.get(name, name === DEFAULT_NETWORK ? hostSubnets().map((h) => h.subnet) : []);
      const containers: Record<string, object> = {};
      for (const a of all.filter((x) => x.network === name)) {
        containers[a.id] = {
          Name: a.id, Status: a.status, Hostname: a.hostname, MacAddress: a.mac ?? '', IPv4Address: a.ip ?? '', HostInterface: a.veth ?? '',
          Ports: a.ports.map((p) => ({ HostIp: p.hostIP ?? '', HostPort: p.hostPort, ContainerPort: p.containerPort, Protocol: p.protocol })),
          Links: a.links.map((l) => `${l.name}:${l.alias}`),
        };
      }
      return {
        Name: n.name, Id: n.id, Created: n.created, Driver: n.driver, Default: n.name === DEFAULT_NETWORK,
        IPAM: { Driver: 'host-local', Config: [{ Subnet: n.subnet, Gateway: n.gateway }], Capacity: capacity(parseCidr(n.subnet)) },
        Options: { bridge: n.bridge }, Containers: containers,
      };
    });
  });
}

/** Removes networks no container uses, with their bridge and rules; the default one returns, fresh, on next use. */
export async function networkRm(o: { store: string; names: string[] }): Promise<string[]> {
  const net = networkStore(o.store);
  const removed: string[] = [];
  const builtin = o.names.find((n) => BUILTIN_NETWORKS.includes(n));
  if (builtin) throw new TrunError('EINVAL', `network "${builtin}" is pre-defined and cannot be removed`);
  for (const name of o.names) {
    await net.withLock(() => {
      const n = net.get(name);
      const users = net.attachments().filter((a) => a.network === name).map((a) => a.id);
      if (users.length > 0) throw new TrunError('EINVAL', `network "${name}" is in use by container${users.length > 1 ? 's' : ''} ${users.join(', ')}`);
      teardownNetwork(n);
      release({ subnet: n.subnet, store: net.storeRoot, network: n.name });
      net.forget(name);
    });
    removed.push(name);
  }
  return removed;
}

export interface NetworkHookCommand {
  store: string;
  action: string;
  network: string;
  stdin: string;
  publish: string[];
  links: string[];
  cniPath?: string;
}

export async function networkHook(c: NetworkHookCommand): Promise<void> {
  const state = parseHookState(c.stdin);
  const net = networkStore(c.store);
  if (c.action === 'add') {
    await hookAdd({
      net, network: c.network, state, publish: c.publish.map(parsePublish), links: c.links.map(parseLink),
      ...(c.cniPath !== undefined ? { cniPath: c.cniPath } : {}),
    });
  } else if (c.action === 'del') {
    await hookDel(net, state.id);
  } else {
    throw new TrunError('EINVAL', `network hook: unknown action "${c.action}" (add or del)`);
  }
}
