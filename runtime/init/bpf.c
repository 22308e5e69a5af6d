/* The cgroup v2 device filter: load the BPF_PROG_TYPE_CGROUP_DEVICE program trun compiled
 * (runtime/linux/cgroups/bpf-devices.ts) and attach it to a cgroup. The program is data here:
 * every decision about which devices it allows was made in TypeScript. trun puts the op first
 * in the create plan, so it runs in the first init process, on the host, as root. */
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "init.h"

/* Verifier log kept for the error message when the kernel refuses the program. */
#define BPF_LOG_BYTES 4096

static int sys_bpf(int cmd, union bpf_attr *attr)
{
	return (int)syscall(SYS_bpf, cmd, attr, sizeof(*attr));
}

/* The reason in a verifier log: its last line, unless that is the "processed N insns"
 * statistics, then the line before. */
static const char *log_reason(char *log)
{
	for (;;) {
		size_t n = strlen(log);
		char *nl, *last;
		while (n > 0 && log[n - 1] == '\n')
			log[--n] = '\0';
		nl = strrchr(log, '\n');
		last = nl ? nl + 1 : log;
		if (nl == NULL || strncmp(last, "processed ", 10) != 0)
			return last;
		*nl = '\0';
	}
}

static int load_and_attach(const struct plan_op *op, struct init_error *err)
{
	const char *cgroup = op->args[0].str;
	const uint64_t *vec = op->args[1].vec;
	uint32_t count = op->args[1].count;
	struct bpf_insn *insns;
	char *log;
	union bpf_attr attr;
	int prog_fd, cg_fd, e;

	if (count == 0)
		return init_error_set(err, EINVAL, "empty device filter for \"%s\"", cgroup);
	insns = calloc(count, sizeof(*insns));
	log = calloc(1, BPF_LOG_BYTES);
	if (insns == NULL || log == NULL) {
		free(insns);
		free(log);
		return init_error_set(err, ENOMEM, "device filter for \"%s\"", cgroup);
	}
	/* u8 code, u8 (src << 4 | dst), s16 off, s32 imm: the u64 as protocol.ts packed it. */
	for (uint32_t i = 0; i < count; i++) {
		uint64_t v = vec[i];
		insns[i].code = (uint8_t)v;
		insns[i].dst_reg = (uint8_t)((v >> 8) & 0xf);
		insns[i].src_reg = (uint8_t)((v >> 12) & 0xf);
		insns[i].off = (int16_t)(uint16_t)(v >> 16);
		insns[i].imm = (int32_t)(uint32_t)(v >> 32);
	}

	memset(&attr, 0, sizeof(attr));
	attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
	attr.insns = (uint64_t)(uintptr_t)insns;
	attr.insn_cnt = count;
	attr.license = (uint64_t)(uintptr_t)"GPL";
	attr.log_buf = (uint64_t)(uintptr_t)log;
	attr.log_size = BPF_LOG_BYTES;
	attr.log_level = 1;
	prog_fd = sys_bpf(BPF_PROG_LOAD, &attr);
	if (prog_fd < 0 && errno == ENOSPC) {
		/* The log did not fit: load again without it, the error is what matters. */
		attr.log_buf = 0;
		attr.log_size = 0;
		attr.log_level = 0;
		prog_fd = sys_bpf(BPF_PROG_LOAD, &attr);
	}
	e = errno;
	free(insns);
	if (prog_fd < 0) {
		int r;
		if (log[0] != '\0')
			r = init_error_set(err, e, "bpf BPF_PROG_LOAD (device filter for \"%s\", verifier: %s)", cgroup,
					   log_reason(log));
		else
			r = init_error_set(err, e, "bpf BPF_PROG_LOAD (device filter for \"%s\")", cgroup);
		free(log);
		return r;
	}
	free(log);

	cg_fd = open(cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cg_fd < 0) {
		e = errno;
		close(prog_fd);
		return init_error_set(err, e, "open \"%s\"", cgroup);
	}
	memset(&attr, 0, sizeof(attr));
	attr.target_fd = (uint32_t)cg_fd;
	attr.attach_bpf_fd = (uint32_t)prog_fd;
	attr.attach_type = BPF_CGROUP_DEVICE;
	attr.attach_flags = BPF_F_ALLOW_MULTI;
	if (sys_bpf(BPF_PROG_ATTACH, &attr) < 0) {
		e = errno;
		close(cg_fd);
		close(prog_fd);
		return init_error_set(err, e, "bpf BPF_PROG_ATTACH \"%s\"", cgroup);
	}
	/* The attachment holds the program: our fds can go. */
	close(cg_fd);
	close(prog_fd);
	return 0;
}

int op_bpf_device_filter(struct init_state *st, const struct plan_op *op, struct init_error *err)
{
	struct init_error soft = { 0 };
	char line[INIT_ERROR_MAX + 32];

	(void)st;
	if (!op->args[2].num)
		return load_and_attach(op, err);
	/* Optional (another mechanism enforces the same rules): say why, then carry on. */
	if (load_and_attach(op, &soft) < 0) {
		snprintf(line, sizeof(line), "warning: bpf_device_filter: %s", soft.msg);
		init_error_to_stderr(line);
	}
	return 0;
}
