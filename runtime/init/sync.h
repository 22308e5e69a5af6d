/* Frames on the sync socket (u32 type, u32 length, payload; little endian), both ways.
 * Writes use MSG_NOSIGNAL: trun may be gone (after `trun create` returned) and a SIGPIPE must
 * not kill the init in the middle of reporting an error. */
#ifndef TRUN_INIT_SYNC_H
#define TRUN_INIT_SYNC_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* Sends one frame in a single send() when possible. Returns -1 with errno set on failure. */
int sync_send(int fd, uint32_t type, const void *payload, size_t len);

/* Convenience for text payloads. */
int sync_send_str(int fd, uint32_t type, const char *text);

/* Reads one frame. Returns 0 with *payload malloc'd (NUL terminated, *len bytes), 1 on a clean
 * EOF before any byte of the frame, -1 with the error record filled otherwise. Frames longer
 * than max_len are refused. */
int sync_recv(int fd, uint32_t *type, char **payload, uint32_t *len, uint32_t max_len,
	      struct init_error *err);

/* Sends SYNC(name) and blocks for the answer: 0 on GO; on ABORT or EOF the process exits 1
 * silently (that is the protocol: trun has already decided and will report). -1 on errors. */
int sync_point(int fd, const char *name, struct init_error *err);

/* The same, keeping what GO carries: *payload is malloc'd and NUL terminated, *len bytes (a
 * payload-less GO gives an empty string). */
int sync_point_payload(int fd, const char *name, char **payload, uint32_t *len, struct init_error *err);

#endif
