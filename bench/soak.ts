// A soak run of the warm path: W parallel workers each take N containers through
// create / start / exec / state / kill / delete with dist/trun (the C front end and its server),
// then checks that nothing was lost: every command succeeded, no state dir, cgroup or process is
// left, and the server's memory and open fds did not grow with the work.
// Usage: node --import tsx bench/soak.ts [--workers W] [--containers N]
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { defaultSpec } from '../runtime/defaults';
import { makeBusyboxRootfs } from '../test/helpers/rootfs';
import * as os from 'node:os';
import { ROOT } from './lib';

const FRONTEND = path.join(ROOT, 'dist/trun');

function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

interface Outcome { code: number | null; stdout: string; stderr: string }

/** Runs dist/trun; its stdout and stderr go through files, which a created container keeps open. */
function trun(env: NodeJS.ProcessEnv, dir: string, args: string[]): Promise<Outcome> {
  const out = path.join(dir, `out-${++outputs}`);
  const o = fs.openSync(out, 'w+');
  const e = fs.openSync(`${out}.err`, 'w+');
  return new Promise((resolve) => {
    const p = spawn(FRONTEND, args, { env, stdio: ['ignore', o, e] });
    p.on('exit', (code) => {
      fs.closeSync(o);
      fs.closeSync(e);
      const r = { code, stdout: fs.readFileSync(out, 'utf8'), stderr: fs.readFileSync(`${out}.err`, 'utf8') };
      fs.rmSync(out);
      fs.rmSync(`${out}.err`);
      resolve(r);
    });
  });
}
let outputs = 0;

/** VmRSS in kB and the number of open fds of a process. */
function usage(pid: number): { rssKb: number; fds: number } {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return { rssKb: Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0), fds: fs.readdirSync(`/proc/${pid}/fd`).length };
}

async function main(): Promise<void> {
  const workers = flag('workers', 2);
  const containers = flag('containers', 250);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'trun-soak-'));
  const serverDir = path.join(dir, 'server');
  fs.mkdirSync(serverDir, { mode: 0o700 });
  const root = path.join(dir, 'state');
  const bundle = path.join(dir, 'bundle');
  makeBusyboxRootfs(path.join(bundle, 'rootfs'));
  const spec = defaultSpec({ terminal: false, args: ['sleep', '1000'] });
  spec.linux!.cgroupsPath = ''; // the default path from the id
  fs.writeFileSync(path.join(bundle, 'config.json'), JSON.stringify(spec));
  const env = { ...process.env, TRUN_SERVER_DIR: serverDir, TRUN_SERVER_IDLE_MS: '600000' };

  const failures: string[] = [];
  const step = async (id: string, args: string[]): Promise<Outcome> => {
    const r = await trun(env, dir, ['--root', root, ...args]);
    if (r.code !== 0) failures.push(`${id}: trun ${args.join(' ')} exited ${r.code}: ${r.stderr.trim()}`);
    return r;
  };

  // Warm the server up, then take its baseline after a first round of work.
  await step('warmup', ['list']);
  const serverPid = Number(fs.readFileSync(path.join(serverDir, 'server.pid'), 'utf8'));
  const samples: Array<{ done: number; rssKb: number; fds: number }> = [];
  let done = 0;
  const started = Date.now();
  await Promise.all(Array.from({ length: workers }, async (_, w) => {
    for (let i = 0; i < containers; i++) {
      const id = `soak-${process.pid}-${w}-${i}`;
      await step(id, ['create', '-b', bundle, id]);
      await step(id, ['start', id]);
      const ex = await step(id, ['exec', id, 'sh', '-c', 'echo $$']);
      if (ex.code === 0 && !/^\d+\n$/.test(ex.stdout)) failures.push(`${id}: exec printed ${JSON.stringify(ex.stdout)}`);
      const st = await step(id, ['state', id]);
      if (st.code === 0 && JSON.parse(st.stdout).status !== 'running') failures.push(`${id}: state ${st.stdout}`);
      await step(id, ['kill', id, 'KILL']);
      await step(id, ['delete', '--force', id]);
      done += 1;
      if (done % 50 === 0) samples.push({ done, ...usage(serverPid) });
    }
  }));
  const seconds = (Date.now() - started) / 1000;

  const leftStates = fs.existsSync(root) ? fs.readdirSync(root) : [];
  const leftCgroups = fs.readFileSync('/proc/self/mountinfo', 'utf8').includes('cgroup')
    ? findCgroups(`soak-${process.pid}-`)
    : [];
  const alive = fs.existsSync(`/proc/${serverPid}`);
  console.log(`soak: ${workers} workers x ${containers} containers = ${workers * containers} in ${seconds.toFixed(1)} s ` +
    `(${((workers * containers * 6) / seconds).toFixed(1)} commands/s)`);
  console.log(`server pid ${serverPid}${alive ? '' : ' (gone!)'}: rss kB / fds every 50 containers:`);
  console.log(samples.map((s) => `  ${s.done}: ${s.rssKb} kB, ${s.fds} fds`).join('\n'));
  console.log(`failures: ${failures.length}; state dirs left: ${leftStates.length}; cgroups left: ${leftCgroups.length}`);
  for (const f of failures.slice(0, 20)) console.log(`  ${f}`);
  try {
    process.kill(serverPid, 'SIGTERM');
  } catch {
    // already gone
  }
  fs.rmSync(dir, { recursive: true, force: true });
  process.exitCode = failures.length || leftStates.length || leftCgroups.length || !alive ? 1 : 0;
}

/** Cgroup directories anywhere under /sys/fs/cgroup whose name starts with `prefix`. */
function findCgroups(prefix: string): string[] {
  const found: string[] = [];
  const walk = (d: string, depth: number): void => {
    if (depth > 6) return;
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (!e.isDirectory()) continue;
      const p = path.join(d, e.name);
      if (e.name.startsWith(prefix)) found.push(p);
      else walk(p, depth + 1);
    }
  };
  walk('/sys/fs/cgroup', 0);
  return found;
}

void main();
