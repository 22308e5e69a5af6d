// Bundles made from images: BUNDLE/{upper,work,rootfs,config.json,trun-bundle.json}, with rootfs
// an overlayfs mount of the image's cached layers under upper/. trun-bundle.json marks the
// directory as ours and says which image and layers it stacks.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TrunError, sysError } from '../../runtime/errors';
import type { Mount } from '../../spec/types/runtime';
import { validateConfig } from '../../spec/validate';
import { generateSpec, type ConfigOptions } from './config-gen';
import { ensureLayers, stackDirs } from './layer-cache';
import { isMountPoint, mountOverlay, mountsUnder, unmount } from './overlay';
import type { MountRequest, VolumesFrom } from './mount-flags';
import { readFileInRoot } from './path-safety';
import { processesRootedAt } from './processes';
import { layerProgress, type ProgressFn } from './progress';
import { BUNDLE_MARKER, Store, type BundleRecord, type Image } from './store';
import { attachMounts, planMounts, type Attached } from './volume-mounts';
import { Volumes } from './volumes';

export interface BundleMeta {
  version: 1;
  store: string;
  image: string;
  manifest: string;
  config: string;
  diffIDs: string[];
  created: string;
}

export interface CreateBundleOptions {
  store: Store;
  image: string;
  bundle: string;
  config: ConfigOptions;
  /** Bind, volume and tmpfs mounts (mount-flags.ts), and bundles to take mounts from. */
  mounts?: MountRequest[];
  volumesFrom?: VolumesFrom[];
  callerEnv?: Record<string, string | undefined>;
  onProgress?: ProgressFn;
}

export interface CreateBundleResult {
  bundle: string;
  image: Image;
  unpackedLayers: number;
  cachedLayers: number;
}

export async function createBundle(o: CreateBundleOptions): Promise<CreateBundleResult> {
  const bundle = path.resolve(o.bundle);
  const store = o.store;
  const image = store.resolve(o.image);
  const diffIDs = image.config.rootfs.diff_ids;
  // Bad mounts are refused before anything is made.
  const plan = planMounts({
    store, requests: o.mounts ?? [], volumesFrom: o.volumesFrom ?? [], imageVolumes: Object.keys(image.config.config?.Volumes ?? {}),
  });

  const createdDir = prepareEmptyDir(bundle);
  const rootfs = path.join(bundle, 'rootfs');
  const meta: BundleMeta = {
    version: 1, store: store.root, image: o.image, manifest: image.manifestDigest, config: image.configDigest, diffIDs,
    created: new Date().toISOString(),
  };
  const record: BundleRecord = { bundle, manifest: image.manifestDigest, diffIDs, created: meta.created };
  let attached: Attached | undefined;
  try {
    writeJson(path.join(bundle, BUNDLE_MARKER), meta);
    // The record goes in before any layer is unpacked, so a concurrent gc keeps those layers.
    await store.withLock(async () => {
      store.resolve(image.manifestDigest);
      store.addBundleRecord(record);
    });

    const layers = image.manifest.layers;
    const totalBytes = layers.reduce((n, l, i) => n + (store.hasLayer(diffIDs[i]!) ? 0 : l.size), 0);
    const missing = new Set(diffIDs.filter((d) => !store.hasLayer(d))).size;
    const unpacked = await ensureLayers(store, layers, diffIDs, layerProgress(o.onProgress, 'unpack', missing, totalBytes));
    const lower = stackDirs(store, diffIDs).reverse();

    for (const d of ['upper', 'work', 'rootfs']) fs.mkdirSync(path.join(bundle, d), { mode: 0o755 });
    mountOverlay({ lower, upper: path.join(bundle, 'upper'), work: path.join(bundle, 'work'), target: rootfs });

    // Volumes are made and recorded as the bundle's under one lock, so no prune sees them unused.
    const a = await store.withLock(async () => {
      const made = attachMounts(store, bundle, rootfs, plan);
      store.addBundleRecord({ ...record, volumes: made.volumes });
      return made;
    });
    attached = a;
    const mounts: Mount[] = [...(o.config.mounts ?? []), ...a.mounts];
    const spec = generateSpec({
      image: image.config,
      options: { ...o.config, mounts },
      passwd: readFileInRoot(rootfs, '/etc/passwd'),
      group: readFileInRoot(rootfs, '/etc/group'),
      callerEnv: o.callerEnv ?? {},
    });
    // What trun itself will check: better refused here than at `trun create`.
    validateConfig(spec, path.join(bundle, 'config.json'));
    writeJson(path.join(bundle, 'config.json'), spec);
    return { bundle, image, unpackedLayers: unpacked, cachedLayers: layers.length - unpacked };
  } catch (err) {
    cleanupBundle(bundle, createdDir);
    await store.withLock(async () => {
      store.removeBundleRecord(bundle);
      attached?.undo();
    }).catch(() => undefined);
    throw err;
  }
}

