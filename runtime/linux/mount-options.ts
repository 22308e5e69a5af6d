// mount(8)-style option strings from config.json turned into mount(2) flags: a table, as crun does.

export const MS_RDONLY = 0x1;
export const MS_NOSUID = 0x2;
export const MS_NODEV = 0x4;
export const MS_NOEXEC = 0x8;
export const MS_SYNCHRONOUS = 0x10;
export const MS_REMOUNT = 0x20;
export const MS_MANDLOCK = 0x40;
export const MS_DIRSYNC = 0x80;
export const MS_NOSYMFOLLOW = 0x100;
export const MS_NOATIME = 0x400;
export const MS_NODIRATIME = 0x800;
export const MS_BIND = 0x1000;
export const MS_MOVE = 0x2000;
export const MS_REC = 0x4000;
export const MS_SILENT = 0x8000;
export const MS_UNBINDABLE = 0x20000;
export const MS_PRIVATE = 0x40000;
export const MS_SLAVE = 0x80000;
export const MS_SHARED = 0x100000;
export const MS_RELATIME = 0x200000;
export const MS_STRICTATIME = 0x1000000;
export const MS_LAZYTIME = 0x2000000;

/** Options that set (clear=false) or clear (clear=true) a mount flag. */
const FLAG_OPTIONS: Readonly<Record<string, { flag: number; clear: boolean }>> = {
  async: { flag: MS_SYNCHRONOUS, clear: true },
  atime: { flag: MS_NOATIME, clear: true },
  bind: { flag: MS_BIND, clear: false },
  defaults: { flag: 0, clear: false },
  dev: { flag: MS_NODEV, clear: true },
  diratime: { flag: MS_NODIRATIME, clear: true },
  dirsync: { flag: MS_DIRSYNC, clear: false },
  exec: { flag: MS_NOEXEC, clear: true },
  lazytime: { flag: MS_LAZYTIME, clear: false },
  loud: { flag: MS_SILENT, clear: true },
  mand: { flag: MS_MANDLOCK, clear: false },
  noatime: { flag: MS_NOATIME, clear: false },
  nodev: { flag: MS_NODEV, clear: false },
  nodiratime: { flag: MS_NODIRATIME, clear: false },
  noexec: { flag: MS_NOEXEC, clear: false },
  nolazytime: { flag: MS_LAZYTIME, clear: true },
  nomand: { flag: MS_MANDLOCK, clear: true },
  norelatime: { flag: MS_RELATIME, clear: true },
  nostrictatime: { flag: MS_STRICTATIME, clear: true },
  nosuid: { flag: MS_NOSUID, clear: false },
  nosymfollow: { flag: MS_NOSYMFOLLOW, clear: false },
  rbind: { flag: MS_BIND | MS_REC, clear: false },
  relatime: { flag: MS_RELATIME, clear: false },
  remount: { flag: MS_REMOUNT, clear: false },
  ro: { flag: MS_RDONLY, clear: false },
  rw: { flag: MS_RDONLY, clear: true },
  silent: { flag: MS_SILENT, clear: false },
  strictatime: { flag: MS_STRICTATIME, clear: false },
  suid: { flag: MS_NOSUID, clear: true },
  sync: { flag: MS_SYNCHRONOUS, clear: false },
};

const PROPAGATION_OPTIONS: Readonly<Record<string, number>> = {
  private: MS_PRIVATE,
  rprivate: MS_PRIVATE | MS_REC,
  shared: MS_SHARED,
  rshared: MS_SHARED | MS_REC,
  slave: MS_SLAVE,
  rslave: MS_SLAVE | MS_REC,
  unbindable: MS_UNBINDABLE,
  runbindable: MS_UNBINDABLE | MS_REC,
};

/** mount_setattr(2)'s MOUNT_ATTR_* bits. */
export const MOUNT_ATTR_RDONLY = 0x1;
export const MOUNT_ATTR_NOSUID = 0x2;
export const MOUNT_ATTR_NODEV = 0x4;
export const MOUNT_ATTR_NOEXEC = 0x8;
/** The atime mode is a field, not a bit: clear all of it to set one. RELATIME is its zero. */
export const MOUNT_ATTR__ATIME = 0x70;
export const MOUNT_ATTR_RELATIME = 0x0;
export const MOUNT_ATTR_NOATIME = 0x10;
export const MOUNT_ATTR_STRICTATIME = 0x20;
export const MOUNT_ATTR_NODIRATIME = 0x80;
export const MOUNT_ATTR_NOSYMFOLLOW = 0x200000;

