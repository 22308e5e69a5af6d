// `trun exec`: run a new process inside a running container (stub: being implemented).
import type { Context } from '../context';
import { TrunError } from '../errors';

export interface ExecOptions {
  id: string;
  /** A process.json (runtime-spec `process` object); when set, args/env/cwd/user flags are overrides on top. */
  processFile?: string;
  args: string[];
  tty: boolean;
  consoleSocket?: string;
  detach: boolean;
  pidFile?: string;
  cwd?: string;
  env: string[];
  /** "uid" or "uid:gid". */
  user?: string;
  additionalGids: number[];
  caps: string[];
  noNewPrivs: boolean;
  preserveFds: number;
  apparmor?: string;
  processLabel?: string;
  ignorePaused: boolean;
  /** Subscribes a forwarder to the signals trun receives (foreground only); returns the unsubscribe function. */
  forwardSignals?: (forward: (signal: NodeJS.Signals) => void) => () => void;
}

/** Returns the process's exit code (128 + n for signal n) in the foreground, 0 detached. */
export async function execProcess(_ctx: Context, opts: ExecOptions): Promise<number> {
  throw new TrunError('EINVAL', 'exec is not implemented yet', { id: opts.id });
}
