/* Error records: formatting "<what> \"<path>\": <strerror>" in lower case, no trailing period. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "error.h"

int init_error_set(struct init_error *err, int errnum, const char *fmt, ...)
{
	va_list ap;
	size_t used;

	err->errnum = errnum;
	if (err->status == 0)
		err->status = 1;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	if (errnum != 0) {
		char buf[256];
		/* GNU strerror_r returns a pointer that may or may not be buf. */
		const char *text = strerror_r(errnum, buf, sizeof(buf));
		used = strlen(err->msg);
		if (used < sizeof(err->msg) - 1) {
			snprintf(err->msg + used, sizeof(err->msg) - used, ": %s", text);
			/* glibc capitalises the first letter ("No such file..."); Go and our style don't. */
			if (used + 2 < sizeof(err->msg))
				err->msg[used + 2] = (char)tolower((unsigned char)err->msg[used + 2]);
		}
	}
	return -1;
}

void init_error_to_stderr(const char *text)
{
	char line[INIT_ERROR_MAX + 32];
	int n = snprintf(line, sizeof(line), "trun-init: %s\n", text);
	if (n > (int)sizeof(line) - 1)
		n = (int)sizeof(line) - 1;
	if (n > 0 && write(STDERR_FILENO, line, (size_t)n) < 0) {
		/* nowhere left to report to */
	}
}
