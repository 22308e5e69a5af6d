// Volumes in a store and the mounts of a bundle, on plain directories (no mounts, no root):
// create/read/remove, usage through bundle records, mount planning, copy-up only once, and the
// undo that leaves nothing behind when a bundle cannot be made.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseMountFlag, type MountRequest } from '../../bundle-tools/lib/mount-flags';
import { BUNDLE_MARKER, Store } from '../../bundle-tools/lib/store';
import { attachMounts, planMounts } from '../../bundle-tools/lib/volume-mounts';
import { Volumes } from '../../bundle-tools/lib/volumes';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'trun-volumes-unit-'));
let n = 0;

function fresh(): { store: Store; vols: Volumes; dir: string } {
  const dir = path.join(tmp, `case-${n++}`);
  fs.mkdirSync(dir);
  const store = new Store(path.join(dir, 'store')).init();
  return { store, vols: new Volumes(store), dir };
}

/** A directory that looks like a bundle to the store (its record survives bundleRecords()). */
function fakeBundle(store: Store, dir: string, volumes: string[]): string {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, BUNDLE_MARKER), '{}');
  store.addBundleRecord({ bundle: dir, manifest: 'sha256:x', diffIDs: [], created: 'now', volumes });
  return dir;
}

function rootfsWith(dir: string, files: Record<string, string>): string {
  for (const [rel, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), content);
  }
  return dir;
}

test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));

test('a volume is created whole, found again, listed and removed; an existing name is kept', () => {
  const { store, vols } = fresh();
  const { meta, created } = vols.create({ name: 'data', labels: { team: 'core' } });
  assert.ok(created);
  assert.equal([meta.name, meta.anonymous, meta.initialised, meta.labels], ['data', false, false, { team: 'core' }]);
  assert.ok(fs.statSync(path.join(store.root, 'volumes/data/_data')).isDirectory());
  assert.is(vols.dataDir('data'), path.join(store.root, 'volumes/data/_data'));
  assert.is(vols.create({ name: 'data' }).created, false);
  const anon = vols.create({ anonymous: true }).meta;
  assert.match(anon.name, /^[0-9a-f]{64}$/);
  assert.equal(vols.list().map((m) => m.name).sort(), [anon.name, 'data'].sort());
  assert.equal(fs.readdirSync(store.tmpDir), [], 'nothing left in tmp/');
  fs.writeFileSync(path.join(vols.dataDir('data'), 'f'), '12345');
  assert.is(vols.remove('data'), 5);
  assert.not.ok(fs.existsSync(path.join(store.root, 'volumes/data')));
  assert.throws(() => vols.read('data'), /no such volume "data"/);
  assert.throws(() => vols.remove('nope'), /no such volume "nope"/);
  assert.throws(() => vols.create({ name: 'a/b' }), /cannot contain "\/"/);
  assert.not.ok(fs.existsSync(path.join(store.root, 'volumes/a')));
});

test('usage comes from bundle records; a bundle deleted by hand no longer holds its volumes', () => {
  const { store, vols, dir } = fresh();
  vols.create({ name: 'shared' });
  const anon = vols.create({ anonymous: true }).meta.name;
  const b1 = fakeBundle(store, path.join(dir, 'b1'), ['shared', anon]);
  fakeBundle(store, path.join(dir, 'b2'), ['shared']);
  assert.equal(vols.users().get('shared')?.length, 2);
  assert.throws(() => vols.checkUnused('shared'), /volume "shared" is in use by bundle ".*\/b[12]", ".*\/b[12]"; remove the bundle first/);
  vols.checkUnused(anon, b1);
  fs.rmSync(b1, { recursive: true });
  assert.equal(vols.users().get('shared'), [path.join(dir, 'b2')]);
  vols.checkUnused(anon);
  // removeAnonymous never takes a named volume, nor one still used.
  assert.equal(vols.removeAnonymous(['shared', anon]), [anon]);
  assert.ok(vols.exists('shared'));
});

