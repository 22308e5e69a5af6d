// The local image store: an OCI image layout (oci-layout, index.json, blobs/sha256/) plus trun's
// own directories beside it: layers/ (unpacked layers keyed by diffID, the lower dirs of
// bundles), bundles/ (which bundle uses which layers), tmp/ (staging; nothing there is
// reachable). Blobs enter only by rename after their digest is checked, index.json only by
// rename of a complete file, so an interrupted or failed write leaves the store as it was.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { TrunError, sysError } from '../../runtime/errors';
import { withPidLock } from '../../runtime/pid-lock';
import { isAlive } from '../../runtime/linux/proc';
import type { Descriptor, ImageConfig, ImageIndex, ImageManifest, ManifestDescriptor } from '../../spec/types/image';
import { parseImageJson, validateImageConfig, validateImageIndex, validateImageLayout, validateImageManifest } from '../../spec/validate-image';
import type { Compression } from './compression';
import { checkDigest, digestHex, HashingStream, isDigest, sha256 } from './digest';
import { parseReference, tagString, DEFAULT_TAG } from './reference';

export const DEFAULT_STORE = '/var/lib/trun';
export const REF_NAME = 'org.opencontainers.image.ref.name';
export const MEDIA_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const MEDIA_INDEX = 'application/vnd.oci.image.index.v1+json';
export const MEDIA_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const MEDIA_LAYER_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';
export const MEDIA_LAYER_TAR = 'application/vnd.oci.image.layer.v1.tar';
export const MEDIA_LAYER_ZSTD = 'application/vnd.oci.image.layer.v1.tar+zstd';
/** The OCI media type of a layer blob by its compression. */
export const LAYER_MEDIA: Record<Compression, string> = { none: MEDIA_LAYER_TAR, gzip: MEDIA_LAYER_GZIP, zstd: MEDIA_LAYER_ZSTD };

/** One manifest of the store, with its config, as the commands see it. */
export interface Image {
  manifestDigest: string;
  manifestSize: number;
  manifest: ImageManifest;
  configDigest: string;
  config: ImageConfig;
  tags: string[];
}

export interface BundleRecord {
  bundle: string;
  manifest: string;
  diffIDs: string[];
  created: string;
  /** Names of the store volumes the bundle mounts (they cannot be removed while it exists). */
  volumes?: string[];
}

export class Store {
  readonly root: string;

  constructor(root: string = DEFAULT_STORE) {
    this.root = path.resolve(root);
  }

  get blobsDir(): string {
    return path.join(this.root, 'blobs', 'sha256');
  }
  get layersDir(): string {
    return path.join(this.root, 'layers');
  }
  get tmpDir(): string {
    return path.join(this.root, 'tmp');
  }
  get bundlesDir(): string {
    return path.join(this.root, 'bundles');
  }
  get volumesDir(): string {
    return path.join(this.root, 'volumes');
  }

