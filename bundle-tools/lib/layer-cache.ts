// The content-addressed cache of unpacked layers: store/layers/<diffID hex>/ holds one layer in
// overlayfs form. A layer is unpacked into tmp/ and renamed into place only once complete and
// verified, so a second bundle of the same image, or a concurrent one, unpacks nothing.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { TrunError, sysError } from '../../runtime/errors';
import type { Descriptor } from '../../spec/types/image';
import { FsOps } from './fsops';
import type { Store } from './store';
import { unpackLayer } from './unpack';

const LAYER_MEDIA_TYPES = new Set([
  'application/vnd.oci.image.layer.v1.tar',
  'application/vnd.oci.image.layer.v1.tar+gzip',
  'application/vnd.oci.image.layer.v1.tar+zstd',
  'application/vnd.oci.image.layer.nondistributable.v1.tar',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
  'application/vnd.docker.image.rootfs.diff.tar',
  'application/vnd.docker.image.rootfs.diff.tar.gzip',
  'application/vnd.docker.image.rootfs.diff.tar.zstd',
  'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
]);

export function checkLayerMediaType(desc: Descriptor): void {
  if (!LAYER_MEDIA_TYPES.has(desc.mediaType)) {
    throw new TrunError('EIMAGE', `layer ${desc.digest}: unsupported media type "${desc.mediaType}"`);
  }
}

export interface LayerProgress {
  /** Called with the number of blob bytes read since the last call. */
  onBytes?: (n: number) => void;
}

/**
 * Returns the cached directory of a layer, unpacking it first when needed. `fsops` is shared
 * across the layers of one image.
 */
export async function ensureLayer(store: Store, desc: Descriptor, diffID: string, fsops: FsOps, progress: LayerProgress = {}): Promise<{ dir: string; unpacked: boolean }> {
  const dir = store.layerDir(diffID);
  if (fs.existsSync(dir)) return { dir, unpacked: false };
  checkLayerMediaType(desc);
  if (!store.hasBlob(desc.digest)) throw new TrunError('EIMAGE', `layer ${desc.digest} is missing from the store`, { path: store.blobPath(desc.digest) });
  const tmp = store.tmpPath('layer');
  fs.mkdirSync(tmp, { mode: 0o755 });
  try {
    await unpackLayer({ file: store.blobPath(desc.digest), digest: desc.digest, size: desc.size, diffID }, tmp, fsops, progress.onBytes);
    adoptLayerDir(store, tmp, diffID);
    return { dir, unpacked: true };
  } catch (err) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
}

/** A fresh empty directory in tmp/ for a layer to be unpacked into. */
export function layerTmpDir(store: Store): string {
  const tmp = store.tmpPath('layer');
  fs.mkdirSync(tmp, { mode: 0o755 });
  return tmp;
}

/**
 * Moves a fully unpacked and verified layer from tmp/ into the cache. When another process
 * finished the same layer first, theirs is kept and ours removed.
 */
export function adoptLayerDir(store: Store, tmp: string, diffID: string): void {
  try {
    fs.renameSync(tmp, store.layerDir(diffID));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    fs.rmSync(tmp, { recursive: true, force: true });
    if (code !== 'EEXIST' && code !== 'ENOTEMPTY') throw sysError('rename', tmp, err);
  }
}

/**
 * The lower dir for each layer of a stack, base first. overlayfs refuses the same directory twice
 * in one stack, so a layer that repeats (docker save links identical layers) gets a copy,
 * store/layers/<hex>-2 and so on, made once with cp -a (xattrs and whiteout devices included).
 */
export function stackDirs(store: Store, diffIDs: string[]): string[] {
  const seen = new Map<string, number>();
  return diffIDs.map((d) => {
    const k = (seen.get(d) ?? 0) + 1;
    seen.set(d, k);
    const base = store.layerDir(d);
    if (k === 1) return base;
    const copy = `${base}-${k}`;
    if (!fs.existsSync(copy)) {
      const tmp = store.tmpPath('layer-copy');
      const r = spawnSync('cp', ['-a', base, tmp], { encoding: 'utf8' });
      if (r.status !== 0) {
        fs.rmSync(tmp, { recursive: true, force: true });
        throw new TrunError('ESYS', `copy layer "${base}": ${(r.stderr || r.error?.message || '').trim()}`, { path: base });
      }
      try {
        fs.renameSync(tmp, copy);
      } catch {
        fs.rmSync(tmp, { recursive: true, force: true }); // a concurrent copy won
      }
    }
    return copy;
  });
}
