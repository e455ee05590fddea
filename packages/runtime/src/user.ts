import * as fs from 'node:fs';
import * as path from 'node:path';
import { SkiffError } from '@skiff/oci-image';
import { RuntimeErrorCode } from './errors.js';

export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
  shell: string;
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
  home: string;
}

const isNumber = (s: string) => /^[0-9]+$/.test(s);

export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const f = line.split(':');
    if (f.length < 4 || !isNumber(f[2] ?? '') || !isNumber(f[3] ?? '')) continue;
    out.push({
      name: f[0]!,
      uid: Number(f[2]),
      gid: Number(f[3]),
      home: f[5] ?? '',
      shell: f[6] ?? '',
    });
  }
  return out;
}

export function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const f = line.split(':');
    if (f.length < 3 || !isNumber(f[2] ?? '')) continue;
    out.push({
      name: f[0]!,
      gid: Number(f[2]),
      members: (f[3] ?? '')
        .split(',')
        .map((m) => m.trim())
        .filter((m) => m !== ''),
    });
  }
  return out;
}

/**
 * Resolves `user[:group]` (names or numbers) against an image's passwd and group files, as
 * podman does: a numeric uid missing from passwd is fine (gid 0, HOME /), a missing name is an
 * error; supplementary groups are the groups listing the user, plus `groupAdd`.
 */
export function resolveUser(
  spec: string,
  passwdText: string | undefined,
  groupText: string | undefined,
  groupAdd: readonly string[] = [],
): ResolvedUser {
  const passwd = parsePasswd(passwdText ?? '');
  const groups = parseGroup(groupText ?? '');
  const [userPart = '', groupPart] = spec === '' ? ['0'] : spec.split(':', 2);
  const user = userPart === '' ? '0' : userPart;
  let entry: PasswdEntry | undefined;
  let uid: number;
  if (isNumber(user)) {
    uid = Number(user);
    entry = passwd.find((p) => p.uid === uid);
  } else {
    entry = passwd.find((p) => p.name === user);
    if (!entry) {
      throw new SkiffError(
        RuntimeErrorCode.UserNotFound,
        `unable to find user ${user}: no matching entries in passwd file`,
      );
    }
    uid = entry.uid;
  }
  const lookupGroup = (g: string): number => {
    if (isNumber(g)) return Number(g);
    const found = groups.find((e) => e.name === g);
    if (!found) {
      throw new SkiffError(
        RuntimeErrorCode.UserNotFound,
        `unable to find group ${g}: no matching entries in group file`,
      );
    }
    return found.gid;
  };
  const gid =
    groupPart !== undefined && groupPart !== '' ? lookupGroup(groupPart) : (entry?.gid ?? 0);
  const additional: number[] = [];
  // An explicit group replaces the supplementary groups, as in podman/runc.
  if (entry && (groupPart === undefined || groupPart === '')) {
    for (const g of groups) {
      if (g.members.includes(entry.name) && g.gid !== gid) additional.push(g.gid);
    }
  }
  for (const g of groupAdd) {
    const n = lookupGroup(g);
    if (!additional.includes(n)) additional.push(n);
  }
  return { uid, gid, additionalGids: additional, home: entry?.home || '/' };
}

/**
 * Resolves `rel` inside `root` the way the container would see it: symlinks (absolute or
 * relative) are followed but never out of `root` ("/.." stays at the root), like securejoin.
 */
export function resolveInRoot(root: string, rel: string): string {
  const parts = rel.split('/').filter((p) => p !== '' && p !== '.');
  const done: string[] = [];
  let links = 0;
  while (parts.length > 0) {
    const part = parts.shift()!;
    if (part === '..') {
      done.pop();
      continue;
    }
    const candidate = path.join(root, ...done, part);
    let st: fs.Stats;
    try {
      st = fs.lstatSync(candidate);
    } catch {
      // Missing: the rest is taken literally (nothing to follow).
      done.push(part, ...parts.filter((p) => p !== '..'));
      break;
    }
    if (st.isSymbolicLink()) {
      if (++links > 255) {
        throw new SkiffError(RuntimeErrorCode.UnsafePath, `too many symlinks resolving ${rel}`);
      }
      const target = fs.readlinkSync(candidate);
      const targetParts = target.split('/').filter((p) => p !== '' && p !== '.');
      if (target.startsWith('/')) done.length = 0;
      parts.unshift(...targetParts);
      continue;
    }
    done.push(part);
  }
  return path.join(root, ...done);
}

/** Reads a regular file of a container rootfs without escaping it; undefined when absent. */
export function readRootfsFile(root: string, rel: string, maxBytes = 4 << 20): string | undefined {
  const file = resolveInRoot(root, rel);
  let fd: number;
  try {
    fd = fs.openSync(
      file,
      fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK,
    );
  } catch {
    return undefined;
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile() || st.size > maxBytes) return undefined;
    return fs.readFileSync(fd, 'utf8');
  } finally {
    fs.closeSync(fd);
  }
}