/**
 * The recursive options runc 1.1 takes ("rro": read-only, submounts included): applied with
 * mount_setattr(AT_RECURSIVE) after the mount, as bits to set and bits to clear.
 */
export const RECURSIVE_OPTIONS: Readonly<Record<string, { set: number; clr: number }>> = {
  rro: { set: MOUNT_ATTR_RDONLY, clr: 0 },
  rrw: { set: 0, clr: MOUNT_ATTR_RDONLY },
  rnosuid: { set: MOUNT_ATTR_NOSUID, clr: 0 },
  rsuid: { set: 0, clr: MOUNT_ATTR_NOSUID },
  rnodev: { set: MOUNT_ATTR_NODEV, clr: 0 },
  rdev: { set: 0, clr: MOUNT_ATTR_NODEV },
  rnoexec: { set: MOUNT_ATTR_NOEXEC, clr: 0 },
  rexec: { set: 0, clr: MOUNT_ATTR_NOEXEC },
  rnodiratime: { set: MOUNT_ATTR_NODIRATIME, clr: 0 },
  rdiratime: { set: 0, clr: MOUNT_ATTR_NODIRATIME },
  rrelatime: { set: MOUNT_ATTR_RELATIME, clr: MOUNT_ATTR__ATIME },
  rnorelatime: { set: 0, clr: MOUNT_ATTR__ATIME },
  rnoatime: { set: MOUNT_ATTR_NOATIME, clr: MOUNT_ATTR__ATIME },
  ratime: { set: 0, clr: MOUNT_ATTR_NOATIME },
  rstrictatime: { set: MOUNT_ATTR_STRICTATIME, clr: MOUNT_ATTR__ATIME },
  rnostrictatime: { set: 0, clr: MOUNT_ATTR_STRICTATIME },
  rnosymfollow: { set: MOUNT_ATTR_NOSYMFOLLOW, clr: 0 },
  rsymfollow: { set: 0, clr: MOUNT_ATTR_NOSYMFOLLOW },
};

/** Options trun accepts and handles elsewhere (or deliberately ignores, as runc does). */
const IGNORED_OPTIONS = new Set(['tmpcopyup']);

/** Id-mapped mount options (config.md): never passed to mount(2); "ridmap" maps submounts too. */
const IDMAP_OPTIONS: Readonly<Record<string, { recursive: boolean }>> = { idmap: { recursive: false }, ridmap: { recursive: true } };

export interface ParsedMountOptions {
  flags: number;
  /** Propagation changes, applied one by one after the mount. */
  propagation: number[];
  /** Filesystem-specific options, passed as mount(2)'s data. */
  data: string;
  /** "idmap" or "ridmap" was given (the last one wins). */
  idmap?: { recursive: boolean };
  /** Recursive attributes ("rro"...), later options winning over earlier ones. */
  recursive?: { set: number; clr: number };
}

export function parseMountOptions(options: readonly string[] = []): ParsedMountOptions {
  let flags = 0;
  const propagation: number[] = [];
  const data: string[] = [];
  let idmap: { recursive: boolean } | undefined;
  let recursive: { set: number; clr: number } | undefined;
  for (const opt of options) {
    const f = FLAG_OPTIONS[opt];
    const r = RECURSIVE_OPTIONS[opt];
    if (r) {
      const prev = recursive ?? { set: 0, clr: 0 };
      recursive = { set: (prev.set & ~r.clr) | r.set, clr: (prev.clr & ~r.set) | r.clr };
    } else if (f) {
      flags = f.clear ? flags & ~f.flag : flags | f.flag;
    } else if (PROPAGATION_OPTIONS[opt] !== undefined) {
      propagation.push(PROPAGATION_OPTIONS[opt]!);
    } else if (IDMAP_OPTIONS[opt]) {
      idmap = IDMAP_OPTIONS[opt];
    } else if (!IGNORED_OPTIONS.has(opt)) {
      data.push(opt);
    }
  }
  return { flags, propagation, data: data.join(','), ...(idmap ? { idmap } : {}), ...(recursive ? { recursive } : {}) };
}

export function propagationFlag(name: string): number | undefined {
  return PROPAGATION_OPTIONS[name];
}

/** Flags a read-only (or nosuid...) bind needs applied by a second, remounting call. */
export const BIND_REMOUNT_FLAGS = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME | MS_RELATIME | MS_STRICTATIME | MS_NOSYMFOLLOW;
