import type { Readable } from 'node:stream';
import type { RawManifest } from '@skiff/oci-image';
import type {
  CommitImageOptions,
  ContainerRecord,
  CreateContainerOptions,
  DiskUsage,
  GcResult,
  ImageRecord,
  LayerInfo,
  RemoveImageResult,
  StorageDriver,
  StoredBlobStream,
} from './types.js';

/** Progress of store operations (only apps print). */
export type StoreEvent =
  | { type: 'layer-extract-start'; layer: string; diffId: string }
  | { type: 'layer-extract-done'; layer: string; diffId: string; size: number }
  /** Another process is extracting this layer; we wait for it instead of extracting twice. */
  | { type: 'layer-wait'; layer: string; owner: number }
  | { type: 'layer-reused'; layer: string };

/** How `ensureLayer` gets a layer's bytes when it has to extract it. */
export interface LayerInput {
  /** Parent chain id hex (undefined for a base layer). */
  parent: string | undefined;
  /** "sha256:..." of the uncompressed tar; checked while extracting. */
  diffId: string;
  /** The compressed (or plain) blob in the store to extract from, recorded on the layer. */
  blob?: { digest: string; size: number; mediaType?: string | undefined };
  /** Or a stream of the layer (any compression); called only when extraction is needed. */
  open?: () => Promise<Readable>;
}

/**
 * An in-progress write (a pull, a load, a commit). It holds a lease: blobs and layers it has
 * touched are protected from gc/rmi until it commits or is released, and a lease whose
 * process died is ignored (and cleaned) by every other process.
 */
export interface StoreWriter {
  readonly id: string;
  /** True when the blob is stored with this size (size < 0: any); protects it for this write. */
  hasBlob(digest: string, size?: number): boolean;
  /** Stores a blob (exclusive temp file, digest/size check, fsync, atomic rename). */
  putBlob(
    stream: Readable,
    expected: { digest?: string | undefined; size?: number | undefined },
    signal?: AbortSignal,
  ): Promise<{ digest: string; size: number }>;
  /** A stored blob's bytes (small blobs: configs, manifests). */
  readBlob(digest: string): Promise<Uint8Array>;
  /**
   * Makes the layer (chain id of parent + diffId) present, extracting it at most once across
   * processes: reuses a ready layer, waits for another live process extracting it, takes over
   * from a dead one. The parent need not be present yet.
   */
  ensureLayer(input: LayerInput, signal?: AbortSignal): Promise<LayerInfo>;
  /**
   * ensureLayer for several layers, `concurrency` extracting at once, with one file-system
   * flush for the batch and every extracted layer marked ready in one transaction. On failure
   * nothing this call extracted is kept. Returns the layers in input order.
   */
  ensureLayers(
    inputs: readonly LayerInput[],
    signal?: AbortSignal,
    concurrency?: number,
  ): Promise<LayerInfo[]>;
  /**
   * Writes the image row last, in one transaction, after checking that every layer of the
   * config's rootfs chain is present and complete. Existing image: adds the manifest digest
   * and names. Returns the image.
   */
  commitImage(opts: CommitImageOptions): Promise<ImageRecord>;
  /**
   * Drops the lease. With `discard` (a failed write), blobs and layers it wrote that nothing
   * else uses are removed now; otherwise they stay for reuse until gc(). Idempotent.
   */
  release(opts?: { discard?: boolean }): void;
}

export interface Store {
  readonly root: string;
  readonly runroot: string;
  readonly driver: StorageDriver;
  readonly rootless: boolean;

