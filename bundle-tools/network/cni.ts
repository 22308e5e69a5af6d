// CNI plugin invocation (the CNI spec's "execution protocol"): the network configuration on stdin,
// CNI_* variables in the environment, a result or an error object on stdout. Also the plugin
// chain for a bridge network: bridge with host-local IPAM, firewall (with Docker-like isolation
// between bridges), and portmap when ports are published.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TrunError } from '../../runtime/errors';
import type { PortMapping } from './modes';
import type { NetworkDef } from './networks';

export const CNI_VERSION = '1.0.0';
export const DEFAULT_CNI_PATH = '/usr/lib/cni';

export interface CniResult {
  cniVersion?: string;
  interfaces?: Array<{ name: string; mac?: string; sandbox?: string }>;
  ips?: Array<{ address: string; gateway?: string; interface?: number }>;
  routes?: unknown[];
  dns?: unknown;
}

export interface CniCall {
  command: 'ADD' | 'DEL';
  containerId: string;
  /** "" for a DEL whose netns is gone (the plugins then only release what lives on the host). */
  netns: string;
  ifname: string;
  cniPath: string;
  /** Told the plugin's pid as soon as it runs (its own process group, so a DEL can kill it and its children). */
  onSpawn?: (pid: number) => void;
}

export type PluginConf = Record<string, unknown> & { type: string };

/** The plugins of a bridge network, in ADD order (each without name/cniVersion/prevResult). */
export function bridgeChain(n: NetworkDef, ipamDir: string, ports: readonly PortMapping[]): PluginConf[] {
  const chain: PluginConf[] = [
    {
      type: 'bridge', bridge: n.bridge, isDefaultGateway: true, ipMasq: false, hairpinMode: true,
      ipam: { type: 'host-local', dataDir: ipamDir, ranges: [[{ subnet: n.subnet, gateway: n.gateway }]] },
    },
    { type: 'firewall', backend: 'iptables', ingressPolicy: 'same-bridge' },
  ];
  if (ports.length > 0) {
    const portMappings = ports.map((p) => ({ hostPort: p.hostPort, containerPort: p.containerPort, protocol: p.protocol, ...(p.hostIP ? { hostIP: p.hostIP } : {}) }));
    chain.push({ type: 'portmap', capabilities: { portMappings: true }, snat: true, runtimeConfig: { portMappings } });
  }
  return chain;
}

export const LOOPBACK: PluginConf = { type: 'loopback' };

/** The full configuration a plugin reads on stdin. */
export function pluginInput(network: string, conf: PluginConf, prevResult: unknown): string {
  return JSON.stringify({ cniVersion: CNI_VERSION, name: network, ...conf, ...(prevResult !== undefined ? { prevResult } : {}) });
}

function findPlugin(type: string, cniPath: string): string {
  for (const dir of cniPath.split(':').filter(Boolean)) {
    const p = path.join(dir, type);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      continue;
    }
  }
  throw new TrunError('ESYS', `cni plugin "${type}" not found in ${cniPath} (install containernetworking-plugins)`);
}

/** Runs one plugin; resolves with its result (ADD) or undefined (DEL). */
export function execPlugin(type: string, stdin: string, c: CniCall): Promise<CniResult | undefined> {
  const bin = findPlugin(type, c.cniPath);
  const env: Record<string, string> = {
    CNI_COMMAND: c.command, CNI_CONTAINERID: c.containerId, CNI_NETNS: c.netns, CNI_IFNAME: c.ifname, CNI_PATH: c.cniPath,
    PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
  };
  return new Promise((resolve, reject) => {
    const child = spawn(bin, [], { env, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    if (child.pid !== undefined) c.onSpawn?.(child.pid);
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { if (err.length < 8192) err += d.toString(); });
    child.stdin.on('error', () => { /* the plugin may exit without reading */ });
    child.stdin.end(stdin);
    child.on('error', (e) => reject(new TrunError('ESYS', `cni plugin ${type} ${c.command}: ${e.message}`, { cause: e })));
    child.on('close', (code, signal) => {
      if (code === 0) {
        if (c.command !== 'ADD' || out.trim() === '') return resolve(undefined);
        try {
          return resolve(JSON.parse(out) as CniResult);
        } catch {
          return reject(new TrunError('ESYS', `cni plugin ${type} ${c.command}: result is not JSON`));
        }
      }
      reject(new TrunError('ESYS', `cni plugin ${type} ${c.command}: ${pluginError(out, err, code, signal)}`));
    });
  });
}

function pluginError(out: string, err: string, code: number | null, signal: NodeJS.Signals | null): string {
  try {
    const e = JSON.parse(out) as { msg?: string; details?: string };
    if (e.msg) return e.details ? `${e.msg}: ${e.details}` : e.msg;
  } catch {
    // not the CNI error object
  }
  const how = signal ? `killed by signal ${signal}` : `exit status ${code}`;
  const tail = (err || out).trim().split('\n').slice(-2).join('; ');
  return tail ? `${how}: ${tail}` : how;
}

/** The host end of the container's veth (the result's interface outside any sandbox that is not the bridge). */
export function hostVeth(r: CniResult | undefined, bridge: string): string | undefined {
  return r?.interfaces?.find((i) => !i.sandbox && i.name !== bridge)?.name;
}

/** The container side of a result: its address (CIDR) and MAC on `ifname`. */
export function containerAddress(r: CniResult | undefined, ifname: string): { ip?: string; mac?: string } {
  if (!r) return {};
  const idx = (r.interfaces ?? []).findIndex((i) => i.name === ifname && i.sandbox);
  const out: { ip?: string; mac?: string } = {};
  const mac = idx >= 0 ? r.interfaces![idx]!.mac : undefined;
  if (mac) out.mac = mac;
  const ip = (r.ips ?? []).find((a) => a.interface === idx && !a.address.includes(':')) ?? (r.ips ?? []).find((a) => !a.address.includes(':'));
  if (ip) out.ip = ip.address;
  return out;
}
