// The seccomp filter is the last thing before execve: a profile never lists the init's own
// syscalls. A minimal allow-list (only what busybox `true` and the final execve need) runs `true`
// through PATH for run, create/start and exec; a Docker profile from before statx, faccessat2,
// close_range, openat2 and clone3 runs a container; syscalls newer than a profile get ENOSYS (so
// libc falls back), as with runc's -ENOSYS stub, while what the profile names keeps its answer.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { seccompBundle } from '../helpers/seccomp';
import { REPO, TRUN_ARGV, TestEnv } from '../helpers/trun';
import type { LinuxSeccomp, LinuxSyscall, Spec } from '../../spec/types/runtime';

const env = new TestEnv('seccomp-order');
test.after(() => env.cleanup());

/** What a static busybox `true` calls from its execve to its exit (strace), and nothing else. */
const TRUE_NEEDS = [
  'execve', 'brk', 'arch_prctl', 'mprotect', 'set_tid_address', 'set_robust_list', 'rseq',
  'prlimit64', 'getrandom', 'getuid', 'readlink', 'prctl', 'exit_group',
];

/**
 * The minimal profile. Without no_new_privs, one capset(2) follows the load (dropping the
 * CAP_SYS_ADMIN the load needed), so that profile must allow capset too, as Docker's does.
 */
function minimal(noNewPrivileges: boolean, extra: string[] = []): LinuxSeccomp {
  const names = [...TRUE_NEEDS, ...(noNewPrivileges ? [] : ['capset']), ...extra] as LinuxSyscall['names'];
  return { defaultAction: 'SCMP_ACT_ERRNO', architectures: ['SCMP_ARCH_X86_64'], syscalls: [{ names, action: 'SCMP_ACT_ALLOW' }] };
}

function bundleWith(seccomp: LinuxSeccomp, args: string[], noNewPrivileges = true): string {
  return seccompBundle(env, seccomp, args, noNewPrivileges);
}

test('a minimal allow-list: run `true` through PATH, with and without no_new_privs', () => {
  for (const nnp of [true, false]) {
    const r = env.trun(['run', '-b', bundleWith(minimal(nnp), ['true'], nnp), env.id()]);
    assert.is(r.stderr, '', `noNewPrivileges=${nnp}`);
    assert.is(r.code, 0, `noNewPrivileges=${nnp}`);
  }
});

test('a minimal allow-list: create and start `true`; nothing after the load fails', async () => {
  for (const nnp of [true, false]) {
    const id = env.id();
    // The container keeps create's stderr: an init failure after `start` is written there, which
    // is why this profile also allows write (`true` itself never writes).
    const errFile = path.join(env.dir, `${id}.err`);
    const errFd = fs.openSync(errFile, 'w+');
    try {
      const created = spawnSync(TRUN_ARGV[0]!, [...TRUN_ARGV.slice(1), '--root', env.root, 'create', '-b', bundleWith(minimal(nnp, ['write']), ['true'], nnp), id], {
        stdio: ['ignore', 'ignore', errFd], cwd: env.dir, timeout: 60_000,
      });
      assert.is(created.status, 0, fs.readFileSync(errFile, 'utf8'));
      env.ok(['start', id]);
      await env.waitStatus(id, 'stopped');
      assert.is(fs.readFileSync(errFile, 'utf8'), '', `noNewPrivileges=${nnp}`);
      env.ok(['delete', id]);
    } finally {
      fs.closeSync(errFd);
    }
  }
});

test('a minimal allow-list: exec `true` through PATH in the container', () => {
  for (const nnp of [true, false]) {
    const id = env.id();
    env.ok(['create', '-b', bundleWith(minimal(nnp), ['true'], nnp), id]);
    const r = env.trun(['exec', id, 'true']);
    assert.is(r.stderr, '', `noNewPrivileges=${nnp}`);
    assert.is(r.code, 0, `noNewPrivileges=${nnp}`);
    env.ok(['delete', '--force', id]);
  }
});

// ---- a Docker profile from before the new syscalls ------------------------------------------

interface DockerRule extends LinuxSyscall {
  comment?: string;
  includes?: { arches?: string[]; caps?: string[] };
  excludes?: { arches?: string[]; caps?: string[] };
}

