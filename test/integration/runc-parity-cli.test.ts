// trun's command line answers as runc 1.1.5's does (exit codes, stdout, the error a caller matches
// on) for each command against containers in every state. The expectations were taken by hand
// from runc 1.1.5 with the same bundle; where trun differs on purpose, the case says so.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { TestEnv, type Result } from '../helpers/trun';

const env = new TestEnv('parity-cli');
const C = { created: env.id('created'), running: env.id('running'), paused: env.id('paused'), stopped: env.id('stopped') };

test.before(async () => {
  for (const id of Object.values(C)) env.ok(['create', '-b', env.bundle(() => {}, id === C.stopped ? ['true'] : ['sleep', '1000']), id]);
  for (const id of [C.running, C.paused, C.stopped]) env.ok(['start', id]);
  env.ok(['pause', C.paused]);
  await env.waitStatus(C.stopped, 'stopped');
});
test.after(() => env.cleanup());

interface Expect { out?: RegExp; err?: RegExp; noErr?: boolean }
type Case = [args: string[], code: number, expect?: Expect];

const USAGE = /^Incorrect Usage[.:]/;

/** Non-mutating cases: each leaves the four containers as they were. */
const CASES: Case[] = [
  // kill: signal 0 asks whether the init is alive; names in any case, with or without SIG, or numbers
  [['kill', C.running, '0'], 0, { noErr: true }],
  [['kill', C.created, '0'], 0],
  [['kill', C.paused, '0'], 0],
  [['kill', '--all', C.running, '0'], 0],
  [['kill', C.stopped, '0'], 1, { err: /container not running/ }],
  [['kill', C.stopped], 1, { err: /container not running/ }],
  [['kill', '--all', C.stopped, '0'], 0],
  [['kill', C.running, 'winch'], 0],
  [['kill', C.running, 'SIGWINCH'], 0],
  [['kill', C.running, 'sigwinch'], 0],
  [['kill', C.running, 'Winch'], 0],
  [['kill', C.running, '28'], 0],
  [['kill', C.running, 'SIGFOO'], 1, { err: /unknown signal "SIGFOO"/ }],
  [['kill', C.running, '0x1'], 1, { err: /unknown signal "0x1"/ }],
  [['kill', C.running, '0', 'extra'], 1, { out: USAGE, err: /"kill" requires a maximum of 2 argument\(s\)/ }],
  [['kill'], 1, { out: USAGE, err: /"kill" requires a minimum of 1 argument\(s\)/ }],
  [['kill', 'no-such-container', '0'], 1, { err: /container does not exist/ }],

  // exec: the process's own exit code (128+n when signal n killed it); 255 for exec's own failures
  [['exec', C.running, 'sh', '-c', 'exit 7'], 7],
  [['exec', C.running, 'sh', '-c', 'kill -KILL $$'], 137],
  [['exec', C.running, 'sh', '-c', 'kill -TERM $$'], 143],
  [['exec', C.running, 'echo', 'hi'], 0, { out: /^hi\n$/ }],
  [['exec', C.created, 'echo', 'hi'], 0, { out: /^hi\n$/ }],
  [['exec', C.running, '/no-such-binary'], 255, { err: /^exec failed: .*"\/no-such-binary".*no such file or directory/ }],
  [['exec', C.running, 'no-such-binary'], 255, { err: /^exec failed: .*"no-such-binary": executable file not found in \$PATH/ }],
  [['exec', C.running, '/etc'], 255, { err: /^exec failed: .*"\/etc": permission denied/ }],
  [['exec', 'no-such-container', 'true'], 255, { err: /^exec failed: container does not exist/ }],
  [['exec', C.stopped, 'true'], 255, { err: /^exec failed: cannot exec in a stopped container/ }],
  [['exec', C.paused, 'true'], 255, { err: /^exec failed: cannot exec in a paused container \(use --ignore-paused to override\)/ }],
  [['exec', C.running], 255, { err: /^exec failed: process args cannot be empty/ }],
  [['exec'], 1, { out: USAGE, err: /"exec" requires a minimum of 1 argument\(s\)/ }],

  // state: runc's field order, pid 0 once stopped
  [['state', C.running], 0, { out: /^\{\n {2}"ociVersion": .*\n {2}"id": .*\n {2}"pid": [1-9]\d*,\n {2}"status": "running",/ }],
  [['state', C.created], 0, { out: /"status": "created"/ }],
  [['state', C.paused], 0, { out: /"status": "paused"/ }],
  [['state', C.stopped], 0, { out: /"pid": 0,\n {2}"status": "stopped"/ }],
  [['state', 'no-such-container'], 1, { err: /container does not exist/ }],
  [['state'], 1, { out: USAGE, err: /"state" requires exactly 1 argument\(s\)/ }],
  [['state', C.running, 'extra'], 1, { out: USAGE, err: /"state" requires exactly 1 argument\(s\)/ }],
  [['state', '--bogus', C.running], 1, { out: /^Incorrect Usage: flag provided but not defined: -bogus/, err: /flag provided but not defined: -bogus/ }],

  // list: runc's table (columns at least 12 wide), ids only, or JSON in runc's field order
  [['list'], 0, { out: new RegExp(`^ID +PID +STATUS +BUNDLE +CREATED +OWNER\n(?:.*\n)*${C.paused} +\\d+ +paused +/`) }],
  [['--root', path.join(env.dir, 'no-root'), 'list'], 0, { out: /^ID {10}PID {9}STATUS {6}BUNDLE {6}CREATED {5}OWNER\n$/ }],
  [['list', '-q'], 0, { out: new RegExp(`^(?:[\\w-]+\n)*${C.running}\n`) }],
  [['list', '-f', 'json'], 0, { out: /^\[\{"ociVersion":"[^"]+","id":"[^"]+","pid":\d+,"status":"/ }],
  [['list', '--format', 'yaml'], 1, { err: /invalid format option/ }],
  [['list', 'extra'], 1, { out: USAGE, err: /"list" requires exactly 0 argument\(s\)/ }],

  // ps: a stopped container has no processes, which is not an error
  [['ps', '-f', 'json', C.stopped], 0, { out: /^\[\]\n$/ }],
  [['ps', C.stopped], 0, { out: /^UID +PID .*CMD\n$/ }],
  [['ps', '-f', 'json', C.paused], 0, { out: /^\[\d+\]\n$/ }],
  [['ps', C.running, '-o', 'pid,comm'], 0, { out: /^ *PID COMMAND\n *\d+ sleep\n$/ }],
  [['ps', '-f', 'yaml', C.running], 1, { err: /invalid format option/ }],
  [['ps', 'no-such-container'], 1, { err: /container does not exist/ }],

  // delete refuses what still runs; --force on an unknown id is not an error
  [['delete', C.running], 1, { err: new RegExp(`cannot delete container ${C.running} that is not stopped: running`) }],
  [['delete', C.paused], 1, { err: new RegExp(`cannot delete container ${C.paused} that is not stopped: paused`) }],
  [['delete', 'no-such-container'], 1, { err: /container does not exist/ }],
  [['delete', '--force', 'no-such-container'], 0],

  // pause / resume / start in the wrong state
  [['pause', C.paused], 1, { err: /container not running/ }],
  [['pause', C.stopped], 1, { err: /container not running/ }],
  [['resume', C.running], 1, { err: /container not paused/ }],
  [['resume', C.created], 1, { err: /container not paused/ }],
  [['resume', C.stopped], 1, { err: /container not paused/ }],
  [['start', C.running], 1, { err: /cannot start an already running container/ }],
  [['start', C.stopped], 1, { err: /cannot start a container that has stopped/ }],
  [['start', C.paused], 1, { err: /cannot start a container in the paused state/ }],

  // events
  [['events', '--stats', C.running], 0, { out: new RegExp(`^\\{"type":"stats","id":"${C.running}","data":\\{`) }],
  [['events', '--stats', C.stopped], 1, { err: new RegExp(`container with id ${C.stopped} is not running`) }],

  // spec, features
  [['spec', 'extra'], 1, { out: USAGE, err: /"spec" requires exactly 0 argument\(s\)/ }],
  [['features'], 0, { out: /^\{\n {4}"ociVersionMin": / }],
  [['features', 'extra'], 1, { out: USAGE, err: /"features" requires exactly 0 argument\(s\)/ }],

  // the application: help, version, unknown commands (exit 3, as runc)
  [[], 0, { out: /^NAME:\n {3}trun - .*\n[^]*USAGE:\n {3}trun \[global options\] command/, noErr: true }],
  [['--help'], 0, { out: /COMMANDS:\n(?: {3}\S+ .*\n)+/, noErr: true }],
  [['help'], 0, { out: /GLOBAL OPTIONS:\n[^]*--root value/ }],
  [['-v'], 0, { out: /^trun version \S+\nspec: \d/ }],
  [['--version'], 0, { out: /^trun version / }],
  [['no-such-command'], 3, { err: /No help topic for 'no-such-command'/ }],
  [['help', 'no-such-command'], 3, { err: /No help topic for 'no-such-command'/ }],
];

function check(args: string[], r: Result, code: number, e: Expect = {}): void {
  const what = `trun ${args.join(' ')}: exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
  assert.is(r.code, code, what);
  if (e.out) assert.match(r.stdout, e.out, what);
  if (e.err) assert.match(r.stderr, e.err, what);
  if (e.noErr) assert.is(r.stderr, '', what);
}

test('every command answers as runc does, container by container', () => {
  // Every case runs, and the failures are reported together.
  const failures: string[] = [];
  for (const [args, code, expect] of CASES) {
    try {
      check(args, env.trun(args), code, expect);
    } catch (e) {
      failures.push((e as Error).message);
    }
  }
  assert.equal(failures, [], `${failures.length} of ${CASES.length} cases differ:\n${failures.join('\n---\n')}`);
  // None of the cases changed a container.
  for (const [status, id] of Object.entries(C)) assert.is(env.state(id).status, status, id);
});

const COMMAND_NAMES = ['create', 'delete', 'events', 'exec', 'features', 'kill', 'list', 'pause', 'ps', 'resume', 'run', 'spec', 'start', 'state', 'update'];

test('--help, -h and `help CMD` print the command\'s usage on stdout and exit 0', () => {
  const top = env.ok(['--help']);
  for (const name of COMMAND_NAMES) {
    assert.match(top, new RegExp(`\\n {3}${name} +\\S`), `${name} listed in trun --help`);
    for (const args of [[name, '--help'], [name, '-h'], ['help', name], ['h', name]]) {
      const r = env.trun(args);
      check(args, r, 0, { out: new RegExp(`^NAME:\\n {3}trun ${name} - .+\\n\\nUSAGE:\\n {3}trun ${name} `), noErr: true });
    }
  }
  assert.match(env.ok(['kill', '--help']), /OPTIONS:\n {3}--all, -a {2}\S/);
  assert.match(env.ok(['exec', '-h']), /--ignore-paused +\S/);
});

test('a created container can be paused (runc does): paused until resumed, then created, then started', () => {
  const id = env.id('pause-created');
  env.ok(['create', '-b', env.bundle(() => {}, ['sleep', '1000']), id]);
  check(['pause', id], env.trun(['pause', id]), 0);
  assert.is(env.state(id).status, 'paused');
  assert.match(env.ok(['list']), new RegExp(`\\n${id} +\\d+ +paused `));
  check(['start', id], env.trun(['start', id]), 1, { err: /cannot start a container in the paused state/ });
  check(['kill', id, '0'], env.trun(['kill', id, '0']), 0);
  check(['resume', id], env.trun(['resume', id]), 0);
  assert.is(env.state(id).status, 'created');
  env.ok(['start', id]);
  assert.is(env.state(id).status, 'running');
  env.ok(['delete', '--force', id]);
});

test('kill ID 0 on a container that has just died says it is not running', async () => {
  const id = env.id('dies');
  env.ok(['run', '-d', '-b', env.bundle(() => {}, ['sleep', '1000']), id]);
  env.ok(['kill', id, '0']);
  env.ok(['kill', id, 'KILL']);
  await env.waitStatus(id, 'stopped');
  check(['kill', id, '0'], env.trun(['kill', id, '0']), 1, { err: /container not running/ });
  env.ok(['delete', id]);
});

test('--debug writes debug lines to stderr, or to --log in --log-format; nothing without it', () => {
  const plain = env.trun(['kill', C.running, '0']);
  assert.is(plain.stderr, '', 'no debug output without --debug');

  const text = env.trun(['--debug', 'kill', C.running, '0']);
  check(['--debug', 'kill'], text, 0);
  const lines = text.stderr.trim().split('\n');
  for (const l of lines) assert.match(l, /^time="[^"]+" level=debug msg=".*"$/);
  assert.ok(lines.some((l) => l.includes(C.running) && l.includes('signal 0')), text.stderr);

  const log = path.join(env.dir, 'debug.json');
  const json = env.trun(['--debug', '--log', log, '--log-format', 'json', 'exec', C.running, 'true']);
  check(['--debug', '--log', 'exec'], json, 0, { noErr: true });
  const entries = fs.readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  for (const e of entries) {
    assert.equal(Object.keys(e).sort(), ['level', 'msg', 'time'], JSON.stringify(e));
    assert.is(e.level, 'debug');
    assert.ok(!Number.isNaN(Date.parse(String(e.time))));
  }
  const msgs = entries.map((e) => String(e.msg));
  assert.ok(msgs.some((m) => m.includes('exec') && m.includes(C.running)), 'the command and the container');
  assert.ok(msgs.some((m) => /plan of \d+ ops/.test(m)), 'the plan sent to trun-init');
  assert.ok(msgs.some((m) => /PID "\d+"/.test(m)), 'the pid the init reported');
});

test('--log-format json without --log: errors are JSON lines on stderr (as runc); with --log the file gets them too', () => {
  const r = env.trun(['--log-format', 'json', 'state', 'no-such-container']);
  assert.is(r.code, 1);
  const e = JSON.parse(r.stderr.trim()) as Record<string, unknown>;
  assert.is(e.level, 'error');
  assert.is(e.msg, 'container does not exist');
  assert.type(e.time, 'string');

  const log = path.join(env.dir, 'errors.json');
  const withLog = env.trun(['--log', log, '--log-format', 'json', 'exec', 'no-such-container', 'true']);
  assert.is(withLog.code, 255);
  assert.is(withLog.stderr, 'exec failed: container does not exist\n');
  assert.is(JSON.parse(fs.readFileSync(log, 'utf8').trim()).msg, 'exec failed: container does not exist');
});

test('spec --rootless --bundle writes a rootless config in that bundle; a second spec refuses to overwrite it', () => {
  const dir = fs.mkdtempSync(path.join(env.dir, 'spec-'));
  check(['spec'], env.trun(['spec', '--rootless', '--bundle', dir]), 0, { noErr: true });
  const spec = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
  assert.ok(spec.linux.namespaces.some((n: { type: string }) => n.type === 'user'));
  assert.is(spec.linux.uidMappings.length, 1);
  check(['spec'], env.trun(['spec', '-b', dir]), 1, { err: /config\.json exists/ });
});

test.run();
