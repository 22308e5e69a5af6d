// Commit round trips on real overlay mounts (root): changes made in a bundle's rootfs (as a
// container's writes would be) become one layer whose whiteouts reproduce them exactly in a
// fresh bundle; and docker's Tomcat walkthrough with busybox, run with trun when it can.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import * as tar from 'tar-stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FsOps } from '../../bundle-tools/lib/fsops';
import { Store } from '../../bundle-tools/lib/store';
import { makeBusyboxRootfs } from '../helpers/rootfs';
import { snapshotTree, unmountAll } from '../helpers/tarballs';

const ROOT = path.resolve(__dirname, '../..');
const CLI = path.join(ROOT, 'dist/trun-bundle.js');
const TRUN = path.join(ROOT, 'dist/trun.js');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'trun-bundle-commit-'));
const store = path.join(tmp, 'store');
let n = 0;
const ops = new FsOps();

function cli(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, '--store', store, ...args], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function ok(...args: string[]): string {
  const r = cli(...args);
  if (r.status !== 0) throw new Error(`trun-bundle ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

function bundlePath(): string {
  return path.join(tmp, `bundle-${n++}`);
}

function trunRun(bundle: string): { status: number | null; stdout: string; stderr: string } {
  const id = `tb-${process.pid}-${n++}`;
  const r = spawnSync(process.execPath, [TRUN, '--root', path.join(tmp, 'trun-state'), 'run', '--bundle', bundle, id], { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

async function layerEntries(digest: string): Promise<string[]> {
  const s = new Store(store);
  const names: string[] = [];
  const ex = tar.extract();
  const done = (async () => {
    for await (const e of ex) {
      names.push(e.header.name);
      e.resume();
    }
  })();
  ex.end(zlib.gunzipSync(fs.readFileSync(s.blobPath(digest))));
  await done;
  return names;
}

test.before(() => {
  const rootfs = makeBusyboxRootfs(path.join(tmp, 'busybox-rootfs'));
  fs.mkdirSync(path.join(rootfs, 'srv/webapps.dist/ROOT'), { recursive: true });
  fs.writeFileSync(path.join(rootfs, 'srv/webapps.dist/ROOT/index.html'), 'hello from webapps.dist\n');
  fs.mkdirSync(path.join(rootfs, 'srv/webapps'), { recursive: true });
  fs.writeFileSync(path.join(rootfs, 'srv/webapps/placeholder'), 'empty\n');
  ok('import-rootfs', rootfs, 'busybox:test', '--change', 'CMD ["/bin/sh"]');
});

test.after(async () => {
  await ops.close();
  unmountAll(tmp);
  fs.rmSync(tmp, { recursive: true, force: true });
});

test('a bundle that adds, changes and deletes files commits to a layer that reproduces exactly those changes', async () => {
  const b1 = bundlePath();
  ok('create', 'busybox:test', b1, '--quiet');
  const r1 = path.join(b1, 'rootfs');
  const before = snapshotTree(r1, { mtime: true });

  // Additions.
  fs.writeFileSync(path.join(r1, 'etc/added'), 'new file\n', { mode: 0o600 });
  fs.chownSync(path.join(r1, 'etc/added'), 1000, 1000);
  fs.mkdirSync(path.join(r1, 'opt/app/data'), { recursive: true });
  fs.writeFileSync(path.join(r1, 'opt/app/data/one'), '1');
  fs.linkSync(path.join(r1, 'opt/app/data/one'), path.join(r1, 'opt/app/data/one-again'));
  fs.symlinkSync('/opt/app/data/one', path.join(r1, 'opt/app/link'));
  spawnSync('mkfifo', [path.join(r1, 'opt/app/fifo')]);
  const long = `${'deep/'.repeat(30)}name-longer-than-a-ustar-header-can-hold`;
  fs.mkdirSync(path.dirname(path.join(r1, long)), { recursive: true });
  fs.writeFileSync(path.join(r1, long), 'long');
  fs.writeFileSync(path.join(r1, 'opt/caf\u00e9'), 'unicode');
  // Changes.
  fs.appendFileSync(path.join(r1, 'etc/passwd'), 'app:x:2000:2000::/opt/app:/bin/sh\n');
  fs.chmodSync(path.join(r1, 'etc/group'), 0o4755);
  await ops.setxattr(path.join(r1, 'etc/group'), 'user.origin', Buffer.from([0xde, 0xad, 0xbe, 0xef]));
  // Deletions: a file, a symlink, a whole directory, and a directory emptied and recreated (opaque).
  fs.rmSync(path.join(r1, 'bin/ls'));
  fs.rmSync(path.join(r1, 'home'), { recursive: true });
  fs.rmSync(path.join(r1, 'usr/sbin'), { recursive: true });
  fs.mkdirSync(path.join(r1, 'usr/sbin'));
  fs.writeFileSync(path.join(r1, 'usr/sbin/only-this'), 'x');
  const changed = snapshotTree(r1, { mtime: true });
  assert.not.equal(changed, before);

  const out = ok('commit', b1, 'busybox:changed', '--author', 'Tester <t@example.com>', '--message', 'round trip', '--quiet');
  assert.match(out, /^sha256:[0-9a-f]{64}\n$/);
  const s = new Store(store);
  const img = s.resolve('busybox:changed');
  const base = s.resolve('busybox:test');
  assert.is(img.manifest.layers.length, base.manifest.layers.length + 1);
  assert.is(img.config.rootfs.diff_ids.length, 2);
  assert.is(`sha256:${out.trim().slice(7)}`, img.configDigest);
  const last = img.config.history![img.config.history!.length - 1]!;
  assert.is(last.author, 'Tester <t@example.com>');
  assert.is(last.comment, 'round trip');
  assert.is(img.config.author, 'Tester <t@example.com>');

  const names = await layerEntries(img.manifest.layers[1]!.digest);
  for (const want of ['bin/.wh.ls', '.wh.home', 'usr/sbin/', 'usr/sbin/.wh..wh..opq', 'etc/added', 'opt/app/data/one-again']) {
    assert.ok(names.includes(want), `layer lacks ${want}: ${names.join(' ')}`);
  }
  assert.ok(names.indexOf('usr/sbin/.wh..wh..opq') < names.indexOf('usr/sbin/only-this'), 'the opaque marker comes before the directory content');
  assert.not.ok(names.some((x) => x.includes('trusted.overlay')));

  const b2 = bundlePath();
  ok('create', 'busybox:changed', b2, '--quiet');
  const r2 = path.join(b2, 'rootfs');
  assert.equal(snapshotTree(r2, { mtime: true }), changed);
  assert.is(fs.statSync(path.join(r2, 'opt/app/data/one')).ino, fs.statSync(path.join(r2, 'opt/app/data/one-again')).ino);
  assert.equal((await ops.listxattrs(path.join(r2, 'etc/group'))).get('user.origin'), Buffer.from([0xde, 0xad, 0xbe, 0xef]));
  ok('rm', b1, b2);
  assert.not.ok(fs.existsSync(b1));
  assert.not.ok(fs.existsSync(b2));
});

test('a second bundle of the same image unpacks nothing; an empty commit still makes an image', () => {
  const b1 = bundlePath();
  const b2 = bundlePath();
  const first = ok('create', 'busybox:test', b1);
  assert.match(first, /\(0 layers unpacked, 1 cached\)|\(1 layers unpacked, 0 cached\)/);
  const layers = fs.readdirSync(path.join(store, 'layers')).length;
  const second = ok('create', 'busybox:test', b2);
  assert.match(second, /\(0 layers unpacked, 1 cached\)/);
  assert.is(fs.readdirSync(path.join(store, 'layers')).length, layers);
  ok('commit', b2, 'busybox:empty-commit', '--quiet');
  assert.is(new Store(store).resolve('busybox:empty-commit').manifest.layers.length, 2);
  ok('rm', b1, b2);
});

test("docker commit's Tomcat walkthrough with busybox: delete a dir, rename another, commit, run the new tag", () => {
  const b1 = bundlePath();
  // The changes are made inside a container run by trun.
  ok('create', 'busybox:test', b1, '--quiet', '--network', 'none', '--args', '["/bin/sh","-c","rm -rf /srv/webapps && mv /srv/webapps.dist /srv/webapps"]');
  const r = trunRun(b1);
  assert.is(r.status, 0, `trun run failed: ${r.stderr}`);
  ok('commit', b1, 'busybox:v2', '--author', 'Jane Doe <jane@example.com>', '--message', 'webapps from webapps.dist',
    '--change', 'CMD ["/bin/cat", "/srv/webapps/ROOT/index.html"]', '--quiet');
  const img = new Store(store).resolve('busybox:v2');
  assert.equal(img.config.config!.Cmd, ['/bin/cat', '/srv/webapps/ROOT/index.html']);
  assert.is(img.config.history!.at(-1)!.comment, 'webapps from webapps.dist');
  assert.match(ok('images'), /busybox\s+v2\s+[0-9a-f]{12}/);

  const b2 = bundlePath();
  ok('create', 'busybox:v2', b2, '--quiet', '--network', 'none');
  const r2 = path.join(b2, 'rootfs');
  assert.not.ok(fs.existsSync(path.join(r2, 'srv/webapps.dist')));
  assert.not.ok(fs.existsSync(path.join(r2, 'srv/webapps/placeholder')));
  assert.is(fs.readFileSync(path.join(r2, 'srv/webapps/ROOT/index.html'), 'utf8'), 'hello from webapps.dist\n');
  const run2 = trunRun(b2);
  assert.is(run2.status, 0, `trun run failed: ${run2.stderr}`);
  assert.is(run2.stdout, 'hello from webapps.dist\n');
  ok('rm', b1, b2);
});

test.run();
