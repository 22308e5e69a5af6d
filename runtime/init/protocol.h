/* The wire contract between trun (TypeScript) and trun-init (C). This header mirrors
 * runtime/init/protocol.ts: the numbers below are part of the wire format and must match it
 * exactly (test/unit/protocol.test.ts encodes plans in TypeScript and decodes them here).
 *
 * Transport (see protocol.ts for the full story): one AF_UNIX stream socket, frames of
 *   u32 type, u32 payload length (little endian), payload.
 *
 *   trun -> init   PLAN   the encoded plan, exactly once, first
 *   init -> trun   PID    decimal host pid of the process a CLONE op created
 *   init -> trun   SYNC   name of a sync point; the init blocks until GO or ABORT
 *   trun -> init   GO     carry on (payload empty, except the answer to SECCOMP_LOAD_NOTIFY's
 *                         sync point: the container process state for the seccomp listener)
 *   trun -> init   ABORT  the init exits 1 without a word
 *   init -> trun   ERROR  "<op name>: <what> \"<path>\": <strerror>"; the init then exits 1
 *   init -> trun   EXIT   decimal wait status of the child (CLONE in WAIT mode), then exit
 */
#ifndef TRUN_INIT_PROTOCOL_H
#define TRUN_INIT_PROTOCOL_H

#include <stdint.h>

#define PLAN_MAGIC 0x4e4c5054u /* "TPLN" read as a little endian u32 */
#define PLAN_VERSION 1u

/* A PLAN frame larger than this is refused: real plans are a few kilobytes. */
#define PLAN_MAX_BYTES (64u << 20)

enum msg_type {
	MSG_PLAN = 1,
	MSG_PID = 2,
	MSG_SYNC = 3,
	MSG_GO = 4,
	MSG_ABORT = 5,
	MSG_ERROR = 6,
	MSG_EXIT = 7,
};

/* Opcodes: append, never renumber (same rule as protocol.ts). */
enum op_code {
	OP_SETNS = 1,
	OP_UNSHARE = 2,
	OP_WRITE_FILE = 3,
	OP_CLONE = 4,
	OP_SYNC = 5,
	OP_OPEN_CONSOLE_SOCKET = 6,
	OP_OPEN_FIFO = 7,
	OP_SET_ID = 8,
	OP_SET_ROOTFS = 9,
	OP_MOUNT = 10,
	OP_MKNOD = 11,
	OP_SYMLINK = 12,
	OP_PIVOT_ROOT = 13,
	OP_MOVE_ROOT = 14,
	OP_MASK_PATH = 15,
	OP_READONLY_PATH = 16,
	OP_SETHOSTNAME = 17,
	OP_SETDOMAINNAME = 18,
	OP_RLIMIT = 19,
	OP_USER = 20,
	OP_UMASK = 21,
	OP_CAPBSET = 22,
	OP_CAPSET = 23,
	OP_NO_NEW_PRIVS = 24,
	OP_SECCOMP_INIT = 25,
	OP_SECCOMP_RULE = 26,
	OP_SECCOMP_LOAD = 27,
	OP_CONSOLE = 28,
	OP_CHDIR = 29,
	OP_WAIT_FIFO = 30,
	OP_RESOLVE_EXEC = 31,
	OP_EXEC = 32,
	OP_MKDIR = 33,
	OP_SETSID = 34,
	OP_SCHEDULER = 35,
	OP_IOPRIO = 36,
	OP_PERSONALITY = 37,
	OP_CPU_AFFINITY = 38,
	OP_JOIN_SESSION_KEYRING = 39,
	OP_CONSOLE_RELAY = 40,
	OP_BPF_DEVICE_FILTER = 41,
	OP_SECCOMP_LISTENER = 42,
	OP_SECCOMP_LOAD_NOTIFY = 43,
	OP_SET_MEMPOLICY = 44,
	OP_IDMAP_TREE = 45,
	OP_MOUNT_TREE = 46,
	OP_PARENT_PROPAGATION = 47,
	OP_MOUNT_SETATTR = 48,
	OP_BIND_TREE = 49,
	OP_UNMOUNT_FULL = 50,
	OP_EXEC_PREPARE = 51,
	OP_SECCOMP_ENOSYS = 52,
	OP_CHROOT = 53,
	OP_UNMOUNT = 54,
	OP_MAX = OP_UNMOUNT,
};

/* MOUNT's own flags (not MS_*). */
enum mount_flag {
	MOUNT_IN_ROOT = 1,    /* resolve the target inside the rootfs */
	MOUNT_MKDIR = 2,      /* create the target (and parents) as directories when missing */
	MOUNT_MKFILE = 4,     /* create the target as an empty file (parents as dirs) when missing */
	MOUNT_NO_SYMLINK = 8, /* refuse a target that is, or whose resolution crossed, a symlink */
	MOUNT_OPTIONAL = 16,  /* a missing source or target skips the op */
	MOUNT_FLAGS_ALL = 31,
};

/* IDMAP_TREE flags. */
enum tree_flag {
	TREE_RECURSIVE = 1,       /* open_tree AT_RECURSIVE: the submounts too (rbind) */
	TREE_IDMAP_RECURSIVE = 2, /* mount_setattr AT_RECURSIVE: id-map the submounts too (ridmap) */
	TREE_FLAGS_ALL = 3,
};

enum clone_mode {
	CLONE_MODE_DETACH = 0, /* parent sends PID and exits 0 */
	CLONE_MODE_WAIT = 1,   /* parent sends PID, waits, sends EXIT, mirrors the status */
};

enum exec_flag {
	EXEC_LISTEN_PID = 1, /* with LISTEN_FDS in env, set LISTEN_PID to our own pid */
	EXEC_FLAGS_ALL = 1,
};

enum capset_flag {
	CAPSET_KEEP_AMBIENT = 1, /* capset(2) only; the kernel trims the ambient set itself */
	CAPSET_FLAGS_ALL = 1,
};

enum chdir_flag {
	CHDIR_TRY = 1,   /* EACCES/EPERM is remembered, not an error */
	CHDIR_RETRY = 2, /* only when the last TRY failed */
	CHDIR_FLAGS_ALL = 3,
};

enum relay_flag {
	RELAY_RAW = 1, /* fd 0 in raw mode while relaying, when it is a terminal */
	RELAY_FLAGS_ALL = 1,
};

/* Argument kinds on the wire (the byte before each argument). */
enum arg_kind {
	ARG_NUM = 'n',  /* u64 */
	ARG_STR = 's',  /* u32 length, bytes */
	ARG_LIST = 'l', /* u32 count, count x (u32 length, bytes) */
	ARG_VEC = 'v',  /* u32 count, count x u64 */
};

#endif
