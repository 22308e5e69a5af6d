// trun's command line: runc's global flags and subcommands. This file only parses and prints;
// each subcommand's module is loaded when that subcommand runs.
import * as path from 'node:path';
import type { Context, GlobalOptions } from '../context';
import { defaultGlobals } from '../context';
import { TrunError } from '../errors';
import { bool, list, num, parseArgs, str, type FlagSpec, type Parsed } from './args';
import { logEvent } from './log';
import { forwardSignals, processSignals, type SignalSource } from './signals';

const VERSION = '0.1.0';

const GLOBAL_FLAGS: FlagSpec[] = [
  { name: 'root', type: 'string' },
  { name: 'log', type: 'string' },
  { name: 'log-format', type: 'string' },
  { name: 'debug', type: 'bool' },
  { name: 'systemd-cgroup', type: 'bool' },
  { name: 'rootless', type: 'string' },
  { name: 'criu', type: 'string' },
  { name: 'version', aliases: ['v'], type: 'bool' },
  { name: 'help', aliases: ['h'], type: 'bool' },
];

const CREATE_FLAGS: FlagSpec[] = [
  { name: 'bundle', aliases: ['b'], type: 'string' },
  { name: 'pid-file', type: 'string' },
  { name: 'console-socket', type: 'string' },
  { name: 'no-pivot', type: 'bool' },
  { name: 'no-new-keyring', type: 'bool' },
  { name: 'preserve-fds', type: 'number' },
  { name: 'pidfd-socket', type: 'string' },
];

interface Command {
  flags: FlagSpec[];
  /** Stop parsing flags after this many positional arguments (exec ID cmd -x...). */
  stopAfter?: number;
  usage: string;
  /** Number of positional arguments required (at least). */
  args: number;
  run: (ctx: Context, p: Parsed, out: NodeJS.WritableStream, host: MainHost) => Promise<number>;
}

/**
 * What main() takes from the process it runs in besides argv/env/cwd/stdio: the cold path passes
 * this process's own, the warm path's server those of the caller's front end.
 */
export interface MainHost {
  /** The signals sent to trun (forwarded by foreground run/exec, ending `events`). */
  signals: SignalSource;
  /** Reads all of trun's stdin (`update --resources -`). */
  readStdin: () => Promise<string>;
  /** Starts trun-init for create/run/exec; unset: spawned by this process. */
  spawner?: import('../init/spawner').InitSpawner;
}

export const processHost: MainHost = {
  signals: processSignals,
  readStdin: async () => (await import('node:fs')).readFileSync(0, 'utf8'),
};

function idOf(p: Parsed): string {
  return p.positional[0]!;
}

function createOpts(p: Parsed) {
  const o = { id: idOf(p) } as import('../commands/create').CreateOptions;
  const bundle = str(p, 'bundle'); if (bundle !== undefined) o.bundle = bundle;
  const pidFile = str(p, 'pid-file'); if (pidFile !== undefined) o.pidFile = pidFile;
  const cs = str(p, 'console-socket'); if (cs !== undefined) o.consoleSocket = cs;
  o.noPivot = bool(p, 'no-pivot');
  o.noNewKeyring = bool(p, 'no-new-keyring');
  o.preserveFds = num(p, 'preserve-fds') ?? 0;
  return o;
}

