// A container without a mount namespace has its rootfs bind and every mount under it in the
// host's mount namespace (plan.ts hostRootOps). This module remembers which mount on the rootfs
// path is the container's and takes it down, with all the mounts under it, after the container.
import * as fs from 'node:fs';
import { TrunError } from './errors';
import { launchInit } from './init/launch';
import { OpCode } from './init/protocol';
import { mountIdsAt } from './linux/mountinfo';

/** MNT_DETACH from <sys/mount.h>: the bind goes with every mount below it, busy or not. */
const MNT_DETACH = 2;

/** What create records (in the state) before the bind exists. */
export interface HostRootfs {
  /** The rootfs with its symlinks resolved: the mount point as mountinfo shows it. */
  path: string;
  /** Ids of the mounts that were already on it: never the container's. */
  before: number[];
}

export function recordHostRootfs(rootfs: string): HostRootfs {
  const real = fs.realpathSync(rootfs);
  return { path: real, before: mountIdsAt(real) };
}

/**
 * Detaches the container's bind of its rootfs (with everything mounted under it), if create got
 * as far as making it: the top mount on the path is the container's when it was not there before.
 * Done by a one-op init plan (umount2 is not Node's). Nothing to do is fine. Returns how many
 * mounts were detached (each with what was under it).
 */
export async function detachHostRootfs(rec: HostRootfs, id: string): Promise<number> {
  // A bind, at most a few (a create that failed and was retried never stacks: each cleans up).
  for (let i = 0; i < 16; i++) {
    const top = mountIdsAt(rec.path).pop();
    if (top === undefined || rec.before.includes(top)) return i;
    await launchInit({ ops: [{ op: OpCode.UNMOUNT, path: rec.path, flags: MNT_DETACH }], stdio: ['ignore', 'ignore', 'ignore'], id });
  }
  throw new TrunError('ESYS', `umount "${rec.path}": mounts of the container are still there`, { id, path: rec.path, syscall: 'umount2' });
}
