// `trun run`: create and start in one go. In the foreground it waits for the container, passes
// on the signals trun receives, deletes the container afterwards and returns its exit code.
import * as os from 'node:os';
import type { Context } from '../context';
import { TrunError } from '../errors';
import { createContainer, type CreateOptions } from './create';
import { deleteContainer } from './delete';
import { startContainer } from './start';

export interface RunOptions extends CreateOptions {
  detach?: boolean;
  keep?: boolean;
  /** Subscribes a forwarder to the signals trun receives; returns the unsubscribe function. */
  forwardSignals?: (forward: (signal: NodeJS.Signals) => void) => () => void;
}

/** Returns the container's exit code in the foreground (128 + n when killed by signal n), 0 detached. */
export async function runContainer(ctx: Context, opts: RunOptions): Promise<number> {
  const created = await createContainer(ctx, opts, !opts.detach);
  try {
    await startContainer(ctx, opts.id);
  } catch (e) {
    await deleteContainer(ctx, { id: opts.id, force: true }).catch(() => undefined);
    throw e;
  }
  if (opts.detach) return 0;

  const child = created.child;
  const unsubscribe = opts.forwardSignals?.((sig) => {
    try { process.kill(created.pid, sig); } catch { /* already exited */ }
  });
  try {
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve([child.exitCode, child.signalCode]);
      else child.once('exit', (c, s) => resolve([c, s]));
    });
    if (signal) {
      const n = os.constants.signals[signal] as number | undefined;
      if (n === undefined) throw new TrunError('ESYS', `container exited on unknown signal ${signal}`, { id: opts.id });
      return 128 + n;
    }
    return code ?? 0;
  } finally {
    unsubscribe?.();
    if (!opts.keep) await deleteContainer(ctx, { id: opts.id, force: true });
  }
}
