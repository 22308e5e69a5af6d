// `exec --cgroup`: the exec'd process joins existing sub-cgroups of the container's cgroup, per
// runc 1.1's rules: "[<controller>[,<controller>...]:]<path>", the bare form for every hierarchy
// (only when given alone), the path resolved lexically below the container's own cgroup.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TrunError } from '../../errors';
import { UNIFIED } from './paths';

function invalid(message: string, id: string): TrunError {
  return new TrunError('EINVAL', message, { id });
}

/** The controllers each --cgroup argument names (every key for the bare form), with its path. */
function parseArgs(paths: Record<string, string>, args: readonly string[], id: string): Map<string, string> {
  const subs = new Map<string, string>();
  for (const arg of args) {
    const parts = arg.split(':');
    if (parts.length > 2) throw invalid(`invalid --cgroup argument: ${arg}`, id);
    const [prefix, sub] = parts.length === 1 ? ['', arg] : (parts as [string, string]);
    if (prefix === '') {
      if (args.length !== 1) throw invalid(`invalid --cgroup argument: ${arg} (missing <controller>: prefix)`, id);
      for (const key of Object.keys(paths)) subs.set(key, sub);
      continue;
    }
    for (const ctrl of prefix.split(',')) {
      if (ctrl === '') throw invalid(`invalid --cgroup argument: ${arg} (empty <controller> prefix)`, id);
      // The unified hierarchy has no controller name of its own here: the bare form reaches it.
      if (ctrl === UNIFIED || paths[ctrl] === undefined) throw invalid(`invalid --cgroup argument: ${arg} (unknown controller ${ctrl})`, id);
      subs.set(ctrl, sub);
    }
  }
  return subs;
}

/**
 * The cgroup directories an exec'd process joins: the container's `paths` with the sub-cgroups
 * of `args` in place. A sub-cgroup must stay inside the container's cgroup and must exist (the
 * runtime never makes one). Co-mounted controllers share a directory, so naming one moves both.
 */
export function execCgroupPaths(paths: Record<string, string>, args: readonly string[], id: string): Record<string, string> {
  const out = { ...paths };
  for (const [key, sub] of parseArgs(paths, args, id)) {
    const base = paths[key] as string;
    const target = path.posix.join(base, sub);
    if (target !== base && !target.startsWith(`${base}/`)) throw invalid(`invalid --cgroup argument: ${sub} is not a sub cgroup path`, id);
    if (!fs.existsSync(target)) {
      throw new TrunError('EINVAL', `invalid --cgroup argument: cgroup "${target}" does not exist (${key}:${sub})`, { id, path: target });
    }
    for (const [k, dir] of Object.entries(paths)) if (dir === base) out[k] = target;
  }
  return out;
}
