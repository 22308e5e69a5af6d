/* The seccomp filter, built with libseccomp from the plan: SECCOMP_INIT creates the context,
 * SECCOMP_RULE adds one rule per op, SECCOMP_LOAD loads it into the kernel. Every number here
 * (actions, comparison operators, filter flags) was computed by TypeScript; this file only
 * maps names to numbers through libseccomp and reports what it refuses.
 *
 * no_new_privs is not libseccomp's decision here (it sets it on load by default): the plan has
 * its own NO_NEW_PRIVS op, so SCMP_FLTATR_CTL_NNP is turned off. Loading without no_new_privs
 * needs CAP_SYS_ADMIN, which is why plans load the filter before dropping capabilities. */
#include <ctype.h>
#include <errno.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <stdio.h>
#include <string.h>

#include "init.h"

/* SECCOMP_FILTER_FLAG_* bits (the OCI spec's names) -> libseccomp filter attributes. */
static const struct {
	uint64_t flag;
	enum scmp_filter_attr attr;
	const char *name;
} filter_flags[] = {
	{ SECCOMP_FILTER_FLAG_TSYNC, SCMP_FLTATR_CTL_TSYNC, "SECCOMP_FILTER_FLAG_TSYNC" },
	{ SECCOMP_FILTER_FLAG_LOG, SCMP_FLTATR_CTL_LOG, "SECCOMP_FILTER_FLAG_LOG" },
	{ SECCOMP_FILTER_FLAG_SPEC_ALLOW, SCMP_FLTATR_CTL_SSB, "SECCOMP_FILTER_FLAG_SPEC_ALLOW" },
};

/* "SCMP_ARCH_X86_64" -> "x86_64", the spelling seccomp_arch_resolve_name() knows. */
static void arch_token(const char *name, char *out, size_t outlen)
{
	size_t i = 0;
	if (strncmp(name, "SCMP_ARCH_", 10) == 0)
		name += 10;
	for (; name[i] && i + 1 < outlen; i++)
		out[i] = (char)tolower((unsigned char)name[i]);
	out[i] = '\0';
}

int op_seccomp_init(struct init_state *st, const struct plan_op *op, struct init_error *err)
{
	uint32_t def = (uint32_t)op->args[0].num;
	char **arches = op->args[1].list;
	uint64_t flags = op->args[2].num;
	scmp_filter_ctx ctx;
	int r;

	if (st->seccomp != NULL) {
		seccomp_release(st->seccomp);
		st->seccomp = NULL;
	}
	ctx = seccomp_init(def);
	if (ctx == NULL)
		return init_error_set(err, EINVAL, "seccomp_init with default action 0x%08x", def);

	r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
	if (r < 0)
		goto fail_attr;

	for (uint32_t i = 0; i < op->args[1].count; i++) {
		char token[64];
		uint32_t arch;
		arch_token(arches[i], token, sizeof(token));
		arch = seccomp_arch_resolve_name(token);
		if (arch == 0) {
			seccomp_release(ctx);
			return init_error_set(err, 0, "unknown architecture \"%s\"", arches[i]);
		}
		r = seccomp_arch_add(ctx, arch);
		if (r < 0 && r != -EEXIST) { /* the native architecture is already there */
			seccomp_release(ctx);
			return init_error_set(err, -r, "add architecture \"%s\"", arches[i]);
		}
	}

	for (size_t i = 0; i < sizeof(filter_flags) / sizeof(filter_flags[0]); i++) {
		if (!(flags & filter_flags[i].flag))
			continue;
		flags &= ~filter_flags[i].flag;
		r = seccomp_attr_set(ctx, filter_flags[i].attr, 1);
		if (r < 0) {
			seccomp_release(ctx);
			return init_error_set(err, -r, "set filter flag %s", filter_flags[i].name);
		}
	}
	if (flags != 0) {
		seccomp_release(ctx);
		return init_error_set(err, EINVAL, "unsupported filter flags 0x%llx", (unsigned long long)flags);
	}
	st->seccomp = ctx;
	return 0;

fail_attr:
	seccomp_release(ctx);
	return init_error_set(err, -r, "seccomp_attr_set");
}

int op_seccomp_rule(struct init_state *st, const struct plan_op *op, struct init_error *err)
{
	const char *name = op->args[0].str;
	uint32_t action = (uint32_t)op->args[1].num;
	const uint64_t *v = op->args[2].vec;
	uint32_t nv = op->args[2].count;
	struct scmp_arg_cmp cmps[6];
	unsigned int ncmp = nv / 4;
	uint32_t def;
	int nr, r;

	if (st->seccomp == NULL)
		return init_error_set(err, EINVAL, "rule for \"%s\" before SECCOMP_INIT", name);
	if (nv % 4 != 0 || ncmp > 6)
		return init_error_set(err, EINVAL, "rule for \"%s\": %u argument values (groups of four, at most six)",
				      name, nv);
	if (action == SCMP_ACT_NOTIFY)
		return init_error_set(err, EINVAL, "rule for \"%s\": SCMP_ACT_NOTIFY is not supported", name);

	nr = seccomp_syscall_resolve_name(name);
	if (nr == __NR_SCMP_ERROR)
		return init_error_set(err, 0, "unknown syscall \"%s\"", name);

	for (unsigned int i = 0; i < ncmp; i++) {
		const uint64_t *g = v + 4 * i; /* [index, value, valueTwo, op] */
		if (g[0] > 5 || g[3] <= _SCMP_CMP_MIN || g[3] >= _SCMP_CMP_MAX)
			return init_error_set(err, EINVAL, "rule for \"%s\": bad comparison (arg %llu, op %llu)",
					      name, (unsigned long long)g[0], (unsigned long long)g[3]);
		cmps[i] = (struct scmp_arg_cmp){
			.arg = (unsigned int)g[0],
			.op = (enum scmp_compare)g[3],
			.datum_a = g[1],
			.datum_b = g[2],
		};
	}

	r = seccomp_rule_add_array(st->seccomp, action, nr, ncmp, cmps);
	if (r == -EACCES && seccomp_attr_get(st->seccomp, SCMP_FLTATR_ACT_DEFAULT, &def) == 0 &&
	    def == action)
		return 0; /* same action as the default: libseccomp refuses a rule that changes nothing */
	if (r < 0)
		return init_error_set(err, -r, "add rule for \"%s\"", name);
	return 0;
}

int op_seccomp_load(struct init_state *st, const struct plan_op *op, struct init_error *err)
{
	int r;

	(void)op;
	if (st->seccomp == NULL)
		return init_error_set(err, EINVAL, "load before SECCOMP_INIT");
	r = seccomp_load(st->seccomp);
	seccomp_release(st->seccomp);
	st->seccomp = NULL;
	if (r < 0)
		return init_error_set(err, -r, "load filter");
	return 0;
}
