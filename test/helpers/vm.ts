// Boots the VM tests' guest (scripts/vm-image.sh builds it) under qemu and runs one shell job in
// it from the repository. The guest is Debian's kernel with a pure cgroup2 hierarchy and an LSM
// this machine's kernel lacks; its root is this machine's, read-only, so the job runs the same
// node, dist/ and tests. qemu emulates the CPU (TCG): KVM hangs in this VM, and emulation
// behaves the same everywhere, only slower.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const REPO = path.resolve(__dirname, '../..');
const IMAGE = path.join(REPO, 'build/vm');

export interface VmRun {
  /** The job's exit status; undefined when the guest never wrote one (crash, timeout). */
  rc: number | undefined;
  /** What the job printed (stdout and stderr). */
  out: string;
  /** The serial console: the kernel's and the guest scripts' messages. */
  console: string;
}

export interface VmOptions {
  /** Extra kernel command-line words, e.g. ["security=selinux", "selinux=1"]. */
  kernelArgs?: string[];
  /** Files the job finds in /mnt (the work directory), by name. */
  files?: Record<string, string>;
  timeoutMs: number;
}

/** Whether the guest image and qemu are there (scripts/setup.sh installs both). */
export function vmAvailable(): string | undefined {
  for (const f of [path.join(IMAGE, 'vmlinuz'), path.join(IMAGE, 'initrd.gz'), '/usr/bin/qemu-system-x86_64']) {
    if (!fs.existsSync(f)) return `${f} is missing: run scripts/setup.sh`;
  }
  return undefined;
}

/** Runs `job` (sh syntax, cwd = the repository) in a fresh guest and waits for it to power off. */
export async function runInVm(job: string, opts: VmOptions): Promise<VmRun> {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'trun-vm-'));
  try {
    fs.writeFileSync(path.join(work, 'job'), job);
    fs.writeFileSync(path.join(work, 'repo'), REPO);
    for (const [name, text] of Object.entries(opts.files ?? {})) fs.writeFileSync(path.join(work, name), text);
    const append = ['console=ttyS0', 'panic=-1', 'quiet', `trun.repo=${REPO}`, `trun.guest=${path.join(REPO, 'test/vm/guest.sh')}`, ...(opts.kernelArgs ?? [])];
    const args = [
      '-accel', 'tcg', '-cpu', 'max', '-smp', String(Math.min(os.cpus().length, 4)), '-m', '3072',
      '-nodefaults', '-no-user-config', '-display', 'none', '-serial', 'stdio', '-no-reboot',
      '-kernel', path.join(IMAGE, 'vmlinuz'), '-initrd', path.join(IMAGE, 'initrd.gz'), '-append', append.join(' '),
      '-virtfs', 'local,path=/,mount_tag=hostroot,security_model=passthrough,readonly=on,multidevs=remap',
      '-virtfs', `local,path=${work},mount_tag=work,security_model=passthrough`,
      // The repository again, on its own: the guest's tmpfs over /root, /tmp... would hide a clone there.
      '-virtfs', `local,path=${REPO},mount_tag=repo,security_model=passthrough,readonly=on,multidevs=remap`,
    ];
    const qemu = spawn('/usr/bin/qemu-system-x86_64', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let console = '';
    qemu.stdout.on('data', (b: Buffer) => (console += b.toString()));
    qemu.stderr.on('data', (b: Buffer) => (console += b.toString()));
    const timer = setTimeout(() => qemu.kill('SIGKILL'), opts.timeoutMs);
    await new Promise<void>((resolve) => qemu.on('close', () => resolve()));
    clearTimeout(timer);
    const read = (name: string): string | undefined => {
      try {
        return fs.readFileSync(path.join(work, name), 'utf8');
      } catch {
        return undefined;
      }
    };
    const rcText = read('rc');
    return { rc: rcText === undefined ? undefined : Number(rcText.trim()), out: read('out') ?? '', console };
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

/** The "N passed, N failed" line of test/run.mjs in a job's output. */
export function suiteTotals(out: string): { passed: number; failed: number } | undefined {
  const m = /(\d+) passed, (\d+) failed/.exec(out);
  return m ? { passed: Number(m[1]), failed: Number(m[2]) } : undefined;
}

/** The job's output without colours and uvu's progress dots: the failures and the totals. */
export function failuresOf(out: string): string {
  // eslint-disable-next-line no-control-regex
  const plain = out.replace(/\x1b\[[0-9;]*m/g, '');
  return plain.split('\n').filter((l) => !/^[•✘\s]*\(\d+ \/ \d+\)\s*$/.test(l)).join('\n');
}
