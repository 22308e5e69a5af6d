// trun-bundle rm BUNDLE...: unmount and delete bundles (refused while a container runs on one);
// with --volumes, their anonymous volumes too.
import { removeBundle } from '../lib/bundle';
import { Store } from '../lib/store';

export interface RmResult {
  bundles: string[];
  /** Anonymous volumes removed with them (--volumes). */
  volumes: string[];
}

export async function rm(c: { bundles: string[]; store?: string; volumes?: boolean }): Promise<RmResult> {
  const out: RmResult = { bundles: [], volumes: [] };
  for (const b of c.bundles) {
    out.volumes.push(...(await removeBundle(b, { ...(c.store !== undefined ? { store: new Store(c.store) } : {}), volumes: c.volumes ?? false })));
    out.bundles.push(b);
  }
  return out;
}
