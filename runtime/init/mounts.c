/* The rootfs: SET_ROOTFS, MOUNT, MOUNT_TREE, MOUNT_SETATTR, MKNOD, SYMLINK, MKDIR, PIVOT_ROOT, MOVE_ROOT,
 * CHROOT, UNMOUNT, MASK_PATH and READONLY_PATH.
 *
 * Before the pivot, IN_ROOT targets are resolved by the kernel inside the rootfs (inroot.c)
 * and mounted on "/proc/self/fd/N" rather than on a path string: a symlink planted in the image
 * (say /proc -> /) can then never redirect a mount onto the host. After the pivot, MASK_PATH and
 * READONLY_PATH take plain paths: the root is the container's by then.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <linux/openat2.h>

#include "init.h"
#include "inroot.h"

/* Per-mount-point flags a bind mount only gets from a remount (mount(2) ignores them together
 * with MS_BIND on the first call). */
#define BIND_REMOUNT_FLAGS                                                                    \
	(MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME | MS_RELATIME | \
	 MS_STRICTATIME)

#define ATIME_FLAGS (MS_NOATIME | MS_RELATIME | MS_STRICTATIME)

/* statvfs f_flag bits -> MS_* flags that a remount must keep (the kernel locks them on mounts
 * inherited into a user namespace and refuses a remount that would clear them). */
static const struct {
	unsigned long st;
	unsigned long ms;
} locked_flags[] = {
	{ ST_RDONLY, MS_RDONLY },     { ST_NOSUID, MS_NOSUID },         { ST_NODEV, MS_NODEV },
	{ ST_NOEXEC, MS_NOEXEC },     { ST_NOATIME, MS_NOATIME },       { ST_NODIRATIME, MS_NODIRATIME },
	{ ST_RELATIME, MS_RELATIME },
};

/* The locked flags of the mount at path, MS_* form; `mask` selects which ones to consider. */
static int mount_locked_flags(const char *path, unsigned long mask, unsigned long *out)
{
	struct statvfs sv;
	*out = 0;
	if (statvfs(path, &sv) < 0)
		return -1;
	for (size_t i = 0; i < sizeof(locked_flags) / sizeof(locked_flags[0]); i++)
		if ((sv.f_flag & locked_flags[i].st) && (locked_flags[i].ms & mask))
			*out |= locked_flags[i].ms;
	return 0;
}

static int need_rootfs(struct init_state *st, struct init_error *err)
{
	if (st->rootfs_fd < 0)
		return init_error_set(err, EBADF, "no rootfs (SET_ROOTFS missing)");
	return 0;
}

int op_set_rootfs(struct init_state *st, const struct plan_op *op, struct init_error *err)
{
	const char *path = op->args[0].str;
	int fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return init_error_set(err, errno, "open \"%s\"", path);
	if (st->rootfs_fd >= 0)
		close(st->rootfs_fd);
	st->rootfs_fd = fd;
	return 0;
}

/* Resolves an IN_ROOT mount target. Returns the O_PATH fd, 1 when OPTIONAL says skip, or -1. */
static int open_mount_target(struct init_state *st, const char *target, uint64_t mflags,
			     struct init_error *err, int *out)
{
	uint64_t resolve = (mflags & MOUNT_NO_SYMLINK) ? RESOLVE_NO_SYMLINKS : 0;
	struct stat sb;
	int fd;

	fd = in_root_open(st->rootfs_fd, target, O_NOFOLLOW, resolve);
	if (fd < 0 && errno == ENOENT && (mflags & (MOUNT_MKDIR | MOUNT_MKFILE))) {
		fd = in_root_mkdir_p(st->rootfs_fd, target, 0755, (mflags & MOUNT_MKFILE) != 0);
		if (fd < 0)
			return init_error_set(err, errno, "create mount target \"%s\"", target);
		close(fd);
		fd = in_root_open(st->rootfs_fd, target, O_NOFOLLOW, resolve);
	}
	if (fd < 0 && errno == ENOENT && (mflags & MOUNT_OPTIONAL))
		return 1;
	if (fd < 0 && errno == ELOOP && (mflags & MOUNT_NO_SYMLINK))
		return init_error_set(err, ELOOP, "mount target \"%s\" crosses a symlink", target);
	if (fd < 0)
		return init_error_set(err, errno, "open mount target \"%s\" in rootfs", target);

