import {
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { ErrorCode, isSkiffError } from '@skiff/oci-image';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type ApplyLayerOptions, applyLayer } from '../src/index.js';
import { encodeHeader } from '../src/tar.js';
import { sandbox, streamOf, type TestEntry, tarOf } from './helpers.js';

let box: ReturnType<typeof sandbox>;
let canaryStat: { mtimeMs: number; ino: number; nlink: number };

beforeEach(() => {
  box = sandbox();
  mkdirSync(box.outside, { recursive: true });
  writeFileSync(box.canary, 'untouched');
  const st = statSync(box.canary);
  canaryStat = { mtimeMs: st.mtimeMs, ino: st.ino, nlink: st.nlink };
});

afterEach(() => {
  // Whatever the layer did, nothing outside the target changed.
  expect(readFileSync(box.canary, 'utf8')).toBe('untouched');
  const st = statSync(box.canary);
  expect({ mtimeMs: st.mtimeMs, ino: st.ino, nlink: st.nlink }).toEqual(canaryStat);
  expect(readdirSync(box.outside)).toEqual(['canary']);
  expect(readdirSync(box.base).sort()).toEqual(['outside', 'target']);
  box.cleanup();
});

async function apply(entries: TestEntry[], opts?: ApplyLayerOptions) {
  return applyLayer(streamOf(await tarOf(entries)), box.target, opts);
}

async function refused(entries: TestEntry[], code: string, opts?: ApplyLayerOptions) {
  const err = await apply(entries, opts).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isSkiffError(err, code), String(err)).toBe(true);
  return err as Error;
}

/** The outside dir as an entry name that climbs out of the target. */
const up = () => '../outside';

