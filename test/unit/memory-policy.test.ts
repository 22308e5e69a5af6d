// linux.memoryPolicy: names to set_mempolicy(2) numbers, the kernel's rules checked at plan time,
// and where the op goes in the create and exec plans. Pure: no root, no NUMA machine.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { features } from '../../runtime/commands/features';
import { defaultSpec } from '../../runtime/defaults';
import { compileExecPlan } from '../../runtime/exec-plan';
import { OpCode, type Op } from '../../runtime/init/protocol';
import { memoryPolicyOp, probeMemoryNodes } from '../../runtime/linux/memory-policy';
import { compileCreatePlan } from '../../runtime/plan';
import type { LinuxMemoryPolicy } from '../../spec/types/runtime';
import { expectTrunError } from '../helpers/errors';

const FOUR = [0, 1, 2, 3];
/** The policy's op on a host with `nodes` ('unknown': a host that cannot tell). */
const op = (p: LinuxMemoryPolicy, nodes: readonly number[] | 'unknown' = FOUR) => memoryPolicyOp('c1', p, nodes === 'unknown' ? undefined : nodes);
const refused = (p: LinuxMemoryPolicy, re: RegExp, nodes: readonly number[] = FOUR) => {
  const e = expectTrunError(() => op(p, nodes), 'EINVAL', re);
  assert.is(e.id, 'c1');
};

test('modes and flags become <linux/mempolicy.h> numbers, nodes a mask', () => {
  assert.equal(op({ mode: 'MPOL_INTERLEAVE', nodes: '0-1,3' }), { op: OpCode.SET_MEMPOLICY, mode: 3, flags: 0, nodes: [0b1011n] });
  assert.equal(op({ mode: 'MPOL_BIND', nodes: '2', flags: ['MPOL_F_STATIC_NODES', 'MPOL_F_NUMA_BALANCING'] }),
    { op: OpCode.SET_MEMPOLICY, mode: 2, flags: 0x8000 | 0x2000, nodes: [4n] });
  assert.equal(op({ mode: 'MPOL_PREFERRED', nodes: '1', flags: ['MPOL_F_RELATIVE_NODES'] }), { op: OpCode.SET_MEMPOLICY, mode: 1, flags: 0x4000, nodes: [2n] });
  assert.equal(op({ mode: 'MPOL_DEFAULT' }), { op: OpCode.SET_MEMPOLICY, mode: 0, flags: 0, nodes: [] });
  assert.equal(op({ mode: 'MPOL_LOCAL', nodes: '' }), { op: OpCode.SET_MEMPOLICY, mode: 4, flags: 0, nodes: [] });
  const modes: Array<[LinuxMemoryPolicy['mode'], number]> = [['MPOL_PREFERRED_MANY', 5], ['MPOL_WEIGHTED_INTERLEAVE', 6]];
  for (const [mode, n] of modes) assert.is((op({ mode, nodes: '0' }) as Extract<Op, { op: OpCode.SET_MEMPOLICY }>).mode, n);
  // A node past the first word of the mask.
  assert.equal((op({ mode: 'MPOL_BIND', nodes: '64' }, 'unknown') as Extract<Op, { op: OpCode.SET_MEMPOLICY }>).nodes, [0n, 1n]);
});

test('nodes: required by the modes that use them, refused by MPOL_DEFAULT and MPOL_LOCAL', () => {
  for (const mode of ['MPOL_BIND', 'MPOL_INTERLEAVE', 'MPOL_WEIGHTED_INTERLEAVE', 'MPOL_PREFERRED', 'MPOL_PREFERRED_MANY'] as const) {
    refused({ mode }, new RegExp(`linux\\.memoryPolicy\\.nodes: ${mode} needs at least one node`));
    refused({ mode, nodes: ' ' }, /needs at least one node/);
  }
  refused({ mode: 'MPOL_DEFAULT', nodes: '0-3' }, /linux\.memoryPolicy\.nodes: MPOL_DEFAULT takes no nodes, got "0-3"/);
  refused({ mode: 'MPOL_LOCAL', nodes: '1' }, /MPOL_LOCAL takes no nodes/);
});

