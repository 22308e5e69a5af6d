// Networking of trun-bundle bundles with real containers: none, host, container:ID, user networks
// (by name and by IP, isolated from each other), the default bridge with --link, --publish on
// 127.0.0.1, and cleanup: after delete (also after kill -9 of trun mid-setup) no veth, lease or
// iptables rule of the container is left. Tests address only loopback and their own containers;
// every bridge, rule and sysctl they cause is taken back in test.after.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { REPO, TestEnv } from '../helpers/trun';

const CLI = path.join(REPO, 'dist/trun-bundle.js');
const env = new TestEnv('network');
const store = path.join(env.dir, 'store');
const tag = `n${process.pid}`;
const bundles: string[] = [];
const ids: string[] = [];
let forwardBefore = '';
let chainsBefore = new Set<string>();
let n = 0;

function cli(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, '--store', store, '--quiet', ...args], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function ok(...args: string[]): string {
  const r = cli(...args);
  if (r.status !== 0) throw new Error(`trun-bundle ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

/** A bundle from the busybox image with network flags and a command. */
function bundle(flags: string[], cmd: string[]): string {
  const b = path.join(env.dir, `nb-${n++}`);
  ok('create', 'busybox:net', b, '--trun-root', env.root, ...flags, '--', ...cmd);
  bundles.push(b);
  return b;
}

/** A detached container on a new bundle; returns its id. */
function start(name: string, flags: string[], cmd: string[] = ['sleep', '1000']): string {
  const id = `${tag}-${name}`;
  env.ok(['run', '-d', '--bundle', bundle(flags, cmd), id]);
  ids.push(id);
  return id;
}

/** Runs a container in the foreground; its stdout. */
function runOnce(flags: string[], cmd: string[]): { code: number; stdout: string; stderr: string } {
  const id = `${tag}-once-${n}`;
  const r = env.trun(['run', '--bundle', bundle(flags, cmd), id]);
  env.trun(['delete', '--force', id]);
  return r;
}

function exec(id: string, ...cmd: string[]): { code: number; stdout: string; stderr: string } {
  return env.trun(['exec', id, ...cmd]);
}

function del(id: string): void {
  env.ok(['delete', '--force', id]);
  ids.splice(ids.indexOf(id), 1);
}

function inspect(network: string): { Options: { bridge: string }; Containers: Record<string, { IPv4Address: string; MacAddress: string; HostInterface: string }> } {
  return JSON.parse(ok('network', 'inspect', network))[0];
}

function ipOf(network: string, id: string): string {
  return inspect(network).Containers[id]!.IPv4Address.split('/')[0]!;
}

function iptablesSave(): string {
  return spawnSync('iptables-save', [], { encoding: 'utf8' }).stdout;
}

function chains(): Set<string> {
  const out = new Set<string>();
  let table = '';
  for (const line of iptablesSave().split('\n')) {
    if (line.startsWith('*')) table = line.slice(1);
    const m = /^:(\S+)/.exec(line);
    if (m) out.add(`${table} ${m[1]}`);
  }
  return out;
}

function links(): string[] {
  return spawnSync('ip', ['-o', 'link'], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean).map((l) => l.split(': ')[1]!.split('@')[0]!);
}

function vethOf(network: string, id: string): string {
  const v = inspect(network).Containers[id]!.HostInterface;
  assert.match(v, /^veth/);
  return v;
}

/** Nothing of a container left on the host: not its veth, no lease, no iptables rule naming it or its address. */
function assertGone(id: string, ip: string, veth: string): void {
  assert.not.ok(links().includes(veth), `veth ${veth} is gone`);
  const leases = spawnSync('grep', ['-rl', id, path.join(store, 'networks/ipam')], { encoding: 'utf8' }).stdout.trim();
  assert.is(leases, '', 'no IPAM lease names the container');
  if (ip) assert.not.ok(fs.readdirSync(path.join(store, 'networks/ipam')).some((d) => fs.existsSync(path.join(store, 'networks/ipam', d, ip))), `no lease file for ${ip}`);
  const rules = iptablesSave().split('\n').filter((l) => l.includes(id) || (ip && l.includes(`${ip}/`)) || (ip && l.includes(`${ip}:`)));
  assert.equal(rules, [], 'no iptables rule of the container');
  assert.not.ok(fs.existsSync(path.join(store, 'networks/containers', `${id}.json`)), 'no attachment record');
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

function httpGet(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: '127.0.0.1', port }, () => sock.write('GET /index.html HTTP/1.0\r\nHost: x\r\n\r\n'));
    let data = '';
    sock.setTimeout(5000, () => sock.destroy(new Error('timeout')));
    sock.on('data', (d) => { data += d.toString(); });
    sock.on('end', () => resolve(data));
    sock.on('error', reject);
  });
}

async function waitFor(cond: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 50));
  }
}

test.before(() => {
  forwardBefore = fs.readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim();
  chainsBefore = chains();
  const rootfs = path.join(env.dir, 'template');
  fs.mkdirSync(path.join(rootfs, 'www'), { recursive: true });
  fs.writeFileSync(path.join(rootfs, 'www/index.html'), 'hello from the container\n');
  ok('import-rootfs', rootfs, 'busybox:net', '--change', 'CMD ["/bin/sh"]');
});

test.after(() => {
  for (const id of [...ids]) env.trun(['delete', '--force', id]);
  for (const b of bundles) cli('rm', b);
  const nets = cli('network', 'ls').stdout.split('\n').slice(1).map((l) => l.split(/\s+/)[0]!).filter((x) => x && x !== 'host' && x !== 'none');
  for (const x of nets) cli('network', 'rm', x);
  // The plugins' shared chains and the forwarding switch, when this run brought them and no other
  // store's network (another test run) still uses them.
  const othersLive = links().some((l) => l.startsWith('tb-') || l === 'trun0');
  if (!othersLive) restoreHost();
  env.cleanup();
});

function restoreHost(): void {
  for (const c of [...chains()].filter((c) => !chainsBefore.has(c))) {
    const [table, chain] = c.split(' ') as [string, string];
    const rules = spawnSync('iptables', ['-t', table, '-S'], { encoding: 'utf8' }).stdout.split('\n');
    for (const r of rules.filter((l) => l.startsWith('-A ') && l.includes(`-j ${chain}`) && !l.startsWith(`-A ${chain} `))) {
      spawnSync('sh', ['-c', `iptables -t ${table} ${r.replace(/^-A/, '-D')}`]);
    }
  }
  for (const c of [...chains()].filter((c) => !chainsBefore.has(c))) {
    const [table, chain] = c.split(' ') as [string, string];
    spawnSync('iptables', ['-t', table, '-F', chain]);
  }
  for (const c of [...chains()].filter((c) => !chainsBefore.has(c))) {
    const [table, chain] = c.split(' ') as [string, string];
    spawnSync('iptables', ['-t', table, '-X', chain]);
  }
  if (forwardBefore === '0') fs.writeFileSync('/proc/sys/net/ipv4/ip_forward', '0');
}

test('--network none: a netns with only lo, and lo is up', () => {
  const r = runOnce(['--network', 'none'], ['ip', '-o', 'link']);
  assert.is(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.is(lines.length, 1, r.stdout);
  assert.match(lines[0]!, /^1: lo: <LOOPBACK,UP,LOWER_UP>/);
});

test('--network host: the host\'s interfaces, hosts and resolv.conf (read-only)', () => {
  const r = runOnce(['--network', 'host'], ['sh', '-c', 'readlink /proc/self/ns/net; ip -o link | cut -d: -f2 | tr -d " " | cut -d@ -f1; echo ---; cat /etc/resolv.conf; echo ---; grep " /etc/hosts " /proc/self/mountinfo']);
  assert.is(r.code, 0, r.stderr);
  const [names, resolv, mountinfo] = r.stdout.split('---\n') as [string, string, string];
  const [netns, ...ifaces] = names.trim().split('\n');
  assert.is(netns, fs.readlinkSync('/proc/self/ns/net'), 'the host\'s network namespace');
  for (const i of links().filter((l) => !l.startsWith('veth') && !l.startsWith('tb-'))) assert.ok(ifaces.includes(i), `sees ${i}`);
  assert.is(resolv, fs.readFileSync('/etc/resolv.conf', 'utf8'));
  assert.match(mountinfo, / ro[, ]/, 'the host\'s /etc/hosts is bound read-only');
});

test('user network: containers ping each other by name and by IP; hosts files follow joins and leaves', () => {
  ok('network', 'create', `${tag}-a`);
  const a = start('a1', ['--network', `${tag}-a`]);
  const b = start('a2', ['--network', `${tag}-a`]);
  const ipA = ipOf(`${tag}-a`, a);
  const ipB = ipOf(`${tag}-a`, b);
  assert.match(ipA, /^10\./);
  assert.is(exec(b, 'ping', '-c', '1', '-W', '3', a).code, 0, 'b reaches a by name');
  assert.is(exec(a, 'ping', '-c', '1', '-W', '3', b).code, 0, 'a reaches b by name (its hosts file was updated in place)');
  assert.is(exec(b, 'ping', '-c', '1', '-W', '3', ipA).code, 0, 'b reaches a by IP');
  const mac = inspect(`${tag}-a`).Containers[a]!.MacAddress;
  assert.match(exec(a, 'ip', '-o', 'link', 'show', 'eth0').stdout, mac);
  const route = exec(a, 'ip', 'route').stdout;
  assert.match(route, /^default via 10\.\S+ dev eth0/m);
  const vethB = vethOf(`${tag}-a`, b);
  assert.ok(links().includes(vethB));
  del(b);
  assertGone(b, ipB, vethB);
  assert.not.match(exec(a, 'cat', '/etc/hosts').stdout, b, 'the leaver is gone from the others\' hosts files');
  assert.is(cli('network', 'rm', `${tag}-a`).status, 1, 'rm of a network in use fails');
  assert.match(cli('network', 'rm', `${tag}-a`).stderr, /in use by container/);
});

test('container:ID shares the other container\'s network namespace; another network cannot reach it', () => {
  const a = `${tag}-a1`;
  const ipA = ipOf(`${tag}-a`, a);
  const shared = runOnce(['--network', `container:${a}`], ['sh', '-c', 'ip -o -4 addr show eth0; cat /etc/hosts']);
  assert.is(shared.code, 0, shared.stderr);
  assert.match(shared.stdout, `inet ${ipA}/`);

  ok('network', 'create', `${tag}-b`);
  const c = start('b1', ['--network', `${tag}-b`]);
  assert.is.not(exec(c, 'ping', '-c', '1', '-W', '1', ipA).code, 0, 'no route across networks');
  assert.is.not(exec(c, 'ping', '-c', '1', '-W', '1', a).code, 0, 'no name across networks');
  const bridgeA = inspect(`${tag}-a`).Options.bridge;
  const [vethA, vethC] = [vethOf(`${tag}-a`, a), vethOf(`${tag}-b`, c)];
  const ipC = ipOf(`${tag}-b`, c);
  del(a);
  assertGone(a, ipA, vethA);
  assert.not.ok(links().includes(bridgeA), 'the bridge goes with its last container');
  del(c);
  assertGone(c, ipC, vethC);
});

test('default bridge: no names between containers, but --link gives one', () => {
  const d = start('d', []);
  const e = start('e', []);
  const f = start('f', ['--link', `${d}:db`]);
  assert.is.not(exec(e, 'ping', '-c', '1', '-W', '1', d).code, 0, 'no name resolution on the default bridge');
  assert.is(exec(e, 'ping', '-c', '1', '-W', '3', ipOf('bridge', d)).code, 0, 'but the address answers');
  assert.is(exec(f, 'ping', '-c', '1', '-W', '3', 'db').code, 0, 'the link alias resolves');
  assert.is(exec(f, 'ping', '-c', '1', '-W', '3', d).code, 0, 'and the linked name');
  assert.is.not(exec(d, 'ping', '-c', '1', '-W', '1', f).code, 0, 'links are one-way');
  // The hook is idempotent: ADD again changes nothing; DEL twice is fine.
  const state = env.ok(['state', d]);
  const before = inspect('bridge').Containers[d]!;
  const hook = (action: string) => spawnSync(process.execPath, [CLI, '--store', store, 'network', 'hook', action, 'bridge'], { input: state, encoding: 'utf8' });
  assert.is(hook('add').status, 0);
  assert.equal(inspect('bridge').Containers[d], before);
  assert.is(spawnSync('ip', ['-o', 'link', 'show', 'master', inspect('bridge').Options.bridge], { encoding: 'utf8' }).stdout.trim().split('\n').length, 3, 'still one veth per container');
  const resolv = exec(d, 'cat', '/etc/resolv.conf').stdout;
  assert.not.match(resolv, /nameserver 127\./);
  const vethD = vethOf('bridge', d);
  const ipD = ipOf('bridge', d);
  for (const id of [f, e, d]) del(id);
  assertGone(d, ipD, vethD);
  const again = spawnSync(process.execPath, [CLI, '--store', store, 'network', 'hook', 'del', 'bridge'], { input: state, encoding: 'utf8' });
  assert.is(again.status, 0, again.stderr);
});

test('--publish HOST:CTR answers on 127.0.0.1', async () => {
  const port = await freePort();
  const id = start('web', ['--publish', `${port}:80`], ['httpd', '-f', '-p', '80', '-h', '/www']);
  const ip = ipOf('bridge', id);
  const veth = vethOf('bridge', id);
  let body = '';
  await waitFor(() => exec(id, 'sh', '-c', 'netstat -ltn | grep -q ":80 "').code === 0);
  body = await httpGet(port);
  assert.match(body, /hello from the container/);
  assert.match(iptablesSave(), `${ip}:80`, 'portmap DNAT rule while it runs');
  del(id);
  assertGone(id, ip, veth);
  const after = await httpGet(port).then(() => 'answered', () => 'refused');
  assert.is(after, 'refused', 'nothing answers once the container is gone');
});

test('bad input: unknown network, overlapping subnet, exhausted subnet, rm of builtins; nothing left half made', () => {
  const b = path.join(env.dir, 'never');
  const r = cli('create', 'busybox:net', b, '--network', 'no-such-net', '--', 'true');
  assert.is(r.status, 1);
  assert.match(r.stderr, /network "no-such-net" not found/);
  assert.not.ok(fs.existsSync(b), 'no bundle made');
  assert.match(cli('create', 'busybox:net', b, '--network', 'none', '--publish', '80:80', '--', 'true').stderr, /need a bridge network/);
  assert.match(cli('create', 'busybox:net', b, '--network', 'container:nope', '--trun-root', env.root, '--', 'true').stderr, /container:nope/);
  assert.not.ok(fs.existsSync(b));

  ok('network', 'create', `${tag}-s`, '--subnet', '10.77.9.0/30');
  assert.match(cli('network', 'create', `${tag}-o`, '--subnet', '10.77.9.0/24').stderr, /overlaps network/);
  assert.match(cli('network', 'create', `${tag}-o`, '--subnet', '10.77.9.1/24').stderr, /host bits/);
  assert.match(cli('network', 'create', `${tag}-o`, '--subnet', '8.8.8.0/24').stderr, /private range/);
  assert.match(cli('network', 'rm', 'host').stderr, /pre-defined/);

  const first = start('s1', ['--network', `${tag}-s`]);
  assert.is(ipOf(`${tag}-s`, first), '10.77.9.2');
  const second = `${tag}-s2`;
  const res = env.trun(['run', '-d', '--bundle', bundle(['--network', `${tag}-s`], ['sleep', '1000']), second]);
  assert.is.not(res.code, 0);
  assert.match(res.stderr, /no free address left in 10\.77\.9\.0\/30/);
  assert.not.ok(fs.existsSync(path.join(store, 'networks/containers', `${second}.json`)));
  assert.equal(Object.keys(inspect(`${tag}-s`).Containers), [first]);
  const bridge = inspect(`${tag}-s`).Options.bridge;
  assert.is(spawnSync('ip', ['-o', 'link', 'show', 'master', bridge], { encoding: 'utf8' }).stdout.trim().split('\n').length, 1, 'one veth: the first container\'s');
  const veth = vethOf(`${tag}-s`, first);
  del(first);
  assertGone(first, '10.77.9.2', veth);
  ok('network', 'rm', `${tag}-s`);
  assert.not.ok(links().includes(bridge));
});

test('kill -9 of trun while the hook sets up the network, then delete --force: nothing left', async () => {
  // A CNI dir whose firewall plugin waits (on ADD) until a file appears: bridge has run by then.
  const cniDir = path.join(env.dir, 'cni');
  fs.mkdirSync(cniDir);
  for (const p of fs.readdirSync('/usr/lib/cni')) fs.symlinkSync(path.join('/usr/lib/cni', p), path.join(cniDir, p));
  fs.rmSync(path.join(cniDir, 'firewall'));
  const started = path.join(env.dir, 'firewall-started');
  const go = path.join(env.dir, 'firewall-go');
  fs.writeFileSync(path.join(cniDir, 'firewall'), `#!/bin/sh\nif [ "$CNI_COMMAND" = ADD ]; then touch ${started}; while [ ! -e ${go} ]; do sleep 0.1; done; fi\nexec /usr/lib/cni/firewall\n`, { mode: 0o755 });

  const b = bundle([], ['sleep', '1000']);
  const cfgPath = path.join(b, 'config.json');
  const cfg = JSON.parse(fs.readFileSync(cfgPath, 'utf8'));
  cfg.hooks.createRuntime[0].args.push('--cni-path', cniDir);
  fs.writeFileSync(cfgPath, JSON.stringify(cfg));
  const id = `${tag}-killed`;
  ids.push(id);
  const trun = spawn(process.execPath, [path.join(REPO, 'dist/trun.js'), '--root', env.root, 'run', '-d', '--bundle', b, id], { stdio: 'ignore' });
  await waitFor(() => fs.existsSync(started), 30_000);
  const record = JSON.parse(fs.readFileSync(path.join(store, 'networks/containers', `${id}.json`), 'utf8'));
  assert.equal(record.ran, ['bridge', 'firewall']);
  const ip = (record.result.ips[0].address as string).split('/')[0]!;
  const bridge = inspect('bridge').Options.bridge;
  const veth = (record.result.interfaces as Array<{ name: string; sandbox?: string }>).find((i) => !i.sandbox && i.name !== bridge)!.name;
  assert.ok(links().includes(veth), 'the veth exists while the hook waits');
  trun.kill('SIGKILL');
  await new Promise((r) => trun.once('exit', r));

  env.ok(['delete', '--force', id]);
  ids.splice(ids.indexOf(id), 1);
  assertGone(id, ip, veth);
  const waiting = spawnSync('pgrep', ['-f', path.join(cniDir, 'firewall')], { encoding: 'utf8' }).stdout.trim();
  assert.is(waiting, '', 'the stuck plugin was killed');
  assert.not.ok(links().includes(bridge), 'the default bridge went with its only container');
});

test.run();
