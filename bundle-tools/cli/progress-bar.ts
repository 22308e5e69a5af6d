// Renders library progress events on a terminal (stderr), at most ten times a second, and clears
// the line when done. Silent when stderr is not a tty or with --quiet.
import type { ProgressEvent, ProgressFn } from '../lib/progress';

export function progressRenderer(enabled: boolean, stream: NodeJS.WriteStream = process.stderr): ProgressFn | undefined {
  if (!enabled || !stream.isTTY) return undefined;
  let last = 0;
  return (e: ProgressEvent) => {
    const now = Date.now();
    if (!e.done && now - last < 100) return;
    last = now;
    const total = e.totalBytes ? ` / ${human(e.totalBytes)}` : '';
    const line = `${e.phase}: layer ${e.layer}/${e.layers}  ${human(e.bytes)}${total}`;
    stream.write(`\r\x1b[K${line}`);
    if (e.done) stream.write('\r\x1b[K');
  };
}

export function human(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let v = n;
  let u = 0;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return `${u === 0 ? v : v.toFixed(1)} ${units[u]}`;
}
