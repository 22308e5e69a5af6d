// trun-bundle volume create|ls|inspect|rm|prune: named and anonymous volumes in the store.
import { TrunError } from '../../runtime/errors';
import { Store } from '../lib/store';
import { Volumes, type VolumeInfo } from '../lib/volumes';

export interface VolumeCommand {
  store: string;
  /** The subcommand's arguments (volume names). */
  names: string[];
  labels?: string[];
}

export interface PruneResult {
  removed: string[];
  bytes: number;
}

/** `volume create [NAME]`: the volume's name (an existing volume is kept as it is). */
export async function volumeCreate(c: VolumeCommand): Promise<string> {
  if (c.names.length > 1) throw new TrunError('EINVAL', 'volume create: at most one NAME');
  const labels = parseLabels(c.labels ?? []);
  const store = new Store(c.store).init();
  return store.withLock(async () => {
    const v = new Volumes(store);
    const o: { name?: string; labels: Record<string, string> } = { labels };
    if (c.names[0] !== undefined) o.name = c.names[0];
    return v.create(o).meta.name;
  });
}

/** `volume ls`: every volume with the bundles that use it. */
export function volumeLs(c: VolumeCommand): VolumeInfo[] {
  const v = new Volumes(new Store(c.store));
  const users = v.users();
  return v.list().map((m) => v.info(m, users));
}

/** `volume inspect NAME...`: all of them, or an error naming the first unknown one. */
export function volumeInspect(c: VolumeCommand): VolumeInfo[] {
  if (c.names.length === 0) throw new TrunError('EINVAL', 'volume inspect: give at least one NAME');
  const v = new Volumes(new Store(c.store));
  const users = v.users();
  return c.names.map((n) => v.info(v.read(n), users));
}

/** `volume rm NAME...`: every one must exist and be unused, or none is removed. */
export async function volumeRm(c: VolumeCommand): Promise<string[]> {
  if (c.names.length === 0) throw new TrunError('EINVAL', 'volume rm: give at least one NAME');
  const store = new Store(c.store).init();
  return store.withLock(async () => {
    const v = new Volumes(store);
    for (const n of c.names) {
      v.read(n);
      v.checkUnused(n);
    }
    for (const n of c.names) v.remove(n);
    return c.names;
  });
}

/** `volume prune`: removes every volume no bundle uses. */
export async function volumePrune(c: VolumeCommand): Promise<PruneResult> {
  if (c.names.length > 0) throw new TrunError('EINVAL', 'volume prune: takes no NAME');
  const store = new Store(c.store).init();
  return store.withLock(async () => {
    const v = new Volumes(store);
    const users = v.users();
    const removed: string[] = [];
    let bytes = 0;
    for (const m of v.list()) {
      if (users.has(m.name)) continue;
      bytes += v.remove(m.name);
      removed.push(m.name);
    }
    return { removed, bytes };
  });
}

function parseLabels(labels: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of labels) {
    const eq = l.indexOf('=');
    const key = eq < 0 ? l : l.slice(0, eq);
    if (key === '') throw new TrunError('EINVAL', `--label "${l}": empty key`);
    out[key] = eq < 0 ? '' : l.slice(eq + 1);
  }
  return out;
}
