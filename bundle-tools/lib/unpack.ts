// Applies one layer blob to an empty directory in overlayfs form: the directory becomes a lower
// layer of bundles. OCI whiteouts become 0/0 character devices, opaque markers become the
// `trusted.overlay.opaque` xattr. Every entry is resolved inside the directory without following
// symlinks; the blob's digest and diffID are checked as it streams.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar-stream';
import { TrunError, sysError } from '../../runtime/errors';
import { checkDigest, HashingStream } from './digest';
import { decompressor, fileCompression } from './compression';
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
 * Unpacks `src` into `dest` (an existing empty directory). Throws EIMAGE for corrupt or unsafe
 * content; the caller discards `dest` on any error.
 */
export async function unpackLayer(src: LayerSource, dest: string, fsops: FsOps, onBytes?: (n: number) => void): Promise<UnpackStats> {
  const what = `layer ${src.digest}`;
  const compressedHash = new HashingStream();
  const diffHash = new HashingStream();
  const applier = new Applier(dest, fsops);
  const extract = tar.extract();
  useBinaryPax(extract);

  const input = fs.createReadStream(src.file);
  if (onBytes) input.on('data', (chunk: Buffer | string) => onBytes(chunk.length));
  const feeding = pipeline(input, compressedHash, decompressor(fileCompression(src.file), what), diffHash, extract);
  feeding.catch(() => undefined); // reported below, after the entry loop stops
  try {
    for await (const entry of extract) {
      await applier.apply(entry.header as unknown as TarHeader, entry as unknown as AsyncIterable<Buffer>);
    }
    await feeding;
  } catch (err) {
    extract.destroy();
    await feeding.catch(() => undefined);
    if (err instanceof TrunError) throw err;
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'Z_DATA_ERROR' || e.code === 'Z_BUF_ERROR' || /unexpected end|Invalid tar|Invalid header|Unexpected end/i.test(e.message)) {
      throw new TrunError('EIMAGE', `${what}: corrupt or truncated layer (${e.message})`, { cause: err });
    }
    if (e.syscall && e.path) throw sysError(e.syscall, e.path, err);
    throw new TrunError('EIMAGE', `${what}: ${e.message}`, { cause: err });
  }
  checkDigest(what, src.digest, compressedHash.digest(), src.size, src.size === undefined ? undefined : compressedHash.bytes);
  checkDigest(`${what} (uncompressed)`, src.diffID, diffHash.digest());
  await applier.finish();
  return applier.stats;
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
        await pipeline(body, fs.createWriteStream('', { fd }) as Writable);
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
