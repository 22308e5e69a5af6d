// The plan compiler: config.json in, init steps out. Pure: no root, no kernel.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { features } from '../../runtime/commands/features';
import { defaultSpec } from '../../runtime/defaults';
import { CloneMode, MountFlag, OpCode, type Op } from '../../runtime/init/protocol';
import { CLONE_NEWCGROUP, CLONE_NEWIPC, CLONE_NEWNET, CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWUSER, CLONE_NEWUTS } from '../../runtime/linux/namespaces';
import { MS_BIND, MS_RDONLY, MS_REC, MS_REMOUNT, MS_SHARED, MS_SLAVE } from '../../runtime/linux/mount-options';
import { compileExecPlan } from '../../runtime/exec-plan';
import { compileCreatePlan, type CreatePlanInput } from '../../runtime/plan';
import type { Spec } from '../../spec/types/runtime';
import { expectTrunError } from '../helpers/errors';

function input(spec: Spec, extra: Partial<CreatePlanInput> = {}): CreatePlanInput {
  return {
    id: 'c1', spec, bundle: '/b', fifoPath: '/run/trun/c1/exec.fifo', preserveFds: 0, noPivot: false,
    cgroupMounts: [{ name: 'memory', fstype: 'cgroup', options: 'memory', hostPath: '/sys/fs/cgroup/memory/trun/c1' }],
    isDirectory: (p) => !p.endsWith('.txt'),
    host: { apparmor: false, selinux: false },
    ...extra,
  };
}

function spec(mut: (s: Spec) => void = () => {}): Spec {
  const s = defaultSpec({ terminal: false, args: ['/bin/echo', 'hi'] });
  mut(s);
  return s;
}

const ofType = <T extends OpCode>(ops: Op[], code: T) => ops.filter((o): o is Extract<Op, { op: T }> => o.op === code);

test('default spec: one clone with every new namespace, detached', () => {
  const { ops } = compileCreatePlan(input(spec()));
  const clones = ofType(ops, OpCode.CLONE);
  assert.is(clones.length, 1);
  assert.is(clones[0]!.flags, CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWNS | CLONE_NEWCGROUP);
  assert.is(clones[0]!.mode, CloneMode.DETACH);
  assert.is(ops[0]!.op, OpCode.OPEN_FIFO);
});

test('foreground run waits for the container', () => {
  const { ops } = compileCreatePlan(input(spec(), { foreground: true }));
  assert.is(ofType(ops, OpCode.CLONE)[0]!.mode, CloneMode.WAIT);
});

test('the plan ends: resolve, created sync, fifo, exec', () => {
  const { ops } = compileCreatePlan(input(spec()));
  const tail = ops.slice(-6).map((o) => o.op);
  assert.equal(tail, [OpCode.CHDIR, OpCode.RESOLVE_EXEC, OpCode.SYNC, OpCode.WAIT_FIFO, OpCode.EXEC_PREPARE, OpCode.EXEC]);
  const exec = ofType(ops, OpCode.EXEC)[0]!;
  assert.equal(exec.argv, ['/bin/echo', 'hi']);
});

test('namespaces given by path are joined before the clone, user first and mount last', () => {
  const s = spec((x) => {
    x.linux!.namespaces = [
      { type: 'mount', path: '/proc/9/ns/mnt' }, { type: 'network', path: '/proc/9/ns/net' },
      { type: 'user', path: '/proc/9/ns/user' }, { type: 'pid' },
    ];
    delete x.hostname;
  });
  const { ops } = compileCreatePlan(input(s));
  const joins = ofType(ops, OpCode.SETNS).map((o) => o.path);
  assert.equal(joins, ['/proc/9/ns/user', '/proc/9/ns/net', '/proc/9/ns/mnt']);
  const cloneAt = ops.findIndex((o) => o.op === OpCode.CLONE);
  assert.ok(ops.findIndex((o) => o.op === OpCode.SETNS) < cloneAt);
  assert.is(ofType(ops, OpCode.CLONE)[0]!.flags, CLONE_NEWPID);
});

