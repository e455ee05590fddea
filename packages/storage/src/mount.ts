import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { SkiffError } from '@skiff/oci-image';
import { findBinary } from '@skiff/sys';
import { StorageErrorCode } from './options.js';

function run(cmd: string, args: string[], cwd?: string): Promise<void> {
  const bin = findBinary(cmd) ?? cmd;
  return new Promise((resolve, reject) => {
    execFile(bin, args, { cwd }, (err, _stdout, stderr) => {
      if (err) {
        reject(
          new SkiffError(
            StorageErrorCode.Mount,
            `${cmd} ${args.join(' ')}: ${String(stderr).trim() || err.message}`,
            { cause: err },
          ),
        );
      } else resolve();
    });
  });
}

/** Unescapes the octal escapes of /proc/self/mountinfo fields. */
function unescapeMountField(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
}

/** Mount points currently mounted in this mount namespace. */
export function mountPoints(): Set<string> {
  const out = new Set<string>();
  let text: string;
  try {
    text = readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return out;
  }
  for (const line of text.split('\n')) {
    const f = line.split(' ');
    if (f.length > 4) out.add(unescapeMountField(f[4]!));
  }
  return out;
}

export function isMounted(p: string): boolean {
  return mountPoints().has(p);
}

/** Whether the kernel offers overlayfs. */
export function overlaySupported(): boolean {
  try {
    return /\toverlay$/m.test(readFileSync('/proc/filesystems', 'utf8'));
  } catch {
    return false;
  }
}

/**
 * Mounts an overlay. Lower directories are given relative to `cwd` (the layers directory),
 * which keeps the option string under the kernel's page-size limit for deep images.
 */
export async function mountOverlay(opts: {
  target: string;
  cwd: string;
  lower: string[];
  upper?: string;
  work?: string;
  rootless?: boolean;
}): Promise<void> {
  const parts = [`lowerdir=${opts.lower.join(':')}`];
  if (opts.upper && opts.work) parts.push(`upperdir=${opts.upper}`, `workdir=${opts.work}`);
  if (opts.rootless) parts.push('userxattr');
  const args = ['-t', 'overlay', 'overlay', '-o', parts.join(','), opts.target];
  await run('mount', args, opts.cwd);
}

export async function unmount(target: string): Promise<void> {
  if (!isMounted(target)) return;
  try {
    await run('umount', [target]);
  } catch (err) {
    // Busy (a process still uses it): detach lazily so the store can go on.
    if (!isMounted(target)) return;
    await run('umount', ['-l', target]).catch(() => {
      throw err;
    });
  }
}
