// linux.memoryPolicy (config-linux.md "Memory policy") as a SET_MEMPOLICY op. Names become the
// numbers of <linux/mempolicy.h>, and the kernel's rules for set_mempolicy(2) are checked here, so
// that a bad policy fails at plan time naming its field rather than as EINVAL from the init.
import * as fs from 'node:fs';
import type { LinuxMemoryPolicy } from '../../spec/types/runtime';
import { TrunError } from '../errors';
import { OpCode, type Op } from '../init/protocol';
import { numberListMask } from './process-attrs';

type NodesRule = 'required' | 'forbidden';

interface ModeRule {
  mode: number;
  nodes: NodesRule;
  /** The MPOL_F_* flags the kernel takes with this mode. */
  flags: readonly string[];
}

const NODE_FLAGS = ['MPOL_F_RELATIVE_NODES', 'MPOL_F_STATIC_NODES'];

/**
 * The modes, in the spec's order. MPOL_DEFAULT and MPOL_LOCAL use no nodes; the others need at
 * least one (the kernel reads an empty MPOL_PREFERRED as MPOL_LOCAL: the config should say so).
 * Flags the kernel would ignore (any with MPOL_DEFAULT) are refused rather than dropped.
 * MPOL_F_NUMA_BALANCING goes with MPOL_BIND (Linux 5.12) and MPOL_PREFERRED_MANY (6.x kernels).
 */
const MODES: Readonly<Record<string, ModeRule>> = Object.freeze({
  MPOL_DEFAULT: { mode: 0, nodes: 'forbidden', flags: [] },
  MPOL_BIND: { mode: 2, nodes: 'required', flags: [...NODE_FLAGS, 'MPOL_F_NUMA_BALANCING'] },
  MPOL_INTERLEAVE: { mode: 3, nodes: 'required', flags: NODE_FLAGS },
  MPOL_WEIGHTED_INTERLEAVE: { mode: 6, nodes: 'required', flags: NODE_FLAGS },
  MPOL_PREFERRED: { mode: 1, nodes: 'required', flags: NODE_FLAGS },
  MPOL_PREFERRED_MANY: { mode: 5, nodes: 'required', flags: [...NODE_FLAGS, 'MPOL_F_NUMA_BALANCING'] },
  MPOL_LOCAL: { mode: 4, nodes: 'forbidden', flags: [] },
});

export const MPOL_FLAGS: Readonly<Record<string, number>> = Object.freeze({
  MPOL_F_NUMA_BALANCING: 1 << 13,
  MPOL_F_RELATIVE_NODES: 1 << 14,
  MPOL_F_STATIC_NODES: 1 << 15,
});

/** For `trun features` (features-linux.md, "MemoryPolicy"). */
export const MEMORY_POLICY_FEATURES = Object.freeze({ modes: Object.keys(MODES), flags: Object.keys(MPOL_FLAGS) });

/** The largest node number any kernel has: MAX_NUMNODES is at most 1 << CONFIG_NODES_SHIFT (10). */
export const MAX_NODE = 1023;

function fail(id: string, message: string): never {
  throw new TrunError('EINVAL', message, { id });
}

/** The numbers of the bits set in a mask. */
function maskBits(words: readonly bigint[]): number[] {
  const out: number[] = [];
  words.forEach((w, i) => {
    for (let b = 0; b < 64; b++) if ((w >> BigInt(b)) & 1n) out.push(i * 64 + b);
  });
  return out;
}

/**
 * linux.memoryPolicy as a SET_MEMPOLICY op. `hostNodes` are the node numbers this host can have
 * (undefined when it cannot tell): a node outside them is refused, because the kernel silently
 * drops it as long as one other listed node is usable. Relative nodes are positions in the
 * allowed set, not node numbers, so they are not checked against it.
 */
export function memoryPolicyOp(id: string, p: LinuxMemoryPolicy, hostNodes: readonly number[] | undefined): Op {
  if (p.mode === undefined || (p.mode as string) === '') fail(id, 'linux.memoryPolicy.mode: must be set');
  const rule = MODES[p.mode];
  if (rule === undefined) fail(id, `linux.memoryPolicy.mode: invalid memory policy mode "${String(p.mode)}"`);

  let flags = 0;
  for (const f of p.flags ?? []) {
    const bit = MPOL_FLAGS[f];
    if (bit === undefined) fail(id, `linux.memoryPolicy.flags: invalid memory policy flag "${String(f)}"`);
    if (!rule.flags.includes(f)) fail(id, `linux.memoryPolicy.flags: ${f} cannot be used with ${p.mode}`);
    flags |= bit;
  }
  const both = MPOL_FLAGS.MPOL_F_STATIC_NODES! | MPOL_FLAGS.MPOL_F_RELATIVE_NODES!;
  if ((flags & both) === both) fail(id, 'linux.memoryPolicy.flags: MPOL_F_STATIC_NODES and MPOL_F_RELATIVE_NODES exclude each other');

  const list = (p.nodes ?? '').trim();
  const nodes = list === '' ? [] : numberListMask(id, 'linux.memoryPolicy.nodes', list, 'node', MAX_NODE);
  const count = maskBits(nodes).length;
  if (rule.nodes === 'forbidden' && count > 0) fail(id, `linux.memoryPolicy.nodes: ${p.mode} takes no nodes, got "${list}"`);
  if (rule.nodes === 'required' && count === 0) fail(id, `linux.memoryPolicy.nodes: ${p.mode} needs at least one node`);

  if (hostNodes && !(flags & MPOL_FLAGS.MPOL_F_RELATIVE_NODES!)) {
    const missing = maskBits(nodes).filter((n) => !hostNodes.includes(n));
    if (missing.length) {
      fail(id, `linux.memoryPolicy.nodes: memory node ${missing.join(',')} does not exist on this host (nodes: ${formatList(hostNodes)})`);
    }
  }
  return { op: OpCode.SET_MEMPOLICY, mode: rule.mode, flags, nodes };
}

/** "0-3,7" from [0,1,2,3,7]. */
function formatList(nums: readonly number[]): string {
  const sorted = [...nums].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; i++) {
    const lo = sorted[i]!;
    while (i + 1 < sorted.length && sorted[i + 1] === sorted[i]! + 1) i++;
    parts.push(lo === sorted[i] ? String(lo) : `${lo}-${sorted[i]}`);
  }
  return parts.join(',') || 'none';
}

/**
 * The memory nodes this host can have (/sys/devices/system/node/possible), or undefined without
 * NUMA support in the kernel, where set_mempolicy itself answers ENOSYS.
 */
export function probeMemoryNodes(file = '/sys/devices/system/node/possible'): number[] | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8').trim();
  } catch {
    return undefined;
  }
  try {
    return maskBits(numberListMask('', file, text, 'node', MAX_NODE));
  } catch {
    return undefined; // a format we do not know: leave the check to the kernel
  }
}
