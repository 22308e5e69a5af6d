/* The seccomp filter, built with libseccomp from the plan: SECCOMP_INIT creates the context,
 * SECCOMP_RULE adds one rule per op, SECCOMP_LOAD loads it into the kernel. Every number here
 * (actions, comparison operators, filter flags) was computed by TypeScript; this file only
 * maps names to numbers through libseccomp and reports what it refuses.
 *
 * SCMP_ACT_NOTIFY: SECCOMP_LISTENER connects to the listener's socket early (host view, host
 * credentials), SECCOMP_LOAD_NOTIFY loads the filter and hands the notify fd over. Node.js
 * cannot pass fds, so the init sends it itself, like the console socket's pty master; trun
 * only supplies the container process state that goes with it.
 *
 * no_new_privs is not libseccomp's decision here (it sets it on load by default): the plan has
 * its own NO_NEW_PRIVS op, so SCMP_FLTATR_CTL_NNP is turned off. Loading without no_new_privs
 * needs CAP_SYS_ADMIN, which is why plans load the filter before dropping capabilities. */
#include <ctype.h>
#include <errno.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "init.h"
#include "sync.h"

/* SECCOMP_FILTER_FLAG_* bits (the OCI spec's names) -> libseccomp filter attributes. */
static const struct {
	uint64_t flag;
	enum scmp_filter_attr attr;
	const char *name;
} filter_flags[] = {
	{ SECCOMP_FILTER_FLAG_TSYNC, SCMP_FLTATR_CTL_TSYNC, "SECCOMP_FILTER_FLAG_TSYNC" },
	{ SECCOMP_FILTER_FLAG_LOG, SCMP_FLTATR_CTL_LOG, "SECCOMP_FILTER_FLAG_LOG" },
	{ SECCOMP_FILTER_FLAG_SPEC_ALLOW, SCMP_FLTATR_CTL_SSB, "SECCOMP_FILTER_FLAG_SPEC_ALLOW" },
};

/* "SCMP_ARCH_X86_64" -> "x86_64", the spelling seccomp_arch_resolve_name() knows. */
static void arch_token(const char *name, char *out, size_t outlen)
{
	size_t i = 0;
	if (strncmp(name, "SCMP_ARCH_", 10) == 0)
		name += 10;
	for (; name[i] && i + 1 < outlen; i++)
		out[i] = (char)tolower((unsigned char)name[i]);
	out[i] = '\0';
}

int op_seccomp_init(struct init_state *st, const struct plan_op *op, struct init_error *err)
{
	uint32_t def = (uint32_t)op->args[0].num;
	char **arches = op->args[1].list;
	uint64_t flags = op->args[2].num;
	scmp_filter_ctx ctx;
	int r;

	if (st->seccomp != NULL) {
		seccomp_release(st->seccomp);
		st->seccomp = NULL;
	}
	ctx = seccomp_init(def);
	if (ctx == NULL)
		return init_error_set(err, EINVAL, "seccomp_init with default action 0x%08x", def);

	r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
	if (r < 0)
		goto fail_attr;

	for (uint32_t i = 0; i < op->args[1].count; i++) {
		char token[64];
		uint32_t arch;
		arch_token(arches[i], token, sizeof(token));
		arch = seccomp_arch_resolve_name(token);
		if (arch == 0) {
			seccomp_release(ctx);
			return init_error_set(err, 0, "unknown architecture \"%s\"", arches[i]);
		}
		r = seccomp_arch_add(ctx, arch);
		if (r < 0 && r != -EEXIST) { /* the native architecture is already there */
			seccomp_release(ctx);
			return init_error_set(err, -r, "add architecture \"%s\"", arches[i]);
		}
	}

	for (size_t i = 0; i < sizeof(filter_flags) / sizeof(filter_flags[0]); i++) {
		if (!(flags & filter_flags[i].flag))
			continue;
		flags &= ~filter_flags[i].flag;
		r = seccomp_attr_set(ctx, filter_flags[i].attr, 1);
		if (r < 0) {
			seccomp_release(ctx);
			return init_error_set(err, -r, "set filter flag %s", filter_flags[i].name);
		}
	}
	if (flags != 0) {
		seccomp_release(ctx);
		return init_error_set(err, EINVAL, "unsupported filter flags 0x%llx", (unsigned long long)flags);
	}
	st->seccomp = ctx;
	return 0;

fail_attr:
	seccomp_release(ctx);
	return init_error_set(err, -r, "seccomp_attr_set");
}

