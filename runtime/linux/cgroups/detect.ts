// Which cgroup hierarchies this host has (v1, v2 or hybrid) and which side owns each controller,
// read from /proc/self/mountinfo and the unified mount's cgroup.controllers; plus /proc/self/cgroup.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { unescapeMountField } from '../mountinfo';

/** One mounted v1 hierarchy: its controllers (co-mounted ones share a hierarchy) or its name=. */
export interface V1Hierarchy {
  mountpoint: string;
  /** The hierarchy path mounted there (mountinfo field 4): "/" unless bind-mounted or namespaced. */
  root: string;
  /** Controllers attached to it, e.g. ["cpu", "cpuacct"]; empty for a named hierarchy. */
  controllers: string[];
  /** "name=systemd" for a named hierarchy. */
  name?: string;
}

export interface UnifiedHierarchy {
  mountpoint: string;
  root: string;
  /** Controllers this mount owns (its cgroup.controllers), none of which is also bound on v1. */
  controllers: string[];
}

export type CgroupMode = 'v1' | 'v2' | 'hybrid';

export interface CgroupHost {
  mode: CgroupMode;
  v1: V1Hierarchy[];
  unified?: UnifiedHierarchy;
}

interface CgroupMount {
  fstype: 'cgroup' | 'cgroup2';
  mountpoint: string;
  root: string;
  superOptions: string[];
}

/** The cgroup and cgroup2 mounts in mountinfo text, in mount order. */
export function parseCgroupMounts(mountinfo: string): CgroupMount[] {
  const out: CgroupMount[] = [];
  for (const line of mountinfo.split('\n')) {
    // "36 35 98:0 /root /mnt rw,opts [optional fields...] - fstype source superopts"
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const left = line.slice(0, sep).split(' ');
    const right = line.slice(sep + 3).split(' ');
    const fstype = right[0];
    if (fstype !== 'cgroup' && fstype !== 'cgroup2') continue;
    if (left.length < 5) continue;
    out.push({
      fstype,
      root: unescapeMountField(left[3] ?? '/'),
      mountpoint: unescapeMountField(left[4] ?? ''),
      superOptions: (right[2] ?? '').split(','),
    });
  }
  return out;
}

/** Options of a v1 cgroup mount that are not controller names. */
const V1_NON_CONTROLLER_OPTIONS = new Set(['rw', 'ro', 'noprefix', 'clone_children', 'xattr', 'cpuset_v2_mode', 'favordynmods', 'nofavordynmods', 'none', 'all']);

/**
 * Builds the host description from mountinfo text. `readControllers` returns the words of a
 * cgroup2 mount's cgroup.controllers (injected so that fixtures can be parsed without a kernel).
 * The first mount of a hierarchy wins: later ones are bind mounts of the same thing.
 */
export function detectHost(mountinfo: string, readControllers: (mountpoint: string) => string[]): CgroupHost {
  const v1: V1Hierarchy[] = [];
  const seen = new Set<string>();
  let unified: UnifiedHierarchy | undefined;
  for (const m of parseCgroupMounts(mountinfo)) {
    if (m.fstype === 'cgroup2') {
      if (!unified) unified = { mountpoint: m.mountpoint, root: m.root, controllers: readControllers(m.mountpoint) };
      continue;
    }
    const name = m.superOptions.find((o) => o.startsWith('name='));
    const controllers = m.superOptions.filter((o) => !o.includes('=') && !V1_NON_CONTROLLER_OPTIONS.has(o));
    const key = name ?? controllers.slice().sort().join(',');
    if (key === '' || seen.has(key)) continue;
    seen.add(key);
    const h: V1Hierarchy = { mountpoint: m.mountpoint, root: m.root, controllers };
    if (name !== undefined) h.name = name;
    v1.push(h);
  }
  // A controller is attached to one hierarchy at a time, but be explicit: v1 wins on a clash.
  const onV1 = new Set(v1.flatMap((h) => h.controllers));
  if (unified) unified.controllers = unified.controllers.filter((c) => !onV1.has(c));
  const hasV1Controllers = onV1.size > 0;
  const mode: CgroupMode = unified ? (hasV1Controllers ? 'hybrid' : 'v2') : 'v1';
  const host: CgroupHost = { mode, v1 };
  if (unified) host.unified = unified;
  return host;
}

function readControllersFile(mountpoint: string): string[] {
  try {
    return fs.readFileSync(path.join(mountpoint, 'cgroup.controllers'), 'utf8').split(/\s+/).filter(Boolean);
  } catch {
    return [];
  }
}

/** The running host, from /proc/self/mountinfo. */
export function detectSystemHost(): CgroupHost {
  return detectHost(fs.readFileSync('/proc/self/mountinfo', 'utf8'), readControllersFile);
}

/**
 * /proc/<pid>/cgroup as a map: v1 controller names and "name=x" to their path, and "" (the
 * unified hierarchy, line "0::/path") to its path.
 */
export function parseProcCgroup(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line);
    if (!m) continue;
    const list = m[2] ?? '';
    const p = m[3] ?? '/';
    if (list === '') out.set('', p);
    else for (const c of list.split(',')) out.set(c, p);
  }
  return out;
}

export function readSelfCgroup(): Map<string, string> {
  return parseProcCgroup(fs.readFileSync('/proc/self/cgroup', 'utf8'));
}
