// Mount flags of trun-bundle create (pure): --mount of every type, -v for host paths, named and
// anonymous volumes, --tmpfs with docker's defaults, --volumes-from, and volume names.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseMountFlag, parseVolumesFrom, type MountRequest } from '../../bundle-tools/lib/mount-flags';
import { checkVolumeName, randomVolumeName } from '../../bundle-tools/lib/volume-name';

function mountOf(r: MountRequest) {
  if (r.kind === 'volume') throw new Error('a volume request');
  return r.mount;
}

test('--mount type=bind and type=tmpfs', () => {
  assert.equal(parseMountFlag('mount', 'type=bind,source=/host,target=/c,readonly'), {
    kind: 'bind', mount: { destination: '/c', type: 'bind', source: '/host', options: ['rbind', 'ro', 'rprivate'] }, createSource: false,
  });
  assert.equal(mountOf(parseMountFlag('mount', 'type=bind,src=/h/,dst=/c/d/,bind-propagation=rslave,bind-nonrecursive=true')).options, ['bind', 'rslave']);
  assert.equal(mountOf(parseMountFlag('mount', 'type=tmpfs,destination=/t,tmpfs-mode=1777')).options, ['nosuid', 'nodev', 'mode=1777']);
  assert.throws(() => parseMountFlag('mount', 'source=/a,target=/b'), /type= is required/);
  assert.throws(() => parseMountFlag('mount', 'type=bind,target=/b'), /needs source=/);
  assert.throws(() => parseMountFlag('mount', 'type=bind,source=rel,target=/b'), /absolute/);
  assert.throws(() => parseMountFlag('mount', 'type=bind,source=/a,target=b'), /absolute/);
  assert.throws(() => parseMountFlag('mount', 'type=bind,source=/a,target=/b,bogus=1'), /unknown option "bogus"/);
  assert.throws(() => parseMountFlag('mount', 'type=bind,source=/a,src=/b,target=/b'), /only one of/);
  assert.throws(() => parseMountFlag('mount', 'type=tmpfs,target=/t,tmpfs-size=lots'), /bad tmpfs-size/);
  assert.throws(() => parseMountFlag('mount', 'type=bind,source=/a,target=/'), /cannot mount over "\/"/);
  assert.throws(() => parseMountFlag('mount', 'type=nfs,target=/a'), /unsupported mount type "nfs"/);
});

test('--mount type=volume: named or anonymous, read-only, nocopy', () => {
  assert.equal(parseMountFlag('mount', 'type=volume,source=data,target=/var/lib/data/,ro'), {
    kind: 'volume', name: 'data', destination: '/var/lib/data', options: ['ro', 'rprivate'], nocopy: false,
  });
  assert.equal(parseMountFlag('mount', 'type=volume,dst=/cache,volume-nocopy'), { kind: 'volume', name: null, destination: '/cache', options: ['rprivate'], nocopy: true });
  assert.throws(() => parseMountFlag('mount', 'type=volume,src=a/b,dst=/x'), /invalid volume name "a\/b": a volume name cannot contain "\/"/);
  assert.throws(() => parseMountFlag('mount', 'type=volume,src=v,dst=/x,bind-propagation=shared'), /unknown option "bind-propagation"/);
});

