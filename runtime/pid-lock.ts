// Lock files that name their holder: "<pid> <pid>.<n>". The pid lets a waiter take over a lock
// whose holder died (a trun, or a warm server with all its commands); the suffix tells apart
// two commands of one process, so one never releases the other's lock. Used for containers'
// state dirs, trun-bundle's store and its networks.
import * as fs from 'node:fs';
import { TrunError, sysError } from './errors';
import { isAlive } from './linux/proc';

let serial = 0;

/** A name unique to this command within this process: temp files, lock tokens. */
export function uniqueSuffix(): string {
  serial += 1;
  return `${process.pid}.${serial}`;
}

/** The pid that holds a lock, from its content "<pid>" or "<pid> <holder>". */
export function lockHolderPid(content: string): number {
  const pid = Number(content.split(' ')[0]);
  return Number.isInteger(pid) && pid > 0 ? pid : 0;
}

export interface PidLockOptions {
  timeoutMs?: number;
  /** The error when the lock is still held at the deadline. */
  busy: (holder: number) => TrunError;
  /** The error when the lock's directory does not exist (default: a system error naming it). */
  missing?: () => TrunError;
}

/** Takes the lock, waiting while a live holder has it; returns the release function. */
export async function acquirePidLock(file: string, opts: PidLockOptions): Promise<() => void> {
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  const mine = `${process.pid} ${uniqueSuffix()}`;
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
    let young = false;
    try {
      holder = lockHolderPid(fs.readFileSync(file, 'utf8'));
      // Empty: its holder may be between its open and its write; only an old one is abandoned.
      young = !holder && Date.now() - fs.statSync(file).mtimeMs < 1000;
    } catch {
      continue; // released between our open and read
    }
    if (!young && (!holder || !isAlive(holder))) {
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
