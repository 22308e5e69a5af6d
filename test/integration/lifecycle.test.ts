// The OCI lifecycle with real containers: create, start, state, kill, delete, run, list.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { TestEnv, newProcesses, snapshot } from '../helpers/trun';

const env = new TestEnv('lifecycle');
test.after(() => env.cleanup());

test('run: echo hello, exit code 0, nothing left behind', () => {
  const id = env.id();
  const r = env.trun(['run', '--bundle', env.bundle(() => {}, ['echo', 'hello']), id]);
  assert.is(r.stderr, '');
  assert.is(r.code, 0);
  assert.is(r.stdout, 'hello\n');
  assert.not.ok(fs.existsSync(path.join(env.root, id)), 'run removes the container when it exits');
});

test('run: the exit code comes back', () => {
  const r = env.trun(['run', '-b', env.bundle(() => {}, ['sh', '-c', 'exit 3']), env.id()]);
  assert.is(r.code, 3);
});

test('create, state, start, kill, delete', async () => {
  const id = env.id();
  const bundle = env.bundle(() => {}, ['sleep', '1000']);
  const pidFile = path.join(env.dir, `${id}.pid`);
  env.ok(['create', '--bundle', bundle, '--pid-file', pidFile, id]);

  const created = env.state(id);
  assert.is(created.status, 'created');
  assert.is(created.id, id);
  assert.is(created.bundle, bundle);
  assert.is(created.rootfs, path.join(bundle, 'rootfs'));
  assert.ok(created.pid > 0);
  assert.is(fs.readFileSync(pidFile, 'utf8'), String(created.pid), 'pid file holds the bare pid');
  assert.ok(!Number.isNaN(Date.parse(String(created.created))));
  assert.ok(fs.existsSync(`/proc/${created.pid}`));

  env.ok(['start', id]);
  assert.is(env.state(id).status, 'running');
  const again = env.trun(['start', id]);
  assert.is(again.code, 1);
  assert.match(again.stderr, /cannot start an already running container/);

  const busy = env.trun(['delete', id]);
  assert.is(busy.code, 1);
  assert.match(busy.stderr, /cannot delete container .* that is not stopped: running/);

  env.ok(['kill', id, 'KILL']);
  await env.waitStatus(id, 'stopped');
  assert.is(env.state(id).pid, 0);
  const dead = env.trun(['kill', id]);
  assert.match(dead.stderr, /container not running/);

  env.ok(['delete', id]);
  const gone = env.trun(['state', id]);
  assert.is(gone.code, 1);
  assert.match(gone.stderr, /container does not exist/);
  assert.not.ok(fs.existsSync(path.join(env.root, id)));
});

test('kill accepts KILL, SIGKILL and 9; an unknown signal is refused', async () => {
  for (const sig of ['KILL', 'SIGKILL', '9']) {
    const id = env.id();
    env.ok(['run', '-d', '-b', env.bundle(() => {}, ['sleep', '1000']), id]);
    env.ok(['kill', id, sig]);
    await env.waitStatus(id, 'stopped');
    env.ok(['delete', id]);
  }
  const id = env.id();
  env.ok(['run', '-d', '-b', env.bundle(() => {}, ['sleep', '1000']), id]);
  const r = env.trun(['kill', id, 'SIGNOPE']);
  assert.is(r.code, 1);
  assert.match(r.stderr, /unknown signal "SIGNOPE"/);
  env.ok(['delete', '--force', id]);
});

test('delete removes the cgroup of a container killed behind trun\'s back', async () => {
  const id = env.id();
  env.ok(['run', '-d', '-b', env.bundle(() => {}, ['sh', '-c', 'sleep 1000 & sleep 1000']), id]);
  const pid = env.state(id).pid;
  // The memory controller's directory on a v1 or hybrid host, the unified one on a pure v2 host.
  const lines = fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n');
  const memory = lines.find((l) => l.includes(':memory:'));
  const dir = memory
    ? path.join('/sys/fs/cgroup/memory', memory.split(':')[2]!)
    : path.join('/sys/fs/cgroup', lines.find((l) => l.startsWith('0::'))!.slice(3));
  assert.ok(fs.existsSync(dir));
  process.kill(pid, 'SIGKILL'); // not through trun
  await env.waitStatus(id, 'stopped');
  env.ok(['delete', id]);
  assert.not.ok(fs.existsSync(dir), `${dir} removed`);
});

test('kill KILL stops a paused container', async () => {
  const id = env.id();
  env.ok(['run', '-d', '-b', env.bundle(() => {}, ['sleep', '1000']), id]);
  env.ok(['pause', id]);
  assert.is(env.state(id).status, 'paused');
  env.ok(['kill', id, 'KILL']);
  await env.waitStatus(id, 'stopped');
  env.ok(['delete', id]);
});

test('kill --all signals every process of the container', async () => {
  const id = env.id();
  env.ok(['run', '-d', '-b', env.bundle(() => {}, ['sh', '-c', 'sleep 1000 & sleep 1000 & wait']), id]);
  env.ok(['kill', '--all', id, 'KILL']);
  await env.waitStatus(id, 'stopped');
  env.ok(['delete', id]);
});

test('delete --force removes a running container and its processes', () => {
  const id = env.id();
  const before = snapshot();
  env.ok(['run', '-d', '-b', env.bundle(() => {}, ['sleep', '1000']), id]);
  const pid = env.state(id).pid;
  env.ok(['delete', '--force', id]);
  assert.not.ok(fs.existsSync(path.join(env.root, id)));
  assert.equal(newProcesses(before).filter((p) => p === pid), []);
  assert.equal(env.trun(['delete', '--force', id]).code, 0, 'delete --force of a missing container is not an error');
});

