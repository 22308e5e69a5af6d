// The state store under --root: one directory per container holding state.json, the exec fifo
// and a lock file, so two trun commands on the same id never interleave.
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
    const dir = this.dir(state.id);
    const tmp = path.join(dir, `.${STATE_FILE}.${uniqueSuffix()}`);
    try {
      fs.writeFileSync(tmp, JSON.stringify(state), { mode: 0o600 });
      fs.renameSync(tmp, path.join(dir, STATE_FILE));
    } catch (e) {
      fs.rmSync(tmp, { force: true });
      throw sysError('write', path.join(dir, STATE_FILE), e, state.id);
    }
  }

  remove(id: string): void {
    fs.rmSync(this.dir(id), { recursive: true, force: true });
  }

  list(): string[] {
    try {
      return fs.readdirSync(this.root).filter((n) => ID_RE.test(n) && fs.existsSync(path.join(this.root, n, STATE_FILE)));
    } catch {
      return [];
    }
  }

  /**
   * Takes the container's lock, waiting while another live trun holds it. A lock left by a trun
   * that died is taken over. Returns the release function. The lock holds "<pid> <holder>": the
   * pid tells a dead holder (a trun, or a warm server with all its commands, that died), the
   * holder part tells apart two commands of one server, so one never releases the other's lock.
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
