/* Path resolution inside the rootfs with openat2(RESOLVE_IN_ROOT); see inroot.h. */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "inroot.h"

int in_root_open(int rootfd, const char *path, int extra_flags, uint64_t extra_resolve)
{
	struct open_how how = {
		.flags = (uint64_t)(O_PATH | O_CLOEXEC | extra_flags),
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | extra_resolve,
	};
	long fd;

	/* EAGAIN: a concurrent rename raced the resolution; the kernel asks us to retry. */
	for (int tries = 0; tries < 32; tries++) {
		fd = syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
		if (fd >= 0 || errno != EAGAIN)
			break;
	}
	return (int)fd;
}

int in_root_mkdir_p(int rootfd, const char *path, mode_t mode, int last_is_file)
{
	size_t len = strlen(path);
	char *prefix = malloc(len + 2);
	char *copy = strdup(path);
	char *save = NULL, *comp, *next;
	int parent, fd = -1, e;
	mode_t old_mask;

	if (prefix == NULL || copy == NULL) {
		free(prefix);
		free(copy);
		errno = ENOMEM;
		return -1;
	}
	prefix[0] = '\0';
	parent = openat(rootfd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (parent < 0)
		goto fail;

	/* Modes must come out as asked, whatever umask the plan set earlier. */
	old_mask = umask(0);
	comp = strtok_r(copy, "/", &save);
	while (comp != NULL) {
		next = strtok_r(NULL, "/", &save);
		if (strcmp(comp, ".") == 0) {
			comp = next;
			continue;
		}
		strcat(prefix, "/");
		strcat(prefix, comp);

		fd = in_root_open(rootfd, prefix, 0, 0);
		if (fd < 0 && errno == ENOENT) {
			/* Create this one component in the directory resolved so far, then resolve the
			 * whole prefix again: whatever we created is looked up IN_ROOT like the rest. */
			int r;
			if (next == NULL && last_is_file) {
				r = openat(parent, comp, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
				if (r >= 0)
					close(r);
			} else {
				r = mkdirat(parent, comp, next == NULL ? mode : 0755);
			}
			if (r < 0 && errno != EEXIST) {
				umask(old_mask);
				goto fail;
			}
			fd = in_root_open(rootfd, prefix, 0, 0);
		}
		if (fd < 0) {
			umask(old_mask);
			goto fail;
		}
		close(parent);
		parent = fd;
		comp = next;
	}
	umask(old_mask);
	free(prefix);
	free(copy);
	return parent;

fail:
	e = errno;
	if (parent >= 0)
		close(parent);
	free(prefix);
	free(copy);
	errno = e;
	return -1;
}

int in_root_parent(int rootfd, const char *path, char *buf, size_t buflen, const char **name)
{
	size_t len = strlen(path);
	char *slash;
	int fd;

	if (len + 1 > buflen) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(buf, path, len + 1);
	while (len > 1 && buf[len - 1] == '/')
		buf[--len] = '\0';
	slash = strrchr(buf, '/');
	*name = slash ? slash + 1 : buf;
	if (**name == '\0' || strcmp(*name, ".") == 0 || strcmp(*name, "..") == 0) {
		errno = EINVAL;
		return -1;
	}
	if (slash == NULL) {
		fd = openat(rootfd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	} else {
		*slash = '\0';
		fd = in_root_mkdir_p(rootfd, buf[0] ? buf : "/", 0755, 0);
		*slash = '/';
	}
	return fd;
}
