// v1 <-> v2 value conversions: runc's arithmetic, so configs behave alike under either runtime.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { blkioWeightToIoWeight, cpuMax, deviceRule, hugepageSize, sharesToWeight, swapToV2, v2Limit } from '../../runtime/linux/cgroups/convert';

test('cpu shares -> weight', () => {
  assert.is(sharesToWeight(2), 1);
  assert.is(sharesToWeight(1024), 39);
  assert.is(sharesToWeight(262144), 10000);
  assert.is(sharesToWeight(0), 0);
  assert.is(sharesToWeight(512), 20);
});

test('blkio weight -> io.weight', () => {
  assert.is(blkioWeightToIoWeight(10), 1);
  assert.is(blkioWeightToIoWeight(1000), 10000);
  assert.is(blkioWeightToIoWeight(500), 4950);
  assert.is(blkioWeightToIoWeight(0), 0);
});

test('-1 is "max"', () => {
  assert.is(v2Limit(-1), 'max');
  assert.is(v2Limit(0), '0');
  assert.is(v2Limit(4096), '4096');
});

test('swap: OCI memory+swap -> v2 swap alone', () => {
  assert.is(swapToV2(200, 100), '100');
  assert.is(swapToV2(100, 100), '0');
  assert.is(swapToV2(-1, 100), 'max');
  assert.is(swapToV2(undefined, -1), 'max'); // unlimited memory, swap unset: both unlimited
  assert.is(swapToV2(0, -1), 'max');
  assert.is(swapToV2(undefined, 100), undefined);
  assert.is(swapToV2(0, 100), undefined);
  assert.throws(() => swapToV2(50, 100), /must not be below/);
  assert.throws(() => swapToV2(100, undefined), /without a memory limit/);
  assert.throws(() => swapToV2(100, -1), /without a memory limit/);
});

test('cpu.max', () => {
  assert.is(cpuMax(50000, 100000), '50000 100000');
  assert.is(cpuMax(-1, 100000), 'max 100000');
  assert.is(cpuMax(20000, undefined), '20000');
  assert.is(cpuMax(undefined, 250000), 'max 250000');
  assert.is(cpuMax(undefined, undefined), undefined);
  assert.is(cpuMax(0, 0), undefined);
});

test('device rules', () => {
  assert.is(deviceRule({ access: 'rwm' }), 'a *:* rwm');
  assert.is(deviceRule({ type: 'c', major: 1, minor: 3, access: 'rw' }), 'c 1:3 rw');
  assert.is(deviceRule({ type: 'c', major: 136 }), 'c 136:* rwm');
  assert.throws(() => deviceRule({ type: 'x' }), /invalid device cgroup type/);
  assert.throws(() => deviceRule({ access: 'rwx' }), /invalid device cgroup access/);
});

test('hugepage sizes', () => {
  assert.is(hugepageSize('2MB'), '2MB');
  assert.is(hugepageSize('1gb'), '1GB');
  assert.throws(() => hugepageSize('2M'), /invalid hugepage size/);
});

test.run();
