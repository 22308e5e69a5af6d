// The image store through the trun-bundle CLI (root): import of OCI layouts, oci-archives and
// docker save tarballs, export, images, rmi and gc, progress output, and bad input of every kind,
// each a clear error that leaves the store and the bundle directory as they were.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tar from 'tar-stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Store } from '../../bundle-tools/lib/store';
import { makeBusyboxRootfs } from '../helpers/rootfs';
import { makeOciLayout, makeTar, mountsBelow, sha256, snapshotTree, unmountAll, type CraftedEntry } from '../helpers/tarballs';
import { bundleCli, bundleOk } from '../helpers/bundle-cli';

const ROOT = path.resolve(__dirname, '../..');
const CLI = path.join(ROOT, 'dist/trun-bundle.js');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'trun-bundle-store-'));
let n = 0;


const cli = bundleCli;
const ok = bundleOk;

function fails(store: string, pattern: RegExp, ...args: string[]): string {
  const r = cli(store, ...args);
  assert.is(r.status, 1, `expected failure of ${args.join(' ')}, got ${r.status}: ${r.stdout}`);
  assert.match(r.stderr, /^trun-bundle: /);
  assert.match(r.stderr, pattern);
  assert.not.match(r.stderr, /\n\s+at /); // a message, not a stack trace
  return r.stderr;
}

function fresh(name: string): string {
  return path.join(tmp, `${name}-${n++}`);
}

/** Everything that must not change when an operation fails: index.json bytes, blobs, layers, tmp. */
function storeState(store: string): string {
  const list = (d: string) => (fs.existsSync(path.join(store, d)) ? fs.readdirSync(path.join(store, d)).sort().join(',') : '');
  return JSON.stringify({
    index: fs.readFileSync(path.join(store, 'index.json'), 'utf8'),
    blobs: list('blobs/sha256'), layers: list('layers'), tmp: list('tmp'), bundles: list('bundles'),
  });
}

const BASE: CraftedEntry[] = [
  { name: 'etc/', type: 'directory' },
  { name: 'etc/passwd', content: 'root:x:0:0:root:/root:/bin/sh\nsvc:x:42:42::/srv:/bin/sh\n' },
  { name: 'etc/group', content: 'root:x:0:\nsvc:x:42:\nextra:x:77:svc\n' },
  { name: 'srv/', type: 'directory', uid: 42, gid: 42 },
  { name: 'srv/data/', type: 'directory' },
  { name: 'srv/data/seed', content: 'seed' },
];

test.after(() => {
  unmountAll(tmp);
  fs.rmSync(tmp, { recursive: true, force: true });
});

test('import an OCI layout, list it, export it, import the archive elsewhere, create a bundle', async () => {
  const store = fresh('store');
  const layout = fresh('layout');
  const built = await makeOciLayout(layout, 'example.com/app:1.0', [{ entries: BASE }, { entries: [{ name: 'srv/data/more', content: 'm' }], compress: false }], {
    config: { Entrypoint: ['/app'], Cmd: ['--serve'], User: 'svc', WorkingDir: '/srv', Env: ['MODE=prod'], Labels: { team: 'core' }, StopSignal: 'SIGTERM', Volumes: { '/srv/data': {} } },
  });
  assert.is(ok(store, 'import', layout), `imported example.com/app:1.0 (image id ${built.configDigest})\n`, 'the id `images` shows');
  const images = ok(store, 'images');
  assert.match(images, /^REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE\n/);
  assert.match(images, new RegExp(`example\\.com/app\\s+1\\.0\\s+${built.configDigest.slice(7, 19)}\\s`));

  const archive = fresh('app.tar');
  ok(store, 'export', 'example.com/app:1.0', archive);
  const other = fresh('store');
  ok(other, 'import', archive);
  assert.is(new Store(other).resolve('example.com/app:1.0').manifestDigest, built.manifestDigest);
  ok(other, 'import', archive, 'renamed/app:v9');
  assert.is(new Store(other).resolve('renamed/app:v9').manifestDigest, built.manifestDigest);
  // By id prefix and by digest as well as by tag.
  assert.is(new Store(other).resolve(built.configDigest.slice(7, 19)).manifestDigest, built.manifestDigest);

  const bundle = fresh('bundle');
  ok(store, 'create', 'example.com/app:1.0', bundle, '--env', 'EXTRA=1', '--hostname', 'apphost', '--mount', 'type=tmpfs,target=/run/app');
  const cfg = JSON.parse(fs.readFileSync(path.join(bundle, 'config.json'), 'utf8'));
  assert.equal(cfg.process.args, ['/app', '--serve']);
  assert.equal(cfg.process.user, { uid: 42, gid: 42, additionalGids: [77] });
  assert.is(cfg.process.cwd, '/srv');
  assert.ok(cfg.process.env.includes('MODE=prod') && cfg.process.env.includes('EXTRA=1'));
  assert.is(cfg.hostname, 'apphost');
  assert.is(cfg.annotations.team, 'core');
  const vol = cfg.mounts.find((m: { destination: string }) => m.destination === '/srv/data');
  assert.ok(vol && vol.type === 'bind' && fs.readFileSync(path.join(vol.source, 'seed'), 'utf8') === 'seed');
  assert.ok(fs.existsSync(path.join(vol.source, 'more')));
  assert.ok(cfg.mounts.some((m: { destination: string; type: string }) => m.destination === '/run/app' && m.type === 'tmpfs'));
  assert.ok(mountsBelow(bundle).length === 1);
  ok(store, 'rm', bundle);
  assert.not.ok(fs.existsSync(bundle));
});

