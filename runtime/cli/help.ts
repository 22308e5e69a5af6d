// The help text of `trun --help`, `trun help CMD` and `trun CMD --help`, laid out as runc's
// (urfave/cli) so that people and scripts find the same sections: NAME, USAGE, OPTIONS.
import type { FlagSpec } from './args';

export const PROG = 'trun';

export interface CommandHelp {
  name: string;
  /** One line: what the command does. */
  summary: string;
  /** The arguments after the command's name, e.g. "[command options] <container-id>". */
  usage: string;
  /** Further paragraphs, when the arguments need explaining. */
  description?: string;
  flags: readonly FlagSpec[];
}

function flagLabel(f: FlagSpec): string {
  const value = f.type === 'bool' ? '' : ' value';
  const names = [f.name, ...(f.aliases ?? [])].map((n) => `${n.length === 1 ? '-' : '--'}${n}${value}`);
  return names.join(', ');
}

/** Two aligned columns: names on the left, descriptions on the right. */
function columns(rows: ReadonlyArray<readonly [string, string]>): string {
  const width = Math.max(0, ...rows.map(([left]) => left.length));
  return rows.map(([left, right]) => `   ${left.padEnd(width)}  ${right}`.trimEnd()).join('\n');
}

function flagRows(flags: readonly FlagSpec[]): string {
  return columns(flags.map((f) => [flagLabel(f), f.usage ?? ''] as const));
}

export function commandHelp(cmd: CommandHelp): string {
  let text = `NAME:\n   ${PROG} ${cmd.name} - ${cmd.summary}\n\nUSAGE:\n   ${PROG} ${cmd.name} ${cmd.usage}\n`;
  if (cmd.description) text += `\n${cmd.description}\n`;
  if (cmd.flags.length) text += `\nOPTIONS:\n${flagRows(cmd.flags)}\n`;
  return text;
}

export function appHelp(version: string, commands: readonly CommandHelp[], globalFlags: readonly FlagSpec[]): string {
  const rows = commands.map((c) => [c.name, c.summary] as const);
  return [
    `NAME:\n   ${PROG} - an OCI container runtime with runc's command line\n`,
    `USAGE:\n   ${PROG} [global options] command [command options] [arguments...]\n`,
    `VERSION:\n   ${version}\n`,
    `COMMANDS:\n${columns([...rows, ['help, h', 'show the list of commands, or one command\'s help']])}\n`,
    `GLOBAL OPTIONS:\n${flagRows(globalFlags)}\n`,
  ].join('\n');
}
