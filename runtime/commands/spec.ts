// `trun spec`: write a default config.json into the bundle directory, as `runc spec` does.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Context } from '../context';
import { defaultSpec } from '../defaults';
import { TrunError, sysError } from '../errors';

export interface SpecOptions {
  bundle?: string;
  rootless?: boolean;
}

export function writeSpec(ctx: Context, opts: SpecOptions): string {
  const dir = path.resolve(ctx.cwd, opts.bundle ?? '.');
  const file = path.join(dir, 'config.json');
  if (fs.existsSync(file)) throw new TrunError('EINVAL', `file ${file} exists: remove it first`, { path: file });
  const spec = defaultSpec({ rootless: opts.rootless ?? false });
  try {
    fs.writeFileSync(file, `${JSON.stringify(spec, null, '\t')}\n`, { flag: 'wx' });
  } catch (e) {
    throw sysError('write', file, e);
  }
  return file;
}
