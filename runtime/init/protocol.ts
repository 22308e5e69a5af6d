// The wire contract between trun (TypeScript) and trun-init (C): the init plan and the sync
// messages. runtime/init/protocol.h mirrors this file; test/unit/protocol.test.ts encodes here
// and decodes with the C decoder (`trun-init --dump-plan`) so the two cannot drift.
//
// Transport: trun spawns trun-init with one AF_UNIX stream socket at fd `syncFd` (given as
// argv[1]). Every message either way is a frame: u32 type, u32 payload length (little endian),
// then the payload.
//
//   trun -> init   PLAN   (the encoded plan, exactly once, first)
//   init -> trun   PID    (decimal host pid of the process created by a CLONE op)
//   init -> trun   SYNC   (name of a sync point; the init then blocks until the answer)
//   trun -> init   GO     (carry on; empty, except the answer to SECCOMP_LOAD_NOTIFY's sync
//                          point, which carries the container process state for the listener)
//                          |  ABORT (text; the init exits 1 without a word)
//   init -> trun   ERROR  (text: "<op name>: <what> \"<path>\": <strerror>"; the init then exits 1,
//                          or 127/126 when execve itself failed: ENOENT/anything else)
//   init -> trun   EXIT   (decimal wait status of the child, sent by the parent of a CLONE in
//                          wait mode just before it exits)
//
// EOF on the socket without ERROR means the process holding it exec'd (the socket is
// close-on-exec) or died; trun tells the two apart by the process's exit status.

export const PLAN_MAGIC = 0x4e4c5054; // "TPLN"
export const PLAN_VERSION = 1;

export enum MsgType {
  PLAN = 1,
  PID = 2,
  SYNC = 3,
  GO = 4,
  ABORT = 5,
  ERROR = 6,
  EXIT = 7,
}

/** Opcodes. Numbers are part of the wire format: append, never renumber. */
export enum OpCode {
  SETNS = 1,
  UNSHARE = 2,
  WRITE_FILE = 3,
  CLONE = 4,
  SYNC = 5,
  OPEN_CONSOLE_SOCKET = 6,
  OPEN_FIFO = 7,
  SET_ID = 8,
  SET_ROOTFS = 9,
  MOUNT = 10,
  MKNOD = 11,
  SYMLINK = 12,
  PIVOT_ROOT = 13,
  MOVE_ROOT = 14,
  MASK_PATH = 15,
  READONLY_PATH = 16,
  SETHOSTNAME = 17,
  SETDOMAINNAME = 18,
  RLIMIT = 19,
  USER = 20,
  UMASK = 21,
  CAPBSET = 22,
  CAPSET = 23,
  NO_NEW_PRIVS = 24,
  SECCOMP_INIT = 25,
  SECCOMP_RULE = 26,
  SECCOMP_LOAD = 27,
  CONSOLE = 28,
  CHDIR = 29,
  WAIT_FIFO = 30,
  RESOLVE_EXEC = 31,
  EXEC = 32,
  MKDIR = 33,
  SETSID = 34,
  SCHEDULER = 35,
  IOPRIO = 36,
  PERSONALITY = 37,
  CPU_AFFINITY = 38,
  JOIN_SESSION_KEYRING = 39,
  CONSOLE_RELAY = 40,
  BPF_DEVICE_FILTER = 41,
  SECCOMP_LISTENER = 42,
  SECCOMP_LOAD_NOTIFY = 43,
  SET_MEMPOLICY = 44,
  IDMAP_TREE = 45,
  MOUNT_TREE = 46,
  PARENT_PROPAGATION = 47,
  MOUNT_SETATTR = 48,
  BIND_TREE = 49,
  UNMOUNT_FULL = 50,
  EXEC_PREPARE = 51,
  SECCOMP_ENOSYS = 52,
  CHROOT = 53,
  UNMOUNT = 54,
}

