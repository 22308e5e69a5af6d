// Fault injection (issue 12): trun (the cold path) or the container's init SIGKILLed at each sync
// point of create, start, exec, delete and run; a hook that fails or times out at each hook point;
// 50 parallel creates on one root with duplicate ids; a damaged state.json. After each fault the
// container is whole or absent, `list` shows what exists, and `delete --force` leaves nothing:
// state dir, cgroup on any hierarchy, mount, fifo, process. Each victim is stopped at a known
// point by a gate (a hook or process that marks a file, then waits on a fifo) or by polling for
// a file or cgroup to appear; never by sleeping.
import { execFileSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type HostSnapshot, HIERARCHIES, TRUN, TestEnv, cgroupsOf, newProcesses, ours, snapshot, until } from '../helpers/trun';
import type { Hook, Spec } from '../../spec/types/runtime';

const env = new TestEnv('faults');
test.after(() => env.cleanup());
test.before(() => { env.trun(['list']); });

const COLD = [process.execPath, TRUN] as const;

/** The table for the note: each fault injected, what it left, what `delete --force` left. */
const table: string[][] = [];
test.after(() => {
  if (process.env.TRUN_FAULTS_TABLE) fs.writeFileSync(process.env.TRUN_FAULTS_TABLE, table.map((r) => r.join('\t')).join('\n') + '\n');
});

/**
 * A point where a victim stops: the shell snippet `cmd` marks a file and waits on a fifo, the
 * first time only (a hook run again after the fault passes). `inside`: the paths are the
 * container's (the gate lives in its rootfs), for hooks and processes run in the container.
 */
interface Gate {
  cmd: string;
  reached: () => boolean;
  /** Lets the reader go, whether it already waits or opens the fifo later. */
  open: () => void;
  /** Closes what open() opened, once the reader is gone. */
  shut: () => void;
}

let gates = 0;
function gate(rootfs?: string): Gate {
  gates += 1;
  const hostDir = rootfs ?? env.dir;
  const name = `gate-${process.pid}-${gates}`;
  const fifo = path.join(hostDir, `${name}.fifo`);
  const mark = path.join(hostDir, `${name}.mark`);
  execFileSync('mkfifo', [fifo]);
  const [f, m] = rootfs ? [`/${name}.fifo`, `/${name}.mark`] : [fifo, mark];
  let fd: number | undefined;
  return {
    cmd: `if [ ! -e ${m} ]; then echo > ${m}; read x < ${f}; fi`,
    reached: () => fs.existsSync(mark),
    // O_RDWR never blocks on a fifo. Held open with a line in it: a reader that has marked its
    // file but not opened the fifo yet finds both a writer and its line.
    open: () => {
      fd ??= fs.openSync(fifo, fs.constants.O_RDWR);
      fs.writeSync(fd, 'go\n');
    },
    shut: () => {
      if (fd !== undefined) fs.closeSync(fd);
      fd = undefined;
    },
  };
}

const sh = (cmd: string, timeout?: number): Hook => ({ path: '/bin/sh', args: ['sh', '-c', cmd], ...(timeout ? { timeout } : {}) });

interface Victim {
  child: ChildProcess;
  done: () => boolean;
  result: Promise<{ code: number | null; stderr: string }>;
}

/** Starts trun's cold path (the process that does the work itself, and so the one to kill). */
function launch(args: string[]): Victim {
  const child = env.spawn(args, { cli: COLD });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
  child.stdout!.resume();
  let finished = false;
  // 'exit', not 'close': a container it created holds its stdout and stderr.
  const result = new Promise<{ code: number | null; stderr: string }>((r) => child.on('exit', (code) => { finished = true; r({ code, stderr }); }));
  return { child, done: () => finished, result };
}

/** Waits for `cond` while the victim runs; false when the victim ended first (a race it won). */
async function reach(v: Victim, cond: () => boolean, what: string): Promise<boolean> {
  await until(() => cond() || v.done(), what);
  return !v.done() || cond();
}

function stateFile(id: string): string {
  return path.join(env.root, id, 'state.json');
}

function initPid(id: string): number {
  return (JSON.parse(fs.readFileSync(stateFile(id), 'utf8')) as { pid: number }).pid;
}

function killPid(pid: number): void {
  try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
}

