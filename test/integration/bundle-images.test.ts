// Images at the speed of tar (issue 10), through the trun-bundle CLI (root): import reads each
// layer once and leaves it unpacked in the layer cache, layers run in parallel, gzip, zstd and
// plain layers on import and commit, inspect and history.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { makeBusyboxRootfs } from '../helpers/rootfs';
import { makeTar, sha256, unmountAll, type CraftedEntry } from '../helpers/tarballs';
import { bundleCli, bundleOk } from '../helpers/bundle-cli';

const ROOT = path.resolve(__dirname, '../..');
const CLI = path.join(ROOT, 'dist/trun-bundle.js');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'trun-bundle-images-'));
let n = 0;

test.after(() => {
  unmountAll(tmp);
  fs.rmSync(tmp, { recursive: true, force: true });
});

function fresh(name: string): string {
  return path.join(tmp, `${name}-${n++}`);
}

const cli = bundleCli;
const ok = bundleOk;

function fails(store: string, pattern: RegExp, ...args: string[]): void {
  const r = cli(store, ...args);
  assert.is(r.status, 1, `expected failure of ${args.join(' ')}: ${r.stdout}`);
  assert.match(r.stderr, pattern);
  assert.not.match(r.stderr, /\n\s+at /);
}

function listing(store: string, dir: string): string[] {
  const d = path.join(store, dir);
  return fs.existsSync(d) ? fs.readdirSync(d).sort() : [];
}

type Kind = 'gzip' | 'zstd' | 'none';
const MEDIA: Record<Kind, string> = {
  gzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  zstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  none: 'application/vnd.oci.image.layer.v1.tar',
};

/** Compresses a tar with the real tools: gzip(1) and zstd(1), so the blobs are what others make. */
function compress(raw: Buffer, kind: Kind): Buffer {
  if (kind === 'none') return raw;
  const r = spawnSync(kind, ['-c', '-q'], { input: raw, maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`${kind}: ${r.stderr}`);
  return r.stdout;
}

interface Layout {
  dir: string;
  diffIDs: string[];
  layerDigests: string[];
}

/** An OCI layout of one image whose layers are compressed as asked; `lie` replaces a diffID. */
async function layout(ref: string, layers: Array<{ entries: CraftedEntry[]; kind: Kind }>, opts: { lie?: number } = {}): Promise<Layout> {
  const dir = fresh('layout');
  const blobs = path.join(dir, 'blobs/sha256');
  fs.mkdirSync(blobs, { recursive: true });
  const put = (b: Buffer): string => {
    const d = sha256(b);
    fs.writeFileSync(path.join(blobs, d.slice(7)), b);
    return d;
  };
  const diffIDs: string[] = [];
  const descs = [];
  for (const [i, l] of layers.entries()) {
    const raw = await makeTar(l.entries);
    diffIDs.push(opts.lie === i ? sha256(`not ${i}`) : sha256(raw));
    const blob = compress(raw, l.kind);
    descs.push({ mediaType: MEDIA[l.kind], digest: put(blob), size: blob.length });
  }
  const cfg = Buffer.from(JSON.stringify({
    created: '2024-01-01T00:00:00Z', architecture: 'amd64', os: 'linux', author: 'tester',
    config: { Cmd: ['/bin/sh'], Env: ['PATH=/bin'] },
    rootfs: { type: 'layers', diff_ids: diffIDs },
    history: layers.map((_, i) => ({ created: `2024-01-0${i + 1}T00:00:00Z`, created_by: `step ${i}` })),
  }));
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: put(cfg), size: cfg.length }, layers: descs,
  }));
  const md = put(manifest);
  fs.writeFileSync(path.join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  fs.writeFileSync(path.join(dir, 'index.json'), JSON.stringify({
    schemaVersion: 2,
    manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: md, size: manifest.length, annotations: { 'org.opencontainers.image.ref.name': ref } }],
  }));
  return { dir, diffIDs, layerDigests: descs.map((d) => d.digest) };
}

const BASE: CraftedEntry[] = [
  { name: 'etc/', type: 'directory' },
  { name: 'etc/passwd', content: 'root:x:0:0:root:/root:/bin/sh\n' },
  { name: 'etc/group', content: 'root:x:0:\n' },
  { name: 'data/', type: 'directory' },
  { name: 'data/base', content: 'base '.repeat(20_000) },
];

