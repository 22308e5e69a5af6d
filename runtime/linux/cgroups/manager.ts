// The cgroup manager the runtime uses: one container's cgroup on every hierarchy of the host
// (v1, v2 or hybrid), each controller's settings written to whichever side owns it.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { LinuxResources } from '../../../spec/types/runtime';
import { TrunError, sysError } from '../../errors';
import type { CgroupMountSource } from '../../plan';
import { type CgroupHost, detectSystemHost, readSelfCgroup } from './detect';
import { ControllerDir, errnoOf, parseFlatKeyed, parsePids, readOptional, sleepSync, writeCgroupFile } from './files';
import { UNIFIED, innerPath, resolvePaths } from './paths';
import { type DeviceRuleInput, compileDeviceFilter, normalizeDeviceRules } from './bpf-devices';
import { RESOURCE_TABLE } from './resources';
import { type CgroupStats, type StatSource, collectStats } from './stats';
import { V1_WRITERS, freezeV1, freezerState, mkdirCpuset, thawV1 } from './v1';
import { V2_WRITERS, delegateControllers, freezeV2, frozenV2, thawV2, writeUnified } from './v2';

export interface CgroupManager {
  /** Controller (v1 name or "name=x") or "unified" -> absolute directory; what state.json keeps. */
  readonly paths: Record<string, string>;
  /** Creates the directories on every hierarchy (idempotent). Returns warnings. */
  create(): string[];
  /**
   * Refuses, before anything is made or written, what this host's cgroups cannot take at all:
   * `unified` keys where the controllers are on cgroup v1 (runc's v1 manager refuses them too,
   * hybrid hosts included).
   */
  check(resources: LinuxResources): void;
  /** Writes the limits (create and `trun update`). Returns warnings for settings the kernel lacks. */
  apply(resources: LinuxResources): string[];
  /** Moves a process into the cgroup on every hierarchy. */
  addProcess(pid: number): void;
  /** Every pid in the cgroup and its descendants (host pid namespace), sorted, without duplicates. */
  pids(): number[];
  /** Freezes and waits until the kernel reports the cgroup frozen. */
  freeze(): void;
  thaw(): void;
  frozen(): boolean;
  /**
   * The directory whose freezer holds the cgroup frozen (FROZEN or FREEZING on v1, frozen on v2;
   * its own or an ancestor's, through the nearest existing directory), on any hierarchy; undefined
   * when nothing is frozen. A process moved into such a cgroup stops at once, so create and exec
   * ask this first instead of waiting forever on their init.
   */
  frozenAt(): { dir: string; file: string; state: string } | undefined;
  stats(): CgroupStats;
  /** Signals every process; freezes around the signalling so a fork cannot slip through. */
  killAll(signal: number): void;
  /** Kills what is left, then removes the directories (descendants first); fine if already gone. */
  destroy(): void;
  /** Each hierarchy with the container's directory on it, for a `cgroup` mount inside the container. */
  mountSources(): CgroupMountSource[];
  /**
   * The eBPF device filter for `rules` (the config's rules followed by the defaults), for the
   * container's cgroup v2 directory; undefined without one. The caller attaches it (an op of
   * the create plan: see device-filter.ts).
   */
  deviceFilter(rules: readonly DeviceRuleInput[]): DeviceFilter | undefined;
  /** OOM kills in the cgroup so far (memory.oom_control or memory.events); undefined when unreadable. */
  oomKills(): number | undefined;
}

export interface DeviceFilter {
  /** The cgroup v2 directory the program is attached to. */
  cgroupPath: string;
  insns: bigint[];
  /**
   * True when nothing else enforces the rules (no v1 devices controller): failing to attach is
   * then an error. On a hybrid host v1's devices controller enforces the same rules as well.
   */
  required: boolean;
}

export interface CgroupManagerOptions {
  id: string;
  cgroupsPath?: string;
  /** Interpret cgroupsPath as systemd's "slice:prefix:name" (mapped to a path; no D-Bus). */
  systemd?: boolean;
  /** The host's hierarchies; detected from /proc/self/mountinfo when absent (tests pass a fake). */
  host?: CgroupHost;
  /** The runtime's own cgroups (parsed /proc/self/cgroup), for relative paths. */
  self?: Map<string, string>;
}

