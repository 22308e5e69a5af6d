/* State shared by the op handlers, and the handlers themselves. Each op of the plan is run by
 * one handler (table in ops.c); a handler returns 0, or -1 with the error record filled. The
 * files that own the handlers:
 *   ops.c      namespaces, files, ids, hostname, rlimits, umask, cwd, setsid (the small ones)
 *   process.c  clone, sync, exec fifo, executable lookup, exec
 *   mounts.c   rootfs, mounts, device nodes, symlinks, directories, pivot or chroot, masked/ro paths,
 *              id-mapped trees moved into place
 *   idmap.c    detached trees cloned on the host before the clone: id-mapped, or plain binds
 *   mountinfo.c the ops that read mountinfo: the rootfs holder's propagation, --no-pivot's unmounts
 *   caps.c     user, bounding set, capabilities, no_new_privs
 *   seccomp.c  libseccomp filter
 *   console.c  console socket and pty
 *   relay.c    console relay: the waiting parent copies between its stdio and the pty master
 *   procattr.c scheduler, io priority, personality, cpu affinity, memory policy
 *   keyring.c  session keyring
 *   bpf.c      cgroup v2 device filter (eBPF), attached host-side before anything else
 */
#ifndef TRUN_INIT_INIT_H
#define TRUN_INIT_INIT_H

#include <sys/types.h>

#include "error.h"
#include "plan.h"

struct init_state {
	int sync_fd;      /* the socket to trun (argv[1]); close-on-exec */
	int rootfs_fd;    /* SET_ROOTFS: the directory IN_ROOT ops resolve against, or -1 */
	int console_fd;   /* OPEN_CONSOLE_SOCKET: connected console socket, or -1 */
	int fifo_fd;      /* OPEN_FIFO: O_PATH fd of the exec fifo, or -1 */
	void *seccomp;    /* SECCOMP_INIT: the libseccomp context (scmp_filter_ctx), or NULL */
	char *exec_path;  /* RESOLVE_EXEC: the file EXEC runs, or NULL (then argv[0]) */
	int relay_fd;     /* CONSOLE_RELAY: our end of the socketpair the pty master arrives on, or -1 */
	unsigned relay_flags; /* CONSOLE_RELAY: enum relay_flag bits */
	int listener_fd;  /* SECCOMP_LISTENER: connected seccomp listener socket, or -1 */
	int *trees;       /* IDMAP_TREE: detached mount trees in op order (-1 once MOUNT_TREE used one) */
	unsigned ntrees;
	uint64_t seccomp_flags;  /* SECCOMP_INIT: SECCOMP_FILTER_FLAG_* bits for seccomp(2) */
	void *enosys;            /* SECCOMP_ENOSYS: the stub (struct sock_filter[]) put before the filter, or NULL */
	unsigned enosys_len;
	char **exec_env;         /* EXEC_PREPARE: the environment EXEC passes, or NULL (not prepared) */
	int chdir_pending;       /* CHDIR with TRY failed with EACCES/EPERM: a RETRY must chdir */
};

typedef int (*op_handler)(struct init_state *st, const struct plan_op *op, struct init_error *err);

/* Runs every op of the plan in order; returns -1 with the error record (message prefixed with
 * the op's name) when one fails. Never returns after a successful EXEC. */
int run_plan(struct init_state *st, const struct plan *plan, struct init_error *err);

/* ops.c */
int op_setns(struct init_state *, const struct plan_op *, struct init_error *);
int op_unshare(struct init_state *, const struct plan_op *, struct init_error *);
int op_write_file(struct init_state *, const struct plan_op *, struct init_error *);
int op_set_id(struct init_state *, const struct plan_op *, struct init_error *);
int op_sethostname(struct init_state *, const struct plan_op *, struct init_error *);
int op_setdomainname(struct init_state *, const struct plan_op *, struct init_error *);
int op_rlimit(struct init_state *, const struct plan_op *, struct init_error *);
int op_umask(struct init_state *, const struct plan_op *, struct init_error *);
int op_chdir(struct init_state *, const struct plan_op *, struct init_error *);
int op_setsid(struct init_state *, const struct plan_op *, struct init_error *);

/* process.c */
int op_clone(struct init_state *, const struct plan_op *, struct init_error *);
int op_sync(struct init_state *, const struct plan_op *, struct init_error *);
int op_open_fifo(struct init_state *, const struct plan_op *, struct init_error *);
int op_wait_fifo(struct init_state *, const struct plan_op *, struct init_error *);
int op_resolve_exec(struct init_state *, const struct plan_op *, struct init_error *);
int op_exec_prepare(struct init_state *, const struct plan_op *, struct init_error *);
int op_exec(struct init_state *, const struct plan_op *, struct init_error *);

