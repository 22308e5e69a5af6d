// `trun update`: change a running container's resource limits (stub).
import type { LinuxResources } from '../../spec/types/runtime';
import type { Context } from '../context';
import { TrunError } from '../errors';

export interface UpdateOptions {
  id: string;
  /** Parsed from --resources (a file, or "-" for stdin: the CLI reads it). */
  resources?: LinuxResources;
  /** runc's single-value flags, as given on the command line (strings: sizes like "256m" are allowed for memory). */
  flags: Partial<Record<'blkio-weight' | 'cpu-period' | 'cpu-quota' | 'cpu-share' | 'cpu-rt-period' | 'cpu-rt-runtime' | 'cpuset-cpus' | 'cpuset-mems' | 'memory' | 'memory-reservation' | 'memory-swap' | 'pids-limit', string>>;
}

export async function updateContainer(_ctx: Context, opts: UpdateOptions): Promise<void> {
  throw new TrunError('EINVAL', 'update is not implemented yet', { id: opts.id });
}
