// Import into the store: an OCI image layout (directory), an oci-archive (its tarball), or a
// `docker save` tarball (or its unpacked directory). Every blob is checked against its digest and
// size, every diffID against its layer, before the tag is written; a failed import removes what
// it added. Layers are unpacked into the layer cache by the same read that checks them
// (layer-ingest.ts), so the first bundle of an imported image unpacks nothing.
import * as fs from 'node:fs';
import { TrunError, sysError } from '../../runtime/errors';
import type { Descriptor, ImageConfig, ImageIndex, ManifestDescriptor } from '../../spec/types/image';
import { parseImageJson, validateImageConfig, validateImageIndex, validateImageLayout, validateImageManifest } from '../../spec/validate-image';
import { stageArchive, stagedFile, type StagedArchive } from './archive';
import { checkDigest, sha256 } from './digest';
import { BlobTxn, ociArch, writeImage } from './image-write';
import { checkLayerMediaType } from './layer-cache';
import { LayerIngest } from './layer-ingest';
import { layerProgress, type ProgressFn } from './progress';
import { parseReference, tagString, DEFAULT_TAG } from './reference';
import { LAYER_MEDIA, MEDIA_INDEX, MEDIA_MANIFEST, REF_NAME, Store } from './store';

export interface ImportOptions {
  store: Store;
  source: string;
  /** NAME[:TAG] for the imported image (needed when the source names none). */
  ref?: string;
  onProgress?: ProgressFn;
}

export interface ImportedImage {
  manifestDigest: string;
  tags: string[];
}

const CONTAINERD_NAME = 'io.containerd.image.name';

export async function importImage(o: ImportOptions): Promise<ImportedImage[]> {
  const store = o.store;
  let st: fs.Stats;
  try {
    st = fs.statSync(o.source);
  } catch (err) {
    throw sysError('stat', o.source, err);
  }
  return store.withLock(async () => {
    const txn = new BlobTxn(store);
    let staging: string | null = null;
    try {
      let staged: StagedArchive;
      if (st.isDirectory()) {
        staged = { dir: o.source, aliases: new Map() };
      } else {
        staging = store.tmpPath('import');
        fs.mkdirSync(staging, { mode: 0o700 });
        staged = await stageArchive(o.source, staging);
      }
      const isOci = fs.existsSync(stagedFile(staged, 'oci-layout'));
      const isDocker = fs.existsSync(stagedFile(staged, 'manifest.json'));
      let found: Array<{ desc: { digest: string; size: number }; names: string[] }>;
      const ingest = new LayerIngest(store, txn, staging !== null);
      try {
        if (isDocker) found = await importDockerSave(store, txn, ingest, staged, o.onProgress);
        else if (isOci) found = await importOciLayout(store, txn, ingest, staged, o.onProgress);
        else throw new TrunError('EIMAGE', `"${o.source}" is neither an OCI image layout nor a docker save archive (no oci-layout, no manifest.json)`);
        ingest.adoptLayers();
      } finally {
        ingest.discard();
      }
      const result = assignTags(found, o.ref, o.source);
      for (const r of result) {
        const desc = found.find((f) => f.desc.digest === r.manifestDigest)!.desc;
        for (const t of r.tags) store.setTag(t, desc);
      }
      return result;
    } catch (err) {
      txn.rollback();
      throw err;
    } finally {
      if (staging) fs.rmSync(staging, { recursive: true, force: true });
    }
  });
}

/** Names each imported image: the caller's ref when given, else the names the source carries. */
function assignTags(found: Array<{ desc: { digest: string }; names: string[] }>, ref: string | undefined, source: string): ImportedImage[] {
  const digests = [...new Set(found.map((f) => f.desc.digest))];
  if (ref !== undefined) {
    if (digests.length !== 1) throw new TrunError('EINVAL', `"${source}" holds ${digests.length} images; import it without a name to keep theirs`);
    const r = parseReference(ref);
    return [{ manifestDigest: digests[0]!, tags: [tagString({ name: r.name, tag: r.tag ?? DEFAULT_TAG })] }];
  }
  return digests.map((d) => {
    const names = [...new Set(found.filter((f) => f.desc.digest === d).flatMap((f) => f.names))];
    if (names.length === 0) throw new TrunError('EINVAL', `an image in "${source}" has no name; give one: trun-bundle import ${source} NAME[:TAG]`);
    return { manifestDigest: d, tags: names };
  });
}