test('the container is pid 1 of its own pid namespace', () => {
  const r = env.trun(['run', '-b', env.bundle(() => {}, ['sh', '-c', 'echo $$']), env.id()]);
  assert.is(r.stdout.trim(), '1');
});

test('hostname, user, groups and cwd', () => {
  const bundle = env.bundle((s) => {
    s.hostname = 'box';
    s.process!.user = { uid: 1000, gid: 100, additionalGids: [10] };
    s.process!.cwd = '/tmp';
  }, ['sh', '-c', 'hostname; id; pwd']);
  const r = env.trun(['run', '-b', bundle, env.id()]);
  assert.is(r.stderr, '');
  const [host, id, cwd] = r.stdout.trim().split('\n');
  assert.is(host, 'box');
  assert.is(id, 'uid=1000(user) gid=100(users) groups=10(wheel)');
  assert.is(cwd, '/tmp');
});

test('create stdio reaches the container process', () => {
  const id = env.id();
  const r = env.trun(['run', '-d', '-b', env.bundle(() => {}, ['sh', '-c', 'echo from-container']), id]);
  assert.is(r.code, 0);
  assert.is(r.stdout, 'from-container\n'); // written through the fd trun was given, after trun exited
  env.ok(['delete', '--force', id]);
});

test('--preserve-fds passes fd 3 through', () => {
  const file = path.join(env.dir, 'preserved.txt');
  fs.writeFileSync(file, 'kept open\n');
  const fd = fs.openSync(file, 'r');
  try {
    const r = env.trun(['run', '--preserve-fds', '1', '-b', env.bundle(() => {}, ['cat', '/proc/self/fd/3']), env.id()], { extraFds: [fd] });
    assert.is(r.stderr, '');
    assert.is(r.stdout, 'kept open\n');
  } finally {
    fs.closeSync(fd);
  }
});

test('socket activation: LISTEN_FDS fds are passed on and LISTEN_PID names the container process', () => {
  const file = path.join(env.dir, 'listen.txt');
  fs.writeFileSync(file, 'activated\n');
  const fd = fs.openSync(file, 'r');
  try {
    const r = env.trun(['run', '-b', env.bundle(() => {}, ['sh', '-c', 'echo $LISTEN_FDS $LISTEN_PID $$; cat /proc/self/fd/3']), env.id()],
      { extraFds: [fd], env: { LISTEN_FDS: '1', LISTEN_PID: String(process.pid) } });
    assert.is(r.stderr, '');
    const [line, content] = r.stdout.split('\n');
    const [fds, listenPid, shellPid] = line!.split(' ');
    assert.is(fds, '1');
    assert.is(listenPid, shellPid, 'LISTEN_PID is the exec\'d process (pid 1 of the container)');
    assert.is(content, 'activated');
  } finally {
    fs.closeSync(fd);
  }
});

test('noNewPrivileges is set on the process', () => {
  const r = env.trun(['run', '-b', env.bundle(() => {}, ['grep', 'NoNewPrivs', '/proc/self/status']), env.id()]);
  assert.match(r.stdout, /NoNewPrivs:\s+1/);
  const off = env.trun(['run', '-b', env.bundle((s) => { s.process!.noNewPrivileges = false; }, ['grep', 'NoNewPrivs', '/proc/self/status']), env.id()]);
  assert.match(off.stdout, /NoNewPrivs:\s+0/);
});

test('list shows containers as a table and as JSON', () => {
  const id = env.id();
  const bundle = env.bundle(() => {}, ['sleep', '1000']);
  env.ok(['create', '-b', bundle, id]);
  const table = env.ok(['list']);
  assert.match(table.split('\n')[0]!, /^ID\s+PID\s+STATUS\s+BUNDLE\s+CREATED\s+OWNER$/);
  assert.ok(table.split('\n').some((l) => l.startsWith(id) && l.includes('created') && l.includes(bundle)));
  const json = JSON.parse(env.ok(['list', '--format', 'json'])) as Array<{ id: string; status: string }>;
  assert.is(json.find((c) => c.id === id)?.status, 'created');
  env.ok(['delete', id]);
  assert.not.ok(env.ok(['list', '-q']).includes(id));
});

test('spec writes runc\'s default config once', () => {
  const dir = fs.mkdtempSync(path.join(env.dir, 'spec-'));
  env.ok(['spec', '--bundle', dir]);
  const spec = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
  assert.is(spec.ociVersion, '1.3.0');
  assert.equal(spec.process.args, ['sh']);
  assert.is(spec.root.path, 'rootfs');
  const again = env.trun(['spec', '--bundle', dir]);
  assert.is(again.code, 1);
  assert.match(again.stderr, /exists/);
  env.ok(['spec', '--rootless', '--bundle', fs.mkdtempSync(path.join(env.dir, 'spec-'))]);
});

test('features and --version', () => {
  const f = JSON.parse(env.ok(['features']));
  assert.is(f.ociVersionMin, '1.0.0');
  assert.is(f.ociVersionMax, '1.3.0');
  assert.ok(f.linux.namespaces.includes('user'));
  assert.match(env.ok(['--version']), /^trun version \S+\nspec: 1\.3\.0\n/);
});

test.run();
