// Compiles a validated config.json into the init plan: the flat list of primitive steps the C
// init executes (runtime/init/protocol.ts). Every decision about a container's setup is made
// here, in a pure function, so it can be unit-tested without root.
import * as path from 'node:path';
import type { LinuxDevice, Mount, Spec } from '../spec/types/runtime';
import { TrunError } from './errors';
import { CloneMode, MountFlag, OpCode, RelayFlag, TreeFlag, type Op } from './init/protocol';
import { DEFAULT_DEVICES, DEV_SYMLINKS, deviceMode } from './linux/devices';
import { idmapTreeOp, isIdmapped, mountAttrs, type ContainerMappings } from './linux/idmap-mounts';
import {
  BIND_REMOUNT_FLAGS, MS_BIND, MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_PRIVATE, MS_RDONLY, MS_REC, MS_REMOUNT, MS_SHARED, MS_SLAVE,
  parseMountOptions, propagationFlag,
} from './linux/mount-options';
import { CLONE_NEWTIME, CLONE_NEWUSER, JOIN_ORDER, NAMESPACES, isNamespaceType, type NamespaceType } from './linux/namespaces';
import { planNetDevices, type NetDeviceMove, type NetnsTarget } from './linux/net-devices';
import { seccompListenerOps } from './linux/seccomp';
import { checkSelinuxContext, processSteps, type HostSecurity } from './process-plan';

/**
 * Sync points the create plan stops at; the caller answers each with GO.
 * - setup: the container process exists: write uid/gid maps.
 * - hooks: mounts are done, before pivot_root: run prestart/createRuntime/createContainer hooks.
 * - created: everything is ready and the process is about to wait on the exec fifo: record the state.
 */
export type SyncPoint = 'setup' | 'hooks' | 'created';

/** One cgroup hierarchy as the container should see it under a `cgroup` mount. */
export interface CgroupMountSource {
  /** Directory name under the mount's destination ("" for a pure cgroup v2 host). */
  name: string;
  fstype: 'cgroup' | 'cgroup2';
  /** mount(2) data: the v1 controller list ("cpu,cpuacct", "name=systemd"); "" for cgroup2. */
  options: string;
  /** The container's cgroup directory on the host, bind-mounted when there is no cgroup namespace. */
  hostPath: string;
}

export interface CreatePlanInput {
  id: string;
  spec: Spec;
  /** Absolute bundle directory. */
  bundle: string;
  /** The exec fifo in the state dir. */
  fifoPath: string;
  consoleSocket?: string;
  preserveFds: number;
  noPivot: boolean;
  /**
   * Foreground `run`: the first init process stays and waits for the container, mirroring its
   * exit. With a terminal and no console socket it also relays between its stdio and the pty.
   */
  foreground?: boolean;
  /** --no-new-keyring: keep the caller's session keyring instead of joining "_ses.<id>". */
  noNewKeyring?: boolean;
  /** The host's cgroup hierarchies, for `cgroup` mounts. */
  cgroupMounts: CgroupMountSource[];
  host: HostSecurity;
  /** Whether a bind source is a directory (a stat on the host, made by the caller). */
  isDirectory: (hostPath: string) => boolean;
  /**
   * Whether host uid/gid can search every directory above hostPath (stats on the host, made by
   * the caller): a user-namespaced container's root that cannot gets the source opened for it
   * before the clone. Unknown: taken as reachable.
   */
  canReach?: (hostPath: string, uid: number, gid: number) => boolean;
}

export interface CreatePlan {
  ops: Op[];
  rootfs: string;
  /** The namespaces created (not joined) for the container. */
  newNamespaces: NamespaceType[];
  userns: boolean;
  syncPoints: SyncPoint[];
  /** linux.netDevices, checked: moved by the caller at the "setup" sync point. */
  netDevices: NetDeviceMove[];
  /** Where those devices go: the container's network namespace (undefined when it has none). */
  netns?: NetnsTarget;
  /** No mount namespace: the rootfs and its mounts are made in the host's, and undone by delete. */
  rootfsOnHost: boolean;
}

