/* PARENT_PROPAGATION: the propagation of the mount that holds the rootfs, as read from
 * /proc/self/mountinfo in the container's mount namespace (runc's rootfsParentMountPrivate).
 *
 * pivot_root refuses a new root whose parent mount is shared, a bind of a shared mount would
 * join its peer group (and the rootfs's own bind would propagate to the host's copies), and an
 * unbindable mount cannot be bound at all. The plan says what each case becomes.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "init.h"

/* mountinfo escapes space, tab, newline and backslash as \ooo: decode in place. */
static void unescape(char *s)
{
	char *out = s;
	while (*s) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*out++ = (char)((s[1] - '0') << 6 | (s[2] - '0') << 3 | (s[3] - '0'));
			s += 4;
		} else {
			*out++ = *s++;
		}
	}
	*out = '\0';
}

/* Whether mount point mp holds path: equal, "/" itself, or a parent directory of it. */
static int holds(const char *mp, const char *path)
{
	size_t n = strlen(mp);
	if (strcmp(mp, "/") == 0)
		return 1;
	return strncmp(mp, path, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

enum { PROP_SHARED = 1, PROP_UNBINDABLE = 2 };

/* Finds the mount holding path: its mount point goes to best (size PATH_MAX) and its shared /
 * unbindable state to *prop. The last line wins among equal mount points (the top one). */
static int find_holder(const char *path, char *best, size_t bestlen, int *prop, struct init_error *err)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL;
	size_t cap = 0, bestn = 0;
	int found = 0;

	if (f == NULL)
		return init_error_set(err, errno, "open \"/proc/self/mountinfo\"");
	while (getline(&line, &cap, f) > 0) {
		/* id parent major:minor root mountpoint options [optional...] - fstype source super */
		char *save = NULL, *field, *mp = NULL;
		int i = 0, p = 0;
		for (field = strtok_r(line, " \n", &save); field; field = strtok_r(NULL, " \n", &save), i++) {
			if (i == 4)
				mp = field;
			if (i >= 6 && strcmp(field, "-") == 0)
				break;
			if (i >= 6 && strncmp(field, "shared:", 7) == 0)
				p |= PROP_SHARED;
			if (i >= 6 && strcmp(field, "unbindable") == 0)
				p |= PROP_UNBINDABLE;
		}
		if (mp == NULL)
			continue;
		unescape(mp);
		if (holds(mp, path) && strlen(mp) >= bestn && strlen(mp) < bestlen) {
			bestn = strlen(mp);
			snprintf(best, bestlen, "%s", mp);
			*prop = p;
			found = 1;
		}
	}
	free(line);
	fclose(f);
	if (!found)
		return init_error_set(err, ENOENT, "no mount holds \"%s\" in /proc/self/mountinfo", path);
	return 0;
}

int op_parent_propagation(struct init_state *st, const struct plan_op *op, struct init_error *err)
{
	const char *path = op->args[0].str;
	unsigned long if_shared = (unsigned long)op->args[1].num;
	unsigned long if_unbindable = (unsigned long)op->args[2].num;
	char real[4096], holder[4096];
	unsigned long flags = 0;
	int prop = 0;

	(void)st;
	/* mountinfo names mount points without symlinks: compare with the resolved path. */
	if (realpath(path, real) == NULL)
		return init_error_set(err, errno, "resolve \"%s\"", path);
	if (find_holder(real, holder, sizeof(holder), &prop, err) < 0)
		return -1;
	if (prop & PROP_SHARED)
		flags = if_shared;
	else if (prop & PROP_UNBINDABLE)
		flags = if_unbindable;
	if (flags == 0)
		return 0;
	if (mount(NULL, holder, NULL, flags, NULL) < 0)
		return init_error_set(err, errno, "change propagation of \"%s\" (holding \"%s\")", holder, path);
	return 0;
}
