// Id-mapped bind mounts (config.md: mounts[].uidMappings/gidMappings, options "idmap" and
// "ridmap"): which mapping a mount gets, and the two ops that make it. The source is cloned and
// id-mapped on the host before the clone (IDMAP_TREE), where trun-init still has CAP_SYS_ADMIN
// over the source's filesystem, and moved into the rootfs with the other mounts (MOUNT_TREE).
import type { IDMapping, Mount } from '../../spec/types/runtime';
import { TrunError } from '../errors';
import { OpCode, TreeFlag, type Op } from '../init/protocol';
import {
  MOUNT_ATTR__ATIME, MOUNT_ATTR_NOATIME, MOUNT_ATTR_NODEV, MOUNT_ATTR_NODIRATIME, MOUNT_ATTR_NOEXEC, MOUNT_ATTR_NOSUID, MOUNT_ATTR_NOSYMFOLLOW,
  MOUNT_ATTR_RDONLY, MOUNT_ATTR_RELATIME, MOUNT_ATTR_STRICTATIME,
  MS_NOATIME, MS_NODEV, MS_NODIRATIME, MS_NOEXEC, MS_NOSUID, MS_NOSYMFOLLOW, MS_RDONLY, MS_REC, MS_RELATIME, MS_STRICTATIME, type ParsedMountOptions,
} from './mount-options';

/** A bind's MS_* flags and the MOUNT_ATTR_* bits mount_setattr(2) takes for them. */
const MOUNT_ATTR: ReadonlyArray<[ms: number, attr: number]> = [
  [MS_RDONLY, MOUNT_ATTR_RDONLY],
  [MS_NOSUID, MOUNT_ATTR_NOSUID],
  [MS_NODEV, MOUNT_ATTR_NODEV],
  [MS_NOEXEC, MOUNT_ATTR_NOEXEC],
  [MS_NODIRATIME, MOUNT_ATTR_NODIRATIME],
  [MS_NOSYMFOLLOW, MOUNT_ATTR_NOSYMFOLLOW],
];
const ATIME_MODES: ReadonlyArray<[ms: number, attr: number]> = [[MS_RELATIME, MOUNT_ATTR_RELATIME], [MS_NOATIME, MOUNT_ATTR_NOATIME], [MS_STRICTATIME, MOUNT_ATTR_STRICTATIME]];

/** The container's own mappings, when it has a user namespace (the default for "idmap" alone). */
export interface ContainerMappings {
  uid: readonly IDMapping[];
  gid: readonly IDMapping[];
}

function fail(id: string, message: string): never {
  throw new TrunError('EINVAL', message, { id });
}

/** uid_map/gid_map text: one "<id in namespace> <id outside> <count>" line per mapping. */
export function idMapText(maps: readonly IDMapping[]): string {
  return maps.map((m) => `${m.containerID} ${m.hostID} ${m.size}\n`).join('');
}

/** MS_* flags of a bind as mount_setattr(2)'s attr_set and attr_clr. */
export function mountAttrs(flags: number): { attrSet: number; attrClr: number } {
  let attrSet = 0;
  let attrClr = 0;
  for (const [ms, attr] of MOUNT_ATTR) if (flags & ms) attrSet |= attr;
  for (const [ms, attr] of ATIME_MODES) {
    if (flags & ms) {
      attrClr |= MOUNT_ATTR__ATIME;
      attrSet = (attrSet & ~MOUNT_ATTR__ATIME) | attr;
    }
  }
  return { attrSet, attrClr };
}

/** Whether a mount asks to be id-mapped: an idmap/ridmap option, or mappings of its own. */
export function isIdmapped(m: Mount, opts: ParsedMountOptions): boolean {
  return opts.idmap !== undefined || m.uidMappings !== undefined || m.gidMappings !== undefined;
}

/**
 * The IDMAP_TREE op for an id-mapped bind mount of `source` (absolute, on the host). The mount's
 * own mappings win; without them the container's user namespace mappings are used, and without
 * those it is an error (config.md, "idmap"). Mappings without either option are taken as "idmap",
 * as runc does. `field` names the mount in errors ("mounts[3]").
 */
export function idmapTreeOp(
  id: string, field: string, m: Mount, opts: ParsedMountOptions, source: string, isBind: boolean, container: ContainerMappings | undefined,
): Op {
  if (!isBind) fail(id, `${field}: id-mapped mounts ("idmap", "ridmap", uidMappings/gidMappings) must be bind mounts, on "${m.destination}"`);
  const hasUid = m.uidMappings !== undefined;
  const hasGid = m.gidMappings !== undefined;
  if (hasUid !== hasGid) fail(id, `${field}: uidMappings and gidMappings must be given together, on "${m.destination}"`);
  let uid: readonly IDMapping[];
  let gid: readonly IDMapping[];
  if (hasUid) {
    uid = m.uidMappings!;
    gid = m.gidMappings!;
  } else if (container) {
    uid = container.uid;
    gid = container.gid;
  } else {
    fail(id, `${field}: "idmap" without uidMappings/gidMappings needs the container's user namespace mappings, on "${m.destination}"`);
  }
  if (uid.length === 0 || gid.length === 0) fail(id, `${field}: an id-mapped mount needs at least one uid and one gid mapping, on "${m.destination}"`);
  let flags = 0;
  if (opts.flags & MS_REC) flags |= TreeFlag.RECURSIVE;
  if (opts.idmap?.recursive) flags |= TreeFlag.IDMAP_RECURSIVE;
  return { op: OpCode.IDMAP_TREE, source, uidMap: idMapText(uid), gidMap: idMapText(gid), flags, ...mountAttrs(opts.flags) };
}