test('planning: duplicates, missing --mount sources, image volumes not covered by a flag, parents first', () => {
  const { store, dir } = fresh();
  const host = path.join(dir, 'host');
  fs.mkdirSync(host);
  const req = (kind: 'mount' | 'volume' | 'tmpfs', v: string): MountRequest => parseMountFlag(kind, v);
  const plan = planMounts({
    store, volumesFrom: [], imageVolumes: ['/data', '/logs/'],
    requests: [req('volume', 'v:/data/sub'), req('volume', 'named:/data'), req('mount', `type=bind,src=${host},dst=/a/b/c`), req('tmpfs', '/t')],
  });
  const dests = plan.map((r) => (r.kind === 'volume' ? r.destination : r.mount.destination));
  assert.equal(dests, ['/data', '/t', '/logs', '/data/sub', '/a/b/c']);
  assert.equal(plan.find((r) => r.kind === 'volume' && r.destination === '/data'), { kind: 'volume', name: 'named', destination: '/data', options: ['rprivate'], nocopy: false });
  assert.equal(plan.find((r) => r.kind === 'volume' && r.destination === '/logs'), { kind: 'volume', name: null, destination: '/logs', options: ['rprivate'], nocopy: false });
  assert.throws(() => planMounts({ store, volumesFrom: [], imageVolumes: [], requests: [req('volume', 'a:/x'), req('tmpfs', '/x/')] }), /duplicate mount point "\/x"/);
  assert.throws(
    () => planMounts({ store, volumesFrom: [], imageVolumes: [], requests: [req('mount', `type=bind,src=${host}/missing,dst=/x`)] }),
    /bind source path ".*\/host\/missing" does not exist/,
  );
  // -v makes a missing source, so planning accepts it (and creates nothing).
  planMounts({ store, volumesFrom: [], imageVolumes: [], requests: [req('volume', `${host}/later:/x`)] });
  assert.not.ok(fs.existsSync(`${host}/later`));
  assert.throws(() => planMounts({ store, volumesFrom: [], imageVolumes: ['rel'], requests: [] }), /image volume "rel" is not an absolute path/);
});

test('--volumes-from takes volumes and binds of another config, not defaults nor files of that bundle', () => {
  const { store, dir } = fresh();
  const other = path.join(dir, 'other');
  fs.mkdirSync(other);
  const mounts = [
    { destination: '/proc', type: 'proc', source: 'proc' },
    { destination: '/sys', type: 'none', source: '/sys', options: ['rbind', 'ro'] },
    { destination: '/data', type: 'bind', source: path.join(store.volumesDir, 'db', '_data'), options: ['rbind', 'rprivate'] },
    { destination: '/host', type: 'bind', source: '/srv', options: ['rbind', 'ro', 'rslave'] },
    { destination: '/etc/hosts', type: 'bind', source: 'hosts', options: ['bind', 'ro'] },
    { destination: '/t', type: 'tmpfs', source: 'tmpfs' },
  ];
  fs.writeFileSync(path.join(other, 'config.json'), JSON.stringify({ ociVersion: '1.0.0', mounts }));
  const same = planMounts({ store, requests: [], imageVolumes: [], volumesFrom: [{ bundle: other, readonly: null }] });
  assert.equal(same, [
    { kind: 'volume', name: 'db', destination: '/data', options: ['rprivate'], nocopy: true },
    { kind: 'bind', mount: { destination: '/host', type: 'bind', source: '/srv', options: ['rbind', 'ro', 'rslave'] }, createSource: false },
  ]);
  const ro = planMounts({ store, requests: [parseMountFlag('tmpfs', '/host')], imageVolumes: [], volumesFrom: [{ bundle: other, readonly: true }] });
  assert.equal(ro[0], { kind: 'volume', name: 'db', destination: '/data', options: ['ro', 'rprivate'], nocopy: true });
  assert.is(ro[1]!.kind, 'plain', 'a flag replaces a mount taken from the other bundle');
  const rw = planMounts({ store, requests: [], imageVolumes: [], volumesFrom: [{ bundle: other, readonly: false }] });
  assert.equal(rw[1]!.kind === 'bind' && rw[1]!.mount.options, ['rbind', 'rslave']);
  assert.throws(() => planMounts({ store, requests: [], imageVolumes: [], volumesFrom: [{ bundle: path.join(dir, 'none'), readonly: null }] }), /no bundle at ".*none"/);
});

