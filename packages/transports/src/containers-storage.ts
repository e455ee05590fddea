import { createReadStream, createWriteStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createLayer } from '@skiff/archive';
import {
  type BlobInfo,
  type Descriptor,
  digestingStream,
  digestOf,
  ErrorCode,
  formatReference,
  type ImageDestination,
  type ImageManifestDoc,
  type ImageSource,
  isOciMediaType,
  MediaType,
  normalizeReference,
  parseImageConfig,
  parseManifest,
  parseReference,
  type RawManifest,
  type Reference,
  SkiffError,
  serializeJson,
} from '@skiff/oci-image';
import {
  chainIds,
  defaultStoreOptions,
  openStore,
  type StorageDriver,
  type Store,
  type StoreOptions,
  type StoreWriter,
} from '@skiff/storage';
import { throwIfAborted } from './fsutil.js';
import type { ImageName, OpenOptions, StorageSpec, Transport } from './name.js';

const HEX64 = /^[0-9a-f]{64}$/;
const LAYER_CONCURRENCY = 3;

function invalid(text: string, why: string): SkiffError {
  return new SkiffError(ErrorCode.InvalidReference, `invalid image name "${text}": ${why}`, {
    hint: 'write containers-storage:[driver@/root+/runroot:options]NAME, NAME, ID, @ID or NAME@ID',
  });
}

/** Parses `[driver@root+runroot:options]` (everything inside the brackets). */
function parseStoreSpec(spec: string, text: string): StorageSpec {
  let rest = spec;
  const out: { driver?: StorageDriver; root?: string; runroot?: string; options?: string[] } = {};
  const at = rest.indexOf('@');
  if (at >= 0) {
    const d = rest.slice(0, at);
    if (d !== 'overlay' && d !== 'vfs' && d !== 'overlay2') {
      throw invalid(text, `unknown storage driver "${d}" (overlay or vfs)`);
    }
    out.driver = d === 'overlay2' ? 'overlay' : d;
    rest = rest.slice(at + 1);
  }
  const colon = rest.indexOf(':');
  if (colon >= 0) {
    out.options = rest
      .slice(colon + 1)
      .split(',')
      .filter((o) => o !== '');
    rest = rest.slice(0, colon);
  }
  const plus = rest.indexOf('+');
  const root = plus >= 0 ? rest.slice(0, plus) : rest;
  const runroot = plus >= 0 ? rest.slice(plus + 1) : undefined;
  if (root !== '') {
    if (!path.isAbsolute(root)) throw invalid(text, `the store root "${root}" is not absolute`);
    out.root = root;
  }
  if (runroot !== undefined && runroot !== '') {
    if (!path.isAbsolute(runroot)) {
      throw invalid(text, `the store runroot "${runroot}" is not absolute`);
    }
    out.runroot = runroot;
  }
  return out;
}

/** Parses what follows `containers-storage:` as skopeo and podman accept it. */
export function parseStorageName(details: string, text: string): ImageName {
  let rest = details;
  let storage: StorageSpec | undefined;
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']');
    if (close < 0) throw invalid(text, 'missing "]" after the store specification');
    storage = parseStoreSpec(rest.slice(1, close), text);
    rest = rest.slice(close + 1);
  }
  const base = { transport: 'containers-storage', text, ...(storage ? { storage } : {}) };
  if (rest === '') return base;
  if (rest.startsWith('@')) {
    const id = rest.slice(1);
    if (!/^[0-9a-f]{3,64}$/.test(id)) throw invalid(text, `"${id}" is not an image id`);
    return { ...base, imageId: id };
  }
  // NAME@ID (an image id, not a sha256: manifest digest).
  const m = /^(.+)@([0-9a-f]{64})$/.exec(rest);
  if (m) {
    const reference = parseNameOrThrow(m[1]!, text);
    return { ...base, reference, image: m[1]!, imageId: m[2]! };
  }
  if (HEX64.test(rest)) return { ...base, imageId: rest };
  let reference: Reference | undefined;
  try {
    reference = normalizeReference(parseReference(rest));
  } catch (err) {
    // An id prefix is accepted for reading.
    if (/^[0-9a-f]{3,63}$/.test(rest)) return { ...base, image: rest };
    throw invalid(text, (err as Error).message);
  }
  return { ...base, reference, image: rest };
}

function parseNameOrThrow(s: string, text: string): Reference {
  try {
    return normalizeReference(parseReference(s));
  } catch (err) {
    throw invalid(text, (err as Error).message);
  }
}

/** The store a name and options point at, and whether the caller must close it. */
function resolveStore(name: ImageName, opts: OpenOptions): { store: Store; own: boolean } {
  const spec = name.storage;
  const given = opts.store;
  if (given && (!spec || ((!spec.root || spec.root === given.root) && !spec.driver))) {
    return { store: given, own: false };
  }
  const base: StoreOptions = { ...defaultStoreOptions(opts.env), ...opts.storeOptions };
  if (given) Object.assign(base, { root: given.root, runroot: given.runroot });
  if (spec?.root) {
    base.root = spec.root;
    // Without a runroot the default one would be shared by two stores: keep them apart.
    base.runroot = spec.runroot ?? path.join(spec.root, '..', `${path.basename(spec.root)}-run`);
  }
  if (spec?.runroot) base.runroot = spec.runroot;
  if (spec?.driver) base.driver = spec.driver;
  return { store: openStore(base), own: true };
}