  // ---- images ----
  listImages(): ImageRecord[];
  /** By exact id (64 hex) or undefined. */
  getImage(id: string): ImageRecord | undefined;
  /** Id, unique id prefix, sha256:id, name, short name (podman rules), name@digest; undefined if none. Throws E_AMBIGUOUS_IMAGE when a prefix/short name matches several. */
  findImage(spec: string): ImageRecord | undefined;
  /** findImage that throws E_IMAGE_NOT_FOUND. */
  lookupImage(spec: string): ImageRecord;
  imageConfig(id: string): Uint8Array;
  /** The stored manifest (primary, or the one with `digest`). */
  imageManifest(id: string, digest?: string): RawManifest;
  /** Adds a name (normalized; short names get docker.io/library or localhost as podman). Moves it from another image. */
  tagImage(id: string, name: string): string;
  /** Removes one name, or all with no name. Returns names removed. */
  untagImage(id: string, name?: string): string[];
  /** Deletes the image (all its names) and then unreferenced layers/blobs. force: also its containers. */
  removeImage(id: string, opts?: { force?: boolean }): Promise<RemoveImageResult>;
  /** Dangling images (no names, no containers), or all unused with `all`. */
  pruneImages(opts?: { all?: boolean }): Promise<{ removed: string[]; reclaimedBytes: number }>;
  setImageMetadata(id: string, metadata: Record<string, unknown>): void;

  // ---- layers and blobs ----
  listLayers(): LayerInfo[];
  getLayer(id: string): LayerInfo | undefined;
  hasBlob(digest: string, size?: number): boolean;
  openBlob(digest: string): StoredBlobStream;
  blobPath(digest: string): string;
  /** Starts a write (pull/load/build commit); see StoreWriter. */
  beginWrite(opts?: { onEvent?: (e: StoreEvent) => void }): StoreWriter;

  // ---- rootfs mounts ----
  /** Read-only merged rootfs of an image: overlay mount (driver overlay) or a vfs copy. */
  mountImage(id: string, signal?: AbortSignal): Promise<string>;
  unmountImage(id: string): Promise<void>;

  // ---- containers ----
  createContainer(imageId: string, opts?: CreateContainerOptions): Promise<ContainerRecord>;
  getContainer(id: string): ContainerRecord | undefined;
  /** Exact id, unique id prefix or name; throws E_CONTAINER_NOT_FOUND / E_AMBIGUOUS_CONTAINER. */
  lookupContainer(spec: string): ContainerRecord;
  listContainers(): ContainerRecord[];
  /** Read-modify-write in one immediate transaction (safe against concurrent skiff processes). */
  updateContainer(
    id: string,
    update: (
      c: ContainerRecord,
    ) => { config?: Record<string, unknown>; state?: Record<string, unknown> } | undefined,
  ): ContainerRecord;
  renameContainer(id: string, name: string): void;
  /** Unmounts, removes the rw layer, the record and the container dirs. */
  removeContainer(id: string): Promise<void>;
  /** Mounts the container rootfs (overlay: lower layers + upper/work; vfs: the full copy) and returns it. Counted. */
  mountContainer(id: string): Promise<string>;
  /** Decrements the mount count and unmounts at zero (or now with force). True when unmounted. */
  unmountContainer(id: string, force?: boolean): Promise<boolean>;
  isContainerMounted(id: string): boolean;
  /** root/containers/ID/userdata: persistent per-container files. */
  containerDir(id: string): string;
  /** runroot/containers/ID/userdata: runtime files (pidfile, sockets). */
  containerRunDir(id: string): string;
  /** The container's rw layer directory (overlay upper / vfs rootfs): for diff/commit. */
  containerLayerPath(id: string): string;

  // ---- maintenance ----
  df(): Promise<DiskUsage>;
  /** Removes leftovers of dead processes, unreferenced layers and blobs. */
  gc(): Promise<GcResult>;
  /** gc + a check of every image (layers present and complete, blobs present); returns problems found and fixed. */
  repair(): Promise<{ problems: string[]; gc: GcResult }>;
  /** Problems of the store without changing it (empty = consistent). */
  check(): string[];
  /** Unmounts everything and empties the store (root and runroot contents). */
  reset(): Promise<void>;
  close(): void;
}
