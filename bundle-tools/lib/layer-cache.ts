// The content-addressed cache of unpacked layers: store/layers/<diffID hex>/ holds one layer in
// overlayfs form. A layer is unpacked into tmp/ and renamed into place only once complete and
// verified, so a second bundle of the same image, or a concurrent one, unpacks nothing. Import
// fills the cache as it checks layers (layer-ingest.ts); create unpacks what is still missing.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { TrunError, sysError } from '../../runtime/errors';
import type { Descriptor } from '../../spec/types/image';
import { runLayerPasses, type PassProgress } from './layer-passes';
import type { Store } from './store';
import type { LayerPass } from './unpack';

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

/**
 * Makes sure every layer of an image is in the cache, unpacking the missing ones (in parallel,
 * each from one read of its blob). Returns how many were unpacked. A failed layer leaves nothing.
 */
export async function ensureLayers(store: Store, layers: Descriptor[], diffIDs: string[], progress: PassProgress = {}): Promise<number> {
  const jobs: LayerPass[] = [];
  const seen = new Set<string>();
  for (const [i, desc] of layers.entries()) {
    const diffID = diffIDs[i]!;
    if (seen.has(diffID) || store.hasLayer(diffID)) continue;
    seen.add(diffID);
    checkLayerMediaType(desc);
    if (!store.hasBlob(desc.digest)) throw new TrunError('EIMAGE', `layer ${desc.digest} is missing from the store`, { path: store.blobPath(desc.digest) });
    jobs.push({ file: store.blobPath(desc.digest), digest: desc.digest, size: desc.size, diffID, dest: null });
  }
  try {
    for (const j of jobs) j.dest = layerTmpDir(store);
    await runLayerPasses(jobs, progress);
    for (const j of jobs) adoptLayerDir(store, j.dest!, j.diffID);
  } finally {
    for (const j of jobs) if (j.dest !== null) fs.rmSync(j.dest, { recursive: true, force: true });
  }
  return jobs.length;
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
