// Signal names and numbers (x86_64/generic Linux), for `trun kill ID SIGNAL`.
import { TrunError } from '../errors';

export const SIGNALS: Readonly<Record<string, number>> = {
  SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGILL: 4, SIGTRAP: 5, SIGABRT: 6, SIGIOT: 6, SIGBUS: 7,
  SIGFPE: 8, SIGKILL: 9, SIGUSR1: 10, SIGSEGV: 11, SIGUSR2: 12, SIGPIPE: 13, SIGALRM: 14,
  SIGTERM: 15, SIGSTKFLT: 16, SIGCHLD: 17, SIGCONT: 18, SIGSTOP: 19, SIGTSTP: 20, SIGTTIN: 21,
  SIGTTOU: 22, SIGURG: 23, SIGXCPU: 24, SIGXFSZ: 25, SIGVTALRM: 26, SIGPROF: 27, SIGWINCH: 28,
  SIGIO: 29, SIGPOLL: 29, SIGPWR: 30, SIGSYS: 31,
};

const SIGRTMIN = 34;
const SIGRTMAX = 64;

/**
 * Accepts "KILL", "SIGKILL", "kill", "9" and "RTMIN+3", as runc does, and "0": kill(2)'s
 * null signal, which only asks whether the process is there (`runc kill ID 0`).
 */
export function parseSignal(text: string): number {
  const t = text.trim();
  if (/^\d+$/.test(t)) {
    const n = Number(t);
    if (n >= 0 && n <= SIGRTMAX) return n;
  } else {
    const name = t.toUpperCase().startsWith('SIG') ? t.toUpperCase() : `SIG${t.toUpperCase()}`;
    const known = SIGNALS[name];
    if (known !== undefined) return known;
    const rt = /^SIGRT(MIN|MAX)([+-]\d+)?$/.exec(name);
    if (rt) {
      const n = (rt[1] === 'MIN' ? SIGRTMIN : SIGRTMAX) + Number(rt[2] ?? 0);
      if (n >= SIGRTMIN && n <= SIGRTMAX) return n;
    }
  }
  throw new TrunError('EINVAL', `unknown signal "${text}"`);
}

export function signalName(n: number): string {
  for (const [name, num] of Object.entries(SIGNALS)) if (num === n) return name;
  return `SIG${n}`;
}
