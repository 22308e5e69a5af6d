/* dist/trun: the warm path's front end (DESIGN.md, "Speed", step 2).
 *
 * It hands the command (argv, environment, cwd) to a long-lived trun server over a unix socket
 * private to the caller's uid, starting the server when there is none, and does for the server
 * what only a process in the caller's place can do: fork trun-init with the caller's fds 0-2 and
 * preserved fds (so the container descends from the caller and shares its stdio), relay the
 * init's sync socket, reap the init, receive the caller's signals and exit with the command's
 * code. The frames and their order are documented in runtime/server/protocol.ts, whose numbers
 * this file mirrors.
 *
 * When no server can be had (TRUN_NO_SERVER=1, no usable socket directory, the server cannot be
 * started, or it closes or declines before the command began), it execs `node <dir>/trun.js` with
 * the same argv: the cold path, in the same process with the same fds.
 *
 * Its own fds live at 256 and above, close-on-exec, so that fds 3.. stay the caller's.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* runtime/server/protocol.ts: ClientMsg and ServerMsg. */
enum {
	C_REQUEST = 1, C_SPAWNED = 2, C_INIT_DATA = 3, C_INIT_EOF = 4, C_INIT_EXIT = 5,
	C_SIGNAL = 6, C_STDIN = 7, C_STDIN_ERROR = 8,
};
enum {
	S_ACCEPT = 101, S_DECLINE = 102, S_SPAWN = 103, S_INIT_DATA = 104, S_INIT_CLOSE = 105,
	S_OUT = 106, S_ERR = 107, S_READ_STDIN = 108, S_DIE = 109, S_EXIT = 110,
};
#define PROTOCOL_VERSION "1"

#define HIGH_FD 256
#define MAX_INITS 32
/* How long to wait for a server we started to listen before running cold. */
#define START_TIMEOUT_MS 10000
/* How long a server that has our request may take to ACCEPT or DECLINE it before we run cold.
 * It decides at once (no command has run yet), so only a stuck server takes this long. */
#define ANSWER_TIMEOUT_MS 5000

static const int forwarded[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH };

struct init {
	uint32_t id;
	pid_t pid;
	int fd; /* our end of its sync socket, -1 once closed */
	int reaped;
};
static struct init inits[MAX_INITS];
static int ninits;

static char exe_dir[PATH_MAX];
static char node_path[PATH_MAX];
static int server_fd = -1;
/* The caller's signal mask and SIGPIPE disposition, restored for the cold path. */
static sigset_t caller_mask;
static struct sigaction caller_pipe;
static int changed_signals;

/* Moves fd to HIGH_FD or above, close-on-exec. */
static int high(int fd)
{
	int h;

	if (fd < 0 || fd >= HIGH_FD)
		return fd;
	h = fcntl(fd, F_DUPFD_CLOEXEC, HIGH_FD);
	if (h < 0)
		return fd; /* keeps working, just lower */
	close(fd);
	return h;
}

/* The cold path: the same process becomes `node <dir>/trun.js ARGS`. */
static void cold(char **argv)
{
	int argc = 0;
	char script[PATH_MAX + 16];
	char **nargv;

	while (argv[argc])
		argc++;
	if (changed_signals) {
		sigaction(SIGPIPE, &caller_pipe, NULL);
		sigprocmask(SIG_SETMASK, &caller_mask, NULL);
	}
	if (server_fd >= 0)
		close(server_fd);
	snprintf(script, sizeof(script), "%s/trun.js", exe_dir);
	nargv = calloc((size_t)argc + 2, sizeof(char *));
	if (!nargv) {
		fprintf(stderr, "trun: out of memory\n");
		exit(1);
	}
	nargv[0] = "node";
	nargv[1] = script;
	for (int i = 1; i < argc; i++)
		nargv[i + 1] = argv[i];
	if (node_path[0])
		execv(node_path, nargv);
	else
		execvp("node", nargv);
	/* What `#!/usr/bin/env node` says when there is no node. */
	fprintf(stderr, "/usr/bin/env: 'node': %s\n", strerror(errno));
	exit(127);
}

