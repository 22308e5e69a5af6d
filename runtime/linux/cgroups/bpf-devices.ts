// linux.resources.devices compiled into a BPF_PROG_TYPE_CGROUP_DEVICE program: the cgroup v2
// device filter (v2 has no devices controller). Pure: the C init only loads and attaches it.
//
// Semantics (those of the v1 controller as runc emulates it, decided per access bit): the state
// starts as "allow everything", rules apply in order and a later rule overrides an earlier one.
// A request (type, major, minor, access bits) is allowed when, for every requested bit, the last
// rule matching the device and naming that bit is an allow (or no rule names it).
import type { LinuxDeviceCgroup } from '../../../spec/types/runtime';
import { TrunError } from '../../errors';

/** struct bpf_cgroup_dev_ctx: access_type = (access << 16) | type, then major, then minor. */
export const BPF_DEVCG_DEV_BLOCK = 1;
export const BPF_DEVCG_DEV_CHAR = 2;
export const BPF_DEVCG_ACC_MKNOD = 1;
export const BPF_DEVCG_ACC_READ = 2;
export const BPF_DEVCG_ACC_WRITE = 4;
const ACC_ALL = BPF_DEVCG_ACC_MKNOD | BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE;

const TYPE_CODES: Readonly<Record<string, number | null>> = { a: null, c: BPF_DEVCG_DEV_CHAR, b: BPF_DEVCG_DEV_BLOCK };
const ACCESS_BITS: Readonly<Record<string, number>> = { m: BPF_DEVCG_ACC_MKNOD, r: BPF_DEVCG_ACC_READ, w: BPF_DEVCG_ACC_WRITE };

/** A rule in the filter's terms: null is a wildcard. */
export interface DeviceRule {
  allow: boolean;
  type: number | null;
  major: number | null;
  minor: number | null;
  access: number;
}

export type DeviceRuleInput = Pick<LinuxDeviceCgroup, 'allow' | 'type' | 'major' | 'minor' | 'access'>;

/** Validates and converts OCI rules (type "a" and a missing or negative number are wildcards). */
export function normalizeDeviceRules(rules: readonly DeviceRuleInput[]): DeviceRule[] {
  return rules.map((r, i) => {
    const t = r.type ?? 'a';
    const type = TYPE_CODES[t];
    if (type === undefined) throw new TrunError('EINVAL', `linux.resources.devices[${i}]: invalid device cgroup type "${t}"`);
    const accessText = r.access ?? 'rwm';
    let access = 0;
    for (const ch of accessText) {
      const bit = ACCESS_BITS[ch];
      if (bit === undefined) throw new TrunError('EINVAL', `linux.resources.devices[${i}]: invalid device cgroup access "${accessText}"`);
      access |= bit;
    }
    const num = (n: number | undefined): number | null => (n === undefined || n < 0 ? null : n);
    return { allow: r.allow, type, major: num(r.major), minor: num(r.minor), access };
  });
}

/** The reference decision, straight from the rules (the program must agree; tests compare). */
export function deviceAllowed(rules: readonly DeviceRule[], type: number, major: number, minor: number, access: number): boolean {
  let undecided = access;
  for (let i = rules.length - 1; i >= 0 && undecided !== 0; i--) {
    const r = rules[i] as DeviceRule;
    if (!matches(r, type, major, minor) || (undecided & r.access) === 0) continue;
    if (!r.allow) return false;
    undecided &= ~r.access;
  }
  return true;
}

function matches(r: DeviceRule, type: number, major: number, minor: number): boolean {
  return (r.type === null || r.type === type) && (r.major === null || r.major === major) && (r.minor === null || r.minor === minor);
}

// ---- eBPF encoding -------------------------------------------------------------------------
// An instruction is u8 opcode, u8 (src << 4 | dst), s16 offset, s32 immediate, packed little
// endian into one u64 (what the init's 'v' vector carries and the kernel's struct bpf_insn is).

export const BPF = {
  LDX_MEM_W: 0x61, // dst = *(u32 *)(src + off)
  ALU_AND_K: 0x54, // dst32 &= imm
  ALU_RSH_K: 0x74, // dst32 >>= imm
  ALU_MOV_K: 0xb4, // dst32 = imm
  ALU_MOV_X: 0xbc, // dst32 = src32
  JMP_JA: 0x05, // pc += off
  JMP_JEQ_K: 0x15, // if dst == imm: pc += off
  JMP_JNE_K: 0x55, // if dst != imm: pc += off
  EXIT: 0x95, // return r0
} as const;

