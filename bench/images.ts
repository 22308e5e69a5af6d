// trun-bundle against GNU tar and umoci on the same generated image, in the same run: import and
// the first create (vs tar -xzf of the layers and umoci unpack), create from a cold layer cache,
// a cached create, and commit (vs tar -czf of the same upper dir and umoci repack). Each run gets
// a fresh store so that nothing is cached from the run before. Run alone (tsx bench/images.ts)
// or from bench/lifecycle.ts.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import {
  Cleanup, describeExit, fmt, hostInfo, log, makeTempDir, nowMs, parseFlags, removeTree, ROOT, summarize, table, timed,
  type Flags, type Summary,
} from './lib';

const BUNDLE_JS = path.join(ROOT, 'dist/trun-bundle.js');
const MB = 1e6;

/** mulberry32: a small deterministic PRNG, so that every run and every host gets the same tree. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface Pools {
  random: Buffer;
  text: Buffer;
}

const POOL = 4 << 20;

export function makePools(seed: number): Pools {
  const rand = prng(seed);
  const random = Buffer.alloc(POOL);
  for (let i = 0; i < POOL; i += 4) random.writeUInt32LE(Math.floor(rand() * 4294967296), i);
  const words: string[] = [];
  for (let i = 0; i < 2000; i++) {
    let w = '';
    const len = 2 + Math.floor(rand() * 9);
    for (let j = 0; j < len; j++) w += String.fromCharCode(97 + Math.floor(rand() * 26));
    words.push(w);
  }
  const parts: string[] = [];
  let size = 0;
  while (size < POOL) {
    const line = Array.from({ length: 4 + Math.floor(rand() * 12) }, () => words[Math.floor(rand() * words.length)]!).join(' ') + '\n';
    parts.push(line);
    size += line.length;
  }
  return { random, text: Buffer.from(parts.join('')).subarray(0, POOL) };
}

/** A file size: mostly small files, some medium, a few large ones (like a distribution image). */
function fileSize(rand: () => number): number {
  const r = rand();
  if (r < 0.85) return 256 + Math.floor(rand() * 16 * 1024);
  if (r < 0.98) return 16 * 1024 + Math.floor(rand() * 1024 * 1024);
  return 1024 * 1024 + Math.floor(rand() * 24 * 1024 * 1024);
}

/**
 * Fills `dir` with about `bytes` bytes in files of mixed sizes. Content is slices of a random pool
 * (incompressible, like compressed assets) and of a text pool (compressible, like scripts and
 * docs), so gzip does real work both ways.
 */
export function generateTree(dir: string, bytes: number, seed: number, pools: Pools): { bytes: number; files: number } {
  const rand = prng(seed);
  let total = 0;
  let files = 0;
  while (total < bytes) {
    const size = Math.min(fileSize(rand), bytes - total);
    const sub = path.join(dir, `d${Math.floor(rand() * 16).toString().padStart(2, '0')}`, `s${Math.floor(rand() * 4)}`);
    fs.mkdirSync(sub, { recursive: true });
    const kind = rand();
    const fd = fs.openSync(path.join(sub, `f${files}.${kind < 0.4 ? 'bin' : kind < 0.8 ? 'txt' : 'dat'}`), 'w', 0o644);
    try {
      let left = size;
      while (left > 0) {
        const pool = kind < 0.4 ? pools.random : kind < 0.8 ? pools.text : rand() < 0.5 ? pools.random : pools.text;
        const n = Math.min(left, 4096 + Math.floor(rand() * 60 * 1024));
        const off = Math.floor(rand() * (POOL - n));
        fs.writeSync(fd, pool, off, n);
        left -= n;
      }
    } finally {
      fs.closeSync(fd);
    }
    total += size;
    files++;
  }
  return { bytes: total, files };
}

// ---- the benchmark: trun-bundle against tar and umoci on the same image, in the same run ----

export const IMAGE_STEPS = [
  'tar -xzf (the layers)', 'umoci unpack', 'trun-bundle import', 'trun-bundle create (first)', 'trun-bundle import + first create',
  'trun-bundle create (unpack, cold cache)', 'trun-bundle create (cached)',
  'tar -czf (upper dir)', 'umoci repack', 'trun-bundle commit',
] as const;
type ImageStep = (typeof IMAGE_STEPS)[number];
/** Each row's floor: the plain tool doing the same work. */
const FLOOR: Partial<Record<ImageStep, ImageStep>> = {
  'umoci unpack': 'tar -xzf (the layers)',
  'trun-bundle import + first create': 'tar -xzf (the layers)',
  'trun-bundle create (unpack, cold cache)': 'tar -xzf (the layers)',
  'umoci repack': 'tar -czf (upper dir)',
  'trun-bundle commit': 'tar -czf (upper dir)',
};

export interface ImagesResult {
  runs: number;
  image: { bytes: number; files: number; layers: number; gzipBytes: number };
  written: { bytes: number; files: number };
  steps: { name: ImageStep; seconds: Summary; vsFloor: number | null; samples: number[] }[];
}