/** "name:tag" from a source annotation, or null when it only holds a tag (or nothing usable). */
function nameFromAnnotations(ann: Record<string, string | undefined> | undefined): string | null {
  for (const key of [CONTAINERD_NAME, REF_NAME]) {
    const v = ann?.[key];
    if (!v || !v.includes(':') && key === REF_NAME) continue;
    try {
      const r = parseReference(v);
      return tagString({ name: r.name, tag: r.tag ?? DEFAULT_TAG });
    } catch {
      continue;
    }
  }
  return null;
}

async function importOciLayout(store: Store, txn: BlobTxn, ingest: LayerIngest, s: StagedArchive, onProgress?: ProgressFn) {
  const layoutFile = stagedFile(s, 'oci-layout');
  validateImageLayout(parseImageJson(fs.readFileSync(layoutFile, 'utf8'), layoutFile), layoutFile);
  const indexFile = stagedFile(s, 'index.json');
  const index = validateImageIndex(parseImageJson(readOrThrow(indexFile), indexFile), indexFile);
  const blobFile = (digest: string): string => stagedFile(s, `blobs/${digest.replace(':', '/')}`);
  const readJson = async (desc: { digest: string; size: number }, what: string): Promise<unknown> => {
    const f = blobFile(desc.digest);
    if (!fs.existsSync(f)) throw new TrunError('EIMAGE', `${what} ${desc.digest} is missing from the source`, { path: f });
    const data = fs.readFileSync(f);
    checkDigest(`${what} ${desc.digest}`, desc.digest, sha256(data), desc.size, data.length);
    return parseImageJson(data.toString('utf8'), `${what} ${desc.digest}`);
  };
  const manifests: Array<{ desc: ManifestDescriptor; names: string[] }> = [];
  for (const entry of index.manifests) {
    const name = nameFromAnnotations(entry.annotations);
    const names = name ? [name] : [];
    if (entry.mediaType === MEDIA_MANIFEST) {
      manifests.push({ desc: entry, names });
    } else if (entry.mediaType === MEDIA_INDEX) {
      const nested = validateImageIndex(await readJson(entry, 'image index'), `image index ${entry.digest}`) as ImageIndex;
      manifests.push({ desc: pickPlatform(nested, entry.digest), names });
    } else {
      throw new TrunError('EIMAGE', `index entry ${entry.digest}: unsupported media type "${entry.mediaType}"`);
    }
  }
  const loaded = [];
  for (const m of manifests) {
    const manifest = validateImageManifest(await readJson(m.desc, 'manifest'), `manifest ${m.desc.digest}`);
    const config = validateImageConfig(await readJson(manifest.config, 'image config'), `image config ${manifest.config.digest}`);
    if (config.rootfs.diff_ids.length !== manifest.layers.length) {
      throw new TrunError('EIMAGE', `manifest ${m.desc.digest}: ${manifest.layers.length} layers but ${config.rootfs.diff_ids.length} diff_ids`);
    }
    for (const l of manifest.layers) {
      checkLayerMediaType(l);
      if (!fs.existsSync(blobFile(l.digest))) throw new TrunError('EIMAGE', `layer ${l.digest} is missing from the source`, { path: blobFile(l.digest) });
    }
    loaded.push({ m, manifest, config });
  }
  const layers = loaded.flatMap(({ manifest, config }) =>
    manifest.layers.map((l, i) => ({ source: blobFile(l.digest), digest: l.digest, size: l.size, diffID: config.rootfs.diff_ids[i]! })));
  await ingest.run(layers, layerProgress(onProgress, 'import', layers.length, layers.reduce((n, l) => n + l.size, 0)));
  const out: Array<{ desc: { digest: string; size: number }; names: string[] }> = [];
  for (const { m, manifest } of loaded) {
    await ingestBlob(store, txn, blobFile(manifest.config.digest), manifest.config, 'image config');
    await ingestBlob(store, txn, blobFile(m.desc.digest), m.desc, 'manifest');
    out.push({ desc: { digest: m.desc.digest, size: m.desc.size }, names: m.names });
  }
  return out;
}

