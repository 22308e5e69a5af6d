// What trun needs from tar beyond tar-stream: binary-safe PAX records (xattr values such as
// security.capability are bytes, not UTF-8), PAX uid/gid/mtime, and building PAX headers for the
// layers we write. tar-stream parses and emits everything else.
import type { Extract } from 'tar-stream';

/** PAX records as parsed here: string values for tar-stream, and the raw bytes of each. */
export interface PaxRecords {
  [key: string]: string;
}

/** A tar header as trun reads and writes it (tar-stream's own type leaves out PAX header entries). */
export interface TarHeader {
  name: string;
  type?: 'file' | 'link' | 'symlink' | 'directory' | 'block-device' | 'character-device' | 'fifo' | 'contiguous-file' | 'pax-header' | null;
  size?: number;
  mode?: number;
  mtime?: Date;
  linkname?: string | null;
  uid?: number;
  gid?: number;
  uname?: string;
  gname?: string;
  devmajor?: number;
  devminor?: number;
  pax?: PaxRecords;
}

const RAW = Symbol('pax-raw');
type RawCarrier = PaxRecords & { [RAW]?: Map<string, Buffer> };

/** Parses a PAX extended header block, keeping each value's bytes. */
export function decodePax(buf: Buffer): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  let off = 0;
  while (off < buf.length) {
    const space = buf.indexOf(0x20, off);
    if (space < 0) break;
    const len = Number.parseInt(buf.subarray(off, space).toString('latin1'), 10);
    if (!Number.isFinite(len) || len <= 0 || off + len > buf.length) break;
    const rec = buf.subarray(space + 1, off + len - 1); // drop the trailing newline
    const eq = rec.indexOf(0x3d);
    if (eq > 0) out.set(rec.subarray(0, eq).toString('utf8'), Buffer.from(rec.subarray(eq + 1)));
    off += len;
  }
  return out;
}

/** Encodes PAX records ("LEN key=value\n", LEN counting its own digits), values as bytes. */
export function encodePax(records: Array<[string, Buffer | string]>): Buffer {
  const parts: Buffer[] = [];
  for (const [key, value] of records) {
    const body = Buffer.concat([Buffer.from(` ${key}=`), Buffer.isBuffer(value) ? value : Buffer.from(value), Buffer.from('\n')]);
    let len = body.length + 1;
    while (String(len).length + body.length !== len) len = String(len).length + body.length;
    parts.push(Buffer.from(String(len)), body);
  }
  return Buffer.concat(parts);
}

function toRecords(raw: Map<string, Buffer>): RawCarrier {
  const rec: RawCarrier = {};
  for (const [k, v] of raw) rec[k] = v.toString('utf8');
  Object.defineProperty(rec, RAW, { value: raw, enumerable: false });
  return rec;
}

interface ExtractInternals {
  _header: { type?: string | null };
  _pax: RawCarrier | null;
  _paxGlobal: RawCarrier | null;
  _decodeLongHeader(buf: Buffer): void;
}

/**
 * Makes an extract stream decode PAX headers byte-exactly. tar-stream 3 decodes PAX values as
 * UTF-8, which corrupts binary xattrs; this replaces its (private) PAX step on this one instance.
 * test/unit/bundle-tar.test.ts round-trips a binary xattr so a tar-stream change cannot go unseen.
 */
export function useBinaryPax(extract: Extract): void {
  const ex = extract as unknown as ExtractInternals;
  const original = ex._decodeLongHeader.bind(ex);
  ex._decodeLongHeader = (buf: Buffer): void => {
    const type = ex._header.type;
    if (type === 'pax-global-header') {
      ex._paxGlobal = toRecords(decodePax(buf));
    } else if (type === 'pax-header') {
      const merged = new Map<string, Buffer>(ex._paxGlobal?.[RAW] ?? []);
      for (const [k, v] of decodePax(buf)) merged.set(k, v);
      ex._pax = toRecords(merged);
    } else {
      original(buf);
    }
  };
}

/** The raw bytes of a PAX record of an extracted header. */
export function paxRaw(header: TarHeader): Map<string, Buffer> {
  const pax = header.pax as RawCarrier | undefined;
  return pax?.[RAW] ?? new Map();
}

export interface EntryAttrs {
  uid: number;
  gid: number;
  mode: number;
  mtime: Date;
  xattrs: Map<string, Buffer>;
}

