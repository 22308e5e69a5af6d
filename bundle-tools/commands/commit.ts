// trun-bundle commit BUNDLE IMAGE:TAG: the bundle's changes as a new layer and image.
import * as path from 'node:path';
import { TrunError } from '../../runtime/errors';
import type { Compression } from '../lib/compression';
import { commitBundle, type CommitOptions, type CommitResult } from '../lib/commit';
import type { ProgressFn } from '../lib/progress';
import { Store } from '../lib/store';
import { containerOnBundle, DEFAULT_STATE_ROOT, runTrun, trunCommand } from '../lib/trun-client';

export interface CommitCommand {
  store?: string;
  bundle: string;
  tag: string;
  author?: string;
  message?: string;
  changes: string[];
  compression?: Compression;
  pause: boolean;
  trun?: string;
  trunRoot?: string;
  onProgress?: ProgressFn;
}

export async function commit(c: CommitCommand): Promise<CommitResult> {
  const o: CommitOptions = { bundle: c.bundle, tag: c.tag, changes: c.changes };
  if (c.store !== undefined) o.store = new Store(c.store);
  if (c.author !== undefined) o.author = c.author;
  if (c.message !== undefined) o.message = c.message;
  if (c.onProgress) o.onProgress = c.onProgress;
  if (c.compression !== undefined) o.compression = c.compression;
  if (c.pause) {
    const root = c.trunRoot ?? DEFAULT_STATE_ROOT;
    const id = containerOnBundle(root, c.bundle);
    if (id === null) throw new TrunError('EBUNDLE', `--pause: no container of trun (state in "${root}") runs on bundle "${path.resolve(c.bundle)}"`);
    const trun = trunCommand(c.trun);
    o.pause = {
      pause: async () => runTrun(trun, ['--root', root, 'pause', id]),
      resume: async () => runTrun(trun, ['--root', root, 'resume', id]),
    };
  }
  return commitBundle(o);
}
