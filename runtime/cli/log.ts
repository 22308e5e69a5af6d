// Error, warning and debug output as runc (logrus) writes it: with --log, one line per event in
// that file, in --log-format (containerd reads the last error line of the JSON log). Without
// --log the lines go to stderr; errors there are the bare message in text format (for people),
// a JSON line in json format (for callers that asked for JSON).
import * as fs from 'node:fs';
import type { GlobalOptions } from '../context';

export type Level = 'error' | 'warning' | 'debug' | 'info';

export function formatLogLine(level: Level, msg: string, format: 'text' | 'json', time = new Date()): string {
  const ts = time.toISOString();
  if (format === 'json') return `${JSON.stringify({ level, msg, time: ts })}\n`;
  return `time="${ts}" level=${level} msg=${JSON.stringify(msg)}\n`;
}

function append(file: string, line: string): void {
  try {
    fs.appendFileSync(file, line);
  } catch {
    // the log is a convenience; a failing command still reports on stderr
  }
}

export function logEvent(global: GlobalOptions, level: Level, msg: string, stderr: NodeJS.WritableStream | null): void {
  if (level === 'debug') {
    if (!global.debug) return;
    const line = formatLogLine(level, msg, global.logFormat);
    if (global.log) append(global.log, line);
    else stderr?.write(line);
    return;
  }
  if (global.log) append(global.log, formatLogLine(level, msg, global.logFormat));
  if (!stderr) return;
  if (!global.log && global.logFormat === 'json') stderr.write(formatLogLine(level, msg, 'json'));
  else stderr.write(level === 'error' ? `${msg}\n` : `${level}: ${msg}\n`);
}
