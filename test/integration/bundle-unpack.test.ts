// Layer unpack on real overlay mounts (root): whiteouts and opaque directories, attributes, and
// the hostile tarballs of node-tar's 2021 advisories, each crafted byte by byte.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createBundle } from '../../bundle-tools/lib/bundle';
import { FsOps } from '../../bundle-tools/lib/fsops';
import { importImage } from '../../bundle-tools/lib/import';
import { Store } from '../../bundle-tools/lib/store';
import { unpackLayer } from '../../bundle-tools/lib/unpack';
import { TrunError } from '../../runtime/errors';
import { gzip, makeLayerFile, makeOciLayout, makeTar, sha256, snapshotTree, unmountAll, type CraftedEntry } from '../helpers/tarballs';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'trun-bundle-unpack-'));
let fsops: FsOps;
let n = 0;

test.before(() => {
  fsops = new FsOps();
});
test.after(async () => {
  await fsops.close();
  unmountAll(tmp);
  fs.rmSync(tmp, { recursive: true, force: true });
});

function fresh(name: string): string {
  const d = path.join(tmp, `${name}-${n++}`);
  fs.mkdirSync(d);
  return d;
}

async function unpack(entries: CraftedEntry[]): Promise<{ dir: string; outside: string }> {
  const dir = fresh('layer');
  const outside = fresh('outside');
  const l = await makeLayerFile(path.join(tmp, `blob-${n++}`), entries);
  await unpackLayer(l, dir, fsops);
  return { dir, outside };
}

async function unpackFails(entries: (outside: string) => CraftedEntry[], pattern: RegExp): Promise<string> {
  const dir = fresh('layer');
  const outside = fresh('outside');
  fs.writeFileSync(path.join(outside, 'victim'), 'original');
  const l = await makeLayerFile(path.join(tmp, `blob-${n++}`), entries(outside));
  try {
    await unpackLayer(l, dir, fsops);
    assert.unreachable('unpack should have failed');
  } catch (err) {
    if (!(err instanceof TrunError)) throw err;
    assert.is(err.code, 'EIMAGE');
    assert.match(err.message, pattern);
  }
  assert.equal(fs.readdirSync(outside), ['victim']);
  assert.is(fs.readFileSync(path.join(outside, 'victim'), 'utf8'), 'original');
  return dir;
}

async function rejects(p: Promise<unknown>, pattern: RegExp): Promise<void> {
  try {
    await p;
  } catch (err) {
    assert.match((err as Error).message, pattern);
    return;
  }
  assert.unreachable(`expected a rejection matching ${pattern}`);
}

async function makeStore(): Promise<Store> {
  return new Store(fresh('store')).init();
}

