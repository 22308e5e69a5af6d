// Flag definitions and a small argv parser for trun-bundle: each command declares its flags;
// parsing yields typed positionals and flag values, or an EINVAL error naming the problem.
import { TrunError } from '../../runtime/errors';

export type FlagKind = 'bool' | 'string' | 'list';

export interface FlagDef {
  kind: FlagKind;
  short?: string;
  help: string;
}

export interface CommandDef {
  usage: string;
  summary: string;
  flags: Record<string, FlagDef>;
  /** Minimum and maximum positionals (max -1: unbounded). */
  min: number;
  max: number;
  /** Whether words after "--" are collected (create's command override). */
  rest?: boolean;
}

export interface Parsed {
  positionals: string[];
  flags: Map<string, string | boolean | string[]>;
  rest: string[] | undefined;
}

export const GLOBAL_FLAGS: Record<string, FlagDef> = {
  store: { kind: 'string', help: 'image store directory (default /var/lib/trun)' },
  quiet: { kind: 'bool', short: 'q', help: 'no progress output' },
  help: { kind: 'bool', short: 'h', help: 'show help' },
};

export function parseArgs(argv: string[], def: CommandDef, command: string): Parsed {
  const flags = new Map<string, string | boolean | string[]>();
  const positionals: string[] = [];
  let rest: string[] | undefined;
  const all: Record<string, FlagDef> = { ...GLOBAL_FLAGS, ...def.flags };
  const byShort = new Map(Object.entries(all).filter(([, d]) => d.short).map(([n, d]) => [d.short!, n]));
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      if (!def.rest) {
        positionals.push(...argv.slice(i + 1));
      } else {
        rest = argv.slice(i + 1);
      }
      break;
    }
    if (a.startsWith('-') && a !== '-') {
      let name: string;
      let value: string | undefined;
      if (a.startsWith('--')) {
        const eq = a.indexOf('=');
        name = eq < 0 ? a.slice(2) : a.slice(2, eq);
        if (eq >= 0) value = a.slice(eq + 1);
      } else {
        const n = byShort.get(a.slice(1));
        if (n === undefined) throw new TrunError('EINVAL', `${command}: unknown flag "${a}"`);
        name = n;
      }
      const fd = all[name];
      if (!fd) throw new TrunError('EINVAL', `${command}: unknown flag "--${name}"`);
      if (fd.kind === 'bool') {
        if (value !== undefined && !['true', 'false'].includes(value)) throw new TrunError('EINVAL', `${command}: --${name} takes no value`);
        flags.set(name, value !== 'false');
        continue;
      }
      if (value === undefined) {
        if (i + 1 >= argv.length) throw new TrunError('EINVAL', `${command}: --${name} needs a value`);
        value = argv[++i]!;
      }
      if (fd.kind === 'list') {
        const prev = flags.get(name);
        flags.set(name, [...(Array.isArray(prev) ? prev : []), value]);
      } else {
        flags.set(name, value);
      }
      continue;
    }
    positionals.push(a);
  }
  if (!flags.get('help')) {
    if (positionals.length < def.min || (def.max >= 0 && positionals.length > def.max)) {
      throw new TrunError('EINVAL', `${command}: wrong number of arguments\nusage: trun-bundle ${def.usage}`);
    }
  }
  return { positionals, flags, rest };
}

export function str(p: Parsed, name: string): string | undefined {
  const v = p.flags.get(name);
  return typeof v === 'string' ? v : undefined;
}

export function list(p: Parsed, name: string): string[] {
  const v = p.flags.get(name);
  return Array.isArray(v) ? v : [];
}

export function bool(p: Parsed, name: string): boolean {
  return p.flags.get(name) === true;
}

/** A command line given as a JSON array, or as words split on whitespace. */
export function commandArg(value: string, flag: string): string[] {
  const t = value.trim();
  if (t.startsWith('[')) {
    let v: unknown;
    try {
      v = JSON.parse(t);
    } catch {
      throw new TrunError('EINVAL', `--${flag}: not a JSON array of strings`);
    }
    if (!Array.isArray(v) || v.length === 0 || !v.every((s) => typeof s === 'string')) throw new TrunError('EINVAL', `--${flag}: not a non-empty JSON array of strings`);
    return v as string[];
  }
  const words = t.split(/\s+/).filter(Boolean);
  if (words.length === 0) throw new TrunError('EINVAL', `--${flag}: empty command`);
  return words;
}
