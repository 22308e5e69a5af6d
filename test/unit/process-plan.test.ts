// Process attributes (scheduler, I/O priority, personality, CPU affinity), the session keyring
// and the terminal relay in the create and exec plans. Pure: no root, no kernel.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { defaultSpec } from '../../runtime/defaults';
import { TrunError } from '../../runtime/errors';
import { EXEC_CGROUP_SYNC, compileExecPlan, execNeedsCgroupSync, type ExecPlanInput } from '../../runtime/exec-plan';
import { CloneMode, OpCode, RelayFlag, type Op } from '../../runtime/init/protocol';
import { cpuListMask, ioPriorityOp, personalityOp, schedulerOp } from '../../runtime/linux/process-attrs';
import { compileCreatePlan, type CreatePlanInput } from '../../runtime/plan';
import { processSteps } from '../../runtime/process-plan';
import type { IOPriority, LinuxPersonality, Process, Scheduler, Spec } from '../../spec/types/runtime';
import { expectTrunError } from '../helpers/errors';

const host = { apparmor: false, selinux: false };

function spec(mut: (s: Spec) => void = () => {}): Spec {
  const s = defaultSpec({ terminal: false, args: ['/bin/echo', 'hi'] });
  mut(s);
  return s;
}

function createInput(s: Spec, extra: Partial<CreatePlanInput> = {}): CreatePlanInput {
  return {
    id: 'c1', spec: s, bundle: '/b', fifoPath: '/run/trun/c1/exec.fifo', preserveFds: 0, noPivot: false,
    cgroupMounts: [{ name: '', fstype: 'cgroup2', options: '', hostPath: '/sys/fs/cgroup/trun/c1' }],
    isDirectory: () => true, host, ...extra,
  };
}

function execInput(proc: Partial<Process>, extra: Partial<ExecPlanInput> = {}): ExecPlanInput {
  return {
    id: 'c1', initPid: 42, namespaces: ['pid', 'mount'], process: { cwd: '/', args: ['sh'], ...proc },
    linux: undefined, detach: false, preserveFds: 0, host, ...extra,
  };
}

const codes = (ops: Op[]) => ops.map((o) => o.op);
const ofType = <T extends OpCode>(ops: Op[], code: T) => ops.filter((o): o is Extract<Op, { op: T }> => o.op === code);

/** Asserts that fn throws a TrunError whose message matches. */
const throwsField = (fn: () => unknown, pattern: RegExp): void => { expectTrunError(fn, undefined, pattern); };

// ---- scheduler ----------------------------------------------------------------------------

test('scheduler: names become numbers, defaults are 0', () => {
  assert.equal(schedulerOp('c', { policy: 'SCHED_BATCH', nice: 5 }), {
    op: OpCode.SCHEDULER, policy: 3, flags: 0n, nice: 5, priority: 0, runtime: 0n, deadline: 0n, period: 0n,
  });
  const fifo = schedulerOp('c', { policy: 'SCHED_FIFO', priority: 10, flags: ['SCHED_FLAG_RESET_ON_FORK', 'SCHED_FLAG_KEEP_PARAMS'] });
  assert.equal(fifo, { op: OpCode.SCHEDULER, policy: 1, flags: 0x11n, nice: 0, priority: 10, runtime: 0n, deadline: 0n, period: 0n });
  const policies: Array<[Scheduler['policy'], number]> = [['SCHED_OTHER', 0], ['SCHED_RR', 2], ['SCHED_IDLE', 5]];
  for (const [name, n] of policies) {
    const o = schedulerOp('c', name === 'SCHED_RR' ? { policy: name, priority: 1 } : { policy: name });
    assert.is((o as Extract<Op, { op: OpCode.SCHEDULER }>).policy, n, name);
  }
  const dl = schedulerOp('c', { policy: 'SCHED_DEADLINE', runtime: 10_000_000, deadline: 30_000_000, period: 100_000_000 });
  assert.equal(dl, { op: OpCode.SCHEDULER, policy: 6, flags: 0n, nice: 0, priority: 0, runtime: 10_000_000n, deadline: 30_000_000n, period: 100_000_000n });
});

