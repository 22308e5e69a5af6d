// The one error type the library throws. `code` is stable (callers and tests match on it);
// `message` keeps runc's wording where shims parse it.

export type ErrorCode =
  | 'ENOTEXIST' // container does not exist
  | 'EEXIST' // container with given ID already exists
  | 'EBADID' // invalid container ID format
  | 'ENOTRUNNING' // container not running
  | 'EPAUSED' // container paused
  | 'ESTILLRUNNING' // container still running
  | 'EBADSTATE' // operation not valid in the container's current status
  | 'EINVAL' // bad argument or config
  | 'ECONFIG' // config.json failed validation
  | 'EINIT' // the C init reported an error
  | 'EHOOK' // a hook failed or timed out
  | 'ESYS' // a system call failed
  | 'EIMAGE' // image store problem
  | 'EBUNDLE'; // bundle problem

export interface ErrorDetails {
  id?: string;
  path?: string;
  syscall?: string;
  cause?: unknown;
}

export class TrunError extends Error {
  readonly code: ErrorCode;
  readonly id?: string;
  readonly path?: string;
  readonly syscall?: string;

  constructor(code: ErrorCode, message: string, details: ErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'TrunError';
    this.code = code;
    if (details.id !== undefined) this.id = details.id;
    if (details.path !== undefined) this.path = details.path;
    if (details.syscall !== undefined) this.syscall = details.syscall;
  }
}

/** Wraps a Node system error (ENOENT, EACCES...) with what trun was doing: `open "/x": no such file or directory`. */
export function sysError(syscall: string, path: string, err: unknown, id?: string): TrunError {
  const e = err as NodeJS.ErrnoException;
  const reason = e && typeof e.code === 'string' ? describeErrno(e.code) : String(err);
  const details: ErrorDetails = { path, syscall, cause: err };
  if (id !== undefined) details.id = id;
  return new TrunError('ESYS', `${syscall} "${path}": ${reason}`, details);
}

const ERRNO_TEXT: Record<string, string> = {
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EEXIST: 'file exists',
  ENOTDIR: 'not a directory',
  EISDIR: 'is a directory',
  EBUSY: 'device or resource busy',
  EINVAL: 'invalid argument',
  ENOSPC: 'no space left on device',
  EROFS: 'read-only file system',
  ESRCH: 'no such process',
  ENOTEMPTY: 'directory not empty',
  ELOOP: 'too many levels of symbolic links',
  EXDEV: 'invalid cross-device link',
};

export function describeErrno(code: string): string {
  return ERRNO_TEXT[code] ?? code.toLowerCase();
}
