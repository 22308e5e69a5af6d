// trun under a real podman (4.3) and conmon: `podman --runtime dist/trun.js`, with its storage,
// run root, tmp dir, events, locks and network config all under a temp dir (never the system's
// /var/lib/containers), cgroupfs, and --network none. conmon calls `trun create --bundle ...
// --pid-file ... [--console-socket ...]`; podman itself calls start, exec, pause, resume, kill and
// delete. Like runc under podman, trun gets no --root: its state is in the default /run/trun.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readProcStat } from '../../runtime/linux/proc';
import { DEFAULT_ROOT } from '../../runtime/state';
import { IMAGE, buildImageArchive, cgroupDirs, cmd, cmdOk, removeCgroupTree, unmountUnder, until } from '../helpers/callers';
import { TRUN, newProcesses, ours, snapshot, type HostSnapshot, type Result } from '../helpers/trun';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'trun-test-podman-'));
/** Our containers' cgroups go under this parent (conmon's too: <parent>/conmon). */
const cgroupParent = `trun-test-podman-${process.pid}`;
const ENV = {
  CONTAINERS_CONF: path.join(tmp, 'containers.conf'),
  CONTAINERS_STORAGE_CONF: path.join(tmp, 'storage.conf'),
  CONTAINERS_REGISTRIES_CONF: path.join(tmp, 'registries.conf'),
  TMPDIR: path.join(tmp, 'tmp'), // where podman unpacks an archive it loads, rather than /var/tmp
};
const GLOBAL = [
  '--root', path.join(tmp, 'root'), '--runroot', path.join(tmp, 'runroot'), '--tmpdir', path.join(tmp, 'tmp'),
  '--storage-driver', 'overlay', '--cgroup-manager', 'cgroupfs', '--events-backend', 'file',
  '--network-config-dir', path.join(tmp, 'net'), '--runtime', TRUN,
];
const ids: string[] = [];
let before: HostSnapshot;

const podman = (args: string[], opts: { input?: string } = {}): Result => cmd('podman', [...GLOBAL, ...args], { env: ENV, ...opts });
const podmanOk = (args: string[]): string => cmdOk('podman', [...GLOBAL, ...args], { env: ENV });

/** `podman run` with our network and cgroup settings; returns the result and the container's full id. */
function run(name: string, opts: string[], argv: string[], input?: string): { r: Result; id: string } {
  const cidfile = path.join(tmp, `${name}.cid`);
  const r = podman(['run', '--name', name, '--cidfile', cidfile, '--network', 'none', '--cgroup-parent', `/${cgroupParent}`, ...opts, IMAGE, ...argv],
    input === undefined ? {} : { input });
  const id = fs.existsSync(cidfile) ? fs.readFileSync(cidfile, 'utf8').trim() : '';
  if (id) ids.push(id);
  return { r, id };
}

const inspect = (name: string, format: string) => podmanOk(['inspect', '--format', format, name]).trim();
const trunStateOf = (id: string) => JSON.parse(cmdOk(process.execPath, [TRUN, 'state', id])) as { status: string; pid: number };
const stateDir = (id: string) => path.join(DEFAULT_ROOT, id);

/**
 * Limits podman asks for when none are configured (nofile and nproc 1048576) need
 * CAP_SYS_RESOURCE where they exceed the caller's, and some machines (this CI's sandbox) withhold
 * it: every runtime then fails with EPERM (runc and crun as well). Ask for what we have: the hard
 * nofile, and nproc no higher than pid_max (podman lowers its own nproc to that).
 */
function ulimits(): string[] {
  const limits = fs.readFileSync('/proc/self/limits', 'utf8');
  const hard = (name: string): number => {
    const m = new RegExp(`^${name}\\s+\\S+\\s+(\\S+)`, 'm').exec(limits);
    return !m || m[1] === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(m[1]);
  };
  const pidMax = Number(fs.readFileSync('/proc/sys/kernel/pid_max', 'utf8'));
  const nofile = Math.min(hard('Max open files'), 1048576);
  const nproc = Math.min(hard('Max processes'), pidMax);
  return [`nofile=${nofile}:${nofile}`, `nproc=${nproc}:${nproc}`];
}

