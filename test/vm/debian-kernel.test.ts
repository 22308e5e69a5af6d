// What this machine's kernel cannot show, shown in guests running Debian's kernel under qemu
// (test/helpers/vm.ts): a pure cgroup2 host with every controller, where the runtime's cgroup
// suites run unchanged; AppArmor (test/guest/apparmor.test.ts) and SELinux
// (test/guest/selinux.test.ts) applied to real containers. Two boots: a kernel runs one of
// AppArmor and SELinux at a time.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { failuresOf, runInVm, suiteTotals, vmAvailable, type VmRun } from '../helpers/vm';

/** The suites whose behaviour depends on the cgroup layout, run again on a pure v2 host. */
const CGROUP_SUITES = '(cgroups-manager|cgroup-commands|devices-ebpf|oom-events|exec|lifecycle)';

/** A job printing the guest's layout, then each suite's output under "== name". */
function job(suites: Array<[name: string, command: string]>): string {
  return [
    'echo "mounts: $(grep -c " cgroup " /proc/self/mounts) v1, $(grep -c " cgroup2 " /proc/self/mounts) v2"',
    'echo "lsm: $(cat /sys/kernel/security/lsm)"',
    ...suites.flatMap(([name, command]) => [`echo "== ${name}"`, command]),
    'echo "== end"',
  ].join('\n');
}

/** Asserts the suite printed under "== name" passed at least `min` tests and failed none. */
function assertSuite(r: VmRun, name: string, min: number): void {
  const out = r.out.split(`== ${name}\n`)[1]?.split('\n== ')[0] ?? '';
  const totals = suiteTotals(out);
  assert.ok(totals && totals.failed === 0 && totals.passed >= min, `${name} in the guest:\n${failuresOf(out)}`);
}

function assertFinished(r: VmRun): void {
  assert.is(r.rc, 0, `the guest job did not finish:\n${r.out}\n${r.console.slice(-4000)}`);
  assert.match(r.out, /^mounts: 0 v1, 1 v2$/m, 'the guest is a pure cgroup2 host');
}

test.before(() => {
  const missing = vmAvailable();
  assert.not.ok(missing, missing);
});

test('pure cgroup2 with AppArmor: the cgroup suites and the AppArmor tests pass', async () => {
  const r = await runInVm(job([
    ['cgroup', `node test/run.mjs integration '${CGROUP_SUITES}'`],
    ['apparmor', 'node test/run.mjs guest apparmor'],
  ]), { timeoutMs: 12 * 60_000 });
  assertFinished(r);
  assert.match(r.out, /^lsm: .*apparmor/m, 'AppArmor is active in the guest');
  assertSuite(r, 'cgroup', 50);
  assertSuite(r, 'apparmor', 5);
});

test('SELinux (permissive, reference policy): the SELinux tests pass', async () => {
  const r = await runInVm(job([['selinux', 'node test/run.mjs guest selinux']]), {
    kernelArgs: ['security=selinux', 'selinux=1', 'enforcing=0'], timeoutMs: 5 * 60_000,
  });
  assertFinished(r);
  assert.match(r.out, /^lsm: .*selinux/m, 'SELinux is active in the guest');
  assertSuite(r, 'selinux', 5);
});

test.run();