const SIGKILL = 9;
const DESTROY_TIMEOUT_MS = 5_000;

class Manager implements CgroupManager {
  readonly paths: Record<string, string>;
  private readonly unifiedTop: string | undefined;
  private readonly id: string | undefined;
  private host: CgroupHost | undefined;

  constructor(paths: Record<string, string>, host?: CgroupHost, id?: string) {
    this.paths = { ...paths };
    this.unifiedTop = host?.unified?.mountpoint;
    this.host = host;
    this.id = id;
  }

  mountSources(): CgroupMountSource[] {
    this.host ??= detectSystemHost();
    const out: CgroupMountSource[] = [];
    for (const h of this.host.v1) {
      const hostPath = this.paths[h.name ?? h.controllers[0] ?? ''];
      if (hostPath === undefined) continue;
      out.push({ name: path.basename(h.mountpoint), fstype: 'cgroup', options: h.name ?? h.controllers.join(','), hostPath });
    }
    const unified = this.paths[UNIFIED];
    if (this.host.unified && unified !== undefined) {
      // On a pure v2 host the one hierarchy is mounted at the destination itself.
      const name = this.host.mode === 'v2' ? '' : path.basename(this.host.unified.mountpoint);
      out.push({ name, fstype: 'cgroup2', options: '', hostPath: unified });
    }
    return out;
  }

  deviceFilter(rules: readonly DeviceRuleInput[]): DeviceFilter | undefined {
    const unified = this.paths[UNIFIED];
    if (unified === undefined) return undefined;
    return { cgroupPath: unified, insns: compileDeviceFilter(normalizeDeviceRules(rules)), required: this.v1Dir('devices') === undefined };
  }

  oomKills(): number | undefined {
    const v1 = this.v1Dir('memory');
    const unified = this.paths[UNIFIED];
    const file = v1 !== undefined ? path.join(v1, 'memory.oom_control') : unified !== undefined ? path.join(unified, 'memory.events') : undefined;
    const text = file === undefined ? undefined : readOptional(file);
    return text === undefined ? undefined : parseFlatKeyed(text)['oom_kill'];
  }

  /** Distinct directories, v1 first and unified last. */
  private dirs(): string[] {
    const v1 = Object.entries(this.paths).filter(([k]) => k !== UNIFIED).map(([, d]) => d);
    const all = this.paths[UNIFIED] === undefined ? v1 : [...v1, this.paths[UNIFIED]];
    return [...new Set(all)];
  }

  private v1Dir(controller: string): string | undefined {
    return controller === UNIFIED ? undefined : this.paths[controller];
  }

  create(): string[] {
    const warnings: string[] = [];
    const cpusetDir = this.v1Dir('cpuset');
    for (const dir of this.dirs()) {
      if (dir === cpusetDir) mkdirCpuset(dir);
      else mkdirp(dir);
    }
    const unified = this.paths[UNIFIED];
    if (unified !== undefined) {
      const top = this.unifiedTop ?? detectSystemHost().unified?.mountpoint;
      if (top !== undefined) delegateControllers(top, unified, warnings);
    }
    return warnings;
  }

  check(r: LinuxResources): void {
    if (Object.keys(r.unified ?? {}).length === 0) return;
    // The paths say it for a re-attached manager: a v1 controller's key beside (or without) "unified".
    const onV1 = this.host ? this.host.mode !== 'v2' : Object.keys(this.paths).some((k) => k !== UNIFIED && !k.startsWith('name='));
    if (onV1) {
      throw new TrunError(
        'EINVAL',
        'invalid configuration: cannot use unified on cgroup v1 (linux.resources.unified needs a host whose controllers are all on cgroup v2)',
        this.details(),
      );
    }
  }

