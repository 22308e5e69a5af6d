// `trun create`: validate the bundle, compile the plan, start trun-init and answer its sync
// points (uid/gid maps, hooks, state), leaving the container blocked on its exec fifo.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { LinuxIDMapping, Spec } from '../../spec/types/runtime';
import { loadConfig } from '../../spec/validate';
import { ociState, type Status } from '../container';
import type { Context } from '../context';
import { storeOf } from '../context';
import { TrunError, sysError } from '../errors';
import { runHooks, runHooksLogged } from '../hooks';
import { detachHostRootfs, recordHostRootfs, type HostRootfs } from '../host-rootfs';
import { launchInit, type LaunchResult } from '../init/launch';
import { cgroupManager, deviceFilterOps, cgroupMountSources, refuseFrozen, type CgroupManager } from '../linux/cgroups';
import { DEFAULT_DEVICE_RULES } from '../linux/devices';
import { readProcStat, waitGone } from '../linux/proc';
import { SECCOMP_NOTIFY_SYNC, containerProcessState, listenerError } from '../linux/seccomp';
import { probeMemoryNodes } from '../linux/memory-policy';
import { checkNetDevicesOnHost, moveNetDevices, type MovedNetDevices } from '../linux/net-devices';
import { canSearchParents } from '../linux/reach';
import { probeHostSecurity } from '../linux/security';
import { cwdError } from '../process-plan';
import { compileCreatePlan } from '../plan';
import type { StoredState } from '../state';
import { uniqueSuffix, validateId } from '../state';

export interface CreateOptions {
  id: string;
  bundle?: string;
  pidFile?: string;
  consoleSocket?: string;
  noPivot?: boolean;
  noNewKeyring?: boolean;
  preserveFds?: number;
}

export interface Created extends LaunchResult {
  state: StoredState;
}

function writeIdMap(file: string, maps: readonly LinuxIDMapping[] | undefined, id: string): void {
  if (!maps?.length) return;
  const text = maps.map((m) => `${m.containerID} ${m.hostID} ${m.size}\n`).join('');
  try {
    fs.writeFileSync(file, text); // one write(2): the kernel accepts a map only once, whole
  } catch (e) {
    throw sysError('write', file, e, id);
  }
}

