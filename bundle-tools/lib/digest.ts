// Content digests: parsing, hashing streams as they pass, and verifying what was read.
import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { TrunError } from '../../runtime/errors';

const DIGEST_RE = /^sha256:([a-f0-9]{64})$/;

export function isDigest(s: string): boolean {
  return DIGEST_RE.test(s);
}

/** The hex part of a sha256 digest; anything else (other algorithms, bad hex) is an EIMAGE error. */
export function digestHex(digest: string): string {
  const m = DIGEST_RE.exec(digest);
  if (!m) throw new TrunError('EIMAGE', `unsupported or malformed digest "${digest}"`);
  return m[1]!;
}

export function sha256(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** A pass-through stream that hashes and counts every byte going through it. */
export class HashingStream extends Transform {
  private readonly hash: Hash = createHash('sha256');
  bytes = 0;
  private result: string | null = null;

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    cb(null, chunk);
  }

  /** The digest of everything that passed; only valid after the stream has ended. */
  digest(): string {
    if (this.result === null) this.result = `sha256:${this.hash.digest('hex')}`;
    return this.result;
  }
}

/** Throws a clear EIMAGE error when content read does not match its descriptor. */
export function checkDigest(what: string, expected: string, actual: string, expectedSize?: number, actualSize?: number): void {
  if (expectedSize !== undefined && actualSize !== undefined && expectedSize !== actualSize) {
    throw new TrunError('EIMAGE', `${what}: size ${actualSize} does not match the descriptor's ${expectedSize} (corrupt or truncated blob)`);
  }
  if (expected !== actual) {
    throw new TrunError('EIMAGE', `${what}: digest ${actual} does not match the expected ${expected} (corrupt blob)`);
  }
}
