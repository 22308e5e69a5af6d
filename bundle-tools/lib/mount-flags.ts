// Mount flags of `trun-bundle create` to mount requests: `--mount` (docker's key=value syntax),
// `-v`/`--volume` (HOST:CTR[:OPTS] or NAME:CTR[:OPTS]) and `--tmpfs` (CTR[:OPTS]). Pure: what
// touches the host (bind sources, the volume store) is volume-mounts.ts, so config generation
// never sees flag syntax and parsing never sees the file system.
import * as path from 'node:path';
import { TrunError } from '../../runtime/errors';
import type { Mount } from '../../spec/types/runtime';
import { checkVolumeName } from './volume-name';

export type MountFlagKind = 'mount' | 'volume' | 'tmpfs';

/** A host path bind-mounted as it is; `createSource` makes a missing source a new directory (-v). */
export interface BindRequest {
  kind: 'bind';
  mount: Mount;
  createSource: boolean;
}

/** A store volume: `name` null for an anonymous one; `options` go after "rbind" (ro, propagation). */
export interface VolumeRequest {
  kind: 'volume';
  name: string | null;
  destination: string;
  options: string[];
  /** Never fill the volume from the image's content at the destination. */
  nocopy: boolean;
}

/** A mount that needs nothing from the host (tmpfs). */
export interface PlainRequest {
  kind: 'plain';
  mount: Mount;
}

export type MountRequest = BindRequest | VolumeRequest | PlainRequest;

type Fields = Map<string, string | true>;

const BOOL_TRUE = new Set(['true', '1', 'yes']);
const BOOL_FALSE = new Set(['false', '0', 'no']);
const PROPAGATIONS = new Set(['private', 'rprivate', 'shared', 'rshared', 'slave', 'rslave']);
const SIZE = /^[0-9]+[kmgKMG]?$/;
const MODE = /^[0-7]{1,4}$/;

/** One builder per `--mount` type: the keys it accepts, and how it turns them into a request. */
const BUILDERS: Record<string, { keys: Set<string>; build: (f: Fields, flag: string) => MountRequest }> = {
  bind: {
    keys: new Set(['type', 'source', 'src', 'target', 'destination', 'dst', 'readonly', 'ro', 'bind-propagation', 'bind-nonrecursive']),
    build(f, flag) {
      const source = str(f, flag, 'source', 'src');
      if (source === undefined) throw new TrunError('EINVAL', `--mount "${flag}": a bind mount needs source=`);
      if (!path.isAbsolute(source)) throw new TrunError('EINVAL', `--mount "${flag}": source "${source}" must be an absolute path`);
      const options = [bool(f, flag, 'bind-nonrecursive') ? 'bind' : 'rbind'];
      if (readonly(f, flag)) options.push('ro');
      options.push(propagation(f, flag));
      return { kind: 'bind', mount: { destination: target(f, flag), type: 'bind', source: path.normalize(source), options }, createSource: false };
    },
  },
  volume: {
    keys: new Set(['type', 'source', 'src', 'target', 'destination', 'dst', 'readonly', 'ro', 'volume-nocopy']),
    build(f, flag) {
      const name = str(f, flag, 'source', 'src');
      if (name !== undefined) checkVolumeName(name);
      const options = readonly(f, flag) ? ['ro', 'rprivate'] : ['rprivate'];
      return { kind: 'volume', name: name ?? null, destination: target(f, flag), options, nocopy: bool(f, flag, 'volume-nocopy') };
    },
  },
  tmpfs: {
    keys: new Set(['type', 'target', 'destination', 'dst', 'readonly', 'ro', 'tmpfs-size', 'tmpfs-mode']),
    build(f, flag) {
      const options = ['nosuid', 'nodev'];
      if (readonly(f, flag)) options.push('ro');
      const size = str(f, flag, 'tmpfs-size');
      if (size !== undefined) {
        if (!SIZE.test(size)) throw new TrunError('EINVAL', `--mount "${flag}": bad tmpfs-size "${size}"`);
        options.push(`size=${size}`);
      }
      const mode = str(f, flag, 'tmpfs-mode');
      if (mode !== undefined) {
        if (!MODE.test(mode)) throw new TrunError('EINVAL', `--mount "${flag}": bad tmpfs-mode "${mode}" (octal)`);
        options.push(`mode=${mode}`);
      }
      return { kind: 'plain', mount: { destination: target(f, flag), type: 'tmpfs', source: 'tmpfs', options } };
    },
  },
};

