/* The decoded init plan: a flat array of ops, each with its arguments already checked against
 * the op's signature, so op handlers read them without further validation of kinds or counts.
 * Decoding copies every string into its own NUL-terminated allocation; the plan lives until the
 * process execs or exits, so nothing is ever freed. */
#ifndef TRUN_INIT_PLAN_H
#define TRUN_INIT_PLAN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "error.h"
#include "protocol.h"

#define PLAN_MAX_ARGS 8

struct plan_arg {
	uint8_t kind; /* enum arg_kind */
	uint32_t count; /* ARG_LIST / ARG_VEC: number of items; ARG_STR: byte length */
	union {
		uint64_t num;    /* ARG_NUM */
		char *str;       /* ARG_STR, NUL terminated (NULs inside are refused) */
		char **list;     /* ARG_LIST, NULL terminated array (usable as argv/envp) */
		uint64_t *vec;   /* ARG_VEC */
	};
};

struct plan_op {
	uint16_t code; /* enum op_code */
	uint16_t nargs;
	struct plan_arg args[PLAN_MAX_ARGS];
};

struct plan {
	uint32_t nops;
	struct plan_op *ops;
};

/* Decodes an encoded plan (not framed). Refuses bad magic/version, truncation, trailing bytes,
 * unknown opcodes and arguments whose kind, count or range do not match the op's signature. */
int plan_decode(const uint8_t *buf, size_t len, struct plan *out, struct init_error *err);

/* Prints the JSON protocol.ts's planAsDumpJson() produces: [{"op":N,"args":[...]}], numbers
 * as decimal strings. */
void plan_dump_json(FILE *out, const struct plan *plan);

/* Lower-case op name used as the prefix of ERROR messages ("mount", "resolve_exec"). */
const char *op_name(uint16_t code);

#endif
