// Commit of a running container: with --pause trun freezes it around the layer write and
// resumes it after; without, the running container is committed as it is (like docker commit).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { makeBusyboxRootfs } from '../helpers/rootfs';
import { REPO, TRUN } from '../helpers/trun';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'trun-bundle-running-'));
const store = path.join(tmp, 'store');
const root = path.join(tmp, 'state');
const BUNDLE_CLI = path.join(REPO, 'dist/trun-bundle.js');
const bundles: string[] = [];
const ids: string[] = [];

function run(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 120_000, stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}
const tb = (...args: string[]) => run(process.execPath, [BUNDLE_CLI, '--store', store, '--quiet', ...args]);
const trun = (...args: string[]) => run(process.execPath, [TRUN, '--root', root, ...args]);

test.before(() => {
  tb('import-rootfs', makeBusyboxRootfs(path.join(tmp, 'rootfs')), 'busybox:base', '--change', 'CMD ["/bin/sh"]');
});

test.after(() => {
  for (const id of ids) spawnSync(process.execPath, [TRUN, '--root', root, 'delete', '--force', id]);
  if (bundles.length) spawnSync(process.execPath, [BUNDLE_CLI, '--store', store, '--quiet', 'rm', ...bundles]);
  fs.rmSync(tmp, { recursive: true, force: true });
});

test('commit --pause of a running container: its state is captured and it runs on afterwards', async () => {
  const b = path.join(tmp, 'b1');
  bundles.push(b);
  tb('create', 'busybox:base', b, '--network', 'none', '--', 'sh', '-c', 'echo state-from-running > /made-while-running; while :; do date >> /tmp/ticks; usleep 20000; done');
  const id = `running-${process.pid}`;
  ids.push(id);
  // Detached, the container keeps the stdio it is given: hand it none, so that nothing waits on it.
  const started = spawnSync(process.execPath, [TRUN, '--root', root, 'run', '-d', '--bundle', b, id], { stdio: 'ignore' });
  assert.is(started.status, 0);
  const marker = path.join(b, 'rootfs/made-while-running');
  const deadline = Date.now() + 10_000;
  while (!fs.existsSync(marker)) {
    if (Date.now() > deadline) throw new Error('the container never wrote its file');
    await new Promise((r) => setTimeout(r, 10));
  }
  tb('commit', '--pause', '--trun', TRUN, '--trun-root', root, b, 'busybox:snap');
  assert.is(JSON.parse(trun('state', id)).status, 'running', 'resumed after the commit');
  const b2 = path.join(tmp, 'b2');
  bundles.push(b2);
  tb('create', 'busybox:snap', b2, '--network', 'none', '--', 'cat', '/made-while-running');
  assert.is(trun('run', '--bundle', b2, `snap-${process.pid}`), 'state-from-running\n');
});

test.run();
