// The OCI hooks of a networked container. `add` (createRuntime: the container's namespaces exist,
// its process waits) brings lo up and, on a bridge network, runs the CNI chain and writes the
// hosts files; `del` (poststop: at delete, after a failed create, after `delete --force` of a
// create whose trun was killed) undoes what the attachment record says was done. Both are
// idempotent; DEL works with the netns gone, and kills an ADD still running for the container.
//
// Order, so that a kill at any point leaves something DEL can finish:
//   ADD  lock: record "adding" (+ masquerade rule)  ->  each plugin: note it in `ran`, run it,
//        store its result  ->  lock: record "ready", hosts files of the network's containers
//   DEL  lock: kill a live ADD of this container, mark "deleting"  ->  DEL of `ran`, reversed,
//        with the last result as prevResult  ->  lock: drop the record, hosts files, and the
//        bridge with its rules when no container is left on the network
import * as fs from 'node:fs';
import { TrunError } from '../../runtime/errors';
import { hostSubnets, ensureMasquerade, linkExists, teardownNetwork } from './bridge';
import { bundleHostname, bundleNetworkFiles } from './bundle-network';
import { claim, otherClaims, release } from './claims';
import { bridgeChain, containerAddress, hostVeth, DEFAULT_CNI_PATH, execPlugin, LOOPBACK, pluginInput, type CniResult } from './cni';
import { hostsText, rewriteInPlace, type HostsEntry } from './hosts';
import { DEFAULT_NETWORK, type Link, type PortMapping } from './modes';
import { openNetns, procRef, refAlive } from './netns';
import type { Attachment, NetworkDef, NetworkStore, ProcRef } from './networks';
import { overlaps, parseCidr, type Subnet } from './subnet';

const IFNAME = 'eth0';

/** The part of the OCI state a hook reads from stdin. */
export interface HookState {
  id: string;
  pid: number;
  bundle: string;
}

export function parseHookState(text: string): HookState {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new TrunError('EINVAL', 'network hook: stdin is not the container state (JSON)');
  }
  const o = v as Partial<Record<keyof HookState, unknown>>;
  if (typeof o.id !== 'string' || !o.id) throw new TrunError('EINVAL', 'network hook: the state has no container id');
  return { id: o.id, pid: typeof o.pid === 'number' ? o.pid : 0, bundle: typeof o.bundle === 'string' ? o.bundle : '' };
}

export interface AddOptions {
  net: NetworkStore;
  network: string;
  state: HookState;
  publish: PortMapping[];
  links: Link[];
  cniPath?: string;
}

