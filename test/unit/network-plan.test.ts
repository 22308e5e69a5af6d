// Networking's pure parts: subnets, the --network/--publish/--link flags and the plan applied to
// config.json, hosts/resolv.conf contents, iptables rule parsing, CNI results, subnet claims.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { rulesNaming, splitRule } from '../../bundle-tools/network/bridge';
import { claim, release } from '../../bundle-tools/network/claims';
import { bridgeChain, containerAddress, hostVeth, pluginInput } from '../../bundle-tools/network/cni';
import { hostsEntries } from '../../bundle-tools/network/hook';
import { containerResolvConf, hostsText, rewriteInPlace } from '../../bundle-tools/network/hosts';
import { applyNetworkPlan, networkPlan, parseLink, parseNetworkFlag, parsePublish, type PlanInput } from '../../bundle-tools/network/modes';
import type { Attachment, NetworkDef } from '../../bundle-tools/network/networks';
import { capacity, checkUserSubnet, formatCidr, overlaps, parseCidr, pickSubnet } from '../../bundle-tools/network/subnet';
import { defaultSpec } from '../../runtime/defaults';

test('subnets: parse, overlap, checks and picking a free /24', () => {
  assert.is(formatCidr(parseCidr('10.1.2.0/24')), '10.1.2.0/24');
  assert.ok(overlaps(parseCidr('10.0.0.0/8'), parseCidr('10.89.3.0/24')));
  assert.not.ok(overlaps(parseCidr('10.89.0.0/24'), parseCidr('10.89.1.0/24')));
  assert.throws(() => checkUserSubnet('10.0.0.1/24'), /host bits set \(did you mean 10\.0\.0\.0\/24\?\)/);
  assert.throws(() => checkUserSubnet('8.8.8.0/24'), /private range/);
  assert.throws(() => checkUserSubnet('10.0.0.0/31'), /too small/);
  assert.throws(() => parseCidr('10.0.0.256/24'), /not an IPv4 address/);
  assert.is(capacity(parseCidr('10.0.0.0/30')), 1);
  assert.is(capacity(parseCidr('10.0.0.0/24')), 253);
  assert.is(formatCidr(pickSubnet([])!), '10.89.0.0/24');
  assert.is(formatCidr(pickSubnet([parseCidr('10.89.0.0/23'), parseCidr('10.89.2.128/25')])!), '10.89.3.0/24');
  assert.is(pickSubnet([parseCidr('10.89.0.0/16')]), null);
});

test('flags: --network, --publish, --link', () => {
  assert.equal(parseNetworkFlag('none'), { kind: 'none' });
  assert.equal(parseNetworkFlag('container:abc'), { kind: 'container', id: 'abc' });
  assert.equal(parseNetworkFlag('mynet'), { kind: 'bridge', network: 'mynet' });
  assert.throws(() => parseNetworkFlag('container:'), /needs a container id/);
  assert.throws(() => parseNetworkFlag('bad/name'), /invalid network name/);
  assert.equal(parsePublish('8080:80'), { hostPort: 8080, containerPort: 80, protocol: 'tcp' });
  assert.equal(parsePublish('127.0.0.1:53:53/udp'), { hostIP: '127.0.0.1', hostPort: 53, containerPort: 53, protocol: 'udp' });
  assert.throws(() => parsePublish('80'), /expected/);
  assert.throws(() => parsePublish('0:80'), /not a port/);
  assert.throws(() => parsePublish('1:80/sctp'), /tcp or udp/);
  assert.equal(parseLink('db'), { name: 'db', alias: 'db' });
  assert.equal(parseLink('c1:db'), { name: 'c1', alias: 'db' });
  assert.throws(() => parseLink('a:b:c'), /CONTAINER\[:ALIAS\]/);
});

const input = (o: Partial<PlanInput>): PlanInput => ({
  mode: { kind: 'bridge', network: 'bridge' }, hookCommand: ['/usr/bin/node', '/x/trun-bundle.js'], store: '/s',
  files: { hosts: '/b/network/hosts', hostname: '/b/network/hostname', resolvConf: '/b/network/resolv.conf' },
  publish: [], links: [], hostHostname: 'thehost', ...o,
});

