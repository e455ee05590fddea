import { createHash } from 'node:crypto';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readlinkSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { ErrorCode, isSkiffError } from '@skiff/oci-image';
import { isRoot, lgetxattr, splitDev } from '@skiff/sys';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ArchiveErrorCode, applyLayer, compressStream } from '../src/index.js';
import { collect, sandbox, sha256, streamOf, tarOf } from './helpers.js';

const root = isRoot();
const CAP = '\x01\x00\x00\x02\x00\x04\x00\x00' + '\x00'.repeat(12); // cap_net_bind_service=ep
const T = new Date(1_500_000_000_000);

let box: ReturnType<typeof sandbox>;
beforeEach(() => {
  box = sandbox();
});
afterEach(() => box.cleanup());

const allTypes = () =>
  tarOf([
    { name: 'dir/', type: 'directory', mode: 0o750, uid: 1000, gid: 1001, mtime: T },
    {
      name: 'dir/file',
      content: 'data',
      mode: 0o4755,
      uid: 1000,
      gid: 1001,
      mtime: T,
      pax: { 'SCHILY.xattr.user.note': 'hello', 'SCHILY.xattr.security.capability': CAP },
    },
    { name: 'dir/sgid', content: 'x', mode: 0o2755, mtime: T },
    { name: 'sticky/', type: 'directory', mode: 0o1777, mtime: T },
    { name: 'dir/hard', type: 'link', linkname: 'dir/file' },
    { name: 'dir/sym', type: 'symlink', linkname: 'file', mtime: T, uid: 7, gid: 8 },
    { name: 'dev/null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666 },
    { name: 'dev/sda', type: 'block-device', devmajor: 8, devminor: 0, mode: 0o660 },
    { name: 'dev/pipe', type: 'fifo', mode: 0o600 },
    { name: `${'long/'.repeat(30)}name-${'x'.repeat(120)}`, content: 'deep' },
  ]);

describe('applyLayer', () => {
  it('extracts every entry type with modes, owners, times and xattrs', async () => {
    const tar = await allTypes();
    const r = await applyLayer(streamOf(tar), box.target);
    expect(r.diffId).toBe(sha256(tar));
    expect(r.size).toBe(tar.length);
    expect(r.entries).toBe(10);
    expect(r.compression).toBe('none');
    const t = (p: string) => join(box.target, p);

    expect(readFileSync(t('dir/file'), 'utf8')).toBe('data');
    const file = lstatSync(t('dir/file'));
    expect(file.mode & 0o7777).toBe(0o4755);
    expect(file.mtimeMs).toBe(T.getTime());
    expect(lstatSync(t('dir/hard')).ino).toBe(file.ino);
    expect(lstatSync(t('dir/sgid')).mode & 0o7777).toBe(0o2755);
    expect(lstatSync(t('sticky')).mode & 0o7777).toBe(0o1777);
    expect(readlinkSync(t('dir/sym'))).toBe('file');
    expect(lstatSync(t('dir/sym')).mtimeMs).toBe(T.getTime());
    expect(lstatSync(t('dir')).mode & 0o7777).toBe(0o750);
    // The directory's mtime is set after its contents were written.
    expect(lstatSync(t('dir')).mtimeMs).toBe(T.getTime());
    expect(lstatSync(t('dev/pipe')).isFIFO()).toBe(true);
    expect(lgetxattr(t('dir/file'), 'user.note')?.toString()).toBe('hello');
    expect(readFileSync(t(`${'long/'.repeat(30)}name-${'x'.repeat(120)}`), 'utf8')).toBe('deep');
    if (root) {
      expect(file.uid).toBe(1000);
      expect(file.gid).toBe(1001);
      expect(lstatSync(t('dir/sym')).uid).toBe(7);
      // Set after chown, which would clear it.
      expect(
        lgetxattr(t('dir/file'), 'security.capability')?.equals(Buffer.from(CAP, 'latin1')),
      ).toBe(true);
      const dev = lstatSync(t('dev/null'));
      expect(dev.isCharacterDevice()).toBe(true);
      expect(splitDev(dev.rdev)).toEqual({ major: 1, minor: 3 });
      const blk = lstatSync(t('dev/sda'));
      expect(blk.isBlockDevice()).toBe(true);
      expect(splitDev(blk.rdev)).toEqual({ major: 8, minor: 0 });
    } else {
      console.log('not root: owner, capability and device checks need root');
    }
  });

  it('reads gzip and zstd layers and reports the diffID of the uncompressed tar', async () => {
    const tar = await allTypes();
    for (const format of ['gzip', 'zstd'] as const) {
      const packed = await collect(compressStream(streamOf(tar), format));
      const target = join(box.base, format);
      const r = await applyLayer(streamOf(packed), target);
      expect(r.compression).toBe(format);
      expect(r.diffId).toBe(sha256(tar));
      expect(readFileSync(join(target, 'dir/file'), 'utf8')).toBe('data');
    }
  });

  it('maps owners through idMap and leaves them alone with chown: false', async () => {
    const tar = await tarOf([{ name: 'f', content: 'x', uid: 10, gid: 20 }]);
    if (root) {
      await applyLayer(streamOf(tar), box.target, {
        idMap: (uid, gid) => ({ uid: uid + 100_000, gid: gid + 100_000 }),
      });
      const st = lstatSync(join(box.target, 'f'));
      expect([st.uid, st.gid]).toEqual([100_010, 100_020]);
    }
    const other = join(box.base, 'nochown');
    await applyLayer(streamOf(tar), other, { chown: false });
    expect(lstatSync(join(other, 'f')).uid).toBe(process.getuid!());
  });

  it('skips devices when not permitted, counting them, and still extracts the rest', async () => {
    const tar = await allTypes();
    const warnings: string[] = [];
    const r = await applyLayer(streamOf(tar), box.target, {
      allowDevices: false,
      onWarning: (w) => warnings.push(w),
    });
    expect(r.skippedDevices).toBe(2);
    expect(warnings).toHaveLength(2);
    expect(existsSync(join(box.target, 'dev/null'))).toBe(false);
    expect(existsSync(join(box.target, 'dev/sda'))).toBe(false);
    expect(readFileSync(join(box.target, 'dir/file'), 'utf8')).toBe('data');
  });

  it('replaces paths of another type as Docker does', async () => {
    mkdirSync(join(box.target, 'wasdir/sub'), { recursive: true });
    writeFileSync(join(box.target, 'wasdir/sub/old'), 'old');
    writeFileSync(join(box.target, 'wasfile'), 'old');
    mkdirSync(join(box.target, 'keptdir'));
    writeFileSync(join(box.target, 'keptdir/lower'), 'lower');
    symlinkSync('/nowhere', join(box.target, 'waslink'));
    writeFileSync(join(box.target, 'becomes-link'), 'old');
    const tar = await tarOf([
      { name: 'wasdir', content: 'now a file' },
      { name: 'wasfile/', type: 'directory' },
      { name: 'wasfile/child', content: 'c' },
      { name: 'keptdir/', type: 'directory', mode: 0o700 },
      { name: 'waslink/', type: 'directory' },
      { name: 'becomes-link', type: 'symlink', linkname: 'wasdir' },
    ]);
    await applyLayer(streamOf(tar), box.target);
    const t = (p: string) => join(box.target, p);
    expect(readFileSync(t('wasdir'), 'utf8')).toBe('now a file');
    expect(readFileSync(t('wasfile/child'), 'utf8')).toBe('c');
    // A directory over a directory merges: lower contents stay, metadata is the new one.
    expect(readFileSync(t('keptdir/lower'), 'utf8')).toBe('lower');
    expect(lstatSync(t('keptdir')).mode & 0o777).toBe(0o700);
    expect(lstatSync(t('waslink')).isDirectory()).toBe(true);
    expect(readlinkSync(t('becomes-link'))).toBe('wasdir');
  });

  it('writes the same tree as GNU tar for a tar GNU tar made', async () => {
    const { execFileSync } = await import('node:child_process');
    const src = join(box.base, 'src');
    mkdirSync(join(src, 'a/b'), { recursive: true });
    writeFileSync(join(src, 'a/b/f'), 'gnu');
    writeFileSync(join(src, `${'n'.repeat(150)}`), 'long');
    symlinkSync('b/f', join(src, 'a/l'));
    symlinkSync(`${'t'.repeat(140)}/f`, join(src, 'a/long-link'));
    const tarFile = join(box.base, 'gnu.tar.gz');
    execFileSync('tar', ['--format=gnu', '-C', src, '-czf', tarFile, '.']);
    const r = await applyLayer(streamOf(readFileSync(tarFile)), box.target);
    expect(r.compression).toBe('gzip');
    expect(readFileSync(join(box.target, 'a/b/f'), 'utf8')).toBe('gnu');
    expect(readFileSync(join(box.target, 'n'.repeat(150)), 'utf8')).toBe('long');
    expect(readlinkSync(join(box.target, 'a/l'))).toBe('b/f');
    expect(readlinkSync(join(box.target, 'a/long-link'))).toBe(`${'t'.repeat(140)}/f`);
    const hash = createHash('sha256');
    hash.update(execFileSync('gzip', ['-dc', tarFile]));
    expect(r.diffId).toBe(`sha256:${hash.digest('hex')}`);
  });

  it.runIf(root)('gives files in a setgid directory the owner the layer says', async () => {
    const tar = await tarOf([
      { name: 'g/', type: 'directory', mode: 0o2775, gid: 50 },
      { name: 'g/f', content: 'x' },
      { name: 'g/sub/', type: 'directory', mode: 0o755 },
      { name: 'g/sub/f', content: 'y' },
      { name: 'g/implied/f', content: 'z' },
    ]);
    await applyLayer(streamOf(tar), box.target);
    const t = (p: string) => lstatSync(join(box.target, p));
    expect(t('g').mode & 0o7777).toBe(0o2775);
    expect(t('g').gid).toBe(50);
    expect(t('g/f').gid).toBe(0);
    expect(t('g/sub').mode & 0o7777).toBe(0o755);
    expect(t('g/sub').gid).toBe(0);
    expect(t('g/sub/f').gid).toBe(0);
    expect(t('g/implied/f').gid).toBe(0);
  });

  it("ignores overlay xattrs carried by the layer's own entries", async () => {
    const warnings: string[] = [];
    const tar = await tarOf([
      {
        name: 'd/',
        type: 'directory',
        pax: { 'SCHILY.xattr.user.overlay.opaque': 'y', 'SCHILY.xattr.user.ok': '1' },
      },
    ]);
    await applyLayer(streamOf(tar), box.target, { onWarning: (w) => warnings.push(w) });
    expect(lgetxattr(join(box.target, 'd'), 'user.overlay.opaque')).toBeUndefined();
    expect(lgetxattr(join(box.target, 'd'), 'user.ok')?.toString()).toBe('1');
    expect(warnings.join()).toMatch(/user.overlay.opaque ignored/);
  });

  it('fails when the input closes before its end', async () => {
    const { Readable } = await import('node:stream');
    const tar = await tarOf([{ name: 'f', content: 'x'.repeat(4096) }]);
    const input = new Readable({ read() {} });
    input.push(tar.subarray(0, 1024));
    const p = applyLayer(input, box.target);
    setTimeout(() => input.destroy(), 20);
    await expect(p).rejects.toThrow(/closed before its end/);
  });

  it.runIf(root)('reports a full disk as E_LAYER_WRITE naming the entry', async () => {
    const { execFileSync } = await import('node:child_process');
    const small = join(box.base, 'small');
    mkdirSync(small);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', small]);
    try {
      const tar = await tarOf([{ name: 'big', content: Buffer.alloc(1024 * 1024, 1) }]);
      const err = await applyLayer(streamOf(tar), small).catch((e: unknown) => e);
      expect(isSkiffError(err, ArchiveErrorCode.LayerWrite)).toBe(true);
      expect(String(err)).toMatch(/"big".*ENOSPC/);
    } finally {
      execFileSync('umount', [small]);
    }
  });

  it('treats an empty input as an empty layer', async () => {
    const r = await applyLayer(streamOf(Buffer.alloc(0)), box.target);
    expect(r).toMatchObject({ entries: 0, size: 0, diffId: sha256(Buffer.alloc(0)) });
  });

  it('fails on a truncated tar and on garbage', async () => {
    const tar = await tarOf([{ name: 'f', content: 'x'.repeat(2000) }]);
    const err = await applyLayer(streamOf(tar.subarray(0, 1024)), box.target).catch((e) => e);
    expect(isSkiffError(err, ErrorCode.InvalidLayer)).toBe(true);
    expect(String(err.message)).toMatch(/truncated/);
    const garbage = Buffer.alloc(1024, 0x41);
    await expect(applyLayer(streamOf(garbage), join(box.base, 'g'))).rejects.toThrow(/checksum/);
  });

  it('stops when the signal aborts', async () => {
    const { Readable } = await import('node:stream');
    const tar = await tarOf([{ name: 'f', content: 'x'.repeat(4096) }]);
    const input = new Readable({ read() {} });
    input.push(tar.subarray(0, 1024));
    const ac = new AbortController();
    const p = applyLayer(input, box.target, { signal: ac.signal });
    setTimeout(() => ac.abort(), 20);
    const err = await p.catch((e) => e);
    expect(isSkiffError(err, ErrorCode.Aborted)).toBe(true);
    expect(input.destroyed).toBe(true);
  });
});
