// Test directories and their removal. Every TestEnv dir is listed in TRUN_TEST_DIRS (a file the
// runner names), so that when the runner's watchdog kills a hung test file, whose own after-hooks
// never run, it can still remove what that file made: run as a script with the list's path.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const TRUN_JS = path.resolve(__dirname, '../../dist/trun.js');

/** Notes a test dir in the runner's list (when there is one). */
export function registerTestDir(dir: string): void {
  const list = process.env.TRUN_TEST_DIRS;
  if (list) fs.appendFileSync(list, `${dir}\n`);
}

/** Mount points at or under dir in this mount namespace, deepest first. */
export function mountPointsUnder(dir: string): string[] {
  let real: string;
  try { real = fs.realpathSync(dir); } catch { return []; }
  return fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')
    .map((l) => (l.split(' ')[4] ?? '').replace(/\\040/g, ' '))
    .filter((mp) => mp === real || mp.startsWith(`${real}/`))
    .sort((a, b) => b.length - a.length);
}

/**
 * Removes a test dir whatever its tests left: every container of its trun root (`<dir>/state`,
 * with delete --force, which also takes its cgroups and processes), then any mount still under it
 * (a test that failed half way may leave one, and rm would stop at it with EBUSY), then the files.
 */
export function removeTestDir(dir: string, root = path.join(dir, 'state')): void {
  if (fs.existsSync(root)) {
    for (const id of fs.readdirSync(root)) {
      spawnSync(process.execPath, [TRUN_JS, '--root', root, 'delete', '--force', id], { stdio: 'ignore', timeout: 60_000 });
    }
  }
  for (const mp of mountPointsUnder(dir)) spawnSync('umount', ['-l', mp], { stdio: 'ignore' });
  fs.rmSync(dir, { recursive: true, force: true });
}

// As a script: remove every dir in the list named by argv[2] (the runner, after a killed file).
if (require.main === module && process.argv[2]) {
  const list = fs.readFileSync(process.argv[2], 'utf8').split('\n').filter(Boolean);
  for (const dir of list) removeTestDir(dir);
}
