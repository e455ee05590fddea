import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { writeLayer } from '@skiff/archive';
import { digestOf, MediaType, type RawManifest } from '@skiff/oci-image';
import { openStore, type Store, type StoreEvent, type StoreOptions } from '../src/index.js';

/** Layer content: path -> file text; a path ending in "/" is a directory; null a whiteout. */
export type LayerSpec = Record<string, string | null>;

export interface TestLayer {
  blob: Buffer;
  digest: string;
  diffId: string;
}

export interface TestImage {
  layers: TestLayer[];
  configRaw: Buffer;
  configDigest: string;
  id: string;
  manifest: RawManifest;
  manifestDigest: string;
}

export class TempDirs {
  private readonly dirs: string[] = [];
  make(prefix = 'skiff-storage-test-'): string {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
    this.dirs.push(d);
    return d;
  }
  cleanup(): void {
    for (const d of this.dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
  }
}

/** A gzip layer made from files on disk by @skiff/archive (whiteouts as .wh. files). */
export async function makeLayer(spec: LayerSpec, tmp: string): Promise<TestLayer> {
  const dir = fs.mkdtempSync(path.join(tmp, 'layer-src-'));
  for (const [name, content] of Object.entries(spec)) {
    const p = path.join(dir, name);
    if (name.endsWith('/')) {
      fs.mkdirSync(p, { recursive: true });
      continue;
    }
    fs.mkdirSync(path.dirname(p), { recursive: true });
    if (content === null) {
      const base = path.basename(name);
      const wh = base === '*' ? '.wh..wh..opq' : `.wh.${base}`;
      fs.writeFileSync(path.join(path.dirname(p), wh), '');
    } else fs.writeFileSync(p, content);
  }
  for (const f of walk(dir)) fs.utimesSync(f, 1_700_000_000, 1_700_000_000);
  const chunks: Buffer[] = [];
  const out = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk);
      cb();
    },
  });
  const written = await writeLayer(dir, out, { compression: 'gzip' });
  fs.rmSync(dir, { recursive: true, force: true });
  return { blob: Buffer.concat(chunks), digest: written.digest, diffId: written.diffId };
}

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...walk(p));
    out.push(p);
  }
  return out;
}

export async function makeImage(
  layers: (LayerSpec | TestLayer)[],
  tmp: string,
  label = 'test',
): Promise<TestImage> {
  const built: TestLayer[] = [];
  for (const l of layers) built.push('blob' in l ? (l as TestLayer) : await makeLayer(l, tmp));
  const config = {
    architecture: 'amd64',
    os: 'linux',
    created: '2024-01-02T03:04:05Z',
    config: { Cmd: ['/bin/sh'], Labels: { label } },
    rootfs: { type: 'layers', diff_ids: built.map((l) => l.diffId) },
  };
  const configRaw = Buffer.from(JSON.stringify(config));
  const configDigest = digestOf(configRaw);
  const manifestJson = {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    config: { mediaType: MediaType.OciConfig, digest: configDigest, size: configRaw.length },
    layers: built.map((l) => ({
      mediaType: MediaType.OciLayerGzip,
      digest: l.digest,
      size: l.blob.length,
    })),
  };
  const raw = Buffer.from(JSON.stringify(manifestJson));
  return {
    layers: built,
    configRaw,
    configDigest,
    id: configDigest.slice(7),
    manifest: { raw: new Uint8Array(raw), mediaType: MediaType.OciManifest },
    manifestDigest: digestOf(raw),
  };
}

/** What a pull does, through the StoreWriter API: blobs, layers, then the image row. */
export async function storeImage(
  store: Store,
  img: TestImage,
  names: string[] = [],
  events: StoreEvent[] = [],
) {
  const w = store.beginWrite({ onEvent: (e) => events.push(e) });
  try {
    let parent: string | undefined;
    for (const l of img.layers) {
      if (!w.hasBlob(l.digest, l.blob.length)) {
        await w.putBlob(Readable.from([l.blob]), { digest: l.digest, size: l.blob.length });
      }
      const info = await w.ensureLayer({
        parent,
        diffId: l.diffId,
        blob: { digest: l.digest, size: l.blob.length },
      });
      parent = info.id;
    }
    return await w.commitImage({ manifest: img.manifest, configRaw: img.configRaw, names });
  } finally {
    w.release();
  }
}

export function newStore(tmp: string, opts: Partial<StoreOptions> = {}): Store {
  return openStore({
    root: path.join(tmp, 'root'),
    runroot: path.join(tmp, 'run'),
    fsync: false,
    ...opts,
  });
}

/** Every file and directory under `dir`, relative, sorted (for "nothing left" checks). */
export function listTree(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return walk(dir)
    .map((p) => path.relative(dir, p))
    .sort();
}

/** A tree's content: relative path -> file text, "dir", "link:target", or "char:maj,min". */
export function treeContent(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of walk(dir)) {
    const rel = path.relative(dir, p);
    const st = fs.lstatSync(p);
    if (st.isDirectory()) out[rel] = 'dir';
    else if (st.isSymbolicLink()) out[rel] = `link:${fs.readlinkSync(p)}`;
    else if (st.isCharacterDevice()) out[rel] = 'char';
    else out[rel] = fs.readFileSync(p, 'utf8');
  }
  return out;
}
