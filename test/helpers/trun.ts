// Integration-test harness: a private --root, bundles with a busybox rootfs, and a way to run the
// built CLI (dist/trun.js) and see what it left behind.
import { spawn, spawnSync, type StdioOptions } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { defaultSpec } from '../../runtime/defaults';
import type { Spec } from '../../spec/types/runtime';
import * as assert from 'uvu/assert';
import { makeBusyboxRootfs } from './rootfs';
import { registerTestDir, removeTestDir } from './test-dirs';

export const REPO = path.resolve(__dirname, '../..');
export const TRUN = path.join(REPO, 'dist/trun.js');
/** The warm path's C front end (DESIGN.md, "Speed"). */
export const TRUN_FRONTEND = path.join(REPO, 'dist/trun');

/**
 * How the suites run trun: `node dist/trun.js` (the cold path), or with TRUN_TEST_CLI=frontend
 * `dist/trun`, whose server (under $TRUN_SERVER_DIR when set) runs the same code warm.
 */
export const TRUN_ARGV: readonly string[] = process.env.TRUN_TEST_CLI === 'frontend' ? [TRUN_FRONTEND] : [process.execPath, TRUN];

// Through the front end, never the real server: without a TRUN_SERVER_DIR, one private to this
// test process, whose server is stopped (by its pid) and whose dir is removed when we exit.
if (process.env.TRUN_TEST_CLI === 'frontend' && !process.env.TRUN_SERVER_DIR) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'trun-test-server-'));
  process.env.TRUN_SERVER_DIR = dir;
  process.on('exit', () => {
    try {
      process.kill(Number(fs.readFileSync(path.join(dir, 'server.pid'), 'utf8')), 'SIGTERM');
    } catch {
      // no server started, or gone
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });
}

export interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOpts {
  /** Extra fds for the trun process, from fd 3 on. */
  extraFds?: number[];
  input?: string;
  env?: Record<string, string>;
  cwd?: string;
  /** The command that is trun, instead of TRUN_ARGV. */
  cli?: readonly string[];
  /** Kill trun (SIGKILL) after this long: a test of a command that must not hang sets its bound. */
  timeoutMs?: number;
}

let counter = 0;

export class TestEnv {
  readonly dir: string;
  readonly root: string;
  private readonly template: string;

  constructor(name: string) {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), `trun-test-${name}-`));
    registerTestDir(this.dir);
    fs.chmodSync(this.dir, 0o755); // a user-namespaced container's root must reach its rootfs
    this.root = path.join(this.dir, 'state');
    this.template = makeBusyboxRootfs(path.join(this.dir, 'template'));
  }

  /** A unique container id for this run. */
  id(prefix = 'c'): string {
    counter += 1;
    return `${prefix}-${process.pid}-${counter}`;
  }

  /** A bundle with its own copy of the busybox rootfs and a config from runc's defaults. */
  bundle(mut: (s: Spec) => void = () => {}, args: string[] = ['true']): string {
    const dir = fs.mkdtempSync(path.join(this.dir, 'bundle-'));
    fs.chmodSync(dir, 0o755);
    spawnSync('cp', ['-a', this.template, path.join(dir, 'rootfs')], { stdio: 'inherit' });
    const spec = defaultSpec({ terminal: false, args });
    spec.root!.readonly = false;
    mut(spec);
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(spec, null, 2));
    return dir;
  }

  /** Runs `trun --root <root> ARGS` to completion; stdout and stderr go through files, which containers may keep open. */
  trun(args: string[], opts: RunOpts = {}): Result {
    const out = path.join(this.dir, `out-${process.pid}-${++counter}`);
    const errf = `${out}.err`;
    const o = fs.openSync(out, 'w+');
    const e = fs.openSync(errf, 'w+');
    const stdio: StdioOptions = [opts.input !== undefined ? 'pipe' : 'ignore', o, e, ...(opts.extraFds ?? [])];
    try {
      const cli = opts.cli ?? TRUN_ARGV;
      const r = spawnSync(cli[0]!, [...cli.slice(1), '--root', this.root, ...args], {
        stdio,
        ...(opts.input !== undefined ? { input: opts.input } : {}),
        env: { ...process.env, ...(opts.env ?? {}) },
        cwd: opts.cwd ?? this.dir,
        timeout: opts.timeoutMs ?? 60_000,
        ...(opts.timeoutMs !== undefined ? { killSignal: 'SIGKILL' as const } : {}),
      });
      return {
        code: r.status ?? (r.signal ? 128 + (os.constants.signals[r.signal] ?? 0) : -1),
        stdout: fs.readFileSync(out, 'utf8'),
        stderr: fs.readFileSync(errf, 'utf8'),
      };
    } finally {
      fs.closeSync(o);
      fs.closeSync(e);
      fs.rmSync(out, { force: true });
      fs.rmSync(errf, { force: true });
    }
  }

  /** Like trun(), but asserts success and returns stdout. */
  ok(args: string[], opts: RunOpts = {}): string {
    const r = this.trun(args, opts);
    if (r.code !== 0) throw new Error(`trun ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
    return r.stdout;
  }

  /** Starts trun without waiting (a foreground `run` to signal, say). */
  spawn(args: string[], opts: { cli?: readonly string[]; env?: Record<string, string> } = {}) {
    const cli = opts.cli ?? TRUN_ARGV;
    return spawn(cli[0]!, [...cli.slice(1), '--root', this.root, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'], cwd: this.dir, env: { ...process.env, ...(opts.env ?? {}) },
    });
  }

  state(id: string): { status: string; pid: number; [k: string]: unknown } {
    return JSON.parse(this.ok(['state', id]));
  }

  /** Polls until the container reports `status` (or the deadline passes). */
  async waitStatus(id: string, status: string, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const st = this.state(id);
      if (st.status === status) return;
      if (Date.now() > deadline) throw new Error(`container ${id} is ${st.status}, expected ${status}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Deletes every container left under this root and removes the temp dir. */
  cleanup(): void {
    if (fs.existsSync(this.root)) {
      // Through the CLI under test first (the front end too), then whatever is left, mounts included.
      for (const id of fs.readdirSync(this.root)) this.trun(['delete', '--force', id]);
    }
    removeTestDir(this.dir, this.root);
  }
}

/** What the host looks like, to compare before and after a command: mounts, processes, cgroups. */
export interface HostSnapshot {
  mounts: string[];
  pids: Set<number>;
  cgroups: string[];
}

function cgroupDirs(): string[] {
  const out: string[] = [];
  for (const base of ['/sys/fs/cgroup/memory/trun', '/sys/fs/cgroup/pids/trun', '/sys/fs/cgroup/unified/trun', '/sys/fs/cgroup/trun']) {
    try {
      for (const d of fs.readdirSync(base)) if (fs.statSync(path.join(base, d)).isDirectory()) out.push(path.join(base, d));
    } catch {
      // hierarchy absent
    }
  }
  return out.sort();
}

export function snapshot(): HostSnapshot {
  const mounts = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ').slice(3, 5).join(' ')).filter(Boolean).sort();
  const pids = new Set(fs.readdirSync('/proc').filter((n) => /^\d+$/.test(n)).map(Number));
  return { mounts, pids, cgroups: cgroupDirs() };
}

/** The warm server of this test run (TRUN_TEST_CLI=frontend), which outlives the commands by design. */
function warmServerPid(): number | undefined {
  const dir = process.env.TRUN_SERVER_DIR;
  if (!dir) return undefined;
  try {
    return Number(fs.readFileSync(path.join(dir, 'server.pid'), 'utf8'));
  } catch {
    return undefined;
  }
}

/** Processes that appeared since `before` and are still alive (not zombies), the warm server aside. */
export function newProcesses(before: HostSnapshot): number[] {
  const now = snapshot();
  const server = warmServerPid();
  return [...now.pids].filter((p) => !before.pids.has(p) && p !== server).filter((p) => {
    try {
      const stat = fs.readFileSync(`/proc/${p}/stat`, 'utf8');
      const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      const cmd = fs.readFileSync(`/proc/${p}/cmdline`, 'utf8');
      // ignore kernel threads and the processes this check itself is made of
      return state !== 'Z' && cmd.length > 0 && !cmd.includes('trun-test-ignore');
    } catch {
      return false;
    }
  });
}

function parentOf(pid: number): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return 0;
  }
}

