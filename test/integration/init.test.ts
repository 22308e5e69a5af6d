// trun-init driven directly with hand-written plans over its sync socket: real namespaces,
// mounts, credentials and seccomp (runs as root). Each test spawns dist/trun-init with the
// socket at fd 3 and plays trun's side of the protocol.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import type { Socket } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CloneMode, ExecFlag, FrameReader, MountFlag, MsgType, OpCode, encodePlan, frame, type Message, type Op } from '../../runtime/init/protocol';
import { makeBusyboxRootfs } from '../helpers/rootfs';

const INIT = path.resolve('dist/trun-init');
const RECVTTY = path.resolve('build/recvtty');
const GETSEALS = path.resolve('build/getseals');
const BUSYBOX = '/bin/busybox';

// Kernel constants the plans use (TypeScript's plan compiler owns the real tables).
const CLONE_NEWNS = 0x20000;
const CLONE_NEWUTS = 0x4000000;
const CLONE_NEWIPC = 0x8000000;
const CLONE_NEWPID = 0x20000000;
const MS_NOSUID = 0x2;
const MS_NODEV = 0x4;
const MS_NOEXEC = 0x8;
const MS_RDONLY = 0x1;
const MS_BIND = 0x1000;
const MS_REMOUNT = 0x20;
const MS_REC = 0x4000;
const MS_SLAVE = 1 << 19;
const SCMP_ACT_ALLOW = 0x7fff0000;
const SCMP_ACT_ERRNO = (errno: number): number => 0x00050000 | errno;
const SCMP_CMP_EQ = 4n;
const EPERM = 1;
const CAP_CHOWN = 0;
const CAP_NET_BIND_SERVICE = 10;

// ---- harness ------------------------------------------------------------------------------

interface Result {
  frames: Message[];
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** go/abort: send that answer; eof: close our end; none: the callback answered itself. */
type SyncAnswer = 'go' | 'abort' | 'eof' | 'none';

interface RunOptions {
  /** The trun-init binary to spawn (dist/trun-init by default). */
  init?: string;
  /** Called for every SYNC frame; answers GO unless it says otherwise. */
  onSync?: (name: string, init: ChildProcess, frames: Message[]) => SyncAnswer | Promise<SyncAnswer>;
  /** Called for every frame as it arrives (after it is recorded). */
  onFrame?: (m: Message, init: ChildProcess) => void;
  /** Called once the init is spawned. */
  onSpawn?: (init: ChildProcess) => void;
  stdin?: 'ignore' | 'pipe';
  /** Extra inherited pipes after the socket (fds 4, 5, ...), open without close-on-exec. */
  extraFds?: number;
  /** Start the init from a shell that set these signals to SIG_IGN (which survives execve). */
  ignoreSignals?: string[];
  /** Run the init as this uid/gid from the start. */
  uid?: number;
  gid?: number;
  timeoutMs?: number;
}

const text = (m: Message): string => m.payload.toString('utf8');
const ofType = (frames: Message[], t: MsgType): Message[] => frames.filter((m) => m.type === t);
const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/**
 * Spawns trun-init with the plan and resolves once it has exited and every copy of its stdio
 * is closed (so children that inherited them, e.g. a DETACHed container, are gone too). The
 * timeout is a safety net, not synchronisation: it kills every pid we know of and fails.
 */
/** Runs a plan; an exec (sh(), hostSh(), execOps()) is two ops, so steps may be lists. */
function runInit(steps: Array<Op | Op[]>, opts: RunOptions = {}): Promise<Result> {
  const ops = steps.flat();
  return new Promise((resolve, reject) => {
    const stdio: Array<'ignore' | 'pipe'> = [opts.stdin ?? 'ignore', 'pipe', 'pipe', 'pipe'];
    for (let i = 0; i < (opts.extraFds ?? 0); i++) stdio.push('pipe');
    const ids = opts.uid === undefined ? {} : { uid: opts.uid, gid: opts.gid ?? opts.uid };
    const init = opts.ignoreSignals
      ? spawn(BUSYBOX, ['sh', '-c', `trap "" ${opts.ignoreSignals.join(' ')}; exec "$0" 3`, opts.init ?? INIT], { stdio, ...ids })
      : spawn(opts.init ?? INIT, ['3'], { stdio, ...ids });
    const sock = init.stdio[3] as Socket;
    const reader = new FrameReader();
    const frames: Message[] = [];
    const pids = new Set<number>();
    let stdout = '';
    let stderr = '';
    let exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;

    const guard = setTimeout(() => {
      for (const pid of [init.pid, ...pids]) if (pid) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
      reject(new Error(`trun-init timed out; frames: ${frames.map((f) => `${MsgType[f.type]}(${text(f)})`).join(' ')}; stderr: ${stderr}`));
    }, opts.timeoutMs ?? 15000);

    init.stdout!.on('data', (b: Buffer) => { stdout += b.toString('utf8'); });
    init.stderr!.on('data', (b: Buffer) => { stderr += b.toString('utf8'); });
    sock.on('error', () => { /* EPIPE after the init exec'd or exited: the frames tell the story */ });
    sock.on('data', (chunk: Buffer) => {
      for (const m of reader.push(chunk)) {
        frames.push(m);
        if (m.type === MsgType.PID) pids.add(Number(text(m)));
        opts.onFrame?.(m, init);
        if (m.type === MsgType.SYNC) {
          Promise.resolve().then(() => (opts.onSync ? opts.onSync(text(m), init, frames) : 'go')).then(
            (answer) => {
              if (answer === 'go') sock.write(frame(MsgType.GO));
              else if (answer === 'abort') sock.write(frame(MsgType.ABORT, 'test aborts'));
              else if (answer === 'eof') sock.end();
            },
            (e) => {
              sock.write(frame(MsgType.ABORT, 'test failed'));
              reject(e);
            },
          );
        }
      }
    });
    init.on('exit', (code, signal) => { exit = { code, signal }; });
    init.on('error', reject);
    init.on('close', () => {
      clearTimeout(guard);
      resolve({ frames, code: exit?.code ?? null, signal: exit?.signal ?? null, stdout, stderr });
    });
    opts.onSpawn?.(init);
    sock.write(frame(MsgType.PLAN, encodePlan(ops)));
  });
}

/** A fresh temp dir for one test, removed by the returned cleanup. */
function tempDir(): { dir: string; cleanup: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'trun-init-test-'));
  return { dir, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

async function withTemp<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const t = tempDir();
  try {
    return await fn(t.dir);
  } finally {
    t.cleanup();
  }
}

