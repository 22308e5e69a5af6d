/* Path resolution inside the container's rootfs. Every path an IN_ROOT op names is resolved by
 * the kernel with openat2(RESOLVE_IN_ROOT) from the SET_ROOTFS directory fd: ".." and absolute
 * symlinks stop at the rootfs, so nothing in the image can point an op at the host. The fds
 * returned are O_PATH; callers act on "/proc/self/fd/N" (mount) or use them as dirfds. */
#ifndef TRUN_INIT_INROOT_H
#define TRUN_INIT_INROOT_H

#include <stdint.h>
#include <sys/types.h>

/* openat2(rootfd, path, O_PATH|O_CLOEXEC|extra_flags, RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS|
 * extra_resolve). Returns the fd, or -1 with errno. */
int in_root_open(int rootfd, const char *path, int extra_flags, uint64_t extra_resolve);

/* mkdir -p inside the rootfs, one component at a time, each resolved IN_ROOT. Intermediate
 * directories get 0755 and the last one `mode`; with last_is_file the last component is created
 * as an empty regular file instead. Returns an O_PATH fd of the result, or -1 with errno. */
int in_root_mkdir_p(int rootfd, const char *path, mode_t mode, int last_is_file);

/* Splits path into its parent (created when missing) and last component: returns an O_PATH fd
 * of the parent and points *name at the last component inside `buf` (a copy of path). -1 with
 * errno (EINVAL for a path without a usable last component: "", "/", ".", ".."). */
int in_root_parent(int rootfd, const char *path, char *buf, size_t buflen, const char **name);

#endif
