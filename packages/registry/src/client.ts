import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { setFlagsFromString } from 'node:v8';
import {
  ErrorCode,
  isSchema1MediaType,
  MediaType,
  parseDigest,
  SkiffError,
} from '@skiff/oci-image';
import type { Agent as AgentType, Dispatcher } from 'undici';
// The Agent alone, not undici's index (see http.ts).
// @ts-expect-error undici ships no types for its internal modules
import AgentImpl from 'undici/lib/dispatcher/agent.js';
import { type CredentialOptions, type Credentials, getCredentials } from './credentials.js';
import {
  parseErrorBody,
  RegistryError,
  RegistryErrorCode,
  type RegistryErrorInit,
  redact,
  registerSecret,
} from './errors.js';
import { type AuthChallenge, headerValue, nextLink, parseWwwAuthenticate } from './headers.js';
import {
  abortedError,
  backoffDelay,
  defaultRetryPolicy,
  type HttpRequest,
  type HttpResponse,
  isAbortError,
  isRetryableNetworkError,
  type RequestBody,
  type RetryPolicy,
  readLimited,
  sendWithRetry,
  wait,
} from './http.js';
import { caList, loadTlsFiles } from './tls.js';

/** Manifest media types the client asks for, preferred first. Schema1 is asked for only to refuse it clearly. */
export const MANIFEST_ACCEPT: readonly string[] = [
  MediaType.OciIndex,
  MediaType.OciManifest,
  MediaType.DockerManifestList,
  MediaType.DockerManifest,
  `${MediaType.DockerSchema1Signed};q=0.1`,
  `${MediaType.DockerSchema1};q=0.1`,
];

/** Manifests larger than this are refused (as containers/image does). */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
const DEFAULT_CHUNK_SIZE = 8 * 1024 * 1024;

const REPO_NAME =
  /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const DIGEST = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

export interface RegistryClientOptions {
  /** Registry host, "host[:port]"; "docker.io" talks to registry-1.docker.io. */
  registry: string;
  /**
   * false: use https without certificate verification, falling back to plain http (skopeo's
   * --tls-verify=false, registries.conf `insecure = true`). Default true: https only.
   */
  tlsVerify?: boolean;
  /** A directory of `*.crt` CAs and `*.cert`/`*.key` client pairs; replaces the certs.d lookup. */
  certDir?: string;
  /** Roots searched for `<root>/<host:port>/` (default ~/.config/containers/certs.d, /etc/containers/certs.d, /etc/docker/certs.d). */
  certsRoots?: readonly string[];
  /** Credentials to use; `null` forces anonymous access; undefined looks them up per repository. */
  credentials?: Credentials | null;
  /** How to look credentials up (auth files, helpers, env) when `credentials` is undefined. */
  credentialOptions?: CredentialOptions;
  retryTimes?: number;
  retryDelay?: number;
  maxRetryDelay?: number;
  /** Bytes per upload PATCH (each chunk is held in memory so that it can be re-sent). */
  chunkSize?: number;
  userAgent?: string;
  /** Called before each retry; for progress/debug output. */
  onRetry?: (info: { operation: string; attempt: number; delay: number; reason: string }) => void;
}

export interface ManifestResult {
  raw: Uint8Array;
  mediaType: string;
  digest: string;
}

export interface ManifestDescriptor {
  digest: string;
  mediaType: string;
  size: number;
}

export interface BlobStream {
  stream: Readable;
  /** From Content-Length, else the caller's `size`, else -1. */
  size: number;
}

export interface PutBlobOptions {
  /** Expected digest; the upload fails (and is cancelled) when the bytes differ. */
  digest?: string;
  /** Expected size, or -1/undefined when unknown. */
  size?: number;
  /** Try a cross-repository mount from this repository first. */
  mountFrom?: string;
  /**
   * The stream itself fails unless its bytes have `digest` and `size` (a VerifyingStream), so
   * it is not hashed again here.
   */
  streamVerifiesDigest?: boolean;
  signal?: AbortSignal;
}

export interface PutBlobResult {
  digest: string;
  size: number;
  /** True when the registry mounted the blob and no bytes were sent. */
  mounted: boolean;
}

interface Operation {
  operation: string;
  repo?: string;
  reference?: string;
  /** Token scopes the request needs, e.g. "repository:a/b:pull". */
  scopes: string[];
  signal?: AbortSignal | undefined;
}

interface CachedToken {
  token: string;
  expiresAt: number;
}

type AuthScheme =
  | { kind: 'none' }
  | { kind: 'basic' }
  | { kind: 'bearer'; realm: string; service: string | undefined };

function pull(repo: string): string {
  return `repository:${repo}:pull`;
}
function pullPush(repo: string): string {
  return `repository:${repo}:pull,push`;
}

function checkRepo(repo: string): void {
  if (!REPO_NAME.test(repo) || repo.length > 255) {
    throw new SkiffError(ErrorCode.InvalidReference, `invalid repository name "${repo}"`);
  }
}
function checkRef(ref: string): void {
  if (ref.includes(':')) {
    parseDigest(ref);
    return;
  }
  if (!TAG.test(ref)) {
    throw new SkiffError(ErrorCode.InvalidReference, `invalid tag or digest "${ref}"`);
  }
}
function checkDigest(digest: string): void {
  parseDigest(digest);
}
function isDigestRef(ref: string): boolean {
  return ref.includes(':');
}
function refSep(ref: string): string {
  return isDigestRef(ref) ? '@' : ':';
}
function sha256(data: Uint8Array): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}
function digestOfAlgorithm(digest: string, data: Uint8Array): string | undefined {
  const alg = digest.slice(0, digest.indexOf(':'));
  if (alg !== 'sha256' && alg !== 'sha512') return undefined;
  return `${alg}:${createHash(alg).update(data).digest('hex')}`;
}

/** Merges scopes: actions of the same resource are united ("repository:a:pull" + "...:push"). */
export function mergeScopes(...lists: readonly string[][]): string[] {
  const byResource = new Map<string, Set<string>>();
  for (const scope of lists.flat()) {
    const last = scope.lastIndexOf(':');
    if (last <= 0) continue;
    const resource = scope.slice(0, last);
    const set = byResource.get(resource) ?? new Set<string>();
    for (const a of scope.slice(last + 1).split(',')) if (a) set.add(a);
    byResource.set(resource, set);
  }
  return [...byResource.entries()]
    .map(([resource, actions]) => `${resource}:${[...actions].sort().join(',')}`)
    .sort();
}

