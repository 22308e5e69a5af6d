// Bundles with a seccomp profile, for the seccomp suites.
import type { LinuxSeccomp, Spec } from '../../spec/types/runtime';
import type { TestEnv } from './trun';

/** A bundle of env's with linux.seccomp and process.noNewPrivileges set (then `mut`). */
export function seccompBundle(env: TestEnv, seccomp: LinuxSeccomp, args: string[], noNewPrivileges = true, mut: (s: Spec) => void = () => {}): string {
  return env.bundle((s) => {
    s.linux!.seccomp = seccomp;
    s.process!.noNewPrivileges = noNewPrivileges;
    mut(s);
  }, args);
}