/** Flags of the MOUNT op that are trun's own (not MS_*). */
export enum MountFlag {
  /** Resolve the target inside the rootfs (openat2 RESOLVE_IN_ROOT from SET_ROOTFS's fd). */
  IN_ROOT = 1,
  /** Create the target as a directory (and its parents) when missing. */
  MKDIR = 2,
  /** Create the target as an empty file (parents as directories) when missing. */
  MKFILE = 4,
  /** Refuse a target that is a symlink or whose resolution crossed one (/proc, /sys). */
  NO_SYMLINK = 8,
  /** A missing source or target is not an error: skip the op. */
  OPTIONAL = 16,
}

/** IDMAP_TREE flags. */
export enum TreeFlag {
  /** Clone the submounts too (open_tree AT_RECURSIVE): an rbind. */
  RECURSIVE = 1,
  /** Id-map the submounts too (mount_setattr AT_RECURSIVE): "ridmap". */
  IDMAP_RECURSIVE = 2,
}

/** CLONE modes: what the parent does after reporting the child's pid. */
export enum CloneMode {
  /** Exit 0 at once: the child is reparented to the caller's subreaper (create, exec -d). */
  DETACH = 0,
  /** Wait for the child, send EXIT, and exit with the same status (run, exec, hooks). */
  WAIT = 1,
}

/** EXEC flags. */
export enum ExecFlag {
  /** When the environment has LISTEN_FDS, set LISTEN_PID to the exec'd process's own pid. */
  LISTEN_PID = 1,
}

/** CAPSET flags. */
export enum CapsetFlag {
  /**
   * capset(2) only: leave the ambient set alone (the kernel drops from it whatever is no longer
   * permitted and inheritable), so that a CAPSET after the seccomp filter makes no prctl call.
   */
  KEEP_AMBIENT = 1,
}

/** CHDIR flags. */
export enum ChdirFlag {
  /** EACCES or EPERM is not an error: it is remembered for a later CHDIR with RETRY. */
  TRY = 1,
  /** Only when the last CHDIR with TRY failed with EACCES or EPERM (else nothing to do). */
  RETRY = 2,
}

/** CONSOLE_RELAY flags. */
export enum RelayFlag {
  /** When fd 0 is a terminal, put it in raw mode while relaying and restore it afterwards. */
  RAW = 1,
}

