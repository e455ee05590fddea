import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { readRootfsFile, resolveInRoot, resolveUser } from '../src/index.js';

const PASSWD =
  'root:x:0:0:root:/root:/bin/sh\n# comment\napp:x:1000:1000::/home/app:/bin/sh\nbroken line\n';
const GROUP = 'root:x:0:\napp:x:1000:\nwheel:x:10:app\nstaff:x:50:root,app\n';

describe('resolveUser', () => {
  it('defaults to root with root supplementary groups', () => {
    expect(resolveUser('', PASSWD, GROUP)).toEqual({
      uid: 0,
      gid: 0,
      additionalGids: [50],
      home: '/root',
    });
  });
  it('resolves a name to uid, primary gid, member groups and home', () => {
    expect(resolveUser('app', PASSWD, GROUP)).toEqual({
      uid: 1000,
      gid: 1000,
      additionalGids: [10, 50],
      home: '/home/app',
    });
  });
  it('an explicit group replaces the supplementary groups; group names resolve', () => {
    expect(resolveUser('app:wheel', PASSWD, GROUP)).toEqual({
      uid: 1000,
      gid: 10,
      additionalGids: [],
      home: '/home/app',
    });
    expect(resolveUser('1000:7', PASSWD, GROUP).gid).toBe(7);
  });
  it('a numeric uid missing from passwd runs with gid 0 and HOME=/', () => {
    expect(resolveUser('4242', PASSWD, GROUP)).toEqual({
      uid: 4242,
      gid: 0,
      additionalGids: [],
      home: '/',
    });
    expect(resolveUser('4242', undefined, undefined).uid).toBe(4242);
  });
  it('an unknown name or group is an error', () => {
    expect(() => resolveUser('ghost', PASSWD, GROUP)).toThrow(/unable to find user ghost/);
    expect(() => resolveUser('app:ghosts', PASSWD, GROUP)).toThrow(/unable to find group ghosts/);
  });
  it('--group-add adds names and numbers once', () => {
    expect(resolveUser('app', PASSWD, GROUP, ['wheel', '99']).additionalGids).toEqual([10, 50, 99]);
  });
});

describe('reading files of a rootfs', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
  });
  function tree(): { root: string; outside: string } {
    const base = fs.mkdtempSync(path.join(os.tmpdir(), 'skiff-rootfs-'));
    dirs.push(base);
    const root = path.join(base, 'root');
    const outside = path.join(base, 'outside');
    fs.mkdirSync(path.join(root, 'etc'), { recursive: true });
    fs.mkdirSync(outside);
    fs.writeFileSync(path.join(outside, 'passwd'), 'host:x:0:0::/:/bin/sh\n');
    return { root, outside };
  }

  it('reads a plain file and follows symlinks that stay inside', () => {
    const { root } = tree();
    fs.writeFileSync(path.join(root, 'etc', 'passwd.real'), 'a:x:1:1::/:/bin/sh\n');
    fs.symlinkSync('passwd.real', path.join(root, 'etc', 'passwd'));
    expect(readRootfsFile(root, 'etc/passwd')).toBe('a:x:1:1::/:/bin/sh\n');
  });

  it('never leaves the rootfs: absolute and ../ symlinks resolve inside it', () => {
    const { root, outside } = tree();
    fs.symlinkSync(path.join(outside, 'passwd'), path.join(root, 'etc', 'passwd'));
    expect(readRootfsFile(root, 'etc/passwd')).toBeUndefined();
    fs.symlinkSync('../../../outside/passwd', path.join(root, 'etc', 'group'));
    expect(readRootfsFile(root, 'etc/group')).toBeUndefined();
    expect(resolveInRoot(root, 'etc/group')).toBe(path.join(root, 'outside', 'passwd'));
    fs.symlinkSync('/', path.join(root, 'up'));
    expect(resolveInRoot(root, 'up/../../etc')).toBe(path.join(root, 'etc'));
  });

  it('gives undefined for a missing file, a directory or a symlink loop', () => {
    const { root } = tree();
    expect(readRootfsFile(root, 'etc/nothing')).toBeUndefined();
    expect(readRootfsFile(root, 'etc')).toBeUndefined();
    fs.symlinkSync('loop', path.join(root, 'loop'));
    expect(() => readRootfsFile(root, 'loop')).toThrow(/too many symlinks/);
  });
});
