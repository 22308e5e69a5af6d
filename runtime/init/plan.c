/* Decoder for the binary init plan (format in protocol.ts, "encoding" section):
 *
 *   plan   := u32 magic, u32 version, u32 op count, op*
 *   op     := u16 opcode, u16 arg count, arg*
 *   arg    := u8 kind, payload   ('n' u64 | 's' u32 len + bytes | 'l' u32 n + n strings
 *                                 | 'v' u32 n + n u64)
 *
 * Every op has a signature string below; one letter per argument, in wire order:
 *   n  number, any u64          w  number that must fit in 32 bits     b  number 0 or 1
 *   s  string                   l  list of strings                     v  vector of u64
 * The table is the C half of opArgs() in protocol.ts: keep the two in step.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"

struct op_info {
	const char *name;
	const char *sig;
};

static const struct op_info op_table[OP_MAX + 1] = {
	[OP_SETNS] = { "setns", "sw" },
	[OP_UNSHARE] = { "unshare", "w" },
	[OP_WRITE_FILE] = { "write_file", "ssb" },
	[OP_CLONE] = { "clone", "nw" },
	[OP_SYNC] = { "sync", "s" },
	[OP_OPEN_CONSOLE_SOCKET] = { "open_console_socket", "s" },
	[OP_OPEN_FIFO] = { "open_fifo", "s" },
	[OP_SET_ID] = { "set_id", "ww" },
	[OP_SET_ROOTFS] = { "set_rootfs", "s" },
	[OP_MOUNT] = { "mount", "sssnsw" },
	[OP_MKNOD] = { "mknod", "swwwww" },
	[OP_SYMLINK] = { "symlink", "ss" },
	[OP_PIVOT_ROOT] = { "pivot_root", "" },
	[OP_MOVE_ROOT] = { "move_root", "" },
	[OP_MASK_PATH] = { "mask_path", "s" },
	[OP_READONLY_PATH] = { "readonly_path", "s" },
	[OP_SETHOSTNAME] = { "sethostname", "s" },
	[OP_SETDOMAINNAME] = { "setdomainname", "s" },
	[OP_RLIMIT] = { "rlimit", "wnn" },
	[OP_USER] = { "user", "wwv" },
	[OP_UMASK] = { "umask", "w" },
	[OP_CAPBSET] = { "capbset", "n" },
	[OP_CAPSET] = { "capset", "nnnnw" },
	[OP_NO_NEW_PRIVS] = { "no_new_privs", "" },
	[OP_SECCOMP_INIT] = { "seccomp_init", "wlw" },
	[OP_SECCOMP_RULE] = { "seccomp_rule", "swv" },
	[OP_SECCOMP_LOAD] = { "seccomp_load", "" },
	[OP_CONSOLE] = { "console", "ww" },
	[OP_CHDIR] = { "chdir", "sw" },
	[OP_WAIT_FIFO] = { "wait_fifo", "" },
	[OP_RESOLVE_EXEC] = { "resolve_exec", "ss" },
	[OP_EXEC] = { "exec", "l" },
	[OP_MKDIR] = { "mkdir", "sw" },
	[OP_SETSID] = { "setsid", "" },
	[OP_SCHEDULER] = { "scheduler", "wnnwnnn" },
	[OP_IOPRIO] = { "ioprio", "ww" },
	[OP_PERSONALITY] = { "personality", "w" },
	[OP_CPU_AFFINITY] = { "cpu_affinity", "v" },
	[OP_JOIN_SESSION_KEYRING] = { "join_session_keyring", "swb" },
	[OP_CONSOLE_RELAY] = { "console_relay", "w" },
	[OP_BPF_DEVICE_FILTER] = { "bpf_device_filter", "svb" },
	[OP_SECCOMP_LISTENER] = { "seccomp_listener", "s" },
	[OP_SECCOMP_LOAD_NOTIFY] = { "seccomp_load_notify", "s" },
	[OP_SET_MEMPOLICY] = { "mempolicy", "wwv" },
	[OP_IDMAP_TREE] = { "idmap_tree", "ssswww" },
	[OP_MOUNT_TREE] = { "mount_tree", "wsw" },
	[OP_PARENT_PROPAGATION] = { "parent_propagation", "snn" },
	[OP_MOUNT_SETATTR] = { "mount_setattr", "swwb" },
	[OP_BIND_TREE] = { "bind_tree", "swww" },
	[OP_UNMOUNT_FULL] = { "unmount_full", "ls" },
	[OP_EXEC_PREPARE] = { "exec_prepare", "lww" },
	[OP_SECCOMP_ENOSYS] = { "seccomp_enosys", "ll" },
	[OP_CHROOT] = { "chroot", "s" },
	[OP_UNMOUNT] = { "unmount", "sw" },
};

const char *op_name(uint16_t code)
{
	if (code > OP_MAX || op_table[code].name == NULL)
		return "unknown op";
	return op_table[code].name;
}

/* A bounds-checked cursor over the input. Every read fails cleanly at the end of the buffer. */
struct cursor {
	const uint8_t *p;
	size_t left;
	size_t off; /* offset from the start, for error messages */
};

