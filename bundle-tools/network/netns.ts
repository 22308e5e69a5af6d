// Finding a container's network namespace again without trusting a pid: a dead container's pid
// may belong to another process by now, whose netns (the host's, say) a CNI DEL must never touch.
// The hook records the netns inode at ADD; DEL uses a /proc path only if it still has that inode.
import * as fs from 'node:fs';
import type { ProcRef } from './networks';

/** Start time of a process in clock ticks, 0 when it is gone. */
export function procStart(pid: number): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[19]) || 0;
  } catch {
    return 0;
  }
}

export function procRef(pid: number): ProcRef {
  return { pid, start: procStart(pid) };
}

/** Whether the process a ref names still runs (same pid, same start time, not a zombie). */
export function refAlive(r: ProcRef | undefined): boolean {
  if (r === undefined || r.pid <= 0 || r.start <= 0) return false;
  try {
    const stat = fs.readFileSync(`/proc/${r.pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[0] !== 'Z' && fields[0] !== 'X' && Number(fields[19]) === r.start;
  } catch {
    return false;
  }
}

export function netnsInode(pid: number): number {
  try {
    return fs.statSync(`/proc/${pid}/ns/net`).ino;
  } catch {
    return 0;
  }
}

export interface OpenNetns {
  /** What a plugin opens: this process's fd, so the namespace cannot change under it. */
  path: string;
  ino: number;
  close(): void;
}

function openAt(file: string, ino: number): OpenNetns | null {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch {
    return null;
  }
  const st = fs.fstatSync(fd);
  if (ino !== 0 && st.ino !== ino) {
    fs.closeSync(fd);
    return null;
  }
  return { path: `/proc/${process.pid}/fd/${fd}`, ino: st.ino, close: () => fs.closeSync(fd) };
}

/**
 * Holds the netns with inode `ino` open (any inode when 0): the recorded pid's first, else any
 * process still in it (a container that joined it); null when it is gone.
 */
export function openNetns(pid: number, ino: number): OpenNetns | null {
  if (pid > 0) {
    const own = openAt(`/proc/${pid}/ns/net`, ino);
    if (own || ino === 0) return own;
  }
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === pid) continue;
    if (netnsInode(Number(name)) !== ino) continue;
    const found = openAt(`/proc/${name}/ns/net`, ino);
    if (found) return found;
  }
  return null;
}
