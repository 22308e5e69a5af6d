// Id-mapped bind mounts at plan time: which mapping a mount gets, the tree made on the host
// before the clone and moved into the rootfs later, and the configs refused. Pure.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { features } from '../../runtime/commands/features';
import { defaultSpec } from '../../runtime/defaults';
import { MountFlag, OpCode, TreeFlag, type Op } from '../../runtime/init/protocol';
import { mountAttrs } from '../../runtime/linux/idmap-mounts';
import { MS_NOATIME, MS_NODEV, MS_NOSUID, MS_RDONLY, MS_RELATIME, MS_STRICTATIME, parseMountOptions } from '../../runtime/linux/mount-options';
import { compileCreatePlan } from '../../runtime/plan';
import type { Mount, Spec } from '../../spec/types/runtime';
import { expectTrunError } from '../helpers/errors';

const USERNS = [{ containerID: 0, hostID: 100000, size: 65536 }];

function plan(mounts: Mount[], mut: (s: Spec) => void = () => {}): Op[] {
  const s = defaultSpec({ terminal: false, args: ['sh'] });
  s.mounts = [...s.mounts!, ...mounts];
  mut(s);
  return compileCreatePlan({
    id: 'c1', spec: s, bundle: '/b', fifoPath: '/f', preserveFds: 0, noPivot: false, cgroupMounts: [],
    isDirectory: (p) => !p.endsWith('.txt'), host: { apparmor: false, selinux: false },
  }).ops;
}
const withUserns = (s: Spec) => {
  s.linux!.namespaces!.push({ type: 'user' });
  s.linux!.uidMappings = USERNS;
  s.linux!.gidMappings = [{ containerID: 0, hostID: 200000, size: 1000 }];
};
const ofType = <T extends OpCode>(ops: Op[], code: T) => ops.filter((o): o is Extract<Op, { op: T }> => o.op === code);

test('"idmap" and "ridmap" are options of trun\'s own, never mount(2) data', () => {
  assert.equal(parseMountOptions(['bind', 'idmap', 'uid=5']), { flags: 0x1000, propagation: [], data: 'uid=5', idmap: { recursive: false } });
  assert.equal(parseMountOptions(['rbind', 'ridmap']).idmap, { recursive: true });
  assert.is(parseMountOptions(['bind']).idmap, undefined);
});

test('a bind\'s flags become mount_setattr attributes; the atime mode is a field', () => {
  assert.equal(mountAttrs(MS_RDONLY | MS_NOSUID | MS_NODEV), { attrSet: 0x7, attrClr: 0 });
  assert.equal(mountAttrs(MS_NOATIME), { attrSet: 0x10, attrClr: 0x70 });
  assert.equal(mountAttrs(MS_STRICTATIME), { attrSet: 0x20, attrClr: 0x70 });
  assert.equal(mountAttrs(MS_RELATIME), { attrSet: 0, attrClr: 0x70 });
  assert.equal(mountAttrs(0), { attrSet: 0, attrClr: 0 });
});