const PARSERS: Record<MountFlagKind, (value: string) => MountRequest> = {
  mount: parseMount,
  volume: parseVolume,
  tmpfs: parseTmpfs,
};

/** Turns one mount flag's value into a mount request. */
export function parseMountFlag(kind: MountFlagKind, value: string): MountRequest {
  return PARSERS[kind](value);
}

function parseMount(value: string): MountRequest {
  const fields: Fields = new Map();
  for (const part of value.split(',')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const key = (eq < 0 ? part : part.slice(0, eq)).trim().toLowerCase();
    if (fields.has(key)) throw new TrunError('EINVAL', `--mount "${value}": "${key}" given twice`);
    fields.set(key, eq < 0 ? true : part.slice(eq + 1));
  }
  const type = fields.get('type');
  if (type === undefined || type === true) throw new TrunError('EINVAL', `--mount "${value}": type= is required (bind, volume or tmpfs)`);
  const builder = BUILDERS[type];
  if (!builder) throw new TrunError('EINVAL', `--mount "${value}": unsupported mount type "${type}"`);
  for (const key of fields.keys()) {
    if (!builder.keys.has(key)) throw new TrunError('EINVAL', `--mount "${value}": unknown option "${key}" for type ${type}`);
  }
  return builder.build(fields, value);
}

/** What each `-v` option sets; two options setting one thing differently conflict (ro,rw). */
interface VolumeOpts {
  ro?: boolean;
  nocopy?: boolean;
  propagation?: string;
}
const VOLUME_OPTIONS: Record<string, VolumeOpts> = {
  ro: { ro: true },
  rw: { ro: false },
  nocopy: { nocopy: true },
  ...Object.fromEntries([...PROPAGATIONS].map((p) => [p, { propagation: p }])),
};

/** `-v [SRC:]CTR[:OPTS]`: SRC an absolute host path (bind) or a volume name; no SRC, an anonymous volume. */
function parseVolume(value: string): MountRequest {
  const parts = value.split(':');
  if (parts.length > 3 || parts.some((p) => p === '')) throw new TrunError('EINVAL', `-v "${value}": expected [SOURCE:]DESTINATION[:OPTIONS]`);
  const [source, dest, opts] = parts.length === 1 ? [null, parts[0]!, ''] : [parts[0]!, parts[1]!, parts[2] ?? ''];
  if (!path.posix.isAbsolute(dest)) throw new TrunError('EINVAL', `-v "${value}": destination "${dest}" must be an absolute path`);
  const destination = checkDestination(dest, `-v "${value}"`);
  const o: VolumeOpts = {};
  for (const opt of opts.split(',').filter(Boolean)) {
    const set = VOLUME_OPTIONS[opt];
    if (!set) throw new TrunError('EINVAL', `-v "${value}": unknown option "${opt}"`);
    for (const [k, v] of Object.entries(set) as [keyof VolumeOpts, string | boolean][]) {
      if (o[k] !== undefined && o[k] !== v) throw new TrunError('EINVAL', `-v "${value}": conflicting options ("${opt}")`);
    }
    Object.assign(o, set);
  }
  const ro = o.ro === true ? ['ro'] : [];
  if (source !== null && path.isAbsolute(source)) {
    if (o.nocopy === true) throw new TrunError('EINVAL', `-v "${value}": nocopy is for volumes, not host paths`);
    const mount: Mount = { destination, type: 'bind', source: path.normalize(source), options: ['rbind', ...ro, o.propagation ?? 'rprivate'] };
    return { kind: 'bind', mount, createSource: true };
  }
  if (source !== null) checkVolumeName(source, 'if you meant a host directory, give an absolute path');
  if (o.propagation !== undefined) throw new TrunError('EINVAL', `-v "${value}": propagation is for host paths, not volumes`);
  return { kind: 'volume', name: source, destination, options: [...ro, 'rprivate'], nocopy: o.nocopy === true };
}

