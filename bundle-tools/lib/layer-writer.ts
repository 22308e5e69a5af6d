// Writes a directory tree as one layer blob in the store (gzip, zstd or plain tar). In "upper" mode the tree is an
// overlayfs upper dir: 0/0 character devices become `.wh.NAME` entries and opaque directories get
// a `.wh..wh..opq` entry. The tar stream is hashed (diffID), compressed and hashed again (digest)
// in one pass, as it is written; the blob enters blobs/ by rename only when complete.
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar-stream';
import { TrunError, sysError } from '../../runtime/errors';
import { HashingStream } from './digest';
import { FsOps } from './fsops';
import { compressor, type Compression } from './compression';
import { LAYER_MEDIA, type Store } from './store';
import { paxEntryBytes, paxFor, type TarHeader } from './tar-format';
import { isLayerXattr, isOpaqueValue, isOverlayWhiteout, OPAQUE_MARKER, OVERLAY_OPAQUE_XATTR, WHITEOUT_PREFIX, whiteoutName } from './whiteout';

export interface LayerBlob {
  /** The finished blob, still in tmp/: the caller adopts it into blobs/ under the store lock. */
  tmpFile: string;
  digest: string;
  size: number;
  diffID: string;
  entries: number;
  mediaType: string;
}

export interface WriteLayerOptions {
  /** "upper": an overlayfs upper dir (whiteouts translated); "plain": a whole root filesystem. */
  mode: 'upper' | 'plain';
  /** How the blob is compressed (default gzip). */
  compression?: Compression;
  onBytes?: (n: number) => void;
}

type PackHeader = Parameters<tar.Pack['entry']>[0];
const CHUNK = 1 << 20;

export async function writeLayer(store: Store, srcDir: string, o: WriteLayerOptions): Promise<LayerBlob> {
  const tmp = store.tmpPath('layer-blob');
  const pack = tar.pack();
  const diffHash = new HashingStream();
  const compHash = new HashingStream();
  const out = fs.createWriteStream(tmp, { mode: 0o644 });
  if (o.onBytes) diffHash.on('data', (c: Buffer) => o.onBytes!(c.length));
  const compression = o.compression ?? 'gzip';
  const writing = pipeline(pack, diffHash, compressor(compression, `layer from "${srcDir}"`), compHash, out);
  let failure: unknown = null;
  const failed = writing.then(
    () => new Promise<never>(() => undefined),
    (err: unknown) => {
      failure = err;
      throw err;
    },
  );
  failed.catch(() => undefined);
  const fsops = new FsOps();
  // Every wait also ends when the output fails (e.g. ENOSPC); the loser of the race is silenced.
  const guard = <T>(p: Promise<T>): Promise<T> => {
    p.catch(() => undefined);
    return Promise.race([p, failed]);
  };
  const walker = new Walker(pack, fsops, srcDir, o.mode, guard);
  try {
    await walker.walk('');
    pack.finalize();
    await writing;
  } catch (err) {
    pack.destroy(new Error('layer write aborted'));
    await writing.catch(() => undefined);
    fs.rmSync(tmp, { force: true });
    const cause = failure ?? err;
    if (cause instanceof TrunError) throw cause;
    const e = cause as NodeJS.ErrnoException;
    if (e.code && e.syscall) throw sysError(e.syscall, e.path ?? tmp, cause);
    throw new TrunError('ESYS', `write layer from "${srcDir}": ${e.message}`, { cause });
  } finally {
    await fsops.close();
  }
  return { tmpFile: tmp, digest: compHash.digest(), size: compHash.bytes, diffID: diffHash.digest(), entries: walker.entries, mediaType: LAYER_MEDIA[compression] };
}

class Walker {
  entries = 0;
  private readonly links = new Map<string, string>();

  constructor(
    private readonly pack: tar.Pack,
    private readonly fsops: FsOps,
    private readonly root: string,
    private readonly mode: 'upper' | 'plain',
    private readonly guard: <T>(p: Promise<T>) => Promise<T>,
  ) {}

  /** Emits the children of `rel` (and their subtrees), whiteouts before other entries. */
  async walk(rel: string): Promise<void> {
    const dir = path.join(this.root, rel);
    const names = fs.readdirSync(dir).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    const stats = names.map((n) => [n, fs.lstatSync(path.join(dir, n))] as const);
    const isWhiteout = (st: fs.Stats): boolean => this.mode === 'upper' && isOverlayWhiteout(st);
    for (const [name, st] of stats) {
      if (!isWhiteout(st)) continue;
      await this.emit({ name: join(rel, whiteoutName(name)), type: 'file', size: 0, mode: 0o600, mtime: st.mtime, uid: 0, gid: 0 });
    }
    for (const [name, st] of stats) {
      if (isWhiteout(st)) continue;
      const childRel = join(rel, name);
      if (name.startsWith(WHITEOUT_PREFIX)) {
        throw new TrunError('EINVAL', `cannot commit "${childRel}": names starting with "${WHITEOUT_PREFIX}" are reserved for whiteouts in image layers`, { path: childRel });
      }
      await this.entry(childRel, st);
    }
  }

