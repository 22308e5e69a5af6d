// `--change` instructions for commit and import-rootfs, a Dockerfile subset that edits the image
// config: CMD, ENTRYPOINT, ENV, WORKDIR, USER, EXPOSE, LABEL, VOLUME, STOPSIGNAL.
import { TrunError } from '../../runtime/errors';
import type { ImageExecutionConfig } from '../../spec/types/image';

type Apply = (cfg: ImageExecutionConfig, rest: string, raw: string) => void;

const INSTRUCTIONS: Record<string, Apply> = {
  CMD: (cfg, rest, raw) => {
    cfg.Cmd = commandForm(rest, raw);
  },
  ENTRYPOINT: (cfg, rest, raw) => {
    cfg.Entrypoint = commandForm(rest, raw);
  },
  ENV: (cfg, rest, raw) => {
    const env = [...(cfg.Env ?? [])];
    for (const [k, v] of keyValues(rest, raw)) {
      const i = env.findIndex((e) => e.split('=', 1)[0] === k);
      if (i >= 0) env[i] = `${k}=${v}`;
      else env.push(`${k}=${v}`);
    }
    cfg.Env = env;
  },
  WORKDIR: (cfg, rest, raw) => {
    const dir = single(rest, raw);
    if (!dir.startsWith('/')) throw new TrunError('EINVAL', `--change "${raw}": WORKDIR must be an absolute path`);
    cfg.WorkingDir = dir;
  },
  USER: (cfg, rest, raw) => {
    cfg.User = single(rest, raw);
  },
  EXPOSE: (cfg, rest, raw) => {
    const ports = { ...(cfg.ExposedPorts ?? {}) };
    for (const p of words(rest, raw)) {
      if (!/^[0-9]{1,5}(\/(tcp|udp|sctp))?$/.test(p)) throw new TrunError('EINVAL', `--change "${raw}": bad port "${p}"`);
      ports[p.includes('/') ? p : `${p}/tcp`] = {};
    }
    cfg.ExposedPorts = ports;
  },
  LABEL: (cfg, rest, raw) => {
    const labels = { ...(cfg.Labels ?? {}) };
    for (const [k, v] of keyValues(rest, raw, false)) labels[k] = v;
    cfg.Labels = labels;
  },
  VOLUME: (cfg, rest, raw) => {
    const vols = { ...(cfg.Volumes ?? {}) };
    const list = rest.trim().startsWith('[') ? jsonArray(rest, raw) : words(rest, raw);
    for (const v of list) {
      if (!v.startsWith('/')) throw new TrunError('EINVAL', `--change "${raw}": volume "${v}" must be an absolute path`);
      vols[v] = {};
    }
    cfg.Volumes = vols;
  },
  STOPSIGNAL: (cfg, rest, raw) => {
    const sig = single(rest, raw);
    if (!/^(SIG)?[A-Z0-9+-]+$|^[0-9]+$/.test(sig)) throw new TrunError('EINVAL', `--change "${raw}": bad signal "${sig}"`);
    cfg.StopSignal = sig;
  },
};

/** Applies `--change` instructions, in order, to a copy of `cfg`. */
export function applyChanges(cfg: ImageExecutionConfig | undefined, changes: string[]): ImageExecutionConfig {
  const out: ImageExecutionConfig = structuredClone(cfg ?? {});
  for (const raw of changes) {
    const m = /^\s*([A-Za-z]+)(?:\s+([\s\S]*))?$/.exec(raw);
    if (!m) throw new TrunError('EINVAL', `--change "${raw}": expected an instruction such as CMD, ENV or WORKDIR`);
    const name = m[1]!.toUpperCase();
    const apply = INSTRUCTIONS[name];
    if (!apply) throw new TrunError('EINVAL', `--change "${raw}": unsupported instruction "${name}" (supported: ${Object.keys(INSTRUCTIONS).join(', ')})`);
    const rest = (m[2] ?? '').trim();
    if (rest === '') throw new TrunError('EINVAL', `--change "${raw}": ${name} needs an argument`);
    apply(out, rest, raw);
  }
  return out;
}

/** JSON ("exec") form as is; anything else is the shell form, run by /bin/sh -c. */
function commandForm(rest: string, raw: string): string[] {
  if (rest.startsWith('[')) return jsonArray(rest, raw);
  return ['/bin/sh', '-c', rest];
}

function jsonArray(rest: string, raw: string): string[] {
  let v: unknown;
  try {
    v = JSON.parse(rest);
  } catch {
    throw new TrunError('EINVAL', `--change "${raw}": not a JSON array of strings`);
  }
  if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) throw new TrunError('EINVAL', `--change "${raw}": not a JSON array of strings`);
  return v as string[];
}

/** Shell-like words: whitespace separated, with "double" and 'single' quotes and \ escapes. */
export function words(text: string, raw = text): string[] {
  const out: string[] = [];
  let cur = '';
  let has = false;
  let quote: '"' | "'" | null = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote) {
      if (c === quote) quote = null;
      else if (c === '\\' && quote === '"' && i + 1 < text.length) cur += text[++i];
      else cur += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      has = true;
    } else if (c === '\\' && i + 1 < text.length) {
      cur += text[++i];
      has = true;
    } else if (/\s/.test(c)) {
      if (has) out.push(cur);
      cur = '';
      has = false;
    } else {
      cur += c;
      has = true;
    }
  }
  if (quote) throw new TrunError('EINVAL', `--change "${raw}": unterminated quote`);
  if (has) out.push(cur);
  return out;
}

function single(rest: string, raw: string): string {
  const w = words(rest, raw);
  if (w.length !== 1) throw new TrunError('EINVAL', `--change "${raw}": expected one value`);
  return w[0]!;
}

/** `K=V K2="v 2"`, or the old `K some value` form (ENV only). */
function keyValues(rest: string, raw: string, allowSpaceForm = true): Array<[string, string]> {
  const w = words(rest, raw);
  if (!w[0]!.includes('=')) {
    if (!allowSpaceForm || w.length < 2) throw new TrunError('EINVAL', `--change "${raw}": expected KEY=VALUE`);
    const m = /^\s*(\S+)\s+([\s\S]*)$/.exec(rest)!;
    return [[m[1]!, m[2]!]];
  }
  return w.map((kv) => {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new TrunError('EINVAL', `--change "${raw}": expected KEY=VALUE, got "${kv}"`);
    return [kv.slice(0, eq), kv.slice(eq + 1)];
  });
}
