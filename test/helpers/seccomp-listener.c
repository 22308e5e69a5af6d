/* A seccomp agent for tests: listens on a unix socket for runtimes that hand over a seccomp
 * notify fd with the container process state (config-linux.md, listenerPath), then answers
 * the notifications on every fd it holds.
 *
 *   seccomp-listener <socket-path> <log-file> [drop|hangup|silent|noaccept]
 *
 * It prints "ready" on stdout once connections are accepted. Each connection is read to its
 * end; then one JSON line is appended to the log:
 *   {"fds":<fds received>,"fdType":"<readlink of the first>","state":<what was received>}
 * (state is the raw bytes, so a runtime that sent bad JSON makes the line unparseable).
 * With "drop", the notify fd is closed at once, so the container's notified calls fail with
 * ENOSYS; with "hangup", every connection is closed as soon as it is accepted. Two misbehaving
 * peers, for the no-hang tests (any unix socket peer: a console socket too): with "silent",
 * connections are accepted and then neither read nor closed; with "noaccept", the listen
 * backlog is full (one connection of its own waits in it) and nothing is ever accepted. Otherwise each notification is answered and logged as
 *   {"syscall":"<name>","pid":<pid>,"path":"<for mkdir/mkdirat>","answer":"<what>"}
 * mkdir/mkdirat of a path ending in "/denied" fails with ENOMEDIUM, of one ending in "/faked"
 * returns 0 without creating anything; any other call continues as if unfiltered. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <seccomp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_FDS 64

struct conn {
	int sock;     /* accepted connection still being read, or -1 */
	int fds[4];   /* fds received with SCM_RIGHTS */
	int nfds;
	char *data;
	size_t len;
};

static int logfd;

