// The worker thread of layer-passes.ts: runs one layer pass at a time with its own fsops helper,
// and reports bytes read, the result or the error back to the pool.
import { parentPort } from 'node:worker_threads';
import { TrunError } from '../../runtime/errors';
import { FsOps } from './fsops';
import { passLayer } from './unpack';
import type { FromWorker, ToWorker } from './layer-passes';

const port = parentPort;
if (port) {
  let fsops: FsOps | null = null;
  const send = (m: FromWorker): void => port.postMessage(m);
  port.on('message', (m: ToWorker) => {
    if (m.type === 'close') {
      void (fsops?.close() ?? Promise.resolve()).finally(() => port.close());
      return;
    }
    if (m.job.dest !== null && fsops === null) fsops = new FsOps();
    passLayer(m.job, fsops, (n) => send({ type: 'bytes', n })).then(
      (result) => send({ type: 'done', result }),
      (err: unknown) => {
        const e = err as Error & { code?: unknown; path?: string; syscall?: string };
        send({
          type: 'error',
          code: err instanceof TrunError ? err.code : 'ESYS',
          message: e instanceof Error ? e.message : String(err),
          ...(e.path !== undefined ? { path: e.path } : {}),
          ...(e.syscall !== undefined ? { syscall: e.syscall } : {}),
        });
      },
    );
  });
}
