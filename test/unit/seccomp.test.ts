// Seccomp compilation: action and comparison names to libseccomp values.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { OpCode } from '../../runtime/init/protocol';
import { actionValue, seccompOps } from '../../runtime/linux/seccomp';

test('action values', () => {
  assert.is(actionValue('c', 'f', 'SCMP_ACT_ALLOW', undefined), 0x7fff0000);
  assert.is(actionValue('c', 'f', 'SCMP_ACT_ERRNO', undefined), 0x00050001, 'ERRNO defaults to EPERM');
  assert.is(actionValue('c', 'f', 'SCMP_ACT_ERRNO', 38), 0x00050026);
  assert.is(actionValue('c', 'f', 'SCMP_ACT_KILL_PROCESS', undefined), 0x80000000);
  assert.throws(() => actionValue('c', 'f', 'SCMP_ACT_BOGUS', undefined), /unknown seccomp action "SCMP_ACT_BOGUS"/);
});

test('rules: one per name, args flattened, default-action rules dropped', () => {
  const { build, load } = seccompOps('c', {
    defaultAction: 'SCMP_ACT_ERRNO',
    flags: ['SECCOMP_FILTER_FLAG_LOG'],
    syscalls: [
      { names: ['read', 'write'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 1, op: 'SCMP_CMP_EQ' }] },
      { names: ['mkdir'], action: 'SCMP_ACT_ERRNO' },
    ],
  });
  const ops = [...build, ...load];
  assert.is(ops[0]!.op, OpCode.SECCOMP_INIT);
  assert.equal(ops.map((o) => o.op), [OpCode.SECCOMP_INIT, OpCode.SECCOMP_RULE, OpCode.SECCOMP_RULE, OpCode.SECCOMP_LOAD]);
  const init = ops[0] as Extract<(typeof ops)[number], { op: OpCode.SECCOMP_INIT }>;
  assert.is(init.flags, 2);
  const rule = ops[1] as Extract<(typeof ops)[number], { op: OpCode.SECCOMP_RULE }>;
  assert.is(rule.syscall, 'read');
  assert.equal(rule.args, [0n, 1n, 0n, 4n]);
});

test('bad comparisons and listeners are refused', () => {
  assert.throws(() => seccompOps('c', { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['x'], action: 'SCMP_ACT_ERRNO', args: [{ index: 7, value: 1, op: 'SCMP_CMP_EQ' }] }] }), /index: must be 0 to 5/);
  assert.throws(() => seccompOps('c', { defaultAction: 'SCMP_ACT_ALLOW', listenerPath: '/run/x.sock' }), /listeners are not supported/);
});

test.run();
