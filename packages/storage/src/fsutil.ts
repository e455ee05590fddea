import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ErrorCode, SkiffError } from '@skiff/oci-image';
import { processAlive, selfProcess } from './process.js';

/** A temp name that carries its creator (pid and start time), so others can tell a leftover. */
export function tempName(kind: string): string {
  const me = selfProcess();
  return `${kind}-${me.pid}-${me.start}-${randomBytes(6).toString('hex')}`;
}

/** Whether a temp entry's creator is gone (names made by tempName). */
export function isLeftover(name: string): boolean {
  const m = /^[a-z]+-(\d+)-(\d+)-[0-9a-f]+$/.exec(name);
  if (!m) return true;
  return !processAlive(Number(m[1]), m[2]!);
}

export function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    // Some file systems refuse fsync on directories; the rename is still atomic.
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/** Flushes the file system holding `dir` (syncfs through coreutils' `sync -f`). */
export function syncFileSystem(dir: string): Promise<void> {
  return new Promise((resolve) => {
    execFile('sync', ['-f', dir], () => resolve());
  });
}

export function abortError(signal?: AbortSignal): SkiffError {
  return new SkiffError(ErrorCode.Aborted, 'operation aborted', { cause: signal?.reason });
}

export function throwIfAborted(signal?: AbortSignal): void {
  if (signal?.aborted) throw abortError(signal);
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortError(signal));
      return;
    }
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(abortError(signal));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Real disk use of a tree: allocated blocks, each inode once. */
export function diskUsage(p: string, seen = new Set<string>()): number {
  let total = 0;
  const stack = [p];
  while (stack.length > 0) {
    const cur = stack.pop()!;
    let st: fs.Stats;
    try {
      st = fs.lstatSync(cur);
    } catch {
      continue;
    }
    const key = `${st.dev}:${st.ino}`;
    if (seen.has(key)) continue;
    seen.add(key);
    total += st.blocks * 512;
    if (st.isDirectory()) {
      let names: string[];
      try {
        names = fs.readdirSync(cur);
      } catch {
        continue;
      }
      for (const n of names) stack.push(path.join(cur, n));
    }
  }
  return total;
}

export async function removeTree(p: string): Promise<void> {
  await fs.promises.rm(p, { recursive: true, force: true, maxRetries: 3 });
}
