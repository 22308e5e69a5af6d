// SCMP_ACT_NOTIFY with linux.seccomp.listenerPath: a real agent (build/seccomp-listener)
// receives the container process state and the notify fd, and answers mkdir calls; the
// container must see exactly its answers. Also the failures: no listenerPath, no listener.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { seccompBundle } from '../helpers/seccomp';
import { REPO, TestEnv, assertNothingLeft, snapshot } from '../helpers/trun';
import type { LinuxSeccomp, Spec } from '../../spec/types/runtime';

const env = new TestEnv('seccomp-notify');
const AGENT = path.join(REPO, 'build/seccomp-listener');

interface StateEntry {
  fds: number;
  fdType: string;
  state: { ociVersion: string; fds: string[]; pid: number; metadata?: string; state: Record<string, unknown> };
}
interface NotifEntry { syscall: string; pid: number; path: string; answer: string }

/** build/seccomp-listener on a socket of its own, stopped (by its pid) with stop(). */
class Agent {
  readonly socket: string;
  readonly log: string;
  private child?: ChildProcess;

  constructor(name: string) {
    this.socket = path.join(env.dir, `${name}.sock`);
    this.log = path.join(env.dir, `${name}.log`);
  }

  async start(mode?: 'drop' | 'hangup'): Promise<this> {
    const child = spawn(AGENT, [this.socket, this.log, ...(mode ? [mode] : [])], { stdio: ['ignore', 'pipe', 'inherit'] });
    this.child = child;
    await new Promise<void>((resolve, reject) => {
      child.stdout!.once('data', () => resolve());
      child.once('exit', (code) => reject(new Error(`seccomp-listener exited ${code}`)));
    });
    return this;
  }

