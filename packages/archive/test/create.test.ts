import { execFileSync } from 'node:child_process';
import {
  createWriteStream,
  linkSync,
  mkdirSync,
  readFileSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { isRoot, lsetxattr } from '@skiff/sys';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { applyLayer, createLayer, writeLayer } from '../src/index.js';
import { collect, listTar, sandbox, sha256, streamOf } from './helpers.js';

let box: ReturnType<typeof sandbox>;
let src: string;
beforeEach(() => {
  box = sandbox();
  src = join(box.base, 'src');
  mkdirSync(join(src, 'b/inner'), { recursive: true });
  mkdirSync(join(src, 'a'), { recursive: true });
  writeFileSync(join(src, 'b/inner/z'), 'z');
  writeFileSync(join(src, 'b/Z'), 'Z');
  writeFileSync(join(src, 'a-file'), 'a-file');
  writeFileSync(join(src, 'a/1'), '1');
  linkSync(join(src, 'a/1'), join(src, 'b/hard'));
  symlinkSync('../a/1', join(src, 'b/link'));
  writeFileSync(join(src, 'é'), 'utf8 name');
  writeFileSync(join(src, 'x'.repeat(180)), 'long');
  lsetxattr(join(src, 'a/1'), 'user.k', Buffer.from([0, 1, 2, 0xff]));
});
afterEach(() => box.cleanup());

describe('createLayer', () => {
  it('writes byte-identical tars on every run', async () => {
    const one = await collect(createLayer(src));
    const two = await collect(createLayer(src));
    expect(one.equals(two)).toBe(true);
    const gz1 = await collect(createLayer(src, { compression: 'gzip' }));
    const gz2 = await collect(createLayer(src, { compression: 'gzip' }));
    expect(gz1.equals(gz2)).toBe(true);
    expect(gunzipSync(gz1).equals(one)).toBe(true);
  });

  it('orders entries byte-wise with each directory before its contents', async () => {
    const names = (await listTar(await collect(createLayer(src)))).map((h) => h.name);
    expect(names).toEqual([
      'a/',
      'a/1',
      'a-file',
      'b/',
      'b/Z',
      'b/hard',
      'b/inner/',
      'b/inner/z',
      'b/link',
      'x'.repeat(180),
      'é',
    ]);
  });

  it('writes numeric ids, no user or group names, hardlinks to the first path and xattrs', async () => {
    const headers = await listTar(await collect(createLayer(src)));
    for (const h of headers) {
      expect(h.uname).toBe('');
      expect(h.gname).toBe('');
    }
    const hard = headers.find((h) => h.name === 'b/hard')!;
    expect(hard.type).toBe('link');
    expect(hard.linkname).toBe('a/1');
    expect(headers.find((h) => h.name === 'b/link')!.linkname).toBe('../a/1');
    const back = join(box.base, 'back');
    await applyLayer(createLayer(src), back);
    expect(readFileSync(join(back, 'x'.repeat(180)), 'utf8')).toBe('long');
    const { lgetxattr } = await import('@skiff/sys');
    expect(lgetxattr(join(back, 'a/1'), 'user.k')).toEqual(Buffer.from([0, 1, 2, 0xff]));
  });

  it('maps ids and clamps mtimes', async () => {
    utimesSync(join(src, 'a/1'), 2_000_000_000, 2_000_000_000);
    const headers = await listTar(
      await collect(
        createLayer(src, { clampMtime: 1_000_000_000, idMap: () => ({ uid: 42, gid: 43 }) }),
      ),
    );
    for (const h of headers) {
      expect(h.mtime!.getTime()).toBeLessThanOrEqual(1_000_000_000_000);
      expect([h.uid, h.gid]).toEqual([42, 43]);
    }
  });

  it('stops when the signal aborts', async () => {
    const ac = new AbortController();
    ac.abort();
    await expect(collect(createLayer(src, { signal: ac.signal }))).rejects.toThrow(/aborted/);
  });

  it('is read by GNU tar', async () => {
    const file = join(box.base, 'layer.tar');
    writeFileSync(file, await collect(createLayer(src)));
    const listing = execFileSync('tar', ['-tvf', file], { encoding: 'utf8' });
    expect(listing).toContain('x'.repeat(180));
    expect(listing).toMatch(/b\/hard link to a\/1/);
    if (isRoot()) expect(listing).toMatch(/0\/0/);
  });
});

describe('writeLayer', () => {
  it('returns the compressed digest and size and the diffID while streaming', async () => {
    for (const compression of ['gzip', 'zstd', 'none'] as const) {
      const file = join(box.base, `layer-${compression}`);
      const r = await writeLayer(src, createWriteStream(file), { compression });
      const written = readFileSync(file);
      expect(r.digest).toBe(sha256(written));
      expect(r.size).toBe(written.length);
      const plain = await collect(createLayer(src));
      expect(r.diffId).toBe(sha256(plain));
      expect(r.uncompressedSize).toBe(plain.length);
      const applied = await applyLayer(streamOf(written), join(box.base, `out-${compression}`));
      expect(applied.diffId).toBe(r.diffId);
    }
  });
});