test('scheduler: bad values name their field', () => {
  const bad: Array<[Scheduler, RegExp]> = [
    [{ policy: 'SCHED_WHATEVER' as Scheduler['policy'] }, /process\.scheduler\.policy: unknown policy "SCHED_WHATEVER"/],
    [{ policy: 'SCHED_ISO' }, /process\.scheduler\.policy: SCHED_ISO is not implemented by Linux/],
    [{ policy: 'SCHED_OTHER', nice: 20 }, /process\.scheduler\.nice: 20 is out of range/],
    [{ policy: 'SCHED_OTHER', nice: -21 }, /process\.scheduler\.nice: -21/],
    [{ policy: 'SCHED_OTHER', nice: 1.5 }, /process\.scheduler\.nice/],
    [{ policy: 'SCHED_FIFO' }, /process\.scheduler\.priority: 0 is out of range for SCHED_FIFO \(1 to 99\)/],
    [{ policy: 'SCHED_RR', priority: 100 }, /process\.scheduler\.priority: 100/],
    [{ policy: 'SCHED_BATCH', priority: 3 }, /process\.scheduler\.priority: only SCHED_FIFO and SCHED_RR/],
    [{ policy: 'SCHED_OTHER', flags: ['SCHED_FLAG_NOPE' as 'SCHED_FLAG_RECLAIM'] }, /process\.scheduler\.flags: unsupported flag "SCHED_FLAG_NOPE"/],
    [{ policy: 'SCHED_OTHER', flags: ['SCHED_FLAG_UTIL_CLAMP_MAX'] }, /process\.scheduler\.flags: unsupported flag "SCHED_FLAG_UTIL_CLAMP_MAX"/],
    [{ policy: 'SCHED_OTHER', runtime: 5 }, /process\.scheduler\.runtime: .*SCHED_DEADLINE only/],
    [{ policy: 'SCHED_DEADLINE', runtime: 100, deadline: 1000 }, /process\.scheduler\.runtime: SCHED_DEADLINE needs a runtime of at least 1024 ns/],
    [{ policy: 'SCHED_DEADLINE', runtime: 5000, deadline: 1000 }, /process\.scheduler\.deadline: must be at least the runtime/],
    [{ policy: 'SCHED_DEADLINE', runtime: 5000, deadline: 9000, period: 8000 }, /process\.scheduler\.period: must be at least the deadline/],
    [{ policy: 'SCHED_DEADLINE', runtime: -1 }, /process\.scheduler\.runtime: must be a non-negative integer/],
  ];
  for (const [s, re] of bad) throwsField(() => schedulerOp('c', s), re);
});

// ---- io priority, personality, cpu lists --------------------------------------------------

test('ioPriority: classes and levels', () => {
  assert.equal(ioPriorityOp('c', { class: 'IOPRIO_CLASS_RT', priority: 0 }), { op: OpCode.IOPRIO, ioClass: 1, level: 0 });
  assert.equal(ioPriorityOp('c', { class: 'IOPRIO_CLASS_BE', priority: 7 }), { op: OpCode.IOPRIO, ioClass: 2, level: 7 });
  assert.equal(ioPriorityOp('c', { class: 'IOPRIO_CLASS_IDLE' }), { op: OpCode.IOPRIO, ioClass: 3, level: 0 });
  throwsField(() => ioPriorityOp('c', { class: 'IOPRIO_CLASS_NONE' as IOPriority['class'], priority: 0 }), /process\.ioPriority\.class: unknown class "IOPRIO_CLASS_NONE"/);
  throwsField(() => ioPriorityOp('c', { class: 'IOPRIO_CLASS_BE', priority: 8 }), /process\.ioPriority\.priority: 8 is out of range \(0 to 7\)/);
  throwsField(() => ioPriorityOp('c', { class: 'IOPRIO_CLASS_BE', priority: -1 }), /process\.ioPriority\.priority: -1/);
});