function fail(id: string, message: string): never {
  throw new TrunError('EINVAL', message, { id });
}

/** Absolute rootfs path: root.path is relative to the bundle unless absolute. */
export function rootfsPath(spec: Spec, bundle: string): string {
  const p = spec.root?.path;
  if (!p) throw new TrunError('ECONFIG', 'root.path: must be set');
  return path.resolve(bundle, p);
}

function namespacePlan(id: string, spec: Spec) {
  const joins: Array<{ type: NamespaceType; path: string }> = [];
  const creates: NamespaceType[] = [];
  const seen = new Set<string>();
  for (const ns of spec.linux?.namespaces ?? []) {
    if (!isNamespaceType(ns.type)) fail(id, `linux.namespaces: unknown namespace type "${ns.type}"`);
    if (seen.has(ns.type)) fail(id, `linux.namespaces: duplicate namespace type "${ns.type}"`);
    seen.add(ns.type);
    if (ns.path) {
      if (!path.isAbsolute(ns.path)) fail(id, `linux.namespaces: path of "${ns.type}" namespace must be absolute: "${ns.path}"`);
      joins.push({ type: ns.type, path: ns.path });
    } else {
      creates.push(ns.type);
    }
  }
  joins.sort((a, b) => JOIN_ORDER.indexOf(a.type) - JOIN_ORDER.indexOf(b.type));
  return { joins, creates, types: seen };
}

/**
 * linux.mountLabel as a context= option, on the file systems runc labels: not proc and sysfs
 * (labelled by the policy's genfscon), not binds (they keep the source's labels), not mqueue
 * (where kernels before 4.x refuse it; runc retries without), and not cgroup mounts.
 */
export function withMountLabel(data: string, fstype: string, label: string | undefined): string {
  if (!label || ['proc', 'sysfs', 'mqueue', 'cgroup', 'cgroup2'].includes(fstype)) return data;
  const context = `context="${label}"`;
  return data ? `${data},${context}` : context;
}

/** Options that make a mount a bind mount, whatever its type says. */
function isBind(m: Mount): boolean {
  return m.type === 'bind' || (m.options ?? []).some((o) => o === 'bind' || o === 'rbind');
}

/** A bind mount's source on the host: relative to the bundle unless absolute. */
function bindSource(m: Mount, input: CreatePlanInput): string {
  if (!m.source) fail(input.id, `mounts: bind mount on "${m.destination}" needs a source`);
  return path.resolve(input.bundle, m.source);
}

/** The host id that a container's id 0 maps to, when its mappings have one. */
function hostIdOfRoot(maps: readonly { containerID: number; hostID: number; size: number }[]): number | undefined {
  const m = maps.find((x) => x.containerID <= 0 && 0 < x.containerID + x.size);
  return m ? m.hostID - m.containerID : undefined;
}

/**
 * The mounts made on the host before the clone (stage 1), as detached trees, with for each such
 * mount the number of its tree: id-mapped mounts (IDMAP_TREE), and in a new user namespace the
 * binds whose source the container's root could not reach (BIND_TREE, runc's mount source fds).
 */
function hostTrees(input: CreatePlanInput, container: ContainerMappings | undefined): { ops: Op[]; trees: Map<Mount, number> } {
  const ops: Op[] = [];
  const trees = new Map<Mount, number>();
  const rootUid = container && hostIdOfRoot(container.uid);
  const rootGid = container && hostIdOfRoot(container.gid);
  (input.spec.mounts ?? []).forEach((m, i) => {
    const opts = parseMountOptions(m.options);
    const bind = isBind(m);
    if (isIdmapped(m, opts)) {
      ops.push(idmapTreeOp(input.id, `mounts[${i}]`, m, opts, bind ? bindSource(m, input) : '', bind, container));
    } else if (bind && rootUid !== undefined && rootGid !== undefined && input.canReach && !input.canReach(bindSource(m, input), rootUid, rootGid)) {
      ops.push({ op: OpCode.BIND_TREE, source: bindSource(m, input), flags: opts.flags & MS_REC ? TreeFlag.RECURSIVE : 0, ...mountAttrs(opts.flags) });
    } else {
      return;
    }
    trees.set(m, ops.length - 1);
  });
  return { ops, trees };
}

