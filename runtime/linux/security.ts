// Which Linux security modules this host has enabled, for process.apparmorProfile/selinuxLabel.
import * as fs from 'node:fs';
import type { HostSecurity } from '../process-plan';

const APPARMOR_PROFILES = '/sys/kernel/security/apparmor/profiles';

export function probeHostSecurity(): HostSecurity {
  let apparmor = false;
  try {
    apparmor = fs.readFileSync('/sys/module/apparmor/parameters/enabled', 'utf8').trim() === 'Y';
  } catch {
    // module absent
  }
  const host: HostSecurity = { apparmor, selinux: fs.existsSync('/sys/fs/selinux/enforce') };
  if (apparmor) {
    host.apparmorLoaded = apparmorLoaded;
    host.apparmorExecAttr = fs.existsSync('/proc/self/attr/apparmor') ? '/proc/self/attr/apparmor/exec' : '/proc/self/attr/exec';
  }
  return host;
}

/** Looks `profile` up in securityfs's list ("name (mode)" lines); undefined when it cannot be read. */
function apparmorLoaded(profile: string): boolean | undefined {
  if (profile.startsWith(':')) return undefined; // another policy namespace's: not in our list
  let list: string;
  try {
    list = fs.readFileSync(APPARMOR_PROFILES, 'utf8');
  } catch {
    return undefined;
  }
  return list.split('\n').some((line) => line.slice(0, line.lastIndexOf(' (')) === profile);
}
