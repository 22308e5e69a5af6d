// The TypeScript encoder and the C decoder must agree on every op: encode here, decode with
// `trun-init --dump-plan`, and compare with planAsDumpJson(). Also: malformed plans are refused.
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  CapsetFlag,
  ChdirFlag,
  CloneMode,
  ExecFlag,
  MountFlag,
  OpCode,
  RelayFlag,
  TreeFlag,
  PLAN_MAGIC,
  PLAN_VERSION,
  RLIM_INFINITY,
  encodePlan,
  planAsDumpJson,
  type Op,
} from '../../runtime/init/protocol';

const INIT = 'dist/trun-init';
if (!fs.existsSync(INIT)) execFileSync('make', [INIT], { stdio: 'inherit' });

const U64_MAX = 0xffffffffffffffffn;

/** Runs the C decoder on raw bytes. */
function dump(bytes: Buffer): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(INIT, ['--dump-plan'], { input: bytes, encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function roundTrip(ops: Op[]): void {
  const r = dump(encodePlan(ops));
  assert.is(r.stderr, '');
  assert.is(r.status, 0);
  assert.equal(JSON.parse(r.stdout), planAsDumpJson(ops));
}

function refused(bytes: Buffer, pattern: RegExp): void {
  const r = dump(bytes);
  assert.is(r.status, 1, `status for ${bytes.toString('hex')}`);
  assert.is(r.stdout, '');
  assert.match(r.stderr, pattern);
}

// One op of every kind, with awkward values.
const weird = 'ünïcödé ✓ 🐳 "quoted" back\\slash tab\t newline\n ctrl\u0001 del\u007f';
const everyOp: Op[] = [
  { op: OpCode.SETNS, path: '/proc/123/ns/net', nstype: 0x40000000 },
  { op: OpCode.UNSHARE, flags: 0x20000 | 0x4000000 },
  { op: OpCode.WRITE_FILE, path: '/proc/self/uid_map', data: '0 1000 1\n', create: false },
  { op: OpCode.WRITE_FILE, path: '/tmp/x', data: '', create: true },
  { op: OpCode.CLONE, flags: 0x7e020000, mode: CloneMode.WAIT },
  { op: OpCode.CLONE, flags: 0, mode: CloneMode.DETACH },
  { op: OpCode.SYNC, name: 'ready-for-maps' },
  { op: OpCode.OPEN_CONSOLE_SOCKET, path: '/run/' + 'x'.repeat(300) + '/console.sock' },
  { op: OpCode.OPEN_FIFO, path: '/run/trun/abc/exec.fifo' },
  { op: OpCode.SET_ID, uid: 0xffffffff, gid: 0 },
  { op: OpCode.SET_ROOTFS, path: weird },
  { op: OpCode.MOUNT, source: '', target: '/', fstype: '', flags: 0x80000 | 0x4000, data: '', mflags: 0 },
  {
    op: OpCode.MOUNT,
    source: 'proc',
    target: '/proc',
    fstype: 'proc',
    flags: 0xe,
    data: 'hidepid=2,"x"',
    mflags: MountFlag.IN_ROOT | MountFlag.MKDIR | MountFlag.NO_SYMLINK | MountFlag.OPTIONAL | MountFlag.MKFILE,
  },
  { op: OpCode.MKNOD, path: '/dev/null', mode: 0o20666, major: 1, minor: 3, uid: 0, gid: 4294967295 },
  { op: OpCode.SYMLINK, target: '/proc/self/fd', path: '/dev/fd' },
  { op: OpCode.MKDIR, path: '/dev/pts', mode: 0o755 },
  { op: OpCode.PIVOT_ROOT },
  { op: OpCode.MOVE_ROOT },
  { op: OpCode.MASK_PATH, path: '/proc/kcore' },
  { op: OpCode.READONLY_PATH, path: '/proc/sys' },
  { op: OpCode.SETHOSTNAME, name: 'box' },
  { op: OpCode.SETDOMAINNAME, name: '' },
  { op: OpCode.RLIMIT, resource: 7, soft: 1024n, hard: RLIM_INFINITY },
  { op: OpCode.USER, uid: 1000, gid: 1000, groups: [10, 100, 4294967295] },
  { op: OpCode.USER, uid: 0, gid: 0, groups: [] },
  { op: OpCode.UMASK, mask: 0o022 },
  { op: OpCode.CAPBSET, keep: U64_MAX },
  { op: OpCode.CAPSET, effective: 0n, permitted: U64_MAX, inheritable: 1n << 63n, ambient: 0x400n, flags: CapsetFlag.KEEP_AMBIENT },
  { op: OpCode.NO_NEW_PRIVS },
  { op: OpCode.SECCOMP_INIT, defaultAction: 0x00050001, architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'], flags: 2 },
  { op: OpCode.SECCOMP_INIT, defaultAction: 0x80000000, architectures: [], flags: 0 },
  { op: OpCode.SECCOMP_RULE, syscall: 'personality', action: 0x7fff0000, args: [0n, 8n, 0n, 4n, 1n, U64_MAX, U64_MAX - 1n, 7n] },
  { op: OpCode.SECCOMP_RULE, syscall: 'mkdir', action: 0x00050001, args: [] },
  { op: OpCode.SECCOMP_LOAD },
  { op: OpCode.SECCOMP_ENOSYS, architectures: ['SCMP_ARCH_NATIVE', 'SCMP_ARCH_X32'], syscalls: ['read', weird] },
  { op: OpCode.SECCOMP_ENOSYS, architectures: [], syscalls: [] },
  { op: OpCode.CONSOLE, rows: 24, cols: 80 },
  { op: OpCode.SETSID },
  { op: OpCode.CHDIR, path: '/home/user with space', flags: ChdirFlag.TRY | ChdirFlag.RETRY },
  { op: OpCode.WAIT_FIFO },
  { op: OpCode.RESOLVE_EXEC, file: 'sh', path: '' },
  { op: OpCode.EXEC_PREPARE, env: ['PATH=/bin', weird, ''], preserveFds: 2, flags: ExecFlag.LISTEN_PID },
  { op: OpCode.EXEC_PREPARE, env: [], preserveFds: 0, flags: 0 },
  { op: OpCode.EXEC, argv: ['/bin/sh', '-c', 'echo "$HOME" \\ \'q\''] },
  { op: OpCode.EXEC, argv: [] },
  { op: OpCode.SCHEDULER, policy: 6, flags: 0x1fn, nice: -20, priority: 99, runtime: 1024n, deadline: U64_MAX, period: 0n },
  { op: OpCode.SCHEDULER, policy: 0, flags: 0n, nice: 19, priority: 0, runtime: 0n, deadline: 0n, period: 1n << 40n },
  { op: OpCode.IOPRIO, ioClass: 3, level: 7 },
  { op: OpCode.PERSONALITY, persona: 0x0008 },
  { op: OpCode.CPU_AFFINITY, mask: [0x8fn, 0n, 1n << 63n] },
  { op: OpCode.JOIN_SESSION_KEYRING, name: '_ses.' + 'x'.repeat(64), perm: 0x00080000, optional: true },
  { op: OpCode.JOIN_SESSION_KEYRING, name: weird, perm: 0, optional: false },
  { op: OpCode.CONSOLE_RELAY, flags: RelayFlag.RAW },
  { op: OpCode.CONSOLE_RELAY, flags: 0 },
  { op: OpCode.BPF_DEVICE_FILTER, cgroupPath: '/sys/fs/cgroup/unified/trun/abc', insns: [0x1261n, 0x0004_1461n, 0xffff_ffff_0000_00b4n, 0x95n], optional: false },
  { op: OpCode.BPF_DEVICE_FILTER, cgroupPath: weird, insns: [], optional: true },
  { op: OpCode.SECCOMP_LISTENER, path: '/run/' + 'y'.repeat(200) + '/agent.sock' },
  { op: OpCode.SECCOMP_LOAD_NOTIFY, sync: 'seccomp' },
  { op: OpCode.SET_MEMPOLICY, mode: 2, flags: 0x8000 | 0x2000, nodes: [0xfn, 1n << 63n] },
  { op: OpCode.SET_MEMPOLICY, mode: 0, flags: 0, nodes: [] },
  { op: OpCode.IDMAP_TREE, source: weird, uidMap: '0 100000 65536\n1 2 3\n', gidMap: '', flags: TreeFlag.RECURSIVE | TreeFlag.IDMAP_RECURSIVE, attrSet: 0x200000 | 0x7, attrClr: 0x70 },
  { op: OpCode.MOUNT_TREE, index: 0xffffffff, target: '/data', mflags: MountFlag.IN_ROOT | MountFlag.MKFILE },
  { op: OpCode.PARENT_PROPAGATION, path: weird, ifShared: 0x40000, ifUnbindable: 0 },
  { op: OpCode.MOUNT_SETATTR, target: '/data', attrSet: 0x1, attrClr: 0xffffffff, recursive: true },
  { op: OpCode.MOUNT_SETATTR, target: weird, attrSet: 0, attrClr: 0, recursive: false },
  { op: OpCode.BIND_TREE, source: weird, flags: TreeFlag.RECURSIVE, attrSet: 0x7, attrClr: 0 },
  { op: OpCode.UNMOUNT_FULL, fstypes: ['proc', 'sysfs', weird], keep: '/run/bundle/rootfs' },
  { op: OpCode.UNMOUNT_FULL, fstypes: [], keep: '' },
  { op: OpCode.CHROOT, path: '' },
  { op: OpCode.CHROOT, path: weird },
  { op: OpCode.UNMOUNT, path: '/run/bundle/rootfs', flags: 2 },
];

test('every opcode is covered by the round-trip plan', () => {
  const codes = Object.values(OpCode).filter((v): v is OpCode => typeof v === 'number');
  const used = new Set(everyOp.map((o) => o.op));
  for (const c of codes) assert.ok(used.has(c), `opcode ${OpCode[c]} missing from the test plan`);
});

test('C decoder agrees with the TypeScript encoder on every op', () => {
  roundTrip(everyOp);
});

test('empty plan round-trips', () => {
  roundTrip([]);
});

test('each op alone round-trips', () => {
  for (const o of everyOp) roundTrip([o]);
});

test('a negative nice travels as its 64-bit two\'s complement', () => {
  const r = dump(encodePlan([{ op: OpCode.SCHEDULER, policy: 0, flags: 0n, nice: -5, priority: 0, runtime: 0n, deadline: 0n, period: 0n }]));
  assert.is(r.status, 0, r.stderr);
  assert.is((JSON.parse(r.stdout) as Array<{ args: string[] }>)[0]!.args[2], (U64_MAX - 4n).toString());
});

test('u64 extremes survive as decimal strings', () => {
  const r = dump(encodePlan([{ op: OpCode.RLIMIT, resource: 0, soft: U64_MAX, hard: 0n }]));
  assert.is(r.status, 0);
  assert.equal(JSON.parse(r.stdout), [{ op: OpCode.RLIMIT, args: ['0', '18446744073709551615', '0'] }]);
});

// A compact plan holding every argument kind, for the byte-level corruption tests.
const small = encodePlan([
  { op: OpCode.EXEC_PREPARE, env: ['a', 'bc'], preserveFds: 1, flags: 0 },
  { op: OpCode.USER, uid: 1, gid: 2, groups: [3] },
  { op: OpCode.SETHOSTNAME, name: 'h' },
]);

test('every truncation of a plan is refused', () => {
  for (let n = 0; n < small.length; n++) refused(small.subarray(0, n), /trun-init: plan: .*(truncated|too short|overruns)/);
});

test('trailing bytes are refused', () => {
  refused(Buffer.concat([small, Buffer.from([0])]), /1 trailing bytes/);
});

test('bad magic and bad version are refused', () => {
  const a = Buffer.from(small);
  a.writeUInt32LE(PLAN_MAGIC ^ 1, 0);
  refused(a, /bad plan magic/);
  const b = Buffer.from(small);
  b.writeUInt32LE(PLAN_VERSION + 1, 4);
  refused(b, /unsupported plan version 2/);
});

/** Hand-built plan with one op: opcode, then raw argument bytes. */
function rawPlan(opcode: number, nargs: number, args: Buffer): Buffer {
  const head = Buffer.alloc(16);
  head.writeUInt32LE(PLAN_MAGIC, 0);
  head.writeUInt32LE(PLAN_VERSION, 4);
  head.writeUInt32LE(1, 8);
  head.writeUInt16LE(opcode, 12);
  head.writeUInt16LE(nargs, 14);
  return Buffer.concat([head, args]);
}
const nArg = (v: bigint): Buffer => {
  const b = Buffer.alloc(9);
  b.writeUInt8(0x6e, 0);
  b.writeBigUInt64LE(v, 1);
  return b;
};
const sArg = (s: string | Buffer): Buffer => {
  const body = typeof s === 'string' ? Buffer.from(s) : s;
  const b = Buffer.alloc(5);
  b.writeUInt8(0x73, 0);
  b.writeUInt32LE(body.length, 1);
  return Buffer.concat([b, body]);
};

test('a correct hand-built op is accepted (the helpers below are right)', () => {
  const r = dump(rawPlan(OpCode.SETNS, 2, Buffer.concat([sArg('/x'), nArg(0n)])));
  assert.is(r.status, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout), [{ op: OpCode.SETNS, args: ['/x', '0'] }]);
});

test('wrong argument kinds are refused', () => {
  refused(rawPlan(OpCode.SETNS, 2, Buffer.concat([nArg(0n), sArg('/x')])), /setns\) argument 0: argument of kind 0x6e where 's'/);
  refused(rawPlan(OpCode.SETHOSTNAME, 1, Buffer.from([0x7a, 0, 0, 0, 0])), /argument of kind 0x7a/);
});

test('wrong argument counts are refused', () => {
  refused(rawPlan(OpCode.SETNS, 1, sArg('/x')), /setns\): 1 arguments, want 2/);
  refused(rawPlan(OpCode.PIVOT_ROOT, 1, nArg(0n)), /pivot_root\): 1 arguments, want 0/);
});

