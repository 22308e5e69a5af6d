// Parallel gzip (bundle-tools/lib/parallel-gzip.ts): one valid gzip member whatever the size,
// byte-identical content after gunzip, and a CRC combined exactly as zlib computes it.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import { Readable, Writable } from 'node:stream';
import * as zlib from 'node:zlib';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { crc32Combine, ParallelGzip } from '../../bundle-tools/lib/parallel-gzip';

async function gz(input: Buffer, workers: number, chunk = 65_536): Promise<Buffer> {
  const parts: Buffer[] = [];
  const chunks: Buffer[] = [];
  for (let i = 0; i < input.length; i += chunk) chunks.push(input.subarray(i, i + chunk));
  await pipeline(Readable.from(chunks), new ParallelGzip(workers), new Writable({ write: (c: Buffer, _e, cb) => (parts.push(c), cb()) }));
  return Buffer.concat(parts);
}

function crcOf(b: Buffer): number {
  const g = zlib.gzipSync(b, { level: 0 });
  return g.readUInt32LE(g.length - 8);
}

test('crc32Combine agrees with zlib on split points', () => {
  const b = randomBytes(300_001);
  for (const cut of [0, 1, 4096, 131_072, 300_000, 300_001]) {
    assert.is(crc32Combine(crcOf(b.subarray(0, cut)), crcOf(b.subarray(cut)), b.length - cut), crcOf(b));
  }
});

test('empty, one-block and many-block inputs make one gzip member that gunzips to the input', async () => {
  const text = Buffer.from('the same words again and again, with a few numbers 12345 '.repeat(40_000));
  const mixed = Buffer.concat([randomBytes(700_000), text, randomBytes(3)]);
  for (const [name, input] of [['empty', Buffer.alloc(0)], ['small', Buffer.from('hello')], ['text', text], ['mixed', mixed]] as const) {
    for (const workers of [1, 2, 3]) {
      const out = await gz(input, workers, name === 'mixed' ? 77_777 : 65_536);
      assert.ok(zlib.gunzipSync(out).equals(input), `${name} with ${workers} workers`);
      const t = spawnSync('gzip', ['-t'], { input: out });
      assert.is(t.status, 0, `gzip -t ${name}: ${t.stderr}`);
      // One member: the one trailer covers the whole input (CRC and length).
      assert.is(out.readUInt32LE(out.length - 8), crcOf(input));
      assert.is(out.readUInt32LE(out.length - 4), input.length);
    }
  }
  // Compressible input compresses about as well as zlib in one piece (pigz's dictionary trick).
  const one = zlib.gzipSync(text).length;
  assert.ok((await gz(text, 2)).length < one * 1.1, 'ratio close to plain gzip');
});

test.run();
