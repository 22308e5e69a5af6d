// Images trun-bundle writes are read by other OCI tools: umoci unpacks a committed image (its
// whiteouts applied) and skopeo inspects it and copies it out of an exported oci-archive.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { makeBusyboxRootfs } from '../helpers/rootfs';
import { REPO } from '../helpers/trun';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'trun-bundle-interop-'));
const store = path.join(tmp, 'store');
const BUNDLE_CLI = path.join(REPO, 'dist/trun-bundle.js');

function run(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}
const tb = (...args: string[]) => run(process.execPath, [BUNDLE_CLI, '--store', store, '--quiet', ...args]);

test.before(() => {
  const rootfs = makeBusyboxRootfs(path.join(tmp, 'rootfs'));
  fs.mkdirSync(path.join(rootfs, 'srv/old'), { recursive: true });
  fs.writeFileSync(path.join(rootfs, 'srv/old/file'), 'old\n');
  tb('import-rootfs', rootfs, 'busybox:base', '--change', 'CMD ["/bin/sh"]');
  const b = path.join(tmp, 'b1');
  tb('create', 'busybox:base', b);
  // A change as a container would make it: add a file, delete a directory.
  fs.writeFileSync(path.join(b, 'rootfs/added.txt'), 'added\n');
  fs.rmSync(path.join(b, 'rootfs/srv/old'), { recursive: true });
  tb('commit', b, 'busybox:changed', '--message', 'interop');
  tb('rm', b);
});

test.after(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

test('umoci lists the tags and unpacks the committed image with its whiteouts applied', () => {
  const tags = run('umoci', ['ls', '--layout', store]).split('\n');
  assert.ok(tags.includes('busybox:changed') || tags.includes('changed'), tags.join(','));
  const ref = tags.includes('busybox:changed') ? 'busybox:changed' : 'changed';
  const out = path.join(tmp, 'umoci-bundle');
  run('umoci', ['unpack', '--image', `${store}:${ref}`, out]);
  assert.is(fs.readFileSync(path.join(out, 'rootfs/added.txt'), 'utf8'), 'added\n');
  assert.not.ok(fs.existsSync(path.join(out, 'rootfs/srv/old')), 'the whiteout removed the directory');
  assert.ok(fs.existsSync(path.join(out, 'rootfs/bin/busybox')));
});

test('skopeo reads an exported oci-archive and copies it to a directory, verifying digests', () => {
  const archive = path.join(tmp, 'changed.tar');
  tb('export', 'busybox:changed', archive);
  const info = JSON.parse(run('skopeo', ['inspect', `oci-archive:${archive}`])) as { Layers: string[] };
  assert.is(info.Layers.length, 2);
  const dir = path.join(tmp, 'skopeo-dir');
  run('skopeo', ['copy', `oci-archive:${archive}`, `dir:${dir}`]);
  assert.ok(fs.existsSync(path.join(dir, 'manifest.json')));
});

test.run();
