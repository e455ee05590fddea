/**
 * The tar format as layers use it: ustar headers, PAX extended headers (path, linkpath, size,
 * ids, mtime, SCHILY.xattr.*) and the GNU long-name extensions. Parsing accepts what GNU tar,
 * Go's archive/tar and tar-stream write; writing produces ustar + PAX, byte-for-byte stable.
 */
import { ErrorCode, SkiffError } from '@skiff/oci-image';

export const BLOCK = 512;

export type EntryType =
  | 'file'
  | 'link'
  | 'symlink'
  | 'char'
  | 'block'
  | 'dir'
  | 'fifo'
  | 'pax'
  | 'pax-global'
  | 'gnu-longname'
  | 'gnu-longlink'
  | 'unsupported';

export interface RawHeader {
  name: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  type: EntryType;
  typeflag: string;
  linkname: string;
  devmajor: number;
  devminor: number;
}

function typeOf(flag: number): EntryType {
  switch (flag) {
    case 0:
    case 0x30: // '0'
    case 0x37: // '7' contiguous file
      return 'file';
    case 0x31:
      return 'link';
    case 0x32:
      return 'symlink';
    case 0x33:
      return 'char';
    case 0x34:
      return 'block';
    case 0x35:
      return 'dir';
    case 0x36:
      return 'fifo';
    case 0x78: // 'x'
      return 'pax';
    case 0x67: // 'g'
      return 'pax-global';
    case 0x4c: // 'L'
      return 'gnu-longname';
    case 0x4b: // 'K'
      return 'gnu-longlink';
    default:
      return 'unsupported';
  }
}

function cstring(buf: Buffer, start: number, len: number): string {
  let end = start;
  const max = start + len;
  while (end < max && buf[end] !== 0) end++;
  return buf.toString('utf8', start, end);
}

/** A numeric field: octal text (spaces and NULs around it allowed) or GNU base-256. */
function numeric(buf: Buffer, start: number, len: number, field: string): number {
  const first = buf[start]!;
  if (first & 0x80) {
    if (first === 0xff) throw invalid(`negative ${field} in tar header`);
    let value = first & 0x7f;
    for (let i = start + 1; i < start + len; i++) {
      value = value * 256 + buf[i]!;
      if (value > Number.MAX_SAFE_INTEGER) throw invalid(`${field} too large in tar header`);
    }
    return value;
  }
  let i = start;
  const end = start + len;
  while (i < end && (buf[i] === 0x20 || buf[i] === 0)) i++;
  let value = 0;
  let digits = 0;
  for (; i < end; i++) {
    const c = buf[i]!;
    if (c === 0 || c === 0x20) break;
    if (c < 0x30 || c > 0x37) throw invalid(`invalid ${field} in tar header`);
    value = value * 8 + (c - 0x30);
    digits++;
  }
  return digits === 0 ? 0 : value;
}

function invalid(message: string): SkiffError {
  return new SkiffError(ErrorCode.InvalidLayer, message);
}

export function isZeroBlock(buf: Buffer, offset: number): boolean {
  for (let i = offset; i < offset + BLOCK; i++) if (buf[i] !== 0) return false;
  return true;
}

/** Parses the 512-byte header at `offset`. Throws E_INVALID_LAYER on a bad checksum. */
export function parseHeader(buf: Buffer, offset: number): RawHeader {
  const expected = numeric(buf, offset + 148, 8, 'checksum');
  let unsigned = 8 * 0x20;
  let high = 0;
  for (let i = offset; i < offset + 148; i++) {
    const c = buf[i]!;
    unsigned += c;
    if (c > 127) high++;
  }
  for (let i = offset + 156; i < offset + BLOCK; i++) {
    const c = buf[i]!;
    unsigned += c;
    if (c > 127) high++;
  }
  // Some old tars summed signed chars.
  const signed = unsigned - 256 * high;
  if (expected !== unsigned && expected !== signed) {
    throw invalid('tar header checksum mismatch: the layer is not a tar archive or is corrupt');
  }
  const flag = buf[offset + 156]!;
  let name = cstring(buf, offset, 100);
  // ustar ("ustar\0") keeps a path prefix at 345; GNU ("ustar  \0") uses that area otherwise.
  const magic = buf.toString('latin1', offset + 257, offset + 263);
  const isUstar = magic === 'ustar\0';
  if (isUstar) {
    const prefix = cstring(buf, offset + 345, 155);
    if (prefix !== '') name = `${prefix}/${name}`;
  }
  let type = typeOf(flag);
  // Old tars mark directories by a trailing slash on a regular-file entry.
  if (type === 'file' && flag === 0 && name.endsWith('/')) type = 'dir';
  const hasDev = isUstar || magic === 'ustar ';
  return {
    name,
    mode: numeric(buf, offset + 100, 8, 'mode') & 0o7777,
    uid: numeric(buf, offset + 108, 8, 'uid'),
    gid: numeric(buf, offset + 116, 8, 'gid'),
    size: numeric(buf, offset + 124, 12, 'size'),
    mtime: numeric(buf, offset + 136, 12, 'mtime'),
    type,
    typeflag: String.fromCharCode(flag),
    linkname: cstring(buf, offset + 157, 100),
    devmajor: hasDev ? numeric(buf, offset + 329, 8, 'devmajor') : 0,
    devminor: hasDev ? numeric(buf, offset + 337, 8, 'devminor') : 0,
  };
}

