// A config without a mount namespace, as runc 1.1 runs it: the process is chrooted into the
// bundle's rootfs, its mounts (proc, a /dev tmpfs, binds) are made in the host's mount
// namespace, and exec lands in the same root. Unlike runc, nothing of the host's mounts changes
// (runc turns the host's "/" rslave) and delete, or a failed create, leaves no mount behind.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Spec } from '../../spec/types/runtime';
import { mountPointsUnder } from '../helpers/test-dirs';
import { TRUN, TestEnv, expectCleanFailure, snapshot } from '../helpers/trun';

const env = new TestEnv('nomnt');

test.after(() => env.cleanup()); // the container's mounts are the host's: cleanup takes them down first

/** The host root's optional fields (shared:N and the like): runc would change them. */
function hostRootFields(): string {
  const line = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').find((l) => l.split(' ')[4] === '/') ?? '';
  const fields = line.split(' ');
  return fields.slice(6, fields.indexOf('-')).join(' ');
}

/** A bundle whose config has no mount namespace, a file only its rootfs has and a bind from the host. */
function noMountNsBundle(args: string[], mut: (s: Spec) => void = () => {}): string {
  const share = fs.mkdtempSync(path.join(env.dir, 'share-'));
  fs.writeFileSync(path.join(share, 'file'), 'from the host\n');
  const bundle = env.bundle((s) => {
    s.linux!.namespaces = s.linux!.namespaces!.filter((n) => n.type !== 'mount');
    delete s.linux!.maskedPaths;
    delete s.linux!.readonlyPaths;
    s.mounts!.push({ destination: '/data', type: 'bind', source: share, options: ['rbind', 'ro'] });
    mut(s);
  }, args);
  fs.writeFileSync(path.join(bundle, 'rootfs/marker'), 'only in the rootfs\n');
  return bundle;
}

const LOOK = ['sh', '-c', 'cat /marker /data/file; stat -f -c %T /dev; cat /proc/self/comm'];

test('run: the process sees the rootfs as "/", with /proc, a /dev tmpfs and a bind; nothing left on the host', () => {
  const before = snapshot();
  const fields = hostRootFields();
  const bundle = noMountNsBundle(LOOK);
  const out = env.ok(['run', '-b', bundle, env.id('run')]);
  assert.equal(out.trim().split('\n'), ['only in the rootfs', 'from the host', 'tmpfs', 'cat']);
  assert.equal(snapshot().mounts.filter((m) => !before.mounts.includes(m) && m.includes(env.dir)), [], 'no new mount');
  assert.is(hostRootFields(), fields, 'the host\'s "/" keeps its propagation');
});

test('create, start, exec and delete: exec lands in the rootfs too, delete takes the mounts down', async () => {
  const before = snapshot();
  const bundle = noMountNsBundle(['sleep', '1000']);
  const id = env.id('life');
  env.ok(['create', '-b', bundle, id]);
  // The container's mounts live in the host's namespace while it exists.
  const rootfs = path.join(bundle, 'rootfs');
  const during = mountPointsUnder(rootfs);
  for (const sub of ['', '/proc', '/dev', '/data']) assert.ok(during.includes(fs.realpathSync(rootfs) + sub), `${sub || '/'} mounted: ${during}`);
  env.ok(['start', id]);
  await env.waitStatus(id, 'running');
  assert.equal(env.ok(['exec', id, ...LOOK]).trim().split('\n'), ['only in the rootfs', 'from the host', 'tmpfs', 'cat']);
  env.ok(['delete', '--force', id]);
  assert.equal(mountPointsUnder(rootfs), [], 'no mount under the rootfs');
  assert.equal(snapshot().mounts.filter((m) => !before.mounts.includes(m) && m.includes(env.dir)), [], 'no new mount');
});

test('a create that fails after some mounts leaves none behind', () => {
  const bundle = noMountNsBundle(['true'], (s) => {
    s.mounts!.push({ destination: '/bad', type: 'no-such-fs', source: 'none' });
  });
  const id = env.id('fail');
  expectCleanFailure(env, id, ['create', '-b', bundle, id], /mount "none" on "\/bad": no such device/);
  assert.equal(mountPointsUnder(path.join(bundle, 'rootfs')), []);
});

test('a create killed during its createRuntime hook: delete --force takes its host mounts down', async () => {
  const fifo = path.join(env.dir, `hook-fifo-${process.pid}`);
  const marker = path.join(env.dir, `hook-ran-${process.pid}`);
  execFileSync('mkfifo', [fifo]);
  const bundle = noMountNsBundle(['sleep', '1000'], (s) => {
    s.hooks = { createRuntime: [{ path: '/bin/sh', args: ['sh', '-c', `echo > ${marker}; read x < ${fifo}`] }] };
  });
  const rootfs = path.join(bundle, 'rootfs');
  const id = env.id('killed');
  // The cold path's process does the work itself: killing it is killing the create.
  const child = env.spawn(['create', '-b', bundle, id], { cli: [process.execPath, TRUN] });
  const exited = new Promise<void>((r) => child.on('exit', () => r()));
  const deadline = Date.now() + 20_000;
  while (!fs.existsSync(marker)) {
    assert.ok(Date.now() < deadline, 'the hook did not run');
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.ok(mountPointsUnder(rootfs).length > 0, 'the container\'s mounts are on the host');
  child.kill('SIGKILL');
  await exited;
  fs.closeSync(fs.openSync(fifo, 'w')); // the orphaned hook reads EOF and ends
  const r = env.trun(['delete', '--force', id]);
  assert.is(r.code, 0, r.stderr);
  assert.equal(mountPointsUnder(rootfs), [], 'no mount under the rootfs');
  assert.not.ok(fs.existsSync(path.join(env.root, id)), 'no state dir');
});

test('root.readonly makes the container\'s bind of its rootfs read-only, not the host\'s directory', () => {
  const bundle = noMountNsBundle(['sh', '-c', 'touch /x 2>/dev/null && echo writable || echo read-only'], (s) => { s.root!.readonly = true; });
  assert.is(env.ok(['run', '-b', bundle, env.id('ro')]).trim(), 'read-only');
  fs.writeFileSync(path.join(bundle, 'rootfs/x'), 'the host can still write\n');
});

test('maskedPaths or readonlyPaths without a mount namespace: refused as runc does', () => {
  for (const key of ['maskedPaths', 'readonlyPaths'] as const) {
    const bundle = noMountNsBundle(['true'], (s) => { s.linux![key] = ['/proc/kcore']; });
    const id = env.id('mask');
    expectCleanFailure(env, id, ['run', '-b', bundle, id], /unable to restrict sys entries without a private MNT namespace/);
  }
});

test.run();
