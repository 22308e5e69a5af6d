// `trun events`: container events as JSON objects: with --stats one stats event, otherwise a
// stats event every interval until the container stops, and an "oom" event whenever the memory
// cgroup's OOM-kill count has grown since the last look.
import { cgroupOf, statusOf } from '../container';
import type { Context } from '../context';
import { storeOf } from '../context';
import { TrunError } from '../errors';
import type { CgroupManager, CgroupStats } from '../linux/cgroups';

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
  if (statusOf(st, store) === 'stopped') throw new TrunError('ENOTRUNNING', `container with id ${id} is not running`, { id });
  const cgroup = cgroupOf(st);
  if (opts.stats) {
    emit({ type: 'stats', id, data: cgroup.stats() });
    return;
  }
  if (!(opts.intervalMs > 0)) throw new TrunError('EINVAL', `invalid interval ${opts.intervalMs} ms: must be positive`, { id });
  // OOM: runc is notified (eventfd on v1, inotify on v2); we poll the counter as often as the
  // liveness check, so an OOM shows within LIVENESS_CHECK_MS whatever the stats interval.
  let oomKills = readOomKills(cgroup);
  const checkOom = (): void => {
    const now = readOomKills(cgroup);
    if (now === undefined) return;
    if (oomKills !== undefined && now > oomKills) emit({ type: 'oom', id });
    oomKills = now;
  };
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
      // Before the liveness check: an OOM kill of the container's init is its last event.
      checkOom();
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

/** The cgroup's OOM-kill count; undefined when unknown (no memory cgroup, an old kernel, cgroup gone). */
function readOomKills(cgroup: CgroupManager): number | undefined {
  try {
    return cgroup.oomKills();
  } catch {
    return undefined;
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
