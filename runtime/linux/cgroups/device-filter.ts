// Attaches the cgroup v2 device filter (CgroupManager.deviceFilter) by running trun-init with a
// one-op plan on the host: the bpf(2) calls are C's, the program and the policy TypeScript's.
import { TrunError } from '../../errors';
import { launchInit } from '../../init/launch';
import { OpCode } from '../../init/protocol';
import type { DeviceRuleInput } from './bpf-devices';
import type { CgroupManager } from './manager';

/**
 * Loads and attaches the filter for `rules` (the config's rules followed by the defaults).
 * Returns warnings: where v1's devices controller enforces the same rules (hybrid hosts), a
 * filter the kernel refuses is a warning; where nothing else does (pure v2), an error.
 */
export async function attachDeviceFilter(m: CgroupManager, rules: readonly DeviceRuleInput[], id?: string): Promise<string[]> {
  const filter = m.deviceFilter(rules);
  if (filter === undefined) return [];
  try {
    await launchInit({
      ops: [{ op: OpCode.BPF_DEVICE_FILTER, cgroupPath: filter.cgroupPath, insns: filter.insns }],
      stdio: ['ignore', 'ignore', 'inherit'],
      ...(id !== undefined ? { id } : {}),
    });
  } catch (e) {
    const message = `attach the eBPF device filter to "${filter.cgroupPath}": ${(e as Error).message}`;
    if (!filter.required) return [`${message} (the v1 devices controller still enforces the device rules)`];
    throw new TrunError('ESYS', message, { ...(id !== undefined ? { id } : {}), path: filter.cgroupPath, syscall: 'bpf', cause: e });
  }
  return [];
}