/* node as the cold path's `#!/usr/bin/env node` would find it: $TRUN_NODE, else $PATH. */
static int find_node(void)
{
	const char *env = getenv("TRUN_NODE");
	const char *p = getenv("PATH");
	char cand[PATH_MAX];

	if (env && *env)
		return realpath(env, node_path) ? 0 : -1;
	if (!p)
		p = "/bin:/usr/bin";
	while (*p) {
		const char *end = strchr(p, ':');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		struct stat st;

		if (n > 0 && n + 6 < sizeof(cand)) {
			memcpy(cand, p, n);
			memcpy(cand + n, "/node", 6);
			if (stat(cand, &st) == 0 && S_ISREG(st.st_mode) && access(cand, X_OK) == 0)
				return realpath(cand, node_path) ? 0 : -1;
		}
		p += n;
		if (*p == ':')
			p++;
	}
	return -1;
}

static int write_all(int fd, const void *buf, size_t len)
{
	const char *b = buf;

	while (len > 0) {
		ssize_t n = write(fd, b, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) { /* a caller's non-blocking stdout */
				struct pollfd p = { .fd = fd, .events = POLLOUT };
				poll(&p, 1, -1);
				continue;
			}
			return -1;
		}
		b += n;
		len -= (size_t)n;
	}
	return 0;
}

/* One frame: u32 type, u32 length, then up to two pieces of payload. */
static int send_frame(uint32_t type, const void *a, size_t alen, const void *b, size_t blen)
{
	uint32_t head[2] = { type, (uint32_t)(alen + blen) };
	char *buf = malloc(sizeof(head) + alen + blen);
	int r;

	if (!buf)
		return -1;
	memcpy(buf, head, sizeof(head));
	if (alen)
		memcpy(buf + sizeof(head), a, alen);
	if (blen)
		memcpy(buf + sizeof(head) + alen, b, blen);
	r = write_all(server_fd, buf, sizeof(head) + alen + blen);
	free(buf);
	return r;
}

static int send_u32s(uint32_t type, const uint32_t *v, size_t n, const void *rest, size_t restlen)
{
	return send_frame(type, v, n * sizeof(uint32_t), rest, restlen);
}

/* --- reading frames from the server --------------------------------------------------------- */

static char *rbuf;
static size_t rlen, rcap;

/* Reads what the server sent; 0 on EOF, -1 on error. */
static int read_server(void)
{
	ssize_t n;

	if (rcap - rlen < 65536) {
		size_t cap = rcap ? rcap * 2 : 131072;
		char *b = realloc(rbuf, cap);
		if (!b)
			return -1;
		rbuf = b;
		rcap = cap;
	}
	do
		n = read(server_fd, rbuf + rlen, rcap - rlen);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return (int)n;
	rlen += (size_t)n;
	return 1;
}

/* The next complete frame in the buffer, if any; consume it with drop_frame(). */
static int next_frame(uint32_t *type, char **payload, uint32_t *len)
{
	uint32_t head[2];

	if (rlen < sizeof(head))
		return 0;
	memcpy(head, rbuf, sizeof(head));
	if (rlen < sizeof(head) + head[1])
		return 0;
	*type = head[0];
	*len = head[1];
	*payload = rbuf + sizeof(head);
	return 1;
}

static void drop_frame(uint32_t len)
{
	size_t n = 8 + (size_t)len;
	memmove(rbuf, rbuf + n, rlen - n);
	rlen -= n;
}

/* --- the server's socket -------------------------------------------------------------------- */

/* $TRUN_SERVER_DIR, else /run/trun-server/<uid> (root) or $XDG_RUNTIME_DIR/trun-server; it must
 * be a directory of ours that no one else can enter. */
static int server_dir(char *out, size_t size)
{
	const char *env = getenv("TRUN_SERVER_DIR");
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	struct stat st;

	if (env && *env) {
		snprintf(out, size, "%s", env);
	} else if (geteuid() != 0 && xdg && *xdg) {
		snprintf(out, size, "%s/trun-server", xdg);
	} else {
		if (mkdir("/run/trun-server", 0755) < 0 && errno != EEXIST)
			return -1;
		snprintf(out, size, "/run/trun-server/%u", (unsigned)geteuid());
	}
	if (mkdir(out, 0700) < 0 && errno != EEXIST)
		return -1;
	if (lstat(out, &st) < 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077))
		return -1;
	return 0;
}

