// trun's command line: runc's global flags and subcommands. This file only parses and prints;
// each subcommand's module is loaded when that subcommand runs.
import * as path from 'node:path';
import type { Context, GlobalOptions } from '../context';
import { defaultGlobals } from '../context';
import { TrunError } from '../errors';
import { bool, list, num, parseArgs, str, type FlagSpec, type Parsed } from './args';
import { PROG, appHelp, commandHelp, type CommandHelp } from './help';
import { logEvent } from './log';
import { forwardSignals, processSignals, type SignalSource } from './signals';

const VERSION = '0.1.0';

const GLOBAL_FLAGS: FlagSpec[] = [
  { name: 'debug', type: 'bool', usage: 'write what trun does to the log (--log, else stderr)' },
  { name: 'log', type: 'string', usage: 'the file that gets trun\'s log lines (default: stderr)' },
  { name: 'log-format', type: 'string', usage: 'how log lines are written: \'text\' (default) or \'json\'' },
  { name: 'root', type: 'string', usage: 'the directory that keeps the containers\' state (default: "/run/trun")' },
  { name: 'criu', type: 'string', usage: 'accepted for runc compatibility; checkpoints are not supported' },
  { name: 'systemd-cgroup', type: 'bool', usage: 'read cgroupsPath as systemd\'s "slice:prefix:name"' },
  { name: 'rootless', type: 'string', usage: 'tolerate cgroup permission errors: \'true\', \'false\' or \'auto\' (default)' },
  { name: 'help', aliases: ['h'], type: 'bool', usage: 'show this help' },
  { name: 'version', aliases: ['v'], type: 'bool', usage: 'print the version' },
];

const HELP_FLAG: FlagSpec = { name: 'help', aliases: ['h'], type: 'bool', usage: 'show this command\'s help' };

const CREATE_FLAGS: FlagSpec[] = [
  { name: 'bundle', aliases: ['b'], type: 'string', usage: 'the bundle directory (default: the current directory)' },
  { name: 'console-socket', type: 'string', usage: 'an AF_UNIX socket that receives the pty master of a terminal container' },
  { name: 'pidfd-socket', type: 'string', usage: 'an AF_UNIX socket that receives a pidfd of the container\'s init' },
  { name: 'pid-file', type: 'string', usage: 'write the pid of the container\'s init to this file' },
  { name: 'no-pivot', type: 'bool', usage: 'enter the rootfs with MS_MOVE and chroot instead of pivot_root' },
  { name: 'no-new-keyring', type: 'bool', usage: 'keep the caller\'s session keyring instead of a new one' },
  { name: 'preserve-fds', type: 'number', usage: 'pass this many more fds (from fd 3 on) to the container' },
];

/** The arguments after the command's name: how many, at least and at most (runc's checkArgs). */
interface Arity { min: number; max?: number }
const EXACTLY = (n: number): Arity => ({ min: n, max: n });

interface Command {
  summary: string;
  flags: FlagSpec[];
  /** Stop parsing flags after this many positional arguments (exec ID cmd -x...). */
  stopAfter?: number;
  /** What follows the command's name, for its help. */
  usage: string;
  description?: string;
  args: Arity;
  run: (ctx: Context, p: Parsed, out: NodeJS.WritableStream, host: MainHost) => Promise<number>;
}

/** A failure with an exit code other than 1: `exec` reports its own failures with 255, as runc. */
export class ExitError extends Error {
  constructor(message: string, readonly exitCode: number, options?: { cause: unknown }) {
    super(message, options);
  }
}

