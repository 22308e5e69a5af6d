// Id-mapped bind mounts (config.md: mounts[].uidMappings/gidMappings, options "idmap" and
// "ridmap"): which mapping a mount gets, and the two ops that make it. The source is cloned and
// id-mapped on the host before the clone (IDMAP_TREE), where trun-init still has CAP_SYS_ADMIN
// over the source's filesystem, and moved into the rootfs with the other mounts (MOUNT_TREE).
import type { IDMapping, Mount } from '../../spec/types/runtime';
import { TrunError } from '../errors';
import { OpCode, TreeFlag, type Op } from '../init/protocol';
import { MS_NOATIME, MS_NODEV, MS_NODIRATIME, MS_NOEXEC, MS_NOSUID, MS_NOSYMFOLLOW, MS_RDONLY, MS_REC, MS_RELATIME, MS_STRICTATIME, type ParsedMountOptions } from './mount-options';

/** MOUNT_ATTR_* bits from <linux/mount.h>: a bind's ro, nosuid... as mount_setattr(2) takes them. */
const MOUNT_ATTR: ReadonlyArray<[ms: number, attr: number]> = [
  [MS_RDONLY, 0x1],
  [MS_NOSUID, 0x2],
  [MS_NODEV, 0x4],
  [MS_NOEXEC, 0x8],
  [MS_NODIRATIME, 0x80],
  [MS_NOSYMFOLLOW, 0x200000],
];
/** The atime mode is a 3-bit field (MOUNT_ATTR__ATIME): relatime is 0 in it. */
const MOUNT_ATTR__ATIME = 0x70;
const ATIME_MODES: ReadonlyArray<[ms: number, attr: number]> = [[MS_RELATIME, 0x0], [MS_NOATIME, 0x10], [MS_STRICTATIME, 0x20]];

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