test('import unpacks each layer in the read that checks it: the first create unpacks nothing', async () => {
  const store = fresh('store');
  const l = await layout('one/pass:1', [{ entries: BASE, kind: 'gzip' }, { entries: [{ name: 'data/top', content: 'top' }], kind: 'gzip' }]);
  ok(store, 'import', l.dir);
  assert.equal(listing(store, 'layers'), l.diffIDs.map((d) => d.slice(7)).sort());
  assert.equal(listing(store, 'tmp'), []);
  const bundle = fresh('bundle');
  assert.match(ok(store, 'create', 'one/pass:1', bundle), /\(0 layers unpacked, 2 cached\)/);
  assert.is(fs.readFileSync(path.join(bundle, 'rootfs/data/top'), 'utf8'), 'top');
  ok(store, 'rm', bundle);
});

test('a layer whose diffID does not match leaves nothing in the store: no blob, no layer, no tmp', async () => {
  const store = fresh('store');
  const good = await layout('good/one:1', [{ entries: BASE, kind: 'gzip' }]);
  ok(store, 'import', good.dir);
  const before = { blobs: listing(store, 'blobs/sha256'), layers: listing(store, 'layers'), index: fs.readFileSync(path.join(store, 'index.json'), 'utf8') };
  // The first layer is fine (and unpacked by then), the second lies about its diffID.
  const bad = await layout('bad/one:1', [{ entries: [{ name: 'a', content: 'a'.repeat(50_000) }], kind: 'gzip' }, { entries: [{ name: 'b', content: 'b' }], kind: 'gzip' }], { lie: 1 });
  fails(store, /\(uncompressed\): digest sha256:[0-9a-f]{64} does not match/, 'import', bad.dir);
  assert.equal(listing(store, 'blobs/sha256'), before.blobs);
  assert.equal(listing(store, 'layers'), before.layers);
  assert.equal(listing(store, 'tmp'), []);
  assert.is(fs.readFileSync(path.join(store, 'index.json'), 'utf8'), before.index);
  void zlib;
});

test('gzip, zstd (made by zstd(1)) and plain layers import and unpack into one tree', async () => {
  const store = fresh('store');
  const l = await layout('mixed/kinds:1', [
    { entries: BASE, kind: 'gzip' },
    { entries: [{ name: 'data/z', content: 'zstd layer '.repeat(1000) }], kind: 'zstd' },
    { entries: [{ name: 'data/plain', content: 'plain layer' }, { name: 'data/.wh.base' }], kind: 'none' },
  ]);
  ok(store, 'import', l.dir);
  const bundle = fresh('bundle');
  ok(store, 'create', 'mixed/kinds:1', bundle);
  const rootfs = path.join(bundle, 'rootfs');
  assert.is(fs.readFileSync(path.join(rootfs, 'data/z'), 'utf8'), 'zstd layer '.repeat(1000));
  assert.is(fs.readFileSync(path.join(rootfs, 'data/plain'), 'utf8'), 'plain layer');
  assert.not.ok(fs.existsSync(path.join(rootfs, 'data/base')));
  // The same from the blobs alone (cache dropped): create unpacks all three kinds again.
  ok(store, 'rm', bundle);
  for (const d of listing(store, 'layers')) fs.rmSync(path.join(store, 'layers', d), { recursive: true });
  const again = fresh('bundle');
  assert.match(ok(store, 'create', 'mixed/kinds:1', again), /\(3 layers unpacked, 0 cached\)/);
  assert.is(fs.readFileSync(path.join(again, 'rootfs/data/z'), 'utf8'), 'zstd layer '.repeat(1000));
  ok(store, 'rm', again);
});

