// Reading and writing cgroup control files, with errors that name the file and the syscall.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { sysError } from '../../errors';

// No O_CREAT: a control file that does not exist is an answer (controller absent, kernel too old),
// not something to create; O_TRUNC is harmless on cgroupfs and right on a fake tree in tests.
// (libuv adds O_CLOEXEC itself.)
const WRITE_FLAGS = fs.constants.O_WRONLY | fs.constants.O_TRUNC;

export function writeCgroupFile(file: string, value: string): void {
  let fd: number;
  try {
    fd = fs.openSync(file, WRITE_FLAGS);
  } catch (err) {
    throw sysError('open', file, err);
  }
  try {
    fs.writeSync(fd, value);
  } catch (err) {
    throw sysError('write', file, err);
  } finally {
    fs.closeSync(fd);
  }
}

export function readCgroupFile(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw sysError('read', file, err);
  }
}

/** The file's text, or undefined when it does not exist. */
export function readOptional(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw sysError('read', file, err);
  }
}

export function errnoOf(err: unknown): string | undefined {
  const cause = (err as { cause?: unknown }).cause ?? err;
  const code = (cause as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** Blocks the thread: the manager's API is synchronous and freezing is a short wait. */
export function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** "key value" lines (memory.stat, cpu.stat, cgroup.events) as numbers. */
export function parseFlatKeyed(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v !== undefined) out[k] = v === 'max' ? 0 : Number(v);
  }
  return out;
}

/** The whitespace-separated pids of a cgroup.procs file. */
export function parsePids(text: string): number[] {
  return text.split(/\s+/).filter(Boolean).map(Number);
}

/**
 * The directory handle a controller's writers use: its files, plus a place to record warnings
 * (settings the kernel does not offer and that runc too skips).
 */
export class ControllerDir {
  constructor(
    readonly dir: string,
    private readonly warnings: string[],
  ) {}

  file(name: string): string {
    return path.join(this.dir, name);
  }
  has(name: string): boolean {
    return fs.existsSync(this.file(name));
  }
  write(name: string, value: string | number): void {
    writeCgroupFile(this.file(name), String(value));
  }
  read(name: string): string {
    return readCgroupFile(this.file(name)).trim();
  }
  readOptional(name: string): string | undefined {
    return readOptional(this.file(name))?.trim();
  }
  warn(message: string): void {
    this.warnings.push(message);
  }
  /** Writes when the file exists, else warns that `what` is ignored. */
  writeIfPresent(name: string, value: string | number, what: string): void {
    if (this.has(name)) this.write(name, value);
    else this.warn(`${what} is not supported by this kernel (no ${this.file(name)}): ignored`);
  }
}
