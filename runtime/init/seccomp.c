/* The seccomp filter, built with libseccomp from the plan: SECCOMP_INIT creates the context,
 * SECCOMP_RULE adds one rule per op, SECCOMP_ENOSYS makes the -ENOSYS stub (when the plan wants
 * one), SECCOMP_LOAD loads it into the kernel. Every number here (actions, comparison operators,
 * filter flags) was computed by TypeScript; this file only maps names to numbers through
 * libseccomp and reports what it refuses.
 *
 * The load is ours, not seccomp_load(): libseccomp's program is exported as BPF, the stub goes
 * in front of it, and seccomp(2) loads the whole with the plan's filter flags (plus
 * SECCOMP_FILTER_FLAG_NEW_LISTENER for SECCOMP_LOAD_NOTIFY, which returns the notify fd).
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
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
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
	st->seccomp_flags = op->args[2].num;
	free(st->enosys);
	st->enosys = NULL;
	st->enosys_len = 0;
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

/* ---- the -ENOSYS stub ------------------------------------------------------------------- */

#define ENOSYS_STUB_MAX 256
#define X32_BIT 0x40000000U
#define RET_ENOSYS (SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA))

struct stub {
	struct sock_filter insn[ENOSYS_STUB_MAX];
	unsigned len;
	unsigned to_filter[ENOSYS_STUB_MAX]; /* indexes of the "ja <filter>" to patch at the end */
	unsigned nto;
};

static int emit(struct stub *s, struct sock_filter insn)
{
	if (s->len >= ENOSYS_STUB_MAX)
		return -1;
	s->insn[s->len++] = insn;
	return 0;
}

/* "if syscall > max: ENOSYS, else on into the filter", the syscall number already loaded. A max
 * of UINT32_MAX never matches: the section then only jumps into the filter. */
static int emit_max_check(struct stub *s, uint32_t max)
{
	int r = emit(s, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, max, 0, 1));
	r |= emit(s, (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, RET_ENOSYS));
	if (r == 0)
		s->to_filter[s->nto++] = s->len;
	return r | emit(s, (struct sock_filter)BPF_STMT(BPF_JMP | BPF_JA, 0));
}

/* Highest number of the names on one libseccomp architecture; 0 when it knows none of them.
 * Negative numbers are libseccomp's pseudo-syscalls (multiplexed calls such as socketcall's). */
static uint32_t highest_syscall(uint32_t arch, char **names, uint32_t n)
{
	int max = 0;
	for (uint32_t i = 0; i < n; i++) {
		int nr = seccomp_syscall_resolve_name_arch(arch, names[i]);
		if (nr != __NR_SCMP_ERROR && nr > max)
			max = nr;
	}
	return (uint32_t)max;
}

