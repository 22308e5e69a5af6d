// pause, resume, ps, events and update against real containers and the host's real cgroups.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { TestEnv } from '../helpers/trun';

const env = new TestEnv('cgroup-commands');
test.after(() => env.cleanup());

const POLL_MS = 20;

/** Polls `cond` until it holds; fails with `what` after the deadline. */
async function until(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

/** Checks `cond` throughout a window: what "nothing happens" looks like to an observer. */
async function holds(cond: () => boolean, what: string, windowMs: number): Promise<void> {
  const end = Date.now() + windowMs;
  while (Date.now() < end) {
    assert.ok(cond(), what);
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

function stored(id: string): { cgroupPaths: Record<string, string>; config: { linux?: { resources?: Record<string, unknown> } } } {
  return JSON.parse(fs.readFileSync(path.join(env.root, id, 'state.json'), 'utf8'));
}

function stateFile(id: string): string {
  return fs.readFileSync(path.join(env.root, id, 'state.json'), 'utf8');
}

/** A controller's directory for the container: its v1 hierarchy, else the unified one. */
function cgroupDir(id: string, v1: string): { dir: string; v2: boolean } {
  const paths = stored(id).cgroupPaths;
  const dir = paths[v1];
  if (dir !== undefined) return { dir, v2: false };
  return { dir: paths['unified']!, v2: true };
}

function read(file: string): string {
  return fs.readFileSync(file, 'utf8').trim();
}

function procs(id: string): number[] {
  const { dir } = cgroupDir(id, 'pids');
  return read(path.join(dir, 'cgroup.procs')).split(/\s+/).filter(Boolean).map(Number).sort((a, b) => a - b);
}

/** The memory limit as the host's cgroup file says it, in bytes (unlimited: -1). */
function memoryLimit(id: string): number {
  const { dir, v2 } = cgroupDir(id, 'memory');
  const text = read(path.join(dir, v2 ? 'memory.max' : 'memory.limit_in_bytes'));
  return text === 'max' || Number(text) >= 2 ** 62 ? -1 : Number(text);
}

function runDetached(args: string[], prefix: string): string {
  const id = env.id(prefix);
  env.ok(['run', '-d', '-b', env.bundle(() => {}, args), id]);
  return id;
}

test('pause freezes the container and resume lets it go on', async () => {
  const id = env.id('pause');
  const bundle = env.bundle(() => {}, ['sh', '-c', 'while :; do echo x >> /counter; usleep 5000; done']);
  env.ok(['run', '-d', '-b', bundle, id]);
  const counter = path.join(bundle, 'rootfs/counter');
  const size = () => (fs.existsSync(counter) ? fs.statSync(counter).size : 0);
  await until(() => size() > 0, 'the counter to start');

  env.ok(['pause', id]);
  assert.is(env.state(id).status, 'paused');
  const { dir, v2 } = cgroupDir(id, 'freezer');
  assert.is(read(path.join(dir, v2 ? 'cgroup.freeze' : 'freezer.state')), v2 ? '1' : 'FROZEN');
  const frozenAt = size();
  await holds(() => size() === frozenAt, 'the counter does not move while paused', 300);

  const again = env.trun(['pause', id]);
  assert.is(again.code, 1);
  assert.match(again.stderr, /container not running/, 'as runc: only a running container can be paused');

  env.ok(['resume', id]);
  assert.is(env.state(id).status, 'running');
  await until(() => size() > frozenAt, 'the counter to move again');
  env.ok(['delete', '--force', id]);
});

// (pausing a created container is allowed, as runc: runc-parity-cli.test.ts)
test('pause and resume refuse containers in the wrong state, and unknown ids', async () => {
  const created = env.id('created');
  env.ok(['create', '-b', env.bundle(() => {}, ['sleep', '1000']), created]);
  const running = runDetached(['sleep', '1000'], 'running');
  const stopped = runDetached(['true'], 'stopped');
  await env.waitStatus(stopped, 'stopped');

  for (const [cmd, id, message] of [
    ['pause', stopped, /container not running/],
    ['resume', created, /container not paused/],
    ['resume', running, /container not paused/],
    ['resume', stopped, /container not paused/],
    ['pause', 'no-such-container', /container does not exist/],
    ['resume', 'no-such-container', /container does not exist/],
  ] as const) {
    const r = env.trun([cmd, id]);
    assert.is(r.code, 1, `${cmd} ${id}`);
    assert.match(r.stderr, message, `${cmd} ${id}: ${r.stderr}`);
  }
  assert.is(env.state(created).status, 'created');
  assert.is(env.state(running).status, 'running');
  for (const id of [created, running, stopped]) env.ok(['delete', '--force', id]);
});

test('ps --format json lists exactly the container\'s pids; the table keeps the header and those lines', async () => {
  const id = runDetached(['sh', '-c', 'sleep 1000 & wait'], 'ps');
  const init = env.state(id).pid;
  await until(() => procs(id).length === 2, 'the shell\'s child');
  const child = procs(id).find((p) => p !== init)!;
  assert.is(fs.readFileSync(`/proc/${child}/cmdline`, 'utf8'), 'sleep\x001000\x00');

  const json = env.ok(['ps', '--format', 'json', id]);
  assert.ok(json.endsWith('\n'));
  assert.equal(JSON.parse(json), [init, child].sort((a, b) => a - b));

  const table = env.ok(['ps', id]).trimEnd().split('\n');
  const header = table[0]!.trim().split(/\s+/);
  assert.equal(header.slice(0, 2), ['UID', 'PID'], 'ps -ef by default');
  assert.equal(table.slice(1).map((l) => Number(l.trim().split(/\s+/)[1])).sort((a, b) => a - b), [init, child].sort((a, b) => a - b));

  const custom = env.ok(['ps', id, '-o', 'comm,pid']).trimEnd().split('\n');
  assert.equal(custom[0]!.trim().split(/\s+/), ['COMMAND', 'PID']);
  assert.equal(custom.slice(1).map((l) => l.trim().split(/\s+/)[0]).sort(), ['sh', 'sleep']);

  env.ok(['pause', id]);
  assert.equal(JSON.parse(env.ok(['ps', '-f', 'json', id])), [init, child].sort((a, b) => a - b), 'a paused container has its processes');
  // (kill does not thaw a paused container, as runc does for SIGKILL on v1: resume first)
  env.ok(['resume', id]);
  env.ok(['kill', id, 'KILL']);
  await env.waitStatus(id, 'stopped');
  // As runc: a stopped container has no processes, which is not an error.
  assert.is(env.ok(['ps', '--format', 'json', id]), '[]\n');
  env.ok(['delete', id]);
});

test('events --stats prints one stats event in runc\'s shape', () => {
  const id = runDetached(['sh', '-c', 'sleep 1000 & wait'], 'stats');
  const out = env.ok(['events', '--stats', id]);
  const lines = out.trimEnd().split('\n');
  assert.is(lines.length, 1);
  const ev = JSON.parse(lines[0]!);
  assert.is(ev.type, 'stats');
  assert.is(ev.id, id);
  const d = ev.data;
  for (const n of [d.cpu.usage.total, d.cpu.usage.kernel, d.cpu.usage.user, d.cpu.throttling.periods, d.memory.cache, d.memory.usage.limit, d.memory.swap.usage, d.pids.limit]) {
    assert.type(n, 'number');
  }
  assert.ok(d.memory.usage.usage > 0, 'memory in use');
  assert.ok(d.pids.current >= 1, `pids.current ${d.pids.current}`);
  assert.type(d.memory.raw, 'object');
  assert.ok(Array.isArray(d.blkio.ioServiceBytesRecursive));
  env.ok(['delete', '--force', id]);
});

test('events streams stats every interval and returns when the container stops', async () => {
  const id = runDetached(['sleep', '1000'], 'events');
  const child = env.spawn(['events', '--interval', '50ms', id]);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  await until(() => out.split('\n').length > 3, 'three stats events');
  env.ok(['kill', id, 'KILL']);
  const code = await Promise.race([exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 10_000))]);
  if (code === 'timeout') child.kill('SIGKILL');
  assert.is(code, 0, 'events returns once the container has stopped');
  for (const line of out.trimEnd().split('\n')) {
    const ev = JSON.parse(line);
    assert.is(ev.type, 'stats');
    assert.is(ev.id, id);
  }
  const r = env.trun(['events', '--stats', id]);
  assert.is(r.code, 1);
  assert.match(r.stderr, /container with id .* is not running/);
  env.ok(['delete', id]);
});

test('update --memory changes the live limit, seen from the host and from inside, and is stored', () => {
  const id = runDetached(['sleep', '1000'], 'mem');
  env.ok(['update', '--memory', '64m', id]);
  assert.is(memoryLimit(id), 64 << 20);
  const { v2 } = cgroupDir(id, 'memory');
  const inside = env.ok(['exec', id, 'cat', v2 ? '/sys/fs/cgroup/memory.max' : '/sys/fs/cgroup/memory/memory.limit_in_bytes']);
  assert.is(inside.trim(), String(64 << 20));
  assert.equal(stored(id).config.linux!.resources!['memory'], { limit: 64 << 20 });

  env.ok(['update', '--memory', '-1', id]);
  assert.is(memoryLimit(id), -1, '-1 lifts the limit');

  // --resources from stdin; merged with what was stored.
  env.ok(['update', '-r', '-', id], { input: JSON.stringify({ memory: { limit: 128 << 20 }, pids: { limit: 42 } }) });
  assert.is(memoryLimit(id), 128 << 20);
  const { dir: pidsDir } = cgroupDir(id, 'pids');
  assert.is(read(path.join(pidsDir, 'pids.max')), '42');
  const res = stored(id).config.linux!.resources!;
  assert.equal(res['memory'], { limit: 128 << 20 });
  assert.equal(res['pids'], { limit: 42 });
  env.ok(['delete', '--force', id]);
});

test('update --pids-limit caps the processes a container can start', () => {
  const id = runDetached(['sleep', '1000'], 'pids');
  env.ok(['update', '--pids-limit', '5', id]);
  const { dir } = cgroupDir(id, 'pids');
  assert.is(read(path.join(dir, 'pids.max')), '5');
  const r = env.trun(['exec', id, 'sh', '-c', 'for i in 1 2 3 4 5 6 7 8; do sleep 1000 & done; echo spawned']);
  assert.match(r.stderr, /can't fork|resource temporarily unavailable/i, `exec: ${r.code} ${r.stdout} ${r.stderr}`);
  assert.ok(procs(id).length <= 5, `pids in the cgroup: ${procs(id).length}`);
  assert.ok(Number(read(path.join(dir, 'pids.events')).split(/\s+/)[1]) > 0, 'the kernel counted refused forks');
  env.ok(['delete', '--force', id]);
});

test('update refuses stopped containers, unknown ids and invalid values, and changes nothing', async () => {
  const stopped = runDetached(['true'], 'upstopped');
  await env.waitStatus(stopped, 'stopped');
  const before = stateFile(stopped);
  const r1 = env.trun(['update', '--memory', '64m', stopped]);
  assert.is(r1.code, 1);
  assert.match(r1.stderr, /container not running/);
  assert.is(stateFile(stopped), before);

  const r2 = env.trun(['update', '--memory', '64m', 'no-such-container']);
  assert.is(r2.code, 1);
  assert.match(r2.stderr, /container does not exist/);

  const id = runDetached(['sleep', '1000'], 'upbad');
  env.ok(['update', '--memory', '32m', id]);
  const kept = stateFile(id);
  for (const [args, message] of [
    [['--memory', '64x'], /invalid value for --memory: invalid size "64x"/],
    [['--pids-limit', 'many'], /invalid value for --pids-limit/],
    [['--cpu-share', '-5'], /invalid value for --cpu-share/],
  ] as const) {
    const r = env.trun(['update', ...args, '--memory-reservation', '16m', id]);
    assert.is(r.code, 1, args.join(' '));
    assert.match(r.stderr, message);
  }
  const bad = env.trun(['update', '-r', '-', id], { input: '{"memory":{"limit":"lots"}}' });
  assert.is(bad.code, 1);
  assert.match(bad.stderr, /--resources.*memory\.limit/);
  assert.is(memoryLimit(id), 32 << 20, 'the live limit is untouched');
  assert.is(stateFile(id), kept, 'the stored config is untouched');

  // A value the kernel refuses: the error names the cgroup file.
  const { dir, v2 } = cgroupDir(id, 'cpu');
  const refused = env.trun(['update', '--cpu-quota', '1', id]);
  assert.is(refused.code, 1);
  assert.ok(refused.stderr.includes(path.join(dir, v2 ? 'cpu.max' : 'cpu.cfs_quota_us')), refused.stderr);
  env.ok(['delete', '--force', id]);
  env.ok(['delete', stopped]);
});

test.run();