/** Creates the bundle directory, or accepts an existing empty one; returns whether it was created. */
function prepareEmptyDir(bundle: string): boolean {
  try {
    fs.mkdirSync(bundle, { mode: 0o711 });
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw sysError('mkdir', bundle, err);
  }
  const st = fs.lstatSync(bundle);
  if (!st.isDirectory()) throw new TrunError('EBUNDLE', `bundle "${bundle}" exists and is not a directory`, { path: bundle });
  if (fs.readdirSync(bundle).length > 0) throw new TrunError('EBUNDLE', `bundle directory "${bundle}" is not empty`, { path: bundle });
  return false;
}

function cleanupBundle(bundle: string, removeDir: boolean): void {
  try {
    for (const m of mountsUnder(bundle)) unmount(m);
  } catch {
    // best effort: the error that brought us here matters more
  }
  if (removeDir) fs.rmSync(bundle, { recursive: true, force: true });
  else for (const e of fs.readdirSync(bundle)) fs.rmSync(path.join(bundle, e), { recursive: true, force: true });
}

export function readBundleMeta(bundle: string): BundleMeta {
  const file = path.join(path.resolve(bundle), BUNDLE_MARKER);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      throw new TrunError('EBUNDLE', `"${path.resolve(bundle)}" is not a trun-bundle bundle (no ${BUNDLE_MARKER})`, { path: bundle });
    }
    throw sysError('read', file, err);
  }
  let meta: BundleMeta;
  try {
    meta = JSON.parse(text) as BundleMeta;
  } catch {
    throw new TrunError('EBUNDLE', `"${file}": not valid JSON`, { path: file });
  }
  if (meta.version !== 1 || typeof meta.manifest !== 'string' || !Array.isArray(meta.diffIDs)) {
    throw new TrunError('EBUNDLE', `"${file}": not a trun-bundle bundle description`, { path: file });
  }
  return meta;
}

export interface RemoveBundleOptions {
  store?: Store;
  /** Also remove the bundle's anonymous volumes that no other bundle uses (docker's rm -v). */
  volumes?: boolean;
}

/**
 * Unmounts and deletes a bundle made by createBundle, releasing its volumes; refuses while a
 * process runs on it. Returns the anonymous volumes removed with it.
 */
export async function removeBundle(bundleArg: string, o: RemoveBundleOptions = {}): Promise<string[]> {
  const bundle = path.resolve(bundleArg);
  const meta = readBundleMeta(bundle);
  const rootfs = path.join(bundle, 'rootfs');
  if (isMountPoint(rootfs)) {
    const pids = processesRootedAt(rootfs);
    if (pids.length > 0) {
      throw new TrunError('EBUNDLE', `bundle "${bundle}" is in use by a running container (pid ${pids.join(', ')}); stop it first`, { path: bundle });
    }
  }
  for (const m of mountsUnder(bundle)) unmount(m);
  fs.rmSync(bundle, { recursive: true, force: true });
  const store = o.store ?? new Store(meta.store);
  if (!fs.existsSync(path.join(store.root, 'index.json'))) return [];
  return store.withLock(async () => {
    const volumes = store.bundleRecord(bundle)?.volumes ?? [];
    store.removeBundleRecord(bundle);
    return o.volumes ? new Volumes(store).removeAnonymous(volumes) : [];
  });
}

/** Mounts a bundle's rootfs again (after a reboot); a no-op when mounted. */
export function mountBundle(bundleArg: string, store?: Store): void {
  const bundle = path.resolve(bundleArg);
  const meta = readBundleMeta(bundle);
  const rootfs = path.join(bundle, 'rootfs');
  if (isMountPoint(rootfs)) return;
  const s = store ?? new Store(meta.store);
  for (const d of meta.diffIDs) {
    const l = s.layerDir(d);
    if (!fs.existsSync(l)) throw new TrunError('EBUNDLE', `layer "${l}" of bundle "${bundle}" is missing from the store`, { path: l });
  }
  const lower = stackDirs(s, meta.diffIDs).reverse();
  mountOverlay({ lower, upper: path.join(bundle, 'upper'), work: path.join(bundle, 'work'), target: rootfs });
}

function writeJson(file: string, value: unknown): void {
  const tmp = `${file}.tmp`;
  try {
    fs.writeFileSync(tmp, JSON.stringify(value, null, 2) + '\n', { mode: 0o644 });
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw sysError('write', file, err);
  }
}
