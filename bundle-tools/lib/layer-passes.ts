// Runs layer passes (unpack.ts passLayer: digest, diffID and extraction from one read of a blob)
// for a set of layers, and reports bytes read and layers finished as they go.
import { FsOps } from './fsops';
import { passLayer, type LayerPass, type PassResult } from './unpack';

export interface PassProgress {
  /** Blob bytes read since the last call. */
  onBytes?: (n: number) => void;
  /** One more layer is complete. */
  onLayerDone?: () => void;
}

/** Results in the order of `jobs`; the first failure is thrown once no pass is running. */
export async function runLayerPasses(jobs: LayerPass[], progress: PassProgress = {}): Promise<PassResult[]> {
  const needsFsops = jobs.some((j) => j.dest !== null);
  const fsops = needsFsops ? new FsOps() : null;
  try {
    const out: PassResult[] = [];
    for (const job of jobs) {
      out.push(await passLayer(job, fsops, progress.onBytes));
      progress.onLayerDone?.();
    }
    return out;
  } finally {
    await fsops?.close();
  }
}
