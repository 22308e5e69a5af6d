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
  const selinux = fs.existsSync('/sys/fs/selinux/enforce');
  const host: HostSecurity = { apparmor, selinux };
  if (selinux) host.selinuxValid = selinuxValid;
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

/**
 * Asks the policy through selinuxfs's context file, as libselinux's security_check_context does:
 * the kernel refuses an invalid context with EINVAL, which on /proc/self/attr/exec would come
 * only from inside the init, with less to say.
 */
function selinuxValid(context: string): boolean | undefined {
  let fd: number;
  try {
    fd = fs.openSync('/sys/fs/selinux/context', 'r+');
  } catch {
    return undefined;
  }
  try {
    fs.writeSync(fd, context);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EINVAL' ? false : undefined;
  } finally {
    fs.closeSync(fd);
  }
}
