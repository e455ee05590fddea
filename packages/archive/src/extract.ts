/**
 * Layer extraction confined to a target directory. The tar is parsed by a small synchronous
 * state machine and applied with synchronous fs calls: for layers of many small files that
 * avoids a thread-pool round trip per syscall, while zlib (or zstd) keeps inflating the next
 * chunk on another thread.
 */
import { createHash } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  constants,
  fchmodSync,
  fchownSync,
  futimesSync,
  lchownSync,
  linkSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  openSync,
  readdirSync,
  readlinkSync,
  realpathSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import type { Readable } from 'node:stream';
import { ErrorCode, SkiffError } from '@skiff/oci-image';
import { isRoot, lsetxattr, mknod } from '@skiff/sys';
import { type Compression, decompressStream } from './compression.js';
import { BLOCK, isZeroBlock, padding, parseHeader, parsePax, type RawHeader } from './tar.js';

export interface IdPair {
  uid: number;
  gid: number;
}

export interface ApplyLayerOptions {
  /**
   * 'apply' (default): the target holds the lower layers; `.wh.NAME` deletes NAME and
   * `.wh..wh..opq` empties its directory. 'overlay': the target is this layer's own overlay
   * upper directory; whiteouts become char devices 0/0 and opaque xattrs.
   */
  whiteouts?: 'apply' | 'overlay';
  /** Overlay opaque xattrs in the `user.` namespace (rootless overlay) instead of `trusted.`. */
  rootless?: boolean;
  /** Maps ids from the layer to ids on the host (rootless user namespaces). */
  idMap?: (uid: number, gid: number) => IdPair;
  /** Set owners from the layer (default: when running as root). */
  chown?: boolean;
  /** Create char and block devices (default: when running as root); else they are skipped. */
  allowDevices?: boolean;
  /** Limit on uncompressed bytes (decompression-bomb guard). Default 64 GiB. */
  maxBytes?: number;
  /** Limit on tar entries, metadata headers included. Default 4,000,000. */
  maxEntries?: number;
  signal?: AbortSignal;
  /** Called for each thing skipped or degraded (a device not created, an xattr refused). */
  onWarning?: (message: string) => void;
}

export interface ApplyLayerResult {
  /** sha256 of the uncompressed tar, "sha256:hex". */
  diffId: string;
  /** Uncompressed size in bytes. */
  size: number;
  /** Number of entries (metadata headers not counted). */
  entries: number;
  compression: Compression;
  /** Device nodes not created because they are not permitted here. */
  skippedDevices: number;
  /** Warnings (at most the first 100). */
  warnings: string[];
}

const DEFAULT_MAX_BYTES = 64 * 1024 ** 3;
const DEFAULT_MAX_ENTRIES = 4_000_000;
const MAX_META = 16 * 1024 * 1024;
const MAX_SYMLINKS = 40;
/** Decompressed bytes queued for the parser before the decompressor is paused. */
const QUEUE_LIMIT = 4 * 1024 * 1024;

const S_IFCHR = constants.S_IFCHR;
const S_IFBLK = constants.S_IFBLK;
const S_IFIFO = constants.S_IFIFO;
const OPEN_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

interface Entry {
  name: string;
  type: RawHeader['type'];
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  atime: number;
  linkname: string;
  devmajor: number;
  devminor: number;
  xattrs: Map<string, Buffer> | undefined;
}

enum State {
  Header,
  Data,
  Padding,
  End,
}

enum DataSink {
  File,
  Meta,
  Discard,
}

function unsafe(name: string, why: string): SkiffError {
  return new SkiffError(ErrorCode.UnsafePath, `layer entry "${name}" ${why}; refusing to extract`);
}

function invalid(name: string, why: string, cause?: unknown): SkiffError {
  return new SkiffError(ErrorCode.InvalidLayer, `layer entry "${name}": ${why}`, { cause });
}

/** Codes of @skiff/archive beyond the shared ErrorCode set. */
export const ArchiveErrorCode = {
  /** The host refused a write (disk full, read-only, I/O error): not the layer's fault. */
  LayerWrite: 'E_LAYER_WRITE',
} as const;

const HOST_ERRNOS = new Set(['ENOSPC', 'EDQUOT', 'EROFS', 'EIO', 'EMFILE', 'ENFILE', 'ENOMEM']);

