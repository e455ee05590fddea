import type { Readable } from 'node:stream';
import {
  type BlobInfo,
  digestOf,
  ErrorCode,
  formatReference,
  type ImageDestination,
  type ImageSource,
  isShortName,
  isSkiffError,
  MediaType,
  normalizeReference,
  parseDigest,
  parseReference,
  type RawManifest,
  type Reference,
  SkiffError,
  VerifyingStream,
} from '@skiff/oci-image';
import {
  type Endpoint,
  loadRegistriesConf,
  parseCreds,
  type RegistriesConf,
  RegistryClient,
  RegistryErrorCode,
  resolvePullEndpoints,
  resolvePushEndpoint,
  resolveShortName,
} from '@skiff/registry';
import { throwIfAborted } from './fsutil.js';
import { type ImageName, type OpenOptions, parseImageName, type Transport } from './name.js';

/**
 * The docker:// transport: images in a registry speaking the OCI distribution API, with
 * skopeo's semantics. Sources honour registries.conf (short names, mirrors, remaps, blocked
 * and insecure registries); a destination pushes blobs by digest and the manifest last, so a
 * failed copy never leaves a tag pointing at a partial image.
 */

const PREFIX = 'docker://';

/** Parses `docker://REF` (what follows `docker:`), naming the bad part. */
export function parseDockerName(details: string, text: string): ImageName {
  if (!details.startsWith('//')) {
    throw new SkiffError(
      ErrorCode.InvalidReference,
      `invalid image name "${text}": the docker transport is written docker://REFERENCE`,
    );
  }
  const refText = details.slice(2);
  try {
    return { transport: 'docker', reference: parseReference(refText), text };
  } catch (err) {
    throw new SkiffError(
      ErrorCode.InvalidReference,
      `invalid reference "${refText}" in docker://REF: ${(err as Error).message}`,
      { cause: err },
    );
  }
}

function toName(name: ImageName | string): ImageName {
  if (typeof name !== 'string') return name;
  return parseImageName(name.startsWith(PREFIX) ? name : `${PREFIX}${name}`);
}

function needReference(name: ImageName): Reference {
  if (name.transport !== 'docker' || !name.reference) {
    throw new SkiffError(ErrorCode.InvalidReference, `${name.text} is not a docker:// reference`);
  }
  return name.reference;
}

/** The reference as the user typed it (for short-name detection), when known. */
function typedReference(name: ImageName): string | undefined {
  return name.text.startsWith(PREFIX) ? name.text.slice(PREFIX.length) : undefined;
}

async function loadConf(opts: OpenOptions): Promise<RegistriesConf> {
  const env = opts.env ?? process.env;
  return loadRegistriesConf({
    env: opts.registriesConf ? { ...env, CONTAINERS_REGISTRIES_CONF: opts.registriesConf } : env,
  });
}

/**
 * Fully-qualified references to try for a source. A short name goes through registries.conf
 * (aliases, then unqualified-search-registries, refusing ambiguity in "enforcing" mode); with
 * neither configured it means docker.io, as for skopeo.
 */
function sourceCandidates(name: ImageName, conf: RegistriesConf): string[] {
  const ref = needReference(name);
  const typed = typedReference(name);
  if (typed !== undefined && isShortName(typed)) {
    try {
      return resolveShortName(typed, conf).candidates;
    } catch (err) {
      if (!(isSkiffError(err, RegistryErrorCode.ShortName) && noSearch(conf))) throw err;
    }
  }
  return [formatReference(normalizeReference(ref))];
}

function noSearch(conf: RegistriesConf): boolean {
  return conf.unqualifiedSearchRegistries.length === 0;
}

/** Where a destination short name goes: its registries.conf alias, else docker.io (skopeo). */
function destinationReference(name: ImageName, conf: RegistriesConf): string {
  const ref = needReference(name);
  const typed = typedReference(name);
  if (typed !== undefined && isShortName(typed)) {
    const aliasesOnly = { ...conf, unqualifiedSearchRegistries: [] };
    try {
      const r = resolveShortName(typed, aliasesOnly);
      if (r.kind === 'alias') return r.candidates[0]!;
    } catch (err) {
      if (!isSkiffError(err, RegistryErrorCode.ShortName)) throw err;
    }
  }
  return formatReference(normalizeReference(ref));
}

