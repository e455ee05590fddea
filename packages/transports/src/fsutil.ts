import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { digestingStream, ErrorCode, parseDigest, SkiffError } from '@skiff/oci-image';

/** A name unique to this process and call, for temp files next to their final place. */
export function tempName(base: string): string {
  return `.${base}.skiff-tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
}

export async function makeTempDir(prefix: string, tmpDir?: string): Promise<string> {
  return fs.mkdtemp(path.join(tmpDir ?? os.tmpdir(), `skiff-${prefix}-`));
}

/** Writes a file atomically: temp file in the same directory, fsync, rename. */
export async function writeFileAtomic(file: string, data: Uint8Array | string): Promise<void> {
  const tmp = path.join(path.dirname(file), tempName(path.basename(file)));
  try {
    const fh = await fs.open(tmp, 'wx', 0o644);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fs.rename(tmp, file);
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw err;
  }
}

export async function exists(p: string): Promise<boolean> {
  try {
    await fs.lstat(p);
    return true;
  } catch {
    return false;
  }
}

/** Size of a regular file, or undefined when it is missing or not a regular file. */
export async function regularFileSize(p: string): Promise<number | undefined> {
  try {
    const st = await fs.lstat(p);
    return st.isFile() ? st.size : undefined;
  } catch {
    return undefined;
  }
}

export interface StoredBlob {
  digest: string;
  size: number;
}

/**
 * Stores a stream as a content-addressed file: exclusive temp file, digest and size check,
 * atomic rename to `finalPath(digest)`. Nothing is kept on mismatch or error.
 */
export async function storeBlobFile(
  dir: string,
  stream: Readable,
  expected: { digest?: string; size?: number },
  finalPath: (digest: string) => string,
  what: string,
  signal?: AbortSignal,
): Promise<StoredBlob> {
  const algorithm = expected.digest ? parseDigest(expected.digest).algorithm : 'sha256';
  const tmp = path.join(dir, tempName('blob'));
  const hasher = digestingStream(algorithm);
  try {
    await pipeline(stream, hasher, createWriteStream(tmp, { flags: 'wx', mode: 0o644 }), {
      signal,
    });
    const digest = hasher.digest();
    const size = hasher.bytes;
    if (expected.size !== undefined && expected.size >= 0 && size !== expected.size) {
      throw new SkiffError(
        ErrorCode.SizeMismatch,
        `size mismatch for ${what}: expected ${expected.size} bytes, got ${size}`,
      );
    }
    if (expected.digest !== undefined && digest !== expected.digest) {
      throw new SkiffError(
        ErrorCode.DigestMismatch,
        `digest mismatch for ${what}: expected ${expected.digest}, got ${digest}`,
      );
    }
    const target = finalPath(digest);
    await fs.mkdir(path.dirname(target), { recursive: true });
    await fs.rename(tmp, target);
    return { digest, size };
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw err;
  }
}

/** Reads a whole small file (manifests, configs), refusing anything bigger than `max`. */
export async function readSmallFile(p: string, what: string, max = 32 * 1024 * 1024) {
  const st = await fs.lstat(p).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') {
      throw new SkiffError(ErrorCode.BlobUnknown, `${what} not found (${p})`, { cause: err });
    }
    throw err;
  });
  if (!st.isFile()) throw new SkiffError(ErrorCode.UnsafePath, `${what} is not a regular file`);
  if (st.size > max) {
    throw new SkiffError(ErrorCode.InvalidManifest, `${what} is too large (${st.size} bytes)`);
  }
  return new Uint8Array(await fs.readFile(p));
}

export function abortError(signal?: AbortSignal): SkiffError {
  return new SkiffError(ErrorCode.Aborted, 'operation aborted', { cause: signal?.reason });
}

export function throwIfAborted(signal?: AbortSignal): void {
  if (signal?.aborted) throw abortError(signal);
}