test('bad modes, flags and node lists name the field', () => {
  refused({}, /linux\.memoryPolicy\.mode: must be set/);
  refused({ mode: 'INTERLEAVE' as LinuxMemoryPolicy['mode'], nodes: '0' }, /linux\.memoryPolicy\.mode: invalid memory policy mode "INTERLEAVE"/);
  refused({ mode: 'MPOL_BIND', nodes: '0', flags: ['MPOL_F_RELATIVE_NODES', 'badflag' as 'MPOL_F_STATIC_NODES'] }, /linux\.memoryPolicy\.flags: invalid memory policy flag "badflag"/);
  refused({ mode: 'MPOL_BIND', nodes: '0', flags: ['MPOL_F_RELATIVE_NODES', 'MPOL_F_STATIC_NODES'] }, /MPOL_F_STATIC_NODES and MPOL_F_RELATIVE_NODES exclude each other/);
  refused({ mode: 'MPOL_INTERLEAVE', nodes: '0', flags: ['MPOL_F_NUMA_BALANCING'] }, /MPOL_F_NUMA_BALANCING cannot be used with MPOL_INTERLEAVE/);
  refused({ mode: 'MPOL_DEFAULT', flags: ['MPOL_F_STATIC_NODES'] }, /MPOL_F_STATIC_NODES cannot be used with MPOL_DEFAULT/);
  refused({ mode: 'MPOL_LOCAL', flags: ['MPOL_F_RELATIVE_NODES'] }, /cannot be used with MPOL_LOCAL/);
  refused({ mode: 'MPOL_BIND', nodes: '0-9876543210' }, /linux\.memoryPolicy\.nodes: invalid node list "0-9876543210": node 9876543210 is above 1023/);
  refused({ mode: 'MPOL_BIND', nodes: '3-1' }, /invalid node list "3-1": range "3-1" goes backwards/);
  refused({ mode: 'MPOL_BIND', nodes: 'x' }, /invalid node list "x": "x" is not a node or a range/);
});

test('a node the host does not have is refused; relative nodes and an unknown host are not checked', () => {
  refused({ mode: 'MPOL_BIND', nodes: '0,5' }, /linux\.memoryPolicy\.nodes: memory node 5 does not exist on this host \(nodes: 0-3\)/);
  refused({ mode: 'MPOL_PREFERRED', nodes: '1-2', flags: ['MPOL_F_STATIC_NODES'] }, /memory node 1,2 does not exist on this host \(nodes: 0\)/, [0]);
  op({ mode: 'MPOL_BIND', nodes: '5', flags: ['MPOL_F_RELATIVE_NODES'] }, [0]);
  op({ mode: 'MPOL_BIND', nodes: '5' }, 'unknown');
});

test('the host\'s nodes come from sysfs\'s "possible" list', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'trun-unit-numa-'));
  try {
    const file = path.join(dir, 'possible');
    fs.writeFileSync(file, '0-2,4\n');
    assert.equal(probeMemoryNodes(file), [0, 1, 2, 4]);
    fs.writeFileSync(file, 'garbage');
    assert.is(probeMemoryNodes(file), undefined);
    assert.is(probeMemoryNodes(path.join(dir, 'missing')), undefined);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

const host = { apparmor: false, selinux: false, memoryNodes: [0] };

test('create and exec plans set the policy with the other process attributes, before seccomp and the user switch', () => {
  const s = defaultSpec({ terminal: false, args: ['sh'] });
  s.linux!.memoryPolicy = { mode: 'MPOL_BIND', nodes: '0' };
  s.process!.scheduler = { policy: 'SCHED_BATCH' };
  s.linux!.seccomp = { defaultAction: 'SCMP_ACT_ALLOW' };
  const create = compileCreatePlan({
    id: 'c1', spec: s, bundle: '/b', fifoPath: '/f', preserveFds: 0, noPivot: false,
    cgroupMounts: [{ name: '', fstype: 'cgroup2', options: '', hostPath: '/sys/fs/cgroup/trun/c1' }], isDirectory: () => true, host,
  }).ops.map((o) => o.op);
  const exec = compileExecPlan({
    id: 'c1', initPid: 42, namespaces: ['mount'], process: { cwd: '/', args: ['sh'] }, linux: s.linux, detach: false, preserveFds: 0, host,
  }).map((o) => o.op);
  for (const order of [create, exec]) {
    const at = (c: OpCode) => order.indexOf(c);
    assert.ok(at(OpCode.SET_MEMPOLICY) > at(OpCode.CLONE), 'in the container process');
    assert.ok(at(OpCode.SET_MEMPOLICY) < at(OpCode.SECCOMP_LOAD) && at(OpCode.SET_MEMPOLICY) < at(OpCode.USER));
  }
  assert.ok(create.indexOf(OpCode.SCHEDULER) < create.indexOf(OpCode.SET_MEMPOLICY));
  expectTrunError(() => compileExecPlan({
    id: 'c1', initPid: 42, namespaces: [], process: { cwd: '/', args: ['sh'] }, linux: { memoryPolicy: { mode: 'MPOL_BIND', nodes: '3' } },
    detach: false, preserveFds: 0, host,
  }), 'EINVAL', /memory node 3 does not exist/);
});

test('features lists the modes and flags (features-linux.md)', () => {
  const f = features() as { linux: { memoryPolicy: { modes: string[]; flags: string[] } } };
  assert.equal(f.linux.memoryPolicy.modes, ['MPOL_DEFAULT', 'MPOL_BIND', 'MPOL_INTERLEAVE', 'MPOL_WEIGHTED_INTERLEAVE', 'MPOL_PREFERRED', 'MPOL_PREFERRED_MANY', 'MPOL_LOCAL']);
  assert.equal(f.linux.memoryPolicy.flags, ['MPOL_F_NUMA_BALANCING', 'MPOL_F_RELATIVE_NODES', 'MPOL_F_STATIC_NODES']);
});

test.run();