/** The flags `--tmpfs` may carry: the one each cancels, and whether it is itself a mount option (the defaults are off-switches). */
const TMPFS_FLAGS: Record<string, { cancels: string; add: boolean }> = {
  ro: { cancels: 'rw', add: true },
  rw: { cancels: 'ro', add: false },
  noexec: { cancels: 'exec', add: true },
  exec: { cancels: 'noexec', add: false },
  nosuid: { cancels: 'suid', add: true },
  suid: { cancels: 'nosuid', add: false },
  nodev: { cancels: 'dev', add: true },
  dev: { cancels: 'nodev', add: false },
};
const TMPFS_VALUES: Record<string, RegExp> = { size: SIZE, mode: MODE, nr_inodes: /^[0-9]+[kmgKMG]?$/ };

/** `--tmpfs CTR[:OPTS]`: docker's defaults (noexec, nosuid, nodev), then the options given. */
function parseTmpfs(value: string): MountRequest {
  const colon = value.indexOf(':');
  const dest = colon < 0 ? value : value.slice(0, colon);
  const opts = colon < 0 ? '' : value.slice(colon + 1);
  if (!path.posix.isAbsolute(dest)) throw new TrunError('EINVAL', `--tmpfs "${value}": destination "${dest}" must be an absolute path`);
  const destination = checkDestination(dest, `--tmpfs "${value}"`);
  const flags = ['noexec', 'nosuid', 'nodev'];
  const values = new Map<string, string>();
  for (const opt of opts.split(',').filter(Boolean)) {
    const eq = opt.indexOf('=');
    if (eq < 0) {
      const f = TMPFS_FLAGS[opt];
      if (f === undefined) throw new TrunError('EINVAL', `--tmpfs "${value}": unknown option "${opt}"`);
      const i = flags.indexOf(f.cancels);
      if (i >= 0) flags.splice(i, 1);
      if (f.add && !flags.includes(opt)) flags.push(opt);
      continue;
    }
    const key = opt.slice(0, eq);
    const v = opt.slice(eq + 1);
    const re = TMPFS_VALUES[key];
    if (re === undefined) throw new TrunError('EINVAL', `--tmpfs "${value}": unknown option "${key}"`);
    if (!re.test(v)) throw new TrunError('EINVAL', `--tmpfs "${value}": bad ${key} "${v}"`);
    values.set(key, v);
  }
  const options = [...flags, ...[...values].map(([k, v]) => `${k}=${v}`)];
  return { kind: 'plain', mount: { destination, type: 'tmpfs', source: 'tmpfs', options } };
}

/** A container path in one spelling: normalised, no trailing "/". */
export function normalizeDestination(dest: string): string {
  return path.posix.normalize(dest).replace(/(.)\/+$/, '$1');
}

/** The normalised destination; "/" itself is refused. */
function checkDestination(dest: string, what: string): string {
  const clean = normalizeDestination(dest);
  if (clean === '/') throw new TrunError('EINVAL', `${what}: cannot mount over "/"`);
  return clean;
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

function propagation(f: Fields, flag: string): string {
  const prop = str(f, flag, 'bind-propagation');
  if (prop === undefined) return 'rprivate';
  if (!PROPAGATIONS.has(prop)) throw new TrunError('EINVAL', `--mount "${flag}": unknown bind-propagation "${prop}"`);
  return prop;
}

function target(f: Fields, flag: string): string {
  const t = str(f, flag, 'target', 'destination', 'dst');
  if (t === undefined) throw new TrunError('EINVAL', `--mount "${flag}": target= is required`);
  if (!path.posix.isAbsolute(t)) throw new TrunError('EINVAL', `--mount "${flag}": target "${t}" must be an absolute path`);
  return checkDestination(t, `--mount "${flag}"`);
}

/** `--volumes-from BUNDLE[:ro|:rw]`; `readonly` null keeps each mount's own mode. */
export interface VolumesFrom {
  bundle: string;
  readonly: boolean | null;
}

const VOLUMES_FROM_MODES: Record<string, boolean> = { ro: true, rw: false };

export function parseVolumesFrom(value: string): VolumesFrom {
  const colon = value.lastIndexOf(':');
  const mode = colon < 0 ? undefined : value.slice(colon + 1);
  if (mode !== undefined && VOLUMES_FROM_MODES[mode] === undefined) throw new TrunError('EINVAL', `--volumes-from "${value}": mode must be ro or rw`);
  const bundle = mode === undefined ? value : value.slice(0, colon);
  if (bundle === '') throw new TrunError('EINVAL', `--volumes-from "${value}": no bundle`);
  return { bundle, readonly: mode === undefined ? null : VOLUMES_FROM_MODES[mode]! };
}
