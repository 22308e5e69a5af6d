// `trun ps`: the container's processes, host view (stub).
import type { Context } from '../context';
import { TrunError } from '../errors';

/** --format json: the pids as a JSON array; table: `ps` output (psArgs, default -ef) filtered to the container's pids. */
export async function psContainer(_ctx: Context, id: string, _format: 'table' | 'json', _psArgs: string[]): Promise<string> {
  throw new TrunError('EINVAL', 'ps is not implemented yet', { id });
}