/** Docker's conversion of its profile for an x86_64 container with these capabilities. */
function dockerProfile(caps: readonly string[]): LinuxSeccomp {
  const raw = JSON.parse(fs.readFileSync(path.join(REPO, 'test/fixtures/moby-2017-seccomp-default.json'), 'utf8')) as {
    defaultAction: LinuxSeccomp['defaultAction'];
    archMap: Array<{ architecture: string; subArchitectures: string[] | null }>;
    syscalls: DockerRule[];
  };
  const x86 = raw.archMap.find((a) => a.architecture === 'SCMP_ARCH_X86_64')!;
  const applies = (r: DockerRule) =>
    (!r.includes?.arches || r.includes.arches.includes('amd64'))
    && (!r.includes?.caps || r.includes.caps.every((c) => caps.includes(c)))
    && !r.excludes?.arches?.includes('amd64')
    && !(r.excludes?.caps ?? []).some((c) => caps.includes(c));
  return {
    defaultAction: raw.defaultAction,
    architectures: [x86.architecture, ...(x86.subArchitectures ?? [])] as LinuxSeccomp['architectures'],
    syscalls: raw.syscalls.filter(applies).map((r) => ({ names: r.names, action: r.action, ...(r.args?.length ? { args: r.args } : {}) })),
  };
}

function rawsysBundle(seccomp: LinuxSeccomp, args: string[], noNewPrivileges: boolean): string {
  const b = bundleWith(seccomp, args, noNewPrivileges);
  fs.copyFileSync(path.join(REPO, 'build/rawsys'), path.join(b, 'rootfs/bin/rawsys'));
  fs.chmodSync(path.join(b, 'rootfs/bin/rawsys'), 0o755);
  return b;
}

test('Docker\'s 2017 default profile (no statx, faccessat2, close_range, openat2, clone3) runs a container, with Docker\'s no_new_privs off', () => {
  const bundle = env.bundle();
  const caps = (JSON.parse(fs.readFileSync(path.join(bundle, 'config.json'), 'utf8')) as Spec).process!.capabilities!.bounding!;
  for (const nnp of [false, true]) {
    const id = env.id();
    const b = bundleWith(dockerProfile(caps), ['sh', '-c', 'sleep 1000'], nnp);
    env.ok(['run', '-d', '-b', b, id]);
    const r = env.trun(['exec', id, 'sh', '-c', 'ls / >/dev/null && cd /tmp && echo hi > f && cat f && id -u && true']);
    assert.is(r.stderr, '', `noNewPrivileges=${nnp}`);
    assert.is(r.stdout, 'hi\n0\n');
    assert.is(r.code, 0);
    env.ok(['delete', '--force', id]);
  }
});

test('syscalls newer than the profile get ENOSYS; what the profile names, or does not but is older, keeps its errno', () => {
  const bundle = env.bundle();
  const caps = (JSON.parse(fs.readFileSync(path.join(bundle, 'config.json'), 'utf8')) as Spec).process!.capabilities!.bounding!;
  const profile = dockerProfile(caps);
  // mkdirat: named, denied with EACCES.
  const rules = profile.syscalls!.map((r) => ({ ...r, names: r.names.filter((n) => n !== 'mkdirat') }) as LinuxSyscall);
  rules.push({ names: ['mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 13 });
  profile.syscalls = rules;
  for (const nnp of [true, false]) {
    const r = env.trun(['run', '-b', rawsysBundle(profile, ['rawsys', 'faccessat2', 'clone3', 'close_range', 'openat2', 'mkdirat', 'faccessat'], nnp), env.id()]);
    assert.is(r.stderr, '');
    assert.is(r.code, 0);
    assert.is(r.stdout, 'faccessat2=ENOSYS\nclone3=ENOSYS\nclose_range=ENOSYS\nopenat2=ENOSYS\nmkdirat=EACCES\nfaccessat=0\n', `noNewPrivileges=${nnp}`);
  }
  // Older than the newest syscall the profile names, but not named: the default action (EPERM).
  rules.push({ names: ['faccessat2'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 }, { names: ['close_range'], action: 'SCMP_ACT_ALLOW' });
  const r = env.trun(['run', '-b', rawsysBundle(profile, ['rawsys', 'clone3', 'openat2', 'close_range', 'faccessat2'], true), env.id()]);
  assert.is(r.stdout, 'clone3=EPERM\nopenat2=EPERM\nclose_range=0\nfaccessat2=EPERM\n');
  // A permissive default gets no stub: every syscall not named is simply allowed.
  const allow = env.trun(['run', '-b', rawsysBundle({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 13 }] }, ['rawsys', 'faccessat2', 'mkdirat'], true), env.id()]);
  assert.is(allow.stdout, 'faccessat2=0\nmkdirat=EACCES\n');
});

test.run();
