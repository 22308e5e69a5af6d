// config.json / state.json validation against the OCI runtime-spec examples, plus trun's own
// checks (ociVersion range, capability and rlimit names).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { TrunError } from '../../runtime/errors';
import type { ErrorCode } from '../../runtime/errors';
import { expectTrunError } from '../helpers/errors';
import {
  isSupportedOciVersion,
  loadConfig,
  parseConfig,
  validateConfig,
  validateConfigSchema,
  validateState,
} from '../../spec/validate';

// The project's own examples (test/fixtures/README.md): configs and states recorded from runc,
// crun, containerd and podman, and broken ones written here.
const FIXTURES = path.resolve(__dirname, '..', 'fixtures');
const CONFIGS = path.join(FIXTURES, 'configs');
const STATES = path.join(FIXTURES, 'states');

function examples(dir: string): string[] {
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => path.join(dir, f));
}

const rejects = (fn: () => unknown, code: ErrorCode, pattern: RegExp): TrunError => expectTrunError(fn, code, pattern);

const base = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  ociVersion: '1.3.0',
  root: { path: 'rootfs' },
  process: { cwd: '/', args: ['sh'] },
  ...extra,
});

test('the example directories are where the tests expect them', () => {
  assert.ok(examples(path.join(CONFIGS, 'good')).length >= 10);
  assert.ok(examples(path.join(CONFIGS, 'bad')).length >= 10);
  assert.ok(examples(path.join(STATES, 'good')).length >= 1);
  assert.ok(examples(path.join(STATES, 'bad')).length >= 3);
});

for (const file of examples(path.join(CONFIGS, 'good'))) {
  test(`good config ${path.basename(file)} passes the schema`, () => {
    const text = fs.readFileSync(file, 'utf8');
    validateConfigSchema(JSON.parse(text), file);
  });
  test(`good config ${path.basename(file)} loads, or is refused only for its ociVersion`, () => {
    const value = JSON.parse(fs.readFileSync(file, 'utf8')) as { ociVersion: string };
    if (isSupportedOciVersion(value.ociVersion)) {
      assert.is(loadConfig(file).ociVersion, value.ociVersion);
    } else {
      // An example of an older spec: refused by version, accepted once it is current.
      rejects(() => loadConfig(file), 'ECONFIG', /: ociVersion: unsupported version/);
      validateConfig({ ...value, ociVersion: '1.3.0' }, file);
    }
  });
}

