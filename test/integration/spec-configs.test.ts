// The configs people already have: the config.json that `runc spec` (1.1.5) and `crun spec`
// (1.8.1) write, recorded in test/fixtures/configs/good, run with only `args` changed (and root.path pointed at
// this test's rootfs). Both list ambient capabilities with no inheritable set, which the kernel
// refuses to raise; runc and crun skip them and run the container.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startRecvtty } from '../helpers/console';
import { REPO, TestEnv } from '../helpers/trun';
import type { Spec } from '../../spec/types/runtime';

const env = new TestEnv('spec-configs');
test.after(() => env.cleanup());

const FIXTURES = [
  ['runc spec 1.1.5', 'runc-1.1.5-spec.json'],
  ['crun spec 1.8.1', 'crun-1.8.1-spec.json'],
] as const;

/** A bundle whose config.json is the recorded one with only args and root.path changed. */
function bundleFrom(fixture: string, args: string[]): string {
  const spec = JSON.parse(fs.readFileSync(path.join(REPO, 'test/fixtures/configs/good', fixture), 'utf8')) as Spec;
  const dir = env.bundle(() => {});
  spec.process!.args = args;
  spec.root!.path = path.join(dir, 'rootfs');
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(spec, null, '\t'));
  return dir;
}


const SCRIPT = 'grep ^CapAmb /proc/self/status; echo hello from $(id -u)';

for (const [name, fixture] of FIXTURES) {
  test(`${name}: trun run relays the pty (terminal: true), the container exits 0`, () => {
    const r = env.trun(['run', '-b', bundleFrom(fixture, ['sh', '-c', SCRIPT]), env.id()]);
    assert.is(r.code, 0, r.stderr);
    assert.is(r.stderr, '');
    // Ambient capabilities the kernel refused (none inheritable) are skipped, as runc and crun do.
    assert.match(r.stdout, /^CapAmb:\t0000000000000000\r?\nhello from 0\r?\n$/);
  });

  test(`${name}: trun create --console-socket / start, exit 0 and the output on the pty`, async () => {
    const id = env.id();
    const sock = path.join(env.dir, `console-${id}.sock`);
    const tty = await startRecvtty(sock);
    env.ok(['create', '--console-socket', sock, '-b', bundleFrom(fixture, ['sh', '-c', SCRIPT]), id]);
    env.ok(['start', id]);
    assert.is(await tty.done, 0, tty.log());
    assert.match(tty.output(), /CapAmb:\t0000000000000000\r?\nhello from 0\r?\n/);
    await env.waitStatus(id, 'stopped');
    env.ok(['delete', id]);
  });
}

test.run();
