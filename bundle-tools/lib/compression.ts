// Layer compression: recognised from the blob's first bytes (media types lie, docker archives
// carry no media type at all). gzip through zlib; zstd through the zstd(1) program when present,
// both ways.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { Duplex, PassThrough } from 'node:stream';
import * as zlib from 'node:zlib';
import { TrunError } from '../../runtime/errors';
import { ParallelGzip } from './parallel-gzip';

export type Compression = 'none' | 'gzip' | 'zstd';

export function sniffCompression(head: Buffer): Compression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && head.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  return 'none';
}

export function fileCompression(file: string): Compression {
  const fd = fs.openSync(file, 'r');
  try {
    const head = Buffer.alloc(4);
    const n = fs.readSync(fd, head, 0, 4, 0);
    return sniffCompression(head.subarray(0, n));
  } finally {
    fs.closeSync(fd);
  }
}

/** A stream that turns compressed bytes into the plain tar stream. */
export function decompressor(kind: Compression, what: string): Duplex {
  switch (kind) {
    case 'none':
      return new PassThrough();
    case 'gzip':
      return zlib.createGunzip({ chunkSize: 1 << 18 }); // big chunks: fewer round trips to the thread pool
    case 'zstd':
      return zstdDecompressor(what);
  }
}

/**
 * A stream that compresses a tar stream. gzip uses every core (parallel-gzip.ts); zstd runs through the zstd program with all cores
 * (-T0): Node.js 20's zlib has no zstd, and the program is already what reads such layers.
 */
export function compressor(kind: Compression, what: string): Duplex {
  switch (kind) {
    case 'none':
      return new PassThrough();
    case 'gzip':
      return os.availableParallelism() > 1 ? new ParallelGzip() : zlib.createGzip();
    case 'zstd':
      return zstdProgram(['-q', '-c', '-T0'], what);
  }
}

function zstdDecompressor(what: string): Duplex {
  return zstdProgram(['-d', '-c', '-q'], what);
}

/** zstd(1) as a duplex stream; its failures (missing program, bad data) become EIMAGE errors. */
function zstdProgram(args: string[], what: string): Duplex {
  const child = spawn('zstd', args, { stdio: ['pipe', 'pipe', 'pipe'] });
  const duplex = Duplex.from({ writable: child.stdin, readable: child.stdout });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.on('error', (err: NodeJS.ErrnoException) => {
    const msg = err.code === 'ENOENT'
      ? `${what}: zstd-compressed layers need the zstd program, which is not installed (unsupported media type here)`
      : `${what}: run zstd: ${err.message}`;
    duplex.destroy(new TrunError('EIMAGE', msg, { cause: err }));
  });
  child.on('exit', (code) => {
    if (code !== 0 && code !== null) duplex.destroy(new TrunError('EIMAGE', `${what}: zstd failed: ${stderr.trim() || `exit ${code}`}`));
  });
  return duplex;
}

/** Parses a --compression value. */
export function parseCompression(value: string): Compression {
  if (value === 'gzip' || value === 'zstd' || value === 'none') return value;
  throw new TrunError('EINVAL', `--compression: "${value}" is not one of gzip, zstd, none`);
}