  /** Creates the layout when missing; checks oci-layout when present. */
  init(): this {
    try {
      for (const d of [this.blobsDir, this.layersDir, this.tmpDir, this.bundlesDir]) fs.mkdirSync(d, { recursive: true, mode: 0o700 });
      const layout = path.join(this.root, 'oci-layout');
      if (!fs.existsSync(layout)) this.writeAtomic(layout, JSON.stringify({ imageLayoutVersion: '1.0.0' }));
      else validateImageLayout(parseImageJson(fs.readFileSync(layout, 'utf8'), layout), layout);
      const index = path.join(this.root, 'index.json');
      if (!fs.existsSync(index)) this.writeAtomic(index, JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_INDEX, manifests: [] }));
    } catch (err) {
      if (err instanceof TrunError) throw err;
      const e = err as NodeJS.ErrnoException;
      throw sysError(e.syscall ?? 'open', e.path ?? this.root, err);
    }
    return this;
  }

  // ---- locking: one writer of index.json, bundles/ and the gc at a time ----

  /** Runs `fn` holding the store lock (a file naming its holder; a dead holder's lock is taken over). */
  async withLock<T>(fn: () => Promise<T>): Promise<T> {
    const lock = path.join(this.root, 'lock');
    return withPidLock(lock, { busy: (holder) => new TrunError('EIMAGE', `store "${this.root}" is locked by pid ${holder}`, { path: lock }) }, fn);
  }

  // ---- blobs ----

  blobPath(digest: string): string {
    return path.join(this.blobsDir, digestHex(digest));
  }

  hasBlob(digest: string): boolean {
    return fs.existsSync(this.blobPath(digest));
  }

  /** A fresh path in tmp/ (same file system as blobs/, so renames are atomic). */
  tmpPath(prefix: string): string {
    return path.join(this.tmpDir, `${prefix}-${process.pid}-${randomBytes(6).toString('hex')}`);
  }

  /** Reads a small blob whole, checking digest and size. */
  readBlob(desc: { digest: string; size?: number }, what = 'blob'): Buffer {
    const file = this.blobPath(desc.digest);
    let data: Buffer;
    try {
      data = fs.readFileSync(file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new TrunError('EIMAGE', `${what} ${desc.digest} is missing from the store`, { path: file });
      throw sysError('read', file, err);
    }
    checkDigest(`${what} ${desc.digest}`, desc.digest, sha256(data), desc.size, data.length);
    return data;
  }

  /** Stores bytes as a blob; returns its digest. Idempotent. */
  writeBlob(data: Buffer): string {
    const digest = sha256(data);
    const dest = this.blobPath(digest);
    if (fs.existsSync(dest)) return digest;
    const tmp = this.tmpPath('blob');
    try {
      fs.writeFileSync(tmp, data, { mode: 0o644 });
      fs.renameSync(tmp, dest);
    } catch (err) {
      fs.rmSync(tmp, { force: true });
      throw sysError('write', tmp, err);
    }
    return digest;
  }

  /**
   * Copies a file into the store as a blob, hashing it on the way; when `expected` is given the
   * copy must match it. Returns the digest and size. Nothing enters blobs/ unless it matched.
   */
  async ingestFile(src: string, expected?: { digest: string; size?: number }, what = 'blob', onBytes?: (n: number) => void): Promise<{ digest: string; size: number; added: boolean }> {
    if (expected && this.hasBlob(expected.digest)) {
      // Already here (verified when it came in): still check the source is what it claims.
      const h = new HashingStream();
      await pipeline(fs.createReadStream(src), h, devNull());
      checkDigest(`${what} ${expected.digest}`, expected.digest, h.digest(), expected.size, h.bytes);
      return { digest: expected.digest, size: h.bytes, added: false };
    }
    const tmp = this.tmpPath('ingest');
    const h = new HashingStream();
    try {
      const input = fs.createReadStream(src);
      if (onBytes) input.on('data', (c: Buffer | string) => onBytes(c.length));
      await pipeline(input, h, fs.createWriteStream(tmp, { mode: 0o644 }));
      const digest = h.digest();
      if (expected) checkDigest(`${what} ${expected.digest}`, expected.digest, digest, expected.size, h.bytes);
      const added = !this.hasBlob(digest);
      fs.renameSync(tmp, this.blobPath(digest));
      return { digest, size: h.bytes, added };
    } catch (err) {
      fs.rmSync(tmp, { force: true });
      if (err instanceof TrunError) throw err;
      const e = err as NodeJS.ErrnoException;
      throw sysError(e.syscall ?? 'copy', e.path ?? src, err);
    }
  }

  /** Like writeBlob; `onNew` hears the digest when the blob was not there before. */
  writeBlobIfNew(data: Buffer, onNew: (digest: string) => void): string {
    const digest = sha256(data);
    if (!this.hasBlob(digest)) {
      onNew(digest);
      this.writeBlob(data);
    }
    return digest;
  }

  /** Moves an already-hashed file from tmp/ into blobs/. */
  adoptBlob(tmpFile: string, digest: string): void {
    const dest = this.blobPath(digest);
    try {
      if (fs.existsSync(dest)) fs.rmSync(tmpFile, { force: true });
      else fs.renameSync(tmpFile, dest);
    } catch (err) {
      throw sysError('rename', tmpFile, err);
    }
  }

  readManifest(desc: { digest: string; size?: number }): ImageManifest {
    const data = this.readBlob(desc, 'manifest');
    return validateImageManifest(parseImageJson(data.toString('utf8'), `manifest ${desc.digest}`), `manifest ${desc.digest}`);
  }

  readConfig(desc: { digest: string; size?: number }): ImageConfig {
    const data = this.readBlob(desc, 'image config');
    return validateImageConfig(parseImageJson(data.toString('utf8'), `image config ${desc.digest}`), `image config ${desc.digest}`);
  }

  // ---- index.json and tags ----

  readIndex(): ImageIndex {
    const file = path.join(this.root, 'index.json');
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (err) {
      throw sysError('read', file, err);
    }
    return validateImageIndex(parseImageJson(text, file), file);
  }

  writeIndex(index: ImageIndex): void {
    this.writeAtomic(path.join(this.root, 'index.json'), JSON.stringify(index, null, 2) + '\n');
  }

  /** Every image manifest in the index (one per digest), with its tags. */
  listImages(): Image[] {
    const byDigest = new Map<string, { desc: ManifestDescriptor; tags: string[] }>();
    for (const m of this.readIndex().manifests) {
      if (m.mediaType !== MEDIA_MANIFEST) continue;
      const entry = byDigest.get(m.digest) ?? { desc: m, tags: [] };
      const ref = m.annotations?.[REF_NAME];
      if (ref !== undefined && !entry.tags.includes(ref)) entry.tags.push(ref);
      byDigest.set(m.digest, entry);
    }
    return [...byDigest.values()].map(({ desc, tags }) => this.loadImage(desc, tags));
  }

  loadImage(desc: { digest: string; size: number }, tags: string[] = []): Image {
    const manifest = this.readManifest(desc);
    const config = this.readConfig(manifest.config);
    if (config.rootfs.diff_ids.length !== manifest.layers.length) {
      throw new TrunError('EIMAGE', `image ${desc.digest}: ${manifest.layers.length} layers but ${config.rootfs.diff_ids.length} diff_ids in its config`);
    }
    return { manifestDigest: desc.digest, manifestSize: desc.size, manifest, configDigest: manifest.config.digest, config, tags };
  }

  /**
   * Finds an image by NAME[:TAG], NAME@DIGEST, manifest digest, or an image id (the config
   * digest, or a prefix of at least 4 hex digits of it, as `images` prints).
   */
  resolve(input: string): Image {
    const entries = this.readIndex().manifests.filter((m) => m.mediaType === MEDIA_MANIFEST);
    const tagsOf = (digest: string): string[] =>
      entries.filter((m) => m.digest === digest && m.annotations?.[REF_NAME] !== undefined).map((m) => m.annotations![REF_NAME]!);
    const byDigest = (digest: string): Image | null => {
      const m = entries.find((e) => e.digest === digest);
      return m ? this.loadImage(m, tagsOf(m.digest)) : null;
    };
    if (isDigest(input)) {
      const img = byDigest(input) ?? this.listImages().find((i) => i.configDigest === input) ?? null;
      if (img) return img;
      throw new TrunError('EIMAGE', `image "${input}" not found in store "${this.root}"`);
    }
    const hex = input.startsWith('sha256:') ? input.slice(7) : input;
    if (/^[a-f0-9]{4,64}$/.test(hex) && !input.includes(':') && !entries.some((m) => nameOf(m.annotations?.[REF_NAME]) === input)) {
      const found = this.listImages().filter((i) => digestHex(i.configDigest).startsWith(hex));
      if (found.length === 1) return found[0]!;
      if (found.length > 1) throw new TrunError('EINVAL', `image id "${input}" is ambiguous (${found.length} images)`);
    }
    const ref = parseReference(input);
    if (ref.digest !== undefined) {
      const img = byDigest(ref.digest);
      if (img && (ref.tag === undefined || img.tags.includes(tagString({ name: ref.name, tag: ref.tag })))) return img;
      throw new TrunError('EIMAGE', `image "${input}" not found in store "${this.root}"`);
    }
    const want = tagString({ name: ref.name, tag: ref.tag ?? DEFAULT_TAG });
    const m = entries.find((e) => e.annotations?.[REF_NAME] === want);
    if (!m) throw new TrunError('EIMAGE', `image "${want}" not found in store "${this.root}"`);
    return this.loadImage(m, tagsOf(m.digest));
  }

  /** Points `tag` ("name:tag") at a manifest, moving it off any other. Call under withLock. */
  setTag(tag: string, desc: { digest: string; size: number }, annotations: Record<string, string> = {}): void {
    const index = this.readIndex();
    index.manifests = index.manifests.filter((m) => m.annotations?.[REF_NAME] !== tag);
    // An untagged entry for the same manifest is replaced by the tagged one.
    index.manifests = index.manifests.filter((m) => !(m.digest === desc.digest && m.annotations?.[REF_NAME] === undefined));
    index.manifests.push({ mediaType: MEDIA_MANIFEST, digest: desc.digest, size: desc.size, annotations: { ...annotations, [REF_NAME]: tag } });
    this.writeIndex(index);
  }

  /** Removes index entries: one tag, or every entry of a manifest. Call under withLock. */
  removeFromIndex(match: { tag?: string; digest?: string }): void {
    const index = this.readIndex();
    index.manifests = index.manifests.filter((m) =>
      !((match.tag !== undefined && m.annotations?.[REF_NAME] === match.tag) || (match.digest !== undefined && m.digest === match.digest)));
    this.writeIndex(index);
  }

  // ---- bundle records: which layers a bundle's overlay stacks ----

  private recordPath(bundle: string): string {
    return path.join(this.bundlesDir, `${sha256(path.resolve(bundle)).slice(7, 39)}.json`);
  }

  addBundleRecord(rec: BundleRecord): void {
    this.writeAtomic(this.recordPath(rec.bundle), JSON.stringify(rec, null, 2) + '\n');
  }

  /** The record of one bundle, or null when it has none. */
  bundleRecord(bundle: string): BundleRecord | null {
    try {
      return JSON.parse(fs.readFileSync(this.recordPath(bundle), 'utf8')) as BundleRecord;
    } catch {
      return null;
    }
  }

  removeBundleRecord(bundle: string): void {
    fs.rmSync(this.recordPath(bundle), { force: true });
  }

  /** Records of bundles that still exist (a record whose bundle was deleted by hand is dropped). */
  bundleRecords(): BundleRecord[] {
    const out: BundleRecord[] = [];
    for (const name of safeReaddir(this.bundlesDir)) {
      const file = path.join(this.bundlesDir, name);
      let rec: BundleRecord;
      try {
        rec = JSON.parse(fs.readFileSync(file, 'utf8')) as BundleRecord;
      } catch {
        continue;
      }
      if (!fs.existsSync(path.join(rec.bundle, BUNDLE_MARKER))) {
        fs.rmSync(file, { force: true });
        continue;
      }
      out.push(rec);
    }
    return out;
  }

  // ---- layer cache ----

  layerDir(diffID: string): string {
    return path.join(this.layersDir, digestHex(diffID));
  }

  hasLayer(diffID: string): boolean {
    return fs.existsSync(this.layerDir(diffID));
  }

  // ---- garbage collection ----

  /**
   * Deletes blobs nothing in index.json reaches and unpacked layers no image and no bundle uses.
   * Call under withLock. Returns what was removed.
   */
  gc(): { blobs: number; layers: number; bytes: number } {
    const keepBlobs = new Set<string>();
    const keepLayers = new Set<string>();
    const visit = (desc: { digest: string; mediaType: string; size: number }): void => {
      if (keepBlobs.has(desc.digest)) return;
      keepBlobs.add(desc.digest);
      if (!this.hasBlob(desc.digest)) return;
      if (desc.mediaType === MEDIA_INDEX) {
        const idx = validateImageIndex(JSON.parse(this.readBlob(desc).toString('utf8')), desc.digest);
        idx.manifests.forEach(visit);
      } else if (desc.mediaType === MEDIA_MANIFEST) {
        const m = this.readManifest(desc);
        keepBlobs.add(m.config.digest);
        for (const l of m.layers) keepBlobs.add(l.digest);
        if (this.hasBlob(m.config.digest)) for (const d of this.readConfig(m.config).rootfs.diff_ids) keepLayers.add(d);
      }
    };
    this.readIndex().manifests.forEach(visit);
    for (const rec of this.bundleRecords()) for (const d of rec.diffIDs) keepLayers.add(d);
    let blobs = 0;
    let layers = 0;
    let bytes = 0;
    for (const hex of safeReaddir(this.blobsDir)) {
      if (keepBlobs.has(`sha256:${hex}`)) continue;
      const file = path.join(this.blobsDir, hex);
      bytes += fs.statSync(file).size;
      fs.rmSync(file, { force: true });
      blobs++;
    }
    for (const hex of safeReaddir(this.layersDir)) {
      if (keepLayers.has(`sha256:${hex.replace(/-[0-9]+$/, '')}`)) continue; // "-N": a repeated layer's copy
      fs.rmSync(path.join(this.layersDir, hex), { recursive: true, force: true });
      layers++;
    }
    // Staging files of processes that are gone.
    for (const name of safeReaddir(this.tmpDir)) {
      const pid = Number(name.split('-')[1]);
      if (Number.isInteger(pid) && pid > 0 && isAlive(pid) && pid !== process.pid) continue;
      fs.rmSync(path.join(this.tmpDir, name), { recursive: true, force: true });
    }
    return { blobs, layers, bytes };
  }

  /** Writes a file by rename of a complete temporary copy. */
  writeAtomic(file: string, text: string): void {
    const tmp = `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
    try {
      fs.writeFileSync(tmp, text, { mode: 0o644 });
      fs.renameSync(tmp, file);
    } catch (err) {
      fs.rmSync(tmp, { force: true });
      throw sysError('write', file, err);
    }
  }
}

/** The file that marks a directory as a bundle made by trun-bundle. */
export const BUNDLE_MARKER = 'trun-bundle.json';

export function descriptorOf(mediaType: string, digest: string, size: number): Descriptor {
  return { mediaType, digest, size };
}

function nameOf(ref: string | undefined): string | undefined {
  if (ref === undefined) return undefined;
  const slash = ref.lastIndexOf('/');
  const colon = ref.lastIndexOf(':');
  return colon > slash ? ref.slice(0, colon) : ref;
}

function safeReaddir(dir: string): string[] {
  try {
    return fs.readdirSync(dir).sort();
  } catch {
    return [];
  }
}

function devNull(): NodeJS.WritableStream {
  return fs.createWriteStream('/dev/null');
}
