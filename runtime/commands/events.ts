// `trun events`: container events and stats as JSON lines (stub).
import type { Context } from '../context';
import { TrunError } from '../errors';

export interface EventsOptions {
  id: string;
  /** Print one stats event and return. */
  stats: boolean;
  /** Milliseconds between stats events. */
  intervalMs: number;
}

/** Calls `emit` with each event object; resolves when the container is gone (or after one stats event with `stats`) or when `signal` aborts. */
export async function containerEvents(_ctx: Context, opts: EventsOptions, _emit: (event: object) => void, _signal?: AbortSignal): Promise<void> {
  throw new TrunError('EINVAL', 'events is not implemented yet', { id: opts.id });
}
