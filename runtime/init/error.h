/* The error record every fallible function of the init fills (crun style): a function that
 * fails returns -1 after calling init_error_set(), and the record travels up to main(), which
 * sends it to trun as an ERROR frame ("<op name>: <message>") and exits. Nothing deep inside
 * calls exit. */
#ifndef TRUN_INIT_ERROR_H
#define TRUN_INIT_ERROR_H

#define INIT_ERROR_MAX 2048

struct init_error {
	int errnum; /* errno of the failing call, 0 when not a system call failure */
	int status; /* exit status the init uses after reporting (1 unless said otherwise) */
	int also_stderr; /* also write the message to stderr (EXEC failures: trun may be gone) */
	char msg[INIT_ERROR_MAX];
};

/* Formats the message; when errnum is not 0 it appends ": <strerror(errnum)>" with the first
 * letter lower-cased ("no such file or directory"). Always returns -1 so callers can write
 * `return init_error_set(err, errno, "open \"%s\"", path);`. */
int init_error_set(struct init_error *err, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Writes "trun-init: <text>\n" to stderr, ignoring failures (last resort reporting). */
void init_error_to_stderr(const char *text);

#endif
