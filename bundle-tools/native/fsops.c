/*
 * trun-bundle-fsops: the few file operations Node.js has no API for (mknod of devices, fifos and
 * overlayfs whiteouts; reading and writing extended attributes without following symlinks),
 * executed one request at a time for bundle-tools/lib/fsops.ts. It holds no policy: the
 * TypeScript side has already checked every path. Never follows a symlink in the last component.
 *
 * Protocol (all integers little-endian u32), on stdin/stdout:
 *   request:  len | op | fields...          len counts the bytes after itself
 *   fields:   a string or blob is u32 length + bytes (no NUL); numbers are u32
 *   op 1 MKNOD     path, mode, major, minor
 *   op 2 SETXATTR  path, name, value
 *   op 3 LISTXATTR path                     -> reply payload: count, then (name, value) pairs
 *   reply:    len | errno | payload         errno 0 on success
 * EOF on stdin ends the process with status 0.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <unistd.h>

enum { OP_MKNOD = 1, OP_SETXATTR = 2, OP_LISTXATTR = 3 };
#define MAX_REQUEST (16u << 20)

struct reader {
	const unsigned char *p;
	uint32_t left;
	int bad;
};

static int read_full(int fd, void *buf, size_t n)
{
	unsigned char *b = buf;
	while (n > 0) {
		ssize_t r = read(fd, b, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		b += r;
		n -= (size_t)r;
	}
	return 0;
}

static int write_full(int fd, const void *buf, size_t n)
{
	const unsigned char *b = buf;
	while (n > 0) {
		ssize_t r = write(fd, b, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		b += r;
		n -= (size_t)r;
	}
	return 0;
}

static uint32_t get_u32(struct reader *r)
{
	uint32_t v;
	if (r->left < 4) {
		r->bad = 1;
		return 0;
	}
	v = (uint32_t)r->p[0] | (uint32_t)r->p[1] << 8 | (uint32_t)r->p[2] << 16 | (uint32_t)r->p[3] << 24;
	r->p += 4;
	r->left -= 4;
	return v;
}

/* Copies a length-prefixed field into a fresh NUL-terminated buffer (the caller frees it). */
static char *get_bytes(struct reader *r, uint32_t *len_out)
{
	uint32_t len = get_u32(r);
	char *s;
	if (r->bad || len > r->left) {
		r->bad = 1;
		return NULL;
	}
	s = malloc((size_t)len + 1);
	if (s == NULL) {
		r->bad = 1;
		return NULL;
	}
	memcpy(s, r->p, len);
	s[len] = '\0';
	r->p += len;
	r->left -= len;
	if (len_out)
		*len_out = len;
	return s;
}

static void put_u32(unsigned char *p, uint32_t v)
{
	p[0] = v & 0xff;
	p[1] = (v >> 8) & 0xff;
	p[2] = (v >> 16) & 0xff;
	p[3] = (v >> 24) & 0xff;
}

static int reply(int err, const unsigned char *payload, uint32_t len)
{
	unsigned char head[8];
	put_u32(head, 4 + len);
	put_u32(head + 4, (uint32_t)err);
	if (write_full(1, head, sizeof head) < 0)
		return -1;
	if (len > 0 && write_full(1, payload, len) < 0)
		return -1;
	return 0;
}

/* Appends a u32-prefixed field to a growing buffer; returns -1 on allocation failure. */
static int append(unsigned char **buf, uint32_t *len, uint32_t *cap, const void *data, uint32_t n, int prefixed)
{
	uint32_t need = *len + n + (prefixed ? 4 : 0);
	if (need > *cap) {
		uint32_t ncap = *cap ? *cap : 256;
		unsigned char *nb;
		while (ncap < need)
			ncap *= 2;
		nb = realloc(*buf, ncap);
		if (nb == NULL)
			return -1;
		*buf = nb;
		*cap = ncap;
	}
	if (prefixed) {
		put_u32(*buf + *len, n);
		*len += 4;
	}
	memcpy(*buf + *len, data, n);
	*len += n;
	return 0;
}