const Agent = AgentImpl as typeof AgentType;

// undici parses HTTP with a WebAssembly llhttp. V8 recompiles its hot functions with TurboFan in
// the background, and Node waits for that at exit: a quarter second added to every short command
// (inspect, list-tags). A higher tier-up budget leaves that to long transfers, where it pays.
setFlagsFromString('--wasm-tiering-budget=100000000');

/** Bytes an upload reads ahead of what the registry has taken. */
const READ_AHEAD = 2 * 1024 * 1024;

function prematureClose(): Error {
  return Object.assign(new Error('Premature close'), { code: 'ERR_STREAM_PREMATURE_CLOSE' });
}

/**
 * Reads a stream piece by piece as it emits them. Unlike the async iterator, which joins
 * everything buffered into one new Buffer on each read, it passes pieces on without copying.
 */
function pieceReader(
  stream: Readable,
  highWater: number,
): { next(): Promise<Buffer | undefined>; destroy(): void } {
  const queue: Buffer[] = [];
  let queued = 0;
  let ended = false;
  let failure: { err: unknown } | undefined;
  let waiter: (() => void) | undefined;
  const wake = () => {
    const w = waiter;
    waiter = undefined;
    w?.();
  };
  // The stream may have failed or ended before anyone listened (a tiny blob whose digest check
  // failed while the upload was being opened).
  if (stream.errored) failure = { err: stream.errored };
  else if (stream.readableEnded) ended = true;
  else if (stream.destroyed) failure = { err: prematureClose() };
  stream.on('data', (c: Buffer | string) => {
    const b = typeof c === 'string' ? Buffer.from(c) : c;
    queue.push(b);
    queued += b.length;
    if (queued >= highWater) stream.pause();
    wake();
  });
  stream.once('end', () => {
    ended = true;
    wake();
  });
  stream.once('error', (err) => {
    failure ??= { err };
    wake();
  });
  stream.once('close', () => {
    if (!ended) failure ??= { err: prematureClose() };
    wake();
  });
  return {
    async next() {
      for (;;) {
        const b = queue.shift();
        if (b) {
          queued -= b.length;
          if (queued < highWater && stream.isPaused() && !ended) stream.resume();
          return b;
        }
        if (failure) throw failure.err;
        if (ended) return undefined;
        await new Promise<void>((resolve) => {
          waiter = resolve;
        });
      }
    },
    destroy() {
      stream.destroy();
    },
  };
}

/**
 * A client for one registry host speaking the OCI distribution / Docker registry v2 API.
 * Everything streams; every method takes an AbortSignal; errors are RegistryErrors.
 */
export class RegistryClient {
  readonly registry: string;
  private readonly apiHost: string;
  private readonly tlsVerify: boolean;
  private readonly policy: RetryPolicy;
  private readonly chunkSize: number;
  private readonly userAgent: string;
  private base: string | undefined;
  private pinging: Promise<void> | undefined;
  private auth: AuthScheme = { kind: 'none' };
  private dispatcher: Dispatcher | undefined;
  private readonly tokens = new Map<string, CachedToken>();
  private readonly creds = new Map<string, Promise<Credentials | undefined>>();

  constructor(private readonly options: RegistryClientOptions) {
    this.registry = options.registry;
    this.apiHost = options.registry === 'docker.io' ? 'registry-1.docker.io' : options.registry;
    this.tlsVerify = options.tlsVerify ?? true;
    this.policy = {
      retryTimes: options.retryTimes ?? defaultRetryPolicy.retryTimes,
      retryDelay: options.retryDelay ?? defaultRetryPolicy.retryDelay,
      maxRetryDelay: options.maxRetryDelay ?? defaultRetryPolicy.maxRetryDelay,
    };
    this.chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
    this.userAgent = options.userAgent ?? 'skiff/0.1';
    if (options.credentials) {
      registerSecret(options.credentials.password);
      registerSecret(options.credentials.identityToken);
    }
  }

  /** Closes pooled connections. The client can not be used afterwards. */
  async close(): Promise<void> {
    const d = this.dispatcher;
    this.dispatcher = undefined;
    if (d) await d.close();
  }

  // ---- connection set-up -------------------------------------------------------------------

  private async getDispatcher(): Promise<Dispatcher> {
    if (this.dispatcher) return this.dispatcher;
    const files = await loadTlsFiles(this.apiHost, {
      ...(this.options.certDir ? { certDir: this.options.certDir } : {}),
      ...(this.options.certsRoots ? { certsRoots: this.options.certsRoots } : {}),
      ...(this.options.credentialOptions?.env ? { env: this.options.credentialOptions.env } : {}),
    });
    const ca = caList(files);
    this.dispatcher ??= new Agent({
      connect: {
        ...(ca ? { ca } : {}),
        ...(files.cert ? { cert: files.cert, key: files.key } : {}),
        rejectUnauthorized: this.tlsVerify,
      },
    });
    return this.dispatcher;
  }

  /** Checks that the registry speaks v2 and learns its auth scheme. */
  async ping(signal?: AbortSignal): Promise<void> {
    this.pinging ??= this.doPing(signal).catch((err) => {
      this.pinging = undefined;
      throw err;
    });
    return this.pinging;
  }

  private async doPing(signal?: AbortSignal): Promise<void> {
    const dispatcher = await this.getDispatcher();
    const schemes = this.tlsVerify ? ['https'] : ['https', 'http'];
    let lastErr: unknown;
    for (const [i, scheme] of schemes.entries()) {
      const base = `${scheme}://${this.apiHost}`;
      const last = i === schemes.length - 1;
      try {
        const res = await sendWithRetry(
          dispatcher,
          {
            method: 'GET',
            url: `${base}/v2/`,
            headers: { 'user-agent': this.userAgent },
            signal,
          },
          // A failing https attempt before the http fallback is not worth retrying.
          last ? this.policy : { ...this.policy, retryTimes: 0 },
          (info) => this.options.onRetry?.({ operation: 'ping', ...info }),
        );
        await res.body.dump().catch(() => {});
        if (res.statusCode >= 500 && !last) continue;
        this.base = base;
        this.auth = authSchemeOf(res);
        return;
      } catch (err) {
        if (isAbortError(err)) throw err;
        lastErr = err;
      }
    }
    throw new RegistryError({
      operation: 'pinging container registry',
      registry: this.registry,
      cause: lastErr,
      retryable: isRetryableNetworkError(lastErr),
    });
  }

