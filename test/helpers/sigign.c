/* Runs a command with every catchable signal ignored, glibc's reserved 32 and 33 included (set
 * with the raw system call, which glibc's sigaction refuses): ignored dispositions survive
 * execve, so a runtime that forgets to reset one hands it to the container.
 *
 *   sigign COMMAND [ARGS...] */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct {
		void *handler;
		unsigned long flags;
		void *restorer;
		unsigned long mask;
	} ignore = { SIG_IGN, 0, NULL, 0 };

	if (argc < 2) {
		fprintf(stderr, "usage: sigign COMMAND [ARGS...]\n");
		return 2;
	}
	for (int sig = 1; sig < 65; sig++)
		if (sig != SIGKILL && sig != SIGSTOP && sig != SIGCHLD)
			syscall(SYS_rt_sigaction, sig, &ignore, NULL, sizeof(ignore.mask));
	execvp(argv[1], argv + 1);
	perror(argv[1]);
	return 127;
}
