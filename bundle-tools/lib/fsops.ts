// Client for dist/trun-bundle-fsops, the small C helper that does what Node.js cannot: mknod
// (devices, fifos, overlayfs whiteouts) and extended attributes without following symlinks.
// One helper process serves a whole unpack or commit; requests are answered in order.
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { TrunError, describeErrno } from '../../runtime/errors';

const OP_MKNOD = 1;
const OP_SETXATTR = 2;
const OP_LISTXATTR = 3;

export const S_IFIFO = 0o010000;
export const S_IFCHR = 0o020000;
export const S_IFBLK = 0o060000;

const ERRNO_NAMES: Record<number, string> = {
  1: 'EPERM', 2: 'ENOENT', 5: 'EIO', 12: 'ENOMEM', 13: 'EACCES', 17: 'EEXIST', 20: 'ENOTDIR',
  22: 'EINVAL', 28: 'ENOSPC', 30: 'EROFS', 61: 'ENODATA', 95: 'EOPNOTSUPP', 122: 'EDQUOT',
};

/** Where the helper binary is: beside the bundled CLI, or in the checkout's dist/ when run from source. */
export function findFsopsHelper(): string {
  const candidates = [
    process.env.TRUN_BUNDLE_FSOPS,
    path.join(__dirname, 'trun-bundle-fsops'),
    path.join(__dirname, '..', '..', 'dist', 'trun-bundle-fsops'),
  ].filter((p): p is string => typeof p === 'string' && p !== '');
  for (const p of candidates) if (fs.existsSync(p)) return p;
  throw new TrunError('ESYS', `helper "trun-bundle-fsops" not found (looked in ${candidates.join(', ')}); run make build`);
}

interface Pending {
  resolve: (payload: Buffer) => void;
  reject: (err: Error) => void;
  what: string;
  path: string;
}

export class FsOps {
  private readonly child: ChildProcessByStdio<Writable, Readable, null>;
  private readonly queue: Pending[] = [];
  private buffered: Buffer = Buffer.alloc(0);
  private dead: Error | null = null;

  constructor(helper = findFsopsHelper()) {
    this.child = spawn(helper, [], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.child.stdout.on('data', (chunk: Buffer) => this.onData(chunk));
    this.child.on('error', (err) => this.fail(new TrunError('ESYS', `run helper "${helper}": ${err.message}`, { cause: err })));
    this.child.on('exit', (code, signal) => this.fail(new TrunError('ESYS', `helper "${helper}" exited (${signal ?? code})`)));
    this.child.stdin.on('error', () => undefined); // reported through 'exit'
    this.idle();
  }

  /** An idle helper must not keep Node.js alive (a caller that forgets close() still exits). */
  private idle(): void {
    this.child.unref();
    (this.child.stdout as Readable & { unref?: () => void }).unref?.();
    (this.child.stdin as Writable & { unref?: () => void }).unref?.();
  }

  private busy(): void {
    this.child.ref();
    (this.child.stdout as Readable & { ref?: () => void }).ref?.();
  }

  /** Creates a device, fifo or (char 0/0) overlayfs whiteout; never follows symlinks. */
  async mknod(p: string, mode: number, major = 0, minor = 0): Promise<void> {
    await this.call('mknod', p, OP_MKNOD, [u32(mode), u32(major), u32(minor)]);
  }

  async setxattr(p: string, name: string, value: Buffer): Promise<void> {
    await this.call(`setxattr "${name}" on`, p, OP_SETXATTR, [field(Buffer.from(name)), field(value)]);
  }

  /** All extended attributes of a path (not following a final symlink). */
  async listxattrs(p: string): Promise<Map<string, Buffer>> {
    const payload = await this.call('listxattr', p, OP_LISTXATTR, []);
    const out = new Map<string, Buffer>();
    let off = 4;
    const count = payload.readUInt32LE(0);
    for (let i = 0; i < count; i++) {
      const nlen = payload.readUInt32LE(off);
      const name = payload.subarray(off + 4, off + 4 + nlen).toString('utf8');
      off += 4 + nlen;
      const vlen = payload.readUInt32LE(off);
      out.set(name, Buffer.from(payload.subarray(off + 4, off + 4 + vlen)));
      off += 4 + vlen;
    }
    return out;
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.ref(); // keep Node.js alive until the helper has gone
    this.child.stdin.end();
    await exited;
  }

  private call(what: string, p: string, op: number, rest: Buffer[]): Promise<Buffer> {
    if (this.dead) return Promise.reject(this.dead);
    const body = Buffer.concat([u32(op), field(Buffer.from(p)), ...rest]);
    return new Promise<Buffer>((resolve, reject) => {
      this.queue.push({ resolve, reject, what, path: p });
      this.busy();
      this.child.stdin.write(Buffer.concat([u32(body.length), body]));
    });
  }

  private onData(chunk: Buffer): void {
    this.buffered = this.buffered.length ? Buffer.concat([this.buffered, chunk]) : chunk;
    while (this.buffered.length >= 4) {
      const len = this.buffered.readUInt32LE(0);
      if (this.buffered.length < 4 + len) return;
      const errno = this.buffered.readUInt32LE(4);
      const payload = this.buffered.subarray(8, 4 + len);
      this.buffered = this.buffered.subarray(4 + len);
      const pending = this.queue.shift();
      if (this.queue.length === 0) this.idle();
      if (!pending) continue;
      if (errno === 0) {
        pending.resolve(payload);
      } else {
        const code = ERRNO_NAMES[errno] ?? `errno ${errno}`;
        const err = new TrunError('ESYS', `${pending.what} "${pending.path}": ${describeErrno(code)}`, { path: pending.path, syscall: pending.what.split(' ')[0] });
        (err as TrunError & { errno?: string }).errno = code;
        pending.reject(err);
      }
    }
  }

  private fail(err: Error): void {
    if (this.dead) return;
    this.dead = err;
    for (const p of this.queue.splice(0)) p.reject(err);
  }
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
}

function field(b: Buffer): Buffer {
  return Buffer.concat([u32(b.length), b]);
}
