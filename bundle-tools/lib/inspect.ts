// `inspect` and `history`: what an image or a bundle is, as JSON shaped like `docker inspect`.
// A bundle's container state is read from trun's state directory (state.json, exec.fifo, /proc),
// the way commit --pause finds its container, without loading the runtime's code.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TrunError, sysError } from '../../runtime/errors';
import { isAlive } from '../../runtime/linux/proc';
import type { Mount, Spec } from '../../spec/types/runtime';
import { readBundleMeta } from './bundle';
import { isMountPoint } from './overlay';
import type { Image, Store } from './store';
import { containerOnBundle } from './trun-client';
import { DEFAULT_DESTINATIONS } from './volume-mounts';
import { isVolumeName } from './volume-name';
import { networkStore } from '../network/networks';

export interface ImageInspect {
  Id: string;
  RepoTags: string[];
  RepoDigests: string[];
  Created: string | null;
  Author: string | null;
  Architecture: string;
  Os: string;
  Config: unknown;
  RootFS: { Type: string; Layers: string[] };
  Layers: Array<{ Digest: string; MediaType: string; Size: number; DiffID: string; Unpacked: boolean }>;
  History: unknown[];
  /** Bytes of the config and layer blobs as stored (compressed). */
  Size: number;
  Manifest: string;
}

export function inspectImage(store: Store, img: Image): ImageInspect {
  const c = img.config;
  return {
    Id: img.configDigest,
    RepoTags: img.tags,
    RepoDigests: [...new Set(img.tags.map((t) => `${t.slice(0, t.lastIndexOf(':'))}@${img.manifestDigest}`))],
    Created: c.created ?? null,
    Author: c.author ?? null,
    Architecture: c.architecture,
    Os: c.os,
    Config: c.config ?? {},
    RootFS: { Type: c.rootfs.type, Layers: c.rootfs.diff_ids },
    Layers: img.manifest.layers.map((l, i) => ({
      Digest: l.digest, MediaType: l.mediaType, Size: l.size, DiffID: c.rootfs.diff_ids[i]!, Unpacked: store.hasLayer(c.rootfs.diff_ids[i]!),
    })),
    History: c.history ?? [],
    Size: img.manifest.config.size + img.manifest.layers.reduce((n, l) => n + l.size, 0),
    Manifest: img.manifestDigest,
  };
}

export interface HistoryRow {
  /** The layer's digest, or null for a step that made no layer (ENV, CMD...). */
  Layer: string | null;
  Created: string | null;
  CreatedBy: string;
  /** Bytes of the layer as stored; 0 for an empty step. */
  Size: number;
  Author: string | null;
  Comment: string | null;
  EmptyLayer: boolean;
}

/** The image's history, newest first as `docker history` prints it, each step with its layer. */
export function imageHistory(img: Image): HistoryRow[] {
  const layers = img.manifest.layers;
  const history = img.config.history ?? [];
  const rows: HistoryRow[] = [];
  let next = 0;
  for (const h of history) {
    const empty = h.empty_layer === true;
    const layer = empty ? undefined : layers[next++];
    rows.push({
      Layer: layer?.digest ?? null, Created: h.created ?? null, CreatedBy: h.created_by ?? '', Size: layer?.size ?? 0,
      Author: h.author ?? null, Comment: h.comment ?? null, EmptyLayer: empty,
    });
  }
  // Layers the history does not account for (images built without it) still get a row each.
  for (; next < layers.length; next++) {
    rows.push({ Layer: layers[next]!.digest, Created: null, CreatedBy: '', Size: layers[next]!.size, Author: null, Comment: null, EmptyLayer: false });
  }
  return rows.reverse();
}

export interface MountInspect {
  Type: string;
  /** For a store volume: its name. */
  Name?: string;
  Source: string;
  Destination: string;
  RW: boolean;
  Options: string[];
}

export interface NetworkInspect {
  /** bridge, none, host, container, or "custom" when config.json was edited beyond these. */
  Mode: string;
  Network?: string;
  NetnsPath?: string;
  Hostname?: string;
  Ports: string[];
  Links: string[];
  /** While the container runs on a bridge network. */
  IPAddress?: string;
  MacAddress?: string;
}

export interface StateInspect {
  Id: string;
  Status: 'creating' | 'created' | 'running' | 'stopped';
  Running: boolean;
  Pid: number;
  Created: string;
}

export interface BundleInspect {
  Path: string;
  Created: string;
  Image: string;
  ImageId: string;
  Manifest: string;
  Store: string;
  RootFS: { Mounted: boolean; Layers: string[]; UpperDir: string };
  Config: { Args: string[]; Env: string[]; Cwd: string; User: string; Hostname: string | null; Terminal: boolean; ReadonlyRootfs: boolean };
  Mounts: MountInspect[];
  Network: NetworkInspect;
  State: StateInspect | null;
}