async function dockerSaveTarball(file: string): Promise<{ configDigest: string }> {
  const layer1 = await makeTar(BASE);
  const layer2 = await makeTar([{ name: 'srv/.wh.data' }, { name: 'srv/fresh', content: 'f' }]);
  const config = Buffer.from(JSON.stringify({
    architecture: 'amd64', os: 'linux', config: { Cmd: ['/bin/true'] },
    rootfs: { type: 'layers', diff_ids: [sha256(layer1), sha256(layer2), sha256(layer1)] },
  }));
  const cfgName = `${sha256(config).slice(7)}.json`;
  const manifest = [{ Config: cfgName, RepoTags: ['saved/app:latest', 'saved/app:v1'], Layers: ['l1/layer.tar', 'l2/layer.tar', 'l3/layer.tar'] }];
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: unknown) => {
    chunks.push(c as Buffer);
  });
  const done = new Promise<void>((r) => pack.on('end', () => r()));
  const add = (name: string, data: Buffer | null, extra: Record<string, unknown> = {}) =>
    new Promise<void>((resolve, reject) => pack.entry({ name, ...extra } as Parameters<tar.Pack['entry']>[0], data ?? Buffer.alloc(0), (e) => (e ? reject(e) : resolve())));
  await add(cfgName, config);
  await add('l1/layer.tar', layer1);
  await add('l2/layer.tar', layer2);
  // docker save links a layer that appears twice instead of storing it again.
  await add('l3/layer.tar', null, { type: 'symlink', linkname: '../l1/layer.tar' });
  await add('manifest.json', Buffer.from(JSON.stringify(manifest)));
  pack.finalize();
  await done;
  fs.writeFileSync(file, Buffer.concat(chunks));
  return { configDigest: sha256(config) };
}

test('import a docker save tarball; its tags and image id are kept', async () => {
  const store = fresh('store');
  const file = fresh('saved.tar');
  const { configDigest } = await dockerSaveTarball(file);
  const out = ok(store, 'import', file);
  assert.match(out, /imported saved\/app:latest/);
  assert.match(out, /imported saved\/app:v1/);
  const img = new Store(store).resolve('saved/app:v1');
  assert.is(img.configDigest, configDigest);
  assert.is(img.manifest.layers.length, 3);
  assert.is(img.manifest.layers[0]!.mediaType, 'application/vnd.oci.image.layer.v1.tar');
  const bundle = fresh('bundle');
  ok(store, 'create', 'saved/app', bundle);
  assert.equal(snapshotTree(path.join(bundle, 'rootfs')).map((l) => l.split(' ').slice(0, 4).join(' ')), [
    'd 755 0:0 etc', 'f 644 0:0 etc/group', 'f 644 0:0 etc/passwd', 'd 755 42:42 srv', 'd 755 0:0 srv/data', 'f 644 0:0 srv/data/seed', 'f 644 0:0 srv/fresh',
  ]);
  ok(store, 'rm', bundle);
});

test('rmi refuses while a bundle uses the image, then removes tags, image and unused blobs', async () => {
  const store = fresh('store');
  const layout = fresh('layout');
  await makeOciLayout(layout, 'rmi/test:1', [{ entries: BASE }], { config: { Cmd: ['/x'] } });
  ok(store, 'import', layout);
  ok(store, 'import', layout, 'rmi/test:2');
  const bundle = fresh('bundle');
  ok(store, 'create', 'rmi/test:1', bundle);
  // Removing one of two tags is always fine.
  assert.match(ok(store, 'rmi', 'rmi/test:2'), /untagged: rmi\/test:2/);
  const before = storeState(store);
  fails(store, /image "rmi\/test:1" is used by bundle .*remove the bundle first or use --force/, 'rmi', 'rmi/test:1');
  assert.is(storeState(store), before);
  ok(store, 'rm', bundle);
  const out = ok(store, 'rmi', 'rmi/test:1');
  assert.match(out, /untagged: rmi\/test:1\ndeleted: sha256:/);
  assert.equal(fs.readdirSync(path.join(store, 'blobs/sha256')), []);
  assert.equal(fs.readdirSync(path.join(store, 'layers')), []);
  assert.equal(new Store(store).readIndex().manifests, []);
  fails(store, /not found/, 'rmi', 'rmi/test:1');
});

