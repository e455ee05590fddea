/**
 * Layer tars from a directory, byte-for-byte reproducible: entries in byte-wise order with each
 * directory before its contents, numeric ids only, hardlinks as links to the first path seen,
 * PAX records for long names and xattrs.
 */
import { createHash } from 'node:crypto';
import {
  closeSync,
  constants,
  lstatSync,
  openSync,
  readdirSync,
  readlinkSync,
  readSync,
  type Stats,
} from 'node:fs';
import { pipeline as pipelineCb, Readable, Transform, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ErrorCode, SkiffError } from '@skiff/oci-image';
import { lgetxattr, llistxattr, splitDev } from '@skiff/sys';
import { type Compression, type CompressOptions, compressStream } from './compression.js';
import type { IdPair } from './extract.js';
import { END_OF_ARCHIVE, encodeHeader, padding, type WriteHeader } from './tar.js';

export interface CreateLayerOptions {
  /** 'overlay-upper': char devices 0/0 become `.wh.NAME`, opaque dirs get `.wh..wh..opq`. */
  source?: 'plain' | 'overlay-upper';
  /** Seconds since the epoch: later mtimes are written as this (reproducible builds). */
  clampMtime?: number;
  compression?: Compression;
  /** Compression level (see compressStream). */
  level?: number;
  /** Maps host ids to the ids written in the layer (rootless). */
  idMap?: (uid: number, gid: number) => IdPair;
  signal?: AbortSignal;
}

const BATCH = 256 * 1024;
const READ_CHUNK = 1024 * 1024;
const OPAQUE_XATTRS = ['trusted.overlay.opaque', 'user.overlay.opaque'];

/** Xattrs a layer carries: capabilities and user/trusted data, not overlay or SELinux state. */
function keepXattr(name: string): boolean {
  if (name.startsWith('trusted.overlay.') || name.startsWith('user.overlay.')) return false;
  if (name === 'security.selinux') return false;
  return name.startsWith('user.') || name.startsWith('trusted.') || name.startsWith('security.');
}

function readXattrs(abs: string): Map<string, Buffer> | undefined {
  let names: string[];
  try {
    names = llistxattr(abs);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOTSUP' || code === 'EOPNOTSUPP') return undefined;
    throw err;
  }
  let out: Map<string, Buffer> | undefined;
  for (const name of names) {
    if (!keepXattr(name)) continue;
    const value = lgetxattr(abs, name);
    if (value === undefined) continue;
    out ??= new Map();
    out.set(name, value);
  }
  return out;
}

function isOpaque(abs: string): boolean {
  for (const name of OPAQUE_XATTRS) {
    try {
      if (lgetxattr(abs, name)?.toString() === 'y') return true;
    } catch {
      // Namespaces a file system does not support are simply not set.
    }
  }
  return false;
}

interface Child {
  /** The name in the layer (a whiteout's `.wh.` name for overlay whiteouts). */
  name: string;
  abs: string;
  st: Stats;
  whiteout: boolean;
}

function* layerChunks(root: string, opts: CreateLayerOptions): Generator<Buffer> {
  const overlay = opts.source === 'overlay-upper';
  const links = new Map<string, string>();
  let batch: Buffer[] = [];
  let batchBytes = 0;
  const add = (b: Buffer) => {
    batch.push(b);
    batchBytes += b.length;
  };
  const flush = (): Buffer => {
    const out = batch.length === 1 ? batch[0]! : Buffer.concat(batch, batchBytes);
    batch = [];
    batchBytes = 0;
    return out;
  };
  const mtimeOf = (st: Stats) => {
    const t = Math.floor(st.mtimeMs / 1000);
    return opts.clampMtime !== undefined && t > opts.clampMtime ? opts.clampMtime : t;
  };
  const idsOf = (st: Stats): IdPair => (opts.idMap ? opts.idMap(st.uid, st.gid) : st);

  // Depth first; each directory's children sorted byte-wise by their names in the layer.
  const stack: { rel: string; children: Child[]; next: number }[] = [];
  const listDir = (abs: string): Child[] => {
    const children: (Child & { key: Buffer })[] = [];
    for (const name of readdirSync(abs)) {
      const childAbs = `${abs}/${name}`;
      const st = lstatSync(childAbs);
      const whiteout = overlay && st.isCharacterDevice() && st.rdev === 0;
      const layerName = whiteout ? `.wh.${name}` : name;
      const key = Buffer.from(layerName, 'utf8');
      children.push({ name: layerName, key, abs: childAbs, st, whiteout });
    }
    children.sort((a, b) => Buffer.compare(a.key, b.key));
    return children;
  };
  stack.push({ rel: '', children: listDir(root), next: 0 });

  while (stack.length > 0) {
    if (opts.signal?.aborted) {
      throw new SkiffError(ErrorCode.Aborted, 'layer creation was aborted', {
        cause: opts.signal.reason,
      });
    }
    const top = stack[stack.length - 1]!;
    const child = top.children[top.next++];
    if (child === undefined) {
      stack.pop();
      continue;
    }
    const rel = top.rel === '' ? child.name : `${top.rel}/${child.name}`;
    const { st, abs } = child;
    const ids = idsOf(st);
    const base = { uid: ids.uid, gid: ids.gid, mtime: mtimeOf(st), size: 0 };

    if (child.whiteout) {
      add(encodeHeader({ ...base, name: rel, type: 'file', mode: 0 }));
    } else if (st.isDirectory()) {
      const h: WriteHeader = { ...base, name: `${rel}/`, type: 'dir', mode: st.mode & 0o7777 };
      const xattrs = readXattrs(abs);
      if (xattrs) h.xattrs = xattrs;
      add(encodeHeader(h));
      if (overlay && isOpaque(abs)) {
        add(encodeHeader({ ...base, name: `${rel}/.wh..wh..opq`, type: 'file', mode: 0 }));
      }
      stack.push({ rel, children: listDir(abs), next: 0 });
    } else if (st.isSocket()) {
      // Sockets have no tar representation; tar and Docker leave them out too.
    } else {
      const key = `${st.dev}:${st.ino}`;
      const first = st.nlink > 1 ? links.get(key) : undefined;
      const mode = st.mode & 0o7777;
      if (first !== undefined) {
        add(encodeHeader({ ...base, name: rel, type: 'link', mode, linkname: first }));
      } else {
        if (st.nlink > 1) links.set(key, rel);
        const xattrs = readXattrs(abs);
        if (st.isFile()) {
          const h: WriteHeader = { ...base, name: rel, type: 'file', mode, size: st.size };
          if (xattrs) h.xattrs = xattrs;
          add(encodeHeader(h));
          yield* fileContent(abs, rel, st.size, add, () => batchBytes, flush);
          add(Buffer.alloc(padding(st.size)));
        } else if (st.isSymbolicLink()) {
          const h: WriteHeader = {
            ...base,
            name: rel,
            type: 'symlink',
            mode,
            linkname: readlinkSync(abs),
          };
          if (xattrs) h.xattrs = xattrs;
          add(encodeHeader(h));
        } else {
          const type = st.isCharacterDevice() ? 'char' : st.isBlockDevice() ? 'block' : 'fifo';
          const dev = type === 'fifo' ? { major: 0, minor: 0 } : splitDev(st.rdev);
          const h: WriteHeader = {
            ...base,
            name: rel,
            type,
            mode,
            devmajor: dev.major,
            devminor: dev.minor,
          };
          if (xattrs) h.xattrs = xattrs;
          add(encodeHeader(h));
        }
      }
    }
    if (batchBytes >= BATCH) yield flush();
  }
  add(END_OF_ARCHIVE);
  yield flush();
}

