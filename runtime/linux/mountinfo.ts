// Reading /proc/self/mountinfo: its escaped fields, and the mounts stacked on one mount point.
import * as fs from 'node:fs';

/** mountinfo escapes space, tab, newline and backslash as octal. */
export function unescapeMountField(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/**
 * The ids of the mounts on mountPoint (a path with its symlinks resolved, as mountinfo shows it),
 * in mountinfo's order: the mount on top of the others comes last.
 */
export function mountIdsAt(mountPoint: string, mountinfo = fs.readFileSync('/proc/self/mountinfo', 'utf8')): number[] {
  const ids: number[] = [];
  for (const line of mountinfo.split('\n')) {
    // "36 35 98:0 /root /mnt rw,opts [optional fields...] - fstype source superopts"
    const fields = line.split(' ');
    if (fields.length < 5 || unescapeMountField(fields[4]!) !== mountPoint) continue;
    ids.push(Number(fields[0]));
  }
  return ids;
}
