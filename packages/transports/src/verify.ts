import { pipeline } from 'node:stream/promises';
import { decompressStream } from '@skiff/archive';
import {
  type Descriptor,
  DigestingStream,
  digestOf,
  ErrorCode,
  hostPlatform,
  type ImageConfig,
  type ImageManifestDoc,
  type ImageSource,
  type ParsedManifest,
  type Platform,
  parseDigest,
  parseManifest,
  SkiffError,
  selectPlatformManifest,
  verifyingStream,
} from '@skiff/oci-image';
import { layerDiffIds, readImageConfig } from './copy.js';

export interface ResolvedImage {
  /** The top-level manifest (maybe an index). */
  top: ParsedManifest;
  /** The image manifest chosen (the top one, or the platform's instance of an index). */
  image: ImageManifestDoc;
  configRaw: Uint8Array;
  config: ImageConfig;
}

async function getInstance(src: ImageSource, d: Descriptor, signal?: AbortSignal) {
  const m = await src.getManifest(d.digest, signal);
  const actual = digestOf(m.raw, parseDigest(d.digest).algorithm);
  if (actual !== d.digest) {
    throw new SkiffError(
      ErrorCode.DigestMismatch,
      `${src.reference}: manifest ${d.digest} has digest ${actual}`,
    );
  }
  if (d.size >= 0 && d.size !== m.raw.length) {
    throw new SkiffError(
      ErrorCode.SizeMismatch,
      `${src.reference}: manifest ${d.digest} is ${m.raw.length} bytes, the index says ${d.size}`,
    );
  }
  return parseManifest(m.raw, d.mediaType ?? m.mediaType);
}

/** Reads an image for inspection: the top manifest, the platform's image, its config. */
export async function resolveImage(
  src: ImageSource,
  opts: { platform?: Platform; signal?: AbortSignal } = {},
): Promise<ResolvedImage> {
  const m = await src.getManifest(undefined, opts.signal);
  const top = parseManifest(m.raw, m.mediaType);
  let image: ParsedManifest = top;
  if (top.kind === 'index') {
    const d = selectPlatformManifest(top, opts.platform ?? hostPlatform());
    image = await getInstance(src, d, opts.signal);
    if (image.kind !== 'image') {
      throw new SkiffError(
        ErrorCode.UnsupportedManifest,
        `${src.reference}: nested index ${d.digest}`,
      );
    }
  }
  const img = image as ImageManifestDoc;
  const { raw: configRaw, config } = await readImageConfig(src, img, opts.signal);
  return { top, image: img, configRaw, config };
}

export interface VerifyOptions {
  /** The top manifest must have this digest. */
  expectedDigest?: string;
  /** Only check the index itself, not its instances (images copied with multiArch index-only). */
  indexOnly?: boolean;
  signal?: AbortSignal;
}

export interface VerifyResult {
  manifestDigest: string;
  mediaType: string;
  /** Image manifests checked. */
  images: number;
  /** Layers checked (each re-hashed compressed and uncompressed). */
  layers: number;
}

async function verifyImageManifest(
  src: ImageSource,
  doc: ImageManifestDoc,
  signal: AbortSignal | undefined,
): Promise<number> {
  const { config } = await readImageConfig(src, doc, signal);
  const diffIds = layerDiffIds(src, doc, config);
  for (const [i, layer] of doc.layers.entries()) {
    const what = `layer ${i} (${layer.digest}) of ${src.reference}`;
    const { stream } = await src.getBlob(
      { digest: layer.digest, size: layer.size, mediaType: layer.mediaType },
      signal,
    );
    const verifier = verifyingStream({ digest: layer.digest, size: layer.size }, what);
    stream.on('error', (err) => verifier.destroy(err));
    stream.pipe(verifier);
    const { stream: plain } = await decompressStream(verifier);
    const hasher = new DigestingStream('sha256');
    await pipeline(
      plain,
      hasher,
      async (source: AsyncIterable<Buffer>) => {
        for await (const _ of source) {
          // only hashing
        }
      },
      { signal },
    );
    if (hasher.digest() !== diffIds[i]) {
      throw new SkiffError(
        ErrorCode.DigestMismatch,
        `${what}: uncompressed digest ${hasher.digest()} does not match config diff_id ${diffIds[i]}`,
      );
    }
  }
  return doc.layers.length;
}

/**
 * The invariant checker: re-reads an image from any source and re-derives every digest, size
 * and diff_id; throws naming the first mismatch.
 */
export async function verifyImage(
  src: ImageSource,
  opts: VerifyOptions = {},
): Promise<VerifyResult> {
  const m = await src.getManifest(undefined, opts.signal);
  const top = parseManifest(m.raw, m.mediaType);
  if (opts.expectedDigest !== undefined && top.digest !== opts.expectedDigest) {
    throw new SkiffError(
      ErrorCode.DigestMismatch,
      `${src.reference}: manifest digest ${top.digest}, expected ${opts.expectedDigest}`,
    );
  }
  let images = 0;
  let layers = 0;
  if (top.kind === 'index') {
    if (!opts.indexOnly) {
      for (const d of top.manifests) {
        const inst = await getInstance(src, d, opts.signal);
        if (inst.kind !== 'image') {
          throw new SkiffError(
            ErrorCode.UnsupportedManifest,
            `${src.reference}: nested index ${d.digest}`,
          );
        }
        layers += await verifyImageManifest(src, inst, opts.signal);
        images++;
      }
    }
  } else {
    layers += await verifyImageManifest(src, top, opts.signal);
    images++;
  }
  return { manifestDigest: top.digest, mediaType: top.mediaType, images, layers };
}
