// A small argv parser with runc's (urfave/cli) conventions: `--flag value`, `--flag=value`,
// `-f value`, boolean flags with an optional `=true|false`, and `--` ending the flags.
import { TrunError } from '../errors';

export interface FlagSpec {
  name: string;
  aliases?: string[];
  type: 'bool' | 'string' | 'number' | 'list';
  /** One line for the command's help. */
  usage?: string;
}

export interface Parsed {
  flags: Record<string, string | boolean | number | string[]>;
  positional: string[];
}

export interface ParseOptions {
  /** Stop at the first positional argument (everything after it is positional): `exec ID cmd -x`. */
  stopAtPositional?: boolean;
  /** After how many positionals to stop parsing flags (exec: 1). */
  stopAfter?: number;
}

export function parseArgs(argv: readonly string[], specs: readonly FlagSpec[], opts: ParseOptions = {}): Parsed {
  const byName = new Map<string, FlagSpec>();
  for (const s of specs) {
    byName.set(s.name, s);
    for (const a of s.aliases ?? []) byName.set(a, s);
  }
  const flags: Parsed['flags'] = {};
  const positional: string[] = [];
  let i = 0;
  for (; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') { i++; break; }
    if (opts.stopAfter !== undefined && positional.length >= opts.stopAfter) break;
    if (!arg.startsWith('-') || arg === '-') {
      positional.push(arg);
      if (opts.stopAtPositional) { i++; break; }
      continue;
    }
    const body = arg.replace(/^--?/, '');
    const eq = body.indexOf('=');
    const name = eq >= 0 ? body.slice(0, eq) : body;
    const spec = byName.get(name);
    if (!spec) throw new TrunError('EINVAL', `flag provided but not defined: -${name}`);
    let value: string | undefined = eq >= 0 ? body.slice(eq + 1) : undefined;
    if (spec.type === 'bool') {
      if (value !== undefined && value !== 'true' && value !== 'false') throw new TrunError('EINVAL', `invalid boolean value "${value}" for -${name}`);
      flags[spec.name] = value !== 'false';
      continue;
    }
    if (value === undefined) {
      if (i + 1 >= argv.length) throw new TrunError('EINVAL', `flag needs an argument: -${name}`);
      value = argv[++i]!;
    }
    if (spec.type === 'number') {
      const n = Number(value);
      if (!Number.isInteger(n)) throw new TrunError('EINVAL', `invalid value "${value}" for flag -${name}: parse error`);
      flags[spec.name] = n;
    } else if (spec.type === 'list') {
      const prev = flags[spec.name];
      flags[spec.name] = [...(Array.isArray(prev) ? prev : []), value];
    } else {
      flags[spec.name] = value;
    }
  }
  positional.push(...argv.slice(i));
  return { flags, positional };
}

export const str = (p: Parsed, name: string): string | undefined => {
  const v = p.flags[name];
  return typeof v === 'string' ? v : undefined;
};
export const bool = (p: Parsed, name: string): boolean => p.flags[name] === true;
export const num = (p: Parsed, name: string): number | undefined => {
  const v = p.flags[name];
  return typeof v === 'number' ? v : undefined;
};
export const list = (p: Parsed, name: string): string[] => {
  const v = p.flags[name];
  return Array.isArray(v) ? v : [];
};
