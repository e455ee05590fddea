import type { Readable } from 'node:stream';
import type { IdPair } from '@skiff/archive';
import type { RawManifest } from '@skiff/oci-image';

export type StorageDriver = 'overlay' | 'vfs';

export interface StoreOptions {
  /** Persistent data: database, blobs, layers (`--root`). */
  root: string;
  /** Runtime state that a reboot clears: mount points (`--runroot`). */
  runroot: string;
  /** `--storage-driver`; default: SKIFF_STORAGE_DRIVER, else the store's recorded driver, else overlay when root and the kernel has it, else vfs. */
  driver?: StorageDriver;
  /** Rootless layout: overlay whiteouts/opaque dirs in `user.overlay.*` (default: not root). */
  rootless?: boolean;
  /** Maps ids in layer tars to host ids when extracting (rootless user namespaces). */
  idMap?: (uid: number, gid: number) => IdPair;
  /** fsync blobs and extracted layers before they become visible (default true). */
  fsync?: boolean;
  /** SQLite busy timeout in ms (default 30000). */
  busyTimeoutMs?: number;
}

/** A layer as stored: one directory per layer, identified by its chain id. */
export interface LayerInfo {
  /** Chain id hex for image layers, a random id for container layers. */
  id: string;
  parent: string | undefined;
  /** "sha256:..." of the uncompressed tar; undefined for container layers. */
  diffId: string | undefined;
  /** The compressed blob this layer was pulled as (kept in the blob store), if any. */
  compressedDigest: string | undefined;
  compressedSize: number | undefined;
  /** Uncompressed tar size in bytes. */
  size: number;
  created: Date;
  kind: 'image' | 'container';
  /** The directory holding the layer's files (overlay "diff"). */
  path: string;
}

export interface ImageRecord {
  /** Config digest hex (64 characters). */
  id: string;
  /** "sha256:<id>". */
  configDigest: string;
  /** Normalized full references ("docker.io/library/busybox:latest"), newest first. */
  names: string[];
  /** Manifest digests stored for this image, the primary one first. */
  digests: string[];
  /** The primary manifest digest (the one a push reuses). */
  digest: string;
  manifestMediaType: string;
  /** From the config's `created` (else the time it was stored). */
  created: Date;
  /** When it was written to this store. */
  stored: Date;
  /** Sum of the layers' uncompressed sizes (podman's virtual size). */
  size: number;
  /** Layer ids (chain id hex), base layer first. */
  layers: string[];
  /** Diff ids, base layer first. */
  diffIds: string[];
  topLayer: string | undefined;
  /** Number of containers using it. */
  containers: number;
  /** Free-form metadata a caller stored with the image (JSON). */
  metadata: Record<string, unknown>;
}

export interface ContainerRecord {
  id: string;
  name: string;
  imageId: string;
  /** The container's own rw layer id. */
  layerId: string;
  created: Date;
  /** Free-form JSON the runtime keeps (create options, spec inputs). */
  config: Record<string, unknown>;
  /** Free-form JSON the runtime keeps (status, pid, exit code...). */
  state: Record<string, unknown>;
}

export interface CreateContainerOptions {
  /** Default: random 64-hex id. */
  id?: string;
  /** Unique; default: "skiff-<first 12 hex of id>". */
  name?: string;
  config?: Record<string, unknown>;
  state?: Record<string, unknown>;
}

/** What `lookupImage` accepts: full id, unique id prefix (>= 3 hex), "sha256:id", name, short name, name@digest. */
export type ImageSpecifier = string;

export interface DiskUsage {
  images: {
    id: string;
    names: string[];
    created: Date;
    /** Virtual size (all layers). */
    size: number;
    /** Bytes on disk of layers used by this image only. */
    uniqueSize: number;
    /** Bytes on disk of layers also used by other images. */
    sharedSize: number;
    containers: number;
  }[];
  containers: {
    id: string;
    name: string;
    imageId: string;
    /** Bytes on disk of the container's rw layer. */
    size: number;
  }[];
  /** Real disk usage in bytes (block counts, hardlinks counted once). */
  totals: {
    layers: number;
    blobs: number;
    containers: number;
    /** Layers and blobs referenced by no image (reclaimed by gc). */
    unreferenced: number;
    all: number;
  };
  /** Reclaimable by `pruneImages({ all: true })` when no container uses them. */
  reclaimableImages: number;
}

export interface GcResult {
  removedLayers: string[];
  removedBlobs: string[];
  /** Temp files and directories, stale leases. */
  removedLeftovers: number;
}

export interface RemoveImageResult {
  /** Names removed (untagged). */
  untagged: string[];
  /** Image ids deleted. */
  deleted: string[];
  /** Containers removed with `force`. */
  removedContainers: string[];
}

export interface CommitImageOptions {
  /** Manifest bytes as pulled (their digest is recorded) — required. */
  manifest: RawManifest;
  /** Config bytes; its digest is the image id. */
  configRaw: Uint8Array;
  /** Names to give the image (moved from images that had them). */
  names?: string[];
  metadata?: Record<string, unknown>;
}

/** A blob readable from the store. */
export interface StoredBlobStream {
  stream: Readable;
  size: number;
}
