import { createRequire } from 'node:module';
import { getSystemErrorMap } from 'node:util';

/** An error from a libc call, shaped like Node's own fs errors (`code`, `errno`, `syscall`, `path`). */
export class SysError extends Error {
  readonly code: string;
  readonly errno: number;
  readonly syscall: string;
  readonly path: string;

  constructor(syscall: string, errno: number, path: string, detail?: string) {
    const [code, description] = getSystemErrorMap().get(-errno) ?? [`E${errno}`, 'unknown error'];
    super(`${syscall} ${path}${detail ? ` (${detail})` : ''}: ${description} (${code})`);
    this.name = 'SysError';
    this.code = code;
    this.errno = errno;
    this.syscall = syscall;
    this.path = path;
  }
}

type Fn = (...args: unknown[]) => unknown;

interface Libc {
  mknod: (path: string, mode: number, dev: bigint) => number;
  lsetxattr: Fn;
  lgetxattr: Fn;
  llistxattr: Fn;
  errno: () => number;
}

let libc: Libc | undefined;

/** Loads koffi and libc on first use, so that programs that never call these pay nothing. */
export function loadLibc(): Libc {
  if (libc) return libc;
  const require = createRequire(import.meta.url);
  const koffi = require('koffi') as typeof import('koffi');
  const lib = koffi.load('libc.so.6');
  let mknod: Libc['mknod'];
  try {
    // glibc >= 2.33 exports mknod as a real symbol.
    const f = lib.func('int mknod(const char *path, uint32_t mode, uint64_t dev)');
    mknod = (path, mode, dev) => f(path, mode, dev) as number;
  } catch {
    // Older glibc only has the versioned wrapper; _MKNOD_VER is 0 on x86_64 and 3 elsewhere.
    const f = lib.func(
      'int __xmknod(int ver, const char *path, uint32_t mode, const uint64_t *dev)',
    );
    const ver = process.arch === 'x64' ? 0 : 3;
    mknod = (path, mode, dev) => f(ver, path, mode, [dev]) as number;
  }
  libc = {
    mknod,
    lsetxattr: lib.func(
      'int lsetxattr(const char *path, const char *name, const void *value, size_t size, int flags)',
    ),
    lgetxattr: lib.func(
      'intptr_t lgetxattr(const char *path, const char *name, void *value, size_t size)',
    ),
    llistxattr: lib.func('intptr_t llistxattr(const char *path, void *list, size_t size)'),
    errno: () => koffi.errno(),
  };
  return libc;
}
