// linux.memoryPolicy seen from inside real containers: the policy column of /proc/self/numa_maps
// ("bind:0", "interleave:0"...) for the init and for exec'd processes. Node 0 exists on any Linux
// host with NUMA support, so these work on a one-node machine too.
import * as fs from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { LinuxMemoryPolicy, Spec } from '../../spec/types/runtime';
import { TestEnv, expectCleanFailure } from '../helpers/trun';

const env = new TestEnv('mempolicy');
test.after(() => env.cleanup());

/** The policy of the process's first mapping, as the kernel shows it. */
const POLICY = 'head -n 1 /proc/self/numa_maps | cut -d" " -f2';
const numa = fs.existsSync('/proc/self/numa_maps');

function withPolicy(p: LinuxMemoryPolicy): (s: Spec) => void {
  return (s) => { s.linux!.memoryPolicy = p; };
}

function runPolicy(p: LinuxMemoryPolicy): string {
  return env.ok(['run', '-b', env.bundle(withPolicy(p), ['sh', '-c', POLICY]), env.id('mp')]).trim();
}

test('MPOL_BIND and MPOL_INTERLEAVE on node 0 are what the container runs with', () => {
  if (!numa) return; // a kernel without NUMA support has no numa_maps
  assert.is(runPolicy({ mode: 'MPOL_BIND', nodes: '0' }), 'bind:0');
  assert.is(runPolicy({ mode: 'MPOL_INTERLEAVE', nodes: '0' }), 'interleave:0');
  assert.is(runPolicy({ mode: 'MPOL_DEFAULT' }), 'default');
  assert.is(runPolicy({ mode: 'MPOL_LOCAL' }), 'local');
});

test('flags show in the policy: static and relative nodes', () => {
  if (!numa) return;
  assert.is(runPolicy({ mode: 'MPOL_BIND', nodes: '0', flags: ['MPOL_F_STATIC_NODES'] }), 'bind=static:0');
  assert.is(runPolicy({ mode: 'MPOL_PREFERRED', nodes: '0', flags: ['MPOL_F_RELATIVE_NODES'] }), 'prefer=relative:0');
});

test('exec\'d processes get the container\'s policy too', () => {
  if (!numa) return;
  const id = env.id('mp');
  env.ok(['run', '-d', '-b', env.bundle(withPolicy({ mode: 'MPOL_INTERLEAVE', nodes: '0' }), ['sleep', '100']), id]);
  try {
    assert.is(env.ok(['exec', id, 'sh', '-c', POLICY]).trim(), 'interleave:0');
  } finally {
    env.trun(['delete', '--force', id]);
  }
});

test('a node this host does not have, and a bad mode, fail create clearly and leave nothing', () => {
  const cases: Array<[LinuxMemoryPolicy, RegExp]> = [
    [{ mode: 'MPOL_BIND', nodes: '0,1000' }, /linux\.memoryPolicy\.nodes: memory node 1000 does not exist on this host/],
    [{ mode: 'MPOL_INTERLEAVE' }, /linux\.memoryPolicy\.nodes: MPOL_INTERLEAVE needs at least one node/],
    [{ mode: 'INTERLEAVE' as LinuxMemoryPolicy['mode'], nodes: '0' }, /linux\.memoryPolicy\.mode/],
  ];
  for (const [p, re] of cases) {
    const id = env.id('mp');
    expectCleanFailure(env, id, ['run', '-b', env.bundle(withPolicy(p)), id], re);
  }
});

test.run();
