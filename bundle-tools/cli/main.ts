// trun-bundle: OCI images to overlayfs bundles and back. This file only maps argv to the
// commands in bundle-tools/commands/ and prints their results; the library does the work.
import { TrunError } from '../../runtime/errors';
import { commit } from '../commands/commit';
import { create } from '../commands/create';
import { gc, images, rmi } from '../commands/images';
import { exportCmd, importCmd, importRootfsCmd } from '../commands/import';
import { history, inspect } from '../commands/inspect';
import { mount } from '../commands/mount';
import { rm } from '../commands/rm';
import { volumeCreate, volumeInspect, volumeLs, volumePrune, volumeRm } from '../commands/volume';
import { parseCompression } from '../lib/compression';
import { DEFAULT_STORE, Store } from '../lib/store';
import { compileTemplate } from '../lib/template';
import { NETWORK_COMMAND, networkCli } from './network';
import { bool, commandArg, GLOBAL_FLAGS, list, parseArgs, str, type CommandDef, type Parsed } from './args';
import { human, progressRenderer } from './progress-bar';

const VERSION = '0.1.0';

const COMMANDS: Record<string, CommandDef> = {
  import: {
    usage: 'import SOURCE [NAME[:TAG]]', min: 1, max: 2,
    summary: 'import an OCI image layout (directory), an oci-archive or a docker save tarball',
    flags: {},
  },
  'import-rootfs': {
    usage: 'import-rootfs DIR|TARBALL IMAGE[:TAG] [--change INSTR]...', min: 2, max: 2,
    summary: 'make a one-layer image from a root filesystem (like docker import)',
    flags: {
      change: { kind: 'list', short: 'c', help: 'CMD, ENTRYPOINT, ENV, WORKDIR, USER, EXPOSE, LABEL, VOLUME, STOPSIGNAL instruction' },
      message: { kind: 'string', short: 'm', help: 'history comment' },
      author: { kind: 'string', short: 'a', help: 'image author' },
    },
  },
  export: { usage: 'export IMAGE FILE', min: 2, max: 2, summary: 'write an image as an oci-archive', flags: {} },
  images: { usage: 'images', min: 0, max: 0, summary: 'list images', flags: { 'no-trunc': { kind: 'bool', help: 'full image ids' } } },
  rmi: {
    usage: 'rmi IMAGE...', min: 1, max: -1, summary: 'remove images (tags), then garbage-collect',
    flags: { force: { kind: 'bool', short: 'f', help: 'remove even when a bundle was made from it' } },
  },
  inspect: {
    usage: 'inspect IMAGE|BUNDLE... [--format TEMPLATE]', min: 1, max: -1,
    summary: "JSON about images (config, layers, history) or bundles (image, mounts, network, container state)",
    flags: {
      format: { kind: 'string', short: 'f', help: 'Go-template-like output per item: {{.Field}}, {{json .Field}}, {{join .List ","}}' },
      'trun-root': { kind: 'string', help: "trun's state directory, for a bundle's container (default /run/trun)" },
    },
  },
  history: {
    usage: 'history IMAGE [--format TEMPLATE]', min: 1, max: 1, summary: 'the steps and layers of an image, newest first',
    flags: {
      format: { kind: 'string', short: 'f', help: 'Go-template-like output per step: {{.Layer}} {{.Created}} {{.CreatedBy}} {{.Size}} {{.Author}} {{.Comment}}' },
      'no-trunc': { kind: 'bool', help: 'do not shorten layer ids and commands' },
    },
  },
  gc: { usage: 'gc', min: 0, max: 0, summary: 'delete blobs and unpacked layers nothing uses', flags: {} },
  create: {
    usage: 'create IMAGE BUNDLE [flags] [-- CMD...]', min: 2, max: 2, rest: true,
    summary: 'make a bundle: overlayfs rootfs of the image, and config.json',
    flags: {
      args: { kind: 'string', help: 'whole command line (JSON array or words), replacing Entrypoint and Cmd' },
      entrypoint: { kind: 'string', help: 'replace the image Entrypoint (JSON array or words)' },
      env: { kind: 'list', short: 'e', help: 'KEY=VALUE (or KEY, taken from this environment)' },
      cwd: { kind: 'string', short: 'w', help: 'working directory' },
      user: { kind: 'string', short: 'u', help: 'USER[:GROUP], names resolved in the image' },
      hostname: { kind: 'string', help: 'container hostname' },
      'read-only': { kind: 'bool', help: 'mount the rootfs read-only' },
      tty: { kind: 'bool', short: 't', help: 'process.terminal = true' },
      mount: { kind: 'list', help: 'type=bind,source=/a,target=/b[,readonly], type=volume[,source=NAME],target=/v or type=tmpfs,target=/t[,tmpfs-size=64m]' },
      volume: { kind: 'list', short: 'v', help: 'HOST-PATH:/ctr[:ro] (made when missing), NAME:/ctr[:ro] or /ctr (a new anonymous volume)' },
      tmpfs: { kind: 'list', help: '/ctr[:size=64m,mode=1777,...] (noexec,nosuid,nodev unless exec, suid, dev)' },
      'volumes-from': { kind: 'list', help: "BUNDLE[:ro|:rw]: the volume and bind mounts of another bundle's config.json" },
      network: { kind: 'string', help: 'bridge (default), NAME (network create), none, host or container:ID' },
      publish: { kind: 'list', short: 'p', help: '[HOST_IP:]HOST_PORT:CONTAINER_PORT[/tcp|udp] (bridge networks)' },
      link: { kind: 'list', help: 'CONTAINER[:ALIAS]: a name for another container (default bridge network)' },
      'trun-root': { kind: 'string', help: "trun's state directory for --network container:ID (default /run/trun)" },
    },
  },
  rm: {
    usage: 'rm BUNDLE...', min: 1, max: -1, summary: 'unmount and delete bundles',
    flags: { volumes: { kind: 'bool', short: 'v', help: 'also remove their anonymous volumes no other bundle uses' } },
  },
  network: NETWORK_COMMAND,
  volume: {
    usage: 'volume create [NAME] | ls | inspect NAME... | rm NAME... | prune', min: 1, max: -1,
    summary: 'manage volumes in the store (--quiet: ls prints names only)',
    flags: { label: { kind: 'list', help: 'KEY=VALUE label for volume create' } },
  },
  mount: { usage: 'mount BUNDLE', min: 1, max: 1, summary: "mount a bundle's rootfs again (after a reboot)", flags: {} },
  commit: {
    usage: 'commit BUNDLE IMAGE[:TAG] [flags]', min: 2, max: 2,
    summary: "a new image from the bundle's changes",
    flags: {
      author: { kind: 'string', short: 'a', help: 'author' },
      message: { kind: 'string', short: 'm', help: 'commit message' },
      change: { kind: 'list', short: 'c', help: 'Dockerfile instruction applied to the config' },
      compression: { kind: 'string', help: 'gzip (default), zstd or none' },
      pause: { kind: 'bool', short: 'p', help: 'pause the container (trun pause/resume) while writing' },
      trun: { kind: 'string', help: 'trun binary for --pause' },
      'trun-root': { kind: 'string', help: "trun's state directory for --pause (default /run/trun)" },
    },
  },
};

