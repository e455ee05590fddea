import type { Readable } from 'node:stream';

/**
 * The transport-neutral view of images. A transport implements the smallest core it naturally
 * has; the copy pipeline in `@skiff/transports` joins any ImageSource to any ImageDestination.
 */

/** A blob as a manifest names it. `size` is -1 when unknown. */
export interface BlobInfo {
  digest: string;
  size: number;
  mediaType?: string;
  /** Annotations and urls are carried through unchanged when the manifest is kept. */
  annotations?: Record<string, string>;
  /**
   * The registry repository ("host/path") the source reads this blob from, when the source is
   * a registry: a registry destination on the same host mounts it instead of uploading it.
   */
  sourceRepository?: string;
}

/** A manifest exactly as stored: the raw bytes are what digests are computed over. */
export interface RawManifest {
  raw: Uint8Array;
  mediaType: string;
}

export interface ImageSource {
  /** The reference as the user wrote it, with its transport, for messages. */
  readonly reference: string;
  /** Registry sources: the "host/path" repository their blobs come from (cross-repo mounts). */
  readonly blobRepository?: string;
  /**
   * The image's top-level manifest (possibly an index / manifest list), or with
   * `instanceDigest` one manifest of that index.
   */
  getManifest(instanceDigest?: string, signal?: AbortSignal): Promise<RawManifest>;
  /**
   * A blob (layer or config) as a stream. The stream yields exactly the bytes with the given
   * digest; callers still verify. `size` is -1 when the source does not know it.
   */
  getBlob(info: BlobInfo, signal?: AbortSignal): Promise<{ stream: Readable; size: number }>;
  /** Releases files, connections and temporary extractions. Idempotent. */
  close(): Promise<void>;
}

/**
 * How a destination wants layer blobs: as the source has them, uncompressed tar
 * (docker-archive), or compressed, i.e. uncompressed layers gzipped on the way (oci:, registries,
 * as skopeo does).
 */
export type LayerFormatPreference = 'preserve' | 'uncompressed' | 'compressed';

export interface ImageDestination {
  readonly reference: string;
  /** Manifest media types this destination can store, preferred first. */
  supportedManifestMediaTypes(): readonly string[];
  /** Whether layers must be stored uncompressed, compressed, or may stay as they are. */
  readonly layerFormat: LayerFormatPreference;
  /** Whether this destination can store an index / manifest list with its instances. */
  readonly acceptsIndex: boolean;
  /** True when the blob is already present and need not be sent. */
  hasBlob(info: BlobInfo, signal?: AbortSignal): Promise<boolean>;
  /**
   * Stores a blob from a stream. When `info.digest` is set the destination must verify it
   * and fail without keeping anything on mismatch. Returns the stored blob's digest and size.
   */
  putBlob(stream: Readable, info: BlobInfo, signal?: AbortSignal): Promise<BlobInfo>;
  /** Optional cheap path: make a blob present without copying bytes (cross-repo mount). */
  tryReuseBlob?(info: BlobInfo, signal?: AbortSignal): Promise<boolean>;
  /**
   * Stores a manifest. Without `instanceDigest` it is the image's top-level manifest and gets
   * the destination's name/tag; with it, it is one instance of an index being written.
   */
  putManifest(manifest: RawManifest, instanceDigest?: string, signal?: AbortSignal): Promise<void>;
  /** Makes everything written visible atomically. Before commit nothing may appear. */
  commit(signal?: AbortSignal): Promise<void>;
  /** Releases resources; without a prior commit, removes everything written. Idempotent. */
  close(): Promise<void>;
}
