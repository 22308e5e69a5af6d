// `docker import`: one layer from a directory or a tarball, and an image config from --change
// flags. A tarball is taken as the layer as it is (decompressed, hashed, re-gzipped); its entries
// are checked when a bundle unpacks it, like any layer's.
import * as fs from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { TrunError, sysError } from '../../runtime/errors';
import type { ImageConfig } from '../../spec/types/image';
import { applyChanges } from './changes';
import { compressor, decompressor, fileCompression } from './compression';
import { HashingStream } from './digest';
import { BlobTxn, ociArch, writeImage } from './image-write';
import { writeLayer, type LayerBlob } from './layer-writer';
import type { ProgressFn } from './progress';
import { parseTaggedReference, tagString } from './reference';
import { MEDIA_LAYER_GZIP, type Store } from './store';

export interface ImportRootfsOptions {
  store: Store;
  source: string;
  tag: string;
  changes?: string[];
  message?: string;
  author?: string;
  onProgress?: ProgressFn;
  now?: Date;
}

export async function importRootfs(o: ImportRootfsOptions): Promise<{ manifestDigest: string; tag: string }> {
  const ref = parseTaggedReference(o.tag);
  const tag = tagString(ref);
  const execConfig = applyChanges({}, o.changes ?? []);
  let st: fs.Stats;
  try {
    st = fs.statSync(o.source);
  } catch (err) {
    throw sysError('stat', o.source, err);
  }
  let bytes = 0;
  const onBytes = (n: number): void => {
    bytes += n;
    o.onProgress?.({ phase: 'import', layer: 1, layers: 1, bytes });
  };
  const layer = st.isDirectory() ? await writeLayer(o.store, o.source, { mode: 'plain', onBytes }) : await recompress(o.store, o.source, onBytes);
  o.onProgress?.({ phase: 'import', layer: 1, layers: 1, bytes, done: true });

  const created = (o.now ?? new Date()).toISOString().replace(/\.\d{3}Z$/, 'Z');
  const history: NonNullable<ImageConfig['history']>[number] = { created, created_by: `trun-bundle import-rootfs ${o.source}` };
  if (o.message !== undefined) history.comment = o.message;
  if (o.author !== undefined) history.author = o.author;
  const config: ImageConfig = {
    created, architecture: ociArch(), os: 'linux', config: execConfig,
    rootfs: { type: 'layers', diff_ids: [layer.diffID] }, history: [history],
  };
  if (o.author !== undefined) config.author = o.author;
  const txn = new BlobTxn(o.store);
  try {
    return await o.store.withLock(async () => {
      txn.note(layer.digest);
      o.store.adoptBlob(layer.tmpFile, layer.digest);
      const m = writeImage(o.store, txn, { config, layers: [{ mediaType: layer.mediaType, digest: layer.digest, size: layer.size }] });
      o.store.setTag(tag, m);
      return { manifestDigest: m.digest, tag };
    });
  } catch (err) {
    fs.rmSync(layer.tmpFile, { force: true });
    txn.rollback();
    throw err;
  }
}

async function recompress(store: Store, file: string, onBytes: (n: number) => void): Promise<LayerBlob> {
  const tmp = store.tmpPath('layer-blob');
  const diff = new HashingStream();
  const comp = new HashingStream();
  const input = fs.createReadStream(file);
  input.on('data', (c: Buffer | string) => onBytes(c.length));
  try {
    await pipeline(input, decompressor(fileCompression(file), file), diff, compressor('gzip', file), comp, fs.createWriteStream(tmp, { mode: 0o644 }));
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    if (err instanceof TrunError) throw err;
    const e = err as NodeJS.ErrnoException;
    if (e.syscall) throw sysError(e.syscall, e.path ?? tmp, err);
    throw new TrunError('EIMAGE', `read "${file}": ${e.message}`, { cause: err });
  }
  return { tmpFile: tmp, digest: comp.digest(), size: comp.bytes, diffID: diff.digest(), entries: 0, mediaType: MEDIA_LAYER_GZIP };
}