describe('hostile layers', () => {
  it('refuses ../ paths, naming the entry', async () => {
    const err = await refused([{ name: `${up()}/canary`, content: 'pwned' }], ErrorCode.UnsafePath);
    expect(err.message).toContain('../outside/canary');
    await refused([{ name: 'a/../../../outside/new', content: 'x' }], ErrorCode.UnsafePath);
  });

  it('keeps absolute names inside the target', async () => {
    await apply([{ name: `${box.outside}/canary`, content: 'pwned' }]);
    expect(readFileSync(join(box.target, box.outside, 'canary'), 'utf8')).toBe('pwned');
  });

  it('resolves an absolute symlink in a parent path inside the target, like a chroot', async () => {
    await apply([
      { name: 'link', type: 'symlink', linkname: box.outside },
      { name: 'link/canary', content: 'pwned' },
      { name: 'link/new', content: 'pwned' },
    ]);
    expect(readlinkSync(join(box.target, 'link'))).toBe(box.outside);
    expect(readFileSync(join(box.target, box.outside, 'canary'), 'utf8')).toBe('pwned');
  });

  it('resolves a relative symlink climbing out (a -> ../..) at the target root', async () => {
    await apply([
      { name: 'sub/', type: 'directory' },
      { name: 'sub/a', type: 'symlink', linkname: '../..' },
      { name: 'sub/a/outside/canary', content: 'pwned' },
      { name: 'b', type: 'symlink', linkname: '../outside' },
      { name: 'b/canary', content: 'pwned' },
    ]);
    expect(readFileSync(join(box.target, 'outside/canary'), 'utf8')).toBe('pwned');
  });

  it('never writes through a symlink entry of the same name', async () => {
    await apply([
      { name: 'c', type: 'symlink', linkname: box.canary },
      { name: 'c', content: 'pwned' },
    ]);
    expect(lstatSync(join(box.target, 'c')).isFile()).toBe(true);
  });

  it('refuses hardlinks to host files', async () => {
    const passwdLinks = statSync('/etc/passwd').nlink;
    await refused(
      [{ name: 'passwd', type: 'link', linkname: '/etc/passwd' }],
      ErrorCode.InvalidLayer,
    );
    await refused([{ name: 'c', type: 'link', linkname: `${up()}/canary` }], ErrorCode.UnsafePath);
    expect(existsSync(join(box.target, 'passwd'))).toBe(false);
    expect(statSync('/etc/passwd').nlink).toBe(passwdLinks);
  });

  it('hardlinks to a symlink pointing outside only copy the symlink', async () => {
    await apply([
      { name: 's', type: 'symlink', linkname: box.canary },
      { name: 'h', type: 'link', linkname: 's' },
      { name: 'h2', type: 'link', linkname: 'h' },
      { name: 'h', content: 'pwned' },
    ]);
    expect(readlinkSync(join(box.target, 'h2'))).toBe(box.canary);
    expect(readFileSync(join(box.target, 'h'), 'utf8')).toBe('pwned');
  });

  it('hardlinks through a symlinked directory resolve inside the target', async () => {
    await refused(
      [
        { name: 'd', type: 'symlink', linkname: box.outside },
        { name: 'h', type: 'link', linkname: 'd/canary' },
      ],
      ErrorCode.InvalidLayer,
    );
  });

  it('refuses whiteouts that climb out and keeps symlinked ones inside', async () => {
    // A lower layer is present, so whiteouts do delete.
    const inside = join(box.target, box.outside);
    mkdirSync(inside, { recursive: true });
    writeFileSync(join(inside, 'canary'), 'lower layer');
    writeFileSync(join(inside, 'other'), 'lower layer');
    await refused([{ name: `${up()}/.wh.canary`, content: '' }], ErrorCode.UnsafePath);
    await apply([
      { name: 'l', type: 'symlink', linkname: box.outside },
      { name: 'l/.wh.canary', content: '' },
      { name: 'l2', type: 'symlink', linkname: '../outside' },
      { name: 'l2/.wh..wh..opq', content: '' },
    ]);
    expect(readdirSync(inside)).toEqual(['other']);
  });

  it('refuses whiteouts that climb out in overlay mode too', async () => {
    await refused([{ name: `${up()}/.wh.canary`, content: '' }], ErrorCode.UnsafePath, {
      whiteouts: 'overlay',
    });
    await apply(
      [
        { name: 'l', type: 'symlink', linkname: '../outside' },
        { name: 'l/.wh..wh..opq', content: '' },
      ],
      { whiteouts: 'overlay', rootless: true },
    );
  });

  it('creates no device nodes when devices are not allowed', async () => {
    const r = await apply(
      [
        { name: 'dev/', type: 'directory' },
        { name: 'dev/mem', type: 'character-device', devmajor: 1, devminor: 1 },
        { name: 'dev/sda', type: 'block-device', devmajor: 8, devminor: 0 },
        { name: 'link', type: 'symlink', linkname: box.outside },
        { name: 'link/kmem', type: 'character-device', devmajor: 1, devminor: 2 },
      ],
      { allowDevices: false },
    );
    expect(r.skippedDevices).toBe(3);
    expect(readdirSync(join(box.target, 'dev'))).toEqual([]);
  });

  it('does not touch a directory outside when a dir is later replaced by a symlink', async () => {
    const before = statSync(box.outside).mtimeMs;
    await apply([
      { name: 'd/', type: 'directory', mtime: new Date(0) },
      { name: 'd/canary/', type: 'directory', mtime: new Date(0), mode: 0o700 },
      { name: 'd', type: 'symlink', linkname: box.outside },
    ]);
    expect(statSync(box.outside).mtimeMs).toBe(before);
    expect(statSync(box.canary).mode & 0o777).not.toBe(0o700);
  });

  it('stops a symlink loop', async () => {
    await refused(
      [
        { name: 'loop', type: 'symlink', linkname: 'loop' },
        { name: 'loop/x', content: 'x' },
      ],
      ErrorCode.UnsafePath,
    );
  });

  it('stops a decompression bomb at maxBytes', async () => {
    const header = encodeHeader({
      name: 'bomb',
      type: 'file',
      mode: 0o644,
      uid: 0,
      gid: 0,
      size: 64 * 1024 * 1024,
      mtime: 0,
    });
    // 64 MiB of zeros compress to about 250 KiB.
    const bomb = gzipSync(Buffer.concat([header, Buffer.alloc(64 * 1024 * 1024)]), { level: 1 });
    expect(bomb.length).toBeLessThan(1024 * 1024);
    const err = await applyLayer(streamOf(bomb), box.target, { maxBytes: 1024 * 1024 }).catch(
      (e: unknown) => e,
    );
    expect(isSkiffError(err, ErrorCode.InvalidLayer)).toBe(true);
    expect(String(err)).toMatch(/more than 1048576 bytes \(at entry "bomb"\)/);
    expect(statSync(join(box.target, 'bomb')).size).toBeLessThanOrEqual(1024 * 1024);
  });

  it('stops a layer with too many entries', async () => {
    const entries = Array.from({ length: 50 }, (_, i) => ({ name: `f${i}`, content: '' }));
    const err = await refused(entries, ErrorCode.InvalidLayer, { maxEntries: 10 });
    expect(err.message).toMatch(/more than 10/);
  });
});
