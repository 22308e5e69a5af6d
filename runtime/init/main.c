/* trun-init: executes an init plan compiled by trun (runtime/init/protocol.ts).
 *
 *   trun-init <syncfd>    read one PLAN frame from the socket at fd <syncfd>, run its ops in
 *                         order; errors go back as an ERROR frame (or to stderr when the
 *                         socket is gone) and the process exits 1 (126/127 for exec failures)
 *   trun-init --dump-plan read a raw encoded plan from stdin and print it as JSON, the way
 *                         planAsDumpJson() in protocol.ts does (used by the protocol tests)
 *
 * The init holds no policy: every decision is in the plan. See init.h for which file owns
 * which ops.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "init.h"
#include "sync.h"

/* Sends the error to trun; falls back to stderr when the socket is gone. */
static void report(int sync_fd, const struct init_error *err)
{
	int sent = sync_fd >= 0 && sync_send_str(sync_fd, MSG_ERROR, err->msg) == 0;
	if (!sent || err->also_stderr)
		init_error_to_stderr(err->msg);
}

static int dump_plan(void)
{
	struct init_error err = { 0 };
	struct plan plan;
	size_t cap = 1 << 16, len = 0;
	uint8_t *buf = malloc(cap);

	for (;;) {
		ssize_t n;
		if (buf == NULL) {
			init_error_to_stderr("out of memory");
			return 1;
		}
		if (len == cap) {
			if (cap >= PLAN_MAX_BYTES) {
				init_error_to_stderr("plan: too large");
				return 1;
			}
			cap *= 2;
			buf = realloc(buf, cap);
			continue;
		}
		n = read(STDIN_FILENO, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			init_error_set(&err, errno, "read stdin");
			init_error_to_stderr(err.msg);
			return 1;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (plan_decode(buf, len, &plan, &err) < 0) {
		char text[INIT_ERROR_MAX + 8];
		snprintf(text, sizeof(text), "plan: %s", err.msg);
		init_error_to_stderr(text);
		return 1;
	}
	plan_dump_json(stdout, &plan);
	return fflush(stdout) == 0 ? 0 : 1;
}

static int parse_fd(const char *s)
{
	char *end;
	long v;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *s == '\0' || *end != '\0' || v < 0 || v > 1 << 20)
		return -1;
	return (int)v;
}

int main(int argc, char **argv)
{
	struct init_state st = { .sync_fd = -1, .rootfs_fd = -1, .console_fd = -1, .fifo_fd = -1,
				 .relay_fd = -1, .listener_fd = -1 };
	struct init_error err = { 0 };
	struct plan plan;
	uint32_t type, len;
	char *payload = NULL;
	int fd, fl, r;

	if (argc == 2 && strcmp(argv[1], "--dump-plan") == 0)
		return dump_plan();
	if (argc != 2 || (fd = parse_fd(argv[1])) < 0) {
		fprintf(stderr, "usage: trun-init <syncfd> | trun-init --dump-plan\n");
		return 2;
	}
	if (fcntl(fd, F_GETFD) < 0) {
		init_error_set(&err, errno, "sync fd %d", fd);
		init_error_to_stderr(err.msg);
		return 1;
	}
	st.sync_fd = fd;
	/* Node shares stdio pipes non-blocking; our reads on the socket must block. */
	fl = fcntl(fd, F_GETFL);
	if (fl >= 0 && (fl & O_NONBLOCK))
		fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);

	/* Before anything else: run from a sealed memfd copy, then become non-dumpable. Nothing of
	 * the container exists yet, so this ordering leaves no window. */
	if (ensure_sealed_self(argv, fd, &err) < 0)
		goto fail;
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) {
		init_error_set(&err, errno, "prctl dumpable");
		goto fail;
	}
	/* From here the sync socket must close when the user process is exec'd: EOF without
	 * ERROR then tells trun the exec happened. */
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
		init_error_set(&err, errno, "set close-on-exec on the sync socket");
		goto fail;
	}

	r = sync_recv(fd, &type, &payload, &len, PLAN_MAX_BYTES, &err);
	if (r == 1)
		return 1; /* trun went away before sending a plan: nothing to do, nobody to tell */
	if (r < 0)
		goto fail;
	if (type != MSG_PLAN) {
		init_error_set(&err, 0, "plan: expected a PLAN frame, got type %u", type);
		goto fail;
	}
	if (plan_decode((const uint8_t *)payload, len, &plan, &err) < 0) {
		char inner[INIT_ERROR_MAX];
		memcpy(inner, err.msg, sizeof(inner));
		init_error_set(&err, 0, "plan: %s", inner);
		goto fail;
	}
	free(payload);

	if (run_plan(&st, &plan, &err) < 0)
		goto fail;
	/* A plan that ends without EXEC (hooks-only, tests) simply succeeds. */
	_exit(0);

fail:
	report(st.sync_fd, &err);
	_exit(err.status ? err.status : 1);
}
