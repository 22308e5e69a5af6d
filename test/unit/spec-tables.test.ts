// The capability and rlimit name tables the validator and the plan compiler share.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { TrunError } from '../../runtime/errors';
import { CAPABILITIES, LAST_CAP, capabilityMask } from '../../runtime/linux/capabilities';
import { RLIMITS } from '../../runtime/linux/rlimits';

test('capabilities: 0..LAST_CAP, each number once', () => {
  const numbers = Object.values(CAPABILITIES).sort((a, b) => a - b);
  assert.equal(numbers, Array.from({ length: LAST_CAP + 1 }, (_, i) => i));
  assert.is(CAPABILITIES.CAP_CHOWN, 0);
  assert.is(CAPABILITIES.CAP_SYS_ADMIN, 21);
  assert.is(CAPABILITIES.CAP_AUDIT_READ, 37);
  assert.is(CAPABILITIES.CAP_CHECKPOINT_RESTORE, 40);
  assert.ok(Object.isFrozen(CAPABILITIES));
});

test('capabilityMask sets one bit per name, above 32 too', () => {
  assert.is(capabilityMask([]), 0n);
  assert.is(capabilityMask(['CAP_CHOWN', 'CAP_KILL']), (1n << 0n) | (1n << 5n));
  assert.is(capabilityMask(['CAP_CHECKPOINT_RESTORE', 'CAP_CHECKPOINT_RESTORE']), 1n << 40n);
  assert.is(capabilityMask(Object.keys(CAPABILITIES)), (1n << BigInt(LAST_CAP + 1)) - 1n);
  assert.throws(() => capabilityMask(['CAP_FOO']), (e: unknown) => e instanceof TrunError && e.message === 'unknown capability "CAP_FOO"');
});

test('rlimits: the generic Linux numbering', () => {
  assert.equal(Object.values(RLIMITS).sort((a, b) => a - b), Array.from({ length: 16 }, (_, i) => i));
  assert.is(RLIMITS.RLIMIT_CPU, 0);
  assert.is(RLIMITS.RLIMIT_NOFILE, 7);
  assert.is(RLIMITS.RLIMIT_NPROC, 6);
  assert.is(RLIMITS.RLIMIT_AS, 9);
  assert.is(RLIMITS.RLIMIT_RTTIME, 15);
});

test.run();