  // ---- credentials and tokens ----------------------------------------------------------------

  private credentialsFor(repo: string | undefined): Promise<Credentials | undefined> {
    if (this.options.credentials !== undefined) {
      return Promise.resolve(this.options.credentials ?? undefined);
    }
    const key = repo ? `${this.registry}/${repo}` : this.registry;
    let p = this.creds.get(key);
    if (!p) {
      p = getCredentials(key, this.options.credentialOptions ?? {});
      p.catch(() => this.creds.delete(key));
      this.creds.set(key, p);
    }
    return p;
  }

  private tokenKey(creds: Credentials | undefined, scopes: string[]): string {
    return `${creds ? `${creds.source}\u0000${creds.username}` : ''}\u0000${scopes.join(' ')}`;
  }

  /** Fetches a bearer token for `scopes` from the realm (GET with basic auth, or POST oauth with a refresh token). */
  private async fetchToken(
    realm: string,
    service: string | undefined,
    scopes: string[],
    creds: Credentials | undefined,
    op: Operation,
  ): Promise<CachedToken> {
    const dispatcher = await this.getDispatcher();
    const headers: Record<string, string> = { 'user-agent': this.userAgent };
    let req: HttpRequest;
    if (creds?.identityToken) {
      const form = new URLSearchParams({
        grant_type: 'refresh_token',
        refresh_token: creds.identityToken,
        client_id: 'skiff',
      });
      if (service) form.set('service', service);
      if (scopes.length) form.set('scope', scopes.join(' '));
      headers['content-type'] = 'application/x-www-form-urlencoded';
      req = { method: 'POST', url: realm, headers, body: form.toString(), signal: op.signal };
    } else {
      const url = new URL(realm);
      if (service) url.searchParams.set('service', service);
      for (const s of scopes) url.searchParams.append('scope', s);
      if (creds) {
        url.searchParams.set('account', creds.username);
        headers.authorization = `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`;
      }
      req = { method: 'GET', url: url.toString(), headers, signal: op.signal };
    }
    let res: HttpResponse;
    try {
      res = await sendWithRetry(dispatcher, req, this.policy);
    } catch (err) {
      if (isAbortError(err)) throw err;
      throw new RegistryError({
        operation: `getting a token from ${new URL(realm).host} for`,
        registry: this.registry,
        ...(op.repo ? { reference: op.repo } : {}),
        cause: err,
        retryable: isRetryableNetworkError(err),
      });
    }
    const text = (await readLimited(res, 1024 * 1024, 'token response')).toString('utf8');
    if (res.statusCode !== 200) {
      throw new RegistryError({
        operation: `${op.operation}: authenticating to`,
        registry: this.registry,
        ...(op.repo ? { reference: op.repo } : {}),
        status: res.statusCode,
        errors: parseErrorBody(text),
        code:
          res.statusCode === 401 || res.statusCode === 403
            ? RegistryErrorCode.Unauthorized
            : undefined,
        message: `${op.operation} ${this.registry}${op.repo ? `/${op.repo}` : ''}: unauthorized: the token server ${new URL(realm).host} answered HTTP ${res.statusCode}${creds ? ` for user ${JSON.stringify(creds.username)}` : ' (no credentials)'}`,
      });
    }
    let body: { token?: string; access_token?: string; expires_in?: number };
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      throw new RegistryError({
        operation: `${op.operation}: authenticating to`,
        registry: this.registry,
        status: res.statusCode,
        message: `token server ${new URL(realm).host} returned no JSON`,
      });
    }
    const token = body.token || body.access_token;
    if (!token) {
      throw new RegistryError({
        operation: `${op.operation}: authenticating to`,
        registry: this.registry,
        status: res.statusCode,
        message: `token server ${new URL(realm).host} returned no token`,
      });
    }
    registerSecret(token);
    // Tokens live at least 60 s per the spec; renew 10 s early.
    const lifetime =
      typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : 60;
    return { token, expiresAt: Date.now() + Math.max(5, lifetime - 10) * 1000 };
  }

  private async bearerToken(scopes: string[], op: Operation, force = false): Promise<string> {
    if (this.auth.kind !== 'bearer') throw new Error('not a bearer registry');
    const creds = await this.credentialsFor(op.repo);
    const key = this.tokenKey(creds, scopes);
    const cached = this.tokens.get(key);
    if (!force && cached && cached.expiresAt > Date.now()) return cached.token;
    const fresh = await this.fetchToken(this.auth.realm, this.auth.service, scopes, creds, op);
    this.tokens.set(key, fresh);
    return fresh.token;
  }

  private async authorization(
    url: string,
    scopes: string[],
    op: Operation,
    force = false,
  ): Promise<string | undefined> {
    // Credentials go only to the registry itself, never to a host it redirects to.
    if (!this.base || new URL(url).origin !== new URL(this.base).origin) return undefined;
    if (this.auth.kind === 'basic') {
      const creds = await this.credentialsFor(op.repo);
      if (!creds) return undefined;
      return `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`;
    }
    if (this.auth.kind === 'bearer') return `Bearer ${await this.bearerToken(scopes, op, force)}`;
    return undefined;
  }

  // ---- requests ------------------------------------------------------------------------------

  /**
   * Sends a request with auth and retries: on a 401 it learns the scope the registry wants
   * (insufficient_scope), fetches a token for the merged scopes and tries once more.
   */
  private async send(
    op: Operation,
    req: {
      method: string;
      url: string;
      headers?: Record<string, string>;
      /** A body, or a function making the body of each attempt (for streamed bodies). */
      body?: RequestBody | (() => RequestBody | Promise<RequestBody>);
    },
  ): Promise<HttpResponse> {
    await this.ping(op.signal);
    const dispatcher = await this.getDispatcher();
    let scopes = op.scopes;
    let forceToken = false;
    for (let authAttempt = 0; ; authAttempt++) {
      let res: HttpResponse;
      try {
        res = await sendWithRetry(
          dispatcher,
          async () => {
            const headers: Record<string, string> = {
              'user-agent': this.userAgent,
              ...req.headers,
            };
            const authz = await this.authorization(req.url, scopes, op, forceToken);
            forceToken = false;
            if (authz) headers.authorization = authz;
            const body = typeof req.body === 'function' ? await req.body() : req.body;
            return { method: req.method, url: req.url, headers, body, signal: op.signal };
          },
          this.policy,
          (info) => this.options.onRetry?.({ operation: op.operation, ...info }),
        );
      } catch (err) {
        if (isAbortError(err) || err instanceof SkiffError) throw err;
        throw this.error(op, { cause: err, retryable: isRetryableNetworkError(err) });
      }
      if (res.statusCode !== 401 || authAttempt > 0) return res;
      const challenges = parseWwwAuthenticate(res.headers['www-authenticate']);
      const bearer = challenges.find((c) => c.scheme === 'bearer');
      if (bearer?.params.realm) {
        // The registry may use a different realm than /v2/ announced; follow what it says now.
        this.auth = { kind: 'bearer', realm: bearer.params.realm, service: bearer.params.service };
        const wanted = (bearer.params.scope ?? '').split(' ').filter(Boolean);
        scopes = mergeScopes(scopes, wanted);
        forceToken = true;
        await res.body.dump().catch(() => {});
        continue;
      }
      if (challenges.some((c) => c.scheme === 'basic') && this.auth.kind !== 'basic') {
        this.auth = { kind: 'basic' };
        if (await this.credentialsFor(op.repo)) {
          await res.body.dump().catch(() => {});
          continue;
        }
      }
      return res;
    }
  }

  private async url(op: Operation, path: string, query?: Record<string, string>): Promise<string> {
    await this.ping(op.signal);
    if (!this.base) throw new Error('registry not pinged');
    const u = new URL(`${this.base}${path}`);
    for (const [k, v] of Object.entries(query ?? {})) u.searchParams.set(k, v);
    return u.toString();
  }

  private error(op: Operation, init: Partial<RegistryErrorInit>): RegistryError {
    return new RegistryError({
      operation: op.operation,
      registry: this.registry,
      ...(op.reference ? { reference: op.reference } : op.repo ? { reference: op.repo } : {}),
      ...init,
    });
  }

  /** Turns an unexpected response into a RegistryError, reading the registry's error body. */
  private async fail(op: Operation, res: HttpResponse): Promise<never> {
    let text = '';
    try {
      text = (await readLimited(res, 64 * 1024, 'error body')).toString('utf8');
    } catch {
      // the status alone must do
    }
    const errors = parseErrorBody(text);
    let code: string | undefined;
    if (res.statusCode === 401) {
      const challenge = parseWwwAuthenticate(res.headers['www-authenticate']).find(
        (c) => c.scheme === 'bearer',
      );
      const creds = await this.credentialsFor(op.repo).catch(() => undefined);
      // A token for exactly the needed scope that still lacks it: the user may not do this.
      if (challenge?.params.error === 'insufficient_scope' && creds)
        code = RegistryErrorCode.Denied;
    }
    throw this.error(op, {
      status: res.statusCode,
      errors,
      ...(code ? { code } : {}),
      ...(errors.length === 0 && text && res.statusCode >= 400
        ? {
            errors: [
              { code: `HTTP_${res.statusCode}`, message: redact(text.trim().slice(0, 200)) },
            ],
          }
        : {}),
    });
  }

  /** Follows redirects (for blobs in external storage); credentials never follow to another host. */
  private async sendFollowing(
    op: Operation,
    req: { method: string; url: string; headers?: Record<string, string> },
  ): Promise<{ res: HttpResponse; url: string }> {
    let url = req.url;
    for (let hops = 0; hops <= 10; hops++) {
      const res = await this.send(op, { ...req, url });
      if (![301, 302, 303, 307, 308].includes(res.statusCode)) return { res, url };
      const location = headerValue(res.headers.location);
      await res.body.dump().catch(() => {});
      if (!location)
        throw this.error(op, {
          status: res.statusCode,
          message: `${op.operation}: redirect without Location`,
        });
      url = new URL(location, url).toString();
    }
    throw this.error(op, { message: `${op.operation} ${this.registry}: too many redirects` });
  }

  // ---- manifests -----------------------------------------------------------------------------

  /** Fetches a manifest or index by tag or digest, with its exact bytes. Schema1 is refused. */
  async getManifest(
    repo: string,
    ref: string,
    opts: { signal?: AbortSignal; accept?: readonly string[] } = {},
  ): Promise<ManifestResult> {
    checkRepo(repo);
    checkRef(ref);
    const op: Operation = {
      operation: 'get manifest',
      repo,
      reference: `${repo}${refSep(ref)}${ref}`,
      scopes: [pull(repo)],
      signal: opts.signal,
    };
    const { res } = await this.sendFollowing(op, {
      method: 'GET',
      url: await this.url(op, `/v2/${repo}/manifests/${ref}`),
      headers: { accept: (opts.accept ?? MANIFEST_ACCEPT).join(', ') },
    });
    if (res.statusCode !== 200) return this.fail(op, res);
    const raw = new Uint8Array(
      await readLimited(res, MAX_MANIFEST_BYTES, `manifest ${op.reference}`),
    );
    let mediaType = (headerValue(res.headers['content-type']) ?? '')
      .split(';')[0]!
      .trim()
      .toLowerCase();
    if (!mediaType || mediaType === 'application/json' || mediaType === 'text/plain') {
      mediaType = sniffMediaType(raw) ?? mediaType;
    }
    if (isSchema1MediaType(mediaType) || isSchema1MediaType(sniffMediaType(raw))) {
      throw new SkiffError(
        ErrorCode.UnsupportedManifest,
        `${this.registry}/${op.reference} is a Docker schema 1 manifest, which Skiff does not support`,
        {
          hint: 'schema 1 is deprecated; re-push the image with a current tool (v2 schema 2 or OCI)',
        },
      );
    }
    if (isDigestRef(ref)) {
      const actual = digestOfAlgorithm(ref, raw);
      if (actual !== undefined && actual !== ref) {
        throw new SkiffError(
          ErrorCode.DigestMismatch,
          `manifest ${this.registry}/${op.reference}: registry returned content with digest ${actual}`,
        );
      }
      return { raw, mediaType, digest: ref };
    }
    return { raw, mediaType, digest: sha256(raw) };
  }

  /** Digest, media type and size of a manifest, or undefined when the registry does not have it. */
  async headManifest(
    repo: string,
    ref: string,
    opts: { signal?: AbortSignal } = {},
  ): Promise<ManifestDescriptor | undefined> {
    checkRepo(repo);
    checkRef(ref);
    const op: Operation = {
      operation: 'head manifest',
      repo,
      reference: `${repo}${refSep(ref)}${ref}`,
      scopes: [pull(repo)],
      signal: opts.signal,
    };
    const { res } = await this.sendFollowing(op, {
      method: 'HEAD',
      url: await this.url(op, `/v2/${repo}/manifests/${ref}`),
      headers: { accept: MANIFEST_ACCEPT.join(', ') },
    });
    await res.body.dump().catch(() => {});
    if (res.statusCode === 404) return undefined;
    if (res.statusCode !== 200) return this.fail(op, res);
    const digest = headerValue(res.headers['docker-content-digest']);
    const mediaType = (headerValue(res.headers['content-type']) ?? '').split(';')[0]!.trim();
    const size = Number(headerValue(res.headers['content-length']) ?? -1);
    if (digest && DIGEST.test(digest)) return { digest, mediaType, size };
    // Some registries omit the digest on HEAD: fetch and hash.
    const m = await this.getManifest(repo, ref, opts);
    return { digest: m.digest, mediaType: m.mediaType, size: m.raw.length };
  }

  /** Stores a manifest under a tag or its digest; returns the digest the registry reports. */
  async putManifest(
    repo: string,
    ref: string,
    raw: Uint8Array,
    mediaType: string,
    opts: { signal?: AbortSignal } = {},
  ): Promise<string> {
    checkRepo(repo);
    checkRef(ref);
    const digest = isDigestRef(ref) ? (digestOfAlgorithm(ref, raw) ?? ref) : sha256(raw);
    if (isDigestRef(ref) && digest !== ref) {
      throw new SkiffError(
        ErrorCode.DigestMismatch,
        `manifest to push as ${repo}@${ref} has digest ${digest}`,
      );
    }
    const op: Operation = {
      operation: 'put manifest',
      repo,
      reference: `${repo}${refSep(ref)}${ref}`,
      scopes: [pullPush(repo)],
      signal: opts.signal,
    };
    const res = await this.send(op, {
      method: 'PUT',
      url: await this.url(op, `/v2/${repo}/manifests/${ref}`),
      headers: { 'content-type': mediaType },
      body: raw,
    });
    if (res.statusCode !== 201 && res.statusCode !== 200 && res.statusCode !== 202)
      return this.fail(op, res);
    await res.body.dump().catch(() => {});
    const reported = headerValue(res.headers['docker-content-digest']);
    return reported && DIGEST.test(reported) ? reported : digest;
  }

  /**
   * Deletes a manifest. A tag is first resolved to its digest (the API deletes by digest,
   * which removes every tag that points at it, as `skopeo delete` does).
   */
  async deleteManifest(
    repo: string,
    ref: string,
    opts: { signal?: AbortSignal } = {},
  ): Promise<string> {
    checkRepo(repo);
    checkRef(ref);
    let digest = ref;
    if (!isDigestRef(ref)) {
      const head = await this.headManifest(repo, ref, opts);
      if (!head) {
        throw this.error(
          { operation: 'delete manifest', repo, reference: `${repo}:${ref}`, scopes: [] },
          { status: 404, code: RegistryErrorCode.ManifestUnknown },
        );
      }
      digest = head.digest;
    }
    const op: Operation = {
      operation: 'delete manifest',
      repo,
      reference: `${repo}@${digest}`,
      scopes: mergeScopes([pullPush(repo)], [`repository:${repo}:delete`]),
      signal: opts.signal,
    };
    const res = await this.send(op, {
      method: 'DELETE',
      url: await this.url(op, `/v2/${repo}/manifests/${digest}`),
    });
    if (res.statusCode === 405) {
      await res.body.dump().catch(() => {});
      throw this.error(op, {
        status: 405,
        code: RegistryErrorCode.Unsupported,
        hint: 'the registry does not allow deletes (distribution: storage.delete.enabled)',
      });
    }
    if (res.statusCode !== 202 && res.statusCode !== 200 && res.statusCode !== 204)
      return this.fail(op, res);
    await res.body.dump().catch(() => {});
    return digest;
  }

  // ---- blobs ---------------------------------------------------------------------------------

  /** The blob's size when the registry has it, else undefined. */
  async statBlob(
    repo: string,
    digest: string,
    opts: { signal?: AbortSignal } = {},
  ): Promise<{ size: number } | undefined> {
    checkRepo(repo);
    checkDigest(digest);
    const op: Operation = {
      operation: 'head blob',
      repo,
      reference: `${repo}@${digest}`,
      scopes: [pull(repo)],
      signal: opts.signal,
    };
    const { res } = await this.sendFollowing(op, {
      method: 'HEAD',
      url: await this.url(op, `/v2/${repo}/blobs/${digest}`),
    });
    await res.body.dump().catch(() => {});
    if (res.statusCode === 404) return undefined;
    if (res.statusCode !== 200) return this.fail(op, res);
    return { size: Number(headerValue(res.headers['content-length']) ?? -1) };
  }

  async hasBlob(
    repo: string,
    digest: string,
    opts: { signal?: AbortSignal } = {},
  ): Promise<boolean> {
    return (await this.statBlob(repo, digest, opts)) !== undefined;
  }

  /**
   * Streams a blob. Follows redirects to blob storage (without the registry's credentials). A
   * connection lost mid-body is resumed with an HTTP Range request, transparently; the caller
   * verifies the digest.
   */
  async getBlob(
    repo: string,
    digest: string,
    opts: { signal?: AbortSignal; size?: number } = {},
  ): Promise<BlobStream> {
    checkRepo(repo);
    checkDigest(digest);
    const op: Operation = {
      operation: 'get blob',
      repo,
      reference: `${repo}@${digest}`,
      scopes: [pull(repo)],
      signal: opts.signal,
    };
    const url = await this.url(op, `/v2/${repo}/blobs/${digest}`);
    const first = (await this.sendFollowing(op, { method: 'GET', url })).res;
    if (first.statusCode !== 200) return this.fail(op, first);
    const length = Number(headerValue(first.headers['content-length']));
    const size = Number.isFinite(length) ? length : (opts.size ?? -1);
    const policy = this.policy;
    const self = this;

    async function* body(): AsyncGenerator<Buffer> {
      let current: HttpResponse = first;
      let received = 0;
      let resumes = 0;
      try {
        for (;;) {
          try {
            for await (const chunk of current.body) {
              received += (chunk as Buffer).length;
              yield chunk as Buffer;
            }
            if (size >= 0 && received < size) {
              throw Object.assign(new Error(`blob body ended after ${received} of ${size} bytes`), {
                code: 'E_PREMATURE_END',
              });
            }
            return;
          } catch (err) {
            if (opts.signal?.aborted || isAbortError(err)) throw abortedError(err);
            if (!isRetryableNetworkError(err) || resumes >= policy.retryTimes) {
              throw self.error(op, { cause: err, retryable: isRetryableNetworkError(err) });
            }
            await wait(backoffDelay(resumes, policy), opts.signal);
            resumes++;
            current.body.destroy();
            const next = (
              await self.sendFollowing(op, {
                method: 'GET',
                url,
                headers: { range: `bytes=${received}-` },
              })
            ).res;
            if (next.statusCode === 206) {
              const range = /^bytes\s+(\d+)-/i.exec(
                headerValue(next.headers['content-range']) ?? '',
              );
              if (!range || Number(range[1]) !== received) {
                await next.body.dump().catch(() => {});
                throw self.error(op, {
                  message: `${op.operation} ${self.registry}/${op.reference}: registry resumed at the wrong offset`,
                });
              }
              current = next;
            } else if (next.statusCode === 200) {
              // No range support: read again from the start and skip what was already passed on.
              current = next;
              let skip = received;
              const skipped: Buffer[] = [];
              for await (const chunk of next.body) {
                const b = chunk as Buffer;
                if (skip >= b.length) {
                  skip -= b.length;
                  continue;
                }
                skipped.push(b.subarray(skip));
                skip = 0;
                break;
              }
              for (const b of skipped) {
                received += b.length;
                yield b;
              }
            } else {
              await self.fail(op, next);
            }
          }
        }
      } finally {
        current.body.destroy();
      }
    }
    return { stream: Readable.from(body(), { objectMode: false }), size };
  }

  /**
   * Tries to mount `digest` from `fromRepo` into `repo` without copying bytes. True when the
   * registry mounted it (201); false when it did not (202: the opened upload is cancelled).
   */
  async mountBlob(
    repo: string,
    digest: string,
    fromRepo: string,
    opts: { signal?: AbortSignal } = {},
  ): Promise<boolean> {
    const started = await this.startUpload(repo, {
      digest,
      mountFrom: fromRepo,
      signal: opts.signal,
    });
    if (started.mounted) return true;
    await this.cancelUpload(started.location, repo, opts.signal);
    return false;
  }

  private async startUpload(
    repo: string,
    opts: { digest?: string; mountFrom?: string; signal?: AbortSignal | undefined },
  ): Promise<{ mounted: true } | { mounted: false; location: string }> {
    checkRepo(repo);
    const mount = opts.mountFrom && opts.digest;
    if (mount) {
      checkRepo(opts.mountFrom!);
      checkDigest(opts.digest!);
    }
    const op: Operation = {
      operation: mount ? 'mount blob' : 'start blob upload',
      repo,
      ...(opts.digest ? { reference: `${repo}@${opts.digest}` } : {}),
      scopes: mount ? mergeScopes([pullPush(repo)], [pull(opts.mountFrom!)]) : [pullPush(repo)],
      signal: opts.signal,
    };
    const url = await this.url(
      op,
      `/v2/${repo}/blobs/uploads/`,
      mount ? { mount: opts.digest!, from: opts.mountFrom! } : undefined,
    );
    const res = await this.send(op, { method: 'POST', url, headers: { 'content-length': '0' } });
    if (mount && res.statusCode === 201) {
      await res.body.dump().catch(() => {});
      return { mounted: true };
    }
    if (res.statusCode !== 202) return this.fail(op, res);
    await res.body.dump().catch(() => {});
    const location = headerValue(res.headers.location);
    if (!location)
      throw this.error(op, {
        status: 202,
        message: `${op.operation} ${this.registry}/${repo}: no upload Location`,
      });
    return { mounted: false, location: new URL(location, url).toString() };
  }

  private async cancelUpload(location: string, repo: string, signal?: AbortSignal): Promise<void> {
    const op: Operation = {
      operation: 'cancel blob upload',
      repo,
      scopes: [pullPush(repo)],
      signal,
    };
    try {
      const res = await this.send(op, { method: 'DELETE', url: location });
      await res.body.dump().catch(() => {});
    } catch {
      // best effort: the registry purges stale uploads itself
    }
  }

  /**
   * Uploads a blob from a stream: POST, then either one monolithic PUT (blob fits one chunk)
   * or PATCH chunks followed by PUT ?digest=. With a known size each PATCH starts at the
   * chunk's first byte and streams the rest as the source yields it; every chunk's bytes are
   * kept (as pieces, never joined) until the registry accepted them, so that a retryable
   * failure re-sends the chunk; memory stays bounded by `chunkSize`. With `mountFrom` a
   * cross-repository mount is tried first and the stream is not read when it succeeds.
   */
  async putBlob(repo: string, stream: Readable, opts: PutBlobOptions = {}): Promise<PutBlobResult> {
    if (opts.digest) checkDigest(opts.digest);
    const signal = opts.signal;
    const started = await this.startUpload(repo, {
      ...(opts.digest ? { digest: opts.digest } : {}),
      ...(opts.mountFrom ? { mountFrom: opts.mountFrom } : {}),
      signal,
    });
    if (started.mounted) {
      stream.destroy();
      return { digest: opts.digest!, size: opts.size ?? -1, mounted: true };
    }
    let location = started.location;
    const algorithm = opts.digest?.startsWith('sha512:') ? 'sha512' : 'sha256';
    // A stream that verifies itself against opts.digest need not be hashed a second time.
    const hash = opts.digest && opts.streamVerifiesDigest ? undefined : createHash(algorithm);
    const expectedSize = opts.size !== undefined && opts.size >= 0 ? opts.size : undefined;
    const op: Operation = {
      operation: 'upload blob',
      repo,
      ...(opts.digest ? { reference: `${repo}@${opts.digest}` } : {}),
      scopes: [pullPush(repo)],
      signal,
    };
    const source = pieceReader(stream, READ_AHEAD);
    let read = 0;
    let carry: Buffer | undefined;
    let ended = false;
    /** The next piece of at most `limit` bytes, or undefined at the end of the stream. */
    const nextPiece = async (limit: number): Promise<Buffer | undefined> => {
      let b = carry;
      carry = undefined;
      if (!b) {
        if (ended) return undefined;
        if (signal?.aborted) throw abortedError(signal.reason);
        b = await source.next();
        if (!b) {
          ended = true;
          return undefined;
        }
        read += b.length;
        hash?.update(b);
        if (expectedSize !== undefined && read > expectedSize) {
          throw this.error(op, {
            code: ErrorCode.SizeMismatch,
            message: `upload blob ${this.registry}/${repo}: stream has more than the expected ${expectedSize} bytes`,
          });
        }
      }
      if (b.length > limit) {
        carry = b.subarray(limit);
        return b.subarray(0, limit);
      }
      return b;
    };
    /** Reads pieces until `limit` bytes or the end of the stream. */
    const readPieces = async (limit: number): Promise<{ pieces: Buffer[]; bytes: number }> => {
      const pieces: Buffer[] = [];
      let bytes = 0;
      while (bytes < limit) {
        const b = await nextPiece(limit - bytes);
        if (!b) break;
        pieces.push(b);
        bytes += b.length;
      }
      return { pieces, bytes };
    };
    let offset = 0;
    let sentChunks = 0;
    const patch = async (
      length: number,
      body: RequestBody | (() => RequestBody | Promise<RequestBody>),
    ) => {
      const res = await this.send(op, {
        method: 'PATCH',
        url: location,
        headers: {
          'content-type': 'application/octet-stream',
          'content-length': String(length),
          'content-range': `${offset}-${offset + length - 1}`,
        },
        body,
      });
      if (res.statusCode !== 202 && res.statusCode !== 204) return this.fail(op, res);
      await res.body.dump().catch(() => {});
      const next = headerValue(res.headers.location);
      if (next) location = new URL(next, location).toString();
      offset += length;
      sentChunks++;
    };
    /** One PATCH of exactly `length` bytes whose body follows the source as it is read. */
    const streamChunk = async (length: number) => {
      const pieces: Buffer[] = [];
      let have = 0;
      let done = false;
      let failure: { err: unknown } | undefined;
      let wake: (() => void) | undefined;
      const filled = (async () => {
        try {
          while (have < length) {
            const b = await nextPiece(length - have);
            if (!b) {
              throw this.error(op, {
                code: ErrorCode.SizeMismatch,
                message: `upload blob ${this.registry}/${repo}: stream had ${read} bytes, expected ${expectedSize}`,
              });
            }
            pieces.push(b);
            have += b.length;
            wake?.();
          }
        } catch (err) {
          failure = { err };
          throw err;
        } finally {
          done = true;
          wake?.();
        }
      })();
      filled.catch(() => {});
      async function* live(): AsyncGenerator<Buffer> {
        for (let i = 0; ; i++) {
          while (i >= pieces.length) {
            if (failure) throw failure.err;
            if (done) return;
            await new Promise<void>((resolve) => {
              wake = resolve;
            });
            wake = undefined;
          }
          yield pieces[i]!;
        }
      }
      let attempts = 0;
      try {
        await patch(length, async () => {
          if (attempts++ === 0) return live();
          await filled;
          return pieces;
        });
      } catch (err) {
        // The source's own failure (a digest mismatch, a short stream) is the one to report.
        await filled;
        throw err;
      }
      await filled;
    };
    const finish = async (digest: string, last: Buffer[] | undefined, lastBytes: number) => {
      const u = new URL(location);
      u.searchParams.set('digest', digest);
      const res = await this.send(op, {
        method: 'PUT',
        url: u.toString(),
        headers: {
          'content-type': 'application/octet-stream',
          'content-length': String(lastBytes),
        },
        body: last ?? new Uint8Array(0),
      });
      if (res.statusCode !== 201 && res.statusCode !== 204 && res.statusCode !== 200)
        return this.fail(op, res);
      await res.body.dump().catch(() => {});
      const reported = headerValue(res.headers['docker-content-digest']);
      if (reported && reported !== digest) {
        throw this.error(op, {
          code: ErrorCode.DigestMismatch,
          message: `upload blob ${this.registry}/${repo}: registry stored ${reported}, expected ${digest}`,
        });
      }
    };
    try {
      let rest: { pieces: Buffer[]; bytes: number } = { pieces: [], bytes: 0 };
      if (expectedSize !== undefined && expectedSize > this.chunkSize) {
        while (offset < expectedSize)
          await streamChunk(Math.min(this.chunkSize, expectedSize - offset));
        if (await nextPiece(1)) {
          throw this.error(op, {
            code: ErrorCode.SizeMismatch,
            message: `upload blob ${this.registry}/${repo}: stream has more than the expected ${expectedSize} bytes`,
          });
        }
      } else {
        for (;;) {
          const chunk = await readPieces(this.chunkSize);
          if (
            chunk.bytes < this.chunkSize ||
            (expectedSize !== undefined && read >= expectedSize)
          ) {
            // The end (or all the expected bytes): make sure nothing follows.
            if (chunk.bytes === this.chunkSize && (await nextPiece(1))) {
              throw this.error(op, {
                code: ErrorCode.SizeMismatch,
                message: `upload blob ${this.registry}/${repo}: stream has more than the expected ${expectedSize} bytes`,
              });
            }
            rest = chunk;
            break;
          }
          // A full chunk and maybe more: look ahead one piece to know whether this is the last.
          const more = await nextPiece(this.chunkSize);
          if (!more) {
            rest = chunk;
            break;
          }
          carry = more;
          await patch(chunk.bytes, chunk.pieces);
        }
      }
      const total = offset + rest.bytes;
      const digest = hash ? `${algorithm}:${hash.digest('hex')}` : opts.digest!;
      if (expectedSize !== undefined && total !== expectedSize) {
        throw this.error(op, {
          code: ErrorCode.SizeMismatch,
          message: `upload blob ${this.registry}/${repo}: stream had ${total} bytes, expected ${expectedSize}`,
        });
      }
      if (opts.digest && opts.digest !== digest) {
        throw this.error(op, {
          code: ErrorCode.DigestMismatch,
          message: `upload blob ${this.registry}/${repo}: stream has digest ${digest}, expected ${opts.digest}`,
        });
      }
      if (sentChunks === 0) {
        // Everything fits one chunk: a monolithic PUT.
        await finish(digest, rest.bytes > 0 ? rest.pieces : undefined, rest.bytes);
      } else {
        if (rest.bytes > 0) await patch(rest.bytes, rest.pieces);
        await finish(digest, undefined, 0);
      }
      return { digest, size: total, mounted: false };
    } catch (err) {
      await this.cancelUpload(location, repo);
      if (!ended) source.destroy();
      if (err instanceof SkiffError) throw err;
      if (signal?.aborted || isAbortError(err)) throw abortedError(err);
      throw this.error(op, {
        cause: err,
        message: `upload blob ${this.registry}/${repo}: reading the source failed: ${(err as Error).message}`,
      });
    }
  }

  // ---- listings ------------------------------------------------------------------------------

  private async paginate(
    op: Operation,
    firstUrl: string,
    key: 'tags' | 'repositories',
  ): Promise<string[]> {
    const out: string[] = [];
    const seen = new Set<string>();
    let url: string | undefined = firstUrl;
    while (url && !seen.has(url)) {
      seen.add(url);
      const res = await this.send(op, {
        method: 'GET',
        url,
        headers: { accept: 'application/json' },
      });
      if (res.statusCode !== 200) return this.fail(op, res);
      const text = (await readLimited(res, 64 * 1024 * 1024, 'listing')).toString('utf8');
      let parsed: Record<string, unknown>;
      try {
        parsed = JSON.parse(text) as Record<string, unknown>;
      } catch {
        throw this.error(op, {
          status: 200,
          message: `${op.operation} ${this.registry}: response is not JSON`,
        });
      }
      const items = parsed[key];
      if (Array.isArray(items)) for (const t of items) if (typeof t === 'string') out.push(t);
      url = nextLink(res.headers.link, url);
      // Links must stay on the registry: never send credentials elsewhere.
      if (url && this.base && new URL(url).origin !== new URL(this.base).origin) {
        throw this.error(op, {
          message: `${op.operation} ${this.registry}: pagination link points to another host`,
        });
      }
    }
    return out;
  }

  /** All tags of a repository, following `Link: <...>; rel="next"` pages of `pageSize`. */
  async listTags(
    repo: string,
    opts: { signal?: AbortSignal; pageSize?: number } = {},
  ): Promise<string[]> {
    checkRepo(repo);
    const op: Operation = {
      operation: 'list tags',
      repo,
      scopes: [pull(repo)],
      signal: opts.signal,
    };
    await this.ping(opts.signal);
    const url = await this.url(
      op,
      `/v2/${repo}/tags/list`,
      opts.pageSize ? { n: String(opts.pageSize) } : undefined,
    );
    return this.paginate(op, url, 'tags');
  }

  /** The registry's repositories (`/v2/_catalog`), following pagination. */
  async catalog(opts: { signal?: AbortSignal; pageSize?: number } = {}): Promise<string[]> {
    const op: Operation = { operation: 'list repositories', scopes: [], signal: opts.signal };
    await this.ping(opts.signal);
    const url = await this.url(
      op,
      '/v2/_catalog',
      opts.pageSize ? { n: String(opts.pageSize) } : undefined,
    );
    return this.paginate(op, url, 'repositories');
  }

  /**
   * Verifies that the configured credentials are accepted (what `login` does): basic auth
   * against /v2/, or a token from the realm. Throws E_UNAUTHORIZED when they are not.
   */
  async checkCredentials(opts: { signal?: AbortSignal } = {}): Promise<void> {
    const op: Operation = { operation: 'log in to', scopes: [], signal: opts.signal };
    await this.ping(opts.signal);
    const res = await this.send(op, { method: 'GET', url: await this.url(op, '/v2/') });
    if (res.statusCode !== 200) return this.fail(op, res);
    await res.body.dump().catch(() => {});
  }
}

