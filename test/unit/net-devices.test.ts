// linux.netDevices at plan time: the kernel's naming rules, templates, and the network namespace
// the devices need. Pure: nothing is moved.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { features } from '../../runtime/commands/features';
import { defaultSpec } from '../../runtime/defaults';
import { planNetDevices } from '../../runtime/linux/net-devices';
import { compileCreatePlan } from '../../runtime/plan';
import type { Linux, Spec } from '../../spec/types/runtime';
import { expectTrunError } from '../helpers/errors';

const linux = (netDevices: Linux['netDevices']): Linux => ({ netDevices });
/** Refused for a container with a new network namespace, or ('none') none at all. */
const refused = (l: Linux, re: RegExp, netns: { path?: string } | 'none' = {}) => {
  assert.is(expectTrunError(() => planNetDevices('c1', l, netns === 'none' ? undefined : netns), 'EINVAL', re).id, 'c1');
};

test('devices keep their name unless renamed; a "%d" template is passed on', () => {
  assert.equal(planNetDevices('c1', linux({ eth1: {}, eth2: { name: 'ctr0' }, eth3: { name: 'net%d' } }), {}), [
    { hostName: 'eth1', name: 'eth1' },
    { hostName: 'eth2', name: 'ctr0' },
    { hostName: 'eth3', name: 'net%d' },
  ]);
  assert.equal(planNetDevices('c1', linux({}), undefined), []);
  assert.equal(planNetDevices('c1', undefined, undefined), []);
  // Two devices may swap names: each rename happens in the container's namespace, in turn.
  assert.is(planNetDevices('c1', linux({ a: { name: 'b' }, b: { name: 'a' } }), {}).length, 2);
});

test('a network namespace of the container\'s own is needed', () => {
  refused(linux({ eth1: {} }), /linux\.netDevices: moving network devices needs a network namespace of the container's own/, 'none');
  // A joined one is fine here (checkNetDevicesOnHost refuses the host's own at create).
  assert.is(planNetDevices('c1', linux({ eth1: {} }), { path: '/run/netns/x' }).length, 1);
});

test('names the kernel would refuse are refused naming the field', () => {
  refused(linux({ '': {} }), /linux\.netDevices: device name "" is empty/);
  refused(linux({ 'a-name-of-16-byt': {} }), /device name "a-name-of-16-byt" is longer than 15 bytes/);
  refused(linux({ 'eth%d': {} }), /device name "eth%d" contains "%"/);
  refused(linux({ eth1: { name: 'a b' } }), /linux\.netDevices\["eth1"\]\.name: "a b" contains "\/", ":" or white space/);
  refused(linux({ eth1: { name: 'x:1' } }), /contains "\/", ":" or white space/);
  refused(linux({ eth1: { name: '..' } }), /".." is not a usable name/);
  refused(linux({ eth1: { name: 'e%d%d' } }), /may only hold one "%d" template/);
  refused(linux({ eth1: { name: 'e%s' } }), /may only hold one "%d" template/);
  refused(linux({ eth1: { name: 'x' }, eth2: { name: 'x' } }), /"eth1" and "eth2" would both be named "x" in the container/);
  refused(linux({ eth1: { name: 'lo' } }), /a new network namespace already has a device named "lo"/);
  planNetDevices('c1', linux({ eth1: { name: 'e%d' }, eth2: { name: 'e%d' } }), {});
});

test('the create plan carries the moves and the namespace they go to', () => {
  const base = (mut: (s: Spec) => void) => {
    const s = defaultSpec({ terminal: false, args: ['sh'] });
    mut(s);
    return compileCreatePlan({
      id: 'c1', spec: s, bundle: '/b', fifoPath: '/f', preserveFds: 0, noPivot: false, cgroupMounts: [],
      isDirectory: () => true, host: { apparmor: false, selinux: false },
    });
  };
  const plan = base((s) => { s.linux!.netDevices = { eth1: { name: 'eth9' } }; });
  assert.equal(plan.netDevices, [{ hostName: 'eth1', name: 'eth9' }]);
  assert.equal(plan.netns, {});
  const joined = base((s) => {
    s.linux!.namespaces = s.linux!.namespaces!.map((n) => (n.type === 'network' ? { type: 'network', path: '/run/netns/x' } : n));
    s.linux!.netDevices = { eth1: {} };
  });
  assert.equal(joined.netns, { path: '/run/netns/x' });
  expectTrunError(() => base((s) => {
    s.linux!.namespaces = s.linux!.namespaces!.filter((n) => n.type !== 'network');
    s.linux!.netDevices = { eth1: {} };
  }), 'EINVAL', /needs a network namespace/);
});

test('features says netDevices are supported', () => {
  assert.equal((features() as { linux: { netDevices: unknown } }).linux.netDevices, { enabled: true });
});

test.run();
