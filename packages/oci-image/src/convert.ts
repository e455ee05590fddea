import { ErrorCode, SkiffError } from './errors.js';
import type { RawManifest } from './image.js';
import { type ImageManifestDoc, type IndexDoc, serializeJson } from './manifest.js';
import { baseMediaType, MediaType } from './media-types.js';
import type { Descriptor, Platform } from './schemas.js';

const ociToDockerLayer: Record<string, string> = {
  [MediaType.OciLayerGzip]: MediaType.DockerLayerGzip,
  [MediaType.OciLayer]: MediaType.DockerLayer,
  [MediaType.OciLayerNondistributableGzip]: MediaType.DockerForeignLayerGzip,
  [MediaType.OciLayerNondistributable]: MediaType.DockerForeignLayer,
};
const dockerToOciLayer: Record<string, string> = {
  [MediaType.DockerLayerGzip]: MediaType.OciLayerGzip,
  [MediaType.DockerLayer]: MediaType.OciLayer,
  [MediaType.DockerForeignLayerGzip]: MediaType.OciLayerNondistributableGzip,
  [MediaType.DockerForeignLayer]: MediaType.OciLayerNondistributable,
  [MediaType.DockerLayerZstd]: MediaType.OciLayerZstd,
};

function unsupported(message: string, hint?: string): SkiffError {
  return new SkiffError(ErrorCode.UnsupportedManifest, message, hint ? { hint } : {});
}

// Field order follows what docker and containers/image write, so output looks familiar.
function ociDescriptor(d: Descriptor, mediaType: string): Descriptor {
  const out: Descriptor = { mediaType, digest: d.digest, size: d.size };
  if (d.urls?.length) out.urls = d.urls;
  if (d.annotations && Object.keys(d.annotations).length > 0) out.annotations = d.annotations;
  return out;
}

function dockerDescriptor(d: Descriptor, mediaType: string): Descriptor {
  const out: Descriptor = { mediaType, size: d.size, digest: d.digest };
  if (d.urls?.length) out.urls = d.urls;
  return out;
}

function mapLayerToDocker(d: Descriptor, i: number): Descriptor {
  const mt = baseMediaType(d.mediaType);
  if (mt in dockerToOciLayer) return dockerDescriptor(d, mt);
  const docker = ociToDockerLayer[mt];
  if (docker === undefined) {
    if (mt === MediaType.OciLayerZstd || mt === MediaType.OciLayerNondistributableZstd) {
      throw unsupported(
        `layer ${i} (${d.digest}) is zstd-compressed, which Docker schema 2 manifests cannot describe`,
        'keep the OCI format, or recompress the layers with --dest-compress-format gzip',
      );
    }
    throw unsupported(
      `layer ${i} (${d.digest}) has media type ${d.mediaType}, which has no Docker schema 2 equivalent`,
      'keep the OCI format',
    );
  }
  return dockerDescriptor(d, docker);
}

function mapLayerToOci(d: Descriptor, i: number): Descriptor {
  const mt = baseMediaType(d.mediaType);
  if (
    mt in ociToDockerLayer ||
    mt === MediaType.OciLayerZstd ||
    mt === MediaType.OciLayerNondistributableZstd
  ) {
    return ociDescriptor(d, mt);
  }
  const oci = dockerToOciLayer[mt];
  if (oci === undefined) {
    throw unsupported(
      `layer ${i} (${d.digest}) has media type ${d.mediaType}, which has no OCI equivalent`,
    );
  }
  return ociDescriptor(d, oci);
}

/**
 * Rewrites an image manifest as `to` (MediaType.OciManifest or MediaType.DockerManifest):
 * config and layer media types are mapped (gzip, tar, foreign <-> non-distributable). What the
 * target cannot express (zstd layers, artifacts, a subject in Docker) fails with
 * E_UNSUPPORTED_MANIFEST. Converting to the manifest's own type returns its bytes unchanged.
 */