function help(): string {
  const lines = ['usage: trun-bundle [--store DIR] [--quiet] COMMAND [ARGS]', '', 'commands:'];
  for (const [name, def] of Object.entries(COMMANDS)) lines.push(`  ${name.padEnd(14)} ${def.summary}`);
  lines.push('', 'global flags:');
  for (const [name, def] of Object.entries(GLOBAL_FLAGS)) lines.push(`  --${name.padEnd(12)} ${def.help}`);
  return lines.join('\n');
}

function commandHelp(name: string, def: CommandDef): string {
  const lines = [`usage: trun-bundle ${def.usage}`, '', def.summary];
  if (Object.keys(def.flags).length) lines.push('', 'flags:');
  for (const [f, d] of Object.entries(def.flags)) lines.push(`  ${d.short ? `-${d.short}, ` : '    '}--${f.padEnd(12)} ${d.help}`);
  void name;
  return lines.join('\n');
}

async function run(argv: string[], out: (s: string) => void): Promise<number> {
  // Global flags may come before the command.
  let i = 0;
  const pre: string[] = [];
  while (i < argv.length && argv[i]!.startsWith('-')) {
    const a = argv[i]!;
    if (a === '--version' || a === '-v') {
      out(`trun-bundle version ${VERSION}`);
      return 0;
    }
    if (a === '--help' || a === '-h') {
      out(help());
      return 0;
    }
    pre.push(a);
    if (a === '--store') pre.push(argv[++i] ?? '');
    i++;
  }
  const name = argv[i];
  if (name === undefined || name === 'help') {
    out(help());
    return name === undefined ? 1 : 0;
  }
  const def = COMMANDS[name];
  if (!def) throw new TrunError('EINVAL', `unknown command "${name}" (see trun-bundle --help)`);
  const p = parseArgs([...pre, ...argv.slice(i + 1)], def, name);
  if (bool(p, 'help')) {
    out(commandHelp(name, def));
    return 0;
  }
  const store = str(p, 'store') ?? process.env.TRUN_STORE ?? DEFAULT_STORE;
  const quiet = bool(p, 'quiet');
  const onProgress = progressRenderer(!quiet);
  const withProgress = <T extends object>(o: T): T => (onProgress ? { ...o, onProgress } : o);
  const [a0, a1] = p.positionals as [string, string?];

  switch (name) {
    case 'import': {
      const res = await importCmd(withProgress({ store, source: a0, ...(a1 !== undefined ? { ref: a1 } : {}) }));
      for (const r of res) for (const t of r.tags) out(`imported ${t} (image id ${imageId(store, r.manifestDigest)})`);
      return 0;
    }
    case 'import-rootfs': {
      const res = await importRootfsCmd(withProgress({ store, source: a0, tag: a1!, changes: list(p, 'change'), ...opt(p, 'message'), ...opt(p, 'author') }));
      out(`imported ${res.tag} (image id ${imageId(store, res.manifestDigest)})`);
      return 0;
    }
    case 'export': {
      const res = await exportCmd(withProgress({ store, image: a0, file: a1! }));
      if (!quiet) out(`exported ${res.tags.join(', ') || res.manifestDigest} to ${a1}`);
      return 0;
    }
    case 'images':
      printImages(images({ store }), bool(p, 'no-trunc'), out);
      return 0;
    case 'rmi': {
      const res = await rmi({ store, images: p.positionals, force: bool(p, 'force') });
      for (const t of res.untagged) out(`untagged: ${t}`);
      for (const d of res.deleted) out(`deleted: ${d}`);
      if (!quiet && (res.gc.blobs || res.gc.layers)) out(`freed ${res.gc.blobs} blobs (${human(res.gc.bytes)}), ${res.gc.layers} unpacked layers`);
      return 0;
    }
    case 'inspect': {
      const items = inspect({ store, targets: p.positionals, ...(str(p, 'trun-root') !== undefined ? { trunRoot: str(p, 'trun-root')! } : {}) });
      const format = str(p, 'format');
      if (format === undefined) out(JSON.stringify(items, null, 2));
      else items.forEach((item) => out(compileTemplate(format)(item)));
      return 0;
    }
    case 'history': {
      const rows = history({ store, image: a0 });
      const format = str(p, 'format');
      if (format !== undefined) rows.forEach((r) => out(compileTemplate(format)(r)));
      else printHistory(rows, bool(p, 'no-trunc'), out);
      return 0;
    }
    case 'gc': {
      const res = await gc({ store });
      if (!quiet) out(`freed ${res.blobs} blobs (${human(res.bytes)}), ${res.layers} unpacked layers`);
      return 0;
    }
    case 'create': {
      const args = str(p, 'args');
      const entrypoint = str(p, 'entrypoint');
      const res = await create(withProgress({
        store, image: a0, bundle: a1!,
        ...(args !== undefined ? { args: commandArg(args, 'args') } : {}),
        ...(entrypoint !== undefined ? { entrypoint: commandArg(entrypoint, 'entrypoint') } : {}),
        ...(p.rest !== undefined && p.rest.length > 0 ? { cmd: p.rest } : {}),
        env: list(p, 'env'), ...opt(p, 'cwd'), ...opt(p, 'user'), ...opt(p, 'hostname'),
        readOnly: bool(p, 'read-only'), tty: bool(p, 'tty'), mounts: list(p, 'mount'),
        volumes: list(p, 'volume'), tmpfs: list(p, 'tmpfs'), volumesFrom: list(p, 'volumes-from'),
        ...opt(p, 'network'), publish: list(p, 'publish'), links: list(p, 'link'),
        ...(str(p, 'trun-root') !== undefined ? { trunRoot: str(p, 'trun-root')! } : {}),
        callerEnv: process.env, rootless: (process.getuid?.() ?? 0) !== 0,
      }));
      if (!quiet) out(`created bundle ${res.bundle} from ${a0} (${res.unpackedLayers} layers unpacked, ${res.cachedLayers} cached)`);
      return 0;
    }
    case 'rm': {
      const res = await rm({ bundles: p.positionals, volumes: bool(p, 'volumes'), ...(str(p, 'store') !== undefined ? { store } : {}) });
      if (!quiet) for (const v of res.volumes) out(`removed volume ${v}`);
      return 0;
    }
    case 'volume':
      return volume(p, store, quiet, out);
    case 'network':
      return networkCli(p, store, quiet, out);
    case 'mount':
      mount({ bundle: a0, ...(str(p, 'store') !== undefined ? { store } : {}) });
      return 0;
    case 'commit': {
      const res = await commit(withProgress({
        bundle: a0, tag: a1!, changes: list(p, 'change'), pause: bool(p, 'pause'),
        ...(str(p, 'compression') !== undefined ? { compression: parseCompression(str(p, 'compression')!) } : {}),
        ...(str(p, 'store') !== undefined ? { store } : {}),
        ...opt(p, 'author'), ...opt(p, 'message'), ...opt(p, 'trun'),
        ...(str(p, 'trun-root') !== undefined ? { trunRoot: str(p, 'trun-root')! } : {}),
      }));
      out(res.configDigest);
      return 0;
    }
  }
  return 1;
}