function mountOps(m: Mount, input: CreatePlanInput, userns: boolean, hasCgroupNs: boolean, tree: number | undefined): Op[] {
  const dest = m.destination;
  if (!path.isAbsolute(dest)) fail(input.id, `mounts: destination must be absolute: "${dest}"`);
  const opts = parseMountOptions(m.options);
  const ops: Op[] = [];
  const propagate = (target: string) => {
    for (const p of opts.propagation) ops.push({ op: OpCode.MOUNT, source: '', target, fstype: '', flags: p, data: '', mflags: MountFlag.IN_ROOT });
    // "rro" and friends: mount_setattr with AT_RECURSIVE reaches the submounts a remount leaves.
    if (opts.recursive) ops.push({ op: OpCode.MOUNT_SETATTR, target, attrSet: opts.recursive.set, attrClr: opts.recursive.clr, recursive: true });
  };

  if (tree !== undefined) {
    // Cloned (and id-mapped) on the host already, ro and the like included: only the move is left.
    const create = input.isDirectory(bindSource(m, input)) ? MountFlag.MKDIR : MountFlag.MKFILE;
    ops.push({ op: OpCode.MOUNT_TREE, index: tree, target: dest, mflags: MountFlag.IN_ROOT | create });
    propagate(dest);
    return ops;
  }

  if (isBind(m)) {
    const source = bindSource(m, input);
    const create = input.isDirectory(source) ? MountFlag.MKDIR : MountFlag.MKFILE;
    ops.push({ op: OpCode.MOUNT, source, target: dest, fstype: '', flags: MS_BIND | (opts.flags & MS_REC), data: '', mflags: MountFlag.IN_ROOT | create });
    // A bind ignores every other flag: read-only, nosuid... take a second, remounting call.
    const extra = opts.flags & BIND_REMOUNT_FLAGS;
    if (extra) {
      ops.push({ op: OpCode.MOUNT, source: '', target: dest, fstype: '', flags: MS_REMOUNT | MS_BIND | extra, data: '', mflags: MountFlag.IN_ROOT });
    }
    propagate(dest);
    return ops;
  }

  if (m.type === 'cgroup') return cgroupMountOps(m, input, opts.flags, userns, hasCgroupNs);

  const fstype = m.type ?? '';
  const secure = fstype === 'proc' || fstype === 'sysfs' ? MountFlag.NO_SYMLINK : 0;
  // A read-only /dev is mounted writable: its device nodes and mount points come after, and
  // devRemountOps makes it read-only once they are there (runc's finalizeRootfs).
  const late = isDev(dest) ? MS_RDONLY : 0;
  ops.push({
    op: OpCode.MOUNT, source: m.source ?? fstype, target: dest, fstype, flags: opts.flags & ~MS_REMOUNT & ~late,
    data: withMountLabel(opts.data, fstype, input.spec.linux?.mountLabel), mflags: MountFlag.IN_ROOT | MountFlag.MKDIR | secure,
  });
  propagate(dest);
  return ops;
}

function isDev(dest: string): boolean {
  return path.posix.normalize(dest).replace(/\/+$/, '') === '/dev';
}

/** The read-only remount of a /dev mount that asked for "ro", once everything in it exists. */
function devRemountOps(mounts: readonly Mount[]): Op[] {
  const dev = mounts.filter((m) => isDev(m.destination) && !isBind(m)).pop();
  if (!dev) return [];
  const opts = parseMountOptions(dev.options);
  if (!(opts.flags & MS_RDONLY)) return [];
  const flags = MS_REMOUNT | MS_BIND | (opts.flags & BIND_REMOUNT_FLAGS);
  return [{ op: OpCode.MOUNT, source: '', target: '/dev', fstype: '', flags, data: '', mflags: MountFlag.IN_ROOT }];
}