test('personality: domains, no flags', () => {
  assert.equal(personalityOp('c', { domain: 'LINUX' }), { op: OpCode.PERSONALITY, persona: 0 });
  assert.equal(personalityOp('c', { domain: 'LINUX32', flags: [] }), { op: OpCode.PERSONALITY, persona: 8 });
  throwsField(() => personalityOp('c', { domain: 'LINUX64' as LinuxPersonality['domain'] }), /linux\.personality\.domain: unknown domain "LINUX64"/);
  throwsField(() => personalityOp('c', {}), /linux\.personality\.domain: must be set/);
  throwsField(() => personalityOp('c', { domain: 'LINUX', flags: ['ADDR_NO_RANDOMIZE'] }), /linux\.personality\.flags: unsupported flag "ADDR_NO_RANDOMIZE"/);
});

test('cpu lists become 64-bit mask words', () => {
  assert.equal(cpuListMask('c', 'f', '0'), [1n]);
  assert.equal(cpuListMask('c', 'f', '0-3,7'), [0x8fn]);
  assert.equal(cpuListMask('c', 'f', ' 1 , 3-3'), [0xan]);
  assert.equal(cpuListMask('c', 'f', '63,64'), [1n << 63n, 1n]);
  assert.equal(cpuListMask('c', 'f', '130'), [0n, 0n, 4n]);
  for (const [list, re] of [['', /"" is not a cpu/], ['a', /"a" is not a cpu/], ['3-1', /range "3-1" goes backwards/], ['1,,2', /"" is not a cpu/], ['0-99999', /cpu 99999 is above/], ['-1', /"-1"/]] as const) {
    throwsField(() => cpuListMask('c', 'process.execCPUAffinity.final', list), new RegExp(`process\\.execCPUAffinity\\.final: invalid cpu list .*${re.source}`));
  }
});

// ---- where the ops go ---------------------------------------------------------------------

test('process steps: attributes first, before seccomp, capabilities and the user switch', () => {
  const s = spec((x) => {
    x.process!.scheduler = { policy: 'SCHED_FIFO', priority: 5 };
    x.process!.ioPriority = { class: 'IOPRIO_CLASS_RT', priority: 2 };
    x.process!.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 10, hard: 10 }];
    x.linux!.personality = { domain: 'LINUX32' };
    x.linux!.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO' }] };
  });
  const { prepare } = processSteps('c1', s.process!, s.linux, host, 0);
  const order = codes(prepare);
  const at = (c: OpCode) => order.indexOf(c);
  assert.equal(order.slice(0, 4), [OpCode.RLIMIT, OpCode.SCHEDULER, OpCode.IOPRIO, OpCode.PERSONALITY]);
  for (const later of [OpCode.SECCOMP_INIT, OpCode.SECCOMP_LOAD, OpCode.CAPBSET, OpCode.USER, OpCode.CAPSET]) {
    if (at(later) >= 0) assert.ok(at(OpCode.PERSONALITY) < at(later), `${OpCode[later]} comes after the attributes`);
  }
  assert.ok(at(OpCode.CAPBSET) > 0 && at(OpCode.USER) > 0);
});

test('process steps: nothing extra without the settings; errors carry the container id', () => {
  const s = spec();
  const { prepare } = processSteps('c1', s.process!, s.linux, host, 0);
  for (const c of [OpCode.SCHEDULER, OpCode.IOPRIO, OpCode.PERSONALITY, OpCode.CPU_AFFINITY]) assert.is(ofType(prepare, c).length, 0);
  try {
    processSteps('c9', { ...s.process!, ioPriority: { class: 'X' as IOPriority['class'] } }, s.linux, host, 0);
    assert.unreachable();
  } catch (e) {
    assert.is((e as TrunError).id, 'c9');
    assert.is((e as TrunError).code, 'EINVAL');
  }
});

test('create plan: execCPUAffinity is not for the container\'s init', () => {
  const { ops } = compileCreatePlan(createInput(spec((x) => { x.process!.execCPUAffinity = { initial: '0', final: '1' }; })));
  assert.is(ofType(ops, OpCode.CPU_AFFINITY).length, 0);
});

test('create plan: a session keyring named after the container, right after the clone', () => {
  const { ops } = compileCreatePlan(createInput(spec()));
  const keyrings = ofType(ops, OpCode.JOIN_SESSION_KEYRING);
  assert.equal(keyrings, [{ op: OpCode.JOIN_SESSION_KEYRING, name: '_ses.c1', perm: 0x00080000, optional: true }]);
  const order = codes(ops);
  const k = order.indexOf(OpCode.JOIN_SESSION_KEYRING);
  assert.ok(k > order.indexOf(OpCode.CLONE), 'in the container process');
  assert.ok(k < order.indexOf(OpCode.SET_ROOTFS), 'early, before the mounts');
  assert.ok(k < order.indexOf(OpCode.USER), 'before the user switch');
});

