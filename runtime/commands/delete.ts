// `trun delete`: remove a stopped container (or, with --force, kill it first): its processes,
// cgroup and state directory; poststop hooks run last. Also removes what a create that never
// finished left behind (a directory without state.json).
import * as fs from 'node:fs';
import { cgroupOf, ociState, statusOf } from '../container';
import type { Context } from '../context';
import { storeOf } from '../context';
import { TrunError } from '../errors';
import { runHooksLogged } from '../hooks';
import { loadCgroupManager, type CgroupManager } from '../linux/cgroups';
import { detachHostRootfs, type HostRootfs } from '../host-rootfs';
import { readProcStat, waitGone } from '../linux/proc';
import type { StateStore, StoredState } from '../state';

export interface DeleteOptions {
  id: string;
  force?: boolean;
}

function notExist(id: string): TrunError {
  return new TrunError('ENOTEXIST', 'container does not exist', { id });
}

export async function deleteContainer(ctx: Context, opts: DeleteOptions): Promise<void> {
  const store = storeOf(ctx);
  const id = opts.id;
  if (!store.hasDir(id)) {
    if (opts.force) return; // runc: deleting what is not there with --force is not an error
    throw notExist(id);
  }
  // Taken before looking for state.json: a create still running holds the lock until it is done.
  let release: () => void;
  try {
    release = await store.lock(id);
  } catch (e) {
    if (opts.force && e instanceof TrunError && e.code === 'ENOTEXIST') return; // deleted meanwhile
    throw e;
  }
  try {
    let st: StoredState;
    try {
      st = store.load(id);
    } catch (e) {
      // No state (a create killed before it wrote one), or, with --force, a state that cannot
      // be read. As runc, the directory goes, and without --force the answer is still an error.
      const missing = e instanceof TrunError && e.code === 'ENOTEXIST';
      if (!missing && !opts.force) throw e;
      ctx.debug?.(`container ${id} has no state (${(e as Error).message}): removing what its create recorded`);
      await removeUnfinished(ctx, store, id);
      if (missing && !opts.force) throw notExist(id);
      return;
    }
    await deleteLoaded(ctx, store, st, opts.force ?? false);
  } finally {
    release();
  }
}

async function deleteLoaded(ctx: Context, store: StateStore, st: StoredState, force: boolean): Promise<void> {
  const id = st.id;
  const status = statusOf(st, store);
  ctx.debug?.(`deleting ${status} container ${id} (init pid ${st.pid})`);
  if ((status === 'running' || status === 'paused') && !force) {
    throw new TrunError('ESTILLRUNNING', `cannot delete container ${id} that is not stopped: ${status}`, { id });
  }
  const cgroup = cgroupOf(st);
  const pids = new Set(cgroup.pids());
  if (status !== 'stopped') {
    pids.add(st.pid);
    try { process.kill(st.pid, 'SIGKILL'); } catch { /* exited meanwhile */ }
    if (status === 'paused') cgroup.thaw();
  }
  cgroup.killAll(9);
  if (pids.size) ctx.debug?.(`killed the processes of container ${id}: ${[...pids].join(' ')}`);
  // Wait: bounded (10 s). SIGKILL takes effect only once the process leaves an uninterruptible
  // sleep (state D: a hung NFS or FUSE call) or a freezer someone else holds (a frozen ancestor
  // cgroup); either may be never. The state stays, so a later delete can finish the job.
  if (!(await waitGone(st.pid, st.pidStartTime, 10_000))) {
    const state = readProcStat(st.pid)?.state ?? '?';
    throw new TrunError('ESYS', `container init ${st.pid} did not exit within 10 s of SIGKILL (state ${state}: in uninterruptible sleep, or frozen)`, { id });
  }
  // Without a mount namespace the container's mounts are the host's: they go with it.
  if (st.hostRootfs) await detachMounts(ctx, st.hostRootfs, id);
  destroyCgroups(ctx, cgroup, id);
  await runHooksLogged('poststop', st.config.hooks?.poststop, ociState(st, 'stopped'), id, ctx.warn);
  removeDir(ctx, store, id);
}

// What delete removed, one debug line per kind of thing (processes are named where they are killed).

function destroyCgroups(ctx: Context, cgroup: CgroupManager, id: string): void {
  const present = Object.values(cgroup.paths).filter((d) => fs.existsSync(d));
  cgroup.destroy();
  if (present.length) ctx.debug?.(`removed the cgroups of container ${id}: ${present.join(' ')}`);
}

async function detachMounts(ctx: Context, rec: HostRootfs, id: string): Promise<void> {
  const n = await detachHostRootfs(rec, id);
  if (n) ctx.debug?.(`detached the mounts of container ${id} at ${rec.path} (${n} bind(s) with everything under them)`);
}

function removeDir(ctx: Context, store: StateStore, id: string): void {
  const dir = store.dir(id);
  store.remove(id);
  ctx.debug?.(`removed the state directory ${dir}`);
}

/**
 * Undoes a create that never wrote its state: the cgroups it recorded before making them (with
 * every process it started: the init joins them before it gets its plan), then the directory
 * (lock, fifo, partial files). No hook has run before the state is written, so none runs now.
 */
async function removeUnfinished(ctx: Context, store: StateStore, id: string): Promise<void> {
  const rec = store.loadCreating(id);
  if (rec) {
    const cgroup = loadCgroupManager(rec.cgroupPaths, id);
    const pids = cgroup.pids();
    if (pids.length) {
      cgroup.killAll(9);
      ctx.debug?.(`killed the processes of container ${id}: ${pids.join(' ')}`);
    }
    destroyCgroups(ctx, cgroup, id);
  }
  if (rec?.hostRootfs) await detachMounts(ctx, rec.hostRootfs, id);
  removeDir(ctx, store, id);
}