function lookupSpec(name: ImageName): string {
  if (name.imageId) return name.imageId;
  if (name.image) return name.image;
  throw new SkiffError(ErrorCode.InvalidReference, `${name.text}: no image named`, {
    hint: 'write containers-storage:NAME or containers-storage:@ID',
  });
}

/** Reads an image of the local store: the blobs as pulled, or layers regenerated from disk. */
export class StorageImageSource implements ImageSource {
  private prepared: RawManifest | undefined;
  /** Blobs served that the store does not hold (regenerated layers, a rewritten config). */
  private readonly extra = new Map<string, { file?: string; data?: Uint8Array; size: number }>();
  private tmpDir: string | undefined;
  private closed = false;

  private constructor(
    readonly reference: string,
    readonly store: Store,
    readonly imageId: string,
    private readonly own: boolean,
    private readonly tmpBase: string,
  ) {}

  static async open(name: ImageName, opts: OpenOptions = {}): Promise<StorageImageSource> {
    const { store, own } = resolveStore(name, opts);
    try {
      const img = store.lookupImage(lookupSpec(name));
      if (name.imageId && name.image && !img.id.startsWith(name.imageId)) {
        throw new SkiffError(
          ErrorCode.ImageNotFound,
          `${name.text}: ${name.image} is not image ${name.imageId}`,
        );
      }
      return new StorageImageSource(name.text, store, img.id, own, opts.tmpDir ?? os.tmpdir());
    } catch (err) {
      if (own) store.close();
      throw err;
    }
  }

  async getManifest(instanceDigest?: string, signal?: AbortSignal): Promise<RawManifest> {
    throwIfAborted(signal);
    if (instanceDigest !== undefined) {
      const img = this.store.lookupImage(this.imageId);
      if (!img.digests.includes(instanceDigest)) {
        throw new SkiffError(
          ErrorCode.ManifestUnknown,
          `${this.reference}: no manifest ${instanceDigest}`,
        );
      }
      return this.store.imageManifest(this.imageId, instanceDigest);
    }
    this.prepared ??= await this.prepare(signal);
    return this.prepared;
  }

  /**
   * The stored manifest when every blob it names is kept; otherwise one describing layers
   * regenerated from the layer directories (uncompressed tars), with the config's diff_ids
   * updated when a regenerated tar differs from the original.
   */
  private async prepare(signal?: AbortSignal): Promise<RawManifest> {
    const img = this.store.lookupImage(this.imageId);
    const stored = this.store.imageManifest(img.id);
    const doc = parseManifest(stored.raw, stored.mediaType) as ImageManifestDoc;
    const missing = doc.layers.map((l) => !this.store.hasBlob(l.digest, l.size));
    if (!missing.some((m) => m)) return stored;
    if (img.layers.length !== doc.layers.length) {
      throw new SkiffError(
        ErrorCode.InvalidManifest,
        `${this.reference}: the stored manifest and layers disagree`,
      );
    }
    this.tmpDir = await fs.mkdtemp(path.join(this.tmpBase, 'skiff-storage-src-'));
    const oci = isOciMediaType(doc.mediaType);
    const configRaw = this.store.imageConfig(img.id);
    const config = JSON.parse(Buffer.from(configRaw).toString('utf8')) as {
      rootfs: { diff_ids: string[] };
    };
    let configChanged = false;
    const layers: Descriptor[] = [];
    for (let i = 0; i < doc.layers.length; i++) {
      const l = doc.layers[i]!;
      if (!missing[i]) {
        layers.push(l);
        continue;
      }
      const layer = this.store.getLayer(img.layers[i]!);
      if (!layer) {
        throw new SkiffError(ErrorCode.BlobUnknown, `${this.reference}: layer ${i} is missing`);
      }
      const file = path.join(this.tmpDir, `layer-${i}.tar`);
      const hasher = digestingStream();
      await pipeline(
        createLayer(layer.path, { source: 'overlay-upper', ...(signal ? { signal } : {}) }),
        hasher,
        createWriteStream(file),
        signal ? { signal } : {},
      );
      const digest = hasher.digest();
      this.extra.set(digest, { file, size: hasher.bytes });
      layers.push({
        mediaType: oci ? MediaType.OciLayer : MediaType.DockerLayer,
        digest,
        size: hasher.bytes,
      });
      if (config.rootfs.diff_ids[i] !== digest) {
        config.rootfs.diff_ids[i] = digest;
        configChanged = true;
      }
    }
    const json = structuredClone(doc.json) as unknown as {
      config: Descriptor;
      layers: Descriptor[];
    };
    json.layers = layers;
    if (configChanged) {
      const raw = serializeJson(config);
      parseImageConfig(raw);
      const digest = digestOf(raw);
      this.extra.set(digest, { data: raw, size: raw.length });
      json.config = { ...json.config, digest, size: raw.length };
    }
    return { raw: serializeJson(json), mediaType: doc.mediaType };
  }