test('an image with deletions and opaque dirs unpacks to exactly the expected tree', async () => {
  const layers: CraftedEntry[][] = [
    [
      { name: 'etc/', type: 'directory' },
      { name: 'etc/a', content: 'a1' },
      { name: 'etc/b', content: 'b1' },
      { name: 'dir/', type: 'directory' },
      { name: 'dir/x/', type: 'directory' },
      { name: 'dir/x/y', content: 'y' },
      { name: 'opq/', type: 'directory' },
      { name: 'opq/k1', content: 'k1' },
      { name: 'opq/sub/', type: 'directory' },
      { name: 'opq/sub/k2', content: 'k2' },
      { name: 'keep/', type: 'directory' },
      { name: 'keep/f', content: 'f' },
      { name: 'ln', type: 'symlink', linkname: '/etc/b' },
    ],
    [
      { name: 'etc/.wh.a' },
      { name: '.wh.dir' },
      { name: 'opq/', type: 'directory' },
      { name: 'opq/.wh..wh..opq' },
      { name: 'opq/new', content: 'new' },
      { name: 'keep/g', content: 'g' },
      { name: 'etc/b', content: 'b2' },
    ],
    [
      { name: 'dir/', type: 'directory' },
      { name: 'dir/z', content: 'z' },
      { name: '.wh.ln' },
      // Whiteout and re-creation in one layer: the new entry wins, lower content stays hidden.
      { name: 'keep/.wh.f' },
      { name: 'keep/f', content: 'f3' },
    ],
  ];
  const store = await makeStore();
  const layout = fresh('layout');
  await makeOciLayout(layout, 'test/deletions:1', layers.map((entries) => ({ entries })), { config: { Cmd: ['/bin/sh'] } });
  await importImage({ store, source: layout });
  const bundle = path.join(fresh('b'), 'bundle');
  await createBundle({ store, image: 'test/deletions:1', bundle, config: {} });
  const rootfs = path.join(bundle, 'rootfs');
  const tree = snapshotTree(rootfs).map((l) => l.replace(/ [0-9a-f]{12}$/, ''));
  assert.equal(tree, [
    'd 755 0:0 dir',
    'f 644 0:0 dir/z',
    'd 755 0:0 etc',
    'f 644 0:0 etc/b',
    'd 755 0:0 keep',
    'f 644 0:0 keep/f',
    'f 644 0:0 keep/g',
    'd 755 0:0 opq',
    'f 644 0:0 opq/new',
  ]);
  assert.is(fs.readFileSync(path.join(rootfs, 'etc/b'), 'utf8'), 'b2');
  assert.is(fs.readFileSync(path.join(rootfs, 'keep/f'), 'utf8'), 'f3');
  // The cached layer dirs hold overlayfs whiteouts, not OCI ones.
  const [, l2] = store.resolve('test/deletions:1').config.rootfs.diff_ids.map((d) => store.layerDir(d));
  const wh = fs.lstatSync(path.join(l2!, 'etc/a'));
  assert.ok(wh.isCharacterDevice() && wh.rdev === 0);
  assert.not.ok(fs.existsSync(path.join(l2!, 'etc/.wh.a')));
  assert.equal(await fsops.listxattrs(path.join(l2!, 'opq')), new Map([['trusted.overlay.opaque', Buffer.from('y')]]));
  unmountAll(bundle);
});

