// Builds a busybox root filesystem from Debian's busybox-static, for tests and the demo image.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const BUSYBOX = process.env.TRUN_BUSYBOX ?? '/bin/busybox';

/** Fills `dir` (created when missing) with busybox, its applet links and a minimal /etc. */
export function makeBusyboxRootfs(dir: string): string {
  fs.mkdirSync(dir, { recursive: true });
  for (const d of ['bin', 'sbin', 'usr/bin', 'usr/sbin', 'etc', 'proc', 'sys', 'dev', 'tmp', 'root', 'var', 'home']) {
    fs.mkdirSync(path.join(dir, d), { recursive: true });
  }
  fs.chmodSync(path.join(dir, 'tmp'), 0o1777);
  fs.copyFileSync(BUSYBOX, path.join(dir, 'bin/busybox'));
  fs.chmodSync(path.join(dir, 'bin/busybox'), 0o755);
  const applets = execFileSync(BUSYBOX, ['--list-full'], { encoding: 'utf8' }).split('\n').filter(Boolean);
  for (const rel of applets) {
    const link = path.join(dir, rel);
    if (rel === 'bin/busybox' || fs.existsSync(link)) continue;
    fs.symlinkSync('/bin/busybox', link);
  }
  fs.writeFileSync(path.join(dir, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\nuser:x:1000:1000:user:/home/user:/bin/sh\n');
  fs.writeFileSync(path.join(dir, 'etc/group'), 'root:x:0:\nwheel:x:10:user\nusers:x:100:user\nnogroup:x:65534:\nuser:x:1000:\n');
  return dir;
}
