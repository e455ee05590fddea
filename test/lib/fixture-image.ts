// Small deterministic OCI layouts for end-to-end tests of skiff-image: one or more platforms,
// labels, env and layer annotations, written with the real archive code (createLayer) and
// plain files, so that skiff-image and skopeo can both read them.
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import { gunzipSync } from 'node:zlib';
import { createLayer } from '@skiff/archive';
import { digestOf, MediaType, serializeJson } from '@skiff/oci-image';

export interface FixturePlatform {
  os: string;
  architecture: string;
  variant?: string;
}

export interface FixtureOptions {
  /** One platform writes a plain image manifest; several write an index of images. */
  platforms?: FixturePlatform[];
  /** The ref name (org.opencontainers.image.ref.name) in index.json. */
  ref?: string;
  labels?: Record<string, string>;
  env?: string[];
  created?: string;
}

export interface FixtureImage {
  /** The layout directory. */
  dir: string;
  /** `oci:DIR:REF`. */
  name: string;
  /** Digest of the top-level manifest (the index when there are several platforms). */
  digest: string;
  /** Exact bytes of the top-level manifest. */
  manifest: Buffer;
  /** Per platform: manifest digest, config digest, layer digest and diff_id. */
  images: {
    platform: FixturePlatform;
    manifestDigest: string;
    configDigest: string;
    layerDigest: string;
    diffId: string;
  }[];
}

async function putBlob(dir: string, data: Uint8Array): Promise<string> {
  const digest = digestOf(data);
  await writeFile(join(dir, 'blobs', 'sha256', digest.slice(7)), data);
  return digest;
}

/** Writes an OCI layout with one small image per platform under `parent`. */
export async function buildFixtureImage(
  parent: string,
  options: FixtureOptions = {},
): Promise<FixtureImage> {
  const platforms = options.platforms ?? [{ os: 'linux', architecture: 'amd64' }];
  const ref = options.ref ?? 'v1';
  const dir = await mkdtemp(join(parent, 'layout-'));
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  await writeFile(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');

  const images: FixtureImage['images'] = [];
  const descriptors: Record<string, unknown>[] = [];
  for (const platform of platforms) {
    const rootfs = await mkdtemp(join(parent, 'rootfs-'));
    await mkdir(join(rootfs, 'etc'));
    const tag = `${platform.os}/${platform.architecture}${platform.variant ? `/${platform.variant}` : ''}`;
    await writeFile(join(rootfs, 'etc', 'platform'), `${tag}\n`);
    const gz = await buffer(createLayer(rootfs, { compression: 'gzip', clampMtime: 0 }));
    const diffId = digestOf(gunzipSync(gz));
    const layerDigest = await putBlob(dir, gz);
    const config = serializeJson({
      created: options.created ?? '2024-01-02T03:04:05Z',
      architecture: platform.architecture,
      ...(platform.variant ? { variant: platform.variant } : {}),
      os: platform.os,
      config: {
        Env: options.env ?? ['PATH=/usr/bin:/bin'],
        Cmd: ['/bin/sh'],
        Labels: options.labels ?? { 'org.example.name': 'fixture', 'a.b': 'dotted' },
      },
      rootfs: { type: 'layers', diff_ids: [diffId] },
      history: [{ created: '2024-01-02T03:04:05Z', created_by: `fixture ${tag}` }],
    });
    const configDigest = await putBlob(dir, config);
    const manifest = serializeJson({
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      config: { mediaType: MediaType.OciConfig, digest: configDigest, size: config.length },
      layers: [
        {
          mediaType: MediaType.OciLayerGzip,
          digest: layerDigest,
          size: gz.length,
          annotations: { 'org.example.layer': tag },
        },
      ],
    });
    const manifestDigest = await putBlob(dir, manifest);
    images.push({ platform, manifestDigest, configDigest, layerDigest, diffId });
    descriptors.push({
      mediaType: MediaType.OciManifest,
      digest: manifestDigest,
      size: manifest.length,
      platform,
    });
  }

  let top: Buffer;
  let topDescriptor: Record<string, unknown>;
  if (descriptors.length === 1) {
    const { platform: _platform, ...d } = descriptors[0]!;
    const manifestDigest = images[0]!.manifestDigest;
    top = await readFile(join(dir, 'blobs', 'sha256', manifestDigest.slice(7)));
    topDescriptor = d;
  } else {
    top = Buffer.from(
      serializeJson({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: descriptors }),
    );
    const indexDigest = await putBlob(dir, top);
    topDescriptor = { mediaType: MediaType.OciIndex, digest: indexDigest, size: top.length };
  }
  const index = {
    schemaVersion: 2,
    manifests: [{ ...topDescriptor, annotations: { 'org.opencontainers.image.ref.name': ref } }],
  };
  await writeFile(join(dir, 'index.json'), JSON.stringify(index));
  return { dir, name: `oci:${dir}:${ref}`, digest: digestOf(top), manifest: top, images };
}
