// IPv4 subnets for bridge networks: parsing CIDRs, overlap checks and picking a free /24 for a
// network made without --subnet. Pure: the caller supplies the subnets already in use.
import { TrunError } from '../../runtime/errors';

export interface Subnet {
  /** Network address as an unsigned 32-bit number. */
  base: number;
  prefix: number;
}

/** Where auto-picked subnets come from: 10.89.0.0/24, 10.89.1.0/24, ... 10.89.255.0/24. */
const POOL_BASE = ipToNumber('10.89.0.0');
const POOL_SIZE = 256;

/** Private ranges (RFC 1918): the only places trun-bundle puts a bridge. */
const PRIVATE: Subnet[] = [parseCidr('10.0.0.0/8'), parseCidr('172.16.0.0/12'), parseCidr('192.168.0.0/16')];

export function ipToNumber(ip: string): number {
  const parts = ip.split('.');
  if (parts.length !== 4 || !parts.every((p) => /^(0|[1-9]\d{0,2})$/.test(p) && Number(p) <= 255)) {
    throw new TrunError('EINVAL', `"${ip}" is not an IPv4 address`);
  }
  return parts.reduce((n, p) => n * 256 + Number(p), 0);
}

export function numberToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export function parseCidr(cidr: string): Subnet {
  const m = /^([0-9.]+)\/(\d{1,2})$/.exec(cidr);
  if (!m || Number(m[2]) > 32) throw new TrunError('EINVAL', `"${cidr}" is not an IPv4 subnet (like 10.90.0.0/24)`);
  return { base: ipToNumber(m[1]!), prefix: Number(m[2]) };
}

export function formatCidr(s: Subnet): string {
  return `${numberToIp(s.base)}/${s.prefix}`;
}

function size(s: Subnet): number {
  return 2 ** (32 - s.prefix);
}

export function overlaps(a: Subnet, b: Subnet): boolean {
  return a.base < b.base + size(b) && b.base < a.base + size(a);
}

export function contains(outer: Subnet, inner: Subnet): boolean {
  return inner.base >= outer.base && inner.base + size(inner) <= outer.base + size(outer);
}

/** A subnet a user asked for: a network address, room for a gateway and one container, private. */
export function checkUserSubnet(cidr: string): Subnet {
  const s = parseCidr(cidr);
  if (s.prefix > 30) throw new TrunError('EINVAL', `subnet ${cidr} is too small: a bridge network needs at least a /30`);
  if (s.base % size(s) !== 0) {
    throw new TrunError('EINVAL', `subnet ${cidr} has host bits set (did you mean ${formatCidr({ base: s.base - (s.base % size(s)), prefix: s.prefix })}?)`);
  }
  if (!PRIVATE.some((p) => contains(p, s))) throw new TrunError('EINVAL', `subnet ${cidr} is not in a private range (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16)`);
  return s;
}

/** The gateway of a bridge network: the first address, given to the bridge. */
export function gatewayOf(s: Subnet): string {
  return numberToIp(s.base + 1);
}

/** How many containers fit: all addresses but network, gateway and broadcast. */
export function capacity(s: Subnet): number {
  return Math.max(0, size(s) - 3);
}

/** The first /24 of the pool that overlaps nothing in `used`, or null when the pool is full. */
export function pickSubnet(used: readonly Subnet[]): Subnet | null {
  for (let i = 0; i < POOL_SIZE; i++) {
    const s: Subnet = { base: POOL_BASE + i * 256, prefix: 24 };
    if (!used.some((u) => overlaps(u, s))) return s;
  }
  return null;
}