export function convertManifest(doc: ImageManifestDoc, to: string): RawManifest {
  const target = baseMediaType(to);
  if (target === doc.mediaType) return { raw: doc.raw, mediaType: doc.mediaType };
  const configMt = baseMediaType(doc.config.mediaType);
  if (target === MediaType.DockerManifest) {
    if (configMt !== MediaType.OciConfig && configMt !== MediaType.DockerConfig) {
      throw unsupported(
        `manifest ${doc.digest} is an artifact (config media type ${doc.config.mediaType}), which Docker schema 2 cannot describe`,
        'keep the OCI format',
      );
    }
    if (doc.artifactType !== undefined) {
      throw unsupported(
        `manifest ${doc.digest} is an artifact (artifactType ${doc.artifactType}), which Docker schema 2 cannot describe`,
        'keep the OCI format',
      );
    }
    if (doc.subject !== undefined) {
      throw unsupported(
        `manifest ${doc.digest} refers to a subject (${doc.subject.digest}), which Docker schema 2 cannot express`,
        'keep the OCI format',
      );
    }
    const json = {
      schemaVersion: 2,
      mediaType: MediaType.DockerManifest,
      config: dockerDescriptor(doc.config, MediaType.DockerConfig),
      layers: doc.layers.map(mapLayerToDocker),
    };
    return { raw: serializeJson(json), mediaType: MediaType.DockerManifest };
  }
  if (target === MediaType.OciManifest) {
    if (configMt !== MediaType.OciConfig && configMt !== MediaType.DockerConfig) {
      throw unsupported(`config media type ${doc.config.mediaType} has no OCI equivalent`);
    }
    const json: Record<string, unknown> = {
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      config: ociDescriptor(doc.config, MediaType.OciConfig),
      layers: doc.layers.map(mapLayerToOci),
    };
    if (doc.annotations && Object.keys(doc.annotations).length > 0) {
      json.annotations = doc.annotations;
    }
    return { raw: serializeJson(json), mediaType: MediaType.OciManifest };
  }
  throw unsupported(`cannot convert a manifest to ${to}: not an image manifest media type`);
}

export interface ConvertedInstance {
  digest: string;
  size: number;
  mediaType: string;
}

/**
 * Rewrites an index / manifest list as `to` (MediaType.OciIndex or MediaType.DockerManifestList).
 * `instanceDigests` maps an instance's old digest to the manifest it was converted to; other
 * entries keep their digest and media type. Docker lists need a platform on every entry and
 * cannot hold nested indexes, artifacts or annotations: those fail with E_UNSUPPORTED_MANIFEST.
 */
export function convertIndex(
  doc: IndexDoc,
  to: string,
  instanceDigests?: Map<string, ConvertedInstance>,
): RawManifest {
  const target = baseMediaType(to);
  const changed =
    instanceDigests !== undefined && doc.manifests.some((d) => instanceDigests.has(d.digest));
  if (target === doc.mediaType && !changed) return { raw: doc.raw, mediaType: doc.mediaType };
  // Instances keep their own digest and type unless the caller converted them.
  const entries = doc.manifests.map((d) => {
    const n = instanceDigests?.get(d.digest);
    return n ? { ...d, digest: n.digest, size: n.size, mediaType: n.mediaType } : d;
  });
  if (target === MediaType.DockerManifestList) {
    if (doc.subject !== undefined || doc.artifactType !== undefined) {
      throw unsupported(
        `index ${doc.digest} carries artifact metadata (subject or artifactType), which a Docker manifest list cannot express`,
        'keep the OCI format',
      );
    }
    const manifests = entries.map((d, i) => {
      const mt = baseMediaType(d.mediaType);
      if (mt !== MediaType.DockerManifest && mt !== MediaType.OciManifest) {
        throw unsupported(
          `index entry ${i} (${d.digest}) has media type ${d.mediaType}, which a Docker manifest list cannot hold`,
          'keep the OCI format',
        );
      }
      if (!d.platform) {
        throw unsupported(
          `index entry ${i} (${d.digest}) has no platform, which a Docker manifest list requires`,
          'keep the OCI format',
        );
      }
      const out = dockerDescriptor(d, mt);
      out.platform = platformFields(d.platform);
      return out;
    });
    const json = { schemaVersion: 2, mediaType: MediaType.DockerManifestList, manifests };
    return { raw: serializeJson(json), mediaType: MediaType.DockerManifestList };
  }
  if (target === MediaType.OciIndex) {
    const manifests = entries.map((d) => {
      const out = ociDescriptor(d, baseMediaType(d.mediaType));
      if (d.platform) out.platform = platformFields(d.platform);
      if (d.artifactType !== undefined) out.artifactType = d.artifactType;
      return out;
    });
    const json: Record<string, unknown> = {
      schemaVersion: 2,
      mediaType: MediaType.OciIndex,
    };
    if (doc.artifactType !== undefined) json.artifactType = doc.artifactType;
    json.manifests = manifests;
    if (doc.subject !== undefined) json.subject = doc.subject;
    if (doc.annotations && Object.keys(doc.annotations).length > 0)
      json.annotations = doc.annotations;
    return { raw: serializeJson(json), mediaType: MediaType.OciIndex };
  }
  throw unsupported(`cannot convert an index to ${to}: not an index media type`);
}

function platformFields(p: Platform): Platform {
  const out: Platform = { architecture: p.architecture, os: p.os };
  if (p['os.version'] !== undefined) out['os.version'] = p['os.version'];
  if (p['os.features'] !== undefined) out['os.features'] = p['os.features'];
  if (p.variant !== undefined) out.variant = p.variant;
  if (p.features !== undefined) out.features = p.features;
  return out;
}
