// dist/trun-server.js: the warm path's long-lived process, started by the front end (double fork,
// setsid, stdio on <dir>/server.log) as `node trun-server.js <dir>`. It tells its starter it
// listens by writing "ok" to the fd in $TRUN_SERVER_READY_FD, records its pid in <dir>/server.pid,
// and exits when idle ($TRUN_SERVER_IDLE_MS, default 30 s) or on SIGTERM/SIGINT. With
// $TRUN_SERVER_LOG_REQUESTS=1 it logs every command it serves (tests tell warm from cold by it).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { main as cliMain } from '../cli/main';
import { startServer } from './server';

const DEFAULT_IDLE_MS = 30_000;

function log(line: string): void {
  process.stderr.write(`${new Date().toISOString()} trun-server[${process.pid}]: ${line}\n`);
}

function idleMs(): number {
  const n = Number(process.env.TRUN_SERVER_IDLE_MS);
  return Number.isFinite(n) && n > 0 ? n : DEFAULT_IDLE_MS;
}

async function serve(dir: string): Promise<void> {
  const readyFd = Number(process.env.TRUN_SERVER_READY_FD);
  delete process.env.TRUN_SERVER_READY_FD;
  const server = await startServer({
    dir, idleMs: idleMs(), main: cliMain, installDir: fs.realpathSync(__dirname), log, logRequests: process.env.TRUN_SERVER_LOG_REQUESTS === '1',
  });
  const pidFile = path.join(dir, 'server.pid');
  fs.writeFileSync(`${pidFile}.${process.pid}`, String(process.pid));
  fs.renameSync(`${pidFile}.${process.pid}`, pidFile);
  if (Number.isInteger(readyFd) && readyFd > 2) {
    try {
      fs.writeSync(readyFd, 'ok');
      fs.closeSync(readyFd);
    } catch (e) {
      log(`ready fd ${readyFd}: ${(e as Error).message}`);
    }
  }
  log(`listening on ${server.socketPath}`);
  const stop = () => { log('stopping on a signal'); void server.close(); };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  await server.closed;
  try {
    if (fs.readFileSync(pidFile, 'utf8') === String(process.pid)) fs.unlinkSync(pidFile);
  } catch {
    // a newer server's, or gone
  }
  process.off('SIGTERM', stop);
  process.off('SIGINT', stop);
}

if (require.main === module) {
  const dir = process.argv[2];
  if (!dir) {
    process.stderr.write('usage: trun-server.js <socket dir>\n');
    process.exitCode = 2;
  } else {
    serve(path.resolve(dir)).catch((e: unknown) => {
      log(`cannot serve: ${e instanceof Error ? e.message : String(e)}`);
      process.exitCode = 1;
    });
  }
}
