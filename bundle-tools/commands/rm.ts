// trun-bundle rm BUNDLE...: unmount and delete bundles (refused while a container runs on one).
import { removeBundle } from '../lib/bundle';
import { Store } from '../lib/store';

export async function rm(c: { bundles: string[]; store?: string }): Promise<string[]> {
  const removed: string[] = [];
  for (const b of c.bundles) {
    await removeBundle(b, c.store !== undefined ? { store: new Store(c.store) } : {});
    removed.push(b);
  }
  return removed;
}
