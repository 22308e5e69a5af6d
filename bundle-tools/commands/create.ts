// trun-bundle create IMAGE BUNDLE: unpack (or reuse) the image's layers and assemble the bundle.
import { createBundle, removeBundle, type CreateBundleResult } from '../lib/bundle';
import type { ConfigOptions } from '../lib/config-gen';
import { parseMountFlag, parseVolumesFrom } from '../lib/mount-flags';
import type { ProgressFn } from '../lib/progress';
import { Store } from '../lib/store';
import { defaultHookCommand, resolveNetwork, writeNetworkFiles } from '../network/bundle-network';

export interface CreateCommand {
  store: string;
  image: string;
  bundle: string;
  args?: string[];
  entrypoint?: string[];
  cmd?: string[];
  env: string[];
  cwd?: string;
  user?: string;
  hostname?: string;
  readOnly: boolean;
  tty: boolean;
  /** --mount, -v and --tmpfs values, and --volumes-from bundles. */
  mounts: string[];
  volumes?: string[];
  tmpfs?: string[];
  volumesFrom?: string[];
  callerEnv: Record<string, string | undefined>;
  rootless: boolean;
  /** --network (default: the bridge network), --publish, --link; --trun-root for container:ID. */
  network?: string;
  publish?: string[];
  links?: string[];
  trunRoot?: string;
  onProgress?: ProgressFn;
}

export async function create(c: CreateCommand): Promise<CreateBundleResult> {
  const config: ConfigOptions = {
    env: c.env, readOnly: c.readOnly, terminal: c.tty, rootless: c.rootless,
  };
  const mounts = [
    ...c.mounts.map((m) => parseMountFlag('mount', m)),
    ...(c.volumes ?? []).map((m) => parseMountFlag('volume', m)),
    ...(c.tmpfs ?? []).map((m) => parseMountFlag('tmpfs', m)),
  ];
  if (c.args !== undefined) config.args = c.args;
  if (c.entrypoint !== undefined) config.entrypoint = c.entrypoint;
  if (c.cmd !== undefined) config.cmd = c.cmd;
  if (c.cwd !== undefined) config.cwd = c.cwd;
  if (c.user !== undefined) config.user = c.user;
  if (c.hostname !== undefined) config.hostname = c.hostname;
  const store = new Store(c.store).init();
  const network = await resolveNetwork({
    publish: c.publish ?? [], links: c.links ?? [], rootless: c.rootless,
    ...(c.network !== undefined ? { network: c.network } : {}), ...(c.hostname !== undefined ? { hostname: c.hostname } : {}),
    ...(c.trunRoot !== undefined ? { trunRoot: c.trunRoot } : {}),
  }, c.bundle, c.store, defaultHookCommand());
  if (network) config.network = network.plan;
  const o: Parameters<typeof createBundle>[0] = {
    store, image: c.image, bundle: c.bundle, config, callerEnv: c.callerEnv, mounts, volumesFrom: (c.volumesFrom ?? []).map(parseVolumesFrom),
  };
  if (c.onProgress) o.onProgress = c.onProgress;
  const res = await createBundle(o);
  if (network) {
    try {
      writeNetworkFiles(res.bundle, network);
    } catch (err) {
      await removeBundle(res.bundle, { store }).catch(() => undefined);
      throw err;
    }
  }
  return res;
}
