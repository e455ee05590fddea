import { chmodSync, lstatSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  findBinary,
  isRoot,
  lgetxattr,
  llistxattr,
  lsetxattr,
  makedev,
  mknod,
  SysError,
  splitDev,
} from '../src/index.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'skiff-sys-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;
const S_IFIFO = 0o010000;

describe('mknod', () => {
  it('creates fifos', () => {
    mknod(join(dir, 'pipe'), S_IFIFO | 0o600);
    const st = lstatSync(join(dir, 'pipe'));
    expect(st.isFIFO()).toBe(true);
    expect(st.mode & 0o777).toBe(0o600);
  });

  it.runIf(isRoot())('creates char and block devices with their numbers', () => {
    mknod(join(dir, 'null'), S_IFCHR | 0o666, 1, 3);
    mknod(join(dir, 'big'), S_IFBLK | 0o600, 259, 65_536);
    const null_ = lstatSync(join(dir, 'null'));
    expect(null_.isCharacterDevice()).toBe(true);
    expect(splitDev(null_.rdev)).toEqual({ major: 1, minor: 3 });
    const big = lstatSync(join(dir, 'big'));
    expect(big.isBlockDevice()).toBe(true);
    expect(splitDev(big.rdev)).toEqual({ major: 259, minor: 65_536 });
  });

  it('throws an error naming the call, the path and the errno', () => {
    const path = join(dir, 'pipe');
    mknod(path, S_IFIFO | 0o600);
    let err: unknown;
    try {
      mknod(path, S_IFIFO | 0o600);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SysError);
    expect(err).toMatchObject({ code: 'EEXIST', syscall: 'mknod', path });
    expect((err as Error).message).toContain(path);
    expect(() => mknod(join(dir, 'x'), 0o040755)).toThrow(/unsupported file type/);
  });
});

describe('makedev and splitDev', () => {
  it('round-trip large device numbers as glibc encodes them', () => {
    expect(makedev(1, 3)).toBe(0x103n);
    for (const [major, minor] of [
      [0, 0],
      [8, 1],
      [4095, 255],
      [4096, 256],
      [0xfffff, 0xfffff],
    ] as const) {
      expect(splitDev(makedev(major, minor))).toEqual({ major, minor });
    }
  });
});

describe('xattrs', () => {
  it('sets, reads and lists binary values', () => {
    const file = join(dir, 'f');
    writeFileSync(file, '');
    const value = Buffer.from([0, 1, 2, 0xff, 0]);
    lsetxattr(file, 'user.bin', value);
    lsetxattr(file, 'user.empty', Buffer.alloc(0));
    expect(lgetxattr(file, 'user.bin')).toEqual(value);
    expect(lgetxattr(file, 'user.empty')).toEqual(Buffer.alloc(0));
    expect(lgetxattr(file, 'user.absent')).toBeUndefined();
    expect(llistxattr(file).sort()).toEqual(['user.bin', 'user.empty']);
  });

  it.runIf(isRoot())('acts on a symlink itself, not its target', () => {
    const file = join(dir, 'f');
    const link = join(dir, 'l');
    writeFileSync(file, '');
    symlinkSync(file, link);
    lsetxattr(link, 'trusted.where', Buffer.from('link'));
    expect(lgetxattr(link, 'trusted.where')?.toString()).toBe('link');
    expect(lgetxattr(file, 'trusted.where')).toBeUndefined();
    expect(llistxattr(file)).toEqual([]);
  });

  it('reports a missing path with its name', () => {
    const missing = join(dir, 'missing');
    expect(() => lgetxattr(missing, 'user.x')).toThrow(missing);
    expect(() => llistxattr(missing)).toThrow(/ENOENT/);
    expect(() => lsetxattr(missing, 'user.x', Buffer.from('y'))).toThrow(/lsetxattr/);
  });
});

describe('host', () => {
  it('isRoot follows the effective uid', () => {
    expect(isRoot()).toBe(process.geteuid!() === 0);
  });

  it('findBinary searches PATH, then sbin and podman helper directories', () => {
    expect(findBinary('sh')).toMatch(/\/sh$/);
    expect(findBinary('no-such-program-skiff')).toBeUndefined();
    const script = join(dir, 'my-tool');
    writeFileSync(script, '#!/bin/sh\n');
    chmodSync(script, 0o755);
    const plain = join(dir, 'not-exec');
    writeFileSync(plain, '');
    expect(findBinary('my-tool', { PATH: `/nonexistent:${dir}` })).toBe(script);
    expect(findBinary('not-exec', { PATH: dir })).toBeUndefined();
    expect(findBinary(script)).toBe(script);
    // sbin is searched even when PATH lacks it.
    const inSbin = ['mkfs', 'ldconfig', 'sysctl'].find((n) => findBinary(n, { PATH: '/usr/bin' }));
    expect(inSbin).toBeDefined();
  });
});
