// trun-bundle inspect IMAGE|BUNDLE... / history IMAGE.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { imageHistory, inspectBundle, inspectImage, type BundleInspect, type HistoryRow, type ImageInspect } from '../lib/inspect';
import { BUNDLE_MARKER, Store } from '../lib/store';
import { DEFAULT_STATE_ROOT } from '../lib/trun-client';

/** Each target is a bundle when it is a directory made by trun-bundle, else an image reference. */
export function inspect(c: { store: string; targets: string[]; trunRoot?: string }): Array<ImageInspect | BundleInspect> {
  const store = new Store(c.store).init();
  return c.targets.map((t) => {
    if (fs.existsSync(path.join(t, BUNDLE_MARKER))) {
      return inspectBundle(t, { store, trunRoot: c.trunRoot ?? DEFAULT_STATE_ROOT });
    }
    return inspectImage(store, store.resolve(t));
  });
}

export function history(c: { store: string; image: string }): HistoryRow[] {
  const store = new Store(c.store).init();
  return imageHistory(store.resolve(c.image));
}
