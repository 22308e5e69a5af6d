// Where a container's cgroup lives on each hierarchy: linux.cgroupsPath (absolute, relative,
// systemd "slice:prefix:name" form, or the default) resolved to one directory per hierarchy.
import * as path from 'node:path';
import { TrunError } from '../../errors';
import type { CgroupHost } from './detect';

/** Key of the unified (cgroup2) directory in a paths record; v1 keys are controller names or "name=x". */
export const UNIFIED = 'unified';

/** The parent of containers created without a cgroupsPath: `/trun/<id>` on every hierarchy. */
export const DEFAULT_PARENT = '/trun';
/** systemd form defaults, as runc: the unit `<prefix>-<id>.scope` in system.slice. */
export const DEFAULT_SLICE = 'system.slice';
export const DEFAULT_SCOPE_PREFIX = 'trun';

export interface InnerPath {
  /** Slash-separated path below the base, never empty after resolution. */
  path: string;
  /** Relative to the runtime's own cgroup on each hierarchy rather than to the hierarchy root. */
  relative: boolean;
}

function invalid(message: string, p: string, id?: string): TrunError {
  const details: { path: string; id?: string } = { path: p };
  if (id !== undefined) details.id = id;
  return new TrunError('EINVAL', message, details);
}

/**
 * systemd slice names nest by dashes: "a-b-c.slice" is /a.slice/a-b.slice/a-b-c.slice; "-.slice"
 * is the root slice. We only compute the path systemd would use; nothing talks to systemd.
 */
export function expandSlice(slice: string): string {
  if (!slice.endsWith('.slice') || slice.includes('/')) throw invalid(`invalid systemd slice name "${slice}"`, slice);
  if (slice === '-.slice') return '/';
  const stem = slice.slice(0, -'.slice'.length);
  if (stem === '' || stem.startsWith('-') || stem.endsWith('-') || stem.includes('--')) {
    throw invalid(`invalid systemd slice name "${slice}"`, slice);
  }
  const parts = stem.split('-');
  let out = '';
  for (let i = 0; i < parts.length; i++) out += `/${parts.slice(0, i + 1).join('-')}.slice`;
  return out;
}

/** "slice:prefix:name" -> /<slice path>/<prefix>-<name>.scope (or /<slice path>/<name> when name is a slice). */
export function systemdPath(cgroupsPath: string, id: string): string {
  const parts = cgroupsPath.split(':');
  if (parts.length !== 3) {
    throw invalid(`cgroupsPath "${cgroupsPath}" is not of the form "slice:prefix:name" expected with systemd cgroups`, cgroupsPath, id);
  }
  const [slice, prefix, name] = parts as [string, string, string];
  if (name === '' || name.includes('/') || prefix.includes('/')) {
    throw invalid(`invalid systemd unit in cgroupsPath "${cgroupsPath}"`, cgroupsPath, id);
  }
  const base = expandSlice(slice === '' ? DEFAULT_SLICE : slice);
  const unit = name.endsWith('.slice') ? name : `${prefix === '' ? '' : `${prefix}-`}${name}.scope`;
  return path.posix.join(base, unit);
}

/** Interprets linux.cgroupsPath (see DEFAULT_PARENT and DEFAULT_SLICE for the defaults). */
export function innerPath(opts: { id: string; cgroupsPath?: string; systemd?: boolean }): InnerPath {
  const raw = opts.cgroupsPath ?? '';
  if (/[\0\n]/.test(raw)) throw invalid(`invalid cgroup path ${JSON.stringify(raw)}`, raw, opts.id);
  if (opts.systemd) {
    const spec = raw === '' ? `${DEFAULT_SLICE}:${DEFAULT_SCOPE_PREFIX}:${opts.id}` : raw;
    return { path: checkedPath(systemdPath(spec, opts.id), raw || spec, opts.id), relative: false };
  }
  if (raw === '') return { path: checkedPath(`${DEFAULT_PARENT}/${opts.id}`, `${DEFAULT_PARENT}/${opts.id}`, opts.id), relative: false };
  return { path: checkedPath(raw, raw, opts.id), relative: !raw.startsWith('/') };
}

/**
 * Lexically resolves `p` ("." and ".." included) against its own base. A ".." above the base, or
 * a path that is the base itself, is refused: the container would share (and on delete kill and
 * remove) the hierarchy root or the runtime's own cgroup.
 */
export function checkedPath(p: string, original: string, id?: string): string {
  const stack: string[] = [];
  for (const seg of p.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      if (stack.length === 0) throw invalid(`cgroup path "${original}" is outside the allowed hierarchy`, original, id);
      stack.pop();
    } else stack.push(seg);
  }
  if (stack.length === 0) throw invalid(`cgroup path "${original}" is outside the allowed hierarchy (it names the hierarchy root)`, original, id);
  return stack.join('/');
}

/** The runtime's own cgroup on a hierarchy, relative to that hierarchy's mount root. */
function ownCgroup(self: Map<string, string>, key: string, mountRoot: string): string {
  const own = self.get(key) ?? '/';
  if (mountRoot === '/' || mountRoot === '') return own;
  if (own === mountRoot) return '/';
  return own.startsWith(`${mountRoot}/`) ? own.slice(mountRoot.length) : own;
}

/**
 * One absolute directory per hierarchy: every v1 controller and named hierarchy, and UNIFIED.
 * Co-mounted controllers (cpu,cpuacct) map to the same directory.
 */
export function resolvePaths(host: CgroupHost, inner: InnerPath, self: Map<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  const dirFor = (mountpoint: string, mountRoot: string, selfKey: string): string => {
    const base = inner.relative ? path.posix.join(mountpoint, ownCgroup(self, selfKey, mountRoot)) : mountpoint;
    return path.posix.join(base, inner.path);
  };
  for (const h of host.v1) {
    const selfKey = h.name ?? h.controllers[0] ?? '';
    const dir = dirFor(h.mountpoint, h.root, selfKey);
    if (h.name !== undefined) out[h.name] = dir;
    for (const c of h.controllers) out[c] = dir;
  }
  if (host.unified) out[UNIFIED] = dirFor(host.unified.mountpoint, host.unified.root, '');
  return out;
}
