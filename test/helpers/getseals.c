/* Prints the memfd seals (fcntl F_GET_SEALS, decimal) of the file at a path, for tests that
 * check trun-init runs from a sealed copy: `getseals /proc/<pid>/exe`. Node.js has no fcntl.
 * Exit status 1 (with a message) when the file cannot be opened or is not a memfd. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
	int fd, seals;

	if (argc != 2) {
		fprintf(stderr, "usage: getseals <path>\n");
		return 1;
	}
	fd = open(argv[1], O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "getseals: open %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	seals = fcntl(fd, F_GET_SEALS);
	if (seals < 0) {
		fprintf(stderr, "getseals: F_GET_SEALS %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	printf("%d\n", seals);
	return 0;
}
