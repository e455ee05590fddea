import * as fs from 'node:fs';
import { createReadStream, createWriteStream } from 'node:fs';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  digestingStream,
  digestOf,
  ErrorCode,
  parseDigest,
  SkiffError,
  verifyingStream,
} from '@skiff/oci-image';
import { fsyncDir, tempName } from './fsutil.js';

/**
 * Content-addressed files: blobs/<algorithm>/<hex>. Writes go to an exclusive temp file unique
 * to the process, are verified while written, fsynced and renamed into place.
 */
export class BlobStore {
  constructor(
    readonly dir: string,
    private readonly tmpDir: string,
    private readonly fsync: boolean,
  ) {}

  path(digest: string): string {
    const { algorithm, encoded } = parseDigest(digest);
    return path.join(this.dir, algorithm, encoded);
  }

  /** Size of the stored blob, or undefined. */
  size(digest: string): number | undefined {
    try {
      const st = fs.lstatSync(this.path(digest));
      return st.isFile() ? st.size : undefined;
    } catch {
      return undefined;
    }
  }

  /** Present with the expected size (a stored file of another size is not trusted). */
  has(digest: string, size?: number): boolean {
    const have = this.size(digest);
    return have !== undefined && (size === undefined || size < 0 || have === size);
  }

  open(digest: string): { stream: Readable; size: number } {
    const size = this.size(digest);
    if (size === undefined) {
      throw new SkiffError(ErrorCode.BlobUnknown, `blob ${digest} is not in the store`);
    }
    return { stream: createReadStream(this.path(digest), { highWaterMark: 1 << 20 }), size };
  }

  async read(digest: string, max = 64 * 1024 * 1024): Promise<Uint8Array> {
    const size = this.size(digest);
    if (size === undefined) {
      throw new SkiffError(ErrorCode.BlobUnknown, `blob ${digest} is not in the store`);
    }
    if (size > max) {
      throw new SkiffError(ErrorCode.InvalidManifest, `blob ${digest} is too large (${size})`);
    }
    const data = new Uint8Array(await fs.promises.readFile(this.path(digest)));
    const actual = digestOf(data, parseDigest(digest).algorithm);
    if (actual !== digest) {
      throw new SkiffError(
        ErrorCode.DigestMismatch,
        `stored blob ${digest} is corrupt (its content hashes to ${actual})`,
        { hint: 'run `skiff system prune` or remove the image and pull it again' },
      );
    }
    return data;
  }

  /**
   * Stores a stream. With `expected.digest` the bytes are verified on the way and nothing is
   * kept on mismatch. Returns the digest and size stored.
   */
  async put(
    stream: Readable,
    expected: { digest?: string | undefined; size?: number | undefined },
    signal?: AbortSignal,
  ): Promise<{ digest: string; size: number }> {
    const tmp = path.join(this.tmpDir, tempName('blob'));
    const check = expected.digest
      ? verifyingStream({ digest: expected.digest, size: expected.size }, `blob ${expected.digest}`)
      : digestingStream('sha256');
    try {
      const out = createWriteStream(tmp, { flags: 'wx', mode: 0o644 });
      await pipeline(stream, check, out, signal ? { signal } : {});
      const digest = check.digest();
      const size = check.bytes;
      if (expected.size !== undefined && expected.size >= 0 && size !== expected.size) {
        throw new SkiffError(
          ErrorCode.SizeMismatch,
          `blob ${digest}: size mismatch: expected ${expected.size} bytes, got ${size}`,
        );
      }
      if (this.fsync) {
        const fd = fs.openSync(tmp, 'r');
        try {
          fs.fsyncSync(fd);
        } finally {
          fs.closeSync(fd);
        }
      }
      const target = this.path(digest);
      fs.mkdirSync(path.dirname(target), { recursive: true });
      // Replacing an existing file with verified bytes also repairs a corrupt one.
      fs.renameSync(tmp, target);
      if (this.fsync) fsyncDir(path.dirname(target));
      return { digest, size };
    } catch (err) {
      fs.rmSync(tmp, { force: true });
      if (signal?.aborted && !(err instanceof SkiffError)) {
        throw new SkiffError(ErrorCode.Aborted, 'blob write aborted', { cause: err });
      }
      throw err;
    }
  }

  remove(digest: string): void {
    fs.rmSync(this.path(digest), { force: true });
  }

  /** Every stored digest. */
  list(): string[] {
    const out: string[] = [];
    let algs: string[];
    try {
      algs = fs.readdirSync(this.dir);
    } catch {
      return out;
    }
    for (const alg of algs) {
      let names: string[];
      try {
        names = fs.readdirSync(path.join(this.dir, alg));
      } catch {
        continue;
      }
      for (const n of names) out.push(`${alg}:${n}`);
    }
    return out;
  }
}