test('commit --compression gzip|zstd|none: blobs the real tools accept, media types to match, images that run', async () => {
  const store = fresh('store');
  const l = await layout('commit/base:1', [{ entries: BASE, kind: 'gzip' }]);
  ok(store, 'import', l.dir);
  const bundle = fresh('bundle');
  ok(store, 'create', 'commit/base:1', bundle);
  fs.writeFileSync(path.join(bundle, 'rootfs/data/new'), 'committed '.repeat(5000));
  fs.rmSync(path.join(bundle, 'rootfs/data/base'));
  const check: Record<Kind, (blob: string) => void> = {
    gzip: (b) => assert.is(spawnSync('gzip', ['-t', b]).status, 0, 'gzip -t'),
    zstd: (b) => assert.is(spawnSync('zstd', ['-t', '-q', b]).status, 0, 'zstd -t'),
    none: (b) => assert.is(spawnSync('tar', ['-tf', b]).status, 0, 'tar -tf'),
  };
  for (const kind of ['gzip', 'zstd', 'none'] as const) {
    const args = kind === 'gzip' ? [] : ['--compression', kind];
    ok(store, 'commit', bundle, `commit/out:${kind}`, ...args);
    const index = JSON.parse(fs.readFileSync(path.join(store, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string; annotations?: Record<string, string> }> };
    const entry = index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === `commit/out:${kind}`)!;
    const manifest = JSON.parse(fs.readFileSync(path.join(store, 'blobs/sha256', entry.digest.slice(7)), 'utf8')) as { layers: Array<{ mediaType: string; digest: string }>; config: { digest: string } };
    const top = manifest.layers[manifest.layers.length - 1]!;
    assert.is(top.mediaType, MEDIA[kind]);
    const blob = path.join(store, 'blobs/sha256', top.digest.slice(7));
    check[kind](blob);
    const config = JSON.parse(fs.readFileSync(path.join(store, 'blobs/sha256', manifest.config.digest.slice(7)), 'utf8')) as { rootfs: { diff_ids: string[] } };
    if (kind === 'none') assert.is(config.rootfs.diff_ids[1], top.digest);
    // A fresh store through export and import: the layer is read by the importer, not our cache.
    const archive = fresh(`out-${kind}.tar`);
    ok(store, 'export', `commit/out:${kind}`, archive);
    const other = fresh('store');
    ok(other, 'import', archive);
    const b2 = fresh('bundle');
    ok(other, 'create', `commit/out:${kind}`, b2);
    assert.is(fs.readFileSync(path.join(b2, 'rootfs/data/new'), 'utf8'), 'committed '.repeat(5000));
    assert.not.ok(fs.existsSync(path.join(b2, 'rootfs/data/base')));
    ok(other, 'rm', b2);
  }
  fails(store, /--compression: "lz4" is not one of gzip, zstd, none/, 'commit', bundle, 'commit/out:lz4', '--compression', 'lz4');
  ok(store, 'rm', bundle);
});

test('inspect and history of an image: config, layers (unpacked or not), history with author and message', async () => {
  const store = fresh('store');
  const l = await layout('hist/base:1', [{ entries: BASE, kind: 'gzip' }, { entries: [{ name: 'data/z', content: 'z' }], kind: 'zstd' }]);
  ok(store, 'import', l.dir);
  const bundle = fresh('bundle');
  ok(store, 'create', 'hist/base:1', bundle);
  fs.writeFileSync(path.join(bundle, 'rootfs/data/c'), 'c');
  const id = ok(store, 'commit', bundle, 'hist/top:2', '--author', 'Ann <ann@example.org>', '--message', 'add c', '--change', 'ENV Y=2').trim();
  const [img] = JSON.parse(ok(store, 'inspect', 'hist/top:2')) as Array<Record<string, unknown>>;
  assert.is(img!.Id, id);
  assert.equal(img!.RepoTags, ['hist/top:2']);
  assert.is(img!.Author, 'Ann <ann@example.org>');
  assert.equal((img!.Config as { Env: string[] }).Env, ['PATH=/bin', 'Y=2']);
  const layers = img!.Layers as Array<{ MediaType: string; DiffID: string; Unpacked: boolean }>;
  assert.equal(layers.map((x) => x.MediaType), [MEDIA.gzip, MEDIA.zstd, MEDIA.gzip]);
  assert.equal(layers.map((x) => x.DiffID).slice(0, 2), l.diffIDs);
  assert.equal(layers.map((x) => x.Unpacked), [true, true, false]); // a commit's layer is unpacked by its first bundle
  assert.is((img!.History as unknown[]).length, 3);
  // history: newest first, the commit's author and message on its row.
  const table = ok(store, 'history', 'hist/top:2').trimEnd().split('\n');
  assert.match(table[0]!, /^LAYER +CREATED +CREATED BY +SIZE +AUTHOR +COMMENT$/);
  assert.is(table.length, 4);
  assert.match(table[1]!, /^[0-9a-f]{12} .*trun-bundle commit --change 'ENV Y=2'.*Ann <ann@example.org> +add c$/);
  assert.match(table[3]!, /^[0-9a-f]{12} +2024-01-01T00:00:00Z +step 0 /);
  const fmt = ok(store, 'history', 'hist/top:2', '--format', '{{.Layer}}|{{.CreatedBy}}|{{.Author}}').trim().split('\n');
  assert.is(fmt[0], `${(img!.Layers as Array<{ Digest: string }>)[2]!.Digest}|trun-bundle commit --change 'ENV Y=2'|Ann <ann@example.org>`);
  assert.is(ok(store, 'inspect', '--format', '{{.Id}} {{join .RepoTags ","}} {{json .RootFS.Layers}}', 'hist/base:1').trim(),
    `${JSON.parse(ok(store, 'inspect', 'hist/base:1'))[0].Id} hist/base:1 ${JSON.stringify(l.diffIDs)}`);
  fails(store, /image "no\/such:latest" not found/, 'inspect', 'no/such');
  fails(store, /image "no\/such:latest" not found/, 'history', 'no/such');
  fails(store, /--format .*unsupported action/, 'inspect', '--format', '{{range .Layers}}{{end}}', 'hist/base:1');
  ok(store, 'rm', bundle);
});

