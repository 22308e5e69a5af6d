// The mounts of one bundle made real. planMounts checks what can be checked before the bundle
// exists (bind sources, --volumes-from bundles, duplicates) and adds an anonymous volume for each
// image VOLUME nothing else covers; attachMounts, once the rootfs is mounted, creates missing -v
// directories and volumes, seeds first-time volumes from the image, and returns the OCI mounts
// with an undo that puts the host back as it was when the bundle cannot be made after all.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { defaultSpec } from '../../runtime/defaults';
import { TrunError, sysError } from '../../runtime/errors';
import type { Mount, Spec } from '../../spec/types/runtime';
import { normalizeDestination, type MountRequest, type VolumeRequest, type VolumesFrom } from './mount-flags';
import type { Store } from './store';
import { copyUp } from './volume-copyup';
import { isVolumeName } from './volume-name';
import { isEmptyDir, Volumes } from './volumes';

export interface PlanInput {
  store: Store;
  /** From --mount, -v and --tmpfs, in the order given. */
  requests: MountRequest[];
  volumesFrom: VolumesFrom[];
  /** The image config's Volumes (container paths). */
  imageVolumes: string[];
}

/** Every request the bundle will mount, parents before children. Reads, never writes. */
export function planMounts(i: PlanInput): MountRequest[] {
  const byDest = new Map<string, MountRequest>();
  // --volumes-from first: a mount given on the command line replaces one at the same path.
  for (const v of i.volumesFrom) for (const r of mountsOfBundle(i.store, v)) byDest.set(destinationOf(r), r);
  const explicit = new Set<string>();
  for (const r of i.requests) {
    const dest = destinationOf(r);
    if (explicit.has(dest)) throw new TrunError('EINVAL', `duplicate mount point "${dest}"`);
    explicit.add(dest);
    byDest.set(dest, r);
  }
  for (const r of byDest.values()) {
    if (r.kind === 'bind' && !r.createSource && !fs.existsSync(r.mount.source!)) {
      throw new TrunError('EINVAL', `bind source path "${r.mount.source}" does not exist (for "${r.mount.destination}")`, { path: r.mount.source! });
    }
  }
  for (const v of [...i.imageVolumes].sort()) {
    if (!path.posix.isAbsolute(v)) throw new TrunError('EIMAGE', `image volume "${v}" is not an absolute path`);
    const dest = normalizeDestination(v);
    if (dest === '/' || byDest.has(dest)) continue;
    byDest.set(dest, { kind: 'volume', name: null, destination: dest, options: ['rprivate'], nocopy: false });
  }
  const depth = (r: MountRequest): number => destinationOf(r).split('/').length;
  return [...byDest.values()].sort((a, b) => depth(a) - depth(b));
}

export interface Attached {
  mounts: Mount[];
  /** Names of the volumes mounted, for the bundle's record. */
  volumes: string[];
  /** Removes what attachMounts made (call under the store lock, after the bundle's record is gone). */
  undo: () => void;
}

/** Makes the plan real for `bundle`, whose rootfs is mounted at `rootfs`. Call under the store lock. */
export function attachMounts(store: Store, bundle: string, rootfs: string, plan: MountRequest[]): Attached {
  const vols = new Volumes(store);
  const undos: (() => void)[] = [];
  const undo = (): void => {
    for (const u of undos.reverse()) {
      try {
        u();
      } catch {
        // best effort: put back as much as possible
      }
    }
  };
  const mounts: Mount[] = [];
  const names: string[] = [];
  try {
    for (const r of plan) {
      if (r.kind === 'plain') {
        mounts.push(r.mount);
      } else if (r.kind === 'bind') {
        if (r.createSource) undos.push(ensureDir(r.mount.source!));
        mounts.push(r.mount);
      } else {
        const name = attachVolume(vols, bundle, rootfs, r, undos);
        if (!names.includes(name)) names.push(name);
        mounts.push({ destination: r.destination, type: 'bind', source: vols.dataDir(name), options: ['rbind', ...r.options] });
      }
    }
  } catch (err) {
    undo();
    throw err;
  }
  return { mounts, volumes: names, undo };
}

