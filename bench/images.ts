// trun-bundle throughput on a generated image: import-rootfs, create (unpack, then cache hit),
// commit after writing into the rootfs, rm. Each run gets a fresh store so that nothing is cached
// from the run before. Run alone (tsx bench/images.ts) or from bench/lifecycle.ts.
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  Cleanup, describeExit, fmt, hostInfo, log, makeTempDir, mountsUnder, nowMs, parseFlags, removeTree, ROOT, summarize, table, timed,
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

export const IMAGE_STEPS = ['import-rootfs', 'create (unpack)', 'create (cached)', 'write into rootfs', 'commit', 'rm 2 bundles'] as const;
type ImageStep = (typeof IMAGE_STEPS)[number];

export interface ImagesResult {
  runs: number;
  image: { bytes: number; files: number };
  written: { bytes: number; files: number };
  steps: { name: ImageStep; bytes: number; seconds: Summary; mbPerSecond: number; samples: number[] }[];
}

async function bundleCli(store: string, args: string[]): Promise<number> {
  const r = await timed(process.execPath, [BUNDLE_JS, '--store', store, '--quiet', ...args], { timeoutMs: 600_000 });
  if (r.code !== 0) throw new Error(`trun-bundle ${args.join(' ')}: ${describeExit(r)}`);
  return r.ms;
}

export async function runImages(flags: Flags, cleanup: Cleanup): Promise<ImagesResult> {
  if (!fs.existsSync(BUNDLE_JS)) throw new Error('dist/trun-bundle.js is missing: run make build first');
  const tmp = makeTempDir('trun-bench-images-', cleanup);
  const data = path.join(tmp, 'image-tree');
  let t = nowMs();
  const pools = makePools(1);
  const image = generateTree(data, flags.imageMB * MB, 1, pools);
  log(`images: generated ${image.files} files, ${(image.bytes / MB).toFixed(0)} MB in ${((nowMs() - t) / 1000).toFixed(1)} s`);

  const samples = new Map<ImageStep, number[]>(IMAGE_STEPS.map((s) => [s, []]));
  let written = { bytes: 0, files: 0 };
  for (let run = 0; run < flags.imageRuns; run++) {
    const store = path.join(tmp, `store-${run}`);
    const bundles = [path.join(tmp, `bundle-${run}-a`), path.join(tmp, `bundle-${run}-b`)];
    const unregister = cleanup.add(`trun-bundle rm run ${run}`, async () => {
      for (const b of bundles) {
        if (fs.existsSync(path.join(b, 'trun-bundle.json'))) await bundleCli(store, ['rm', b]);
      }
      await removeTree(store);
    });
    const tag = `bench/generated:${run}`;
    samples.get('import-rootfs')!.push(await bundleCli(store, ['import-rootfs', data, tag]));
    samples.get('create (unpack)')!.push(await bundleCli(store, ['create', tag, bundles[0]!, '--', 'true']));
    samples.get('create (cached)')!.push(await bundleCli(store, ['create', tag, bundles[1]!, '--', 'true']));
    // Written from the host straight into the overlay mount, as the container's writes would be.
    t = nowMs();
    written = generateTree(path.join(bundles[0]!, 'rootfs', 'bench-write'), flags.commitMB * MB, 2 + run, pools);
    samples.get('write into rootfs')!.push(nowMs() - t);
    samples.get('commit')!.push(await bundleCli(store, ['commit', bundles[0]!, `${tag}-commit`]));
    samples.get('rm 2 bundles')!.push(await bundleCli(store, ['rm', ...bundles]));
    const left = mountsUnder(tmp);
    if (left.length) log(`images: trun-bundle rm left mounts behind: ${left.join(', ')}`);
    unregister();
    await removeTree(store);
    for (const b of bundles) await removeTree(b);
    log(`images: run ${run + 1}/${flags.imageRuns} done`);
  }

  const bytesOf = (s: ImageStep): number =>
    // A cached create and rm move no file data: their numbers are latencies only.
    s === 'import-rootfs' || s === 'create (unpack)' ? image.bytes : s === 'create (cached)' || s === 'rm 2 bundles' ? 0 : written.bytes;
  return {
    runs: flags.imageRuns,
    image,
    written,
    steps: IMAGE_STEPS.map((name) => {
      const ms = samples.get(name)!;
      const seconds = summarize(ms.map((x) => x / 1000));
      const bytes = bytesOf(name);
      return { name, bytes, seconds, mbPerSecond: bytes ? bytes / MB / seconds.median : NaN, samples: ms };
    }),
  };
}

export function printImages(res: ImagesResult): string {
  const out = [
    `trun-bundle throughput (${res.runs} runs, fresh store each; image: ${res.image.files} files, ${(res.image.bytes / MB).toFixed(0)} MB; ` +
      `commit of ${res.written.files} files, ${(res.written.bytes / MB).toFixed(0)} MB written into the rootfs)`,
    table(
      ['step', 'median s', 'p10', 'p90', 'MB', 'MB/s'],
      res.steps.map((s) => [s.name, fmt(s.seconds.median, 2), fmt(s.seconds.p10, 2), fmt(s.seconds.p90, 2), s.bytes ? fmt(s.bytes / MB, 0) : '-', fmt(s.mbPerSecond, 0)]),
    ),
  ];
  return out.join('\n');
}

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