export type Op =
  /** open(path) and setns(fd, nstype); nstype is a CLONE_NEW* value (0: any). */
  | { op: OpCode.SETNS; path: string; nstype: number }
  | { op: OpCode.UNSHARE; flags: number }
  /** open(path, O_WRONLY|O_CLOEXEC [|O_CREAT|O_TRUNC when create]) and write data in one write(2). */
  | { op: OpCode.WRITE_FILE; path: string; data: string; create: boolean }
  /** Fork (raw clone with flags|SIGCHLD). The parent sends PID and then follows `mode`; the child carries on. */
  | { op: OpCode.CLONE; flags: number; mode: CloneMode }
  | { op: OpCode.SYNC; name: string }
  /** Connect to the unix socket at path (any length: connects through /proc/self/fd/<dir>/<name>). */
  | { op: OpCode.OPEN_CONSOLE_SOCKET; path: string }
  /** mkfifo(path, 0622) unless it exists, then open(path, O_PATH|O_CLOEXEC): the exec fifo, opened for writing later by WAIT_FIFO. */
  | { op: OpCode.OPEN_FIFO; path: string }
  /** setresgid(gid) then setresuid(uid), keeping capabilities (used to become root in a new user namespace). */
  | { op: OpCode.SET_ID; uid: number; gid: number }
  /** Open path as the rootfs directory fd that IN_ROOT ops resolve against. */
  | { op: OpCode.SET_ROOTFS; path: string }
  /** mount(2). `flags` are MS_* values; `mflags` are MountFlag bits. An empty source/fstype/data is NULL. */
  | { op: OpCode.MOUNT; source: string; target: string; fstype: string; flags: number; data: string; mflags: number }
  /** mknod inside the rootfs (path resolved IN_ROOT), then chown(uid, gid); an existing node is replaced. */
  | { op: OpCode.MKNOD; path: string; mode: number; major: number; minor: number; uid: number; gid: number }
  /** symlink(target, path) with path resolved IN_ROOT; an existing entry is left alone. */
  | { op: OpCode.SYMLINK; target: string; path: string }
  /** mkdir -p path IN_ROOT with mode (existing directories are fine). */
  | { op: OpCode.MKDIR; path: string; mode: number }
  /** fchdir(rootfs); pivot_root(".", "."); umount2(".", MNT_DETACH); chdir("/"). */
  | { op: OpCode.PIVOT_ROOT }
  /** --no-pivot: fchdir(rootfs); mount(".", "/", MS_MOVE); chroot("."); chdir("/"). */
  | { op: OpCode.MOVE_ROOT }
  /** After the pivot: a directory gets a read-only empty tmpfs, anything else /dev/null bound over it; missing is fine. */
  | { op: OpCode.MASK_PATH; path: string }
  /** After the pivot: bind the path onto itself and remount it read-only (nosuid,nodev,noexec kept); missing is fine. */
  | { op: OpCode.READONLY_PATH; path: string }
  | { op: OpCode.SETHOSTNAME; name: string }
  | { op: OpCode.SETDOMAINNAME; name: string }
  /** setrlimit(resource, {soft, hard}); RLIM_INFINITY is 2^64-1 (use RLIM_INFINITY below). */
  | { op: OpCode.RLIMIT; resource: number; soft: bigint; hard: bigint }
  /** setgroups(groups); setresgid(gid); setresuid(uid), with PR_SET_KEEPCAPS so CAPSET can follow. */
  | { op: OpCode.USER; uid: number; gid: number; groups: number[] }
  | { op: OpCode.UMASK; mask: number }
  /** Drop every capability not in `keep` (a bit mask of capability numbers) from the bounding set. */
  | { op: OpCode.CAPBSET; keep: bigint }
  /**
   * capset(effective, permitted, inheritable), then clear the ambient set and raise each ambient
   * capability (bit masks); with CapsetFlag.KEEP_AMBIENT, capset only (`ambient` unused).
   */
  | { op: OpCode.CAPSET; effective: bigint; permitted: bigint; inheritable: bigint; ambient: bigint; flags: number }
  | { op: OpCode.NO_NEW_PRIVS }
  /** seccomp_init(defaultAction), add architectures (libseccomp names), set filter flags (SECCOMP_FILTER_FLAG_* bits). */
  | { op: OpCode.SECCOMP_INIT; defaultAction: number; architectures: string[]; flags: number }
  /**
   * seccomp_rule_add(action, syscall resolved by name); args flattened as groups of four
   * [index, value, valueTwo, op] with op a libseccomp scmp_compare value. An unknown name is an error.
   */
  | { op: OpCode.SECCOMP_RULE; syscall: string; action: number; args: bigint[] }
  /**
   * Loads the filter with seccomp(2) (SECCOMP_INIT's filter flags), libseccomp's program exported
   * as BPF, preceded by the stub SECCOMP_ENOSYS made when there is one.
   */
  | { op: OpCode.SECCOMP_LOAD }
  /**
   * For each architecture (libseccomp names; SCMP_ARCH_NATIVE is the native one), the highest
   * number among `syscalls` (names unknown there are skipped); makes the BPF stub that the load
   * puts before the filter: on that architecture a higher syscall number returns ENOSYS (the
   * syscall is newer than the profile, so libc falls back), and on s390/s390x so does number 0.
   * x86_64 and x32 share an audit architecture and are told apart by the x32 bit (1 << 30).
   */
  | { op: OpCode.SECCOMP_ENOSYS; architectures: string[]; syscalls: string[] }
  /**
   * setsid(); open /dev/ptmx, unlock it, open the slave, send the master over the console socket
   * (SCM_RIGHTS, one byte of data), close the socket, set the window size when rows/cols are non
   * zero, make the slave the controlling terminal and dup it onto 0, 1 and 2.
   */
  | { op: OpCode.CONSOLE; rows: number; cols: number }
  | { op: OpCode.SETSID }
  /** chdir(path); `flags` are ChdirFlag bits. */
  | { op: OpCode.CHDIR; path: string; flags: number }
  /** Open the fifo from OPEN_FIFO for writing (blocks until `trun start` opens it), write "0", close it. */
  | { op: OpCode.WAIT_FIFO }
  /** Find `file` like execvp would with the given PATH (no lookup when it has a '/'); must be executable. */
  | { op: OpCode.RESOLVE_EXEC; file: string; path: string }
  /**
   * Everything an exec needs but the execve itself, so that a seccomp filter loaded after it
   * sees no other call: reset signal dispositions and mask, make fds 0-2 blocking, mark every
   * fd >= 3 + preserveFds close-on-exec, and keep env (with LISTEN_PID set, per `flags`) for EXEC.
   */
  | { op: OpCode.EXEC_PREPARE; env: string[]; preserveFds: number; flags: number }
  /** execve(the file RESOLVE_EXEC found, or argv[0], argv, EXEC_PREPARE's env); nothing else. */
  | { op: OpCode.EXEC; argv: string[] }
  /**
   * sched_setattr(0, attr, 0) with a SCHED_ATTR_SIZE_VER0 attr: policy and flags are SCHED_* numbers,
   * nice is signed (sent as its 64-bit two's complement); runtime/deadline/period in nanoseconds.
   */
  | { op: OpCode.SCHEDULER; policy: number; flags: bigint; nice: number; priority: number; runtime: bigint; deadline: bigint; period: bigint }
  /** ioprio_set(IOPRIO_WHO_PROCESS, 0, IOPRIO_PRIO_VALUE(ioClass, level)); ioClass is an IOPRIO_CLASS_* number. */
  | { op: OpCode.IOPRIO; ioClass: number; level: number }
  /** personality(persona): the execution domain (PER_*) or'ed with its flags. */
  | { op: OpCode.PERSONALITY; persona: number }
  /** sched_setaffinity(0, mask): bit n of word n/64 is cpu n. */
  | { op: OpCode.CPU_AFFINITY; mask: bigint[] }
  /**
   * keyctl(KEYCTL_JOIN_SESSION_KEYRING, name), then add `perm` to the keyring's permissions
   * (KEYCTL_SETPERM; 0: leave them). With `optional`, ENOSYS and EACCES (no keyrings here) skip the op.
   */
  | { op: OpCode.JOIN_SESSION_KEYRING; name: string; perm: number; optional: boolean }
  /**
   * Foreground terminal without a console socket. Before the CLONE (WAIT mode): make a socketpair
   * and use one end as the console socket CONSOLE sends the pty master over. The waiting parent
   * receives the master and copies bytes between its fds 0/1 and the master until the child
   * exits; on SIGWINCH it copies fd 0's window size to the master. `flags` are RelayFlag bits.
   */
  | { op: OpCode.CONSOLE_RELAY; flags: number }
  /**
   * bpf(BPF_PROG_LOAD) a BPF_PROG_TYPE_CGROUP_DEVICE program (license "GPL") from `insns`, each a
   * struct bpf_insn packed little endian into a u64 (runtime/linux/cgroups/bpf-devices.ts), then
   * bpf(BPF_PROG_ATTACH) it to the cgroup directory `cgroupPath` (BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI).
   * With `optional` a failure is written to stderr as a warning and the plan carries on.
   */
  | { op: OpCode.BPF_DEVICE_FILTER; cgroupPath: string; insns: bigint[]; optional: boolean }
  /**
   * Connect to the seccomp listener's unix socket at path, like OPEN_CONSOLE_SOCKET (any length),
   * while the runtime's filesystem is in view; the socket is kept for SECCOMP_LOAD_NOTIFY.
   */
  | { op: OpCode.SECCOMP_LISTENER; path: string }
  /**
   * SECCOMP_LOAD for a filter with SCMP_ACT_NOTIFY rules: SYNC(sync), whose GO carries the
   * container process state (JSON); seccomp_load; then, with no other syscall in between, send
   * the state with the notify fd (SCM_RIGHTS) over SECCOMP_LISTENER's socket using sendmsg only,
   * shutdown(SHUT_WR) so the listener sees the end, and close the socket and our copy of the fd.
   */
  | { op: OpCode.SECCOMP_LOAD_NOTIFY; sync: string }
  /**
   * set_mempolicy(mode | flags, nodes, maxnode): mode is an MPOL_* number, flags MPOL_F_* bits,
   * nodes a node mask laid out like CPU_AFFINITY's (empty: no mask, NULL and maxnode 0).
   */
  | { op: OpCode.SET_MEMPOLICY; mode: number; flags: number; nodes: bigint[] }
  /**
   * On the host, before the clone (the caller needs CAP_SYS_ADMIN over the source's filesystem):
   * a user namespace made for the purpose with uidMap and gidMap (uid_map/gid_map text);
   * open_tree(source, OPEN_TREE_CLONE, plus AT_RECURSIVE with TreeFlag.RECURSIVE);
   * mount_setattr(MOUNT_ATTR_IDMAP with that namespace, AT_RECURSIVE with IDMAP_RECURSIVE); then,
   * when attrSet or attrClr is not 0, mount_setattr of those MOUNT_ATTR_* bits on the top mount.
   * The detached tree is kept for MOUNT_TREE; the trees are numbered from 0 in op order.
   */
  | { op: OpCode.IDMAP_TREE; source: string; uidMap: string; gidMap: string; flags: number; attrSet: number; attrClr: number }
  /** move_mount tree `index` of IDMAP_TREE onto target (resolved and created as MOUNT's mflags say), then close it. */
  | { op: OpCode.MOUNT_TREE; index: number; target: string; mflags: number }
  /**
   * Find the mount that holds `path` (the last, longest mount point of /proc/self/mountinfo that
   * is path or one of its parents, path taken with its symlinks resolved) and change its
   * propagation with mount(2) to `ifShared` when it is shared, or to `ifUnbindable` when it is
   * unbindable (0: leave it). pivot_root refuses a new root whose parent is shared, and an
   * unbindable mount cannot be bound.
   */
  | { op: OpCode.PARENT_PROPAGATION; path: string; ifShared: number; ifUnbindable: number }
  /** mount_setattr(target resolved IN_ROOT, attrSet/attrClr MOUNT_ATTR_* bits), AT_RECURSIVE with `recursive`. */
  | { op: OpCode.MOUNT_SETATTR; target: string; attrSet: number; attrClr: number; recursive: boolean }
  /**
   * On the host, before the clone: open_tree(source, OPEN_TREE_CLONE, plus AT_RECURSIVE with
   * TreeFlag.RECURSIVE), then mount_setattr(attrSet, attrClr) on the top mount when either is not
   * 0. The detached tree is numbered with IDMAP_TREE's, for MOUNT_TREE: a bind source only the
   * host's root can reach still mounts in a user-namespaced container.
   */
  | { op: OpCode.BIND_TREE; source: string; flags: number; attrSet: number; attrClr: number }
  /**
   * For every whole mount (root "/") of one of `fstypes` in /proc/self/mountinfo outside `keep`:
   * make it rslave and umount2(MNT_DETACH) it, or when that fails with EINVAL or EPERM (locked
   * in a user namespace) mount a tmpfs over it. A mount point gone meanwhile is skipped.
   */
  | { op: OpCode.UNMOUNT_FULL; fstypes: string[]; keep: string }
  /**
   * Without a mount namespace of its own: open path (O_PATH directory; "" is SET_ROOTFS's rootfs),
   * fchdir to it, chroot(".") and chdir("/").
   */
  | { op: OpCode.CHROOT; path: string }
  /** umount2(path, flags | UMOUNT_NOFOLLOW); flags are MNT_* values (MNT_DETACH). */
  | { op: OpCode.UNMOUNT; path: string; flags: number };

