/* Id-mapped trees (IDMAP_TREE): a bind mount's source cloned as a detached mount tree and
 * id-mapped with mount_setattr(MOUNT_ATTR_IDMAP), the way runc and crun do it. BIND_TREE is the
 * same without the mapping: a source that only the host's root can reach (under a 0700
 * directory, say), cloned while we still are that root, like runc's mount source fds.
 *
 * This runs on the host, before the clone: id-mapping a mount needs CAP_SYS_ADMIN over the
 * user namespace of the source's filesystem (the initial one for a host directory), which the
 * container's init no longer has once it lives in a user namespace of its own. The tree is
 * detached, so nothing of it is visible anywhere until MOUNT_TREE (mounts.c) moves it into the
 * rootfs; its fd is close-on-exec, and a waiting parent closes it (close_state_fds).
 *
 * The mapping comes as a user namespace: a child born in a new one (clone(CLONE_NEWUSER)) waits
 * on a pipe while we write its uid_map and gid_map and open its ns file, then exits. Its maps
 * are the text trun computed ("<id in ns> <id outside> <count>" lines).
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "init.h"

/* Older C libraries lack these (values from <linux/mount.h>, stable ABI). */
#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#endif
#ifndef OPEN_TREE_CLOEXEC
#define OPEN_TREE_CLOEXEC O_CLOEXEC
#endif
#ifndef MOUNT_ATTR_IDMAP
#define MOUNT_ATTR_IDMAP 0x00100000
struct mount_attr {
	uint64_t attr_set;
	uint64_t attr_clr;
	uint64_t propagation;
	uint64_t userns_fd;
};
#endif
#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif

/* One write(2) of the whole map: the kernel takes a map only once, complete. */
static int write_map(pid_t pid, const char *file, const char *text, size_t len, struct init_error *err)
{
	char path[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return init_error_set(err, errno, "open \"%s\"", path);
	n = write(fd, text, len);
	if (n < 0 || (size_t)n != len) {
		int e = n < 0 ? errno : EIO;
		close(fd);
		return init_error_set(err, e, "write %s \"%.*s\"", file, (int)strcspn(text, "\n"), text);
	}
	close(fd);
	return 0;
}

/* A user namespace with these maps; returns its fd, or -1 with the error record filled. */
static int userns_with_maps(const struct plan_arg *uid_map, const struct plan_arg *gid_map, struct init_error *err)
{
	int gate[2], fd = -1, status;
	char path[64];
	long pid;

	if (pipe2(gate, O_CLOEXEC) < 0)
		return init_error_set(err, errno, "pipe");
	/* Fork semantics (no new stack); the child only waits for the gate to close. */
	pid = syscall(SYS_clone, (unsigned long)CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
	if (pid < 0) {
		int e = errno;
		close(gate[0]);
		close(gate[1]);
		return init_error_set(err, e, "clone a user namespace for the mapping");
	}
	if (pid == 0) {
		char b;
		close(gate[1]);
		while (read(gate[0], &b, 1) < 0 && errno == EINTR)
			;
		_exit(0);
	}
	close(gate[0]);
	if (write_map((pid_t)pid, "uid_map", uid_map->str, uid_map->count, err) == 0 &&
	    write_map((pid_t)pid, "gid_map", gid_map->str, gid_map->count, err) == 0) {
		snprintf(path, sizeof(path), "/proc/%ld/ns/user", pid);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			init_error_set(err, errno, "open \"%s\"", path);
	}
	close(gate[1]); /* the child exits; its namespace lives on through fd */
	while (waitpid((pid_t)pid, &status, 0) < 0 && errno == EINTR)
		;
	return fd;
}

static int add_tree(struct init_state *st, int fd, struct init_error *err)
{
	int *trees = realloc(st->trees, (st->ntrees + 1) * sizeof(*trees));
	if (trees == NULL)
		return init_error_set(err, ENOMEM, "remember tree");
	trees[st->ntrees++] = fd;
	st->trees = trees;
	return 0;
}

/* Sets ro, nosuid... on the tree's top mount only (like the remount a plain bind gets), then
 * keeps the tree for MOUNT_TREE; closes it on failure. */
static int keep_tree(struct init_state *st, int tree, const char *source, struct mount_attr *attrs, struct init_error *err)
{
	if ((attrs->attr_set || attrs->attr_clr) &&
	    syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH, attrs, sizeof(*attrs)) < 0) {
		int e = errno;
		close(tree);
		return init_error_set(err, e, "mount_setattr \"%s\" set 0x%llx clear 0x%llx", source,
				      (unsigned long long)attrs->attr_set, (unsigned long long)attrs->attr_clr);
	}
	if (add_tree(st, tree, err) < 0) {
		close(tree);
		return -1;
	}
	return 0;
}

int op_idmap_tree(struct init_state *st, const struct plan_op *op, struct init_error *err)
{
	const char *source = op->args[0].str;
	uint64_t flags = op->args[3].num;
	struct mount_attr idmap = { .attr_set = MOUNT_ATTR_IDMAP };
	struct mount_attr attrs = { .attr_set = op->args[4].num, .attr_clr = op->args[5].num };
	unsigned open_flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC;
	unsigned idmap_flags = AT_EMPTY_PATH;
	int userns, tree;

	if (flags & ~(uint64_t)TREE_FLAGS_ALL)
		return init_error_set(err, EINVAL, "tree flags 0x%llx", (unsigned long long)flags);
	if (flags & TREE_RECURSIVE)
		open_flags |= AT_RECURSIVE;
	if (flags & TREE_IDMAP_RECURSIVE)
		idmap_flags |= AT_RECURSIVE;

	userns = userns_with_maps(&op->args[1], &op->args[2], err);
	if (userns < 0)
		return -1;
	tree = (int)syscall(SYS_open_tree, AT_FDCWD, source, open_flags);
	if (tree < 0) {
		int e = errno;
		close(userns);
		return init_error_set(err, e, "open_tree \"%s\"", source);
	}
	idmap.userns_fd = (uint64_t)userns;
	if (syscall(SYS_mount_setattr, tree, "", idmap_flags, &idmap, sizeof(idmap)) < 0) {
		int e = errno;
		close(userns);
		close(tree);
		return init_error_set(err, e, "mount_setattr \"%s\" MOUNT_ATTR_IDMAP", source);
	}
	close(userns); /* the mount holds its own reference to the mapping */
	return keep_tree(st, tree, source, &attrs, err);
}

int op_bind_tree(struct init_state *st, const struct plan_op *op, struct init_error *err)
{
	const char *source = op->args[0].str;
	uint64_t flags = op->args[1].num;
	struct mount_attr attrs = { .attr_set = op->args[2].num, .attr_clr = op->args[3].num };
	unsigned open_flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC;
	int tree;

	if (flags & ~(uint64_t)TREE_RECURSIVE)
		return init_error_set(err, EINVAL, "tree flags 0x%llx", (unsigned long long)flags);
	if (flags & TREE_RECURSIVE)
		open_flags |= AT_RECURSIVE;
	tree = (int)syscall(SYS_open_tree, AT_FDCWD, source, open_flags);
	if (tree < 0)
		return init_error_set(err, errno, "open_tree \"%s\"", source);
	return keep_tree(st, tree, source, &attrs, err);
}

void close_trees(struct init_state *st)
{
	for (unsigned i = 0; i < st->ntrees; i++) {
		if (st->trees[i] >= 0)
			close(st->trees[i]);
		st->trees[i] = -1;
	}
}
