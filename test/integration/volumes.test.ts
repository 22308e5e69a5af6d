// Persistence with real containers (root): bundles made by trun-bundle create with -v, --mount,
// --tmpfs and --volumes-from, run by dist/trun.js. Host binds rw and ro, named volumes shared by
// two running containers and outliving them, copy-up once, anonymous volumes from image VOLUME,
// tmpfs gone with its container, commit without volume content, and bad input leaving nothing.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import * as tar from 'tar-stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Store } from '../../bundle-tools/lib/store';
import { makeBusyboxRootfs } from '../helpers/rootfs';
import { mountsBelow, unmountAll } from '../helpers/tarballs';
import { REPO, TestEnv } from '../helpers/trun';

const CLI = path.join(REPO, 'dist/trun-bundle.js');
const env = new TestEnv('volumes');
const store = path.join(env.dir, 'store');
const bundles: string[] = [];
let n = 0;

interface Out {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** trun-bundle with this test's private store. */
function tb(...args: string[]): Out {
  const r = spawnSync(process.execPath, [CLI, '--store', store, '--quiet', ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function tbOk(...args: string[]): string {
  const r = tb(...args);
  if (r.code !== 0) throw new Error(`trun-bundle ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

/** A new bundle from IMAGE with the given create flags and `sh -c SCRIPT` as its command. */
function bundle(image: string, flags: string[], script: string): string {
  const b = path.join(env.dir, `bundle-${n++}`);
  bundles.push(b);
  tbOk('create', image, b, '--network', 'none', ...flags, '--', 'sh', '-c', script); // no network needed: leave the host's alone
  return b;
}

/** `trun run` in the foreground: the container's exit status and output. */
function run(b: string): { code: number; stdout: string; stderr: string } {
  return env.trun(['run', '--bundle', b, env.id('vol')]);
}

/** `trun run -d`: the container id, running in the background. */
function runDetached(b: string): string {
  const id = env.id('vol');
  env.ok(['run', '-d', '--bundle', b, id]);
  return id;
}

function volumes(): { Name: string; Anonymous: boolean; Mountpoint: string; Bundles: string[] }[] {
  const names = tbOk('volume', 'ls').split('\n').filter(Boolean);
  return names.length === 0 ? [] : JSON.parse(tbOk('volume', 'inspect', ...names));
}

function hostDir(name: string): string {
  return path.join(env.dir, name);
}

/** Polls until `file` exists (a container's signal to the test), or fails at the deadline. */
async function waitFor(file: string, timeoutMs = 15_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  while (!fs.existsSync(file)) {
    if (Date.now() > deadline) throw new Error(`"${file}" did not appear within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return fs.readFileSync(file, 'utf8');
}

/** Shell that writes CMD's output to FILE all at once (a rename), for a reader that waits for FILE. */
function writeAtomically(file: string, cmd: string): string {
  return `${cmd} > ${file}.tmp && mv ${file}.tmp ${file}`;
}

/** A shell loop inside the container: wait (bounded) until FILE exists. */
function waitIn(file: string): string {
  return `i=0; while [ ! -e ${file} ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done; [ -e ${file} ]`;
}

function removeBundle(b: string, ...flags: string[]): void {
  tbOk('rm', ...flags, b);
  bundles.splice(bundles.indexOf(b), 1);
}

async function layerEntries(image: string): Promise<string[]> {
  const s = new Store(store);
  const img = s.resolve(image);
  const top = img.manifest.layers[img.manifest.layers.length - 1]!;
  const names: string[] = [];
  const ex = tar.extract();
  const done = (async () => {
    for await (const e of ex) {
      names.push(e.header.name);
      e.resume();
    }
  })();
  ex.end(zlib.gunzipSync(fs.readFileSync(s.blobPath(top.digest))));
  await done;
  return names;
}

test.before(() => {
  const rootfs = makeBusyboxRootfs(path.join(env.dir, 'image-rootfs'));
  fs.mkdirSync(path.join(rootfs, 'data'));
  fs.writeFileSync(path.join(rootfs, 'data/seed'), 'seeded by the image\n');
  fs.mkdirSync(path.join(rootfs, 'opt/app/conf'), { recursive: true });
  fs.writeFileSync(path.join(rootfs, 'opt/app/conf/app.ini'), 'mode=image\n');
  fs.chmodSync(path.join(rootfs, 'opt/app'), 0o750);
  tbOk('import-rootfs', rootfs, 'plain:test', '--change', 'CMD ["/bin/sh"]');
  tbOk('import-rootfs', rootfs, 'withvol:test', '--change', 'CMD ["/bin/sh"]', '--change', 'VOLUME ["/data"]');
});

test.after(() => {
  // Containers first (a bundle with a running container cannot be removed), then bundles and
  // their volumes, then anything still mounted, then the directory with the store in it.
  for (const id of fs.existsSync(env.root) ? fs.readdirSync(env.root) : []) env.trun(['delete', '--force', id]);
  for (const b of [...bundles].reverse()) tb('rm', '--volumes', b);
  unmountAll(env.dir);
  env.cleanup();
});

test('-v HOST:CTR: a missing host directory is made; what the container writes stays on the host after delete', () => {
  const data = hostDir('bind-rw/made/by/create');
  const greeting = hostDir('greeting.txt');
  fs.writeFileSync(greeting, 'hello from the host\n');
  const b = bundle('plain:test', ['-v', `${data}:/hostdata`, '--mount', `type=bind,src=${greeting},dst=/etc/greeting,ro`],
    'cat /etc/greeting; echo "written inside" > /hostdata/out.txt; mkdir /hostdata/sub && echo deep > /hostdata/sub/f');
  assert.ok(fs.statSync(data).isDirectory(), 'create made the -v directory');
  const r = run(b);
  assert.is(r.code, 0, r.stderr);
  assert.is(r.stdout, 'hello from the host\n');
  removeBundle(b);
  assert.is(fs.readFileSync(path.join(data, 'out.txt'), 'utf8'), 'written inside\n');
  assert.is(fs.readFileSync(path.join(data, 'sub/f'), 'utf8'), 'deep\n');
  assert.equal(volumes(), [], 'a host bind is no volume');
});

test('a read-only bind fails writes inside with EROFS while the host can still write', async () => {
  const ro = hostDir('bind-ro');
  const out = hostDir('bind-ro-out');
  fs.mkdirSync(ro);
  fs.writeFileSync(path.join(ro, 'before'), 'before\n');
  fs.mkdirSync(out);
  const b = bundle('plain:test', ['-v', `${ro}:/ro:ro`, '--mount', `type=bind,source=${hostDir('bind-ro-out')},target=/out`],
    `if echo x 2>/out/err >/ro/inside; then r=wrote; else r=refused; fi; ${writeAtomically('/out/result', 'echo $r')}; ` +
    `${waitIn('/ro/from-host')} && ${writeAtomically('/out/seen', 'cat /ro/before /ro/from-host')}`);
  const id = runDetached(b);
  assert.is(await waitFor(path.join(out, 'result')), 'refused\n');
  assert.match(fs.readFileSync(path.join(out, 'err'), 'utf8'), /Read-only file system/);
  fs.writeFileSync(path.join(ro, 'from-host.tmp'), 'host wrote this while the container ran\n');
  fs.renameSync(path.join(ro, 'from-host.tmp'), path.join(ro, 'from-host'));
  assert.is(await waitFor(path.join(out, 'seen')), 'before\nhost wrote this while the container ran\n');
  await env.waitStatus(id, 'stopped');
  env.ok(['delete', id]);
  assert.not.ok(fs.existsSync(path.join(ro, 'inside')));
  removeBundle(b);
});

test('a named volume is shared by two running containers and keeps its data after both are gone', async () => {
  const signals = hostDir('shared-signals');
  fs.mkdirSync(signals);
  // A writes, waits for B's answer, and reads it; B waits for A's message, answers.
  const a = bundle('plain:test', ['-v', 'shared:/shared', '-v', `${signals}:/signals`],
    `echo "message from a" > /shared/from-a; touch /signals/a-wrote; ${waitIn('/shared/from-b')} && cat /shared/from-b > /shared/a-read`);
  const b = bundle('plain:test', ['--mount', 'type=volume,source=shared,target=/mnt/vol'],
    `${waitIn('/mnt/vol/from-a')} && cat /mnt/vol/from-a > /mnt/vol/b-read && ${writeAtomically('/mnt/vol/from-b', 'echo "answer from b"')}`);
  const vol = volumes().find((v) => v.Name === 'shared')!;
  assert.equal(vol.Bundles.sort(), [a, b].sort());
  const ida = runDetached(a);
  await waitFor(path.join(signals, 'a-wrote'));
  assert.is(env.state(ida).status, 'running');
  const rb = run(b);
  assert.is(rb.code, 0, rb.stderr);
  await env.waitStatus(ida, 'stopped');
  env.ok(['delete', ida]);

  const inUse = tb('volume', 'rm', 'shared');
  assert.is(inUse.code, 1);
  assert.match(inUse.stderr, /volume "shared" is in use by bundle/);
  removeBundle(a);
  removeBundle(b);
  const data = vol.Mountpoint;
  assert.is(fs.readFileSync(path.join(data, 'b-read'), 'utf8'), 'message from a\n');
  assert.is(fs.readFileSync(path.join(data, 'a-read'), 'utf8'), 'answer from b\n');
  assert.equal(volumes().find((v) => v.Name === 'shared')?.Bundles, []);

  // A later container finds the data; then the unused volume can be removed.
  const c = bundle('plain:test', ['-v', 'shared:/again'], 'cat /again/from-a /again/from-b');
  const rc = run(c);
  assert.is(rc.stdout, 'message from a\nanswer from b\n', rc.stderr);
  removeBundle(c);
  assert.is(tbOk('volume', 'rm', 'shared'), 'shared\n');
  assert.not.ok(fs.existsSync(path.dirname(data)));
});

test('an empty named volume is filled from the image directory it covers, only the first time', () => {
  const first = bundle('plain:test', ['-v', 'appdata:/opt/app'], 'cat /opt/app/conf/app.ini; rm -r /opt/app/conf; echo mine > /opt/app/own');
  const [vol] = volumes();
  assert.is(fs.readFileSync(path.join(vol!.Mountpoint, 'conf/app.ini'), 'utf8'), 'mode=image\n', 'seeded at create');
  assert.is(fs.statSync(vol!.Mountpoint).mode & 0o777, 0o750, 'with the mode of the image directory');
  const r1 = run(first);
  assert.is(r1.stdout, 'mode=image\n', r1.stderr);
  removeBundle(first);
  // Already initialised: the next bundle sees the volume as the first container left it.
  const second = bundle('plain:test', ['-v', 'appdata:/opt/app'], 'ls /opt/app');
  assert.is(run(second).stdout, 'own\n');
  removeBundle(second);

  // A volume that already has content is not filled either.
  tbOk('volume', 'create', 'prefilled', '--label', 'purpose=test');
  const info = JSON.parse(tbOk('volume', 'inspect', 'prefilled'))[0];
  assert.equal(info.Labels, { purpose: 'test' });
  fs.writeFileSync(path.join(info.Mountpoint, 'host-file'), 'x');
  const third = bundle('plain:test', ['-v', 'prefilled:/opt/app'], 'ls /opt/app');
  assert.is(run(third).stdout, 'host-file\n');
  removeBundle(third);
  tbOk('volume', 'rm', 'appdata', 'prefilled');
});

test('image VOLUME: an anonymous store volume per bundle, seeded, listed, kept by rm and removed by rm --volumes', () => {
  const b1 = bundle('withvol:test', [], 'cat /data/seed; echo "container data" > /data/written');
  const [anon] = volumes();
  assert.match(anon!.Name, /^[0-9a-f]{64}$/);
  assert.ok(anon!.Anonymous);
  assert.equal(anon!.Bundles, [b1]);
  assert.is(anon!.Mountpoint, path.join(store, 'volumes', anon!.Name, '_data'));
  assert.not.ok(fs.existsSync(path.join(b1, 'volumes')), 'no volumes inside the bundle any more');
  const r = run(b1);
  assert.is(r.stdout, 'seeded by the image\n', r.stderr);
  assert.is(fs.readFileSync(path.join(anon!.Mountpoint, 'written'), 'utf8'), 'container data\n');
  assert.match(tbOk('volume', 'ls').split('\n')[0]!, /^[0-9a-f]{64}$/);

  // A named volume at the image's VOLUME path replaces the anonymous one.
  const named = bundle('withvol:test', ['-v', 'instead:/data'], 'true');
  assert.equal(volumes().map((v) => v.Name).sort(), [anon!.Name, 'instead'].sort());
  removeBundle(named);
  tbOk('volume', 'rm', 'instead');

  // Plain rm keeps the anonymous volume (docker's default); rm --volumes removes a bundle's own.
  removeBundle(b1);
  assert.equal(volumes().map((v) => [v.Name, v.Bundles]), [[anon!.Name, []]]);
  const b2 = bundle('withvol:test', [], 'true');
  const mine = volumes().find((v) => v.Name !== anon!.Name)!;
  const out = spawnSync(process.execPath, [CLI, '--store', store, 'rm', '-v', b2], { encoding: 'utf8' });
  bundles.splice(bundles.indexOf(b2), 1);
  assert.is(out.stdout, `removed volume ${mine.Name}\n`, out.stderr);
  assert.equal(volumes().map((v) => v.Name), [anon!.Name]);
  // prune takes what no bundle uses.
  const keep = bundle('plain:test', ['-v', 'inuse:/x'], 'true');
  const pruned = tbOk('volume', 'prune');
  assert.is(pruned, `${anon!.Name}\n`);
  assert.equal(volumes().map((v) => v.Name), ['inuse']);
  removeBundle(keep);
  tbOk('volume', 'rm', 'inuse');
});

test('--volumes-from takes the volumes and binds of another bundle, read-only with :ro', () => {
  const host = hostDir('from-host');
  const src = bundle('plain:test', ['-v', 'fromvol:/vol', '-v', `${host}:/host`, '--tmpfs', '/scratch'], 'echo src > /vol/f; echo src > /host/f');
  assert.is(run(src).code, 0);
  const ro = bundle('plain:test', ['--volumes-from', `${src}:ro`], 'cat /vol/f /host/f; touch /vol/no 2>&1; touch /host/no 2>&1; mount | grep -c " /scratch " || true');
  const r = run(ro);
  assert.match(r.stdout, /^src\nsrc\n.*Read-only file system\n.*Read-only file system\n0\n$/);
  assert.equal(volumes().find((v) => v.Name === 'fromvol')!.Bundles.sort(), [src, ro].sort());
  const rw = bundle('plain:test', ['--volumes-from', src], 'echo rw > /vol/g');
  assert.is(run(rw).code, 0);
  assert.is(fs.readFileSync(path.join(volumes().find((v) => v.Name === 'fromvol')!.Mountpoint, 'g'), 'utf8'), 'rw\n');
  for (const b of [ro, rw, src]) removeBundle(b);
  tbOk('volume', 'rm', 'fromvol');
});

test('a tmpfs mount starts empty in every container of the bundle', () => {
  const b = bundle('plain:test', ['--tmpfs', '/scratch:size=1m,mode=700'],
    'ls /scratch; grep " /scratch " /proc/mounts | cut -d" " -f3,4; echo one > /scratch/f');
  const r1 = run(b);
  assert.is(r1.code, 0, r1.stderr);
  assert.match(r1.stdout, /^tmpfs rw,nosuid,nodev,noexec,.*size=1024k,mode=700\n$/, r1.stdout);
  const r2 = run(b);
  assert.match(r2.stdout, /^tmpfs /, 'the second container lists nothing in /scratch');
  assert.not.ok(fs.existsSync(path.join(b, 'upper/scratch/f')));
  removeBundle(b);
});

test('commit leaves out what lives in volumes but keeps the mountpoint directory', async () => {
  const b = bundle('plain:test', ['-v', 'secret:/vol/data'], 'echo secret > /vol/data/in-volume; echo plain > /outside');
  assert.is(run(b).code, 0);
  tbOk('commit', b, 'committed:test');
  const names = await layerEntries('committed:test');
  assert.ok(names.includes('outside'), names.join(' '));
  assert.ok(names.includes('vol/data/'), `the mountpoint is in the layer: ${names.join(' ')}`);
  assert.not.ok(names.some((x) => x.includes('in-volume')), names.join(' '));
  removeBundle(b);
  tbOk('volume', 'rm', 'secret');
  tbOk('rmi', 'committed:test');
});

test('bad input is refused with a clear error and leaves no bundle, volume or mount', () => {
  const mounts = mountsBelow(env.dir).length;
  const before = fs.readdirSync(env.dir).sort();
  const volumesBefore = volumes().length;
  const cases: [string[], RegExp][] = [
    [['-v', 'a/b:/x'], /invalid volume name "a\/b": a volume name cannot contain "\/"/],
    [['--mount', `type=bind,source=${hostDir('nowhere')},target=/x`], /bind source path ".*nowhere" does not exist/],
    [['-v', 'fine:/x', '--mount', `type=bind,src=${hostDir('nowhere')},dst=/y`], /does not exist/],
    [['-v', 'one:/x', '-v', 'two:/x'], /duplicate mount point "\/x"/],
    [['--volumes-from', hostDir('no-bundle')], /no bundle at/],
    [['--tmpfs', '/t:size=huge'], /bad size/],
  ];
  for (const [flags, err] of cases) {
    const b = path.join(env.dir, `bad-${n++}`);
    const r = tb('create', 'plain:test', b, ...flags, '--', 'true');
    assert.is(r.code, 1, flags.join(' '));
    assert.match(r.stderr, err);
    assert.not.ok(fs.existsSync(b), `no bundle dir for ${flags.join(' ')}`);
  }
  // A failure after the volumes are made (config generation refuses a relative --cwd) takes them back.
  const late = path.join(env.dir, `bad-${n++}`);
  const r = tb('create', 'plain:test', late, '-v', 'late:/x', '-v', `${hostDir('late-made')}:/y`, '--cwd', 'relative', '--', 'true');
  assert.is(r.code, 1);
  assert.match(r.stderr, /working directory "relative" must be an absolute path/);
  assert.not.ok(fs.existsSync(late));
  assert.not.ok(fs.existsSync(hostDir('late-made')));

  assert.is(volumes().length, volumesBefore);
  assert.equal(fs.readdirSync(env.dir).sort(), before);
  assert.is(mountsBelow(env.dir).length, mounts);
  assert.match(tb('volume', 'inspect', 'unknown').stderr, /no such volume "unknown"/);
  assert.match(tb('volume', 'rm', 'unknown').stderr, /no such volume "unknown"/);
  assert.match(tb('volume', 'create', 'x/y').stderr, /invalid volume name "x\/y"/);
  assert.not.ok(fs.existsSync(path.join(store, 'volumes', 'x')));
});

test.run();
