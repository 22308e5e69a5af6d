/* Processes: CLONE (fork into new namespaces, then detach or wait), SYNC points, the exec fifo,
 * the executable lookup and the final execve.
 *
 * CLONE and the sync socket: the parent sends PID before the child may send anything, so trun
 * always learns the pid first (it needs it to write uid/gid maps when the child asks). A
 * close-on-exec pipe is the gate: the child blocks reading it until the parent, having sent PID,
 * closes its end.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "init.h"
#include "sync.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* Clone flags that would share memory, signal handlers or thread identity with the parent: with
 * a raw clone on the parent's own stack (fork semantics) any of them would corrupt us. */
#define CLONE_UNSAFE_FLAGS                                                                     \
	(CLONE_VM | CLONE_THREAD | CLONE_SIGHAND | CLONE_VFORK | CLONE_SETTLS | CLONE_PARENT_SETTID | \
	 CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID | CSIGNAL)

/* Signals a waiting parent passes on to its child, so `kill <trun-init>` reaches the container
 * the way it would reach a process run directly. */
static const int forwarded_signals[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH };

static volatile pid_t forward_to;

static void forward_signal(int sig)
{
	int saved = errno;
	if (forward_to > 0)
		kill(forward_to, sig);
	errno = saved;
}

/* Exit the way the child did: same exit code, or death by the same signal. kill(getpid()) and
 * not raise(): after a raw clone glibc's cached thread id may be the parent's. */
static void mirror_status(int status)
{
	if (WIFSIGNALED(status)) {
		int sig = WTERMSIG(status);
		sigset_t set;
		signal(sig, SIG_DFL);
		sigemptyset(&set);
		sigaddset(&set, sig);
		sigprocmask(SIG_UNBLOCK, &set, NULL);
		kill(getpid(), sig);
		_exit(128 + sig); /* only reached for signals that do not terminate */
	}
	_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 1);
}

static void install_forwarding(pid_t child)
{
	struct sigaction sa = { .sa_handler = forward_signal, .sa_flags = SA_RESTART };

	forward_to = child;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(forwarded_signals) / sizeof(forwarded_signals[0]); i++)
		sigaction(forwarded_signals[i], &sa, NULL);
}

static void wait_and_mirror(struct init_state *st, pid_t child)
{
	char text[32];
	int status = 0, sync_fd = st->sync_fd;

	if (st->relay_fd >= 0) {
		status = relay_until_exit(st, child);
		goto report;
	}
	while (waitpid(child, &status, 0) < 0) {
		if (errno != EINTR) {
			status = 1 << 8; /* cannot happen for our own child; report exit 1 */
			break;
		}
	}
report:
	snprintf(text, sizeof(text), "%d", status);
	if (sync_send_str(sync_fd, MSG_EXIT, text) < 0) {
		/* trun is gone (run/exec killed?): nothing to tell, still mirror the status. */
	}
	mirror_status(status);
}

static void close_state_fds(struct init_state *st)
{
	int *fds[] = { &st->rootfs_fd, &st->console_fd, &st->fifo_fd, &st->listener_fd };
	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
		if (*fds[i] >= 0)
			close(*fds[i]);
		*fds[i] = -1;
	}
	close_trees(st);
}

int op_clone(struct init_state *st, const struct plan_op *op, struct init_error *err)
{
	uint64_t flags = op->args[0].num;
	uint64_t mode = op->args[1].num;
	char text[32];
	int gate[2];
	long pid;

	if (mode != CLONE_MODE_DETACH && mode != CLONE_MODE_WAIT)
		return init_error_set(err, EINVAL, "clone mode %llu", (unsigned long long)mode);
	if (flags & CLONE_UNSAFE_FLAGS)
		return init_error_set(err, EINVAL, "clone flags 0x%llx", (unsigned long long)flags);
	if (st->relay_fd >= 0 && mode != CLONE_MODE_WAIT)
		return init_error_set(err, EINVAL, "a console relay needs a waiting clone");
	if (pipe2(gate, O_CLOEXEC) < 0)
		return init_error_set(err, errno, "pipe");

	/* Fork semantics: no new stack, SIGCHLD to the parent on exit. */
	pid = syscall(SYS_clone, (unsigned long)flags | SIGCHLD, 0, 0, 0, 0);
	if (pid < 0) {
		int e = errno;
		close(gate[0]);
		close(gate[1]);
		return init_error_set(err, e, "clone 0x%llx", (unsigned long long)flags);
	}

	if (pid == 0) {
		/* Child: wait for the parent to have reported our pid, then carry on with the plan. */
		char b;
		close(gate[1]);
		/* The relay's end belongs to the waiting parent; ours is console_fd, for CONSOLE. */
		if (st->relay_fd >= 0) {
			close(st->relay_fd);
			st->relay_fd = -1;
		}
		while (read(gate[0], &b, 1) < 0 && errno == EINTR)
			;
		close(gate[0]);
		return 0;
	}

	close(gate[0]);
	/* In WAIT mode, forward signals from now on: the child cannot run before the gate opens,
	 * so no signal meant for it can be lost. The waiting parent needs none of the plan's fds:
	 * holding the console socket (or the seccomp listener's) would hide the child's close from
	 * the caller, holding the rootfs would pin its mount. */
	if (mode == CLONE_MODE_WAIT) {
		install_forwarding((pid_t)pid);
		close_state_fds(st);
	}
	snprintf(text, sizeof(text), "%ld", pid);
	if (sync_send_str(st->sync_fd, MSG_PID, text) < 0) {
		/* A child trun does not know about must not run on. */
		int e = errno;
		kill((pid_t)pid, SIGKILL);
		close(gate[1]);
		waitpid((pid_t)pid, NULL, 0);
		return init_error_set(err, e, "send pid");
	}
	close(gate[1]);

	if (mode == CLONE_MODE_DETACH)
		_exit(0);
	wait_and_mirror(st, (pid_t)pid);
	return -1; /* not reached */
}

