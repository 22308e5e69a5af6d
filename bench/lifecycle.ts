// Lifecycle latency of trun against runc and crun on one busybox bundle, interleaved round-robin,
// plus the Node.js floor; then (unless --no-images) trun-bundle's image throughput. The entry
// point of `make bench`. Prints medians and ratios; asserts nothing.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { defaultSpec } from '../runtime/defaults';
import { makeBusyboxRootfs } from '../test/helpers/rootfs';
import { printImages, runImages, type ImagesResult } from './images';
import {
  Cleanup, describeExit, fmt, hostInfo, log, makeTempDir, nowMs, parseFlags, ratio, ROOT, sleep, summarize, table, timed,
  type Flags, type Summary, type Timed,
} from './lib';

const TRUN_JS = path.join(ROOT, 'dist/trun.js');
/** The warm path's front end (DESIGN.md, "Speed"); measured as "trun-warm" when built. */
const TRUN_FRONTEND = path.join(ROOT, 'dist/trun');
/** crun 1.8 (Debian 12) refuses ociVersion 1.3.0 ("unknown version specified"); all three take 1.0.2. */
const BENCH_OCI_VERSION = '1.0.2';
const STEPS = ['create', 'start', 'wait', 'delete'] as const;
type Step = (typeof STEPS)[number];

interface Runtime {
  name: string;
  /** argv before the runtime's own arguments, e.g. [node, dist/trun.js]. */
  argv: string[];
  root: string;
  notes: string[];
}

interface RuntimeResult {
  name: string;
  command: string;
  notes: string[];
  lifecycle: Record<'total' | Step, Summary>;
  run: Summary;
  samples: { lifecycle: Record<'total' | Step, number[]>; run: number[] };
}

interface FloorResult {
  name: string;
  command: string;
  summary: Summary;
  samples: number[];
}

export interface LifecycleResult {
  runs: number;
  ociVersion: string;
  runtimes: RuntimeResult[];
  skipped: { name: string; reason: string }[];
  floors: FloorResult[];
}