/** The start of a container plan: new namespaces, the rootfs bound on itself, proc mounted. */
function containerStart(rootfs: string, flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC): Op[] {
  return [
    { op: OpCode.CLONE, flags, mode: CloneMode.WAIT },
    { op: OpCode.MOUNT, source: '', target: '/', fstype: '', flags: MS_SLAVE | MS_REC, data: '', mflags: 0 },
    { op: OpCode.MOUNT, source: rootfs, target: rootfs, fstype: '', flags: MS_BIND | MS_REC, data: '', mflags: 0 },
    // After the self-bind: the fd must name the new mount, not the directory under it.
    { op: OpCode.SET_ROOTFS, path: rootfs },
    {
      op: OpCode.MOUNT, source: 'proc', target: '/proc', fstype: 'proc', flags: MS_NOSUID | MS_NODEV | MS_NOEXEC, data: '',
      mflags: MountFlag.IN_ROOT | MountFlag.NO_SYMLINK | MountFlag.MKDIR,
    },
  ];
}

/** EXEC_PREPARE then EXEC. */
const execOps = (argv: string[], env: string[], preserveFds = 0, flags = 0): Op[] => [
  { op: OpCode.EXEC_PREPARE, env, preserveFds, flags },
  { op: OpCode.EXEC, argv },
];
const sh = (script: string, env: string[] = ['PATH=/bin:/usr/bin:/sbin:/usr/sbin']): Op[] => execOps(['/bin/sh', '-c', script], env);
/** Host busybox sh, for plans that never pivot. */
const hostSh = (script: string): Op[] => execOps([BUSYBOX, 'sh', '-c', script], ['PATH=/usr/bin:/bin']);

// ---- tests --------------------------------------------------------------------------------

test('container: new pid/mount/uts/ipc namespaces, proc in root, pivot, hostname, exec', () =>
  withTemp(async (dir) => {
    const rootfs = makeBusyboxRootfs(path.join(dir, 'rootfs'));
    const r = await runInit([
      ...containerStart(rootfs),
      { op: OpCode.PIVOT_ROOT },
      { op: OpCode.SETHOSTNAME, name: 'trun-box' },
      sh('echo $$; hostname; cat /proc/1/comm; test -e ' + JSON.stringify(rootfs) + ' && echo host-visible || echo host-hidden'),
    ]);
    assert.is(r.stderr, '');
    assert.equal(r.frames.map((f) => f.type), [MsgType.PID, MsgType.EXIT]);
    const pid = Number(text(r.frames[0]!));
    assert.ok(pid > 1 && pid !== undefined);
    assert.is(text(r.frames[1]!), '0');
    assert.is(r.stdout, '1\ntrun-box\nsh\nhost-hidden\n');
    assert.is(r.code, 0);
    assert.is.not(os.hostname(), 'trun-box');
  }));

test('MOVE_ROOT (--no-pivot) also makes the rootfs the root', () =>
  withTemp(async (dir) => {
    const rootfs = makeBusyboxRootfs(path.join(dir, 'rootfs'));
    fs.writeFileSync(path.join(rootfs, 'marker'), 'inside');
    const r = await runInit([...containerStart(rootfs), { op: OpCode.MOVE_ROOT }, sh('cat /marker; echo; test -e ' + JSON.stringify(rootfs) + ' && echo host-visible || echo host-hidden')]);
    assert.is(r.stderr, '');
    assert.is(r.stdout, 'inside\nhost-hidden\n');
    assert.is(r.code, 0);
  }));

test('SETNS joins the namespace of another process; UNSHARE makes a new one', async () => {
  let joined = '';
  let unshared = '';
  let missing: string[] = [];
  // Container A: a new uts namespace with its own name, held at a sync point while B joins it.
  const a = await runInit([
    { op: OpCode.CLONE, flags: CLONE_NEWUTS, mode: CloneMode.WAIT },
    { op: OpCode.SETHOSTNAME, name: 'joined-box' },
    { op: OpCode.SYNC, name: 'hold' },
  ], {
    onSync: async (_name, _init, frames): Promise<SyncAnswer> => {
      const pidA = Number(text(ofType(frames, MsgType.PID)[0]!));
      const b = await runInit([{ op: OpCode.SETNS, path: `/proc/${pidA}/ns/uts`, nstype: CLONE_NEWUTS }, hostSh('hostname')]);
      joined = b.stdout;
      const c = await runInit([
        { op: OpCode.UNSHARE, flags: CLONE_NEWUTS },
        { op: OpCode.SETHOSTNAME, name: 'fresh-box' },
        { op: OpCode.SETDOMAINNAME, name: 'fresh.domain' },
        hostSh('hostname; cat /proc/sys/kernel/domainname'),
      ]);
      unshared = c.stdout;
      const d = await runInit([{ op: OpCode.SETNS, path: '/proc/999999999/ns/net', nstype: 0 }]);
      missing = ofType(d.frames, MsgType.ERROR).map(text);
      return 'abort';
    },
  });
  assert.is(a.code, 1); // the aborted child exits 1, mirrored by its parent
  assert.is(joined, 'joined-box\n');
  assert.is(unshared, 'fresh-box\nfresh.domain\n');
  assert.equal(missing, ['setns: open "/proc/999999999/ns/net": no such file or directory']);
  assert.is.not(os.hostname(), 'joined-box');
});

