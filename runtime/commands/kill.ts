// `trun kill`: send a signal to the container's init, or with --all to every process in its cgroup.
import { cgroupOf, statusOf } from '../container';
import type { Context } from '../context';
import { storeOf } from '../context';
import { TrunError } from '../errors';
import { parseSignal } from '../linux/signals';

const SIGKILL = 9;

export interface KillOptions {
  id: string;
  signal?: string;
  all?: boolean;
}

export function killContainer(ctx: Context, opts: KillOptions): void {
  const store = storeOf(ctx);
  const st = store.load(opts.id);
  const sig = parseSignal(opts.signal ?? 'SIGTERM');
  const status = statusOf(st, store);
  if (status === 'stopped' && !opts.all) throw new TrunError('ENOTRUNNING', 'container not running', { id: opts.id });
  if (opts.all) {
    ctx.debug?.(`sending signal ${sig} to every process of ${status} container ${opts.id}`);
    cgroupOf(st).killAll(sig);
    return;
  }
  ctx.debug?.(`sending signal ${sig} to the init (pid ${st.pid}) of ${status} container ${opts.id}`);
  try {
    process.kill(st.pid, sig);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ESRCH') throw new TrunError('ENOTRUNNING', 'container not running', { id: opts.id });
    throw new TrunError('ESYS', `kill ${st.pid}: ${(e as Error).message}`, { id: opts.id, syscall: 'kill', cause: e });
  }
  // A frozen process cannot die: let a SIGKILL take effect (runc does the same).
  if (status === 'paused' && sig === SIGKILL) cgroupOf(st).thaw();
}
