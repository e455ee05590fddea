import { spawnSync } from 'node:child_process';
import { ErrorCode, isSkiffError } from '@skiff/oci-image';
import { describe, expect, it } from 'vitest';
import { compressStream, decompressStream, detectCompression } from '../src/index.js';
import { collect, streamOf } from './helpers.js';

const data = Buffer.from('hello layer '.repeat(10_000));

describe('detectCompression', () => {
  it('recognises gzip, zstd and plain bytes', () => {
    expect(detectCompression(Buffer.from([0x1f, 0x8b, 8, 0]))).toBe('gzip');
    expect(detectCompression(Buffer.from([0x28, 0xb5, 0x2f, 0xfd]))).toBe('zstd');
    expect(detectCompression(Buffer.from('ustar'))).toBe('none');
    expect(detectCompression(new Uint8Array())).toBe('none');
  });
});

describe('compressStream and decompressStream', () => {
  it.each(['gzip', 'zstd', 'none'] as const)('round-trips %s', async (format) => {
    const packed = await collect(compressStream(streamOf(data), format));
    expect(detectCompression(packed)).toBe(format);
    const { stream, compression } = await decompressStream(streamOf(packed));
    expect(compression).toBe(format);
    expect((await collect(stream)).equals(data)).toBe(true);
  });

  it('writes byte-identical gzip and zstd on every run', async () => {
    for (const format of ['gzip', 'zstd'] as const) {
      const a = await collect(compressStream(streamOf(data), format));
      const b = await collect(compressStream(streamOf(data), format));
      expect(a.equals(b)).toBe(true);
    }
    const gz = await collect(compressStream(streamOf(data), 'gzip'));
    // No file name, mtime 0: nothing from the environment in the header.
    expect(gz.readUInt32LE(4)).toBe(0);
    expect(gz[3]).toBe(0);
  });

  it('reads zstd written by the zstd program, split into tiny chunks', async () => {
    const packed = spawnSync('zstd', ['-c', '-q'], { input: data }).stdout;
    const chunks = [...packed].map((b) => Buffer.from([b]));
    const { stream } = await decompressStream(
      (await import('node:stream')).Readable.from(chunks, { objectMode: false }),
    );
    expect((await collect(stream)).equals(data)).toBe(true);
  });

  it('fails when zstd exits non-zero on corrupt input', async () => {
    const packed = await collect(compressStream(streamOf(data), 'zstd'));
    const corrupt = Buffer.concat([packed.subarray(0, 12), Buffer.alloc(200, 0xaa)]);
    const { stream } = await decompressStream(streamOf(corrupt));
    const err = await collect(stream).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isSkiffError(err, ErrorCode.InvalidLayer)).toBe(true);
    expect((err as Error).message).toMatch(/zstd/);
  });

  it('fails on corrupt gzip', async () => {
    const packed = await collect(compressStream(streamOf(data), 'gzip'));
    packed.fill(0x55, 20, 60);
    const { stream } = await decompressStream(streamOf(packed));
    await expect(collect(stream)).rejects.toThrow();
  });

  it('passes through inputs shorter than the peeked header', async () => {
    for (const input of [Buffer.alloc(0), Buffer.from('ab'), Buffer.from([0x1f])]) {
      const { stream, compression } = await decompressStream(streamOf(input));
      expect(compression).toBe('none');
      expect((await collect(stream)).equals(input)).toBe(true);
    }
  });

  it('refuses xz and bzip2 with a clear message', async () => {
    await expect(
      decompressStream(streamOf(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 1, 2]))),
    ).rejects.toThrow(/xz/);
    await expect(decompressStream(streamOf(Buffer.from('BZh91AY&SY')))).rejects.toThrow(/bzip2/);
  });

  it('propagates an input error through zstd', async () => {
    const packed = await collect(compressStream(streamOf(data), 'zstd'));
    const { Readable } = await import('node:stream');
    const input = new Readable({ read() {} });
    input.push(packed.subarray(0, 16));
    const { stream } = await decompressStream(input);
    setTimeout(() => input.destroy(new Error('network went away')), 20);
    await expect(collect(stream)).rejects.toThrow(/network went away/);
  });
});
