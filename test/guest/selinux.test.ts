// SELinux, applied for real. Runs only in the VM tests' guest booted with SELinux (test/vm/):
// this machine's kernel has no LSM, and there trun refuses labels instead (test/unit/plan.test.ts).
// The guest loads Debian's reference policy in permissive mode: labels are applied and can be
// read back, while nothing is denied, so the tests see exactly what trun set.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Spec } from '../../spec/types/runtime';
import { TestEnv, expectCleanFailure } from '../helpers/trun';

const PROCESS_LABEL = 'system_u:system_r:unconfined_t:s0:c1,c2';
const MOUNT_LABEL = 'system_u:object_r:tmpfs_t:s0:c3,c4';
const env = new TestEnv('selinux');

/** The SELinux context of a path, as coreutils' stat reads it (security.selinux). */
function contextOf(p: string): string {
  const r = spawnSync('stat', ['-c', '%C', p], { encoding: 'utf8' });
  assert.is(r.status, 0, `stat ${p}: ${r.stderr}`);
  return r.stdout.trim();
}

/** /proc/<pid>/attr/current without the kernel's trailing NUL. */
const currentOf = (text: string): string => text.replace(/\0/g, '').trim();

test.before(() => {
  assert.ok(fs.existsSync('/sys/fs/selinux/enforce'), 'SELinux is enabled (run me in the VM guest)');
  // No policy yet: the kernel calls every process "kernel". load_policy reads /etc/selinux/config.
  if (currentOf(fs.readFileSync('/proc/self/attr/current', 'utf8')) === 'kernel') {
    const r = spawnSync('load_policy', [], { encoding: 'utf8' });
    assert.is(r.status, 0, `load_policy: ${r.stderr}`);
  }
  assert.is(fs.readFileSync('/sys/fs/selinux/enforce', 'utf8').trim(), '0', 'permissive');
});
test.after(() => env.cleanup());

test('process.selinuxLabel is the context the container\'s process runs in', () => {
  const labelled = env.ok(['run', '-b', env.bundle((s) => { s.process!.selinuxLabel = PROCESS_LABEL; }, ['cat', '/proc/self/attr/current']), env.id()]);
  assert.is(currentOf(labelled), PROCESS_LABEL);
  // Without one the process keeps its parent's domain: the label above was trun's doing.
  const plain = env.ok(['run', '-b', env.bundle(() => {}, ['cat', '/proc/self/attr/current']), env.id()]);
  assert.is.not(currentOf(plain), PROCESS_LABEL);
  assert.is(currentOf(plain), currentOf(fs.readFileSync('/proc/self/attr/current', 'utf8')));
});

test('linux.mountLabel labels the container\'s tmpfs and devpts mounts, not proc', () => {
  const id = env.id();
  env.ok(['run', '-d', '-b', env.bundle((s) => { s.linux!.mountLabel = MOUNT_LABEL; }, ['sleep', '1000']), id]);
  const root = `/proc/${env.state(id).pid}/root`;
  assert.is(contextOf(`${root}/dev`), MOUNT_LABEL);
  assert.is(contextOf(`${root}/dev/shm`), MOUNT_LABEL);
  assert.is(contextOf(`${root}/dev/pts`), MOUNT_LABEL);
  assert.is.not(contextOf(`${root}/proc`), MOUNT_LABEL);
  env.ok(['delete', '--force', id]);
});

test('exec: --process-label labels the new process; without it, the config\'s label applies', () => {
  const id = env.id();
  env.ok(['run', '-d', '-b', env.bundle((s) => { s.process!.selinuxLabel = PROCESS_LABEL; }, ['sleep', '1000']), id]);
  assert.is(currentOf(env.ok(['exec', id, 'cat', '/proc/self/attr/current'])), PROCESS_LABEL);
  const other = 'system_u:system_r:unconfined_t:s0:c7';
  assert.is(currentOf(env.ok(['exec', '--process-label', other, id, 'cat', '/proc/self/attr/current'])), other);
  env.ok(['delete', '--force', id]);
});

test('a context the policy does not know is a clear error, and nothing is left behind', () => {
  for (const [field, mut] of [
    ['process.selinuxLabel', (s: Spec) => { s.process!.selinuxLabel = 'nobody_u:no_r:no_t:s0'; }],
    ['linux.mountLabel', (s: Spec) => { s.linux!.mountLabel = 'nobody_u:object_r:no_t:s0'; }],
  ] as const) {
    const id = env.id();
    expectCleanFailure(env, id, ['create', '-b', env.bundle(mut, ['true']), id],
      new RegExp(`${field.replace('.', '\\.')}: "[^"]+" is not a valid context in the loaded SELinux policy`));
  }
});

test('features says SELinux is supported', () => {
  const f = JSON.parse(env.ok(['features'])) as { linux: { selinux: { enabled: boolean } } };
  assert.is(f.linux.selinux.enabled, true);
});

test.run();
