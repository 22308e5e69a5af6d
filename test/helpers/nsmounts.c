/* Test helper: prints the superblock device ("major:minor") of every mount in the mount
 * namespace of process PID, one a line, the ones no root can reach included (a chroot hides
 * mounts from /proc/PID/mountinfo, not from listmount(2)). Needs Linux 6.11 or later (listmount
 * and statmount with a mount namespace id); exits 2 when the kernel lacks them.
 *
 *   nsmounts PID
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The kernel ABI, declared here because older headers lack it. */
#define NR_statmount 457
#define NR_listmount 458
#define NS_GET_MNTNS_ID _IOR(0xb7, 0x5, uint64_t)
#define LSMT_ROOT 0xffffffffffffffffULL
#define STATMOUNT_SB_BASIC 0x1ULL

struct mnt_id_req {
	uint32_t size, spare;
	uint64_t mnt_id, param, mnt_ns_id;
};

struct statmount_head { /* the start of struct statmount: what STATMOUNT_SB_BASIC fills */
	uint32_t size, mnt_opts;
	uint64_t mask;
	uint32_t sb_dev_major, sb_dev_minor;
	uint64_t sb_magic;
	uint32_t sb_flags, fs_type;
};

int main(int argc, char **argv)
{
	char path[64];
	uint64_t ns_id = 0, ids[4096];
	struct mnt_id_req req = { .size = sizeof(req), .mnt_id = LSMT_ROOT };
	long n;
	int fd;

	if (argc != 2) {
		fprintf(stderr, "usage: nsmounts PID\n");
		return 1;
	}
	snprintf(path, sizeof(path), "/proc/%s/ns/mnt", argv[1]);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || ioctl(fd, NS_GET_MNTNS_ID, &ns_id) < 0) {
		fprintf(stderr, "nsmounts: %s: %s\n", path, strerror(errno));
		return errno == ENOTTY ? 2 : 1;
	}
	req.mnt_ns_id = ns_id;
	n = syscall(NR_listmount, &req, ids, sizeof(ids) / sizeof(ids[0]), 0);
	if (n < 0) {
		fprintf(stderr, "nsmounts: listmount: %s\n", strerror(errno));
		return errno == ENOSYS ? 2 : 1;
	}
	for (long i = 0; i < n; i++) {
		union {
			struct statmount_head h;
			char buf[4096];
		} sm;
		struct mnt_id_req one = { .size = sizeof(one), .mnt_id = ids[i], .param = STATMOUNT_SB_BASIC, .mnt_ns_id = ns_id };
		if (syscall(NR_statmount, &one, &sm, sizeof(sm), 0) < 0) {
			fprintf(stderr, "nsmounts: statmount %llu: %s\n", (unsigned long long)ids[i], strerror(errno));
			return 1;
		}
		printf("%u:%u\n", sm.h.sb_dev_major, sm.h.sb_dev_minor);
	}
	return 0;
}
