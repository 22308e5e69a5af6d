/* Makes raw system calls by name and prints what each returned, for the seccomp tests: a
 * profile's answer to a syscall it names, and the -ENOSYS stub's to one newer than the profile.
 * Static, so that it runs in the busybox rootfs; raw syscall(2), so that libc's fallbacks
 * (clone3 -> clone, faccessat2 -> faccessat) cannot hide the answer.
 *
 *   rawsys NAME...    one line each: "NAME=0" or "NAME=<errno name>"
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static const struct {
	const char *errname;
	int errnum;
} errnames[] = { { "EPERM", EPERM }, { "ENOENT", ENOENT }, { "EACCES", EACCES }, { "EFAULT", EFAULT },
		 { "EINVAL", EINVAL }, { "ENOSYS", ENOSYS }, { "EEXIST", EEXIST }, { "EBADF", EBADF } };

static long call(const char *name)
{
	/* Arguments that do nothing harmful: checks of "/", an empty clone3 (EINVAL when it runs). */
	if (strcmp(name, "faccessat2") == 0)
		return syscall(439, AT_FDCWD, "/", F_OK, 0);
	if (strcmp(name, "faccessat") == 0)
		return syscall(SYS_faccessat, AT_FDCWD, "/", F_OK);
	if (strcmp(name, "clone3") == 0)
		return syscall(435, NULL, 0);
	if (strcmp(name, "close_range") == 0)
		return syscall(436, 1000, 1000, 0);
	if (strcmp(name, "openat2") == 0)
		return syscall(437, AT_FDCWD, NULL, NULL, 0);
	if (strcmp(name, "mkdirat") == 0)
		return syscall(SYS_mkdirat, AT_FDCWD, "/", 0755);
	if (strcmp(name, "getcwd") == 0) {
		char buf[256];
		return syscall(SYS_getcwd, buf, sizeof(buf)) < 0 ? -1 : 0;
	}
	errno = EINVAL;
	return -2;
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		long r = call(argv[i]);
		if (r == -2) {
			fprintf(stderr, "rawsys: unknown name %s\n", argv[i]);
			return 2;
		}
		if (r >= 0) {
			printf("%s=0\n", argv[i]);
			continue;
		}
		const char *e = NULL;
		for (size_t j = 0; j < sizeof(errnames) / sizeof(errnames[0]); j++)
			if (errnames[j].errnum == errno)
				e = errnames[j].errname;
		if (e)
			printf("%s=%s\n", argv[i], e);
		else
			printf("%s=errno%d\n", argv[i], errno);
	}
	return 0;
}
