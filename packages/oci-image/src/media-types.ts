/** Media types of the OCI image spec and Docker's image formats. */
export const MediaType = {
  OciManifest: 'application/vnd.oci.image.manifest.v1+json',
  OciIndex: 'application/vnd.oci.image.index.v1+json',
  OciConfig: 'application/vnd.oci.image.config.v1+json',
  OciLayer: 'application/vnd.oci.image.layer.v1.tar',
  OciLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  OciLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  OciLayerNondistributable: 'application/vnd.oci.image.layer.nondistributable.v1.tar',
  OciLayerNondistributableGzip: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  OciLayerNondistributableZstd: 'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
  OciEmpty: 'application/vnd.oci.empty.v1+json',
  DockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  DockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  DockerConfig: 'application/vnd.docker.container.image.v1+json',
  DockerLayer: 'application/vnd.docker.image.rootfs.diff.tar',
  DockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  DockerLayerZstd: 'application/vnd.docker.image.rootfs.diff.tar.zstd',
  DockerForeignLayer: 'application/vnd.docker.image.rootfs.foreign.diff.tar',
  DockerForeignLayerGzip: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
  DockerSchema1: 'application/vnd.docker.distribution.manifest.v1+json',
  DockerSchema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
} as const;
export type MediaTypeName = (typeof MediaType)[keyof typeof MediaType];

/** Manifest media types Skiff reads and writes, in the order a registry Accept header lists them. */
export const SupportedManifestMediaTypes: readonly string[] = [
  MediaType.OciIndex,
  MediaType.OciManifest,
  MediaType.DockerManifestList,
  MediaType.DockerManifest,
];

/** Strips parameters ("; charset=utf-8") and case from a Content-Type value. */
export function baseMediaType(mt: string): string {
  const semi = mt.indexOf(';');
  return (semi === -1 ? mt : mt.slice(0, semi)).trim().toLowerCase();
}

export function isIndexMediaType(mt: string | undefined): boolean {
  if (mt === undefined) return false;
  const b = baseMediaType(mt);
  return b === MediaType.OciIndex || b === MediaType.DockerManifestList;
}

export function isImageManifestMediaType(mt: string | undefined): boolean {
  if (mt === undefined) return false;
  const b = baseMediaType(mt);
  return b === MediaType.OciManifest || b === MediaType.DockerManifest;
}

export function isSchema1MediaType(mt: string | undefined): boolean {
  if (mt === undefined) return false;
  const b = baseMediaType(mt);
  return b === MediaType.DockerSchema1 || b === MediaType.DockerSchema1Signed;
}

export function isManifestMediaType(mt: string | undefined): boolean {
  return isIndexMediaType(mt) || isImageManifestMediaType(mt);
}

const layerCompressions: Record<string, 'gzip' | 'zstd' | 'none'> = {
  [MediaType.OciLayer]: 'none',
  [MediaType.OciLayerGzip]: 'gzip',
  [MediaType.OciLayerZstd]: 'zstd',
  [MediaType.OciLayerNondistributable]: 'none',
  [MediaType.OciLayerNondistributableGzip]: 'gzip',
  [MediaType.OciLayerNondistributableZstd]: 'zstd',
  [MediaType.DockerLayer]: 'none',
  [MediaType.DockerLayerGzip]: 'gzip',
  [MediaType.DockerLayerZstd]: 'zstd',
  [MediaType.DockerForeignLayer]: 'none',
  [MediaType.DockerForeignLayerGzip]: 'gzip',
};

/**
 * The compression a layer media type declares: 'none' for plain tar, undefined when the media
 * type is not a known layer type (an artifact blob, say).
 */
export function layerCompression(mt: string | undefined): 'gzip' | 'zstd' | 'none' | undefined {
  if (mt === undefined) return undefined;
  const b = baseMediaType(mt);
  return Object.hasOwn(layerCompressions, b) ? layerCompressions[b] : undefined;
}

export function isLayerMediaType(mt: string | undefined): boolean {
  return layerCompression(mt) !== undefined;
}

/** Whether a layer may not be pushed to registries (OCI non-distributable, Docker foreign). */
export function isNondistributableLayer(mt: string | undefined): boolean {
  if (mt === undefined) return false;
  const b = baseMediaType(mt);
  return (
    b.startsWith('application/vnd.oci.image.layer.nondistributable.') ||
    b.startsWith('application/vnd.docker.image.rootfs.foreign.')
  );
}

/** Whether a manifest of this media type is an OCI one (versus Docker's). */
export function isOciMediaType(mt: string | undefined): boolean {
  return mt !== undefined && baseMediaType(mt).startsWith('application/vnd.oci.');
}
