/* The console: OPEN_CONSOLE_SOCKET connects to the caller's --console-socket while the host's
 * filesystem is still in view; CONSOLE later creates the pty inside the container, hands the
 * master to the caller over that socket (SCM_RIGHTS) and makes the slave our controlling
 * terminal and stdio. The connect and the fd passing are shared with the seccomp listener
 * (seccomp.c), which hands its notify fd over the same way. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "init.h"

#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41)
#endif

int unix_connect(const char *path, struct init_error *err)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	char *dir = strdup(path);
	const char *base;
	char *slash;
	int dirfd, sock, n;

	if (dir == NULL)
		return init_error_set(err, ENOMEM, "connect \"%s\"", path);
	/* A socket path can be longer than sun_path's 108 bytes: open its directory and connect
	 * through /proc/self/fd/<dir>/<name>, which is always short. */
	slash = strrchr(dir, '/');
	if (slash == NULL) {
		base = path;
		strcpy(dir, ".");
	} else {
		base = path + (slash - dir) + 1;
		if (slash == dir)
			slash[1] = '\0'; /* "/name": the directory is "/" */
		else
			*slash = '\0';
	}
	dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	free(dir);
	if (dirfd < 0)
		return init_error_set(err, errno, "open directory of \"%s\"", path);
	n = snprintf(addr.sun_path, sizeof(addr.sun_path), "/proc/self/fd/%d/%s", dirfd, base);
	if (n < 0 || (size_t)n >= sizeof(addr.sun_path)) {
		close(dirfd);
		return init_error_set(err, ENAMETOOLONG, "connect \"%s\"", path);
	}
	/* Wait: none. A blocking connect to a listener whose backlog is full (one that never
	 * accepts) waits until it accepts, which may be never; non-blocking, it fails at once with
	 * EAGAIN, as runc's (Go's) connect does. Blocking again afterwards: what we send later (one
	 * byte with the pty master; the seccomp state, a few KiB) fits in the socket's buffer, so it
	 * never waits for the peer to read. */
	sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (sock < 0) {
		int e = errno;
		close(dirfd);
		return init_error_set(err, e, "socket");
	}
	if (connect(sock, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		int e = errno;
		close(sock);
		close(dirfd);
		if (e == EAGAIN)
			return init_error_set(err, e, "connect \"%s\" (its listen backlog is full: nothing accepts)", path);
		return init_error_set(err, e, "connect \"%s\"", path);
	}
	close(dirfd);
	if (fcntl(sock, F_SETFL, 0) < 0) {
		int e = errno;
		close(sock);
		return init_error_set(err, e, "fcntl \"%s\"", path);
	}
	return sock;
}

int op_open_console_socket(struct init_state *st, const struct plan_op *op, struct init_error *err)
{
	int sock = unix_connect(op->args[0].str, err);

	if (sock < 0)
		return -1;
	if (st->console_fd >= 0)
		close(st->console_fd);
	st->console_fd = sock;
	return 0;
}

ssize_t send_with_fd(int sock, const void *data, size_t len, int fd, int flags)
{
	struct iovec iov = { .iov_base = (void *)data, .iov_len = len };
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr msg = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = u.buf,
		.msg_controllen = sizeof(u.buf),
	};
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	ssize_t n;

	memset(u.buf, 0, sizeof(u.buf));
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	do
		n = sendmsg(sock, &msg, MSG_NOSIGNAL | flags);
	while (n < 0 && errno == EINTR);
	return n;
}

/* Opens the pty master of the container's devpts: /dev/ptmx, or /dev/pts/ptmx when the rootfs
 * has no /dev/ptmx. */
static int open_master(const char **used)
{
	int fd;
	*used = "/dev/ptmx";
	fd = open(*used, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		*used = "/dev/pts/ptmx";
		fd = open(*used, O_RDWR | O_NOCTTY | O_CLOEXEC);
	}
	return fd;
}

int op_console(struct init_state *st, const struct plan_op *op, struct init_error *err)
{
	uint64_t rows = op->args[0].num, cols = op->args[1].num;
	const char *ptmx;
	int master, slave, unlock = 0, e;

	if (st->console_fd < 0)
		return init_error_set(err, EBADF, "no console socket (OPEN_CONSOLE_SOCKET or CONSOLE_RELAY missing)");
	if (rows > 0xffff || cols > 0xffff)
		return init_error_set(err, EINVAL, "window size %llux%llu", (unsigned long long)rows,
				      (unsigned long long)cols);
	/* A new session, so the slave can become our controlling terminal. Already a leader
	 * (a SETSID op came first) is fine. */
	if (setsid() < 0 && !(errno == EPERM && getsid(0) == getpid()))
		return init_error_set(err, errno, "setsid");

	master = open_master(&ptmx);
	if (master < 0)
		return init_error_set(err, errno, "open \"%s\"", ptmx);
	if (ioctl(master, TIOCSPTLCK, &unlock) < 0) {
		e = errno;
		close(master);
		return init_error_set(err, e, "unlock \"%s\"", ptmx);
	}
	/* Open the slave through the master (no path lookup in /dev/pts); fall back to its name
	 * on kernels before 4.13. */
	slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (slave < 0) {
		char name[64];
		if (ptsname_r(master, name, sizeof(name)) != 0) {
			e = errno;
			close(master);
			return init_error_set(err, e, "ptsname");
		}
		slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
		if (slave < 0) {
			e = errno;
			close(master);
			return init_error_set(err, e, "open \"%s\"", name);
		}
	}
	if (rows || cols) {
		struct winsize ws = { .ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols };
		if (ioctl(slave, TIOCSWINSZ, &ws) < 0) {
			e = errno;
			close(master);
			close(slave);
			return init_error_set(err, e, "set window size");
		}
	}
	if (send_with_fd(st->console_fd, "", 1, master, 0) != 1) {
		e = errno;
		close(master);
		close(slave);
		return init_error_set(err, e, "send pty master over the console socket");
	}
	close(master);
	close(st->console_fd);
	st->console_fd = -1;

	if (ioctl(slave, TIOCSCTTY, 0) < 0) {
		e = errno;
		close(slave);
		return init_error_set(err, e, "make the pty our controlling terminal");
	}
	for (int fd = 0; fd <= 2; fd++) {
		if (dup2(slave, fd) < 0) {
			e = errno;
			close(slave);
			return init_error_set(err, e, "dup pty onto fd %d", fd);
		}
	}
	if (slave > 2)
		close(slave);
	return 0;
}