/** Turns an fs error met while writing an entry into a SkiffError naming the entry. */
function entryError(name: string, err: unknown): SkiffError {
  if (err instanceof SkiffError) return err;
  const code = errCode(err);
  const message = (err as Error | undefined)?.message ?? String(err);
  if (code && HOST_ERRNOS.has(code)) {
    return new SkiffError(
      ArchiveErrorCode.LayerWrite,
      `writing layer entry "${name}": ${message}`,
      {
        cause: err,
      },
    );
  }
  return invalid(name, message, err);
}

function errCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

/** Lexically cleans a tar path. Returns '' for the root, undefined when it climbs above it. */
export function cleanPath(name: string): string | undefined {
  const out: string[] = [];
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (out.length === 0) return undefined;
      out.pop();
      continue;
    }
    out.push(part);
  }
  return out.join('/');
}

function splitPath(rel: string): [parent: string, base: string] {
  const slash = rel.lastIndexOf('/');
  return slash < 0 ? ['', rel] : [rel.slice(0, slash), rel.slice(slash + 1)];
}

function joinRel(parent: string, base: string): string {
  return parent === '' ? base : `${parent}/${base}`;
}

/** The synchronous tar consumer; one per applyLayer call. */
class LayerWriter {
  private state = State.Header;
  private readonly header = Buffer.alloc(BLOCK);
  private headerFill = 0;
  private remaining = 0;
  private pad = 0;
  private sink = DataSink.Discard;
  private meta: Buffer[] = [];
  private metaKind: RawHeader['type'] = 'pax';
  private fd = -1;
  private current: Entry | undefined;
  private currentAbs = '';

  private pax: Map<string, Buffer> | undefined;
  private globalPax = new Map<string, Buffer>();
  private longName: string | undefined;
  private longLink: string | undefined;

  /** Real relative paths known to be directories (no symlink anywhere in them). */
  private readonly dirs = new Set<string>(['']);
  /** Directory times (and late modes) applied after all contents are written. */
  private readonly dirFinal = new Map<string, { atime: number; mtime: number; mode?: number }>();
  /** Paths this layer created, and their ancestors: whiteouts only hide lower layers. */
  private readonly written = new Set<string>();
  private readonly touched = new Set<string>();
  /** Whether whiteouts can meet lower-layer content (false when the target started empty). */
  private readonly trackWritten: boolean;
  /** Real relative paths of setgid directories: files made in them take the directory's group. */
  private readonly sgidDirs = new Set<string>();

  headers = 0;
  entries = 0;
  skippedDevices = 0;
  readonly warnings: string[] = [];

  private readonly root: string;
  private readonly overlay: boolean;
  private readonly chown: boolean;
  private readonly allowDevices: boolean;
  private readonly asRoot: boolean;
  private readonly umask: number;
  private readonly maxEntries: number;
  private readonly euid: number;
  private readonly egid: number;

  constructor(
    target: string,
    private readonly opts: ApplyLayerOptions,
  ) {
    this.root = realpathSync(target);
    this.overlay = opts.whiteouts === 'overlay';
    this.asRoot = isRoot();
    this.chown = opts.chown ?? this.asRoot;
    this.allowDevices = opts.allowDevices ?? this.asRoot;
    this.maxEntries = opts.maxEntries ?? DEFAULT_MAX_ENTRIES;
    this.umask = process.umask();
    this.euid = process.geteuid?.() ?? -1;
    this.egid = process.getegid?.() ?? -1;
    const rootStat = lstatSync(this.root);
    if (rootStat.mode & 0o2000) this.sgidDirs.add('');
    this.trackWritten = !this.overlay && readdirSync(this.root).length > 0;
  }

  /** The name of the entry being extracted, for messages. */
  get currentName(): string | undefined {
    return this.current?.name;
  }

  get ended(): boolean {
    return this.state === State.End;
  }

