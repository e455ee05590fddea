import {
  convertIndex,
  convertManifest,
  digestOf,
  ErrorCode,
  type ImageManifestDoc,
  type IndexDoc,
  isSkiffError,
  MediaType,
  parseManifest,
} from '@skiff/oci-image';
import { describe, expect, it } from 'vitest';
import {
  AMD64,
  ARM64,
  bytes,
  CONFIG,
  dockerList,
  dockerManifest,
  LAYER1,
  LAYER2,
  LAYER3,
  ociIndex,
  ociManifest,
} from './fixtures.js';

function image(json: string): ImageManifestDoc {
  const m = parseManifest(bytes(json));
  if (m.kind !== 'image') throw new Error('fixture is not an image');
  return m;
}
function index(json: string): IndexDoc {
  const m = parseManifest(bytes(json));
  if (m.kind !== 'index') throw new Error('fixture is not an index');
  return m;
}
const text = (raw: Uint8Array) => new TextDecoder().decode(raw);

function unsupported(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    expect(isSkiffError(err, ErrorCode.UnsupportedManifest)).toBe(true);
    return err as Error;
  }
  throw new Error('expected E_UNSUPPORTED_MANIFEST');
}

describe('convertManifest', () => {
  it('turns a Docker schema 2 manifest into OCI with mapped media types', () => {
    const out = convertManifest(image(dockerManifest), MediaType.OciManifest);
    expect(out.mediaType).toBe(MediaType.OciManifest);
    expect(text(out.raw)).toBe(
      `{"schemaVersion":2,"mediaType":"${MediaType.OciManifest}",` +
        `"config":{"mediaType":"${MediaType.OciConfig}","digest":"${CONFIG}","size":1472},` +
        `"layers":[{"mediaType":"${MediaType.OciLayerGzip}","digest":"${LAYER1}","size":3408729},` +
        `{"mediaType":"${MediaType.OciLayerGzip}","digest":"${LAYER2}","size":1234}]}`,
    );
    // The result is itself a valid OCI manifest.
    const back = parseManifest(out.raw, out.mediaType);
    expect(back.kind === 'image' && back.layers.length).toBe(2);
  });

  it('turns an OCI manifest into Docker schema 2 (gzip and plain tar layers)', () => {
    const out = convertManifest(image(ociManifest), MediaType.DockerManifest);
    expect(out.mediaType).toBe(MediaType.DockerManifest);
    const json = JSON.parse(text(out.raw));
    expect(json.config).toEqual({ mediaType: MediaType.DockerConfig, size: 1472, digest: CONFIG });
    expect(json.layers.map((l: { mediaType: string }) => l.mediaType)).toEqual([
      MediaType.DockerLayerGzip,
      MediaType.DockerLayer,
    ]);
    expect(json.annotations).toBeUndefined();
    expect(parseManifest(out.raw).mediaType).toBe(MediaType.DockerManifest);
  });

  it('round-trips Docker -> OCI -> Docker to the same content', () => {
    const docker = image(dockerManifest);
    const oci = convertManifest(docker, MediaType.OciManifest);
    const again = convertManifest(image(text(oci.raw)), MediaType.DockerManifest);
    expect(JSON.parse(text(again.raw))).toEqual(JSON.parse(dockerManifest));
  });

  it('maps foreign layers to non-distributable ones and back, keeping urls', () => {
    const foreign = JSON.parse(dockerManifest);
    foreign.layers[0].mediaType = MediaType.DockerForeignLayerGzip;
    foreign.layers[0].urls = ['https://mcr.microsoft.com/v2/windows/blobs/x'];
    const oci = convertManifest(image(JSON.stringify(foreign)), MediaType.OciManifest);
    const layer = JSON.parse(text(oci.raw)).layers[0];
    expect(layer.mediaType).toBe(MediaType.OciLayerNondistributableGzip);
    expect(layer.urls).toEqual(['https://mcr.microsoft.com/v2/windows/blobs/x']);
    const back = convertManifest(image(text(oci.raw)), MediaType.DockerManifest);
    expect(JSON.parse(text(back.raw)).layers[0].mediaType).toBe(MediaType.DockerForeignLayerGzip);
  });

  it('returns the same bytes when the manifest already has the wanted type', () => {
    const doc = image(dockerManifest);
    expect(convertManifest(doc, MediaType.DockerManifest).raw).toBe(doc.raw);
  });

  it('refuses zstd layers for Docker with a hint to recompress', () => {
    const zstd = JSON.parse(ociManifest);
    zstd.layers[1].mediaType = MediaType.OciLayerZstd;
    const err = unsupported(() =>
      convertManifest(image(JSON.stringify(zstd)), MediaType.DockerManifest),
    );
    expect(err.message).toContain('layer 1');
    expect(err.message).toContain('zstd');
    expect((err as { hint?: string }).hint).toMatch(/gzip/);
  });

  it('keeps zstd layers when converting to OCI', () => {
    const zstd = JSON.parse(dockerManifest);
    zstd.layers[1].mediaType = MediaType.DockerLayerZstd;
    const out = convertManifest(image(JSON.stringify(zstd)), MediaType.OciManifest);
    expect(JSON.parse(text(out.raw)).layers[1].mediaType).toBe(MediaType.OciLayerZstd);
  });

  it('refuses artifacts and referrers for Docker', () => {
    const artifact = JSON.parse(ociManifest);
    artifact.config.mediaType = 'application/vnd.cncf.helm.config.v1+json';
    expect(
      unsupported(() => convertManifest(image(JSON.stringify(artifact)), MediaType.DockerManifest))
        .message,
    ).toContain('artifact');
    const referrer = JSON.parse(ociManifest);
    referrer.subject = { mediaType: MediaType.OciManifest, digest: AMD64, size: 1 };
    expect(
      unsupported(() => convertManifest(image(JSON.stringify(referrer)), MediaType.DockerManifest))
        .message,
    ).toContain('subject');
  });

  it('refuses unknown targets and unknown layer types', () => {
    unsupported(() => convertManifest(image(ociManifest), MediaType.OciIndex));
    const odd = JSON.parse(ociManifest);
    odd.layers[0].mediaType = 'application/vnd.example.blob';
    unsupported(() => convertManifest(image(JSON.stringify(odd)), MediaType.DockerManifest));
  });
});

