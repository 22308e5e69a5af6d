// `trun delete`: remove a stopped container (or, with --force, kill it first): its processes,
// cgroup and state directory; poststop hooks run last.
import { cgroupOf, ociState, statusOf } from '../container';
import type { Context } from '../context';
import { storeOf } from '../context';
import { TrunError } from '../errors';
import { runHooksLogged } from '../hooks';
import { waitGone } from '../linux/proc';

export interface DeleteOptions {
  id: string;
  force?: boolean;
}

export async function deleteContainer(ctx: Context, opts: DeleteOptions): Promise<void> {
  const store = storeOf(ctx);
  const id = opts.id;
  if (!store.exists(id)) {
    if (opts.force) return; // runc: deleting what is not there with --force is not an error
    throw new TrunError('ENOTEXIST', 'container does not exist', { id });
  }
  const release = await store.lock(id);
  try {
    const st = store.load(id);
    const status = statusOf(st, store);
    ctx.debug?.(`deleting ${status} container ${id} (init pid ${st.pid})`);
    if ((status === 'running' || status === 'paused') && !opts.force) {
      throw new TrunError('ESTILLRUNNING', `cannot delete container ${id} that is not stopped: ${status}`, { id });
    }
    const cgroup = cgroupOf(st);
    if (status !== 'stopped') {
      try { process.kill(st.pid, 'SIGKILL'); } catch { /* exited meanwhile */ }
      if (status === 'paused') cgroup.thaw();
    }
    cgroup.killAll(9);
    if (!(await waitGone(st.pid, st.pidStartTime, 10_000))) {
      throw new TrunError('ESYS', `container init ${st.pid} did not exit after SIGKILL`, { id });
    }
    cgroup.destroy();
    await runHooksLogged('poststop', st.config.hooks?.poststop, ociState(st, 'stopped'), id, ctx.warn);
    store.remove(id);
  } finally {
    release();
  }
}