int op_sync(struct init_state *st, const struct plan_op *op, struct init_error *err)
{
	return sync_point(st->sync_fd, op->args[0].str, err);
}

int op_open_fifo(struct init_state *st, const struct plan_op *op, struct init_error *err)
{
	const char *path = op->args[0].str;
	struct stat sb;
	mode_t old_mask;
	int fd, r;

	/* Node.js has no mkfifo: the fifo is made here, in the state dir trun prepared, mode 0622
	 * exactly (whatever our umask): the container process opens it for writing after switching
	 * to the container's user, as in runc. An existing fifo is used as it is. */
	old_mask = umask(0);
	r = mkfifo(path, 0622);
	umask(old_mask);
	if (r < 0 && errno != EEXIST)
		return init_error_set(err, errno, "mkfifo \"%s\"", path);
	fd = open(path, O_PATH | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return init_error_set(err, errno, "open \"%s\"", path);
	if (fstat(fd, &sb) < 0 || !S_ISFIFO(sb.st_mode)) {
		close(fd);
		return init_error_set(err, 0, "\"%s\" exists and is not a fifo", path);
	}
	if (st->fifo_fd >= 0)
		close(st->fifo_fd);
	st->fifo_fd = fd;
	return 0;
}

int op_wait_fifo(struct init_state *st, const struct plan_op *op, struct init_error *err)
{
	char path[64];
	int fd;
	ssize_t n;

	(void)op;
	if (st->fifo_fd < 0)
		return init_error_set(err, EBADF, "no exec fifo (OPEN_FIFO missing)");
	/* Reopen the O_PATH fd for writing through /proc: the fifo's path may not be visible from
	 * inside the container. This open blocks until `trun start` opens the fifo for reading. */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", st->fifo_fd);
	do
		fd = open(path, O_WRONLY | O_CLOEXEC);
	while (fd < 0 && errno == EINTR);
	if (fd < 0)
		return init_error_set(err, errno, "open exec fifo \"%s\"", path);
	do
		n = write(fd, "0", 1);
	while (n < 0 && errno == EINTR);
	if (n != 1) {
		int e = n < 0 ? errno : EIO;
		close(fd);
		return init_error_set(err, e, "write exec fifo \"%s\"", path);
	}
	close(fd);
	close(st->fifo_fd);
	st->fifo_fd = -1;
	return 0;
}

/* 0 when path is a regular file we may execute; -1 with errno (EACCES, ENOENT...) otherwise. */
static int check_executable(const char *path)
{
	struct stat sb;
	if (stat(path, &sb) < 0)
		return -1;
	if (!S_ISREG(sb.st_mode)) {
		errno = EACCES;
		return -1;
	}
	return faccessat(AT_FDCWD, path, X_OK, AT_EACCESS);
}

int op_resolve_exec(struct init_state *st, const struct plan_op *op, struct init_error *err)
{
	const char *file = op->args[0].str;
	const char *search = op->args[1].count ? op->args[1].str : DEFAULT_PATH;
	int saw_eacces = 0;

	if (file[0] == '\0')
		return init_error_set(err, ENOENT, "exec \"\"");
	if (strchr(file, '/') != NULL) {
		if (check_executable(file) < 0)
			return init_error_set(err, errno, "exec \"%s\"", file);
		st->exec_path = strdup(file);
		return st->exec_path ? 0 : init_error_set(err, ENOMEM, "exec \"%s\"", file);
	}

	/* Like execvp: each PATH element in turn, an empty element meaning the current directory;
	 * a hit that exists but is not executable is remembered and reported if nothing else is. */
	for (const char *p = search;;) {
		const char *end = strchrnul(p, ':');
		size_t dlen = (size_t)(end - p);
		char *cand;

		if (asprintf(&cand, "%.*s%s%s", (int)dlen, dlen ? p : ".", "/", file) < 0)
			return init_error_set(err, ENOMEM, "exec \"%s\"", file);
		if (check_executable(cand) == 0) {
			st->exec_path = cand;
			return 0;
		}
		if (errno == EACCES)
			saw_eacces = 1;
		free(cand);
		if (*end == '\0')
			break;
		p = end + 1;
	}
	if (saw_eacces)
		return init_error_set(err, EACCES, "exec \"%s\"", file);
	return init_error_set(err, 0, "exec \"%s\": executable file not found in $PATH", file);
}

/* Marks every fd >= from close-on-exec; close_range(2) when the kernel has it. */
static int cloexec_from(unsigned int from)
{
	DIR *d;
	struct dirent *de;

	if (syscall(SYS_close_range, from, ~0U, CLOSE_RANGE_CLOEXEC) == 0)
		return 0;
	/* ENOSYS/EINVAL on old kernels, EPERM from a seccomp filter of a caller's (the filter the
	 * plan loads comes after): walk /proc/self/fd with fcntl instead. */
	d = opendir("/proc/self/fd");
	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		int fd = atoi(de->d_name);
		if (de->d_name[0] < '0' || de->d_name[0] > '9' || fd < (int)from || fd == dirfd(d))
			continue;
		fcntl(fd, F_SETFD, FD_CLOEXEC);
	}
	closedir(d);
	return 0;
}

