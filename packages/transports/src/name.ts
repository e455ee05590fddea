import {
  ErrorCode,
  type ImageDestination,
  type ImageSource,
  parseReference,
  type Reference,
  SkiffError,
} from '@skiff/oci-image';
import type { StorageDriver, Store, StoreEvent, StoreOptions } from '@skiff/storage';

/** `containers-storage:[driver@root+runroot:options]`: which store to use. */
export interface StorageSpec {
  readonly driver?: StorageDriver;
  readonly root?: string;
  readonly runroot?: string;
  readonly options?: string[];
}

/** A parsed `transport:details` image name. Which fields are set depends on the transport. */
export interface ImageName {
  /** Transport name without the colon: `oci`, `oci-archive`, `docker-archive`, `dir`, `docker`. */
  readonly transport: string;
  /** File-system path for local transports. */
  readonly path?: string;
  /** `oci:`/`oci-archive:` ref name (the org.opencontainers.image.ref.name annotation). */
  readonly ref?: string;
  /** `docker-archive:` or `docker://` reference (normalized, with a tag or digest). */
  readonly reference?: Reference;
  /** `docker-archive:PATH:@N`: the N-th image of manifest.json. */
  readonly index?: number;
  /** `containers-storage:[...]`: the store named in brackets. */
  readonly storage?: StorageSpec;
  /** `containers-storage:`: the image as written (name, short name or id prefix) to look up. */
  readonly image?: string;
  /** `containers-storage:@ID` / `NAME@ID`: an image id (or prefix). */
  readonly imageId?: string;
  /** The name as the user wrote it, with its transport, for messages. */
  readonly text: string;
}

export interface OpenOptions {
  /** Directory for temporary extractions and staging (default: os.tmpdir()). */
  tmpDir?: string;
  /** Extra `name:tag`s written into a docker-archive destination's RepoTags. */
  additionalTags?: string[];
  signal?: AbortSignal;
  // ---- docker:// (registry) options, as skopeo's --src-*/--dest-* flags ----
  /** "USER:PASSWORD" (or "USER" with `password`): wins over every auth file. */
  creds?: string;
  password?: string;
  /** Access the registry anonymously, ignoring any stored credentials (--no-creds). */
  noCreds?: boolean;
  /** An auth.json to use instead of the default ones (--authfile). */
  authfile?: string;
  /** false: allow plain http and unverified TLS; default: registries.conf `insecure` decides. */
  tlsVerify?: boolean;
  /** Directory of *.crt CAs and *.cert/*.key client pairs (--cert-dir). */
  certDir?: string;
  /** Retries of a failed registry request (--retry-times, default 3). */
  retryTimes?: number;
  /** First back-off delay in ms, doubled per retry (--retry-delay, default 1000). */
  retryDelay?: number;
  /** A registries.conf to read instead of the default one (--registries-conf). */
  registriesConf?: string;
  /** Environment for auth files, helpers and certs.d (default process.env). */
  env?: NodeJS.ProcessEnv;
  // ---- containers-storage: options, as podman's --root/--runroot/--storage-driver ----
  /** An open store to use (not closed by the transport). */
  store?: Store;
  /** Store options overriding defaultStoreOptions() (root, runroot, driver). */
  storeOptions?: Partial<StoreOptions>;
  /** Progress of layer extraction into the store. */
  storageEvents?: (e: StoreEvent) => void;
}

/** A transport plugs parsing and opening of one `name:` prefix into Skiff. */
export interface Transport {
  readonly name: string;
  /** Parses what follows `name:` (for docker, what follows `docker:`, i.e. `//REF`). */
  parse(details: string, text: string): ImageName;
  openSource(name: ImageName, opts: OpenOptions): Promise<ImageSource>;
  openDestination(name: ImageName, opts: OpenOptions): Promise<ImageDestination>;
}

const transports = new Map<string, Transport>();

/** Adds or replaces a transport (later issues plug in docker:// and containers-storage:). */
export function registerTransport(transport: Transport): void {
  transports.set(transport.name, transport);
}

export function getTransport(name: string): Transport | undefined {
  return transports.get(name);
}