/**
 * This test run's subreaper (build/subreaper), which inherits anything trun leaves behind.
 * Other test runs on the same host have their own, so their processes are not ours.
 */
const reaper = (() => {
  for (let p = process.pid; p > 1; p = parentOf(p)) {
    try {
      if (fs.readFileSync(`/proc/${p}/comm`, 'utf8').trim() === 'subreaper') return p;
    } catch { /* gone */ }
  }
  return process.pid;
})();

export function ours(pid: number): boolean {
  for (let p = pid; p > 1; p = parentOf(p)) if (p === reaper) return true;
  return false;
}

/**
 * Runs `trun ARGS`, which must fail (exit 1) with stderr matching `pattern` and leave nothing of
 * container `id` behind. Returns the result for further checks.
 */
export function expectCleanFailure(env: TestEnv, id: string, args: string[], pattern: RegExp): Result {
  const before = snapshot();
  const r = env.trun(args);
  assert.is(r.code, 1, r.stderr);
  assert.match(r.stderr, pattern);
  assertNothingLeft(env, before, id);
  return r;
}

/** Asserts a failed command left nothing of container `id` behind: state dir, process, mount, cgroup. */
export function assertNothingLeft(env: TestEnv, before: HostSnapshot, id: string): void {
  const after = snapshot();
  assert.not.ok(fs.existsSync(path.join(env.root, id)), 'no state dir');
  assert.equal(newProcesses(before).filter(ours), [], 'no process');
  // Only this test's own: other runs' containers may come and go on the same host meanwhile.
  assert.equal(after.mounts.filter((m) => !before.mounts.includes(m) && m.includes(env.dir)), [], 'no mount');
  assert.equal(after.cgroups.filter((c) => !before.cgroups.includes(c) && c.includes(id)), [], 'no cgroup');
}

/** Every v1 hierarchy and the unified one, as mounted on this host. */
export const HIERARCHIES = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')
  .filter((l) => / - cgroup2? /.test(l)).map((l) => l.split(' ')[4]!);

/** The container's default cgroup directories (`/trun/<id>`) that exist, on any hierarchy. */
export function cgroupsOf(id: string): string[] {
  return HIERARCHIES.map((h) => path.join(h, 'trun', id)).filter((d) => fs.existsSync(d));
}

/** Polls `cond` on every turn of the event loop until it holds, or throws after the bound. */
export async function until(cond: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setImmediate(r));
  }
}
