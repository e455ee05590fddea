import { z } from 'zod';
import { validateDigest } from './digest.js';
import { MediaType } from './media-types.js';

/*
 * Schemas for the OCI image spec (v1.1) and Docker's schema2 formats. Objects are "loose":
 * fields Skiff does not know are kept, so that a config Skiff edits and writes back loses
 * nothing. Everything else is validated as hostile input: digests, sizes, types.
 */

/** A digest string: "sha256:<64 lowercase hex>" or "sha512:<128 lowercase hex>". */
export const DigestSchema = z.string().check((ctx) => {
  const problem = validateDigest(ctx.value);
  if (problem !== undefined)
    ctx.issues.push({ code: 'custom', message: problem, input: ctx.value });
});

/** A byte count: a non-negative safe integer. */
export const SizeSchema = z
  .number()
  .int('size must be an integer')
  .nonnegative('size must not be negative')
  .max(Number.MAX_SAFE_INTEGER, 'size is too large');

export const MediaTypeSchema = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$/,
    'not a valid media type',
  );

/** Where a non-distributable layer may be fetched: http(s) only, never file: or others. */
export const UrlSchema = z.string().check((ctx) => {
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

export const AnnotationsSchema = z.record(z.string(), z.string());

export const PlatformSchema = z.looseObject({
  architecture: z.string(),
  os: z.string(),
  'os.version': z.string().optional(),
  'os.features': z.array(z.string()).optional(),
  variant: z.string().optional(),
  features: z.array(z.string()).optional(),
});
export type Platform = z.infer<typeof PlatformSchema>;

export const DescriptorSchema = z.looseObject({
  mediaType: MediaTypeSchema,
  digest: DigestSchema,
  size: SizeSchema,
  urls: z.array(UrlSchema).optional(),
  annotations: AnnotationsSchema.optional(),
  data: z.base64().optional(),
  platform: PlatformSchema.optional(),
  artifactType: MediaTypeSchema.optional(),
});
export type Descriptor = z.infer<typeof DescriptorSchema>;

export const OciManifestSchema = z.looseObject({
  schemaVersion: z.literal(2),
  mediaType: z.literal(MediaType.OciManifest).optional(),
  artifactType: MediaTypeSchema.optional(),
  config: DescriptorSchema,
  layers: z.array(DescriptorSchema),
  subject: DescriptorSchema.optional(),
  annotations: AnnotationsSchema.optional(),
});
export type OciManifest = z.infer<typeof OciManifestSchema>;

export const OciIndexSchema = z.looseObject({
  schemaVersion: z.literal(2),
  mediaType: z.literal(MediaType.OciIndex).optional(),
  artifactType: MediaTypeSchema.optional(),
  manifests: z.array(DescriptorSchema),
  subject: DescriptorSchema.optional(),
  annotations: AnnotationsSchema.optional(),
});
export type OciIndex = z.infer<typeof OciIndexSchema>;

/** Docker's descriptors carry mediaType, size, digest and urls (plus platform in lists). */
export const DockerDescriptorSchema = z.looseObject({
  mediaType: MediaTypeSchema,
  size: SizeSchema,
  digest: DigestSchema,
  urls: z.array(UrlSchema).optional(),
  annotations: AnnotationsSchema.optional(),
  platform: PlatformSchema.optional(),
});

export const DockerManifestSchema = z.looseObject({
  schemaVersion: z.literal(2),
  mediaType: z.literal(MediaType.DockerManifest),
  config: DockerDescriptorSchema,
  layers: z.array(DockerDescriptorSchema),
});
export type DockerManifest = z.infer<typeof DockerManifestSchema>;

export const DockerManifestListSchema = z.looseObject({
  schemaVersion: z.literal(2),
  mediaType: z.literal(MediaType.DockerManifestList),
  manifests: z.array(DockerDescriptorSchema.extend({ platform: PlatformSchema })),
});
export type DockerManifestList = z.infer<typeof DockerManifestListSchema>;

// Go writes nil slices and maps as null; Docker configs are full of them.
const strings = z.array(z.string()).nullable().optional();
const stringMap = z.record(z.string(), z.string()).nullable().optional();
const emptyObjectMap = z.record(z.string(), z.looseObject({})).nullable().optional();

export const HealthcheckSchema = z.looseObject({
  Test: strings,
  Interval: z.number().int().optional(),
  Timeout: z.number().int().optional(),
  StartPeriod: z.number().int().optional(),
  StartInterval: z.number().int().optional(),
  Retries: z.number().int().optional(),
});

/** The execution parameters of an image (the "config" member of an image config). */
export const ContainerConfigSchema = z.looseObject({
  User: z.string().optional(),
  ExposedPorts: emptyObjectMap,
  Env: strings,
  Entrypoint: strings,
  Cmd: strings,
  Volumes: emptyObjectMap,
  WorkingDir: z.string().optional(),
  Labels: stringMap,
  StopSignal: z.string().optional(),
  ArgsEscaped: z.boolean().optional(),
  Healthcheck: HealthcheckSchema.nullable().optional(),
  OnBuild: strings,
  Shell: strings,
});
export type ContainerConfig = z.infer<typeof ContainerConfigSchema>;

export const RootFsSchema = z.looseObject({
  type: z.literal('layers'),
  diff_ids: z.array(DigestSchema),
});

export const HistorySchema = z.looseObject({
  created: z.string().optional(),
  created_by: z.string().optional(),
  author: z.string().optional(),
  comment: z.string().optional(),
  empty_layer: z.boolean().optional(),
});
export type History = z.infer<typeof HistorySchema>;

/** An image configuration: OCI's application/vnd.oci.image.config.v1+json or Docker's. */
export const ImageConfigSchema = z.looseObject({
  created: z.string().optional(),
  author: z.string().optional(),
  architecture: z.string(),
  os: z.string(),
  'os.version': z.string().optional(),
  'os.features': z.array(z.string()).optional(),
  variant: z.string().optional(),
  config: ContainerConfigSchema.nullable().optional(),
  rootfs: RootFsSchema,
  history: z.array(HistorySchema).nullable().optional(),
});
export type ImageConfig = z.infer<typeof ImageConfigSchema>;