for (const file of examples(path.join(CONFIGS, 'bad'))) {
  test(`bad config ${path.basename(file)} is rejected with the field or the file named`, () => {
    const e = rejects(() => loadConfig(file), 'ECONFIG', /./);
    assert.ok(e.message.startsWith(`${JSON.stringify(file)}: `), e.message);
    assert.is(e.path, file);
    const reason = e.message.slice(JSON.stringify(file).length + 2);
    // Either a JSON syntax error, or "<dotted.field.path>: <reason>".
    assert.match(reason, /^(invalid JSON: .+|[A-Za-z_][\w.[\]"-]*: .+)$/);
  });
}

test('invalid JSON names the file', () => {
  rejects(() => parseConfig('{]', '/b/config.json'), 'ECONFIG', /^"\/b\/config\.json": invalid JSON: \S/);
});

test('a missing config.json is an error naming the path', () => {
  const missing = path.join(os.tmpdir(), `trun-no-such-dir-${process.pid}`, 'config.json');
  const e = rejects(() => loadConfig(missing), 'ESYS', /no such file or directory/);
  assert.ok(e.message.includes(missing));
});

test('schema errors name the field in dotted form', () => {
  rejects(() => validateConfig(base({ process: { cwd: '/', args: 'sh' } }), '/b/config.json'), 'ECONFIG', /^"\/b\/config\.json": process\.args: must be array$/);
  rejects(() => validateConfig(base({ process: { args: [] } }), 'c.json'), 'ECONFIG', /: process\.cwd: is required$/);
  rejects(() => validateConfig(base({ mounts: [{ destination: '/a' }, { source: 'x' }] }), 'c.json'), 'ECONFIG', /: mounts\[1\]\.destination: is required$/);
  rejects(() => validateConfig(base({ linux: { sysctl: { 'net.ipv4.ip_forward': 1 } } }), 'c.json'), 'ECONFIG', /: linux\.sysctl\["net\.ipv4\.ip_forward"\]: must be string$/);
  rejects(() => validateConfig(base({ linux: { namespaces: [{ type: 'bogus' }] } }), 'c.json'), 'ECONFIG', /: linux\.namespaces\[0\]\.type: must be one of "mount", /);
  rejects(() => validateConfig([], 'c.json'), 'ECONFIG', /^"c\.json": must be object$/);
});

test('oneOf/anyOf noise is reduced to one line', () => {
  const e = rejects(() => validateConfig(base({ linux: { resources: { memory: { limit: 'lots' } } } }), 'c.json'), 'ECONFIG', /: linux\.resources\.memory\.limit: /);
  assert.not.match(e.message, /oneOf|anyOf|schema/);
  assert.ok(e.message.split(';').length <= 3);
});

test('ociVersion: 1.0.0 to 1.3.x and their pre-releases, except 1.0.0-rc', () => {
  for (const v of ['1.0.0', '1.0.1', '1.0.2-dev', '1.1.0', '1.2.1', '1.3.0', '1.3.9', '1.3.0-rc.1', '1.2.0+build.5']) {
    assert.ok(isSupportedOciVersion(v), v);
    validateConfig(base({ ociVersion: v }), 'c.json');
  }
  for (const v of ['1.0.0-rc5', '1.0.0-rc1', '0.5.0-dev', '0.2.0', '1.4.0', '1.4.0-dev', '2.0.0']) {
    assert.not.ok(isSupportedOciVersion(v), v);
    rejects(() => validateConfig(base({ ociVersion: v }), '/b/config.json'), 'ECONFIG', /^"\/b\/config\.json": ociVersion: unsupported version /);
  }
  for (const v of ['1.0', 'v1.0.0', '1.0.0.0', '01.0.0', '']) {
    assert.not.ok(isSupportedOciVersion(v), v);
    rejects(() => validateConfig(base({ ociVersion: v }), 'c.json'), 'ECONFIG', /: ociVersion: .*not a semantic version$/);
  }
});

test('unknown capability names the set and index', () => {
  const caps = { bounding: ['CAP_KILL', 'CAP_CHOWN', 'CAP_FOO'], effective: ['CAP_KILL'] };
  rejects(
    () => validateConfig(base({ process: { cwd: '/', capabilities: caps } }), 'c.json'),
    'ECONFIG',
    /^"c\.json": process\.capabilities\.bounding\[2\]: unknown capability "CAP_FOO"$/,
  );
  rejects(
    () => validateConfig(base({ process: { cwd: '/', capabilities: { ambient: ['cap_kill'] } } }), 'c.json'),
    'ECONFIG',
    /: process\.capabilities\.ambient\[0\]: unknown capability "cap_kill"$/,
  );
  // Object.prototype names must not pass as capabilities.
  rejects(() => validateConfig(base({ process: { cwd: '/', capabilities: { permitted: ['constructor'] } } }), 'c.json'), 'ECONFIG', /unknown capability/);
  const all = { bounding: ['CAP_CHOWN', 'CAP_CHECKPOINT_RESTORE', 'CAP_BPF', 'CAP_PERFMON'] };
  validateConfig(base({ process: { cwd: '/', capabilities: all } }), 'c.json');
});

test('unknown rlimit names the entry', () => {
  const rlimits = [
    { type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 },
    { type: 'RLIMIT_BOGUS', hard: 1, soft: 1 },
  ];
  rejects(() => validateConfig(base({ process: { cwd: '/', rlimits } }), 'c.json'), 'ECONFIG', /^"c\.json": process\.rlimits\[1\]\.type: unknown rlimit "RLIMIT_BOGUS"$/);
  validateConfig(base({ process: { cwd: '/', rlimits: [rlimits[0], { type: 'RLIMIT_RTTIME', hard: 5, soft: 5 }] } }), 'c.json');
});

test('the recorded states validate; broken ones are rejected naming the file', () => {
  for (const file of examples(path.join(STATES, 'good'))) {
    const state = validateState(JSON.parse(fs.readFileSync(file, 'utf8')), file);
    assert.type(state.id, 'string');
  }
  for (const file of examples(path.join(STATES, 'bad'))) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
    } catch {
      continue; // not JSON at all: the state store's reader reports those (state.test)
    }
    const e = rejects(() => validateState(parsed, file), 'ECONFIG', /./);
    assert.ok(e.message.startsWith(`${JSON.stringify(file)}: `), e.message);
  }
  validateState({ ociVersion: '1.3.0', id: 'c1', status: 'created', pid: 42, bundle: '/b' });
  rejects(() => validateState({ ociVersion: '1.3.0', id: 'c1', status: 'paused', bundle: '/b' }), 'ECONFIG', /^"state\.json": status: must be one of "creating", "created", "running", "stopped"$/);
  rejects(() => validateState({ ociVersion: '1.3.0', status: 'created', bundle: '/b' }, '/run/trun/c1/state.json'), 'ECONFIG', /: id: is required$/);
});

test.run();
