// Image references as users type them: NAME[:TAG][@DIGEST], with docker's grammar for names
// (lower-case path components, an optional registry host[:port]) and tags. Names are kept as
// given: the local store does not invent a registry or a "library/" prefix.
import { TrunError } from '../../runtime/errors';

export const DEFAULT_TAG = 'latest';

export interface ImageRef {
  name: string;
  tag?: string;
  digest?: string;
}

const COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const HOST = '(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?|localhost(?::[0-9]+)?)';
const NAME_RE = new RegExp(`^(?:${HOST}/)?${COMPONENT}(?:/${COMPONENT})*$`);
const TAG_RE = /^[\w][\w.-]{0,127}$/;
const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;

/** Parses NAME[:TAG][@DIGEST]; a bad name, tag or digest is an EINVAL error saying which. */
export function parseReference(input: string): ImageRef {
  let rest = input;
  const ref: Partial<ImageRef> = {};
  const at = rest.indexOf('@');
  if (at >= 0) {
    const digest = rest.slice(at + 1);
    if (!DIGEST_RE.test(digest)) throw new TrunError('EINVAL', `invalid reference "${input}": bad digest "${digest}"`);
    ref.digest = digest;
    rest = rest.slice(0, at);
  }
  const slash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > slash) {
    const tag = rest.slice(colon + 1);
    if (!TAG_RE.test(tag)) throw new TrunError('EINVAL', `invalid reference "${input}": bad tag "${tag}"`);
    ref.tag = tag;
    rest = rest.slice(0, colon);
  }
  if (rest.length === 0 || rest.length > 255 || !NAME_RE.test(rest)) {
    throw new TrunError('EINVAL', `invalid reference "${input}": bad image name "${rest}" (lower-case letters, digits, separators ._- and /)`);
  }
  ref.name = rest;
  return ref as ImageRef;
}

/** Like parseReference, with the tag defaulting to "latest" when neither tag nor digest is given. */
export function parseTaggedReference(input: string): ImageRef & { tag: string } {
  const ref = parseReference(input);
  if (ref.digest !== undefined && ref.tag === undefined) throw new TrunError('EINVAL', `invalid reference "${input}": a tag is needed here, not a digest`);
  return { ...ref, tag: ref.tag ?? DEFAULT_TAG };
}

export function formatReference(ref: ImageRef): string {
  return `${ref.name}${ref.tag !== undefined ? `:${ref.tag}` : ''}${ref.digest !== undefined ? `@${ref.digest}` : ''}`;
}

/** "name:tag" as stored in index.json's ref.name annotation. */
export function tagString(ref: { name: string; tag: string }): string {
  return `${ref.name}:${ref.tag}`;
}
