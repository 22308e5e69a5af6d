// `trun features`: what this build of trun implements (runtime-spec features.md). It describes
// the code, not the host: it is the same on every machine.
import { CAPABILITIES } from '../linux/capabilities';
import { MEMORY_POLICY_FEATURES } from '../linux/memory-policy';
import { RECURSIVE_OPTIONS } from '../linux/mount-options';
import { NAMESPACES } from '../linux/namespaces';
import { IOPRIO_CLASSES, PERSONALITY_DOMAINS, SCHED_FLAGS, SCHED_POLICIES } from '../linux/process-attrs';
import { NOTIFY_REFUSED_SYSCALLS, SECCOMP_FEATURES } from '../linux/seccomp';
import { OCI_VERSION } from '../defaults';

const MOUNT_OPTIONS = [
  'async', 'atime', 'bind', 'defaults', 'dev', 'diratime', 'dirsync', 'exec', 'idmap', 'lazytime', 'loud', 'mand',
  'noatime', 'nodev', 'nodiratime', 'noexec', 'nolazytime', 'nomand', 'norelatime', 'nostrictatime',
  'nosuid', 'nosymfollow', 'private', 'rbind', 'relatime', 'remount', 'ridmap', 'ro', 'rprivate', 'rshared',
  'rslave', 'runbindable', 'rw', 'shared', 'silent', 'slave', 'strictatime', 'suid', 'sync', 'unbindable',
  ...Object.keys(RECURSIVE_OPTIONS),
].sort();

/**
 * The features structure has no fields for process attributes: say which values trun accepts in
 * annotations, the place features.md leaves for a runtime's own metadata.
 */
const ANNOTATIONS: Record<string, string> = {
  'trun.process.scheduler.policies': Object.keys(SCHED_POLICIES).join(','),
  'trun.process.scheduler.flags': Object.keys(SCHED_FLAGS).join(','),
  'trun.process.ioPriority.classes': Object.keys(IOPRIO_CLASSES).join(','),
  'trun.process.execCPUAffinity': 'initial,final',
  'trun.linux.personality.domains': Object.keys(PERSONALITY_DOMAINS).join(','),
  'trun.linux.personality.flags': '',
  // SCMP_ACT_NOTIFY is supported, except for the calls that hand the notify fd to the listener.
  'trun.linux.seccomp.notify.refusedSyscalls': NOTIFY_REFUSED_SYSCALLS.join(','),
};

export function features(): object {
  return {
    ociVersionMin: '1.0.0',
    ociVersionMax: OCI_VERSION,
    hooks: ['prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop'],
    mountOptions: MOUNT_OPTIONS,
    annotations: ANNOTATIONS,
    linux: {
      namespaces: Object.keys(NAMESPACES),
      capabilities: Object.keys(CAPABILITIES),
      cgroup: { v1: true, v2: true, systemd: false, systemdUser: false, rdma: false },
      seccomp: SECCOMP_FEATURES,
      // Whether trun supports them, not whether this host has them (features-linux.md).
      apparmor: { enabled: true },
      selinux: { enabled: true },
      memoryPolicy: { modes: [...MEMORY_POLICY_FEATURES.modes], flags: [...MEMORY_POLICY_FEATURES.flags] },
      intelRdt: { enabled: false },
      // Bind mounts only (features-linux.md allows a partial implementation to say true).
      mountExtensions: { idmap: { enabled: true } },
      netDevices: { enabled: true },
    },
  };
}
