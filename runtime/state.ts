// The state store under --root: one directory per container holding state.json, the exec fifo,
// a lock file, so two trun commands on the same id never interleave, and the record of what a
// create is about to make (so that a create killed before state.json can still be undone).
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Spec } from '../spec/types/runtime';
import { TrunError, sysError } from './errors';
import type { HostRootfs } from './host-rootfs';
import { acquirePidLock, uniqueSuffix } from './pid-lock';

export const DEFAULT_ROOT = '/run/trun';
export const STATE_FILE = 'state.json';
export const FIFO_FILE = 'exec.fifo';
const LOCK_FILE = 'lock';
/** Written by create before it makes anything outside the state dir: see CreatingRecord. */
const CREATING_FILE = 'creating.json';

export { lockHolderPid, uniqueSuffix } from './pid-lock';

/** What trun keeps about a container: the OCI state plus what later commands need. */
export interface StoredState {
  ociVersion: string;
  id: string;
  /** Host pid of the container's init (0 until known). */
  pid: number;
  /** /proc/<pid>/stat start time, so a reused pid is never mistaken for the container. */
  pidStartTime: number;
  bundle: string;
  rootfs: string;
  /** RFC 3339. */
  created: string;
  owner: string;
  annotations: Record<string, string>;
  /** Cgroup directory per controller ("unified" for cgroup v2). */
  cgroupPaths: Record<string, string>;
  /** The config the container was created from (hooks and defaults for later commands). */
  config: Spec;
  /** Created with --no-new-keyring: exec keeps the caller's session keyring too. */
  noNewKeyring?: boolean;
  /** No mount namespace: the rootfs bind in the host's, which delete takes down. */
  hostRootfs?: HostRootfs;
}

/**
 * What a create records before it makes the container's cgroups. A create killed before
 * state.json leaves only this behind, and `delete` undoes what it names: the cgroups hold every
 * process the create started (the init joins them before it receives its plan).
 */
export interface CreatingRecord {
  id: string;
  /** As in StoredState: one directory per controller ("unified" for cgroup v2). */
  cgroupPaths: Record<string, string>;
  /** Without a mount namespace: the rootfs whose bind create makes on the host (host-rootfs.ts). */
  hostRootfs?: HostRootfs;
}

const ID_RE = /^[\w+.-]+$/;

export function validateId(id: string): void {
  if (!ID_RE.test(id) || id === '.' || id === '..' || id.length > 1024) {
    throw new TrunError('EBADID', 'invalid container ID format', { id });
  }
}

export class StateStore {
  constructor(readonly root: string) {}

  dir(id: string): string {
    validateId(id);
    return path.join(this.root, id);
  }

  fifoPath(id: string): string {
    return path.join(this.dir(id), FIFO_FILE);
  }

  /** Makes the container's directory; fails when the id is taken. */
  reserve(id: string): string {
    const dir = this.dir(id);
    try {
      fs.mkdirSync(this.root, { recursive: true, mode: 0o711 });
    } catch (e) {
      throw sysError('mkdir', this.root, e, id);
    }
    try {
      fs.mkdirSync(dir, { mode: 0o711 });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') {
        throw new TrunError('EEXIST', 'container with given ID already exists', { id });
      }
      throw sysError('mkdir', dir, e, id);
    }
    return dir;
  }

  exists(id: string): boolean {
    return fs.existsSync(path.join(this.dir(id), STATE_FILE));
  }

  /** The container's directory exists, with or without its state (a create in progress, or killed). */
  hasDir(id: string): boolean {
    return fs.existsSync(this.dir(id));
  }

  /** Records what create is about to make; written (atomically) before it is made. */
  saveCreating(rec: CreatingRecord): void {
    this.writeAtomic(rec.id, CREATING_FILE, rec);
  }

  /** The create record, or undefined when there is none (or it cannot be read: then nothing was made). */
  loadCreating(id: string): CreatingRecord | undefined {
    try {
      const rec = JSON.parse(fs.readFileSync(path.join(this.dir(id), CREATING_FILE), 'utf8')) as Partial<CreatingRecord>;
      if (rec.id !== id || typeof rec.cgroupPaths !== 'object' || rec.cgroupPaths === null) return undefined;
      return { id, cgroupPaths: rec.cgroupPaths, ...(rec.hostRootfs ? { hostRootfs: rec.hostRootfs } : {}) };
    } catch {
      return undefined;
    }
  }

  load(id: string): StoredState {
    const file = path.join(this.dir(id), STATE_FILE);
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new TrunError('ENOTEXIST', 'container does not exist', { id });
      throw sysError('open', file, e, id);
    }
    try {
      return JSON.parse(text) as StoredState;
    } catch (e) {
      throw new TrunError('ESYS', `state "${file}": invalid JSON`, { id, path: file, cause: e });
    }
  }

  /** Atomic: written to a temporary file, then renamed over state.json. */
  save(state: StoredState): void {
    this.writeAtomic(state.id, STATE_FILE, state);
  }

  private writeAtomic(id: string, name: string, value: unknown): void {
    const dir = this.dir(id);
    const tmp = path.join(dir, `.${name}.${uniqueSuffix()}`);
    try {
      fs.writeFileSync(tmp, JSON.stringify(value), { mode: 0o600 });
      fs.renameSync(tmp, path.join(dir, name));
    } catch (e) {
      fs.rmSync(tmp, { force: true });
      throw sysError('write', path.join(dir, name), e, id);
    }
  }

  remove(id: string): void {
    fs.rmSync(this.dir(id), { recursive: true, force: true });
  }

  /** Every container directory, with or without state.json (see `exists`). */
  list(): string[] {
    try {
      return fs.readdirSync(this.root, { withFileTypes: true }).filter((e) => e.isDirectory() && ID_RE.test(e.name))
        .map((e) => e.name).sort();
    } catch {
      return [];
    }
  }

  /**
   * Takes the container's lock, waiting while another live trun holds it. A lock left by a trun
   * that died is taken over. Returns the release function. The lock holds "<pid> <holder>": the
   * pid tells a dead holder (a trun, or a warm server with all its commands, that died), the
   * holder part tells apart two commands of one server, so one never releases the other's lock.
   * Wait: bounded by timeoutMs (then "container is locked by pid N"), and ended early by the
   * holder's death; a live holder stuck forever is the caller's to signal, ours ends at the bound.
   */
  async lock(id: string, timeoutMs = 60_000): Promise<() => void> {
    const file = path.join(this.dir(id), LOCK_FILE);
    return acquirePidLock(file, {
      timeoutMs,
      busy: (holder) => new TrunError('ESYS', `container is locked by pid ${holder}`, { id, path: file }),
      missing: () => new TrunError('ENOTEXIST', 'container does not exist', { id }),
    });
  }
}