static int do_listxattr(const char *path)
{
	ssize_t size = llistxattr(path, NULL, 0);
	char *names = NULL;
	unsigned char *out = NULL;
	uint32_t len = 0, cap = 0, count = 0;
	int rc;
	if (size < 0)
		return reply(errno, NULL, 0);
	names = malloc((size_t)size + 1);
	if (names == NULL)
		return reply(ENOMEM, NULL, 0);
	size = llistxattr(path, names, (size_t)size);
	if (size < 0) {
		rc = reply(errno, NULL, 0);
		free(names);
		return rc;
	}
	if (append(&out, &len, &cap, &count, 4, 0) < 0)
		goto nomem;
	for (char *n = names; n < names + size; n += strlen(n) + 1) {
		ssize_t vsize = lgetxattr(path, n, NULL, 0);
		char *value;
		if (vsize < 0) {
			if (errno == ENODATA)
				continue; /* removed between list and get */
			rc = reply(errno, NULL, 0);
			goto out;
		}
		value = malloc((size_t)vsize + 1);
		if (value == NULL)
			goto nomem;
		vsize = lgetxattr(path, n, value, (size_t)vsize);
		if (vsize < 0) {
			free(value);
			rc = reply(errno, NULL, 0);
			goto out;
		}
		if (append(&out, &len, &cap, n, (uint32_t)strlen(n), 1) < 0 ||
		    append(&out, &len, &cap, value, (uint32_t)vsize, 1) < 0) {
			free(value);
			goto nomem;
		}
		free(value);
		count++;
	}
	put_u32(out, count);
	rc = reply(0, out, len);
	goto out;
nomem:
	rc = reply(ENOMEM, NULL, 0);
out:
	free(names);
	free(out);
	return rc;
}

static int handle(struct reader *r)
{
	uint32_t op = get_u32(r);
	char *path = get_bytes(r, NULL);
	int rc = 0;

	if (r->bad) {
		free(path);
		return -1;
	}
	switch (op) {
	case OP_MKNOD: {
		uint32_t mode = get_u32(r), major = get_u32(r), minor = get_u32(r);
		if (r->bad) {
			rc = -1;
			break;
		}
		rc = reply(mknod(path, (mode_t)mode, makedev(major, minor)) < 0 ? errno : 0, NULL, 0);
		break;
	}
	case OP_SETXATTR: {
		uint32_t vlen = 0;
		char *name = get_bytes(r, NULL);
		char *value = get_bytes(r, &vlen);
		if (r->bad)
			rc = -1;
		else
			rc = reply(lsetxattr(path, name, value, vlen, 0) < 0 ? errno : 0, NULL, 0);
		free(name);
		free(value);
		break;
	}
	case OP_LISTXATTR:
		rc = do_listxattr(path);
		break;
	default:
		rc = reply(EINVAL, NULL, 0);
	}
	free(path);
	return rc;
}

int main(void)
{
	for (;;) {
		unsigned char head[4];
		unsigned char *body;
		struct reader r;
		uint32_t len;

		if (read_full(0, head, sizeof head) < 0)
			return 0;
		len = (uint32_t)head[0] | (uint32_t)head[1] << 8 | (uint32_t)head[2] << 16 | (uint32_t)head[3] << 24;
		if (len > MAX_REQUEST) {
			fprintf(stderr, "trun-bundle-fsops: request of %u bytes is too large\n", len);
			return 1;
		}
		body = malloc(len ? len : 1);
		if (body == NULL || read_full(0, body, len) < 0) {
			fprintf(stderr, "trun-bundle-fsops: truncated request\n");
			return 1;
		}
		r.p = body;
		r.left = len;
		r.bad = 0;
		if (handle(&r) < 0) {
			fprintf(stderr, "trun-bundle-fsops: malformed request or broken pipe\n");
			free(body);
			return 1;
		}
		free(body);
	}
}