  apply(r: LinuxResources): string[] {
    this.check(r);
    const warnings: string[] = [];
    const unified = this.paths[UNIFIED];
    for (const entry of RESOURCE_TABLE) {
      if (!entry.isSet(r)) continue;
      const v1 = this.v1Dir(entry.v1);
      const v1Writer = V1_WRITERS[entry.key];
      const v2Writer = V2_WRITERS[entry.key];
      if (v1 !== undefined && v1Writer) {
        v1Writer(r, new ControllerDir(v1, warnings));
      } else if (unified !== undefined && entry.v2 !== null && v2Writer) {
        if (entry.v2 !== '') this.requireV2Controller(entry.v2, unified, entry.what);
        v2Writer(r, new ControllerDir(unified, warnings));
      } else {
        throw new TrunError('EINVAL', `linux.resources.${entry.what} needs the cgroup controller "${entry.v1}", which is not mounted on this host`, this.details());
      }
    }
    const keys = Object.keys(r.unified ?? {});
    if (keys.length > 0) {
      if (unified === undefined) throw new TrunError('EINVAL', 'linux.resources.unified needs cgroup v2, which is not mounted on this host', this.details());
      writeUnified(r.unified ?? {}, new ControllerDir(unified, warnings));
    }
    return warnings;
  }

  private requireV2Controller(controller: string, dir: string, what: string): void {
    const available = (readOptional(path.join(dir, 'cgroup.controllers')) ?? '').split(/\s+/);
    if (!available.includes(controller)) {
      throw new TrunError(
        'EINVAL',
        `linux.resources.${what} needs the cgroup v2 controller "${controller}", which is not available in ${dir} (not enabled in the parent's cgroup.subtree_control)`,
        this.details(dir),
      );
    }
  }

  private details(p?: string): { id?: string; path?: string } {
    const d: { id?: string; path?: string } = {};
    if (this.id !== undefined) d.id = this.id;
    if (p !== undefined) d.path = p;
    return d;
  }

  addProcess(pid: number): void {
    for (const dir of this.dirs()) writeCgroupFile(path.join(dir, 'cgroup.procs'), String(pid));
  }

  pids(): number[] {
    const all = new Set<number>();
    for (const dir of this.dirs()) for (const d of walk(dir)) for (const pid of readPids(d)) all.add(pid);
    return [...all].sort((a, b) => a - b);
  }

  /** v1 freezer when mounted (hybrid hosts too), else v2's core cgroup.freeze. */
  private freezer(): { version: 1 | 2; dir: string } {
    const v1 = this.v1Dir('freezer');
    if (v1 !== undefined) return { version: 1, dir: v1 };
    const unified = this.paths[UNIFIED];
    if (unified !== undefined) return { version: 2, dir: unified };
    throw new TrunError('EINVAL', 'cannot freeze: no freezer cgroup is mounted on this host', this.details());
  }

  freeze(): void {
    const f = this.freezer();
    if (f.version === 1) freezeV1(f.dir, sleepSync);
    else freezeV2(f.dir, sleepSync);
  }

  thaw(): void {
    const f = this.freezer();
    if (f.version === 1) thawV1(f.dir);
    else thawV2(f.dir);
  }

  /** False, not an error, once the cgroup is gone: `trun state` asks this of stopped containers. */
  frozen(): boolean {
    const f = this.freezer();
    if (!fs.existsSync(f.dir)) return false;
    return f.version === 1 ? freezerState(f.dir) === 'FROZEN' : frozenV2(f.dir);
  }

  frozenAt(): { dir: string; file: string; state: string } | undefined {
    const v1 = this.v1Dir('freezer');
    if (v1 !== undefined) {
      const dir = nearestExisting(v1);
      const file = path.join(dir, 'freezer.state');
      const state = readOptional(file)?.trim();
      if (state !== undefined && state !== 'THAWED') return { dir, file, state };
    }
    const unified = this.paths[UNIFIED];
    if (unified !== undefined) {
      const dir = nearestExisting(unified);
      // cgroup.events says it for ancestors too; cgroup.freeze only for the cgroup itself.
      const file = path.join(dir, 'cgroup.events');
      const events = readOptional(file);
      if (events !== undefined && parseFlatKeyed(events)['frozen'] === 1) return { dir, file, state: 'frozen 1' };
      const own = path.join(dir, 'cgroup.freeze');
      if (readOptional(own)?.trim() === '1') return { dir, file: own, state: '1' };
    }
    return undefined;
  }

  stats(): CgroupStats {
    const unified = this.paths[UNIFIED];
    return collectStats((controller): StatSource | undefined => {
      const v1 = this.v1Dir(controller);
      if (v1 !== undefined) return { version: 1, dir: v1 };
      return unified === undefined ? undefined : { version: 2, dir: unified };
    });
  }