  /** Consumes a chunk of the uncompressed tar. */
  push(chunk: Buffer): void {
    let pos = 0;
    const len = chunk.length;
    while (pos < len) {
      switch (this.state) {
        case State.Header: {
          if (this.headerFill === 0 && len - pos >= BLOCK) {
            this.onHeader(chunk, pos);
            pos += BLOCK;
          } else {
            const n = Math.min(BLOCK - this.headerFill, len - pos);
            chunk.copy(this.header, this.headerFill, pos, pos + n);
            this.headerFill += n;
            pos += n;
            if (this.headerFill === BLOCK) {
              this.headerFill = 0;
              this.onHeader(this.header, 0);
            }
          }
          break;
        }
        case State.Data: {
          const n = Math.min(this.remaining, len - pos);
          this.onData(chunk.subarray(pos, pos + n));
          pos += n;
          this.remaining -= n;
          if (this.remaining === 0) this.endData();
          break;
        }
        case State.Padding: {
          const n = Math.min(this.pad, len - pos);
          pos += n;
          this.pad -= n;
          if (this.pad === 0) this.state = State.Header;
          break;
        }
        case State.End:
          return;
      }
    }
  }

  /** The input ended: fail on a truncated archive, then finish directories. */
  finish(): void {
    if (this.state === State.Data || this.state === State.Padding || this.headerFill !== 0) {
      throw new SkiffError(
        ErrorCode.InvalidLayer,
        `layer tar is truncated${this.current ? ` in entry "${this.current.name}"` : ''}`,
      );
    }
    // Children before parents (reverse tar order): a parent losing its x bit must not lock
    // out its children.
    for (const [rel, final] of [...this.dirFinal].reverse()) {
      const abs = this.abs(rel);
      try {
        if (final.mode !== undefined) chmodSync(abs, final.mode);
        lutimesSync(abs, final.atime, final.mtime);
      } catch (err) {
        throw entryError(rel, err);
      }
    }
  }

  /** Releases what an aborted extraction holds. */
  abort(): void {
    if (this.fd >= 0) {
      try {
        closeSync(this.fd);
      } catch {}
      this.fd = -1;
    }
  }

  private warn(message: string): void {
    if (this.warnings.length < 100) this.warnings.push(message);
    this.opts.onWarning?.(message);
  }

  private abs(rel: string): string {
    return rel === '' ? this.root : `${this.root}/${rel}`;
  }

  // -------------------------------------------------------------------------------------------
  // Parsing

  private onHeader(buf: Buffer, offset: number): void {
    if (isZeroBlock(buf, offset)) {
      // End of archive. Whatever follows is hashed but not extracted.
      this.state = State.End;
      return;
    }
    if (++this.headers > this.maxEntries) {
      throw new SkiffError(
        ErrorCode.InvalidLayer,
        `layer has more than ${this.maxEntries} tar entries; refusing to extract`,
      );
    }
    const h = parseHeader(buf, offset);
    switch (h.type) {
      case 'pax':
      case 'pax-global':
      case 'gnu-longname':
      case 'gnu-longlink': {
        if (h.size > MAX_META) {
          throw invalid(h.name, `${h.type} header of ${h.size} bytes is too large`);
        }
        this.metaKind = h.type;
        this.meta = [];
        this.beginData(h.size, DataSink.Meta);
        return;
      }
      case 'unsupported': {
        if (h.typeflag === 'V') {
          this.beginData(h.size, DataSink.Discard);
          return;
        }
        throw invalid(h.name, `unsupported tar entry type '${h.typeflag}' (sparse or unknown)`);
      }
      default:
        break;
    }
    const entry = this.makeEntry(h);
    this.entries++;
    this.current = entry;
    this.apply(entry);
    this.beginData(entry.size, this.fd >= 0 ? DataSink.File : DataSink.Discard);
  }