static int try_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(sa.sun_path, path);
	/* Wait: none. Non-blocking, a server whose listen backlog is full (one that no longer
	 * accepts) fails the connect with EAGAIN at once, and we run cold, instead of waiting in
	 * connect until it accepts. */
	fd = high(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || fcntl(fd, F_SETFL, 0) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* Starts `node trun-server.js DIR` as nobody's child of interest (double fork, setsid), with its
 * output in DIR/server.log, and waits until it says it listens (or dies). */
static int start_server(const char *dir)
{
	int ready[2];
	pid_t mid;
	char buf[4] = { 0 };
	struct pollfd p;
	ssize_t n = 0;

	if (pipe2(ready, O_CLOEXEC) < 0)
		return -1;
	ready[0] = high(ready[0]);
	ready[1] = high(ready[1]);
	mid = fork();
	if (mid < 0) {
		close(ready[0]);
		close(ready[1]);
		return -1;
	}
	if (mid == 0) {
		char script[PATH_MAX + 32], logpath[PATH_MAX + 32];
		char *argv[4];
		sigset_t none;
		int fd;

		setsid();
		if (fork() != 0)
			_exit(0);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		if (chdir("/") < 0)
			_exit(127);
		snprintf(logpath, sizeof(logpath), "%s/server.log", dir);
		fd = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (fd < 0 || dup2(fd, 0) < 0)
			_exit(127);
		fd = open(logpath, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0 || dup2(ready[1], 3) < 0)
			_exit(127);
		syscall(SYS_close_range, 4U, ~0U, 0U);
		setenv("TRUN_SERVER_READY_FD", "3", 1);
		snprintf(script, sizeof(script), "%s/trun-server.js", exe_dir);
		argv[0] = "node";
		argv[1] = script;
		argv[2] = (char *)dir;
		argv[3] = NULL;
		execv(node_path, argv);
		_exit(127);
	}
	close(ready[1]);
	waitpid(mid, NULL, 0);
	p.fd = ready[0];
	p.events = POLLIN;
	if (poll(&p, 1, START_TIMEOUT_MS) == 1)
		n = read(ready[0], buf, 2);
	close(ready[0]);
	return n == 2 && memcmp(buf, "ok", 2) == 0 ? 0 : -1;
}

/* A connection to a warm server, started if need be; -1 when none can be had. */
static int connect_server(void)
{
	char dir[PATH_MAX], path[PATH_MAX + 16];
	int fd, lock;

	if (server_dir(dir, sizeof(dir)) < 0)
		return -1;
	snprintf(path, sizeof(path), "%s/sock", dir);
	fd = try_connect(path);
	if (fd >= 0 || (errno != ENOENT && errno != ECONNREFUSED))
		return fd;
	/* One starter at a time; the others find its server when they get the lock. */
	snprintf(path, sizeof(path), "%s/start.lock", dir);
	lock = high(open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
	if (lock < 0)
		return -1;
	/* Wait: bounded by the holder's, a front end starting a server, which gives up after
	 * START_TIMEOUT_MS; a holder that dies drops the lock with its fd. Signals are not blocked
	 * yet, so the caller's SIGTERM ends this wait too. */
	while (flock(lock, LOCK_EX) < 0 && errno == EINTR)
		;
	snprintf(path, sizeof(path), "%s/sock", dir);
	fd = try_connect(path);
	if (fd < 0 && start_server(dir) == 0)
		fd = try_connect(path);
	close(lock);
	return fd;
}

/* REQUEST: NUL-terminated version, front end dir, node, cwd, argc, argv[1..], environment. */
static int send_request(int argc, char **argv)
{
	char cwd[PATH_MAX], num[16];
	size_t len = 0, off = 0;
	char *buf;
	const char *fixed[5];
	int r;

	if (!getcwd(cwd, sizeof(cwd)))
		return -1;
	snprintf(num, sizeof(num), "%d", argc - 1);
	fixed[0] = PROTOCOL_VERSION;
	fixed[1] = exe_dir;
	fixed[2] = node_path;
	fixed[3] = cwd;
	fixed[4] = num;
	for (int i = 0; i < 5; i++)
		len += strlen(fixed[i]) + 1;
	for (int i = 1; i < argc; i++)
		len += strlen(argv[i]) + 1;
	for (char **e = environ; *e; e++)
		len += strlen(*e) + 1;
	buf = malloc(len);
	if (!buf)
		return -1;
#define PUT(s) do { size_t l_ = strlen(s) + 1; memcpy(buf + off, (s), l_); off += l_; } while (0)
	for (int i = 0; i < 5; i++)
		PUT(fixed[i]);
	for (int i = 1; i < argc; i++)
		PUT(argv[i]);
	for (char **e = environ; *e; e++)
		PUT(*e);
#undef PUT
	r = send_frame(C_REQUEST, buf, len, NULL, 0);
	free(buf);
	return r;
}

/* --- serving the server's requests ---------------------------------------------------------- */

static struct init *init_by_id(uint32_t id)
{
	for (int i = 0; i < ninits; i++)
		if (inits[i].id == id)
			return &inits[i];
	return NULL;
}

/* SPAWN: fork trun-init as Node.js's spawn would (signals default and unblocked, stdio blocking,
 * empty environment, argv0 "trun-init"), with its sync socket at syncfd. */
static void spawn_init(uint32_t id, uint32_t syncfd, const unsigned char *stdio, const char *path)
{
	int sv[2], ep[2], err = 0;
	uint32_t reply[3] = { id, 0, 0 };
	pid_t pid;
	ssize_t n;

	if (ninits == MAX_INITS || syncfd < 3 || syncfd >= HIGH_FD) {
		reply[2] = ninits == MAX_INITS ? EMFILE : EBADF;
		send_u32s(C_SPAWNED, reply, 3, NULL, 0);
		return;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0 || pipe2(ep, O_CLOEXEC) < 0) {
		reply[2] = (uint32_t)errno;
		send_u32s(C_SPAWNED, reply, 3, NULL, 0);
		return;
	}
	sv[0] = high(sv[0]);
	sv[1] = high(sv[1]);
	ep[0] = high(ep[0]);
	ep[1] = high(ep[1]);
	pid = fork();
	if (pid == 0) {
		char fdtext[16];
		char *argv[3] = { "trun-init", fdtext, NULL };
		char *envp[1] = { NULL };
		sigset_t none;

		for (int s = 1; s < NSIG; s++)
			if (s != SIGKILL && s != SIGSTOP)
				signal(s, SIG_DFL);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		for (int fd = 0; fd < 3; fd++) {
			if (stdio[fd] == 1) {
				int null = open("/dev/null", O_RDWR);
				if (null < 0 || dup2(null, fd) < 0)
					goto fail;
				if (null != fd)
					close(null);
			} else {
				int fl = fcntl(fd, F_GETFL);
				if (fl >= 0 && (fl & O_NONBLOCK))
					fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
			}
		}
		if (dup2(sv[1], (int)syncfd) < 0)
			goto fail;
		snprintf(fdtext, sizeof(fdtext), "%u", syncfd);
		execve(path, argv, envp);
fail:
		err = errno;
		if (write(ep[1], &err, sizeof(err)) < 0)
			_exit(126);
		_exit(127);
	}
	close(sv[1]);
	close(ep[1]);
	if (pid < 0) {
		reply[2] = (uint32_t)errno;
		close(sv[0]);
		close(ep[0]);
		send_u32s(C_SPAWNED, reply, 3, NULL, 0);
		return;
	}
	do
		n = read(ep[0], &err, sizeof(err));
	while (n < 0 && errno == EINTR);
	close(ep[0]);
	if (n == (ssize_t)sizeof(err)) {
		waitpid(pid, NULL, 0);
		close(sv[0]);
		reply[2] = (uint32_t)err;
		send_u32s(C_SPAWNED, reply, 3, NULL, 0);
		return;
	}
	inits[ninits++] = (struct init){ .id = id, .pid = pid, .fd = sv[0] };
	reply[1] = (uint32_t)pid;
	send_u32s(C_SPAWNED, reply, 3, NULL, 0);
}

static void reap(void)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (int i = 0; i < ninits; i++) {
			if (inits[i].pid == pid && !inits[i].reaped) {
				uint32_t v[2] = { inits[i].id, (uint32_t)status };
				inits[i].reaped = 1;
				send_u32s(C_INIT_EXIT, v, 2, NULL, 0);
			}
		}
	}
}

