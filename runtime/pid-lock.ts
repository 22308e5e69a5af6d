// Lock files that name their holder: "<pid> <pid>.<n> <start time>". The pid lets a waiter take
// over a lock whose holder died (a trun, or a warm server with all its commands), and the start
// time (/proc/<pid>/stat) tells that holder apart from a process that got its pid later: pids are
// reused (pid_max may be 32768), and a stale lock would otherwise make every command on the
// container wait for the timeout. The suffix tells apart two commands of one process, so one never
// releases the other's lock. Used for containers' state dirs, trun-bundle's store and its networks.
import * as fs from 'node:fs';
import { TrunError, sysError } from './errors';
import { isAlive, readProcStat } from './linux/proc';

let serial = 0;

/** A name unique to this command within this process: temp files, lock tokens. */
export function uniqueSuffix(): string {
  serial += 1;
  return `${process.pid}.${serial}`;
}

/** The pid that holds a lock, from its content "<pid>", "<pid> <holder>" or "<pid> <holder> <start time>". */
export function lockHolderPid(content: string): number {
  const pid = Number(content.split(' ')[0]);
  return Number.isInteger(pid) && pid > 0 ? pid : 0;
}

/** The holder's start time when the lock records one (locks written before it was recorded do not). */
export function lockHolderStartTime(content: string): number | undefined {
  const field = content.split(' ')[2];
  const t = field === undefined ? NaN : Number(field);
  return Number.isInteger(t) && t > 0 ? t : undefined;
}

let ownStartTime: number | undefined;
function selfStartTime(): number {
  ownStartTime ??= readProcStat(process.pid)?.startTime ?? 0;
  return ownStartTime;
}

export interface PidLockOptions {
  timeoutMs?: number;
  /** The error when the lock is still held at the deadline. */
  busy: (holder: number) => TrunError;
  /** The error when the lock's directory does not exist (default: a system error naming it). */
  missing?: () => TrunError;
}

/**
 * Takes the lock, waiting while a live holder has it; returns the release function.
 * Wait: bounded by timeoutMs (60 s by default, then opts.busy), polling with a growing delay.
 */
export async function acquirePidLock(file: string, opts: PidLockOptions): Promise<() => void> {
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  const mine = `${process.pid} ${uniqueSuffix()} ${selfStartTime()}`;
  for (let delay = 1; ; delay = Math.min(delay * 2, 50)) {
    try {
      const fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o600);
      fs.writeSync(fd, mine);
      fs.closeSync(fd);
      return () => {
        try {
          if (fs.readFileSync(file, 'utf8') === mine) fs.unlinkSync(file);
        } catch {
          // the directory went away (a deleted container): nothing to release
        }
      };
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' && opts.missing) throw opts.missing();
      if (code !== 'EEXIST') throw sysError('open', file, e);
    }
    let holder = 0;
    let holderStart: number | undefined;
    let young = false;
    try {
      const content = fs.readFileSync(file, 'utf8');
      holder = lockHolderPid(content);
      holderStart = lockHolderStartTime(content);
      // Empty: its holder may be between its open and its write; only an old one is abandoned.
      young = !holder && Date.now() - fs.statSync(file).mtimeMs < 1000;
    } catch {
      continue; // released between our open and read
    }
    if (!young && (!holder || !isAlive(holder, holderStart))) {
      fs.rmSync(file, { force: true });
      continue;
    }
    if (Date.now() > deadline) throw opts.busy(holder);
    await new Promise((r) => setTimeout(r, delay));
  }
}

/** Runs `fn` holding the lock. */
export async function withPidLock<T>(file: string, opts: PidLockOptions, fn: () => Promise<T> | T): Promise<T> {
  const release = await acquirePidLock(file, opts);
  try {
    return await fn();
  } finally {
    release();
  }
}
