import { loadLibc, SysError } from './native.js';

const S_IFMT = 0o170000;
const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;
const S_IFIFO = 0o010000;
const S_IFREG = 0o100000;

/** Encodes a device number the way glibc's makedev() does. */
export function makedev(major: number, minor: number): bigint {
  const ma = BigInt(major >>> 0);
  const mi = BigInt(minor >>> 0);
  return (
    ((ma & 0xfffff000n) << 32n) | ((ma & 0xfffn) << 8n) | ((mi & 0xffffff00n) << 12n) | (mi & 0xffn)
  );
}

/** Splits a device number (as `fs.Stats.rdev` gives it) into major and minor. */
export function splitDev(dev: number | bigint): { major: number; minor: number } {
  const d = BigInt(dev);
  const major = Number(((d >> 8n) & 0xfffn) | ((d >> 32n) & ~0xfffn & 0xffffffffn));
  const minor = Number((d & 0xffn) | ((d >> 12n) & ~0xffn & 0xffffffffn));
  return { major, minor };
}

/**
 * Creates a device node, fifo or empty regular file. `mode` carries the file type
 * (`fs.constants.S_IFCHR` etc.) and the permission bits; the process umask applies.
 */
export function mknod(path: string, mode: number, major = 0, minor = 0): void {
  const type = mode & S_IFMT;
  if (type !== S_IFCHR && type !== S_IFBLK && type !== S_IFIFO && type !== S_IFREG) {
    throw new SysError('mknod', 22, path, `unsupported file type 0o${type.toString(8)}`);
  }
  const libc = loadLibc();
  if (libc.mknod(path, mode, makedev(major, minor)) !== 0) {
    throw new SysError('mknod', libc.errno(), path);
  }
}