test('an id-mapped bind: the tree is made before anything joins or clones, and moved where the bind would be', () => {
  const ops = plan([
    { destination: '/data', source: 'vol', type: 'bind', options: ['bind', 'ro'], uidMappings: [{ containerID: 1000, hostID: 100000, size: 1 }], gidMappings: [{ containerID: 1000, hostID: 100000, size: 2 }] },
    { destination: '/plain', source: '/srv', type: 'bind', options: ['rbind'] },
    { destination: '/x.txt', source: '/srv/x.txt', options: ['rbind', 'ridmap', 'rprivate'] },
  ], (s) => {
    withUserns(s);
    s.linux!.namespaces = s.linux!.namespaces!.map((n) => (n.type === 'network' ? { type: 'network', path: '/run/netns/n' } : n));
  });
  const trees = ofType(ops, OpCode.IDMAP_TREE);
  assert.equal(trees, [
    { op: OpCode.IDMAP_TREE, source: '/b/vol', uidMap: '1000 100000 1\n', gidMap: '1000 100000 2\n', flags: 0, attrSet: 0x1, attrClr: 0 },
    { op: OpCode.IDMAP_TREE, source: '/srv/x.txt', uidMap: '0 100000 65536\n', gidMap: '0 200000 1000\n', flags: TreeFlag.RECURSIVE | TreeFlag.IDMAP_RECURSIVE, attrSet: 0, attrClr: 0 },
  ]);
  const at = (o: Op) => ops.indexOf(o);
  const first = (c: OpCode) => ops.findIndex((o) => o.op === c);
  for (const t of trees) {
    assert.ok(at(t) < first(OpCode.SETNS), 'in the runtime\'s namespaces');
    assert.ok(at(t) < first(OpCode.CLONE), 'on the host');
  }
  const moves = ofType(ops, OpCode.MOUNT_TREE);
  assert.equal(moves, [
    { op: OpCode.MOUNT_TREE, index: 0, target: '/data', mflags: MountFlag.IN_ROOT | MountFlag.MKDIR },
    { op: OpCode.MOUNT_TREE, index: 1, target: '/x.txt', mflags: MountFlag.IN_ROOT | MountFlag.MKFILE },
  ]);
  assert.ok(at(moves[0]!) > first(OpCode.SET_ROOTFS) && at(moves[1]!) < first(OpCode.PIVOT_ROOT));
  // No plain mount(2) for the id-mapped ones; the plain bind is untouched; propagation still follows.
  assert.not.ok(ofType(ops, OpCode.MOUNT).some((m) => m.target === '/data' || (m.target === '/x.txt' && m.flags & 0x1000)));
  assert.ok(ofType(ops, OpCode.MOUNT).some((m) => m.target === '/plain' && m.source === '/srv'));
  const prop = ofType(ops, OpCode.MOUNT).find((m) => m.target === '/x.txt')!;
  assert.ok(at(prop) > at(moves[1]!));
});

test('mappings without the option are id-mapped too; "idmap" without them takes the container\'s', () => {
  const one = [{ containerID: 0, hostID: 1000, size: 1 }];
  assert.is(ofType(plan([{ destination: '/d', source: '/s', options: ['bind'], uidMappings: one, gidMappings: one }]), OpCode.IDMAP_TREE).length, 1);
  const t = ofType(plan([{ destination: '/d', source: '/s', options: ['bind', 'idmap'] }], withUserns), OpCode.IDMAP_TREE)[0]!;
  assert.equal([t.uidMap, t.gidMap], ['0 100000 65536\n', '0 200000 1000\n']);
});

test('id-mapped mounts that cannot be made are refused naming the mount', () => {
  const one = [{ containerID: 0, hostID: 1000, size: 1 }];
  const cases: Array<[Mount, RegExp, ((s: Spec) => void)?]> = [
    [{ destination: '/t', type: 'tmpfs', source: 'tmpfs', options: ['idmap'] }, /^mounts\[\d+\]: id-mapped mounts \("idmap", "ridmap", uidMappings\/gidMappings\) must be bind mounts, on "\/t"$/],
    [{ destination: '/t', type: 'tmpfs', source: 'tmpfs', uidMappings: one, gidMappings: one }, /must be bind mounts/],
    [{ destination: '/d', source: '/s', options: ['bind', 'idmap'] }, /"idmap" without uidMappings\/gidMappings needs the container's user namespace mappings, on "\/d"/],
    [{ destination: '/d', source: '/s', options: ['bind'], uidMappings: one }, /uidMappings and gidMappings must be given together/],
    [{ destination: '/d', source: '/s', options: ['bind', 'idmap'], uidMappings: [], gidMappings: [] }, /needs at least one uid and one gid mapping/, withUserns],
  ];
  for (const [m, re, mut] of cases) {
    const e = expectTrunError(() => plan([m], mut), 'EINVAL', re);
    assert.is(e.id, 'c1');
  }
});

test('features: idmap mounts enabled, the options listed', () => {
  const f = features() as { mountOptions: string[]; linux: { mountExtensions: unknown } };
  assert.equal(f.linux.mountExtensions, { idmap: { enabled: true } });
  assert.ok(f.mountOptions.includes('idmap') && f.mountOptions.includes('ridmap'));
});

test.run();
