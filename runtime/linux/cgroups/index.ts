// The cgroup driver's public surface: what the runtime imports.
export { type CgroupManager, type CgroupManagerOptions, type DeviceFilter, cgroupManager, cgroupMountSources, loadCgroupManager, refuseFrozen } from './manager';
export { type CgroupHost, type CgroupMode, detectHost, detectSystemHost, parseProcCgroup } from './detect';
export { type CgroupStats } from './stats';
export { DEFAULT_PARENT, UNIFIED, innerPath } from './paths';
export { deviceFilterOps } from './device-filter';
export { execCgroupPaths } from './sub-cgroups';
