// The cgroup v2 device filter compiler: the program is run in a tiny eBPF interpreter against a
// table of requests, and cross-checked with the reference decision on many more.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  BPF,
  BPF_DEVCG_ACC_MKNOD as M,
  BPF_DEVCG_ACC_READ as R,
  BPF_DEVCG_ACC_WRITE as W,
  BPF_DEVCG_DEV_BLOCK as BLK,
  BPF_DEVCG_DEV_CHAR as CHR,
  compileDeviceFilter,
  decodeInsn,
  deviceAllowed,
  normalizeDeviceRules,
  type DeviceRuleInput,
} from '../../runtime/linux/cgroups/bpf-devices';
import { DEFAULT_DEVICE_RULES } from '../../runtime/linux/devices';

/** Runs a CGROUP_DEVICE program on one request; throws on anything the compiler should not emit. */
function run(prog: bigint[], type: number, major: number, minor: number, access: number): number {
  const ctx = [((access << 16) | type) >>> 0, major >>> 0, minor >>> 0];
  const reg = new Array<number>(11).fill(0);
  for (let pc = 0, steps = 0; ; pc++, steps++) {
    if (pc < 0 || pc >= prog.length) throw new Error(`pc ${pc} out of the program`);
    if (steps > 10_000) throw new Error('no exit');
    const i = decodeInsn(prog[pc] as bigint);
    const imm = i.imm >>> 0;
    switch (i.code) {
      case BPF.LDX_MEM_W:
        if (i.src !== 1 || i.off % 4 !== 0 || i.off < 0 || i.off > 8) throw new Error(`bad load at ${pc}`);
        reg[i.dst] = ctx[i.off / 4] as number;
        break;
      case BPF.ALU_AND_K: reg[i.dst] = ((reg[i.dst] as number) & imm) >>> 0; break;
      case BPF.ALU_RSH_K: reg[i.dst] = (reg[i.dst] as number) >>> imm; break;
      case BPF.ALU_MOV_K: reg[i.dst] = imm; break;
      case BPF.ALU_MOV_X: reg[i.dst] = reg[i.src] as number; break;
      case BPF.JMP_JA: pc += i.off; break;
      case BPF.JMP_JEQ_K: if (reg[i.dst] === imm) pc += i.off; break;
      case BPF.JMP_JNE_K: if (reg[i.dst] !== imm) pc += i.off; break;
      case BPF.EXIT: return reg[0] as number;
      default: throw new Error(`unexpected opcode 0x${i.code.toString(16)} at ${pc}`);
    }
  }
}

const denyAll: DeviceRuleInput = { allow: false, access: 'rwm' };
/** What create hands the filter: the config's rules, then trun's defaults. */
const withDefaults = (rules: DeviceRuleInput[]) => normalizeDeviceRules([...rules, ...DEFAULT_DEVICE_RULES]);

type Row = [what: string, type: number, major: number, minor: number, access: number, allowed: boolean];

function check(rules: DeviceRuleInput[], rows: Row[]): void {
  const norm = withDefaults(rules);
  const prog = compileDeviceFilter(norm);
  for (const [what, type, major, minor, access, allowed] of rows) {
    assert.is(run(prog, type, major, minor, access), allowed ? 1 : 0, `${what} (program)`);
    assert.is(deviceAllowed(norm, type, major, minor, access), allowed, `${what} (reference)`);
  }
}

test('deny-all then the defaults: only the default devices, ptys and mknod', () => {
  check([denyAll], [
    ['read /dev/null', CHR, 1, 3, R, true],
    ['rw /dev/null', CHR, 1, 3, R | W, true],
    ['rw /dev/full', CHR, 1, 7, R | W, true],
    ['rw /dev/tty', CHR, 5, 0, R | W, true],
    ['/dev/ptmx', CHR, 5, 2, R | W, true],
    ['a pty', CHR, 136, 7, R | W, true],
    ['read /dev/fuse', CHR, 10, 229, R, false],
    ['read /dev/mem', CHR, 1, 1, R, false],
    ['block 8:0 read', BLK, 8, 0, R, false],
    ['mknod /dev/fuse', CHR, 10, 229, M, true],
    ['mknod a block device', BLK, 8, 0, M, true],
    ['mknod+read /dev/fuse', CHR, 10, 229, M | R, false],
    ['char 1:3 is not block 1:3', BLK, 1, 3, R, false],
  ]);
});

test('an allow rule for a device makes it usable; access letters are honoured', () => {
  check([denyAll, { allow: true, type: 'c', major: 10, minor: 229, access: 'r' }], [
    ['read /dev/fuse', CHR, 10, 229, R, true],
    ['write /dev/fuse', CHR, 10, 229, W, false],
    ['rw /dev/fuse', CHR, 10, 229, R | W, false],
    ['read 10:200', CHR, 10, 200, R, false],
  ]);
});