const COMMANDS: Record<string, Command> = {
  create: {
    flags: CREATE_FLAGS, usage: 'create [command options] <container-id>', args: 1,
    run: async (ctx, p) => {
      const { createContainer } = await import('../commands/create');
      await createContainer(ctx, createOpts(p));
      return 0;
    },
  },
  start: {
    flags: [], usage: 'start <container-id>', args: 1,
    run: async (ctx, p) => {
      const { startContainer } = await import('../commands/start');
      await startContainer(ctx, idOf(p));
      return 0;
    },
  },
  run: {
    flags: [...CREATE_FLAGS, { name: 'detach', aliases: ['d'], type: 'bool' }, { name: 'keep', type: 'bool' }],
    usage: 'run [command options] <container-id>', args: 1,
    run: async (ctx, p, _out, host) => {
      const { runContainer } = await import('../commands/run');
      return runContainer(ctx, {
        ...createOpts(p),
        detach: bool(p, 'detach'),
        keep: bool(p, 'keep'),
        forwardSignals: (forward) => forwardSignals(host.signals, forward),
      });
    },
  },
  exec: {
    flags: [
      { name: 'console-socket', type: 'string' }, { name: 'cwd', type: 'string' }, { name: 'env', aliases: ['e'], type: 'list' },
      { name: 'tty', aliases: ['t'], type: 'bool' }, { name: 'user', aliases: ['u'], type: 'string' },
      { name: 'additional-gids', aliases: ['g'], type: 'list' }, { name: 'process', aliases: ['p'], type: 'string' },
      { name: 'detach', aliases: ['d'], type: 'bool' }, { name: 'pid-file', type: 'string' }, { name: 'process-label', type: 'string' },
      { name: 'apparmor', type: 'string' }, { name: 'no-new-privs', type: 'bool' }, { name: 'cap', aliases: ['c'], type: 'list' },
      { name: 'preserve-fds', type: 'number' }, { name: 'cgroup', type: 'list' }, { name: 'ignore-paused', type: 'bool' },
    ],
    usage: 'exec [command options] <container-id> <command> [command options]  ||  -p process.json <container-id>', args: 1,
    stopAfter: 1,
    run: async (ctx, p, _out, host) => {
      const { execProcess } = await import('../commands/exec');
      const gids = list(p, 'additional-gids').map((g) => {
        const n = Number(g);
        if (!Number.isInteger(n) || n < 0) throw new TrunError('EINVAL', `invalid additional-gids value "${g}"`);
        return n;
      });
      const o: import('../commands/exec').ExecOptions = {
        id: idOf(p), args: p.positional.slice(1), tty: bool(p, 'tty'), detach: bool(p, 'detach'),
        env: list(p, 'env'), additionalGids: gids, caps: list(p, 'cap'), noNewPrivs: bool(p, 'no-new-privs'),
        preserveFds: num(p, 'preserve-fds') ?? 0, ignorePaused: bool(p, 'ignore-paused'), cgroups: list(p, 'cgroup'),
        forwardSignals: (forward) => forwardSignals(host.signals, forward),
      };
      const setIf = <K extends keyof typeof o>(k: K, v: (typeof o)[K] | undefined) => { if (v !== undefined) o[k] = v; };
      setIf('processFile', str(p, 'process'));
      setIf('consoleSocket', str(p, 'console-socket'));
      setIf('pidFile', str(p, 'pid-file'));
      setIf('cwd', str(p, 'cwd'));
      setIf('user', str(p, 'user'));
      setIf('apparmor', str(p, 'apparmor'));
      setIf('processLabel', str(p, 'process-label'));
      if (!o.processFile && o.args.length === 0) throw new TrunError('EINVAL', 'exec needs a command, or --process');
      return execProcess(ctx, o);
    },
  },
  pause: {
    flags: [], usage: 'pause <container-id>', args: 1,
    run: async (ctx, p) => {
      const { pauseContainer } = await import('../commands/pause');
      await pauseContainer(ctx, idOf(p));
      return 0;
    },
  },
  resume: {
    flags: [], usage: 'resume <container-id>', args: 1,
    run: async (ctx, p) => {
      const { resumeContainer } = await import('../commands/pause');
      await resumeContainer(ctx, idOf(p));
      return 0;
    },
  },
  ps: {
    flags: [{ name: 'format', aliases: ['f'], type: 'string' }], usage: 'ps [command options] <container-id> [ps options]', args: 1,
    stopAfter: 1,
    run: async (ctx, p, out) => {
      const { psContainer } = await import('../commands/ps');
      const format = str(p, 'format') ?? 'table';
      if (format !== 'table' && format !== 'json') throw new TrunError('EINVAL', `invalid format option "${format}"`);
      out.write(await psContainer(ctx, idOf(p), format, p.positional.slice(1)));
      return 0;
    },
  },
  events: {
    flags: [{ name: 'stats', type: 'bool' }, { name: 'interval', type: 'string' }], usage: 'events [command options] <container-id>', args: 1,
    run: async (ctx, p, out, host) => {
      const { containerEvents } = await import('../commands/events');
      const { parseDuration } = await import('./duration');
      const abort = new AbortController();
      const stop = () => abort.abort();
      host.signals.on('SIGINT', stop);
      host.signals.on('SIGTERM', stop);
      try {
        await containerEvents(ctx, { id: idOf(p), stats: bool(p, 'stats'), intervalMs: parseDuration(str(p, 'interval') ?? '5s') },
          (ev) => out.write(`${JSON.stringify(ev)}\n`), abort.signal);
      } finally {
        host.signals.off('SIGINT', stop);
        host.signals.off('SIGTERM', stop);
      }
      return 0;
    },
  },
  update: {
    flags: [
      { name: 'resources', aliases: ['r'], type: 'string' },
      ...['blkio-weight', 'cpu-period', 'cpu-quota', 'cpu-share', 'cpu-rt-period', 'cpu-rt-runtime', 'cpuset-cpus', 'cpuset-mems',
        'memory', 'memory-reservation', 'memory-swap', 'pids-limit', 'kernel-memory', 'kernel-memory-tcp', 'l3-cache-schema', 'mem-bw-schema']
        .map((name): FlagSpec => ({ name, type: 'string' })),
    ],
    usage: 'update [command options] <container-id>', args: 1,
    run: async (ctx, p, _out, host) => {
      const { updateContainer } = await import('../commands/update');
      const o: import('../commands/update').UpdateOptions = { id: idOf(p), flags: {} };
      const res = str(p, 'resources');
      if (res !== undefined) {
        const fs = await import('node:fs');
        const text = res === '-' ? await host.readStdin() : fs.readFileSync(path.resolve(ctx.cwd, res), 'utf8');
        try {
          o.resources = JSON.parse(text);
        } catch (e) {
          throw new TrunError('EINVAL', `--resources: invalid JSON: ${(e as Error).message}`);
        }
      }
      for (const [k, v] of Object.entries(p.flags)) if (k !== 'resources' && typeof v === 'string') (o.flags as Record<string, string>)[k] = v;
      await updateContainer(ctx, o);
      return 0;
    },
  },
  state: {
    flags: [], usage: 'state <container-id>', args: 1,
    run: async (ctx, p, out) => {
      const { containerState } = await import('../commands/state');
      out.write(`${JSON.stringify(containerState(ctx, idOf(p)), null, 2)}\n`);
      return 0;
    },
  },
  kill: {
    flags: [{ name: 'all', aliases: ['a'], type: 'bool' }], usage: 'kill [command options] <container-id> [signal]', args: 1,
    run: async (ctx, p) => {
      const { killContainer } = await import('../commands/kill');
      const o: import('../commands/kill').KillOptions = { id: idOf(p), all: bool(p, 'all') };
      if (p.positional[1] !== undefined) o.signal = p.positional[1];
      killContainer(ctx, o);
      return 0;
    },
  },
  delete: {
    flags: [{ name: 'force', aliases: ['f'], type: 'bool' }], usage: 'delete [command options] <container-id>', args: 1,
    run: async (ctx, p) => {
      const { deleteContainer } = await import('../commands/delete');
      await deleteContainer(ctx, { id: idOf(p), force: bool(p, 'force') });
      return 0;
    },
  },
  list: {
    flags: [{ name: 'format', aliases: ['f'], type: 'string' }, { name: 'quiet', aliases: ['q'], type: 'bool' }],
    usage: 'list [command options]', args: 0,
    run: async (ctx, p, out) => {
      const { listContainers } = await import('../commands/state');
      const { formatList } = await import('./format');
      const format = str(p, 'format') ?? 'table';
      if (format !== 'table' && format !== 'json') throw new TrunError('EINVAL', `invalid format option "${format}"`);
      out.write(formatList(listContainers(ctx), format, bool(p, 'quiet')));
      return 0;
    },
  },
  spec: {
    flags: [{ name: 'bundle', aliases: ['b'], type: 'string' }, { name: 'rootless', type: 'bool' }],
    usage: 'spec [command options]', args: 0,
    run: async (ctx, p) => {
      const { writeSpec } = await import('../commands/spec');
      const o: import('../commands/spec').SpecOptions = { rootless: bool(p, 'rootless') };
      const bundle = str(p, 'bundle'); if (bundle !== undefined) o.bundle = bundle;
      writeSpec(ctx, o);
      return 0;
    },
  },
  features: {
    flags: [], usage: 'features', args: 0,
    run: async (_ctx, _p, out) => {
      const { features } = await import('../commands/features');
      out.write(`${JSON.stringify(features(), null, 4)}\n`);
      return 0;
    },
  },
};

