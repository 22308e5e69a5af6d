// `trun run`: create and start in one go. In the foreground it waits for the container, passes
// on the signals trun receives, deletes the container afterwards and returns its exit code.
import type { Context } from '../context';
import { childExitCode } from '../init/launch';
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
  // Forward from the start: a signal that arrives while the container is being set up must not
  // be lost (or kill trun and orphan the container).
  let pid = 0;
  let pending: NodeJS.Signals[] = [];
  // A terminal without --console-socket is relayed by the first init process, which resizes the
  // pty on SIGWINCH; the pty then signals the container itself.
  let relay = false;
  const deliver = (sig: NodeJS.Signals) => {
    if (relay && sig === 'SIGWINCH') return;
    try { process.kill(pid, sig); } catch { /* already exited */ }
  };
  const unsubscribe = opts.detach ? undefined : opts.forwardSignals?.((sig) => {
    if (pid) deliver(sig);
    else pending.push(sig);
  });
  try {
    const created = await createContainer(ctx, opts, !opts.detach);
    pid = created.pid;
    relay = !!created.state.config.process?.terminal && !opts.consoleSocket;
    try {
      await startContainer(ctx, opts.id);
    } catch (e) {
      await deleteContainer(ctx, { id: opts.id, force: true }).catch(() => undefined);
      throw e;
    }
    if (opts.detach) return 0;
    for (const sig of pending) deliver(sig);
    pending = [];
    // Wait: unbounded, as runc's: the container runs as long as it does. The caller's signals
    // are forwarded to it; SIGKILL (or one the container does not catch) ends trun.
    return await childExitCode(created.child);
  } finally {
    unsubscribe?.();
    if (!opts.detach && !opts.keep && pid) await deleteContainer(ctx, { id: opts.id, force: true });
  }
}

