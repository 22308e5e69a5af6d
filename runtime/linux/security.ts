// Which Linux security modules this host has enabled, for process.apparmorProfile/selinuxLabel.
import * as fs from 'node:fs';
import type { HostSecurity } from '../process-plan';

export function probeHostSecurity(): HostSecurity {
  let apparmor = false;
  try {
    apparmor = fs.readFileSync('/sys/module/apparmor/parameters/enabled', 'utf8').trim() === 'Y';
  } catch {
    // module absent
  }
  return { apparmor, selinux: fs.existsSync('/sys/fs/selinux/enforce') };
}
