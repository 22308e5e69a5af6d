// Whiteout spellings and entry-path rules of trun-bundle (pure, no root).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { TrunError } from '../../runtime/errors';
import { normalizeEntryPath, ensureParentDirs, readFileInRoot, resolveInRoot } from '../../bundle-tools/lib/path-safety';
import { classifyEntryName, isLayerXattr, isOpaqueValue, isOverlayWhiteout, whiteoutName } from '../../bundle-tools/lib/whiteout';

test('classifies OCI whiteout names', () => {
  assert.equal(classifyEntryName('.wh.foo'), { kind: 'whiteout', target: 'foo' });
  assert.equal(classifyEntryName('.wh..wh..opq'), { kind: 'opaque' });
  assert.equal(classifyEntryName('.wh..wh.plnk'), { kind: 'meta' });
  assert.equal(classifyEntryName('.wh.'), { kind: 'meta' });
  assert.equal(classifyEntryName('.wh...'), { kind: 'meta' });
  assert.equal(classifyEntryName('foo.wh.bar'), { kind: 'regular' });
  assert.equal(classifyEntryName('.whfoo'), { kind: 'regular' });
  assert.is(whiteoutName('x y'), '.wh.x y');
});

test('recognises overlayfs whiteouts and opaque values', () => {
  const stat = (chr: boolean, rdev: number) => ({ isCharacterDevice: () => chr, rdev });
  assert.ok(isOverlayWhiteout(stat(true, 0)));
  assert.not.ok(isOverlayWhiteout(stat(true, 0x103))); // /dev/null-like device is a real device
  assert.not.ok(isOverlayWhiteout(stat(false, 0)));
  assert.ok(isOpaqueValue(Buffer.from('y')));
  assert.not.ok(isOpaqueValue(Buffer.from('x'))); // "x": holds xattr whiteouts, not opaque
  assert.not.ok(isOpaqueValue(undefined));
  assert.not.ok(isLayerXattr('trusted.overlay.redirect'));
  assert.not.ok(isLayerXattr('trusted.overlay.opaque'));
  assert.ok(isLayerXattr('security.capability'));
  assert.ok(isLayerXattr('user.foo'));
});

test('normalises entry paths and refuses ".."', () => {
  assert.is(normalizeEntryPath('./etc/passwd'), 'etc/passwd');
  assert.is(normalizeEntryPath('/etc//passwd'), 'etc/passwd');
  assert.is(normalizeEntryPath('etc/'), 'etc');
  assert.is(normalizeEntryPath('./'), '');
  for (const bad of ['../x', 'a/../../x', 'a/..', '/../etc/passwd', 'a/../b']) {
    try {
      normalizeEntryPath(bad);
      assert.unreachable(`accepted ${bad}`);
    } catch (err) {
      assert.instance(err, TrunError);
      assert.is((err as TrunError).code, 'EIMAGE');
      assert.match((err as Error).message, /escapes the layer root/);
      assert.match((err as Error).message, JSON.stringify(bad));
    }
  }
  assert.throws(() => normalizeEntryPath('a\0b'), /NUL/);
});

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'trun-bundle-unit-'));
test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));

test('ensureParentDirs creates directories but never goes through a symlink', () => {
  const root = fs.mkdtempSync(path.join(tmp, 'r'));
  const outside = fs.mkdtempSync(path.join(tmp, 'o'));
  ensureParentDirs(root, 'a/b/c');
  assert.ok(fs.statSync(path.join(root, 'a/b')).isDirectory());
  fs.symlinkSync(outside, path.join(root, 'link'));
  assert.throws(() => ensureParentDirs(root, 'link/x'), /parent "link" is a symlink/);
  assert.throws(() => ensureParentDirs(root, 'link/new/x'), /is a symlink/);
  assert.equal(fs.readdirSync(outside), []);
  fs.writeFileSync(path.join(root, 'file'), '');
  assert.throws(() => ensureParentDirs(root, 'file/x'), /not a directory/);
  assert.throws(() => ensureParentDirs(root, 'missing/x', false), /does not exist/);
});

test('resolveInRoot keeps absolute and ".." symlinks inside the root', () => {
  const root = fs.mkdtempSync(path.join(tmp, 'chroot'));
  const hostDir = fs.mkdtempSync(path.join(tmp, 'host'));
  fs.writeFileSync(path.join(hostDir, 'passwd'), 'host:x:0:0::/:/bin/sh\n');
  fs.mkdirSync(path.join(root, 'etc'));
  fs.mkdirSync(path.join(root, 'real'));
  fs.writeFileSync(path.join(root, 'real/passwd'), 'img:x:5:5::/:/bin/sh\n');
  // An absolute link to the host's copy must land on the image's /<hostDir>/passwd, which is absent.
  fs.symlinkSync(path.join(hostDir, 'passwd'), path.join(root, 'etc/passwd'));
  assert.is(readFileInRoot(root, '/etc/passwd'), null);
  fs.rmSync(path.join(root, 'etc/passwd'));
  fs.symlinkSync('../../../../../../real/passwd', path.join(root, 'etc/passwd'));
  assert.is(readFileInRoot(root, '/etc/passwd'), 'img:x:5:5::/:/bin/sh\n');
  fs.rmSync(path.join(root, 'etc/passwd'));
  fs.symlinkSync('/real/passwd', path.join(root, 'etc/passwd'));
  assert.is(resolveInRoot(root, '/etc/passwd'), path.join(root, 'real/passwd'));
  fs.symlinkSync('loop', path.join(root, 'loop'));
  assert.throws(() => resolveInRoot(root, '/loop'), /too many levels/);
});

test.run();
