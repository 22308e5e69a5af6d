/* Process attributes the user's process inherits across execve: scheduling policy (SCHEDULER),
 * I/O priority (IOPRIO), execution domain (PERSONALITY), CPU affinity (CPU_AFFINITY) and NUMA
 * memory policy (SET_MEMPOLICY). Each op is one system call with numbers trun already converted
 * from the config's names and checked. */
#include <errno.h>
#include <stdint.h>
#include <sys/personality.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "init.h"

/* struct sched_attr as of Linux 3.14 (SCHED_ATTR_SIZE_VER0): glibc has no wrapper for it. */
struct sched_attr_v0 {
	uint32_t size;
	uint32_t sched_policy;
	uint64_t sched_flags;
	int32_t sched_nice;
	uint32_t sched_priority;
	uint64_t sched_runtime;
	uint64_t sched_deadline;
	uint64_t sched_period;
};

#define IOPRIO_WHO_PROCESS 1
#define IOPRIO_CLASS_SHIFT 13

int op_scheduler(struct init_state *st, const struct plan_op *op, struct init_error *err)
{
	int64_t nice = (int64_t)op->args[2].num; /* two's complement on the wire */
	struct sched_attr_v0 attr = {
		.size = sizeof(attr),
		.sched_policy = (uint32_t)op->args[0].num,
		.sched_flags = op->args[1].num,
		.sched_priority = (uint32_t)op->args[3].num,
		.sched_runtime = op->args[4].num,
		.sched_deadline = op->args[5].num,
		.sched_period = op->args[6].num,
	};

	(void)st;
	if (nice < INT32_MIN || nice > INT32_MAX)
		return init_error_set(err, EINVAL, "nice %lld", (long long)nice);
	attr.sched_nice = (int32_t)nice;
	if (syscall(SYS_sched_setattr, 0, &attr, 0) < 0)
		return init_error_set(err, errno, "sched_setattr policy %u", attr.sched_policy);
	return 0;
}

int op_ioprio(struct init_state *st, const struct plan_op *op, struct init_error *err)
{
	uint64_t class = op->args[0].num, level = op->args[1].num;

	(void)st;
	/* IOPRIO_PRIO_VALUE: 3 bits of class above 13 bits of data. */
	if (class > 7 || level >= 1u << IOPRIO_CLASS_SHIFT)
		return init_error_set(err, EINVAL, "ioprio class %llu level %llu", (unsigned long long)class,
				      (unsigned long long)level);
	if (syscall(SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, (int)(class << IOPRIO_CLASS_SHIFT | level)) < 0)
		return init_error_set(err, errno, "ioprio_set class %llu level %llu",
				      (unsigned long long)class, (unsigned long long)level);
	return 0;
}

int op_personality(struct init_state *st, const struct plan_op *op, struct init_error *err)
{
	unsigned long persona = (unsigned long)op->args[0].num;

	(void)st;
	/* 0xffffffff only queries: a plan never means that. */
	if (persona == 0xffffffffUL)
		return init_error_set(err, EINVAL, "personality 0x%lx", persona);
	if (personality(persona) < 0)
		return init_error_set(err, errno, "personality 0x%lx", persona);
	return 0;
}

int op_cpu_affinity(struct init_state *st, const struct plan_op *op, struct init_error *err)
{
	const struct plan_arg *mask = &op->args[0];

	(void)st;
	/* The kernel reads an array of longs, bit n of the array being cpu n: on a little endian
	 * machine an array of u64 is that same bit string, whatever the size of long. */
	if (syscall(SYS_sched_setaffinity, 0, (size_t)mask->count * sizeof(uint64_t), mask->vec) < 0)
		return init_error_set(err, errno, "sched_setaffinity");
	return 0;
}

int op_set_mempolicy(struct init_state *st, const struct plan_op *op, struct init_error *err)
{
	uint64_t mode = op->args[0].num, flags = op->args[1].num;
	const struct plan_arg *nodes = &op->args[2];
	/* The kernel reads maxnode - 1 bits (an old off-by-one every caller lives with, numactl
	 * included): one past the words we send, or all of their last bit would be lost. */
	unsigned long maxnode = nodes->count ? (unsigned long)nodes->count * 64 + 1 : 0;

	(void)st;
	/* glibc has no wrapper (libnuma's is not worth a dependency). The mode and its flags share
	 * one int; the node mask is read like sched_setaffinity's, as an array of longs. */
	if (syscall(SYS_set_mempolicy, (int)(mode | flags), nodes->count ? nodes->vec : NULL, maxnode) < 0)
		return init_error_set(err, errno, "set_mempolicy mode %llu flags 0x%llx",
				      (unsigned long long)mode, (unsigned long long)flags);
	return 0;
}
