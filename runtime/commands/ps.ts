// `trun ps`: the container's processes, host view: its cgroup's pids as JSON, or the host's
// `ps` output cut down to the lines of those pids.
import { spawnSync } from 'node:child_process';
import { cgroupOf, statusOf } from '../container';
import type { Context } from '../context';
import { storeOf } from '../context';
import { TrunError } from '../errors';

const DEFAULT_PS_ARGS = ['-ef'];

/**
 * --format json: the pids as a JSON array; table: `ps` output (psArgs, default -ef) filtered to
 * the container's pids. A stopped container has none: an empty list, not an error (as runc).
 */
export async function psContainer(ctx: Context, id: string, format: 'table' | 'json', psArgs: string[]): Promise<string> {
  const store = storeOf(ctx);
  const st = store.load(id);
  const pids = statusOf(st, store) === 'stopped' ? [] : cgroupOf(st).pids();
  if (format === 'json') return `${JSON.stringify(pids)}\n`;
  const args = psArgs.length > 0 ? psArgs : DEFAULT_PS_ARGS;
  const r = spawnSync('ps', args, { encoding: 'utf8', maxBuffer: 64 << 20, cwd: ctx.cwd, env: { ...ctx.env } });
  if (r.error) throw new TrunError('ESYS', `ps ${args.join(' ')}: ${r.error.message}`, { id, cause: r.error });
  if (r.status !== 0) throw new TrunError('ESYS', `ps ${args.join(' ')}: ${r.stderr.trim() || `exit status ${r.status ?? r.signal}`}`, { id });
  return filterPsTable(r.stdout, pids);
}

/**
 * Keeps the header and the lines whose PID column holds one of `pids`. The column is found by
 * its position in the header: ps pads columns but never puts spaces inside the ones before CMD.
 */
export function filterPsTable(output: string, pids: readonly number[]): string {
  const lines = output.split('\n');
  const header = lines[0] ?? '';
  const column = header.trim().split(/\s+/).indexOf('PID');
  if (column < 0) throw new TrunError('EINVAL', 'couldn\'t find PID field in ps output');
  const wanted = new Set(pids);
  const kept = [header];
  for (const line of lines.slice(1)) {
    const field = line.trim().split(/\s+/)[column];
    if (field !== undefined && wanted.has(Number(field))) kept.push(line);
  }
  return `${kept.join('\n')}\n`;
}