int op_seccomp_enosys(struct init_state *st, const struct plan_op *op, struct init_error *err)
{
	char **arches = op->args[0].list;
	char **names = op->args[1].list;
	uint32_t narch = op->args[0].count, nnames = op->args[1].count;
	/* x86_64 and x32 share AUDIT_ARCH_X86_64: one section for both, their maxima apart. */
	uint32_t x86_64_max = UINT32_MAX, x32_max = UINT32_MAX;
	int x86_64_section = 0;
	uint32_t done[32];
	unsigned ndone = 0;
	struct stub *s;
	int bad = 0;

	if (st->seccomp == NULL)
		return init_error_set(err, EINVAL, "stub before SECCOMP_INIT");
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return init_error_set(err, ENOMEM, "enosys stub");
	bad |= emit(s, (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)));

	for (uint32_t i = 0; i < narch && !bad; i++) {
		char token[64];
		uint32_t arch, max, seen = 0;

		if (strcmp(arches[i], "SCMP_ARCH_NATIVE") == 0) {
			arch = seccomp_arch_native();
		} else {
			arch_token(arches[i], token, sizeof(token));
			arch = seccomp_arch_resolve_name(token);
		}
		if (arch == 0) {
			free(s);
			return init_error_set(err, 0, "unknown architecture \"%s\"", arches[i]);
		}
		for (unsigned j = 0; j < ndone; j++)
			seen |= done[j] == arch;
		if (seen || ndone == sizeof(done) / sizeof(done[0]))
			continue;
		done[ndone++] = arch;
		max = highest_syscall(arch, names, nnames);
		if (max == 0)
			continue; /* the profile names nothing this architecture knows: no section */
		if (arch == SCMP_ARCH_X86_64 || arch == SCMP_ARCH_X32) {
			*(arch == SCMP_ARCH_X32 ? &x32_max : &x86_64_max) = max;
			x86_64_section = 1;
			continue;
		}
		/* Not this architecture: over the section's other 4 instructions (5 on s390). */
		int s390 = arch == SCMP_ARCH_S390 || arch == SCMP_ARCH_S390X;
		bad |= emit(s, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, arch, 0, s390 ? 5 : 4));
		bad |= emit(s, (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)));
		/* s390: syscall 0 is how the kernel multiplexes numbers it does not know (setup(2),
		 * unused for decades): ENOSYS too, or those calls get the default action. */
		if (s390)
			bad |= emit(s, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 1, 0));
		bad |= emit_max_check(s, max);
	}
	if (x86_64_section && !bad) {
		/* jeq x86_64 / ld nr / jset x32 bit -> the x32 check, else the x86_64 one. */
		bad |= emit(s, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 0, 8));
		bad |= emit(s, (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)));
		bad |= emit(s, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, X32_BIT, 3, 0));
		bad |= emit_max_check(s, x86_64_max);
		bad |= emit_max_check(s, x32_max);
	}
	if (bad) {
		free(s);
		return init_error_set(err, E2BIG, "enosys stub: more than %d instructions", ENOSYS_STUB_MAX);
	}
	/* No section matched (an architecture the profile does not list): on into the filter. */
	for (unsigned i = 0; i < s->nto; i++)
		s->insn[s->to_filter[i]].k = s->len - s->to_filter[i] - 1;
	free(st->enosys);
	st->enosys = malloc(s->len * sizeof(struct sock_filter));
	if (st->enosys == NULL) {
		free(s);
		return init_error_set(err, ENOMEM, "enosys stub");
	}
	memcpy(st->enosys, s->insn, s->len * sizeof(struct sock_filter));
	st->enosys_len = s->len;
	free(s);
	return 0;
}

/* ---- the load ---------------------------------------------------------------------------- */

/* libseccomp's program, as BPF instructions in host byte order (seccomp_export_bpf writes to an
 * fd; libseccomp 2.5 has no in-memory export). Returns the count, or -1 with errno set. */
static long export_program(scmp_filter_ctx ctx, struct sock_filter **out)
{
	int fd = (int)syscall(SYS_memfd_create, "seccomp-bpf", MFD_CLOEXEC);
	off_t size;
	char *buf;
	long r;

	if (fd < 0)
		return -1;
	r = seccomp_export_bpf(ctx, fd);
	if (r < 0) {
		close(fd);
		errno = (int)-r;
		return -1;
	}
	size = lseek(fd, 0, SEEK_END);
	if (size <= 0 || size % (off_t)sizeof(struct sock_filter) != 0) {
		close(fd);
		errno = EIO;
		return -1;
	}
	buf = malloc((size_t)size);
	if (buf == NULL || pread(fd, buf, (size_t)size, 0) != size) {
		int e = buf == NULL ? ENOMEM : EIO;
		free(buf);
		close(fd);
		errno = e;
		return -1;
	}
	close(fd);
	*out = (struct sock_filter *)buf;
	return (long)(size / (off_t)sizeof(struct sock_filter));
}

/* Loads stub + program with seccomp(2). Returns 0, the notify fd with NEW_LISTENER, or -errno.
 * Everything is computed before the call: after it the filter may allow nothing but execve. */
static int load_filter(struct init_state *st, int listener, const char **what)
{
	struct sock_filter *prog = NULL, *all;
	struct sock_fprog fprog;
	uint64_t flags = st->seccomp_flags;
	long n;
	int r;

	*what = "export filter";
	n = export_program(st->seccomp, &prog);
	if (n < 0)
		return -errno;
	all = malloc((st->enosys_len + (size_t)n) * sizeof(*all));
	if (all == NULL) {
		free(prog);
		return -ENOMEM;
	}
	if (st->enosys_len)
		memcpy(all, st->enosys, st->enosys_len * sizeof(*all));
	memcpy(all + st->enosys_len, prog, (size_t)n * sizeof(*all));
	free(prog);
	fprog.len = (unsigned short)(st->enosys_len + (size_t)n);
	fprog.filter = all;
	if (listener) {
		/* TSYNC and NEW_LISTENER together need TSYNC_ESRCH; syncing the threads of a
		 * single-threaded process does nothing anyway. */
		flags = (flags & ~(uint64_t)SECCOMP_FILTER_FLAG_TSYNC) | SECCOMP_FILTER_FLAG_NEW_LISTENER;
	}
	*what = "load filter";
	if (st->enosys_len + (size_t)n > BPF_MAXINSNS)
		r = -E2BIG;
	else
		r = (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, (unsigned long)flags, &fprog);
	if (r < 0)
		r = -errno;
	free(all);
	return r;
}