  private async entry(rel: string, st: fs.Stats): Promise<void> {
    const full = path.join(this.root, rel);
    const xattrs = await this.guard(this.fsops.listxattrs(full));
    const layerXattrs = new Map([...xattrs].filter(([k]) => isLayerXattr(k)));
    const base: TarHeader = { name: rel, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: st.mtime, size: 0 };

    if (st.isDirectory()) {
      await this.emit({ ...base, name: rel + '/', type: 'directory' }, layerXattrs);
      if (this.mode === 'upper' && isOpaqueValue(xattrs.get(OVERLAY_OPAQUE_XATTR))) {
        await this.emit({ name: join(rel, OPAQUE_MARKER), type: 'file', size: 0, mode: 0o600, mtime: st.mtime, uid: 0, gid: 0 });
      }
      await this.walk(rel);
      return;
    }
    if (st.nlink > 1) {
      const key = `${st.dev}:${st.ino}`;
      const first = this.links.get(key);
      if (first !== undefined) {
        await this.emit({ ...base, type: 'link', linkname: first });
        return;
      }
      this.links.set(key, rel);
    }
    if (st.isFile()) {
      await this.emitFile({ ...base, type: 'file', size: st.size }, full, layerXattrs);
    } else if (st.isSymbolicLink()) {
      await this.emit({ ...base, type: 'symlink', linkname: fs.readlinkSync(full) }, layerXattrs);
    } else if (st.isCharacterDevice() || st.isBlockDevice()) {
      await this.emit({
        ...base, type: st.isCharacterDevice() ? 'character-device' : 'block-device',
        devmajor: Math.floor(st.rdev / 256) & 0xfff, devminor: (st.rdev & 0xff) | ((st.rdev >> 12) & 0xfff00),
      }, layerXattrs);
    } else if (st.isFIFO()) {
      await this.emit({ ...base, type: 'fifo' }, layerXattrs);
    } // sockets cannot be stored in a layer
  }

  private async emit(header: TarHeader, xattrs: Map<string, Buffer> = new Map()): Promise<void> {
    this.entries++;
    const h = this.withPax(header, xattrs);
    await this.guard(new Promise<void>((resolve, reject) => {
      this.pack.entry(h as PackHeader, Buffer.alloc(0), (err) => (err ? reject(err) : resolve()));
    }));
  }

  /** Streams exactly `size` bytes: a file that a running container shrinks is padded, one it grows is cut. */
  private async emitFile(header: TarHeader, full: string, xattrs: Map<string, Buffer>): Promise<void> {
    this.entries++;
    const size = header.size ?? 0;
    const h = this.withPax(header, xattrs);
    let fd: number;
    try {
      fd = fs.openSync(full, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    } catch (err) {
      throw sysError('open', full, err);
    }
    try {
      let done: (err?: Error | null) => void = () => undefined;
      const finished = new Promise<void>((resolve, reject) => {
        done = (err) => (err ? reject(err) : resolve());
      });
      finished.catch(() => undefined); // awaited below unless an earlier wait fails first
      const sink = this.pack.entry(h as PackHeader, (err) => done(err));
      let off = 0;
      while (off < size) {
        const buf = Buffer.allocUnsafe(Math.min(CHUNK, size - off)); // filled by the read (or zeros below)
        const n = fs.readSync(fd, buf, 0, buf.length, off);
        const chunk = n === 0 ? buf.fill(0) : buf.subarray(0, n); // n === 0: the file shrank; pad with zeros
        off += chunk.length;
        if (!sink.write(chunk)) await this.guard(once(sink as unknown as NodeJS.EventEmitter, 'drain'));
      }
      (sink as unknown as { end(): void }).end();
      await this.guard(finished);
    } finally {
      fs.closeSync(fd);
    }
  }

  /** Pushes a binary-safe PAX header when needed and returns the header to write after it. */
  private withPax(header: TarHeader, xattrs: Map<string, Buffer>): TarHeader {
    const p = paxFor(header, xattrs);
    if (!p) return header;
    this.pack.push(paxEntryBytes(p.pax));
    return p.header;
  }
}

function join(rel: string, name: string): string {
  return rel === '' ? name : `${rel}/${name}`;
}
