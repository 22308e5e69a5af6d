// Applies one layer blob to an empty directory in overlayfs form: the directory becomes a lower
// layer of bundles. OCI whiteouts become 0/0 character devices, opaque markers become the
// `trusted.overlay.opaque` xattr. Every entry is resolved inside the directory without following
// symlinks; the blob's digest and diffID are checked as it streams.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Transform, Writable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { threadId } from 'node:worker_threads';
import * as tar from 'tar-stream';
import { TrunError, sysError } from '../../runtime/errors';
import { checkDigest, HashingStream } from './digest';
import { decompressor, fileCompression, type Compression } from './compression';
import { FsOps, S_IFBLK, S_IFCHR, S_IFIFO } from './fsops';
import { ensureParentDirs, normalizeEntryPath } from './path-safety';
import { entryAttrs, useBinaryPax, type EntryAttrs, type TarHeader } from './tar-format';
import { classifyEntryName, isLayerXattr, isOverlayWhiteout, OVERLAY_OPAQUE_XATTR } from './whiteout';

export interface LayerSource {
  /** The blob file. */
  file: string;
  /** Expected digest and size of the blob as stored (compressed or not). */
  digest: string;
  size?: number;
  /** Expected digest of the uncompressed tar, from the image config's rootfs.diff_ids. */
  diffID: string;
}

export interface UnpackStats {
  entries: number;
  whiteouts: number;
  opaques: number;
}

/**
 * One read of a layer blob: its digest, its diffID and (when `dest` is set) its extraction all
 * come from the same stream, and `copyTo` receives a copy of the blob bytes on the way (import).
 * `digest` may be left out when the source names none (docker save): it is then only computed.
 */
export interface LayerPass {
  file: string;
  digest?: string;
  size?: number;
  diffID: string;
  /** An existing empty directory to extract into, or null to verify only. */
  dest: string | null;
  /** A new file that receives the blob bytes as they are read. */
  copyTo?: string;
}

export interface PassResult {
  digest: string;
  size: number;
  compression: Compression;
  stats: UnpackStats;
  /** The thread that did the work (0: the main thread), for tests and diagnostics. */
  thread: number;
}

/**
 * Unpacks `src` into `dest` (an existing empty directory). Throws EIMAGE for corrupt or unsafe
 * content; the caller discards `dest` on any error.
 */
export async function unpackLayer(src: LayerSource, dest: string, fsops: FsOps, onBytes?: (n: number) => void): Promise<UnpackStats> {
  return (await passLayer({ ...src, dest }, fsops, onBytes)).stats;
}

/**
 * Reads a layer once (see LayerPass) and checks both digests. Throws EIMAGE for corrupt or unsafe
 * content; the caller discards `dest` and `copyTo` on any error, and uses them only after this
 * returns, so a layer whose digests do not match is never adopted.
 */
export async function passLayer(job: LayerPass, fsops: FsOps | null, onBytes?: (n: number) => void): Promise<PassResult> {
  const what = `layer ${job.digest ?? `"${job.file}"`}`;
  const compressedHash = new HashingStream();
  const diffHash = new HashingStream();
  const compression = fileCompression(job.file);
  const input = fs.createReadStream(job.file, { highWaterMark: 1 << 20 });
  if (onBytes) input.on('data', (chunk: Buffer | string) => onBytes(chunk.length));
  const stages: NodeJS.ReadWriteStream[] = [compressedHash];
  let copyFd: number | null = null;
  if (job.copyTo !== undefined) {
    try {
      copyFd = fs.openSync(job.copyTo, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o644);
    } catch (err) {
      throw sysError('open', job.copyTo, err);
    }
    stages.push(new CopyToFile(copyFd, job.copyTo));
  }
  stages.push(decompressor(compression, what), diffHash);
  let applier: Applier | null = null;
  try {
    if (job.dest === null) {
      await pipeline([input, ...stages, new Writable({ write: (_c, _e, cb) => cb() })]);
    } else {
      if (!fsops) throw new TrunError('ESYS', `${what}: extraction needs the fsops helper`);
      applier = new Applier(job.dest, fsops);
      await extractInto(applier, [input, ...stages]);
    }
  } catch (err) {
    if (err instanceof TrunError) throw err;
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'Z_DATA_ERROR' || e.code === 'Z_BUF_ERROR' || /unexpected end|Invalid tar|Invalid header|Unexpected end/i.test(e.message)) {
      throw new TrunError('EIMAGE', `${what}: corrupt or truncated layer (${e.message})`, { cause: err });
    }
    if (e.syscall && e.path) throw sysError(e.syscall, e.path, err);
    throw new TrunError('EIMAGE', `${what}: ${e.message}`, { cause: err });
  } finally {
    if (copyFd !== null) fs.closeSync(copyFd);
  }
  const digest = compressedHash.digest();
  if (job.digest !== undefined) checkDigest(what, job.digest, digest, job.size, job.size === undefined ? undefined : compressedHash.bytes);
  checkDigest(`${what} (uncompressed)`, job.diffID, diffHash.digest());
  await applier?.finish();
  return { digest, size: compressedHash.bytes, compression, stats: applier?.stats ?? { entries: 0, whiteouts: 0, opaques: 0 }, thread: threadId };
}

