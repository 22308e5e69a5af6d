// linux.seccomp compiled into SECCOMP_* init steps (stub until the compiler lands).
import type { LinuxSeccomp } from '../../spec/types/runtime';
import { TrunError } from '../errors';
import type { Op } from '../init/protocol';

export function seccompOps(id: string, seccomp: LinuxSeccomp | undefined): Op[] {
  if (seccomp) throw new TrunError('EINVAL', 'linux.seccomp: seccomp is not supported yet', { id });
  return [];
}
