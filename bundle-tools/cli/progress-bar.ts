// Renders library progress events on a terminal (stderr): a bar when the total is known, bytes,
// layers, rate and ETA, at most ten times a second, and the line cleared when done. Silent when
// stderr is not a tty or with --quiet.
import type { ProgressEvent, ProgressFn } from '../lib/progress';

const LABEL: Record<ProgressEvent['phase'], string> = { import: 'import', unpack: 'unpack', commit: 'commit', export: 'export' };
const BAR = 24;

export function progressRenderer(enabled: boolean, stream: NodeJS.WriteStream = process.stderr, now: () => number = Date.now): ProgressFn | undefined {
  if (!enabled || !stream.isTTY) return undefined;
  let last = -Infinity;
  let start: number | null = null;
  return (e: ProgressEvent) => {
    const t = now();
    start ??= t;
    if (!e.done && t - last < 100) return;
    last = t;
    const line = formatProgress(e, t - start);
    stream.write(`\r\x1b[K${line.slice(0, Math.max(20, (stream.columns || 160) - 1))}`);
    if (e.done) stream.write('\r\x1b[K');
  };
}

/** One progress line: `import [#####....] 12.0 MB / 40.0 MB  1/3 layers  6.0 MB/s  ETA 5s`. */
export function formatProgress(e: ProgressEvent, elapsedMs: number): string {
  const parts = [LABEL[e.phase]];
  const total = e.totalBytes;
  if (total !== undefined && total > 0) {
    const frac = Math.min(1, e.bytes / total);
    const full = Math.round(frac * BAR);
    parts.push(`[${'#'.repeat(full)}${'.'.repeat(BAR - full)}]`, `${human(e.bytes)} / ${human(total)}`);
  } else {
    parts.push(human(e.bytes));
  }
  const done = e.done ? e.layers : e.layersDone ?? Math.max(0, e.layer - 1);
  if (e.layers > 0) parts.push(`${done}/${e.layers} ${e.layers === 1 ? 'layer' : 'layers'}`);
  const rate = elapsedMs > 0 ? (e.bytes * 1000) / elapsedMs : 0;
  if (rate > 0) parts.push(`${human(rate)}/s`);
  if (!e.done && total !== undefined && rate > 0 && e.bytes < total) parts.push(`ETA ${duration((total - e.bytes) / rate)}`);
  return parts.join('  ');
}

function duration(s: number): string {
  if (s < 60) return `${Math.ceil(s)}s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m}m${String(Math.ceil(s % 60)).padStart(2, '0')}s` : `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

export function human(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let v = n;
  let u = 0;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return `${u === 0 ? Math.round(v) : v.toFixed(1)} ${units[u]}`;
}