/** PAX records as raw bytes: xattr values are binary, so nothing is decoded here. */
export function parsePax(data: Buffer): Map<string, Buffer> {
  const records = new Map<string, Buffer>();
  let pos = 0;
  while (pos < data.length) {
    if (data[pos] === 0) break; // NUL padding
    const space = data.indexOf(0x20, pos);
    if (space < 0) throw invalid('malformed PAX header record');
    const len = Number(data.toString('latin1', pos, space));
    if (!Number.isInteger(len) || len <= space - pos + 1 || pos + len > data.length) {
      throw invalid('malformed PAX header record length');
    }
    const record = data.subarray(space + 1, pos + len);
    if (record[record.length - 1] !== 0x0a) throw invalid('PAX header record without newline');
    const eq = record.indexOf(0x3d);
    if (eq < 0) throw invalid('PAX header record without "="');
    const key = record.toString('utf8', 0, eq);
    records.set(key, record.subarray(eq + 1, record.length - 1));
    pos += len;
  }
  return records;
}

// ---------------------------------------------------------------------------------------------
// Writing

export interface WriteHeader {
  name: string;
  type: 'file' | 'link' | 'symlink' | 'char' | 'block' | 'dir' | 'fifo';
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  /** xattr name -> value, written as PAX `SCHILY.xattr.NAME` records in name order. */
  xattrs?: Map<string, Buffer>;
}

const TYPEFLAG: Record<WriteHeader['type'], number> = {
  file: 0x30,
  link: 0x31,
  symlink: 0x32,
  char: 0x33,
  block: 0x34,
  dir: 0x35,
  fifo: 0x36,
};

function writeOctal(buf: Buffer, offset: number, len: number, value: number): void {
  // len-1 digits and a NUL, as Go and GNU tar write them.
  buf.write(value.toString(8).padStart(len - 1, '0'), offset, len - 1, 'latin1');
  buf[offset + len - 1] = 0;
}

function fitsOctal(value: number, len: number): boolean {
  return value >= 0 && value < 8 ** (len - 1);
}

function paxRecord(key: string, value: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`, 'utf8'), value, Buffer.from('\n')]);
  let len = body.length + 1;
  // The length counts its own digits.
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return Buffer.concat([Buffer.from(String(len), 'latin1'), body]);
}

function headerBlock(
  name: Buffer,
  typeflag: number,
  mode: number,
  uid: number,
  gid: number,
  size: number,
  mtime: number,
  linkname: Buffer,
  devmajor: number,
  devminor: number,
): Buffer {
  const buf = Buffer.alloc(BLOCK);
  name.copy(buf, 0, 0, Math.min(100, name.length));
  writeOctal(buf, 100, 8, mode);
  writeOctal(buf, 108, 8, fitsOctal(uid, 8) ? uid : 0);
  writeOctal(buf, 116, 8, fitsOctal(gid, 8) ? gid : 0);
  writeOctal(buf, 124, 12, fitsOctal(size, 12) ? size : 0);
  writeOctal(buf, 136, 12, fitsOctal(mtime, 12) ? mtime : 0);
  buf[156] = typeflag;
  linkname.copy(buf, 157, 0, Math.min(100, linkname.length));
  buf.write('ustar\x0000', 257, 8, 'latin1');
  writeOctal(buf, 329, 8, devmajor);
  writeOctal(buf, 337, 8, devminor);
  buf.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += buf[i]!;
  buf.write(sum.toString(8).padStart(6, '0'), 148, 6, 'latin1');
  buf[154] = 0;
  buf[155] = 0x20;
  return buf;
}

/**
 * Encodes one entry's header: a PAX header first when the name, link name, ids, size or mtime
 * do not fit ustar or when there are xattrs, then the ustar header.
 */
export function encodeHeader(h: WriteHeader): Buffer {
  const name = Buffer.from(h.name, 'utf8');
  const linkname = Buffer.from(h.linkname ?? '', 'utf8');
  const records: Buffer[] = [];
  if (name.length > 100) records.push(paxRecord('path', name));
  if (linkname.length > 100) records.push(paxRecord('linkpath', linkname));
  if (!fitsOctal(h.uid, 8)) records.push(paxRecord('uid', Buffer.from(String(h.uid))));
  if (!fitsOctal(h.gid, 8)) records.push(paxRecord('gid', Buffer.from(String(h.gid))));
  if (!fitsOctal(h.size, 12)) records.push(paxRecord('size', Buffer.from(String(h.size))));
  if (!fitsOctal(h.mtime, 12)) records.push(paxRecord('mtime', Buffer.from(String(h.mtime))));
  if (h.xattrs) {
    const keys = [...h.xattrs.keys()].sort(compareBytes);
    for (const key of keys) records.push(paxRecord(`SCHILY.xattr.${key}`, h.xattrs.get(key)!));
  }
  const main = headerBlock(
    name,
    TYPEFLAG[h.type],
    h.mode & 0o7777,
    h.uid,
    h.gid,
    h.size,
    h.mtime,
    linkname,
    h.devmajor ?? 0,
    h.devminor ?? 0,
  );
  if (records.length === 0) return main;
  const data = Buffer.concat(records);
  const paxName = Buffer.from('PaxHeaders/', 'latin1');
  const pax = headerBlock(paxName, 0x78, 0o644, 0, 0, data.length, 0, Buffer.alloc(0), 0, 0);
  return Buffer.concat([pax, data, Buffer.alloc(padding(data.length)), main]);
}

export function padding(size: number): number {
  const rest = size % BLOCK;
  return rest === 0 ? 0 : BLOCK - rest;
}

/** Byte-wise (UTF-8) order, as Go's sort.Strings orders names. */
export function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** The end of an archive: two zero blocks. */
export const END_OF_ARCHIVE = Buffer.alloc(2 * BLOCK);