test('inspect of a bundle: image, mounts with volume names, network, and the container state trun keeps', async () => {
  const store = fresh('store');
  const rootfs = makeBusyboxRootfs(fresh('busybox'));
  ok(store, 'import-rootfs', rootfs, 'bb:1', '--change', 'CMD ["/bin/sh"]');
  const hostDir = fresh('host');
  fs.mkdirSync(hostDir);
  const bundle = fresh('bundle');
  ok(store, 'create', 'bb:1', bundle, '--network', 'none', '-v', 'namedvol:/data', '-v', `${hostDir}:/host:ro`, '--tmpfs', '/scratch', '--hostname', 'box', '--', 'sleep', '30');
  const trunRoot = fresh('state');
  const inspectIt = () => (JSON.parse(ok(store, 'inspect', '--trun-root', trunRoot, bundle)) as Array<Record<string, any>>)[0]!;
  let b = inspectIt();
  assert.is(b.Path, bundle);
  assert.is(b.Image, 'bb:1');
  assert.is(b.RootFS.Mounted, true);
  assert.equal(b.Config.Args, ['sleep', '30']);
  assert.equal(b.Mounts.map((m: Record<string, unknown>) => [m.Type, m.Name ?? null, m.Destination, m.RW]), [
    ['volume', 'namedvol', '/data', true], ['bind', null, '/host', false], ['tmpfs', null, '/scratch', true],
  ]);
  assert.is(b.Mounts[1].Source, hostDir);
  assert.equal(b.Network, { Mode: 'none', Ports: [], Links: [], Hostname: 'box' });
  assert.is(b.State, null);
  // A container of trun on the bundle: created, then gone.
  const id = `insp-${process.pid}-${n++}`;
  const trun = (...args: string[]) => spawnSync(process.execPath, [path.join(ROOT, 'dist/trun.js'), '--root', trunRoot, ...args], { encoding: 'utf8', timeout: 60_000 });
  const c = trun('create', '--bundle', bundle, id);
  assert.is(c.status, 0, c.stderr);
  try {
    b = inspectIt();
    assert.is(b.State.Id, id);
    assert.is(b.State.Status, 'created');
    assert.ok(b.State.Pid > 0);
  } finally {
    trun('delete', '--force', id);
  }
  assert.is(inspectIt().State, null);
  ok(store, 'rm', bundle);
});

test('progress on a terminal for import, create, commit and export; nothing through a pipe or with --quiet', async () => {
  const store = fresh('store');
  const l = await layout('prog/ress:1', [{ entries: BASE, kind: 'gzip' }, { entries: [{ name: 'data/p', content: 'p'.repeat(300_000) }], kind: 'gzip' }]);
  const tty = (args: string) => spawnSync('script', ['-qec', `${process.execPath} ${CLI} --store ${store} ${args}`, '/dev/null'], { encoding: 'utf8' });
  const bar = (phase: string, layers: number) => new RegExp(`${phase}  \\[[#.]{24}\\]  [0-9.]+ (B|kB|MB) / [0-9.]+ (B|kB|MB)  [0-9]/${layers} layers?  [0-9.]+ (B|kB|MB)/s`);
  let r = tty(`import ${l.dir}`);
  assert.is(r.status, 0, r.stdout);
  assert.match(r.stdout, bar('import', 2));
  for (const d of listing(store, 'layers')) fs.rmSync(path.join(store, 'layers', d), { recursive: true });
  const bundle = fresh('bundle');
  r = tty(`create prog/ress:1 ${bundle}`);
  assert.is(r.status, 0, r.stdout);
  assert.match(r.stdout, bar('unpack', 2));
  fs.writeFileSync(path.join(bundle, 'rootfs/data/new'), 'n'.repeat(100_000));
  r = tty(`commit ${bundle} prog/ress:2`);
  assert.is(r.status, 0, r.stdout);
  assert.match(r.stdout, /commit  [0-9.]+ (B|kB|MB)  [01]\/1 layer  [0-9.]+ (B|kB|MB)\/s/);
  r = tty(`export prog/ress:2 ${fresh('out.tar')}`);
  assert.is(r.status, 0, r.stdout);
  assert.match(r.stdout, bar('export', 3));
  r = tty(`--quiet export prog/ress:2 ${fresh('out.tar')}`);
  assert.is(r.status, 0, r.stdout);
  assert.is(r.stdout, '');
  const piped = cli(store, 'commit', bundle, 'prog/ress:3');
  assert.is(piped.status, 0);
  assert.is(piped.stderr, '');
  ok(store, 'rm', bundle);
});

test.run();