const VOLUME_COMMANDS: Record<string, (p: Parsed, store: string, quiet: boolean, out: (s: string) => void) => Promise<void>> = {
  create: async (p, store, _q, out) => out(await volumeCreate({ store, names: p.positionals.slice(1), labels: list(p, 'label') })),
  ls: async (p, store, quiet, out) => printVolumes(volumeLs({ store, names: p.positionals.slice(1) }), quiet, out),
  inspect: async (p, store, _q, out) => out(JSON.stringify(volumeInspect({ store, names: p.positionals.slice(1) }), null, 2)),
  rm: async (p, store, _q, out) => (await volumeRm({ store, names: p.positionals.slice(1) })).forEach((n) => out(n)),
  prune: async (p, store, quiet, out) => {
    const res = await volumePrune({ store, names: p.positionals.slice(1) });
    res.removed.forEach((n) => out(n));
    if (!quiet) out(`total reclaimed space: ${human(res.bytes)}`);
  },
};

async function volume(p: Parsed, store: string, quiet: boolean, out: (s: string) => void): Promise<number> {
  const sub = p.positionals[0]!;
  const run = VOLUME_COMMANDS[sub];
  if (!run) throw new TrunError('EINVAL', `volume: unknown subcommand "${sub}" (create, ls, inspect, rm or prune)`);
  await run(p, store, quiet, out);
  return 0;
}

