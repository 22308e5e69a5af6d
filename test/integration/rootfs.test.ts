// The root filesystem and the namespaces around it, as runc 1.1 sets them up: the root mount's
// propagation (every linux.rootfsPropagation value, with the rootfs under a shared mount and as
// the bundle directory itself), hostname in a joined uts namespace.
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Spec } from '../../spec/types/runtime';
import { TestEnv, snapshot } from '../helpers/trun';

const env = new TestEnv('rootfs');
test.after(() => env.cleanup());

type Propagation = NonNullable<NonNullable<Spec['linux']>['rootfsPropagation']>;
const VALUES: Propagation[] = ['shared', 'rshared', 'slave', 'rslave', 'private', 'rprivate', 'unbindable', 'runbindable'];

/** The root mount's optional fields (shared:N, master:N, unbindable) as the container sees them. */
const ROOT_FIELDS = ['sh', '-c', 'awk \'$5 == "/" { s = ""; for (i = 7; $i != "-"; i++) s = s " " $i; print "[" s "]" }\' /proc/self/mountinfo'];

/** A bundle directory that is a shared mount point of its own, like a host whose mounts are all shared. */
function sharedBundle(mut: (s: Spec) => void, dotRoot: boolean): string {
  const bundle = env.bundle(mut, ROOT_FIELDS);
  if (dotRoot) {
    execFileSync('cp', ['-a', `${path.join(bundle, 'rootfs')}/.`, bundle]);
    fs.rmSync(path.join(bundle, 'rootfs'), { recursive: true });
    const spec = JSON.parse(fs.readFileSync(path.join(bundle, 'config.json'), 'utf8')) as Spec;
    spec.root!.path = '.';
    fs.writeFileSync(path.join(bundle, 'config.json'), JSON.stringify(spec));
  }
  execFileSync('mount', ['--bind', bundle, bundle]);
  execFileSync('mount', ['--make-shared', bundle]);
  return bundle;
}

/** Runs fn with a shared bundle, unmounted afterwards whatever happens. */
function withSharedBundle(mut: (s: Spec) => void, dotRoot: boolean, fn: (bundle: string) => void): void {
  const bundle = sharedBundle(mut, dotRoot);
  try {
    fn(bundle);
  } finally {
    execFileSync('umount', ['-l', bundle]);
  }
}

function expectFields(value: Propagation, fields: string, followsHost: boolean): void {
  const base = value.replace(/^r/, '');
  const msg = `${value}: ${fields}`;
  if (base === 'shared') assert.match(fields, /shared:\d+/, msg);
  else assert.not.match(fields, /shared:/, msg);
  if (base === 'slave' && followsHost) assert.match(fields, /master:\d+/, msg);
  if (base === 'private' || base === 'unbindable') assert.not.match(fields, /master:/, msg);
  if (base === 'unbindable') assert.match(fields, /unbindable/, msg);
  else assert.not.match(fields, /unbindable/, msg);
}

function hostMountsUnder(dir: string): string[] {
  return snapshot().mounts.filter((m) => m.includes(dir));
}

for (const dotRoot of [false, true]) {
  const where = dotRoot ? 'the bundle itself (root.path ".")' : 'a rootfs';
  test(`linux.rootfsPropagation: ${where} under a shared mount gets every value, nothing left on the host`, () => {
    for (const value of VALUES) {
      withSharedBundle((s) => { s.linux!.rootfsPropagation = value; }, dotRoot, (bundle) => {
        const before = hostMountsUnder(bundle);
        const out = env.ok(['run', '-b', bundle, env.id('prop')]).trim();
        expectFields(value, out, true);
        assert.equal(hostMountsUnder(bundle), before, `${value}: mounts left on the host`);
      });
    }
  });
}

test('linux.rootfsPropagation: a rootfs on a private host mount gets every value', () => {
  for (const value of VALUES) {
    const bundle = env.bundle((s) => { s.linux!.rootfsPropagation = value; }, ROOT_FIELDS);
    expectFields(value, env.ok(['run', '-b', bundle, env.id('prop')]).trim(), false);
  }
});

test('hostname and domainname are set in a uts namespace joined by path', async () => {
  // A process of our own in a new uts namespace: the namespace the container joins.
  const holder = spawn('unshare', ['--uts', 'sh', '-c', 'echo ready; exec sleep 60'], { stdio: ['ignore', 'pipe', 'ignore'] });
  try {
    // The shell speaks once unshare has made the namespace and exec'd it (same pid).
    await new Promise((resolve) => holder.stdout.once('data', resolve));
    const nsPath = `/proc/${holder.pid}/ns/uts`;
    const bundle = env.bundle((s) => {
      s.hostname = 'joined-box';
      s.domainname = 'joined.example';
      s.linux!.namespaces = s.linux!.namespaces!.map((n) => (n.type === 'uts' ? { type: 'uts', path: nsPath } : n));
    }, ['sh', '-c', 'hostname; cat /proc/sys/kernel/domainname']);
    assert.equal(env.ok(['run', '-b', bundle, env.id('uts')]).trim().split('\n'), ['joined-box', 'joined.example']);
    // The name lives on in the joined namespace, not on the host.
    assert.is(execFileSync('nsenter', ['--uts=' + nsPath, 'hostname'], { encoding: 'utf8' }).trim(), 'joined-box');
    assert.is.not(execFileSync('hostname', { encoding: 'utf8' }).trim(), 'joined-box');
  } finally {
    holder.kill('SIGKILL');
  }
});

test.run();