const LAYER_SHARES = [0.5, 0.3, 0.2];
const UMOCI = '/usr/bin/umoci';

async function run(cmd: string, args: string[], what = `${cmd} ${args.join(' ')}`): Promise<number> {
  const r = await timed(cmd, args, { timeoutMs: 900_000 });
  if (r.code !== 0) throw new Error(`${what}: ${describeExit(r)}`);
  return r.ms;
}

function bundleCli(store: string, args: string[]): Promise<number> {
  return run(process.execPath, [BUNDLE_JS, '--store', store, '--quiet', ...args], `trun-bundle ${args.join(' ')}`);
}

async function sha256File(file: string, gunzip = false): Promise<string> {
  const h = createHash('sha256');
  const input: NodeJS.ReadableStream = gunzip ? fs.createReadStream(file).pipe(zlib.createGunzip()) : fs.createReadStream(file);
  for await (const c of input) h.update(c as Buffer);
  return `sha256:${h.digest('hex')}`;
}

/**
 * An OCI layout of LAYER_SHARES.length gzip layers made by GNU tar from generated trees, tagged
 * "bench" (umoci's ref) and imported by trun-bundle under a name. Returns the layer files too.
 */
async function makeLayout(dir: string, trees: string[]): Promise<{ layers: string[]; gzipBytes: number }> {
  const blobs = path.join(dir, 'blobs/sha256');
  fs.mkdirSync(blobs, { recursive: true });
  const layers: string[] = [];
  const descs = [];
  const diffIDs = [];
  for (const [i, tree] of trees.entries()) {
    const tmp = path.join(dir, `layer-${i}.tar.gz`);
    await run('tar', ['-czf', tmp, '-C', tree, '.']);
    const digest = await sha256File(tmp);
    diffIDs.push(await sha256File(tmp, true));
    const blob = path.join(blobs, digest.slice(7));
    fs.renameSync(tmp, blob);
    layers.push(blob);
    descs.push({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest, size: fs.statSync(blob).size });
  }
  const put = (data: Buffer): { digest: string; size: number } => {
    const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;
    fs.writeFileSync(path.join(blobs, digest.slice(7)), data);
    return { digest, size: data.length };
  };
  const cfg = put(Buffer.from(JSON.stringify({
    created: '2026-01-01T00:00:00Z', architecture: 'amd64', os: 'linux', config: { Cmd: ['/bin/sh'] },
    rootfs: { type: 'layers', diff_ids: diffIDs }, history: trees.map((_, i) => ({ created: '2026-01-01T00:00:00Z', created_by: `bench layer ${i}` })),
  })));
  const manifest = put(Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...cfg }, layers: descs,
  })));
  fs.writeFileSync(path.join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  fs.writeFileSync(path.join(dir, 'index.json'), JSON.stringify({
    schemaVersion: 2,
    manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest, annotations: { 'org.opencontainers.image.ref.name': 'bench' } }],
  }));
  return { layers, gzipBytes: descs.reduce((n, d) => n + d.size, 0) };
}

