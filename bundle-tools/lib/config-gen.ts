// config.json for a bundle: trun's default spec (the one `trun spec` prints) with the image
// config applied on top (Entrypoint+Cmd, Env, WorkingDir, User, Labels, StopSignal), then the
// caller's overrides. Pure: the caller supplies passwd/group text, and the mounts, image
// Volumes included (volume-mounts.ts turns those into store volumes).
import * as path from 'node:path';
import { DEFAULT_PATH, DOCKER_CAPABILITIES, defaultSpec } from '../../runtime/defaults';
import { TrunError } from '../../runtime/errors';
import type { ImageConfig } from '../../spec/types/image';
import type { Mount, Spec } from '../../spec/types/runtime';
import { applyNetworkPlan, type NetworkPlan } from '../network/modes';
import { resolveUser } from './user';

export const STOP_SIGNAL_ANNOTATION = 'org.opencontainers.image.stopSignal';

export interface ConfigOptions {
  /** Replaces the whole command line (Entrypoint and Cmd). */
  args?: string[];
  /** Replaces the image's Entrypoint (and drops its Cmd, as docker does). */
  entrypoint?: string[];
  /** Replaces the image's Cmd. */
  cmd?: string[];
  /** KEY=VALUE overrides; a bare KEY takes the value from `callerEnv` (and is dropped when unset). */
  env?: string[];
  cwd?: string;
  user?: string;
  hostname?: string;
  readOnly?: boolean;
  terminal?: boolean;
  /** Resolved mounts (volume-mounts.ts), parents first; they win over default mounts at the same path. */
  mounts?: Mount[];
  rootless?: boolean;
  /** Network namespace, /etc files and CNI hooks (network/modes.ts); the mounts above win at the same path. */
  network?: NetworkPlan;
}

export interface ConfigInput {
  image: ImageConfig;
  options: ConfigOptions;
  /** Contents of the image's /etc/passwd and /etc/group, null when absent. */
  passwd: string | null;
  group: string | null;
  callerEnv?: Record<string, string | undefined>;
}

export function generateSpec(input: ConfigInput): Spec {
  const { image, options } = input;
  const ic = image.config ?? {};
  const args = commandLine(ic.Entrypoint ?? null, ic.Cmd ?? null, options);
  const spec = defaultSpec({ rootless: options.rootless ?? false, args, terminal: options.terminal ?? false });
  const proc = spec.process!;

  proc.env = mergeEnv(ic.Env ?? [], options.env ?? [], input.callerEnv ?? {}, options.terminal ?? false);
  const cwd = options.cwd ?? (ic.WorkingDir || '/');
  if (!path.posix.isAbsolute(cwd)) throw new TrunError('EINVAL', `working directory "${cwd}" must be an absolute path`);
  proc.cwd = cwd;

  const user = resolveUser(options.user ?? ic.User ?? '', input.passwd, input.group);
  proc.user = { uid: user.uid, gid: user.gid };
  if (user.additionalGids.length > 0) proc.user.additionalGids = user.additionalGids;
  if (!proc.env.some((e) => e.startsWith('HOME=')) && user.home) proc.env.push(`HOME=${user.home}`);

  if (!options.rootless) {
    const caps = [...DOCKER_CAPABILITIES];
    proc.capabilities = { bounding: caps, effective: [...caps], permitted: [...caps] };
  }

  if (options.hostname !== undefined) spec.hostname = options.hostname;
  spec.root = { path: 'rootfs', readonly: options.readOnly ?? false };

  const annotations: Record<string, string> = {};
  for (const [k, v] of Object.entries(ic.Labels ?? {})) if (v !== undefined) annotations[k] = v;
  if (ic.StopSignal) annotations[STOP_SIGNAL_ANNOTATION] = ic.StopSignal;
  if (Object.keys(annotations).length > 0) spec.annotations = annotations;

  spec.mounts = overrideMounts([...(spec.mounts ?? []), ...(options.mounts ?? [])]);
  if (options.network) applyNetworkPlan(spec, options.network);
  return spec;
}

/** The command line: docker's rules for Entrypoint, Cmd and their overrides. */
export function commandLine(entrypoint: string[] | null, cmd: string[] | null, o: ConfigOptions): string[] {
  let args: string[];
  if (o.args !== undefined) args = o.args;
  else if (o.entrypoint !== undefined) args = [...o.entrypoint, ...(o.cmd ?? [])];
  else args = [...(entrypoint ?? []), ...(o.cmd ?? cmd ?? [])];
  if (args.length === 0) throw new TrunError('EINVAL', 'no command: the image has no Entrypoint or Cmd; give one with --args');
  return args;
}

export function mergeEnv(image: string[], overrides: string[], callerEnv: Record<string, string | undefined>, terminal: boolean): string[] {
  const out = new Map<string, string>();
  const put = (kv: string): void => {
    const eq = kv.indexOf('=');
    if (eq === 0) throw new TrunError('EINVAL', `invalid environment variable "${kv}"`);
    if (eq < 0) {
      const v = callerEnv[kv];
      if (v === undefined) out.delete(kv);
      else out.set(kv, v);
    } else {
      out.set(kv.slice(0, eq), kv.slice(eq + 1));
    }
  };
  image.forEach(put);
  if (!out.has('PATH')) out.set('PATH', DEFAULT_PATH);
  if (terminal && !out.has('TERM')) out.set('TERM', 'xterm');
  overrides.forEach(put);
  return [...out].map(([k, v]) => `${k}=${v}`);
}

/** A later mount at the same destination replaces an earlier one (the caller's over the defaults). */
function overrideMounts(mounts: Mount[]): Mount[] {
  const out: Mount[] = [];
  for (const m of mounts) {
    const dest = path.posix.normalize(m.destination);
    const i = out.findIndex((o) => path.posix.normalize(o.destination) === dest);
    if (i >= 0) out.splice(i, 1);
    out.push(m);
  }
  return out;
}