test('create plan: in a user namespace the keyring is searchable by others, after becoming root', () => {
  const s = spec((x) => {
    x.linux!.namespaces!.push({ type: 'user' });
    x.linux!.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
    x.linux!.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
  });
  const { ops } = compileCreatePlan(createInput(s));
  assert.is(ofType(ops, OpCode.JOIN_SESSION_KEYRING)[0]!.perm, 0x8);
  const order = codes(ops);
  assert.ok(order.indexOf(OpCode.SET_ID) < order.indexOf(OpCode.JOIN_SESSION_KEYRING));
});

test('create plan: --no-new-keyring keeps the caller\'s keyring', () => {
  const { ops } = compileCreatePlan(createInput(spec(), { noNewKeyring: true }));
  assert.is(ofType(ops, OpCode.JOIN_SESSION_KEYRING).length, 0);
});

test('create plan: a foreground terminal without console socket is relayed by the waiting init', () => {
  const s = spec((x) => { x.process!.terminal = true; });
  const { ops } = compileCreatePlan(createInput(s, { foreground: true }));
  const order = codes(ops);
  assert.equal(ofType(ops, OpCode.CONSOLE_RELAY), [{ op: OpCode.CONSOLE_RELAY, flags: RelayFlag.RAW }]);
  assert.ok(order.indexOf(OpCode.CONSOLE_RELAY) < order.indexOf(OpCode.CLONE));
  assert.ok(order.indexOf(OpCode.CONSOLE) > order.indexOf(OpCode.CLONE));
  assert.is(ofType(ops, OpCode.CLONE)[0]!.mode, CloneMode.WAIT);
  assert.is(ofType(ops, OpCode.OPEN_CONSOLE_SOCKET).length, 0);
});

test('create plan: detached terminals still need a console socket; with one there is no relay', () => {
  const s = spec((x) => { x.process!.terminal = true; });
  throwsField(() => compileCreatePlan(createInput(s)), /cannot allocate tty if trun will detach without setting console socket/);
  const { ops } = compileCreatePlan(createInput(s, { foreground: true, consoleSocket: '/tmp/c.sock' }));
  assert.is(ofType(ops, OpCode.CONSOLE_RELAY).length, 0);
  assert.is(ofType(ops, OpCode.OPEN_CONSOLE_SOCKET).length, 1);
});

test('exec plan: foreground -t relays; detached -t needs --console-socket', () => {
  const ops = compileExecPlan(execInput({ terminal: true }));
  const order = codes(ops);
  assert.ok(order.indexOf(OpCode.CONSOLE_RELAY) >= 0 && order.indexOf(OpCode.CONSOLE_RELAY) < order.indexOf(OpCode.CLONE));
  assert.is(ofType(ops, OpCode.CLONE)[0]!.mode, CloneMode.WAIT);
  throwsField(() => compileExecPlan(execInput({ terminal: true }, { detach: true })), /a terminal for a detached exec needs --console-socket/);
  assert.is(ofType(compileExecPlan(execInput({ terminal: true }, { consoleSocket: '/s' })), OpCode.CONSOLE_RELAY).length, 0);
  assert.is(ofType(compileExecPlan(execInput({})), OpCode.CONSOLE_RELAY).length, 0);
});

test('exec plan: initial affinity before the cgroup sync point, final after the clone', () => {
  const proc = { execCPUAffinity: { initial: '1', final: '0-1' } };
  assert.ok(execNeedsCgroupSync({ cwd: '/', ...proc }));
  const ops = compileExecPlan(execInput(proc));
  assert.equal(ops.slice(0, 2), [{ op: OpCode.CPU_AFFINITY, mask: [2n] }, { op: OpCode.SYNC, name: EXEC_CGROUP_SYNC }]);
  const order = codes(ops);
  const finalAt = order.lastIndexOf(OpCode.CPU_AFFINITY);
  assert.equal(ops[finalAt], { op: OpCode.CPU_AFFINITY, mask: [3n] });
  assert.ok(finalAt > order.indexOf(OpCode.CLONE) && finalAt < order.indexOf(OpCode.USER));
});

