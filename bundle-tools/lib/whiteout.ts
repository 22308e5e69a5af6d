// The two spellings of a deletion: OCI layers use `.wh.NAME` files and `.wh..wh..opq` markers;
// overlayfs uses 0/0 character devices and the `trusted.overlay.opaque` xattr. Pure helpers that
// classify names and stats; unpack.ts and commit.ts do the file system work.

export const WHITEOUT_PREFIX = '.wh.';
export const OPAQUE_MARKER = '.wh..wh..opq';
export const OVERLAY_OPAQUE_XATTR = 'trusted.overlay.opaque';
/** overlayfs keeps its bookkeeping (origin, impure, redirect, metacopy...) under this prefix. */
export const OVERLAY_XATTR_PREFIX = 'trusted.overlay.';

export type EntryKind =
  | { kind: 'regular' }
  | { kind: 'whiteout'; target: string } // delete `target` (same directory) from lower layers
  | { kind: 'opaque' } // hide every lower child of this entry's directory
  | { kind: 'meta' }; // other `.wh..wh.` names (aufs bookkeeping): ignored

/** What an OCI layer entry named `base` (a single path component) means. */
export function classifyEntryName(base: string): EntryKind {
  if (base === OPAQUE_MARKER) return { kind: 'opaque' };
  if (base.startsWith(WHITEOUT_PREFIX + WHITEOUT_PREFIX)) return { kind: 'meta' };
  if (base.startsWith(WHITEOUT_PREFIX)) {
    const target = base.slice(WHITEOUT_PREFIX.length);
    if (target === '' || target === '.' || target === '..') return { kind: 'meta' };
    return { kind: 'whiteout', target };
  }
  return { kind: 'regular' };
}

export interface StatLike {
  isCharacterDevice(): boolean;
  rdev: number;
}

/** An overlayfs whiteout is a character device with device number 0/0. */
export function isOverlayWhiteout(st: StatLike): boolean {
  return st.isCharacterDevice() && st.rdev === 0;
}

/** overlayfs treats "y" as opaque; "x" marks a directory holding xattr whiteouts, not an opaque one. */
export function isOpaqueValue(value: Buffer | undefined): boolean {
  return value !== undefined && value.toString('latin1') === 'y';
}

/** The OCI whiteout name for deleting `name`. */
export function whiteoutName(name: string): string {
  return WHITEOUT_PREFIX + name;
}

/** xattrs that belong in a layer: everything except overlayfs's own bookkeeping. */
export function isLayerXattr(name: string): boolean {
  return !name.startsWith(OVERLAY_XATTR_PREFIX);
}
