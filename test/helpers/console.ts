// A --console-socket server for tests (build/recvtty): it receives the pty master and prints
// what the container writes to its terminal.
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { REPO } from './trun';

export interface Recvtty {
  /** What the container wrote to its pty so far. */
  output(): string;
  /** recvtty's handshake lines ("listening", "pty <n>") and errors. */
  log(): string;
  /** recvtty's exit code, once the container side of the pty is closed and its output read. */
  done: Promise<number | null>;
}

/** Starts build/recvtty on `sock` and resolves once it accepts connections. */
export async function startRecvtty(sock: string): Promise<Recvtty> {
  const recv = spawn(path.join(REPO, 'build/recvtty'), [sock], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  recv.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  // 'close', not 'exit': only then has everything it printed been read.
  const done = new Promise<number | null>((resolve) => recv.on('close', (c) => resolve(c)));
  await new Promise<void>((resolve, reject) => {
    recv.stderr.on('data', (d: Buffer) => { err += d.toString(); if (err.includes('listening')) resolve(); });
    recv.on('exit', () => reject(new Error(`recvtty exited: ${err}`)));
  });
  return { output: () => out, log: () => err, done };
}
