import { pipeline, Readable, type Transform, type TransformCallback } from 'node:stream';
import { compressStream, decompressStream } from '@skiff/archive';
import {
  type BlobInfo,
  convertIndex,
  convertManifest,
  type Descriptor,
  digestOf,
  ErrorCode,
  type ExpectedBlob,
  hostPlatform,
  type ImageConfig,
  type ImageDestination,
  type ImageManifestDoc,
  type ImageSource,
  type IndexDoc,
  isImageManifestMediaType,
  isIndexMediaType,
  isNondistributableLayer,
  isOciMediaType,
  isSkiffError,
  layerCompression,
  MediaType,
  type Platform,
  parseDigest,
  parseImageConfig,
  parseManifest,
  type RawManifest,
  SkiffError,
  selectPlatformManifest,
  serializeJson,
  VerifyingStream,
  verifyingStream,
} from '@skiff/oci-image';
import { abortError } from './fsutil.js';

export type MultiArchMode = 'system' | 'all' | 'index-only';

export type CopyEvent =
  | { type: 'blob-start'; digest: string; size: number }
  | { type: 'blob-progress'; digest: string; bytes: number; size: number }
  | { type: 'blob-skipped'; digest: string; size: number }
  | { type: 'blob-reused'; digest: string }
  | { type: 'blob-done'; digest: string; size: number }
  | { type: 'config'; digest: string }
  | { type: 'manifest'; digest: string };

export interface CopyOptions {
  /** For an index: one platform (default), every instance, or only the index (skopeo). */
  multiArch?: MultiArchMode;
  /** The platform 'system' picks (default: the host's). */
  platform?: Platform;
  /** Convert the manifest to OCI or Docker schema 2. */
  format?: 'oci' | 'v2s2';
  /** Refuse any change that would alter a digest. */
  preserveDigests?: boolean;
  /** Local transports carry no signatures; accepted for CLI parity. */
  removeSignatures?: boolean;
  /** Recompress layers that are not already in this format. */
  compressionFormat?: 'gzip' | 'zstd';
  /** Blobs copied at once (default 6). */
  concurrency?: number;
  signal?: AbortSignal;
  onEvent?: (e: CopyEvent) => void;
  /** Commit the destination at the end (default true); false to add more images first. */
  commit?: boolean;
}

export interface CopyResult {
  manifestDigest: string;
  manifest: RawManifest;
}

const PROGRESS_STEP = 512 * 1024;
const MAX_CONFIG = 8 * 1024 * 1024;

interface Ctx {
  src: ImageSource;
  dst: ImageDestination;
  opts: CopyOptions;
  signal: AbortSignal;
  abort: AbortController;
  emit: (e: CopyEvent) => void;
}

/** Fails unless `raw` has the descriptor's digest and size. */
function checkManifestBytes(raw: Uint8Array, d: Descriptor, where: string): void {
  const actual = digestOf(raw, parseDigest(d.digest).algorithm);
  if (actual !== d.digest) {
    throw new SkiffError(
      ErrorCode.DigestMismatch,
      `manifest ${d.digest} from ${where}: digest mismatch: got ${actual}`,
    );
  }
  if (d.size >= 0 && raw.length !== d.size) {
    throw new SkiffError(
      ErrorCode.SizeMismatch,
      `manifest ${d.digest} from ${where}: size mismatch: expected ${d.size} bytes, got ${raw.length}`,
    );
  }
}

/** Reads a small blob (a config) completely, verifying digest and size on the way. */
async function readBlobFully(
  src: ImageSource,
  d: BlobInfo,
  what: string,
  signal?: AbortSignal,
): Promise<Uint8Array> {
  if (d.size > MAX_CONFIG) {
    throw new SkiffError(ErrorCode.InvalidManifest, `${what} is too large (${d.size} bytes)`);
  }
  const { stream } = await src.getBlob(d, signal);
  const verifier = verifyingStream({ digest: d.digest, size: d.size }, what);
  const chunks: Buffer[] = [];
  let total = 0;
  await new Promise<void>((resolve, reject) => {
    pipeline(stream, verifier, (err) => (err ? reject(err) : resolve()));
    verifier.on('data', (c: Buffer) => {
      total += c.length;
      if (total > MAX_CONFIG)
        verifier.destroy(new SkiffError(ErrorCode.InvalidManifest, `${what} is too large`));
      else chunks.push(c);
    });
  });
  return new Uint8Array(Buffer.concat(chunks));
}