  async getBlob(info: BlobInfo, signal?: AbortSignal): Promise<{ stream: Readable; size: number }> {
    throwIfAborted(signal);
    const extra = this.extra.get(info.digest);
    if (extra?.data) return { stream: Readable.from([Buffer.from(extra.data)]), size: extra.size };
    if (extra?.file) {
      return {
        stream: createReadStream(extra.file, { highWaterMark: 1 << 20, signal }),
        size: extra.size,
      };
    }
    if (!this.store.hasBlob(info.digest)) {
      throw new SkiffError(
        ErrorCode.BlobUnknown,
        `blob ${info.digest} is not in ${this.reference}`,
      );
    }
    return this.store.openBlob(info.digest);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.tmpDir) await fs.rm(this.tmpDir, { recursive: true, force: true });
    if (this.own) this.store.close();
  }
}

/**
 * Writes an image into the local store: blobs kept as received (a later push reproduces the
 * manifest digest), every layer extracted once (diff ids checked against the config), and the
 * image row written last, in one transaction, so a crash never leaves a half image.
 */
export class StorageImageDestination implements ImageDestination {
  readonly layerFormat = 'preserve' as const;
  readonly acceptsIndex = false;
  /** The image id, once committed. */
  imageId: string | undefined;
  private manifest: RawManifest | undefined;
  private committed = false;
  private closed = false;
  private readonly writer: StoreWriter;

  private constructor(
    readonly reference: string,
    readonly store: Store,
    private readonly names: string[],
    private readonly own: boolean,
    opts: OpenOptions,
  ) {
    this.writer = store.beginWrite(opts.storageEvents ? { onEvent: opts.storageEvents } : {});
  }

  static async open(name: ImageName, opts: OpenOptions = {}): Promise<StorageImageDestination> {
    const names: string[] = [];
    if (name.reference && name.reference.digest === undefined) {
      names.push(formatReference(name.reference));
    }
    const { store, own } = resolveStore(name, opts);
    try {
      return new StorageImageDestination(name.text, store, names, own, opts);
    } catch (err) {
      if (own) store.close();
      throw err;
    }
  }

  supportedManifestMediaTypes(): readonly string[] {
    return [MediaType.OciManifest, MediaType.DockerManifest];
  }

  async hasBlob(info: BlobInfo, signal?: AbortSignal): Promise<boolean> {
    throwIfAborted(signal);
    if (!info.digest) return false;
    return this.writer.hasBlob(info.digest, info.size);
  }

  async putBlob(stream: Readable, info: BlobInfo, signal?: AbortSignal): Promise<BlobInfo> {
    const stored = await this.writer.putBlob(
      stream,
      {
        digest: info.digest || undefined,
        size: info.size >= 0 ? info.size : undefined,
      },
      signal,
    );
    return { ...info, digest: stored.digest, size: stored.size };
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
        `${this.reference}: the local store keeps one image per copy, not an index`,
      );
    }
    const doc = parseManifest(manifest.raw, manifest.mediaType);
    if (doc.kind !== 'image') {
      throw new SkiffError(
        ErrorCode.UnsupportedManifest,
        `${this.reference}: the local store keeps images, not indexes`,
      );
    }
    this.manifest = manifest;
  }

  async commit(signal?: AbortSignal): Promise<void> {
    throwIfAborted(signal);
    if (!this.manifest) {
      throw new SkiffError(
        ErrorCode.InvalidManifest,
        `${this.reference}: commit without a manifest`,
      );
    }
    const doc = parseManifest(this.manifest.raw, this.manifest.mediaType) as ImageManifestDoc;
    const configRaw = await this.writer.readBlob(doc.config.digest);
    const config = parseImageConfig(configRaw);
    const diffIds = config.rootfs.diff_ids;
    if (diffIds.length !== doc.layers.length) {
      throw new SkiffError(
        ErrorCode.InvalidManifest,
        `${this.reference}: the config lists ${diffIds.length} diff_ids for ${doc.layers.length} layers`,
      );
    }
    const ids = chainIds(diffIds);
    // Each layer is extracted from its stored blob; layers are independent directories, so
    // they extract in parallel regardless of order, and are flushed to disk together.
    await this.writer.ensureLayers(
      doc.layers.map((l, i) => ({
        parent: i === 0 ? undefined : ids[i - 1],
        diffId: diffIds[i]!,
        blob: { digest: l.digest, size: l.size, mediaType: l.mediaType },
      })),
      signal,
      LAYER_CONCURRENCY,
    );
    throwIfAborted(signal);
    const image = await this.writer.commitImage({
      manifest: this.manifest,
      configRaw,
      names: this.names,
    });
    this.imageId = image.id;
    this.committed = true;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      this.writer.release({ discard: !this.committed });
    } finally {
      if (this.own) this.store.close();
    }
  }
}

export const containersStorageTransport: Transport = {
  name: 'containers-storage',
  parse: parseStorageName,
  openSource: (name, opts) => StorageImageSource.open(name, opts),
  openDestination: (name, opts) => StorageImageDestination.open(name, opts),
};
