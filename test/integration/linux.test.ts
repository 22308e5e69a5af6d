// Linux features of a container, each checked from inside a real one.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { TestEnv } from '../helpers/trun';
import type { Spec } from '../../spec/types/runtime';

const env = new TestEnv('linux');
test.after(() => env.cleanup());

function run(mut: (s: Spec) => void, script: string) {
  return env.trun(['run', '-b', env.bundle(mut, ['sh', '-c', script]), env.id()]);
}

test('a bind mount is visible both ways', () => {
  const host = fs.mkdtempSync(path.join(env.dir, 'bind-'));
  fs.writeFileSync(path.join(host, 'from-host'), 'hello from host\n');
  const r = run((s) => { s.mounts!.push({ destination: '/data', type: 'bind', source: host, options: ['rbind', 'rw'] }); },
    'cat /data/from-host && echo hello from container > /data/from-container');
  assert.is(r.stderr, '');
  assert.is(r.stdout, 'hello from host\n');
  assert.is(fs.readFileSync(path.join(host, 'from-container'), 'utf8'), 'hello from container\n');
});

test('a read-only bind fails writes with EROFS', () => {
  const host = fs.mkdtempSync(path.join(env.dir, 'robind-'));
  const r = run((s) => { s.mounts!.push({ destination: '/ro', type: 'bind', source: host, options: ['rbind', 'ro'] }); },
    'echo x > /ro/f; echo status=$?');
  assert.match(r.stderr, /Read-only file system/);
  assert.match(r.stdout, /status=1/);
  assert.not.ok(fs.existsSync(path.join(host, 'f')));
});

test('a file bind mount creates its target', () => {
  const file = path.join(env.dir, 'single.txt');
  fs.writeFileSync(file, 'one file\n');
  const r = run((s) => { s.mounts!.push({ destination: '/etc/single.txt', type: 'bind', source: file, options: ['bind', 'ro'] }); }, 'cat /etc/single.txt');
  assert.is(r.stdout, 'one file\n');
});

test('tmpfs with size and mode', () => {
  const r = run((s) => { s.mounts!.push({ destination: '/scratch', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'size=1m', 'mode=1777'] }); },
    "grep ' /scratch ' /proc/mounts; stat -c %a /scratch");
  const [line, mode] = r.stdout.trim().split('\n');
  assert.match(line!, /^tmpfs \/scratch tmpfs rw,nosuid.*size=1024k/);
  assert.is(mode, '1777');
});

test('masked and read-only paths', () => {
  const r = run((s) => {
    s.linux!.maskedPaths = ['/proc/timer_list', '/proc/acpi', '/etc/no-such-dir'];
    s.linux!.readonlyPaths = ['/proc/sys'];
  }, 'wc -c < /proc/timer_list; ls /proc/acpi | wc -l; echo 1 > /proc/sys/kernel/domainname; echo status=$?');
  assert.ok(fs.readFileSync('/proc/timer_list').length > 0, 'the host file has content');
  const lines = r.stdout.trim().split('\n');
  assert.is(lines[0], '0');
  assert.is(lines[1], '0');
  assert.is(lines[2], 'status=1');
  assert.match(r.stderr, /Read-only file system/);
});

test('the default devices and /dev links exist', () => {
  const r = run(() => {}, 'for d in null zero full random urandom tty; do stat -c "%n %t:%T" /dev/$d; done; readlink /dev/fd; readlink /dev/stdin; echo x > /dev/null && echo null-ok');
  assert.is(r.stderr, '');
  assert.match(r.stdout, /\/dev\/null 1:3\n/);
  assert.match(r.stdout, /\/dev\/urandom 1:9\n/);
  assert.match(r.stdout, /\/dev\/tty 5:0\n/);
  assert.match(r.stdout, /\/proc\/self\/fd\n\/proc\/self\/fd\/0\n/);
  assert.match(r.stdout, /null-ok/);
});

test('sysctl, rlimits and the readonly root', () => {
  const r = run((s) => {
    s.linux!.sysctl = { 'kernel.domainname': 'example.test' };
    s.process!.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 256, hard: 512 }];
    s.root!.readonly = true;
  }, 'cat /proc/sys/kernel/domainname; ulimit -n; ulimit -Hn; touch /x; echo status=$?');
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines, ['example.test', '256', '512', 'status=1']);
  assert.match(r.stderr, /Read-only file system/);
});

