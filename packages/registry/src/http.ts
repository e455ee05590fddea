import { setTimeout as sleep } from 'node:timers/promises';
import { ErrorCode, SkiffError } from '@skiff/oci-image';
import type { Dispatcher } from 'undici';
// Only the parts of undici the client uses: its index also loads fetch, WebSocket, caches and
// mocks, which cost a short command (inspect, list-tags) more start-up time than its requests.
// @ts-expect-error undici ships no types for its internal modules
import requestImpl from 'undici/lib/api/api-request.js';
import { isRetryableStatus } from './errors.js';
import { headerValue, parseRetryAfter } from './headers.js';

/** How often and how patiently requests are retried (skopeo's --retry-times / --retry-delay). */
export interface RetryPolicy {
  /** Retries after the first attempt (default 3). */
  retryTimes: number;
  /** First back-off delay in ms, doubled on each retry (default 1000). */
  retryDelay: number;
  /** Upper bound for one delay, also for a server's Retry-After (default 60000). */
  maxRetryDelay: number;
}

export const defaultRetryPolicy: RetryPolicy = {
  retryTimes: 3,
  retryDelay: 1000,
  maxRetryDelay: 60_000,
};

/**
 * A request body. Pieces (an array of buffers) are sent one after another without joining them;
 * an async iterable streams and can be sent only once, so it is given only by a request builder
 * that makes a fresh body for each attempt.
 */
export type RequestBody =
  | string
  | Uint8Array
  | readonly Uint8Array[]
  | AsyncIterable<Uint8Array>
  | null
  | undefined;

export interface HttpRequest {
  method: string;
  url: string;
  headers?: Record<string, string>;
  /** Replayable bodies only, unless the request is built anew for each attempt. */
  body?: RequestBody;
  signal?: AbortSignal | undefined;
}

export type HttpResponse = Dispatcher.ResponseData;

/** undici's `Dispatcher.prototype.request`, which its index would otherwise attach. */
const dispatchRequest = requestImpl as (
  this: Dispatcher,
  opts: Dispatcher.RequestOptions,
) => Promise<HttpResponse>;

const RETRYABLE_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'ENETUNREACH',
  'ENETDOWN',
  'ENETRESET',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'EAI_AGAIN',
  'EAGAIN',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CLOSED',
  'UND_ERR_RES_CONTENT_LENGTH_MISMATCH',
  'E_PREMATURE_END',
]);

function errorCodes(err: unknown): string[] {
  const codes: string[] = [];
  let e: unknown = err;
  for (let depth = 0; e && depth < 5; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') codes.push(code);
    if (e instanceof AggregateError) for (const inner of e.errors) codes.push(...errorCodes(inner));
    e = (e as { cause?: unknown }).cause;
  }
  return codes;
}

/** Network failures worth another attempt: resets, refusals, timeouts, truncated bodies. */
export function isRetryableNetworkError(err: unknown): boolean {
  if (isAbortError(err)) return false;
  return errorCodes(err).some((c) => RETRYABLE_CODES.has(c));
}

export function isAbortError(err: unknown): boolean {
  if (!err || typeof err !== 'object') return false;
  const e = err as { name?: string; code?: string };
  return (
    e.name === 'AbortError' ||
    e.code === 'UND_ERR_ABORTED' ||
    e.code === 'ABORT_ERR' ||
    e.code === ErrorCode.Aborted
  );
}

export function abortedError(cause?: unknown): SkiffError {
  return new SkiffError(
    ErrorCode.Aborted,
    'registry operation aborted',
    cause === undefined ? {} : { cause },
  );
}

/** The delay before retry number `attempt` (0-based): exponential, capped. */
export function backoffDelay(attempt: number, policy: RetryPolicy): number {
  return Math.min(policy.maxRetryDelay, policy.retryDelay * 2 ** attempt);
}

export async function wait(ms: number, signal?: AbortSignal): Promise<void> {
  if (ms <= 0) return;
  try {
    await sleep(ms, undefined, signal ? { signal } : undefined);
  } catch (err) {
    throw abortedError(err);
  }
}

/** One HTTP exchange; the caller consumes or dumps the body. */
export async function sendOnce(dispatcher: Dispatcher, req: HttpRequest): Promise<HttpResponse> {
  try {
    const url = new URL(req.url);
    return await dispatchRequest.call(dispatcher, {
      origin: url.origin,
      path: `${url.pathname}${url.search}`,
      method: req.method as Dispatcher.HttpMethod,
      headers: req.headers ?? {},
      body: (req.body ?? null) as Dispatcher.RequestOptions['body'],
      ...(req.signal ? { signal: req.signal } : {}),
    });
  } catch (err) {
    if (req.signal?.aborted || isAbortError(err)) throw abortedError(err);
    throw err;
  }
}

/**
 * Sends with retries on 429 (honouring Retry-After), 5xx and network failures. Returns the
 * final response, whatever its status; throws the last network error.
 */
export async function sendWithRetry(
  dispatcher: Dispatcher,
  req: HttpRequest | (() => Promise<HttpRequest>),
  policy: RetryPolicy,
  onRetry?: (info: { attempt: number; delay: number; reason: string }) => void,
): Promise<HttpResponse> {
  for (let attempt = 0; ; attempt++) {
    const r = typeof req === 'function' ? await req() : req;
    let res: HttpResponse;
    try {
      res = await sendOnce(dispatcher, r);
    } catch (err) {
      if (attempt >= policy.retryTimes || !isRetryableNetworkError(err)) throw err;
      const delay = backoffDelay(attempt, policy);
      onRetry?.({ attempt, delay, reason: errorCodes(err)[0] ?? String(err) });
      await wait(delay, r.signal);
      continue;
    }
    if (attempt < policy.retryTimes && isRetryableStatus(res.statusCode)) {
      const after = parseRetryAfter(headerValue(res.headers['retry-after']));
      const delay = Math.min(policy.maxRetryDelay, after ?? backoffDelay(attempt, policy));
      await res.body.dump().catch(() => {});
      onRetry?.({ attempt, delay, reason: `HTTP ${res.statusCode}` });
      await wait(delay, r.signal);
      continue;
    }
    return res;
  }
}

/** Reads a whole (small) body, failing when it exceeds `limit` bytes. */
export async function readLimited(res: HttpResponse, limit: number, what: string): Promise<Buffer> {
  const declared = Number(headerValue(res.headers['content-length']));
  if (Number.isFinite(declared) && declared > limit) {
    await res.body.dump().catch(() => {});
    throw new SkiffError(
      ErrorCode.InvalidManifest,
      `${what} is too large: ${declared} bytes (limit ${limit})`,
    );
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of res.body) {
    const b = chunk as Buffer;
    total += b.length;
    if (total > limit) {
      res.body.destroy();
      throw new SkiffError(
        ErrorCode.InvalidManifest,
        `${what} is too large: more than ${limit} bytes`,
      );
    }
    chunks.push(b);
  }
  return Buffer.concat(chunks);
}
