// gzip with all cores, as pigz does: the input is cut into 128 KiB blocks, each deflated on a
// worker thread with the 32 KiB before it as preset dictionary and ended by a sync flush (the last
// by a final block), so the pieces join into one deflate stream; per-block CRCs are combined here.
// The output is a single ordinary gzip member (gzip -t, Go and containerd read it as any other).
import * as os from 'node:os';
import { Transform, type TransformCallback } from 'node:stream';
import { Worker } from 'node:worker_threads';
import * as zlib from 'node:zlib';

const BLOCK = 128 * 1024;
const WINDOW = 32 * 1024;

// The worker is a few lines of plain JavaScript run with `eval`, so it needs no file of its own
// beside the bundled CLI. The CRC comes from a level-0 gzip of the block: zlib's C crc32, which
// Node.js 20 does not expose otherwise.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const zlib = require('node:zlib');
parentPort.on('message', (m) => {
  const data = Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength);
  const opts = { level: m.level, finishFlush: m.last ? zlib.constants.Z_FINISH : zlib.constants.Z_SYNC_FLUSH };
  if (m.dict) opts.dictionary = Buffer.from(m.dict.buffer, m.dict.byteOffset, m.dict.byteLength);
  const out = zlib.deflateRawSync(data, opts);
  const stored = zlib.gzipSync(data, { level: 0 });
  parentPort.postMessage({ seq: m.seq, out, crc: stored.readUInt32LE(stored.length - 8) }, [out.buffer]);
});
`;

interface Done {
  out: Buffer;
  crc: number;
  len: number;
}

/** A Transform that gzips across `workers` threads, keeping order; level as zlib's. */
export class ParallelGzip extends Transform {
  private readonly pool: Worker[] = [];
  private pending: Buffer[] = [];
  private pendingLen = 0;
  private prevTail: Buffer | null = null;
  private seq = 0;
  private nextOut = 0;
  private readonly done = new Map<number, Done>();
  private readonly lens = new Map<number, number>();
  private crc = 0;
  private total = 0;
  private inFlight = 0;
  /** The callback of a write held back while every worker is busy (backpressure). */
  private waiting: (() => void) | null = null;
  private failed: Error | null = null;

  constructor(private readonly workers = os.availableParallelism(), private readonly level = 6) {
    super();
    this.push(Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3])); // no name, no mtime, unix
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.pending.push(chunk);
    this.pendingLen += chunk.length;
    while (this.pendingLen >= BLOCK) this.submit(this.cut(BLOCK), false);
    this.whenRoom(cb);
  }

  override _flush(cb: TransformCallback): void {
    if (this.seq === 0) {
      // Everything fit in one block: deflating it here costs less than starting a worker.
      const data = this.cut(this.pendingLen);
      const stored = zlib.gzipSync(data, { level: 0 });
      this.push(zlib.deflateRawSync(data, { level: this.level }));
      this.crc = stored.readUInt32LE(stored.length - 8);
      this.total = data.length;
      this.inFlight = 0;
    } else {
      this.submit(this.cut(this.pendingLen), true);
    }
    const finish = (): void => {
      if (this.failed) return cb(this.failed);
      if (this.inFlight > 0) {
        this.waiting = finish;
        return;
      }
      const trailer = Buffer.alloc(8);
      trailer.writeUInt32LE(this.crc >>> 0, 0);
      trailer.writeUInt32LE(this.total % 2 ** 32, 4);
      this.stop();
      cb(null, trailer);
    };
    finish();
  }

  override _destroy(err: Error | null, cb: (error: Error | null) => void): void {
    this.stop();
    cb(err);
  }

  /** The first `n` pending bytes as one buffer of its own (it moves to a worker): one copy. */
  private cut(n: number): Buffer {
    const block = Buffer.allocUnsafeSlow(n);
    let off = 0;
    while (off < n) {
      const head = this.pending[0]!;
      const k = Math.min(head.length, n - off);
      head.copy(block, off, 0, k);
      off += k;
      if (k === head.length) this.pending.shift();
      else this.pending[0] = head.subarray(k);
    }
    this.pendingLen -= n;
    return block;
  }

  private submit(block: Buffer, last: boolean): void {
    const seq = this.seq++;
    const dict = this.prevTail;
    this.prevTail = block.length >= WINDOW ? Buffer.from(block.subarray(block.length - WINDOW)) : dict ? Buffer.concat([dict, block]).subarray(-WINDOW) : Buffer.from(block);
    this.lens.set(seq, block.length);
    this.inFlight++;
    const w = this.worker(seq);
    // A block that owns its memory moves to the worker instead of being copied.
    const owns = block.byteOffset === 0 && block.buffer.byteLength === block.length;
    w.postMessage({ seq, data: block, dict, last, level: this.level }, owns ? [block.buffer as ArrayBuffer] : []);
  }

  private worker(seq: number): Worker {
    const i = seq % this.workers;
    let w = this.pool[i];
    if (!w) {
      w = new Worker(WORKER_SOURCE, { eval: true });
      w.on('message', (m: { seq: number; out: Uint8Array; crc: number }) => this.onDone(m));
      w.on('error', (err) => this.fail(err));
      this.pool[i] = w;
    }
    return w;
  }

  private onDone(m: { seq: number; out: Uint8Array; crc: number }): void {
    this.inFlight--;
    this.done.set(m.seq, { out: Buffer.from(m.out.buffer, m.out.byteOffset, m.out.byteLength), crc: m.crc, len: this.lens.get(m.seq)! });
    this.lens.delete(m.seq);
    for (let d = this.done.get(this.nextOut); d; d = this.done.get(this.nextOut)) {
      this.done.delete(this.nextOut++);
      this.crc = this.total === 0 ? d.crc : crc32Combine(this.crc, d.crc, d.len);
      this.total += d.len;
      this.push(d.out);
    }
    this.release();
  }

  /** Holds the writer back while 2 blocks per worker are queued. */
  private whenRoom(cb: () => void): void {
    if (this.inFlight < 2 * this.workers) return cb();
    this.waiting = cb;
  }

  private release(): void {
    const w = this.waiting;
    if (w && (this.inFlight < 2 * this.workers || this.failed)) {
      this.waiting = null;
      w();
    }
  }

  private fail(err: Error): void {
    this.failed ??= err;
    this.destroy(err);
  }

  private stop(): void {
    for (const w of this.pool) void w.terminate();
    this.pool.length = 0;
  }
}

// CRC-32 of two pieces from the CRC of each and the length of the second (zlib's crc32_combine):
// appending len2 zero bytes to the first piece is a linear map over GF(2), applied by squaring.
function gf2Times(mat: Uint32Array, vec: number): number {
  let sum = 0;
  for (let i = 0; vec !== 0; i++, vec >>>= 1) if (vec & 1) sum ^= mat[i]!;
  return sum >>> 0;
}

function gf2Square(square: Uint32Array, mat: Uint32Array): void {
  for (let n = 0; n < 32; n++) square[n] = gf2Times(mat, mat[n]!);
}

export function crc32Combine(crc1: number, crc2: number, len2: number): number {
  if (len2 <= 0) return crc1 >>> 0;
  const even = new Uint32Array(32);
  const odd = new Uint32Array(32);
  odd[0] = 0xedb88320; // the CRC-32 polynomial, reflected
  for (let n = 1, row = 1; n < 32; n++, row <<= 1) odd[n] = row;
  gf2Square(even, odd); // two zero bits
  gf2Square(odd, even); // four zero bits
  let c = crc1 >>> 0;
  let len = len2;
  do {
    gf2Square(even, odd);
    if (len & 1) c = gf2Times(even, c);
    len = Math.floor(len / 2);
    if (len === 0) break;
    gf2Square(odd, even);
    if (len & 1) c = gf2Times(odd, c);
    len = Math.floor(len / 2);
  } while (len !== 0);
  return (c ^ crc2) >>> 0;
}
