// Runs layer passes (unpack.ts passLayer: digest, diffID and extraction from one read of a blob)
// for a set of layers, in parallel across cores: each layer has its own directory, so worker
// threads need no coordination beyond a queue. One layer (or one core) runs in this thread.
import * as os from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { TrunError, type ErrorCode } from '../../runtime/errors';
import { FsOps } from './fsops';
import { passLayer, type LayerPass, type PassResult } from './unpack';

export interface PassProgress {
  /** Blob bytes read since the last call. */
  onBytes?: (n: number) => void;
  /** One more layer is complete. */
  onLayerDone?: () => void;
}

/** Messages between the pool and layer-worker.ts. */
export type ToWorker = { type: 'job'; job: LayerPass } | { type: 'close' };
export type FromWorker =
  | { type: 'bytes'; n: number }
  | { type: 'done'; result: PassResult }
  | { type: 'error'; code: ErrorCode; message: string; path?: string; syscall?: string };

/**
 * Results in the order of `jobs`. On the first failure no new pass starts; the error is thrown
 * once the running ones have ended, so the caller can remove every directory safely.
 */
export async function runLayerPasses(jobs: LayerPass[], progress: PassProgress = {}, parallel = os.availableParallelism()): Promise<PassResult[]> {
  const workers = Math.min(parallel, jobs.length);
  if (workers <= 1) return runHere(jobs, progress);
  const results: PassResult[] = new Array<PassResult>(jobs.length);
  let next = 0;
  let failure: Error | null = null;
  const lane = async (): Promise<void> => {
    const w = startWorker();
    try {
      while (failure === null && next < jobs.length) {
        const i = next++;
        try {
          results[i] = await runOn(w, jobs[i]!, progress);
          progress.onLayerDone?.();
        } catch (err) {
          failure ??= err as Error;
        }
      }
    } finally {
      await stopWorker(w);
    }
  };
  await Promise.all(Array.from({ length: workers }, lane));
  if (failure) throw failure;
  return results;
}

async function runHere(jobs: LayerPass[], progress: PassProgress): Promise<PassResult[]> {
  const fsops = jobs.some((j) => j.dest !== null) ? new FsOps() : null;
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

/**
 * The worker script: dist/trun-bundle-worker.js beside the bundled CLI; from source (tests run
 * under tsx) the TypeScript itself, through tsx's require hook, so tests exercise this checkout.
 */
function startWorker(): Worker {
  if (__filename.endsWith('.ts')) {
    const entry = path.join(__dirname, 'layer-worker.ts');
    const req = `require('node:module').createRequire(${JSON.stringify(__filename)})`;
    return new Worker(`${req}('tsx/cjs'); ${req}(${JSON.stringify(entry)});`, { eval: true });
  }
  return new Worker(path.join(__dirname, 'trun-bundle-worker.js'));
}

function runOn(w: Worker, job: LayerPass, progress: PassProgress): Promise<PassResult> {
  return new Promise<PassResult>((resolve, reject) => {
    const onMessage = (m: FromWorker): void => {
      if (m.type === 'bytes') {
        progress.onBytes?.(m.n);
        return;
      }
      cleanup();
      if (m.type === 'done') resolve(m.result);
      else reject(new TrunError(m.code, m.message, { ...(m.path !== undefined ? { path: m.path } : {}), ...(m.syscall !== undefined ? { syscall: m.syscall } : {}) }));
    };
    const onError = (err: Error): void => {
      cleanup();
      reject(new TrunError('ESYS', `layer worker failed: ${err.message}`, { cause: err }));
    };
    const onExit = (code: number): void => {
      cleanup();
      reject(new TrunError('ESYS', `layer worker exited (${code}) while unpacking "${job.file}"`));
    };
    const cleanup = (): void => {
      w.off('message', onMessage);
      w.off('error', onError);
      w.off('exit', onExit);
    };
    w.on('message', onMessage);
    w.on('error', onError);
    w.on('exit', onExit);
    w.postMessage({ type: 'job', job } satisfies ToWorker);
  });
}

/** Lets the worker close its fsops helper (so no zombie is left) and end on its own. */
async function stopWorker(w: Worker): Promise<void> {
  if (w.threadId === -1) return; // already gone
  const exited = new Promise<void>((resolve) => w.once('exit', () => resolve()));
  w.postMessage({ type: 'close' } satisfies ToWorker);
  await exited;
}