test('rmi --force keeps the layers a live bundle stacks', async () => {
  const store = fresh('store');
  const layout = fresh('layout');
  await makeOciLayout(layout, 'force/test:1', [{ entries: BASE }], { config: { Cmd: ['/x'] } });
  ok(store, 'import', layout);
  const bundle = fresh('bundle');
  ok(store, 'create', 'force/test:1', bundle);
  ok(store, 'rmi', '--force', 'force/test:1');
  assert.equal(fs.readdirSync(path.join(store, 'blobs/sha256')), []);
  assert.is(fs.readdirSync(path.join(store, 'layers')).length, 1);
  assert.is(fs.readFileSync(path.join(bundle, 'rootfs/srv/data/seed'), 'utf8'), 'seed');
  ok(store, 'rm', bundle);
  ok(store, 'gc');
  assert.equal(fs.readdirSync(path.join(store, 'layers')), []);
});

test('bad input: missing image, bad tag, corrupt or truncated blob, escaping entry, foreign bundle', async () => {
  const store = fresh('store');
  const layout = fresh('layout');
  const built = await makeOciLayout(layout, 'bad/test:1', [{ entries: BASE }], { config: { Cmd: ['/x'] } });
  ok(store, 'import', layout);
  // import unpacked the layer; without the cached copy, create reads the blob again.
  const dropLayers = (): void => fs.readdirSync(path.join(store, 'layers')).forEach((d) => fs.rmSync(path.join(store, 'layers', d), { recursive: true }));
  dropLayers();
  const clean = storeState(store);

  const bundle = fresh('bundle');
  fails(store, /image "no\/such:latest" not found in store/, 'create', 'no/such', bundle);
  fails(store, /invalid reference "Bad:Tag!": bad tag "Tag!"/, 'create', 'Bad:Tag!', bundle);
  assert.not.ok(fs.existsSync(bundle));
  assert.is(storeState(store), clean);

  // A blob changed on disk after import: caught when read, nothing half-made remains.
  const blob = new Store(store).blobPath(built.layerDigests[0]!);
  const good = fs.readFileSync(blob);
  const flipped = Buffer.from(good);
  flipped[flipped.length - 12] ^= 0x55;
  fs.writeFileSync(blob, flipped);
  fails(store, /layer sha256:[0-9a-f]{64}.*corrupt/, 'create', 'bad/test:1', bundle);
  assert.not.ok(fs.existsSync(bundle));
  fs.writeFileSync(blob, good.subarray(0, good.length - 30));
  fails(store, /corrupt or truncated|size \d+ does not match/, 'create', 'bad/test:1', bundle);
  fs.writeFileSync(blob, good);
  assert.is(storeState(store), clean);
  // A corrupt manifest blob.
  const mblob = new Store(store).blobPath(built.manifestDigest);
  const mgood = fs.readFileSync(mblob);
  fs.writeFileSync(mblob, Buffer.concat([mgood.subarray(0, mgood.length - 1), Buffer.from(' ')]));
  fails(store, /manifest sha256:[0-9a-f]{64}: digest .* does not match/, 'images');
  fs.writeFileSync(mblob, mgood);

  // A corrupt source is refused at import, and the store keeps nothing of it.
  const badLayout = fresh('layout');
  const b2 = await makeOciLayout(badLayout, 'bad/src:1', [{ entries: [{ name: 'x', content: 'x'.repeat(5000) }] }], { config: { Cmd: ['/x'] } });
  const srcBlob = path.join(badLayout, 'blobs/sha256', b2.layerDigests[0]!.slice(7));
  fs.writeFileSync(srcBlob, fs.readFileSync(srcBlob).subarray(0, 100));
  fails(store, /corrupt or truncated/, 'import', badLayout);
  assert.is(storeState(store), clean);

  // A layer whose entry escapes the root: import (which unpacks) stops, the store keeps nothing.
  const evil = fresh('layout');
  await makeOciLayout(evil, 'bad/evil:1', [{ entries: [{ name: 'ok', content: 'fine' }, { name: '../../escaped', content: 'x' }] }], { config: { Cmd: ['/x'] } });
  fails(store, /layer entry "\.\.\/\.\.\/escaped": path escapes the layer root/, 'import', evil);
  assert.is(storeState(store), clean);
  assert.not.ok(fs.existsSync(bundle));
  assert.not.ok(fs.existsSync(path.join(tmp, 'escaped')));

  // commit --pause needs a container of trun on the bundle.
  const idle = fresh('bundle');
  ok(store, 'create', 'bad/test:1', idle);
  const st = storeState(store);
  fails(store, /--pause: no container of trun .* runs on bundle/, 'commit', '--pause', '--trun-root', fresh('state'), idle, 'bad/paused:1');
  assert.is(storeState(store), st);
  ok(store, 'rm', idle);

  // Directories that are not bundles made by trun-bundle.
  const plain = fresh('plain');
  fs.mkdirSync(plain);
  fs.writeFileSync(path.join(plain, 'config.json'), '{}');
  fails(store, /is not a trun-bundle bundle \(no trun-bundle\.json\)/, 'rm', plain);
  fails(store, /is not a trun-bundle bundle/, 'commit', plain, 'x:y');
  assert.ok(fs.existsSync(path.join(plain, 'config.json')));
  // A bundle directory that is not empty is not overwritten.
  fails(store, /bundle directory ".*" is not empty/, 'create', 'bad/test:1', plain);
  assert.ok(fs.existsSync(path.join(plain, 'config.json')));
  assert.equal(mountsBelow(tmp).filter((m) => m.startsWith(bundle) || m.startsWith(plain)), []);
});

