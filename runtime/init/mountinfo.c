/* The ops that read /proc/self/mountinfo of the container's mount namespace:
 *
 * PARENT_PROPAGATION, the propagation of the mount that holds the rootfs (runc's
 * rootfsParentMountPrivate): pivot_root refuses a new root whose parent mount is shared, a bind
 * of a shared mount would join its peer group (and the rootfs's own bind would propagate to the
 * host's copies), and an unbindable mount cannot be bound at all. The plan says what each case
 * becomes.
 *
 * UNMOUNT_FULL, before --no-pivot's MS_MOVE: the host's whole procfs and sysfs mounts stay in the
 * namespace under a chroot, and the kernel lets a user-namespaced container mount a new, unmasked
 * procfs as long as a full one is there (runc's msMoveRoot removes them too).
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

struct mount_line {
	const char *root;       /* the mount's root inside its filesystem ("/" for a full mount) */
	const char *mountpoint; /* unescaped */
	const char *fstype;
	int prop;               /* PROP_* bits */
};

/* Splits one mountinfo line in place:
 *   id parent major:minor root mountpoint options [optional...] - fstype source superoptions */
static int parse_line(char *line, struct mount_line *m)
{
	char *save = NULL, *field;
	int i = 0, after_dash = 0;

	memset(m, 0, sizeof(*m));
	for (field = strtok_r(line, " \n", &save); field; field = strtok_r(NULL, " \n", &save), i++) {
		if (after_dash) {
			m->fstype = field;
			break;
		}
		if (i == 3)
			m->root = field;
		else if (i == 4)
			m->mountpoint = field;
		else if (i >= 6 && strcmp(field, "-") == 0)
			after_dash = 1;
		else if (i >= 6 && strncmp(field, "shared:", 7) == 0)
			m->prop |= PROP_SHARED;
		else if (i >= 6 && strcmp(field, "unbindable") == 0)
			m->prop |= PROP_UNBINDABLE;
	}
	if (m->root == NULL || m->mountpoint == NULL || m->fstype == NULL)
		return -1;
	unescape((char *)m->root);
	unescape((char *)m->mountpoint);
	return 0;
}

/* Every line of /proc/self/mountinfo, read whole first: callers change the table. */
static char **read_mountinfo(size_t *n, struct init_error *err)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL, **lines = NULL;
	size_t cap = 0;

	*n = 0;
	if (f == NULL) {
		init_error_set(err, errno, "open \"/proc/self/mountinfo\"");
		return NULL;
	}
	while (getline(&line, &cap, f) > 0) {
		char **more = realloc(lines, (*n + 2) * sizeof(*lines));
		if (more == NULL || (more[*n] = strdup(line)) == NULL) {
			init_error_set(err, ENOMEM, "read \"/proc/self/mountinfo\"");
			lines = more ? more : lines;
			break;
		}
		lines = more;
		lines[++*n] = NULL;
	}
	free(line);
	fclose(f);
	if (lines == NULL && *n == 0 && err->msg[0] == '\0')
		init_error_set(err, ENOENT, "empty \"/proc/self/mountinfo\"");
	return lines;
}

static void free_lines(char **lines, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(lines[i]);
	free(lines);
}

/* Finds the mount holding path: its mount point goes to best and its PROP_* bits to *prop. The
 * last line wins among equal mount points (the top one). */
static int find_holder(const char *path, char *best, size_t bestlen, int *prop, struct init_error *err)
{
	size_t n, bestn = 0;
	char **lines = read_mountinfo(&n, err);
	int found = 0;

	if (lines == NULL)
		return -1;
	for (size_t i = 0; i < n; i++) {
		struct mount_line m;
		if (parse_line(lines[i], &m) < 0)
			continue;
		if (holds(m.mountpoint, path) && strlen(m.mountpoint) >= bestn && strlen(m.mountpoint) < bestlen) {
			bestn = strlen(m.mountpoint);
			snprintf(best, bestlen, "%s", m.mountpoint);
			*prop = m.prop;
			found = 1;
		}
	}
	free_lines(lines, n);
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

/* Whether name is one of the list's strings. */
static int in_list(const struct plan_arg *list, const char *name)
{
	for (uint32_t i = 0; i < list->count; i++)
		if (strcmp(list->list[i], name) == 0)
			return 1;
	return 0;
}

int op_unmount_full(struct init_state *st, const struct plan_op *op, struct init_error *err)
{
	const struct plan_arg *fstypes = &op->args[0];
	const char *keep = op->args[1].str;
	char real[4096];
	size_t n;
	char **lines;
	int r = 0;

	(void)st;
	if (realpath(keep, real) == NULL)
		return init_error_set(err, errno, "resolve \"%s\"", keep);
	lines = read_mountinfo(&n, err);
	if (lines == NULL)
		return -1;
	for (size_t i = 0; i < n && r == 0; i++) {
		struct mount_line m;
		if (parse_line(lines[i], &m) < 0 || strcmp(m.root, "/") != 0 || !in_list(fstypes, m.fstype))
			continue;
		if (holds(real, m.mountpoint))
			continue; /* the container's own, inside the rootfs */
		/* Our unmount must not reach the host's copies of it. ENOENT: a parent went already. */
		if (mount(NULL, m.mountpoint, NULL, MS_SLAVE | MS_REC, NULL) < 0) {
			if (errno != ENOENT)
				r = init_error_set(err, errno, "make \"%s\" rslave", m.mountpoint);
			continue;
		}
		if (umount2(m.mountpoint, MNT_DETACH) == 0)
			continue;
		/* Locked in a user namespace (EINVAL) or not ours to unmount (EPERM): cover it. */
		if ((errno == EINVAL || errno == EPERM) && mount("tmpfs", m.mountpoint, "tmpfs", 0, NULL) == 0)
			continue;
		r = init_error_set(err, errno, "unmount \"%s\" (%s)", m.mountpoint, m.fstype);
	}
	free_lines(lines, n);
	return r;
}