test('unknown opcodes are refused', () => {
  refused(rawPlan(0, 0, Buffer.alloc(0)), /unknown opcode 0/);
  refused(rawPlan(999, 0, Buffer.alloc(0)), /unknown opcode 999/);
});

test('out-of-range numbers and NUL bytes in strings are refused', () => {
  refused(encodePlan([{ op: OpCode.SET_ID, uid: 2 ** 32, gid: 0 }]), /does not fit in 32 bits/);
  refused(encodePlan([{ op: OpCode.PERSONALITY, persona: 2 ** 32 }]), /personality\) argument 0: .*does not fit in 32 bits/);
  refused(rawPlan(OpCode.JOIN_SESSION_KEYRING, 3, Buffer.concat([sArg('_ses.x'), nArg(0n), nArg(2n)])), /boolean with value 2/);
  refused(rawPlan(OpCode.WRITE_FILE, 3, Buffer.concat([sArg('/x'), sArg(''), nArg(2n)])), /boolean with value 2/);
  refused(rawPlan(OpCode.SETHOSTNAME, 1, sArg(Buffer.from('a\0b'))), /NUL byte/);
});

test('absurd counts are refused without allocating them', () => {
  const list = Buffer.alloc(5);
  list.writeUInt8(0x6c, 0);
  list.writeUInt32LE(0xffffffff, 1);
  refused(rawPlan(OpCode.EXEC, 1, list), /overruns the plan/);
  const head = Buffer.from(small.subarray(0, 12));
  head.writeUInt32LE(0xffffffff, 8);
  refused(head, /too short/);
});

test.run();