export function inspectBundle(bundleArg: string, o: { store: Store; trunRoot: string }): BundleInspect {
  const bundle = path.resolve(bundleArg);
  const meta = readBundleMeta(bundle);
  const configFile = path.join(bundle, 'config.json');
  let spec: Spec;
  try {
    spec = JSON.parse(fs.readFileSync(configFile, 'utf8')) as Spec;
  } catch (err) {
    if (err instanceof SyntaxError) throw new TrunError('EBUNDLE', `"${configFile}": not valid JSON`, { path: configFile });
    throw sysError('read', configFile, err);
  }
  const proc = spec.process;
  const state = containerState(o.trunRoot, bundle);
  return {
    Path: bundle,
    Created: meta.created,
    Image: meta.image,
    ImageId: meta.config,
    Manifest: meta.manifest,
    Store: meta.store,
    RootFS: { Mounted: isMountPoint(path.join(bundle, 'rootfs')), Layers: meta.diffIDs, UpperDir: path.join(bundle, 'upper') },
    Config: {
      Args: proc?.args ?? [], Env: proc?.env ?? [], Cwd: proc?.cwd ?? '/',
      User: `${proc?.user?.uid ?? 0}:${proc?.user?.gid ?? 0}`, Hostname: spec.hostname ?? null,
      Terminal: proc?.terminal === true, ReadonlyRootfs: spec.root?.readonly === true,
    },
    Mounts: userMounts(spec, bundle, o.store),
    Network: networkOf(spec, o.store, state),
    State: state,
  };
}

/** The mounts a user asked for: not the default spec's, not the bundle's own network files. */
function userMounts(spec: Spec, bundle: string, store: Store): MountInspect[] {
  const out: MountInspect[] = [];
  for (const m of spec.mounts ?? []) {
    if (DEFAULT_DESTINATIONS.has(m.destination)) continue;
    const opts = m.options ?? [];
    const isBind = m.type === 'bind' || opts.includes('bind') || opts.includes('rbind');
    const source = m.source ?? '';
    if (isBind && source.startsWith(bundle + '/')) continue;
    out.push({ ...describeSource(m, isBind, store), Destination: m.destination, RW: !opts.includes('ro'), Options: opts });
  }
  return out;
}

function describeSource(m: Mount, isBind: boolean, store: Store): { Type: string; Name?: string; Source: string } {
  const source = m.source ?? '';
  if (!isBind) return { Type: m.type ?? 'none', Source: source };
  const rel = path.relative(store.volumesDir, source).split(path.sep);
  if (rel.length === 2 && rel[1] === '_data' && isVolumeName(rel[0]!)) return { Type: 'volume', Name: rel[0]!, Source: source };
  return { Type: 'bind', Source: source };
}

/** The network as create set it up, read back from the namespaces and the network hook's arguments. */
function networkOf(spec: Spec, store: Store, state: StateInspect | null): NetworkInspect {
  const ns = spec.linux?.namespaces?.find((n) => n.type === 'network');
  const base = { Ports: [] as string[], Links: [] as string[], ...(spec.hostname !== undefined ? { Hostname: spec.hostname } : {}) };
  if (!ns) return { Mode: 'host', ...base };
  if (ns.path !== undefined) return { Mode: 'container', NetnsPath: ns.path, ...base };
  const hook = (spec.hooks?.createRuntime ?? []).find((h) => {
    const a = h.args ?? [];
    const i = a.indexOf('network');
    return i >= 0 && a[i + 1] === 'hook' && a[i + 2] === 'add';
  });
  if (!hook) return { Mode: 'none', ...base };
  const args = hook.args!;
  const rest = args.slice(args.indexOf('network') + 3);
  const name = rest[0]!;
  const flag = (f: string): string[] => rest.flatMap((v, i) => (rest[i - 1] === f ? [v] : []));
  if (name === 'none') return { Mode: 'none', ...base };
  const out: NetworkInspect = { Mode: 'bridge', Network: name, ...base, Ports: flag('--publish'), Links: flag('--link') };
  if (state?.Running) {
    try {
      const a = networkStore(store.root).attachment(state.Id);
      if (a?.ip) out.IPAddress = a.ip;
      if (a?.mac) out.MacAddress = a.mac;
    } catch {
      // no network store (yet): nothing to add
    }
  }
  return out;
}

/** The container of trun (state under `root`) made from this bundle, and how it is doing. */
function containerState(root: string, bundle: string): StateInspect | null {
  const id = containerOnBundle(root, bundle);
  if (id === null) return null;
  let st: { pid?: number; pidStartTime?: number; created?: string };
  try {
    st = JSON.parse(fs.readFileSync(path.join(root, id, 'state.json'), 'utf8')) as typeof st;
  } catch {
    return null;
  }
  const pid = st.pid ?? 0;
  let status: StateInspect['Status'];
  if (pid === 0) status = 'creating';
  else if (!isAlive(pid, st.pidStartTime)) status = 'stopped';
  else status = fs.existsSync(path.join(root, id, 'exec.fifo')) ? 'created' : 'running';
  return { Id: id, Status: status, Running: status === 'running' || status === 'created', Pid: pid, Created: st.created ?? '' };
}