export const RLIM_INFINITY = 0xffffffffffffffffn;

// ---- encoding ----------------------------------------------------------------------------
//
// plan   := u32 magic, u32 version, u32 op count, op*
// op     := u16 opcode, u16 arg count, arg*
// arg    := u8 kind, payload
//   kind 'n' (0x6e): u64 number
//   kind 's' (0x73): u32 length, bytes (no NUL)
//   kind 'l' (0x6c): u32 count, then count × (u32 length, bytes)
//   kind 'v' (0x76): u32 count, then count × u64
//
// Arguments appear in the order the Op type lists its fields (after `op`). Booleans are 'n' 0/1.

type Arg = { kind: 'n'; value: bigint } | { kind: 's'; value: string } | { kind: 'l'; value: string[] } | { kind: 'v'; value: bigint[] };

const num = (v: number | bigint | boolean): Arg => ({ kind: 'n', value: BigInt(typeof v === 'boolean' ? (v ? 1 : 0) : v) });
const str = (v: string): Arg => ({ kind: 's', value: v });
const list = (v: string[]): Arg => ({ kind: 'l', value: v });
const vec = (v: Array<number | bigint>): Arg => ({ kind: 'v', value: v.map((x) => BigInt(x)) });

/** The arguments of an op, in wire order. */
export function opArgs(o: Op): Arg[] {
  switch (o.op) {
    case OpCode.SETNS: return [str(o.path), num(o.nstype)];
    case OpCode.UNSHARE: return [num(o.flags)];
    case OpCode.WRITE_FILE: return [str(o.path), str(o.data), num(o.create)];
    case OpCode.CLONE: return [num(o.flags), num(o.mode)];
    case OpCode.SYNC: return [str(o.name)];
    case OpCode.OPEN_CONSOLE_SOCKET: return [str(o.path)];
    case OpCode.OPEN_FIFO: return [str(o.path)];
    case OpCode.SET_ID: return [num(o.uid), num(o.gid)];
    case OpCode.SET_ROOTFS: return [str(o.path)];
    case OpCode.MOUNT: return [str(o.source), str(o.target), str(o.fstype), num(o.flags), str(o.data), num(o.mflags)];
    case OpCode.MKNOD: return [str(o.path), num(o.mode), num(o.major), num(o.minor), num(o.uid), num(o.gid)];
    case OpCode.SYMLINK: return [str(o.target), str(o.path)];
    case OpCode.MKDIR: return [str(o.path), num(o.mode)];
    case OpCode.PIVOT_ROOT: return [];
    case OpCode.MOVE_ROOT: return [];
    case OpCode.MASK_PATH: return [str(o.path)];
    case OpCode.READONLY_PATH: return [str(o.path)];
    case OpCode.SETHOSTNAME: return [str(o.name)];
    case OpCode.SETDOMAINNAME: return [str(o.name)];
    case OpCode.RLIMIT: return [num(o.resource), num(o.soft), num(o.hard)];
    case OpCode.USER: return [num(o.uid), num(o.gid), vec(o.groups)];
    case OpCode.UMASK: return [num(o.mask)];
    case OpCode.CAPBSET: return [num(o.keep)];
    case OpCode.CAPSET: return [num(o.effective), num(o.permitted), num(o.inheritable), num(o.ambient), num(o.flags)];
    case OpCode.NO_NEW_PRIVS: return [];
    case OpCode.SECCOMP_INIT: return [num(o.defaultAction), list(o.architectures), num(o.flags)];
    case OpCode.SECCOMP_RULE: return [str(o.syscall), num(o.action), vec(o.args)];
    case OpCode.SECCOMP_LOAD: return [];
    case OpCode.CONSOLE: return [num(o.rows), num(o.cols)];
    case OpCode.SETSID: return [];
    case OpCode.CHDIR: return [str(o.path), num(o.flags)];
    case OpCode.WAIT_FIFO: return [];
    case OpCode.RESOLVE_EXEC: return [str(o.file), str(o.path)];
    case OpCode.EXEC_PREPARE: return [list(o.env), num(o.preserveFds), num(o.flags)];
    case OpCode.EXEC: return [list(o.argv)];
    case OpCode.SECCOMP_ENOSYS: return [list(o.architectures), list(o.syscalls)];
    case OpCode.SCHEDULER: return [num(o.policy), num(o.flags), num(o.nice), num(o.priority), num(o.runtime), num(o.deadline), num(o.period)];
    case OpCode.IOPRIO: return [num(o.ioClass), num(o.level)];
    case OpCode.PERSONALITY: return [num(o.persona)];
    case OpCode.CPU_AFFINITY: return [vec(o.mask)];
    case OpCode.JOIN_SESSION_KEYRING: return [str(o.name), num(o.perm), num(o.optional)];
    case OpCode.CONSOLE_RELAY: return [num(o.flags)];
    case OpCode.BPF_DEVICE_FILTER: return [str(o.cgroupPath), vec(o.insns), num(o.optional)];
    case OpCode.SECCOMP_LISTENER: return [str(o.path)];
    case OpCode.SECCOMP_LOAD_NOTIFY: return [str(o.sync)];
    case OpCode.SET_MEMPOLICY: return [num(o.mode), num(o.flags), vec(o.nodes)];
    case OpCode.IDMAP_TREE: return [str(o.source), str(o.uidMap), str(o.gidMap), num(o.flags), num(o.attrSet), num(o.attrClr)];
    case OpCode.MOUNT_TREE: return [num(o.index), str(o.target), num(o.mflags)];
    case OpCode.PARENT_PROPAGATION: return [str(o.path), num(o.ifShared), num(o.ifUnbindable)];
    case OpCode.MOUNT_SETATTR: return [str(o.target), num(o.attrSet), num(o.attrClr), num(o.recursive)];
    case OpCode.BIND_TREE: return [str(o.source), num(o.flags), num(o.attrSet), num(o.attrClr)];
    case OpCode.UNMOUNT_FULL: return [list(o.fstypes), str(o.keep)];
    case OpCode.CHROOT: return [str(o.path)];
    case OpCode.UNMOUNT: return [str(o.path), num(o.flags)];
  }
}

