// trun-bundle import / import-rootfs / export.
import { exportImage } from '../lib/export';
import { importImage, type ImportedImage } from '../lib/import';
import { importRootfs } from '../lib/import-rootfs';
import type { ProgressFn } from '../lib/progress';
import { Store } from '../lib/store';

export function importCmd(c: { store: string; source: string; ref?: string; onProgress?: ProgressFn }): Promise<ImportedImage[]> {
  const o: Parameters<typeof importImage>[0] = { store: new Store(c.store).init(), source: c.source };
  if (c.ref !== undefined) o.ref = c.ref;
  if (c.onProgress) o.onProgress = c.onProgress;
  return importImage(o);
}

export interface ImportRootfsCommand {
  store: string;
  source: string;
  tag: string;
  changes: string[];
  message?: string;
  author?: string;
  onProgress?: ProgressFn;
}

export function importRootfsCmd(c: ImportRootfsCommand): Promise<{ manifestDigest: string; tag: string }> {
  const o: Parameters<typeof importRootfs>[0] = { store: new Store(c.store).init(), source: c.source, tag: c.tag, changes: c.changes };
  if (c.message !== undefined) o.message = c.message;
  if (c.author !== undefined) o.author = c.author;
  if (c.onProgress) o.onProgress = c.onProgress;
  return importRootfs(o);
}

export function exportCmd(c: { store: string; image: string; file: string; onProgress?: ProgressFn }): Promise<{ manifestDigest: string; tags: string[] }> {
  const o: Parameters<typeof exportImage>[0] = { store: new Store(c.store).init(), image: c.image, file: c.file };
  if (c.onProgress) o.onProgress = c.onProgress;
  return exportImage(o);
}