export async function runImages(flags: Flags, cleanup: Cleanup): Promise<ImagesResult> {
  if (!fs.existsSync(BUNDLE_JS)) throw new Error('dist/trun-bundle.js is missing: run make build first');
  if (!fs.existsSync(UMOCI)) throw new Error(`${UMOCI} is missing (apt-get install umoci)`);
  const tmp = makeTempDir('trun-bench-images-', cleanup);
  let t = nowMs();
  const pools = makePools(1);
  const trees = LAYER_SHARES.map((_, i) => path.join(tmp, `tree-${i}`));
  let image = { bytes: 0, files: 0 };
  for (const [i, share] of LAYER_SHARES.entries()) {
    const g = generateTree(trees[i]!, Math.round(flags.imageMB * share * MB), 1 + i, pools);
    image = { bytes: image.bytes + g.bytes, files: image.files + g.files };
  }
  const writeSrc = path.join(tmp, 'write-src');
  const written = generateTree(writeSrc, flags.commitMB * MB, 100, pools);
  const layoutDir = path.join(tmp, 'layout');
  const { layers, gzipBytes } = await makeLayout(layoutDir, trees);
  for (const tr of trees) await removeTree(tr);
  log(`images: ${LAYER_SHARES.length} layers, ${image.files} files, ${(image.bytes / MB).toFixed(0)} MB (${(gzipBytes / MB).toFixed(0)} MB gzip); ` +
    `commit of ${written.files} files, ${(written.bytes / MB).toFixed(0)} MB; made in ${((nowMs() - t) / 1000).toFixed(1)} s`);

  const samples = new Map<ImageStep, number[]>(IMAGE_STEPS.map((s) => [s, []]));
  const add = (s: ImageStep, ms: number): void => void samples.get(s)!.push(ms);

  const trunRun = async (r: number): Promise<void> => {
    const store = path.join(tmp, `store-${r}`);
    const b = [1, 2, 3].map((k) => path.join(tmp, `bundle-${r}-${k}`));
    const unregister = cleanup.add(`trun-bundle rm run ${r}`, async () => {
      for (const x of b) if (fs.existsSync(path.join(x, 'trun-bundle.json'))) await bundleCli(store, ['rm', x]);
      await removeTree(store);
    });
    const imp = await bundleCli(store, ['import', layoutDir, 'bench/img:1']);
    const first = await bundleCli(store, ['create', 'bench/img:1', b[0]!, '--', 'true']);
    add('trun-bundle import', imp);
    add('trun-bundle create (first)', first);
    add('trun-bundle import + first create', imp + first);
    add('trun-bundle create (cached)', await bundleCli(store, ['create', 'bench/img:1', b[1]!, '--', 'true']));
    await bundleCli(store, ['rm', b[1]!]);
    // What a container would have written, copied into the overlay (not timed).
    await run('cp', ['-a', writeSrc, path.join(b[0]!, 'rootfs', 'bench-write')]);
    add('trun-bundle commit', await bundleCli(store, ['commit', b[0]!, 'bench/img:2']));
    const tgz = path.join(tmp, `upper-${r}.tar.gz`);
    add('tar -czf (upper dir)', await run('tar', ['-czf', tgz, '-C', path.join(b[0]!, 'upper'), '.']));
    fs.rmSync(tgz, { force: true });
    await bundleCli(store, ['rm', b[0]!]);
    // The unpack alone: the layer cache dropped, create reads every blob again.
    for (const d of fs.readdirSync(path.join(store, 'layers'))) await removeTree(path.join(store, 'layers', d));
    add('trun-bundle create (unpack, cold cache)', await bundleCli(store, ['create', 'bench/img:1', b[2]!, '--', 'true']));
    await bundleCli(store, ['rm', b[2]!]);
    unregister();
    await removeTree(store);
  };
  const tarRun = async (r: number): Promise<void> => {
    const dest = path.join(tmp, `tar-${r}`);
    fs.mkdirSync(dest);
    add('tar -xzf (the layers)', await run('sh', ['-c', 'for l in "$@"; do tar -xzf "$l" -C "$0" || exit 1; done', dest, ...layers], 'tar -xzf'));
    await removeTree(dest);
  };
  const umociRun = async (r: number): Promise<void> => {
    const layout = path.join(tmp, `umoci-layout-${r}`);
    await run('cp', ['-al', layoutDir, layout]); // repack adds blobs; the originals stay untouched
    const bundle = path.join(tmp, `umoci-bundle-${r}`);
    add('umoci unpack', await run(UMOCI, ['unpack', '--image', `${layout}:bench`, bundle]));
    await run('cp', ['-a', writeSrc, path.join(bundle, 'rootfs', 'bench-write')]);
    add('umoci repack', await run(UMOCI, ['repack', '--image', `${layout}:bench-2`, bundle]));
    await removeTree(bundle);
    await removeTree(layout);
  };
  const order = [trunRun, tarRun, umociRun];
  for (let r = 0; r < flags.imageRuns; r++) {
    // Rotated, so that load from elsewhere on the machine falls on every tool alike.
    for (let k = 0; k < order.length; k++) await order[(r + k) % order.length]!(r);
    log(`images: run ${r + 1}/${flags.imageRuns} done`);
  }

  const median = (s: ImageStep): number => summarize(samples.get(s)!.map((x) => x / 1000)).median;
  return {
    runs: flags.imageRuns,
    image: { ...image, layers: LAYER_SHARES.length, gzipBytes },
    written,
    steps: IMAGE_STEPS.map((name) => {
      const ms = samples.get(name)!;
      const floor = FLOOR[name];
      return { name, seconds: summarize(ms.map((x) => x / 1000)), vsFloor: floor ? median(name) / median(floor) : null, samples: ms };
    }),
  };
}

export function printImages(res: ImagesResult): string {
  return [
    `Images (${res.runs} runs, medians; image: ${res.image.layers} gzip layers, ${res.image.files} files, ${(res.image.bytes / MB).toFixed(0)} MB, ` +
      `${(res.image.gzipBytes / MB).toFixed(0)} MB gzip; commit of ${res.written.files} files, ${(res.written.bytes / MB).toFixed(0)} MB written into the rootfs)`,
    table(
      ['step', 'median s', 'p10', 'p90', 'vs floor'],
      res.steps.map((s) => [s.name, fmt(s.seconds.median, 2), fmt(s.seconds.p10, 2), fmt(s.seconds.p90, 2), s.vsFloor === null ? (FLOOR_ROWS.has(s.name) ? '1.00x' : '-') : `${fmt(s.vsFloor, 2)}x`]),
    ),
  ].join('\n');
}

const FLOOR_ROWS = new Set<ImageStep>(['tar -xzf (the layers)', 'tar -czf (upper dir)']);

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2));
  const cleanup = new Cleanup();
  cleanup.onSignals();
  let res: ImagesResult;
  try {
    res = await runImages(flags, cleanup);
  } finally {
    await cleanup.run();
  }
  process.stdout.write(flags.json ? JSON.stringify({ host: hostInfo(), images: res }, null, 2) + '\n' : printImages(res) + '\n');
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  });
}
