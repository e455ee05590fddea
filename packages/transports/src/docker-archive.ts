import { createReadStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { decompressStream, detectCompression } from '@skiff/archive';
import {
  type BlobInfo,
  digestOf,
  ErrorCode,
  familiarName,
  type ImageDestination,
  type ImageSource,
  layerCompression,
  MediaType,
  parseDigest,
  parseImageConfig,
  parseManifest,
  parseReference,
  type RawManifest,
  type Reference,
  SkiffError,
  serializeJson,
} from '@skiff/oci-image';
import {
  hasBlobFile,
  makeTempDir,
  readSmallFile,
  regularFileSize,
  storeBlobFile,
  throwIfAborted,
  writeThroughTemp,
} from './fsutil.js';
import type { ImageName, OpenOptions } from './name.js';
import { type ExtractedArchive, extractArchiveSafely, writeTarFromFiles } from './safe-tar.js';

interface ManifestEntry {
  Config: string;
  RepoTags: string[];
  Layers: string[];
}

function invalid(file: string, why: string): SkiffError {
  return new SkiffError(ErrorCode.InvalidManifest, `invalid docker-archive ${file}: ${why}`);
}

function parseManifestJson(raw: Uint8Array, file: string): ManifestEntry[] {
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(raw).toString('utf8'));
  } catch (err) {
    throw invalid(file, `manifest.json is not JSON (${(err as Error).message})`);
  }
  if (!Array.isArray(doc)) throw invalid(file, 'manifest.json is not an array');
  return doc.map((e, i) => {
    const entry = e as Partial<Record<keyof ManifestEntry, unknown>>;
    if (typeof entry?.Config !== 'string') throw invalid(file, `manifest.json[${i}] has no Config`);
    if (!Array.isArray(entry.Layers) || !entry.Layers.every((l) => typeof l === 'string')) {
      throw invalid(file, `manifest.json[${i}].Layers is not a list of file names`);
    }
    const tags = entry.RepoTags ?? [];
    if (!Array.isArray(tags) || !tags.every((t) => typeof t === 'string')) {
      throw invalid(file, `manifest.json[${i}].RepoTags is not a list of names`);
    }
    return { Config: entry.Config, Layers: entry.Layers as string[], RepoTags: tags as string[] };
  });
}

/** `name:tag` as docker save writes RepoTags (familiar name). */
export function repoTagOf(ref: Reference): string {
  return familiarName({ domain: ref.domain, path: ref.path, tag: ref.tag ?? 'latest' });
}

function sameTag(a: Reference, b: Reference): boolean {
  return a.domain === b.domain && a.path === b.path && (a.tag ?? 'latest') === (b.tag ?? 'latest');
}

interface LayerFile {
  diffId: string;
  file: string;
  compressed: boolean;
  /** Uncompressed size: the size of the blob this source serves. */
  size: number;
}

