// Which processes run on a bundle: any process whose root directory is the bundle's rootfs. A
// container's init pivots into that overlay mount, so comparing device and inode of
// /proc/PID/root with the rootfs finds it from any mount namespace.
import * as fs from 'node:fs';

export function processesRootedAt(rootfs: string): number[] {
  let target: fs.Stats;
  try {
    target = fs.statSync(rootfs);
  } catch {
    return [];
  }
  const out: number[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(name)) continue;
    try {
      const st = fs.statSync(`/proc/${name}/root`);
      if (st.dev === target.dev && st.ino === target.ino) out.push(Number(name));
    } catch {
      // gone, or not ours to look at
    }
  }
  return out;
}
