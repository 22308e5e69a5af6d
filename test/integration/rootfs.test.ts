// The root filesystem and the namespaces around it, as runc 1.1 sets them up: the root mount's
// propagation (every linux.rootfsPropagation value, with the rootfs under a shared mount and as
// the bundle directory itself), hostname in a joined uts namespace, masked paths that a /proc
// symlink would steer, --no-pivot's chroot without the host's whole procfs and sysfs, "rro" and
// a read-only /dev, bind sources a user-namespaced root cannot reach.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Spec } from '../../spec/types/runtime';
import { TestEnv, expectCleanFailure, snapshot } from '../helpers/trun';

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

/** A bundle whose rootfs /proc is a symlink to a directory the image controls. */
function procSymlinkBundle(mut: (s: Spec) => void): string {
  const bundle = env.bundle(mut);
  const rootfs = path.join(bundle, 'rootfs');
  fs.rmSync(path.join(rootfs, 'proc'), { recursive: true });
  fs.mkdirSync(path.join(rootfs, 'fakeproc/sys'), { recursive: true });
  fs.writeFileSync(path.join(rootfs, 'fakeproc/keys'), 'not the kernel\'s\n');
  fs.symlinkSync('/fakeproc', path.join(rootfs, 'proc'));
  return bundle;
}

test('maskedPaths through a /proc symlink: a clear error and nothing left behind', () => {
  const bundle = procSymlinkBundle((s) => {
    s.mounts = s.mounts!.filter((m) => m.type !== 'proc');
    delete s.linux!.readonlyPaths;
    s.linux!.maskedPaths = ['/proc/keys'];
  });
  const id = env.id('sym');
  expectCleanFailure(env, id, ['run', '-b', bundle, id], /masked path "\/proc\/keys" crosses a symlink/);
  // The image's file was not covered on the host either.
  assert.is(fs.readFileSync(path.join(bundle, 'rootfs/fakeproc/keys'), 'utf8'), 'not the kernel\'s\n');
});

test('readonlyPaths through a /proc symlink: a clear error', () => {
  const bundle = procSymlinkBundle((s) => {
    s.mounts = s.mounts!.filter((m) => m.type !== 'proc');
    s.linux!.readonlyPaths = ['/proc/sys'];
  });
  const id = env.id('sym');
  expectCleanFailure(env, id, ['run', '-b', bundle, id], /readonly path "\/proc\/sys" crosses a symlink/);
});

test('a proc mount on a /proc symlink is refused, nothing left behind', () => {
  const bundle = procSymlinkBundle(() => {});
  const id = env.id('sym');
  expectCleanFailure(env, id, ['run', '-b', bundle, id], /mount target "\/proc" is a symlink/);
});

/** "major:minor" of the host's whole procfs and sysfs at /proc and /sys. */
function hostPseudoDevices(): string[] {
  return fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' '))
    .filter((f) => (f[4] === '/proc' || f[4] === '/sys') && f[3] === '/').map((f) => f[2]!);
}

const NSMOUNTS = path.resolve('build/nsmounts');

test('--no-pivot: masked paths hold, and the host\'s whole procfs and sysfs are gone from the namespace', () => {
  const bundle = env.bundle(() => {}, ['sleep', '60']);
  const id = env.id('np');
  env.ok(['create', '--no-pivot', '-b', bundle, id]);
  try {
    // Every mount of the container's namespace, the ones its chroot hides included.
    const r = spawnSync(NSMOUNTS, [String(env.state(id).pid)], { encoding: 'utf8' });
    assert.is(r.status, 0, r.stderr);
    const host = hostPseudoDevices();
    assert.is(host.length, 2, 'the host has /proc and /sys');
    assert.equal(r.stdout.split('\n').filter((dev) => host.includes(dev)), [], 'host procfs/sysfs still mounted');
  } finally {
    env.ok(['delete', '--force', id]);
  }
  // What the container itself sees: its masks, and none of the host's mounts.
  const seen = env.bundle(() => {}, ['sh', '-c', 'wc -c < /proc/timer_list; awk \'{ print $5 }\' /proc/self/mountinfo']);
  const out = env.ok(['run', '--no-pivot', '-b', seen, env.id('np')]).trim().split('\n');
  assert.is(out[0], '0', '/proc/timer_list is masked');
  assert.ok(out.includes('/proc/timer_list'));
  assert.not.ok(out.some((p) => p.startsWith('/tmp') || p.startsWith('/work')), out.join(' '));
});

