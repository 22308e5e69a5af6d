// Id-mapped bind mounts seen from inside real containers: a host directory whose file belongs to
// host uid 1000 shows up as owned by the container's root through the mount's own mapping, by the
// container's mapping with "idmap" alone, and in a container without a user namespace too.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Mount, Spec } from '../../spec/types/runtime';
import { TestEnv, expectCleanFailure } from '../helpers/trun';

const env = new TestEnv('idmap');
test.after(() => env.cleanup());

/** A host directory of this test's own: f owned by 1000:1000, r by root. */
const src = path.join(env.dir, 'idmap-src');
fs.mkdirSync(src, { mode: 0o755 });
fs.writeFileSync(path.join(src, 'f'), 'host\n', { mode: 0o644 });
fs.chownSync(path.join(src, 'f'), 1000, 1000);
fs.writeFileSync(path.join(src, 'r'), 'root\n', { mode: 0o644 });

const userns = (s: Spec) => {
  s.linux!.namespaces!.push({ type: 'user' });
  s.linux!.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
  s.linux!.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
};
/** On-disk 1000 is host 100000 through the mount: the user-namespaced container's root. */
const to100000 = [{ containerID: 1000, hostID: 100000, size: 1 }];

function run(mut: (s: Spec) => void, mounts: Mount[], script: string): string {
  const bundle = env.bundle((s) => { mut(s); s.mounts!.push(...mounts); }, ['sh', '-c', script]);
  // The targets exist: a user-namespaced root may not create them in a rootfs the host's root owns.
  for (const m of mounts) fs.mkdirSync(path.join(bundle, 'rootfs', m.destination), { recursive: true });
  return env.ok(['run', '-b', bundle, env.id('im')]);
}

test('a user-namespaced container sees host uid 1000\'s file as its root\'s through the mount\'s mapping', () => {
  const out = run(userns, [
    { destination: '/plain', source: src, type: 'bind', options: ['bind'] },
    { destination: '/ro', source: src, type: 'bind', options: ['bind', 'idmap', 'ro'], uidMappings: to100000, gidMappings: to100000 },
    { destination: '/rw', source: src, type: 'bind', options: ['bind', 'idmap'], uidMappings: to100000, gidMappings: to100000 },
  ], 'stat -c "%u:%g" /plain/f /ro/f /rw/f; echo more >> /rw/f && echo wrote; echo x >> /ro/f 2>/dev/null || echo refused');
  assert.equal(out.trim().split('\n'), ['65534:65534', '0:0', '0:0', 'wrote', 'refused']);
  // Written as the container's root, the file is still host uid 1000's on disk.
  const st = fs.statSync(path.join(src, 'f'));
  assert.equal([st.uid, st.gid], [1000, 1000]);
  assert.is(fs.readFileSync(path.join(src, 'f'), 'utf8'), 'host\nmore\n');
});

test('"idmap" alone uses the container\'s own mapping: the host\'s root files are the container root\'s', () => {
  const out = run(userns, [
    { destination: '/m', source: src, type: 'bind', options: ['rbind', 'ridmap'] },
  ], 'stat -c "%u:%g" /m /m/r /m/f');
  assert.equal(out.trim().split('\n'), ['0:0', '0:0', '1000:1000']);
});

test('without a user namespace the mount\'s mapping still applies', () => {
  const toRoot = [{ containerID: 1000, hostID: 0, size: 1 }];
  const out = run(() => {}, [
    { destination: '/m', source: src, type: 'bind', options: ['bind', 'idmap'], uidMappings: toRoot, gidMappings: toRoot },
  ], 'stat -c "%u:%g" /m/f');
  assert.is(out.trim(), '0:0');
});

test('id-mapped mounts that cannot be made fail create clearly and leave nothing', () => {
  const one = [{ containerID: 0, hostID: 1000, size: 1 }];
  const cases: Array<[(s: Spec) => void, Mount, RegExp]> = [
    [() => {}, { destination: '/m', source: src, type: 'bind', options: ['bind', 'idmap'] }, /"idmap" without uidMappings\/gidMappings needs the container's user namespace mappings, on "\/m"/],
    [() => {}, { destination: '/t', source: 'tmpfs', type: 'tmpfs', options: ['idmap'] }, /must be bind mounts, on "\/t"/],
    [() => {}, { destination: '/m', source: `${src}-missing`, type: 'bind', options: ['bind'], uidMappings: one, gidMappings: one }, /idmap_tree: open_tree "[^"]+-missing": no such file or directory/],
    [userns, { destination: '/m', source: src, type: 'bind', options: ['bind'], uidMappings: [{ containerID: 0, hostID: 0, size: 0 }], gidMappings: one }, /idmap_tree: write uid_map "0 0 0": invalid argument/],
  ];
  for (const [mut, m, re] of cases) {
    const id = env.id('im');
    const bundle = env.bundle((s) => { mut(s); s.mounts!.push(m); });
    expectCleanFailure(env, id, ['run', '-b', bundle, id], re);
  }
});

test.run();
