// Seccomp filters from linux.seccomp, loaded by the init with libseccomp, seen from inside
// (SCMP_ACT_NOTIFY and its listener: seccomp-notify.test.ts).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { TestEnv } from '../helpers/trun';
import type { LinuxSeccomp } from '../../spec/types/runtime';

const env = new TestEnv('seccomp');
test.after(() => env.cleanup());

function run(seccomp: LinuxSeccomp, script: string, noNewPrivileges = true) {
  return env.trun(['run', '-b', env.bundle((s) => {
    s.linux!.seccomp = seccomp;
    s.process!.noNewPrivileges = noNewPrivileges;
  }, ['sh', '-c', script]), env.id()]);
}

test('a profile that denies mkdir with EPERM: mkdir fails, everything else works', () => {
  for (const nnp of [true, false]) {
    const r = run({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 }] },
      'mkdir /tmp/a; echo rc=$?; touch /tmp/f && echo touched; ls /tmp', nnp);
    assert.match(r.stderr, /can't create directory '\/tmp\/a': Operation not permitted/);
    assert.is(r.stdout, 'rc=1\ntouched\nf\n', `noNewPrivileges=${nnp}`);
  }
});

test('argument comparisons and a custom errno', () => {
  const r = run({
    defaultAction: 'SCMP_ACT_ALLOW',
    architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86'],
    syscalls: [
      { names: ['chmod'], action: 'SCMP_ACT_ERRNO', errnoRet: 13, args: [{ index: 1, value: 0o700, op: 'SCMP_CMP_EQ' }] },
      { names: ['fchmodat'], action: 'SCMP_ACT_ERRNO', errnoRet: 13, args: [{ index: 2, value: 0o700, op: 'SCMP_CMP_EQ' }] },
    ],
  }, 'touch /tmp/f; chmod 700 /tmp/f; echo rc=$?; chmod 755 /tmp/f; echo rc=$?');
  assert.is(r.stdout, 'rc=1\nrc=0\n');
  assert.match(r.stderr, /Permission denied/);
});

test('SCMP_ACT_KILL_PROCESS kills the process with SIGSYS', () => {
  const r = run({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_KILL_PROCESS' }] }, 'echo before; exec mkdir /tmp/x');
  assert.is(r.stdout, 'before\n');
  assert.is(r.code, 128 + 31);
});

test('an unknown syscall name fails create with the name, leaving nothing', () => {
  const id = env.id();
  const bundle = env.bundle((s) => { s.linux!.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['no_such_syscall'], action: 'SCMP_ACT_ERRNO' }] }; }, ['true']);
  const r = env.trun(['create', '-b', bundle, id]);
  assert.is(r.code, 1);
  assert.match(r.stderr, /no_such_syscall/);
  assert.not.ok(fs.existsSync(path.join(env.root, id)));
});

test.run();
