// The cgroup v2 eBPF device filter on real containers. On a hybrid host (this VM) trun attaches it
// to the container's unified cgroup as well as writing v1's devices controller; each test opens
// v1 up ("a *:* rwm") after create, so whatever is still refused was refused by the eBPF program.
// Needs root and a cgroup2 hierarchy.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Spec } from '../../spec/types/runtime';
import { launchInit } from '../../runtime/init/launch';
import { OpCode } from '../../runtime/init/protocol';
import { detectSystemHost } from '../../runtime/linux/cgroups';
import { BPF, insn } from '../../runtime/linux/cgroups/bpf-devices';
import { TestEnv } from '../helpers/trun';

const env = new TestEnv('devices-ebpf');
const host = detectSystemHost();

const FUSE = { path: '/dev/fuse', type: 'c', major: 10, minor: 229, fileMode: 0o666, uid: 0, gid: 0 };

/** Creates a container with `mut` applied, leaves only the eBPF filter enforcing, and returns its id. */
function createWith(mut: (s: Spec) => void): string {
  const id = env.id('dev');
  const bundle = env.bundle((s) => {
    s.linux!.devices = [FUSE];
    mut(s);
  }, ['sleep', '1000']);
  env.ok(['create', '--bundle', bundle, id]);
  const paths = env.state(id) as unknown as { status: string };
  assert.is(paths.status, 'created');
  const saved = JSON.parse(fs.readFileSync(path.join(env.root, id, 'state.json'), 'utf8')) as { cgroupPaths: Record<string, string> };
  const v1 = saved.cgroupPaths['devices'];
  if (v1 !== undefined) {
    fs.writeFileSync(path.join(v1, 'devices.allow'), 'a *:* rwm');
    assert.is(fs.readFileSync(path.join(v1, 'devices.list'), 'utf8').trim(), 'a *:* rwm');
  }
  env.ok(['start', id]);
  return id;
}

/** Runs a shell command in the container: [exit code, stdout + stderr]. */
function sh(id: string, script: string): [number, string] {
  const r = env.trun(['exec', id, 'sh', '-c', script]);
  return [r.code, r.stdout + r.stderr];
}

if (!host.unified) {
  test.skip('no cgroup2 hierarchy on this host', () => {});
} else {
  test('deny-all plus the defaults: a denied device cannot be opened, the defaults work', () => {
    const id = createWith((s) => {
      s.linux!.resources = { devices: [{ allow: false, access: 'rwm' }] };
    });
    // Opening is what the filter checks (reading /dev/fuse unmounted fails on its own).
    let [code, out] = sh(id, ': < /dev/fuse');
    assert.is.not(code, 0);
    assert.match(out, /Operation not permitted/);
    [code, out] = sh(id, ': > /dev/fuse');
    assert.match(out, /Operation not permitted/);
    [code, out] = sh(id, 'head -c1 /dev/full | wc -c; head -c1 /dev/null | wc -c; echo x > /dev/null && echo written; head -c4 /dev/urandom | wc -c');
    assert.is(code, 0, out);
    assert.is(out, '1\n0\nwritten\n4\n');
    env.ok(['delete', '--force', id]);
  });

  test('an allow rule makes the device usable, with the access it names', () => {
    const id = createWith((s) => {
      s.linux!.resources = { devices: [{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 10, minor: 229, access: 'r' }] };
    });
    let [code, out] = sh(id, ': < /dev/fuse && echo opened');
    assert.is(code, 0, out);
    assert.is(out, 'opened\n');
    [code, out] = sh(id, ': > /dev/fuse');
    assert.is.not(code, 0);
    assert.match(out, /Operation not permitted/);
    env.ok(['delete', '--force', id]);
  });

  test('a later deny overrides an earlier allow', () => {
    const id = createWith((s) => {
      s.linux!.resources = {
        devices: [
          { allow: false, access: 'rwm' },
          { allow: true, type: 'c', major: 10, access: 'rw' },
          { allow: false, type: 'c', major: 10, minor: 229, access: 'r' },
        ],
      };
    });
    const [code, out] = sh(id, ': > /dev/fuse && echo write-ok; : < /dev/fuse');
    assert.is.not(code, 0);
    assert.match(out, /^write-ok\n.*Operation not permitted/s);
    env.ok(['delete', '--force', id]);
  });

  test('without a deny-all nothing is refused (the state starts allowing everything, as on v1)', () => {
    const id = createWith((s) => {
      s.linux!.resources = {};
    });
    const [code, out] = sh(id, ': < /dev/fuse && echo opened');
    assert.is(code, 0, out);
    env.ok(['delete', '--force', id]);
  });
}

/** Runs a lone BPF_DEVICE_FILTER op: [error message or '', the init's stderr]. */
async function filterOp(cgroupPath: string, insns: bigint[], optional: boolean): Promise<[string, string]> {
  let stderr = '';
  let drained: Promise<void> = Promise.resolve();
  try {
    await launchInit({
      ops: [{ op: OpCode.BPF_DEVICE_FILTER, cgroupPath, insns, optional }],
      stdio: ['ignore', 'ignore', 'pipe'],
      onSpawn: (c) => {
        c.stderr?.on('data', (d: Buffer) => { stderr += d.toString(); });
        if (c.stderr) drained = new Promise((resolve) => c.stderr!.once('close', () => resolve()));
      },
    });
    await drained; // the init has exited: its stderr ends
    return ['', stderr];
  } catch (e) {
    await drained;
    return [(e as Error).message, stderr];
  }
}

if (host.unified) {
  test('the op reports the verifier, the syscall and the cgroup; optional turns that into a warning', async () => {
    const dir = fs.mkdtempSync(path.join(host.unified!.mountpoint, 'trun-ebpf-op-'));
    try {
      const noR0 = [insn(BPF.EXIT, 0, 0, 0, 0)];
      let [err, stderr] = await filterOp(dir, noR0, false);
      assert.match(err, /^bpf_device_filter: bpf BPF_PROG_LOAD \(device filter for ".*trun-ebpf-op-[^"]*", verifier: R0 !read_ok\): (permission denied|invalid argument)$/);
      [err, stderr] = await filterOp(dir, noR0, true);
      assert.is(err, '');
      assert.match(stderr, /trun-init: warning: bpf_device_filter: bpf BPF_PROG_LOAD/);
      const allowAll = [insn(BPF.ALU_MOV_K, 0, 0, 0, 1), insn(BPF.EXIT, 0, 0, 0, 0)];
      [err] = await filterOp(path.join(dir, 'missing'), allowAll, false);
      assert.match(err, /^bpf_device_filter: open ".*missing": no such file or directory$/);
      [err] = await filterOp(dir, allowAll, false);
      assert.is(err, '');
    } finally {
      fs.rmdirSync(dir);
    }
  });
}

test.after(() => env.cleanup());

test.run();