function which(candidates: string[]): string | undefined {
  return candidates.find((c) => {
    try {
      fs.accessSync(c, fs.constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** Whether some ancestor is build/subreaper: without one, exited containers stay zombies. */
function underSubreaper(): boolean {
  let pid = process.ppid;
  for (let i = 0; i < 32 && pid > 1; i++) {
    try {
      if (fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'subreaper') return true;
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      pid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    } catch {
      return false;
    }
  }
  return false;
}

/**
 * Waits until `pid` is gone, polling /proc every millisecond: cheaper and fairer than `state`,
 * which for trun alone would cost a Node.js start per poll. A zombie that no one reaps within a
 * second counts as stopped (the bench is then not running under a subreaper).
 */
async function waitGone(pid: number): Promise<void> {
  let zombieSince: number | undefined;
  for (;;) {
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      return;
    }
    if (stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z') {
      zombieSince ??= nowMs();
      if (nowMs() - zombieSince > 1000) return;
    }
    await sleep(1);
  }
}

function rt(r: Runtime, args: string[], cwd: string): Promise<Timed> {
  return timed(r.argv[0]!, [...r.argv.slice(1), '--root', r.root, ...args], { cwd, timeoutMs: 60_000 });
}

async function check(r: Runtime, what: string, p: Promise<Timed>): Promise<Timed> {
  const res = await p;
  if (res.code !== 0) throw new Error(`${r.name} ${what}: ${describeExit(res)}`);
  return res;
}

async function lifecycleOnce(r: Runtime, bundle: string, id: string, pidFile: string): Promise<Record<'total' | Step, number>> {
  fs.rmSync(pidFile, { force: true });
  const t0 = nowMs();
  const c = await check(r, `create ${id}`, rt(r, ['create', '--bundle', bundle, '--pid-file', pidFile, id], bundle));
  const pid = Number(fs.readFileSync(pidFile, 'utf8').trim());
  if (!Number.isInteger(pid) || pid <= 0) throw new Error(`${r.name} create ${id}: bad pid file content`);
  const s = await check(r, `start ${id}`, rt(r, ['start', id], bundle));
  const w0 = nowMs();
  await waitGone(pid);
  const w = nowMs() - w0;
  const d = await check(r, `delete ${id}`, rt(r, ['delete', id], bundle));
  return { total: nowMs() - t0, create: c.ms, start: s.ms, wait: w, delete: d.ms };
}

async function runOnce(r: Runtime, bundle: string, id: string): Promise<number> {
  return (await check(r, `run ${id}`, rt(r, ['run', '--bundle', bundle, id], bundle))).ms;
}

/** Deletes whatever containers are left in a runtime's --root (after a failure, or a runtime bug). */
async function sweep(r: Runtime, bundle: string): Promise<string[]> {
  let ids: string[] = [];
  try {
    ids = fs.readdirSync(r.root, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
  } catch {
    return [];
  }
  for (const id of ids) await rt(r, ['delete', '--force', id], bundle);
  return ids;
}

/**
 * crun 1.8 refuses to run on a hybrid cgroup host whose cgroup2 hierarchy has controllers
 * ("cgroups in hybrid mode not supported, drop all controllers from cgroupv2"). Rather than change
 * the host, crun runs through nsenter in a private mount namespace where /sys/fs/cgroup/unified is
 * unmounted. The namespace is held by a shell that exits when our end of its stdin closes, so it
 * cannot outlive the bench.
 */
async function hybridCgroupNamespace(cleanup: Cleanup): Promise<{ nsPath: string; holder: ChildProcess }> {
  const holder = spawn('unshare', ['--mount', '--propagation', 'private', '--', 'sh', '-c', 'umount -l /sys/fs/cgroup/unified && echo ready && exec cat >/dev/null'], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  cleanup.add('stop the crun namespace holder', () => {
    holder.stdin?.end();
    if (holder.exitCode === null && holder.pid !== undefined) holder.kill('SIGTERM');
  });
  const ready = await new Promise<boolean>((resolve) => {
    let out = '';
    holder.stdout?.on('data', (c: Buffer) => {
      out += c.toString();
      if (out.includes('ready')) resolve(true);
    });
    holder.on('exit', () => resolve(false));
    holder.on('error', () => resolve(false));
  });
  if (!ready || holder.pid === undefined) throw new Error('could not make a mount namespace without /sys/fs/cgroup/unified');
  return { nsPath: `/proc/${holder.pid}/ns/mnt`, holder };
}

async function setupRuntimes(tmp: string, bundle: string, cleanup: Cleanup): Promise<{ ready: Runtime[]; skipped: { name: string; reason: string }[]; floors: { name: string; argv: string[] }[] }> {
  const skipped: { name: string; reason: string }[] = [];
  const floors: { name: string; argv: string[] }[] = [
    { name: 'spawn /bin/true', argv: ['/bin/true'] },
    { name: 'node -e 0', argv: [process.execPath, '-e', '0'] },
    { name: 'trun --version', argv: [process.execPath, TRUN_JS, '--version'] },
  ];
  const candidates: Runtime[] = [{ name: 'trun', argv: [process.execPath, TRUN_JS], root: path.join(tmp, 'root-trun'), notes: [] }];
  if (fs.existsSync(TRUN_FRONTEND)) {
    // The warm path: dist/trun with a server of the bench's own (started by the first call, warm
    // after the warm-up rounds), stopped by its pid once the containers are swept.
    const dir = path.join(tmp, 'server');
    fs.mkdirSync(dir, { mode: 0o700 });
    process.env.TRUN_SERVER_DIR = dir;
    cleanup.add('stop the warm trun server', () => {
      try {
        process.kill(Number(fs.readFileSync(path.join(dir, 'server.pid'), 'utf8')), 'SIGTERM');
      } catch {
        // never started, or gone
      }
    });
    candidates.push({ name: 'trun-warm', argv: [TRUN_FRONTEND], root: path.join(tmp, 'root-trun-warm'), notes: [] });
  }
  for (const [name, paths] of [['runc', ['/usr/sbin/runc', '/usr/bin/runc', '/usr/local/sbin/runc']], ['crun', ['/usr/bin/crun', '/usr/local/bin/crun']]] as const) {
    const bin = which([...paths]);
    if (bin === undefined) {
      skipped.push({ name, reason: `not installed (looked for ${paths.join(', ')}; apt-get install ${name})` });
      log(`${name} is not installed: skipping it`);
      continue;
    }
    candidates.push({ name, argv: [bin], root: path.join(tmp, `root-${name}`), notes: [] });
  }
  const ready: Runtime[] = [];
  for (const r of candidates) {
    cleanup.add(`delete ${r.name} containers`, async () => {
      const left = await sweep(r, bundle);
      if (left.length) log(`${r.name}: force-deleted leftover containers ${left.join(', ')}`);
    });
    let probe = await rt(r, ['run', '--bundle', bundle, `probe-${r.name}`], bundle);
    if (probe.code !== 0 && r.name === 'crun' && /hybrid mode not supported/.test(probe.stderr)) {
      log('crun refuses this hybrid cgroup host: running it in a mount namespace without /sys/fs/cgroup/unified');
      const { nsPath } = await hybridCgroupNamespace(cleanup);
      const bin = r.argv[0]!;
      r.argv = ['nsenter', `--mount=${nsPath}`, `--wd=${bundle}`, '--', bin];
      r.notes.push('run through nsenter into a mount namespace without /sys/fs/cgroup/unified (crun refuses hybrid cgroups with v2 controllers)');
      floors.push({ name: 'nsenter wrapper (true)', argv: ['nsenter', `--mount=${nsPath}`, `--wd=${bundle}`, '--', '/bin/true'] });
      probe = await rt(r, ['run', '--bundle', bundle, `probe-${r.name}`], bundle);
    }
    if (probe.code !== 0) {
      const reason = `run of the bench bundle fails: ${describeExit(probe)}`;
      skipped.push({ name: r.name, reason });
      log(`${r.name}: ${reason}: skipping it`);
      continue;
    }
    if (r.name !== 'trun') floors.push({ name: `${r.name} --version`, argv: [...r.argv.slice(r.argv.length - 1), '--version'] });
    ready.push(r);
  }
  return { ready, skipped, floors };
}

export async function runLifecycle(flags: Flags, cleanup: Cleanup): Promise<LifecycleResult> {
  for (const f of ['dist/trun.js', 'dist/trun-init']) {
    if (!fs.existsSync(path.join(ROOT, f))) throw new Error(`${f} is missing: run make build first`);
  }
  if (!underSubreaper()) log('warning: not running under build/subreaper (use make bench): exited containers may stay zombies');
  const tmp = makeTempDir('trun-bench-lifecycle-', cleanup);
  const bundle = path.join(tmp, 'bundle');
  makeBusyboxRootfs(path.join(bundle, 'rootfs'));
  const spec = defaultSpec({ terminal: false, args: ['true'] });
  spec.ociVersion = BENCH_OCI_VERSION;
  fs.writeFileSync(path.join(bundle, 'config.json'), JSON.stringify(spec, null, 2));

  const { ready, skipped, floors } = await setupRuntimes(tmp, bundle, cleanup);
  if (!ready.some((r) => r.name === 'trun')) log('trun cannot run the bench bundle: only the others are measured');

  const life = new Map<string, Record<'total' | Step, number[]>>();
  const runs = new Map<string, number[]>();
  const floorSamples = new Map<string, number[]>();
  for (const r of ready) {
    life.set(r.name, { total: [], create: [], start: [], wait: [], delete: [] });
    runs.set(r.name, []);
  }
  for (const f of floors) floorSamples.set(f.name, []);

  const warmup = 2;
  log(`lifecycle: ${flags.runs} runs (+${warmup} warm-up) of ${ready.map((r) => r.name).join(', ')}, round-robin`);
  const started = nowMs();
  for (let i = -warmup; i < flags.runs; i++) {
    // Rotate who goes first, so that no runtime always follows the same neighbour.
    const k = ((i % ready.length) + ready.length) % ready.length;
    const order = [...ready.slice(k), ...ready.slice(0, k)];
    for (const r of order) {
      const res = await lifecycleOnce(r, bundle, `bench-${r.name}-c${i + warmup}`, path.join(tmp, `pid-${r.name}`));
      if (i >= 0) for (const key of ['total', ...STEPS] as const) life.get(r.name)![key].push(res[key]);
    }
    for (const r of order) {
      const ms = await runOnce(r, bundle, `bench-${r.name}-r${i + warmup}`);
      if (i >= 0) runs.get(r.name)!.push(ms);
    }
    const fk = ((i % floors.length) + floors.length) % floors.length;
    for (const f of [...floors.slice(fk), ...floors.slice(0, fk)]) {
      const res = await timed(f.argv[0]!, f.argv.slice(1));
      if (res.code !== 0) throw new Error(`${f.name}: ${describeExit(res)}`);
      if (i >= 0) floorSamples.get(f.name)!.push(res.ms);
    }
    if (i >= 0 && (i + 1) % 10 === 0) log(`lifecycle: ${i + 1}/${flags.runs} (${((nowMs() - started) / 1000).toFixed(0)} s)`);
  }
  for (const r of ready) {
    const left = await sweep(r, bundle);
    if (left.length) {
      log(`${r.name}: containers left in --root after the runs (a runtime bug): ${left.join(', ')}`);
      r.notes.push(`left containers behind: ${left.join(', ')}`);
    }
  }

  const summarizeAll = (s: Record<'total' | Step, number[]>): Record<'total' | Step, Summary> => ({
    total: summarize(s.total), create: summarize(s.create), start: summarize(s.start), wait: summarize(s.wait), delete: summarize(s.delete),
  });
  return {
    runs: flags.runs,
    ociVersion: BENCH_OCI_VERSION,
    runtimes: ready.map((r) => ({
      name: r.name, command: r.argv.join(' '), notes: r.notes,
      lifecycle: summarizeAll(life.get(r.name)!), run: summarize(runs.get(r.name)!),
      samples: { lifecycle: life.get(r.name)!, run: runs.get(r.name)! },
    })),
    skipped,
    floors: floors.map((f) => ({ name: f.name, command: f.argv.join(' '), summary: summarize(floorSamples.get(f.name)!), samples: floorSamples.get(f.name)! })),
  };
}

export function printLifecycle(res: LifecycleResult): string {
  const out: string[] = [];
  const by = (name: string): RuntimeResult | undefined => res.runtimes.find((r) => r.name === name);
  const runc = by('runc');
  const crun = by('crun');
  const row = (label: string, s: Summary, pick: (r: RuntimeResult) => Summary): string[] => [
    label, fmt(s.median), fmt(s.p10), fmt(s.p90),
    ratio(s.median, runc && pick(runc).median), ratio(s.median, crun && pick(crun).median),
  ];
  const head = ['runtime', 'median ms', 'p10', 'p90', 'vs runc', 'vs crun'];

  out.push(`Lifecycle: create + start + wait until stopped + delete of \`true\` (${res.runs} runs each)`);
  out.push(table(head, res.runtimes.map((r) => row(r.name, r.lifecycle.total, (x) => x.lifecycle.total))));
  out.push('', 'Lifecycle steps');
  const stepRows: string[][] = [];
  for (const step of STEPS) for (const r of res.runtimes) stepRows.push(row(`${step.padEnd(6)} ${r.name}`, r.lifecycle[step], (x) => x.lifecycle[step]));
  out.push(table(['step   runtime', ...head.slice(1)], stepRows));
  out.push('', `run (foreground) of \`true\` (${res.runs} runs each)`);
  out.push(table(head, res.runtimes.map((r) => row(r.name, r.run, (x) => x.run))));
  out.push('', 'Floor: starting a process');
  out.push(table(['command', 'median ms', 'p10', 'p90'], res.floors.map((f) => [f.name, fmt(f.summary.median), fmt(f.summary.p10), fmt(f.summary.p90)])));
  const notes: string[] = [];
  const trun = by('trun');
  const trunVersion = res.floors.find((f) => f.name === 'trun --version');
  if (trun && trunVersion) {
    // What trun costs beyond loading Node.js and its bundle: the part a warm server would keep.
    const floor = trunVersion.summary.median;
    notes.push(
      `trun beyond its start-up (median minus ${fmt(floor)} ms per trun process): lifecycle ${fmt(trun.lifecycle.total.median - 3 * floor)} ms (3 processes), ` +
        `run ${fmt(trun.run.median - floor)} ms (1 process)`,
    );
  }
  notes.push(...res.runtimes.flatMap((r) => r.notes.map((n) => `${r.name}: ${n}`)));
  const wrapper = res.floors.find((f) => f.name === 'nsenter wrapper (true)');
  const spawnTrue = res.floors.find((f) => f.name === 'spawn /bin/true');
  if (wrapper && spawnTrue) {
    notes.push(`crun: its times include nsenter, about ${fmt(wrapper.summary.median - spawnTrue.summary.median)} ms per crun process (nsenter wrapper minus spawn /bin/true)`);
  }
  for (const s of res.skipped) notes.push(`${s.name}: skipped, ${s.reason}`);
  notes.push(`the bundle's ociVersion is ${res.ociVersion} (crun 1.8 refuses newer), the rest is defaultSpec({terminal: false, args: ['true']})`);
  out.push('', ...notes.map((n) => `note: ${n}`));
  return out.join('\n');
}

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2));
  const cleanup = new Cleanup();
  cleanup.onSignals();
  const host = hostInfo();
  let lifecycle: LifecycleResult | undefined;
  let images: ImagesResult | undefined;
  try {
    if (flags.lifecycle) lifecycle = await runLifecycle(flags, cleanup);
    await cleanup.run();
    if (flags.images) images = await runImages(flags, cleanup);
  } finally {
    await cleanup.run();
  }
  if (flags.json) {
    process.stdout.write(JSON.stringify({ host: { ...host, loadavgAfter: hostInfo().loadavg }, lifecycle, images }, null, 2) + '\n');
    return;
  }
  const parts = [`host: ${host.cpus} x ${host.cpuModel}, Linux ${host.kernel}, Node.js ${host.node}, load average ${host.loadavg.map((l) => l.toFixed(2)).join(' ')}`];
  if (lifecycle) parts.push(printLifecycle(lifecycle));
  if (images) parts.push(printImages(images));
  process.stdout.write(parts.join('\n\n') + '\n');
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  });
}
