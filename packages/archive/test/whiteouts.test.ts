import {
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { isRoot, lgetxattr, lsetxattr, mknod } from '@skiff/sys';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { applyLayer, createLayer } from '../src/index.js';
import { collect, listTar, sandbox, streamOf, tarOf } from './helpers.js';

let box: ReturnType<typeof sandbox>;
beforeEach(() => {
  box = sandbox();
});
afterEach(() => box.cleanup());

const lower = () =>
  tarOf([
    { name: 'a/', type: 'directory' },
    { name: 'a/x', content: 'x' },
    { name: 'a/sub/', type: 'directory' },
    { name: 'a/sub/old', content: 'old' },
    { name: 'b', content: 'b' },
    { name: 'c/', type: 'directory' },
    { name: 'c/deep', content: 'd' },
    { name: 'keep', content: 'k' },
  ]);

describe("whiteouts: 'apply'", () => {
  it('deletes whited-out paths and empties opaque directories of lower content', async () => {
    await applyLayer(streamOf(await lower()), box.target);
    const upper = await tarOf([
      { name: '.wh.b', content: '' },
      { name: '.wh.c', content: '' },
      { name: 'a/', type: 'directory' },
      { name: 'a/.wh..wh..opq', content: '' },
      { name: 'a/new', content: 'new' },
      { name: '.wh.missing', content: '' },
    ]);
    await applyLayer(streamOf(upper), box.target);
    const t = (p: string) => join(box.target, p);
    expect(existsSync(t('b'))).toBe(false);
    expect(existsSync(t('c'))).toBe(false);
    expect(readdirSync(t('a'))).toEqual(['new']);
    expect(readFileSync(t('keep'), 'utf8')).toBe('k');
    expect(existsSync(t('.wh.b'))).toBe(false);
  });

  it('ignores whiteouts when the target started empty (nothing below to hide)', async () => {
    const r = await applyLayer(
      streamOf(
        await tarOf([
          { name: 'a/', type: 'directory' },
          { name: 'a/f', content: 'f' },
          { name: 'a/.wh..wh..opq', content: '' },
          { name: '.wh.a', content: '' },
        ]),
      ),
      box.target,
    );
    expect(r.entries).toBe(4);
    expect(readdirSync(box.target)).toEqual(['a']);
    expect(readdirSync(join(box.target, 'a'))).toEqual(['f']);
  });

  it('keeps what the same layer wrote before its opaque marker', async () => {
    await applyLayer(streamOf(await lower()), box.target);
    const upper = await tarOf([
      { name: 'a/', type: 'directory' },
      { name: 'a/sub/', type: 'directory' },
      { name: 'a/sub/fresh', content: 'fresh' },
      { name: 'a/y', content: 'y' },
      { name: 'a/.wh..wh..opq', content: '' },
      { name: 'a/.wh.y', content: '' },
    ]);
    await applyLayer(streamOf(upper), box.target);
    expect(readdirSync(join(box.target, 'a')).sort()).toEqual(['sub', 'y']);
    expect(readdirSync(join(box.target, 'a/sub'))).toEqual(['fresh']);
  });
});

describe("whiteouts: 'overlay'", () => {
  it.runIf(isRoot())('makes char devices 0/0 and trusted.overlay.opaque', async () => {
    const upper = await tarOf([
      { name: '.wh.b', content: '' },
      { name: 'a/', type: 'directory' },
      { name: 'a/.wh..wh..opq', content: '' },
      { name: 'a/new', content: 'new' },
    ]);
    await applyLayer(streamOf(upper), box.target, { whiteouts: 'overlay' });
    const wh = lstatSync(join(box.target, 'b'));
    expect(wh.isCharacterDevice()).toBe(true);
    expect(wh.rdev).toBe(0);
    expect(lgetxattr(join(box.target, 'a'), 'trusted.overlay.opaque')?.toString()).toBe('y');
    expect(existsSync(join(box.target, '.wh.b'))).toBe(false);
    expect(readFileSync(join(box.target, 'a/new'), 'utf8')).toBe('new');
  });

  it('uses user.overlay.opaque when rootless', async () => {
    const upper = await tarOf([
      { name: 'a/', type: 'directory' },
      { name: 'a/.wh..wh..opq', content: '' },
    ]);
    await applyLayer(streamOf(upper), box.target, { whiteouts: 'overlay', rootless: true });
    expect(lgetxattr(join(box.target, 'a'), 'user.overlay.opaque')?.toString()).toBe('y');
    expect(lgetxattr(join(box.target, 'a'), 'trusted.overlay.opaque')).toBeUndefined();
  });
});

describe("createLayer(source: 'overlay-upper')", () => {
  it.runIf(isRoot())('turns 0/0 devices and opaque xattrs back into .wh. entries', async () => {
    const upper = join(box.base, 'upper');
    mkdirSync(join(upper, 'etc/opaque'), { recursive: true });
    writeFileSync(join(upper, 'etc/opaque/file'), 'kept');
    lsetxattr(join(upper, 'etc/opaque'), 'trusted.overlay.opaque', Buffer.from('y'));
    mknod(join(upper, 'etc/gone'), 0o020000, 0, 0);
    const tar = await collect(createLayer(upper, { source: 'overlay-upper' }));
    const headers = await listTar(tar);
    expect(headers.map((h) => h.name)).toEqual([
      'etc/',
      'etc/.wh.gone',
      'etc/opaque/',
      'etc/opaque/.wh..wh..opq',
      'etc/opaque/file',
    ]);
    const opaqueDir = headers.find((h) => h.name === 'etc/opaque/')!;
    expect(JSON.stringify(opaqueDir.pax ?? {})).not.toMatch(/overlay/);
    // And back: the same upper directory again.
    const again = join(box.base, 'again');
    await applyLayer(streamOf(tar), again, { whiteouts: 'overlay' });
    expect(lstatSync(join(again, 'etc/gone')).isCharacterDevice()).toBe(true);
    expect(lstatSync(join(again, 'etc/gone')).rdev).toBe(0);
    expect(lgetxattr(join(again, 'etc/opaque'), 'trusted.overlay.opaque')?.toString()).toBe('y');
    const tar2 = await collect(createLayer(again, { source: 'overlay-upper' }));
    expect(tar2.equals(tar)).toBe(true);
  });
});
