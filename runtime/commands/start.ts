// `trun start`: run the startContainer hooks inside the container, then release the init
// blocked on the exec fifo so it execs the user's process; poststart hooks follow.
import * as fs from 'node:fs';
import { cgroupOf, ociState, statusOf } from '../container';
import type { Context } from '../context';
import { storeOf } from '../context';
import { TrunError, sysError } from '../errors';
import { runHooks, runHooksLogged } from '../hooks';
import { refuseFrozen } from '../linux/cgroups';
import type { NamespaceType } from '../linux/namespaces';
import { isAlive, waitGone } from '../linux/proc';
import { probeHostSecurity } from '../linux/security';
import type { StoredState } from '../state';

/**
 * Opens the fifo for reading, which unblocks the init's open for writing, and reads the byte it
 * writes. Should the init die first, our own blocked open is released by opening the write end.
 * Wait: bounded by the init's life (the 20 ms watch below). A live init that never writes is one
 * frozen by someone else: refused before this (startContainer); frozen after that check, the read
 * waits for the thaw, interruptible by the caller's signal (nothing here catches SIGINT/SIGTERM).
 */
async function releaseFifo(fifo: string, st: StoredState): Promise<void> {
  const watch = setInterval(() => {
    if (isAlive(st.pid, st.pidStartTime)) return;
    try {
      fs.closeSync(fs.openSync(fifo, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK));
    } catch {
      // our reader was not blocked yet: the read below sees EOF
    }
  }, 20);
  try {
    const fd = await fs.promises.open(fifo, 'r');
    try {
      const { bytesRead } = await fd.read(Buffer.alloc(1), 0, 1, null);
      // The byte is the proof: a user process that ran and exited meanwhile still started.
      if (bytesRead !== 1) throw new TrunError('EINIT', 'container init exited before it was started', { id: st.id });
    } finally {
      await fd.close();
    }
  } catch (e) {
    if (e instanceof TrunError) throw e;
    throw sysError('open', fifo, e, st.id);
  } finally {
    clearInterval(watch);
  }
}

async function stopContainer(st: StoredState): Promise<void> {
  try { process.kill(st.pid, 'SIGKILL'); } catch { /* gone */ }
  cgroupOf(st).killAll(9);
  await waitGone(st.pid, st.pidStartTime, 10_000);
}

export async function startContainer(ctx: Context, id: string): Promise<void> {
  const store = storeOf(ctx);
  const st = store.load(id);
  const release = await store.lock(id);
  try {
    const status = statusOf(st, store);
    if (status === 'stopped') throw new TrunError('EBADSTATE', 'cannot start a container that has stopped', { id });
    if (status === 'paused') throw new TrunError('EBADSTATE', 'cannot start a container in the paused state', { id });
    if (status !== 'created') throw new TrunError('EBADSTATE', `cannot start an already ${status} container`, { id });
    // "created" reads trun's own freezer (v1 on a hybrid host): a freeze on the other hierarchy
    // or on an ancestor would leave the init unable to take the fifo's byte, and start waiting.
    refuseFrozen(cgroupOf(st), id);
    const hooks = st.config.hooks ?? {};
    const namespaces = (st.config.linux?.namespaces ?? []).map((n) => n.type as NamespaceType);
    // As in runc 1.1, where the container's init runs them after all of its setup: under the
    // container process's user, capabilities, no_new_privs and seccomp filter.
    const confinement = hooks.startContainer?.length
      ? { process: st.config.process!, linux: st.config.linux, host: probeHostSecurity() }
      : undefined;
    try {
      await runHooks('startContainer', hooks.startContainer, ociState(st, 'created'), id, { kind: 'container', pid: st.pid, namespaces, ...(confinement ? { confinement } : {}) });
    } catch (e) {
      // The spec: an error, and the container stopped (runc's init fails before its exec); left
      // created, it would still start on a later `start` whose hooks were never run.
      await stopContainer(st);
      throw e;
    }
    const fifo = store.fifoPath(id);
    ctx.debug?.(`releasing the init (pid ${st.pid}) of container ${id} through ${fifo}`);
    await releaseFifo(fifo, st);
    fs.rmSync(fifo, { force: true });
    await runHooksLogged('poststart', hooks.poststart, ociState(st, 'running'), id, ctx.warn);
  } finally {
    release();
  }
}