/** Reads an image's config blob (verifying its digest and size) and parses it. */
export async function readImageConfig(
  src: ImageSource,
  doc: ImageManifestDoc,
  signal?: AbortSignal,
): Promise<{ raw: Uint8Array; config: ImageConfig }> {
  const raw = await readBlobFully(
    src,
    doc.config,
    `config ${doc.config.digest} of ${src.reference}`,
    signal,
  );
  return { raw, config: parseImageConfig(raw) };
}

/** The config's diff_ids, refusing a config that does not list one for each manifest layer. */
export function layerDiffIds(
  src: ImageSource,
  doc: ImageManifestDoc,
  config: ImageConfig,
): string[] {
  const diffIds = config.rootfs.diff_ids;
  if (diffIds.length !== doc.layers.length) {
    throw new SkiffError(
      ErrorCode.InvalidManifest,
      `${src.reference}: config ${doc.config.digest} lists ${diffIds.length} diff_ids but manifest ${doc.digest} has ${doc.layers.length} layers`,
    );
  }
  return diffIds;
}

/**
 * Verifies a blob and reports progress in one pass-through stage. Being a VerifyingStream, it
 * lets a destination skip hashing the bytes a second time.
 */
class ProgressVerifyingStream extends VerifyingStream {
  private reported = 0;

  constructor(
    expected: ExpectedBlob,
    what: string,
    private readonly ctx: Ctx,
    private readonly blobDigest: string,
    private readonly blobSize: number,
  ) {
    super(expected, what);
  }

  override _transform(chunk: Buffer, enc: BufferEncoding, cb: TransformCallback): void {
    super._transform(chunk, enc, (err, data) => {
      if (!err && this.bytes - this.reported >= PROGRESS_STEP) {
        this.reported = this.bytes;
        this.progress();
      }
      cb(err, data);
    });
  }

  override _flush(cb: TransformCallback): void {
    super._flush((err, data) => {
      if (!err && this.bytes !== this.reported) this.progress();
      cb(err, data);
    });
  }

  private progress(): void {
    this.ctx.emit({
      type: 'blob-progress',
      digest: this.blobDigest,
      bytes: this.bytes,
      size: this.blobSize,
    });
  }
}

/** Joins streams; an error anywhere destroys all of them and surfaces on the last. */
function chain(first: Readable, ...rest: Transform[]): Readable {
  if (rest.length === 0) return first;
  // biome-ignore lint/suspicious/noExplicitAny: pipeline's variadic typing
  return (pipeline as any)(first, ...rest, () => {}) as Readable;
}

