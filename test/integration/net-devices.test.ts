// linux.netDevices with real interfaces: each test makes its own on the host, named
// trun-t<pid><n> so that it is clearly this test's, and touches no other. A dummy interface when
// the kernel has them, else one end of a veth pair (whose peer, <name>p, stays on the host).
import { spawnSync } from 'node:child_process';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Spec } from '../../spec/types/runtime';
import { TestEnv, assertNothingLeft, snapshot } from '../helpers/trun';

const env = new TestEnv('netdev');
test.after(() => env.cleanup());

function ip(...args: string[]): { status: number; out: string; err: string } {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  return { status: r.status ?? -1, out: r.stdout, err: r.stderr };
}

const ADDR = '192.0.2.77/32'; // TEST-NET-1 (RFC 5737): routes nowhere

let serial = 0;
/** A new interface of this test's own, up, with ADDR; returns its name and a cleanup. */
function testLink(): { name: string; remove: () => void } {
  const name = `trun-t${process.pid}${++serial}`.slice(0, 14);
  if (ip('link', 'add', name, 'type', 'dummy').status !== 0) {
    const r = ip('link', 'add', name, 'type', 'veth', 'peer', 'name', `${name}p`);
    if (r.status !== 0) throw new Error(`ip link add ${name}: ${r.err}`);
  }
  ip('addr', 'add', ADDR, 'dev', name);
  ip('link', 'set', 'dev', name, 'up');
  return {
    name,
    remove: () => {
      for (const n of [name, `${name}p`]) if (onHost(n)) ip('link', 'del', 'dev', n);
    },
  };
}

const onHost = (name: string) => ip('link', 'show', 'dev', name).status === 0;

/** Waits for a device to leave the host (a dying namespace takes its devices with it, later). */
async function goneFromHost(name: string): Promise<boolean> {
  for (let i = 0; i < 100 && onHost(name); i++) await new Promise((r) => setTimeout(r, 50));
  return !onHost(name);
}

test('a host interface moves into the container renamed, with its address, up; it is gone from the host', async () => {
  const link = testLink();
  const id = env.id('nd');
  try {
    const bundle = env.bundle((s) => { s.linux!.netDevices = { [link.name]: { name: 'eth9' } }; }, ['sleep', '100']);
    env.ok(['run', '-d', '-b', bundle, id]);
    assert.not.ok(onHost(link.name), 'no longer on the host');
    assert.ok(env.ok(['exec', id, 'ls', '/sys/class/net']).split('\n').includes('eth9'));
    const shown = env.ok(['exec', id, 'ip', '-o', 'addr', 'show', 'dev', 'eth9']);
    assert.match(shown, new RegExp(`inet ${ADDR.replace(/\./g, '\\.')} scope global eth9`));
    assert.match(env.ok(['exec', id, 'ip', '-o', 'link', 'show', 'dev', 'eth9']), /<[^>]*\bUP\b[^>]*>/);
    env.ok(['delete', '--force', id]);
    // The spec: the runtime MUST NOT move it back. A virtual device dies with the namespace
    // (a physical one would come back as "eth9"), so the host does not see the old name again.
    assert.ok(await goneFromHost(link.name), 'not moved back under its old name');
    assert.not.ok(env.ok(['list', '-q']).includes(id));
  } finally {
    env.trun(['delete', '--force', id]);
    link.remove();
  }
});

test('a "%d" template lets the kernel pick the name; no name keeps the host\'s', () => {
  const a = testLink();
  const b = testLink();
  try {
    const bundle = env.bundle((s) => { s.linux!.netDevices = { [a.name]: { name: 'ctr%d' }, [b.name]: {} }; }, ['ls', '/sys/class/net']);
    const names = env.ok(['run', '-b', bundle, env.id('nd')]).trim().split('\n');
    assert.ok(names.includes('ctr0'), names.join(' '));
    assert.ok(names.includes(b.name), names.join(' '));
  } finally {
    a.remove();
    b.remove();
  }
});

test('bad input fails create clearly and leaves nothing, the host\'s interface untouched', () => {
  const link = testLink();
  const cases: Array<[(s: Spec) => void, RegExp]> = [
    [(s) => { s.linux!.netDevices = { [`${link.name}x`]: {} }; }, new RegExp(`network device "${link.name}x" does not exist on the host`)],
    [(s) => {
      s.linux!.netDevices = { [link.name]: {} };
      s.linux!.namespaces = s.linux!.namespaces!.filter((n) => n.type !== 'network');
    }, /linux\.netDevices: moving network devices needs a network namespace of the container's own/],
    [(s) => {
      s.linux!.netDevices = { [link.name]: {} };
      s.linux!.namespaces = s.linux!.namespaces!.map((n) => (n.type === 'network' ? { type: 'network', path: `/proc/${process.pid}/ns/net` } : n));
    }, /the network namespace "[^"]+" is the host's/],
    [(s) => { s.linux!.netDevices = { [link.name]: { name: 'lo' } }; }, /already has a device named "lo"/],
    [(s) => { s.linux!.netDevices = { [link.name]: { name: 'a:b' } }; }, /"a:b" contains/],
  ];
  try {
    for (const [mut, re] of cases) {
      const id = env.id('nd');
      const bundle = env.bundle(mut);
      const before = snapshot();
      const r = env.trun(['run', '-b', bundle, id]);
      assert.is(r.code, 1, r.stderr);
      assert.match(r.stderr, re);
      assertNothingLeft(env, before, id);
      assert.match(ip('-o', 'addr', 'show', 'dev', link.name).out, /192\.0\.2\.77\/32/, 'still on the host, as it was');
    }
  } finally {
    link.remove();
  }
});

test('a create that fails after the move puts the device back: name, address and up state', () => {
  // A failing hook (the init still waits), and a failing mount (the init is gone: trun's hold on
  // the namespace keeps the device reachable).
  const failures: Array<[(s: Spec) => void, RegExp]> = [
    [(s) => { s.hooks = { createRuntime: [{ path: '/bin/sh', args: ['sh', '-c', 'exit 3'] }] }; }, /createRuntime hook #0/],
    [(s) => { s.mounts!.push({ destination: '/x', type: 'bind', source: `/nonexistent-trun-${process.pid}`, options: ['bind'] }); }, /mount "[^"]+" on "\/x": no such file or directory/],
  ];
  for (const [mut, re] of failures) {
    const link = testLink();
    const id = env.id('nd');
    try {
      const bundle = env.bundle((s) => {
        s.linux!.netDevices = { [link.name]: { name: 'eth9' } };
        mut(s);
      });
      const before = snapshot();
      const r = env.trun(['run', '-b', bundle, id]);
      assert.is(r.code, 1, r.stderr);
      assert.match(r.stderr, re);
      assertNothingLeft(env, before, id);
      assert.ok(onHost(link.name), 'back on the host under its own name');
      assert.match(ip('-o', 'addr', 'show', 'dev', link.name).out, /192\.0\.2\.77\/32/);
      assert.match(ip('-o', 'link', 'show', 'dev', link.name).out, /<[^>]*\bUP\b[^>]*>/);
    } finally {
      env.trun(['delete', '--force', id]);
      link.remove();
    }
  }
});

test.run();
