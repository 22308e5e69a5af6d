// Export: one image of the store as an oci-archive (a tar of an OCI image layout), every blob
// re-checked against its digest as it is copied. The archive appears by rename when complete.
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar-stream';
import { TrunError, sysError } from '../../runtime/errors';
import { checkDigest, digestHex, HashingStream } from './digest';
import type { ProgressFn } from './progress';
import { MEDIA_INDEX, MEDIA_MANIFEST, REF_NAME, type Store } from './store';

type PackHeader = Parameters<tar.Pack['entry']>[0];

export interface ExportOptions {
  store: Store;
  image: string;
  file: string;
  onProgress?: ProgressFn;
}

export async function exportImage(o: ExportOptions): Promise<{ manifestDigest: string; tags: string[] }> {
  const img = o.store.resolve(o.image);
  const blobs = [
    { digest: img.manifestDigest, size: img.manifestSize },
    { digest: img.manifest.config.digest, size: img.manifest.config.size },
    ...img.manifest.layers.map((l) => ({ digest: l.digest, size: l.size })),
  ];
  const tags = img.tags.length > 0 ? img.tags : [];
  const wanted = tags.find((t) => t === o.image || t === `${o.image}:latest`);
  const index = {
    schemaVersion: 2,
    mediaType: MEDIA_INDEX,
    manifests: (wanted ? [wanted] : tags.length ? tags : [undefined]).map((t) => ({
      mediaType: MEDIA_MANIFEST, digest: img.manifestDigest, size: img.manifestSize,
      ...(t ? { annotations: { [REF_NAME]: t } } : {}),
    })),
  };
  const out = path.resolve(o.file);
  const tmp = `${out}.tmp-${process.pid}`;
  const pack = tar.pack();
  const writing = pipeline(pack, fs.createWriteStream(tmp, { mode: 0o644 }));
  writing.catch(() => undefined);
  const total = blobs.reduce((n, b) => n + b.size, 0);
  const layerCount = img.manifest.layers.length;
  let bytes = 0;
  try {
    const add = (name: string, data: Buffer): Promise<void> =>
      new Promise((resolve, reject) => pack.entry({ name, mode: 0o644, mtime: new Date(0) } as PackHeader, data, (e) => (e ? reject(e) : resolve())));
    const dir = (name: string): Promise<void> =>
      new Promise((resolve, reject) => pack.entry({ name, type: 'directory', mode: 0o755, mtime: new Date(0) } as PackHeader, Buffer.alloc(0), (e) => (e ? reject(e) : resolve())));
    await add('oci-layout', Buffer.from(JSON.stringify({ imageLayoutVersion: '1.0.0' })));
    await add('index.json', Buffer.from(JSON.stringify(index)));
    await dir('blobs/');
    await dir('blobs/sha256/');
    for (const [i, b] of blobs.entries()) {
      const file = o.store.blobPath(b.digest);
      if (!fs.existsSync(file)) throw new TrunError('EIMAGE', `blob ${b.digest} is missing from the store`, { path: file });
      const h = new HashingStream();
      let done: (e?: Error | null) => void = () => undefined;
      const finished = new Promise<void>((resolve, reject) => (done = (e) => (e ? reject(e) : resolve())));
      const sink = pack.entry({ name: `blobs/sha256/${digestHex(b.digest)}`, size: b.size, mode: 0o644, mtime: new Date(0) } as PackHeader, (e) => done(e));
      for await (const chunk of fs.createReadStream(file).pipe(h)) {
        bytes += (chunk as Buffer).length;
        // Blobs are the manifest, the config, then the layers: progress counts the layers.
        o.onProgress?.({ phase: 'export', layer: Math.max(1, i - 1), layers: layerCount, layersDone: Math.max(0, i - 2), bytes, totalBytes: total });
        if (h.bytes > b.size) break;
        if (!sink.write(chunk as Buffer)) await once(sink as unknown as NodeJS.EventEmitter, 'drain');
      }
      checkDigest(`blob ${b.digest}`, b.digest, h.digest(), b.size, h.bytes);
      (sink as unknown as { end(): void }).end();
      await finished;
    }
    pack.finalize();
    await writing;
    fs.renameSync(tmp, out);
  } catch (err) {
    pack.destroy(new Error('export aborted'));
    await writing.catch(() => undefined);
    fs.rmSync(tmp, { force: true });
    if (err instanceof TrunError) throw err;
    const e = err as NodeJS.ErrnoException;
    throw sysError(e.syscall ?? 'write', e.path ?? out, err);
  }
  o.onProgress?.({ phase: 'export', layer: layerCount, layers: layerCount, layersDone: layerCount, bytes, totalBytes: total, done: true });
  return { manifestDigest: img.manifestDigest, tags };
}
