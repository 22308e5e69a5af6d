// Volume names: docker's rule for local volumes, and the random names of anonymous volumes.
import { randomBytes } from 'node:crypto';
import { TrunError } from '../../runtime/errors';

const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
// A name is a directory name in the store: keep it within NAME_MAX.
const MAX_LENGTH = 255;

export function isVolumeName(name: string): boolean {
  return NAME.test(name) && name.length <= MAX_LENGTH;
}

/** Throws EINVAL unless `name` may name a volume; `hint` ends the message (e.g. for -v). */
export function checkVolumeName(name: string, hint?: string): string {
  if (isVolumeName(name)) return name;
  const why = name.includes('/') ? 'a volume name cannot contain "/"' : `a volume name must match [a-zA-Z0-9][a-zA-Z0-9_.-]* (at most ${MAX_LENGTH} characters)`;
  throw new TrunError('EINVAL', `invalid volume name "${name}": ${why}${hint ? `; ${hint}` : ''}`);
}

/** A fresh name for an anonymous volume: 64 hex digits, as docker makes them. */
export function randomVolumeName(): string {
  return randomBytes(32).toString('hex');
}
