// linux.cgroupsPath resolution: absolute, relative, default, systemd form, and escapes refused.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { TrunError } from '../../runtime/errors';
import { detectHost, parseProcCgroup } from '../../runtime/linux/cgroups/detect';
import { checkedPath, expandSlice, innerPath, resolvePaths, systemdPath } from '../../runtime/linux/cgroups/paths';
import { HYBRID_MOUNTINFO, V1_MOUNTINFO, V2_MOUNTINFO } from './cgroups-fixtures';
import { expectTrunError } from '../helpers/errors';

const hybrid = detectHost(HYBRID_MOUNTINFO, () => ['hugetlb']);
const v1 = detectHost(V1_MOUNTINFO, () => []);
const v2 = detectHost(V2_MOUNTINFO, () => ['cpu', 'memory', 'pids']);
const noSelf = new Map<string, string>();

const throwsEinval = (fn: () => unknown, pattern: RegExp): void => { expectTrunError(fn, 'EINVAL', pattern); };

test('default: /trun/<id> on every hierarchy', () => {
  const p = resolvePaths(hybrid, innerPath({ id: 'c1' }), noSelf);
  assert.is(p['memory'], '/sys/fs/cgroup/memory/trun/c1');
  assert.is(p['name=systemd'], '/sys/fs/cgroup/systemd/trun/c1');
  assert.is(p['unified'], '/sys/fs/cgroup/unified/trun/c1');
  assert.is(Object.keys(p).length, 10);
});

test('absolute: relative to each hierarchy root; co-mounted controllers share a directory', () => {
  const p = resolvePaths(v1, innerPath({ id: 'c1', cgroupsPath: '/a/b' }), noSelf);
  assert.is(p['cpu'], '/sys/fs/cgroup/cpu,cpuacct/a/b');
  assert.is(p['cpuacct'], '/sys/fs/cgroup/cpu,cpuacct/a/b');
  assert.is(p['net_prio'], '/sys/fs/cgroup/net_cls,net_prio/a/b');
  assert.is(p['unified'], undefined);
  assert.equal(resolvePaths(v2, innerPath({ id: 'c1', cgroupsPath: '/a/b' }), noSelf), { unified: '/sys/fs/cgroup/a/b' });
});

test('relative: below the runtime own cgroup on each hierarchy (from /proc/self/cgroup)', () => {
  const self = parseProcCgroup('4:memory:/process_api/abc\n9:name=systemd:/init.scope\n1:cpu:/\n0::/user.slice\n');
  const p = resolvePaths(hybrid, innerPath({ id: 'c1', cgroupsPath: 'pod/c1' }), self);
  assert.is(p['memory'], '/sys/fs/cgroup/memory/process_api/abc/pod/c1');
  assert.is(p['name=systemd'], '/sys/fs/cgroup/systemd/init.scope/pod/c1');
  assert.is(p['cpu'], '/sys/fs/cgroup/cpu/pod/c1');
  assert.is(p['pids'], '/sys/fs/cgroup/pids/pod/c1'); // not in /proc/self/cgroup: the root
  assert.is(p['unified'], '/sys/fs/cgroup/unified/user.slice/pod/c1');
});

test('relative: a mount of a sub-hierarchy strips its root from the own path', () => {
  const host = detectHost('1 0 0:1 /docker/x /sys/fs/cgroup rw - cgroup2 cgroup2 rw', () => []);
  const p = resolvePaths(host, innerPath({ id: 'c', cgroupsPath: 'c' }), parseProcCgroup('0::/docker/x/sub\n'));
  assert.is(p['unified'], '/sys/fs/cgroup/sub/c');
});

test('".." that stays inside is resolved; one that escapes is refused and names the path', () => {
  assert.is(innerPath({ id: 'c', cgroupsPath: '/a/../b/./c' }).path, 'b/c');
  throwsEinval(() => innerPath({ id: 'c', cgroupsPath: '/a/../../etc' }), /cgroup path "\/a\/..\/..\/etc" is outside the allowed hierarchy/);
  throwsEinval(() => innerPath({ id: 'c', cgroupsPath: '../sibling' }), /"..\/sibling" is outside the allowed hierarchy/);
  throwsEinval(() => innerPath({ id: 'c', cgroupsPath: '/' }), /hierarchy root/);
  throwsEinval(() => innerPath({ id: 'c', cgroupsPath: 'a/..' }), /outside the allowed hierarchy/);
  try {
    checkedPath('/../x', '/../x', 'c9');
  } catch (err) {
    assert.is((err as TrunError).path, '/../x');
    assert.is((err as TrunError).id, 'c9');
  }
});

test('systemd slices expand by dashes', () => {
  assert.is(expandSlice('system.slice'), '/system.slice');
  assert.is(expandSlice('a-b-c.slice'), '/a.slice/a-b.slice/a-b-c.slice');
  assert.is(expandSlice('-.slice'), '/');
  for (const bad of ['foo', 'a--b.slice', '-a.slice', 'a-.slice', 'a/b.slice']) throwsEinval(() => expandSlice(bad), /invalid systemd slice name/);
});

test('systemd form: slice:prefix:name becomes <slice path>/<prefix>-<name>.scope', () => {
  assert.is(systemdPath('system.slice:docker:abc', 'abc'), '/system.slice/docker-abc.scope');
  assert.is(systemdPath('kubepods-besteffort.slice:cri-containerd:x', 'x'), '/kubepods.slice/kubepods-besteffort.slice/cri-containerd-x.scope');
  assert.is(systemdPath(':trun:x', 'x'), '/system.slice/trun-x.scope');
  assert.is(systemdPath('user.slice::x', 'x'), '/user.slice/x.scope');
  assert.is(systemdPath('machine.slice::sub.slice', 'x'), '/machine.slice/sub.slice');
  assert.is(innerPath({ id: 'c1', systemd: true }).path, 'system.slice/trun-c1.scope');
  assert.is(innerPath({ id: 'c1', systemd: true, cgroupsPath: 'user.slice:p:c1' }).relative, false);
  throwsEinval(() => innerPath({ id: 'c1', systemd: true, cgroupsPath: '/plain/path' }), /slice:prefix:name/);
  throwsEinval(() => systemdPath('system.slice:p:a/b', 'x'), /invalid systemd unit/);
});

test('without --systemd-cgroup a colon is an ordinary character', () => {
  const p = innerPath({ id: 'c', cgroupsPath: 'system.slice:docker:abc' });
  assert.equal(p, { path: 'system.slice:docker:abc', relative: true });
});

test.run();
