// Crafted tarballs for trun-bundle's tests: layers with whiteouts, hard links, devices, PAX
// xattrs, and the hostile shapes of node-tar's 2021 advisories. Built with tar-stream so tests
// can write entries no honest tool would.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import * as tar from 'tar-stream';
import { paxEntryBytes, paxFor, type TarHeader } from '../../bundle-tools/lib/tar-format';

export interface CraftedEntry {
  name: string;
  type?: 'file' | 'directory' | 'symlink' | 'link' | 'character-device' | 'block-device' | 'fifo';
  content?: string | Buffer;
  linkname?: string;
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: Date;
  devmajor?: number;
  devminor?: number;
  xattrs?: Record<string, Buffer | string>;
}

type PackHeader = Parameters<tar.Pack['entry']>[0];

/** The tar bytes of `entries`, in order, exactly as given (no path cleaning). */
export async function makeTar(entries: CraftedEntry[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = new Promise<void>((resolve, reject) => {
    pack.on('data', (c: unknown) => {
      chunks.push(c as Buffer);
    });
    pack.on('end', () => resolve());
    pack.on('error', reject);
  });
  for (const e of entries) {
    const type = e.type ?? 'file';
    const content = type === 'file' ? Buffer.from(e.content ?? '') : Buffer.alloc(0);
    let header = {
      name: e.name,
      type,
      size: content.length,
      mode: e.mode ?? (type === 'directory' ? 0o755 : 0o644),
      uid: e.uid ?? 0,
      gid: e.gid ?? 0,
      mtime: e.mtime ?? new Date(1_600_000_000_000),
      linkname: e.linkname,
      devmajor: e.devmajor ?? 0,
      devminor: e.devminor ?? 0,
    } as PackHeader;
    if (e.xattrs) {
      const xattrs = new Map(Object.entries(e.xattrs).map(([k, v]) => [k, Buffer.from(v)]));
      const p = paxFor(header as unknown as TarHeader, xattrs);
      if (p) {
        pack.push(paxEntryBytes(p.pax)); // between entries: raw bytes keep binary values intact
        header = p.header as unknown as PackHeader;
      }
    }
    await new Promise<void>((resolve, reject) => pack.entry(header, content, (err) => (err ? reject(err) : resolve())));
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

export function gzip(buf: Buffer): Buffer {
  return zlib.gzipSync(buf);
}

export function sha256(buf: Buffer | string): string {
  return `sha256:${createHash('sha256').update(buf).digest('hex')}`;
}

export interface LayoutLayer {
  entries: CraftedEntry[];
  compress?: boolean;
}

export interface BuiltImage {
  dir: string;
  manifestDigest: string;
  configDigest: string;
  layerDigests: string[];
  diffIDs: string[];
}

/**
 * Writes an OCI image layout at `dir` with one image made of `layers` (in order, base first),
 * tagged `ref` through the `org.opencontainers.image.ref.name` annotation.
 */
export async function makeOciLayout(dir: string, ref: string, layers: LayoutLayer[], config: Record<string, unknown> = {}): Promise<BuiltImage> {
  const blobs = path.join(dir, 'blobs', 'sha256');
  fs.mkdirSync(blobs, { recursive: true });
  const put = (data: Buffer): string => {
    const d = sha256(data);
    fs.writeFileSync(path.join(blobs, d.slice(7)), data);
    return d;
  };
  const layerDescs: Array<{ mediaType: string; digest: string; size: number }> = [];
  const diffIDs: string[] = [];
  for (const l of layers) {
    const raw = await makeTar(l.entries);
    diffIDs.push(sha256(raw));
    const data = l.compress === false ? raw : gzip(raw);
    layerDescs.push({
      mediaType: l.compress === false ? 'application/vnd.oci.image.layer.v1.tar' : 'application/vnd.oci.image.layer.v1.tar+gzip',
      digest: put(data),
      size: data.length,
    });
  }
  const cfg = Buffer.from(JSON.stringify({
    created: '2024-01-01T00:00:00Z',
    architecture: 'amd64',
    os: 'linux',
    config: {},
    ...config,
    rootfs: { type: 'layers', diff_ids: diffIDs },
    history: layers.map(() => ({ created: '2024-01-01T00:00:00Z', created_by: 'test' })),
  }));
  const configDigest = put(cfg);
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: cfg.length },
    layers: layerDescs,
  }));
  const manifestDigest = put(manifest);
  fs.writeFileSync(path.join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  fs.writeFileSync(path.join(dir, 'index.json'), JSON.stringify({
    schemaVersion: 2,
    manifests: [{
      mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: manifestDigest, size: manifest.length,
      annotations: { 'org.opencontainers.image.ref.name': ref },
    }],
  }));
  return { dir, manifestDigest, configDigest, layerDigests: layerDescs.map((l) => l.digest), diffIDs };
}

/** Writes a single layer blob file and returns what unpackLayer needs to check it. */
export async function makeLayerFile(file: string, entries: CraftedEntry[], compress = true): Promise<{ file: string; digest: string; size: number; diffID: string }> {
  const raw = await makeTar(entries);
  const data = compress ? gzip(raw) : raw;
  fs.writeFileSync(file, data);
  return { file, digest: sha256(data), size: data.length, diffID: sha256(raw) };
}

/** One line per entry below `dir` (type, mode, owner, size/target, content hash): for exact tree comparisons. */
export function snapshotTree(dir: string, opts: { mtime?: boolean } = {}): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    for (const name of fs.readdirSync(path.join(dir, rel)).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      const full = path.join(dir, r);
      const st = fs.lstatSync(full);
      const type = st.isDirectory() ? 'd' : st.isSymbolicLink() ? 'l' : st.isFile() ? 'f' : st.isCharacterDevice() ? 'c' : st.isBlockDevice() ? 'b' : st.isFIFO() ? 'p' : '?';
      let extra = '';
      if (type === 'f') extra = sha256(fs.readFileSync(full)).slice(7, 19);
      if (type === 'l') extra = `-> ${fs.readlinkSync(full)}`;
      if (type === 'c' || type === 'b') extra = `${st.rdev}`;
      const mtime = opts.mtime && type !== 'l' ? ` @${Math.floor(st.mtimeMs / 1000)}` : '';
      out.push(`${type} ${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid} ${r} ${extra}${mtime}`.trimEnd());
      if (type === 'd') walk(r);
    }
  };
  walk('');
  return out;
}

/** Unmounts everything at or below `dir` (deepest first); for test cleanup. */
export function unmountAll(dir: string): void {
  let real: string;
  try {
    real = fs.realpathSync(dir);
  } catch {
    return;
  }
  const mps = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')
    .map((l) => l.split(' ')[4])
    .filter((m): m is string => m !== undefined && (m === real || m.startsWith(real + '/')))
    .sort((a, b) => b.length - a.length);
  for (const m of mps) execFileSync('umount', ['-l', m]);
}

/** Mount points at or below `dir`. */
export function mountsBelow(dir: string): string[] {
  const real = fs.realpathSync(dir);
  return fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')
    .map((l) => l.split(' ')[4])
    .filter((m): m is string => m !== undefined && (m === real || m.startsWith(real + '/')));
}
