// Commit: a bundle's overlay upper dir becomes one new layer on top of the bundle's image, with
// a new config (diff_ids, history, --change edits), manifest and tag. Works on a stopped bundle
// and on a running container (optionally paused through `trun pause`/`resume` meanwhile).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TrunError } from '../../runtime/errors';
import type { ImageConfig, ImageManifest } from '../../spec/types/image';
import { readBundleMeta } from './bundle';
import { applyChanges } from './changes';
import type { Compression } from './compression';
import { BlobTxn, writeImage } from './image-write';
import { writeLayer, type LayerBlob } from './layer-writer';
import type { ProgressFn } from './progress';
import { parseTaggedReference, tagString } from './reference';
import { Store } from './store';

export interface CommitOptions {
  bundle: string;
  tag: string;
  store?: Store;
  author?: string;
  message?: string;
  changes?: string[];
  /** Compression of the new layer (default gzip). */
  compression?: Compression;
  /** Called around the layer write (e.g. `trun pause`/`trun resume`); resume runs even on failure. */
  pause?: { pause: () => Promise<void>; resume: () => Promise<void> };
  onProgress?: ProgressFn;
  now?: Date;
}

export interface CommitResult {
  manifestDigest: string;
  configDigest: string;
  layerDigest: string;
  diffID: string;
  tag: string;
}

export async function commitBundle(o: CommitOptions): Promise<CommitResult> {
  const bundle = path.resolve(o.bundle);
  const meta = readBundleMeta(bundle);
  const ref = parseTaggedReference(o.tag);
  const tag = tagString(ref);
  const store = o.store ?? new Store(meta.store);
  store.init();

  let baseManifest: ImageManifest;
  let baseConfig: ImageConfig;
  try {
    baseManifest = store.readManifest({ digest: meta.manifest });
    baseConfig = store.readConfig(baseManifest.config);
  } catch (err) {
    if (err instanceof TrunError && /missing from the store/.test(err.message)) {
      throw new TrunError('EIMAGE', `the image of bundle "${bundle}" (${meta.manifest}) is no longer in store "${store.root}"`, { cause: err });
    }
    throw err;
  }
  // Check the edits before the (possibly long) layer write.
  const execConfig = applyChanges(baseConfig.config, o.changes ?? []);

  const txn = new BlobTxn(store);
  let layer: LayerBlob | undefined;
  try {
    if (o.pause) await o.pause.pause();
    try {
      let bytes = 0;
      layer = await writeLayer(store, path.join(bundle, 'upper'), {
        mode: 'upper',
        compression: o.compression ?? 'gzip',
        onBytes: (n) => {
          bytes += n;
          o.onProgress?.({ phase: 'commit', layer: 1, layers: 1, bytes });
        },
      });
      o.onProgress?.({ phase: 'commit', layer: 1, layers: 1, bytes, done: true });
    } finally {
      if (o.pause) await o.pause.resume();
    }
    const written = layer;

    const created = (o.now ?? new Date()).toISOString().replace(/\.\d{3}Z$/, 'Z');
    const history = { created, created_by: `trun-bundle commit${(o.changes ?? []).map((c) => ` --change '${c}'`).join('')}` } as NonNullable<ImageConfig['history']>[number];
    if (o.author !== undefined) history.author = o.author;
    if (o.message !== undefined) history.comment = o.message;
    const config: ImageConfig = {
      ...baseConfig,
      created,
      config: execConfig,
      rootfs: { type: 'layers', diff_ids: [...baseConfig.rootfs.diff_ids, written.diffID] },
      history: [...(baseConfig.history ?? []), history],
    };
    if (o.author !== undefined) config.author = o.author;
    else delete config.author;

    return await store.withLock(async () => {
      // Adopted under the lock so that a concurrent gc never sees it unreferenced.
      txn.note(written.digest);
      store.adoptBlob(written.tmpFile, written.digest);
      const m = writeImage(store, txn, {
        config,
        layers: [...baseManifest.layers, { mediaType: written.mediaType, digest: written.digest, size: written.size }],
      });
      store.setTag(tag, m);
      return { manifestDigest: m.digest, configDigest: m.manifest.config.digest, layerDigest: written.digest, diffID: written.diffID, tag };
    });
  } catch (err) {
    if (layer) fs.rmSync(layer.tmpFile, { force: true });
    txn.rollback();
    throw err;
  }
}
