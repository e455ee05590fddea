import { describe, expect, it } from 'vitest';
import { BLOCK, encodeHeader, parseHeader, parsePax } from '../src/tar.js';
import { listTar } from './helpers.js';

function withChecksum(block: Buffer): Buffer {
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of block) sum += b;
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return block;
}

const base = { uid: 0, gid: 0, mtime: 1_600_000_000, mode: 0o644 };

describe('tar headers', () => {
  it('round-trips through tar-stream, with PAX for what ustar cannot hold', async () => {
    const name = `${'d'.repeat(150)}/file`;
    const xattrs = new Map([
      ['user.z', Buffer.from('1')],
      ['user.a', Buffer.from([0, 0xff])],
    ]);
    const header = encodeHeader({ ...base, name, type: 'file', size: 0, uid: 3_000_000, xattrs });
    const tar = Buffer.concat([header, Buffer.alloc(2 * BLOCK)]);
    const [h] = await listTar(tar);
    expect(h!.name).toBe(name);
    // tar-stream ignores a PAX uid; GNU tar reads it.
    const { execFileSync } = await import('node:child_process');
    const listing = execFileSync('tar', ['--numeric-owner', '-tvf', '-'], { input: tar });
    expect(listing.toString()).toMatch(/ 3000000\/0 /);
    const paxSize = parseHeader(tar, 0).size;
    const pax = parsePax(tar.subarray(BLOCK, BLOCK + paxSize));
    // xattrs in name order, binary values intact
    expect([...pax.keys()].filter((k) => k.startsWith('SCHILY'))).toEqual([
      'SCHILY.xattr.user.a',
      'SCHILY.xattr.user.z',
    ]);
    expect(pax.get('SCHILY.xattr.user.a')).toEqual(Buffer.from([0, 0xff]));
  });

  it('reads base-256 numbers, ustar prefixes and old-style directory names', () => {
    const h = encodeHeader({ ...base, name: 'x', type: 'file', size: 0 });
    // size 2^40 in GNU base-256
    h.fill(0, 124, 136);
    h[124] = 0x80;
    h.writeUIntBE(2 ** 40, 130, 6);
    h.write('pre/fix', 345, 'latin1');
    const parsed = parseHeader(withChecksum(h), 0);
    expect(parsed.size).toBe(2 ** 40);
    expect(parsed.name).toBe('pre/fix/x');

    const old = Buffer.alloc(BLOCK);
    old.write('olddir/', 0, 'latin1');
    old.write('0000755\0', 100, 'latin1');
    old.write('00000000000\0', 124, 'latin1');
    const o = parseHeader(withChecksum(old), 0);
    expect(o.type).toBe('dir');
    expect(o.mode).toBe(0o755);
  });

  it('rejects a bad checksum and malformed PAX records', () => {
    const h = encodeHeader({ ...base, name: 'x', type: 'file', size: 0 });
    h[0] = 0x79;
    expect(() => parseHeader(h, 0)).toThrow(/checksum/);
    expect(() => parsePax(Buffer.from('99 path=x\n'))).toThrow(/length/);
    expect(() => parsePax(Buffer.from('11 pathx\n  '))).toThrow();
    expect(parsePax(Buffer.from('12 path=abc\n')).get('path')?.toString()).toBe('abc');
  });
});
