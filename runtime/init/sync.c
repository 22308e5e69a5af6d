/* The sync socket: framing and the SYNC/GO/ABORT handshake (protocol in protocol.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "protocol.h"
#include "sync.h"

static void put_u32(uint8_t *b, uint32_t v)
{
	b[0] = (uint8_t)v;
	b[1] = (uint8_t)(v >> 8);
	b[2] = (uint8_t)(v >> 16);
	b[3] = (uint8_t)(v >> 24);
}

static uint32_t read_u32(const uint8_t *b)
{
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static int send_all(int fd, const uint8_t *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

int sync_send(int fd, uint32_t type, const void *payload, size_t len)
{
	uint8_t small[8 + 512];
	uint8_t *buf = small;
	int ret, saved;

	if (len > UINT32_MAX) {
		errno = EMSGSIZE;
		return -1;
	}
	/* One buffer, one send: the whole frame lands in the socket together. */
	if (len > sizeof(small) - 8) {
		buf = malloc(8 + len);
		if (buf == NULL)
			return -1;
	}
	put_u32(buf, type);
	put_u32(buf + 4, (uint32_t)len);
	if (len)
		memcpy(buf + 8, payload, len);
	ret = send_all(fd, buf, 8 + len);
	saved = errno;
	if (buf != small)
		free(buf);
	errno = saved;
	return ret;
}

int sync_send_str(int fd, uint32_t type, const char *text)
{
	return sync_send(fd, type, text, strlen(text));
}

/* Reads exactly len bytes: 0 ok, 1 EOF before the first byte, -1 error (errno set; a short
 * read after the first byte is EPIPE-like truncation and reported as EIO). */
static int read_full(int fd, uint8_t *buf, size_t len)
{
	size_t got = 0;
	while (got < len) {
		ssize_t n = read(fd, buf + got, len - got);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0) {
			if (got == 0)
				return 1;
			errno = EIO;
			return -1;
		}
		got += (size_t)n;
	}
	return 0;
}

int sync_recv(int fd, uint32_t *type, char **payload, uint32_t *len, uint32_t max_len,
	      struct init_error *err)
{
	uint8_t head[8];
	char *body;
	int r;

	r = read_full(fd, head, sizeof(head));
	if (r == 1)
		return 1;
	if (r < 0)
		return init_error_set(err, errno, "read sync socket");
	*type = read_u32(head);
	*len = read_u32(head + 4);
	if (*len > max_len)
		return init_error_set(err, 0, "frame of type %u with %u bytes is too large", *type, *len);
	body = malloc((size_t)*len + 1);
	if (body == NULL)
		return init_error_set(err, ENOMEM, "read sync socket");
	r = read_full(fd, (uint8_t *)body, *len);
	if (r != 0) {
		free(body);
		return init_error_set(err, r < 0 ? errno : EIO, "read sync socket: truncated frame");
	}
	body[*len] = '\0';
	*payload = body;
	return 0;
}

int sync_point_payload(int fd, const char *name, char **payload, uint32_t *len, struct init_error *err)
{
	uint32_t type;
	char *body = NULL;
	int r;

	if (sync_send_str(fd, MSG_SYNC, name) < 0)
		return init_error_set(err, errno, "send sync \"%s\"", name);
	r = sync_recv(fd, &type, &body, len, 1 << 20, err);
	if (r < 0)
		return -1;
	if (r == 1)
		_exit(1); /* trun went away: nobody to report to, and we must not carry on */
	if (type == MSG_GO) {
		*payload = body;
		return 0;
	}
	free(body);
	if (type == MSG_ABORT)
		_exit(1); /* trun decided to stop; it reports the reason itself */
	return init_error_set(err, 0, "sync \"%s\": unexpected answer of type %u", name, type);
}

int sync_point(int fd, const char *name, struct init_error *err)
{
	char *payload;
	uint32_t len;

	if (sync_point_payload(fd, name, &payload, &len, err) < 0)
		return -1;
	free(payload);
	return 0;
}
