/* A tiny --console-socket server for tests: listens on a unix socket, receives one pty master
 * over SCM_RIGHTS, then copies everything read from the master to stdout until the container
 * side of the pty is closed.
 *
 *   recvtty <socket-path>
 *
 * The socket's path may be longer than sun_path (108 bytes): we chdir to its directory and
 * bind the last component, which is how the init's long-path connect is tested.
 *
 * stderr carries the handshake, one line each: "listening" once the socket accepts
 * connections, then "pty <n>" with the pty number once the master has arrived (proving it is a
 * pty master: TIOCGPTN only works on one). Exit status 0 on success, 1 on any failure. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int fail(const char *what)
{
	fprintf(stderr, "recvtty: %s: %s\n", what, strerror(errno));
	return 1;
}

int main(int argc, char **argv)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	char byte, buf[4096];
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *c;
	int lsock, conn, master;
	unsigned int ptn;

	char *slash;

	if (argc != 2) {
		fprintf(stderr, "usage: recvtty <socket-path>\n");
		return 1;
	}
	slash = strrchr(argv[1], '/');
	if (slash != NULL) {
		*slash = '\0';
		if (chdir(argv[1][0] ? argv[1] : "/") < 0)
			return fail("chdir");
		argv[1] = slash + 1;
	}
	if (strlen(argv[1]) >= sizeof(addr.sun_path)) {
		errno = ENAMETOOLONG;
		return fail("socket name");
	}
	strcpy(addr.sun_path, argv[1]);
	lsock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lsock < 0)
		return fail("socket");
	if (bind(lsock, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		return fail("bind");
	if (listen(lsock, 1) < 0)
		return fail("listen");
	fprintf(stderr, "listening\n");
	conn = accept4(lsock, NULL, NULL, SOCK_CLOEXEC);
	if (conn < 0)
		return fail("accept");
	if (recvmsg(conn, &msg, MSG_CMSG_CLOEXEC) != 1)
		return fail("recvmsg");
	c = CMSG_FIRSTHDR(&msg);
	if (c == NULL || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
	    c->cmsg_len != CMSG_LEN(sizeof(int))) {
		errno = EPROTO;
		return fail("no fd in the message");
	}
	memcpy(&master, CMSG_DATA(c), sizeof(int));
	close(conn);
	close(lsock);
	if (ioctl(master, TIOCGPTN, &ptn) < 0)
		return fail("TIOCGPTN (not a pty master?)");
	fprintf(stderr, "pty %u\n", ptn);

	for (;;) {
		ssize_t n = read(master, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EIO)
			return 0; /* every slave fd closed: the container is done */
		if (n < 0)
			return fail("read master");
		if (n == 0)
			return 0;
		if (write(STDOUT_FILENO, buf, (size_t)n) != n)
			return fail("write stdout");
	}
}
