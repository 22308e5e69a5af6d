// What every command receives instead of reading process globals: its options, environment,
// working directory and a place for warnings. The library never prints or exits.
import type { InitSpawner } from './init/spawner';
import { DEFAULT_ROOT, StateStore } from './state';

export interface GlobalOptions {
  root: string;
  log?: string;
  logFormat: 'text' | 'json';
  debug: boolean;
  systemdCgroup: boolean;
  rootless: 'true' | 'false' | 'auto';
}

export interface Context {
  global: GlobalOptions;
  cwd: string;
  env: Readonly<Record<string, string | undefined>>;
  /** Non-fatal problems (a failing poststop hook...): the CLI logs them. */
  warn: (message: string) => void;
  /**
   * Set only under --debug: what a command is doing (sync points, pids, signals), for the log.
   * Call it as `ctx.debug?.(...)`, so that without --debug not even the message is built.
   */
  debug?: (message: string) => void;
  /**
   * Who starts the trun-init that runs the container or exec'd process (it inherits the caller's
   * stdio): unset, this process spawns it; the warm path's server has the caller's front end fork it.
   */
  spawner?: InitSpawner;
}

export function defaultGlobals(): GlobalOptions {
  return { root: DEFAULT_ROOT, logFormat: 'text', debug: false, systemdCgroup: false, rootless: 'auto' };
}

export function storeOf(ctx: Context): StateStore {
  return new StateStore(ctx.global.root);
}