test('umask, oomScoreAdj, domainname and extra devices', () => {
  const r = run((s) => {
    s.process!.user = { uid: 0, gid: 0, umask: 0o077 };
    s.process!.oomScoreAdj = 500;
    s.domainname = 'example.org';
    s.linux!.devices = [{ path: '/dev/fuse', type: 'c', major: 10, minor: 229, fileMode: 0o600, uid: 0, gid: 0 }];
    s.linux!.resources = { devices: [{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 10, minor: 229, access: 'rwm' }] };
  }, 'umask; cat /proc/self/oom_score_adj; cat /proc/sys/kernel/domainname; stat -c "%t:%T %a" /dev/fuse');
  assert.is(r.stderr, '');
  assert.equal(r.stdout.trim().split('\n'), ['0077', '500', 'example.org', 'a:e5 600']);
});

test('--no-pivot moves the root instead of pivoting, and still confines the container', () => {
  const id = env.id();
  const r = env.trun(['run', '--no-pivot', '-b', env.bundle(() => {}, ['sh', '-c', 'ls /; cat /proc/self/mountinfo | head -1']), id]);
  assert.is(r.stderr, '');
  assert.ok(r.stdout.split('\n').includes('bin'));
  assert.not.ok(r.stdout.split('\n').includes('work'), 'the host root is not visible');
});

test('capabilities are dropped to the configured sets', () => {
  const r = run((s) => {
    s.process!.capabilities = { bounding: ['CAP_KILL'], effective: ['CAP_KILL'], permitted: ['CAP_KILL'] };
  }, 'grep -E "^Cap(Eff|Prm|Bnd)" /proc/self/status');
  assert.is(r.stdout, 'CapPrm:\t0000000000000020\nCapEff:\t0000000000000020\nCapBnd:\t0000000000000020\n');
});

test('a container joins another container\'s network namespace', async () => {
  const a = env.id('net');
  env.ok(['run', '-d', '-b', env.bundle(() => {}, ['sleep', '1000']), a]);
  const pid = env.state(a).pid;
  const hostView = fs.readlinkSync(`/proc/${pid}/ns/net`);
  const r = run((s) => {
    s.linux!.namespaces = s.linux!.namespaces!.map((n) => (n.type === 'network' ? { type: 'network', path: `/proc/${pid}/ns/net` } : n));
  }, 'readlink /proc/self/ns/net');
  assert.is(r.stdout.trim(), hostView);
  assert.is.not(hostView, fs.readlinkSync('/proc/self/ns/net'));
  env.ok(['delete', '-f', a]);
});

test('a user-namespaced container sees its own mapping', () => {
  const r = run((s) => {
    s.linux!.namespaces!.push({ type: 'user' });
    s.linux!.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
    s.linux!.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
  }, 'cat /proc/self/uid_map /proc/self/gid_map; id -u; stat -c %u /bin/busybox');
  assert.is(r.stderr, '');
  const lines = r.stdout.trim().split('\n').map((l) => l.trim().split(/\s+/).join(' '));
  assert.equal(lines, ['0 100000 65536', '0 100000 65536', '0', '65534']);
});

test('a read-only bind of a nosuid,nodev,noexec mount into a user namespace keeps the flags the kernel locked', () => {
  // Flags of a mount inherited into a user namespace are locked: a remount that would clear them
  // (ro alone) is refused with EPERM, so the init remounts with them kept, as runc does.
  const src = path.join(env.dir, `locked-${process.pid}`);
  fs.mkdirSync(src);
  const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'nosuid,nodev,noexec,mode=755', 'tmpfs', src]);
  assert.is(m.status, 0);
  try {
    fs.writeFileSync(path.join(src, 'f'), 'from the host\n');
    const r = run((s) => {
      s.linux!.namespaces!.push({ type: 'user' });
      s.linux!.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
      s.linux!.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
      s.mounts!.push({ destination: '/home', type: 'bind', source: src, options: ['rbind', 'ro'] });
    }, 'cat /home/f; touch /home/g 2>/dev/null || echo read-only; grep " /home " /proc/self/mounts | cut -d" " -f4');
    assert.is(r.stderr, '');
    const [content, verdict, opts] = r.stdout.trim().split('\n');
    assert.is(content, 'from the host');
    assert.is(verdict, 'read-only');
    for (const o of ['ro', 'nosuid', 'nodev', 'noexec']) assert.ok(opts!.split(',').includes(o), `${o} in ${opts}`);
  } finally {
    spawnSync('umount', [src]);
  }
});

test('new namespaces differ from the host\'s', () => {
  const r = run(() => {}, 'for n in mnt uts ipc net pid cgroup; do readlink /proc/self/ns/$n; done');
  const inside = r.stdout.trim().split('\n');
  const host = ['mnt', 'uts', 'ipc', 'net', 'pid', 'cgroup'].map((n) => fs.readlinkSync(`/proc/self/ns/${n}`));
  assert.is(inside.length, 6);
  inside.forEach((ns, i) => assert.is.not(ns, host[i]));
});

