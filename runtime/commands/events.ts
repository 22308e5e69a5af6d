// `trun events`: container events as JSON objects: with --stats one stats event, otherwise a
// stats event every interval until the container stops. OOM events are not produced: the cgroup
// driver does not expose the memory cgroup's OOM count (see the note in containerEvents).
import { cgroupOf, statusOf } from '../container';
import type { Context } from '../context';
import { storeOf } from '../context';
import { TrunError } from '../errors';
import type { CgroupStats } from '../linux/cgroups';

export interface EventsOptions {
  id: string;
  /** Print one stats event and return. */
  stats: boolean;
  /** Milliseconds between stats events. */
  intervalMs: number;
}

/** runc's event shapes: `{"type":"stats","id":...,"data":{...}}` and `{"type":"oom","id":...}`. */
export type ContainerEvent = { type: 'stats'; id: string; data: CgroupStats } | { type: 'oom'; id: string };

/** How often a long interval is cut to notice that the container stopped. */
const LIVENESS_CHECK_MS = 200;

/** Calls `emit` with each event object; resolves when the container is gone (or after one stats event with `stats`) or when `signal` aborts. */
export async function containerEvents(ctx: Context, opts: EventsOptions, emit: (event: ContainerEvent) => void, signal?: AbortSignal): Promise<void> {
  const { id } = opts;
  const store = storeOf(ctx);
  const st = store.load(id);
  if (statusOf(st, store) === 'stopped') throw new TrunError('ENOTRUNNING', 'container not running', { id });
  const cgroup = cgroupOf(st);
  if (opts.stats) {
    emit({ type: 'stats', id, data: cgroup.stats() });
    return;
  }
  if (!(opts.intervalMs > 0)) throw new TrunError('EINVAL', `invalid interval ${opts.intervalMs} ms: must be positive`, { id });
  // OOM: runc watches memory.oom_control (v1) or memory.events' oom_kill (v2). CgroupManager
  // offers neither, and events does not reach past it into cgroup files, so no "oom" events yet.
  const running = (): boolean => {
    try {
      return statusOf(store.load(id), store) !== 'stopped';
    } catch (e) {
      if (e instanceof TrunError && e.code === 'ENOTEXIST') return false; // deleted meanwhile
      throw e;
    }
  };
  for (;;) {
    // As runc's ticker: the first event comes after one interval.
    const deadline = Date.now() + opts.intervalMs;
    while (Date.now() < deadline) {
      if (!(await pause(Math.min(deadline - Date.now(), LIVENESS_CHECK_MS), signal))) return;
      if (!running()) return;
    }
    let data: CgroupStats;
    try {
      data = cgroup.stats();
    } catch (e) {
      // The container may have stopped (and its cgroup gone) between the check and the read.
      if (!running()) return;
      ctx.warn(`events: ${(e as Error).message}`);
      continue;
    }
    emit({ type: 'stats', id, data });
  }
}

/** Waits `ms`; false when `signal` aborted (before or during the wait). */
function pause(ms: number, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const done = (ok: boolean) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      resolve(ok);
    };
    const onAbort = () => done(false);
    const timer = setTimeout(() => done(true), Math.max(ms, 0));
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
