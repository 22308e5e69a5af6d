// Adding an image to the store: config and manifest blobs, then the tag in index.json, the last
// step. A failed operation removes the blobs it added itself, so nothing half-made lingers.
import * as fs from 'node:fs';
import type { Descriptor, ImageConfig, ImageManifest } from '../../spec/types/image';
import { validateImageConfig, validateImageManifest } from '../../spec/validate-image';
import { MEDIA_CONFIG, MEDIA_MANIFEST, type Store } from './store';

/** Blobs an operation added (and that were not there before): removed again if it fails. */
export class BlobTxn {
  private readonly added = new Set<string>();

  constructor(private readonly store: Store) {}

  /** Call before a blob may be written; remembers it when it is new. */
  note(digest: string): void {
    if (!this.store.hasBlob(digest)) this.added.add(digest);
  }

  noteAdded(digest: string, existedBefore: boolean): void {
    if (!existedBefore) this.added.add(digest);
  }

  writeJson(value: unknown): { digest: string; size: number } {
    const data = Buffer.from(JSON.stringify(value));
    const before = new Set(this.added);
    const digest = this.store.writeBlobIfNew(data, (d) => {
      if (!before.has(d)) this.added.add(d);
    });
    return { digest, size: data.length };
  }

  rollback(): void {
    for (const d of this.added) fs.rmSync(this.store.blobPath(d), { force: true });
    this.added.clear();
  }
}

export interface NewImage {
  config: ImageConfig;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

/** Writes config and manifest blobs; returns the manifest's descriptor. Validates both first. */
export function writeImage(store: Store, txn: BlobTxn, img: NewImage): { digest: string; size: number; manifest: ImageManifest } {
  validateImageConfig(img.config, 'new image config');
  const cfg = txn.writeJson(img.config);
  const manifest = {
    schemaVersion: 2,
    mediaType: MEDIA_MANIFEST,
    config: { mediaType: MEDIA_CONFIG, digest: cfg.digest, size: cfg.size },
    layers: img.layers,
    ...(img.annotations ? { annotations: img.annotations } : {}),
  } as ImageManifest;
  validateImageManifest(manifest, 'new image manifest');
  const m = txn.writeJson(manifest);
  void store;
  return { ...m, manifest };
}

/** The platform's architecture in OCI (Go) spelling. */
export function ociArch(arch: string = process.arch): string {
  const table: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };
  return table[arch] ?? arch;
}
