// `trun pause` / `trun resume`: freeze and thaw every process of the container through its
// cgroup's freezer; `trun state` reads the freezer back, so nothing else records the pause.
import { cgroupOf, statusOf } from '../container';
import type { Context } from '../context';
import { storeOf } from '../context';
import { TrunError } from '../errors';

export async function pauseContainer(ctx: Context, id: string): Promise<void> {
  const store = storeOf(ctx);
  const release = await store.lock(id);
  try {
    const st = store.load(id);
    // As runc: a created container (its init parked on the exec fifo) can be paused too; it is
    // "paused" until resumed, then "created" again.
    const status = statusOf(st, store);
    if (status !== 'running' && status !== 'created') throw new TrunError('ENOTRUNNING', 'container not running', { id });
    ctx.debug?.(`freezing the cgroup of ${status} container ${id}`);
    cgroupOf(st).freeze();
  } finally {
    release();
  }
}

export async function resumeContainer(ctx: Context, id: string): Promise<void> {
  const store = storeOf(ctx);
  const release = await store.lock(id);
  try {
    const st = store.load(id);
    if (statusOf(st, store) !== 'paused') throw new TrunError('EBADSTATE', 'container not paused', { id });
    ctx.debug?.(`thawing the cgroup of container ${id}`);
    cgroupOf(st).thaw();
  } finally {
    release();
  }
}