function newClient(ep: Endpoint, conf: RegistriesConf, opts: OpenOptions): RegistryClient {
  return new RegistryClient({
    registry: ep.registry,
    tlsVerify: opts.tlsVerify ?? !ep.insecure,
    ...(opts.certDir ? { certDir: opts.certDir } : {}),
    credentials: opts.noCreds
      ? null
      : opts.creds
        ? parseCreds(opts.creds, opts.password)
        : undefined,
    credentialOptions: {
      ...(opts.authfile ? { authfile: opts.authfile } : {}),
      ...(opts.env ? { env: opts.env } : {}),
      credentialHelpers: conf.credentialHelpers,
    },
    ...(opts.retryTimes !== undefined ? { retryTimes: opts.retryTimes } : {}),
    ...(opts.retryDelay !== undefined ? { retryDelay: opts.retryDelay } : {}),
  });
}

/** True when the stream fails on its own unless its bytes have the blob's digest. */
function verifiesItself(stream: Readable, info: BlobInfo): boolean {
  return (
    stream instanceof VerifyingStream &&
    info.digest !== '' &&
    stream.expected.digest === info.digest &&
    (info.size < 0 || stream.expected.size === info.size)
  );
}

function isAbort(err: unknown, signal?: AbortSignal): boolean {
  return signal?.aborted === true || isSkiffError(err, ErrorCode.Aborted);
}

/** Reads an image from a registry (or the first of its mirrors that has it). */
export class DockerSource implements ImageSource {
  private closed = false;

  private constructor(
    readonly reference: string,
    /** The endpoint the image is read from: a mirror, the remapped location or the registry. */
    readonly endpoint: Endpoint,
    private readonly client: RegistryClient,
    private readonly top: RawManifest & { digest: string },
  ) {}

  /** "host/path" of the repository blobs are read from (for cross-repository mounts). */
  get blobRepository(): string {
    return `${this.endpoint.registry}/${this.endpoint.repository}`;
  }

  /** The digest of the top-level manifest as the registry served it. */
  get manifestDigest(): string {
    return this.top.digest;
  }

  static async open(name: ImageName, opts: OpenOptions = {}): Promise<DockerSource> {
    const conf = await loadConf(opts);
    const failures: { where: string; err: unknown }[] = [];
    for (const candidate of sourceCandidates(name, conf)) {
      for (const ep of resolvePullEndpoints(conf, candidate)) {
        throwIfAborted(opts.signal);
        const client = newClient(ep, conf, opts);
        try {
          const m = await client.getManifest(ep.repository, ep.ref, {
            ...(opts.signal ? { signal: opts.signal } : {}),
          });
          return new DockerSource(name.text, ep, client, m);
        } catch (err) {
          await client.close().catch(() => {});
          if (isAbort(err, opts.signal)) throw err;
          // A schema 1 image or a digest mismatch is the answer, not a reason to look elsewhere.
          if (
            isSkiffError(err, ErrorCode.UnsupportedManifest) ||
            isSkiffError(err, ErrorCode.DigestMismatch)
          ) {
            throw err;
          }
          failures.push({ where: ep.reference, err });
        }
      }
    }
    if (failures.length === 1) throw failures[0]!.err;
    const last = failures.at(-1)!.err as Error;
    throw new SkiffError(
      isSkiffError(last) ? last.code : RegistryErrorCode.Registry,
      `reading ${name.text}: every location failed: ${failures
        .map((f) => `${f.where}: ${(f.err as Error).message}`)
        .join('; ')}`,
      { cause: last, ...(isSkiffError(last) && last.hint ? { hint: last.hint } : {}) },
    );
  }

  async getManifest(instanceDigest?: string, signal?: AbortSignal): Promise<RawManifest> {
    if (instanceDigest === undefined || instanceDigest === this.top.digest) {
      return { raw: this.top.raw, mediaType: this.top.mediaType };
    }
    const m = await this.client.getManifest(this.endpoint.repository, instanceDigest, {
      ...(signal ? { signal } : {}),
    });
    return { raw: m.raw, mediaType: m.mediaType };
  }

