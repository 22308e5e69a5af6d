// `trun list` output: runc's tab-aligned table, or JSON.
import type { ContainerState } from '../commands/state';

/** runc's tabwriter: every column but the last at least 12 wide, and 3 spaces after the widest cell. */
const MIN_WIDTH = 12;
const PADDING = 3;

export function formatList(states: ContainerState[], format: 'table' | 'json', quiet: boolean): string {
  if (quiet) return states.map((s) => `${s.id}\n`).join('');
  if (format === 'json') return `${JSON.stringify(states)}\n`;
  const rows = [['ID', 'PID', 'STATUS', 'BUNDLE', 'CREATED', 'OWNER']];
  for (const s of states) rows.push([s.id, String(s.pid), s.status, s.bundle, s.created, s.owner]);
  const widths = rows[0]!.map((_, c) => Math.max(MIN_WIDTH, ...rows.map((r) => r[c]!.length + PADDING)));
  return rows.map((r) => `${r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]!))).join('')}\n`).join('');
}