/**
 * `cgroup` mounts: a tmpfs with one mount per hierarchy under it (v1 and hybrid hosts), or a
 * single cgroup2 mount. With a cgroup namespace the kernel shows the container's own cgroup as
 * the root; without one, the container's host directories are bind-mounted instead.
 */
function cgroupMountOps(m: Mount, input: CreatePlanInput, flags: number, userns: boolean, hasCgroupNs: boolean): Op[] {
  const dest = m.destination;
  const base = flags & (MS_NOSUID | MS_NODEV | MS_NOEXEC);
  const ro = flags & MS_RDONLY;
  const ops: Op[] = [];
  const mountOne = (src: CgroupMountSource, target: string) => {
    if (hasCgroupNs && !(userns && src.fstype === 'cgroup')) {
      ops.push({ op: OpCode.MOUNT, source: src.fstype, target, fstype: src.fstype, flags: base | ro, data: src.options, mflags: MountFlag.IN_ROOT | MountFlag.MKDIR });
    } else {
      ops.push({ op: OpCode.MOUNT, source: src.hostPath, target, fstype: '', flags: MS_BIND | MS_REC, data: '', mflags: MountFlag.IN_ROOT | MountFlag.MKDIR });
      ops.push({ op: OpCode.MOUNT, source: '', target, fstype: '', flags: MS_REMOUNT | MS_BIND | base | ro, data: '', mflags: MountFlag.IN_ROOT });
    }
  };
  const single = input.cgroupMounts.length === 1 && input.cgroupMounts[0]!.name === '';
  if (single) {
    mountOne(input.cgroupMounts[0]!, dest);
    return ops;
  }
  ops.push({ op: OpCode.MOUNT, source: 'tmpfs', target: dest, fstype: 'tmpfs', flags: base, data: 'mode=755', mflags: MountFlag.IN_ROOT | MountFlag.MKDIR });
  for (const src of input.cgroupMounts) mountOne(src, path.posix.join(dest, src.name));
  if (ro) ops.push({ op: OpCode.MOUNT, source: '', target: dest, fstype: '', flags: MS_REMOUNT | MS_BIND | base | ro, data: '', mflags: MountFlag.IN_ROOT });
  return ops;
}

function deviceOps(devices: readonly LinuxDevice[], userns: boolean): Op[] {
  return devices.map((d): Op => {
    // A user namespace cannot mknod: bind the host's node instead (what runc does too).
    if (userns) {
      return { op: OpCode.MOUNT, source: d.path, target: d.path, fstype: '', flags: MS_BIND, data: '', mflags: MountFlag.IN_ROOT | MountFlag.MKFILE };
    }
    return { op: OpCode.MKNOD, path: d.path, mode: deviceMode(d), major: d.major ?? 0, minor: d.minor ?? 0, uid: d.uid ?? 0, gid: d.gid ?? 0 };
  });
}

/** linux.rootfsPropagation as mount(2) flags; runc's default is rslave. */
function rootPropagationFlags(id: string, name: string | undefined): number {
  if (!name) return MS_SLAVE | MS_REC;
  const p = propagationFlag(name);
  if (p === undefined) fail(id, `linux.rootfsPropagation: unknown propagation "${name}"`);
  return p;
}

/**
 * runc's prepareRoot: "/" gets the root propagation (so that later binds from the host join or
 * follow its peer groups as asked), the mount holding the rootfs stops being shared (pivot_root
 * needs it, and the rootfs's bind must not propagate back to the host) or unbindable (it could
 * not be bound), and the rootfs becomes a mount point of its own for pivot_root. A shared holder
 * becomes a slave when the root should follow the host, private otherwise.
 */
