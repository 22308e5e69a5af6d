// The bits of trun that commit --pause needs: which container runs on a bundle (from trun's state
// directory) and `trun pause` / `trun resume` run as commands.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TrunError } from '../../runtime/errors';

export const DEFAULT_STATE_ROOT = '/run/trun';

/** The id of the container whose state says it was created from `bundle`, or null. */
export function containerOnBundle(stateRoot: string, bundle: string): string | null {
  const want = path.resolve(bundle);
  let ids: string[];
  try {
    ids = fs.readdirSync(stateRoot);
  } catch {
    return null;
  }
  for (const id of ids) {
    try {
      const st = JSON.parse(fs.readFileSync(path.join(stateRoot, id, 'state.json'), 'utf8')) as { bundle?: string };
      if (st.bundle !== undefined && path.resolve(st.bundle) === want) return id;
    } catch {
      continue;
    }
  }
  return null;
}

/** The trun command line: dist/trun.js beside this CLI when present, else `trun` from PATH. */
export function trunCommand(explicit?: string): string[] {
  if (explicit) return explicit.endsWith('.js') ? [process.execPath, explicit] : [explicit];
  const beside = path.join(__dirname, 'trun.js');
  return fs.existsSync(beside) ? [process.execPath, beside] : ['trun'];
}

export function runTrun(cmd: string[], args: string[]): void {
  const r = spawnSync(cmd[0]!, [...cmd.slice(1), ...args], { encoding: 'utf8' });
  if (r.error) throw new TrunError('ESYS', `run ${cmd.join(' ')}: ${r.error.message}`, { cause: r.error });
  if (r.status !== 0) {
    throw new TrunError('EBUNDLE', `trun ${args.join(' ')} failed: ${(r.stderr || r.stdout || `exit ${r.status}`).trim()}`);
  }
}