test('a read-only bind is a bind plus a read-only remount, resolved in the rootfs', () => {
  const s = spec((x) => { x.mounts!.push({ destination: '/data', type: 'bind', source: 'data', options: ['rbind', 'ro'] }); });
  const { ops } = compileCreatePlan(input(s));
  const m = ofType(ops, OpCode.MOUNT).filter((o) => o.target === '/data');
  assert.is(m.length, 2);
  assert.is(m[0]!.source, '/b/data');
  assert.is(m[0]!.flags, MS_BIND | MS_REC);
  assert.ok(m[0]!.mflags & MountFlag.IN_ROOT);
  assert.ok(m[0]!.mflags & MountFlag.MKDIR);
  assert.is(m[1]!.flags, MS_REMOUNT | MS_BIND | MS_RDONLY);
});

test('a file bind source makes a file target', () => {
  const s = spec((x) => { x.mounts!.push({ destination: '/etc/x.txt', type: 'bind', source: '/host/x.txt', options: ['bind'] }); });
  const m = ofType(compileCreatePlan(input(s)).ops, OpCode.MOUNT).find((o) => o.target === '/etc/x.txt')!;
  assert.ok(m.mflags & MountFlag.MKFILE);
  assert.not.ok(m.mflags & MountFlag.MKDIR);
});

test('proc and sysfs refuse symlinked targets', () => {
  const m = ofType(compileCreatePlan(input(spec())).ops, OpCode.MOUNT);
  assert.ok(m.find((o) => o.fstype === 'proc')!.mflags & MountFlag.NO_SYMLINK);
  assert.ok(m.find((o) => o.fstype === 'sysfs')!.mflags & MountFlag.NO_SYMLINK);
});

test('a new user namespace: maps sync, become root, devices bound not made', () => {
  const s = spec((x) => {
    x.linux!.namespaces!.push({ type: 'user' });
    x.linux!.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
    x.linux!.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
  });
  const { ops, userns } = compileCreatePlan(input(s));
  assert.ok(userns);
  assert.ok(ofType(ops, OpCode.CLONE)[0]!.flags & CLONE_NEWUSER);
  const syncAt = ops.findIndex((o) => o.op === OpCode.SYNC);
  assert.is(ops[syncAt + 1]!.op, OpCode.SET_ID);
  assert.is(ofType(ops, OpCode.MKNOD).length, 0);
  assert.ok(ofType(ops, OpCode.MOUNT).some((o) => o.target === '/dev/null' && o.flags === MS_BIND));
});

test('devices are made with mknod outside a user namespace', () => {
  const nodes = ofType(compileCreatePlan(input(spec())).ops, OpCode.MKNOD).map((o) => o.path);
  assert.ok(nodes.includes('/dev/null'));
  assert.ok(nodes.includes('/dev/tty'));
});

test('a cgroup mount: tmpfs, one mount per hierarchy, read-only at the end', () => {
  const m = ofType(compileCreatePlan(input(spec())).ops, OpCode.MOUNT).filter((o) => o.target.startsWith('/sys/fs/cgroup'));
  assert.is(m[0]!.fstype, 'tmpfs');
  assert.is(m[1]!.target, '/sys/fs/cgroup/memory');
  assert.is(m[1]!.fstype, 'cgroup');
  assert.is(m[1]!.data, 'memory');
  assert.ok(m[m.length - 1]!.flags & MS_REMOUNT);
});

test('hooks add a sync point before pivot_root', () => {
  const s = spec((x) => { x.hooks = { createRuntime: [{ path: '/bin/true' }] }; });
  const { ops, syncPoints } = compileCreatePlan(input(s));
  assert.equal(syncPoints, ['setup', 'hooks', 'created']);
  const hooksAt = ops.findIndex((o) => o.op === OpCode.SYNC && o.name === 'hooks');
  assert.ok(hooksAt < ops.findIndex((o) => o.op === OpCode.PIVOT_ROOT));
});

test('--no-pivot moves the root instead', () => {
  const { ops } = compileCreatePlan(input(spec(), { noPivot: true }));
  assert.is(ofType(ops, OpCode.PIVOT_ROOT).length, 0);
  assert.is(ofType(ops, OpCode.MOVE_ROOT).length, 1);
});

