// `trun events` reports OOM kills: {"type":"oom","id":ID} whenever the container's memory cgroup
// counts a new one (memory.oom_control on v1, memory.events on v2), as runc does. Needs root.
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { TestEnv } from '../helpers/trun';

const env = new TestEnv('oom-events');
const LIMIT = 16 << 20;

/** A started container whose memory (and memory+swap) is limited to 16 MiB; returns its id and bundle. */
function startLimited(args: string[]): { id: string; bundle: string } {
  const id = env.id('oom');
  const bundle = env.bundle((s) => {
    s.linux!.resources = { ...(s.linux!.resources ?? {}), memory: { limit: LIMIT, swap: LIMIT } };
  }, args);
  env.ok(['run', '--detach', '--bundle', bundle, id]);
  return { id, bundle };
}

interface Watch {
  child: ChildProcess;
  events: () => Array<{ type: string; id: string }>;
  exited: Promise<number | null>;
}

function watch(id: string): Watch {
  const child = env.spawn(['events', '--interval', '100ms', id]);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  const events = () => out.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { type: string; id: string });
  return { child, events, exited };
}

async function until(cond: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const ooms = (w: Watch) => w.events().filter((e) => e.type === 'oom');

test('an exec process killed by the OOM killer shows as one oom event; the container lives on', async () => {
  const { id } = startLimited(['sleep', '1000']);
  const w = watch(id);
  try {
    await until(() => w.events().length >= 2, 'two stats events');
    assert.equal(ooms(w), [], 'no oom before anything allocates');
    // busybox tail keeps its whole input when it holds no newline: it grows until killed.
    const r = env.trun(['exec', id, 'tail', '/dev/zero']);
    assert.is(r.code, 137, r.stderr);
    await until(() => ooms(w).length > 0, 'an oom event');
    assert.equal(ooms(w)[0], { type: 'oom', id });
    // Stats carry on afterwards, with no further oom.
    const seen = w.events().length;
    await until(() => w.events().length >= seen + 2, 'stats after the oom');
    assert.is(ooms(w).length, 1);
    assert.is(env.state(id).status, 'running');
  } finally {
    w.child.kill('SIGKILL');
    env.trun(['delete', '--force', id]);
  }
});

test('an OOM that kills the container\'s init is reported before events returns', async () => {
  // The init allocates only once the watcher has reported (it waits for /tmp/go in its rootfs).
  const { id, bundle } = startLimited(['sh', '-c', 'while [ ! -e /tmp/go ]; do usleep 10000; done; exec tail /dev/zero']);
  const w = watch(id);
  await until(() => w.events().length >= 1, 'the first stats event');
  fs.writeFileSync(path.join(bundle, 'rootfs/tmp/go'), '');
  const code = await Promise.race([w.exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 20_000))]);
  if (code === 'timeout') w.child.kill('SIGKILL');
  assert.is(code, 0, 'events returns once the container has stopped');
  assert.equal(ooms(w), [{ type: 'oom', id }]);
  env.trun(['delete', '--force', id]);
});

test.after(() => env.cleanup());

test.run();
