/* Privileges: USER (groups and ids), CAPBSET (bounding set), CAPSET (effective, permitted,
 * inheritable, ambient) and NO_NEW_PRIVS. Raw capset(2) with version 3 headers; no libcap.
 * The usual plan order is CAPBSET, USER, CAPSET: dropping from the bounding set needs
 * CAP_SETPCAP, which a non-root user no longer has in its effective set. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "init.h"

/* Highest capability number the kernel knows, from /proc/sys/kernel/cap_last_cap. */
static int cap_last_cap(struct init_error *err)
{
	char buf[16] = { 0 };
	int fd = open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return init_error_set(err, errno, "open \"/proc/sys/kernel/cap_last_cap\"");
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return init_error_set(err, n < 0 ? errno : EIO, "read \"/proc/sys/kernel/cap_last_cap\"");
	return atoi(buf);
}

int op_user(struct init_state *st, const struct plan_op *op, struct init_error *err)
{
	uid_t uid = (uid_t)op->args[0].num;
	gid_t gid = (gid_t)op->args[1].num;
	uint32_t ngroups = op->args[2].count;
	gid_t *groups = NULL;

	(void)st;
	if (ngroups > 0) {
		groups = calloc(ngroups, sizeof(gid_t));
		if (groups == NULL)
			return init_error_set(err, ENOMEM, "setgroups");
		for (uint32_t i = 0; i < ngroups; i++) {
			if (op->args[2].vec[i] > UINT32_MAX) {
				free(groups);
				return init_error_set(err, EINVAL, "setgroups: gid %llu",
						      (unsigned long long)op->args[2].vec[i]);
			}
			groups[i] = (gid_t)op->args[2].vec[i];
		}
		if (setgroups(ngroups, groups) < 0) {
			int e = errno;
			free(groups);
			return init_error_set(err, e, "setgroups");
		}
		free(groups);
	} else if (setgroups(0, NULL) < 0 && errno != EPERM) {
		/* EPERM: a user namespace with setgroups denied; there is nothing to clear anyway. */
		return init_error_set(err, errno, "setgroups");
	}

	/* CAPSET sets the final capability sets right after. */
	return switch_ids(uid, gid, err);
}

int switch_ids(uid_t uid, gid_t gid, struct init_error *err)
{
	/* KEEPCAPS so the permitted set survives a switch away from uid 0 (and becoming root of a
	 * new user namespace from a mapped uid keeps what we still need). */
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
		return init_error_set(err, errno, "prctl keepcaps");
	if (setresgid(gid, gid, gid) < 0)
		return init_error_set(err, errno, "setresgid %u", (unsigned)gid);
	if (setresuid(uid, uid, uid) < 0)
		return init_error_set(err, errno, "setresuid %u", (unsigned)uid);
	if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
		return init_error_set(err, errno, "prctl keepcaps");
	return 0;
}

int op_capbset(struct init_state *st, const struct plan_op *op, struct init_error *err)
{
	uint64_t keep = op->args[0].num;
	int last = cap_last_cap(err);

	(void)st;
	if (last < 0)
		return -1;
	for (int cap = 0; cap <= last && cap < 64; cap++) {
		if (keep & (1ULL << cap))
			continue;
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0)
			return init_error_set(err, errno, "drop capability %d from the bounding set", cap);
	}
	return 0;
}

int op_capset(struct init_state *st, const struct plan_op *op, struct init_error *err)
{
	uint64_t eff = op->args[0].num, perm = op->args[1].num, inh = op->args[2].num;
	uint64_t amb = op->args[3].num, flags = op->args[4].num;
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct data[2] = {
		{ .effective = (uint32_t)eff, .permitted = (uint32_t)perm, .inheritable = (uint32_t)inh },
		{ .effective = (uint32_t)(eff >> 32),
		  .permitted = (uint32_t)(perm >> 32),
		  .inheritable = (uint32_t)(inh >> 32) },
	};
	int last;

	(void)st;
	if (flags & ~(uint64_t)CAPSET_FLAGS_ALL)
		return init_error_set(err, EINVAL, "capset flags 0x%llx", (unsigned long long)flags);
	if (syscall(SYS_capset, &hdr, data) < 0)
		return init_error_set(err, errno, "capset effective 0x%llx permitted 0x%llx inheritable 0x%llx",
				      (unsigned long long)eff, (unsigned long long)perm,
				      (unsigned long long)inh);
	if (flags & CAPSET_KEEP_AMBIENT)
		return 0;
	/* Ambient: start from nothing, raise exactly what the plan lists. A raise needs the
	 * capability in both the permitted and the inheritable set. */
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0) {
		if (errno == EINVAL && amb == 0)
			return 0; /* kernel without ambient capabilities, and none wanted */
		return init_error_set(err, errno, "clear ambient capabilities");
	}
	if (amb == 0)
		return 0;
	last = cap_last_cap(err);
	if (last < 0)
		return -1;
	for (int cap = 0; cap <= last && cap < 64; cap++) {
		if (!(amb & (1ULL << cap)))
			continue;
		if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) < 0)
			return init_error_set(err, errno, "raise ambient capability %d", cap);
	}
	return 0;
}

int op_no_new_privs(struct init_state *st, const struct plan_op *op, struct init_error *err)
{
	(void)st;
	(void)op;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return init_error_set(err, errno, "prctl no_new_privs");
	return 0;
}
