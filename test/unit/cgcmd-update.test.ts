// `trun update`'s pure planning: size parsing, runc's flags to LinuxResources, the merge with the
// stored resources, and what is written to the live cgroup.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseRamSize } from '../../runtime/units';
import { mergeResources, planUpdate, requestedResources, resourcesFromFlags } from '../../runtime/update-resources';
import { expectTrunError } from '../helpers/errors';

const throwsInvalid = (fn: () => unknown, re: RegExp): void => { expectTrunError(fn, 'EINVAL', re); };

test('sizes: bytes, binary suffixes, optional i and b, any case', () => {
  assert.is(parseRamSize('1024'), 1024);
  assert.is(parseRamSize('256m'), 256 * 1024 ** 2);
  assert.is(parseRamSize('256M'), 256 * 1024 ** 2);
  assert.is(parseRamSize('64MiB'), 64 * 1024 ** 2);
  assert.is(parseRamSize('64mb'), 64 * 1024 ** 2);
  assert.is(parseRamSize('1g'), 1024 ** 3);
  assert.is(parseRamSize('1.5g'), 1.5 * 1024 ** 3);
  assert.is(parseRamSize('4k'), 4096);
  assert.is(parseRamSize('10 k'), 10240);
  assert.is(parseRamSize('2b'), 2);
});

test('sizes: junk, negatives and overflow are refused', () => {
  for (const bad of ['', 'm', '-1', '-5m', '6xm', '1.2.3m', '12q', '1e3', '99999999p']) assert.is(parseRamSize(bad), undefined, bad);
});

test('flags land where runc puts them', () => {
  const r = resourcesFromFlags({
    memory: '64m', 'memory-swap': '-1', 'memory-reservation': '32m', 'kernel-memory': '1m', 'kernel-memory-tcp': '2m',
    'cpu-share': '512', 'cpu-quota': '-1', 'cpu-period': '100000', 'cpu-rt-period': '1000000', 'cpu-rt-runtime': '950000',
    'cpuset-cpus': '0-1', 'cpuset-mems': '0', 'blkio-weight': '500', 'pids-limit': '5',
  });
  assert.equal(r, {
    memory: { limit: 64 << 20, swap: -1, reservation: 32 << 20, kernel: 1 << 20, kernelTCP: 2 << 20 },
    cpu: { shares: 512, quota: -1, period: 100000, realtimePeriod: 1000000, realtimeRuntime: 950000, cpus: '0-1', mems: '0' },
    blockIO: { weight: 500 },
    pids: { limit: 5 },
  });
});

test('flags: 0 means unchanged, -1 unlimited', () => {
  assert.equal(resourcesFromFlags({ memory: '0', 'cpu-quota': '0', 'pids-limit': '0' }), {});
  assert.equal(resourcesFromFlags({ memory: '-1', 'pids-limit': '-1' }), { memory: { limit: -1 }, pids: { limit: -1 } });
});

test('flags: an invalid value names the flag', () => {
  throwsInvalid(() => resourcesFromFlags({ memory: 'lots' }), /--memory: invalid size "lots"/);
  throwsInvalid(() => resourcesFromFlags({ 'cpu-share': '-2' }), /--cpu-share: "-2" is not a non-negative integer/);
  throwsInvalid(() => resourcesFromFlags({ 'cpu-quota': '1.5' }), /--cpu-quota: "1.5" is not an integer/);
  throwsInvalid(() => resourcesFromFlags({ 'pids-limit': 'ten' }), /--pids-limit/);
  throwsInvalid(() => resourcesFromFlags({ 'blkio-weight': '70000' }), /--blkio-weight: 70000 is out of range/);
  throwsInvalid(() => resourcesFromFlags({ 'cpuset-cpus': 'all' }), /--cpuset-cpus/);
  throwsInvalid(() => resourcesFromFlags({ 'l3-cache-schema': 'L3:0=f' }), /--l3-cache-schema: intel rdt is not supported/);
  throwsInvalid(() => resourcesFromFlags({ bogus: '1' } as Record<string, string>), /unknown flag --bogus/);
});

test('--resources JSON first, the flags over it', () => {
  const r = requestedResources({ memory: { limit: 1000, reservation: 10 }, pids: { limit: 3 } }, { memory: '2k' });
  assert.equal(r, { memory: { limit: 2048, reservation: 10 }, pids: { limit: 3 } });
  throwsInvalid(() => requestedResources([] as never, {}), /expected a JSON object/);
});

test('merge: objects key by key, lists replaced, base untouched', () => {
  const base = { memory: { limit: 1, swap: 2 }, blockIO: { weight: 10, weightDevice: [{ major: 8, minor: 0, weight: 100 }] } };
  const merged = mergeResources(base, { memory: { limit: 5 }, blockIO: { weightDevice: [] } });
  assert.equal(merged, { memory: { limit: 5, swap: 2 }, blockIO: { weight: 10, weightDevice: [] } });
  assert.equal(base.memory, { limit: 1, swap: 2 });
  assert.equal(mergeResources(undefined, { pids: { limit: 1 } }), { pids: { limit: 1 } });
});

test('plan: only the request is written; stored = merged; devices ignored but kept', () => {
  const devices = [{ allow: false, access: 'rwm' }];
  const current = { devices, memory: { limit: 100 }, cpu: { shares: 2 } };
  const p = planUpdate(current, { pids: { limit: 7 } });
  assert.equal(p.apply, { pids: { limit: 7 } });
  assert.equal(p.store, { devices, memory: { limit: 100 }, cpu: { shares: 2 }, pids: { limit: 7 } });
  assert.not.ok(p.ignoredDevices);

  const withDevices = planUpdate(current, { devices: [{ allow: true, access: 'rwm' }], pids: { limit: 7 } });
  assert.ok(withDevices.ignoredDevices);
  assert.equal(withDevices.apply, { pids: { limit: 7 } });
  assert.equal(withDevices.store.devices, devices);
  assert.not.ok(planUpdate(current, { devices }).ignoredDevices, 'the same rules again are no change');
});

test('plan: swap is written with its memory limit, quota with its period', () => {
  const current = { memory: { limit: 100 }, cpu: { period: 50000, quota: 25000 } };
  assert.equal(planUpdate(current, { memory: { swap: 300 } }).apply, { memory: { swap: 300, limit: 100 } });
  assert.equal(planUpdate(current, { cpu: { quota: 10000 } }).apply, { cpu: { quota: 10000, period: 50000 } });
  assert.equal(planUpdate(current, { cpu: { shares: 10 } }).apply, { cpu: { shares: 10 } });
});

test.run();