static void read_stdin(void)
{
	size_t len = 0, cap = 65536;
	char *buf = malloc(cap);

	for (;;) {
		ssize_t n;
		if (!buf)
			break;
		if (len == cap) {
			char *b = realloc(buf, cap *= 2);
			if (!b)
				break;
			buf = b;
		}
		n = read(0, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			struct pollfd p = { .fd = 0, .events = POLLIN };
			poll(&p, 1, -1);
			continue;
		}
		if (n < 0) {
			const char *msg = strerror(errno);
			send_frame(C_STDIN_ERROR, "read stdin: ", 12, msg, strlen(msg));
			free(buf);
			return;
		}
		if (n == 0) {
			send_frame(C_STDIN, buf, len, NULL, 0);
			free(buf);
			return;
		}
		len += (size_t)n;
	}
	free(buf);
	send_frame(C_STDIN_ERROR, "read stdin: out of memory", 25, NULL, 0);
}

/* DIE: end as a Node.js process without a handler for the signal would. */
static void die(int sig)
{
	sigset_t set;

	signal(sig, SIG_DFL);
	raise(sig);
	sigemptyset(&set);
	sigaddset(&set, sig);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	_exit(128 + sig);
}

/* Handles one frame from the server; returns 1 to go on. */
static int handle(uint32_t type, const char *p, uint32_t len)
{
	uint32_t a = 0, b = 0;
	struct init *in;

	if (len >= 4)
		memcpy(&a, p, 4);
	if (len >= 8)
		memcpy(&b, p + 4, 4);
	switch (type) {
	case S_SPAWN: {
		char path[PATH_MAX];
		size_t plen = len >= 11 ? len - 11 : 0;
		if (len < 11 || plen >= sizeof(path))
			return 1;
		memcpy(path, p + 11, plen);
		path[plen] = 0;
		spawn_init(a, b, (const unsigned char *)p + 8, path);
		return 1;
	}
	case S_INIT_DATA:
		in = len >= 4 ? init_by_id(a) : NULL;
		if (in && in->fd >= 0)
			write_all(in->fd, p + 4, len - 4); /* EPIPE: its EOF or exit tells the server */
		return 1;
	case S_INIT_CLOSE:
		in = len >= 4 ? init_by_id(a) : NULL;
		if (in && in->fd >= 0) {
			close(in->fd);
			in->fd = -1;
		}
		return 1;
	case S_OUT:
	case S_ERR:
		write_all(type == S_OUT ? 1 : 2, p, len);
		return 1;
	case S_READ_STDIN:
		read_stdin();
		return 1;
	case S_DIE:
		die((int)a);
		return 0;
	case S_EXIT:
		exit((int)a);
	default:
		return 1;
	}
}