test('hooks run in order with the state on stdin', () => {
  const log = path.join(env.dir, 'hooks.log');
  const hook = (name: string) => ({ path: '/bin/sh', args: ['sh', '-c', `printf '%s ' ${name} >> ${log}; cat >> ${log}; echo >> ${log}`] });
  const id = env.id();
  const bundle = env.bundle((s) => {
    s.hooks = {
      prestart: [hook('prestart')], createRuntime: [hook('createRuntime')], createContainer: [hook('createContainer')],
      startContainer: [{ path: '/bin/sh', args: ['sh', '-c', 'echo startContainer-in-container > /tmp/hook-ran'] }],
      poststart: [hook('poststart')], poststop: [hook('poststop')],
    };
  }, ['sh', '-c', 'cat /tmp/hook-ran']);
  const r = env.trun(['run', '-b', bundle, id]);
  assert.is(r.stderr, '');
  assert.is(r.stdout, 'startContainer-in-container\n', 'startContainer ran inside the container before the process');
  const entries = fs.readFileSync(log, 'utf8').trim().split('\n').map((l) => {
    const sp = l.indexOf(' ');
    return { name: l.slice(0, sp), state: JSON.parse(l.slice(sp + 1)) as { id: string; status: string; pid: number; bundle: string } };
  });
  assert.equal(entries.map((e) => e.name), ['prestart', 'createRuntime', 'createContainer', 'poststart', 'poststop']);
  for (const e of entries) {
    assert.is(e.state.id, id);
    assert.is(e.state.bundle, bundle);
  }
  assert.is(entries[0]!.state.status, 'creating');
  assert.ok(entries[0]!.state.pid > 0);
  assert.is(entries[3]!.state.status, 'running');
  assert.is(entries[4]!.state.status, 'stopped');
});

test('a failing createRuntime hook fails create, runs poststop and cleans up', () => {
  const id = env.id();
  const marker = path.join(env.dir, `${id}.poststop`);
  const bundle = env.bundle((s) => {
    s.hooks = {
      createRuntime: [{ path: '/bin/sh', args: ['sh', '-c', 'echo hook says no >&2; exit 7'] }],
      poststop: [{ path: '/bin/sh', args: ['sh', '-c', `cat > ${marker}`] }],
    };
  }, ['sleep', '1000']);
  const r = env.trun(['create', '-b', bundle, id]);
  assert.is(r.code, 1);
  assert.match(r.stderr, /error running createRuntime hook #0: exit status 7, stderr: hook says no/);
  assert.not.ok(fs.existsSync(path.join(env.root, id)));
  assert.is(JSON.parse(fs.readFileSync(marker, 'utf8')).id, id, 'poststop ran with the state');
});

test('trun killed during a hook: the init exits, delete --force runs poststop and cleans up', async () => {
  const id = env.id();
  const marker = path.join(env.dir, `${id}.poststop`);
  const started = path.join(env.dir, `${id}.started`);
  const bundle = env.bundle((s) => {
    s.hooks = {
      createRuntime: [{ path: '/bin/sh', args: ['sh', '-c', `echo $$ > ${started}.tmp; mv ${started}.tmp ${started}; exec sleep 1000`] }],
      poststop: [{ path: '/bin/sh', args: ['sh', '-c', `cat > ${marker}`] }],
    };
  }, ['sleep', '1000']);
  const child = env.spawn(['create', '-b', bundle, id]);
  const deadline = Date.now() + 10_000;
  while (!fs.existsSync(started)) {
    if (Date.now() > deadline) throw new Error('the hook never started');
    await new Promise((r) => setTimeout(r, 10));
  }
  const pid = env.state(id).pid;
  child.kill('SIGKILL');
  await new Promise((r) => child.on('exit', r));
  process.kill(Number(fs.readFileSync(started, 'utf8')), 'SIGKILL'); // the orphaned hook
  await env.waitStatus(id, 'stopped');
  assert.not.ok(fs.existsSync(`/proc/${pid}/status`) && !fs.readFileSync(`/proc/${pid}/status`, 'utf8').includes('zombie'), 'the init is gone');
  env.ok(['delete', '--force', id]);
  assert.is(JSON.parse(fs.readFileSync(marker, 'utf8')).id, id, 'poststop ran');
  assert.not.ok(fs.existsSync(path.join(env.root, id)));
});

test('a hook past its timeout is killed', () => {
  const id = env.id();
  const bundle = env.bundle((s) => { s.hooks = { createRuntime: [{ path: '/bin/sleep', args: ['sleep', '30'], timeout: 1 }] }; });
  const started = Date.now();
  const r = env.trun(['create', '-b', bundle, id]);
  assert.is(r.code, 1);
  assert.match(r.stderr, /createRuntime hook #0: timed out after 1s/);
  assert.ok(Date.now() - started < 20_000);
});

test.run();
