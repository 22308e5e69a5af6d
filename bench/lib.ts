// Shared pieces of the benchmarks: timed child processes, order statistics, text tables, flags,
// and a cleanup stack that runs on normal exit, on failure and on SIGINT/SIGTERM.
import { spawn, type SpawnOptions } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const ROOT = path.resolve(__dirname, '..');

export interface Summary {
  n: number;
  median: number;
  p10: number;
  p90: number;
  min: number;
  max: number;
}

/** Linear interpolation between the closest ranks (the same rule as numpy's default). */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const pos = (sorted.length - 1) * p;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

export function summarize(samples: number[]): Summary {
  const s = [...samples].sort((a, b) => a - b);
  return { n: s.length, median: percentile(s, 0.5), p10: percentile(s, 0.1), p90: percentile(s, 0.9), min: s[0] ?? NaN, max: s[s.length - 1] ?? NaN };
}

export function nowMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export interface Timed {
  ms: number;
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  stdout: string;
}

export interface TimedOptions {
  cwd?: string;
  /** Collect stdout (otherwise it goes to /dev/null). */
  stdout?: boolean;
  timeoutMs?: number;
}

/**
 * Runs a command and times it from spawn to the exit of the direct child. stdin is /dev/null;
 * stderr is collected for error messages. The clock stops at 'exit', not 'close': a container
 * started by `create` inherits stderr and keeps the pipe open long after the runtime exited.
 */
export function timed(cmd: string, args: string[], opts: TimedOptions = {}): Promise<Timed> {
  return new Promise((resolve, reject) => {
    const spawnOpts: SpawnOptions = { stdio: ['ignore', opts.stdout ? 'pipe' : 'ignore', 'pipe'] };
    if (opts.cwd !== undefined) spawnOpts.cwd = opts.cwd;
    const t0 = nowMs();
    const child = spawn(cmd, args, spawnOpts);
    let stderr = '';
    let stdout = '';
    child.stderr?.on('data', (c: Buffer) => {
      if (stderr.length < 8192) stderr += c.toString('utf8');
    });
    child.stdout?.on('data', (c: Buffer) => {
      stdout += c.toString('utf8');
    });
    const timer = opts.timeoutMs === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs);
    child.on('error', (err) => {
      if (timer) clearTimeout(timer);
      reject(new Error(`spawn ${cmd}: ${err.message}`));
    });
    child.on('exit', (code, signal) => {
      const ms = nowMs() - t0;
      if (timer) clearTimeout(timer);
      // Let the pipes deliver what is already buffered, without waiting for other holders.
      setImmediate(() => resolve({ ms, code, signal, stderr: stderr.trim(), stdout }));
    });
  });
}

export function describeExit(r: Timed): string {
  const how = r.signal ? `signal ${r.signal}` : `exit ${r.code}`;
  return r.stderr ? `${how}: ${r.stderr.split('\n').slice(-3).join(' | ')}` : how;
}

/** Cleanup actions, run last-in first-out, each at most once, errors reported but not fatal. */
export class Cleanup {
  private actions: { what: string; fn: () => void | Promise<void> }[] = [];
  private inflight: Promise<void> | undefined;

  add(what: string, fn: () => void | Promise<void>): () => void {
    const entry = { what, fn };
    this.actions.push(entry);
    return () => {
      this.actions = this.actions.filter((a) => a !== entry);
    };
  }