	if (fstat(fd, &sb) < 0) {
		int e = errno;
		close(fd);
		return init_error_set(err, e, "stat mount target \"%s\"", target);
	}
	if (S_ISLNK(sb.st_mode)) {
		close(fd);
		if (mflags & MOUNT_NO_SYMLINK)
			return init_error_set(err, ELOOP, "mount target \"%s\" is a symlink", target);
		/* An ordinary symlink in the image (/etc/resolv.conf -> ../run/...) is followed, but
		 * still inside the rootfs: RESOLVE_IN_ROOT applies to the link's target too. */
		fd = in_root_open(st->rootfs_fd, target, 0, 0);
		if (fd < 0 && errno == ENOENT && (mflags & MOUNT_OPTIONAL))
			return 1;
		if (fd < 0)
			return init_error_set(err, errno, "open mount target \"%s\" in rootfs", target);
	}
	*out = fd;
	return 0;
}

int op_mount(struct init_state *st, const struct plan_op *op, struct init_error *err)
{
	const char *source = op->args[0].count ? op->args[0].str : NULL;
	const char *target = op->args[1].str;
	const char *fstype = op->args[2].count ? op->args[2].str : NULL;
	unsigned long flags = (unsigned long)op->args[3].num;
	const char *data = op->args[4].count ? op->args[4].str : NULL;
	uint64_t mflags = op->args[5].num;
	const char *shown = source ? source : fstype ? fstype : "none"; /* for messages */
	char fdpath[64];
	const char *where = target;
	int fd = -1, r;

	if (mflags & ~(uint64_t)MOUNT_FLAGS_ALL)
		return init_error_set(err, EINVAL, "mount flags 0x%llx", (unsigned long long)mflags);
	if (target[0] == '\0')
		return init_error_set(err, EINVAL, "mount \"%s\" on \"\"", shown);

	/* OPTIONAL bind: a missing host source skips the op before any target is created. */
	if ((mflags & MOUNT_OPTIONAL) && (flags & MS_BIND) && source && access(source, F_OK) < 0 &&
	    errno == ENOENT)
		return 0;

	if (mflags & MOUNT_IN_ROOT) {
		if (need_rootfs(st, err) < 0)
			return -1;
		r = open_mount_target(st, target, mflags, err, &fd);
		if (r != 0)
			return r < 0 ? -1 : 0;
		snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%d", fd);
		where = fdpath;
	}

	if (mount(source, where, fstype, flags, data) < 0) {
		int e = errno;
		unsigned long locked;
		/* Remounting a bind must keep the flags the kernel locked on it (a mount inherited
		 * into a user namespace): it refuses with EPERM a remount that would clear them, so
		 * once more with the mount's current flags of that kind added. */
		unsigned long keep = BIND_REMOUNT_FLAGS;
		if (flags & ATIME_FLAGS) /* the op's atime choice, not the mount's, of these exclusive ones */
			keep &= ~ATIME_FLAGS;
		if (e == EPERM && (flags & (MS_REMOUNT | MS_BIND)) == (MS_REMOUNT | MS_BIND) &&
		    mount_locked_flags(where, keep, &locked) == 0 &&
		    mount(source, where, fstype, flags | locked, data) == 0)
			e = 0;
		if (e != 0) {
			if (fd >= 0)
				close(fd);
			if (e == ENOENT && (mflags & MOUNT_OPTIONAL))
				return 0;
			if (flags & MS_REMOUNT)
				return init_error_set(err, e, "remount \"%s\"", target);
			return init_error_set(err, e, "mount \"%s\" on \"%s\"", shown, target);
		}
	}
	if (fd >= 0)
		close(fd);
	return 0;
}

#ifndef MOVE_MOUNT_F_EMPTY_PATH
#define MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#define MOVE_MOUNT_T_EMPTY_PATH 0x00000040
#endif

