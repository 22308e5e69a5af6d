// Whether a host user can reach a path: search (x) permission on every directory above it, by
// the owner, group or other bits that apply to it. A user-namespaced container's root is such a
// user on the host, and a bind source it cannot reach must be opened for it before the clone.
import * as fs from 'node:fs';
import * as path from 'node:path';

/** True when uid/gid may search each directory from "/" down to hostPath's parent (root's is not needed). */
export function canSearchParents(hostPath: string, uid: number, gid: number): boolean {
  if (uid === 0) return true;
  for (let dir = path.dirname(path.resolve(hostPath)); ; dir = path.dirname(dir)) {
    let st: fs.Stats;
    try {
      st = fs.statSync(dir);
    } catch {
      return false;
    }
    const bit = st.uid === uid ? 0o100 : st.gid === gid ? 0o010 : 0o001;
    if (!(st.mode & bit)) return false;
    if (dir === path.dirname(dir)) return true;
  }
}