/** What the fault left: absent, a directory without (readable) state, or the container's status. */
function describe(id: string): string {
  if (!fs.existsSync(path.join(env.root, id))) return 'absent';
  const r = env.trun(['state', id]);
  if (r.code !== 0) return 'state dir without state';
  return (JSON.parse(r.stdout) as { status: string }).status;
}

/**
 * After a fault: the container is whole (its state says so, list shows it and exec works in it)
 * or not listed; then delete --force leaves nothing. Records the row of the table.
 */
function settle(fault: string, id: string, before: HostSnapshot, expected?: RegExp): void {
  const left = describe(id);
  if (expected) assert.match(left, expected, `${fault}: left ${left}`);
  const list = env.trun(['list', '-f', 'json']);
  assert.is(list.code, 0, list.stderr);
  const listed = (JSON.parse(list.stdout || '[]') as { id: string; status: string }[]).find((c) => c.id === id);
  if (left === 'absent' || left === 'state dir without state') {
    assert.is(listed, undefined, `${fault}: not listed`);
    if (left !== 'absent') assert.match(list.stderr, `load container ${id}`);
  } else {
    assert.is(listed?.status, left, `${fault}: listed as ${left}`);
  }
  if (left === 'created' || left === 'running') {
    const r = env.trun(['exec', id, 'true']);
    assert.is(r.code, 0, `${fault}: exec in the ${left} container: ${r.stderr}`);
  }
  const d = env.trun(['delete', '--force', id]);
  assert.is(d.code, 0, d.stderr);
  const after = snapshot();
  const leftover: string[] = [];
  if (fs.existsSync(path.join(env.root, id))) leftover.push('state dir');
  leftover.push(...cgroupsOf(id));
  leftover.push(...after.mounts.filter((m) => !before.mounts.includes(m) && m.includes(env.dir)));
  leftover.push(...newProcesses(before).filter(ours).map((p) => `pid ${p} ${fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').replace(/\0/g, ' ')}`));
  table.push([fault, left, leftover.join(', ') || 'nothing']);
  assert.equal(leftover, [], `${fault}: delete --force left nothing`);
}

const SLEEP = ['sleep', '1000'];

function bundleWith(hooks: Spec['hooks'], args = SLEEP): string {
  return env.bundle((s) => { if (hooks) s.hooks = hooks; }, args);
}

// ---------------------------------------------------------------------------------------------
// SIGKILL of trun or of the container's init at each sync point.

type Target = 'trun' | 'init';

/** Kills the target once the victim reached `cond`, lets every gate go, waits for the victim. */
async function strike(v: Victim, target: Target, id: string, cond: () => boolean, what: string, gates: Gate[], before: HostSnapshot): Promise<void> {
  const reached = await reach(v, cond, what);
  if (target === 'trun') v.child.kill('SIGKILL');
  else if (reached && fs.existsSync(stateFile(id))) killPid(initPid(id));
  for (const g of gates) g.open();
  await v.result;
  // A gate's reader that outlived its trun (a hook trun started) has its EOF and ends.
  const g0 = gates.map((g) => g.cmd);
  await until(() => newProcesses(before).filter(ours).every((p) => {
    try { return !g0.some((c) => fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(c)); } catch { return true; }
  }), 'the gates\' readers to end');
  for (const g of gates) g.shut();
}

async function createAt(target: Target, point: 'state dir' | 'cgroups' | 'createRuntime' | 'createContainer' | 'created'): Promise<void> {
  const id = env.id(`cr-${target}`);
  const before = snapshot();
  // Both hooks see the host's files: createContainer runs in the container's namespaces before
  // pivot_root.
  const g = point === 'createRuntime' || point === 'createContainer' ? gate() : undefined;
  const bundle = bundleWith(g ? { [point]: [sh(g.cmd)] } : {});
  const pidFile = path.join(env.dir, `${id}.pid`);
  const v = launch(['create', '-b', bundle, '--pid-file', pidFile, id]);
  const cond = {
    'state dir': () => fs.existsSync(path.join(env.root, id)),
    cgroups: () => cgroupsOf(id).length > 0 && !fs.existsSync(stateFile(id)),
    createRuntime: () => g!.reached(),
    createContainer: () => g!.reached(),
    created: () => fs.existsSync(pidFile),
  }[point];
  await strike(v, target, id, cond, point, g ? [g] : [], before);
  const r = await v.result;
  // The init killed before the create finished: the create fails, and undoes itself.
  if (target === 'init' && point !== 'created') assert.is(r.code, 1, r.stderr);
  // trun killed once the state is written: the init, whose sync socket closed, is gone too.
  const expected = target === 'init' ? (point === 'created' ? /^stopped$/ : /^absent$/)
    // Killed after the pid file, before it answered the init's last sync point: the init exits.
    : point === 'created' ? /^(created|stopped)$/ : g ? /^stopped$/ : /^(absent|state dir without state|stopped)$/;
  settle(`SIGKILL ${target} during create, ${point}`, id, before, expected);
}