static int take(struct cursor *c, size_t n, const uint8_t **out)
{
	if (c->left < n)
		return -1;
	*out = c->p;
	c->p += n;
	c->left -= n;
	c->off += n;
	return 0;
}

static int get_u8(struct cursor *c, uint8_t *v)
{
	const uint8_t *b;
	if (take(c, 1, &b) < 0)
		return -1;
	*v = b[0];
	return 0;
}

static int get_u16(struct cursor *c, uint16_t *v)
{
	const uint8_t *b;
	if (take(c, 2, &b) < 0)
		return -1;
	*v = (uint16_t)(b[0] | (b[1] << 8));
	return 0;
}

static int get_u32(struct cursor *c, uint32_t *v)
{
	const uint8_t *b;
	if (take(c, 4, &b) < 0)
		return -1;
	*v = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
	return 0;
}

static int get_u64(struct cursor *c, uint64_t *v)
{
	uint32_t lo, hi;
	if (get_u32(c, &lo) < 0 || get_u32(c, &hi) < 0)
		return -1;
	*v = (uint64_t)hi << 32 | lo;
	return 0;
}

/* A length-prefixed string, copied and NUL terminated. Embedded NULs are refused because every
 * consumer is a C string API that would silently truncate. */
static int get_str(struct cursor *c, char **out, uint32_t *outlen, struct init_error *err)
{
	uint32_t len;
	const uint8_t *b;
	char *s;

	if (get_u32(c, &len) < 0 || take(c, len, &b) < 0)
		return init_error_set(err, 0, "truncated string at byte %zu", c->off);
	if (memchr(b, 0, len) != NULL)
		return init_error_set(err, 0, "string with a NUL byte at byte %zu", c->off - len);
	s = malloc((size_t)len + 1);
	if (s == NULL)
		return init_error_set(err, ENOMEM, "decode plan");
	memcpy(s, b, len);
	s[len] = '\0';
	*out = s;
	if (outlen)
		*outlen = len;
	return 0;
}

static int decode_arg(struct cursor *c, char want, struct plan_arg *a, struct init_error *err)
{
	uint8_t kind;
	char wire = (want == 'w' || want == 'b') ? 'n' : want;

	if (get_u8(c, &kind) < 0)
		return init_error_set(err, 0, "truncated argument at byte %zu", c->off);
	if (kind != (uint8_t)wire)
		return init_error_set(err, 0, "argument of kind 0x%02x where '%c' was expected at byte %zu",
				      kind, wire, c->off - 1);
	a->kind = kind;
	switch (want) {
	case 'n':
	case 'w':
	case 'b':
		if (get_u64(c, &a->num) < 0)
			return init_error_set(err, 0, "truncated number at byte %zu", c->off);
		if (want == 'w' && a->num > UINT32_MAX)
			return init_error_set(err, 0, "number %" PRIu64 " does not fit in 32 bits", a->num);
		if (want == 'b' && a->num > 1)
			return init_error_set(err, 0, "boolean with value %" PRIu64, a->num);
		return 0;
	case 's':
		return get_str(c, &a->str, &a->count, err);
	case 'l': {
		uint32_t n;
		if (get_u32(c, &n) < 0)
			return init_error_set(err, 0, "truncated list at byte %zu", c->off);
		/* Each item takes at least 4 bytes: a count larger than that cannot be honest. */
		if (n > c->left / 4)
			return init_error_set(err, 0, "list of %" PRIu32 " items overruns the plan", n);
		a->count = n;
		a->list = calloc((size_t)n + 1, sizeof(char *));
		if (a->list == NULL)
			return init_error_set(err, ENOMEM, "decode plan");
		for (uint32_t i = 0; i < n; i++)
			if (get_str(c, &a->list[i], NULL, err) < 0)
				return -1;
		return 0;
	}
	case 'v': {
		uint32_t n;
		if (get_u32(c, &n) < 0)
			return init_error_set(err, 0, "truncated vector at byte %zu", c->off);
		if (n > c->left / 8)
			return init_error_set(err, 0, "vector of %" PRIu32 " items overruns the plan", n);
		a->count = n;
		a->vec = calloc((size_t)n + 1, sizeof(uint64_t));
		if (a->vec == NULL)
			return init_error_set(err, ENOMEM, "decode plan");
		for (uint32_t i = 0; i < n; i++)
			if (get_u64(c, &a->vec[i]) < 0)
				return init_error_set(err, 0, "truncated vector at byte %zu", c->off);
		return 0;
	}
	}
	return init_error_set(err, 0, "bad signature letter '%c'", want);
}

