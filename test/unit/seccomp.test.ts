// Seccomp compilation: action and comparison names to libseccomp values; SCMP_ACT_NOTIFY's
// listener (validation, where the ops go, the container process state, error wording).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { features } from '../../runtime/commands/features';
import type { StateDocument } from '../../runtime/container';
import { OCI_VERSION, defaultSpec } from '../../runtime/defaults';
import { TrunError } from '../../runtime/errors';
import { compileExecPlan } from '../../runtime/exec-plan';
import { CapsetFlag, OpCode, type Op } from '../../runtime/init/protocol';
import {
  NOTIFY_REFUSED_SYSCALLS, SECCOMP_NOTIFY_SYNC, actionValue, containerProcessState, listenerError, seccompListener,
  seccompListenerOps, seccompOps,
} from '../../runtime/linux/seccomp';
import { compileCreatePlan } from '../../runtime/plan';
import { processSteps } from '../../runtime/process-plan';
import type { LinuxSeccomp, LinuxSyscall, Process, Spec } from '../../spec/types/runtime';
import { expectTrunError } from '../helpers/errors';

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
  assert.equal(ops.map((o) => o.op), [OpCode.SECCOMP_INIT, OpCode.SECCOMP_RULE, OpCode.SECCOMP_RULE, OpCode.SECCOMP_ENOSYS, OpCode.SECCOMP_LOAD]);
  const init = ops[0] as Extract<(typeof ops)[number], { op: OpCode.SECCOMP_INIT }>;
  assert.is(init.flags, 2);
  const rule = ops[1] as Extract<(typeof ops)[number], { op: OpCode.SECCOMP_RULE }>;
  assert.is(rule.syscall, 'read');
  assert.equal(rule.args, [0n, 1n, 0n, 4n]);
});

test('the -ENOSYS stub: the names of every rule, the native architecture always; none for a permissive or ENOSYS default', () => {
  const syscalls: LinuxSyscall[] = [
    { names: ['read', 'write'], action: 'SCMP_ACT_ALLOW' },
    { names: ['mkdir', 'read'], action: 'SCMP_ACT_ERRNO' }, // same as the default: no rule, but it counts
  ];
  const stub = (seccomp: LinuxSeccomp) => seccompOps('c', seccomp).build.filter((o) => o.op === OpCode.SECCOMP_ENOSYS);
  assert.equal(stub({ defaultAction: 'SCMP_ACT_ERRNO', architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X32'], syscalls }), [
    { op: OpCode.SECCOMP_ENOSYS, architectures: ['SCMP_ARCH_NATIVE', 'SCMP_ARCH_X86_64', 'SCMP_ARCH_X32'], syscalls: ['read', 'write', 'mkdir'] },
  ]);
  for (const defaultAction of ['SCMP_ACT_KILL', 'SCMP_ACT_KILL_PROCESS', 'SCMP_ACT_TRAP'] as const) {
    assert.is(stub({ defaultAction, syscalls }).length, 1, defaultAction);
  }
  for (const defaultAction of ['SCMP_ACT_ALLOW', 'SCMP_ACT_LOG', 'SCMP_ACT_TRACE'] as const) {
    assert.is(stub({ defaultAction, syscalls }).length, 0, defaultAction);
  }
  assert.is(stub({ defaultAction: 'SCMP_ACT_ERRNO', defaultErrnoRet: 38, syscalls }).length, 0);
  assert.is(stub({ defaultAction: 'SCMP_ACT_ERRNO', defaultErrnoRet: 1, syscalls }).length, 1);
});

test('bad comparisons are refused', () => {
  assert.throws(() => seccompOps('c', { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['x'], action: 'SCMP_ACT_ERRNO', args: [{ index: 7, value: 1, op: 'SCMP_CMP_EQ' }] }] }), /index: must be 0 to 5/);
});

// ---- SCMP_ACT_NOTIFY and the listener --------------------------------------------------------