for (const point of ['state dir', 'cgroups', 'createRuntime', 'createContainer', 'created'] as const) {
  test(`SIGKILL of trun during create (${point}): whole or removable`, () => createAt('trun', point));
}
for (const point of ['createRuntime', 'createContainer', 'created'] as const) {
  test(`SIGKILL of the init during create (${point}): the create fails and leaves nothing`, () => createAt('init', point));
}

async function startAt(target: Target, point: 'startContainer' | 'fifo read'): Promise<void> {
  const id = env.id(`st-${target}`);
  const bundle = bundleWith({});
  const g = gate(point === 'startContainer' ? path.join(bundle, 'rootfs') : undefined);
  const cfg = JSON.parse(fs.readFileSync(path.join(bundle, 'config.json'), 'utf8')) as Spec;
  cfg.hooks = point === 'startContainer' ? { startContainer: [sh(g.cmd)] } : { poststart: [sh(g.cmd)] };
  fs.writeFileSync(path.join(bundle, 'config.json'), JSON.stringify(cfg));
  const before = snapshot();
  env.ok(['create', '-b', bundle, id]);
  const v = launch(['start', id]);
  await strike(v, target, id, g.reached, point, [g], before);
  const expected = target === 'init' ? /^stopped$/ : point === 'startContainer' ? /^created$/ : /^running$/;
  settle(`SIGKILL ${target} during start, ${point === 'fifo read' ? 'after the fifo is read (poststart)' : point}`, id, before, expected);
}

for (const target of ['trun', 'init'] as const) {
  for (const point of ['startContainer', 'fifo read'] as const) {
    test(`SIGKILL of ${target} during start (${point})`, () => startAt(target, point));
  }
}

test('a start killed after reading the fifo\'s byte, before removing the fifo: the container is running, not created', async () => {
  const id = env.id('stale-fifo');
  const before = snapshot();
  env.ok(['run', '-d', '-b', env.bundle(() => {}, SLEEP), id]);
  // What that start leaves: the fifo back in place, and a container running its process.
  execFileSync('mkfifo', [path.join(env.root, id, 'exec.fifo')]);
  assert.is(env.state(id).status, 'running');
  const r = env.trun(['start', id], { timeoutMs: 20_000 });
  assert.is(r.code, 1, r.stderr);
  assert.match(r.stderr, 'cannot start an already running container');
  settle('start killed between the fifo\'s byte and its removal (simulated)', id, before, /^running$/);
});

test('SIGKILL of trun or the init while an exec\'s process is blocked', async () => {
  for (const target of ['trun', 'init'] as const) {
    const id = env.id(`ex-${target}`);
    const bundle = bundleWith({});
    const g = gate(path.join(bundle, 'rootfs'));
    const before = snapshot();
    env.ok(['run', '-d', '-b', bundle, id]);
    const v = launch(['exec', id, 'sh', '-c', g.cmd]);
    await strike(v, target, id, g.reached, 'the exec', [g], before);
    settle(`SIGKILL ${target} during exec`, id, before, target === 'trun' ? /^running$/ : /^stopped$/);
  }
});

test('SIGKILL of trun during delete\'s poststop hook: a stopped container that delete --force removes', async () => {
  const id = env.id('dl');
  const g = gate();
  const bundle = bundleWith({ poststop: [sh(g.cmd)] });
  const before = snapshot();
  env.ok(['run', '-d', '-b', bundle, id]);
  const v = launch(['delete', '--force', id]);
  await strike(v, 'trun', id, g.reached, 'the poststop hook', [g], before);
  settle('SIGKILL trun during delete, poststop', id, before, /^stopped$/);
});