test('rm refuses while a process runs on the bundle', async () => {
  const store = fresh('store');
  const rootfs = makeBusyboxRootfs(fresh('busybox'));
  ok(store, 'import-rootfs', rootfs, 'bb:1', '--change', 'CMD ["/bin/sh"]');
  const bundle = fresh('bundle');
  ok(store, 'create', 'bb:1', bundle);
  const child = spawn('chroot', [path.join(bundle, 'rootfs'), '/bin/sh', '-c', 'echo ready; exec cat'], { stdio: ['pipe', 'pipe', 'inherit'] });
  try {
    await new Promise<void>((resolve, reject) => {
      child.stdout.once('data', () => resolve());
      child.once('exit', () => reject(new Error('chroot exited early')));
    });
    fails(store, new RegExp(`in use by a running container \\(pid ${child.pid}\\)`), 'rm', bundle);
    assert.ok(fs.existsSync(path.join(bundle, 'rootfs/bin/busybox')));
  } finally {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
  }
  ok(store, 'rm', bundle);
  assert.not.ok(fs.existsSync(bundle));
});

test('a full disk in the middle of a commit is a clear error and leaves the store as it was', () => {
  const store = fresh('small-store');
  fs.mkdirSync(store);
  const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=3m', 'tmpfs', store], { encoding: 'utf8' });
  assert.is(m.status, 0, m.stderr);
  try {
    const rootfs = makeBusyboxRootfs(fresh('busybox'));
    ok(store, 'import-rootfs', rootfs, 'bb:1', '--change', 'CMD ["/bin/sh"]');
    const bundle = fresh('bundle');
    ok(store, 'create', 'bb:1', bundle);
    fs.writeFileSync(path.join(bundle, 'rootfs/big'), randomBytes(4 << 20)); // incompressible, more than is free
    const before = storeState(store);
    fails(store, /no space left on device/, 'commit', bundle, 'bb:2', '--quiet');
    assert.is(storeState(store), before);
    fails(store, /image "bb:2" not found/, 'create', 'bb:2', fresh('bundle'));
    ok(store, 'rm', bundle);
  } finally {
    unmountAll(store);
  }
});

test('progress: bytes and layers on a terminal, silent with --quiet or without a tty', async () => {
  const store = fresh('store');
  const layout = fresh('layout');
  await makeOciLayout(layout, 'progress/test:1', [{ entries: BASE }, { entries: [{ name: 'big', content: randomBytes(200_000).toString('hex') }] }], { config: { Cmd: ['/x'] } });
  const piped = cli(store, 'import', layout);
  assert.is(piped.status, 0);
  assert.is(piped.stderr, '');
  // A terminal through script(1); each store starts cold, so there is unpacking to show.
  const run = (args: string) => spawnSync('script', ['-qec', `${process.execPath} ${CLI} --store ${fresh('store')} ${args}`, '/dev/null'], { encoding: 'utf8' });
  const quiet = run(`import --quiet ${layout}`);
  assert.is(quiet.status, 0, quiet.stdout);
  assert.not.match(quiet.stdout, /import:/);
  const tty = run(`import ${layout}`);
  assert.is(tty.status, 0, tty.stdout);
  assert.match(tty.stdout, /import  \[[#.]+\]  [0-9.]+ (B|kB|MB) \/ [0-9.]+ (B|kB|MB)  [012]\/2 layers/);
});

test.run();
