// Namespace types of the runtime spec: their clone flags and their names under /proc/<pid>/ns.

export type NamespaceType = 'pid' | 'network' | 'mount' | 'ipc' | 'uts' | 'user' | 'cgroup' | 'time';

export const CLONE_NEWNS = 0x00020000;
export const CLONE_NEWCGROUP = 0x02000000;
export const CLONE_NEWUTS = 0x04000000;
export const CLONE_NEWIPC = 0x08000000;
export const CLONE_NEWUSER = 0x10000000;
export const CLONE_NEWPID = 0x20000000;
export const CLONE_NEWNET = 0x40000000;
export const CLONE_NEWTIME = 0x00000080;

export interface NamespaceInfo {
  flag: number;
  /** The entry in /proc/<pid>/ns/. */
  proc: string;
}

export const NAMESPACES: Readonly<Record<NamespaceType, NamespaceInfo>> = {
  pid: { flag: CLONE_NEWPID, proc: 'pid' },
  network: { flag: CLONE_NEWNET, proc: 'net' },
  mount: { flag: CLONE_NEWNS, proc: 'mnt' },
  ipc: { flag: CLONE_NEWIPC, proc: 'ipc' },
  uts: { flag: CLONE_NEWUTS, proc: 'uts' },
  user: { flag: CLONE_NEWUSER, proc: 'user' },
  cgroup: { flag: CLONE_NEWCGROUP, proc: 'cgroup' },
  time: { flag: CLONE_NEWTIME, proc: 'time' },
};

/**
 * The order in which namespaces given by path are joined: the user namespace first (it owns the
 * others), the mount namespace last (joining it changes how every later path resolves).
 */
export const JOIN_ORDER: readonly NamespaceType[] = ['user', 'ipc', 'uts', 'network', 'pid', 'cgroup', 'time', 'mount'];

export function isNamespaceType(t: string): t is NamespaceType {
  return Object.prototype.hasOwnProperty.call(NAMESPACES, t);
}
