// What the tests that run trun under its real callers (containerd's shim, podman/conmon) share:
// the image they load, commands run to completion, polling with a deadline, and the cgroup
// directories a container may leave behind.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { makeBusyboxRootfs } from './rootfs';
import { REPO, type Result } from './trun';

/** The image both callers run, by the name `trun-bundle export` writes into the archive. */
export const IMAGE = 'trun.test/busybox:latest';
const BUNDLE_CLI = path.join(REPO, 'dist/trun-bundle.js');

export interface CmdOpts {
  env?: Record<string, string>;
  input?: string;
  cwd?: string;
  timeoutMs?: number;
}

/**
 * Runs a command to completion. stdout and stderr go through files: a detached container keeps
 * the stdio it was given, and a pipe it holds would never reach EOF.
 */
export function cmd(file: string, args: string[], opts: CmdOpts = {}): Result {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'trun-cmd-'));
  const o = fs.openSync(path.join(dir, 'out'), 'w+');
  const e = fs.openSync(path.join(dir, 'err'), 'w+');
  try {
    const r = spawnSync(file, args, {
      stdio: [opts.input !== undefined ? 'pipe' : 'ignore', o, e],
      ...(opts.input !== undefined ? { input: opts.input } : {}),
      env: { ...process.env, ...(opts.env ?? {}) },
      cwd: opts.cwd ?? os.tmpdir(),
      timeout: opts.timeoutMs ?? 60_000,
      killSignal: 'SIGKILL',
    });
    if (r.error) throw r.error;
    return {
      code: r.status ?? (r.signal ? 128 + (os.constants.signals[r.signal] ?? 0) : -1),
      stdout: fs.readFileSync(path.join(dir, 'out'), 'utf8'),
      stderr: fs.readFileSync(path.join(dir, 'err'), 'utf8'),
    };
  } finally {
    fs.closeSync(o);
    fs.closeSync(e);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Like cmd(), but throws unless the command exits 0; returns stdout. */
export function cmdOk(file: string, args: string[], opts: CmdOpts = {}): string {
  const r = cmd(file, args, opts);
  if (r.code !== 0) throw new Error(`${path.basename(file)} ${args.join(' ')} exited ${r.code}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

/**
 * Runs `argv` on a pty (util-linux's `script`), for the callers' `-t`, which want a terminal on
 * their own stdin. `script -e` exits with the command's code. Each pty on the way (the container's, script's)
 * turns \n into \r\n: lines end in \r\r\n.
 */
export function onPty(argv: string[], opts: CmdOpts = {}): Result {
  const quoted = argv.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  return cmd('script', ['-q', '-e', '-c', quoted, '/dev/null'], { input: '', ...opts });
}

/** Polls `check` until it returns a value other than undefined/false, or throws after `timeoutMs`. */
export async function until<T>(what: string, check: () => T | undefined | false, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Builds the busybox image as an oci-archive with trun-bundle (import-rootfs, then export). */
export function buildImageArchive(dir: string): string {
  const store = path.join(dir, 'image-store');
  const tb = (...args: string[]) => cmdOk(process.execPath, [BUNDLE_CLI, '--store', store, '--quiet', ...args], { timeoutMs: 120_000 });
  tb('import-rootfs', makeBusyboxRootfs(path.join(dir, 'image-rootfs')), IMAGE, '--change', 'CMD ["/bin/sh"]');
  const archive = path.join(dir, 'busybox.oci.tar');
  tb('export', IMAGE, archive);
  fs.rmSync(store, { recursive: true, force: true });
  fs.rmSync(path.join(dir, 'image-rootfs'), { recursive: true, force: true });
  return archive;
}

/** Every cgroup directory for `rel` (a cgroupsPath) that exists: in each v1 hierarchy, or the v2 one. */
export function cgroupDirs(rel: string): string[] {
  const base = '/sys/fs/cgroup';
  const candidates = [path.join(base, rel)];
  for (const h of fs.readdirSync(base)) candidates.push(path.join(base, h, rel));
  return candidates.filter((d) => {
    try {
      return fs.statSync(d).isDirectory() && fs.existsSync(path.join(d, 'cgroup.procs'));
    } catch {
      return false;
    }
  });
}

/** Removes the cgroup tree `rel` where it is empty (a caller's parent cgroups: trun only removes a container's own). */
export function removeCgroupTree(rel: string): void {
  const rm = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) rm(path.join(d, e.name));
    try {
      fs.rmdirSync(d);
    } catch {
      // still in use: left for the assertions to report
    }
  };
  for (const d of cgroupDirs(rel)) rm(d);
}

/** Starts a daemon with its output in `log`; it is killed by pid if this process exits first. */
export function startDaemon(file: string, args: string[], log: string, env: Record<string, string> = {}): ChildProcess {
  const fd = fs.openSync(log, 'a');
  const child = spawn(file, args, { stdio: ['ignore', fd, fd], env: { ...process.env, ...env } });
  fs.closeSync(fd);
  const killOnExit = () => { try { if (child.pid && child.exitCode === null) process.kill(child.pid, 'SIGKILL'); } catch { /* gone */ } };
  process.on('exit', killOnExit);
  child.on('exit', () => process.off('exit', killOnExit));
  return child;
}

/** Stops a daemon started by startDaemon: SIGTERM, then SIGKILL if it has not exited in time. */
export async function stopDaemon(child: ChildProcess, timeoutMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  await exited;
  clearTimeout(timer);
}

/** Lazily unmounts whatever is still mounted under `dir`, deepest first (a failed test's leftovers). */
export function unmountUnder(dir: string): void {
  const points = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4] ?? '')
    .filter((p) => p === dir || p.startsWith(`${dir}/`)).sort((a, b) => b.length - a.length);
  for (const p of points) spawnSync('umount', ['-l', p], { stdio: 'ignore' });
}
