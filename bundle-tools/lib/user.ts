// USER strings ("name", "uid", "name:group", "uid:gid") resolved through an image's /etc/passwd
// and /etc/group, the way docker does: a named user must exist; a numeric one need not; without
// an explicit group, the user's primary group plus every group listing the user.
import { TrunError } from '../../runtime/errors';

export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

export interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

export interface ResolvedUser {
  uid: number;
  gid: number;
  additionalGids: number[];
  home?: string;
}

export function parsePasswd(text: string | null): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of (text ?? '').split('\n')) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const f = line.split(':');
    if (f.length < 4) continue;
    const uid = toId(f[2]!);
    const gid = toId(f[3]!);
    if (uid === null || gid === null) continue;
    out.push({ name: f[0]!, uid, gid, home: f[5] ?? '' });
  }
  return out;
}

export function parseGroup(text: string | null): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const line of (text ?? '').split('\n')) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const f = line.split(':');
    if (f.length < 3) continue;
    const gid = toId(f[2]!);
    if (gid === null) continue;
    out.push({ name: f[0]!, gid, members: (f[3] ?? '').split(',').map((s) => s.trim()).filter(Boolean) });
  }
  return out;
}

export function resolveUser(spec: string, passwdText: string | null, groupText: string | null): ResolvedUser {
  const passwd = parsePasswd(passwdText);
  const groups = parseGroup(groupText);
  const [userPart = '', groupPart] = spec.split(':', 2) as [string?, string?];
  if (spec.split(':').length > 2) throw new TrunError('EINVAL', `invalid user "${spec}": expected USER[:GROUP]`);

  let uid: number;
  let gid = 0;
  let name: string | undefined;
  let home: string | undefined;
  const userId = userPart === '' ? 0 : toId(userPart);
  if (userId !== null) {
    uid = userId;
    const entry = passwd.find((p) => p.uid === uid);
    if (entry) ({ gid, name, home } = entry);
  } else {
    const entry = passwd.find((p) => p.name === userPart);
    if (!entry) throw new TrunError('EINVAL', `unable to find user "${userPart}": no matching entry in the image's /etc/passwd`);
    ({ uid, gid, name, home } = entry);
  }

  if (groupPart !== undefined && groupPart !== '') {
    const groupId = toId(groupPart);
    if (groupId !== null) {
      gid = groupId;
    } else {
      const g = groups.find((e) => e.name === groupPart);
      if (!g) throw new TrunError('EINVAL', `unable to find group "${groupPart}": no matching entry in the image's /etc/group`);
      gid = g.gid;
    }
    return home === undefined ? { uid, gid, additionalGids: [] } : { uid, gid, additionalGids: [], home };
  }
  const additional = name === undefined ? [] : groups.filter((g) => g.members.includes(name!) && g.gid !== gid).map((g) => g.gid);
  const result: ResolvedUser = { uid, gid, additionalGids: [...new Set(additional)] };
  if (home !== undefined) result.home = home;
  return result;
}

function toId(s: string): number | null {
  if (!/^[0-9]+$/.test(s)) return null;
  const n = Number(s);
  return n <= 0xffffffff ? n : null;
}