int op_seccomp_rule(struct init_state *st, const struct plan_op *op, struct init_error *err)
{
	const char *name = op->args[0].str;
	uint32_t action = (uint32_t)op->args[1].num;
	const uint64_t *v = op->args[2].vec;
	uint32_t nv = op->args[2].count;
	struct scmp_arg_cmp cmps[6];
	unsigned int ncmp = nv / 4;
	uint32_t def;
	int nr, r;

	if (st->seccomp == NULL)
		return init_error_set(err, EINVAL, "rule for \"%s\" before SECCOMP_INIT", name);
	if (nv % 4 != 0 || ncmp > 6)
		return init_error_set(err, EINVAL, "rule for \"%s\": %u argument values (groups of four, at most six)",
				      name, nv);
	/* API level 5: libseccomp and the kernel both know user notification. */
	if (action == SCMP_ACT_NOTIFY && seccomp_api_get() < 5)
		return init_error_set(err, EOPNOTSUPP, "rule for \"%s\": SCMP_ACT_NOTIFY needs libseccomp API level 5, have %u",
				      name, seccomp_api_get());

	nr = seccomp_syscall_resolve_name(name);
	if (nr == __NR_SCMP_ERROR)
		return init_error_set(err, 0, "unknown syscall \"%s\"", name);

	for (unsigned int i = 0; i < ncmp; i++) {
		const uint64_t *g = v + 4 * i; /* [index, value, valueTwo, op] */
		if (g[0] > 5 || g[3] <= _SCMP_CMP_MIN || g[3] >= _SCMP_CMP_MAX)
			return init_error_set(err, EINVAL, "rule for \"%s\": bad comparison (arg %llu, op %llu)",
					      name, (unsigned long long)g[0], (unsigned long long)g[3]);
		cmps[i] = (struct scmp_arg_cmp){
			.arg = (unsigned int)g[0],
			.op = (enum scmp_compare)g[3],
			.datum_a = g[1],
			.datum_b = g[2],
		};
	}

	r = seccomp_rule_add_array(st->seccomp, action, nr, ncmp, cmps);
	if (r == -EACCES && seccomp_attr_get(st->seccomp, SCMP_FLTATR_ACT_DEFAULT, &def) == 0 &&
	    def == action)
		return 0; /* same action as the default: libseccomp refuses a rule that changes nothing */
	if (r < 0)
		return init_error_set(err, -r, "add rule for \"%s\"", name);
	return 0;
}

int op_seccomp_load(struct init_state *st, const struct plan_op *op, struct init_error *err)
{
	int r;

	(void)op;
	if (st->seccomp == NULL)
		return init_error_set(err, EINVAL, "load before SECCOMP_INIT");
	r = seccomp_load(st->seccomp);
	seccomp_release(st->seccomp);
	st->seccomp = NULL;
	if (r < 0)
		return init_error_set(err, -r, "load filter");
	return 0;
}

int op_seccomp_listener(struct init_state *st, const struct plan_op *op, struct init_error *err)
{
	int sock = unix_connect(op->args[0].str, err);

	if (sock < 0)
		return -1;
	if (st->listener_fd >= 0)
		close(st->listener_fd);
	st->listener_fd = sock;
	return 0;
}

/* Sends the state with the fd attached to the first sendmsg only (the spec), the rest with
 * sendmsg too, then shutdown, so that a listener reading to the end sees it even if our close()
 * must wait for its answer. sendmsg and shutdown are the two calls trun refuses to let a profile
 * send to the listener: until they are done, the listener has no fd to answer with. */
static int hand_over(int sock, const char *data, size_t len, int fd, const char **call)
{
	ssize_t n = send_with_fd(sock, data, len, fd);
	size_t off;

	*call = "sendmsg";
	if (n < 0)
		return -1;
	for (off = (size_t)n; off < len; off += (size_t)n) {
		struct iovec iov = { .iov_base = (void *)(data + off), .iov_len = len - off };
		struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
		do
			n = sendmsg(sock, &msg, MSG_NOSIGNAL);
		while (n < 0 && errno == EINTR);
		if (n < 0)
			return -1;
	}
	*call = "shutdown";
	return shutdown(sock, SHUT_WR);
}

int op_seccomp_load_notify(struct init_state *st, const struct plan_op *op, struct init_error *err)
{
	const char *name = op->args[0].str;
	const char *call = "sendmsg";
	char *state = NULL;
	uint32_t len;
	int nfd, r;

	if (st->seccomp == NULL)
		return init_error_set(err, EINVAL, "load before SECCOMP_INIT");
	if (st->listener_fd < 0)
		return init_error_set(err, EBADF, "no seccomp listener socket (SECCOMP_LISTENER missing)");
	/* The state before the filter: once it is loaded, a notified syscall of ours would wait
	 * for a listener that has no fd yet. */
	if (sync_point_payload(st->sync_fd, name, &state, &len, err) < 0)
		return -1;
	if (len == 0) {
		free(state);
		return init_error_set(err, EINVAL, "sync \"%s\": no container process state in the answer", name);
	}

	r = seccomp_load(st->seccomp);
	nfd = r < 0 ? r : seccomp_notify_fd(st->seccomp);
	if (nfd >= 0)
		r = hand_over(st->listener_fd, state, len, nfd, &call) < 0 ? -errno : 0;
	/* Our copy goes first: should the hand-over have failed, notified syscalls then fail with
	 * ENOSYS instead of waiting forever, reporting the error included. */
	if (nfd >= 0)
		close(nfd);
	close(st->listener_fd);
	st->listener_fd = -1;
	seccomp_release(st->seccomp);
	st->seccomp = NULL;
	free(state);
	if (r < 0 && nfd < 0)
		return init_error_set(err, -r, "load filter");
	if (nfd < 0)
		return init_error_set(err, -nfd, "no notify fd after loading the filter (no SCMP_ACT_NOTIFY rule)");
	if (r < 0)
		return init_error_set(err, -r, "%s the notify fd and the container process state", call);
	return 0;
}
