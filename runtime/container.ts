// A container as later commands see it: its stored state, its status derived from the process
// (never trusted from disk), and the OCI state document that `trun state` and hooks receive.
import * as fs from 'node:fs';
import { loadCgroupManager, type CgroupManager } from './linux/cgroups';
import { isAlive } from './linux/proc';
import type { StateStore, StoredState } from './state';

/** The name init/sealed.c gives the memfd copy of trun-init that every container init runs. */
const INIT_MEMFD_NAME = 'trun-init';

export type Status = 'creating' | 'created' | 'running' | 'paused' | 'stopped';

export function cgroupOf(st: StoredState): CgroupManager {
  return loadCgroupManager(st.cgroupPaths);
}

export function statusOf(st: StoredState, store: StateStore): Status {
  if (!isAlive(st.pid, st.pidStartTime)) return 'stopped';
  // Paused before created: runc freezes a created container too, and reports it paused.
  try {
    if (Object.keys(st.cgroupPaths).length && cgroupOf(st).frozen()) return 'paused';
  } catch {
    // no freezer: cannot be paused
  }
  // The exec fifo exists from create until start has released the init; a start killed between
  // reading its byte and removing it leaves the fifo to a container that runs its process.
  return fs.existsSync(store.fifoPath(st.id)) && stillInit(st.pid) ? 'created' : 'running';
}

/** The process still runs trun-init (a sealed memfd copy), not the container's process yet. */
function stillInit(pid: number): boolean {
  try {
    return fs.readlinkSync(`/proc/${pid}/exe`).startsWith(`/memfd:${INIT_MEMFD_NAME}`);
  } catch {
    return true; // unreadable: the fifo alone decides, as before
  }
}

/**
 * The state document: the OCI state (ociVersion, id, status, pid, bundle, annotations) plus the
 * fields runc adds and callers read (rootfs, created, owner). Status may also be "paused".
 */
export interface StateDocument {
  ociVersion: string;
  id: string;
  pid: number;
  status: Status;
  bundle: string;
  rootfs: string;
  created: string;
  owner: string;
  annotations?: Record<string, string>;
}

export function ociState(st: StoredState, status: Status): StateDocument {
  const state: StateDocument = {
    ociVersion: st.ociVersion,
    id: st.id,
    status,
    pid: status === 'stopped' ? 0 : st.pid,
    bundle: st.bundle,
    rootfs: st.rootfs,
    created: st.created,
    owner: st.owner,
  };
  if (Object.keys(st.annotations).length) state.annotations = st.annotations;
  return state;
}