int plan_decode(const uint8_t *buf, size_t len, struct plan *out, struct init_error *err)
{
	struct cursor c = { buf, len, 0 };
	uint32_t magic, version, nops;

	if (get_u32(&c, &magic) < 0 || get_u32(&c, &version) < 0 || get_u32(&c, &nops) < 0)
		return init_error_set(err, 0, "truncated plan header");
	if (magic != PLAN_MAGIC)
		return init_error_set(err, 0, "bad plan magic 0x%08" PRIx32, magic);
	if (version != PLAN_VERSION)
		return init_error_set(err, 0, "unsupported plan version %" PRIu32 " (want %u)", version,
				      PLAN_VERSION);
	/* An op is at least 4 bytes (opcode + arg count). */
	if (nops > c.left / 4)
		return init_error_set(err, 0, "plan announces %" PRIu32 " ops but is too short", nops);

	out->nops = nops;
	out->ops = calloc(nops ? nops : 1, sizeof(struct plan_op));
	if (out->ops == NULL)
		return init_error_set(err, ENOMEM, "decode plan");

	for (uint32_t i = 0; i < nops; i++) {
		struct plan_op *op = &out->ops[i];
		const char *sig;

		if (get_u16(&c, &op->code) < 0 || get_u16(&c, &op->nargs) < 0)
			return init_error_set(err, 0, "truncated op %" PRIu32, i);
		if (op->code == 0 || op->code > OP_MAX || op_table[op->code].sig == NULL)
			return init_error_set(err, 0, "op %" PRIu32 ": unknown opcode %u", i, op->code);
		sig = op_table[op->code].sig;
		if (op->nargs != strlen(sig))
			return init_error_set(err, 0, "op %" PRIu32 " (%s): %u arguments, want %zu", i,
					      op_table[op->code].name, op->nargs, strlen(sig));
		for (uint16_t j = 0; j < op->nargs; j++) {
			if (decode_arg(&c, sig[j], &op->args[j], err) < 0) {
				/* Prefix which op and argument went wrong. */
				char inner[INIT_ERROR_MAX];
				memcpy(inner, err->msg, sizeof(inner));
				return init_error_set(err, 0, "op %" PRIu32 " (%s) argument %u: %s", i,
						      op_table[op->code].name, j, inner);
			}
		}
	}
	if (c.left != 0)
		return init_error_set(err, 0, "%zu trailing bytes after the last op", c.left);
	return 0;
}

/* JSON string: UTF-8 passes through as is; quotes, backslashes and control bytes are escaped. */
static void json_string(FILE *out, const char *s)
{
	fputc('"', out);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '"': fputs("\\\"", out); break;
		case '\\': fputs("\\\\", out); break;
		case '\n': fputs("\\n", out); break;
		case '\r': fputs("\\r", out); break;
		case '\t': fputs("\\t", out); break;
		default:
			if (*p < 0x20 || *p == 0x7f)
				fprintf(out, "\\u%04x", *p);
			else
				fputc(*p, out);
		}
	}
	fputc('"', out);
}

void plan_dump_json(FILE *out, const struct plan *plan)
{
	fputc('[', out);
	for (uint32_t i = 0; i < plan->nops; i++) {
		const struct plan_op *op = &plan->ops[i];
		fprintf(out, "%s{\"op\":%u,\"args\":[", i ? ",\n" : "\n", op->code);
		for (uint16_t j = 0; j < op->nargs; j++) {
			const struct plan_arg *a = &op->args[j];
			if (j)
				fputc(',', out);
			switch (a->kind) {
			case ARG_NUM:
				fprintf(out, "\"%" PRIu64 "\"", a->num);
				break;
			case ARG_STR:
				json_string(out, a->str);
				break;
			case ARG_LIST:
				fputc('[', out);
				for (uint32_t k = 0; k < a->count; k++) {
					if (k)
						fputc(',', out);
					json_string(out, a->list[k]);
				}
				fputc(']', out);
				break;
			case ARG_VEC:
				fputc('[', out);
				for (uint32_t k = 0; k < a->count; k++)
					fprintf(out, "%s\"%" PRIu64 "\"", k ? "," : "", a->vec[k]);
				fputc(']', out);
				break;
			}
		}
		fputs("]}", out);
	}
	fputs("\n]\n", out);
}
