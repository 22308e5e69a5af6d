// Runs the built trun-bundle CLI (dist/trun-bundle.js) against a store, for the bundle suites.
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

export const BUNDLE_CLI = path.resolve(__dirname, '../../dist/trun-bundle.js');

export interface BundleResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** `trun-bundle --store STORE ARGS`, run to completion. */
export function bundleCli(store: string, ...args: string[]): BundleResult {
  const r = spawnSync(process.execPath, [BUNDLE_CLI, '--store', store, ...args], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Like bundleCli, but it must succeed: returns stdout. */
export function bundleOk(store: string, ...args: string[]): string {
  const r = bundleCli(store, ...args);
  if (r.status !== 0) throw new Error(`trun-bundle ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}
