import { createWriteStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  type BlobInfo,
  type Descriptor,
  digestOf,
  ErrorCode,
  type ImageDestination,
  type ImageSource,
  MediaType,
  parseDigest,
  parseManifest,
  type RawManifest,
  SkiffError,
  serializeJson,
  VerifyingStream,
} from '@skiff/oci-image';
import {
  checkManifestDigest,
  exists,
  hasBlobFile,
  openBlobFile,
  readSmallFile,
  regularFileSize,
  storeBlobFile,
  tempName,
  throwIfAborted,
  writeFileAtomic,
} from './fsutil.js';

export const REF_NAME_ANNOTATION = 'org.opencontainers.image.ref.name';
const OCI_LAYOUT_CONTENT = '{"imageLayoutVersion":"1.0.0"}';

export function blobPath(root: string, digest: string): string {
  const { algorithm, encoded } = parseDigest(digest);
  return path.join(root, 'blobs', algorithm, encoded);
}

interface IndexJson {
  schemaVersion: number;
  mediaType?: string;
  manifests: Descriptor[];
  annotations?: Record<string, string>;
  [k: string]: unknown;
}

async function readIndexJson(root: string, what: string): Promise<IndexJson> {
  const raw = await readSmallFile(path.join(root, 'index.json'), `index.json of ${what}`).catch(
    (err) => {
      throw new SkiffError(
        ErrorCode.ImageNotFound,
        `${what} is not an OCI layout: cannot read index.json (${(err as Error).message})`,
        { cause: err },
      );
    },
  );
  const doc = parseManifest(raw, MediaType.OciIndex);
  if (doc.kind !== 'index') {
    throw new SkiffError(ErrorCode.InvalidManifest, `index.json of ${what} is not an image index`);
  }
  return doc.json as unknown as IndexJson;
}

function refsOf(index: IndexJson): string[] {
  return index.manifests.map((d) => d.annotations?.[REF_NAME_ANNOTATION] ?? `@${d.digest}`);
}

/** Reads one image (or index) of an OCI image layout directory. */
export class OciLayoutSource implements ImageSource {
  private constructor(
    readonly reference: string,
    readonly root: string,
    private readonly top: Descriptor,
    private readonly onClose?: () => Promise<void>,
  ) {}

  static async open(
    root: string,
    ref: string | undefined,
    reference: string,
    onClose?: () => Promise<void>,
  ): Promise<OciLayoutSource> {
    const index = await readIndexJson(root, reference);
    let chosen: Descriptor | undefined;
    if (ref !== undefined) {
      const matches = index.manifests.filter((d) => d.annotations?.[REF_NAME_ANNOTATION] === ref);
      if (matches.length === 0) {
        throw new SkiffError(ErrorCode.ImageNotFound, `no image named "${ref}" in ${reference}`, {
          hint: `the layout has: ${refsOf(index).join(', ') || '(no images)'}`,
        });
      }
      chosen = matches[0];
    } else if (index.manifests.length === 1) {
      chosen = index.manifests[0];
    } else if (index.manifests.length === 0) {
      throw new SkiffError(ErrorCode.ImageNotFound, `${reference} contains no images`);
    } else {
      throw new SkiffError(
        ErrorCode.ImageNotFound,
        `${reference} contains ${index.manifests.length} images; name one: ${refsOf(index).join(', ')}`,
        { hint: 'write oci:PATH:REF' },
      );
    }
    return new OciLayoutSource(reference, root, chosen!, onClose);
  }

  /** The index.json descriptor of the chosen image. */
  get descriptor(): Descriptor {
    return this.top;
  }