function authSchemeOf(res: HttpResponse): AuthScheme {
  if (res.statusCode !== 401) return { kind: 'none' };
  const challenges: AuthChallenge[] = parseWwwAuthenticate(res.headers['www-authenticate']);
  const bearer = challenges.find((c) => c.scheme === 'bearer' && c.params.realm);
  if (bearer)
    return { kind: 'bearer', realm: bearer.params.realm!, service: bearer.params.service };
  if (challenges.some((c) => c.scheme === 'basic')) return { kind: 'basic' };
  return { kind: 'basic' };
}

function sniffMediaType(raw: Uint8Array): string | undefined {
  try {
    const doc = JSON.parse(Buffer.from(raw).toString('utf8')) as {
      mediaType?: unknown;
      schemaVersion?: unknown;
      manifests?: unknown;
      layers?: unknown;
      fsLayers?: unknown;
    };
    if (doc.schemaVersion === 1 || doc.fsLayers !== undefined) {
      return MediaType.DockerSchema1;
    }
    if (typeof doc.mediaType === 'string') return doc.mediaType;
    if (Array.isArray(doc.manifests)) return MediaType.OciIndex;
    if (Array.isArray(doc.layers)) return MediaType.OciManifest;
  } catch {
    // not JSON
  }
  return undefined;
}
