import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/** True when the process runs with effective uid 0. */
export function isRoot(): boolean {
  return (process.geteuid?.() ?? process.getuid?.() ?? -1) === 0;
}

/** Directories where distributions put container helpers that are not on a user's PATH. */
const EXTRA_DIRS = [
  '/usr/local/sbin',
  '/usr/sbin',
  '/sbin',
  '/usr/libexec/podman',
  '/usr/lib/podman',
];

function isExecutableFile(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Finds a host program by name on PATH, then in the sbin and podman helper directories.
 * A name containing `/` is checked as given. Returns the absolute path or undefined.
 */
export function findBinary(name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (name === '') return undefined;
  if (name.includes('/')) return isExecutableFile(name) ? name : undefined;
  const dirs = (env.PATH ?? '').split(delimiter).filter((d) => d !== '');
  const seen = new Set<string>();
  for (const dir of [...dirs, ...EXTRA_DIRS]) {
    if (seen.has(dir)) continue;
    seen.add(dir);
    const candidate = join(dir, name);
    if (isExecutableFile(candidate)) return candidate;
  }
  return undefined;
}
