// Listing and removing images. Removing a tag is cheap; removing an image's last tag removes the
// image, which a bundle made from it prevents unless forced. Blobs and unpacked layers nothing
// references any more are then garbage-collected; layers a bundle stacks are always kept.
import { TrunError } from '../../runtime/errors';
import { digestHex } from './digest';
import { parseReference, tagString, DEFAULT_TAG } from './reference';
import type { Store } from './store';

export interface ImageRow {
  repository: string;
  tag: string;
  id: string;
  manifestDigest: string;
  /** Bytes of the config and layer blobs as stored (compressed). */
  size: number;
  created: string | undefined;
}

export function listImageRows(store: Store): ImageRow[] {
  const rows: ImageRow[] = [];
  for (const img of store.listImages()) {
    const size = img.manifest.config.size + img.manifest.layers.reduce((n, l) => n + l.size, 0);
    const base = { id: digestHex(img.configDigest), manifestDigest: img.manifestDigest, size, created: img.config.created };
    if (img.tags.length === 0) rows.push({ repository: '<none>', tag: '<none>', ...base });
    for (const t of img.tags) {
      const colon = t.lastIndexOf(':');
      rows.push({ repository: t.slice(0, colon), tag: t.slice(colon + 1), ...base });
    }
  }
  return rows.sort((a, b) => (b.created ?? '').localeCompare(a.created ?? '') || a.repository.localeCompare(b.repository));
}

export interface RemoveResult {
  untagged: string[];
  deleted: string[];
  gc: { blobs: number; layers: number; bytes: number };
}

export async function removeImages(store: Store, refs: string[], force = false): Promise<RemoveResult> {
  return store.withLock(async () => {
    const untagged: string[] = [];
    const deleted: string[] = [];
    for (const input of refs) {
      const img = store.resolve(input);
      let tagsToDrop = img.tags;
      if (!input.startsWith('sha256:') && !/^[a-f0-9]{4,64}$/.test(input)) {
        const r = parseReference(input);
        if (r.digest === undefined) tagsToDrop = [tagString({ name: r.name, tag: r.tag ?? DEFAULT_TAG })];
      }
      const remaining = img.tags.filter((t) => !tagsToDrop.includes(t));
      if (remaining.length === 0) {
        const users = store.bundleRecords().filter((b) => b.manifest === img.manifestDigest);
        if (users.length > 0 && !force) {
          throw new TrunError('EIMAGE', `image "${input}" is used by bundle ${users.map((u) => `"${u.bundle}"`).join(', ')}; remove the bundle first or use --force`);
        }
        store.removeFromIndex({ digest: img.manifestDigest });
        untagged.push(...img.tags);
        deleted.push(img.manifestDigest);
      } else {
        for (const t of tagsToDrop) store.removeFromIndex({ tag: t });
        untagged.push(...tagsToDrop);
      }
    }
    return { untagged, deleted, gc: store.gc() };
  });
}