test('attributes: owners, setuid, mtimes, xattrs, symlinks, hard links, devices, fifos', async () => {
  const mtime = new Date(1_234_567_890_000);
  const cap = Buffer.from([1, 0, 0, 2, 0x80, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  const { dir } = await unpack([
    { name: 'bin/', type: 'directory', mode: 0o751, uid: 7, gid: 8, mtime },
    { name: 'bin/su', content: 'su', mode: 0o4755, uid: 0, gid: 0, mtime },
    { name: 'bin/sg', content: 'sg', mode: 0o2711, uid: 1000, gid: 50, mtime },
    { name: 'bin/ping', content: 'ping', mode: 0o755, xattrs: { 'security.capability': cap, 'user.note': 'hi' } },
    { name: 'bin/hard', type: 'link', linkname: 'bin/su' },
    { name: 'lnk', type: 'symlink', linkname: '../../../../etc/shadow', uid: 5, gid: 6 },
    { name: 'dev/', type: 'directory' },
    { name: 'dev/null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666 },
    { name: 'dev/loop0', type: 'block-device', devmajor: 7, devminor: 0, mode: 0o660, gid: 6 },
    { name: 'fifo', type: 'fifo', mode: 0o620 },
    { name: 'evil-xattr', content: '', xattrs: { 'trusted.overlay.redirect': '/etc', 'trusted.overlay.opaque': 'y' } },
  ]);
  const st = (p: string) => fs.lstatSync(path.join(dir, p));
  assert.is(st('bin').mode & 0o7777, 0o751);
  assert.is(st('bin').uid, 7);
  assert.is(st('bin').gid, 8);
  assert.is(st('bin').mtimeMs, mtime.getTime());
  assert.is(st('bin/su').mode & 0o7777, 0o4755);
  assert.is(st('bin/sg').mode & 0o7777, 0o2711);
  assert.is(st('bin/sg').uid, 1000);
  assert.is(st('bin/sg').gid, 50);
  assert.is(st('bin/su').mtimeMs, mtime.getTime());
  assert.is(st('bin/hard').ino, st('bin/su').ino);
  assert.is(st('bin/su').nlink, 2);
  const x = await fsops.listxattrs(path.join(dir, 'bin/ping'));
  assert.equal(x.get('security.capability'), cap);
  assert.is(x.get('user.note')!.toString(), 'hi');
  assert.ok(st('lnk').isSymbolicLink());
  assert.is(fs.readlinkSync(path.join(dir, 'lnk')), '../../../../etc/shadow');
  assert.is(st('lnk').uid, 5);
  assert.ok(st('dev/null').isCharacterDevice());
  assert.is(st('dev/null').rdev, (1 << 8) | 3);
  assert.is(st('dev/null').mode & 0o7777, 0o666);
  assert.ok(st('dev/loop0').isBlockDevice());
  assert.is(st('dev/loop0').rdev, 7 << 8);
  assert.ok(st('fifo').isFIFO());
  assert.is(st('fifo').mode & 0o7777, 0o620);
  assert.equal(await fsops.listxattrs(path.join(dir, 'evil-xattr')), new Map());
});

test('advisory: a symlink followed by a file of the same path replaces the link, never writes through it', async () => {
  const dir = fresh('layer');
  const outside = fresh('outside');
  fs.writeFileSync(path.join(outside, 'victim'), 'original');
  const l = await makeLayerFile(path.join(tmp, `blob-${n++}`), [
    { name: 'a', type: 'symlink', linkname: path.join(outside, 'victim') },
    { name: 'a', content: 'pwned' },
  ]);
  await unpackLayer(l, dir, fsops);
  assert.is(fs.readFileSync(path.join(outside, 'victim'), 'utf8'), 'original');
  assert.ok(fs.lstatSync(path.join(dir, 'a')).isFile());
  assert.is(fs.readFileSync(path.join(dir, 'a'), 'utf8'), 'pwned');
});

test('advisory: a file below a symlinked directory is refused', async () => {
  await unpackFails((outside) => [
    { name: 'd', type: 'symlink', linkname: outside },
    { name: 'd/victim', content: 'pwned' },
  ], /parent "d" is a symlink/);
});

test('advisory: hard links pointing out of the root are refused', async () => {
  await unpackFails(() => [{ name: 'h', type: 'link', linkname: '../../../../etc/passwd' }], /escapes the layer root/);
  // An absolute target names a path inside the layer: absent here, so refused, never the host's file.
  await unpackFails(() => [{ name: 'h', type: 'link', linkname: '/etc/passwd' }], /not in this layer/);
  await unpackFails((outside) => [
    { name: 's', type: 'symlink', linkname: outside },
    { name: 'h', type: 'link', linkname: 's/victim' },
  ], /parent "s" is a symlink/);
});

test('advisory: directory cache poisoning (a directory replaced by a symlink) is refused', async () => {
  await unpackFails((outside) => [
    { name: 'd/', type: 'directory' },
    { name: 'd/f', content: 'ok' },
    { name: 'd', type: 'symlink', linkname: outside },
    { name: 'd/victim', content: 'pwned' },
  ], /parent "d" is a symlink/);
});

test('advisory: unicode and case variants of a symlink name are distinct paths, never the link', async () => {
  const nfc = 'caf\u00e9';
  const nfd = 'cafe\u0301';
  const dir = fresh('layer');
  const outside = fresh('outside');
  const l = await makeLayerFile(path.join(tmp, `blob-${n++}`), [
    { name: nfc, type: 'symlink', linkname: outside },
    { name: `${nfd}/x`, content: 'nfd' },
    { name: 'FOO', type: 'symlink', linkname: outside },
    { name: 'foo/x', content: 'lower' },
  ]);
  await unpackLayer(l, dir, fsops);
  assert.equal(fs.readdirSync(outside), []);
  assert.ok(fs.lstatSync(path.join(dir, nfc)).isSymbolicLink());
  assert.is(fs.readFileSync(path.join(dir, nfd, 'x'), 'utf8'), 'nfd');
  assert.is(fs.readFileSync(path.join(dir, 'foo/x'), 'utf8'), 'lower');
  // And the NFC spelling itself, behind the link, is refused.
  await unpackFails((o) => [{ name: nfc, type: 'symlink', linkname: o }, { name: `${nfc}/victim`, content: 'x' }], /is a symlink/);
});

test('entries with ".." are refused; absolute names stay inside the layer', async () => {
  await unpackFails(() => [{ name: '../victim', content: 'x' }], /escapes the layer root/);
  await unpackFails(() => [{ name: 'a/../../victim', content: 'x' }], /escapes the layer root/);
  const marker = `/trun-bundle-test-${process.pid}`;
  const { dir } = await unpack([{ name: `${marker}/file`, content: 'in' }]);
  assert.not.ok(fs.existsSync(marker));
  assert.is(fs.readFileSync(path.join(dir, marker, 'file'), 'utf8'), 'in');
});

test('a corrupt, truncated or mislabelled blob is a clear error', async () => {
  const entries: CraftedEntry[] = [{ name: 'f', content: 'x'.repeat(100_000) }];
  const good = await makeLayerFile(path.join(tmp, `blob-${n++}`), entries);
  const bytes = fs.readFileSync(good.file);
  // Truncated gzip stream.
  const truncated = path.join(tmp, `trunc-${n++}`);
  fs.writeFileSync(truncated, bytes.subarray(0, bytes.length - 40));
  await rejects(unpackLayer({ ...good, file: truncated }, fresh('layer'), fsops), /corrupt or truncated|size \d+ does not match/);
  // One flipped byte in the middle: gzip's CRC or our digest catches it.
  const flipped = Buffer.from(bytes);
  flipped[Math.floor(flipped.length / 2)] ^= 0xff;
  const corrupt = path.join(tmp, `corrupt-${n++}`);
  fs.writeFileSync(corrupt, flipped);
  await rejects(unpackLayer({ ...good, file: corrupt }, fresh('layer'), fsops), /corrupt/);
  // Intact blob, wrong diffID in the config.
  await rejects(unpackLayer({ ...good, diffID: sha256('other') }, fresh('layer'), fsops), /\(uncompressed\): digest .* does not match/);
  // Uncompressed tar works too.
  const raw = path.join(tmp, `raw-${n++}`);
  const tarBytes = await makeTar(entries);
  fs.writeFileSync(raw, tarBytes);
  const d = fresh('layer');
  await unpackLayer({ file: raw, digest: sha256(tarBytes), size: tarBytes.length, diffID: sha256(tarBytes) }, d, fsops);
  assert.is(fs.statSync(path.join(d, 'f')).size, 100_000);
  void gzip;
});

test('zstd layers go through zstd(1) when it is installed', async () => {
  const tarBytes = await makeTar([{ name: 'z/file', content: 'zstd content' }]);
  const raw = path.join(tmp, `zraw-${n++}`);
  fs.writeFileSync(raw, tarBytes);
  const z = spawnSync('zstd', ['-q', '-c', raw]);
  if (z.error) {
    console.log('  (skipping zstd: the zstd program is not installed; such layers fail with a clear error)');
    return;
  }
  const file = path.join(tmp, `zst-${n++}`);
  fs.writeFileSync(file, z.stdout);
  const d = fresh('layer');
  await unpackLayer({ file, digest: sha256(z.stdout), size: z.stdout.length, diffID: sha256(tarBytes) }, d, fsops);
  assert.is(fs.readFileSync(path.join(d, 'z/file'), 'utf8'), 'zstd content');
});

test.run();
