/* Run from a sealed in-memory copy of ourselves (runc's defence against CVE-2019-5736).
 *
 * A process in the container can open /proc/<pid>/exe of anything that joins it. If that were
 * the trun-init binary on the host's disk, a malicious container could write through it and
 * replace the runtime for every later container. So before doing anything, the init copies
 * its own binary into a memfd, seals it against any change and re-executes from it; the copy
 * is then what /proc/<pid>/exe shows ("/memfd:trun-init (deleted)"). main() also clears the
 * dumpable flag right after, so /proc/<pid>/ cannot be opened by the container's processes. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include "init.h"

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U /* kernels >= 6.3 with vm.memfd_noexec want it said out loud */
#endif

#define REQUIRED_SEALS (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)

extern char **environ;

static int copy_all(int out, int in, off_t size)
{
	off_t done = 0;
	while (done < size) {
		ssize_t n = sendfile(out, in, NULL, (size_t)(size - done));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0)
			break; /* the file shrank under us: the copy is whatever we read */
		done += n;
	}
	return 0;
}

int ensure_sealed_self(char **argv, int sync_fd, struct init_error *err)
{
	struct stat sb;
	char path[64];
	int exe, mfd, ro, seals, flags;

	exe = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	if (exe < 0)
		return init_error_set(err, errno, "open \"/proc/self/exe\"");
	seals = fcntl(exe, F_GET_SEALS); /* EINVAL for anything but a memfd */
	if (seals >= 0 && (seals & REQUIRED_SEALS) == REQUIRED_SEALS) {
		close(exe);
		return 0; /* already the sealed copy */
	}

	mfd = memfd_create("trun-init", MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC);
	if (mfd < 0 && errno == EINVAL)
		mfd = memfd_create("trun-init", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (mfd < 0) {
		int e = errno;
		close(exe);
		return init_error_set(err, e, "memfd_create \"trun-init\"");
	}
	if (fstat(exe, &sb) < 0 || copy_all(mfd, exe, sb.st_size) < 0) {
		int e = errno;
		close(exe);
		close(mfd);
		return init_error_set(err, e, "copy \"/proc/self/exe\" to a memfd");
	}
	close(exe);
	if (fchmod(mfd, 0555) < 0 || fcntl(mfd, F_ADD_SEALS, REQUIRED_SEALS) < 0) {
		int e = errno;
		close(mfd);
		return init_error_set(err, e, "seal the memfd copy");
	}
	/* execve refuses (ETXTBSY) a file with a writable fd open on it: swap our read-write fd
	 * for a read-only one on the same memfd. */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", mfd);
	ro = open(path, O_RDONLY | O_CLOEXEC);
	close(mfd);
	if (ro < 0)
		return init_error_set(err, errno, "reopen the memfd copy read-only");

	/* The sync socket must survive this exec (it becomes close-on-exec after it). */
	flags = fcntl(sync_fd, F_GETFD);
	if (flags < 0 || fcntl(sync_fd, F_SETFD, flags & ~FD_CLOEXEC) < 0) {
		int e = errno;
		close(ro);
		return init_error_set(err, e, "clear close-on-exec on the sync socket");
	}
	fexecve(ro, argv, environ);
	{
		int e = errno;
		close(ro);
		return init_error_set(err, e, "exec the memfd copy");
	}
}
