import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  type BlobInfo,
  digestingStream,
  digestOf,
  ErrorCode,
  parseDigest,
  SkiffError,
} from '@skiff/oci-image';

/** A name unique to this process and call, for temp files next to their final place. */
export function tempName(base: string): string {
  return `.${base}.skiff-tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
}

export async function makeTempDir(prefix: string, tmpDir?: string): Promise<string> {
  return fs.mkdtemp(path.join(tmpDir ?? os.tmpdir(), `skiff-${prefix}-`));
}

/**
 * Creates or replaces `file` through a temp file next to it that `write` fills, renamed into
 * place once written; on failure the temp file is removed and `file` is untouched.
 */
export async function writeThroughTemp(
  file: string,
  write: (tmp: string) => Promise<void>,
): Promise<void> {
  const tmp = path.join(path.dirname(file), tempName(path.basename(file)));
  try {
    await write(tmp);
    await fs.rename(tmp, file);
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw err;
  }
}

/** Writes a file atomically: temp file in the same directory, fsync, rename. */
export async function writeFileAtomic(file: string, data: Uint8Array | string): Promise<void> {
  await writeThroughTemp(file, async (tmp) => {
    const fh = await fs.open(tmp, 'wx', 0o644);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
  });
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

/** A destination's hasBlob for a blob kept as a file: a regular file of the blob's size (if known). */
export async function hasBlobFile(p: string, info: BlobInfo): Promise<boolean> {
  const size = await regularFileSize(p);
  return size !== undefined && (info.size < 0 || size === info.size);
}

/** A source's getBlob for a blob kept as a file; a missing one is BlobUnknown in `reference`. */
export async function openBlobFile(
  p: string,
  info: BlobInfo,
  reference: string,
  opts: { signal?: AbortSignal | undefined; highWaterMark?: number } = {},
): Promise<{ stream: Readable; size: number }> {
  const size = await regularFileSize(p);
  if (size === undefined) {
    throw new SkiffError(ErrorCode.BlobUnknown, `blob ${info.digest} not found in ${reference}`);
  }
  return { stream: createReadStream(p, opts), size };
}

/**
 * A destination's putBlob for blobs kept as files: stores the stream as `finalPath(digest)`
 * through an exclusive temp file in `dir`, checking the digest and size `info` gives (an empty
 * digest or a negative size: not known). Nothing is kept on mismatch or error.
 */
export async function storeBlobFile(
  dir: string,
  stream: Readable,
  info: BlobInfo,
  finalPath: (digest: string) => string,
  reference: string,
  signal?: AbortSignal,
): Promise<BlobInfo> {
  const what = `blob ${info.digest || '(new)'} for ${reference}`;
  const algorithm = info.digest ? parseDigest(info.digest).algorithm : 'sha256';
  const tmp = path.join(dir, tempName('blob'));
  const hasher = digestingStream(algorithm);
  try {
    await pipeline(stream, hasher, createWriteStream(tmp, { flags: 'wx', mode: 0o644 }), {
      signal,
    });
    const digest = hasher.digest();
    const size = hasher.bytes;
    if (info.size >= 0 && size !== info.size) {
      throw new SkiffError(
        ErrorCode.SizeMismatch,
        `size mismatch for ${what}: expected ${info.size} bytes, got ${size}`,
      );
    }
    if (info.digest && digest !== info.digest) {
      throw new SkiffError(
        ErrorCode.DigestMismatch,
        `digest mismatch for ${what}: expected ${info.digest}, got ${digest}`,
      );
    }
    const target = finalPath(digest);
    await fs.mkdir(path.dirname(target), { recursive: true });
    await fs.rename(tmp, target);
    return { ...info, digest, size };
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw err;
  }
}

/** Checks that a manifest read from `reference` by digest has that digest. */
export function checkManifestDigest(raw: Uint8Array, digest: string, reference: string): void {
  const actual = digestOf(raw, parseDigest(digest).algorithm);
  if (actual !== digest) {
    throw new SkiffError(
      ErrorCode.DigestMismatch,
      `manifest ${digest} in ${reference} has digest ${actual}`,
    );
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