test.before(() => {
  const q = JSON.stringify;
  fs.writeFileSync(ENV.CONTAINERS_CONF, [
    '[containers]',
    'netns = "none"',
    `default_ulimits = ${q(ulimits())}`,
    '[network]',
    // CNI, not netavark: podman 4.3 gives netavark a host-wide /run/containers/networks.
    'network_backend = "cni"',
    `network_config_dir = ${q(path.join(tmp, 'net'))}`,
    '[engine]',
    'cgroup_manager = "cgroupfs"',
    'events_logger = "file"',
    `events_logfile_path = ${q(path.join(tmp, 'events.log'))}`,
    // File locks under tmp_dir rather than the host-wide /dev/shm/libpod_lock.
    'lock_type = "file"',
    `tmp_dir = ${q(path.join(tmp, 'tmp'))}`,
    '',
  ].join('\n'));
  fs.writeFileSync(ENV.CONTAINERS_STORAGE_CONF, [
    '[storage]', 'driver = "overlay"', `graphroot = ${q(path.join(tmp, 'root'))}`, `runroot = ${q(path.join(tmp, 'runroot'))}`, '',
  ].join('\n'));
  fs.writeFileSync(ENV.CONTAINERS_REGISTRIES_CONF, 'unqualified-search-registries = []\n');
  // As root, containers/image keeps its blob-info cache in /var/lib/containers/cache whatever
  // --root says, and unpacks an oci-archive under /var/tmp whatever TMPDIR says: load in a mount
  // namespace of its own, with a tmpfs over each (over the nearest existing parent of the cache,
  // which would otherwise be created).
  const privateCache = 'for d in /var/lib/containers/cache /var/lib/containers /var/lib; do [ -d "$d" ] && break; done; '
    + 'mount -t tmpfs -o mode=0700,size=64m trun-test "$d" && mount -t tmpfs -o mode=1777,size=64m trun-test /var/tmp && exec "$@"';
  const loaded = cmdOk('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', privateCache, 'sh',
    'podman', ...GLOBAL, 'load', '--input', buildImageArchive(tmp)], { env: ENV });
  assert.match(loaded, new RegExp(`Loaded image.*${IMAGE}`));
  before = snapshot();
});

test.after(() => {
  podman(['rm', '--all', '--force', '--time', '0']);
  podman(['rmi', '--all', '--force']);
  // What a failed test may have left: trun's containers and podman's mounts.
  for (const id of ids) cmd(process.execPath, [TRUN, 'delete', '--force', id]);
  unmountUnder(tmp);
  removeCgroupTree(cgroupParent);
  fs.rmSync(tmp, { recursive: true, force: true });
});

test('podman run --rm: the output, the exit code and stdin go through conmon and trun', () => {
  const { r, id } = run('fg', ['--rm', '-i'], ['sh', '-c', 'read line; echo "hello from trun, $line"; echo to-stderr >&2; exit 3'], 'with stdin\n');
  assert.is(r.stdout, 'hello from trun, with stdin\n');
  assert.match(r.stderr, /to-stderr/);
  assert.is(r.code, 3);
  assert.ok(id, 'podman wrote the container id');
  assert.not.ok(fs.existsSync(stateDir(id)), 'trun deleted its state');
  assert.equal(cgroupDirs(`${cgroupParent}/libpod-${id}`), [], 'no cgroup left');
});

test('trun\'s errors read as runc\'s: podman exits 127 for a missing command, 126 for one it cannot run', () => {
  const missing = run('missing', ['--rm'], ['/nonexistent']);
  assert.is(missing.r.code, 127, missing.r.stderr);
  assert.match(missing.r.stderr, /exec "\/nonexistent": no such file or directory/);
  const denied = run('denied', ['--rm'], ['/etc/passwd']);
  assert.is(denied.r.code, 126, denied.r.stderr);
  assert.match(denied.r.stderr, /permission denied/);
  for (const id of [missing.id, denied.id]) assert.not.ok(fs.existsSync(stateDir(id)), 'no state');
});