function* fileContent(
  abs: string,
  rel: string,
  size: number,
  add: (b: Buffer) => void,
  pending: () => number,
  flush: () => Buffer,
): Generator<Buffer> {
  if (size === 0) return;
  // O_NOFOLLOW: a file swapped for a symlink after lstat is not followed out of the tree.
  const fd = openSync(abs, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    let left = size;
    while (left > 0) {
      const buf = Buffer.allocUnsafe(Math.min(left, READ_CHUNK));
      let filled = 0;
      while (filled < buf.length) {
        const n = readSync(fd, buf, filled, buf.length - filled, null);
        if (n === 0) {
          throw new SkiffError(
            ErrorCode.InvalidLayer,
            `"${rel}" shrank while it was being added to the layer`,
          );
        }
        filled += n;
      }
      left -= filled;
      add(buf);
      if (pending() >= BATCH) yield flush();
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * A layer tar of a directory (or of an overlay upper directory) as a stream; the same tree
 * gives the same bytes on every run. Compressed when `opts.compression` says so.
 */
export function createLayer(dir: string, opts: CreateLayerOptions = {}): Readable {
  const tar = Readable.from(layerChunks(dir, opts), { objectMode: false, highWaterMark: BATCH });
  const level: CompressOptions = opts.level === undefined ? {} : { level: opts.level };
  return compressStream(tar, opts.compression ?? 'none', level);
}

export interface WrittenLayer {
  /** Digest of the bytes written (compressed), "sha256:hex". */
  digest: string;
  /** Digest of the uncompressed tar. */
  diffId: string;
  /** Bytes written. */
  size: number;
  /** Bytes of the uncompressed tar. */
  uncompressedSize: number;
}

function tap(onChunk: (chunk: Buffer) => void): Transform {
  return new Transform({
    highWaterMark: BATCH,
    transform(chunk: Buffer, _enc, cb) {
      onChunk(chunk);
      cb(null, chunk);
    },
  });
}

/**
 * Compresses an uncompressed layer tar into `out`, computing its diffID, digest and size on
 * the way (one pass, streaming).
 */
export async function writeLayerStream(
  tar: Readable,
  out: Writable,
  compression: Compression,
  opts: { level?: number; signal?: AbortSignal } = {},
): Promise<WrittenLayer> {
  const diffHash = createHash('sha256');
  const hash = createHash('sha256');
  let uncompressedSize = 0;
  let size = 0;
  const diffTap = tap((c) => {
    diffHash.update(c);
    uncompressedSize += c.length;
  });
  // Errors travel both ways: a failing tar fails the output, a failing output stops the tar.
  pipelineCb(tar, diffTap, () => {});
  const level: CompressOptions = opts.level === undefined ? {} : { level: opts.level };
  const compressed = compressStream(diffTap, compression, level);
  const outTap = tap((c) => {
    hash.update(c);
    size += c.length;
  });
  await pipeline(compressed, outTap, out, opts.signal ? { signal: opts.signal } : {});
  return {
    digest: `sha256:${hash.digest('hex')}`,
    diffId: `sha256:${diffHash.digest('hex')}`,
    size,
    uncompressedSize,
  };
}

/** createLayer + writeLayerStream: writes a directory's layer and returns its digests. */
export function writeLayer(
  dir: string,
  out: Writable,
  opts: CreateLayerOptions = {},
): Promise<WrittenLayer> {
  const { compression = 'none', ...rest } = opts;
  const tar = createLayer(dir, { ...rest, compression: 'none' });
  const o: { level?: number; signal?: AbortSignal } = {};
  if (opts.level !== undefined) o.level = opts.level;
  if (opts.signal) o.signal = opts.signal;
  return writeLayerStream(tar, out, compression, o);
}
