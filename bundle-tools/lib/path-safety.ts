// Path rules for layer entries and for reading files inside a root filesystem: nothing a tar
// entry, a hard link or a symlink says may reach outside the directory it is applied to.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TrunError } from '../../runtime/errors';

/**
 * The relative, normalised form of a tar entry name or hard link target: leading "/" and "./"
 * dropped, empty and "." components removed. Any ".." component is refused, even one that would
 * stay inside, because no honest layer writer produces them. Returns "" for the root itself.
 */
export function normalizeEntryPath(name: string, what = 'layer entry'): string {
  if (name.includes('\0')) throw new TrunError('EIMAGE', `${what} ${JSON.stringify(name)}: name contains a NUL byte`);
  const parts: string[] = [];
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') throw new TrunError('EIMAGE', `${what} ${JSON.stringify(name)}: path escapes the layer root ("..")`, { path: name });
    parts.push(part);
  }
  return parts.join('/');
}

/**
 * Checks that every directory above `rel` inside `root` is a real directory, not a symlink, and
 * creates missing ones (mode 0755). Never follows a symlink: a layer that plants `a -> /etc` and
 * then writes `a/passwd` is refused here, whatever the order of entries or earlier checks.
 */
export function ensureParentDirs(root: string, rel: string, create = true): void {
  const parts = rel.split('/');
  let cur = root;
  for (let i = 0; i < parts.length - 1; i++) {
    cur = path.join(cur, parts[i]!);
    let st: fs.Stats | undefined;
    try {
      st = fs.lstatSync(cur);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (st === undefined) {
      if (!create) throw new TrunError('EIMAGE', `layer entry "${rel}": "${parts.slice(0, i + 1).join('/')}" does not exist`, { path: rel });
      fs.mkdirSync(cur, { mode: 0o755 });
      continue;
    }
    if (st.isSymbolicLink()) {
      throw new TrunError('EIMAGE', `layer entry "${rel}": parent "${parts.slice(0, i + 1).join('/')}" is a symlink; refusing to follow it`, { path: rel });
    }
    if (!st.isDirectory()) {
      throw new TrunError('EIMAGE', `layer entry "${rel}": parent "${parts.slice(0, i + 1).join('/')}" is not a directory`, { path: rel });
    }
  }
}

const MAX_SYMLINKS = 40;

/**
 * Resolves `target` (absolute inside the container) against `root` the way the kernel would
 * inside a chroot: absolute symlinks restart at `root`, ".." never climbs above it. Returns the
 * host path, or null when it does not exist. Used to read /etc/passwd and the like from images.
 */
export function resolveInRoot(root: string, target: string): string | null {
  let pending = target.split('/').filter((p) => p !== '' && p !== '.');
  const done: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const part = pending.shift()!;
    if (part === '..') {
      done.pop();
      continue;
    }
    const host = path.join(root, ...done, part);
    let st: fs.Stats;
    try {
      st = fs.lstatSync(host);
    } catch {
      return null;
    }
    if (st.isSymbolicLink()) {
      if (++links > MAX_SYMLINKS) throw new TrunError('EINVAL', `resolve "${target}" in "${root}": too many levels of symbolic links`);
      const link = fs.readlinkSync(host);
      if (link.startsWith('/')) done.length = 0;
      pending = [...link.split('/').filter((p) => p !== '' && p !== '.'), ...pending];
      continue;
    }
    done.push(part);
  }
  return path.join(root, ...done);
}

/** Reads a file inside a root filesystem without letting symlinks lead out of it; null when absent. */
export function readFileInRoot(root: string, target: string): string | null {
  const host = resolveInRoot(root, target);
  if (host === null) return null;
  try {
    const st = fs.lstatSync(host);
    if (!st.isFile()) return null;
    return fs.readFileSync(host, 'utf8');
  } catch {
    return null;
  }
}
