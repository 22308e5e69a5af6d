// Turns ajv's error list into one short line that names the offending field, and the JSON
// parse helper shared by the runtime and image validators.
import type { ErrorObject } from 'ajv';
import { TrunError, type ErrorCode } from '../runtime/errors';

/** At most this many distinct reasons are joined when several errors are equally specific. */
const MAX_REASONS = 3;

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** Parses JSON text; a syntax error becomes `"<file>": invalid JSON: <reason>`. */
export function parseJson(text: string, file: string, code: ErrorCode): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    const reason = err instanceof Error ? lowerFirst(err.message) : String(err);
    throw new TrunError(code, `${quote(file)}: invalid JSON: ${reason}`, { path: file, cause: err });
  }
}

/** Builds the error for a document that failed its schema: `"<file>": process.args: must be array`. */
export function schemaError(code: ErrorCode, file: string, value: unknown, errors: readonly ErrorObject[] | null | undefined): TrunError {
  return new TrunError(code, `${quote(file)}: ${describeErrors(value, errors ?? [])}`, { path: file });
}

/** A field-level error found after the schema passed (unknown capability, unsupported version...). */
export function fieldError(code: ErrorCode, file: string, field: string, reason: string): TrunError {
  return new TrunError(code, `${quote(file)}: ${field}: ${reason}`, { path: file });
}

export function quote(file: string): string {
  return JSON.stringify(file);
}

interface Candidate {
  segments: string[];
  reason: string;
  keyword: string;
}

/**
 * Picks the most specific errors: anyOf/oneOf summaries only repeat what their branches said,
 * so they are dropped when a branch error exists, then the deepest field wins. Type errors on
 * the same field merge ("must be integer or null"), the rest are joined, at most MAX_REASONS.
 */
export function describeErrors(value: unknown, errors: readonly ErrorObject[]): string {
  if (errors.length === 0) return 'does not match the schema';
  const specific = errors.filter((e) => e.keyword !== 'anyOf' && e.keyword !== 'oneOf' && e.keyword !== '$ref');
  const candidates = (specific.length > 0 ? specific : errors).map(candidate);
  const depth = Math.max(...candidates.map((c) => c.segments.length));
  const deepest = candidates.filter((c) => c.segments.length === depth);
  const byField = new Map<string, Candidate[]>();
  for (const c of deepest) {
    const field = renderPath(value, c.segments);
    byField.set(field, [...(byField.get(field) ?? []), c]);
  }
  // Several fields at the same depth: report the first one ajv found, it is the one it stopped on.
  const [field, list] = byField.entries().next().value as [string, Candidate[]];
  const types = list.filter((c) => c.keyword === 'type').map((c) => c.reason.replace(/^must be /, ''));
  const reasons = list.filter((c) => c.keyword !== 'type').map((c) => c.reason);
  if (types.length > 0) reasons.unshift(`must be ${[...new Set(types.flatMap((t) => t.split(',')))].join(' or ')}`);
  const text = [...new Set(reasons)].slice(0, MAX_REASONS).join('; ');
  return field === '' ? text : `${field}: ${text}`;
}

function candidate(e: ErrorObject): Candidate {
  const segments = e.instancePath === '' ? [] : e.instancePath.slice(1).split('/').map(unescapePointer);
  const params = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'required':
      return { segments: [...segments, String(params.missingProperty)], reason: 'is required', keyword: e.keyword };
    case 'additionalProperties':
      return { segments: [...segments, String(params.additionalProperty)], reason: 'unknown field', keyword: e.keyword };
    case 'enum': {
      const allowed = Array.isArray(params.allowedValues) ? params.allowedValues : [];
      const reason =
        allowed.length > 0 && allowed.length <= 10
          ? `must be one of ${allowed.map((v) => JSON.stringify(v)).join(', ')}`
          : 'must be one of the allowed values';
      return { segments, reason, keyword: e.keyword };
    }
    default:
      return { segments, reason: e.message ?? `fails "${e.keyword}"`, keyword: e.keyword };
  }
}

/** JSON pointer segments as a dotted path: `process.capabilities.bounding[2]`, `linux.sysctl["net.ipv4.ip_forward"]`. */
function renderPath(root: unknown, segments: readonly string[]): string {
  let out = '';
  let node: unknown = root;
  for (const seg of segments) {
    if (Array.isArray(node) && /^\d+$/.test(seg)) {
      out += `[${seg}]`;
      node = node[Number(seg)];
      continue;
    }
    out += IDENTIFIER.test(seg) ? (out === '' ? seg : `.${seg}`) : `[${JSON.stringify(seg)}]`;
    node = node !== null && typeof node === 'object' ? (node as Record<string, unknown>)[seg] : undefined;
  }
  return out;
}

function unescapePointer(seg: string): string {
  return seg.replace(/~1/g, '/').replace(/~0/g, '~');
}

function lowerFirst(s: string): string {
  return s.length > 0 ? s[0]!.toLowerCase() + s.slice(1) : s;
}