test('plan: bridge gets a new netns, its files and the add/del hooks; user mounts keep their paths', () => {
  const spec = defaultSpec({ args: ['sh'] });
  spec.mounts!.push({ destination: '/etc/resolv.conf', type: 'bind', source: '/mine', options: ['rbind'] });
  applyNetworkPlan(spec, networkPlan(input({ publish: [parsePublish('8080:80')], links: [parseLink('c1:db')] })));
  assert.equal(spec.linux!.namespaces!.filter((n) => n.type === 'network'), [{ type: 'network' }]);
  assert.equal(spec.mounts!.filter((m) => m.destination.startsWith('/etc/')).map((m) => m.source), ['/mine', '/b/network/hosts', '/b/network/hostname']);
  const add = spec.hooks!.createRuntime![0]!;
  assert.equal(add.args, ['/usr/bin/node', '/x/trun-bundle.js', '--store', '/s', 'network', 'hook', 'add', 'bridge', '--publish', '8080:80/tcp', '--link', 'c1:db']);
  assert.ok(add.env!.some((e) => e.startsWith('PATH=')), 'hooks get a PATH for the plugins and iptables');
  assert.equal(spec.hooks!.poststop![0]!.args!.slice(-3), ['hook', 'del', 'bridge']);
});

test('plan: host, none and container:', () => {
  const host = defaultSpec({ args: ['sh'] });
  applyNetworkPlan(host, networkPlan(input({ mode: { kind: 'host' } })));
  assert.not.ok(host.linux!.namespaces!.some((n) => n.type === 'network'));
  assert.is(host.hostname, 'thehost');
  assert.equal(host.mounts!.filter((m) => m.destination === '/etc/hosts')[0]!.options, ['rbind', 'rprivate', 'ro']);
  assert.is(host.hooks, undefined);

  const none = defaultSpec({ args: ['sh'] });
  applyNetworkPlan(none, networkPlan(input({ mode: { kind: 'none' }, hostname: 'box' })));
  assert.is(none.hostname, 'box');
  assert.equal(none.hooks!.createRuntime![0]!.args!.slice(-2), ['add', 'none']);
  assert.is(none.hooks!.poststop, undefined);

  const joined = defaultSpec({ args: ['sh'] });
  applyNetworkPlan(joined, networkPlan(input({ mode: { kind: 'container', id: 'a' }, joined: { netns: '/proc/42/ns/net', files: { hosts: '/a/network/hosts' } } })));
  assert.equal(joined.linux!.namespaces![0], { type: 'network', path: '/proc/42/ns/net' });
  assert.equal(joined.mounts!.filter((m) => m.destination === '/etc/hosts')[0]!.source, '/a/network/hosts');

  assert.throws(() => networkPlan(input({ mode: { kind: 'none' }, publish: [parsePublish('1:1')] })), /need a bridge network/);
  assert.throws(() => networkPlan(input({ mode: { kind: 'bridge', network: 'mine' }, links: [parseLink('x')] })), /--link works on the default network/);
});

test('hosts: own entry, members of a user network, links; resolv.conf drops loopback servers', () => {
  const att = (id: string, network: string, ip: string, links: Attachment['links'] = []): Attachment => ({
    version: 1, id, network, status: 'ready', hook: { pid: 1, start: 1 }, pid: 1, netnsIno: 1, ifname: 'eth0', ip: `${ip}/24`, hostname: 'trun',
    hostsFile: null, links, ports: [], cniPath: '', ran: [], created: '',
  });
  const all = [att('a', 'u', '10.1.0.2'), att('b', 'u', '10.1.0.3'), att('c', 'bridge', '10.2.0.2'), att('d', 'bridge', '10.2.0.3', [{ name: 'c', alias: 'db' }])];
  assert.equal(hostsEntries(all[0]!, all), [{ ip: '10.1.0.2', names: ['trun', 'a'] }, { ip: '10.1.0.3', names: ['b'] }]);
  assert.equal(hostsEntries(all[2]!, all), [{ ip: '10.2.0.2', names: ['trun', 'c'] }], 'no names on the default bridge');
  assert.equal(hostsEntries(all[3]!, all)[1], { ip: '10.2.0.2', names: ['db', 'c'] });
  const text = hostsText(hostsEntries(all[0]!, all));
  assert.match(text, /^127\.0\.0\.1\tlocalhost\n/);
  assert.match(text, /\n10\.1\.0\.3\tb\n$/);
  assert.is(containerResolvConf('search x\nnameserver 127.0.0.53\nnameserver 10.0.0.1\noptions edns0\n'), 'search x\nnameserver 10.0.0.1\noptions edns0\n');
  assert.is(containerResolvConf('nameserver 127.0.0.1\n'), 'nameserver 8.8.8.8\nnameserver 8.8.4.4\n');
});

