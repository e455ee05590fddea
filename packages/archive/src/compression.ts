import { spawn } from 'node:child_process';
import { PassThrough, pipeline, type Readable } from 'node:stream';
import { createGunzip, createGzip, constants as zc } from 'node:zlib';
import { ErrorCode, SkiffError } from '@skiff/oci-image';

export type Compression = 'gzip' | 'zstd' | 'none';

/** zlib output chunk size: large chunks mean fewer callbacks per megabyte. */
const ZLIB_CHUNK = 256 * 1024;

/** Recognises a layer's compression from its first bytes (4 are enough). */
export function detectCompression(head: Uint8Array): Compression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (
    head.length >= 4 &&
    head[0] === 0x28 &&
    head[1] === 0xb5 &&
    head[2] === 0x2f &&
    head[3] === 0xfd
  ) {
    return 'zstd';
  }
  return 'none';
}

/** Formats Skiff recognises but refuses, so that the error says what the blob is. */
function unsupportedFormat(head: Uint8Array): string | undefined {
  const b = Buffer.from(head.buffer, head.byteOffset, head.byteLength);
  if (b.subarray(0, 3).toString('latin1') === 'BZh') return 'bzip2';
  if (b.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return 'xz';
  return undefined;
}

/** Reads up to `n` bytes from the start of a stream and puts them back. */
export async function peek(input: Readable, n: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let length = 0;
  try {
    while (length < n) {
      const chunk = input.read() as Buffer | string | null;
      if (chunk !== null) {
        const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
        chunks.push(buf);
        length += buf.length;
        continue;
      }
      // EOF seen (or gone): stop here rather than wait for 'end', after which no unshift works.
      const state = (input as unknown as { _readableState?: { ended?: boolean } })._readableState;
      if (state?.ended || input.readableEnded || input.destroyed) break;
      await new Promise<void>((resolve, reject) => {
        const done = () => {
          input.off('readable', done);
          input.off('end', done);
          input.off('close', done);
          input.off('error', onError);
          resolve();
        };
        const onError = (err: Error) => {
          done();
          reject(err);
        };
        input.on('readable', done);
        input.on('end', done);
        input.on('close', done);
        input.on('error', onError);
      });
      if (input.errored) throw input.errored;
    }
  } finally {
    if (length > 0) input.unshift(Buffer.concat(chunks, length));
  }
  return Buffer.concat(chunks, length).subarray(0, n);
}

/**
 * Runs `zstd` as a filter. The returned stream ends only after zstd exited successfully; a
 * non-zero exit, a failing input or a destroyed output fails or stops everything.
 */
function zstdFilter(input: Readable, args: string[], what: string): Readable {
  const child = spawn('zstd', args, { stdio: ['pipe', 'pipe', 'pipe'] });
  const out = new PassThrough({ highWaterMark: 1024 * 1024 });
  let stderr = '';
  let failed = false;
  const fail = (err: Error) => {
    if (failed) return;
    failed = true;
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    input.destroy();
    out.destroy(err);
  };
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (s: string) => {
    if (stderr.length < 4096) stderr += s;
  });
  child.on('error', (err) => {
    fail(
      new SkiffError(ErrorCode.InvalidLayer, `cannot run zstd (${what}): ${err.message}`, {
        hint: 'install the zstd package (Debian: apt-get install zstd)',
        cause: err,
      }),
    );
  });
  child.stdout.pipe(out, { end: false });
  child.on('close', (code, signal) => {
    if (failed) return;
    if (code === 0) {
      out.end();
      return;
    }
    const why = signal ? `was killed by ${signal}` : `exited with status ${code}`;
    fail(
      new SkiffError(
        ErrorCode.InvalidLayer,
        `zstd (${what}) ${why}: ${stderr.trim() || 'no message'}`,
      ),
    );
  });
  pipeline(input, child.stdin, (err) => {
    // EPIPE means zstd stopped reading; its exit status tells why.
    if (err && (err as NodeJS.ErrnoException).code !== 'EPIPE') fail(err);
  });
  out.on('close', () => {
    // The consumer went away: stop the child and the input.
    if (!out.writableFinished && !failed) {
      failed = true;
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      input.destroy();
    }
  });
  return out;
}

/**
 * Decompresses a layer stream whatever its compression (gzip, zstd or none), found by peeking
 * at its first bytes. Errors of the input propagate to the returned stream.
 */
export async function decompressStream(
  input: Readable,
): Promise<{ stream: Readable; compression: Compression }> {
  const head = await peek(input, 6);
  const unsupported = unsupportedFormat(head);
  if (unsupported) {
    input.destroy();
    throw new SkiffError(
      ErrorCode.InvalidLayer,
      `layer is ${unsupported}-compressed; only gzip, zstd and uncompressed layers are supported`,
    );
  }
  const compression = detectCompression(head);
  if (compression === 'none') return { stream: input, compression };
  if (compression === 'zstd') {
    return { stream: zstdFilter(input, ['-d', '-c', '-q'], 'decompress'), compression };
  }
  const gunzip = createGunzip({ chunkSize: ZLIB_CHUNK });
  pipeline(input, gunzip, () => {
    // pipeline destroys gunzip with the error; the consumer sees it there.
  });
  return { stream: gunzip, compression };
}

export interface CompressOptions {
  /** gzip 1-9 (default 6, as Go and GNU gzip), zstd 1-19 (default 3). */
  level?: number;
}

/**
 * Compresses a stream. gzip output is deterministic (zlib writes no name and mtime 0);
 * zstd goes through Debian's `zstd` in single-thread mode, which is deterministic too.
 */
export function compressStream(
  input: Readable,
  format: Compression,
  opts: CompressOptions = {},
): Readable {
  if (format === 'none') return input;
  if (format === 'zstd') {
    const level = Math.min(19, Math.max(1, Math.trunc(opts.level ?? 3)));
    return zstdFilter(input, ['-c', '-q', `-${level}`, '-T1', '--no-progress'], 'compress');
  }
  const gzip = createGzip({
    level: opts.level ?? zc.Z_DEFAULT_COMPRESSION,
    chunkSize: ZLIB_CHUNK,
  });
  pipeline(input, gzip, () => {});
  return gzip;
}