async function extractInto(applier: Applier, stages: Stream[]): Promise<void> {
  const extract = tar.extract();
  useBinaryPax(extract);
  const feeding = pipeline([...stages, extract]);
  feeding.catch(() => undefined); // reported below, after the entry loop stops
  try {
    for await (const entry of extract) {
      await applier.apply(entry.header as unknown as TarHeader, entry as unknown as AsyncIterable<Buffer>);
    }
    await feeding;
  } catch (err) {
    extract.destroy();
    await feeding.catch(() => undefined);
    throw err;
  }
}

type Stream = NodeJS.ReadableStream | NodeJS.WritableStream | NodeJS.ReadWriteStream;

/** Passes bytes on once they are written to `fd`, so the copy keeps pace with the reader. */
class CopyToFile extends Transform {
  constructor(private readonly fd: number, private readonly file: string) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    const write = (off: number): void => {
      fs.write(this.fd, chunk, off, chunk.length - off, null, (err, n) => {
        if (err) return cb(sysError('write', this.file, err));
        if (off + n < chunk.length) return write(off + n);
        cb(null, chunk);
      });
    };
    write(0);
  }
}

class Applier {
  readonly stats: UnpackStats = { entries: 0, whiteouts: 0, opaques: 0 };
  /** Directory mtimes are set last: creating children changes them. */
  private readonly dirTimes = new Map<string, Date>();

  constructor(private readonly root: string, private readonly fsops: FsOps) {}

