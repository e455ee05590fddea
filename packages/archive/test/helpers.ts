import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import * as tar from 'tar-stream';

export interface TestEntry {
  name: string;
  type?: 'file' | 'link' | 'symlink' | 'character-device' | 'block-device' | 'directory' | 'fifo';
  content?: string | Buffer;
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: Date;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  /** PAX records, e.g. SCHILY.xattr.user.x. */
  pax?: Record<string, string>;
}

/** A tar built with tar-stream, an implementation independent of Skiff's writer. */
export async function tarOf(entries: TestEntry[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const c of pack) chunks.push(c as Buffer);
  })();
  for (const e of entries) {
    const type = e.type ?? 'file';
    const content = e.content === undefined ? undefined : Buffer.from(e.content);
    const header = {
      name: e.name,
      type,
      mode: e.mode ?? (type === 'directory' ? 0o755 : type === 'symlink' ? 0o777 : 0o644),
      uid: e.uid ?? 0,
      gid: e.gid ?? 0,
      mtime: e.mtime ?? new Date(1_600_000_000_000),
      linkname: e.linkname,
      devmajor: e.devmajor,
      devminor: e.devminor,
      size: content?.length ?? 0,
      ...(e.pax ? { pax: e.pax } : {}),
    } as tar.Header;
    await new Promise<void>((resolve, reject) =>
      content === undefined
        ? pack.entry(header, (err) => (err ? reject(err) : resolve()))
        : pack.entry(header, content, (err) => (err ? reject(err) : resolve())),
    );
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

export function streamOf(data: Buffer): Readable {
  return Readable.from([data], { objectMode: false });
}

export async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

export function sha256(data: Buffer): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** Entries of a tar as tar-stream reads them. */
export async function listTar(data: Buffer): Promise<tar.Header[]> {
  const raw = data[0] === 0x1f && data[1] === 0x8b ? gunzipSync(data) : data;
  const extract = tar.extract();
  const out: tar.Header[] = [];
  const done = (async () => {
    for await (const entry of extract) {
      out.push(entry.header);
      entry.resume();
    }
  })();
  extract.end(raw);
  await done;
  return out;
}

/** A temp dir tree: the target, a sibling "outside" dir holding a canary, and a cleanup. */
export function sandbox(): {
  base: string;
  target: string;
  outside: string;
  canary: string;
  cleanup: () => void;
} {
  const base = mkdtempSync(join(tmpdir(), 'skiff-archive-'));
  return {
    base,
    target: join(base, 'target'),
    outside: join(base, 'outside'),
    canary: join(base, 'outside', 'canary'),
    cleanup: () => rmSync(base, { recursive: true, force: true }),
  };
}