export function insn(code: number, dst: number, src: number, off: number, imm: number): bigint {
  return (
    BigInt(code & 0xff) |
    (BigInt(((src & 0xf) << 4) | (dst & 0xf)) << 8n) |
    (BigInt(off & 0xffff) << 16n) |
    (BigInt(imm >>> 0) << 32n)
  );
}

export interface Insn {
  code: number;
  dst: number;
  src: number;
  off: number;
  imm: number;
}

export function decodeInsn(v: bigint): Insn {
  const off = Number((v >> 16n) & 0xffffn);
  const imm = Number((v >> 32n) & 0xffffffffn);
  return {
    code: Number(v & 0xffn),
    dst: Number((v >> 8n) & 0xfn),
    src: Number((v >> 12n) & 0xfn),
    off: off >= 0x8000 ? off - 0x10000 : off,
    imm: imm >= 0x80000000 ? imm - 0x100000000 : imm,
  };
}

// Registers: r1 the context (then scratch), r2 type, r3 the requested bits still undecided,
// r4 major, r5 minor, r0 the verdict.
const R0 = 0, R1 = 1, R2 = 2, R3 = 3, R4 = 4, R5 = 5;

/** One rule's block; every jump in it leads to the block's end (the next rule). */
function ruleBlock(r: DeviceRule): bigint[] {
  // Built with placeholder offsets (-1 means "to the end"), patched once the length is known.
  const body: Array<[code: number, dst: number, src: number, off: number | 'end', imm: number]> = [];
  if (r.type !== null) body.push([BPF.JMP_JNE_K, R2, 0, 'end', r.type]);
  if (r.major !== null) body.push([BPF.JMP_JNE_K, R4, 0, 'end', r.major]);
  if (r.minor !== null) body.push([BPF.JMP_JNE_K, R5, 0, 'end', r.minor]);
  if (r.allow) {
    // These bits are allowed; done when nothing requested is left to decide.
    body.push([BPF.ALU_AND_K, R3, 0, 0, ~r.access & ACC_ALL]);
    body.push([BPF.JMP_JNE_K, R3, 0, 'end', 0]);
    body.push([BPF.ALU_MOV_K, R0, 0, 0, 1]);
  } else {
    // A requested bit this rule names and no later rule allowed: denied.
    body.push([BPF.ALU_MOV_X, R1, R3, 0, 0]);
    body.push([BPF.ALU_AND_K, R1, 0, 0, r.access]);
    body.push([BPF.JMP_JEQ_K, R1, 0, 'end', 0]);
    body.push([BPF.ALU_MOV_K, R0, 0, 0, 0]);
  }
  body.push([BPF.EXIT, 0, 0, 0, 0]);
  return body.map(([code, dst, src, off, imm], i) => insn(code, dst, src, off === 'end' ? body.length - i - 1 : off, imm));
}

/**
 * The program for the rules. Rules before the last full wildcard ("a *:* rwm", allow or deny)
 * cannot matter and are dropped; the rest are checked last first.
 */
export function compileDeviceFilter(rules: readonly DeviceRule[]): bigint[] {
  let start = 0;
  rules.forEach((r, i) => {
    if (r.type === null && r.major === null && r.minor === null && r.access === ACC_ALL) start = i;
  });
  const prog: bigint[] = [
    insn(BPF.LDX_MEM_W, R2, R1, 0, 0),
    insn(BPF.ALU_AND_K, R2, 0, 0, 0xffff),
    insn(BPF.LDX_MEM_W, R3, R1, 0, 0),
    insn(BPF.ALU_RSH_K, R3, 0, 0, 16),
    insn(BPF.LDX_MEM_W, R4, R1, 4, 0),
    insn(BPF.LDX_MEM_W, R5, R1, 8, 0),
  ];
  for (let i = rules.length - 1; i >= start; i--) prog.push(...ruleBlock(rules[i] as DeviceRule));
  // Nothing decided the remaining bits: the initial state, allow.
  prog.push(insn(BPF.ALU_MOV_K, R0, 0, 0, 1), insn(BPF.EXIT, 0, 0, 0, 0));
  return prog;
}