test('-v: an absolute source is a bind whose missing directory is created; anything else names a volume', () => {
  assert.equal(parseMountFlag('volume', '/srv/host:/data'), {
    kind: 'bind', mount: { destination: '/data', type: 'bind', source: '/srv/host', options: ['rbind', 'rprivate'] }, createSource: true,
  });
  assert.equal(mountOf(parseMountFlag('volume', '/h:/c:ro,rslave')).options, ['rbind', 'ro', 'rslave']);
  assert.equal(mountOf(parseMountFlag('volume', '/h:/c:rw')).options, ['rbind', 'rprivate']);
  assert.equal(parseMountFlag('volume', 'db:/var/db:ro'), { kind: 'volume', name: 'db', destination: '/var/db', options: ['ro', 'rprivate'], nocopy: false });
  assert.equal(parseMountFlag('volume', 'db:/var/db:nocopy'), { kind: 'volume', name: 'db', destination: '/var/db', options: ['rprivate'], nocopy: true });
  assert.equal(parseMountFlag('volume', '/anon/'), { kind: 'volume', name: null, destination: '/anon', options: ['rprivate'], nocopy: false });
  assert.throws(() => parseMountFlag('volume', 'a/b:/x'), /invalid volume name "a\/b".*absolute path/);
  assert.throws(() => parseMountFlag('volume', './rel:/x'), /invalid volume name "\.\/rel"/);
  assert.throws(() => parseMountFlag('volume', 'db:rel'), /destination "rel" must be an absolute path/);
  assert.throws(() => parseMountFlag('volume', 'db:/x:ro,rw'), /conflicting options/);
  assert.throws(() => parseMountFlag('volume', 'db:/x:rshared'), /propagation is for host paths/);
  assert.throws(() => parseMountFlag('volume', '/h:/x:nocopy'), /nocopy is for volumes/);
  assert.throws(() => parseMountFlag('volume', 'db:/x:bogus'), /unknown option "bogus"/);
  assert.throws(() => parseMountFlag('volume', 'a:/b:ro:extra'), /expected \[SOURCE:\]DESTINATION/);
  assert.throws(() => parseMountFlag('volume', ':/x'), /expected/);
  assert.throws(() => parseMountFlag('volume', 'db:/'), /cannot mount over "\/"/);
});

test('--tmpfs: noexec,nosuid,nodev unless lifted, size and mode checked', () => {
  assert.equal(parseMountFlag('tmpfs', '/run/x/'), { kind: 'plain', mount: { destination: '/run/x', type: 'tmpfs', source: 'tmpfs', options: ['noexec', 'nosuid', 'nodev'] } });
  assert.equal(mountOf(parseMountFlag('tmpfs', '/t:size=64m,mode=1777,exec,ro')).options, ['nosuid', 'nodev', 'ro', 'size=64m', 'mode=1777']);
  assert.equal(mountOf(parseMountFlag('tmpfs', '/t:rw,suid,dev,noexec')).options, ['noexec']);
  assert.throws(() => parseMountFlag('tmpfs', 'rel'), /must be an absolute path/);
  assert.throws(() => parseMountFlag('tmpfs', '/t:size=big'), /bad size "big"/);
  assert.throws(() => parseMountFlag('tmpfs', '/t:mode=999'), /bad mode "999"/);
  assert.throws(() => parseMountFlag('tmpfs', '/t:uid=0'), /unknown option "uid"/);
  assert.throws(() => parseMountFlag('tmpfs', '/t:bogus'), /unknown option "bogus"/);
});

test('--volumes-from BUNDLE[:ro|:rw]', () => {
  assert.equal(parseVolumesFrom('/b/one'), { bundle: '/b/one', readonly: null });
  assert.equal(parseVolumesFrom('/b/one:ro'), { bundle: '/b/one', readonly: true });
  assert.equal(parseVolumesFrom('rel:rw'), { bundle: 'rel', readonly: false });
  assert.throws(() => parseVolumesFrom('/b:rx'), /mode must be ro or rw/);
  assert.throws(() => parseVolumesFrom(':ro'), /no bundle/);
});

test("volume names follow docker's rule; anonymous names are 64 hex digits", () => {
  for (const ok of ['a', 'data', 'my_vol.1-x', 'A9']) assert.is(checkVolumeName(ok), ok);
  for (const bad of ['', '-x', '.hidden', '_x', 'a b', 'a:b', 'é', 'x'.repeat(256)]) assert.throws(() => checkVolumeName(bad), /invalid volume name/);
  assert.throws(() => checkVolumeName('../etc'), /cannot contain "\/"/);
  const r = randomVolumeName();
  assert.match(r, /^[0-9a-f]{64}$/);
  assert.is.not(r, randomVolumeName());
});

test.run();
