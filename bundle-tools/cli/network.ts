// `trun-bundle network ...`: flag definitions and printing for commands/network.ts.
import * as fs from 'node:fs';
import { TrunError } from '../../runtime/errors';
import { networkCreate, networkHook, networkInspect, networkLs, networkRm } from '../commands/network';
import { list, str, type CommandDef, type Parsed } from './args';

export const NETWORK_COMMAND: CommandDef = {
  usage: 'network create NAME [--subnet CIDR] | ls | inspect NAME... | rm NAME...', min: 1, max: -1,
  summary: 'manage bridge networks (--quiet: ls prints names only)',
  flags: {
    subnet: { kind: 'string', help: 'IPv4 subnet for network create (default: a free /24 in 10.89.0.0/16)' },
    publish: { kind: 'list', help: 'network hook add: a published port' },
    link: { kind: 'list', help: 'network hook add: a link' },
    'cni-path': { kind: 'string', help: 'network hook: CNI plugin directories (default /usr/lib/cni)' },
  },
};

type Out = (s: string) => void;

const SUBCOMMANDS: Record<string, (p: Parsed, store: string, quiet: boolean, out: Out) => Promise<void>> = {
  create: async (p, store, _q, out) => {
    const [, name, extra] = p.positionals;
    if (name === undefined || extra !== undefined) throw new TrunError('EINVAL', 'network create: give one network name');
    const subnet = str(p, 'subnet');
    const n = await networkCreate({ store, name, ...(subnet !== undefined ? { subnet } : {}) });
    out(n.id);
  },
  ls: async (_p, store, quiet, out) => {
    const rows = await networkLs({ store });
    if (quiet) return rows.forEach((r) => out(r.name));
    const table = [['NAME', 'DRIVER', 'SUBNET', 'BRIDGE', 'CONTAINERS'], ...rows.map((r) => [r.name, r.driver, r.subnet, r.bridge, r.driver === 'bridge' ? String(r.containers) : ''])];
    const widths = table[0]!.map((_, c) => Math.max(...table.map((row) => row[c]!.length)));
    for (const row of table) out(row.map((cell, c) => cell.padEnd(widths[c]!)).join('   ').trimEnd());
  },
  inspect: async (p, store, _q, out) => {
    if (p.positionals.length < 2) throw new TrunError('EINVAL', 'network inspect: give at least one network name');
    out(JSON.stringify(await networkInspect({ store, names: p.positionals.slice(1) }), null, 2));
  },
  rm: async (p, store, _q, out) => {
    if (p.positionals.length < 2) throw new TrunError('EINVAL', 'network rm: give at least one network name');
    (await networkRm({ store, names: p.positionals.slice(1) })).forEach((n) => out(n));
  },
  hook: async (p, store) => {
    const [, action, network] = p.positionals;
    if (action === undefined || network === undefined) throw new TrunError('EINVAL', 'network hook: usage: network hook add|del NETWORK (the OCI state on stdin)');
    const cniPath = str(p, 'cni-path');
    await networkHook({
      store, action, network, stdin: fs.readFileSync(0, 'utf8'), publish: list(p, 'publish'), links: list(p, 'link'),
      ...(cniPath !== undefined ? { cniPath } : {}),
    });
  },
};

export async function networkCli(p: Parsed, store: string, quiet: boolean, out: Out): Promise<number> {
  const sub = p.positionals[0]!;
  const run = SUBCOMMANDS[sub];
  if (!run) throw new TrunError('EINVAL', `network: unknown subcommand "${sub}" (create, ls, inspect or rm)`);
  await run(p, store, quiet, out);
  return 0;
}