  async apply(header: TarHeader, body: AsyncIterable<Buffer>): Promise<void> {
    this.stats.entries++;
    const rel = normalizeEntryPath(header.name);
    const type = header.type ?? 'file';
    if (rel === '') return drain(body); // the layer root: overlayfs takes the root's attributes from the upper dir
    const base = path.posix.basename(rel);
    const parentRel = path.posix.dirname(rel) === '.' ? '' : path.posix.dirname(rel);
    const cls = classifyEntryName(base);
    if (cls.kind === 'meta') return drain(body);
    if (cls.kind === 'opaque') {
      ensureParentDirs(this.root, rel);
      await this.fsops.setxattr(path.join(this.root, parentRel), OVERLAY_OPAQUE_XATTR, Buffer.from('y'));
      this.stats.opaques++;
      return drain(body);
    }
    if (cls.kind === 'whiteout') {
      const targetRel = parentRel === '' ? cls.target : `${parentRel}/${cls.target}`;
      ensureParentDirs(this.root, targetRel);
      const target = path.join(this.root, targetRel);
      const existing = lstatOrNull(target);
      if (existing === null) {
        await this.fsops.mknod(target, S_IFCHR, 0, 0);
      } else if (existing.isDirectory()) {
        // Deleted and recreated within this layer: the new directory must not show lower content.
        await this.fsops.setxattr(target, OVERLAY_OPAQUE_XATTR, Buffer.from('y'));
      } // else an entry of this layer already hides the lower path
      this.stats.whiteouts++;
      return drain(body);
    }

    ensureParentDirs(this.root, rel);
    const target = path.join(this.root, rel);
    const existing = lstatOrNull(target);
    const attrs = entryAttrs(header);

    if (type === 'directory') {
      if (existing === null || !existing.isDirectory()) {
        if (existing !== null) fs.unlinkSync(target);
        fs.mkdirSync(target, { mode: 0o700 });
        if (existing !== null && isOverlayWhiteout(existing)) {
          await this.fsops.setxattr(target, OVERLAY_OPAQUE_XATTR, Buffer.from('y'));
        }
      }
      await this.setAttrs(target, attrs, 'directory');
      this.dirTimes.set(target, attrs.mtime);
      return drain(body);
    }

    // Everything else replaces what is there (OCI "changeset over existing files").
    if (existing !== null) {
      if (existing.isDirectory()) fs.rmSync(target, { recursive: true, force: true });
      else fs.unlinkSync(target);
    }
    switch (type) {
      case 'file':
      case 'contiguous-file': {
        // O_EXCL: never opens through a symlink planted at this path.
        const fd = fs.openSync(target, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, 0o600);
        try {
          // Plain writes into the page cache: a round trip to the thread pool per chunk cost more.
          for await (const chunk of body) {
            for (let off = 0; off < chunk.length;) off += fs.writeSync(fd, chunk, off, chunk.length - off);
          }
        } catch (err) {
          if ((err as NodeJS.ErrnoException).syscall) throw sysError('write', target, err);
          throw err;
        } finally {
          fs.closeSync(fd);
        }
        break;
      }
      case 'link': {
        const linkRel = normalizeEntryPath(header.linkname ?? '', `hard link "${rel}" to`);
        if (linkRel === '') throw new TrunError('EIMAGE', `hard link "${rel}": empty target`, { path: rel });
        try {
          ensureParentDirs(this.root, linkRel, false);
        } catch (err) {
          if (err instanceof TrunError && /does not exist$/.test(err.message)) {
            throw new TrunError('EIMAGE', `hard link "${rel}" to "${linkRel}": target is not in this layer`, { path: rel });
          }
          throw err;
        }
        const source = lstatOrNull(path.join(this.root, linkRel));
        if (source === null) throw new TrunError('EIMAGE', `hard link "${rel}" to "${linkRel}": target is not in this layer`, { path: rel });
        if (source.isDirectory()) throw new TrunError('EIMAGE', `hard link "${rel}" to "${linkRel}": target is a directory`, { path: rel });
        fs.linkSync(path.join(this.root, linkRel), target);
        return drain(body); // a hard link shares its target's attributes
      }
      case 'symlink':
        fs.symlinkSync(header.linkname ?? '', target);
        break;
      case 'character-device':
        await this.fsops.mknod(target, S_IFCHR | attrs.mode, header.devmajor ?? 0, header.devminor ?? 0);
        break;
      case 'block-device':
        await this.fsops.mknod(target, S_IFBLK | attrs.mode, header.devmajor ?? 0, header.devminor ?? 0);
        break;
      case 'fifo':
        await this.fsops.mknod(target, S_IFIFO | attrs.mode);
        break;
      default:
        return drain(body); // sockets and unknown types carry nothing to restore
    }
    await drain(body);
    await this.setAttrs(target, attrs, type);
  }

  private async setAttrs(target: string, a: EntryAttrs, type: string): Promise<void> {
    fs.lchownSync(target, a.uid, a.gid);
    // chown clears setuid/setgid and file capabilities: mode and xattrs come after it.
    if (type !== 'symlink') fs.chmodSync(target, a.mode);
    for (const [name, value] of a.xattrs) {
      if (!isLayerXattr(name)) continue; // a layer must not steer overlayfs (redirects, opaque...)
      await this.fsops.setxattr(target, name, value);
    }
    if (type !== 'directory') fs.lutimesSync(target, a.mtime, a.mtime);
  }

  async finish(): Promise<void> {
    // Deepest first, so setting a child's time cannot disturb its parent's afterwards.
    const dirs = [...this.dirTimes].sort(([a], [b]) => b.length - a.length);
    for (const [dir, mtime] of dirs) {
      const st = lstatOrNull(dir);
      if (st?.isDirectory()) fs.lutimesSync(dir, mtime, mtime);
    }
  }
}

function lstatOrNull(p: string): fs.Stats | null {
  try {
    return fs.lstatSync(p);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

async function drain(body: AsyncIterable<Buffer>): Promise<void> {
  for await (const chunk of body) void chunk;
}
