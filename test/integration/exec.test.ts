// `trun exec`: a new process in a running container's namespaces and cgroup.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { TestEnv } from '../helpers/trun';

const env = new TestEnv('exec');
let id = '';
let initPid = 0;

test.before(() => {
  id = env.id('exec');
  env.ok(['run', '-d', '-b', env.bundle((s) => { s.process!.env!.push('FROM_CONFIG=yes'); }, ['sleep', '1000']), id]);
  initPid = env.state(id).pid;
});
test.after(() => env.cleanup());

test('exec joins the container\'s pid, net, mnt, uts and ipc namespaces', () => {
  const out = env.ok(['exec', id, 'sh', '-c', 'for n in pid net mnt uts ipc; do readlink /proc/self/ns/$n; done; cat /proc/1/cmdline | tr "\\0" " "']);
  const lines = out.trim().split('\n');
  const host = ['pid', 'net', 'mnt', 'uts', 'ipc'].map((n) => fs.readlinkSync(`/proc/${initPid}/ns/${n}`));
  assert.equal(lines.slice(0, 5), host);
  assert.is(lines[5]!.trim(), 'sleep 1000', 'pid 1 in its pid namespace is the container\'s init');
});

test('the exit code of the process comes back', () => {
  const r = env.trun(['exec', id, 'sh', '-c', 'exit 5']);
  assert.is(r.code, 5);
});

test('user, env and cwd flags; the config\'s env is kept', () => {
  const out = env.ok(['exec', '--user', '1000:100', '--env', 'EXTRA=1', '--cwd', '/tmp', id, 'sh', '-c', 'id -u; id -g; echo $EXTRA $FROM_CONFIG; pwd']);
  assert.equal(out.trim().split('\n'), ['1000', '100', '1 yes', '/tmp']);
});

test('--cap adds a capability', () => {
  const out = env.ok(['exec', '--cap', 'CAP_SYS_ADMIN', id, 'grep', 'CapEff', '/proc/self/status']);
  const eff = BigInt(`0x${out.trim().split(/\s+/)[1]}`);
  assert.ok(eff & (1n << 21n), 'CAP_SYS_ADMIN effective');
  assert.ok(eff & (1n << 5n), 'CAP_KILL from the config kept');
});

test('exec -d writes the pid file and the process is in the container\'s cgroup', async () => {
  const pidFile = path.join(env.dir, 'exec.pid');
  env.ok(['exec', '-d', '--pid-file', pidFile, id, 'sleep', '500']);
  const pid = Number(fs.readFileSync(pidFile, 'utf8'));
  assert.ok(pid > 0);
  // Every hierarchy's line (v1 controllers and the unified "0::"), which must all be the init's.
  const cg = (p: number) => fs.readFileSync(`/proc/${p}/cgroup`, 'utf8').trim();
  assert.ok(cg(initPid).split('\n').every((l) => !l.endsWith(':/')), 'the container has cgroups of its own');
  assert.is(cg(pid), cg(initPid));
  assert.is(fs.readlinkSync(`/proc/${pid}/ns/pid`), fs.readlinkSync(`/proc/${initPid}/ns/pid`));
  process.kill(pid, 'SIGKILL');
});

test('exec --process process.json', () => {
  const file = path.join(env.dir, 'process.json');
  fs.writeFileSync(file, JSON.stringify({ args: ['sh', '-c', 'echo from-json $A; pwd'], cwd: '/etc', env: ['A=1', 'PATH=/bin:/usr/bin'], user: { uid: 0, gid: 0 } }));
  assert.equal(env.ok(['exec', '-p', file, id]).trim().split('\n'), ['from-json 1', '/etc']);
});

test('a missing binary, a stopped container and an unknown id are clear errors', async () => {
  // exec's own failures exit 255, as runc's (runc-parity-cli.test.ts has the full table)
  const missing = env.trun(['exec', id, 'no-such-binary']);
  assert.is(missing.code, 255);
  assert.match(missing.stderr, /no-such-binary/);
  assert.match(env.trun(['exec', 'nope', 'true']).stderr, /container does not exist/);
  const stopped = env.id();
  env.ok(['run', '-d', '-b', env.bundle(() => {}, ['true']), stopped]);
  await env.waitStatus(stopped, 'stopped');
  const r = env.trun(['exec', stopped, 'true']);
  assert.is(r.code, 255);
  assert.match(r.stderr, /cannot exec in a stopped container/);
  env.ok(['delete', stopped]);
});

test.run();