/* An id-mapped tree from IDMAP_TREE (idmap.c), moved onto its target: by fd on both sides, so
 * the target is exactly what the in-root resolution found. */
int op_mount_tree(struct init_state *st, const struct plan_op *op, struct init_error *err)
{
	uint64_t index = op->args[0].num;
	const char *target = op->args[1].str;
	uint64_t mflags = op->args[2].num;
	int fd = -1, r;

	if (mflags & ~(uint64_t)(MOUNT_IN_ROOT | MOUNT_MKDIR | MOUNT_MKFILE | MOUNT_NO_SYMLINK))
		return init_error_set(err, EINVAL, "mount_tree flags 0x%llx", (unsigned long long)mflags);
	if (!(mflags & MOUNT_IN_ROOT))
		return init_error_set(err, EINVAL, "mount_tree \"%s\" outside the rootfs", target);
	if (index >= st->ntrees || st->trees[index] < 0)
		return init_error_set(err, EBADF, "no tree %llu (IDMAP_TREE missing or used)", (unsigned long long)index);
	if (need_rootfs(st, err) < 0)
		return -1;
	r = open_mount_target(st, target, mflags, err, &fd);
	if (r != 0)
		return -1; /* not OPTIONAL: r is never 1 */
	if (syscall(SYS_move_mount, st->trees[index], "", fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0) {
		int e = errno;
		close(fd);
		return init_error_set(err, e, "move_mount tree %llu on \"%s\"", (unsigned long long)index, target);
	}
	close(fd);
	close(st->trees[index]);
	st->trees[index] = -1;
	return 0;
}

#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif

/* Mount attributes of a mount already in the rootfs ("rro" and friends: AT_RECURSIVE reaches
 * the submounts a plain remount leaves alone). The struct is declared locally so that older
 * C libraries build too; its layout is the kernel's stable ABI. */
int op_mount_setattr(struct init_state *st, const struct plan_op *op, struct init_error *err)
{
	const char *target = op->args[0].str;
	struct {
		uint64_t attr_set, attr_clr, propagation, userns_fd;
	} attr = { .attr_set = op->args[1].num, .attr_clr = op->args[2].num };
	unsigned flags = AT_EMPTY_PATH | (op->args[3].num ? AT_RECURSIVE : 0);
	int fd;

	if (need_rootfs(st, err) < 0)
		return -1;
	fd = in_root_open(st->rootfs_fd, target, 0, 0);
	if (fd < 0)
		return init_error_set(err, errno, "open mount target \"%s\" in rootfs", target);
	if (syscall(SYS_mount_setattr, fd, "", flags, &attr, sizeof(attr)) < 0) {
		int e = errno;
		close(fd);
		return init_error_set(err, e, "mount_setattr \"%s\" set 0x%llx clear 0x%llx", target,
				      (unsigned long long)attr.attr_set, (unsigned long long)attr.attr_clr);
	}
	close(fd);
	return 0;
}

int op_mknod(struct init_state *st, const struct plan_op *op, struct init_error *err)
{
	const char *path = op->args[0].str;
	mode_t mode = (mode_t)op->args[1].num;
	dev_t dev = makedev((unsigned)op->args[2].num, (unsigned)op->args[3].num);
	uid_t uid = (uid_t)op->args[4].num;
	gid_t gid = (gid_t)op->args[5].num;
	char buf[4096];
	const char *name;
	mode_t old_mask;
	int dirfd, r, e;

	if (need_rootfs(st, err) < 0)
		return -1;
	dirfd = in_root_parent(st->rootfs_fd, path, buf, sizeof(buf), &name);
	if (dirfd < 0)
		return init_error_set(err, errno, "open parent of \"%s\" in rootfs", path);
	/* Replace whatever is there (a file the image shipped, a node from an earlier run). */
	if (unlinkat(dirfd, name, 0) < 0 && errno != ENOENT) {
		e = errno;
		close(dirfd);
		return init_error_set(err, e, "unlink \"%s\"", path);
	}
	old_mask = umask(0);
	r = mknodat(dirfd, name, mode, dev);
	e = errno;
	umask(old_mask);
	if (r < 0) {
		close(dirfd);
		return init_error_set(err, e, "mknod \"%s\"", path);
	}
	if (fchownat(dirfd, name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0) {
		e = errno;
		close(dirfd);
		return init_error_set(err, e, "chown \"%s\"", path);
	}
	close(dirfd);
	return 0;
}

int op_symlink(struct init_state *st, const struct plan_op *op, struct init_error *err)
{
	const char *target = op->args[0].str;
	const char *path = op->args[1].str;
	char buf[4096];
	const char *name;
	int dirfd;

	if (need_rootfs(st, err) < 0)
		return -1;
	dirfd = in_root_parent(st->rootfs_fd, path, buf, sizeof(buf), &name);
	if (dirfd < 0)
		return init_error_set(err, errno, "open parent of \"%s\" in rootfs", path);
	if (symlinkat(target, dirfd, name) < 0 && errno != EEXIST) {
		int e = errno;
		close(dirfd);
		return init_error_set(err, e, "symlink \"%s\" to \"%s\"", path, target);
	}
	close(dirfd);
	return 0;
}

int op_mkdir(struct init_state *st, const struct plan_op *op, struct init_error *err)
{
	const char *path = op->args[0].str;
	int fd;

	if (need_rootfs(st, err) < 0)
		return -1;
	if (op->args[1].num > 07777)
		return init_error_set(err, EINVAL, "mkdir \"%s\" with mode 0%llo", path,
				      (unsigned long long)op->args[1].num);
	fd = in_root_mkdir_p(st->rootfs_fd, path, (mode_t)op->args[1].num, 0);
	if (fd < 0)
		return init_error_set(err, errno, "mkdir \"%s\"", path);
	close(fd);
	return 0;
}

int op_pivot_root(struct init_state *st, const struct plan_op *op, struct init_error *err)
{
	(void)op;
	if (need_rootfs(st, err) < 0)
		return -1;
	if (fchdir(st->rootfs_fd) < 0)
		return init_error_set(err, errno, "chdir to rootfs");
	/* pivot_root(".", "."): the old root ends up stacked on top of the new one at "/", from
	 * where it is detached without needing a directory for it inside the rootfs. */
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		return init_error_set(err, errno, "pivot_root");
	/* Make sure the unmount of the old root cannot propagate to the host's mounts. */
	if (mount(NULL, ".", NULL, MS_SLAVE | MS_REC, NULL) < 0)
		return init_error_set(err, errno, "make old root rslave");
	if (umount2(".", MNT_DETACH) < 0)
		return init_error_set(err, errno, "unmount old root");
	if (chdir("/") < 0)
		return init_error_set(err, errno, "chdir \"/\"");
	return 0;
}

/* chroot to the current directory and step into it: --no-pivot's last move and CHROOT's. */
static int chroot_cwd(struct init_error *err)
{
	if (chroot(".") < 0)
		return init_error_set(err, errno, "chroot");
	if (chdir("/") < 0)
		return init_error_set(err, errno, "chdir \"/\"");
	return 0;
}

int op_move_root(struct init_state *st, const struct plan_op *op, struct init_error *err)
{
	(void)op;
	if (need_rootfs(st, err) < 0)
		return -1;
	if (fchdir(st->rootfs_fd) < 0)
		return init_error_set(err, errno, "chdir to rootfs");
	if (mount(".", "/", NULL, MS_MOVE, NULL) < 0)
		return init_error_set(err, errno, "move rootfs to \"/\"");
	return chroot_cwd(err);
}

/* A container without a mount namespace of its own (its mounts are the host's): chroot, as
 * pivot_root would move the host's root. Also exec's way into such a container's root. */
int op_chroot(struct init_state *st, const struct plan_op *op, struct init_error *err)
{
	const char *path = op->args[0].str;
	int fd = st->rootfs_fd;

	if (path[0] != '\0') {
		fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			return init_error_set(err, errno, "open \"%s\"", path);
	} else if (need_rootfs(st, err) < 0) {
		return -1;
	}
	if (fchdir(fd) < 0) {
		int e = errno;
		if (fd != st->rootfs_fd)
			close(fd);
		return init_error_set(err, e, "chdir to \"%s\"", path[0] ? path : "rootfs");
	}
	if (fd != st->rootfs_fd)
		close(fd);
	return chroot_cwd(err);
}

#ifndef UMOUNT_NOFOLLOW
#define UMOUNT_NOFOLLOW 0x00000008
#endif

/* Takes down what a container without a mount namespace left in the host's: the caller decides
 * which mount, and checked that it is the container's. */
int op_unmount(struct init_state *st, const struct plan_op *op, struct init_error *err)
{
	const char *path = op->args[0].str;
	(void)st;
	if (umount2(path, (int)op->args[1].num | UMOUNT_NOFOLLOW) < 0)
		return init_error_set(err, errno, "umount \"%s\"", path);
	return 0;
}

/* Opens a masked or read-only path of the container with no symlink anywhere on the way
 * (CVE-2019-16884's class: a /proc the image made a symlink must not steer the mounts onto a
 * directory it controls). Returns the O_PATH fd, 1 when the path does not exist, or -1. */
static int open_no_symlinks(const char *what, const char *path, struct init_error *err, int *out)
{
	int fd = in_root_open(AT_FDCWD, path, 0, RESOLVE_NO_SYMLINKS);
	if (fd < 0 && errno == ENOENT)
		return 1;
	if (fd < 0 && errno == ELOOP)
		return init_error_set(err, ELOOP, "%s \"%s\" crosses a symlink", what, path);
	if (fd < 0)
		return init_error_set(err, errno, "open %s \"%s\"", what, path);
	*out = fd;
	return 0;
}

int op_mask_path(struct init_state *st, const struct plan_op *op, struct init_error *err)
{
	const char *path = op->args[0].str;
	char fdpath[64];
	struct stat sb;
	int fd = -1, r;

	(void)st;
	r = open_no_symlinks("masked path", path, err, &fd);
	if (r != 0)
		return r < 0 ? -1 : 0;
	snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%d", fd);
	if (fstat(fd, &sb) < 0) {
		r = init_error_set(err, errno, "stat \"%s\"", path);
	} else if (S_ISDIR(sb.st_mode)) {
		r = 0;
		if (mount("tmpfs", fdpath, "tmpfs", MS_RDONLY, NULL) < 0)
			r = init_error_set(err, errno, "mount \"tmpfs\" on \"%s\"", path);
	} else {
		r = 0;
		if (mount("/dev/null", fdpath, NULL, MS_BIND, NULL) < 0)
			r = init_error_set(err, errno, "mount \"/dev/null\" on \"%s\"", path);
	}
	close(fd);
	return r;
}

int op_readonly_path(struct init_state *st, const struct plan_op *op, struct init_error *err)
{
	const char *path = op->args[0].str;
	unsigned long keep;
	char fdpath[64];
	int fd = -1, r;

	(void)st;
	r = open_no_symlinks("readonly path", path, err, &fd);
	if (r != 0)
		return r < 0 ? -1 : 0;
	snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%d", fd);
	if (mount(fdpath, fdpath, NULL, MS_BIND | MS_REC, NULL) < 0) {
		r = init_error_set(err, errno, "bind \"%s\" on itself", path);
		close(fd);
		return r;
	}
	close(fd);
	/* The path now names the new bind (the fd still points below it). Keep nosuid/nodev/noexec
	 * (and the atime mode): clearing one is refused in a user namespace, and silently clearing
	 * it would be wrong anywhere. */
	r = open_no_symlinks("readonly path", path, err, &fd);
	if (r != 0)
		return r < 0 ? -1 : init_error_set(err, ENOENT, "readonly path \"%s\" vanished", path);
	snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%d", fd);
	r = 0;
	if (mount_locked_flags(fdpath, ~(unsigned long)MS_RDONLY, &keep) < 0)
		r = init_error_set(err, errno, "statvfs \"%s\"", path);
	else if (mount(NULL, fdpath, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_REC | keep, NULL) < 0)
		r = init_error_set(err, errno, "remount \"%s\" read-only", path);
	close(fd);
	return r;
}
