// Host-wide claims on subnets, so that two stores (each with its own default network) never set
// up bridges on overlapping subnets: /run/trun-bundle/subnets/A.B.C.D_P, made with O_EXCL when a
// network's bridge is about to exist, removed when it is taken down. A claim whose bridge is gone
// and whose network has no container left (its store crashed, the host rebooted) is stale.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { sysError } from '../../runtime/errors';
import { linkExists } from './bridge';
import { overlaps, parseCidr, type Subnet } from './subnet';

export const CLAIMS_DIR = '/run/trun-bundle/subnets';

export interface Claim {
  subnet: string;
  store: string;
  network: string;
  bridge: string;
}

function file(dir: string, cidr: string): string {
  return path.join(dir, cidr.replace('/', '_'));
}

function read(f: string): Claim | null {
  try {
    return JSON.parse(fs.readFileSync(f, 'utf8')) as Claim;
  } catch {
    return null;
  }
}

function stale(c: Claim): boolean {
  if (linkExists(c.bridge)) return false;
  const containers = path.join(c.store, 'networks', 'containers');
  let names: string[] = [];
  try {
    names = fs.readdirSync(containers).filter((n) => n.endsWith('.json'));
  } catch {
    return true; // the store is gone
  }
  for (const n of names) {
    try {
      if ((JSON.parse(fs.readFileSync(path.join(containers, n), 'utf8')) as { network?: string }).network === c.network) return false;
    } catch {
      return false; // being written: assume in use
    }
  }
  return true;
}

/** Live claims of other networks (stale ones are removed). */
export function otherClaims(store: string, network: string, dir = CLAIMS_DIR): Claim[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  const out: Claim[] = [];
  for (const n of names) {
    const c = read(path.join(dir, n));
    if (!c) continue;
    if (c.store === store && c.network === network) continue;
    if (stale(c)) {
      fs.rmSync(path.join(dir, n), { force: true });
      continue;
    }
    out.push(c);
  }
  return out;
}

/** Claims `subnet` for a network; returns the live claim of another network that overlaps it, or null when claimed. */
export function claim(c: Claim, dir = CLAIMS_DIR): Claim | null {
  const s: Subnet = parseCidr(c.subnet);
  const clash = otherClaims(c.store, c.network, dir).find((o) => overlaps(parseCidr(o.subnet), s));
  if (clash) return clash;
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw sysError('mkdir', dir, err);
  }
  const f = file(dir, c.subnet);
  try {
    fs.writeFileSync(f, JSON.stringify(c), { flag: 'wx', mode: 0o600 });
    return null;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw sysError('create', f, err);
  }
  const held = read(f);
  if (held && held.store === c.store && held.network === c.network) return null;
  return held ?? c;
}

export function release(c: Pick<Claim, 'subnet' | 'store' | 'network'>, dir = CLAIMS_DIR): void {
  const f = file(dir, c.subnet);
  const held = read(f);
  if (held && held.store === c.store && held.network === c.network) fs.rmSync(f, { force: true });
}