test('no mount namespace: the host keeps its root and propagation; a private bind of the rootfs, then chroot', () => {
  for (const noPivot of [false, true]) {
    const s = spec((x) => {
      x.linux!.namespaces = x.linux!.namespaces!.filter((n) => n.type !== 'mount');
      delete x.linux!.maskedPaths;
      delete x.linux!.readonlyPaths;
      x.linux!.rootfsPropagation = 'shared';
    });
    const plan = compileCreatePlan(input(s, { noPivot }));
    assert.ok(plan.rootfsOnHost);
    assert.is(ofType(plan.ops, OpCode.CLONE)[0]!.flags & CLONE_NEWNS, 0);
    for (const code of [OpCode.PIVOT_ROOT, OpCode.MOVE_ROOT, OpCode.UNMOUNT_FULL, OpCode.PARENT_PROPAGATION]) {
      assert.is(ofType(plan.ops, code).length, 0, `op ${code}`);
    }
    const chroots = ofType(plan.ops, OpCode.CHROOT);
    assert.equal(chroots, [{ op: OpCode.CHROOT, path: '' }]);
    const at = plan.ops.indexOf(chroots[0]!);
    // Before the chroot, no mount names a host path but the rootfs: its bind, made a slave at once.
    const hostMounts = ofType(plan.ops.slice(0, at), OpCode.MOUNT).filter((m) => !(m.mflags & MountFlag.IN_ROOT));
    assert.equal(hostMounts.map((m) => [m.source, m.target, m.flags]), [['/b/rootfs', '/b/rootfs', MS_BIND | MS_REC], ['', '/b/rootfs', MS_SLAVE | MS_REC]]);
    // root.readonly and rootfsPropagation apply to "/" after the chroot: the rootfs's bind.
    assert.equal(ofType(plan.ops.slice(at), OpCode.MOUNT).filter((m) => m.target === '/').map((m) => m.flags), [MS_REMOUNT | MS_BIND | MS_RDONLY, MS_SHARED]);
  }
  assert.not.ok(compileCreatePlan(input(spec())).rootfsOnHost);
});

test('exec into a container without a mount namespace chroots into its init\'s root, after the joins', () => {
  const plan = (namespaces: string[]) => compileExecPlan({
    id: 'c1', initPid: 42, namespaces, process: { cwd: '/', args: ['sh'] }, linux: undefined, detach: false, preserveFds: 0,
    host: { apparmor: false, selinux: false },
  });
  const ops = plan(['pid', 'network']);
  const at = ops.findIndex((o) => o.op === OpCode.CHROOT);
  assert.equal(ops[at], { op: OpCode.CHROOT, path: '/proc/42/root' });
  const lastJoin = ops.map((o) => o.op).lastIndexOf(OpCode.SETNS);
  assert.ok(at > lastJoin && at < ops.findIndex((o) => o.op === OpCode.CLONE));
  assert.is(ofType(plan(['pid', 'mount']), OpCode.CHROOT).length, 0);
});

test('bad configs are refused with the field named', () => {
  const cases: Array<[(s: Spec) => void, RegExp]> = [
    [(s) => { s.linux!.namespaces!.push({ type: 'pid' }); }, /duplicate namespace type "pid"/],
    [(s) => { s.linux!.namespaces = s.linux!.namespaces!.filter((n) => n.type !== 'mount'); }, /^unable to restrict sys entries without a private MNT namespace$/],
    [(s) => { s.process!.terminal = true; }, /console socket/],
    [(s) => { s.process!.args = []; }, /process.args/],
    [(s) => { s.linux!.namespaces!.push({ type: 'user' }); }, /uidMappings/],
    [(s) => { s.linux!.namespaces = s.linux!.namespaces!.filter((n) => n.type !== 'uts'); }, /hostname/],
    [(s) => { s.linux!.rootfsPropagation = 'sideways' as 'private'; }, /rootfsPropagation/],
    [(s) => { s.process!.apparmorProfile = 'docker-default'; }, /apparmor is not enabled on this host/],
    [(s) => { s.process!.selinuxLabel = 'system_u:system_r:container_t:s0'; }, /selinux is not enabled on this host/],
    [(s) => { s.linux!.mountLabel = 'system_u:object_r:container_file_t:s0'; }, /linux.mountLabel: selinux is not enabled on this host/],
    [(s) => { s.process!.rlimits = [{ type: 'RLIMIT_BOGUS', soft: 1, hard: 1 }]; }, /unknown rlimit type/],
  ];
  for (const [mut, re] of cases) {
    assert.throws(() => compileCreatePlan(input(spec(mut))), re);
  }
});