test('a new user namespace: trun writes the maps at a sync point, SET_ID becomes its root', async () => {
  const r = await runInit([
    { op: OpCode.CLONE, flags: 0x10000000 /* CLONE_NEWUSER */ | CLONE_NEWNS, mode: CloneMode.WAIT },
    { op: OpCode.SYNC, name: 'maps' },
    { op: OpCode.SET_ID, uid: 0, gid: 0 },
    { op: OpCode.USER, uid: 0, gid: 0, groups: [] },
    hostSh('id -u; id -g; cat /proc/self/uid_map | tr -s " "; grep CapEff /proc/self/status'),
  ], {
    onSync: (_name, _init, frames) => {
      const pid = Number(text(ofType(frames, MsgType.PID)[0]!));
      fs.writeFileSync(`/proc/${pid}/uid_map`, '0 100000 65536\n');
      fs.writeFileSync(`/proc/${pid}/gid_map`, '0 100000 65536\n');
      return 'go';
    },
  });
  assert.is(r.code, 0, r.stderr);
  assert.is(r.stdout, '0\n0\n 0 100000 65536\nCapEff:\t000001ffffffffff\n'.replace('000001ffffffffff', capEffAll()));
});

/** CapEff of a process with every capability the kernel knows (root of a new user namespace). */
function capEffAll(): string {
  const last = Number(fs.readFileSync('/proc/sys/kernel/cap_last_cap', 'utf8'));
  return ((1n << BigInt(last + 1)) - 1n).toString(16).padStart(16, '0');
}

test('WRITE_FILE, RLIMIT, UMASK, CHDIR and SETSID', () =>
  withTemp(async (dir) => {
    const r = await runInit([
      { op: OpCode.WRITE_FILE, path: path.join(dir, 'new'), data: 'line one\nline two\n', create: true },
      { op: OpCode.RLIMIT, resource: 7 /* RLIMIT_NOFILE */, soft: 100n, hard: 200n },
      { op: OpCode.UMASK, mask: 0o027 },
      { op: OpCode.CHDIR, path: dir, flags: 0 },
      { op: OpCode.SETSID },
      hostSh('ulimit -n; ulimit -Hn; umask; pwd; test "$(cut -d" " -f6 /proc/$$/stat)" = "$$" && echo session-leader'),
    ]);
    assert.is(r.stderr, '');
    assert.is(r.stdout, `100\n200\n0027\n${dir}\nsession-leader\n`);
    assert.is(fs.readFileSync(path.join(dir, 'new'), 'utf8'), 'line one\nline two\n');
    const noCreate = await runInit([{ op: OpCode.WRITE_FILE, path: path.join(dir, 'absent'), data: 'x', create: false }]);
    assert.equal(ofType(noCreate.frames, MsgType.ERROR).map(text), [`write_file: open "${path.join(dir, 'absent')}": no such file or directory`]);
  }));

test('OPEN_FIFO makes the exec fifo with mode 0622 whatever the umask, and refuses a non-fifo', () =>
  withTemp(async (dir) => {
    const fifo = path.join(dir, 'exec.fifo');
    const r = await runInit([{ op: OpCode.UMASK, mask: 0o077 }, { op: OpCode.OPEN_FIFO, path: fifo }]);
    assert.is(r.code, 0, r.stderr);
    const st = fs.statSync(fifo);
    assert.ok(st.isFIFO());
    assert.is(st.mode & 0o777, 0o622);
    fs.writeFileSync(path.join(dir, 'plain'), '');
    const bad = await runInit([{ op: OpCode.OPEN_FIFO, path: path.join(dir, 'plain') }]);
    assert.equal(ofType(bad.frames, MsgType.ERROR).map(text), [`open_fifo: "${path.join(dir, 'plain')}" exists and is not a fifo`]);
  }));

test('the exit code of the container passes through, as status and EXIT frame', () =>
  withTemp(async (dir) => {
    const rootfs = makeBusyboxRootfs(path.join(dir, 'rootfs'));
    const r = await runInit([...containerStart(rootfs), { op: OpCode.PIVOT_ROOT }, sh('exit 42')]);
    assert.is(r.code, 42);
    assert.is(text(ofType(r.frames, MsgType.EXIT)[0]!), String(42 << 8));
  }));

test('death by a signal is mirrored: EXIT carries the raw status, the init dies of the same signal', async () => {
  const r = await runInit([{ op: OpCode.CLONE, flags: 0, mode: CloneMode.WAIT }, hostSh('kill -TERM $$')]);
  assert.is(text(ofType(r.frames, MsgType.EXIT)[0]!), '15');
  assert.is(r.signal, 'SIGTERM');
});