test('SIGKILL of trun or the init during a foreground run', async () => {
  for (const target of ['trun', 'init'] as const) {
    const id = env.id(`run-${target}`);
    const bundle = env.bundle();
    const g = gate(path.join(bundle, 'rootfs'));
    const cfg = JSON.parse(fs.readFileSync(path.join(bundle, 'config.json'), 'utf8')) as Spec;
    cfg.process!.args = ['sh', '-c', `${g.cmd}; exec sleep 1000`];
    fs.writeFileSync(path.join(bundle, 'config.json'), JSON.stringify(cfg));
    const before = snapshot();
    const v = launch(['run', '-b', bundle, id]);
    await strike(v, target, id, g.reached, 'the container\'s process', [g], before);
    // The init killed: run reports it and deletes the container itself. trun killed: the
    // container runs on, whether or not that start got as far as removing the exec fifo.
    settle(`SIGKILL ${target} during run`, id, before, target === 'init' ? /^absent$/ : /^running$/);
  }
});

// ---------------------------------------------------------------------------------------------
// A hook that fails, or times out, at each hook point.

const HOOK_POINTS = ['prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop'] as const;

test('a hook that fails or times out at each hook point: create/start fail and stop the container, poststart/poststop warn', () => {
  for (const point of HOOK_POINTS) {
    for (const how of ['fails', 'times out'] as const) {
      const id = env.id(`hk-${point}`);
      const bundle = env.bundle();
      // startContainer runs in the container after pivot_root: its fifo is in the rootfs.
      const inside = point === 'startContainer';
      const g = gate(inside ? path.join(bundle, 'rootfs') : undefined);
      // The gate's reader blocks for good: nobody opens its fifo until the hook was killed.
      const hook = how === 'fails' ? sh('echo hook says no >&2; exit 3') : sh(g.cmd, 1);
      const cfg = JSON.parse(fs.readFileSync(path.join(bundle, 'config.json'), 'utf8')) as Spec;
      cfg.process!.args = SLEEP;
      cfg.hooks = { [point]: [hook] };
      fs.writeFileSync(path.join(bundle, 'config.json'), JSON.stringify(cfg));
      const before = snapshot();
      const fault = `${point} hook ${how}`;
      const why = new RegExp(`error running ${point} hook #0: ${how === 'fails' ? 'exit status 3, stderr: hook says no' : 'timed out after 1s'}`);
      const c = env.trun(['create', '-b', bundle, id]);
      if (point === 'prestart' || point === 'createRuntime' || point === 'createContainer') {
        assert.is(c.code, 1, `${fault}: create fails`);
        assert.match(c.stderr, why);
        settle(fault, id, before, /^absent$/);
        continue;
      }
      assert.is(c.code, 0, c.stderr);
      const s = env.trun(['start', id]);
      if (point === 'startContainer') {
        // The spec: an error, and the container stopped (runc's init fails before its exec).
        assert.is(s.code, 1, `${fault}: start fails`);
        assert.match(s.stderr, why);
        settle(fault, id, before, /^stopped$/);
        continue;
      }
      if (point === 'poststart') {
        assert.is(s.code, 0, s.stderr);
        assert.match(s.stderr, why);
        settle(fault, id, before, /^running$/);
        continue;
      }
      assert.is(s.code, 0, s.stderr);
      const d = env.trun(['delete', '--force', id]);
      assert.is(d.code, 0, d.stderr);
      assert.match(d.stderr, why);
      settle(fault, id, before, /^absent$/);
    }
  }
});

// ---------------------------------------------------------------------------------------------
// Many creates at once on one root, some of them for the same id.

function runAsync(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return launch(args).result;
}