test('wildcards in type, major and minor', () => {
  check([denyAll, { allow: true, type: 'c', major: 10, access: 'rw' }, { allow: true, type: 'a', major: 8, minor: 0, access: 'r' }], [
    ['any minor of 10', CHR, 10, 1, R | W, true],
    ['block 10:1', BLK, 10, 1, R, false],
    ['block 8:0 read', BLK, 8, 0, R, true],
    ['char 8:0 read', CHR, 8, 0, R, true],
    ['block 8:0 write', BLK, 8, 0, W, false],
    ['block 8:1 read', BLK, 8, 1, R, false],
  ]);
});

test('later rules win: a deny after an allow, an allow after a deny', () => {
  check([denyAll, { allow: true, type: 'c', major: 10, access: 'rw' }, { allow: false, type: 'c', major: 10, minor: 229, access: 'w' }], [
    ['read 10:229 still allowed', CHR, 10, 229, R, true],
    ['write 10:229 denied', CHR, 10, 229, W, false],
    ['rw 10:229 denied', CHR, 10, 229, R | W, false],
    ['write 10:1 allowed', CHR, 10, 1, W, true],
  ]);
  // The defaults come last: a config deny of /dev/null is overridden by them, as with v1.
  check([denyAll, { allow: false, type: 'c', major: 1, minor: 3, access: 'rwm' }], [['/dev/null', CHR, 1, 3, R | W, true]]);
});

test('without a deny-all the initial state allows everything', () => {
  check([{ allow: false, type: 'c', major: 10, minor: 229, access: 'rw' }], [
    ['fuse denied', CHR, 10, 229, R, false],
    ['fuse mknod (default rule allows)', CHR, 10, 229, M, true],
    ['anything else', BLK, 8, 0, R | W, true],
  ]);
  const prog = compileDeviceFilter([]);
  assert.is(run(prog, CHR, 10, 229, R | W | M), 1);
});

test('an allow-all after a deny-all drops the rules before it', () => {
  const rules = normalizeDeviceRules([denyAll, { allow: false, type: 'c', major: 1, access: 'r' }, { allow: true, access: 'rwm' }]);
  const prog = compileDeviceFilter(rules);
  assert.ok(prog.length < compileDeviceFilter(rules.slice(0, 2)).length + 2);
  assert.is(run(prog, CHR, 1, 3, R), 1);
});

test('the program agrees with the reference decision on many rule sets and requests', () => {
  let seed = 42;
  const rnd = (n: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const pick = <T>(xs: readonly T[]): T => xs[rnd(xs.length)] as T;
  for (let k = 0; k < 200; k++) {
    const rules: DeviceRuleInput[] = [];
    for (let n = rnd(6); n > 0; n--) {
      const r: DeviceRuleInput = { allow: rnd(2) === 0, type: pick(['a', 'b', 'c']), access: pick(['r', 'w', 'm', 'rw', 'rm', 'wm', 'rwm']) };
      if (rnd(3) > 0) r.major = rnd(3);
      if (rnd(3) > 0) r.minor = rnd(3);
      rules.push(r);
    }
    if (rnd(2) === 0) rules.unshift(denyAll);
    const norm = normalizeDeviceRules(rules);
    const prog = compileDeviceFilter(norm);
    for (const type of [BLK, CHR]) {
      for (let major = 0; major < 3; major++) {
        for (let minor = 0; minor < 3; minor++) {
          for (let access = 1; access < 8; access++) {
            assert.is(run(prog, type, major, minor, access) === 1, deviceAllowed(norm, type, major, minor, access), JSON.stringify({ rules, type, major, minor, access }));
          }
        }
      }
    }
  }
});

test('invalid types and access letters are refused', () => {
  assert.throws(() => normalizeDeviceRules([{ allow: true, type: 'x', access: 'r' }]), /invalid device cgroup type "x"/);
  assert.throws(() => normalizeDeviceRules([{ allow: true, type: 'c', access: 'rx' }]), /invalid device cgroup access "rx"/);
});

test('instructions encode as struct bpf_insn, little endian', () => {
  const prog = compileDeviceFilter([]);
  // r2 = *(u32 *)(r1 + 0): opcode 0x61, src 1 dst 2.
  assert.is(prog[0], 0x1261n);
  // r4 = *(u32 *)(r1 + 4): offset in bytes 2-3.
  assert.is(prog[4], 0x0004_1461n);
  const last = decodeInsn(prog[prog.length - 1] as bigint);
  assert.is(last.code, BPF.EXIT);
});

test.run();
