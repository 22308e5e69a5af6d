// A container's /etc/hosts, /etc/hostname and /etc/resolv.conf: their contents (pure) and the
// in-place rewrite of a hosts file that a running container has bind-mounted (a rename would
// leave the container looking at the old inode).
import * as fs from 'node:fs';
import { sysError } from '../../runtime/errors';

export interface HostsEntry {
  ip: string;
  names: string[];
}

const LOCALHOST = ['127.0.0.1\tlocalhost', '::1\tlocalhost ip6-localhost ip6-loopback', 'fe00::0\tip6-localnet', 'ff00::0\tip6-mcastprefix', 'ff02::1\tip6-allnodes', 'ff02::2\tip6-allrouters'];

/** Docker's layout: localhost lines, then the container's own address, then the names it may use. */
export function hostsText(entries: readonly HostsEntry[]): string {
  const lines = [...LOCALHOST];
  for (const e of entries) {
    const names = [...new Set(e.names.filter(Boolean))];
    if (names.length > 0) lines.push(`${e.ip}\t${names.join(' ')}`);
  }
  return lines.join('\n') + '\n';
}

/** Docker's rule for bridge networks: the host's resolv.conf without loopback nameservers (they mean nothing inside). */
export function containerResolvConf(host: string): string {
  const out: string[] = [];
  let nameservers = 0;
  for (const line of host.split('\n')) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    if (m) {
      const ns = m[1]!;
      if (ns.startsWith('127.') || ns === '::1' || ns === '0:0:0:0:0:0:0:1') continue;
      nameservers++;
    }
    out.push(line);
  }
  while (out.length > 0 && out[out.length - 1] === '') out.pop();
  // Docker falls back to public resolvers when nothing is left; so do we.
  if (nameservers === 0) out.push('nameserver 8.8.8.8', 'nameserver 8.8.4.4');
  return out.join('\n') + '\n';
}

/** Replaces a file's contents without replacing the file; a missing file (bundle gone) is skipped. */
export function rewriteInPlace(file: string, text: string): void {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r+');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw sysError('open', file, err);
  }
  try {
    const buf = Buffer.from(text);
    // Write first, then cut: a reader never sees an empty file.
    fs.writeSync(fd, buf, 0, buf.length, 0);
    fs.ftruncateSync(fd, buf.length);
  } catch (err) {
    throw sysError('write', file, err);
  } finally {
    fs.closeSync(fd);
  }
}
