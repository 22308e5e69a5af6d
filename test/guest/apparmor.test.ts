// AppArmor, applied for real. Runs only in the VM tests' guest (test/vm/), whose kernel has
// AppArmor enabled: this machine's kernel has no LSM, and there trun refuses a profile instead
// (test/integration/process-extras.test.ts). The profile lets everything through but writes
// under /tmp/forbidden, so a denied write proves the container ran confined by it.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { TestEnv, expectCleanFailure } from '../helpers/trun';

const PROFILE = `trun-test-${process.pid}`;
const env = new TestEnv('apparmor');

const SCRIPT = 'cat /proc/self/attr/current; echo yes > /tmp/allowed && echo allowed; echo no > /tmp/forbidden/f || echo denied';

test.before(() => {
  assert.ok(fs.existsSync('/sys/kernel/security/apparmor/profiles'), 'AppArmor is enabled (run me in the VM guest)');
  const profile = [
    'abi <abi/3.0>,',
    `profile ${PROFILE} flags=(attach_disconnected,mediate_deleted) {`,
    '  file, capability, network, mount, remount, umount, pivot_root, signal, ptrace, unix,',
    '  deny /tmp/forbidden/** w,',
    '}',
  ].join('\n');
  const file = path.join(env.dir, 'profile');
  fs.writeFileSync(file, profile);
  // -K: no cache, the guest's /etc and /var are read-only.
  const r = spawnSync('apparmor_parser', ['-K', '-r', file], { encoding: 'utf8' });
  assert.is(r.status, 0, `apparmor_parser: ${r.stderr}`);
});
test.after(() => {
  env.cleanup();
  spawnSync('apparmor_parser', ['-R', path.join(env.dir, 'profile')]);
});

/** A bundle running `args` whose rootfs has an empty /tmp/forbidden. */
function bundle(profile: string | undefined, args: string[]): string {
  const dir = env.bundle((s) => {
    if (profile) s.process!.apparmorProfile = profile;
  }, args);
  fs.mkdirSync(path.join(dir, 'rootfs/tmp/forbidden'), { recursive: true });
  return dir;
}

test('a container runs confined by process.apparmorProfile', () => {
  const r = env.trun(['run', '-b', bundle(PROFILE, ['sh', '-c', SCRIPT]), env.id()]);
  assert.is(r.stdout, `${PROFILE} (enforce)\nallowed\ndenied\n`);
  assert.match(r.stderr, /Permission denied/);
});

test('without a profile the same container is unconfined and the write goes through', () => {
  const r = env.trun(['run', '-b', bundle(undefined, ['sh', '-c', SCRIPT]), env.id()]);
  assert.is(r.stdout, 'unconfined\nallowed\n');
  assert.is(r.code, 0);
});

test('exec: --apparmor confines the new process; without it, the config\'s profile applies', () => {
  const plain = env.id();
  env.ok(['run', '-d', '-b', bundle(undefined, ['sleep', '1000']), plain]);
  assert.is(env.ok(['exec', '--apparmor', PROFILE, plain, 'cat', '/proc/self/attr/current']), `${PROFILE} (enforce)\n`);
  assert.is(env.ok(['exec', plain, 'cat', '/proc/self/attr/current']), 'unconfined\n');
  const confined = env.id();
  env.ok(['run', '-d', '-b', bundle(PROFILE, ['sleep', '1000']), confined]);
  assert.is(env.ok(['exec', confined, 'cat', '/proc/self/attr/current']), `${PROFILE} (enforce)\n`);
  env.ok(['delete', '--force', plain]);
  env.ok(['delete', '--force', confined]);
});

test('a profile that is not loaded is a clear error, and nothing is left behind', () => {
  const id = env.id();
  expectCleanFailure(env, id, ['create', '-b', bundle('no-such-profile', ['true']), id], /apparmor profile "no-such-profile" is not loaded/);
});

test('features says AppArmor is supported', () => {
  const f = JSON.parse(env.ok(['features'])) as { linux: { apparmor: { enabled: boolean } } };
  assert.is(f.linux.apparmor.enabled, true);
});

test.run();
