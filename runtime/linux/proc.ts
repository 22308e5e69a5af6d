// What /proc says about a process: alive or not, and its start time (to tell a reused pid apart).
import * as fs from 'node:fs';

export interface ProcStat {
  /** R, S, D, Z, T... */
  state: string;
  ppid: number;
  /** Start time after boot in clock ticks (field 22): stable for the life of the process. */
  startTime: number;
}

export function readProcStat(pid: number): ProcStat | null {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // The command name (field 2) may hold spaces and parentheses: split after the last ')'.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { state: rest[0] ?? '?', ppid: Number(rest[1]), startTime: Number(rest[19]) };
}

/** Alive means present and not a zombie; a zombie has exited and only waits to be reaped. */
export function isAlive(pid: number, startTime?: number): boolean {
  if (pid <= 0) return false;
  const st = readProcStat(pid);
  if (!st || st.state === 'Z' || st.state === 'X') return false;
  return startTime === undefined || st.startTime === startTime;
}

/** Resolves once the process is gone (or a zombie), polling /proc; false on timeout. */
export async function waitGone(pid: number, startTime: number | undefined, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  let delay = 1;
  while (isAlive(pid, startTime)) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 20);
  }
  return true;
}
