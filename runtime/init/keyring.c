/* JOIN_SESSION_KEYRING: give the container a session keyring of its own instead of the caller's,
 * so keys the host's session holds are not reachable from inside (runc's default). */
#include <errno.h>
#include <linux/keyctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "init.h"

/* The permission field of KEYCTL_DESCRIBE's "type;uid;gid;perm;description". */
static int key_perm(long id, unsigned long *perm)
{
	char desc[512];
	char *p = desc;
	long n = syscall(SYS_keyctl, KEYCTL_DESCRIBE, id, desc, sizeof(desc) - 1);

	if (n < 0)
		return -1;
	desc[(size_t)n < sizeof(desc) ? (size_t)n : sizeof(desc) - 1] = '\0';
	for (int field = 0; field < 3; field++) {
		p = strchr(p, ';');
		if (p == NULL) {
			errno = EINVAL;
			return -1;
		}
		p++;
	}
	*perm = strtoul(p, NULL, 16);
	return 0;
}

int op_join_session_keyring(struct init_state *st, const struct plan_op *op, struct init_error *err)
{
	const char *name = op->args[0].str;
	unsigned long add = (unsigned long)op->args[1].num, perm;
	int optional = op->args[2].num != 0;
	long id;

	(void)st;
	/* Joins the keyring of that name when one we may search exists, else creates it. */
	id = syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name);
	if (id < 0) {
		/* ENOSYS: a kernel without keyrings; EACCES: a caller not allowed them (a seccomp
		 * profile, an LXC host). The keyring is a hardening, not a requirement. */
		if (optional && (errno == ENOSYS || errno == EACCES))
			return 0;
		return init_error_set(err, errno, "keyctl join session keyring \"%s\"", name);
	}
	if (add == 0)
		return 0;
	if (key_perm(id, &perm) < 0)
		return init_error_set(err, errno, "keyctl describe \"%s\"", name);
	if (syscall(SYS_keyctl, KEYCTL_SETPERM, id, perm | add) < 0)
		return init_error_set(err, errno, "keyctl setperm \"%s\"", name);
	return 0;
}
