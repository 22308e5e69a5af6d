// Host detection from mountinfo text and /proc/self/cgroup parsing: no kernel involved.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { detectHost, parseCgroupMounts, parseProcCgroup } from '../../runtime/linux/cgroups/detect';
import { HYBRID_MOUNTINFO, V1_MOUNTINFO, V2_MOUNTINFO } from './cgroups-fixtures';

const V2_ALL = ['cpuset', 'cpu', 'io', 'memory', 'hugetlb', 'pids', 'rdma', 'misc'];

test('v1 host: every hierarchy with its co-mounted controllers, no unified', () => {
  const host = detectHost(V1_MOUNTINFO, () => {
    throw new Error('no cgroup2 mount to read');
  });
  assert.is(host.mode, 'v1');
  assert.is(host.unified, undefined);
  const byMount = Object.fromEntries(host.v1.map((h) => [h.mountpoint, h.name ?? h.controllers.join(',')]));
  assert.is(byMount['/sys/fs/cgroup/cpu,cpuacct'], 'cpu,cpuacct');
  assert.is(byMount['/sys/fs/cgroup/net_cls,net_prio'], 'net_cls,net_prio');
  assert.is(byMount['/sys/fs/cgroup/systemd'], 'name=systemd');
  // "clone_children" and "xattr" are options, not controllers.
  assert.equal(host.v1.find((h) => h.mountpoint.endsWith('/cpuset'))?.controllers, ['cpuset']);
  assert.equal(host.v1.find((h) => h.name === 'name=systemd')?.controllers, []);
});

test('v2 host: one unified mount owning what its cgroup.controllers lists', () => {
  const seen: string[] = [];
  const host = detectHost(V2_MOUNTINFO, (mp) => (seen.push(mp), V2_ALL));
  assert.is(host.mode, 'v2');
  assert.equal(seen, ['/sys/fs/cgroup']);
  assert.equal(host.v1, []);
  assert.equal(host.unified, { mountpoint: '/sys/fs/cgroup', root: '/', controllers: V2_ALL });
});

test('hybrid host: v1 controllers plus unified owning hugetlb', () => {
  const host = detectHost(HYBRID_MOUNTINFO, () => ['hugetlb']);
  assert.is(host.mode, 'hybrid');
  assert.is(host.unified?.mountpoint, '/sys/fs/cgroup/unified');
  assert.equal(host.unified?.controllers, ['hugetlb']);
  assert.equal(host.v1.flatMap((h) => h.controllers).sort(), ['blkio', 'cpu', 'cpuacct', 'cpuset', 'devices', 'freezer', 'memory', 'pids']);
});

test('a controller bound on v1 is never reported as owned by unified', () => {
  const host = detectHost(HYBRID_MOUNTINFO, () => ['memory', 'hugetlb']);
  assert.equal(host.unified?.controllers, ['hugetlb']);
});

test('bind mounts of a hierarchy already seen are ignored; escaped mountpoints decoded', () => {
  const text = `${V1_MOUNTINFO}
90 80 0:34 /docker/abc /var/lib/x\\040y/memory rw - cgroup cgroup rw,memory
91 80 0:50 / /mnt/my\\040cg rw - cgroup cgroup rw,name=mine
`;
  const host = detectHost(text, () => []);
  assert.is(host.v1.filter((h) => h.controllers.includes('memory')).length, 1);
  assert.is(host.v1.find((h) => h.name === 'name=mine')?.mountpoint, '/mnt/my cg');
  const mounts = parseCgroupMounts(text);
  assert.is(mounts.find((m) => m.mountpoint === '/var/lib/x y/memory')?.root, '/docker/abc');
});

test('mountinfo lines with optional fields and non-cgroup mounts', () => {
  const text = '50 31 0:44 / /cg rw,relatime shared:1 master:2 - cgroup2 cgroup2 rw\n51 31 0:45 / /x rw - tmpfs tmpfs rw';
  assert.equal(parseCgroupMounts(text).map((m) => m.mountpoint), ['/cg']);
});

test('/proc/self/cgroup: v1 lines by controller, the unified line under ""', () => {
  const m = parseProcCgroup('12:cpu,cpuacct:/user.slice\n1:name=systemd:/init.scope\n0::/user.slice/session-1.scope\n');
  assert.is(m.get('cpu'), '/user.slice');
  assert.is(m.get('cpuacct'), '/user.slice');
  assert.is(m.get('name=systemd'), '/init.scope');
  assert.is(m.get(''), '/user.slice/session-1.scope');
});

test.run();
