import { loadLibc, SysError } from './native.js';

const ENODATA = 61;
const ERANGE = 34;

/** Sets an extended attribute on a path without following a final symlink. */
export function lsetxattr(path: string, name: string, value: Uint8Array): void {
  const libc = loadLibc();
  if ((libc.lsetxattr(path, name, value, value.length, 0) as number) !== 0) {
    throw new SysError('lsetxattr', libc.errno(), path, name);
  }
}

/** Reads an extended attribute without following a final symlink; undefined when it is not set. */
export function lgetxattr(path: string, name: string): Buffer | undefined {
  const libc = loadLibc();
  for (let attempt = 0; attempt < 8; attempt++) {
    const size = libc.lgetxattr(path, name, null, 0) as number;
    if (size < 0) {
      const errno = libc.errno();
      if (errno === ENODATA) return undefined;
      throw new SysError('lgetxattr', errno, path, name);
    }
    const buf = Buffer.alloc(size);
    if (size === 0) return buf;
    const got = libc.lgetxattr(path, name, buf, size) as number;
    if (got >= 0) return buf.subarray(0, got);
    const errno = libc.errno();
    if (errno === ENODATA) return undefined;
    // ERANGE: the value grew between the two calls; ask again.
    if (errno !== ERANGE) throw new SysError('lgetxattr', errno, path, name);
  }
  throw new SysError('lgetxattr', ERANGE, path, name);
}

/** Lists the extended attribute names of a path without following a final symlink. */
export function llistxattr(path: string): string[] {
  const libc = loadLibc();
  for (let attempt = 0; attempt < 8; attempt++) {
    const size = libc.llistxattr(path, null, 0) as number;
    if (size < 0) throw new SysError('llistxattr', libc.errno(), path);
    if (size === 0) return [];
    const buf = Buffer.alloc(size);
    const got = libc.llistxattr(path, buf, size) as number;
    if (got >= 0) {
      return buf
        .subarray(0, got)
        .toString('utf8')
        .split('\0')
        .filter((n) => n !== '');
    }
    const errno = libc.errno();
    if (errno !== ERANGE) throw new SysError('llistxattr', errno, path);
  }
  throw new SysError('llistxattr', ERANGE, path);
}
