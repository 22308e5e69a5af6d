// `trun state` and `trun list`: the OCI state of one container, or of all of them.
import { ociState, statusOf, type StateDocument } from '../container';
import type { Context } from '../context';
import { storeOf } from '../context';
import { TrunError } from '../errors';

export type ContainerState = StateDocument;

/** runc's field order (pid before status), which `state` and `list -f json` print. */
function inRuncOrder(s: StateDocument): ContainerState {
  const { ociVersion, id, pid, status, bundle, rootfs, created, owner, annotations } = s;
  return { ociVersion, id, pid, status, bundle, rootfs, created, owner, ...(annotations ? { annotations } : {}) };
}

export function containerState(ctx: Context, id: string): ContainerState {
  const store = storeOf(ctx);
  const st = store.load(id);
  return inRuncOrder(ociState(st, statusOf(st, store)));
}

/**
 * Every container that can be loaded. As runc, a directory that cannot (a create in progress or
 * killed before its state was written, a damaged state) is named in a warning, not listed, and
 * the others are still listed; `delete` removes such a directory.
 */
export function listContainers(ctx: Context): ContainerState[] {
  const store = storeOf(ctx);
  const out: ContainerState[] = [];
  for (const id of store.list()) {
    try {
      const st = store.load(id);
      out.push(inRuncOrder(ociState(st, statusOf(st, store))));
    } catch (e) {
      if (!(e instanceof TrunError)) throw e;
      // a container deleted while we listed is simply not there
      if (e.code !== 'ENOTEXIST' || store.hasDir(id)) ctx.warn(`load container ${id}: ${e.message}`);
    }
  }
  return out;
}