test('signals sent to a waiting init are forwarded to the container', async () => {
  let signalled = false;
  const r = await runInit(
    [{ op: OpCode.CLONE, flags: 0, mode: CloneMode.WAIT }, hostSh("trap 'kill $!; echo got-usr1; exit 7' USR1; sleep 60 & echo ready; wait")],
    {
      onSpawn: (init) => {
        init.stdout!.on('data', (b: Buffer) => {
          if (!signalled && b.toString().includes('ready')) {
            signalled = true;
            init.kill('SIGUSR1');
          }
        });
      },
    },
  );
  assert.ok(signalled);
  assert.is(r.stdout, 'ready\ngot-usr1\n');
  assert.is(r.code, 7);
  assert.is(text(ofType(r.frames, MsgType.EXIT)[0]!), String(7 << 8));
});

test('a failing mount comes back as an ERROR frame naming the op, the target and errno', () =>
  withTemp(async (dir) => {
    const rootfs = makeBusyboxRootfs(path.join(dir, 'rootfs'));
    const r = await runInit([
      ...containerStart(rootfs, CLONE_NEWNS),
      { op: OpCode.MOUNT, source: 'none', target: '/mnt/x', fstype: 'no-such-fs', flags: 0, data: '', mflags: MountFlag.IN_ROOT | MountFlag.MKDIR },
      sh('echo not reached'),
    ]);
    const errors = ofType(r.frames, MsgType.ERROR).map(text);
    assert.equal(errors, ['mount: mount "none" on "/mnt/x": no such device']);
    assert.is(r.stdout, '');
    assert.is(r.code, 1);
    assert.is(text(ofType(r.frames, MsgType.EXIT)[0]!), String(1 << 8));
    // MKDIR created the target inside the rootfs before the mount failed.
    assert.ok(fs.statSync(path.join(rootfs, 'mnt/x')).isDirectory());
  }));

test('a missing mount target is an error without MKDIR and skipped with OPTIONAL', () =>
  withTemp(async (dir) => {
    const rootfs = makeBusyboxRootfs(path.join(dir, 'rootfs'));
    const missing: Op = { op: OpCode.MOUNT, source: 'tmpfs', target: '/nope', fstype: 'tmpfs', flags: 0, data: '', mflags: MountFlag.IN_ROOT };
    const r = await runInit([...containerStart(rootfs, CLONE_NEWNS), missing, sh('echo not reached')]);
    assert.equal(ofType(r.frames, MsgType.ERROR).map(text), ['mount: open mount target "/nope" in rootfs: no such file or directory']);
    const r2 = await runInit([
      ...containerStart(rootfs, CLONE_NEWNS),
      { ...missing, mflags: MountFlag.IN_ROOT | MountFlag.OPTIONAL },
      { op: OpCode.MOUNT, source: path.join(dir, 'no-src'), target: '/tmp', fstype: '', flags: MS_BIND, data: '', mflags: MountFlag.IN_ROOT | MountFlag.OPTIONAL },
      { op: OpCode.PIVOT_ROOT },
      sh('echo skipped'),
    ]);
    assert.is(r2.stdout, 'skipped\n');
    assert.is(r2.code, 0);
    assert.not.ok(fs.existsSync(path.join(rootfs, 'nope')));
  }));

test('NO_SYMLINK refuses /proc when the image made it a symlink', () =>
  withTemp(async (dir) => {
    const rootfs = makeBusyboxRootfs(path.join(dir, 'rootfs'));
    fs.rmdirSync(path.join(rootfs, 'proc'));
    fs.symlinkSync('/tmp', path.join(rootfs, 'proc'));
    const r = await runInit([...containerStart(rootfs, CLONE_NEWNS), sh('echo not reached')]);
    assert.equal(ofType(r.frames, MsgType.ERROR).map(text), ['mount: mount target "/proc" is a symlink: too many levels of symbolic links']);
    assert.is(r.code, 1);
  }));

test('symlinks in the rootfs cannot redirect an IN_ROOT bind mount outside the rootfs', () =>
  withTemp(async (dir) => {
    const rootfs = makeBusyboxRootfs(path.join(dir, 'rootfs'));
    const src = path.join(dir, 'src');
    const outside = path.join(dir, 'outside');
    fs.mkdirSync(src);
    fs.writeFileSync(path.join(src, 'marker'), 'secret');
    fs.mkdirSync(outside);
    fs.symlinkSync('/', path.join(rootfs, 'abs'));
    fs.symlinkSync('../../../../../../../../../..', path.join(rootfs, 'up'));
    // Followed naively, both targets name <dir>/outside on the host.
    const bind = (target: string): Op => ({ op: OpCode.MOUNT, source: src, target, fstype: '', flags: MS_BIND, data: '', mflags: MountFlag.IN_ROOT | MountFlag.MKDIR });
    const r = await runInit([
      ...containerStart(rootfs, CLONE_NEWNS),
      bind('/abs' + outside),
      bind('/up' + outside + '2'),
      // Still in the container's mount namespace, before any pivot: look at both sides.
      hostSh(`ls ${outside}; echo ---; echo "$(cat ${rootfs}${outside}/marker)"; echo "$(cat ${rootfs}${outside}2/marker)"`),
    ]);
    assert.is(r.stderr, '');
    assert.is(r.stdout, '---\nsecret\nsecret\n');
    assert.is(r.code, 0);
    assert.equal(fs.readdirSync(outside), []);
  }));

