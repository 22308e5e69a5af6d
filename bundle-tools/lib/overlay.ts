// overlayfs mounts of bundles, through mount(8)/umount(8) (Node.js has no mount(2)). Lower dirs
// are passed relative to the layer cache, with mount(8) run there, so that long stacks fit the
// kernel's one-page limit on mount options.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TrunError } from '../../runtime/errors';

export interface OverlaySpec {
  /** Lower dirs, top-most first (overlayfs order). */
  lower: string[];
  upper: string;
  work: string;
  target: string;
}

/** The option string for mount(8), lower dirs relative to `cwd` when they are inside it. */
export function overlayOptions(spec: OverlaySpec, cwd: string): string {
  const rel = (p: string): string => {
    const r = path.relative(cwd, p);
    return r.startsWith('..') || path.isAbsolute(r) ? p : r;
  };
  for (const p of [...spec.lower, spec.upper, spec.work]) {
    if (/[,:\\]/.test(p)) throw new TrunError('EINVAL', `overlay path "${p}" contains ",", ":" or "\\"`, { path: p });
  }
  // redirect_dir, metacopy and index off: commit reads the upper dir as plain files and
  // whiteouts, which these features would replace with xattr indirections.
  return [
    `lowerdir=${spec.lower.map(rel).join(':')}`,
    `upperdir=${spec.upper}`,
    `workdir=${spec.work}`,
    'redirect_dir=off',
    'metacopy=off',
    'index=off',
  ].join(',');
}

export function mountOverlay(spec: OverlaySpec): void {
  if (spec.lower.length === 0) throw new TrunError('EINVAL', 'overlay needs at least one lower layer');
  const cwd = path.dirname(spec.lower[0]!);
  const opts = overlayOptions(spec, cwd);
  if (opts.length > 4000) throw new TrunError('EINVAL', `too many layers (${spec.lower.length}) for one overlay mount`);
  const r = spawnSync('mount', ['-t', 'overlay', 'overlay', '-o', opts, spec.target], { cwd, encoding: 'utf8' });
  if (r.error) throw new TrunError('ESYS', `mount overlay on "${spec.target}": ${r.error.message}`, { path: spec.target, cause: r.error });
  if (r.status !== 0) {
    throw new TrunError('ESYS', `mount overlay on "${spec.target}": ${(r.stderr || `mount exited ${r.status}`).trim().replace(/^mount: /, '')}`, { path: spec.target, syscall: 'mount' });
  }
}

export function unmount(target: string): void {
  const r = spawnSync('umount', [target], { encoding: 'utf8' });
  if (r.error) throw new TrunError('ESYS', `umount "${target}": ${r.error.message}`, { path: target, cause: r.error });
  if (r.status !== 0) throw new TrunError('ESYS', `umount "${target}": ${(r.stderr || `umount exited ${r.status}`).trim().replace(/^umount: /, '')}`, { path: target, syscall: 'umount' });
}

/** Mount points at or below `dir` in this mount namespace, deepest first. */
export function mountsUnder(dir: string): string[] {
  const base = fs.realpathSync(dir);
  const out: string[] = [];
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const fields = line.split(' ');
    if (fields.length < 5) continue;
    const mp = unescapeMountPath(fields[4]!);
    if (mp === base || mp.startsWith(base + '/')) out.push(mp);
  }
  return [...new Set(out)].sort((a, b) => b.length - a.length);
}

export function isMountPoint(dir: string): boolean {
  try {
    return mountsUnder(dir).includes(fs.realpathSync(dir));
  } catch {
    return false;
  }
}

function unescapeMountPath(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
}