/* Wait: as long as the command runs, as the cold path would. The caller's signals are relayed
 * to the server (the command's own handling, or S_DIE), and a server that dies or closes ends us
 * ("lost the connection"). */
static void serve(void)
{
	sigset_t set;
	int sfd;

	sigemptyset(&set);
	for (size_t i = 0; i < sizeof(forwarded) / sizeof(forwarded[0]); i++)
		sigaddset(&set, forwarded[i]);
	sigaddset(&set, SIGCHLD);
	sfd = high(signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
	if (sfd < 0) {
		fprintf(stderr, "trun: signalfd: %s\n", strerror(errno));
		exit(1);
	}
	for (;;) {
		struct pollfd pfd[2 + MAX_INITS];
		int map[2 + MAX_INITS];
		int n = 0;
		uint32_t type, len;
		char *payload;

		while (next_frame(&type, &payload, &len)) {
			handle(type, payload, len);
			drop_frame(len);
		}
		pfd[n].fd = server_fd;
		pfd[n++].events = POLLIN;
		pfd[n].fd = sfd;
		pfd[n++].events = POLLIN;
		for (int i = 0; i < ninits; i++) {
			if (inits[i].fd < 0)
				continue;
			map[n] = i;
			pfd[n].fd = inits[i].fd;
			pfd[n++].events = POLLIN;
		}
		if (poll(pfd, (nfds_t)n, -1) < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "trun: poll: %s\n", strerror(errno));
			exit(1);
		}
		if (pfd[1].revents) {
			struct signalfd_siginfo si;
			while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
				if ((int)si.ssi_signo == SIGCHLD) {
					reap();
				} else {
					uint32_t v = si.ssi_signo;
					send_u32s(C_SIGNAL, &v, 1, NULL, 0);
				}
			}
		}
		for (int k = 2; k < n; k++) {
			struct init *in = &inits[map[k]];
			char buf[65536];
			ssize_t r;

			if (!pfd[k].revents || in->fd < 0)
				continue;
			r = read(in->fd, buf, sizeof(buf));
			if (r < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (r > 0) {
				send_u32s(C_INIT_DATA, &in->id, 1, buf, (size_t)r);
			} else {
				close(in->fd);
				in->fd = -1;
				send_u32s(C_INIT_EOF, &in->id, 1, NULL, 0);
			}
		}
		if (pfd[0].revents) {
			int r = read_server();
			if (r <= 0) {
				/* Frames already read still count (an EXIT among them ends us). */
				while (next_frame(&type, &payload, &len)) {
					handle(type, payload, len);
					drop_frame(len);
				}
				fprintf(stderr, "trun: lost the connection to the trun server\n");
				exit(1);
			}
		}
	}
}

