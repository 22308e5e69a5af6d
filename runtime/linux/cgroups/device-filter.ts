// The cgroup v2 device filter (CgroupManager.deviceFilter) as init ops: the create plan runs
// them first, in the first trun-init process, still on the host and before it joins or makes
// any namespace. The bpf(2) calls are C's; the program and the policy are TypeScript's.
import { type Op, OpCode } from '../../init/protocol';
import type { DeviceRuleInput } from './bpf-devices';
import type { CgroupManager } from './manager';

/**
 * The ops that load and attach the filter for `rules` (the config's rules followed by the
 * defaults); none without a cgroup v2 directory. Where v1's devices controller enforces the same
 * rules (hybrid hosts) a filter the kernel refuses is only a warning; where nothing else does
 * (pure v2) it fails create.
 */
export function deviceFilterOps(m: CgroupManager, rules: readonly DeviceRuleInput[]): Op[] {
  const filter = m.deviceFilter(rules);
  if (filter === undefined) return [];
  return [{ op: OpCode.BPF_DEVICE_FILTER, cgroupPath: filter.cgroupPath, insns: filter.insns, optional: !filter.required }];
}