const notifyRule: LinuxSyscall = { names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_NOTIFY' };
const withListener = (extra: Partial<LinuxSeccomp> = {}): LinuxSeccomp => ({
  defaultAction: 'SCMP_ACT_ALLOW', listenerPath: '/run/agent.sock', listenerMetadata: 'm', syscalls: [notifyRule], ...extra,
});

test('SCMP_ACT_NOTIFY is libseccomp\'s 0x7fc00000, and trun features lists it', () => {
  assert.is(actionValue('c', 'f', 'SCMP_ACT_NOTIFY', undefined), 0x7fc00000);
  const f = features() as { linux: { seccomp: { actions: string[] } }; annotations: Record<string, string> };
  assert.ok(f.linux.seccomp.actions.includes('SCMP_ACT_NOTIFY'));
  assert.is(f.annotations['trun.linux.seccomp.notify.refusedSyscalls'], 'sendmsg,shutdown');
});

test('listenerPath is used only with a NOTIFY rule, and ignored otherwise (even a bad one)', () => {
  assert.is(seccompListener('c', withListener()), '/run/agent.sock');
  assert.is(seccompListener('c', undefined), undefined);
  for (const listenerPath of ['/run/agent.sock', 'relative.sock', '@abstract', '']) {
    const seccomp: LinuxSeccomp = { defaultAction: 'SCMP_ACT_ALLOW', listenerPath, syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO' }] };
    assert.is(seccompListener('c', seccomp), undefined, listenerPath);
    assert.equal(seccompListenerOps('c', seccomp), []);
    assert.equal(seccompOps('c', seccomp).load, [{ op: OpCode.SECCOMP_LOAD }]);
  }
});

test('a NOTIFY rule needs an absolute listenerPath; errors name the field and carry the id', () => {
  for (const listenerPath of [undefined, '']) {
    const e = expectTrunError(() => seccompOps('c7', withListener({ listenerPath })), 'EINVAL',
      /^linux\.seccomp\.listenerPath: must be set when a rule uses SCMP_ACT_NOTIFY \(seccomp listenerPath is not set\)$/);
    assert.is(e.id, 'c7');
  }
  for (const listenerPath of ['agent.sock', '@agent']) {
    expectTrunError(() => seccompListenerOps('c', withListener({ listenerPath })), 'EINVAL', new RegExp(`listenerPath: must be an absolute path: "${listenerPath}"`));
  }
});

test('NOTIFY is refused as the default action and for the calls that hand the fd over', () => {
  expectTrunError(() => seccompOps('c', withListener({ defaultAction: 'SCMP_ACT_NOTIFY' })), 'EINVAL', /defaultAction: SCMP_ACT_NOTIFY cannot be the default action/);
  for (const name of NOTIFY_REFUSED_SYSCALLS) {
    const syscalls: LinuxSyscall[] = [notifyRule, { names: ['read', name], action: 'SCMP_ACT_NOTIFY' }];
    expectTrunError(() => seccompOps('c', withListener({ syscalls })), 'EINVAL',
      new RegExp(`syscalls\\[1\\]: SCMP_ACT_NOTIFY cannot be used for "${name}": trun-init hands the notify fd to the listener with it`));
  }
  // Other actions on those calls are fine.
  seccompOps('c', withListener({ syscalls: [notifyRule, { names: ['sendmsg', 'shutdown'], action: 'SCMP_ACT_ERRNO' }] }));
});

test('with a listener: connect early, load with SECCOMP_LOAD_NOTIFY at the "seccomp" sync point', () => {
  assert.equal(seccompListenerOps('c', withListener()), [{ op: OpCode.SECCOMP_LISTENER, path: '/run/agent.sock' }]);
  const ops = seccompOps('c', withListener());
  assert.ok(ops.notify);
  assert.equal(ops.load, [{ op: OpCode.SECCOMP_LOAD_NOTIFY, sync: SECCOMP_NOTIFY_SYNC }]);
  assert.is(SECCOMP_NOTIFY_SYNC, 'seccomp');
  const rules = ops.build.filter((o): o is Extract<Op, { op: OpCode.SECCOMP_RULE }> => o.op === OpCode.SECCOMP_RULE);
  assert.equal(rules.map((r) => [r.syscall, r.action]), [['mkdir', 0x7fc00000], ['mkdirat', 0x7fc00000]]);
});

const host = { apparmor: false, selinux: false };
const codes = (ops: Op[]) => ops.map((o) => o.op);

function procWith(noNewPrivileges: boolean): Process {
  return { cwd: '/', args: ['sh'], noNewPrivileges, capabilities: { bounding: [], effective: [], permitted: [] } };
}

test('process steps: the filter is loaded last, with and without no_new_privs and a listener', () => {
  const plain: LinuxSeccomp = { defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ names: ['execve'], action: 'SCMP_ACT_ALLOW' }] };
  // With no_new_privs: after everything, execve alone follows.
  const late = processSteps('c', procWith(true), { seccomp: plain }, host, 0);
  assert.equal(codes(late.finish), [OpCode.EXEC_PREPARE, OpCode.SECCOMP_LOAD, OpCode.EXEC]);
  assert.equal(codes(late.prepare).slice(-2), [OpCode.CHDIR, OpCode.RESOLVE_EXEC]);
  // Without: CAP_SYS_ADMIN kept beside the final sets for the load, one capset after it.
  const early = processSteps('c', procWith(false), { seccomp: plain }, host, 0);
  assert.equal(codes(early.finish), [OpCode.EXEC_PREPARE, OpCode.SECCOMP_LOAD, OpCode.CAPSET, OpCode.EXEC]);
  const [raised, dropped] = [...early.prepare, ...early.finish].filter((o): o is Extract<Op, { op: OpCode.CAPSET }> => o.op === OpCode.CAPSET);
  assert.equal([raised!.effective, raised!.permitted, raised!.flags], [1n << 21n, 1n << 21n, 0]);
  assert.equal([dropped!.effective, dropped!.permitted, dropped!.flags], [0n, 0n, CapsetFlag.KEEP_AMBIENT]);
  // A process that keeps CAP_SYS_ADMIN needs no second capset.
  const admin = procWith(false);
  admin.capabilities = { effective: ['CAP_SYS_ADMIN'], permitted: ['CAP_SYS_ADMIN'] };
  assert.equal(codes(processSteps('c', admin, { seccomp: plain }, host, 0).finish), [OpCode.EXEC_PREPARE, OpCode.SECCOMP_LOAD, OpCode.EXEC]);
  // No capabilities object: nothing to keep CAP_SYS_ADMIN beside, the load comes before the user.
  const bare = processSteps('c', { cwd: '/', args: ['sh'] }, { seccomp: plain }, host, 0);
  assert.ok(codes(bare.prepare).indexOf(OpCode.SECCOMP_LOAD) < codes(bare.prepare).indexOf(OpCode.USER));
  // A listener: for create, last in prepare (trun answers its sync point); for exec, before the exec.
  for (const nnp of [true, false]) {
    const notify = processSteps('c', procWith(nnp), { seccomp: withListener() }, host, 0);
    assert.equal(codes(notify.prepare).slice(-1), [OpCode.SECCOMP_LOAD_NOTIFY]);
    const exec = processSteps('c', procWith(nnp), { seccomp: withListener() }, host, 0, { waitsForStart: false });
    assert.equal(codes(exec.finish).slice(0, 2), [OpCode.EXEC_PREPARE, OpCode.SECCOMP_LOAD_NOTIFY]);
    // A hook's filter: no hand-over.
    const hook = processSteps('c', procWith(nnp), { seccomp: withListener() }, host, 0, { waitsForStart: false, listener: false });
    assert.ok(codes(hook.finish).includes(OpCode.SECCOMP_LOAD));
  }
});