test('a bind mount takes read-only and nosuid from the remount that follows it, not by itself', () =>
  withTemp(async (dir) => {
    const rootfs = makeBusyboxRootfs(path.join(dir, 'rootfs'));
    const src = path.join(dir, 'src');
    fs.mkdirSync(src);
    const r = await runInit([
      ...containerStart(rootfs, CLONE_NEWNS | CLONE_NEWPID),
      // mount(2) ignores the per-mount flags given with MS_BIND: the init adds no remount itself.
      { op: OpCode.MOUNT, source: src, target: '/data', fstype: '', flags: MS_BIND | MS_RDONLY | MS_NOSUID, data: '', mflags: MountFlag.IN_ROOT | MountFlag.MKDIR },
      { op: OpCode.MOUNT, source: src, target: '/bound', fstype: '', flags: MS_BIND, data: '', mflags: MountFlag.IN_ROOT | MountFlag.MKDIR },
      { op: OpCode.MOUNT, source: '', target: '/bound', fstype: '', flags: MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID, data: '', mflags: MountFlag.IN_ROOT },
      { op: OpCode.PIVOT_ROOT },
      sh('touch /data/f && echo writable; touch /bound/g 2>/tmp/err && echo writable || echo read-only; grep " /bound " /proc/self/mounts | cut -d" " -f4'),
    ]);
    assert.is(r.code, 0, r.stderr);
    const [first, verdict, opts] = r.stdout.trim().split('\n');
    assert.is(first, 'writable');
    assert.is(verdict, 'read-only');
    assert.ok(opts!.split(',').includes('ro') && opts!.split(',').includes('nosuid'), opts);
    assert.ok(fs.existsSync(path.join(src, 'f')));
    assert.not.ok(fs.existsSync(path.join(src, 'g')));
  }));

test('MKNOD, SYMLINK, MKDIR, MASK_PATH and READONLY_PATH shape the container', () =>
  withTemp(async (dir) => {
    const rootfs = makeBusyboxRootfs(path.join(dir, 'rootfs'));
    fs.writeFileSync(path.join(rootfs, 'etc/secret'), 'hidden');
    fs.writeFileSync(path.join(rootfs, 'home/file'), 'hidden too');
    const r = await runInit([
      ...containerStart(rootfs),
      { op: OpCode.MOUNT, source: 'tmpfs', target: '/dev', fstype: 'tmpfs', flags: MS_NOSUID, data: 'mode=755', mflags: MountFlag.IN_ROOT },
      { op: OpCode.MKNOD, path: '/dev/null', mode: 0o20666, major: 1, minor: 3, uid: 0, gid: 0 },
      { op: OpCode.MKNOD, path: '/dev/net/tun', mode: 0o20600, major: 10, minor: 200, uid: 0, gid: 0 },
      { op: OpCode.SYMLINK, target: '/proc/self/fd', path: '/dev/fd' },
      { op: OpCode.MKDIR, path: '/dev/shm/sub', mode: 0o1777 },
      { op: OpCode.PIVOT_ROOT },
      { op: OpCode.MASK_PATH, path: '/etc/secret' },
      { op: OpCode.MASK_PATH, path: '/home' },
      { op: OpCode.MASK_PATH, path: '/does/not/exist' },
      { op: OpCode.READONLY_PATH, path: '/proc/sys' },
      { op: OpCode.READONLY_PATH, path: '/not/here' },
      sh([
        'stat -c "%F %t:%T %a" /dev/null /dev/net/tun',
        'readlink /dev/fd',
        'stat -c "%a" /dev/shm/sub',
        'echo "[$(cat /etc/secret)]"',
        'ls -A /home | wc -l',
        'touch /home/x 2>/dev/null || echo home-ro',
        '{ echo 1 > /proc/sys/kernel/ns_last_pid; } 2>/dev/null || echo sys-ro',
        'echo x > /dev/null && echo null-works',
      ].join('; ')),
    ]);
    assert.is(r.stderr, '');
    assert.is(r.code, 0);
    assert.is(r.stdout, [
      'character special file 1:3 666',
      'character special file a:c8 600',
      '/proc/self/fd',
      '1777',
      '[]',
      '0',
      'home-ro',
      'sys-ro',
      'null-works',
      '',
    ].join('\n'));
  }));

test('RESOLVE_EXEC reports a missing or non-executable file before anything runs', () =>
  withTemp(async (dir) => {
    const missing = await runInit([{ op: OpCode.RESOLVE_EXEC, file: 'no-such-binary', path: `${dir}:/bin` }, hostSh('echo not reached')]);
    assert.equal(ofType(missing.frames, MsgType.ERROR).map(text), ['resolve_exec: exec "no-such-binary": executable file not found in $PATH']);
    assert.is(missing.code, 1);
    assert.is(missing.stdout, '');

    fs.writeFileSync(path.join(dir, 'plain'), '#!/bin/sh\n', { mode: 0o644 });
    const noexec = await runInit([{ op: OpCode.RESOLVE_EXEC, file: 'plain', path: dir }]);
    assert.equal(ofType(noexec.frames, MsgType.ERROR).map(text), ['resolve_exec: exec "plain": permission denied']);
    const direct = await runInit([{ op: OpCode.RESOLVE_EXEC, file: path.join(dir, 'plain'), path: '' }]);
    assert.equal(ofType(direct.frames, MsgType.ERROR).map(text), [`resolve_exec: exec "${path.join(dir, 'plain')}": permission denied`]);

    // Found through PATH (an empty PATH means the default one): EXEC runs what was found.
    const found = await runInit([
      { op: OpCode.RESOLVE_EXEC, file: 'busybox', path: '' },
      execOps(['busybox', 'echo', 'found'], []),
    ]);
    assert.is(found.stdout, 'found\n');
    assert.is(found.code, 0);
  }));