  /** Runs the pending actions; a call made while they run waits for the same run. */
  run(): Promise<void> {
    this.inflight ??= this.drain().finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  private async drain(): Promise<void> {
    while (this.actions.length) {
      const a = this.actions.pop()!;
      try {
        await a.fn();
      } catch (err) {
        log(`cleanup: ${a.what}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  }

  /** Runs the actions on SIGINT/SIGTERM, then exits with 130/143; later signals only wait. */
  onSignals(): void {
    let caught = false;
    for (const [sig, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
      process.on(sig, () => {
        if (caught) return;
        caught = true;
        log(`${sig}: cleaning up`);
        void this.run().finally(() => process.exit(code));
      });
    }
  }
}

export function makeTempDir(prefix: string, cleanup: Cleanup): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  cleanup.add(`remove ${dir}`, () => removeTree(dir));
  return dir;
}

/** Mount points at or under `dir`, deepest first (from /proc/self/mountinfo). */
export function mountsUnder(dir: string): string[] {
  const text = fs.readFileSync('/proc/self/mountinfo', 'utf8');
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const mp = line.split(' ')[4];
    if (mp === undefined) continue;
    const p = mp.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
    if (p === dir || p.startsWith(dir + '/')) out.push(p);
  }
  return out.sort((a, b) => b.length - a.length);
}

/**
 * Removes a temp tree, unmounting whatever is still mounted under it first: deleting through a
 * live overlay mount would delete from its lower layers too.
 */
export async function removeTree(dir: string): Promise<void> {
  if (!fs.existsSync(dir)) return;
  for (const mp of mountsUnder(dir)) {
    log(`unmounting leftover mount ${mp}`);
    const r = await timed('umount', ['-l', mp]);
    if (r.code !== 0) throw new Error(`umount ${mp}: ${describeExit(r)}; not removing ${dir}`);
  }
  fs.rmSync(dir, { recursive: true, force: true });
}

/** Progress and notes go to stderr so that stdout holds only the results. */
export function log(msg: string): void {
  process.stderr.write(`bench: ${msg}\n`);
}

export interface Flags {
  runs: number;
  json: boolean;
  images: boolean;
  lifecycle: boolean;
  imageRuns: number;
  imageMB: number;
  commitMB: number;
}

export const USAGE = `usage: bench/lifecycle.ts [--runs N] [--json] [--no-images | --images-only]
                         [--image-runs N] [--image-mb MB] [--commit-mb MB]
  --runs N         lifecycle iterations per runtime (default 30)
  --json           print one JSON document instead of the tables
  --no-images      skip the trun-bundle throughput benchmark
  --images-only    run only the trun-bundle throughput benchmark
  --image-runs N   runs of the image benchmark (default 3)
  --image-mb MB    size of the generated image (default 256)
  --commit-mb MB   bytes written into the rootfs before commit (default 100)`;

export function parseFlags(argv: string[]): Flags {
  const f: Flags = { runs: 30, json: false, images: true, lifecycle: true, imageRuns: 3, imageMB: 256, commitMB: 100 };
  const num = (i: number, name: string): number => {
    const v = Number(argv[i]);
    if (!Number.isInteger(v) || v < 1) throw new Error(`${name} needs a positive integer, got "${argv[i] ?? ''}"\n${USAGE}`);
    return v;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    switch (a) {
      case '--runs': f.runs = num(++i, a); break;
      case '--image-runs': f.imageRuns = num(++i, a); break;
      case '--image-mb': f.imageMB = num(++i, a); break;
      case '--commit-mb': f.commitMB = num(++i, a); break;
      case '--json': f.json = true; break;
      case '--no-images': f.images = false; break;
      case '--images-only': f.lifecycle = false; break;
      case '--help': case '-h':
        process.stdout.write(USAGE + '\n');
        process.exit(0);
        break;
      default:
        throw new Error(`unknown flag "${a}"\n${USAGE}`);
    }
  }
  return f;
}

/** A plain text table, columns padded; numeric-looking cells right-aligned. */
export function table(headers: string[], rows: string[][]): string {
  const all = [headers, ...rows];
  const widths = headers.map((_, c) => Math.max(...all.map((r) => (r[c] ?? '').length)));
  const numeric = (s: string): boolean => /^[-+]?[\d.]+(x|%)?$/.test(s) || s === '-';
  const line = (r: string[]): string =>
    r.map((cell, c) => (c > 0 && numeric(cell) ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!))).join('  ').trimEnd();
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

export function fmt(n: number, digits = 1): string {
  return Number.isFinite(n) ? n.toFixed(digits) : '-';
}

export function ratio(a: number, b: number | undefined): string {
  return b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0 ? '-' : `${(a / b).toFixed(2)}x`;
}

export function hostInfo(): { cpus: number; cpuModel: string; kernel: string; node: string; loadavg: number[] } {
  const cpus = os.cpus();
  return { cpus: cpus.length, cpuModel: cpus[0]?.model ?? 'unknown', kernel: os.release(), node: process.version, loadavg: os.loadavg() };
}
