import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import {
  type BlobInfo,
  ErrorCode,
  type ImageDestination,
  type ImageSource,
  MediaType,
  parseDigest,
  parseManifest,
  type RawManifest,
  SkiffError,
} from '@skiff/oci-image';
import {
  checkManifestDigest,
  exists,
  hasBlobFile,
  openBlobFile,
  readSmallFile,
  storeBlobFile,
  tempName,
  throwIfAborted,
  writeFileAtomic,
} from './fsutil.js';
import type { OpenOptions } from './name.js';

const VERSION_CONTENT = 'Directory Transport Version: 1.1\n';

/** skopeo's dir: names sha256 blobs by their hex, other algorithms by the full digest. */
function dirBlobName(digest: string): string {
  const { algorithm, encoded } = parseDigest(digest);
  return algorithm === 'sha256' ? encoded : `${algorithm}-${encoded}`;
}

function manifestName(instanceDigest?: string): string {
  return instanceDigest === undefined
    ? 'manifest.json'
    : `${dirBlobName(instanceDigest)}.manifest.json`;
}

export class DirSource implements ImageSource {
  private constructor(
    readonly reference: string,
    readonly root: string,
  ) {}

  static async open(root: string, reference: string): Promise<DirSource> {
    if (!(await exists(path.join(root, 'manifest.json')))) {
      throw new SkiffError(
        ErrorCode.ImageNotFound,
        `${reference}: no manifest.json in ${root} (not a dir: image)`,
      );
    }
    return new DirSource(reference, root);
  }

  async getManifest(instanceDigest?: string, signal?: AbortSignal): Promise<RawManifest> {
    throwIfAborted(signal);
    const raw = await readSmallFile(
      path.join(this.root, manifestName(instanceDigest)),
      instanceDigest
        ? `manifest ${instanceDigest} of ${this.reference}`
        : `manifest of ${this.reference}`,
    );
    if (instanceDigest !== undefined) checkManifestDigest(raw, instanceDigest, this.reference);
    return { raw, mediaType: parseManifest(raw).mediaType };
  }

  async getBlob(info: BlobInfo, signal?: AbortSignal): Promise<{ stream: Readable; size: number }> {
    throwIfAborted(signal);
    return openBlobFile(path.join(this.root, dirBlobName(info.digest)), info, this.reference, {
      signal,
    });
  }

  async close(): Promise<void> {}
}

/**
 * Writes skopeo's dir: format into a staging directory next to the target; commit swaps it in.
 * An existing target must be empty or an earlier dir: image (which is replaced).
 */
export class DirDestination implements ImageDestination {
  readonly layerFormat = 'preserve' as const;
  readonly acceptsIndex = true;
  private committed = false;
  private closed = false;
  private hasTop = false;

  private constructor(
    readonly reference: string,
    readonly root: string,
    private readonly staging: string,
  ) {}

  static async open(root: string, reference: string, _opts: OpenOptions): Promise<DirDestination> {
    const st = await fs.lstat(root).catch(() => undefined);
    if (st) {
      if (!st.isDirectory()) {
        throw new SkiffError(
          ErrorCode.InvalidReference,
          `${reference}: ${root} is not a directory`,
        );
      }
      const entries = await fs.readdir(root);
      if (entries.length > 0 && !entries.includes('version')) {
        throw new SkiffError(
          ErrorCode.InvalidReference,
          `${reference}: ${root} is not empty and is not a dir: image`,
          { hint: 'choose an empty or new directory' },
        );
      }
    }
    const parent = path.dirname(root);
    await fs.mkdir(parent, { recursive: true });
    const staging = path.join(parent, tempName(path.basename(root)));
    await fs.mkdir(staging);
    return new DirDestination(reference, root, staging);
  }

  supportedManifestMediaTypes(): readonly string[] {
    return [
      MediaType.OciManifest,
      MediaType.DockerManifest,
      MediaType.OciIndex,
      MediaType.DockerManifestList,
    ];
  }

  async hasBlob(info: BlobInfo, signal?: AbortSignal): Promise<boolean> {
    throwIfAborted(signal);
    return hasBlobFile(path.join(this.staging, dirBlobName(info.digest)), info);
  }

  async putBlob(stream: Readable, info: BlobInfo, signal?: AbortSignal): Promise<BlobInfo> {
    return storeBlobFile(
      this.staging,
      stream,
      info,
      (d) => path.join(this.staging, dirBlobName(d)),
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
    await writeFileAtomic(path.join(this.staging, manifestName(instanceDigest)), manifest.raw);
    if (instanceDigest === undefined) this.hasTop = true;
  }

  async commit(signal?: AbortSignal): Promise<void> {
    throwIfAborted(signal);
    if (!this.hasTop) {
      throw new SkiffError(
        ErrorCode.InvalidManifest,
        `${this.reference}: commit without a manifest`,
      );
    }
    await writeFileAtomic(path.join(this.staging, 'version'), VERSION_CONTENT);
    const old = path.join(path.dirname(this.root), tempName(`${path.basename(this.root)}-old`));
    let moved = false;
    if (await exists(this.root)) {
      await fs.rename(this.root, old);
      moved = true;
    }
    try {
      await fs.rename(this.staging, this.root);
    } catch (err) {
      if (moved) await fs.rename(old, this.root);
      throw err;
    }
    this.committed = true;
    if (moved) await fs.rm(old, { recursive: true, force: true });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (!this.committed) await fs.rm(this.staging, { recursive: true, force: true });
  }
}
