// Layer passes in parallel (bundle-tools/lib/layer-passes.ts), from source as the CLI runs them
// from dist/: each layer on its own worker thread, results in order, and a failure that ends the
// run only once no worker is still writing.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { threadId } from 'node:worker_threads';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runLayerPasses } from '../../bundle-tools/lib/layer-passes';
import { sha256 } from '../../bundle-tools/lib/digest';
import { makeLayerFile } from '../helpers/tarballs';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'trun-bundle-layers-'));
let n = 0;
test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));

function dir(): string {
  const d = path.join(tmp, `layer-${n++}`);
  fs.mkdirSync(d);
  return d;
}

test('layers unpack on worker threads, one per core, and come back in order', async () => {
  const cores = os.availableParallelism();
  const layers = await Promise.all([0, 1, 2].map((i) => makeLayerFile(path.join(tmp, `blob-${i}`), [{ name: `l${i}/f`, content: `layer ${i} `.repeat(10_000) }])));
  const dests = layers.map(() => dir());
  let bytes = 0;
  let done = 0;
  const res = await runLayerPasses(layers.map((l, i) => ({ ...l, dest: dests[i]! })), { onBytes: (k) => (bytes += k), onLayerDone: () => done++ });
  assert.equal(res.map((r) => r.digest), layers.map((l) => l.digest));
  layers.forEach((_, i) => assert.is(fs.readFileSync(path.join(dests[i]!, `l${i}/f`), 'utf8'), `layer ${i} `.repeat(10_000)));
  assert.is(bytes, layers.reduce((k, l) => k + l.size, 0));
  assert.is(done, 3);
  const threads = new Set(res.map((r) => r.thread));
  assert.not.ok(threads.has(threadId), 'no layer ran on the main thread');
  assert.is(threads.size, Math.min(cores, 3), `threads used: ${[...threads].join(',')}`);
});

test('a failing layer is reported as the TrunError it was; the others finish first', async () => {
  const good = await makeLayerFile(path.join(tmp, 'good'), [{ name: 'g', content: 'g'.repeat(100_000) }]);
  const bad = await makeLayerFile(path.join(tmp, 'bad'), [{ name: 'b', content: 'b' }]);
  const dests = [dir(), dir()];
  try {
    await runLayerPasses([{ ...good, dest: dests[0]! }, { ...bad, diffID: sha256('other'), dest: dests[1]! }]);
    assert.unreachable('should fail');
  } catch (err) {
    assert.is((err as { code?: string }).code, 'EIMAGE');
    assert.match((err as Error).message, /\(uncompressed\): digest sha256:[0-9a-f]{64} does not match the expected/);
  }
  // The good layer ran to its end (no half-written directory under a live writer).
  assert.is(fs.readFileSync(path.join(dests[0]!, 'g'), 'utf8').length, 100_000);
});

test.run();