int main(int argc, char **argv)
{
	const char *no = getenv("TRUN_NO_SERVER");
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *slash;
	sigset_t set;
	uint32_t type, len;
	char *payload;

	if (n <= 0) {
		fprintf(stderr, "trun: readlink /proc/self/exe: %s\n", strerror(errno));
		return 1;
	}
	self[n] = 0;
	slash = strrchr(self, '/');
	*slash = 0;
	snprintf(exe_dir, sizeof(exe_dir), "%s", self[0] ? self : "/");
	if (find_node() < 0)
		node_path[0] = 0;
	if ((no && *no && strcmp(no, "0") != 0) || !node_path[0])
		cold(argv);

	server_fd = connect_server();
	if (server_fd < 0)
		cold(argv);
	/* From here on signals wait in the signalfd: relayed once the command runs, or delivered
	 * as usual when we fall back to the cold path. */
	sigemptyset(&set);
	for (size_t i = 0; i < sizeof(forwarded) / sizeof(forwarded[0]); i++)
		sigaddset(&set, forwarded[i]);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, &caller_mask);
	{
		struct sigaction ign = { .sa_handler = SIG_IGN };
		sigaction(SIGPIPE, &ign, &caller_pipe);
	}
	changed_signals = 1;
	if (send_request(argc, argv) < 0)
		cold(argv);
	/* Wait: bounded by ANSWER_TIMEOUT_MS, then the cold path. The caller's signals are held in
	 * the signalfd meanwhile, so a server that took the request and never answers would
	 * otherwise hold the command forever, deaf to SIGTERM. Running cold is safe here: the
	 * server has not accepted, so it runs nothing for us. */
	{
		struct timespec start, now;
		clock_gettime(CLOCK_MONOTONIC, &start);
		while (!next_frame(&type, &payload, &len)) {
			struct pollfd p = { .fd = server_fd, .events = POLLIN };
			long spent;
			int r;

			clock_gettime(CLOCK_MONOTONIC, &now);
			spent = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
			r = spent < ANSWER_TIMEOUT_MS ? poll(&p, 1, (int)(ANSWER_TIMEOUT_MS - spent)) : 0;
			if (r < 0 && errno == EINTR)
				continue;
			if (r == 0) {
				fprintf(stderr, "trun: the trun server did not answer within %d ms: running without it\n",
					ANSWER_TIMEOUT_MS);
				cold(argv);
			}
			if (r < 0 || read_server() <= 0)
				cold(argv);
		}
	}
	if (type != S_ACCEPT)
		cold(argv);
	drop_frame(len);
	serve();
	return 1;
}
