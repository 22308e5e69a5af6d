// Docker's copy-up: an empty volume first mounted over a directory the image fills starts as a
// copy of that directory (content, owner, mode). Only the first mount of a volume may copy.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { TrunError } from '../../runtime/errors';
import { resolveInRoot } from './path-safety';
import { isEmptyDir } from './volumes';

/** Copies `rootfs`'s content at `dest` into the empty directory `data`; returns whether anything was copied. */
export function copyUp(rootfs: string, dest: string, data: string): boolean {
  const src = resolveInRoot(rootfs, dest);
  if (src === null || !fs.lstatSync(src).isDirectory() || isEmptyDir(src) || !isEmptyDir(data)) return false;
  // cp -a of "src/." also gives `data` the owner and mode of the image's directory.
  const r = spawnSync('cp', ['-a', '--', `${src}/.`, data], { encoding: 'utf8' });
  if (r.status !== 0) {
    throw new TrunError('ESYS', `copy "${dest}" of the image into volume "${data}": ${(r.stderr || r.error?.message || `cp exited ${r.status}`).trim()}`, { path: data });
  }
  return true;
}
