/* The op dispatch table, and the ops small enough not to deserve a file of their own:
 * namespaces (setns, unshare), writing a file, ids, host/domain name, rlimits, umask, cwd and
 * setsid. Arguments were checked against the op's signature by the decoder (plan.c). */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "init.h"

static const op_handler handlers[OP_MAX + 1] = {
	[OP_SETNS] = op_setns,
	[OP_UNSHARE] = op_unshare,
	[OP_WRITE_FILE] = op_write_file,
	[OP_CLONE] = op_clone,
	[OP_SYNC] = op_sync,
	[OP_OPEN_CONSOLE_SOCKET] = op_open_console_socket,
	[OP_OPEN_FIFO] = op_open_fifo,
	[OP_SET_ID] = op_set_id,
	[OP_SET_ROOTFS] = op_set_rootfs,
	[OP_MOUNT] = op_mount,
	[OP_MKNOD] = op_mknod,
	[OP_SYMLINK] = op_symlink,
	[OP_PIVOT_ROOT] = op_pivot_root,
	[OP_MOVE_ROOT] = op_move_root,
	[OP_MASK_PATH] = op_mask_path,
	[OP_READONLY_PATH] = op_readonly_path,
	[OP_SETHOSTNAME] = op_sethostname,
	[OP_SETDOMAINNAME] = op_setdomainname,
	[OP_RLIMIT] = op_rlimit,
	[OP_USER] = op_user,
	[OP_UMASK] = op_umask,
	[OP_CAPBSET] = op_capbset,
	[OP_CAPSET] = op_capset,
	[OP_NO_NEW_PRIVS] = op_no_new_privs,
	[OP_SECCOMP_INIT] = op_seccomp_init,
	[OP_SECCOMP_RULE] = op_seccomp_rule,
	[OP_SECCOMP_LOAD] = op_seccomp_load,
	[OP_CONSOLE] = op_console,
	[OP_CHDIR] = op_chdir,
	[OP_WAIT_FIFO] = op_wait_fifo,
	[OP_RESOLVE_EXEC] = op_resolve_exec,
	[OP_EXEC] = op_exec,
	[OP_MKDIR] = op_mkdir,
	[OP_SETSID] = op_setsid,
	[OP_SCHEDULER] = op_scheduler,
	[OP_IOPRIO] = op_ioprio,
	[OP_PERSONALITY] = op_personality,
	[OP_CPU_AFFINITY] = op_cpu_affinity,
	[OP_JOIN_SESSION_KEYRING] = op_join_session_keyring,
	[OP_CONSOLE_RELAY] = op_console_relay,
	[OP_BPF_DEVICE_FILTER] = op_bpf_device_filter,
	[OP_SECCOMP_LISTENER] = op_seccomp_listener,
	[OP_SECCOMP_LOAD_NOTIFY] = op_seccomp_load_notify,
	[OP_SET_MEMPOLICY] = op_set_mempolicy,
	[OP_IDMAP_TREE] = op_idmap_tree,
	[OP_MOUNT_TREE] = op_mount_tree,
	[OP_PARENT_PROPAGATION] = op_parent_propagation,
	[OP_MOUNT_SETATTR] = op_mount_setattr,
	[OP_BIND_TREE] = op_bind_tree,
	[OP_UNMOUNT_FULL] = op_unmount_full,
	[OP_EXEC_PREPARE] = op_exec_prepare,
	[OP_SECCOMP_ENOSYS] = op_seccomp_enosys,
	[OP_CHROOT] = op_chroot,
	[OP_UNMOUNT] = op_unmount,
};

int run_plan(struct init_state *st, const struct plan *plan, struct init_error *err)
{
	for (uint32_t i = 0; i < plan->nops; i++) {
		const struct plan_op *op = &plan->ops[i];
		op_handler fn = op->code <= OP_MAX ? handlers[op->code] : NULL;

		if (fn == NULL)
			return init_error_set(err, 0, "op %u: no handler for opcode %u", i, op->code);
		if (fn(st, op, err) < 0) {
			/* "<op name>: <message>", the format trun shows to its caller. */
			char inner[INIT_ERROR_MAX];
			int status = err->status, errnum = err->errnum;
			memcpy(inner, err->msg, sizeof(inner));
			init_error_set(err, 0, "%s: %s", op_name(op->code), inner);
			err->status = status;
			err->errnum = errnum;
			return -1;
		}
	}
	return 0;
}

