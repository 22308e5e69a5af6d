// Who a container's processes are when they start, as runc 1.1 has it: a startContainer hook runs
// under the container process's user, capabilities, no_new_privs and seccomp filter (runc runs
// it from the container's init after all of its setup), and the cwd is tried before the user is
// set up and again after, failing clearly, with the container id, when neither can reach it.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { TestEnv } from '../helpers/trun';
import type { Spec } from '../../spec/types/runtime';

const env = new TestEnv('process-confinement');
test.after(() => env.cleanup());

const PROBE = `#!/bin/sh
{ id -u; pwd; grep -E '^(NoNewPrivs|Seccomp|CapEff):' /proc/self/status; mkdir /tmp/from-hook 2>&1 || true; } > /tmp/hook.out
`;

test('a startContainer hook runs under the container process\'s user, capabilities, no_new_privs and seccomp filter', () => {
  for (const nnp of [true, false]) {
    const id = env.id();
    const bundle = env.bundle((s) => {
      s.process!.user = { uid: 1000, gid: 1000 };
      s.process!.cwd = '/tmp';
      s.process!.noNewPrivileges = nnp;
      s.linux!.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 }] };
      s.hooks = { startContainer: [{ path: '/bin/probe', args: ['probe'], env: ['PATH=/bin:/usr/bin'] }] };
    }, ['true']);
    fs.writeFileSync(path.join(bundle, 'rootfs/bin/probe'), PROBE, { mode: 0o755 });
    env.ok(['create', '-b', bundle, id]);
    env.ok(['start', id]);
    const out = fs.readFileSync(path.join(bundle, 'rootfs/tmp/hook.out'), 'utf8');
    assert.is(out, [
      '1000', '/tmp',
      'CapEff:\t0000000000000000', `NoNewPrivs:\t${nnp ? 1 : 0}`, 'Seccomp:\t2',
      "mkdir: can't create directory '/tmp/from-hook': Operation not permitted", '',
    ].join('\n'), `noNewPrivileges=${nnp}`);
    assert.not.ok(fs.existsSync(path.join(bundle, 'rootfs/tmp/from-hook')));
    env.ok(['delete', '--force', id]);
  }
});

function secretBundle(mut: (s: Spec) => void, args: string[]): string {
  const bundle = env.bundle(mut, args);
  fs.mkdirSync(path.join(bundle, 'rootfs/secret'), { mode: 0o700 });
  fs.chmodSync(path.join(bundle, 'rootfs/root'), 0o700);
  return bundle;
}

test('exec --user with a cwd only root can reach: the first try, before the user is set up, reaches it (runc 1.1.5)', () => {
  const id = env.id();
  env.ok(['run', '-d', '-b', secretBundle(() => {}, ['sleep', '1000']), id]);
  const r = env.trun(['exec', '--user', '1000', '--cwd', '/root', id, 'pwd']);
  assert.is(r.stderr, '');
  assert.is(r.stdout, '/root\n');
  env.ok(['delete', '--force', id]);
});

test('a cwd neither the container\'s root nor its user can reach: create and exec --user fail clearly, naming the container', () => {
  // In a user namespace, a directory the host's root owns with mode 0700 is out of reach of
  // the container's root too (its owner is not mapped).
  const userns = (s: Spec) => {
    s.linux!.namespaces!.push({ type: 'user' });
    s.linux!.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
    s.linux!.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
  };
  const id = env.id();
  env.ok(['run', '-d', '-b', secretBundle(userns, ['sleep', '1000']), id]);
  const r = env.trun(['exec', '--user', '1000', '--cwd', '/secret', id, 'pwd']);
  assert.ok(r.code !== 0, r.stderr);
  assert.match(r.stderr, `container "${id}": chdir to cwd ("/secret") set in config.json failed: permission denied`);
  assert.is(r.stdout, '');
  env.ok(['delete', '--force', id]);

  const other = env.id();
  const c = env.trun(['create', '-b', secretBundle((s) => { userns(s); s.process!.user = { uid: 1000, gid: 1000 }; s.process!.cwd = '/secret'; }, ['true']), other]);
  assert.is(c.code, 1);
  assert.match(c.stderr, `container "${other}": chdir to cwd ("/secret") set in config.json failed: permission denied`);
  assert.not.ok(fs.existsSync(path.join(env.root, other)));
});

test.run();