test('podman run -d, then exec, ps, pause/unpause, stop and rm', async () => {
  const loop = 'trap "exit 42" TERM; i=0; while :; do i=$((i+1)); echo $i > /tmp/n; mv /tmp/n /tmp/count; sleep 0.05; done';
  const { r, id } = run('detached', ['-d'], ['sh', '-c', loop]);
  assert.is(r.code, 0, r.stderr);
  assert.is(r.stdout.trim(), id);
  const [status, pid, conmon] = inspect('detached', '{{.State.Status}} {{.State.Pid}} {{.State.ConmonPid}}').split(' ');
  assert.is(status, 'running');
  // trun's state is podman's container: same pid, and the init is conmon's child.
  const st = trunStateOf(id);
  assert.is(st.status, 'running');
  assert.is(st.pid, Number(pid));
  assert.is(readProcStat(Number(pid))!.ppid, Number(conmon));

  const merged = inspect('detached', '{{.GraphDriver.Data.MergedDir}}');
  const count = () => Number(fs.readFileSync(path.join(merged, 'tmp/count'), 'utf8'));
  await until('the counter to start', () => fs.existsSync(path.join(merged, 'tmp/count')));

  const ex = podman(['exec', 'detached', 'sh', '-c', 'cat /tmp/count; echo exec-stderr >&2; exit 7']);
  assert.is(ex.code, 7, ex.stderr);
  assert.match(ex.stdout, /^\d+\n$/);
  assert.match(ex.stderr, /exec-stderr/);
  assert.match(podmanOk(['ps', '--filter', 'name=detached', '--format', '{{.Status}}']), /^Up /);

  podmanOk(['pause', 'detached']);
  assert.is(inspect('detached', '{{.State.Status}}'), 'paused');
  assert.is(trunStateOf(id).status, 'paused');
  const frozen = count();
  // Not a synchronisation: a frozen counter is one that does not move over many of its ticks.
  await new Promise((res) => setTimeout(res, 300));
  assert.is(count(), frozen, 'the counter stood still while paused');
  podmanOk(['unpause', 'detached']);
  assert.is(inspect('detached', '{{.State.Status}}'), 'running');
  await until('the counter to move again', () => count() > frozen);

  podmanOk(['stop', '--time', '20', 'detached']); // SIGTERM: the trap exits 42
  assert.is(inspect('detached', '{{.State.Status}} {{.State.ExitCode}}'), 'exited 42');
  await until('trun\'s state to be deleted', () => !fs.existsSync(stateDir(id)));
  podmanOk(['rm', 'detached']);
  assert.equal(cgroupDirs(`${cgroupParent}/libpod-${id}`), [], 'no cgroup left');
});

test('podman kill, and a detached container that exits by itself (conmon\'s exit command cleans up)', async () => {
  const k = run('killed', ['-d'], ['sleep', '1000']);
  assert.is(k.r.code, 0, k.r.stderr);
  podmanOk(['kill', 'killed']);
  assert.is(podmanOk(['wait', 'killed']).trim(), '137');
  await until('trun\'s state to be deleted', () => !fs.existsSync(stateDir(k.id)));
  podmanOk(['rm', 'killed']);

  const e = run('exits', ['-d'], ['sh', '-c', 'echo bye; exit 4']);
  assert.is(e.r.code, 0, e.r.stderr);
  assert.is(podmanOk(['wait', 'exits']).trim(), '4');
  assert.is(podmanOk(['logs', 'exits']), 'bye\n');
  await until('trun\'s state to be deleted', () => !fs.existsSync(stateDir(e.id)));
  podmanOk(['rm', 'exits']);
});

test('podman run -t and podman exec -t: a pty from trun over conmon\'s console socket', () => {
  const t = run('tty', ['--rm', '-t'], ['sh', '-c', 'tty; [ -t 0 ] && [ -t 1 ] && echo both-ttys; exit 6']);
  assert.match(t.r.stdout, /\/dev\/pts\/\d+\r*\n/);
  assert.match(t.r.stdout, /both-ttys/);
  assert.is(t.r.code, 6, t.r.stderr);

  const d = run('tty-exec', ['-d'], ['sleep', '1000']);
  assert.is(d.r.code, 0, d.r.stderr);
  const ex = podman(['exec', '-t', 'tty-exec', 'sh', '-c', 'tty; exit 9']);
  assert.match(ex.stdout, /\/dev\/pts\/\d+\r*\n/);
  assert.is(ex.code, 9, ex.stderr);
  podmanOk(['rm', '--force', '--time', '0', 'tty-exec']);
});

test('after all of it: no container, no trun state, no conmon, no process, no mount, no cgroup', async () => {
  assert.is(podmanOk(['ps', '--all', '--quiet']), '');
  assert.ok(ids.length >= 8, `the tests ran their containers: ${ids.length}`);
  for (const id of ids) {
    assert.not.ok(fs.existsSync(stateDir(id)), `trun state of ${id}`);
    assert.equal(cgroupDirs(`${cgroupParent}/libpod-${id}`), [], `cgroup of ${id}`);
  }
  // conmon exits once its container has and the exit command has run; it would land on our subreaper.
  const stray = () => newProcesses(before).filter(ours);
  try {
    await until('conmon to exit', () => stray().length === 0);
  } catch {
    assert.equal(stray().map((p) => `${p} ${fs.readFileSync(`/proc/${p}/cmdline`, 'utf8')}`), [], 'no process');
  }
  assert.equal(snapshot().mounts.filter((m) => m.includes(tmp)), [], 'no mount under the temp dir');
});

test.run();