async function runPool<T, R>(
  items: T[],
  limit: number,
  abort: AbortController,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  let failed: { err: unknown } | undefined;
  const worker = async () => {
    while (!failed && next < items.length) {
      const i = next++;
      try {
        results[i] = await fn(items[i]!, i);
      } catch (err) {
        if (!failed) {
          failed = { err };
          abort.abort(err);
        }
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (failed) throw failed.err;
  return results;
}

/** Tells the destination where a registry source keeps the blob, so it can mount it. */
function withSourceRepository(src: ImageSource, info: BlobInfo): BlobInfo {
  return src.blobRepository ? { ...info, sourceRepository: src.blobRepository } : info;
}

type LayerOp = 'copy' | 'decompress' | 'recompress';

interface LayerPlan {
  index: number;
  desc: Descriptor;
  diffId: string;
  op: LayerOp;
  to?: 'gzip' | 'zstd';
}

function changedLayerMediaType(
  manifestType: string,
  desc: Descriptor,
  to: 'none' | 'gzip' | 'zstd',
) {
  const oci = isOciMediaType(manifestType);
  const nondist = isNondistributableLayer(desc.mediaType);
  if (oci) {
    const base = nondist ? MediaType.OciLayerNondistributable : MediaType.OciLayer;
    return to === 'none' ? base : `${base}+${to}`;
  }
  if (nondist) {
    if (to === 'none') return MediaType.DockerForeignLayer;
    if (to === 'gzip') return MediaType.DockerForeignLayerGzip;
  }
  if (to === 'none') return MediaType.DockerLayer;
  return to === 'gzip' ? MediaType.DockerLayerGzip : MediaType.DockerLayerZstd;
}

function targetImageType(ctx: Ctx, srcType: string): string {
  const supported = ctx.dst.supportedManifestMediaTypes();
  let want: string | undefined;
  if (ctx.opts.format === 'oci') want = MediaType.OciManifest;
  else if (ctx.opts.format === 'v2s2') want = MediaType.DockerManifest;
  if (want) {
    if (!supported.includes(want)) {
      throw new SkiffError(
        ErrorCode.UnsupportedManifest,
        `${ctx.dst.reference} cannot store ${want} manifests (it stores ${supported.join(', ')})`,
      );
    }
    return want;
  }
  if (supported.includes(srcType)) return srcType;
  const alt = supported.find((t) => isImageManifestMediaType(t));
  if (!alt) {
    throw new SkiffError(
      ErrorCode.UnsupportedManifest,
      `${ctx.dst.reference} cannot store image manifests`,
    );
  }
  return alt;
}

function targetIndexType(ctx: Ctx, srcType: string): string {
  const supported = ctx.dst.supportedManifestMediaTypes();
  let want: string | undefined;
  if (ctx.opts.format === 'oci') want = MediaType.OciIndex;
  else if (ctx.opts.format === 'v2s2') want = MediaType.DockerManifestList;
  if (want && supported.includes(want)) return want;
  if (supported.includes(srcType)) return srcType;
  const alt = supported.find((t) => isIndexMediaType(t));
  if (!alt) {
    throw new SkiffError(
      ErrorCode.UnsupportedManifest,
      `${ctx.dst.reference} cannot store a multi-arch index`,
      { hint: 'copy one platform instead (multi-arch "system")' },
    );
  }
  return alt;
}

function refuseChange(ctx: Ctx, why: string): void {
  if (ctx.opts.preserveDigests) {
    throw new SkiffError(
      ErrorCode.UnsupportedManifest,
      `cannot preserve digests copying ${ctx.src.reference} to ${ctx.dst.reference}: ${why}`,
      {
        hint: 'drop preserveDigests (--preserve-digests) or choose a destination that keeps the format',
      },
    );
  }
}

async function transferLayer(ctx: Ctx, doc: ImageManifestDoc, plan: LayerPlan): Promise<BlobInfo> {
  const { src, dst, signal } = ctx;
  const d = plan.desc;
  const srcInfo: BlobInfo = withSourceRepository(src, {
    digest: d.digest,
    size: d.size,
    mediaType: d.mediaType,
  });
  const where = `layer ${plan.index} (${d.digest}) of ${src.reference}`;
  if (plan.op === 'copy') {
    if (await dst.hasBlob(srcInfo, signal)) {
      ctx.emit({ type: 'blob-skipped', digest: d.digest, size: d.size });
      return srcInfo;
    }
    if (dst.tryReuseBlob && (await dst.tryReuseBlob(srcInfo, signal))) {
      ctx.emit({ type: 'blob-reused', digest: d.digest });
      return srcInfo;
    }
  }
  ctx.emit({ type: 'blob-start', digest: d.digest, size: d.size });
  const { stream: raw } = await src.getBlob(srcInfo, signal);
  let stream = chain(
    raw,
    new ProgressVerifyingStream({ digest: d.digest, size: d.size }, where, ctx, d.digest, d.size),
  );
  let expected: BlobInfo = srcInfo;
  if (plan.op !== 'copy') {
    const { stream: plain } = await decompressStream(stream);
    stream = chain(
      plain,
      verifyingStream(
        { digest: plan.diffId },
        `uncompressed ${where} (config diff_id ${plan.diffId})`,
      ),
    );
    if (plan.op === 'decompress') {
      expected = {
        digest: plan.diffId,
        size: -1,
        mediaType: changedLayerMediaType(doc.mediaType, d, 'none'),
      };
    } else {
      stream = compressStream(stream, plan.to!);
      expected = {
        digest: '',
        size: -1,
        mediaType: changedLayerMediaType(doc.mediaType, d, plan.to!),
      };
    }
  }
  const stored = await dst.putBlob(stream, expected, signal);
  ctx.emit({ type: 'blob-done', digest: d.digest, size: d.size });
  const out: BlobInfo = { ...expected, digest: stored.digest, size: stored.size };
  return out;
}

/** Copies one image manifest with its config and layers; returns the manifest written. */
async function copySingleImage(
  ctx: Ctx,
  manifest: RawManifest,
  target: string | undefined,
  asInstance: boolean,
): Promise<RawManifest> {
  const { src, dst, signal, opts } = ctx;
  const doc = parseManifest(manifest.raw, manifest.mediaType);
  if (doc.kind !== 'image') {
    throw new SkiffError(
      ErrorCode.UnsupportedManifest,
      `${src.reference}: nested index ${doc.digest} inside an index is not supported`,
    );
  }
  const to = target ?? targetImageType(ctx, doc.mediaType);
  if (to !== doc.mediaType)
    refuseChange(ctx, `the manifest would be converted from ${doc.mediaType} to ${to}`);

  const { raw: configRaw, config } = await readImageConfig(src, doc, signal);
  const diffIds = layerDiffIds(src, doc, config);
  const plans: LayerPlan[] = doc.layers.map((desc, index) => {
    const diffId = diffIds[index]!;
    const comp = layerCompression(desc.mediaType) ?? 'none';
    if (
      comp === 'none' &&
      layerCompression(desc.mediaType) !== undefined &&
      desc.digest !== diffId
    ) {
      throw new SkiffError(
        ErrorCode.DigestMismatch,
        `${src.reference}: uncompressed layer ${index} has digest ${desc.digest} but config diff_id ${diffId}`,
      );
    }
    if (layerCompression(desc.mediaType) === undefined) return { index, desc, diffId, op: 'copy' };
    if (dst.layerFormat === 'uncompressed' && comp !== 'none') {
      refuseChange(
        ctx,
        `${dst.reference} stores layers uncompressed, which changes layer ${index}`,
      );
      return { index, desc, diffId, op: 'decompress' };
    }
    // skopeo compresses uncompressed layers (docker-archive's, say) for destinations that
    // want them compressed, unless digests must be preserved; then they travel as they are.
    if (dst.layerFormat === 'compressed' && comp === 'none' && !opts.preserveDigests) {
      return { index, desc, diffId, op: 'recompress', to: opts.compressionFormat ?? 'gzip' };
    }
    if (
      dst.layerFormat !== 'uncompressed' &&
      opts.compressionFormat &&
      comp !== opts.compressionFormat
    ) {
      refuseChange(
        ctx,
        `recompressing layer ${index} as ${opts.compressionFormat} changes its digest`,
      );
      return { index, desc, diffId, op: 'recompress', to: opts.compressionFormat };
    }
    return { index, desc, diffId, op: 'copy' };
  });
  if (to === MediaType.DockerManifest && plans.some((p) => p.to === 'zstd')) {
    throw new SkiffError(
      ErrorCode.UnsupportedManifest,
      'zstd-compressed layers need the OCI format; Docker schema 2 cannot describe them',
    );
  }

  // Identical layers (same digest and operation) are transferred once.
  const inflight = new Map<string, Promise<BlobInfo>>();
  const results = await runPool(plans, opts.concurrency ?? 6, ctx.abort, (plan) => {
    const key = `${plan.op}:${plan.to ?? ''}:${plan.desc.digest}`;
    let p = inflight.get(key);
    if (!p) {
      p = transferLayer(ctx, doc, plan);
      inflight.set(key, p);
    }
    return p;
  });

  const configInfo: BlobInfo = withSourceRepository(src, {
    digest: doc.config.digest,
    size: doc.config.size,
    mediaType: doc.config.mediaType,
  });
  if (await dst.hasBlob(configInfo, signal)) {
    ctx.emit({ type: 'blob-skipped', digest: configInfo.digest, size: configInfo.size });
  } else if (dst.tryReuseBlob && (await dst.tryReuseBlob(configInfo, signal))) {
    ctx.emit({ type: 'blob-reused', digest: configInfo.digest });
  } else {
    await dst.putBlob(Readable.from([Buffer.from(configRaw)]), configInfo, signal);
  }
  ctx.emit({ type: 'config', digest: doc.config.digest });

  let out: RawManifest;
  if (plans.every((p) => p.op === 'copy')) {
    out = convertManifest(doc, to);
  } else {
    const json = structuredClone(doc.json) as unknown as { layers: Record<string, unknown>[] };
    json.layers = json.layers.map((l, i) => {
      const r = results[i]!;
      if (plans[i]!.op === 'copy') return l;
      const { urls: _urls, ...rest } = l;
      return { ...rest, mediaType: r.mediaType, digest: r.digest, size: r.size };
    });
    const rewritten = parseManifest(serializeJson(json), doc.mediaType);
    out = convertManifest(rewritten as ImageManifestDoc, to);
  }
  const digest = digestOf(out.raw);
  await dst.putManifest(out, asInstance ? digest : undefined, signal);
  ctx.emit({ type: 'manifest', digest });
  return out;
}

async function copyIndex(ctx: Ctx, doc: IndexDoc, mode: MultiArchMode): Promise<RawManifest> {
  const { src, dst, signal } = ctx;
  if (!dst.acceptsIndex) {
    throw new SkiffError(
      ErrorCode.UnsupportedManifest,
      `${dst.reference} cannot store a multi-arch index (multiArch "${mode}")`,
      { hint: 'copy one platform (multiArch "system", optionally with a platform)' },
    );
  }
  const indexType = targetIndexType(ctx, doc.mediaType);
  const instanceType =
    indexType === MediaType.OciIndex ? MediaType.OciManifest : MediaType.DockerManifest;
  const converted = new Map<string, { digest: string; size: number; mediaType: string }>();
  if (mode === 'all') {
    for (const d of doc.manifests) {
      const inst = await src.getManifest(d.digest, signal);
      checkManifestBytes(inst.raw, d, src.reference);
      const out = await copySingleImage(ctx, inst, instanceType, true);
      const digest = digestOf(out.raw);
      if (digest !== d.digest) {
        converted.set(d.digest, { digest, size: out.raw.length, mediaType: out.mediaType });
      }
    }
  }
  const out = convertIndex(doc, indexType, converted);
  if (out.raw !== doc.raw) refuseChange(ctx, `the index would change (${indexType})`);
  const digest = digestOf(out.raw);
  await dst.putManifest(out, undefined, signal);
  ctx.emit({ type: 'manifest', digest });
  return out;
}

/**
 * Copies an image (or index) from any source to any destination: skips blobs the destination
 * has, streams the rest concurrently with every digest verified on the way, converts formats
 * and compression when needed, and commits. On failure or abort the destination is closed
 * without commit, which removes what was written.
 */
export async function copyImage(
  src: ImageSource,
  dst: ImageDestination,
  opts: CopyOptions = {},
): Promise<CopyResult> {
  const abort = new AbortController();
  const onOuterAbort = () => abort.abort(opts.signal?.reason);
  if (opts.signal?.aborted) abort.abort(opts.signal.reason);
  opts.signal?.addEventListener('abort', onOuterAbort, { once: true });
  const ctx: Ctx = {
    src,
    dst,
    opts,
    signal: abort.signal,
    abort,
    emit: (e) => opts.onEvent?.(e),
  };
  try {
    if (abort.signal.aborted) throw abortError(opts.signal);
    const top = await src.getManifest(undefined, ctx.signal);
    const doc = parseManifest(top.raw, top.mediaType);
    let result: RawManifest;
    if (doc.kind === 'index') {
      const mode = opts.multiArch ?? 'system';
      if (mode === 'system') {
        const d = selectPlatformManifest(doc, opts.platform ?? hostPlatform());
        const inst = await src.getManifest(d.digest, ctx.signal);
        checkManifestBytes(inst.raw, d, src.reference);
        result = await copySingleImage(ctx, inst, undefined, false);
      } else {
        result = await copyIndex(ctx, doc, mode);
      }
    } else {
      result = await copySingleImage(ctx, top, undefined, false);
    }
    if (opts.commit !== false) await dst.commit(ctx.signal);
    return { manifestDigest: digestOf(result.raw), manifest: result };
  } catch (err) {
    abort.abort(err);
    await dst.close().catch(() => {});
    if (opts.signal?.aborted && !isSkiffError(err, ErrorCode.Aborted)) {
      throw abortError(opts.signal);
    }
    throw err;
  } finally {
    opts.signal?.removeEventListener('abort', onOuterAbort);
  }
}