describe('convertIndex', () => {
  it('turns a Docker manifest list into an OCI index, replacing converted instances', () => {
    const list = index(dockerList);
    const newAmd64 = { digest: LAYER3, size: 400, mediaType: MediaType.OciManifest };
    const out = convertIndex(list, MediaType.OciIndex, new Map([[AMD64, newAmd64]]));
    expect(out.mediaType).toBe(MediaType.OciIndex);
    const json = JSON.parse(text(out.raw));
    expect(json.manifests).toEqual([
      {
        mediaType: MediaType.OciManifest,
        digest: LAYER3,
        size: 400,
        platform: { architecture: 'amd64', os: 'linux' },
      },
      {
        mediaType: MediaType.DockerManifest,
        digest: ARM64,
        size: 528,
        platform: { architecture: 'arm64', os: 'linux' },
      },
    ]);
    expect(parseManifest(out.raw, out.mediaType).kind).toBe('index');
  });

  it('turns an OCI index of images into a Docker manifest list', () => {
    const idx = index(ociIndex);
    const images = { ...idx, manifests: idx.manifests.slice(0, 3) };
    const out = convertIndex(images, MediaType.DockerManifestList);
    const json = JSON.parse(text(out.raw));
    expect(json.mediaType).toBe(MediaType.DockerManifestList);
    expect(json.manifests[1]).toEqual({
      mediaType: MediaType.OciManifest,
      size: 1022,
      digest: ARM64,
      platform: { architecture: 'arm64', os: 'linux', variant: 'v8' },
    });
    expect(parseManifest(out.raw).mediaType).toBe(MediaType.DockerManifestList);
  });

  it('refuses an entry without a platform for a Docker list', () => {
    const idx = index(ociIndex);
    const noPlatform = { ...idx, manifests: [{ ...idx.manifests[0]!, platform: undefined }] };
    expect(
      unsupported(() => convertIndex(noPlatform, MediaType.DockerManifestList)).message,
    ).toContain('no platform');
  });

  it('refuses nested indexes in a Docker list', () => {
    const idx = index(ociIndex);
    const nested = { ...idx, manifests: [{ ...idx.manifests[0]!, mediaType: MediaType.OciIndex }] };
    unsupported(() => convertIndex(nested, MediaType.DockerManifestList));
  });

  it('returns the same bytes when nothing changes and rewrites when instances do', () => {
    const idx = index(ociIndex);
    expect(convertIndex(idx, MediaType.OciIndex).raw).toBe(idx.raw);
    const out = convertIndex(
      idx,
      MediaType.OciIndex,
      new Map([[ARM64, { digest: LAYER1, size: 9, mediaType: MediaType.OciManifest }]]),
    );
    expect(digestOf(out.raw)).not.toBe(idx.digest);
    expect(JSON.parse(text(out.raw)).manifests[3].annotations['vnd.docker.reference.type']).toBe(
      'attestation-manifest',
    );
  });
});