test('a failed execve is an ERROR frame, a line on stderr and exit 127', async () => {
  const r = await runInit([execOps(['/no/such/file'], [])]);
  assert.equal(ofType(r.frames, MsgType.ERROR).map(text), ['exec: exec "/no/such/file": no such file or directory']);
  assert.is(r.stderr, 'trun-init: exec: exec "/no/such/file": no such file or directory\n');
  assert.is(r.code, 127);
});

test('USER, CAPBSET and CAPSET drop to a user with exactly the capabilities asked for', async () => {
  const keep = (1n << BigInt(CAP_CHOWN)) | (1n << BigInt(CAP_NET_BIND_SERVICE));
  const bind = 1n << BigInt(CAP_NET_BIND_SERVICE);
  const r = await runInit([
    { op: OpCode.CAPBSET, keep },
    { op: OpCode.USER, uid: 1000, gid: 1000, groups: [100, 10] },
    { op: OpCode.CAPSET, effective: bind, permitted: bind, inheritable: bind, ambient: bind, flags: 0 },
    { op: OpCode.NO_NEW_PRIVS },
    hostSh('id -u; id -g; id -G; grep -E "^(Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs)" /proc/self/status'),
  ]);
  assert.is(r.stderr, '');
  assert.is(r.code, 0);
  assert.is(r.stdout, [
    '1000', '1000', '1000 10 100',
    'CapInh:\t0000000000000400',
    'CapPrm:\t0000000000000400',
    'CapEff:\t0000000000000400',
    'CapBnd:\t0000000000000401',
    'CapAmb:\t0000000000000400',
    'NoNewPrivs:\t1',
    '',
  ].join('\n'));
});

test('without ambient capabilities a non-root user execs with none', async () => {
  const r = await runInit([
    { op: OpCode.USER, uid: 65534, gid: 65534, groups: [] },
    { op: OpCode.CAPSET, effective: 0n, permitted: 0n, inheritable: 0n, ambient: 0n, flags: 0 },
    hostSh('id -u; id -G; grep CapEff /proc/self/status'),
  ]);
  assert.is(r.stdout, '65534\n65534\nCapEff:\t0000000000000000\n');
});

