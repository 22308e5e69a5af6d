// Bad input gets a clear error and leaves nothing behind: no state dir, process, mount or cgroup.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { TestEnv, assertNothingLeft, snapshot } from '../helpers/trun';

const env = new TestEnv('errors');
test.after(() => env.cleanup());

test('a missing bundle', () => {
  const id = env.id();
  const before = snapshot();
  const r = env.trun(['create', '--bundle', path.join(env.dir, 'nope'), id]);
  assert.is(r.code, 1);
  assert.match(r.stderr, /bundle ".*nope": no such directory/);
  assertNothingLeft(env, before, id);
});

test('an invalid config.json names the field', () => {
  const id = env.id();
  const bundle = env.bundle();
  const spec = JSON.parse(fs.readFileSync(path.join(bundle, 'config.json'), 'utf8'));
  spec.process.args = 'echo';
  fs.writeFileSync(path.join(bundle, 'config.json'), JSON.stringify(spec));
  const before = snapshot();
  const r = env.trun(['create', '--bundle', bundle, id]);
  assert.is(r.code, 1);
  assert.match(r.stderr, /process\.args/);
  assertNothingLeft(env, before, id);
});

test('config.json that is not JSON names the file', () => {
  const id = env.id();
  const bundle = env.bundle();
  fs.writeFileSync(path.join(bundle, 'config.json'), '{]');
  const r = env.trun(['create', '--bundle', bundle, id]);
  assert.is(r.code, 1);
  assert.match(r.stderr, /config\.json.*invalid JSON/);
});

test('an invalid id', () => {
  for (const id of ['a/b', '..', 'x y']) {
    const r = env.trun(['create', '--bundle', env.bundle(), id]);
    assert.is(r.code, 1);
    assert.match(r.stderr, /invalid container ID format/);
  }
});

test('a duplicate id leaves the first container alone', () => {
  const id = env.id();
  env.ok(['create', '-b', env.bundle(() => {}, ['sleep', '1000']), id]);
  const pid = env.state(id).pid;
  const r = env.trun(['create', '-b', env.bundle(), id]);
  assert.is(r.code, 1);
  assert.match(r.stderr, /container with given ID already exists/);
  assert.is(env.state(id).pid, pid);
  assert.is(env.state(id).status, 'created');
  env.ok(['delete', id]);
});

test('unknown ids', () => {
  for (const cmd of [['state'], ['start'], ['kill'], ['delete']]) {
    const r = env.trun([...cmd, 'no-such-container']);
    assert.is(r.code, 1, cmd.join(' '));
    assert.match(r.stderr, /container does not exist/);
  }
});

test('an args[0] that does not exist fails create, from the init', () => {
  const id = env.id();
  const bundle = env.bundle(() => {}, ['/bin/no-such-binary']);
  const before = snapshot();
  const r = env.trun(['create', '--bundle', bundle, id]);
  assert.is(r.code, 1);
  assert.match(r.stderr, /no-such-binary/);
  assertNothingLeft(env, before, id);
});

test('a failing mount fails create and leaves nothing', () => {
  const id = env.id();
  const bundle = env.bundle((s) => { s.mounts!.push({ destination: '/x', type: 'bind', source: '/definitely/not/here', options: ['bind'] }); });
  const before = snapshot();
  const r = env.trun(['create', '--bundle', bundle, id]);
  assert.is(r.code, 1);
  assert.match(r.stderr, /\/definitely\/not\/here/);
  assertNothingLeft(env, before, id);
});

test('a cgroup path outside the hierarchy is refused, leaving nothing', () => {
  for (const cgroupsPath of ['/../../escape', '../../../../escape']) {
    const id = env.id();
    const bundle = env.bundle((s) => { s.linux!.cgroupsPath = cgroupsPath; });
    const before = snapshot();
    const r = env.trun(['create', '--bundle', bundle, id]);
    assert.is(r.code, 1, cgroupsPath);
    assert.match(r.stderr, /escape/);
    assertNothingLeft(env, before, id);
  }
});

test('an unknown capability or rlimit is refused with the field named', () => {
  const cap = env.trun(['create', '-b', env.bundle((s) => { s.process!.capabilities!.bounding!.push('CAP_NOPE'); }), env.id()]);
  assert.match(cap.stderr, /process\.capabilities\.bounding\[\d+\]: unknown capability "CAP_NOPE"/);
  const rl = env.trun(['create', '-b', env.bundle((s) => { s.process!.rlimits = [{ type: 'RLIMIT_NOPE', soft: 1, hard: 1 }]; }), env.id()]);
  assert.match(rl.stderr, /RLIMIT_NOPE/);
});

test('--log-format json writes one error line to the log file', () => {
  const log = path.join(env.dir, 'log.json');
  const r = env.trun(['--log', log, '--log-format', 'json', 'state', 'no-such-container']);
  assert.is(r.code, 1);
  const lines = fs.readFileSync(log, 'utf8').trim().split('\n');
  assert.is(lines.length, 1);
  const entry = JSON.parse(lines[0]!);
  assert.is(entry.level, 'error');
  assert.is(entry.msg, 'container does not exist');
  assert.ok(!Number.isNaN(Date.parse(entry.time)));
  assert.match(r.stderr, /container does not exist/);
});

test('an unknown flag and a missing argument', () => {
  assert.match(env.trun(['create', '--bogus', 'x']).stderr, /flag provided but not defined: -bogus/);
  assert.match(env.trun(['start']).stderr, /requires exactly 1 argument/);
});

test.run();