function createSpec(seccomp: LinuxSeccomp, noNewPrivileges: boolean): Spec {
  const s = defaultSpec({ terminal: false, args: ['sh'] });
  s.process!.noNewPrivileges = noNewPrivileges;
  s.linux!.seccomp = seccomp;
  s.linux!.namespaces = s.linux!.namespaces!.map((n) => (n.type === 'network' ? { type: 'network', path: '/var/run/netns/x' } : n));
  return s;
}

test('create plan: the listener is reached before any setns and the clone; the fd goes over before "created"', () => {
  for (const nnp of [true, false]) {
    const { ops } = compileCreatePlan({
      id: 'c1', spec: createSpec(withListener(), nnp), bundle: '/b', fifoPath: '/run/trun/c1/exec.fifo', preserveFds: 0, noPivot: false,
      cgroupMounts: [{ name: '', fstype: 'cgroup2', options: '', hostPath: '/sys/fs/cgroup/trun/c1' }], isDirectory: () => true, host,
    });
    const order = codes(ops);
    const at = (c: OpCode) => order.indexOf(c);
    assert.is(order.filter((c) => c === OpCode.SECCOMP_LISTENER).length, 1);
    assert.ok(at(OpCode.SECCOMP_LISTENER) < at(OpCode.SETNS), 'before joining namespaces');
    assert.ok(at(OpCode.SECCOMP_LISTENER) < at(OpCode.CLONE), 'in the first process');
    const created = ops.findIndex((o) => o.op === OpCode.SYNC && o.name === 'created');
    assert.ok(at(OpCode.SECCOMP_LOAD_NOTIFY) > at(OpCode.PIVOT_ROOT) && at(OpCode.SECCOMP_LOAD_NOTIFY) < created, `noNewPrivileges=${nnp}`);
    assert.is(at(OpCode.SECCOMP_LOAD), -1);
  }
});