test('rewriteInPlace keeps the inode (bind mounts see it) and skips a missing file', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'net-unit-'));
  const f = path.join(dir, 'hosts');
  fs.writeFileSync(f, 'a much longer first version\n');
  const ino = fs.statSync(f).ino;
  rewriteInPlace(f, 'short\n');
  assert.is(fs.readFileSync(f, 'utf8'), 'short\n');
  assert.is(fs.statSync(f).ino, ino);
  rewriteInPlace(path.join(dir, 'gone'), 'x');
  assert.not.ok(fs.existsSync(path.join(dir, 'gone')));
  fs.rmSync(dir, { recursive: true });
});

test('iptables -S lines: quoted comments, and the rules that name a bridge', () => {
  assert.equal(splitRule('-A X -i br0 -m comment --comment "a \\"b\\" c" -j DROP'), ['-A', 'X', '-i', 'br0', '-m', 'comment', '--comment', 'a "b" c', '-j', 'DROP']);
  const rules = [
    '-N CNI-ISOLATION-STAGE-2',
    '-A CNI-ISOLATION-STAGE-2 -o tb-1 -m comment --comment "CNI firewall plugin rules (ingressPolicy: same-bridge)" -j DROP',
    '-A CNI-ISOLATION-STAGE-2 -o tb-10 -j DROP',
    '-A CNI-ISOLATION-STAGE-2 -j RETURN',
  ].join('\n');
  assert.equal(rulesNaming(rules, 'CNI-ISOLATION-STAGE-2', 'tb-1'), [['-D', 'CNI-ISOLATION-STAGE-2', '-o', 'tb-1', '-m', 'comment', '--comment', 'CNI firewall plugin rules (ingressPolicy: same-bridge)', '-j', 'DROP']]);
});

test('cni: the chain of a network, plugin input with prevResult, addresses from a result', () => {
  const n: NetworkDef = { version: 1, name: 'u', id: 'x', driver: 'bridge', subnet: '10.3.0.0/24', gateway: '10.3.0.1', bridge: 'tb-x', created: '' };
  assert.equal(bridgeChain(n, '/ipam', []).map((c) => c.type), ['bridge', 'firewall']);
  const withPorts = bridgeChain(n, '/ipam', [parsePublish('8080:80')]);
  assert.equal(withPorts[2], { type: 'portmap', capabilities: { portMappings: true }, snat: true, runtimeConfig: { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }] } });
  assert.is((withPorts[0]!.ipam as { dataDir: string }).dataDir, '/ipam');
  const input = JSON.parse(pluginInput('u', withPorts[1]!, { cniVersion: '1.0.0' }));
  assert.equal([input.cniVersion, input.name, input.type, input.prevResult], ['1.0.0', 'u', 'firewall', { cniVersion: '1.0.0' }]);
  const result = {
    interfaces: [{ name: 'tb-x', mac: 'aa' }, { name: 'veth1', mac: 'bb' }, { name: 'eth0', mac: 'cc', sandbox: '/proc/1/ns/net' }],
    ips: [{ address: '10.3.0.2/24', gateway: '10.3.0.1', interface: 2 }],
  };
  assert.equal(containerAddress(result, 'eth0'), { ip: '10.3.0.2/24', mac: 'cc' });
  assert.is(hostVeth(result, 'tb-x'), 'veth1');
});

test('claims: one network per subnet host-wide; overlapping claims clash; release frees', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'net-claims-'));
  const store = fs.mkdtempSync(path.join(os.tmpdir(), 'net-store-'));
  fs.mkdirSync(path.join(store, 'networks/containers'), { recursive: true });
  fs.writeFileSync(path.join(store, 'networks/containers/c.json'), JSON.stringify({ network: 'a' }));
  const a = { subnet: '10.5.0.0/24', store, network: 'a', bridge: 'tb-none-a' };
  assert.is(claim(a, dir), null);
  assert.is(claim(a, dir), null, 'claiming again is fine');
  assert.equal(claim({ subnet: '10.5.0.0/16', store: '/other', network: 'b', bridge: 'tb-none-b' }, dir)?.network, 'a');
  release(a, dir);
  assert.is(claim({ subnet: '10.5.0.0/16', store: '/other', network: 'b', bridge: 'tb-none-b' }, dir), null);
  // b's store does not exist and its bridge is gone: a stale claim that a new one replaces.
  assert.is(claim(a, dir), null);
  // a has a container on record: its claim stands even without a bridge.
  assert.equal(claim({ subnet: '10.5.0.128/25', store: '/other', network: 'b', bridge: 'tb-none-b' }, dir)?.network, 'a');
  fs.rmSync(dir, { recursive: true });
  fs.rmSync(store, { recursive: true });
});

test.run();