  /** Kills the agent; with SIGKILL its socket file stays behind, with nobody listening. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise((resolve) => child.once('exit', resolve));
    child.kill(signal);
    await gone;
  }

  private lines(): Array<Record<string, unknown>> {
    if (!fs.existsSync(this.log)) return [];
    return fs.readFileSync(this.log, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
  }

  states(): StateEntry[] {
    return this.lines().filter((l) => 'state' in l) as unknown as StateEntry[];
  }

  notifications(syscalls: string[] = ['mkdir', 'mkdirat']): NotifEntry[] {
    return (this.lines().filter((l) => 'syscall' in l) as unknown as NotifEntry[]).filter((n) => syscalls.includes(n.syscall));
  }
}

const notifyMkdir = (agent: { socket: string } | string, extra: Partial<LinuxSeccomp> = {}): LinuxSeccomp => ({
  defaultAction: 'SCMP_ACT_ALLOW',
  listenerPath: typeof agent === 'string' ? agent : agent.socket,
  listenerMetadata: 'MKDIR=/tmp/faked',
  syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_NOTIFY' }],
  ...extra,
});

function bundleWith(seccomp: LinuxSeccomp, args: string[], noNewPrivileges = true, mut: (s: Spec) => void = () => {}): string {
  return seccompBundle(env, seccomp, args, noNewPrivileges, mut);
}

const readPid = (file: string) => Number(fs.readFileSync(file, 'utf8'));

test('run: the agent gets the state and the fd, and the container sees exactly its answers', async () => {
  for (const nnp of [true, false]) {
    const agent = await new Agent(`run-${nnp}`).start();
    try {
      const id = env.id();
      const pidFile = path.join(env.dir, `${id}.pid`);
      const bundle = bundleWith(notifyMkdir(agent), ['sh', '-c', [
        'mkdir /tmp/denied; echo denied=$?',
        'mkdir /tmp/faked; echo faked=$?; [ -e /tmp/faked ] || echo faked-absent',
        'mkdir /tmp/real && [ -d /tmp/real ] && echo real-made',
        // the init kept no copy of the notify fd: none reached the user's process
        "ls -l /proc/$$/fd | grep -c 'anon_inode:seccomp'",
        'exit 0',
      ].join('; ')], nnp, (s) => { s.annotations = { 'org.example/owner': 'tests' }; });
      const r = env.trun(['run', '--pid-file', pidFile, '-b', bundle, id]);
      assert.is(r.stdout, 'denied=1\nfaked=0\nfaked-absent\nreal-made\n0\n', `noNewPrivileges=${nnp}: ${r.stderr}`);
      assert.match(r.stderr, /mkdir: can't create directory '\/tmp\/denied': No medium found/);
      assert.is(r.code, 0);

      const [entry, ...more] = agent.states();
      assert.equal(more, [], 'one connection, one state');
      assert.is(entry!.fds, 1);
      assert.is(entry!.fdType, 'anon_inode:seccomp notify');
      const pid = readPid(pidFile);
      assert.equal(entry!.state, {
        ociVersion: '1.3.0',
        fds: ['seccompFd'],
        pid,
        metadata: 'MKDIR=/tmp/faked',
        state: {
          ociVersion: entry!.state.state.ociVersion, id, status: 'creating', pid, bundle, rootfs: path.join(bundle, 'rootfs'),
          created: entry!.state.state.created, owner: 'root', annotations: { 'org.example/owner': 'tests' },
        },
      });
      assert.equal(agent.notifications().map((n) => [n.path, n.answer]), [['/tmp/denied', 'ENOMEDIUM'], ['/tmp/faked', '0'], ['/tmp/real', 'continue']]);
    } finally {
      await agent.stop();
    }
  }
});

test('create, start, exec: create hands over the fd ("creating"), each exec its own ("running", its pid)', async () => {
  for (const nnp of [true, false]) {
    const agent = await new Agent(`exec-${nnp}`).start();
    const id = env.id();
    try {
      env.ok(['create', '-b', bundleWith(notifyMkdir(agent), ['sleep', '1000'], nnp), id]);
      const initPid = env.state(id).pid;
      assert.equal(agent.states().map((s) => [s.state.pid, s.state.state.status, s.state.state.pid]), [[initPid, 'creating', initPid]], 'before start');
      env.ok(['start', id]);

      const pidFile = path.join(env.dir, `${id}.exec.pid`);
      const out = env.ok(['exec', '--pid-file', pidFile, id, 'sh', '-c', 'mkdir /tmp/faked && [ ! -e /tmp/faked ] && echo faked; mkdir /tmp/denied; echo denied=$?']);
      assert.is(out, 'faked\ndenied=1\n', `noNewPrivileges=${nnp}`);
      const [, exec] = agent.states();
      assert.ok(exec, 'the exec connected too');
      assert.is(exec.state.pid, readPid(pidFile));
      assert.is.not(exec.state.pid, initPid);
      assert.equal([exec.state.state.id, exec.state.state.status, exec.state.state.pid, exec.state.metadata], [id, 'running', initPid, 'MKDIR=/tmp/faked']);
      assert.is(exec.fdType, 'anon_inode:seccomp notify');
      assert.equal(agent.notifications().map((n) => [n.path, n.answer]), [['/tmp/faked', '0'], ['/tmp/denied', 'ENOMEDIUM']]);
    } finally {
      env.trun(['delete', '--force', id]);
      await agent.stop();
    }
  }
});

test('the init\'s own calls may be notified (execve, read, write, close...): the agent has the fd first', async () => {
  const busy: [string, ...string[]] = ['execve', 'openat', 'open', 'read', 'write', 'close', 'sendto', 'recvfrom', 'brk', 'mmap', 'munmap', 'fcntl', 'prctl', 'capset', 'setresuid', 'mkdir'];
  for (const nnp of [true, false]) {
    const agent = await new Agent(`busy-${nnp}`).start();
    try {
      const seccomp = notifyMkdir(agent, { syscalls: [{ names: busy, action: 'SCMP_ACT_NOTIFY' }] });
      const id = env.id();
      env.ok(['create', '-b', bundleWith(seccomp, ['sh', '-c', 'echo hello; mkdir /tmp/denied || echo refused'], nnp), id]);
      const out = env.trun(['start', id]);
      assert.is(out.code, 0, out.stderr);
      await env.waitStatus(id, 'stopped');
      const seen = new Set(agent.notifications(busy).map((n) => n.syscall));
      for (const s of ['execve', 'close', 'read', 'write']) assert.ok(seen.has(s), `${s} went through the agent (noNewPrivileges=${nnp})`);
      assert.equal(agent.notifications().map((n) => n.answer), ['ENOMEDIUM']);
      env.ok(['delete', id]);
    } finally {
      await agent.stop();
    }
  }
});

test('an agent that drops the fd: the notified calls fail with ENOSYS', async () => {
  const agent = await new Agent('drop').start('drop');
  try {
    const r = env.trun(['run', '-b', bundleWith(notifyMkdir(agent), ['sh', '-c', 'mkdir /tmp/x; echo rc=$?']), env.id()]);
    assert.is(r.stdout, 'rc=1\n');
    assert.match(r.stderr, /can't create directory '\/tmp\/x': Function not implemented/);
    assert.is(agent.states().length, 1);
  } finally {
    await agent.stop();
  }
});

test('NOTIFY without a listenerPath: a clear error, nothing left', () => {
  for (const command of ['create', 'run']) {
    for (const listenerPath of [undefined, '']) {
      const before = snapshot();
      const id = env.id();
      const r = env.trun([command, '-b', bundleWith(notifyMkdir('/unused', { listenerPath }), ['true']), id]);
      assert.is(r.code, 1);
      assert.match(r.stderr, /linux\.seccomp\.listenerPath: must be set when a rule uses SCMP_ACT_NOTIFY \(seccomp listenerPath is not set\)/);
      assertNothingLeft(env, before, id);
    }
  }
});

test('an unreachable listener: create and run fail naming the container and the socket, nothing left', async () => {
  // Nobody listening on a socket that remains (the agent was killed), and no socket at all.
  const dead = await new Agent('dead').start();
  await dead.stop('SIGKILL');
  assert.ok(fs.existsSync(dead.socket));
  const cases: Array<[string, RegExp]> = [
    [dead.socket, /connection refused/],
    [path.join(env.dir, 'nobody.sock'), /no such file or directory/],
    [path.join(env.dir, 'no-such-dir', 'agent.sock'), /no such file or directory/],
  ];
  for (const [socket, reason] of cases) {
    for (const cmd of ['create', 'run']) {
      const before = snapshot();
      const id = env.id();
      const r = env.trun([cmd, '-b', bundleWith(notifyMkdir(socket), ['true']), id]);
      assert.is(r.code, 1, `${cmd} ${socket}`);
      const quoted = socket.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
      assert.match(r.stderr, new RegExp(`container "${id}": seccomp listener: (connect|open directory of) "${quoted}": ${reason.source}`));
      assertNothingLeft(env, before, id);
    }
  }
});

test('an agent that hangs up before the state: create fails at the hand-over, naming the container, nothing left', async () => {
  const agent = await new Agent('hangup').start('hangup');
  try {
    for (const nnp of [true, false]) {
      const before = snapshot();
      const id = env.id();
      const r = env.trun(['create', '-b', bundleWith(notifyMkdir(agent), ['true'], nnp), id]);
      assert.is(r.code, 1);
      assert.match(r.stderr, new RegExp(`container "${id}": seccomp listener ".*hangup\\.sock": sendmsg the notify fd and the container process state: (broken pipe|connection reset by peer)`));
      assertNothingLeft(env, before, id);
    }
  } finally {
    await agent.stop();
  }
});

test('exec fails clearly once the agent is gone; the container carries on', async () => {
  const agent = await new Agent('exec-gone').start();
  const id = env.id();
  try {
    env.ok(['run', '-d', '-b', bundleWith(notifyMkdir(agent), ['sleep', '1000']), id]);
    await agent.stop('SIGKILL');
    const r = env.trun(['exec', id, 'true']);
    assert.is(r.code, 255);
    assert.match(r.stderr, new RegExp(`container "${id}": seccomp listener: connect ".*exec-gone\\.sock": connection refused`));
    assert.is(env.state(id).status, 'running');
  } finally {
    env.trun(['delete', '--force', id]);
  }
});

test('listenerPath without a NOTIFY rule is ignored, as the spec says', () => {
  const seccomp: LinuxSeccomp = {
    defaultAction: 'SCMP_ACT_ALLOW', listenerPath: path.join(env.dir, 'nobody.sock'), listenerMetadata: 'x',
    syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 }],
  };
  const r = env.trun(['run', '-b', bundleWith(seccomp, ['sh', '-c', 'mkdir /tmp/a; echo rc=$?']), env.id()]);
  assert.is(r.code, 0, r.stderr);
  assert.is(r.stdout, 'rc=1\n');
});

test('trun features lists SCMP_ACT_NOTIFY', () => {
  const f = JSON.parse(env.ok(['features'])) as { linux: { seccomp: { actions: string[] } } };
  assert.ok(f.linux.seccomp.actions.includes('SCMP_ACT_NOTIFY'));
});

test.after(() => env.cleanup());
test.run();
