// Which controller each part of linux.resources needs, on v1 and on v2: the table apply() walks.
import type { LinuxResources } from '../../../spec/types/runtime';

export interface ResourceEntry {
  /** Key into V1_WRITERS / V2_WRITERS. */
  key: string;
  /** The part of the config, for error messages. */
  what: string;
  /** The v1 controller that owns it. */
  v1: string;
  /** The v2 controller, or null when v2 has none (net_cls, net_prio); "" for core files. */
  v2: string | null;
  isSet(r: LinuxResources): boolean;
}

const defined = (...xs: unknown[]): boolean => xs.some((x) => x !== undefined);

/** Order matters where controllers interact: cpuset before cpu (as runc), devices last. */
export const RESOURCE_TABLE: readonly ResourceEntry[] = [
  { key: 'cpuset', what: 'cpu.cpus/cpu.mems', v1: 'cpuset', v2: 'cpuset', isSet: (r) => Boolean(r.cpu?.cpus || r.cpu?.mems) },
  {
    key: 'cpu',
    what: 'cpu',
    v1: 'cpu',
    v2: 'cpu',
    isSet: (r) => {
      const c = r.cpu;
      return c !== undefined && defined(c.shares, c.quota, c.period, c.burst, c.realtimePeriod, c.realtimeRuntime, c.idle);
    },
  },
  {
    key: 'memory',
    what: 'memory',
    v1: 'memory',
    v2: 'memory',
    isSet: (r) => {
      const m = r.memory;
      return m !== undefined && defined(m.limit, m.reservation, m.swap, m.kernel, m.kernelTCP, m.swappiness, m.disableOOMKiller, m.useHierarchy);
    },
  },
  { key: 'pids', what: 'pids', v1: 'pids', v2: 'pids', isSet: (r) => r.pids !== undefined },
  {
    key: 'blkio',
    what: 'blockIO',
    v1: 'blkio',
    v2: 'io',
    isSet: (r) => {
      const b = r.blockIO;
      if (!b) return false;
      const lists = [b.weightDevice, b.throttleReadBpsDevice, b.throttleWriteBpsDevice, b.throttleReadIOPSDevice, b.throttleWriteIOPSDevice];
      return Boolean(b.weight || b.leafWeight) || lists.some((l) => (l?.length ?? 0) > 0);
    },
  },
  { key: 'hugetlb', what: 'hugepageLimits', v1: 'hugetlb', v2: 'hugetlb', isSet: (r) => (r.hugepageLimits?.length ?? 0) > 0 },
  { key: 'net_cls', what: 'network.classID', v1: 'net_cls', v2: null, isSet: (r) => r.network?.classID !== undefined },
  { key: 'net_prio', what: 'network.priorities', v1: 'net_prio', v2: null, isSet: (r) => (r.network?.priorities?.length ?? 0) > 0 },
  { key: 'rdma', what: 'rdma', v1: 'rdma', v2: 'rdma', isSet: (r) => Object.keys(r.rdma ?? {}).length > 0 },
  // Core on v2: the eBPF filter needs no controller to be enabled.
  { key: 'devices', what: 'devices', v1: 'devices', v2: '', isSet: (r) => (r.devices?.length ?? 0) > 0 },
];
