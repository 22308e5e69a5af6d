// test/run.mjs's watchdog: a file that hangs fails alone, named with the test that hung, and the
// files after it still run; the last line stays the plain "N passed, N failed"; the test dirs the
// killed file listed (TRUN_TEST_DIRS, as TestEnv lists its own) are removed although its
// after-hooks never ran.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const REPO = path.resolve(__dirname, '../..');
const UVU = path.join(REPO, 'node_modules/uvu/dist/index.js');

test('a hung file fails alone, naming its test; the files after it run', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'trun-watchdog-'));
  const scratchBefore = fs.readdirSync(os.tmpdir());
  try {
    const file = (name: string, body: string) => fs.writeFileSync(path.join(dir, name), `import { test } from ${JSON.stringify(UVU)};\n${body}\ntest.run();\n`);
    file('a.test.mjs', `test('first', () => {});`);
    // b makes a test dir as TestEnv does, which only its after-hook would remove.
    const made = path.join(dir, 'made-by-b');
    file('b.test.mjs', [
      `import * as fs from 'node:fs';`,
      `fs.mkdirSync(${JSON.stringify(path.join(made, 'state'))}, { recursive: true });`,
      `fs.appendFileSync(process.env.TRUN_TEST_DIRS, ${JSON.stringify(`${made}
`)});`,
      `test.after(() => fs.rmSync(${JSON.stringify(made)}, { recursive: true }));`,
      `test('fine', () => {});\ntest('waits forever', () => new Promise(() => setInterval(() => {}, 1000)));\ntest('never reached', () => {});`,
    ].join('\n'));
    file('c.test.mjs', `test('after the hang', () => {});\ntest('fails', () => { throw new Error('no'); });`);
    const t0 = Date.now();
    const r = spawnSync(process.execPath, ['test/run.mjs', dir], {
      cwd: REPO, encoding: 'utf8', timeout: 60_000, env: { ...process.env, TRUN_TEST_FILE_TIMEOUT_S: '2' },
    });
    assert.ok(Date.now() - t0 < 30_000, 'the watchdog ended the hang');
    assert.match(r.stdout, `${path.join(dir, 'b.test.mjs')}: timed out after 2 s in test 'waits forever'`);
    assert.match(r.stdout, /c\.test\.mjs[^]*fails/, 'c.test.mjs ran after the hang');
    // a: 1 ok; b: 1 ok + the hang; c: 1 ok + 1 failure.
    assert.is(r.stdout.trim().split('\n').at(-1), '3 passed, 2 failed');
    assert.is(r.status, 1);
    assert.not.ok(fs.existsSync(made), 'the killed file\'s test dir is gone');
    assert.equal(fs.readdirSync(os.tmpdir()).filter((f) => scratchBefore.includes(f) === false && f.startsWith('trun-run-')), [], 'no runner scratch dir left');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
