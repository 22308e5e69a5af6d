// Runs the uvu suites (unit, integration or all; or a directory given as a path) with tsx and
// ends with the plain "N passed, N failed" line that CI reads. Extra arguments are a file-name
// pattern.
//
// Watchdog: each directory runs in one uvu process (one tsx start), and a preloaded helper
// (test/helpers/uvu-progress.cjs) records which test of which file is running. A file that runs
// longer than its limit fails alone: its process group is killed, the test that hung is named,
// and uvu starts again on the files after it.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';

const require = createRequire(import.meta.url);
const { parse } = require('uvu/parse');
const PROGRESS_HELPER = path.join(path.dirname(new URL(import.meta.url).pathname), 'helpers/uvu-progress.cjs');
const REPO = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');

const which = process.argv[2] ?? 'all';
const pattern = process.argv[3];
// test/vm boots guests with qemu; test/guest runs only inside them (test/vm/debian-kernel.test.ts).
const dirs = which === 'all' ? ['test/unit', 'test/integration', 'test/vm'] : which.includes('/') ? [which] : [`test/${which}`];
// Per file, generous: the slowest unit and integration files take 60-90 s on a 2-core machine,
// the VM file up to 15 minutes. TRUN_TEST_FILE_TIMEOUT_S overrides both (the watchdog's own test).
const override = Number(process.env.TRUN_TEST_FILE_TIMEOUT_S);
const limitFor = (dir) => (override > 0 ? override : path.basename(dir) === 'vm' ? 1800 : 300);

const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The progress lines: [time, 'start'|'end', file, kind, name, outcome?]. */
function readProgress(file) {
  let text = '';
  try { text = fs.readFileSync(file, 'utf8'); } catch { /* nothing yet */ }
  return text.split('\n').filter(Boolean).map((l) => l.split('\t'));
}

/** Where the process stands: the file running, since when, and the last test it started or ended. */
function position(lines, spawned) {
  const last = lines.at(-1);
  if (!last) return { file: '', since: spawned, what: 'before the first test' };
  const file = last[2];
  const first = lines.find((l) => l[2] === file);
  const what = `${last[1] === 'start' ? 'in' : 'after'} ${last[3] === 'hook' ? 'hook' : 'test'} '${last[4]}'`;
  return { file, since: Number(first[0]), what };
}

/** The runner's scratch dir (progress files, lists of test dirs); gone when the runner ends. */
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'trun-run-'));
let running; // the uvu process of the moment, its own process group
let scratchN = 0;

/**
 * Removes the test dirs a uvu process listed that are still there (with their containers and
 * mounts): those of a file killed by the watchdog, or of a process that crashed, whose
 * after-hooks never ran.
 */
function cleanLeftDirs(dirsList) {
  let left = [];
  try { left = fs.readFileSync(dirsList, 'utf8').split('\n').filter((d) => d && fs.existsSync(d)); } catch { /* none listed */ }
  if (left.length === 0) return;
  fs.writeFileSync(dirsList, `${left.join('\n')}\n`);
  spawnSync(path.join(REPO, 'node_modules/.bin/tsx'), [path.join(REPO, 'test/helpers/test-dirs.ts'), dirsList], { stdio: 'inherit' });
}

function killAndClean(child, dirsList) {
  try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ }
  cleanLeftDirs(dirsList);
}

for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    if (running) killAndClean(running.child, running.dirsList);
    fs.rmSync(scratch, { recursive: true, force: true });
    process.exit(128 + os.constants.signals[sig]);
  });
}
process.on('exit', () => fs.rmSync(scratch, { recursive: true, force: true }));

/** One uvu process over `files` of `dir`; resolves with its output, exit status and, if killed, where it hung. */
function runUvu(dir, files, limitS) {
  const progress = path.join(scratch, `progress-${++scratchN}`);
  const dirsList = path.join(scratch, `dirs-${scratchN}`);
  const args = ['node_modules/.bin/uvu', '-r', 'tsx', '-r', PROGRESS_HELPER, dir, `^(${files.map(escape).join('|')})$`];
  const child = spawn(process.execPath, args, {
    stdio: ['inherit', 'pipe', 'inherit'],
    env: { ...process.env, TRUN_TEST_PROGRESS: progress, TRUN_TEST_DIRS: dirsList },
    detached: true, // its own process group: the watchdog kills whatever the tests started too
  });
  running = { child, dirsList };
  const spawned = Date.now();
  let stdout = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (d) => {
    stdout += d;
    process.stdout.write(d);
  });
  let hung;
  const timer = setInterval(() => {
    const at = position(readProgress(progress), spawned);
    if (Date.now() - at.since <= limitS * 1000) return;
    hung = at;
    killAndClean(child, dirsList);
  }, 500);
  return new Promise((resolve) => {
    child.on('close', (status, signal) => {
      clearInterval(timer);
      running = undefined;
      const lines = readProgress(progress);
      cleanLeftDirs(dirsList);
      fs.rmSync(progress, { force: true });
      fs.rmSync(dirsList, { force: true });
      resolve({ stdout, status, signal, hung, lines });
    });
  });
}

let passed = 0;
let failed = 0;
let skipped = 0;
for (const dir of dirs) {
  const limitS = limitFor(dir);
  let files = (await parse(dir, pattern)).suites.map((s) => s.name);
  while (files.length > 0) {
    const r = await runUvu(dir, files, limitS);
    if (r.hung) {
      // What finished before the hang counts; the file that hung is one failure.
      const ends = r.lines.filter((l) => l[1] === 'end' && l[3] === 'test');
      passed += ends.filter((l) => l[5] === 'ok').length;
      failed += ends.filter((l) => l[5] !== 'ok').length + 1;
      const where = r.hung.file ? path.join(dir, r.hung.file) : dir;
      console.log(`\n${where}: timed out after ${limitS} s ${r.hung.what}`);
      const i = files.indexOf(r.hung.file);
      if (i < 0) break; // hung before any test ran: nothing to tell the files apart
      files = files.slice(i + 1);
      continue;
    }
    const total = /Total:\s+(\d+)/.exec(r.stdout);
    const ok = /Passed:\s+(\d+)/.exec(r.stdout);
    const skip = /Skipped:\s+(\d+)/.exec(r.stdout);
    if (!total || !ok) {
      console.error(`${dir}: the test runner did not report totals (exit ${r.status ?? r.signal})`);
      failed += 1;
      break;
    }
    passed += Number(ok[1]);
    skipped += skip ? Number(skip[1]) : 0;
    failed += Number(total[1]) - Number(ok[1]) - (skip ? Number(skip[1]) : 0);
    if (r.status !== 0 && Number(total[1]) === Number(ok[1])) failed += 1; // crashed after the last test
    break;
  }
}
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exitCode = failed > 0 || passed === 0 ? 1 : 0;