test('exec plan: only final, or empty lists, need no sync point', () => {
  const onlyFinal = compileExecPlan(execInput({ execCPUAffinity: { final: '0' } }));
  assert.is(ofType(onlyFinal, OpCode.SYNC).length, 0);
  assert.is(ofType(onlyFinal, OpCode.CPU_AFFINITY).length, 1);
  const empty = compileExecPlan(execInput({ execCPUAffinity: { initial: '', final: ' ' } }));
  assert.is(ofType(empty, OpCode.CPU_AFFINITY).length + ofType(empty, OpCode.SYNC).length, 0);
  assert.not.ok(execNeedsCgroupSync({ cwd: '/', args: ['x'], execCPUAffinity: { initial: '' } }));
  throwsField(() => compileExecPlan(execInput({ execCPUAffinity: { initial: 'x' } })), /process\.execCPUAffinity\.initial: invalid cpu list "x"/);
});

test('exec plan: scheduler, io priority and the container\'s personality apply to exec too', () => {
  const ops = compileExecPlan(execInput(
    { scheduler: { policy: 'SCHED_IDLE' }, ioPriority: { class: 'IOPRIO_CLASS_IDLE' } },
    { linux: { personality: { domain: 'LINUX32' } } },
  ));
  const order = codes(ops);
  for (const c of [OpCode.SCHEDULER, OpCode.IOPRIO, OpCode.PERSONALITY]) assert.ok(order.indexOf(c) > order.indexOf(OpCode.CLONE), OpCode[c]);
});

// ---- AppArmor ------------------------------------------------------------------------------

test('apparmor: the profile is written to the exec attribute the host has, before the exec', () => {
  const s = spec((x) => { x.process!.apparmorProfile = 'trun-default'; });
  const aa = { apparmor: true, selinux: false, apparmorLoaded: (p: string) => p === 'trun-default', apparmorExecAttr: '/proc/self/attr/exec' };
  const writes = ofType(processSteps('c1', s.process!, s.linux, aa, 0).prepare, OpCode.WRITE_FILE);
  assert.equal(writes.map((w) => [w.path, w.data]), [['/proc/self/attr/exec', 'exec trun-default']]);
  // Without a probe of its own, the attribute of Linux 5.8 and later.
  const bare = ofType(processSteps('c1', s.process!, s.linux, { apparmor: true, selinux: false }, 0).prepare, OpCode.WRITE_FILE);
  assert.is(bare[0]!.path, '/proc/self/attr/apparmor/exec');
});

test('apparmor: a profile the host has not loaded is refused by name; "unconfined" and an unknown list are not', () => {
  const aa = (loaded: boolean | undefined) => ({ apparmor: true, selinux: false, apparmorLoaded: () => loaded });
  const proc = (p: string) => spec((x) => { x.process!.apparmorProfile = p; }).process!;
  expectTrunError(() => processSteps('c7', proc('missing'), undefined, aa(false), 0), 'EINVAL', /apparmor profile "missing" is not loaded/);
  assert.is(ofType(processSteps('c7', proc('unconfined'), undefined, aa(false), 0).prepare, OpCode.WRITE_FILE).length, 1);
  assert.is(ofType(processSteps('c7', proc('missing'), undefined, aa(undefined), 0).prepare, OpCode.WRITE_FILE).length, 1);
});

// ---- capabilities ---------------------------------------------------------------------------

test('ambient capabilities the kernel would refuse (not permitted and inheritable) are left out', () => {
  const steps = processSteps('c1', {
    cwd: '/', args: ['sh'],
    capabilities: { permitted: ['CAP_KILL', 'CAP_CHOWN'], inheritable: ['CAP_CHOWN', 'CAP_NET_RAW'], ambient: ['CAP_KILL', 'CAP_CHOWN', 'CAP_NET_RAW'] },
  }, undefined, host, 0);
  const [capset] = ofType(steps.prepare, OpCode.CAPSET);
  assert.is(capset!.ambient, 1n << 0n); // CAP_CHOWN only
});

test.run();