/* mounts.c */
int op_set_rootfs(struct init_state *, const struct plan_op *, struct init_error *);
int op_mount(struct init_state *, const struct plan_op *, struct init_error *);
int op_mknod(struct init_state *, const struct plan_op *, struct init_error *);
int op_symlink(struct init_state *, const struct plan_op *, struct init_error *);
int op_mkdir(struct init_state *, const struct plan_op *, struct init_error *);
int op_pivot_root(struct init_state *, const struct plan_op *, struct init_error *);
int op_move_root(struct init_state *, const struct plan_op *, struct init_error *);
int op_chroot(struct init_state *, const struct plan_op *, struct init_error *);
int op_unmount(struct init_state *, const struct plan_op *, struct init_error *);
int op_mask_path(struct init_state *, const struct plan_op *, struct init_error *);
int op_readonly_path(struct init_state *, const struct plan_op *, struct init_error *);
int op_mount_tree(struct init_state *, const struct plan_op *, struct init_error *);
int op_mount_setattr(struct init_state *, const struct plan_op *, struct init_error *);

/* mountinfo.c */
int op_parent_propagation(struct init_state *, const struct plan_op *, struct init_error *);
int op_unmount_full(struct init_state *, const struct plan_op *, struct init_error *);

/* idmap.c */
int op_idmap_tree(struct init_state *, const struct plan_op *, struct init_error *);
int op_bind_tree(struct init_state *, const struct plan_op *, struct init_error *);
/* Closes the trees not moved yet (a waiting parent must not pin them). */
void close_trees(struct init_state *st);

/* caps.c */
int op_user(struct init_state *, const struct plan_op *, struct init_error *);
/* setresgid/setresuid keeping the permitted capabilities (shared by SET_ID and USER). */
int switch_ids(uid_t uid, gid_t gid, struct init_error *err);
int op_capbset(struct init_state *, const struct plan_op *, struct init_error *);
int op_capset(struct init_state *, const struct plan_op *, struct init_error *);
int op_no_new_privs(struct init_state *, const struct plan_op *, struct init_error *);

/* seccomp.c */
int op_seccomp_init(struct init_state *, const struct plan_op *, struct init_error *);
int op_seccomp_rule(struct init_state *, const struct plan_op *, struct init_error *);
int op_seccomp_load(struct init_state *, const struct plan_op *, struct init_error *);
int op_seccomp_listener(struct init_state *, const struct plan_op *, struct init_error *);
int op_seccomp_load_notify(struct init_state *, const struct plan_op *, struct init_error *);
int op_seccomp_enosys(struct init_state *, const struct plan_op *, struct init_error *);

/* console.c */
int op_open_console_socket(struct init_state *, const struct plan_op *, struct init_error *);
int op_console(struct init_state *, const struct plan_op *, struct init_error *);
/* Connects a SOCK_STREAM|SOCK_CLOEXEC unix socket to path (any length: through
 * /proc/self/fd/<dir>/<name>); returns the socket, or -1 with the error record filled. */
int unix_connect(const char *path, struct init_error *err);
/* One sendmsg(2) of len bytes (at least 1) with fd attached as SCM_RIGHTS; returns the bytes
 * sent, or -1 with errno set. */
ssize_t send_with_fd(int sock, const void *data, size_t len, int fd, int flags);

/* relay.c */
int op_console_relay(struct init_state *, const struct plan_op *, struct init_error *);
/* The waiting parent of a CLONE with a relay: copies between fds 0/1 and the pty master until the
 * child exits, then returns its wait status. Relay failures are written to stderr, never fatal. */
int relay_until_exit(struct init_state *st, pid_t child);

/* procattr.c */
int op_scheduler(struct init_state *, const struct plan_op *, struct init_error *);
int op_ioprio(struct init_state *, const struct plan_op *, struct init_error *);
int op_personality(struct init_state *, const struct plan_op *, struct init_error *);
int op_cpu_affinity(struct init_state *, const struct plan_op *, struct init_error *);
int op_set_mempolicy(struct init_state *, const struct plan_op *, struct init_error *);

/* keyring.c */
int op_join_session_keyring(struct init_state *, const struct plan_op *, struct init_error *);

/* bpf.c */
int op_bpf_device_filter(struct init_state *, const struct plan_op *, struct init_error *);

/* sealed.c: re-exec from a sealed memfd copy unless already running from one (CVE-2019-5736). */
int ensure_sealed_self(char **argv, int sync_fd, struct init_error *err);

#endif