class Writer {
  private chunks: Buffer[] = [];
  u8(v: number): void { const b = Buffer.alloc(1); b.writeUInt8(v); this.chunks.push(b); }
  u16(v: number): void { const b = Buffer.alloc(2); b.writeUInt16LE(v); this.chunks.push(b); }
  u32(v: number): void { const b = Buffer.alloc(4); b.writeUInt32LE(v); this.chunks.push(b); }
  u64(v: bigint): void { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt.asUintN(64, v)); this.chunks.push(b); }
  bytes(s: string): void { const b = Buffer.from(s, 'utf8'); this.u32(b.length); this.chunks.push(b); }
  done(): Buffer { return Buffer.concat(this.chunks); }
}

export function encodePlan(ops: readonly Op[]): Buffer {
  const w = new Writer();
  w.u32(PLAN_MAGIC);
  w.u32(PLAN_VERSION);
  w.u32(ops.length);
  for (const o of ops) {
    const args = opArgs(o);
    w.u16(o.op);
    w.u16(args.length);
    for (const a of args) {
      w.u8(a.kind.charCodeAt(0));
      switch (a.kind) {
        case 'n': w.u64(a.value); break;
        case 's': w.bytes(a.value); break;
        case 'l': w.u32(a.value.length); for (const s of a.value) w.bytes(s); break;
        case 'v': w.u32(a.value.length); for (const n of a.value) w.u64(n); break;
      }
    }
  }
  return w.done();
}

