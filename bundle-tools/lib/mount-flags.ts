// Mount flags to OCI mounts. `--mount type=bind,source=/a,target=/b,readonly` (docker's syntax)
// today; -v and --tmpfs (and type=volume) are for a later issue and will add parsers here that
// produce the same MountRequest, so config generation never sees flag syntax.
import * as path from 'node:path';
import { TrunError } from '../../runtime/errors';
import type { Mount } from '../../spec/types/runtime';

export type MountFlagKind = 'mount';

type Fields = Map<string, string | true>;

const BOOL_TRUE = new Set(['true', '1', 'yes']);
const BOOL_FALSE = new Set(['false', '0', 'no']);
const PROPAGATIONS = new Set(['private', 'rprivate', 'shared', 'rshared', 'slave', 'rslave']);

/** One builder per mount type: the keys it accepts, and how it turns them into an OCI mount. */
const BUILDERS: Record<string, { keys: Set<string>; build: (f: Fields, flag: string) => Mount }> = {
  bind: {
    keys: new Set(['type', 'source', 'src', 'target', 'destination', 'dst', 'readonly', 'ro', 'bind-propagation', 'bind-nonrecursive']),
    build(f, flag) {
      const source = str(f, flag, 'source', 'src');
      if (source === undefined) throw new TrunError('EINVAL', `--mount "${flag}": a bind mount needs source=`);
      if (!path.isAbsolute(source)) throw new TrunError('EINVAL', `--mount "${flag}": source "${source}" must be an absolute path`);
      const options = [bool(f, flag, 'bind-nonrecursive') ? 'bind' : 'rbind'];
      if (readonly(f, flag)) options.push('ro');
      const prop = str(f, flag, 'bind-propagation');
      if (prop !== undefined) {
        if (!PROPAGATIONS.has(prop)) throw new TrunError('EINVAL', `--mount "${flag}": unknown bind-propagation "${prop}"`);
        options.push(prop);
      } else {
        options.push('rprivate');
      }
      return { destination: target(f, flag), type: 'bind', source: path.normalize(source), options };
    },
  },
  tmpfs: {
    keys: new Set(['type', 'target', 'destination', 'dst', 'readonly', 'ro', 'tmpfs-size', 'tmpfs-mode']),
    build(f, flag) {
      const options = ['nosuid', 'nodev'];
      if (readonly(f, flag)) options.push('ro');
      const size = str(f, flag, 'tmpfs-size');
      if (size !== undefined) {
        if (!/^[0-9]+[kmgKMG]?$/.test(size)) throw new TrunError('EINVAL', `--mount "${flag}": bad tmpfs-size "${size}"`);
        options.push(`size=${size}`);
      }
      const mode = str(f, flag, 'tmpfs-mode');
      if (mode !== undefined) {
        if (!/^[0-7]{1,4}$/.test(mode)) throw new TrunError('EINVAL', `--mount "${flag}": bad tmpfs-mode "${mode}" (octal)`);
        options.push(`mode=${mode}`);
      }
      return { destination: target(f, flag), type: 'tmpfs', source: 'tmpfs', options };
    },
  },
};

/** Turns one mount flag's value into an OCI mount. */
export function parseMountFlag(kind: MountFlagKind, value: string): Mount {
  void kind; // only --mount so far
  const fields: Fields = new Map();
  for (const part of value.split(',')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const key = (eq < 0 ? part : part.slice(0, eq)).trim().toLowerCase();
    if (fields.has(key)) throw new TrunError('EINVAL', `--mount "${value}": "${key}" given twice`);
    fields.set(key, eq < 0 ? true : part.slice(eq + 1));
  }
  const type = fields.get('type');
  if (type === undefined || type === true) throw new TrunError('EINVAL', `--mount "${value}": type= is required (bind or tmpfs)`);
  const builder = BUILDERS[type];
  if (!builder) {
    const hint = type === 'volume' ? ' (volumes are not supported yet)' : '';
    throw new TrunError('EINVAL', `--mount "${value}": unsupported mount type "${type}"${hint}`);
  }
  for (const key of fields.keys()) {
    if (!builder.keys.has(key)) throw new TrunError('EINVAL', `--mount "${value}": unknown option "${key}" for type ${type}`);
  }
  return builder.build(fields, value);
}

function str(f: Fields, flag: string, ...keys: string[]): string | undefined {
  const found = keys.filter((k) => f.has(k));
  if (found.length > 1) throw new TrunError('EINVAL', `--mount "${flag}": give only one of ${found.join(', ')}`);
  if (found.length === 0) return undefined;
  const v = f.get(found[0]!)!;
  if (v === true || v === '') throw new TrunError('EINVAL', `--mount "${flag}": "${found[0]}" needs a value`);
  return v;
}

function bool(f: Fields, flag: string, key: string): boolean {
  const v = f.get(key);
  if (v === undefined) return false;
  if (v === true || BOOL_TRUE.has(v)) return true;
  if (BOOL_FALSE.has(v)) return false;
  throw new TrunError('EINVAL', `--mount "${flag}": "${key}" must be true or false`);
}

function readonly(f: Fields, flag: string): boolean {
  return bool(f, flag, 'readonly') || bool(f, flag, 'ro');
}

function target(f: Fields, flag: string): string {
  const t = str(f, flag, 'target', 'destination', 'dst');
  if (t === undefined) throw new TrunError('EINVAL', `--mount "${flag}": target= is required`);
  if (!path.posix.isAbsolute(t)) throw new TrunError('EINVAL', `--mount "${flag}": target "${t}" must be an absolute path`);
  return path.posix.normalize(t);
}
