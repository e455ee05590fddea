import { createHash } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  createDigester,
  digestingStream,
  digestOf,
  digestStream,
  ErrorCode,
  isDigest,
  isSkiffError,
  parseDigest,
  verifyingStream,
} from '@skiff/oci-image';
import { describe, expect, it } from 'vitest';

const hello = new TextEncoder().encode('hello\n');
const helloSha256 = 'sha256:5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03';
const emptySha512 =
  'sha512:cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e';

function chunks(data: Uint8Array, size: number): Readable {
  const parts: Uint8Array[] = [];
  for (let o = 0; o < data.length; o += size) parts.push(data.subarray(o, o + size));
  return Readable.from(parts, { objectMode: false });
}

function collect(into: Buffer[]): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, cb) {
      into.push(chunk);
      cb();
    },
  });
}

async function rejection(p: Promise<unknown>) {
  try {
    await p;
  } catch (err) {
    return err as Error & { code?: string };
  }
  throw new Error('expected the promise to reject');
}

describe('parseDigest / isDigest', () => {
  it('parses sha256 and sha512 digests', () => {
    expect(parseDigest(helloSha256)).toEqual({
      algorithm: 'sha256',
      encoded: helloSha256.slice(7),
    });
    expect(parseDigest(emptySha512).algorithm).toBe('sha512');
    expect(isDigest(helloSha256)).toBe(true);
  });

  it.each([
    ['', /empty/],
    ['5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03', /algorithm:hex/],
    ['sha256:', /algorithm:hex/],
    ['sha256:abc', /sha256 needs 64 hex characters, got 3/],
    [`sha512:${'a'.repeat(64)}`, /sha512 needs 128 hex characters, got 64/],
    [helloSha256.toUpperCase().replace('SHA256', 'sha256'), /lowercase/],
    [`sha256:${'g'.repeat(64)}`, /lowercase 0-9a-f/],
    ['md5:d41d8cd98f00b204e9800998ecf8427e', /unsupported algorithm "md5"/],
    [`${helloSha256}\n`, /algorithm:hex/],
  ])('refuses %j saying what is wrong', (s, why) => {
    let err: unknown;
    try {
      parseDigest(s);
    } catch (e) {
      err = e;
    }
    expect(isSkiffError(err, ErrorCode.InvalidDigest)).toBe(true);
    expect((err as Error).message).toMatch(why);
    expect(isDigest(s)).toBe(false);
  });
});

describe('digestOf / createDigester / digestStream', () => {
  it('hashes bytes and strings', () => {
    expect(digestOf(hello)).toBe(helloSha256);
    expect(digestOf('hello\n')).toBe(helloSha256);
    expect(digestOf(new Uint8Array(0), 'sha512')).toBe(emptySha512);
  });

  it('digests incrementally the same as in one go', () => {
    const d = createDigester();
    d.update('hel');
    d.update(new TextEncoder().encode('lo\n'));
    expect(d.digest()).toBe(helloSha256);
    expect(d.digest()).toBe(helloSha256);
    expect(() => d.update('x')).toThrow(/after digest/);
  });

  it('refuses unsupported algorithms', () => {
    expect(() => digestOf('x', 'md5' as 'sha256')).toThrow(/unsupported digest algorithm/);
  });

  it('digests a whole stream and counts its bytes', async () => {
    const data = new Uint8Array(300_000).map((_, i) => i % 251);
    expect(await digestStream(chunks(data, 65536))).toEqual({
      digest: digestOf(data),
      size: data.length,
    });
  });
});

describe('digestingStream', () => {
  it('passes bytes through unchanged and reports digest and byte count at the end', async () => {
    const data = new Uint8Array(200_000).map((_, i) => (i * 7) % 256);
    const out: Buffer[] = [];
    const ds = digestingStream('sha512');
    await pipeline(chunks(data, 4096), ds, collect(out));
    expect(Buffer.concat(out).equals(Buffer.from(data))).toBe(true);
    expect(ds.bytes).toBe(data.length);
    expect(ds.digest()).toBe(`sha512:${createHash('sha512').update(data).digest('hex')}`);
  });

  it('throws when asked for the digest before the end', () => {
    expect(() => digestingStream().digest()).toThrow(/before the stream ended/);
  });
});

describe('verifyingStream', () => {
  it('passes matching bytes through unchanged', async () => {
    const out: Buffer[] = [];
    const v = verifyingStream({ digest: helloSha256, size: hello.length });
    await pipeline(chunks(hello, 2), v, collect(out));
    expect(Buffer.concat(out).toString()).toBe('hello\n');
    expect(v.digest()).toBe(helloSha256);
  });

  it('accepts an unknown size (undefined or -1)', async () => {
    await pipeline(chunks(hello, 3), verifyingStream({ digest: helloSha256 }), collect([]));
    await pipeline(
      chunks(hello, 3),
      verifyingStream({ digest: helloSha256, size: -1 }),
      collect([]),
    );
  });

  it('fails with E_DIGEST_MISMATCH naming what, expected and actual', async () => {
    const bad = digestOf('other');
    const err = await rejection(
      pipeline(chunks(hello, 3), verifyingStream({ digest: bad, size: 6 }, 'layer 2'), collect([])),
    );
    expect(err.code).toBe(ErrorCode.DigestMismatch);
    expect(err.message).toContain('layer 2');
    expect(err.message).toContain(bad);
    expect(err.message).toContain(helloSha256);
  });

  it('fails as soon as more bytes than the size pass, without reading the rest', async () => {
    let produced = 0;
    const endless = new Readable({
      read() {
        produced += 1024;
        this.push(Buffer.alloc(1024, 0x61));
      },
    });
    const out: Buffer[] = [];
    const err = await rejection(
      pipeline(endless, verifyingStream({ digest: helloSha256, size: 4096 }), collect(out)),
    );
    expect(err.code).toBe(ErrorCode.SizeMismatch);
    expect(err.message).toMatch(/expected 4096 bytes, got more/);
    // Only what fit within the size was passed on; the source was stopped early.
    expect(Buffer.concat(out).length).toBeLessThanOrEqual(4096);
    expect(produced).toBeLessThan(10 * 1024 * 1024);
  });

  it('fails on short input with E_SIZE_MISMATCH', async () => {
    const err = await rejection(
      pipeline(chunks(hello, 6), verifyingStream({ digest: helloSha256, size: 7 }), collect([])),
    );
    expect(err.code).toBe(ErrorCode.SizeMismatch);
    expect(err.message).toMatch(/expected 7 bytes, got 6/);
  });

  it('refuses an invalid expected digest up front', () => {
    expect(() => verifyingStream({ digest: 'sha256:zz' })).toThrow(/invalid digest/);
  });

  it('verifies sha512 digests too', async () => {
    await pipeline(
      Readable.from([Buffer.alloc(0)]),
      verifyingStream({ digest: emptySha512, size: 0 }),
      collect([]),
    );
  });
});