static void release_filter(struct init_state *st)
{
	seccomp_release(st->seccomp);
	st->seccomp = NULL;
	free(st->enosys);
	st->enosys = NULL;
	st->enosys_len = 0;
}

int op_seccomp_load(struct init_state *st, const struct plan_op *op, struct init_error *err)
{
	const char *what;
	int r;

	(void)op;
	if (st->seccomp == NULL)
		return init_error_set(err, EINVAL, "load before SECCOMP_INIT");
	r = load_filter(st, 0, &what);
	release_filter(st);
	if (r < 0)
		return init_error_set(err, -r, "%s", what);
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

/* Waits until the listener's socket takes more, or until trun is gone.
 * Wait: interruptible by the caller's signal, as runc's (whose runc process writes the state and
 * waits as long as the listener does not read): a state bigger than the socket's buffer (large
 * annotations) waits for the listener to read. trun waits on us without a bound meanwhile; when
 * the caller's signal ends it, the sync socket's EOF (or anything arriving on it) ends this wait
 * too, instead of leaving us blocked in sendmsg for good. */
static int wait_for_listener(int sock, int sync_fd)
{
	struct pollfd p[2] = { { .fd = sock, .events = POLLOUT }, { .fd = sync_fd, .events = POLLIN } };

	for (;;) {
		int r = poll(p, 2, -1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (p[1].revents) {
			errno = ECANCELED;
			return -1;
		}
		if (p[0].revents)
			return 0;
	}
}

/* Sends the state with the fd attached to the first sendmsg only (the spec), the rest with
 * sendmsg too, then shutdown, so that a listener reading to the end sees it even if our close()
 * must wait for its answer. sendmsg and shutdown are the two calls trun refuses to let a profile
 * send to the listener: until they are done, the listener has no fd to answer with. The sends
 * are MSG_DONTWAIT (not fcntl: the filter is loaded, and a profile may notify fcntl) so that a
 * full buffer waits in wait_for_listener, which watches trun too. The first send always carries
 * the fd (a stream socket takes what fits), so a listener that reads can answer a notified poll. */
static int hand_over(int sock, int sync_fd, const char *data, size_t len, int fd, const char **call)
{
	ssize_t n;
	size_t off;

	*call = "sendmsg";
	while ((n = send_with_fd(sock, data, len, fd, MSG_DONTWAIT)) < 0 && errno == EAGAIN) {
		if (wait_for_listener(sock, sync_fd) < 0)
			return -1;
	}
	if (n < 0)
		return -1;
	for (off = (size_t)n; off < len; off += (size_t)n) {
		struct iovec iov = { .iov_base = (void *)(data + off), .iov_len = len - off };
		struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
		do
			n = sendmsg(sock, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
		while (n < 0 && errno == EINTR);
		if (n < 0 && errno == EAGAIN) {
			if (wait_for_listener(sock, sync_fd) < 0)
				return -1;
			n = 0;
			continue;
		}
		if (n < 0)
			return -1;
	}
	*call = "shutdown";
	return shutdown(sock, SHUT_WR);
}

int op_seccomp_load_notify(struct init_state *st, const struct plan_op *op, struct init_error *err)
{
	const char *name = op->args[0].str;
	const char *call = "sendmsg", *what = "load filter";
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

	nfd = r = load_filter(st, 1, &what);
	if (nfd >= 0)
		r = hand_over(st->listener_fd, st->sync_fd, state, len, nfd, &call) < 0 ? -errno : 0;
	/* Our copy goes first: should the hand-over have failed, notified syscalls then fail with
	 * ENOSYS instead of waiting forever, reporting the error included. */
	if (nfd >= 0)
		close(nfd);
	close(st->listener_fd);
	st->listener_fd = -1;
	release_filter(st);
	free(state);
	if (nfd < 0)
		return init_error_set(err, -nfd, "%s", what);
	if (r < 0)
		return init_error_set(err, -r, "%s the notify fd and the container process state", call);
	return 0;
}