  private makeEntry(h: RawHeader): Entry {
    const pax = this.pax;
    const global = this.globalPax;
    const get = (key: string): Buffer | undefined => pax?.get(key) ?? global.get(key);
    const num = (key: string, fallback: number): number => {
      const v = get(key);
      if (v === undefined) return fallback;
      const n = Number(v.toString('latin1'));
      if (!Number.isFinite(n)) throw invalid(h.name, `invalid PAX ${key} "${v.toString()}"`);
      return n;
    };
    const name = get('path')?.toString('utf8') ?? this.longName ?? h.name;
    const linkname = get('linkpath')?.toString('utf8') ?? this.longLink ?? h.linkname;
    let xattrs: Map<string, Buffer> | undefined;
    for (const records of [global, pax]) {
      if (!records) continue;
      for (const [key, value] of records) {
        if (key.startsWith('SCHILY.xattr.')) {
          xattrs ??= new Map();
          xattrs.set(key.slice(13), value);
        } else if (key.startsWith('LIBARCHIVE.xattr.')) {
          let attr: string;
          try {
            attr = decodeURIComponent(key.slice(17));
          } catch {
            throw invalid(name, `malformed PAX record ${key}`);
          }
          xattrs ??= new Map();
          xattrs.set(attr, Buffer.from(value.toString(), 'base64'));
        }
      }
      for (const key of records.keys()) {
        if (key.startsWith('GNU.sparse.')) throw invalid(name, 'sparse files are not supported');
      }
    }
    const mtime = num('mtime', h.mtime);
    const entry: Entry = {
      name,
      type: h.type,
      mode: h.mode,
      uid: num('uid', h.uid),
      gid: num('gid', h.gid),
      size: num('size', h.size),
      mtime,
      atime: num('atime', mtime),
      linkname,
      devmajor: h.devmajor,
      devminor: h.devminor,
      xattrs,
    };
    this.pax = undefined;
    this.longName = undefined;
    this.longLink = undefined;
    if (name.includes('\0') || linkname.includes('\0')) throw invalid(name, 'NUL in name');
    if (!Number.isSafeInteger(entry.size) || entry.size < 0) throw invalid(name, 'invalid size');
    for (const id of [entry.uid, entry.gid]) {
      if (!Number.isInteger(id) || id < 0 || id > 0xfffffffe)
        throw invalid(name, `invalid id ${id}`);
    }
    return entry;
  }

  private beginData(size: number, sink: DataSink): void {
    this.sink = sink;
    this.remaining = size;
    this.pad = padding(size);
    if (size > 0) this.state = State.Data;
    else this.endData();
  }

  private onData(data: Buffer): void {
    if (this.sink === DataSink.File) {
      let off = 0;
      try {
        while (off < data.length) off += writeSync(this.fd, data, off, data.length - off);
      } catch (err) {
        throw entryError(this.current?.name ?? '', err);
      }
    } else if (this.sink === DataSink.Meta) {
      this.meta.push(data);
    }
  }

  private endData(): void {
    if (this.sink === DataSink.File) this.finishFile();
    else if (this.sink === DataSink.Meta) {
      const data = Buffer.concat(this.meta);
      this.meta = [];
      if (this.metaKind === 'pax') this.pax = parsePax(data);
      else if (this.metaKind === 'pax-global') {
        // A global header cannot name, size or link every following entry.
        for (const [k, v] of parsePax(data)) {
          if (k !== 'path' && k !== 'linkpath' && k !== 'size') this.globalPax.set(k, v);
        }
      } else {
        const end = data.indexOf(0);
        const text = data.toString('utf8', 0, end < 0 ? data.length : end);
        if (this.metaKind === 'gnu-longname') this.longName = text;
        else this.longLink = text;
      }
    }
    this.sink = DataSink.Discard;
    this.state = this.pad > 0 ? State.Padding : State.Header;
  }

  // -------------------------------------------------------------------------------------------
  // Paths

  /**
   * Resolves a directory path inside the root the way a chroot would: symlinks are followed,
   * absolute ones from the root, `..` stops at the root. Missing directories are created when
   * `create`, else undefined is returned. The result is a real path relative to the root.
   */
  private resolveDir(rel: string, create: boolean, entryName: string): string | undefined {
    if (this.dirs.has(rel)) return rel;
    const rest = rel.split('/');
    rest.reverse();
    let cur = '';
    let links = 0;
    while (rest.length > 0) {
      const comp = rest.pop()!;
      if (comp === '' || comp === '.') continue;
      if (comp === '..') {
        cur = splitPath(cur)[0];
        continue;
      }
      const next = joinRel(cur, comp);
      if (this.dirs.has(next)) {
        cur = next;
        continue;
      }
      const abs = this.abs(next);
      const st = lstatSync(abs, { throwIfNoEntry: false });
      if (st === undefined) {
        if (!create) return undefined;
        mkdirSync(abs, 0o755);
        if (this.chown && this.opts.idMap) {
          const ids = this.opts.idMap(0, 0);
          lchownSync(abs, ids.uid, ids.gid);
        }
        if (this.sgidDirs.has(cur)) this.sgidDirs.add(next);
        this.dirs.add(next);
        cur = next;
      } else if (st.isDirectory()) {
        if (st.mode & 0o2000) this.sgidDirs.add(next);
        this.dirs.add(next);
        cur = next;
      } else if (st.isSymbolicLink()) {
        if (++links > MAX_SYMLINKS) throw unsafe(entryName, 'resolves through too many symlinks');
        const target = readlinkSync(abs);
        if (target.startsWith('/')) cur = '';
        const parts = target.split('/');
        for (let i = parts.length - 1; i >= 0; i--) rest.push(parts[i]!);
      } else {
        if (!create) return undefined;
        throw invalid(entryName, `"${next}" is not a directory`);
      }
    }
    return cur;
  }