/** createRuntime: lo up; on a bridge network the CNI chain and the hosts files. */
export async function hookAdd(o: AddOptions): Promise<Attachment | null> {
  const { state, net } = o;
  const cniPath = o.cniPath ?? DEFAULT_CNI_PATH;
  if (!(state.pid > 0)) throw new TrunError('EINVAL', 'network hook: the state has no pid (the hook runs as createRuntime)', { id: state.id });
  const ns = openNetns(state.pid, 0);
  if (!ns) throw new TrunError('ESYS', `network hook: container process ${state.pid} is gone`, { id: state.id });
  try {
    await execPlugin('loopback', pluginInput('lo', LOOPBACK, undefined), { command: 'ADD', containerId: state.id, netns: ns.path, ifname: 'lo', cniPath });
    if (o.network === 'none') return null;

    const prior = await net.withLock(() => net.attachment(state.id));
    if (prior && prior.status === 'ready' && prior.netnsIno === ns.ino && prior.network === o.network) return prior; // done before
    if (prior) await hookDel(net, state.id);

    const hostsFile = state.bundle ? bundleNetworkFiles(state.bundle).hosts : null;
    const hostname = bundleHostname(state.bundle) ?? state.id;
    let def!: NetworkDef;
    const a: Attachment = {
      version: 1, id: state.id, network: o.network, status: 'adding', hook: procRef(process.pid), pid: state.pid, netnsIno: ns.ino, ifname: IFNAME,
      hostname, hostsFile: hostsFile && fs.existsSync(hostsFile) ? hostsFile : null, links: o.links, ports: o.publish, cniPath, ran: [],
      created: new Date().toISOString(),
    };
    await net.withLock(() => {
      const used = hostSubnets();
      def = claimSubnet(net, net.get(o.network, [...used.map((u) => u.subnet), ...claimed(net, o.network)]), used);
      checkAdd(net, def, a);
      net.saveAttachment(a);
      ensureMasquerade(def);
    });

    try {
      let prev: CniResult | undefined;
      for (const conf of bridgeChain(def, net.ipamDir, o.publish)) {
        a.ran.push(conf.type);
        net.saveAttachment(a);
        prev = await execPlugin(conf.type, pluginInput(def.name, conf, prev), {
          command: 'ADD', containerId: state.id, netns: ns.path, ifname: IFNAME, cniPath,
          onSpawn: (pid) => {
            a.plugin = procRef(pid);
            net.saveAttachment(a);
          },
        });
        delete a.plugin;
        a.result = prev;
        net.saveAttachment(a);
      }
    } catch (err) {
      await hookDel(net, state.id).catch(() => undefined);
      throw explainAddError(err, def);
    }

    return await net.withLock(() => {
      Object.assign(a, containerAddress(a.result as CniResult | undefined, IFNAME), { status: 'ready' });
      const veth = hostVeth(a.result as CniResult | undefined, def.bridge);
      if (veth) a.veth = veth;
      net.saveAttachment(a);
      refreshHosts(net, def.name);
      return a;
    });
  } finally {
    ns.close();
  }
}

function claimed(net: NetworkStore, network: string): Subnet[] {
  return otherClaims(net.storeRoot, network).map((c) => parseCidr(c.subnet));
}

/**
 * Claims the network's subnet host-wide before its bridge exists. The default network moves to a
 * free subnet when another store's network or a host route took its old one meanwhile.
 */
function claimSubnet(net: NetworkStore, def: NetworkDef, used: ReturnType<typeof hostSubnets>): NetworkDef {
  const idle = !linkExists(def.bridge) && !net.attachments().some((x) => x.network === def.name);
  const routed = (d: NetworkDef) => !linkExists(d.bridge) && used.some((u) => u.dev !== d.bridge && overlaps(u.subnet, parseCidr(d.subnet)));
  const take = (d: NetworkDef) => claim({ subnet: d.subnet, store: net.storeRoot, network: d.name, bridge: d.bridge });
  let clash = routed(def) ? null : take(def);
  if ((clash || routed(def)) && idle && def.name === DEFAULT_NETWORK) {
    def = net.resubnet(def, [...used.map((u) => u.subnet), ...claimed(net, def.name)]);
    clash = take(def);
  }
  if (clash) throw new TrunError('EINVAL', `network "${def.name}": subnet ${def.subnet} is in use on this host by network "${clash.network}" of store ${clash.store}`);
  const route = routed(def) ? used.find((u) => overlaps(u.subnet, parseCidr(def.subnet))) : undefined;
  if (route) throw new TrunError('EINVAL', `network "${def.name}": subnet ${def.subnet} is already routed on the host (device ${route.dev})`);
  return def;
}

/** What must hold before a container joins: link targets, free host ports. */
function checkAdd(net: NetworkStore, _def: NetworkDef, a: Attachment): void {
  const others = net.attachments().filter((x) => x.id !== a.id && x.status !== 'deleting');
  for (const l of a.links) {
    const t = others.find((x) => x.id === l.name && x.network === DEFAULT_NETWORK && x.status === 'ready');
    if (!t) throw new TrunError('EINVAL', `--link ${l.name}: no running container "${l.name}" on the default network "${DEFAULT_NETWORK}"`, { id: a.id });
  }
  for (const p of a.ports) {
    const holder = others.find((x) => x.ports.some((q) => q.hostPort === p.hostPort && q.protocol === p.protocol && (!q.hostIP || !p.hostIP || q.hostIP === p.hostIP)));
    if (holder) throw new TrunError('EINVAL', `host port ${p.hostPort}/${p.protocol} is already published by container "${holder.id}"`, { id: a.id });
  }
}

