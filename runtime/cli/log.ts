// Error and warning output: the message on stderr and, with --log, one line per event in the
// log file, as logrus writes it for runc (containerd reads the last error line of the JSON log).
import * as fs from 'node:fs';
import type { GlobalOptions } from '../context';

export type Level = 'error' | 'warning' | 'debug' | 'info';

export function formatLogLine(level: Level, msg: string, format: 'text' | 'json', time = new Date()): string {
  const ts = time.toISOString();
  if (format === 'json') return `${JSON.stringify({ level, msg, time: ts })}\n`;
  return `time="${ts}" level=${level} msg=${JSON.stringify(msg)}\n`;
}

export function logEvent(global: GlobalOptions, level: Level, msg: string, stderr: NodeJS.WritableStream | null): void {
  if (level === 'debug' && !global.debug) return;
  if (global.log) {
    try {
      fs.appendFileSync(global.log, formatLogLine(level, msg, global.logFormat));
    } catch {
      // the log is a convenience; stderr still gets the message
    }
  }
  if (stderr && (level === 'error' || level === 'warning' || global.debug)) {
    stderr.write(level === 'error' ? `${msg}\n` : `${level}: ${msg}\n`);
  }
}
