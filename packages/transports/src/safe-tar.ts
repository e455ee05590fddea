import { constants, createReadStream, createWriteStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { decompressStream } from '@skiff/archive';
import { ErrorCode, SkiffError } from '@skiff/oci-image';
import * as tar from 'tar-stream';
import { throwIfAborted } from './fsutil.js';

export interface SafeExtractOptions {
  /** Which normalized names to extract; others are skipped without being written. */
  accept: (name: string) => boolean;
  /**
   * Record symlinks/hardlinks whose targets stay inside the archive as aliases (never created
   * on disk). Without it every link is refused.
   */
  allowInternalLinks?: boolean;
  signal?: AbortSignal;
}

export interface ExtractedArchive {
  root: string;
  files: Set<string>;
  /** In-archive aliases (link name -> target name), resolved by `resolve`. */
  links: Map<string, string>;
  /** The on-disk path of an archive member, following in-archive links; undefined if absent. */
  resolve(name: string): string | undefined;
}

function unsafe(archive: string, name: string, why: string): SkiffError {
  return new SkiffError(
    ErrorCode.UnsafePath,
    `refusing archive ${archive}: entry "${name}" ${why}`,
    { hint: 'the archive may be hostile; nothing was written outside a temporary directory' },
  );
}

/** Normalizes a member name, refusing absolute names and `..` components. */
export function normalizeMemberName(archive: string, raw: string): string {
  if (raw.includes('\0')) throw unsafe(archive, raw, 'contains a NUL byte');
  if (raw.startsWith('/')) throw unsafe(archive, raw, 'is an absolute path');
  const parts = raw.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.some((p) => p === '..')) throw unsafe(archive, raw, 'contains ".."');
  return parts.join('/');
}

/**
 * Extracts an outer archive (oci-archive, docker-archive) into `root`, which must be a fresh
 * empty directory. Only regular files and directories are written; link entries are refused or
 * recorded as in-archive aliases; names are confined to `root`; files are opened O_NOFOLLOW.
 */
export async function extractArchiveSafely(
  archive: string,
  root: string,
  opts: SafeExtractOptions,
): Promise<ExtractedArchive> {
  const files = new Set<string>();
  const dirs = new Set<string>();
  const links = new Map<string, string>();
  const input = createReadStream(archive, { signal: opts.signal });
  const { stream } = await decompressStream(input);
  const extract = tar.extract();
  stream.on('error', (err: Error) => extract.destroy(err));
  stream.pipe(extract);

  const underAlias = (name: string) => {
    const parts = name.split('/');
    for (let i = 1; i < parts.length; i++) {
      if (links.has(parts.slice(0, i).join('/'))) return true;
    }
    return false;
  };

  try {
    for await (const entry of extract) {
      throwIfAborted(opts.signal);
      const h = entry.header;
      const name = normalizeMemberName(archive, h.name);
      if (name === '') {
        entry.resume();
        continue;
      }
      if (h.type === 'symlink' || h.type === 'link') {
        const target = h.linkname ?? '';
        if (!opts.allowInternalLinks) {
          throw unsafe(
            archive,
            h.name,
            `is a ${h.type === 'link' ? 'hard link' : 'symlink'} (to "${target}")`,
          );
        }
        if (target.startsWith('/'))
          throw unsafe(archive, h.name, `links to absolute path "${target}"`);
        const joined =
          h.type === 'symlink' ? path.posix.join(path.posix.dirname(name), target) : target;
        const normalized = path.posix.normalize(joined);
        if (normalized === '..' || normalized.startsWith('../') || normalized.startsWith('/')) {
          throw unsafe(archive, h.name, `links outside the archive ("${target}")`);
        }
        if (files.has(name) || dirs.has(name))
          throw unsafe(archive, h.name, 'replaces an earlier entry with a link');
        if (underAlias(name)) throw unsafe(archive, h.name, 'is inside a linked directory');
        links.set(name, normalizeMemberName(archive, normalized));
        entry.resume();
        continue;
      }
      if (h.type !== 'file' && h.type !== 'contiguous-file' && h.type !== 'directory') {
        throw unsafe(archive, h.name, `has unsupported type ${h.type}`);
      }
      if (underAlias(name) || links.has(name)) {
        throw unsafe(archive, h.name, 'is written through a link entry');
      }
      if (!opts.accept(name)) {
        entry.resume();
        continue;
      }
      const target = path.join(root, ...name.split('/'));
      if (h.type === 'directory') {
        await fs.mkdir(target, { recursive: true, mode: 0o755 });
        dirs.add(name);
        entry.resume();
        continue;
      }
      await fs.mkdir(path.dirname(target), { recursive: true, mode: 0o755 });
      const flags =
        constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW;
      const fh = await fs.open(target, flags, 0o644);
      await pipeline(entry, fh.createWriteStream(), { signal: opts.signal });
      files.add(name);
    }
  } finally {
    input.destroy();
  }

  const resolveName = (name: string): string | undefined => {
    let current = name;
    for (let hops = 0; hops < 32; hops++) {
      const next = links.get(current);
      if (next === undefined) return files.has(current) ? current : undefined;
      current = next;
    }
    return undefined;
  };
  return {
    root,
    files,
    links,
    resolve(name: string) {
      let n: string;
      try {
        n = normalizeMemberName(archive, name);
      } catch {
        return undefined;
      }
      const r = resolveName(n);
      return r === undefined ? undefined : path.join(root, ...r.split('/'));
    },
  };
}

/** Writes `root`'s files (names relative to root, in order) as a tar at `out`. */
export async function writeTarFromFiles(
  out: string,
  entries: { name: string; file?: string; data?: Uint8Array; dir?: boolean }[],
  signal?: AbortSignal,
): Promise<void> {
  const pack = tar.pack();
  const writing = pipeline(pack, createWriteStream(out, { flags: 'wx', mode: 0o644 }), { signal });
  const common = { mtime: new Date(0), uid: 0, gid: 0 };
  try {
    for (const e of entries) {
      throwIfAborted(signal);
      if (e.dir) {
        await new Promise<void>((resolve, reject) =>
          pack.entry({ ...common, name: e.name, type: 'directory', mode: 0o755 }, (err) =>
            err ? reject(err) : resolve(),
          ),
        );
      } else if (e.data) {
        await new Promise<void>((resolve, reject) =>
          pack.entry({ ...common, name: e.name, mode: 0o644 }, Buffer.from(e.data!), (err) =>
            err ? reject(err) : resolve(),
          ),
        );
      } else if (e.file) {
        const st = await fs.stat(e.file);
        const sink = pack.entry({ ...common, name: e.name, mode: 0o644, size: st.size });
        await pipeline(createReadStream(e.file), sink, { signal });
      }
    }
    pack.finalize();
    await writing;
  } catch (err) {
    pack.destroy(err as Error);
    await writing.catch(() => {});
    throw err;
  }
}