  /** Forgets cached knowledge about a directory that was removed or replaced. */
  private forget(rel: string): void {
    const prefix = `${rel}/`;
    for (const d of this.dirs) if (d === rel || d.startsWith(prefix)) this.dirs.delete(d);
    for (const d of this.sgidDirs) if (d === rel || d.startsWith(prefix)) this.sgidDirs.delete(d);
    for (const d of this.dirFinal.keys()) {
      if (d === rel || d.startsWith(prefix)) this.dirFinal.delete(d);
    }
  }

  /** Clears the way for a new entry; returns true when an existing directory is kept. */
  private clear(rel: string, abs: string, keepDir: boolean): boolean {
    const st = lstatSync(abs, { throwIfNoEntry: false });
    if (st === undefined) return false;
    if (st.isDirectory()) {
      if (keepDir) return true;
      rmSync(abs, { recursive: true, force: true });
      this.forget(rel);
      return false;
    }
    unlinkSync(abs);
    return false;
  }

  private markWritten(rel: string): void {
    if (!this.trackWritten) return;
    this.written.add(rel);
    let p = rel;
    while (p !== '') {
      p = splitPath(p)[0];
      if (this.touched.has(p)) break;
      this.touched.add(p);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Entries

  private apply(e: Entry): void {
    const rel = cleanPath(e.name);
    if (rel === undefined) throw unsafe(e.name, 'climbs out of the target with ".."');
    if (rel === '') return; // the root itself keeps its own metadata
    const [parentRel, base] = splitPath(rel);
    if (base.startsWith('.wh.')) {
      this.whiteout(e, parentRel, base);
      return;
    }
    try {
      const parent = this.resolveDir(parentRel, true, e.name)!;
      const real = joinRel(parent, base);
      const abs = this.abs(real);
      this.parentSgid = this.sgidDirs.has(parent);
      switch (e.type) {
        case 'file':
          this.createFile(e, real, abs);
          break;
        case 'dir':
          this.createDir(e, real, abs);
          break;
        case 'symlink':
          this.createSymlink(e, real, abs);
          break;
        case 'link':
          this.createHardlink(e, real, abs);
          break;
        case 'char':
        case 'block':
        case 'fifo':
          this.createNode(e, real, abs);
          break;
        default:
          throw invalid(e.name, `unexpected entry type ${e.type}`);
      }
      this.markWritten(real);
    } catch (err) {
      throw entryError(e.name, err);
    }
  }

  private ids(e: Entry): IdPair {
    return this.opts.idMap ? this.opts.idMap(e.uid, e.gid) : { uid: e.uid, gid: e.gid };
  }

  /** Whether the parent of the entry being created is a setgid directory. */
  private parentSgid = false;

  /**
   * Ids to set on a node this process just created, or undefined when it already has them
   * (created with our euid and egid, unless a setgid parent gave it the directory's group).
   */
  private newOwner(e: Entry): IdPair | undefined {
    if (!this.chown) return undefined;
    const ids = this.ids(e);
    if (ids.uid === this.euid && ids.gid === this.egid && !this.parentSgid) return undefined;
    return ids;
  }

  private needsChmod(mode: number): boolean {
    return (mode & 0o7000) !== 0 || (mode & this.umask) !== 0;
  }

  private setXattrs(e: Entry, abs: string): void {
    if (!e.xattrs) return;
    for (const [name, value] of e.xattrs) {
      // Overlay's own state (opaque, redirect, metacopy) never comes from layer content.
      if (name.startsWith('trusted.overlay.') || name.startsWith('user.overlay.')) {
        this.warn(`${e.name}: xattr ${name} ignored`);
        continue;
      }
      try {
        lsetxattr(abs, name, value);
      } catch (err) {
        const code = errCode(err);
        if (code === 'EPERM' || code === 'ENOTSUP' || code === 'EOPNOTSUPP' || code === 'EACCES') {
          this.warn(`${e.name}: xattr ${name} not set (${code})`);
          continue;
        }
        throw err;
      }
    }
  }

  private createFile(e: Entry, real: string, abs: string): void {
    this.owner = this.newOwner(e);
    let fd: number;
    try {
      fd = openSync(abs, OPEN_FLAGS, e.mode & 0o777);
    } catch (err) {
      if (errCode(err) !== 'EEXIST') throw err;
      this.clear(real, abs, false);
      fd = openSync(abs, OPEN_FLAGS, e.mode & 0o777);
    }
    this.fd = fd;
    this.currentAbs = abs;
    // Data follows; metadata is applied in finishFile.
  }

  private owner: IdPair | undefined;

  private finishFile(): void {
    const e = this.current!;
    const fd = this.fd;
    this.fd = -1;
    try {
      if (this.owner) fchownSync(fd, this.owner.uid, this.owner.gid);
      // After chown, which clears setuid/setgid bits.
      if (this.needsChmod(e.mode)) fchmodSync(fd, e.mode);
      futimesSync(fd, e.atime, e.mtime);
    } catch (err) {
      throw entryError(e.name, err);
    } finally {
      closeSync(fd);
    }
    // After chown, which clears security.capability.
    this.setXattrs(e, this.currentAbs);
  }

  private createDir(e: Entry, real: string, abs: string): void {
    // Without write permission on it a non-root user could not fill the directory: the final
    // mode is set at the end.
    const late = !this.asRoot && (e.mode & 0o300) !== 0o300;
    let existed = false;
    try {
      mkdirSync(abs, late ? 0o700 : e.mode & 0o777);
    } catch (err) {
      if (errCode(err) !== 'EEXIST') throw err;
      existed = this.clear(real, abs, true);
      if (!existed) mkdirSync(abs, late ? 0o700 : e.mode & 0o777);
    }
    this.dirs.add(real);
    const owner = existed && this.chown ? this.ids(e) : this.newOwner(e);
    if (owner) lchownSync(abs, owner.uid, owner.gid);
    // A setgid parent passes its setgid bit on to a new directory: set the mode explicitly.
    if (late) chmodSync(abs, 0o700);
    else if (existed || this.parentSgid || this.needsChmod(e.mode)) chmodSync(abs, e.mode);
    if (e.mode & 0o2000 && !late) this.sgidDirs.add(real);
    else this.sgidDirs.delete(real);
    this.setXattrs(e, abs);
    this.dirFinal.delete(real); // keep insertion order = last definition
    this.dirFinal.set(real, {
      atime: e.atime,
      mtime: e.mtime,
      ...(late ? { mode: e.mode } : {}),
    });
  }

  private createSymlink(e: Entry, real: string, abs: string): void {
    if (e.linkname === '') throw invalid(e.name, 'symlink with an empty target');
    try {
      symlinkSync(e.linkname, abs);
    } catch (err) {
      if (errCode(err) !== 'EEXIST') throw err;
      this.clear(real, abs, false);
      symlinkSync(e.linkname, abs);
    }
    const owner = this.newOwner(e);
    if (owner) lchownSync(abs, owner.uid, owner.gid);
    lutimesSync(abs, e.atime, e.mtime);
    this.setXattrs(e, abs);
  }

  private createHardlink(e: Entry, real: string, abs: string): void {
    const targetRel = cleanPath(e.linkname);
    if (targetRel === undefined)
      throw unsafe(e.name, `links to "${e.linkname}" outside the target`);
    if (targetRel === '') throw invalid(e.name, 'hardlink to the root directory');
    const [tParent, tBase] = splitPath(targetRel);
    const parent = this.resolveDir(tParent, false, e.name);
    const targetAbs = parent === undefined ? undefined : this.abs(joinRel(parent, tBase));
    const st = targetAbs && lstatSync(targetAbs, { throwIfNoEntry: false });
    if (!targetAbs || !st) {
      throw invalid(e.name, `hardlink target "${e.linkname}" does not exist in the layer`);
    }
    if (st.isDirectory()) throw invalid(e.name, `hardlink to directory "${e.linkname}"`);
    if (targetAbs === abs) return;
    try {
      // link(2) does not follow a symlink target: a link to a symlink is another symlink.
      linkSync(targetAbs, abs);
    } catch (err) {
      if (errCode(err) !== 'EEXIST') throw err;
      this.clear(real, abs, false);
      linkSync(targetAbs, abs);
    }
  }

  private createNode(e: Entry, real: string, abs: string): void {
    const isDevice = e.type !== 'fifo';
    if (isDevice && !this.allowDevices) {
      this.skipDevice(e, 'not permitted here');
      return;
    }
    const type = e.type === 'char' ? S_IFCHR : e.type === 'block' ? S_IFBLK : S_IFIFO;
    const make = () => mknod(abs, type | (e.mode & 0o777), e.devmajor, e.devminor);
    try {
      try {
        make();
      } catch (err) {
        if (errCode(err) !== 'EEXIST') throw err;
        this.clear(real, abs, false);
        make();
      }
    } catch (err) {
      if (isDevice && errCode(err) === 'EPERM') {
        this.skipDevice(e, 'mknod not permitted');
        return;
      }
      throw err;
    }
    const owner = this.newOwner(e);
    if (owner) lchownSync(abs, owner.uid, owner.gid);
    if (this.needsChmod(e.mode)) chmodSync(abs, e.mode);
    lutimesSync(abs, e.atime, e.mtime);
    this.setXattrs(e, abs);
  }

  private skipDevice(e: Entry, why: string): void {
    this.skippedDevices++;
    this.warn(`${e.name}: ${e.type} device ${e.devmajor}:${e.devminor} skipped (${why})`);
  }

  // -------------------------------------------------------------------------------------------
  // Whiteouts

  private whiteout(e: Entry, parentRel: string, base: string): void {
    const opaque = base === '.wh..wh..opq';
    // Other .wh..wh. names are aufs bookkeeping with no meaning here.
    if (!opaque && base.startsWith('.wh..wh.')) return;
    const name = base.slice(4);
    if (!opaque && (name === '' || name === '.' || name === '..')) {
      throw invalid(e.name, 'invalid whiteout name');
    }
    try {
      if (this.overlay) this.overlayWhiteout(e, parentRel, opaque ? undefined : name);
      else if (this.trackWritten) {
        // (Onto a target that started empty there is nothing below to hide.)
        const parent = this.resolveDir(parentRel, false, e.name);
        if (parent === undefined) return; // nothing below to hide
        const abs = this.abs(parent);
        if (opaque) {
          for (const child of readdirSync(abs)) this.removeLower(joinRel(parent, child));
        } else {
          this.removeLower(joinRel(parent, name));
        }
      }
    } catch (err) {
      throw entryError(e.name, err);
    }
  }

  /**
   * Removes what lower layers put at `rel`, keeping what this layer wrote: a directory this
   * layer wrote into (or re-declared) keeps only this layer's contents.
   */
  private removeLower(rel: string): void {
    const abs = this.abs(rel);
    const st = lstatSync(abs, { throwIfNoEntry: false });
    if (st === undefined) return;
    const mine = this.written.has(rel);
    if (st.isDirectory() && (mine || this.touched.has(rel))) {
      for (const child of readdirSync(abs)) this.removeLower(joinRel(rel, child));
    } else if (mine) {
      return;
    } else if (st.isDirectory()) {
      rmSync(abs, { recursive: true, force: true });
      this.forget(rel);
    } else {
      unlinkSync(abs);
    }
  }

  private overlayWhiteout(e: Entry, parentRel: string, name: string | undefined): void {
    const parent = this.resolveDir(parentRel, true, e.name)!;
    if (name === undefined) {
      const attr = this.opts.rootless ? 'user.overlay.opaque' : 'trusted.overlay.opaque';
      lsetxattr(this.abs(parent), attr, Buffer.from('y'));
      return;
    }
    const real = joinRel(parent, name);
    const abs = this.abs(real);
    this.parentSgid = this.sgidDirs.has(parent);
    try {
      mknod(abs, S_IFCHR, 0, 0);
    } catch (err) {
      const code = errCode(err);
      // The same layer created the path: a whiteout only hides lower layers.
      if (code === 'EEXIST') return;
      if (code !== 'EPERM') throw err;
      // No mknod (rootless without CAP_MKNOD): keep the .wh. file, which fuse-overlayfs reads.
      const wh = this.abs(joinRel(parent, `.wh.${name}`));
      closeSync(openSync(wh, OPEN_FLAGS, 0));
      this.warn(`${e.name}: whiteout kept as a .wh. file (mknod not permitted)`);
      return;
    }
    const owner = this.newOwner(e);
    if (owner) lchownSync(abs, owner.uid, owner.gid);
    lutimesSync(abs, e.atime, e.mtime);
  }
}

/**
 * Extracts a layer (gzip, zstd or plain tar, detected from its bytes) into `target`, which is
 * created if missing. Nothing is written outside `target`: `..` and absolute names stay inside,
 * symlinks in parent paths resolve as in a chroot, hardlinks must point inside.
 * On failure the target is left partly written; the caller removes it.
 */
export async function applyLayer(
  input: Readable,
  target: string,
  opts: ApplyLayerOptions = {},
): Promise<ApplyLayerResult> {
  const signal = opts.signal;
  const abortError = () =>
    new SkiffError(ErrorCode.Aborted, 'layer extraction was aborted', { cause: signal?.reason });
  if (signal?.aborted) {
    input.destroy();
    throw abortError();
  }
  mkdirSync(target, { recursive: true });
  const writer = new LayerWriter(target, opts);
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES;
  const { stream, compression } = await decompressStream(input);
  if (signal?.aborted) {
    stream.destroy();
    input.destroy();
    throw abortError();
  }
  const hash = createHash('sha256');
  let size = 0;

  await new Promise<void>((resolve, reject) => {
    const queue: Buffer[] = [];
    let head = 0;
    let queued = 0;
    let scheduled = false;
    let ended = false;
    let paused = false;
    let done = false;

    const fail = (err: unknown) => {
      if (done) return;
      done = true;
      cleanup();
      writer.abort();
      stream.destroy();
      input.destroy();
      reject(err);
    };
    const onAbort = () => fail(abortError());
    const cleanup = () => {
      signal?.removeEventListener('abort', onAbort);
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('close', onClose);
    };
    // Runs in its own turn so that the decompressor already works on the next chunk.
    const drain = () => {
      scheduled = false;
      if (done) return;
      try {
        while (head < queue.length) {
          const chunk = queue[head]!;
          queue[head++] = undefined as unknown as Buffer;
          queued -= chunk.length;
          if (!writer.ended) writer.push(chunk);
        }
        queue.length = 0;
        head = 0;
        if (ended) {
          writer.finish();
          done = true;
          cleanup();
          resolve();
          return;
        }
        if (paused) {
          paused = false;
          stream.resume();
        }
      } catch (err) {
        fail(err);
      }
    };
    const schedule = () => {
      if (!scheduled) {
        scheduled = true;
        setImmediate(drain);
      }
    };
    const onData = (chunk: Buffer) => {
      if (done) return;
      size += chunk.length;
      if (size > maxBytes) {
        const at = writer.currentName;
        fail(
          new SkiffError(
            ErrorCode.InvalidLayer,
            `layer expands to more than ${maxBytes} bytes${at ? ` (at entry "${at}")` : ''}; ` +
              'refusing to extract (decompression bomb?)',
            { hint: 'raise maxBytes if the layer is genuinely this large' },
          ),
        );
        return;
      }
      hash.update(chunk);
      queue.push(chunk);
      queued += chunk.length;
      if (queued >= QUEUE_LIMIT && !paused) {
        paused = true;
        stream.pause();
      }
      schedule();
    };
    const onEnd = () => {
      ended = true;
      schedule();
    };
    const onClose = () => {
      if (!ended) {
        fail(new SkiffError(ErrorCode.InvalidLayer, 'layer stream was closed before its end'));
      }
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    stream.on('data', onData);
    stream.on('end', onEnd);
    stream.on('close', onClose);
    stream.on('error', fail);
    // peek() may have met the end of a short input already.
    if (stream.readableEnded) onEnd();
  });

  return {
    diffId: `sha256:${hash.digest('hex')}`,
    size,
    entries: writer.entries,
    compression,
    skippedDevices: writer.skippedDevices,
    warnings: writer.warnings,
  };
}