  async getManifest(instanceDigest?: string, signal?: AbortSignal): Promise<RawManifest> {
    throwIfAborted(signal);
    const digest = instanceDigest ?? this.top.digest;
    const raw = await readSmallFile(blobPath(this.root, digest), `manifest ${digest}`);
    checkManifestDigest(raw, digest, this.reference);
    if (instanceDigest === undefined) {
      if (this.top.size !== raw.length) {
        throw new SkiffError(
          ErrorCode.SizeMismatch,
          `manifest ${digest} in ${this.reference}: index.json says ${this.top.size} bytes, blob has ${raw.length}`,
        );
      }
      return { raw, mediaType: this.top.mediaType ?? parseManifest(raw).mediaType };
    }
    return { raw, mediaType: parseManifest(raw).mediaType };
  }

  async getBlob(info: BlobInfo, signal?: AbortSignal): Promise<{ stream: Readable; size: number }> {
    throwIfAborted(signal);
    return openBlobFile(blobPath(this.root, info.digest), info, this.reference, {
      signal,
      highWaterMark: 1 << 20,
    });
  }

  private closed = false;
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.onClose?.();
  }
}

/** Every blob digest reachable from index.json (manifests, configs, layers, nested indexes). */
async function reachableBlobs(root: string): Promise<Set<string>> {
  const seen = new Set<string>();
  let index: IndexJson;
  try {
    index = await readIndexJson(root, root);
  } catch {
    return seen;
  }
  const queue = index.manifests.map((d) => d.digest);
  while (queue.length > 0) {
    const digest = queue.pop()!;
    if (seen.has(digest)) continue;
    seen.add(digest);
    try {
      const raw = await readSmallFile(blobPath(root, digest), digest);
      const doc = parseManifest(raw);
      if (doc.kind === 'index') queue.push(...doc.manifests.map((d) => d.digest));
      else {
        seen.add(doc.config.digest);
        for (const l of doc.layers) seen.add(l.digest);
      }
    } catch {
      // Not a manifest (or missing): nothing further is reachable through it.
    }
  }
  return seen;
}

/**
 * Writes an image into an OCI image layout. Blobs go straight to blobs/ (content-addressed,
 * invisible until referenced); index.json changes atomically at commit.
 */
export class OciLayoutDestination implements ImageDestination {
  readonly layerFormat = 'compressed' as const;
  readonly acceptsIndex = true;
  private top: Descriptor | undefined;
  private readonly written = new Set<string>();
  private committed = false;
  private closed = false;

  private constructor(
    readonly reference: string,
    readonly root: string,
    private readonly ref: string | undefined,
    private readonly createdRoot: boolean,
    private readonly afterCommit?: () => Promise<void>,
    private readonly onClose?: () => Promise<void>,
  ) {}

  static async open(
    root: string,
    ref: string | undefined,
    reference: string,
    hooks: { afterCommit?: () => Promise<void>; onClose?: () => Promise<void> } = {},
  ): Promise<OciLayoutDestination> {
    let createdRoot = false;
    const st = await fs.stat(root).catch(() => undefined);
    if (st && !st.isDirectory()) {
      throw new SkiffError(ErrorCode.InvalidReference, `${reference}: ${root} is not a directory`);
    }
    if (!st) {
      await fs.mkdir(root, { recursive: true });
      createdRoot = true;
    }
    const layoutFile = path.join(root, 'oci-layout');
    if (!(await exists(layoutFile))) {
      const entries = await fs.readdir(root);
      if (entries.some((e) => e !== 'blobs' && e !== 'index.json')) {
        throw new SkiffError(
          ErrorCode.InvalidReference,
          `${reference}: ${root} is not empty and is not an OCI layout`,
        );
      }
      await writeFileAtomic(layoutFile, OCI_LAYOUT_CONTENT);
    }
    await fs.mkdir(path.join(root, 'blobs', 'sha256'), { recursive: true });
    return new OciLayoutDestination(
      reference,
      root,
      ref,
      createdRoot,
      hooks.afterCommit,
      hooks.onClose,
    );
  }

  supportedManifestMediaTypes(): readonly string[] {
    return [MediaType.OciManifest, MediaType.OciIndex];
  }

