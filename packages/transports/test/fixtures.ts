import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { digestOf, MediaType, type Platform } from '@skiff/oci-image';
import * as tar from 'tar-stream';

/** A tar archive in memory from named entries (small test data only). */
export async function makeTar(
  entries: {
    name: string;
    data?: string | Buffer;
    type?: 'file' | 'directory' | 'symlink' | 'link';
    linkname?: string;
  }[],
): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: unknown) => {
    chunks.push(c as Buffer);
  });
  const done = new Promise<void>((resolve, reject) => {
    pack.on('end', resolve);
    pack.on('error', reject);
  });
  for (const e of entries) {
    const type = e.type ?? 'file';
    const header = {
      name: e.name,
      type,
      mode: type === 'directory' ? 0o755 : 0o644,
      mtime: new Date(1_700_000_000_000),
      uid: 0,
      gid: 0,
      ...(e.linkname !== undefined ? { linkname: e.linkname } : {}),
    };
    await new Promise<void>((resolve, reject) => {
      const cb = (err?: Error | null) => (err ? reject(err) : resolve());
      if (type === 'file') pack.entry(header, Buffer.from(e.data ?? ''), cb);
      else pack.entry(header, cb);
    });
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

export interface BuiltLayer {
  tar: Buffer;
  blob: Buffer;
  digest: string;
  diffId: string;
  mediaType: string;
}

export interface BuiltImage {
  configRaw: Buffer;
  configDigest: string;
  layers: BuiltLayer[];
  manifestRaw: Buffer;
  manifestDigest: string;
  mediaType: string;
  platform: Platform;
}

export interface ImageSpec {
  /** Files of each layer: name -> content. */
  layers?: Record<string, string>[];
  architecture?: string;
  os?: string;
  variant?: string;
  /** Layer compression (default gzip). */
  compression?: 'gzip' | 'none';
  /** Docker schema 2 instead of OCI. */
  docker?: boolean;
  /** Overrides the config's diff_ids (to build broken images). */
  diffIds?: string[];
  /** A label making otherwise identical images differ. */
  label?: string;
}

/** A small real image: layers built with tar-stream + gzip, a config with matching diff_ids. */
export async function buildImage(spec: ImageSpec = {}): Promise<BuiltImage> {
  const layerFiles = spec.layers ?? [
    { 'etc/hello.txt': 'hello from layer one\n', 'bin/tool': '#!/bin/sh\necho tool\n' },
    { 'etc/second.txt': `second layer ${spec.label ?? ''}\n` },
  ];
  const compression = spec.compression ?? 'gzip';
  const layers: BuiltLayer[] = [];
  for (const files of layerFiles) {
    const dirs = new Set<string>();
    for (const name of Object.keys(files)) {
      const parts = name.split('/');
      for (let i = 1; i < parts.length; i++) dirs.add(`${parts.slice(0, i).join('/')}/`);
    }
    const t = await makeTar([
      ...[...dirs].sort().map((name) => ({ name, type: 'directory' as const })),
      ...Object.entries(files)
        .sort()
        .map(([name, data]) => ({ name, data })),
    ]);
    const blob = compression === 'gzip' ? gzipSync(t) : t;
    const mediaType = spec.docker
      ? compression === 'gzip'
        ? MediaType.DockerLayerGzip
        : MediaType.DockerLayer
      : compression === 'gzip'
        ? MediaType.OciLayerGzip
        : MediaType.OciLayer;
    layers.push({ tar: t, blob, digest: digestOf(blob), diffId: digestOf(t), mediaType });
  }
  const platform: Platform = {
    architecture: spec.architecture ?? 'amd64',
    os: spec.os ?? 'linux',
    ...(spec.variant ? { variant: spec.variant } : {}),
  };
  const config = {
    architecture: platform.architecture,
    os: platform.os,
    ...(spec.variant ? { variant: spec.variant } : {}),
    config: {
      Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
      Cmd: ['/bin/tool'],
      Labels: { 'skiff.test': spec.label ?? 'fixture' },
    },
    rootfs: { type: 'layers', diff_ids: spec.diffIds ?? layers.map((l) => l.diffId) },
    history: layers.map((_, i) => ({ created: '2024-01-01T00:00:00Z', created_by: `layer ${i}` })),
  };
  const configRaw = Buffer.from(JSON.stringify(config));
  const configDigest = digestOf(configRaw);
  const manifest = {
    schemaVersion: 2,
    mediaType: spec.docker ? MediaType.DockerManifest : MediaType.OciManifest,
    // Descriptor fields in Go's struct order, as skopeo writes them.
    config: spec.docker
      ? { mediaType: MediaType.DockerConfig, size: configRaw.length, digest: configDigest }
      : { mediaType: MediaType.OciConfig, digest: configDigest, size: configRaw.length },
    layers: layers.map((l) =>
      spec.docker
        ? { mediaType: l.mediaType, size: l.blob.length, digest: l.digest }
        : { mediaType: l.mediaType, digest: l.digest, size: l.blob.length },
    ),
  };
  const manifestRaw = Buffer.from(JSON.stringify(manifest));
  return {
    configRaw,
    configDigest,
    layers,
    manifestRaw,
    manifestDigest: digestOf(manifestRaw),
    mediaType: manifest.mediaType,
    platform,
  };
}

export interface BuiltIndex {
  raw: Buffer;
  digest: string;
  mediaType: string;
  images: BuiltImage[];
}

export function buildIndex(images: BuiltImage[], docker = false): BuiltIndex {
  const index = {
    schemaVersion: 2,
    mediaType: docker ? MediaType.DockerManifestList : MediaType.OciIndex,
    manifests: images.map((img) => ({
      mediaType: img.mediaType,
      digest: img.manifestDigest,
      size: img.manifestRaw.length,
      platform: img.platform,
    })),
  };
  const raw = Buffer.from(JSON.stringify(index));
  return { raw, digest: digestOf(raw), mediaType: index.mediaType, images };
}

async function writeBlob(root: string, data: Buffer): Promise<void> {
  const hex = digestOf(data).slice('sha256:'.length);
  await fs.mkdir(path.join(root, 'blobs', 'sha256'), { recursive: true });
  await fs.writeFile(path.join(root, 'blobs', 'sha256', hex), data);
}

/** Writes an OCI layout holding the given images / indexes under their refs. */
export async function writeOciLayout(
  root: string,
  entries: { ref?: string; image?: BuiltImage; index?: BuiltIndex }[],
): Promise<void> {
  await fs.mkdir(root, { recursive: true });
  await fs.writeFile(path.join(root, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  const manifests: unknown[] = [];
  const putImage = async (img: BuiltImage) => {
    for (const l of img.layers) await writeBlob(root, l.blob);
    await writeBlob(root, img.configRaw);
    await writeBlob(root, img.manifestRaw);
  };
  for (const e of entries) {
    const annotations = e.ref ? { 'org.opencontainers.image.ref.name': e.ref } : undefined;
    if (e.image) {
      await putImage(e.image);
      manifests.push({
        mediaType: e.image.mediaType,
        digest: e.image.manifestDigest,
        size: e.image.manifestRaw.length,
        ...(annotations ? { annotations } : {}),
      });
    } else if (e.index) {
      for (const img of e.index.images) await putImage(img);
      await writeBlob(root, e.index.raw);
      manifests.push({
        mediaType: e.index.mediaType,
        digest: e.index.digest,
        size: e.index.raw.length,
        ...(annotations ? { annotations } : {}),
      });
    }
  }
  await fs.writeFile(
    path.join(root, 'index.json'),
    JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests }),
  );
}

/** A fresh temp directory; `cleanup` removes every one made. */
export class TempDirs {
  private readonly dirs: string[] = [];
  async make(prefix = 'skiff-transports-test-'): Promise<string> {
    const d = await fs.mkdtemp(path.join(os.tmpdir(), prefix));
    this.dirs.push(d);
    return d;
  }
  async cleanup(): Promise<void> {
    for (const d of this.dirs.splice(0)) await fs.rm(d, { recursive: true, force: true });
  }
}

/** Lists every file under `dir` (relative names), for "nothing was left behind" checks. */
export async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string, rel: string) => {
    let entries: import('node:fs').Dirent[];
    try {
      entries = await fs.readdir(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) await walk(path.join(d, e.name), r);
      else out.push(r);
    }
  };
  await walk(dir, '');
  return out.sort();
}
