// The wire contract between the front end (`dist/trun`, runtime/frontend/trun.c) and the warm
// server (`dist/trun-server.js`). Frames are protocol.ts's: u32 type, u32 payload length (little
// endian), payload. runtime/frontend/trun.c mirrors the numbers below.
//
// Transport: a unix stream socket `<dir>/sock`, where <dir> is $TRUN_SERVER_DIR or
// /run/trun-server/<uid>, a directory of mode 0700 owned by the caller's uid. The server checks
// the peer's SO_PEERCRED uid/gid and refuses (closes) any other; it declines (DECLINE) a client
// whose process differs from its own in what the cold path would inherit (umask, namespaces,
// capabilities, no_new_privs, seccomp, node binary, trun install, TRUN_INIT/NODE_OPTIONS).
//
//   front end -> server  REQUEST   (first, once) NUL-terminated strings: "1" (version), the front
//                                  end's directory, node's real path, cwd, argc, argv[1..], then
//                                  every environment entry
//   server -> front end  ACCEPT    the command begins: from here on the front end never falls back
//                     |  DECLINE   (text) the front end runs the cold path (execs node trun.js)
//   server -> front end  SPAWN     u32 spawn id, u32 sync fd (3 + preserved fds), u8 x3 stdio of
//                                  fds 0-2 (0: the front end's own, 1: /dev/null), then the path of
//                                  trun-init: the front end forks and execs it
//   front end -> server  SPAWNED   u32 spawn id, u32 pid, i32 errno (pid 0: fork/exec failed)
//   both ways            INIT_DATA u32 spawn id, then bytes of the init's sync socket
//                                  (protocol.ts frames, relayed as they are)
//   front end -> server  INIT_EOF  u32 spawn id: the init's end of the sync socket closed
//   server -> front end  INIT_CLOSE u32 spawn id: close the front end's end of the sync socket
//   front end -> server  INIT_EXIT u32 spawn id, i32 wait status (the front end reaped it)
//   front end -> server  SIGNAL    u32 signal number received (TERM INT HUP QUIT USR1 USR2 WINCH)
//   server -> front end  DIE       u32 signal number: the command has no handler for the signal
//                                  and a Node.js process would die of it: die of it too
//   server -> front end  READ_STDIN  -> front end replies STDIN (all of fd 0 up to EOF)
//                                  or STDIN_ERROR (text)
//   server -> front end  OUT, ERR  bytes for the front end's fd 1 / fd 2
//   server -> front end  EXIT      u32 exit code: the last frame; the front end exits with it
//
// EOF: before ACCEPT, the front end falls back to the cold path (nothing has happened yet). After
// it, the front end reports the lost server on stderr and exits 1; the server treats a front end's
// EOF as the loss of every init it forked (their sync streams end, their exit reads SIGKILL), so
// the command fails and cleans up as it would if trun-init had died.

export const SERVER_PROTOCOL_VERSION = '1';

export enum ClientMsg {
  REQUEST = 1,
  SPAWNED = 2,
  INIT_DATA = 3,
  INIT_EOF = 4,
  INIT_EXIT = 5,
  SIGNAL = 6,
  STDIN = 7,
  STDIN_ERROR = 8,
}

export enum ServerMsg {
  ACCEPT = 101,
  DECLINE = 102,
  SPAWN = 103,
  INIT_DATA = 104,
  INIT_CLOSE = 105,
  OUT = 106,
  ERR = 107,
  READ_STDIN = 108,
  DIE = 109,
  EXIT = 110,
}

/** SPAWN's stdio codes. */
export enum SpawnStdio {
  INHERIT = 0,
  DEV_NULL = 1,
}

export interface Request {
  frontendDir: string;
  node: string;
  cwd: string;
  argv: string[];
  env: Record<string, string>;
}

/** Decodes REQUEST's payload; throws on a malformed one. */
export function decodeRequest(payload: Buffer): Request {
  const parts = payload.toString('utf8').split('\0');
  if (parts.pop() !== '') throw new Error('request: not NUL-terminated');
  const [version, frontendDir, node, cwd, argcText] = parts;
  if (version !== SERVER_PROTOCOL_VERSION) throw new Error(`request: protocol version "${version}", want ${SERVER_PROTOCOL_VERSION}`);
  const argc = Number(argcText);
  if (frontendDir === undefined || node === undefined || cwd === undefined || !Number.isInteger(argc) || argc < 0 || parts.length < 5 + argc) {
    throw new Error('request: malformed');
  }
  const argv = parts.slice(5, 5 + argc);
  const env: Record<string, string> = {};
  for (const e of parts.slice(5 + argc)) {
    const i = e.indexOf('=');
    if (i > 0 && !(e.slice(0, i) in env)) env[e.slice(0, i)] = e.slice(i + 1); // getenv(3) takes the first
  }
  return { frontendDir, node, cwd, argv, env };
}

/** Encodes a REQUEST payload (the front end does this in C; tests use it). */
export function encodeRequest(r: Request): Buffer {
  const env = Object.entries(r.env).map(([k, v]) => `${k}=${v}`);
  return Buffer.from([SERVER_PROTOCOL_VERSION, r.frontendDir, r.node, r.cwd, String(r.argv.length), ...r.argv, ...env].map((s) => `${s}\0`).join(''), 'utf8');
}

/** A payload that starts with u32 values. */
export function u32s(values: number[], rest: Buffer | string = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(4 * values.length);
  values.forEach((v, i) => head.writeInt32LE(v | 0, 4 * i));
  return Buffer.concat([head, typeof rest === 'string' ? Buffer.from(rest, 'utf8') : rest]);
}
