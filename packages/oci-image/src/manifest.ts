import type { z } from 'zod';
import { digestOf } from './digest.js';
import { ErrorCode, SkiffError } from './errors.js';
import type { RawManifest } from './image.js';
import {
  baseMediaType,
  isIndexMediaType,
  isManifestMediaType,
  isSchema1MediaType,
  MediaType,
} from './media-types.js';
import {
  type Descriptor,
  type DockerManifest,
  type DockerManifestList,
  DockerManifestListSchema,
  DockerManifestSchema,
  type ImageConfig,
  ImageConfigSchema,
  type OciIndex,
  OciIndexSchema,
  type OciManifest,
  OciManifestSchema,
} from './schemas.js';

/** Manifests larger than this are refused before parsing (containers/image uses the same). */
export const MaxManifestSize = 4 * 1024 * 1024;
/** Image configs larger than this are refused before parsing. */
export const MaxConfigSize = 8 * 1024 * 1024;

interface DocBase {
  /** The manifest's media type (detected, reconciled with the declared one). */
  mediaType: string;
  /** The exact bytes: digests are computed over these. */
  raw: Uint8Array;
  /** sha256 of `raw`. */
  digest: string;
  annotations?: Record<string, string> | undefined;
  artifactType?: string | undefined;
  subject?: Descriptor | undefined;
}

export interface ImageManifestDoc extends DocBase {
  kind: 'image';
  config: Descriptor;
  layers: Descriptor[];
  json: OciManifest | DockerManifest;
}

export interface IndexDoc extends DocBase {
  kind: 'index';
  /** The instances; Docker manifest lists always carry a platform, OCI indexes usually do. */
  manifests: Descriptor[];
  json: OciIndex | DockerManifestList;
}

export type ParsedManifest = ImageManifestDoc | IndexDoc;

const decoder = new TextDecoder('utf-8', { fatal: true });

function parseJsonObject(raw: Uint8Array, what: string): Record<string, unknown> {
  let text: string;
  try {
    text = decoder.decode(raw);
  } catch (cause) {
    throw new SkiffError(ErrorCode.InvalidManifest, `${what} is not valid UTF-8`, { cause });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw new SkiffError(
      ErrorCode.InvalidManifest,
      `${what} is not valid JSON: ${(cause as Error).message}`,
      { cause },
    );
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new SkiffError(ErrorCode.InvalidManifest, `${what} is not a JSON object`);
  }
  return value as Record<string, unknown>;
}

/** "layers[1].digest" from a zod issue path. */
function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else if (typeof p === 'string' && /^[A-Za-z_][A-Za-z0-9_]*$/.test(p)) {
      out += out === '' ? p : `.${p}`;
    } else out += `[${JSON.stringify(String(p))}]`;
  }
  return out === '' ? '(top level)' : out;
}

/** Validates `value` against `schema`; failures become E_INVALID_MANIFEST naming the field. */
export function validateWith<S extends z.ZodType>(
  schema: S,
  value: unknown,
  what: string,
): z.output<S> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issues = r.error.issues;
  const first = issues[0]!;
  const more = issues.length > 1 ? ` (and ${issues.length - 1} more problem(s))` : '';
  throw new SkiffError(
    ErrorCode.InvalidManifest,
    `invalid ${what}: field ${formatPath(first.path)}: ${first.message}${more}`,
    { cause: r.error },
  );
}

function schema1Error(): SkiffError {
  return new SkiffError(
    ErrorCode.UnsupportedManifest,
    'Docker schema 1 manifests are not supported (the format was deprecated in 2017 and cannot carry an image config)',
    {
      hint: 'convert the image to schema 2 or OCI with a newer tool, e.g. `skopeo copy --format v2s2` or pull and push it again with a current docker or podman',
    },
  );
}

function structuralKind(doc: Record<string, unknown>): 'image' | 'index' | 'schema1' | undefined {
  if (doc.schemaVersion === 1 || 'fsLayers' in doc || 'signatures' in doc) return 'schema1';
  const hasManifests = 'manifests' in doc;
  const hasImageFields = 'config' in doc || 'layers' in doc;
  if (hasManifests && hasImageFields) {
    throw new SkiffError(
      ErrorCode.InvalidManifest,
      'ambiguous manifest: it has both "manifests" (an index) and "config"/"layers" (an image)',
    );
  }
  if (hasManifests) return 'index';
  if (hasImageFields) return 'image';
  return undefined;
}

function kindOf(mt: string): 'image' | 'index' {
  return isIndexMediaType(mt) ? 'index' : 'image';
}