/** The JSON the C decoder prints for `trun-init --dump-plan`: [{op, args:[...]}], numbers as decimal strings. */
export function planAsDumpJson(ops: readonly Op[]): unknown {
  return ops.map((o) => ({
    op: o.op,
    args: opArgs(o).map((a) => {
      switch (a.kind) {
        case 'n': return BigInt.asUintN(64, a.value).toString();
        case 's': return a.value;
        case 'l': return a.value;
        case 'v': return a.value.map((n) => BigInt.asUintN(64, n).toString());
      }
    }),
  }));
}

export function frame(type: MsgType, payload: Buffer | string = Buffer.alloc(0)): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
  const head = Buffer.alloc(8);
  head.writeUInt32LE(type, 0);
  head.writeUInt32LE(body.length, 4);
  return Buffer.concat([head, body]);
}

export interface Message {
  type: MsgType;
  payload: Buffer;
}

/** Splits a byte stream into frames; feed it chunks as they arrive. */
export class FrameReader {
  private buf: Buffer = Buffer.alloc(0);
  push(chunk: Buffer): Message[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const out: Message[] = [];
    while (this.buf.length >= 8) {
      const len = this.buf.readUInt32LE(4);
      if (this.buf.length < 8 + len) break;
      out.push({ type: this.buf.readUInt32LE(0) as MsgType, payload: this.buf.subarray(8, 8 + len) });
      this.buf = this.buf.subarray(8 + len);
    }
    return out;
  }
}