function prepareRootOps(rootfs: string, rootProp: number): Op[] {
  const ifShared = rootProp & MS_SLAVE ? MS_SLAVE : MS_PRIVATE;
  return [
    { op: OpCode.MOUNT, source: '', target: '/', fstype: '', flags: rootProp, data: '', mflags: 0 },
    { op: OpCode.PARENT_PROPAGATION, path: rootfs, ifShared, ifUnbindable: MS_PRIVATE },
    { op: OpCode.MOUNT, source: rootfs, target: rootfs, fstype: '', flags: MS_BIND | MS_REC, data: '', mflags: 0 },
    { op: OpCode.SET_ROOTFS, path: rootfs },
  ];
}

/**
 * Without a mount namespace (the mounts are the host's): runc turns the host's whole tree rslave
 * and its rootfs's holder private. Here nothing of the host changes: the rootfs gets a bind of
 * its own, made rslave at once, so the container's mounts under it propagate nowhere, and a
 * detach of that one bind (runtime/host-rootfs.ts) takes them all down when the container goes.
 */
function hostRootOps(rootfs: string): Op[] {
  return [
    { op: OpCode.MOUNT, source: rootfs, target: rootfs, fstype: '', flags: MS_BIND | MS_REC, data: '', mflags: 0 },
    { op: OpCode.MOUNT, source: '', target: rootfs, fstype: '', flags: MS_SLAVE | MS_REC, data: '', mflags: 0 },
    { op: OpCode.SET_ROOTFS, path: rootfs },
  ];
}

/** KEY_USR_SEARCH and KEY_OTH_SEARCH from <linux/keyctl.h>'s permission bits. */
const KEY_USR_SEARCH = 0x00080000;
const KEY_OTH_SEARCH = 0x00000008;

/**
 * A session keyring of the container's own, so it cannot reach the keys of the caller's session.
 * Made searchable by its owner (or, in a user namespace, by anyone: the owner may be unmapped),
 * and skipped where the kernel or a seccomp profile offers no keyrings, as runc does.
 */
export function sessionKeyringOp(id: string, userns: boolean): Op {
  return { op: OpCode.JOIN_SESSION_KEYRING, name: `_ses.${id}`, perm: userns ? KEY_OTH_SEARCH : KEY_USR_SEARCH, optional: true };
}