export function listTransports(): string[] {
  return [...transports.keys()].sort();
}

/** Parses `transport:details`, naming the bad part on error. */
export function parseImageName(text: string): ImageName {
  const colon = text.indexOf(':');
  if (colon <= 0) {
    throw new SkiffError(
      ErrorCode.InvalidTransport,
      `invalid image name "${text}": expected TRANSPORT:DETAILS`,
      { hint: `known transports: ${listTransports().join(', ')}` },
    );
  }
  const prefix = text.slice(0, colon);
  const transport = transports.get(prefix);
  if (!transport) {
    throw new SkiffError(ErrorCode.InvalidTransport, `unknown transport "${prefix}" in "${text}"`, {
      hint: `known transports: ${listTransports().join(', ')}`,
    });
  }
  return transport.parse(text.slice(colon + 1), text);
}

function resolveName(name: ImageName | string): { name: ImageName; transport: Transport } {
  const parsed = typeof name === 'string' ? parseImageName(name) : name;
  const transport = transports.get(parsed.transport);
  if (!transport) {
    throw new SkiffError(ErrorCode.InvalidTransport, `unknown transport "${parsed.transport}"`);
  }
  return { name: parsed, transport };
}

export async function openSource(
  name: ImageName | string,
  opts: OpenOptions = {},
): Promise<ImageSource> {
  const r = resolveName(name);
  return r.transport.openSource(r.name, opts);
}

export async function openDestination(
  name: ImageName | string,
  opts: OpenOptions = {},
): Promise<ImageDestination> {
  const r = resolveName(name);
  return r.transport.openDestination(r.name, opts);
}

// OCI ref names: components of alphanumerics joined by separators, like containers/image accepts.
const REF_COMPONENT = '[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*';
const OCI_REF = new RegExp(`^${REF_COMPONENT}(?:/${REF_COMPONENT})*$`);

/** Splits `PATH[:REF]` at the first colon, as skopeo does. */
export function splitPathAndRef(
  details: string,
  text: string,
  transport: string,
): { path: string; ref?: string } {
  const colon = details.indexOf(':');
  const path = colon < 0 ? details : details.slice(0, colon);
  const ref = colon < 0 ? undefined : details.slice(colon + 1);
  if (path === '') {
    throw new SkiffError(ErrorCode.InvalidReference, `missing path in "${text}"`, {
      hint: `write ${transport}:PATH[:REF]`,
    });
  }
  return ref === undefined || ref === '' ? { path } : { path, ref };
}

export function parseOciLikeName(transport: string, details: string, text: string): ImageName {
  const { path, ref } = splitPathAndRef(details, text, transport);
  if (ref !== undefined && !OCI_REF.test(ref)) {
    throw new SkiffError(
      ErrorCode.InvalidReference,
      `invalid reference "${ref}" in ${transport}:PATH:REF ("${text}")`,
      { hint: 'a ref is letters, digits and . _ - : @ + separated components' },
    );
  }
  return ref === undefined ? { transport, path, text } : { transport, path, ref, text };
}

export function parseDockerArchiveName(details: string, text: string): ImageName {
  const transport = 'docker-archive';
  const { path, ref } = splitPathAndRef(details, text, transport);
  if (ref === undefined) return { transport, path, text };
  if (ref.startsWith('@')) {
    const n = ref.slice(1);
    if (!/^\d+$/.test(n)) {
      throw new SkiffError(
        ErrorCode.InvalidReference,
        `invalid image index "${ref}" in docker-archive:PATH:@INDEX ("${text}")`,
      );
    }
    return { transport, path, index: Number(n), text };
  }
  let reference: Reference;
  try {
    reference = parseReference(ref);
  } catch (err) {
    throw new SkiffError(
      ErrorCode.InvalidReference,
      `invalid reference "${ref}" in docker-archive:PATH:REF ("${text}"): ${(err as Error).message}`,
      { cause: err },
    );
  }
  if (reference.digest !== undefined) {
    throw new SkiffError(
      ErrorCode.InvalidReference,
      `invalid reference "${ref}" in docker-archive:PATH:REF: a docker-archive names images by tag, not digest`,
    );
  }
  return { transport, path, reference, text };
}