function printVolumes(rows: ReturnType<typeof volumeLs>, quiet: boolean, out: (s: string) => void): void {
  if (quiet) {
    for (const r of rows) out(r.Name);
    return;
  }
  const table = [['VOLUME NAME', 'CREATED', 'ANONYMOUS', 'BUNDLES']];
  for (const r of rows) table.push([r.Name, r.CreatedAt.replace(/\.\d+Z$/, 'Z'), r.Anonymous ? 'yes' : 'no', String(r.Bundles.length)]);
  printTable(table, out);
}

/** The image id `images` and `commit` print (the config digest), for an image just imported. */
function imageId(store: string, manifestDigest: string): string {
  return new Store(store).resolve(manifestDigest).configDigest;
}

function opt<K extends string>(p: Parsed, name: K): { [P in K]?: string } {
  const v = str(p, name);
  return (v === undefined ? {} : { [name]: v }) as { [P in K]?: string };
}

function printHistory(rows: ReturnType<typeof history>, noTrunc: boolean, out: (s: string) => void): void {
  const cut = (s: string, n: number): string => (noTrunc || s.length <= n ? s : `${s.slice(0, n - 3)}...`);
  const table = [['LAYER', 'CREATED', 'CREATED BY', 'SIZE', 'AUTHOR', 'COMMENT']];
  for (const r of rows) {
    const id = r.Layer === null ? '<none>' : noTrunc ? r.Layer : r.Layer.slice(7, 19);
    table.push([id, r.Created ?? '', cut(r.CreatedBy, 45), r.EmptyLayer ? '0 B' : human(r.Size), r.Author ?? '', cut(r.Comment ?? '', 40)]);
  }
  printTable(table, out);
}

function printTable(table: string[][], out: (s: string) => void): void {
  const widths = table[0]!.map((_, c) => Math.max(...table.map((row) => row[c]!.length)));
  for (const row of table) out(row.map((cell, c) => cell.padEnd(widths[c]!)).join('   ').trimEnd());
}

function printImages(rows: ReturnType<typeof images>, noTrunc: boolean, out: (s: string) => void): void {
  const table = [['REPOSITORY', 'TAG', 'IMAGE ID', 'CREATED', 'SIZE']];
  for (const r of rows) table.push([r.repository, r.tag, noTrunc ? `sha256:${r.id}` : r.id.slice(0, 12), r.created ?? '', human(r.size)]);
  printTable(table, out);
}

run(process.argv.slice(2), (s) => process.stdout.write(s + '\n')).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    const msg = err instanceof TrunError ? err.message : err instanceof Error ? err.message : String(err);
    process.stderr.write(`trun-bundle: ${msg}\n`);
    if (process.env.TRUN_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
    process.exitCode = 1;
  },
);