static void die(const char *what)
{
	fprintf(stderr, "seccomp-listener: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void logline(const char *fmt, ...)
{
	char line[1 << 16];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n > 0 && write(logfd, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1) < 0)
		die("write log");
}

/* Reads what arrived; returns 1 at the end of the connection. */
static int read_conn(struct conn *c)
{
	char buf[4096];
	union {
		char buf[CMSG_SPACE(4 * sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf) };
	ssize_t n = recvmsg(c->sock, &msg, MSG_CMSG_CLOEXEC);

	if (n < 0)
		die("recvmsg");
	for (struct cmsghdr *h = CMSG_FIRSTHDR(&msg); h; h = CMSG_NXTHDR(&msg, h)) {
		if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS)
			continue;
		for (size_t i = 0; i < (h->cmsg_len - CMSG_LEN(0)) / sizeof(int) && c->nfds < 4; i++)
			memcpy(&c->fds[c->nfds++], CMSG_DATA(h) + i * sizeof(int), sizeof(int));
	}
	if (n == 0)
		return 1;
	c->data = realloc(c->data, c->len + (size_t)n + 1);
	if (c->data == NULL)
		die("realloc");
	memcpy(c->data + c->len, buf, (size_t)n);
	c->len += (size_t)n;
	c->data[c->len] = '\0';
	return 0;
}

/* The NUL-terminated string at addr in pid's memory. */
static void read_string(pid_t pid, uint64_t addr, char *out, size_t outlen)
{
	char path[64];
	ssize_t n;
	int fd;

	out[0] = '\0';
	snprintf(path, sizeof(path), "/proc/%d/mem", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = pread(fd, out, outlen - 1, (off_t)addr);
	close(fd);
	out[n > 0 ? n : 0] = '\0';
	out[strcspn(out, "\"\\\n")] = '\0'; /* keep the log line valid JSON */
}

static int ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* Answers one notification; returns -1 once nobody is left on this fd. */
static int answer(int fd)
{
	struct seccomp_notif *req;
	struct seccomp_notif_resp *resp;
	char target[PATH_MAX] = "";
	const char *answer = "continue";
	char *name;
	int r;

	if (seccomp_notify_alloc(&req, &resp) < 0)
		die("seccomp_notify_alloc");
	r = seccomp_notify_receive(fd, req);
	if (r < 0) {
		seccomp_notify_free(req, resp);
		return r == -ENOENT ? 0 : -1; /* ENOENT: the caller died meanwhile */
	}
	name = seccomp_syscall_resolve_num_arch(req->data.arch, req->data.nr);
	resp->id = req->id;
	resp->flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
	if (name && (strcmp(name, "mkdir") == 0 || strcmp(name, "mkdirat") == 0)) {
		read_string((pid_t)req->pid, req->data.args[strcmp(name, "mkdir") == 0 ? 0 : 1], target, sizeof(target));
		/* The path is only trustworthy while the call is still waiting for us. */
		if (seccomp_notify_id_valid(fd, req->id) == 0) {
			if (ends_with(target, "/denied")) {
				resp->flags = 0;
				resp->error = -ENOMEDIUM;
				answer = "ENOMEDIUM";
			} else if (ends_with(target, "/faked")) {
				resp->flags = 0;
				resp->val = 0;
				answer = "0";
			}
		}
	}
	logline("{\"syscall\":\"%s\",\"pid\":%u,\"path\":\"%s\",\"answer\":\"%s\"}\n", name ? name : "?", req->pid,
		target, answer);
	free(name);
	if (seccomp_notify_respond(fd, resp) < 0 && errno != ENOENT) {
		/* the caller may have been killed meanwhile: nothing to answer */
	}
	seccomp_notify_free(req, resp);
	return 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct conn conns[MAX_FDS];
	int notify[MAX_FDS];
	const char *mode = argc == 4 ? argv[3] : "";
	int nconns = 0, nnotify = 0, lsock, drop = strcmp(mode, "drop") == 0, hangup = strcmp(mode, "hangup") == 0;
	int silent = strcmp(mode, "silent") == 0, noaccept = strcmp(mode, "noaccept") == 0;

	if (argc < 3 || argc > 4 || (argc == 4 && !drop && !hangup && !silent && !noaccept)) {
		fprintf(stderr, "usage: seccomp-listener <socket-path> <log-file> [drop|hangup|silent|noaccept]\n");
		return 2;
	}
	logfd = open(argv[2], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (logfd < 0)
		die("open log");
	if (strlen(argv[1]) >= sizeof(addr.sun_path)) {
		errno = ENAMETOOLONG;
		die("socket path");
	}
	strcpy(addr.sun_path, argv[1]);
	unlink(argv[1]);
	lsock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lsock < 0 || bind(lsock, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(lsock, noaccept ? 0 : 16) < 0)
		die("listen");
	if (noaccept) {
		/* A backlog of 0 holds one pending connection: ours. Any further connect waits. */
		int self = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (self < 0 || connect(self, (struct sockaddr *)&addr, sizeof(addr)) < 0)
			die("connect to itself");
	}
	printf("ready\n");
	fflush(stdout);
	/* Accepted connections are kept open (never read, never closed) until we are killed. */
	for (int held = 0; noaccept || silent;) {
		if (noaccept || held == MAX_FDS)
			pause();
		else if (accept4(lsock, NULL, NULL, SOCK_CLOEXEC) >= 0)
			held++;
	}

	for (;;) {
		struct pollfd p[1 + 2 * MAX_FDS];
		int nc = nconns, nn = nnotify, n = 0, kept = 0;

		p[n++] = (struct pollfd){ .fd = lsock, .events = POLLIN };
		for (int i = 0; i < nc; i++)
			p[n++] = (struct pollfd){ .fd = conns[i].sock, .events = POLLIN };
		for (int i = 0; i < nn; i++)
			p[n++] = (struct pollfd){ .fd = notify[i], .events = POLLIN };
		if (poll(p, (nfds_t)n, -1) < 0) {
			if (errno == EINTR)
				continue;
			die("poll");
		}

		/* Notifications first, while the indices still match p[]. */
		for (int i = 0; i < nn; i++) {
			short ev = p[1 + nc + i].revents;
			if ((ev & POLLIN) ? answer(notify[i]) == 0 : !(ev & (POLLHUP | POLLERR))) {
				notify[kept++] = notify[i];
				continue;
			}
			close(notify[i]); /* every process under the filter is gone */
		}
		nnotify = kept;

		kept = 0;
		for (int i = 0; i < nc; i++) {
			struct conn *c = &conns[i];
			char link[64], type[256] = "";
			ssize_t t;

			if (!(p[1 + i].revents & (POLLIN | POLLHUP | POLLERR)) || !read_conn(c)) {
				conns[kept++] = *c;
				continue;
			}
			if (c->nfds > 0) {
				snprintf(link, sizeof(link), "/proc/self/fd/%d", c->fds[0]);
				t = readlink(link, type, sizeof(type) - 1);
				type[t > 0 ? t : 0] = '\0';
			}
			logline("{\"fds\":%d,\"fdType\":\"%s\",\"state\":%s}\n", c->nfds, type, c->len ? c->data : "null");
			for (int k = 0; k < c->nfds; k++) {
				if (drop || k > 0 || nnotify == MAX_FDS)
					close(c->fds[k]);
				else
					notify[nnotify++] = c->fds[k];
			}
			close(c->sock);
			free(c->data);
		}
		nconns = kept;

		if (p[0].revents & POLLIN && nconns < MAX_FDS) {
			int s = accept4(lsock, NULL, NULL, SOCK_CLOEXEC);
			if (s >= 0 && hangup)
				close(s);
			else if (s >= 0)
				conns[nconns++] = (struct conn){ .sock = s };
		}
	}
}