  async getBlob(info: BlobInfo, signal?: AbortSignal): Promise<{ stream: Readable; size: number }> {
    const b = await this.client.getBlob(this.endpoint.repository, info.digest, {
      ...(signal ? { signal } : {}),
      size: info.size,
    });
    return { stream: b.stream, size: b.size };
  }

  /** The repository's tags (at the endpoint the image was found). */
  async listTags(signal?: AbortSignal): Promise<string[]> {
    return this.client.listTags(this.endpoint.repository, signal ? { signal } : {});
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.client.close();
  }
}

/**
 * Pushes an image to a registry. Blobs go first (skipped when present, mounted from another
 * repository of the same registry when the source is there); the manifest PUT is the commit:
 * a copy that fails before it leaves no tag (uploaded blobs may stay, as with skopeo).
 */
export class DockerDestination implements ImageDestination {
  readonly layerFormat = 'compressed' as const;
  readonly acceptsIndex = true;
  private closed = false;
  /** The digest of the top-level manifest once it was pushed. */
  manifestDigest: string | undefined;

  private constructor(
    readonly reference: string,
    /** Where the push goes (registries.conf remaps applied; never a mirror). */
    readonly endpoint: Endpoint,
    private readonly tag: string | undefined,
    private readonly digest: string | undefined,
    private readonly client: RegistryClient,
  ) {}

  static async open(name: ImageName, opts: OpenOptions = {}): Promise<DockerDestination> {
    const conf = await loadConf(opts);
    const target = destinationReference(name, conf);
    const parsed = parseReference(target);
    if (parsed.tag !== undefined && parsed.digest !== undefined) {
      throw new SkiffError(
        ErrorCode.InvalidReference,
        `${name.text}: a destination can not have both a tag and a digest`,
        { hint: 'push to docker://NAME:TAG or docker://NAME@DIGEST' },
      );
    }
    const ep = resolvePushEndpoint(conf, target);
    return new DockerDestination(
      name.text,
      ep,
      parsed.tag,
      parsed.digest,
      newClient(ep, conf, opts),
    );
  }

  /** "host/path" of the repository written to. */
  get repository(): string {
    return `${this.endpoint.registry}/${this.endpoint.repository}`;
  }

  supportedManifestMediaTypes(): readonly string[] {
    return [
      MediaType.OciManifest,
      MediaType.DockerManifest,
      MediaType.OciIndex,
      MediaType.DockerManifestList,
    ];
  }

  async hasBlob(info: BlobInfo, signal?: AbortSignal): Promise<boolean> {
    if (!info.digest) return false;
    return this.client.hasBlob(this.endpoint.repository, info.digest, signal ? { signal } : {});
  }

  /** Mounts the blob from the source's repository when that is on this registry. */
  async tryReuseBlob(info: BlobInfo, signal?: AbortSignal): Promise<boolean> {
    const from = info.sourceRepository;
    if (!from || !info.digest) return false;
    const slash = from.indexOf('/');
    const host = from.slice(0, slash);
    const path = from.slice(slash + 1);
    if (slash <= 0 || host !== this.endpoint.registry || path === this.endpoint.repository) {
      return false;
    }
    try {
      return await this.client.mountBlob(
        this.endpoint.repository,
        info.digest,
        path,
        signal ? { signal } : {},
      );
    } catch (err) {
      if (isAbort(err, signal)) throw err;
      // A refused mount (no pull access to the other repository, ...) falls back to an upload.
      return false;
    }
  }

  async putBlob(stream: Readable, info: BlobInfo, signal?: AbortSignal): Promise<BlobInfo> {
    const res = await this.client.putBlob(this.endpoint.repository, stream, {
      ...(info.digest ? { digest: info.digest } : {}),
      ...(info.size >= 0 ? { size: info.size } : {}),
      ...(verifiesItself(stream, info) ? { streamVerifiesDigest: true } : {}),
      ...(signal ? { signal } : {}),
    });
    return {
      digest: res.digest,
      size: res.size,
      ...(info.mediaType ? { mediaType: info.mediaType } : {}),
    };
  }