/** Ownership, mode, mtime and xattrs of an entry, PAX values taking precedence. */
export function entryAttrs(header: TarHeader): EntryAttrs {
  const raw = paxRaw(header);
  const num = (key: string): number | undefined => {
    const v = raw.get(key);
    if (v === undefined) return undefined;
    const n = Number(v.toString('latin1'));
    return Number.isFinite(n) ? n : undefined;
  };
  const xattrs = new Map<string, Buffer>();
  for (const [k, v] of raw) {
    if (k.startsWith('SCHILY.xattr.')) xattrs.set(k.slice('SCHILY.xattr.'.length), v);
    else if (k.startsWith('LIBARCHIVE.xattr.')) {
      xattrs.set(decodeURIComponent(k.slice('LIBARCHIVE.xattr.'.length)), Buffer.from(v.toString('latin1'), 'base64'));
    }
  }
  const mtimeSec = num('mtime');
  return {
    uid: num('uid') ?? header.uid ?? 0,
    gid: num('gid') ?? header.gid ?? 0,
    mode: (header.mode ?? 0o644) & 0o7777,
    mtime: mtimeSec !== undefined ? new Date(mtimeSec * 1000) : header.mtime ?? new Date(0),
    xattrs,
  };
}

const USTAR_NAME = 100;
const USTAR_PREFIX = 155;
const OCTAL7_MAX = 0o7777777;

/** Whether a name fits a plain ustar header (name, or prefix + "/" + name). */
export function fitsUstar(name: string): boolean {
  const b = Buffer.byteLength(name);
  if (b <= USTAR_NAME) return true;
  if (b > USTAR_NAME + USTAR_PREFIX + 1) return false;
  for (let i = name.indexOf('/'); i >= 0; i = name.indexOf('/', i + 1)) {
    if (Buffer.byteLength(name.slice(0, i)) <= USTAR_PREFIX && Buffer.byteLength(name.slice(i + 1)) <= USTAR_NAME) return true;
  }
  return false;
}

/**
 * The PAX records a header needs (long names, big ids, xattrs), and the header to write after
 * them with values shortened to what ustar holds; null when plain ustar suffices.
 */
export function paxFor(header: TarHeader, xattrs: Map<string, Buffer>): { pax: Buffer; header: TarHeader } | null {
  const records: Array<[string, Buffer | string]> = [];
  const out: TarHeader = { ...header };
  if (!fitsUstar(header.name) || /[^\x20-\x7e]/.test(header.name)) {
    records.push(['path', header.name]);
    if (!fitsUstar(header.name)) out.name = header.type === 'directory' ? 'pax-long-name/' : 'pax-long-name';
  }
  if (header.linkname && (Buffer.byteLength(header.linkname) > USTAR_NAME || /[^\x20-\x7e]/.test(header.linkname))) {
    records.push(['linkpath', header.linkname]);
    if (Buffer.byteLength(header.linkname) > USTAR_NAME) out.linkname = 'pax-long-link';
  }
  for (const key of ['uid', 'gid'] as const) {
    const v = header[key] ?? 0;
    if (v > OCTAL7_MAX) {
      records.push([key, String(v)]);
      out[key] = 0;
    }
  }
  for (const [name, value] of [...xattrs].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    records.push([`SCHILY.xattr.${name}`, value]);
  }
  if (records.length === 0) return null;
  return { pax: encodePax(records), header: out };
}

/**
 * The bytes of a PAX extended header entry (ustar header with typeflag "x", then the records,
 * padded to 512). tar-stream encodes PAX values as UTF-8 text, which corrupts binary xattrs, so
 * layer writers push these bytes into the pack stream themselves, right before the entry.
 */
export function paxEntryBytes(records: Buffer): Buffer {
  const h = Buffer.alloc(512);
  h.write('PaxHeader', 0, 'ascii');
  const oct = (n: number, width: number): string => n.toString(8).padStart(width - 1, '0') + '\0';
  h.write(oct(0o644, 8), 100, 'ascii');
  h.write(oct(0, 8), 108, 'ascii');
  h.write(oct(0, 8), 116, 'ascii');
  h.write(oct(records.length, 12), 124, 'ascii');
  h.write(oct(0, 12), 136, 'ascii');
  h.write('x', 156, 'ascii');
  h.write('ustar\x0000', 257, 'latin1');
  h.fill(0x20, 148, 156); // checksum field counts as spaces while summing
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'ascii');
  const pad = (512 - (records.length % 512)) % 512;
  return Buffer.concat([h, records, Buffer.alloc(pad)]);
}