int op_setns(struct init_state *st, const struct plan_op *op, struct init_error *err)
{
	const char *path = op->args[0].str;
	int nstype = (int)op->args[1].num;
	int fd;

	(void)st;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return init_error_set(err, errno, "open \"%s\"", path);
	if (setns(fd, nstype) < 0) {
		int e = errno;
		close(fd);
		return init_error_set(err, e, "setns \"%s\"", path);
	}
	close(fd);
	return 0;
}

int op_unshare(struct init_state *st, const struct plan_op *op, struct init_error *err)
{
	(void)st;
	if (unshare((int)op->args[0].num) < 0)
		return init_error_set(err, errno, "unshare 0x%llx", (unsigned long long)op->args[0].num);
	return 0;
}

int op_write_file(struct init_state *st, const struct plan_op *op, struct init_error *err)
{
	const char *path = op->args[0].str;
	const char *data = op->args[1].str;
	size_t len = op->args[1].count;
	int flags = O_WRONLY | O_CLOEXEC | (op->args[2].num ? O_CREAT | O_TRUNC : 0);
	ssize_t n;
	int fd;

	(void)st;
	fd = open(path, flags, 0644);
	if (fd < 0)
		return init_error_set(err, errno, "open \"%s\"", path);
	/* One write(2): files like uid_map, setgroups or cgroup knobs need the whole value at once. */
	do
		n = write(fd, data, len);
	while (n < 0 && errno == EINTR);
	if (n < 0 || (size_t)n != len) {
		int e = n < 0 ? errno : EIO;
		close(fd);
		return init_error_set(err, e, "write \"%s\"", path);
	}
	if (close(fd) < 0)
		return init_error_set(err, errno, "close \"%s\"", path);
	return 0;
}

int op_set_id(struct init_state *st, const struct plan_op *op, struct init_error *err)
{
	uid_t uid = (uid_t)op->args[0].num;
	gid_t gid = (gid_t)op->args[1].num;

	(void)st;
	return switch_ids(uid, gid, err);
}

int op_sethostname(struct init_state *st, const struct plan_op *op, struct init_error *err)
{
	(void)st;
	if (sethostname(op->args[0].str, op->args[0].count) < 0)
		return init_error_set(err, errno, "sethostname \"%s\"", op->args[0].str);
	return 0;
}

int op_setdomainname(struct init_state *st, const struct plan_op *op, struct init_error *err)
{
	(void)st;
	if (setdomainname(op->args[0].str, op->args[0].count) < 0)
		return init_error_set(err, errno, "setdomainname \"%s\"", op->args[0].str);
	return 0;
}

int op_rlimit(struct init_state *st, const struct plan_op *op, struct init_error *err)
{
	/* rlim_t is 64 bits here and RLIM_INFINITY is ~0, the same value protocol.ts sends. */
	struct rlimit rl = { .rlim_cur = (rlim_t)op->args[1].num, .rlim_max = (rlim_t)op->args[2].num };
	int resource = (int)op->args[0].num;

	(void)st;
	if (setrlimit((__rlimit_resource_t)resource, &rl) < 0)
		return init_error_set(err, errno, "setrlimit %d", resource);
	return 0;
}

int op_umask(struct init_state *st, const struct plan_op *op, struct init_error *err)
{
	(void)st;
	if (op->args[0].num > 07777)
		return init_error_set(err, EINVAL, "umask 0%llo", (unsigned long long)op->args[0].num);
	umask((mode_t)op->args[0].num);
	return 0;
}

/* runc's order: a first try with the runtime's own credentials (TRY), which may reach a cwd the
 * user cannot, and on EACCES/EPERM a second one once the user is set up (RETRY), which may reach
 * a cwd only the user can. */
int op_chdir(struct init_state *st, const struct plan_op *op, struct init_error *err)
{
	const char *path = op->args[0].str;
	uint64_t flags = op->args[1].num;

	if (flags & ~(uint64_t)CHDIR_FLAGS_ALL)
		return init_error_set(err, EINVAL, "chdir flags 0x%llx", (unsigned long long)flags);
	if ((flags & CHDIR_RETRY) && !st->chdir_pending)
		return 0;
	st->chdir_pending = 0;
	if (chdir(path) == 0)
		return 0;
	if ((flags & CHDIR_TRY) && (errno == EACCES || errno == EPERM)) {
		st->chdir_pending = 1;
		return 0;
	}
	return init_error_set(err, errno, "chdir \"%s\"", path);
}

int op_setsid(struct init_state *st, const struct plan_op *op, struct init_error *err)
{
	(void)st;
	(void)op;
	if (setsid() < 0)
		return init_error_set(err, errno, "setsid");
	return 0;
}