  killAll(signal: number): void {
    let froze = false;
    let canFreeze = true;
    try {
      if (!this.frozen()) {
        this.freeze();
        froze = true;
      }
    } catch {
      // No freezer, a cgroup already gone, or a task stuck in D state: signal unfrozen.
      canFreeze = false;
    }
    for (const pid of this.pids()) {
      try {
        process.kill(pid, signal);
      } catch (err) {
        if (errnoOf(err) !== 'ESRCH') throw sysError('kill', String(pid), err, this.id);
      }
    }
    const unified = this.paths[UNIFIED];
    if (signal === SIGKILL && unified !== undefined && fs.existsSync(path.join(unified, 'cgroup.kill'))) {
      writeCgroupFile(path.join(unified, 'cgroup.kill'), '1');
    }
    // A frozen task only dies once thawed; for other signals, leave a paused container paused.
    if (canFreeze && (froze || signal === SIGKILL)) this.thaw();
  }

  destroy(): void {
    const present = this.dirs().filter((d) => fs.existsSync(d));
    if (present.length === 0) return;
    if (this.pids().length > 0) this.killAll(SIGKILL);
    const deadline = Date.now() + DESTROY_TIMEOUT_MS;
    for (const dir of present) {
      // Descendants first: a cgroup with children cannot be removed.
      for (const d of walk(dir).reverse()) rmdirRetrying(d, deadline);
    }
  }
}

function mkdirp(dir: string): void {
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (err) {
    throw sysError('mkdir', dir, err);
  }
}

/** The directory itself or its nearest ancestor that exists (a cgroup not made yet inherits its state). */
function nearestExisting(dir: string): string {
  let d = dir;
  while (!fs.existsSync(d) && path.dirname(d) !== d) d = path.dirname(d);
  return d;
}

/** The directory and all its sub-cgroups, parents before children; [] when it does not exist. */
function walk(dir: string): string[] {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return [];
    throw sysError('readdir', dir, err);
  }
  const out = [dir];
  for (const e of entries) if (e.isDirectory()) out.push(...walk(path.join(dir, e.name)));
  return out;
}

function readPids(dir: string): number[] {
  const text = readOptional(path.join(dir, 'cgroup.procs'));
  return text === undefined ? [] : parsePids(text);
}

/** A just-killed task leaves its cgroup a moment after the signal: EBUSY is retried until the deadline. */
function rmdirRetrying(dir: string, deadline: number): void {
  for (let delay = 1; ; delay = Math.min(delay * 2, 50)) {
    try {
      fs.rmdirSync(dir);
      return;
    } catch (err) {
      const code = errnoOf(err);
      if (code === 'ENOENT') return;
      if (code !== 'EBUSY' || Date.now() > deadline) throw sysError('rmdir', dir, err);
    }
    sleepSync(delay);
  }
}

/**
 * Refuses a cgroup someone froze: its processes would stop before reporting back, and the caller
 * would wait on them forever. runc 1.1's wording, with the directory and the file that says so.
 */
export function refuseFrozen(m: CgroupManager, id: string): void {
  const f = m.frozenAt();
  if (f === undefined) return;
  throw new TrunError('EBADSTATE', `container's cgroup unexpectedly frozen: "${f.dir}" (${path.basename(f.file)}: ${f.state})`, { id, path: f.dir });
}

/** The manager for a new (or re-attached) container cgroup, from linux.cgroupsPath. */
export function cgroupManager(opts: CgroupManagerOptions): CgroupManager {
  const host = opts.host ?? detectSystemHost();
  const inner = innerPath(opts);
  const self = inner.relative ? (opts.self ?? readSelfCgroup()) : new Map<string, string>();
  return new Manager(resolvePaths(host, inner, self), host, opts.id);
}

/** The manager for a container whose paths were saved in state.json. */
export function loadCgroupManager(paths: Record<string, string>, id?: string): CgroupManager {
  return new Manager(paths, undefined, id);
}

/** The `cgroup` mount sources for the plan compiler (see CgroupManager.mountSources). */
export function cgroupMountSources(m: CgroupManager): CgroupMountSource[] {
  return m.mountSources();
}