function attachVolume(vols: Volumes, bundle: string, rootfs: string, r: VolumeRequest, undos: (() => void)[]): string {
  const { meta, created } = vols.create(r.name === null ? { anonymous: true } : { name: r.name });
  const name = meta.name;
  const unused = (): boolean => (vols.users().get(name) ?? []).every((b) => b === bundle);
  if (created) {
    undos.push(() => {
      if (unused()) vols.remove(name);
    });
  }
  if (meta.initialised) return name;
  const data = vols.dataDir(name);
  if (!created) {
    // Put an existing volume back as it was, even after a copy-up that failed half way: copy-up
    // only fills an empty volume, so empty it again.
    const wasEmpty = isEmptyDir(data);
    undos.push(() => {
      if (!unused()) return;
      if (wasEmpty) for (const e of fs.readdirSync(data)) fs.rmSync(path.join(data, e), { recursive: true, force: true });
      vols.setInitialised(name, false);
    });
  }
  if (!r.nocopy) copyUp(rootfs, r.destination, data);
  vols.setInitialised(name, true);
  return name;
}

/** Creates a missing -v source directory (docker's -v does); the undo removes what was created, if still empty. */
function ensureDir(dir: string): () => void {
  let first: string | undefined;
  try {
    first = fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  } catch (err) {
    throw sysError('mkdir', dir, err);
  }
  if (first === undefined) return () => undefined;
  const top = first;
  return () => {
    for (let d = dir; d.length >= top.length; d = path.dirname(d)) fs.rmdirSync(d);
  };
}

function destinationOf(r: MountRequest): string {
  return r.kind === 'volume' ? r.destination : r.mount.destination;
}

/** Destinations of trun's default mounts (rootful and rootless): never volumes of another bundle. */
export const DEFAULT_DESTINATIONS = new Set([false, true].flatMap((rootless) => (defaultSpec({ rootless }).mounts ?? []).map((m) => m.destination)));

/**
 * The volume and bind mounts of another bundle's config.json (not its default mounts, nor
 * binds of files inside that bundle), as requests; `readonly` set makes them all ro or rw.
 */
export function mountsOfBundle(store: Store, from: VolumesFrom): MountRequest[] {
  const bundle = path.resolve(from.bundle);
  const file = path.join(bundle, 'config.json');
  let spec: Spec;
  try {
    spec = JSON.parse(fs.readFileSync(file, 'utf8')) as Spec;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new TrunError('EBUNDLE', `--volumes-from: no bundle at "${bundle}" (no config.json)`, { path: file });
    if (err instanceof SyntaxError) throw new TrunError('EBUNDLE', `--volumes-from: "${file}": not valid JSON`, { path: file });
    throw sysError('read', file, err);
  }
  const out: MountRequest[] = [];
  for (const m of spec.mounts ?? []) {
    const opts = m.options ?? [];
    if (!(m.type === 'bind' || opts.includes('bind') || opts.includes('rbind')) || m.source === undefined) continue;
    if (DEFAULT_DESTINATIONS.has(m.destination)) continue;
    const source = path.resolve(bundle, m.source);
    if (source === bundle || source.startsWith(bundle + '/')) continue;
    const mode = from.readonly === null ? opts.filter((o) => o === 'ro') : from.readonly ? ['ro'] : [];
    const rest = opts.filter((o) => o !== 'ro' && o !== 'rw');
    const destination = normalizeDestination(m.destination);
    const others = rest.filter((o) => o !== 'bind' && o !== 'rbind');
    const rel = path.relative(store.volumesDir, source).split(path.sep);
    if (rel.length === 2 && rel[1] === '_data' && isVolumeName(rel[0]!)) {
      out.push({ kind: 'volume', name: rel[0]!, destination, options: [...mode, ...others], nocopy: true });
    } else {
      const bind = opts.includes('bind') && !opts.includes('rbind') ? 'bind' : 'rbind';
      out.push({ kind: 'bind', mount: { destination, type: 'bind', source, options: [bind, ...mode, ...others] }, createSource: false });
    }
  }
  return out;
}