function usage(): string {
  const lines = Object.values(COMMANDS).map((c) => `   ${c.usage}`);
  return `usage: trun [global options] command [command options] [arguments...]\n\ncommands:\n${lines.join('\n')}\n`;
}

/** Paths are taken relative to the caller's cwd, never this process's (the warm path's server has its own). */
function globalsOf(p: Parsed, cwd: string): GlobalOptions {
  const g = defaultGlobals();
  const root = str(p, 'root'); if (root !== undefined) g.root = path.resolve(cwd, root);
  const log = str(p, 'log'); if (log !== undefined) g.log = path.resolve(cwd, log);
  const fmt = str(p, 'log-format');
  if (fmt !== undefined) {
    if (fmt !== 'text' && fmt !== 'json') throw new TrunError('EINVAL', `invalid log-format: ${fmt}`);
    g.logFormat = fmt;
  }
  g.debug = bool(p, 'debug');
  g.systemdCgroup = bool(p, 'systemd-cgroup');
  const rl = str(p, 'rootless');
  if (rl !== undefined) {
    if (rl !== 'true' && rl !== 'false' && rl !== 'auto') throw new TrunError('EINVAL', `invalid value for --rootless: ${rl}`);
    g.rootless = rl;
  }
  return g;
}

export async function main(
  argv: string[], env: NodeJS.ProcessEnv, cwd: string, out: NodeJS.WritableStream, err: NodeJS.WritableStream, host: MainHost = processHost,
): Promise<number> {
  let global = defaultGlobals();
  try {
    const top = parseArgs(argv, GLOBAL_FLAGS, { stopAtPositional: true });
    global = globalsOf(top, cwd);
    if (bool(top, 'version')) {
      out.write(`trun version ${VERSION}\nspec: ${(await import('../defaults')).OCI_VERSION}\nnode: ${process.version}\n`);
      return 0;
    }
    const name = top.positional[0];
    if (!name || bool(top, 'help')) {
      (name ? out : err).write(usage());
      return name || bool(top, 'help') ? 0 : 1;
    }
    const cmd = COMMANDS[name];
    if (!cmd) throw new TrunError('EINVAL', `No help topic for '${name}'`);
    const p = parseArgs(top.positional.slice(1), cmd.flags.concat({ name: 'help', aliases: ['h'], type: 'bool' }),
      cmd.stopAfter === undefined ? {} : { stopAfter: cmd.stopAfter });
    if (bool(p, 'help')) {
      out.write(`usage: trun ${cmd.usage}\n`);
      return 0;
    }
    if (p.positional.length < cmd.args) {
      throw new TrunError('EINVAL', `"${name}" requires ${cmd.args === 1 ? 'exactly 1 argument' : `${cmd.args} arguments`}`);
    }
    const ctx: Context = { global, cwd, env, warn: (m) => logEvent(global, 'warning', m, err) };
    if (host.spawner) ctx.spawner = host.spawner;
    return await cmd.run(ctx, p, out, host);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    logEvent(global, 'error', msg, err);
    if (global.debug && e instanceof Error && e.stack) err.write(`${e.stack}\n`);
    return 1;
  }
}

// dist/trun-server.js bundles this module too (and defines TRUN_SERVER_BUNDLE): there it is a library.
declare const TRUN_SERVER_BUNDLE: boolean | undefined;
if (require.main === module && typeof TRUN_SERVER_BUNDLE === 'undefined') {
  main(process.argv.slice(2), process.env, process.cwd(), process.stdout, process.stderr).then(
    (code) => { process.exitCode = code; },
    (e) => { process.stderr.write(`${String(e)}\n`); process.exitCode = 1; },
  );
}