test('"rro" makes a bind read-only with its submounts; "ro" leaves the submounts alone', () => {
  const src = fs.mkdtempSync(path.join(env.dir, 'rro-'));
  fs.mkdirSync(path.join(src, 'sub'));
  execFileSync('mount', ['-t', 'tmpfs', 'tmpfs', path.join(src, 'sub')]);
  try {
    const bundle = env.bundle((s) => {
      s.mounts!.push({ destination: '/rro', type: 'bind', source: src, options: ['rbind', 'rro'] });
      s.mounts!.push({ destination: '/ro', type: 'bind', source: src, options: ['rbind', 'ro'] });
    }, ['sh', '-c', 'for f in /rro/a /rro/sub/a /ro/a /ro/sub/a; do touch $f 2>/dev/null && echo "$f rw" || echo "$f ro"; done']);
    assert.equal(env.ok(['run', '-b', bundle, env.id('rro')]).trim().split('\n'), ['/rro/a ro', '/rro/sub/a ro', '/ro/a ro', '/ro/sub/a rw']);
  } finally {
    execFileSync('umount', ['-l', path.join(src, 'sub')]);
  }
});

test('a read-only /dev tmpfs still gets its device nodes and submounts, then is read-only', () => {
  const bundle = env.bundle((s) => {
    const dev = s.mounts!.find((m) => m.destination === '/dev')!;
    dev.options = [...(dev.options ?? []), 'ro'];
  }, ['sh', '-c', [
    'test -c /dev/null && echo null; echo x > /dev/null && echo writes',
    'test -e /dev/pts/ptmx && echo pts; test -L /dev/ptmx && echo ptmx',
    'touch /dev/new 2>/dev/null && echo dev-rw || echo dev-ro',
    'awk \'$5 == "/dev" { print substr($6, 1, 2) }\' /proc/self/mountinfo',
  ].join('; ')]);
  assert.equal(env.ok(['run', '-b', bundle, env.id('devro')]).trim().split('\n'), ['null', 'writes', 'pts', 'ptmx', 'dev-ro', 'ro']);
});

test('trun features lists the recursive mount options', () => {
  const features = JSON.parse(env.ok(['features'])) as { mountOptions: string[] };
  for (const o of ['rro', 'rrw', 'rnosuid', 'rnodev', 'rnoexec', 'rnosymfollow']) assert.ok(features.mountOptions.includes(o), o);
});

test('a user-namespaced container mounts bind sources under a directory only the host\'s root can search', () => {
  const hidden = fs.mkdtempSync(path.join(env.dir, 'private-'));
  fs.chmodSync(hidden, 0o700);
  fs.mkdirSync(path.join(hidden, 'data'), { mode: 0o755 });
  fs.writeFileSync(path.join(hidden, 'data/f'), 'secret\n', { mode: 0o644 });
  fs.writeFileSync(path.join(hidden, 'file'), 'one file\n', { mode: 0o644 });
  const bundle = env.bundle((s) => {
    s.linux!.namespaces!.push({ type: 'user' });
    s.linux!.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
    s.linux!.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
    s.mounts!.push({ destination: '/data', type: 'bind', source: path.join(hidden, 'data'), options: ['rbind'] });
    s.mounts!.push({ destination: '/ro', type: 'bind', source: path.join(hidden, 'data'), options: ['bind', 'ro'] });
    s.mounts!.push({ destination: '/file', type: 'bind', source: path.join(hidden, 'file'), options: ['bind'] });
  }, ['sh', '-c', 'cat /data/f /file; touch /ro/x 2>/dev/null && echo ro-writable || echo ro-refused']);
  // The targets exist: the container's root may not create them in a rootfs the host's root owns.
  fs.mkdirSync(path.join(bundle, 'rootfs/data'));
  fs.mkdirSync(path.join(bundle, 'rootfs/ro'));
  fs.writeFileSync(path.join(bundle, 'rootfs/file'), '');
  assert.equal(env.ok(['run', '-b', bundle, env.id('reach')]).trim().split('\n'), ['secret', 'one file', 'ro-refused']);
});

test.run();
