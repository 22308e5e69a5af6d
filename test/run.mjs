// Runs the uvu suites (unit, integration or all) with tsx and ends with the plain
// "N passed, N failed" line that CI reads. Extra arguments are a file-name pattern.
import { spawnSync } from 'node:child_process';

const which = process.argv[2] ?? 'all';
const pattern = process.argv[3];
// test/vm boots guests with qemu; test/guest runs only inside them (test/vm/debian-kernel.test.ts).
const dirs = which === 'all' ? ['test/unit', 'test/integration', 'test/vm'] : [`test/${which}`];
let passed = 0;
let failed = 0;
let skipped = 0;
for (const dir of dirs) {
  const args = ['node_modules/.bin/uvu', '-r', 'tsx', dir];
  if (pattern) args.push(pattern);
  const r = spawnSync(process.execPath, args, { stdio: ['inherit', 'pipe', 'inherit'], encoding: 'utf8', maxBuffer: 64 << 20 });
  process.stdout.write(r.stdout ?? '');
  const total = /Total:\s+(\d+)/.exec(r.stdout ?? '');
  const ok = /Passed:\s+(\d+)/.exec(r.stdout ?? '');
  const skip = /Skipped:\s+(\d+)/.exec(r.stdout ?? '');
  if (!total || !ok) {
    console.error(`${dir}: the test runner did not report totals (exit ${r.status ?? r.signal})`);
    failed += 1;
    continue;
  }
  passed += Number(ok[1]);
  skipped += skip ? Number(skip[1]) : 0;
  failed += Number(total[1]) - Number(ok[1]) - (skip ? Number(skip[1]) : 0);
  if (r.status !== 0 && Number(total[1]) === Number(ok[1])) failed += 1; // crashed after the last test
}
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exitCode = failed > 0 || passed === 0 ? 1 : 0;