test('50 parallel creates on one root, 20 ids twice: one create wins per id, the losers leave nothing, the winners are whole', async () => {
  const bundle = env.bundle(() => {}, SLEEP);
  const ids = Array.from({ length: 30 }, () => env.id('par'));
  const wanted = [...ids, ...ids.slice(0, 20)];
  const before = snapshot();
  const results = await Promise.all(wanted.map((id) => runAsync(['create', '-b', bundle, id]).then((r) => ({ id, ...r }))));
  for (const id of ids) {
    const mine = results.filter((r) => r.id === id);
    const won = mine.filter((r) => r.code === 0);
    assert.is(won.length, 1, `one create of ${id} succeeds: ${mine.map((r) => r.stderr).join(' | ')}`);
    for (const lost of mine.filter((r) => r.code !== 0)) assert.match(lost.stderr, 'container with given ID already exists');
  }
  const list = JSON.parse(env.ok(['list', '-f', 'json'])) as { id: string; status: string }[];
  for (const id of ids) {
    assert.is(list.find((c) => c.id === id)?.status, 'created', `${id} is listed as created`);
    assert.is(cgroupsOf(id).length, HIERARCHIES.filter((h) => fs.existsSync(path.join(h, 'trun'))).length, `${id} has its cgroups`);
  }
  // Whole: each one starts and runs.
  const started = await Promise.all(ids.map((id) => runAsync(['start', id])));
  assert.equal(started.map((r) => r.code), ids.map(() => 0), started.map((r) => r.stderr).join(''));
  const deleted = await Promise.all(ids.map((id) => runAsync(['delete', '--force', id])));
  assert.equal(deleted.map((r) => r.code), ids.map(() => 0), deleted.map((r) => r.stderr).join(''));
  const leftover = [...ids.flatMap(cgroupsOf), ...ids.filter((id) => fs.existsSync(path.join(env.root, id))),
    ...newProcesses(before).filter(ours).map(String)];
  table.push([`50 parallel creates (30 ids, 20 twice)`, '30 created, 20 refused', leftover.join(', ') || 'nothing']);
  assert.equal(leftover, []);
});

// ---------------------------------------------------------------------------------------------
// A damaged state.json.

test('a truncated or corrupt state.json: list names the id on stderr, delete --force removes the container', () => {
  for (const [how, damage] of [['truncated', (t: string) => t.slice(0, t.length >> 1)], ['corrupt', () => '{"id": 12, \u0000garbage']] as const) {
    for (const running of [false, true]) {
      const id = env.id('dmg');
      const before = snapshot();
      env.ok([running ? 'run' : 'create', ...(running ? ['-d'] : []), '-b', env.bundle(() => {}, SLEEP), id]);
      const file = stateFile(id);
      fs.writeFileSync(file, damage(fs.readFileSync(file, 'utf8')));
      const list = env.trun(['list']);
      assert.is(list.code, 0, list.stderr);
      assert.not.match(list.stdout, id);
      assert.match(list.stderr, `load container ${id}: state "${file}": invalid JSON`);
      settle(`${how} state.json of a ${running ? 'running' : 'created'} container`, id, before, /^state dir without state$/);
    }
  }
});

// ---------------------------------------------------------------------------------------------
// What delete --force says it removed.

test('delete --force --debug says what it removed: processes, cgroups, mounts, the state dir', () => {
  const id = env.id('dbg');
  env.ok(['run', '-d', '-b', env.bundle(() => {}, SLEEP), id]);
  const pid = env.state(id).pid;
  const r = env.trun(['--debug', 'delete', '--force', id]);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stderr, new RegExp(`level=debug msg="killed the processes of container ${id}: [0-9 ]*\\b${pid}\\b`));
  assert.match(r.stderr, `level=debug msg="removed the cgroups of container ${id}: /sys/fs/cgroup/`);
  assert.match(r.stderr, `level=debug msg="removed the state directory ${path.join(env.root, id)}"`);
  // Without a mount namespace the container's mounts are the host's.
  const id2 = env.id('dbgnm');
  const bundle = env.bundle((s) => { 
    s.linux!.namespaces = s.linux!.namespaces!.filter((n) => n.type !== 'mount');
    delete s.linux!.maskedPaths;
    delete s.linux!.readonlyPaths;
  }, SLEEP);
  env.ok(['run', '-d', '-b', bundle, id2]);
  const r2 = env.trun(['--debug', 'delete', '--force', id2]);
  assert.is(r2.code, 0, r2.stderr);
  assert.match(r2.stderr, `level=debug msg="detached the mounts of container ${id2} at ${fs.realpathSync(path.join(bundle, 'rootfs'))}`);
  // A create killed before its state: the same report.
  const id3 = env.id('dbgdir');
  fs.mkdirSync(path.join(env.root, id3));
  const r3 = env.trun(['--debug', 'delete', '--force', id3]);
  assert.match(r3.stderr, `removed the state directory ${path.join(env.root, id3)}`);
});

test.run();
