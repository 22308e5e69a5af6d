// trun-bundle's argv parsing (pure): flags, lists, "--" command overrides, and errors.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { bool, commandArg, list, parseArgs, str, type CommandDef } from '../../bundle-tools/cli/args';
import { human } from '../../bundle-tools/cli/progress-bar';

const CREATE: CommandDef = {
  usage: 'create IMAGE BUNDLE', summary: '', min: 2, max: 2, rest: true,
  flags: { env: { kind: 'list', short: 'e', help: '' }, cwd: { kind: 'string', help: '' }, 'read-only': { kind: 'bool', help: '' } },
};

test('flags, repeated lists, = values, globals and the command after "--"', () => {
  const p = parseArgs(['img', '-e', 'A=1', '--env=B=2', '--cwd', '/x', '--read-only', '--store', '/s', 'b', '--', 'echo', '--not-a-flag'], CREATE, 'create');
  assert.equal(p.positionals, ['img', 'b']);
  assert.equal(list(p, 'env'), ['A=1', 'B=2']);
  assert.is(str(p, 'cwd'), '/x');
  assert.is(str(p, 'store'), '/s');
  assert.ok(bool(p, 'read-only'));
  assert.not.ok(bool(p, 'quiet'));
  assert.equal(p.rest, ['echo', '--not-a-flag']);
});

test('errors name the command and the flag', () => {
  assert.throws(() => parseArgs(['a', 'b', '--bogus'], CREATE, 'create'), /create: unknown flag "--bogus"/);
  assert.throws(() => parseArgs(['a', 'b', '--cwd'], CREATE, 'create'), /--cwd needs a value/);
  assert.throws(() => parseArgs(['a'], CREATE, 'create'), /wrong number of arguments\nusage: trun-bundle create IMAGE BUNDLE/);
  assert.throws(() => parseArgs(['a', 'b', '--read-only=maybe'], CREATE, 'create'), /takes no value/);
});

test('command lines as JSON arrays or words', () => {
  assert.equal(commandArg('["/bin/sh", "-c", "a b"]', 'args'), ['/bin/sh', '-c', 'a b']);
  assert.equal(commandArg(' cat  /etc/passwd ', 'args'), ['cat', '/etc/passwd']);
  assert.throws(() => commandArg('[1]', 'args'), /--args: not a non-empty JSON array/);
  assert.throws(() => commandArg('  ', 'entrypoint'), /--entrypoint: empty command/);
});

test('human sizes', () => {
  assert.is(human(999), '999 B');
  assert.is(human(1_500), '1.5 kB');
  assert.is(human(2_000_000), '2.0 MB');
});

test.run();