async function peek(file: string, n: number): Promise<Uint8Array> {
  const fh = await fs.open(file, 'r');
  try {
    const buf = Buffer.alloc(n);
    const { bytesRead } = await fh.read(buf, 0, n, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

async function uncompressedSize(file: string, signal?: AbortSignal): Promise<number> {
  const { stream } = await decompressStream(createReadStream(file, { signal }));
  let size = 0;
  for await (const chunk of stream) size += (chunk as Buffer).length;
  return size;
}

/**
 * Reads `docker save` archives. The archive is extracted safely to a temp dir; the manifest is
 * synthesized as Docker schema2 whose layers are the (uncompressed) tars, digest = diff_id.
 */
export class DockerArchiveSource implements ImageSource {
  private constructor(
    readonly reference: string,
    private readonly tmp: string,
    private readonly manifest: RawManifest,
    private readonly configFile: string,
    private readonly configDigest: string,
    private readonly layers: Map<string, LayerFile>,
    /** All RepoTags of the chosen image. */
    readonly repoTags: string[],
  ) {}

  static async open(
    file: string,
    name: ImageName,
    opts: OpenOptions,
  ): Promise<DockerArchiveSource> {
    const tmp = await makeTempDir('docker-archive', opts.tmpDir);
    try {
      const x = await extractArchiveSafely(file, tmp, {
        accept: () => true,
        allowInternalLinks: true,
        signal: opts.signal,
      });
      return await DockerArchiveSource.fromExtracted(file, name, x, tmp, opts.signal);
    } catch (err) {
      await fs.rm(tmp, { recursive: true, force: true });
      throw err;
    }
  }

  private static async fromExtracted(
    file: string,
    name: ImageName,
    x: ExtractedArchive,
    tmp: string,
    signal?: AbortSignal,
  ): Promise<DockerArchiveSource> {
    const manifestPath = x.resolve('manifest.json');
    if (!manifestPath) throw invalid(file, 'no manifest.json (not a docker save archive)');
    const entries = parseManifestJson(await readSmallFile(manifestPath, 'manifest.json'), file);
    const list = () =>
      entries
        .map((e, i) => `@${i}${e.RepoTags.length ? ` (${e.RepoTags.join(', ')})` : ''}`)
        .join(', ');
    let entry: ManifestEntry | undefined;
    if (name.index !== undefined) {
      entry = entries[name.index];
      if (!entry) {
        throw new SkiffError(
          ErrorCode.ImageNotFound,
          `${name.text}: the archive has ${entries.length} image(s), no @${name.index}`,
          { hint: `the archive has: ${list()}` },
        );
      }
    } else if (name.reference) {
      const want = name.reference;
      entry = entries.find((e) =>
        e.RepoTags.some((t) => {
          try {
            return sameTag(parseReference(t), want);
          } catch {
            return false;
          }
        }),
      );
      if (!entry) {
        throw new SkiffError(
          ErrorCode.ImageNotFound,
          `${name.text}: no image tagged ${repoTagOf(want)} in the archive`,
          { hint: `the archive has: ${list()}` },
        );
      }
    } else if (entries.length === 1) {
      entry = entries[0];
    } else {
      throw new SkiffError(
        ErrorCode.ImageNotFound,
        `${name.text}: the archive has ${entries.length} images; name one: ${list()}`,
        { hint: 'write docker-archive:PATH:NAME:TAG or docker-archive:PATH:@INDEX' },
      );
    }
    entry = entry!;
    const configFile = x.resolve(entry.Config);
    if (!configFile) throw invalid(file, `config ${entry.Config} is missing from the archive`);
    const configRaw = await readSmallFile(configFile, `config ${entry.Config}`);
    const config = parseImageConfig(configRaw);
    const diffIds = config.rootfs.diff_ids;
    if (diffIds.length !== entry.Layers.length) {
      throw invalid(
        file,
        `config ${entry.Config} lists ${diffIds.length} diff_ids but manifest.json lists ${entry.Layers.length} layers`,
      );
    }
    const layers = new Map<string, LayerFile>();
    const descriptors: { mediaType: string; size: number; digest: string }[] = [];
    for (const [i, layerName] of entry.Layers.entries()) {
      throwIfAborted(signal);
      const diffId = diffIds[i]!;
      const layerFile = x.resolve(layerName);
      if (!layerFile) throw invalid(file, `layer ${layerName} is missing from the archive`);
      let info = layers.get(diffId);
      if (!info) {
        const compressed = detectCompression(await peek(layerFile, 8)) !== 'none';
        const size = compressed
          ? await uncompressedSize(layerFile, signal)
          : (await regularFileSize(layerFile))!;
        info = { diffId, file: layerFile, compressed, size };
        layers.set(diffId, info);
      } else if (info.file !== layerFile && !info.compressed) {
        // Two files claim one diff_id: they must at least be the same size.
        const size = await regularFileSize(layerFile);
        if (detectCompression(await peek(layerFile, 8)) === 'none' && size !== info.size) {
          throw invalid(
            file,
            `layers ${layerName} and ${path.basename(info.file)} both claim diff_id ${diffId} but differ in size`,
          );
        }
      }
      descriptors.push({ mediaType: MediaType.DockerLayer, size: info.size, digest: diffId });
    }
    const configDigest = digestOf(configRaw);
    const manifest = {
      schemaVersion: 2,
      mediaType: MediaType.DockerManifest,
      config: { mediaType: MediaType.DockerConfig, size: configRaw.length, digest: configDigest },
      layers: descriptors,
    };
    return new DockerArchiveSource(
      name.text,
      tmp,
      { raw: serializeJson(manifest), mediaType: MediaType.DockerManifest },
      configFile,
      configDigest,
      layers,
      entry.RepoTags,
    );
  }

  async getManifest(instanceDigest?: string, signal?: AbortSignal): Promise<RawManifest> {
    throwIfAborted(signal);
    if (instanceDigest !== undefined && instanceDigest !== digestOf(this.manifest.raw)) {
      throw new SkiffError(
        ErrorCode.ManifestUnknown,
        `${this.reference}: a docker-archive holds no manifest ${instanceDigest}`,
      );
    }
    return this.manifest;
  }

  async getBlob(info: BlobInfo, signal?: AbortSignal): Promise<{ stream: Readable; size: number }> {
    throwIfAborted(signal);
    if (info.digest === this.configDigest) {
      const size = (await regularFileSize(this.configFile))!;
      return { stream: createReadStream(this.configFile, { signal }), size };
    }
    const layer = this.layers.get(info.digest);
    if (!layer) {
      throw new SkiffError(
        ErrorCode.BlobUnknown,
        `blob ${info.digest} not found in ${this.reference}`,
      );
    }
    const raw = createReadStream(layer.file, { signal });
    if (!layer.compressed) return { stream: raw, size: layer.size };
    const { stream } = await decompressStream(raw);
    return { stream, size: layer.size };
  }

  private closed = false;
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await fs.rm(this.tmp, { recursive: true, force: true });
  }
}

interface PendingImage {
  config: string;
  layers: string[];
  tags: string[];
}

/**
 * Writes `docker save` archives (uncompressed layers, manifest.json, repositories). Several
 * images may be written before commit; `setNextImageTags` names each.
 */
export class DockerArchiveDestination implements ImageDestination {
  readonly layerFormat = 'uncompressed' as const;
  readonly acceptsIndex = false;
  private readonly images: PendingImage[] = [];
  private nextTags: string[];
  private closed = false;

  private constructor(
    readonly reference: string,
    readonly file: string,
    private readonly staging: string,
    tags: string[],
    private readonly signal?: AbortSignal,
  ) {
    this.nextTags = tags;
  }

  static async open(
    file: string,
    name: ImageName,
    opts: OpenOptions,
  ): Promise<DockerArchiveDestination> {
    if (name.index !== undefined) {
      throw new SkiffError(
        ErrorCode.InvalidReference,
        `${name.text}: @INDEX can only select an image to read, not name one to write`,
      );
    }
    const tags: string[] = [];
    if (name.reference) tags.push(repoTagOf(name.reference));
    for (const t of opts.additionalTags ?? []) {
      let ref: Reference;
      try {
        ref = parseReference(t);
      } catch (err) {
        throw new SkiffError(ErrorCode.InvalidReference, `invalid additional tag "${t}"`, {
          cause: err,
        });
      }
      if (ref.digest) {
        throw new SkiffError(ErrorCode.InvalidReference, `additional tag "${t}" has a digest`);
      }
      const tag = repoTagOf(ref);
      if (!tags.includes(tag)) tags.push(tag);
    }
    const st = await fs.stat(file).catch(() => undefined);
    if (st?.isDirectory()) {
      throw new SkiffError(ErrorCode.InvalidReference, `${name.text}: ${file} is a directory`);
    }
    const staging = await makeTempDir('docker-archive-out', opts.tmpDir);
    return new DockerArchiveDestination(name.text, file, staging, tags, opts.signal);
  }

  /** Sets the RepoTags of the next image written (for several images in one archive). */
  setNextImageTags(tags: string[]): void {
    this.nextTags = tags.map((t) => repoTagOf(parseReference(t)));
  }

  supportedManifestMediaTypes(): readonly string[] {
    return [MediaType.DockerManifest];
  }

  private blobFile(digest: string): string {
    const { algorithm, encoded } = parseDigest(digest);
    if (algorithm !== 'sha256') {
      throw new SkiffError(
        ErrorCode.InvalidDigest,
        `docker-archive stores only sha256 blobs, not ${digest}`,
      );
    }
    return path.join(this.staging, encoded);
  }

  async hasBlob(info: BlobInfo, signal?: AbortSignal): Promise<boolean> {
    throwIfAborted(signal);
    return hasBlobFile(this.blobFile(info.digest), info);
  }

  async putBlob(stream: Readable, info: BlobInfo, signal?: AbortSignal): Promise<BlobInfo> {
    return storeBlobFile(
      this.staging,
      stream,
      info,
      (d) => this.blobFile(d),
      this.reference,
      signal,
    );
  }

  async putManifest(
    manifest: RawManifest,
    instanceDigest?: string,
    signal?: AbortSignal,
  ): Promise<void> {
    throwIfAborted(signal);
    if (instanceDigest !== undefined) {
      throw new SkiffError(
        ErrorCode.UnsupportedManifest,
        `${this.reference}: a docker-archive cannot store a multi-arch index`,
      );
    }
    const doc = parseManifest(manifest.raw, manifest.mediaType);
    if (doc.kind !== 'image') {
      throw new SkiffError(
        ErrorCode.UnsupportedManifest,
        `${this.reference}: a docker-archive cannot store a multi-arch index`,
        { hint: 'copy one platform (multi-arch "system") instead' },
      );
    }
    for (const l of doc.layers) {
      if (l.mediaType !== undefined && layerCompression(l.mediaType) !== 'none') {
        throw new SkiffError(
          ErrorCode.UnsupportedManifest,
          `${this.reference}: layer ${l.digest} is ${l.mediaType}; a docker-archive stores uncompressed layers`,
        );
      }
    }
    const layers = doc.layers.map((l) => l.digest);
    const existing = this.images.find(
      (i) => i.config === doc.config.digest && i.layers.join() === layers.join(),
    );
    if (existing) {
      for (const t of this.nextTags) if (!existing.tags.includes(t)) existing.tags.push(t);
    } else {
      for (const img of this.images) img.tags = img.tags.filter((t) => !this.nextTags.includes(t));
      this.images.push({ config: doc.config.digest, layers, tags: [...this.nextTags] });
    }
    this.nextTags = [];
  }

  async commit(signal?: AbortSignal): Promise<void> {
    throwIfAborted(signal);
    if (this.images.length === 0) {
      throw new SkiffError(ErrorCode.InvalidManifest, `${this.reference}: commit without an image`);
    }
    const entries: { name: string; file?: string; data?: Uint8Array }[] = [];
    const added = new Set<string>();
    const add = (name: string, digest: string) => {
      if (added.has(name)) return;
      added.add(name);
      entries.push({ name, file: this.blobFile(digest) });
    };
    const manifestJson: ManifestEntry[] = [];
    const repositories: Record<string, Record<string, string>> = {};
    for (const img of this.images) {
      const hex = (d: string) => parseDigest(d).encoded;
      for (const l of img.layers) add(`${hex(l)}.tar`, l);
      add(`${hex(img.config)}.json`, img.config);
      manifestJson.push({
        Config: `${hex(img.config)}.json`,
        RepoTags: img.tags,
        Layers: img.layers.map((l) => `${hex(l)}.tar`),
      });
      const top = img.layers.at(-1);
      for (const t of img.tags) {
        const colon = t.lastIndexOf(':');
        const repo = t.slice(0, colon);
        repositories[repo] ??= {};
        repositories[repo][t.slice(colon + 1)] = top ? hex(top) : hex(img.config);
      }
    }
    entries.push({ name: 'manifest.json', data: serializeJson(manifestJson) });
    if (Object.keys(repositories).length > 0) {
      entries.push({ name: 'repositories', data: serializeJson(repositories) });
    }
    await writeThroughTemp(this.file, (tmp) =>
      writeTarFromFiles(tmp, entries, signal ?? this.signal),
    );
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await fs.rm(this.staging, { recursive: true, force: true });
  }
}