export function compileCreatePlan(input: CreatePlanInput): CreatePlan {
  const { spec, id } = input;
  const proc = spec.process;
  if (!proc) fail(id, 'process: must be set to create a container');
  if (!proc.args || proc.args.length === 0) fail(id, 'process.args: must not be empty');
  const rootfs = rootfsPath(spec, input.bundle);
  const ns = namespacePlan(id, spec);
  if (spec.linux?.mountLabel) checkSelinuxContext(id, 'linux.mountLabel', spec.linux.mountLabel, input.host);
  const userns = ns.types.has('user');
  const newUserns = ns.creates.includes('user');
  // Without a mount namespace the container's mounts are made in the host's (runc does so too).
  const mountns = ns.types.has('mount');
  if (!mountns && (spec.linux?.maskedPaths?.length || spec.linux?.readonlyPaths?.length)) {
    fail(id, 'unable to restrict sys entries without a private MNT namespace');
  }
  // A joined uts namespace is the container's too (runc sets the name there): only none refuses.
  if (spec.hostname && !ns.types.has('uts')) fail(id, 'hostname: setting the hostname needs a uts namespace');
  if (spec.domainname && !ns.types.has('uts')) fail(id, 'domainname: setting the domainname needs a uts namespace');
  if (newUserns && !(spec.linux?.uidMappings?.length && spec.linux?.gidMappings?.length)) {
    fail(id, 'linux.uidMappings: a new user namespace needs uid and gid mappings');
  }
  if (proc.terminal && !input.consoleSocket && !input.foreground) {
    fail(id, 'cannot allocate tty if trun will detach without setting console socket');
  }
  if (!proc.terminal && input.consoleSocket) {
    fail(id, 'cannot use console socket if trun will not detach or allocate tty');
  }
  // trun does not manage resctrl, and the spec wants an error when intelRdt cannot be honoured.
  // Even an empty object asks for something: a CLOS group of the container's own.
  if (spec.linux?.intelRdt) fail(id, 'linux.intelRdt: Intel RDT (resctrl) is not supported by trun');

  const netJoin = ns.joins.find((j) => j.type === 'network');
  const netns = ns.creates.includes('network') ? {} : netJoin ? { path: netJoin.path } : undefined;
  const netDevices = planNetDevices(id, spec.linux, netns);

  const ops: Op[] = [];
  const syncPoints: SyncPoint[] = [];
  const sync = (name: SyncPoint) => { ops.push({ op: OpCode.SYNC, name }); syncPoints.push(name); };

  // ---- stage 1: in the runtime's namespaces, open what lives there, join, then clone.
  ops.push({ op: OpCode.OPEN_FIFO, path: input.fifoPath });
  const container = userns && spec.linux?.uidMappings?.length && spec.linux?.gidMappings?.length
    ? { uid: spec.linux.uidMappings, gid: spec.linux.gidMappings } : undefined;
  const idmap = hostTrees(input, container);
  ops.push(...idmap.ops);
  if (proc.terminal && input.consoleSocket) ops.push({ op: OpCode.OPEN_CONSOLE_SOCKET, path: input.consoleSocket });
  if (proc.terminal && !input.consoleSocket) ops.push({ op: OpCode.CONSOLE_RELAY, flags: RelayFlag.RAW });
  ops.push(...seccompListenerOps(id, spec.linux?.seccomp));
  if (proc.oomScoreAdj !== undefined) {
    ops.push({ op: OpCode.WRITE_FILE, path: '/proc/self/oom_score_adj', data: String(proc.oomScoreAdj), create: false });
  }
  for (const j of ns.joins) ops.push({ op: OpCode.SETNS, path: j.path, nstype: NAMESPACES[j.type].flag });
  if (ns.creates.includes('time')) {
    ops.push({ op: OpCode.UNSHARE, flags: CLONE_NEWTIME });
    const offsets = spec.linux?.timeOffsets ?? {};
    const lines = Object.entries(offsets).map(([clock, o]) => `${clock} ${o.secs ?? 0} ${o.nanosecs ?? 0}\n`);
    if (lines.length) ops.push({ op: OpCode.WRITE_FILE, path: '/proc/self/timens_offsets', data: lines.join(''), create: false });
  }
  let cloneFlags = 0;
  for (const t of ns.creates) if (t !== 'time') cloneFlags |= NAMESPACES[t].flag;
  ops.push({ op: OpCode.CLONE, flags: cloneFlags, mode: input.foreground ? CloneMode.WAIT : CloneMode.DETACH });

  // ---- stage 2: the container's first process.
  sync('setup');
  if (cloneFlags & CLONE_NEWUSER) ops.push({ op: OpCode.SET_ID, uid: 0, gid: 0 });
  if (!input.noNewKeyring) ops.push(sessionKeyringOp(id, userns));

  const rootPropagation = spec.linux?.rootfsPropagation;
  const rootProp = rootPropagationFlags(id, rootPropagation);
  ops.push(...(mountns ? prepareRootOps(rootfs, rootProp) : hostRootOps(rootfs)));

  const hasCgroupNs = ns.types.has('cgroup');
  const mounts = spec.mounts ?? [];
  for (const m of mounts) ops.push(...mountOps(m, input, userns, hasCgroupNs, idmap.trees.get(m)));

  const bindsDev = mounts.some((m) => m.destination === '/dev' && isBind(m));
  if (!bindsDev) {
    const wanted = new Set((spec.linux?.devices ?? []).map((d) => d.path));
    ops.push(...deviceOps(DEFAULT_DEVICES.filter((d) => !wanted.has(d.path)), userns));
    for (const [target, link] of DEV_SYMLINKS) ops.push({ op: OpCode.SYMLINK, target, path: link });
    if (mounts.some((m) => m.destination === '/dev/pts')) ops.push({ op: OpCode.SYMLINK, target: 'pts/ptmx', path: '/dev/ptmx' });
  }
  ops.push(...deviceOps(spec.linux?.devices ?? [], userns));

  const hooks = spec.hooks ?? {};
  if ((hooks.prestart?.length ?? 0) + (hooks.createRuntime?.length ?? 0) + (hooks.createContainer?.length ?? 0) > 0) {
    sync('hooks');
  }

  if (mountns) {
    // pivot_root refuses a shared old root, and MS_MOVE onto a shared "/" would propagate the
    // rootfs to its peers (the host's "/", with "rshared" on a shared host).
    if (rootProp & MS_SHARED) ops.push({ op: OpCode.MOUNT, source: '', target: '/', fstype: '', flags: MS_PRIVATE, data: '', mflags: 0 });
    // --no-pivot keeps the host's mounts under the chroot: not its whole procfs and sysfs, which
    // would let a user-namespaced container mount an unmasked procfs (runc's msMoveRoot).
    if (input.noPivot) ops.push({ op: OpCode.UNMOUNT_FULL, fstypes: ['proc', 'sysfs'], keep: rootfs });
    ops.push(input.noPivot ? { op: OpCode.MOVE_ROOT } : { op: OpCode.PIVOT_ROOT });
  } else {
    // The host's root stays where it is (pivot_root would move it, --no-pivot's MS_MOVE too).
    ops.push({ op: OpCode.CHROOT, path: '' });
  }

  for (const [key, value] of Object.entries(spec.linux?.sysctl ?? {})) {
    if (key.includes('/') || key.includes('..')) fail(id, `linux.sysctl: invalid key "${key}"`);
    ops.push({ op: OpCode.WRITE_FILE, path: `/proc/sys/${key.replace(/\./g, '/')}`, data: value ?? '', create: false });
  }
  for (const p of spec.linux?.readonlyPaths ?? []) ops.push({ op: OpCode.READONLY_PATH, path: p });
  for (const p of spec.linux?.maskedPaths ?? []) ops.push({ op: OpCode.MASK_PATH, path: p });
  ops.push(...devRemountOps(mounts));
  if (spec.root?.readonly) {
    ops.push({ op: OpCode.MOUNT, source: '', target: '/', fstype: '', flags: MS_REMOUNT | MS_BIND | MS_RDONLY, data: '', mflags: 0 });
  }
  // The root mount itself gets the propagation asked for, last: readonly paths bind their
  // targets onto themselves, which an unbindable tree would refuse. Without a mount namespace
  // "/" is the rootfs's own bind by now, never the host's root.
  if (rootPropagation) ops.push({ op: OpCode.MOUNT, source: '', target: '/', fstype: '', flags: rootProp, data: '', mflags: 0 });
  if (spec.hostname) ops.push({ op: OpCode.SETHOSTNAME, name: spec.hostname });
  if (spec.domainname) ops.push({ op: OpCode.SETDOMAINNAME, name: spec.domainname });

  if (proc.terminal) {
    ops.push({ op: OpCode.CONSOLE, rows: proc.consoleSize?.height ?? 0, cols: proc.consoleSize?.width ?? 0 });
  } else {
    ops.push({ op: OpCode.SETSID });
  }

  const steps = processSteps(id, proc, spec.linux, input.host, input.preserveFds);
  ops.push(...steps.prepare);
  sync('created');
  ops.push({ op: OpCode.WAIT_FIFO });
  ops.push(...steps.finish);

  return { ops, rootfs, newNamespaces: ns.creates, userns, syncPoints, netDevices, ...(netns ? { netns } : {}), rootfsOnHost: !mountns };
}
