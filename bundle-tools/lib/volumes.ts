// Volumes in the store: <store>/volumes/NAME/{volume.json,_data}. volume.json holds what docker
// keeps per local volume (name, creation time, labels) plus whether the volume is anonymous and
// whether its one copy-up from an image has happened. Which bundles use a volume is in the
// store's bundle records, so a bundle deleted by hand stops holding its volumes. Mutating calls
// expect the store lock (Store.withLock); a volume appears and disappears by rename, whole.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TrunError, sysError } from '../../runtime/errors';
import type { Store } from './store';
import { checkVolumeName, randomVolumeName } from './volume-name';

export interface VolumeMeta {
  version: 1;
  name: string;
  created: string;
  labels: Record<string, string>;
  /** Made for an image VOLUME or a bare `-v /path`: removed with its bundle by `rm --volumes`. */
  anonymous: boolean;
  /** Set when the volume was first mounted: copy-up from an image happens at most once. */
  initialised: boolean;
}

/** What `volume inspect` shows: docker's fields, plus the bundles that use the volume. */
export interface VolumeInfo {
  Name: string;
  CreatedAt: string;
  Driver: 'local';
  Labels: Record<string, string>;
  Mountpoint: string;
  Options: Record<string, string>;
  Scope: 'local';
  Anonymous: boolean;
  Bundles: string[];
}

const META = 'volume.json';
const DATA = '_data';

export class Volumes {
  constructor(readonly store: Store) {}

  get dir(): string {
    return this.store.volumesDir;
  }

  /** The directory that is mounted: the volume's content. */
  dataDir(name: string): string {
    return path.join(this.dir, checkVolumeName(name), DATA);
  }

  exists(name: string): boolean {
    return fs.existsSync(path.join(this.dir, checkVolumeName(name), META));
  }

  read(name: string): VolumeMeta {
    const file = path.join(this.dir, checkVolumeName(name), META);
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new TrunError('EINVAL', `no such volume "${name}" in store "${this.store.root}"`, { path: file });
      throw sysError('read', file, err);
    }
    try {
      const meta = JSON.parse(text) as VolumeMeta;
      if (meta.version === 1 && meta.name === name) return meta;
    } catch {
      // reported below
    }
    throw new TrunError('EIMAGE', `"${file}": not a volume description`, { path: file });
  }

  /** Every volume, by name. */
  list(): VolumeMeta[] {
    let names: string[];
    try {
      names = fs.readdirSync(this.dir).sort();
    } catch {
      return [];
    }
    return names.filter((n) => fs.existsSync(path.join(this.dir, n, META))).map((n) => this.read(n));
  }

  /**
   * Creates a volume (a random name when none is given); an existing one is returned as it is,
   * as docker does. `created` says whether this call made it.
   */
  create(o: { name?: string; labels?: Record<string, string>; anonymous?: boolean } = {}): { meta: VolumeMeta; created: boolean } {
    const name = checkVolumeName(o.name ?? randomVolumeName());
    if (this.exists(name)) return { meta: this.read(name), created: false };
    const meta: VolumeMeta = {
      version: 1, name, created: new Date().toISOString(), labels: { ...(o.labels ?? {}) }, anonymous: o.anonymous ?? false, initialised: false,
    };
    // Made in tmp/ and renamed in: a volume directory is never seen half made.
    const staging = this.store.tmpPath('volume');
    const dest = path.join(this.dir, name);
    try {
      fs.mkdirSync(this.dir, { recursive: true, mode: 0o701 });
      fs.mkdirSync(path.join(staging, DATA), { recursive: true, mode: 0o755 });
      fs.chmodSync(staging, 0o701);
      fs.writeFileSync(path.join(staging, META), JSON.stringify(meta, null, 2) + '\n', { mode: 0o644 });
      fs.renameSync(staging, dest);
    } catch (err) {
      fs.rmSync(staging, { recursive: true, force: true });
      throw sysError('create volume', dest, err);
    }
    return { meta, created: true };
  }

  setInitialised(name: string, initialised: boolean): void {
    const meta = this.read(name);
    this.store.writeAtomic(path.join(this.dir, name, META), JSON.stringify({ ...meta, initialised }, null, 2) + '\n');
  }

  /** Deletes a volume and its content (moved aside first, so it vanishes whole). Returns its size in bytes. */
  remove(name: string): number {
    this.read(name);
    const dir = path.join(this.dir, name);
    const aside = this.store.tmpPath('volumerm');
    try {
      fs.renameSync(dir, aside);
    } catch (err) {
      throw sysError('rename', dir, err);
    }
    const bytes = treeSize(path.join(aside, DATA));
    fs.rmSync(aside, { recursive: true, force: true });
    return bytes;
  }

  /** Removes those of `names` that are anonymous and that no bundle uses; returns their names. */
  removeAnonymous(names: string[]): string[] {
    const users = this.users();
    const gone = names.filter((n) => this.exists(n) && !users.has(n) && this.read(n).anonymous);
    for (const n of gone) this.remove(n);
    return gone;
  }

  /** Bundles that use each volume (volumes no bundle uses are absent). */
  users(): Map<string, string[]> {
    const out = new Map<string, string[]>();
    for (const rec of this.store.bundleRecords()) {
      for (const v of rec.volumes ?? []) out.set(v, [...(out.get(v) ?? []), rec.bundle]);
    }
    return out;
  }

  /** Throws unless no bundle (other than `except`) uses the volume. */
  checkUnused(name: string, except?: string): void {
    const users = (this.users().get(name) ?? []).filter((b) => b !== except);
    if (users.length > 0) {
      throw new TrunError('EBUNDLE', `volume "${name}" is in use by bundle ${users.map((b) => `"${b}"`).join(', ')}; remove the bundle first (trun-bundle rm)`);
    }
  }

  info(meta: VolumeMeta, users: Map<string, string[]>): VolumeInfo {
    return {
      Name: meta.name, CreatedAt: meta.created, Driver: 'local', Labels: meta.labels, Mountpoint: this.dataDir(meta.name),
      Options: {}, Scope: 'local', Anonymous: meta.anonymous, Bundles: users.get(meta.name) ?? [],
    };
  }
}

/** Bytes of the regular files below `dir` (symlinks not followed). */
export function treeSize(dir: string): number {
  let total = 0;
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) total += treeSize(p);
    else if (e.isFile()) total += fs.lstatSync(p).size;
  }
  return total;
}

/** Whether a directory has no entries (a missing one counts as empty). */
export function isEmptyDir(dir: string): boolean {
  try {
    return fs.readdirSync(dir).length === 0;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return true;
    throw sysError('readdir', dir, err);
  }
}