test('attach: volumes are created and seeded from the image once; binds from -v are created', () => {
  const { store, vols, dir } = fresh();
  const rootfs = rootfsWith(path.join(dir, 'rootfs'), { 'data/seed': 'from image', 'data/sub/deep': 'd', 'empty/.keep': '' });
  fs.rmSync(path.join(rootfs, 'empty/.keep'));
  fs.chmodSync(path.join(rootfs, 'data'), 0o1777);
  const bundle = fakeBundle(store, path.join(dir, 'b1'), []);
  const plan = planMounts({ store, imageVolumes: ['/data'], volumesFrom: [], requests: [parseMountFlag('volume', 'named:/data/sub'), parseMountFlag('volume', `${dir}/made/here:/h`)] });
  const a = attachMounts(store, bundle, rootfs, plan);
  assert.is(a.volumes.length, 2);
  const anon = a.volumes.find((v) => v !== 'named')!;
  assert.is(fs.readFileSync(path.join(vols.dataDir(anon), 'seed'), 'utf8'), 'from image');
  assert.is(fs.statSync(vols.dataDir(anon)).mode & 0o7777, 0o1777, 'the volume takes the mode of the image directory');
  assert.is(fs.readFileSync(path.join(vols.dataDir('named'), 'deep'), 'utf8'), 'd');
  assert.ok(vols.read('named').initialised && vols.read(anon).initialised);
  assert.ok(fs.statSync(`${dir}/made/here`).isDirectory());
  assert.equal(a.mounts.map((m) => [m.destination, m.source, m.options]), [
    ['/h', `${dir}/made/here`, ['rbind', 'rprivate']],
    ['/data', vols.dataDir(anon), ['rbind', 'rprivate']],
    ['/data/sub', vols.dataDir('named'), ['rbind', 'rprivate']],
  ]);

  // Emptied by its user, the volume is not filled again; nor is one that already has content.
  fs.rmSync(path.join(vols.dataDir('named'), 'deep'));
  vols.create({ name: 'full' });
  fs.writeFileSync(path.join(vols.dataDir('full'), 'mine'), 'x');
  const b2 = fakeBundle(store, path.join(dir, 'b2'), []);
  attachMounts(store, b2, rootfs, planMounts({ store, imageVolumes: [], volumesFrom: [], requests: [parseMountFlag('volume', 'named:/data'), parseMountFlag('volume', 'full:/data/sub')] }));
  assert.equal(fs.readdirSync(vols.dataDir('named')), []);
  assert.equal(fs.readdirSync(vols.dataDir('full')), ['mine']);
  // nocopy: initialised, nothing copied.
  attachMounts(store, b2, rootfs, planMounts({ store, imageVolumes: [], volumesFrom: [], requests: [parseMountFlag('volume', 'quiet:/data:nocopy')] }));
  assert.equal(fs.readdirSync(vols.dataDir('quiet')), []);
  assert.ok(vols.read('quiet').initialised);
});

test('undo removes what attach made and un-seeds a volume it filled, unless another bundle uses it', () => {
  const { store, vols, dir } = fresh();
  const rootfs = rootfsWith(path.join(dir, 'rootfs'), { 'data/seed': 'x' });
  vols.create({ name: 'existing' });
  const bundle = fakeBundle(store, path.join(dir, 'b'), []);
  const plan = planMounts({ store, imageVolumes: ['/data'], volumesFrom: [], requests: [parseMountFlag('volume', 'existing:/data/x'), parseMountFlag('volume', 'newone:/n'), parseMountFlag('volume', `${dir}/h/a/b:/h`)] });
  fs.mkdirSync(path.join(rootfs, 'data/x'));
  fs.writeFileSync(path.join(rootfs, 'data/x/y'), 'y');
  const a = attachMounts(store, bundle, rootfs, plan);
  assert.ok(vols.read('existing').initialised);
  assert.equal(fs.readdirSync(vols.dataDir('existing')), ['y']);
  store.removeBundleRecord(bundle);
  a.undo();
  assert.equal(vols.list().map((m) => m.name), ['existing']);
  assert.not.ok(vols.read('existing').initialised);
  assert.equal(fs.readdirSync(vols.dataDir('existing')), []);
  assert.not.ok(fs.existsSync(`${dir}/h`), 'the -v directories made are gone');

  // With another bundle on the new volume, undo leaves it.
  const a2 = attachMounts(store, bundle, rootfs, planMounts({ store, imageVolumes: [], volumesFrom: [], requests: [parseMountFlag('volume', 'kept:/n')] }));
  fakeBundle(store, path.join(dir, 'other'), ['kept']);
  a2.undo();
  assert.ok(vols.exists('kept'));
});

test.run();