function explainAddError(err: unknown, def: NetworkDef): unknown {
  if (err instanceof Error && /no IP addresses available/.test(err.message)) {
    return new TrunError('EBUNDLE', `network "${def.name}": no free address left in ${def.subnet}`, { cause: err });
  }
  return err;
}

/** poststop: undoes the container's attachment; a container with none is fine. */
export async function hookDel(net: NetworkStore, id: string): Promise<void> {
  const a = await net.withLock(async () => {
    let cur = net.attachment(id);
    if (!cur) return null;
    if (cur.status === 'adding' && cur.hook.pid !== process.pid && refAlive(cur.hook)) {
      // An ADD whose trun was killed: the container is going away, so it has nothing left to do.
      await killAndWait(cur.plugin, true);
      await killAndWait(cur.hook, false);
      cur = net.attachment(id) ?? cur;
    } else if (cur.plugin && cur.hook.pid !== process.pid) {
      await killAndWait(cur.plugin, true);
    }
    cur.status = 'deleting';
    net.saveAttachment(cur);
    return cur;
  });
  if (!a) return;

  const errors: string[] = [];
  let def: NetworkDef | null = null;
  try {
    def = net.get(a.network);
  } catch (err) {
    errors.push((err as Error).message);
  }
  if (def) {
    const ns = openNetns(a.pid, a.netnsIno);
    try {
      const chain = bridgeChain(def, net.ipamDir, a.ports).filter((c) => a.ran.includes(c.type)).reverse();
      for (const conf of chain) {
        try {
          await execPlugin(conf.type, pluginInput(def.name, conf, a.result), { command: 'DEL', containerId: id, netns: ns?.path ?? '', ifname: a.ifname, cniPath: a.cniPath });
        } catch (err) {
          errors.push((err as Error).message);
        }
      }
    } finally {
      ns?.close();
    }
  }

  await net.withLock(() => {
    net.removeAttachment(id);
    refreshHosts(net, a.network);
    if (def && !net.attachments().some((x) => x.network === a.network)) {
      try {
        teardownNetwork(def);
        release({ subnet: def.subnet, store: net.storeRoot, network: def.name });
      } catch (err) {
        errors.push((err as Error).message);
      }
    }
  });
  if (errors.length > 0) throw new TrunError('ESYS', `network teardown of container ${id}: ${errors.join('; ')}`, { id });
}

async function killAndWait(r: ProcRef | undefined, group: boolean): Promise<void> {
  if (!refAlive(r)) return;
  try {
    process.kill(group ? -r!.pid : r!.pid, 'SIGKILL');
  } catch {
    try {
      process.kill(r!.pid, 'SIGKILL');
    } catch {
      return;
    }
  }
  for (let i = 0; i < 250 && refAlive(r); i++) await new Promise((res) => setTimeout(res, 20));
}

/** The hosts file of a container on `network`: itself; the others on a user network; its links. */
export function hostsEntries(self: Attachment, all: readonly Attachment[]): HostsEntry[] {
  const addr = (a: Attachment): string => a.ip!.split('/')[0]!;
  const ready = all.filter((x) => x.status === 'ready' && x.ip && x.id !== self.id && x.network === self.network);
  const out: HostsEntry[] = [{ ip: addr(self), names: [self.hostname, self.id] }];
  if (self.network !== DEFAULT_NETWORK) for (const m of ready) out.push({ ip: addr(m), names: [m.id] });
  for (const l of self.links) {
    const t = ready.find((x) => x.id === l.name);
    if (t) out.push({ ip: addr(t), names: [l.alias, l.name] });
  }
  return out;
}

/** Rewrites (in place) the hosts file of every ready container on `network`. Call under the lock. */
function refreshHosts(net: NetworkStore, network: string): void {
  const all = net.attachments();
  for (const c of all) {
    if (c.network !== network || c.status !== 'ready' || !c.ip || !c.hostsFile) continue;
    rewriteInPlace(c.hostsFile, hostsText(hostsEntries(c, all)));
  }
}