test('exec plan: the listener is reached before the setns, the fd goes over after the clone', () => {
  const ops = compileExecPlan({
    id: 'c1', initPid: 42, namespaces: ['pid', 'mount'], process: procWith(true), linux: { seccomp: withListener() }, detach: false, preserveFds: 0, host,
  });
  const order = codes(ops);
  const at = (c: OpCode) => order.indexOf(c);
  assert.ok(at(OpCode.SECCOMP_LISTENER) >= 0 && at(OpCode.SECCOMP_LISTENER) < at(OpCode.SETNS));
  assert.ok(at(OpCode.SECCOMP_LOAD_NOTIFY) > at(OpCode.CLONE));
  assert.equal(order.slice(-3), [OpCode.EXEC_PREPARE, OpCode.SECCOMP_LOAD_NOTIFY, OpCode.EXEC]);
});

const stateDoc: StateDocument = {
  ociVersion: '1.0.2', id: 'c1', status: 'creating', pid: 4422, bundle: '/b', rootfs: '/b/rootfs', created: 't', owner: 'root', annotations: { k: 'v' },
};

test('the container process state: spec fields, metadata only when set', () => {
  assert.equal(containerProcessState(withListener(), 4422, stateDoc), { ociVersion: OCI_VERSION, fds: ['seccompFd'], pid: 4422, metadata: 'm', state: stateDoc });
  const bare = containerProcessState(withListener({ listenerMetadata: undefined }), 7, stateDoc);
  assert.not.ok('metadata' in bare);
  assert.is(bare.pid, 7);
});

test('init failures to reach the listener are restated with the container id, the path and the call', () => {
  const seccomp = withListener();
  const connect = listenerError('c1', seccomp, new TrunError('EINIT', 'seccomp_listener: connect "/run/agent.sock": connection refused', { id: 'c1' }));
  assert.instance(connect, TrunError);
  const c = connect as TrunError;
  assert.is(c.message, 'container "c1": seccomp listener: connect "/run/agent.sock": connection refused');
  assert.equal([c.id, c.path, c.syscall, c.code], ['c1', '/run/agent.sock', 'connect', 'EINIT']);
  const send = listenerError('c1', seccomp, new TrunError('EINIT', 'seccomp_load_notify: sendmsg the notify fd and the container process state: broken pipe')) as TrunError;
  assert.is(send.message, 'container "c1": seccomp listener "/run/agent.sock": sendmsg the notify fd and the container process state: broken pipe');
  assert.is(send.syscall, 'sendmsg');
  const dir = listenerError('c1', seccomp, new TrunError('EINIT', 'seccomp_listener: open directory of "/run/agent.sock": no such file or directory')) as TrunError;
  assert.is(dir.syscall, 'open');
  // Anything else is left as it is.
  for (const e of [new TrunError('EINIT', 'seccomp_load_notify: load filter: invalid argument'), new TrunError('EINIT', 'mount: connect "/x": y'), new Error('x')]) {
    assert.is(listenerError('c1', seccomp, e), e);
  }
});

test.run();