test('a seccomp rule makes mkdir fail with EPERM, and only mkdir', () =>
  withTemp(async (dir) => {
    const r = await runInit([
      { op: OpCode.SECCOMP_INIT, defaultAction: SCMP_ACT_ALLOW, architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86'], flags: 0 },
      { op: OpCode.SECCOMP_RULE, syscall: 'mkdir', action: SCMP_ACT_ERRNO(EPERM), args: [] },
      { op: OpCode.SECCOMP_RULE, syscall: 'mkdirat', action: SCMP_ACT_ERRNO(EPERM), args: [] },
      // A rule with the default action is a no-op, not an error.
      { op: OpCode.SECCOMP_RULE, syscall: 'getpid', action: SCMP_ACT_ALLOW, args: [] },
      { op: OpCode.SECCOMP_LOAD },
      hostSh(`mkdir ${dir}/blocked; echo rc=$?; touch ${dir}/file && echo touch-ok; grep ^Seccomp: /proc/self/status`),
    ]);
    assert.match(r.stderr, /Operation not permitted/);
    assert.is(r.stdout, 'rc=1\ntouch-ok\nSeccomp:\t2\n');
    assert.not.ok(fs.existsSync(path.join(dir, 'blocked')));
  }));

test('seccomp argument comparisons: chmod is denied only with mode 0700', () =>
  withTemp(async (dir) => {
    const r = await runInit([
      { op: OpCode.SECCOMP_INIT, defaultAction: SCMP_ACT_ALLOW, architectures: [], flags: 2 /* LOG */ },
      { op: OpCode.SECCOMP_RULE, syscall: 'chmod', action: SCMP_ACT_ERRNO(EPERM), args: [1n, 0o700n, 0n, SCMP_CMP_EQ] },
      { op: OpCode.SECCOMP_RULE, syscall: 'fchmodat', action: SCMP_ACT_ERRNO(EPERM), args: [2n, 0o700n, 0n, SCMP_CMP_EQ] },
      { op: OpCode.SECCOMP_LOAD },
      hostSh(`cd ${dir} && touch a b && chmod 700 a 2>/dev/null; echo private=$?; chmod 755 b; echo public=$?`),
    ]);
    assert.is(r.stdout, 'private=1\npublic=0\n');
    assert.is(fs.statSync(path.join(dir, 'a')).mode & 0o777, 0o644);
    assert.is(fs.statSync(path.join(dir, 'b')).mode & 0o777, 0o755);
  }));

test('seccomp errors name the unknown syscall, architecture or flag', async () => {
  const init = (over: Partial<{ architectures: string[]; flags: number }>): Op => ({
    op: OpCode.SECCOMP_INIT, defaultAction: SCMP_ACT_ALLOW, architectures: [], flags: 0, ...over,
  });
  const errorOf = async (ops: Op[]): Promise<string[]> => ofType((await runInit(ops)).frames, MsgType.ERROR).map(text);
  assert.equal(await errorOf([init({}), { op: OpCode.SECCOMP_RULE, syscall: 'no_such_call', action: SCMP_ACT_ERRNO(EPERM), args: [] }]),
    ['seccomp_rule: unknown syscall "no_such_call"']);
  assert.equal(await errorOf([init({ architectures: ['SCMP_ARCH_VAX'] })]), ['seccomp_init: unknown architecture "SCMP_ARCH_VAX"']);
  assert.equal(await errorOf([init({ flags: 8 })]), ['seccomp_init: unsupported filter flags 0x8: invalid argument']);
});

test('SYNC waits for GO; ABORT and EOF end the init silently with status 1', async () => {
  const seen: string[] = [];
  const ok = await runInit([
    { op: OpCode.SYNC, name: 'first' },
    { op: OpCode.SYNC, name: 'second' },
    hostSh('echo done'),
  ], {
    onSync: (name, _init, frames) => {
      seen.push(name);
      // Nothing after a SYNC point may have run yet: no output, no other frames.
      assert.is(frames[frames.length - 1]!.type, MsgType.SYNC);
      return 'go';
    },
  });
  assert.equal(seen, ['first', 'second']);
  assert.is(ok.stdout, 'done\n');
  assert.is(ok.code, 0);

  const aborted = await runInit([{ op: OpCode.SYNC, name: 'hooks' }, hostSh('echo not reached')], { onSync: () => 'abort' });
  assert.equal(aborted.frames.map((f) => f.type), [MsgType.SYNC]);
  assert.is(aborted.stdout + aborted.stderr, '');
  assert.is(aborted.code, 1);

  const eof = await runInit([{ op: OpCode.SYNC, name: 'hooks' }, hostSh('echo not reached')], { onSync: () => 'eof' });
  assert.is(eof.stdout + eof.stderr, '');
  assert.is(eof.code, 1);
});

test('CLONE in DETACH mode reports the pid first, exits 0 and leaves the child running', async () => {
  let childPid = 0;
  let initPid = 0;
  let initExited: Promise<number | null> | null = null;
  const r = await runInit([
    { op: OpCode.CLONE, flags: 0, mode: CloneMode.DETACH },
    { op: OpCode.SYNC, name: 'child-alive' },
    hostSh('echo child-ran'),
  ], {
    onSpawn: (init) => {
      initPid = init.pid!;
      initExited = new Promise((res) => init.on('exit', (code) => res(code)));
    },
    onFrame: (m) => { if (m.type === MsgType.PID) childPid = Number(text(m)); },
    onSync: async (name, _init, frames): Promise<SyncAnswer> => {
      assert.is(name, 'child-alive');
      assert.is(frames[0]!.type, MsgType.PID); // the gate: PID always comes first
      assert.is(await initExited, 0);
      // The child outlived its parent and was reparented away from it.
      assert.ok(alive(childPid));
      const ppid = Number(fs.readFileSync(`/proc/${childPid}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]);
      assert.is.not(ppid, initPid);
      return 'go';
    },
  });
  assert.ok(childPid > 0 && childPid !== initPid);
  assert.is(r.code, 0);
  assert.is(r.stdout, 'child-ran\n');
  assert.equal(r.frames.map((f) => f.type), [MsgType.PID, MsgType.SYNC]);
});

test('WAIT_FIFO blocks until the fifo is opened for reading, then writes "0"', () =>
  withTemp(async (dir) => {
    const fifo = path.join(dir, 'exec.fifo');
    execFileSync('mkfifo', ['-m', '0600', fifo]);
    let openedByTest = false;
    let afterSeenBeforeOpen = false;
    const r = await runInit([
      { op: OpCode.OPEN_FIFO, path: fifo },
      { op: OpCode.SYNC, name: 'before' },
      { op: OpCode.WAIT_FIFO },
      { op: OpCode.SYNC, name: 'after' },
      hostSh('echo started'),
    ], {
      onSync: async (name, init) => {
        if (name === 'after') {
          if (!openedByTest) afterSeenBeforeOpen = true;
          return 'go';
        }
        // Answer GO, then watch the init block in openat(2) (x86_64 nr 257) on the fifo.
        const sock = init.stdio[3] as Socket;
        sock.write(frame(MsgType.GO));
        const deadline = Date.now() + 5000;
        for (;;) {
          const sc = fs.readFileSync(`/proc/${init.pid}/syscall`, 'utf8').split(' ')[0];
          if (sc === '257') break;
          if (Date.now() > deadline) throw new Error(`init never blocked in openat (syscall ${sc})`);
          await new Promise((res) => setTimeout(res, 5));
        }
        const state = fs.readFileSync(`/proc/${init.pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[0];
        assert.is(state, 'S');
        openedByTest = true;
        const content = fs.readFileSync(fifo, 'utf8'); // the reader the init was waiting for
        assert.is(content, '0');
        return 'none';
      },
    });
    assert.not.ok(afterSeenBeforeOpen);
    assert.ok(openedByTest);
    assert.is(r.stdout, 'started\n');
    assert.is(r.code, 0);
  }));

test('CONSOLE sends a pty master over a console socket with a path longer than sun_path', () =>
  withTemp(async (dir) => {
    const rootfs = makeBusyboxRootfs(path.join(dir, 'rootfs'));
    const sockDir = path.join(dir, 'a'.repeat(60), 'b'.repeat(60));
    fs.mkdirSync(sockDir, { recursive: true });
    const sockPath = path.join(sockDir, 'console.sock');
    assert.ok(sockPath.length > 108);
    const tty = spawn(RECVTTY, [sockPath], { stdio: ['ignore', 'pipe', 'pipe'] });
    let ttyOut = '';
    let ttyErr = '';
    tty.stdout!.on('data', (b: Buffer) => { ttyOut += b.toString(); });
    const ttyDone = new Promise<number | null>((res) => tty.on('close', (code) => res(code)));
    try {
      await new Promise<void>((res, rej) => {
        tty.stderr!.on('data', (b: Buffer) => {
          ttyErr += b.toString();
          if (ttyErr.includes('listening\n')) res();
        });
        tty.on('exit', () => rej(new Error(`recvtty exited: ${ttyErr}`)));
      });
      const r = await runInit([
        { op: OpCode.OPEN_CONSOLE_SOCKET, path: sockPath },
        ...containerStart(rootfs),
        {
          op: OpCode.MOUNT, source: 'devpts', target: '/dev/pts', fstype: 'devpts', flags: MS_NOSUID | MS_NOEXEC,
          data: 'newinstance,ptmxmode=0666,mode=0620', mflags: MountFlag.IN_ROOT | MountFlag.MKDIR,
        },
        { op: OpCode.SYMLINK, target: 'pts/ptmx', path: '/dev/ptmx' },
        { op: OpCode.PIVOT_ROOT },
        { op: OpCode.CONSOLE, rows: 33, cols: 111 },
        sh('tty; stty size; test -t 0 && test -t 2 && echo all-tty'),
      ]);
      assert.is(r.code, 0, r.stderr);
      assert.is(r.stdout, ''); // the container's output went to the pty
      assert.is(await ttyDone, 0, ttyErr);
      assert.match(ttyErr, /^listening\npty \d+\n$/);
      assert.is(ttyOut.replace(/\r/g, ''), '/dev/pts/0\n33 111\nall-tty\n');
    } finally {
      if (tty.exitCode === null && tty.signalCode === null) tty.kill('SIGKILL');
      await ttyDone;
    }
  }));

test('the init runs from a sealed memfd copy and is not dumpable', async () => {
  // Started as uid 1000 so no credential change (which also clears dumpable) muddies the
  // probe: the kernel gives /proc/<pid>/* of a non-dumpable process to root, of a dumpable
  // one to the process's own euid.
  const uid = 1000;
  let exe = '';
  let seals = '';
  let owner = -1;
  // A copy uid 1000 can reach: the clone may live where it cannot (root's home is 0700).
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'trun-init-copy-'));
  fs.chmodSync(dir, 0o755);
  const init = path.join(dir, 'trun-init');
  fs.copyFileSync(INIT, init);
  fs.chmodSync(init, 0o755);
  const r = await runInit([{ op: OpCode.SYNC, name: 'probe' }], {
    init,
    uid,
    onSync: (_name, init) => {
      exe = fs.readlinkSync(`/proc/${init.pid}/exe`);
      assert.match(fs.readFileSync(`/proc/${init.pid}/status`, 'utf8'), new RegExp(`\\nUid:\\t${uid}\\t`));
      owner = fs.statSync(`/proc/${init.pid}/environ`).uid;
      seals = execFileSync(GETSEALS, [`/proc/${init.pid}/exe`], { encoding: 'utf8' }).trim();
      return 'go';
    },
  });
  // Control: a dumpable process of the same uid keeps its own /proc files.
  const control = spawn(BUSYBOX, ['cat'], { uid, gid: uid, stdio: ['pipe', 'ignore', 'ignore'] });
  const controlOwner = fs.statSync(`/proc/${control.pid}/environ`).uid;
  control.stdin!.end();
  await new Promise((res) => control.on('close', res));

  fs.rmSync(dir, { recursive: true, force: true });
  assert.is(r.code, 0, r.stderr);
  assert.is(exe, '/memfd:trun-init (deleted)');
  const F_SEAL_SEAL = 1, F_SEAL_SHRINK = 2, F_SEAL_GROW = 4, F_SEAL_WRITE = 8;
  assert.is(Number(seals) & 15, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE);
  assert.is(controlOwner, uid);
  assert.is(owner, 0);
});

test('EXEC resets signal dispositions, marks fds beyond the preserved ones close-on-exec, sets LISTEN_PID', async () => {
  const script = 'echo pid=$$ $LISTEN_PID $LISTEN_FDS; grep -E "^Sig(Blk|Ign)" /proc/self/status; for f in 3 4 5 6; do test -e /proc/self/fd/$f && echo -n "$f "; done; echo';
  const exec = (preserveFds: number, flags: number = ExecFlag.LISTEN_PID): Op[] =>
    execOps([BUSYBOX, 'sh', '-c', script], ['LISTEN_FDS=1', 'LISTEN_PID=999999'], preserveFds, flags);
  // fds 4 and 5 are inherited pipes; fd 3 is the sync socket (close-on-exec whatever happens).
  const r = await runInit([exec(0)], { extraFds: 2, ignoreSignals: ['USR1', 'PIPE', 'HUP'] });
  assert.is(r.code, 0, r.stderr);
  const [pidLine, blk, ign, fds] = r.stdout.split('\n');
  const m = /^pid=(\d+) (\d+) 1$/.exec(pidLine!);
  assert.ok(m, pidLine);
  assert.is(m![1], m![2]);
  assert.is(blk, 'SigBlk:\t0000000000000000');
  assert.is(ign, 'SigIgn:\t0000000000000000');
  assert.is(fds, '');

  const kept = await runInit([exec(2)], { extraFds: 2 });
  assert.is(kept.stdout.split('\n')[3], '4 ');
  const withoutFlag = await runInit([exec(0, 0)]);
  assert.match(withoutFlag.stdout, / 999999 1\n/);
});

test.run();
