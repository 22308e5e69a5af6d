// Process attributes (scheduler, I/O priority, personality, exec CPU affinity), the session
// keyring and the foreground terminal relay, each observed from inside a real container.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Spec } from '../../spec/types/runtime';
import { TRUN, TestEnv, assertNothingLeft, newProcesses, ours, snapshot } from '../helpers/trun';

const env = new TestEnv('process-extras');
test.after(() => env.cleanup());

/** `trun run` of a one-off container; returns stdout, failing on a non-zero exit. */
function runIn(mut: (s: Spec) => void, script: string, extra: string[] = []): string {
  return env.ok(['run', ...extra, '-b', env.bundle(mut, ['sh', '-c', script]), env.id('px')]);
}

/** Fields of /proc/self/stat as the container's shell sees them: 18 priority, 19 nice, 41 policy. */
const STAT = 'cut -d" " -f18,19,41 /proc/self/stat';

/** A cgroup of its own directly under the root, with real-time runtime (trun's parent cgroup has none). */
function rtCgroup(s: Spec): void {
  s.linux!.cgroupsPath = `/trun-test-rt-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  s.linux!.resources = { cpu: { realtimeRuntime: 10000, realtimePeriod: 1000000 } };
}
const hasRtGroups = fs.existsSync('/sys/fs/cgroup/cpu/cpu.rt_runtime_us');

// ---- scheduler ----------------------------------------------------------------------------

test('scheduler: SCHED_BATCH with nice 5 is what the process runs with', () => {
  const out = runIn((s) => { s.process!.scheduler = { policy: 'SCHED_BATCH', nice: 5 }; }, STAT);
  assert.is(out.trim(), '25 5 3'); // priority 20+nice, nice, SCHED_BATCH
});

test('scheduler: SCHED_IDLE', () => {
  const out = runIn((s) => { s.process!.scheduler = { policy: 'SCHED_IDLE' }; }, STAT);
  assert.is(out.trim().split(' ')[2], '5');
});

test('scheduler: SCHED_FIFO is set before CAP_SYS_NICE is dropped', () => {
  if (!hasRtGroups) return; // without RT group scheduling any cgroup may run FIFO: covered by the error test's absence
  const out = runIn((s) => { s.process!.scheduler = { policy: 'SCHED_FIFO', priority: 10 }; rtCgroup(s); }, `${STAT}; grep CapEff /proc/self/status`);
  const [stat, caps] = out.trim().split('\n');
  assert.is(stat, '-11 0 1'); // priority -1-rt_priority, nice 0, SCHED_FIFO
  const eff = BigInt(`0x${caps!.split(/\s+/)[1]}`);
  assert.is(eff & (1n << 23n), 0n, 'the process itself has no CAP_SYS_NICE');
});

test('scheduler: a kernel refusal comes back as a clear error and leaves nothing behind', () => {
  if (!hasRtGroups) return;
  // trun's own cgroup has no real-time runtime: the kernel refuses SCHED_FIFO there.
  const id = env.id('px');
  const bundle = env.bundle((s) => { s.process!.scheduler = { policy: 'SCHED_FIFO', priority: 10 }; });
  const before = snapshot();
  const r = env.trun(['run', '-b', bundle, id]);
  assert.is(r.code, 1);
  assert.match(r.stderr, /scheduler: sched_setattr policy 1: operation not permitted/);
  assertNothingLeft(env, before, id);
});

// ---- io priority, personality --------------------------------------------------------------

test('ioPriority: best-effort 6 and idle, as ionice sees them', () => {
  assert.is(runIn((s) => { s.process!.ioPriority = { class: 'IOPRIO_CLASS_BE', priority: 6 }; }, 'ionice -p $$').trim(), 'best-effort: prio 6');
  assert.match(runIn((s) => { s.process!.ioPriority = { class: 'IOPRIO_CLASS_IDLE', priority: 0 }; }, 'ionice -p $$').trim(), /^idle/);
  assert.is(runIn((s) => { s.process!.ioPriority = { class: 'IOPRIO_CLASS_RT', priority: 3 }; }, 'ionice -p $$').trim(), 'realtime: prio 3');
});

test('personality LINUX32: uname -m says i686, in the init and in exec', () => {
  if (os.arch() !== 'x64') return; // the 32-bit name is architecture specific
  const id = env.id('px');
  env.ok(['run', '-d', '-b', env.bundle((s) => { s.linux!.personality = { domain: 'LINUX32' }; }, ['sh', '-c', 'uname -m > /tmp/m; sleep 100']), id]);
  try {
    assert.is(env.ok(['exec', id, 'uname', '-m']).trim(), 'i686');
    assert.is(env.ok(['exec', id, 'cat', '/tmp/m']).trim(), 'i686');
  } finally {
    env.trun(['delete', '--force', id]);
  }
  assert.is(runIn((s) => { s.linux!.personality = { domain: 'LINUX' }; }, 'uname -m').trim(), 'x86_64');
});

// ---- exec CPU affinity -----------------------------------------------------------------------

test('execCPUAffinity: final, and initial before the cgroup', () => {
  if (os.cpus().length < 2) return;
  const id = env.id('px');
  env.ok(['run', '-d', '-b', env.bundle(() => {}, ['sleep', '100']), id]);
  const file = path.join(env.dir, `affinity-${id}.json`);
  const execWith = (affinity: { initial?: string; final?: string }) => {
    fs.writeFileSync(file, JSON.stringify({ args: ['grep', 'Cpus_allowed_list', '/proc/self/status'], cwd: '/', execCPUAffinity: affinity }));
    return env.ok(['exec', '-p', file, id]).trim().split(/\s+/)[1];
  };
  try {
    assert.is(execWith({ final: '0' }), '0');
    assert.is(execWith({ initial: '1', final: '0' }), '0');
    const [major, minor] = os.release().split('.').map(Number);
    // Since Linux 6.2 a cgroup move keeps the affinity the task asked for: initial stays visible.
    if (major! > 6 || (major === 6 && minor! >= 2)) assert.is(execWith({ initial: '1' }), '1');
    const bad = env.trun(['exec', '-p', (fs.writeFileSync(file, JSON.stringify({ args: ['true'], cwd: '/', execCPUAffinity: { final: '1-0' } })), file), id]);
    assert.is(bad.code, 255); // exec's own failure, as runc
    assert.match(bad.stderr, /process\.execCPUAffinity\.final: invalid cpu list "1-0"/);
    // execCPUAffinity is not for the container's init: create accepts it and leaves the init alone.
    const init = runIn((s) => { s.process!.execCPUAffinity = { final: '0' }; }, 'grep Cpus_allowed_list /proc/self/status');
    assert.is(init.trim().split(/\s+/)[1], fs.readFileSync('/proc/self/status', 'utf8').match(/Cpus_allowed_list:\s+(\S+)/)![1]);
  } finally {
    env.trun(['delete', '--force', id]);
  }
});

// ---- session keyring -----------------------------------------------------------------------

/** /proc/keys is in runc's default masked paths: unmask it to look. */
const unmaskKeys = (s: Spec) => { s.linux!.maskedPaths = (s.linux!.maskedPaths ?? []).filter((p) => p !== '/proc/keys'); };

test('session keyring: the container joins a new "_ses.<id>" keyring', () => {
  const id = env.id('px');
  const out = env.ok(['run', '-b', env.bundle(unmaskKeys, ['cat', '/proc/keys']), id]);
  const line = out.split('\n').find((l) => l.endsWith(`keyring   _ses.${id}: empty`) || l.includes(` _ses.${id}:`));
  assert.ok(line, `no _ses.${id} in:\n${out}`);
});

test('session keyring: --no-new-keyring keeps the caller\'s', () => {
  const id = env.id('px');
  const out = env.ok(['run', '--no-new-keyring', '-b', env.bundle(unmaskKeys, ['cat', '/proc/keys']), id]);
  assert.not.ok(out.includes(`_ses.${id}`), out);
  assert.ok(out.length > 0, 'the keys are visible at all');
});

test('session keyring: exec joins "_ses.<id>" too, unless the container was created with --no-new-keyring', () => {
  for (const noNew of [false, true]) {
    const id = env.id('px');
    env.ok(['run', '-d', ...(noNew ? ['--no-new-keyring'] : []), '-b', env.bundle(unmaskKeys, ['sleep', '1000']), id]);
    const line = env.ok(['exec', id, 'cat', '/proc/keys']).split('\n').find((l) => l.includes(` _ses.${id}:`));
    if (noNew) {
      assert.is(line, undefined);
    } else {
      // The usage count (third column): the init's credentials hold the keyring, and, once it
      // has joined, the exec'd process's hold it as well.
      assert.ok(line, `no _ses.${id}`);
      assert.ok(Number(line!.trim().split(/\s+/)[2]) >= 3, line);
    }
    env.ok(['delete', '--force', id]);
  }
});

// ---- foreground terminal relay ---------------------------------------------------------------

interface PtyRun {
  out: string;
  code: number | null;
}

/**
 * Runs a shell command line under a pseudo-terminal (util-linux `script`), so trun's stdio is a
 * terminal. `react` sees the output so far and may write to the terminal or do something.
 */
function underPty(cmd: string, react: (out: string, write: (s: string) => void) => void): Promise<PtyRun> {
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qec', cmd, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'], cwd: env.dir });
    let out = '';
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`timed out under the pty; output so far: ${JSON.stringify(out)}`)); }, 30_000);
    const write = (s: string) => { child.stdin.write(s); };
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); react(out, write); });
    child.stderr.on('data', (d: Buffer) => { out += d.toString(); });
    child.on('exit', (code) => { clearTimeout(timer); resolve({ out, code }); });
    child.on('error', reject);
  });
}

const trunCmd = `${process.execPath} ${TRUN} --root ${env.root}`;

test('run with a terminal and no --console-socket relays the pty; the caller\'s terminal is raw, then restored', async () => {
  const id = env.id('px');
  const bundle = env.bundle((s) => { s.process!.terminal = true; }, ['sh', '-c', 'tty; stty size; echo ready; read line; echo "got:$line"; exit 3']);
  const cmd = `stty rows 30 cols 100; before=$(stty -g); ${trunCmd} run -b ${bundle} ${id}; rc=$?; [ "$(stty -g)" = "$before" ] && echo restored; exit $rc`;
  let sent = false;
  const r = await underPty(cmd, (out, write) => {
    if (!sent && out.includes('ready')) { sent = true; write('hello\n'); }
  });
  assert.is(r.code, 3, r.out);
  const lines = r.out.split(/\r?\n/);
  assert.match(lines[0]!, /^\/dev\/pts\/\d+$/);
  assert.is(lines[1], '30 100', 'the pty took the size of trun\'s terminal');
  assert.ok(lines.includes('got:hello'), r.out);
  // Raw: only the container's pty echoes the typed line, not the caller's terminal as well.
  assert.is(r.out.split('hello').length - 1, 2, `one echo and one "got:hello": ${JSON.stringify(r.out)}`);
  assert.ok(lines.includes('restored'), 'terminal settings restored');
  assert.not.ok(fs.existsSync(path.join(env.root, id)), 'the container is deleted after run');
});

test('exec -t without --console-socket relays, passing window size changes on', async () => {
  const id = env.id('px');
  env.ok(['run', '-d', '-b', env.bundle(() => {}, ['sleep', '100']), id]);
  const flag = path.join(env.dir, `resize-${id}`);
  const inner = 'tty; stty size; echo ready; i=0; while [ "$(stty size)" != "40 120" ]; do i=$((i+1)); [ $i -gt 100 ] && exit 9; sleep 0.1; done; echo resized; read line; echo "got:$line"; exit 4';
  // A helper in trun's session resizes the terminal once the test says so: the kernel then sends
  // SIGWINCH to trun and its init, and the init must copy the new size to the container's pty.
  const cmd = `stty rows 30 cols 100; (while [ ! -e ${flag} ]; do sleep 0.05; done; stty rows 40 cols 120 </dev/tty) & ${trunCmd} exec -t ${id} sh -c '${inner}'`;
  let step = 0;
  try {
    const r = await underPty(cmd, (out, write) => {
      if (step === 0 && out.includes('ready')) { step = 1; fs.writeFileSync(flag, ''); }
      if (step === 1 && out.includes('resized')) { step = 2; write('hello\n'); }
    });
    assert.is(r.code, 4, r.out);
    const lines = r.out.split(/\r?\n/);
    assert.match(lines[0]!, /^\/dev\/pts\/\d+$/);
    assert.is(lines[1], '30 100');
    assert.ok(lines.includes('resized') && lines.includes('got:hello'), r.out);
  } finally {
    env.trun(['delete', '--force', id]);
  }
});

test('detached terminals still need --console-socket', () => {
  const id = env.id('px');
  const r = env.trun(['run', '-d', '-b', env.bundle((s) => { s.process!.terminal = true; }), id]);
  assert.is(r.code, 1);
  assert.match(r.stderr, /cannot allocate tty if trun will detach without setting console socket/);
  const running = env.id('px');
  env.ok(['run', '-d', '-b', env.bundle(() => {}, ['sleep', '100']), running]);
  try {
    const e = env.trun(['exec', '-d', '-t', running, 'true']);
    assert.is(e.code, 255);
    assert.match(e.stderr, /a terminal for a detached exec needs --console-socket/);
  } finally {
    env.trun(['delete', '--force', running]);
  }
});

test('run with a terminal and stdio that is not a terminal still relays output and exit code', () => {
  const r = env.trun(['run', '-b', env.bundle((s) => { s.process!.terminal = true; }, ['sh', '-c', 'tty; exit 7']), env.id('px')], { input: '' });
  assert.is(r.code, 7, r.stderr);
  assert.match(r.stdout, /^\/dev\/pts\/\d+\r?\n$/);
});

// ---- bad names ---------------------------------------------------------------------------------

const badConfigs: Array<[string, (s: Spec) => void, RegExp]> = [
  ['scheduler policy', (s) => { (s.process as unknown as { scheduler: unknown }).scheduler = { policy: 'SCHED_FAST' }; }, /process\.scheduler\.policy: must be one of/],
  ['ioPriority class', (s) => { (s.process as unknown as { ioPriority: unknown }).ioPriority = { class: 'IOPRIO_CLASS_FAST', priority: 1 }; }, /process\.ioPriority\.class: must be one of/],
  ['personality domain', (s) => { (s.linux as unknown as { personality: unknown }).personality = { domain: 'LINUX64' }; }, /linux\.personality\.domain: must be one of/],
  ['scheduler policy Linux lacks', (s) => { s.process!.scheduler = { policy: 'SCHED_ISO' }; }, /process\.scheduler\.policy: SCHED_ISO is not implemented by Linux/],
  ['nice out of range', (s) => { s.process!.scheduler = { policy: 'SCHED_OTHER', nice: 40 }; }, /process\.scheduler\.nice: 40 is out of range/],
  ['io priority out of range', (s) => { s.process!.ioPriority = { class: 'IOPRIO_CLASS_BE', priority: 9 }; }, /process\.ioPriority\.priority/],
];

for (const [what, mut, re] of badConfigs) {
  test(`an unknown or out-of-range ${what} is a clear error and leaves nothing behind`, () => {
    const id = env.id('px');
    const bundle = env.bundle(mut);
    const before = snapshot();
    const r = env.trun(['run', '-b', bundle, id]);
    assert.is(r.code, 1);
    assert.match(r.stderr, re);
    assertNothingLeft(env, before, id);
  });
}

test('exec: unknown names in process.json are refused naming the field', () => {
  const id = env.id('px');
  env.ok(['run', '-d', '-b', env.bundle(() => {}, ['sleep', '100']), id]);
  const file = path.join(env.dir, `bad-${id}.json`);
  try {
    for (const [extra, re] of [
      [{ scheduler: { policy: 'SCHED_FAST' } }, /process\.scheduler\.policy: unknown policy "SCHED_FAST"/],
      [{ ioPriority: { class: 'IOPRIO_CLASS_FAST' } }, /process\.ioPriority\.class: unknown class "IOPRIO_CLASS_FAST"/],
    ] as const) {
      fs.writeFileSync(file, JSON.stringify({ args: ['true'], cwd: '/', ...extra }));
      const before = snapshot();
      const r = env.trun(['exec', '-p', file, id]);
      assert.is(r.code, 255);
      assert.match(r.stderr, re);
      assert.equal(newProcesses(before).filter(ours), []);
    }
  } finally {
    env.trun(['delete', '--force', id]);
  }
});

test.run();
