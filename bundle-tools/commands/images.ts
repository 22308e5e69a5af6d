// trun-bundle images / rmi / gc.
import { listImageRows, removeImages, type ImageRow, type RemoveResult } from '../lib/images';
import { Store } from '../lib/store';

export function images(c: { store: string }): ImageRow[] {
  return listImageRows(new Store(c.store).init());
}

export function rmi(c: { store: string; images: string[]; force: boolean }): Promise<RemoveResult> {
  return removeImages(new Store(c.store).init(), c.images, c.force);
}

export function gc(c: { store: string }): Promise<{ blobs: number; layers: number; bytes: number }> {
  const store = new Store(c.store).init();
  return store.withLock(async () => store.gc());
}
