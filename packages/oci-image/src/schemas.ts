// Named imports (not the `z` namespace) let the bundler drop the parts of zod Skiff does not
// use, its locales above all: that halves the code a CLI parses at start-up.
import {
  type infer as ZInfer,
  array as zArray,
  base64 as zBase64,
  boolean as zBoolean,
  literal as zLiteral,
  looseObject as zLooseObject,
  number as zNumber,
  record as zRecord,
  string as zString,
} from 'zod';
import { validateDigest } from './digest.js';
import { MediaType } from './media-types.js';

/*
 * Schemas for the OCI image spec (v1.1) and Docker's schema2 formats. Objects are "loose":
 * fields Skiff does not know are kept, so that a config Skiff edits and writes back loses
 * nothing. Everything else is validated as hostile input: digests, sizes, types.
 */

/** A digest string: "sha256:<64 lowercase hex>" or "sha512:<128 lowercase hex>". */
export const DigestSchema = zString().check((ctx) => {
  const problem = validateDigest(ctx.value);
  if (problem !== undefined)
    ctx.issues.push({ code: 'custom', message: problem, input: ctx.value });
});

/** A byte count: a non-negative safe integer. */
export const SizeSchema = zNumber()
  .int('size must be an integer')
  .nonnegative('size must not be negative')
  .max(Number.MAX_SAFE_INTEGER, 'size is too large');

export const MediaTypeSchema = zString().regex(
  /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$/,
  'not a valid media type',
);

/** Where a non-distributable layer may be fetched: http(s) only, never file: or others. */
export const UrlSchema = zString().check((ctx) => {
  let ok = false;
  try {
    const u = new URL(ctx.value);
    ok = u.protocol === 'https:' || u.protocol === 'http:';
  } catch {}
  if (!ok) {
    ctx.issues.push({
      code: 'custom',
      message: 'urls must be http or https URLs',
      input: ctx.value,
    });
  }
});

export const AnnotationsSchema = zRecord(zString(), zString());

export const PlatformSchema = zLooseObject({
  architecture: zString(),
  os: zString(),
  'os.version': zString().optional(),
  'os.features': zArray(zString()).optional(),
  variant: zString().optional(),
  features: zArray(zString()).optional(),
});
export type Platform = ZInfer<typeof PlatformSchema>;

export const DescriptorSchema = zLooseObject({
  mediaType: MediaTypeSchema,
  digest: DigestSchema,
  size: SizeSchema,
  urls: zArray(UrlSchema).optional(),
  annotations: AnnotationsSchema.optional(),
  data: zBase64().optional(),
  platform: PlatformSchema.optional(),
  artifactType: MediaTypeSchema.optional(),
});
export type Descriptor = ZInfer<typeof DescriptorSchema>;

export const OciManifestSchema = zLooseObject({
  schemaVersion: zLiteral(2),
  mediaType: zLiteral(MediaType.OciManifest).optional(),
  artifactType: MediaTypeSchema.optional(),
  config: DescriptorSchema,
  layers: zArray(DescriptorSchema),
  subject: DescriptorSchema.optional(),
  annotations: AnnotationsSchema.optional(),
});
export type OciManifest = ZInfer<typeof OciManifestSchema>;

export const OciIndexSchema = zLooseObject({
  schemaVersion: zLiteral(2),
  mediaType: zLiteral(MediaType.OciIndex).optional(),
  artifactType: MediaTypeSchema.optional(),
  manifests: zArray(DescriptorSchema),
  subject: DescriptorSchema.optional(),
  annotations: AnnotationsSchema.optional(),
});
export type OciIndex = ZInfer<typeof OciIndexSchema>;

/** Docker's descriptors carry mediaType, size, digest and urls (plus platform in lists). */
export const DockerDescriptorSchema = zLooseObject({
  mediaType: MediaTypeSchema,
  size: SizeSchema,
  digest: DigestSchema,
  urls: zArray(UrlSchema).optional(),
  annotations: AnnotationsSchema.optional(),
  platform: PlatformSchema.optional(),
});

export const DockerManifestSchema = zLooseObject({
  schemaVersion: zLiteral(2),
  mediaType: zLiteral(MediaType.DockerManifest),
  config: DockerDescriptorSchema,
  layers: zArray(DockerDescriptorSchema),
});
export type DockerManifest = ZInfer<typeof DockerManifestSchema>;

export const DockerManifestListSchema = zLooseObject({
  schemaVersion: zLiteral(2),
  mediaType: zLiteral(MediaType.DockerManifestList),
  manifests: zArray(DockerDescriptorSchema.extend({ platform: PlatformSchema })),
});
export type DockerManifestList = ZInfer<typeof DockerManifestListSchema>;

// Go writes nil slices and maps as null; Docker configs are full of them.
const strings = zArray(zString()).nullable().optional();
const stringMap = zRecord(zString(), zString()).nullable().optional();
const emptyObjectMap = zRecord(zString(), zLooseObject({})).nullable().optional();

export const HealthcheckSchema = zLooseObject({
  Test: strings,
  Interval: zNumber().int().optional(),
  Timeout: zNumber().int().optional(),
  StartPeriod: zNumber().int().optional(),
  StartInterval: zNumber().int().optional(),
  Retries: zNumber().int().optional(),
});

/** The execution parameters of an image (the "config" member of an image config). */
export const ContainerConfigSchema = zLooseObject({
  User: zString().optional(),
  ExposedPorts: emptyObjectMap,
  Env: strings,
  Entrypoint: strings,
  Cmd: strings,
  Volumes: emptyObjectMap,
  WorkingDir: zString().optional(),
  Labels: stringMap,
  StopSignal: zString().optional(),
  ArgsEscaped: zBoolean().optional(),
  Healthcheck: HealthcheckSchema.nullable().optional(),
  OnBuild: strings,
  Shell: strings,
});
export type ContainerConfig = ZInfer<typeof ContainerConfigSchema>;

export const RootFsSchema = zLooseObject({
  type: zLiteral('layers'),
  diff_ids: zArray(DigestSchema),
});

export const HistorySchema = zLooseObject({
  created: zString().optional(),
  created_by: zString().optional(),
  author: zString().optional(),
  comment: zString().optional(),
  empty_layer: zBoolean().optional(),
});
export type History = ZInfer<typeof HistorySchema>;

/** An image configuration: OCI's application/vnd.oci.image.config.v1+json or Docker's. */
export const ImageConfigSchema = zLooseObject({
  created: zString().optional(),
  author: zString().optional(),
  architecture: zString(),
  os: zString(),
  'os.version': zString().optional(),
  'os.features': zArray(zString()).optional(),
  variant: zString().optional(),
  config: ContainerConfigSchema.nullable().optional(),
  rootfs: RootFsSchema,
  history: zArray(HistorySchema).nullable().optional(),
});
export type ImageConfig = ZInfer<typeof ImageConfigSchema>;
