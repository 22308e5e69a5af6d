// Configs nobody here wrote: the config.json files containerd 1.6 (`ctr run`) and podman 4.3
// (`podman run`) handed to trun, recorded in test/fixtures/configs/good. Each runs under trun
// as recorded, except for what points at the recording machine: the rootfs, the cgroup path,
// bind sources under the caller's temp dirs, and the command.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { capabilityMask } from '../../runtime/linux/capabilities';
import type { Spec } from '../../spec/types/runtime';
import { TestEnv, assertNothingLeft, snapshot } from '../helpers/trun';

const FIXTURES = path.resolve(__dirname, '..', 'fixtures', 'configs', 'good');
const RECORDED = ['containerd-1.6-ctr-run.json', 'containerd-1.6-ctr-run-tty.json', 'podman-4.3-run.json', 'podman-4.3-run-tty.json'];

const env = new TestEnv('field');
test.after(() => env.cleanup());

/** The recorded config, moved onto this machine: a fresh rootfs, our cgroup path, our bind sources. */
function bundleFrom(file: string, id: string, args: string[]): { dir: string; spec: Spec } {
  const spec = JSON.parse(fs.readFileSync(path.join(FIXTURES, file), 'utf8')) as Spec;
  // A throwaway bundle from the harness gives the rootfs; the recorded config replaces its own.
  const dir = env.bundle();
  spec.root = { ...spec.root, path: path.join(dir, 'rootfs') };
  spec.process!.args = args;
  if (spec.linux?.cgroupsPath) spec.linux.cgroupsPath = `/trun-field/${id}`;
  for (const [i, m] of (spec.mounts ?? []).entries()) {
    const bind = m.type === 'bind' || (m.options ?? []).includes('bind') || (m.options ?? []).includes('rbind');
    if (!bind || !m.source || fs.existsSync(m.source)) continue;
    // podman's /etc/hosts, /etc/hostname and /run/.containerenv, made under its run dir.
    const source = path.join(dir, `bind-${i}`);
    fs.writeFileSync(source, `recorded source of ${m.destination}\n`);
    m.source = source;
  }
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(spec, null, 2));
  return { dir, spec };
}

for (const file of RECORDED) {
  test(`${file}: runs as recorded, with the caps and namespaces it asks for, and leaves nothing`, () => {
    const id = env.id('field');
    const before = snapshot();
    const { dir, spec } = bundleFrom(file, id, ['sh', '-c', 'grep CapEff /proc/self/status; hostname; echo field-ok']);
    const r = env.trun(['run', '--bundle', dir, id]);
    assert.is(r.code, 0, `${r.stderr}\n${r.stdout}`);
    assert.match(r.stdout, 'field-ok');
    // The effective set is the one the caller asked for, nothing more.
    const caps = /CapEff:\s+([0-9a-f]+)/.exec(r.stdout);
    assert.ok(caps, r.stdout);
    assert.is(BigInt(`0x${caps![1]}`), capabilityMask(spec.process!.capabilities?.effective ?? []), caps![1]);
    if (spec.hostname) assert.match(r.stdout, spec.hostname);
    assertNothingLeft(env, before, id);
    assert.not.ok(fs.existsSync(`/sys/fs/cgroup/memory/trun-field/${id}`), 'no cgroup left');
  });
}

test.after(() => {
  for (const ctl of ['memory', 'pids', 'cpu', 'cpu,cpuacct', 'devices', 'freezer', 'blkio', 'cpuset', 'unified', 'systemd']) {
    try {
      fs.rmdirSync(`/sys/fs/cgroup/${ctl}/trun-field`);
    } catch {
      // not made in this hierarchy, or already gone
    }
  }
});

test.run();