function detectFromObject(doc: Record<string, unknown>, declared: string | undefined): string {
  const declaredBase = declared === undefined ? undefined : baseMediaType(declared);
  const field = doc.mediaType;
  const structure = structuralKind(doc);
  if (field !== undefined) {
    if (typeof field !== 'string') {
      throw new SkiffError(
        ErrorCode.InvalidManifest,
        'invalid manifest: field mediaType must be a string',
      );
    }
    if (isSchema1MediaType(field)) throw schema1Error();
    if (!isManifestMediaType(field)) {
      throw new SkiffError(
        ErrorCode.UnsupportedManifest,
        `unsupported manifest media type ${JSON.stringify(field)}`,
        {
          hint: 'Skiff reads OCI image manifests and indexes and Docker schema 2 manifests and manifest lists',
        },
      );
    }
    // An explicit mediaType field must agree with both the declared type and the structure,
    // or a registry could serve one document that parses as two different things.
    if (
      declaredBase !== undefined &&
      (isManifestMediaType(declaredBase) || isSchema1MediaType(declaredBase)) &&
      declaredBase !== field
    ) {
      throw new SkiffError(
        ErrorCode.InvalidManifest,
        `manifest declared as ${declaredBase} but its mediaType field says ${field}`,
      );
    }
    if (structure === 'schema1') throw schema1Error();
    if (structure !== undefined && structure !== kindOf(field)) {
      throw new SkiffError(
        ErrorCode.InvalidManifest,
        `manifest says it is ${field} but has the fields of ${structure === 'index' ? 'an index' : 'an image manifest'}`,
      );
    }
    return field;
  }
  if (structure === 'schema1' || (declaredBase !== undefined && isSchema1MediaType(declaredBase))) {
    throw schema1Error();
  }
  if (declaredBase !== undefined && isManifestMediaType(declaredBase)) {
    if (structure !== undefined && structure !== kindOf(declaredBase)) {
      throw new SkiffError(
        ErrorCode.InvalidManifest,
        `manifest declared as ${declaredBase} but has the fields of ${structure === 'index' ? 'an index' : 'an image manifest'}`,
      );
    }
    return declaredBase;
  }
  if (structure === 'index') return MediaType.OciIndex;
  if (structure === 'image') return MediaType.OciManifest;
  throw new SkiffError(
    ErrorCode.InvalidManifest,
    'unrecognised manifest: no mediaType field and neither "manifests" nor "config" and "layers"',
  );
}

/**
 * The media type of a manifest, from its own mediaType field, else its structure, reconciled
 * with the media type a registry or file declared (generic ones such as application/json are
 * ignored). Docker schema 1 is recognised and refused with E_UNSUPPORTED_MANIFEST.
 */
export function detectManifestMediaType(raw: Uint8Array, declared?: string): string {
  return detectFromObject(parseJsonObject(raw, 'manifest'), declared);
}

function checkSize(raw: Uint8Array, max: number, what: string): void {
  if (raw.byteLength > max) {
    throw new SkiffError(
      ErrorCode.InvalidManifest,
      `${what} is too large (${raw.byteLength} bytes, the limit is ${max})`,
    );
  }
}

/**
 * Parses and validates an image manifest or index. The result keeps the exact bytes (`raw`)
 * and their sha256 digest. Every failure is a SkiffError: E_INVALID_MANIFEST naming the field,
 * or E_UNSUPPORTED_MANIFEST for formats Skiff does not read.
 */
export function parseManifest(raw: Uint8Array, declaredMediaType?: string): ParsedManifest {
  checkSize(raw, MaxManifestSize, 'manifest');
  const obj = parseJsonObject(raw, 'manifest');
  const mediaType = detectFromObject(obj, declaredMediaType);
  const digest = digestOf(raw);
  switch (mediaType) {
    case MediaType.OciManifest: {
      const json = validateWith(OciManifestSchema, obj, 'OCI image manifest');
      return {
        kind: 'image',
        mediaType,
        raw,
        digest,
        config: json.config,
        layers: json.layers,
        annotations: json.annotations,
        artifactType: json.artifactType,
        subject: json.subject,
        json,
      };
    }
    case MediaType.DockerManifest: {
      const json = validateWith(DockerManifestSchema, obj, 'Docker schema 2 manifest');
      return {
        kind: 'image',
        mediaType,
        raw,
        digest,
        config: json.config,
        layers: json.layers,
        json,
      };
    }
    case MediaType.OciIndex: {
      const json = validateWith(OciIndexSchema, obj, 'OCI image index');
      return {
        kind: 'index',
        mediaType,
        raw,
        digest,
        manifests: json.manifests,
        annotations: json.annotations,
        artifactType: json.artifactType,
        subject: json.subject,
        json,
      };
    }
    case MediaType.DockerManifestList: {
      const json = validateWith(DockerManifestListSchema, obj, 'Docker manifest list');
      return { kind: 'index', mediaType, raw, digest, manifests: json.manifests, json };
    }
    default:
      throw new SkiffError(
        ErrorCode.UnsupportedManifest,
        `unsupported manifest media type ${mediaType}`,
      );
  }
}

/** Parses a RawManifest as a source returns it. */
export function parseRawManifest(m: RawManifest): ParsedManifest {
  return parseManifest(m.raw, m.mediaType);
}

/** Parses and validates an image configuration (E_INVALID_MANIFEST naming the field). */
export function parseImageConfig(raw: Uint8Array): ImageConfig {
  checkSize(raw, MaxConfigSize, 'image config');
  return validateWith(ImageConfigSchema, parseJsonObject(raw, 'image config'), 'image config');
}

const goEscapes: Record<string, string> = {
  '<': '\\u003c',
  '>': '\\u003e',
  '&': '\\u0026',
  '\u2028': '\\u2028',
  '\u2029': '\\u2029',
};

/**
 * Compact JSON as Go's json.Marshal writes it (HTML characters and line separators escaped),
 * so that manifests and configs Skiff creates look like those other tools create. Key order
 * is the object's own order.
 */
export function serializeJson(obj: unknown): Uint8Array {
  const text = JSON.stringify(obj).replace(/[<>&\u2028\u2029]/g, (c) => goEscapes[c]!);
  return Buffer.from(text, 'utf8');
}

/** The descriptor of a manifest's exact bytes (for an index entry or a tag). */
export function manifestDescriptor(m: RawManifest): Descriptor {
  return { mediaType: m.mediaType, digest: digestOf(m.raw), size: m.raw.byteLength };
}
