/* CONSOLE_RELAY: a foreground `trun run`/`trun exec` with a terminal but no --console-socket.
 * Node.js cannot receive an fd over a socket, so the first init process, which in WAIT mode stays
 * as the container's parent anyway, plays the part of the console socket's owner:
 *
 *   stage 1, CONSOLE_RELAY  socketpair(); one end becomes the console socket CONSOLE sends the
 *                           pty master over (in the child), the other stays here
 *   CLONE, parent side      instead of a plain waitpid: receive the master, then copy fd 0 ->
 *                           master and master -> fd 1 until the child exits; SIGWINCH copies
 *                           fd 0's window size to the master; with RELAY_RAW and a terminal on
 *                           fd 0, that terminal is raw meanwhile and restored before we exit
 *
 * Nobody listens on the sync socket any more while this runs (trun has its answer), so a failing
 * relay says so on stderr and falls back to waiting: the container's exit still comes back. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "init.h"

int op_console_relay(struct init_state *st, const struct plan_op *op, struct init_error *err)
{
	int sv[2];

	if (op->args[0].num & ~(uint64_t)RELAY_FLAGS_ALL)
		return init_error_set(err, EINVAL, "relay flags 0x%llx", (unsigned long long)op->args[0].num);
	if (st->console_fd >= 0 || st->relay_fd >= 0)
		return init_error_set(err, EBUSY, "a console socket is already open");
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return init_error_set(err, errno, "socketpair");
	st->relay_fd = sv[0];
	st->console_fd = sv[1];
	st->relay_flags = (unsigned)op->args[0].num;
	return 0;
}

static void relay_warn(const char *what)
{
	struct init_error e = { 0 };
	init_error_set(&e, errno, "console relay: %s", what);
	init_error_to_stderr(e.msg);
}

/* The fd sent with CONSOLE's one byte; -1 at EOF (the child died or exec'd without a console). */
static int recv_master(int sock)
{
	char byte;
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *c;
	ssize_t n;
	int fd;

	do
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n == 0)
		errno = 0; /* EOF is not an error to report */
	if (n <= 0)
		return -1;
	c = CMSG_FIRSTHDR(&msg);
	if (c == NULL || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
	    c->cmsg_len != CMSG_LEN(sizeof(int))) {
		errno = EPROTO;
		return -1;
	}
	memcpy(&fd, CMSG_DATA(c), sizeof(int));
	return fd;
}

/* Writes everything, waiting when fd is non-blocking and full (Node may share stdio that way). */
static int write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);
		if (n < 0 && errno == EAGAIN) {
			struct pollfd p = { .fd = fd, .events = POLLOUT };
			poll(&p, 1, -1);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Our terminal's size onto the pty; a terminal that reports 0x0 knows no size: keep the pty's. */
static void copy_winsize(int master)
{
	struct winsize ws;
	if (ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0 && (ws.ws_row || ws.ws_col))
		ioctl(master, TIOCSWINSZ, &ws);
}

/* Copies one read's worth from `from` to `to`. 1: copied, 0: EOF or error on `from`. A failing
 * `to` (stdout closed) drops the data: the other direction and the wait go on. */
static int pump(int from, int to, int *to_ok)
{
	char buf[16384];
	ssize_t n = read(from, buf, sizeof(buf));
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return 1;
	if (n <= 0)
		return 0; /* EOF; EIO from a master whose slave is closed everywhere */
	if (*to_ok && write_all(to, buf, (size_t)n) < 0)
		*to_ok = 0;
	return 1;
}

int relay_until_exit(struct init_state *st, pid_t child)
{
	struct termios saved;
	int raw = 0, master = -1, in_open = 1, out_ok = 1, status = 0, reaped = 0, sfd, fl;
	sigset_t mask, old;

	/* SIGCHLD and SIGWINCH arrive on a signalfd: blocked, so the forwarding handler no longer
	 * passes SIGWINCH on (the pty signals its own foreground group when we resize it). */
	signal(SIGCHLD, SIG_DFL);
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGWINCH);
	sigprocmask(SIG_BLOCK, &mask, &old);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0)
		relay_warn("signalfd");

	while (sfd >= 0) {
		struct pollfd p[4];
		int n = 0, i_sig, i_sock = -1, i_master = -1, i_in = -1;
		pid_t w = waitpid(child, &status, WNOHANG);

		if (w == child) {
			reaped = 1;
			break;
		}
		if (w < 0 && errno != EINTR)
			break;
		i_sig = n;
		p[n++] = (struct pollfd){ .fd = sfd, .events = POLLIN };
		if (st->relay_fd >= 0) {
			i_sock = n;
			p[n++] = (struct pollfd){ .fd = st->relay_fd, .events = POLLIN };
		}
		if (master >= 0) {
			i_master = n;
			p[n++] = (struct pollfd){ .fd = master, .events = POLLIN };
			if (in_open) {
				i_in = n;
				p[n++] = (struct pollfd){ .fd = STDIN_FILENO, .events = POLLIN };
			}
		}
		if (poll(p, (nfds_t)n, -1) < 0) {
			if (errno == EINTR)
				continue; /* a forwarded signal */
			relay_warn("poll");
			break;
		}
		if (p[i_sig].revents) {
			struct signalfd_siginfo si;
			while (read(sfd, &si, sizeof(si)) == sizeof(si))
				if (si.ssi_signo == SIGWINCH && master >= 0)
					copy_winsize(master);
		}
		if (i_sock >= 0 && p[i_sock].revents) {
			master = recv_master(st->relay_fd);
			if (master < 0 && errno != 0 && errno != EINTR)
				relay_warn("receive the pty master");
			close(st->relay_fd);
			st->relay_fd = -1;
			if (master >= 0) {
				fl = fcntl(master, F_GETFL);
				fcntl(master, F_SETFL, fl | O_NONBLOCK);
				copy_winsize(master);
				if ((st->relay_flags & RELAY_RAW) && isatty(STDIN_FILENO) &&
				    tcgetattr(STDIN_FILENO, &saved) == 0) {
					struct termios t = saved;
					cfmakeraw(&t);
					raw = tcsetattr(STDIN_FILENO, TCSANOW, &t) == 0;
				}
			}
			continue;
		}
		if (i_master >= 0 && (p[i_master].revents & (POLLIN | POLLHUP | POLLERR)) &&
		    !pump(master, STDOUT_FILENO, &out_ok)) {
			/* Every slave is closed: the output is complete; only the exit is left to wait for. */
			close(master);
			master = -1;
		}
		if (i_in >= 0 && master >= 0 && (p[i_in].revents & (POLLIN | POLLHUP | POLLERR))) {
			int master_ok = 1;
			if (!pump(STDIN_FILENO, master, &master_ok))
				in_open = 0;
		}
	}

	/* The child is gone; what it wrote may still sit in the pty: drain it, briefly waiting for
	 * data in flight, until the slave's last close shows as EIO. */
	while (master >= 0) {
		struct pollfd p = { .fd = master, .events = POLLIN };
		if (poll(&p, 1, 200) <= 0 || !pump(master, STDOUT_FILENO, &out_ok))
			break;
	}
	if (master >= 0)
		close(master);
	if (raw)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved);
	if (sfd >= 0)
		close(sfd);
	/* Without a signalfd (or after a poll failure) the relay is over: plain waiting. */
	while (!reaped && waitpid(child, &status, 0) < 0 && errno == EINTR)
		;
	sigprocmask(SIG_SETMASK, &old, NULL);
	return status;
}