  async putManifest(
    manifest: RawManifest,
    instanceDigest?: string,
    signal?: AbortSignal,
  ): Promise<void> {
    const opts = signal ? { signal } : {};
    const repo = this.endpoint.repository;
    if (instanceDigest !== undefined) {
      await this.client.putManifest(repo, instanceDigest, manifest.raw, manifest.mediaType, opts);
      return;
    }
    const actual = digestOf(
      manifest.raw,
      this.digest ? parseDigest(this.digest).algorithm : 'sha256',
    );
    if (this.digest !== undefined && actual !== this.digest) {
      throw new SkiffError(
        ErrorCode.DigestMismatch,
        `${this.reference}: the manifest to push has digest ${actual}, not the ${this.digest} the destination names`,
        { hint: 'push by tag, or copy with options that keep the manifest unchanged' },
      );
    }
    const ref = this.digest ?? this.tag ?? 'latest';
    const stored = await this.client.putManifest(repo, ref, manifest.raw, manifest.mediaType, opts);
    if (stored !== actual && stored.startsWith(`${parseDigest(actual).algorithm}:`)) {
      throw new SkiffError(
        ErrorCode.DigestMismatch,
        `${this.reference}: the registry stored the manifest as ${stored}, but it has digest ${actual}`,
      );
    }
    this.manifestDigest = actual;
  }

  /** Nothing to do: the manifest PUT made the image visible. */
  async commit(signal?: AbortSignal): Promise<void> {
    throwIfAborted(signal);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.client.close();
  }
}

/**
 * The tags of a registry repository (skopeo list-tags): `docker://REPO` or a bare reference,
 * without tag or digest. Reads from the registry's (possibly remapped) location, not mirrors.
 */
export async function listRegistryTags(
  name: ImageName | string,
  opts: OpenOptions = {},
): Promise<string[]> {
  const parsed = toName(name);
  const ref = needReference(parsed);
  if (ref.tag !== undefined || ref.digest !== undefined) {
    throw new SkiffError(
      ErrorCode.InvalidReference,
      `${parsed.text}: listing tags takes a repository, without a tag or digest`,
    );
  }
  const conf = await loadConf(opts);
  const ep = resolvePushEndpoint(conf, destinationReference(parsed, conf));
  const client = newClient(ep, conf, opts);
  try {
    return await client.listTags(ep.repository, opts.signal ? { signal: opts.signal } : {});
  } finally {
    await client.close();
  }
}

/**
 * Deletes an image's manifest from a registry (skopeo delete): `docker://REF` or a bare
 * reference, by tag or digest. The registry deletes by digest, so every tag pointing at that
 * manifest goes too. Goes to the registry's (possibly remapped) location, never a mirror.
 * A failed delete says which image it was deleting.
 */
export async function deleteRegistryImage(
  name: ImageName | string,
  opts: OpenOptions = {},
): Promise<void> {
  const parsed = toName(name);
  const ref = needReference(parsed);
  const conf = await loadConf(opts);
  const ep = resolvePushEndpoint(conf, formatReference(normalizeReference(ref)));
  const client = newClient(ep, conf, opts);
  try {
    await client.deleteManifest(ep.repository, ep.ref, opts.signal ? { signal: opts.signal } : {});
  } catch (err) {
    let message = (err as Error).message;
    // The registry answers a HEAD for an unknown tag with a bare 404: say what it means.
    if (isSkiffError(err, ErrorCode.ManifestUnknown) && !/manifest unknown/i.test(message)) {
      message += ', manifest unknown';
    }
    throw new SkiffError(
      isSkiffError(err) ? err.code : RegistryErrorCode.Registry,
      `deleting image ${parsed.text}: ${message}`,
      { cause: err, ...(isSkiffError(err) && err.hint ? { hint: err.hint } : {}) },
    );
  } finally {
    await client.close();
  }
}

export const dockerTransport: Transport = {
  name: 'docker',
  parse: parseDockerName,
  openSource: (name, opts) => DockerSource.open(name, opts),
  openDestination: (name, opts) => DockerDestination.open(name, opts),
};