/** Writes the pid file the way runc does: the bare pid, no newline, renamed into place. */
export function writePidFile(file: string, pid: number): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${uniqueSuffix()}`);
  try {
    fs.writeFileSync(tmp, String(pid));
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw sysError('write', file, e);
  }
}

function stringRecord(rec: Record<string, string | undefined> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(rec ?? {})) if (v !== undefined) out[k] = v;
  return out;
}

/** Socket activation: fds handed to trun through LISTEN_FDS are passed on, as runc does. */
function listenFds(ctx: Context): number {
  const n = Number(ctx.env.LISTEN_FDS ?? 0);
  return Number.isInteger(n) && n > 0 ? n : 0;
}

function processEnv(spec: Spec, listen: number): Spec {
  if (!listen || !spec.process) return spec;
  const env = (spec.process.env ?? []).filter((e) => !e.startsWith('LISTEN_FDS=') && !e.startsWith('LISTEN_PID='));
  env.push(`LISTEN_FDS=${listen}`, 'LISTEN_PID=0');
  return { ...spec, process: { ...spec.process, env } };
}

/**
 * Creates the container. With `foreground`, the first init process stays as the container's
 * parent and its exit mirrors the container's (used by `trun run`).
 */
export async function createContainer(ctx: Context, opts: CreateOptions, foreground = false): Promise<Created> {
  validateId(opts.id);
  const id = opts.id;
  const bundle = path.resolve(ctx.cwd, opts.bundle ?? '.');
  const configPath = path.join(bundle, 'config.json');
  if (!fs.existsSync(bundle)) throw new TrunError('EBUNDLE', `bundle "${bundle}": no such directory`, { id, path: bundle });
  const listen = listenFds(ctx);
  const spec = processEnv(loadConfig(configPath), listen);
  const preserveFds = Math.max(opts.preserveFds ?? 0, 0) + listen;
  const consoleSocket = opts.consoleSocket ? path.resolve(ctx.cwd, opts.consoleSocket) : undefined;
  const pidFile = opts.pidFile ? path.resolve(ctx.cwd, opts.pidFile) : undefined;

  const store = storeOf(ctx);
  store.reserve(id);
  const release = await store.lock(id);
  // What a failure undoes: the container's cgroup, unless it was shared with processes already there.
  let undoCgroup: CgroupManager | undefined;
  let pid = 0;
  let saved: StoredState | undefined;
  let netDevices: MovedNetDevices | undefined;
  let hostRootfs: HostRootfs | undefined;
  try {
    const resources = spec.linux?.resources ?? {};
    const manager = cgroupManager({ id, cgroupsPath: spec.linux?.cgroupsPath, systemd: ctx.global.systemdCgroup });
    manager.check(resources);
    // Before undoCgroup is set: a frozen cgroup is someone else's and stays as it is.
    refuseFrozen(manager, id);
    // As runc 1.1: a cgroup that already holds processes is shared, with a warning. A failed
    // create leaves such a cgroup to its other processes; `delete` kills them, as runc's does.
    const present = manager.pids().length;
    if (present > 0) ctx.warn(`container's cgroup is not empty: ${present} process(es) found`);
    else undoCgroup = manager;
    // Before the cgroups exist: a create killed from here on leaves the record `delete` undoes.
    store.saveCreating({ id, cgroupPaths: manager.paths });
    for (const w of manager.create()) ctx.warn(w);
    const devices = [...(resources.devices ?? []), ...DEFAULT_DEVICE_RULES];
    for (const w of manager.apply({ ...resources, devices })) ctx.warn(w);

    const plan = compileCreatePlan({
      id,
      spec,
      bundle,
      fifoPath: store.fifoPath(id),
      ...(consoleSocket ? { consoleSocket } : {}),
      preserveFds,
      noPivot: opts.noPivot ?? false,
      foreground,
      noNewKeyring: opts.noNewKeyring ?? false,
      cgroupMounts: cgroupMountSources(manager),
      // sysfs is read only for a config that asks for a policy: every command is a process start.
      host: { ...probeHostSecurity(), ...(spec.linux?.memoryPolicy ? { memoryNodes: probeMemoryNodes() } : {}) },
      isDirectory: (p) => {
        try { return fs.statSync(p).isDirectory(); } catch { return true; }
      },
      canReach: canSearchParents,
    });
    checkNetDevicesOnHost(id, plan.netDevices, plan.netns);
    // Before the init exists: whatever is on the rootfs then is not the container's.
    if (plan.rootfsOnHost) {
      hostRootfs = recordHostRootfs(plan.rootfs);
      store.saveCreating({ id, cgroupPaths: manager.paths, hostRootfs });
    }

    const state: StoredState = {
      ociVersion: spec.ociVersion,
      id,
      pid: 0,
      pidStartTime: 0,
      bundle,
      rootfs: plan.rootfs,
      created: new Date().toISOString(),
      owner: os.userInfo().username,
      annotations: stringRecord(spec.annotations),
      cgroupPaths: manager.paths,
      config: spec,
      ...(opts.noNewKeyring ? { noNewKeyring: true } : {}),
      ...(hostRootfs ? { hostRootfs } : {}),
    };
    const hookState = (status: Status) => ociState(state, status);

    const result = await launchInit({
      // The device filter first: the init is on the host, as root, until the plan moves it.
      ops: [...deviceFilterOps(manager, devices), ...plan.ops],
      stdio: ['inherit', 'inherit', 'inherit'],
      spawner: ctx.spawner,
      preserveFds,
      id,
      keepChild: foreground,
      finalSync: 'created',
      debug: ctx.debug,
      beforePlan: (initPid) => manager.addProcess(initPid),
      onPid: (p) => {
        pid = p;
        state.pid = p;
        state.pidStartTime = readProcStat(p)?.startTime ?? 0;
      },
      onSync: async (name) => {
        switch (name) {
          case 'setup':
            if (plan.newNamespaces.includes('user')) {
              writeIdMap(`/proc/${pid}/uid_map`, spec.linux?.uidMappings, id);
              writeIdMap(`/proc/${pid}/gid_map`, spec.linux?.gidMappings, id);
            }
            // Recorded before any hook runs: should trun be killed from here on, the init exits
            // (its sync socket closes) and `delete --force` still finds what to clean up, poststop
            // hooks included.
            store.save(state);
            saved = state;
            // The namespace exists and no hook has run yet: hooks see the devices in place.
            if (plan.netDevices.length) netDevices = moveNetDevices(id, pid, plan.netDevices);
            return;
          case 'hooks': {
            const hooks = spec.hooks ?? {};
            await runHooks('prestart', hooks.prestart, hookState('creating'), id);
            await runHooks('createRuntime', hooks.createRuntime, hookState('creating'), id);
            const namespaces = (spec.linux?.namespaces ?? []).map((n) => n.type as never);
            await runHooks('createContainer', hooks.createContainer, hookState('creating'), id, { kind: 'container', pid, namespaces });
            return;
          }
          case SECCOMP_NOTIFY_SYNC:
            // What the listener gets with the notify fd: runc's "creating" state, our pid.
            return JSON.stringify(containerProcessState(spec.linux?.seccomp, pid, hookState('creating')));
          case 'created':
            store.save(state);
            if (pidFile) writePidFile(pidFile, pid);
            return;
          default:
            throw new TrunError('EINIT', `trun-init stopped at an unknown sync point "${name}"`, { id });
        }
      },
    });
    return { ...result, state };
  } catch (e) {
    netDevices?.rollback(ctx.warn);
    await cleanupFailedCreate(pid, undoCgroup);
    if (hostRootfs) await detachHostRootfs(hostRootfs, id).catch((err: Error) => ctx.warn(err.message));
    // The spec: a failed create continues with delete, whose poststop hooks undo what hooks did.
    if (saved) await runHooksLogged('poststop', saved.config.hooks?.poststop, ociState(saved, 'stopped'), id, ctx.warn);
    store.remove(id);
    throw cwdError(id, listenerError(id, spec.linux?.seccomp, e));
  } finally {
    netDevices?.close();
    release();
  }
}

async function cleanupFailedCreate(pid: number, cgroup: CgroupManager | undefined): Promise<void> {
  if (pid > 0) {
    try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ }
    await waitGone(pid, undefined, 5000);
  }
  if (cgroup) {
    try {
      cgroup.killAll(9);
      cgroup.destroy();
    } catch {
      // best effort: the error being reported is the create failure
    }
  }
}