/** The manifest of an image index for this machine (linux and our architecture), or its only one. */
function pickPlatform(index: ImageIndex, digest: string): ManifestDescriptor {
  const arch = ociArch();
  const candidates = index.manifests.filter((m) => m.mediaType === MEDIA_MANIFEST);
  const match = candidates.find((m) => m.platform?.os === 'linux' && m.platform.architecture === arch) ?? (candidates.length === 1 ? candidates[0] : undefined);
  if (!match) throw new TrunError('EIMAGE', `image index ${digest} has no manifest for linux/${arch}`);
  return match;
}

async function ingestBlob(store: Store, txn: BlobTxn, file: string, desc: { digest: string; size: number }, what: string): Promise<void> {
  if (!fs.existsSync(file)) throw new TrunError('EIMAGE', `${what} ${desc.digest} is missing from the source`, { path: file });
  txn.note(desc.digest);
  await store.ingestFile(file, desc, what);
}

interface DockerManifestEntry {
  Config: string;
  RepoTags?: string[] | null;
  Layers: string[];
}

async function importDockerSave(store: Store, txn: BlobTxn, ingest: LayerIngest, s: StagedArchive, onProgress?: ProgressFn) {
  const file = stagedFile(s, 'manifest.json');
  const parsed = parseImageJson(readOrThrow(file), 'manifest.json');
  if (!Array.isArray(parsed)) throw new TrunError('EIMAGE', 'docker archive manifest.json: expected an array');
  const entries = parsed as DockerManifestEntry[];
  const loaded: Array<{ e: DockerManifestEntry; config: ImageConfig; sources: string[] }> = [];
  for (const e of entries) {
    if (typeof e.Config !== 'string' || !Array.isArray(e.Layers)) throw new TrunError('EIMAGE', 'docker archive manifest.json: entry without Config or Layers');
    const cfgFile = stagedFile(s, e.Config);
    const cfgData = fs.readFileSync(cfgFile);
    const config = validateImageConfig(parseImageJson(cfgData.toString('utf8'), e.Config), e.Config) as ImageConfig;
    if (config.rootfs.diff_ids.length !== e.Layers.length) {
      throw new TrunError('EIMAGE', `docker archive: ${e.Layers.length} layers but ${config.rootfs.diff_ids.length} diff_ids in ${e.Config}`);
    }
    // docker names the config after its digest: check it when it does.
    const named = /([a-f0-9]{64})(\.json)?$/.exec(e.Config);
    const cfgDigest = sha256(cfgData);
    if (named && `sha256:${named[1]}` !== cfgDigest) checkDigest(`image config ${e.Config}`, `sha256:${named[1]}`, cfgDigest);
    const sources = e.Layers.map((name) => {
      const lf = stagedFile(s, name);
      if (!fs.existsSync(lf)) throw new TrunError('EIMAGE', `docker archive: layer "${name}" is missing`);
      return lf;
    });
    loaded.push({ e, config, sources });
  }
  const layers = loaded.flatMap(({ config, sources }) => sources.map((source, i) => ({ source, diffID: config.rootfs.diff_ids[i]! })));
  const totalBytes = [...new Set(layers.map((l) => l.source))].reduce((n, f) => n + fs.statSync(f).size, 0);
  const blobs = await ingest.run(layers, layerProgress(onProgress, 'import', layers.length, totalBytes));
  const out: Array<{ desc: { digest: string; size: number }; names: string[] }> = [];
  let next = 0;
  for (const { e, config } of loaded) {
    const descs: Descriptor[] = config.rootfs.diff_ids.map(() => {
      const b = blobs[next++]!;
      return { mediaType: LAYER_MEDIA[b.compression], digest: b.digest, size: b.size };
    });
    const m = writeImage(store, txn, { config, layers: descs });
    const names = (e.RepoTags ?? []).flatMap((t) => {
      try {
        const r = parseReference(t);
        return [tagString({ name: r.name, tag: r.tag ?? DEFAULT_TAG })];
      } catch {
        return [];
      }
    });
    out.push({ desc: { digest: m.digest, size: m.size }, names });
  }
  return out;
}

function readOrThrow(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw sysError('read', file, err);
  }
}
