// The progress line of trun-bundle on a terminal (bundle-tools/cli/progress-bar.ts): bar, bytes,
// layers, rate and ETA; nothing at all when the stream is not a terminal or --quiet.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { formatProgress, progressRenderer } from '../../bundle-tools/cli/progress-bar';

test('a known total gets a bar, layers done, rate and ETA', () => {
  const line = formatProgress({ phase: 'import', layer: 2, layers: 3, layersDone: 1, bytes: 20e6, totalBytes: 80e6 }, 2000);
  assert.is(line, 'import  [######..................]  20.0 MB / 80.0 MB  1/3 layers  10.0 MB/s  ETA 6s');
});

test('no total (commit): bytes and rate only; the last event has no ETA and counts every layer', () => {
  assert.is(formatProgress({ phase: 'commit', layer: 1, layers: 1, bytes: 3e6 }, 1000), 'commit  3.0 MB  0/1 layer  3.0 MB/s');
  assert.is(formatProgress({ phase: 'unpack', layer: 2, layers: 2, bytes: 5e6, totalBytes: 5e6, done: true }, 500),
    'unpack  [########################]  5.0 MB / 5.0 MB  2/2 layers  10.0 MB/s');
  assert.match(formatProgress({ phase: 'export', layer: 1, layers: 1, bytes: 1e6, totalBytes: 1e9 }, 1000), /ETA 16m39s$/);
});

test('silent without a terminal or with --quiet', () => {
  const written: string[] = [];
  const fake = { isTTY: false, write: (s: string) => written.push(s) } as unknown as NodeJS.WriteStream;
  assert.is(progressRenderer(true, fake), undefined);
  assert.is(progressRenderer(false, { ...fake, isTTY: true } as NodeJS.WriteStream), undefined);
  let t = 0;
  const tty = { isTTY: true, columns: 200, write: (s: string) => written.push(s) } as unknown as NodeJS.WriteStream;
  const r = progressRenderer(true, tty, () => t)!;
  r({ phase: 'import', layer: 1, layers: 1, bytes: 1, totalBytes: 10 });
  t = 50;
  r({ phase: 'import', layer: 1, layers: 1, bytes: 2, totalBytes: 10 }); // within 100 ms: skipped
  t = 60;
  r({ phase: 'import', layer: 1, layers: 1, bytes: 10, totalBytes: 10, done: true });
  assert.is(written.length, 3);
  assert.is(written[2], '\r\x1b[K');
});

test.run();