test('linux.intelRdt is refused, even empty (trun has no resctrl support); features agrees', () => {
  for (const rdt of [{}, { closID: 'guaranteed_group', schemata: ['L3:0=7f0'] }, { enableMonitoring: true }]) {
    const e = expectTrunError(() => compileCreatePlan(input(spec((s) => { s.linux!.intelRdt = rdt; }))), 'EINVAL', /^linux\.intelRdt: Intel RDT \(resctrl\) is not supported by trun$/);
    assert.is(e.id, 'c1');
  }
  assert.equal((features() as { linux: { intelRdt: unknown } }).linux.intelRdt, { enabled: false });
  compileCreatePlan(input(spec((s) => { delete s.linux!.intelRdt; })));
});

test('rlimits, identity and capabilities come before the exec', () => {
  const s = spec((x) => { x.process!.user = { uid: 1000, gid: 100, additionalGids: [10, 20] }; });
  const { ops } = compileCreatePlan(input(s));
  const user = ofType(ops, OpCode.USER)[0]!;
  assert.equal([user.uid, user.gid, user.groups], [1000, 100, [10, 20]]);
  const order = [OpCode.RLIMIT, OpCode.NO_NEW_PRIVS, OpCode.CHDIR, OpCode.CAPBSET, OpCode.USER, OpCode.CAPSET].map((c) => ops.findIndex((o) => o.op === c));
  assert.equal([...order].sort((a, b) => a - b), order);
  const capset = ofType(ops, OpCode.CAPSET)[0]!;
  assert.is(capset.effective, (1n << 29n) | (1n << 5n) | (1n << 10n)); // AUDIT_WRITE, KILL, NET_BIND_SERVICE
});

// ---- SELinux -------------------------------------------------------------------------------

const selinuxHost = { apparmor: false, selinux: true, selinuxValid: (c: string) => !c.startsWith('bogus') };

test('selinux: mountLabel becomes context= on tmpfs and devpts, not on proc, sysfs, mqueue, cgroup or binds', () => {
  const s = spec((x) => {
    x.linux!.mountLabel = 'system_u:object_r:container_file_t:s0:c1,c2';
    x.mounts!.push({ destination: '/data', type: 'bind', source: '/srv', options: ['rbind'] });
  });
  const mounts = ofType(compileCreatePlan(input(s, { host: selinuxHost })).ops, OpCode.MOUNT).filter((m) => m.fstype !== '');
  const data = Object.fromEntries(mounts.map((m) => [m.target, m.data]));
  assert.is(data['/dev'], 'mode=755,size=65536k,context="system_u:object_r:container_file_t:s0:c1,c2"');
  assert.match(data['/dev/pts']!, /^newinstance,.*,context="system_u:object_r:container_file_t:s0:c1,c2"$/);
  assert.match(data['/dev/shm']!, /,context="/);
  for (const t of ['/proc', '/sys', '/dev/mqueue']) assert.not.match(data[t] ?? '', /context=/, t);
  const bind = ofType(compileCreatePlan(input(s, { host: selinuxHost })).ops, OpCode.MOUNT).find((m) => m.target === '/data')!;
  assert.is(bind.data, '');
});

test('selinux: a context the loaded policy refuses is an error naming the field', () => {
  assert.throws(() => compileCreatePlan(input(spec((x) => { x.linux!.mountLabel = 'bogus_u:object_r:x_t:s0'; }), { host: selinuxHost })),
    /linux.mountLabel: "bogus_u:object_r:x_t:s0" is not a valid context in the loaded SELinux policy/);
  assert.throws(() => compileCreatePlan(input(spec((x) => { x.process!.selinuxLabel = 'bogus_u:system_r:x_t:s0'; }), { host: selinuxHost })),
    /process.selinuxLabel: "bogus_u:system_r:x_t:s0" is not a valid context/);
  const ok = compileCreatePlan(input(spec((x) => { x.process!.selinuxLabel = 'system_u:system_r:container_t:s0'; }), { host: selinuxHost }));
  const write = ofType(ok.ops, OpCode.WRITE_FILE).find((w) => w.path === '/proc/self/attr/exec')!;
  assert.is(write.data, 'system_u:system_r:container_t:s0');
});

test.run();
