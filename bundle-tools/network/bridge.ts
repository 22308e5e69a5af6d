// The host side of a bridge network that the CNI plugins do not own: the host's routes (so a new
// subnet avoids them), the network's masquerade rule (Docker's `-s SUBNET ! -o BRIDGE`; the bridge
// plugin's per-container ipMasq leaks its rules when DEL finds the netns gone), and teardown when
// the last container leaves: the bridge device and the isolation rules the firewall plugin keeps
// per bridge.
import { spawnSync } from 'node:child_process';
import { TrunError } from '../../runtime/errors';
import type { NetworkDef } from './networks';
import { parseCidr, type Subnet } from './subnet';

interface IpAddr { ifname?: string; addr_info?: Array<{ local?: string; prefixlen?: number }> }
interface IpRoute { dst?: string; dev?: string }

function run(cmd: string, args: string[]): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.error) throw new TrunError('ESYS', `run ${cmd}: ${r.error.message}`, { cause: r.error });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

function ipJson<T>(args: string[]): T[] {
  const r = run('ip', ['-j', ...args]);
  if (r.status !== 0) throw new TrunError('ESYS', `ip ${args.join(' ')}: ${r.stderr.trim()}`);
  return JSON.parse(r.stdout || '[]') as T[];
}

/** The IPv4 subnets the host routes or has addresses in, with their device (default routes aside). */
export function hostSubnets(): Array<{ subnet: Subnet; dev: string }> {
  const out: Array<{ subnet: Subnet; dev: string }> = [];
  for (const r of ipJson<IpRoute>(['-4', 'route', 'show'])) {
    if (!r.dst || r.dst === 'default') continue;
    const cidr = r.dst.includes('/') ? r.dst : `${r.dst}/32`;
    const s = parseCidr(cidr);
    out.push({ subnet: { base: s.base - (s.base % 2 ** (32 - s.prefix)), prefix: s.prefix }, dev: r.dev ?? '' });
  }
  for (const l of ipJson<IpAddr>(['-4', 'addr', 'show'])) {
    for (const a of l.addr_info ?? []) {
      if (!a.local || a.prefixlen === undefined || a.local.startsWith('127.')) continue;
      const s = parseCidr(`${a.local}/${a.prefixlen}`);
      out.push({ subnet: { base: s.base - (s.base % 2 ** (32 - s.prefix)), prefix: s.prefix }, dev: l.ifname ?? '' });
    }
  }
  return out;
}

export function linkExists(name: string): boolean {
  return run('ip', ['link', 'show', 'dev', name]).status === 0;
}

function iptables(args: string[]): { status: number; stdout: string; stderr: string } {
  return run('iptables', ['-w', '5', ...args]);
}

function masqRule(n: NetworkDef): string[] {
  return ['-s', n.subnet, '!', '-o', n.bridge, '-m', 'comment', '--comment', `trun-bundle network ${n.name}`, '-j', 'MASQUERADE'];
}

/** Outbound NAT for the network's containers; idempotent. */
export function ensureMasquerade(n: NetworkDef): void {
  if (iptables(['-t', 'nat', '-C', 'POSTROUTING', ...masqRule(n)]).status === 0) return;
  const r = iptables(['-t', 'nat', '-A', 'POSTROUTING', ...masqRule(n)]);
  if (r.status !== 0) throw new TrunError('ESYS', `iptables: add the masquerade rule of network "${n.name}": ${r.stderr.trim()}`);
}

/** Splits one line of `iptables -S` into words, honouring the double quotes around comments. */
export function splitRule(line: string): string[] {
  const out: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  for (let m = re.exec(line); m; m = re.exec(line)) out.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : m[2]!);
  return out;
}

/** The rules of `chain` (in `table`) that name `dev` as in- or out-interface, as -D argument lists. */
export function rulesNaming(rules: string, chain: string, dev: string): string[][] {
  const out: string[][] = [];
  for (const line of rules.split('\n')) {
    const w = splitRule(line);
    if (w[0] !== '-A' || w[1] !== chain) continue;
    const named = w.some((x, i) => (x === '-i' || x === '-o') && w[i + 1] === dev);
    if (named) out.push(['-D', ...w.slice(1)]);
  }
  return out;
}

/**
 * Takes down what a network leaves on the host once no container uses it: the bridge, its
 * masquerade rule and the firewall plugin's per-bridge isolation rules. Every step tolerates
 * "already gone"; the first real failure is reported after all steps were tried.
 */
export function teardownNetwork(n: NetworkDef): void {
  const errors: string[] = [];
  if (linkExists(n.bridge)) {
    const r = run('ip', ['link', 'del', 'dev', n.bridge]);
    if (r.status !== 0 && linkExists(n.bridge)) errors.push(`ip link del ${n.bridge}: ${r.stderr.trim()}`);
  }
  while (iptables(['-t', 'nat', '-C', 'POSTROUTING', ...masqRule(n)]).status === 0) {
    const r = iptables(['-t', 'nat', '-D', 'POSTROUTING', ...masqRule(n)]);
    if (r.status !== 0) {
      errors.push(`iptables -t nat -D POSTROUTING: ${r.stderr.trim()}`);
      break;
    }
  }
  for (const chain of ['CNI-ISOLATION-STAGE-1', 'CNI-ISOLATION-STAGE-2']) {
    const list = iptables(['-t', 'filter', '-S', chain]);
    if (list.status !== 0) continue; // chain absent: nothing of ours in it
    for (const del of rulesNaming(list.stdout, chain, n.bridge)) {
      const r = iptables(['-t', 'filter', ...del]);
      if (r.status !== 0) errors.push(`iptables ${del.join(' ')}: ${r.stderr.trim()}`);
    }
  }
  if (errors.length > 0) throw new TrunError('ESYS', `take down network "${n.name}": ${errors.join('; ')}`);
}
