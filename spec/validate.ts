// Reads and validates a bundle's config.json and a container's state.json: the OCI schema
// (precompiled, see generate-types.ts) plus the checks the schema cannot express. Throws
// TrunError 'ECONFIG'; never prints.
import * as fs from 'node:fs';
import { sysError } from '../runtime/errors';
import { CAPABILITIES } from '../runtime/linux/capabilities';
import { RLIMITS } from '../runtime/linux/rlimits';
import type { Capabilities, Spec, State } from './types/runtime';
import { validateRuntimeConfig } from './validators/runtime-config';
import { validateRuntimeState } from './validators/runtime-state';
import { fieldError, parseJson, schemaError } from './schema-errors';

/** The runtime-spec version trun implements (and writes into state.json). */
export const OCI_VERSION = '1.3.0';

/** config.json versions trun accepts: 1.0.0 up to any 1.3 patch release. */
const SUPPORTED_MAJOR = 1;
const SUPPORTED_MAX_MINOR = 3;

const SEMVER = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$/;

const CAPABILITY_SETS: readonly (keyof Capabilities)[] = ['bounding', 'effective', 'inheritable', 'permitted', 'ambient'];

/** Parses config.json text; invalid JSON is an ECONFIG error naming the file. */
export function parseConfig(text: string, file: string): Spec {
  return validateConfig(parseJson(text, file, 'ECONFIG'), file);
}

/** Schema plus semantic checks (ociVersion range, capability and rlimit names). */
export function validateConfig(value: unknown, file: string): Spec {
  const spec = validateConfigSchema(value, file);
  checkOciVersion(spec.ociVersion, file);
  checkProcess(spec, file);
  return spec;
}

/** The schema check alone: what any OCI tool accepts, whatever version or platform it names. */
export function validateConfigSchema(value: unknown, file: string): Spec {
  if (!validateRuntimeConfig(value)) throw schemaError('ECONFIG', file, value, validateRuntimeConfig.errors);
  return value;
}

export function loadConfig(file: string): Spec {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw sysError('open', file, err);
  }
  return parseConfig(text, file);
}

export function validateState(value: unknown, file = 'state.json'): State {
  if (!validateRuntimeState(value)) throw schemaError('ECONFIG', file, value, validateRuntimeState.errors);
  return value;
}

/** True for versions trun implements: 1.0.0..1.3.x, and pre-releases of those except 1.0.0's (the -rc series). */
export function isSupportedOciVersion(version: string): boolean {
  const m = SEMVER.exec(version);
  if (!m) return false;
  const [major, minor, patch] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const prerelease = m[4] !== undefined;
  if (major !== SUPPORTED_MAJOR || minor > SUPPORTED_MAX_MINOR) return false;
  return !(minor === 0 && patch === 0 && prerelease);
}

function checkOciVersion(version: string, file: string): void {
  if (isSupportedOciVersion(version)) return;
  const reason = SEMVER.test(version)
    ? `unsupported version ${JSON.stringify(version)} (trun supports 1.0.0 to 1.${SUPPORTED_MAX_MINOR}.x)`
    : `${JSON.stringify(version)} is not a semantic version`;
  throw fieldError('ECONFIG', file, 'ociVersion', reason);
}

function checkProcess(spec: Spec, file: string): void {
  const caps = spec.process?.capabilities;
  for (const set of CAPABILITY_SETS) {
    (caps?.[set] ?? []).forEach((name, i) => {
      if (!Object.hasOwn(CAPABILITIES, name)) {
        throw fieldError('ECONFIG', file, `process.capabilities.${set}[${i}]`, `unknown capability ${JSON.stringify(name)}`);
      }
    });
  }
  (spec.process?.rlimits ?? []).forEach((rlimit, i) => {
    if (!Object.hasOwn(RLIMITS, rlimit.type)) {
      throw fieldError('ECONFIG', file, `process.rlimits[${i}].type`, `unknown rlimit ${JSON.stringify(rlimit.type)}`);
    }
  });
}