/* With LISTEN_FDS in env (socket activation), LISTEN_PID must name the process that receives the
 * fds, which is us after execve. Returns env unchanged otherwise. */
static char **with_listen_pid(char **env, uint32_t count)
{
	char **out;
	uint32_t j = 0;
	int has_fds = 0;

	for (uint32_t i = 0; i < count; i++)
		if (strncmp(env[i], "LISTEN_FDS=", 11) == 0)
			has_fds = 1;
	if (!has_fds)
		return env;
	out = calloc((size_t)count + 2, sizeof(char *));
	if (out == NULL)
		return NULL;
	for (uint32_t i = 0; i < count; i++)
		if (strncmp(env[i], "LISTEN_PID=", 11) != 0)
			out[j++] = env[i];
	if (asprintf(&out[j], "LISTEN_PID=%d", getpid()) < 0)
		return NULL;
	return out;
}

/* glibc refuses sigaction() on the signals it reserves for its threads (32 and 33), but an
 * ignored disposition there is inherited across execve like any other: reset it with the raw
 * system call. The kernel's sigaction for SIG_DFL is all zeros. */
static void reset_reserved_signal(int sig)
{
	struct {
		void *handler;
		unsigned long flags;
		void *restorer;
		unsigned long mask;
	} ksa = { 0 };
	syscall(SYS_rt_sigaction, sig, &ksa, NULL, sizeof(ksa.mask));
}

int op_exec_prepare(struct init_state *st, const struct plan_op *op, struct init_error *err)
{
	char **env = op->args[0].list;
	uint64_t preserve = op->args[1].num;
	uint64_t flags = op->args[2].num;
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	sigset_t none;

	if (flags & ~(uint64_t)EXEC_FLAGS_ALL)
		return init_error_set(err, EINVAL, "exec flags 0x%llx", (unsigned long long)flags);
	if (flags & EXEC_LISTEN_PID) {
		env = with_listen_pid(env, op->args[0].count);
		if (env == NULL)
			return init_error_set(err, ENOMEM, "LISTEN_PID");
	}

	/* Leave nothing of Node's or our own process state to the container: default signal
	 * dispositions, an empty mask, blocking stdio, and no fd beyond the preserved ones. */
	sigemptyset(&dfl.sa_mask);
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP && sigaction(sig, &dfl, NULL) < 0)
			reset_reserved_signal(sig);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (int fd = 0; fd <= 2; fd++) {
		int fl = fcntl(fd, F_GETFL);
		if (fl >= 0 && (fl & O_NONBLOCK))
			fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
	}
	if (cloexec_from((unsigned int)(3 + preserve)) < 0)
		return init_error_set(err, errno, "mark fds close-on-exec");
	st->exec_env = env;
	return 0;
}

/* Only execve: a seccomp filter may have been loaded just before, allowing nothing else. */
int op_exec(struct init_state *st, const struct plan_op *op, struct init_error *err)
{
	char **argv = op->args[0].list;
	const char *file;

	if (op->args[0].count == 0)
		return init_error_set(err, EINVAL, "exec: empty argv");
	if (st->exec_env == NULL)
		return init_error_set(err, EINVAL, "exec before EXEC_PREPARE");
	file = st->exec_path ? st->exec_path : argv[0];

	execve(file, argv, st->exec_env);

	/* Still here: the exec failed. trun may already be gone (after `trun start`), so the error
	 * also goes to stderr, where the container's output goes. */
	init_error_set(err, errno, "exec \"%s\"", file);
	err->status = err->errnum == ENOENT ? 127 : 126;
	err->also_stderr = 1;
	return -1;
}