  async hasBlob(info: BlobInfo, signal?: AbortSignal): Promise<boolean> {
    throwIfAborted(signal);
    return hasBlobFile(blobPath(this.root, info.digest), info);
  }

  async putBlob(stream: Readable, info: BlobInfo, signal?: AbortSignal): Promise<BlobInfo> {
    const preexisting = info.digest
      ? (await regularFileSize(blobPath(this.root, info.digest))) !== undefined
      : false;
    if (
      stream instanceof VerifyingStream &&
      info.digest &&
      stream.expected.digest === info.digest &&
      (info.size < 0 || stream.expected.size === info.size)
    ) {
      // The stream verifies digest and size itself: write it without hashing it again.
      const size = await this.storeVerified(stream, blobPath(this.root, info.digest), signal);
      if (!preexisting) this.written.add(info.digest);
      return { ...info, size };
    }
    const stored = await storeBlobFile(
      path.join(this.root, 'blobs'),
      stream,
      info,
      (d) => blobPath(this.root, d),
      this.reference,
      signal,
    );
    if (!preexisting) this.written.add(stored.digest);
    return stored;
  }

  /** Exclusive temp file, written from a self-verifying stream, renamed into place. */
  private async storeVerified(
    stream: VerifyingStream,
    target: string,
    signal?: AbortSignal,
  ): Promise<number> {
    const tmp = path.join(this.root, 'blobs', tempName('blob'));
    try {
      await pipeline(stream, createWriteStream(tmp, { flags: 'wx', mode: 0o644 }), { signal });
      stream.digest(); // throws unless the stream ended verified
      await fs.mkdir(path.dirname(target), { recursive: true });
      await fs.rename(tmp, target);
      return stream.bytes;
    } catch (err) {
      await fs.rm(tmp, { force: true });
      throw err;
    }
  }

  async putManifest(
    manifest: RawManifest,
    instanceDigest?: string,
    signal?: AbortSignal,
  ): Promise<void> {
    throwIfAborted(signal);
    const digest = digestOf(manifest.raw);
    const p = blobPath(this.root, digest);
    if (!(await exists(p))) {
      await writeFileAtomic(p, manifest.raw);
      this.written.add(digest);
    }
    if (instanceDigest === undefined) {
      this.top = { mediaType: manifest.mediaType, digest, size: manifest.raw.length };
    }
  }

  async commit(signal?: AbortSignal): Promise<void> {
    throwIfAborted(signal);
    if (!this.top) {
      throw new SkiffError(
        ErrorCode.InvalidManifest,
        `${this.reference}: commit without a manifest`,
      );
    }
    const indexFile = path.join(this.root, 'index.json');
    let index: IndexJson;
    if (await exists(indexFile)) index = await readIndexJson(this.root, this.reference);
    else index = { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [] };
    const entry: Descriptor = { ...this.top };
    if (this.ref !== undefined) {
      entry.annotations = { [REF_NAME_ANNOTATION]: this.ref };
      index.manifests = index.manifests.filter(
        (d) => d.annotations?.[REF_NAME_ANNOTATION] !== this.ref,
      );
      index.manifests.push(entry);
    } else if (
      !index.manifests.some(
        (d) => d.digest === entry.digest && d.annotations?.[REF_NAME_ANNOTATION] === undefined,
      )
    ) {
      index.manifests.push(entry);
    }
    await writeFileAtomic(indexFile, serializeJson(index));
    this.committed = true;
    await this.afterCommit?.();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      if (!this.committed) {
        if (this.createdRoot) {
          await fs.rm(this.root, { recursive: true, force: true });
        } else if (this.written.size > 0) {
          const keep = await reachableBlobs(this.root);
          for (const d of this.written) {
            if (!keep.has(d)) await fs.rm(blobPath(this.root, d), { force: true });
          }
        }
      }
    } finally {
      await this.onClose?.();
    }
  }
}