/** Wrong flags or arguments: the command's help goes to stdout, the error to stderr (runc). */
class UsageError extends Error {
  constructor(message: string, readonly command?: string, readonly headline = 'Incorrect Usage.') {
    super(message);
  }
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

const ID_ARG = 'Where "<container-id>" names the container, as given to create or run.';

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

/** A command whose only argument is a container id and which prints nothing (pause, resume, start). */
function onContainer(summary: string, act: (ctx: Context, id: string) => Promise<void>): Command {
  return {
    summary, flags: [], usage: '<container-id>', args: EXACTLY(1), description: ID_ARG,
    run: async (ctx, p) => {
      await act(ctx, idOf(p));
      return 0;
    },
  };
}

const COMMANDS: Record<string, Command> = {
  create: {
    summary: 'create a container: its init waits for start',
    flags: CREATE_FLAGS, usage: '[command options] <container-id>', args: EXACTLY(1), description: ID_ARG,
    run: async (ctx, p) => {
      const { createContainer } = await import('../commands/create');
      await createContainer(ctx, createOpts(p));
      return 0;
    },
  },
  delete: {
    summary: 'delete a stopped container and everything it holds',
    flags: [{ name: 'force', aliases: ['f'], type: 'bool', usage: 'kill the container first when it is not stopped' }],
    usage: '[command options] <container-id>', args: EXACTLY(1), description: ID_ARG,
    run: async (ctx, p) => {
      const { deleteContainer } = await import('../commands/delete');
      await deleteContainer(ctx, { id: idOf(p), force: bool(p, 'force') });
      return 0;
    },
  },
  events: {
    summary: 'print the container\'s resource usage and OOM events as JSON lines',
    flags: [
      { name: 'interval', type: 'string', usage: 'time between stats events (default: 5s)' },
      { name: 'stats', type: 'bool', usage: 'print one stats event and exit' },
    ],
    usage: '[command options] <container-id>', args: EXACTLY(1), description: ID_ARG,
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
  exec: {
    summary: 'run a new process inside a container',
    flags: [
      { name: 'console-socket', type: 'string', usage: 'an AF_UNIX socket that receives the pty master (with --tty)' },
      { name: 'cwd', type: 'string', usage: 'the working directory inside the container' },
      { name: 'env', aliases: ['e'], type: 'list', usage: 'set an environment variable, KEY=VALUE (repeatable)' },
      { name: 'tty', aliases: ['t'], type: 'bool', usage: 'give the process a pseudo-terminal' },
      { name: 'user', aliases: ['u'], type: 'string', usage: 'the user to run as: <uid>[:<gid>]' },
      { name: 'additional-gids', aliases: ['g'], type: 'list', usage: 'a supplementary group id (repeatable)' },
      { name: 'process', aliases: ['p'], type: 'string', usage: 'a process.json describing the process' },
      { name: 'detach', aliases: ['d'], type: 'bool', usage: 'return once the process runs, without waiting for it' },
      { name: 'pid-file', type: 'string', usage: 'write the process\'s pid to this file' },
      { name: 'process-label', type: 'string', usage: 'the SELinux label of the process' },
      { name: 'apparmor', type: 'string', usage: 'the AppArmor profile of the process' },
      { name: 'no-new-privs', type: 'bool', usage: 'set no_new_privs for the process' },
      { name: 'cap', aliases: ['c'], type: 'list', usage: 'add a capability to the process\'s sets (repeatable)' },
      { name: 'preserve-fds', type: 'number', usage: 'pass this many more fds (from fd 3 on) to the process' },
      { name: 'cgroup', type: 'list', usage: 'run in this existing sub-cgroup: [<controller>:]<path>' },
      { name: 'ignore-paused', type: 'bool', usage: 'exec even when the container is paused' },
    ],
    usage: '[command options] <container-id> <command> [command options]  ||  -p process.json <container-id>',
    description: `${ID_ARG}\n"<command>" is what to run inside it; it may be left out with --process.`,
    args: { min: 1 },
    stopAfter: 1,
    run: async (ctx, p, _out, host) => {
      try {
        return await execCommand(ctx, p, host);
      } catch (e) {
        // runc: every failure of exec itself is 255, so a caller tells it from the process's own code.
        throw new ExitError(`exec failed: ${messageOf(e)}`, 255, { cause: e });
      }
    },
  },
  features: {
    summary: 'print what this trun supports, as JSON',
    flags: [], usage: '', args: EXACTLY(0),
    run: async (_ctx, _p, out) => {
      const { features } = await import('../commands/features');
      out.write(`${JSON.stringify(features(), null, 4)}\n`);
      return 0;
    },
  },
  kill: {
    summary: 'send a signal (default: SIGTERM) to the container\'s init',
    flags: [{ name: 'all', aliases: ['a'], type: 'bool', usage: 'send it to every process of the container' }],
    usage: '[command options] <container-id> [signal]', args: { min: 1, max: 2 },
    description: `${ID_ARG}\n"[signal]" is a name (KILL, SIGKILL, kill) or a number; 0 only checks that the init is alive.`,
    run: async (ctx, p) => {
      const { killContainer } = await import('../commands/kill');
      const o: import('../commands/kill').KillOptions = { id: idOf(p), all: bool(p, 'all') };
      if (p.positional[1] !== undefined) o.signal = p.positional[1];
      killContainer(ctx, o);
      return 0;
    },
  },
  list: {
    summary: 'list the containers under --root',
    flags: [
      { name: 'format', aliases: ['f'], type: 'string', usage: 'table (default) or json' },
      { name: 'quiet', aliases: ['q'], type: 'bool', usage: 'print the container ids only' },
    ],
    usage: '[command options]', args: EXACTLY(0),
    run: async (ctx, p, out) => {
      const { listContainers } = await import('../commands/state');
      const { formatList } = await import('./format');
      const format = str(p, 'format') ?? 'table';
      if (format !== 'table' && format !== 'json') throw new TrunError('EINVAL', 'invalid format option');
      out.write(formatList(listContainers(ctx), format, bool(p, 'quiet')));
      return 0;
    },
  },
  pause: onContainer('freeze every process of the container', async (ctx, id) => (await import('../commands/pause')).pauseContainer(ctx, id)),
  ps: {
    summary: 'show the container\'s processes',
    flags: [{ name: 'format', aliases: ['f'], type: 'string', usage: 'table (default: ps output) or json (the pids)' }],
    usage: '[command options] <container-id> [ps options]', args: { min: 1 },
    description: `${ID_ARG}\n"[ps options]" are passed to ps(1) (default: -ef).`,
    stopAfter: 1,
    run: async (ctx, p, out) => {
      const { psContainer } = await import('../commands/ps');
      const format = str(p, 'format') ?? 'table';
      if (format !== 'table' && format !== 'json') throw new TrunError('EINVAL', 'invalid format option');
      out.write(await psContainer(ctx, idOf(p), format, p.positional.slice(1)));
      return 0;
    },
  },
  resume: onContainer('thaw the processes of a paused container', async (ctx, id) => (await import('../commands/pause')).resumeContainer(ctx, id)),
  run: {
    summary: 'create and start a container, and wait for it unless --detach',
    flags: [
      ...CREATE_FLAGS,
      { name: 'detach', aliases: ['d'], type: 'bool', usage: 'return once the container runs' },
      { name: 'keep', type: 'bool', usage: 'keep the stopped container instead of deleting it' },
    ],
    usage: '[command options] <container-id>', args: EXACTLY(1), description: ID_ARG,
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
  spec: {
    summary: 'write a default config.json',
    flags: [
      { name: 'bundle', aliases: ['b'], type: 'string', usage: 'the bundle directory to write it in (default: the current directory)' },
      { name: 'rootless', type: 'bool', usage: 'a config for a container without root: a user namespace mapping the caller' },
    ],
    usage: '[command options]', args: EXACTLY(0),
    run: async (ctx, p) => {
      const { writeSpec } = await import('../commands/spec');
      const o: import('../commands/spec').SpecOptions = { rootless: bool(p, 'rootless') };
      const bundle = str(p, 'bundle'); if (bundle !== undefined) o.bundle = bundle;
      writeSpec(ctx, o);
      return 0;
    },
  },
  start: onContainer('run the user\'s process in a created container', async (ctx, id) => (await import('../commands/start')).startContainer(ctx, id)),
  state: {
    summary: 'print the state of a container as JSON',
    flags: [], usage: '<container-id>', args: EXACTLY(1), description: ID_ARG,
    run: async (ctx, p, out) => {
      const { containerState } = await import('../commands/state');
      out.write(`${JSON.stringify(containerState(ctx, idOf(p)), null, 2)}\n`);
      return 0;
    },
  },
  update: {
    summary: 'change the resource limits of a container',
    flags: [
      { name: 'resources', aliases: ['r'], type: 'string', usage: 'a JSON file of linux.resources ("-": stdin)' },
      ...['blkio-weight', 'cpu-period', 'cpu-quota', 'cpu-share', 'cpu-rt-period', 'cpu-rt-runtime', 'cpuset-cpus', 'cpuset-mems',
        'memory', 'memory-reservation', 'memory-swap', 'pids-limit', 'kernel-memory', 'kernel-memory-tcp', 'l3-cache-schema', 'mem-bw-schema']
        .map((name): FlagSpec => ({ name, type: 'string', usage: `the new ${name.replace(/-/g, ' ')}` })),
    ],
    usage: '[command options] <container-id>', args: EXACTLY(1), description: ID_ARG,
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
};

async function execCommand(ctx: Context, p: Parsed, host: MainHost): Promise<number> {
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
  if (!o.processFile && o.args.length === 0) throw new TrunError('EINVAL', 'process args cannot be empty');
  return execProcess(ctx, o);
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function helpOf(name: string): string {
  const c = COMMANDS[name]!;
  const h: CommandHelp = { name, summary: c.summary, usage: c.usage, flags: c.flags };
  if (c.description) h.description = c.description;
  return commandHelp(h);
}

function appUsage(): string {
  const commands = Object.entries(COMMANDS).map(([name, c]) => ({ name, summary: c.summary, usage: c.usage, flags: c.flags }));
  return appHelp(VERSION, commands, GLOBAL_FLAGS);
}

function checkArity(name: string, cmd: Command, n: number): void {
  const { min, max } = cmd.args;
  if (min === max && n !== min) throw new UsageError(`${PROG}: "${name}" requires exactly ${min} argument(s)`, name);
  if (n < min) throw new UsageError(`${PROG}: "${name}" requires a minimum of ${min} argument(s)`, name);
  if (max !== undefined && n > max) throw new UsageError(`${PROG}: "${name}" requires a maximum of ${max} argument(s)`, name);
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
    let top: Parsed;
    try {
      top = parseArgs(argv, GLOBAL_FLAGS, { stopAtPositional: true });
    } catch (e) {
      throw new UsageError(messageOf(e), undefined, `Incorrect Usage. ${messageOf(e)}`);
    }
    global = globalsOf(top, cwd);
    if (bool(top, 'version')) {
      out.write(`${PROG} version ${VERSION}\nspec: ${(await import('../defaults')).OCI_VERSION}\nnode: ${process.version}\n`);
      return 0;
    }
    let name = top.positional[0];
    let rest = top.positional.slice(1);
    // `trun help [CMD]` and `trun h [CMD]` are `trun [CMD] --help`.
    const asksHelp = name === 'help' || name === 'h';
    if (asksHelp) [name, rest] = [rest[0], []];
    if (!name) {
      out.write(appUsage());
      return 0;
    }
    const cmd = COMMANDS[name];
    if (!cmd) {
      logEvent(global, 'error', `No help topic for '${name}'`, err);
      return 3;
    }
    if (asksHelp || bool(top, 'help')) {
      out.write(helpOf(name));
      return 0;
    }
    let p: Parsed;
    try {
      p = parseArgs(rest, [...cmd.flags, HELP_FLAG], cmd.stopAfter === undefined ? {} : { stopAfter: cmd.stopAfter });
    } catch (e) {
      throw new UsageError(messageOf(e), name, `Incorrect Usage: ${messageOf(e)}`);
    }
    if (bool(p, 'help')) {
      out.write(helpOf(name));
      return 0;
    }
    checkArity(name, cmd, p.positional.length);
    const ctx: Context = { global, cwd, env, warn: (m) => logEvent(global, 'warning', m, err) };
    if (global.debug) {
      ctx.debug = (m) => logEvent(global, 'debug', m, err);
      ctx.debug(`${PROG} ${name}: ${JSON.stringify(p.positional)} (root ${global.root}, pid ${process.pid})`);
    }
    if (host.spawner) ctx.spawner = host.spawner;
    const code = await cmd.run(ctx, p, out, host);
    ctx.debug?.(`${PROG} ${name}: exit status ${code}`);
    return code;
  } catch (e) {
    if (e instanceof UsageError) {
      out.write(`${e.headline}\n\n${e.command ? helpOf(e.command) : appUsage()}`);
    }
    logEvent(global, 'error', messageOf(e), err);
    if (e instanceof Error && e.stack) logEvent(global, 'debug', causeChain(e), err);
    return e instanceof ExitError ? e.exitCode : 1;
  }
}

/** The stack of an error and of what caused it, for --debug. */
function causeChain(e: Error): string {
  let text = e.stack ?? e.message;
  for (let c = e.cause; c instanceof Error; c = c.cause) text += `\ncaused by: ${c.stack ?? c.message}`;
  return text;
}

// dist/trun-server.js bundles this module too (and defines TRUN_SERVER_BUNDLE): there it is a library.
declare const TRUN_SERVER_BUNDLE: boolean | undefined;
if (require.main === module && typeof TRUN_SERVER_BUNDLE === 'undefined') {
  main(process.argv.slice(2), process.env, process.cwd(), process.stdout, process.stderr).then(
    (code) => { process.exitCode = code; },
    (e) => { process.stderr.write(`${String(e)}\n`); process.exitCode = 1; },
  );
}
