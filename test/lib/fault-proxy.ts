import {
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';

/**
 * A fault-injecting HTTP proxy for tests: it sits on 127.0.0.1 between a client and a registry,
 * forwards every request unchanged (the Host header too, so the registry's upload Locations
 * point back at the proxy), records what passed, and answers requests that match a scripted
 * fault instead: an error status, a connection reset in the middle of a body, corrupted bytes,
 * or a redirect to another host.
 */

export interface ProxyLogEntry {
  method: string;
  /** Path and query, as the client sent them. */
  path: string;
  /** The status sent back (0 when the connection was cut before a status). */
  status: number;
  /** Whether the request carried an Authorization header (its value is not kept). */
  authorization: boolean;
  range?: string;
  /** The fault applied, when one was. */
  fault?: FaultAction['kind'];
}

export type FaultAction =
  /** Answer with this status (e.g. 500, or 429 with a Retry-After header). */
  | { kind: 'status'; status: number; headers?: Record<string, string>; body?: string }
  /** Forward, then reset the client's connection after `bytes` bytes of the response body. */
  | { kind: 'reset-after'; bytes: number }
  /** Forward with one byte of the response body changed (same length, other digest). */
  | { kind: 'corrupt' }
  /** Answer 307 with `Location: <to><path>`; `to` is another server's base URL. */
  | { kind: 'redirect'; to: string };

export interface RequestMatch {
  method?: string;
  /** A regular expression the path (with query) must match. */
  path?: RegExp;
}

export interface FaultRule {
  match: RequestMatch;
  action: FaultAction;
  /** How many matching requests get the fault (default 1); Infinity for all of them. */
  times: number;
  /** How many requests it has hit so far. */
  hits: number;
}

export interface FaultProxy {
  /** `http://127.0.0.1:PORT` */
  url: string;
  /** `127.0.0.1:PORT`: the registry name clients use to go through the proxy. */
  host: string;
  log: ProxyLogEntry[];
  /** Scripts a fault for the next `times` requests that match; returns the rule to inspect. */
  fault(match: RequestMatch, action: FaultAction, times?: number): FaultRule;
  /** Drops every scripted fault and the log. */
  reset(): void;
  stop(): Promise<void>;
}

function matches(m: RequestMatch, req: IncomingMessage): boolean {
  if (m.method && m.method !== req.method) return false;
  if (m.path && !m.path.test(req.url ?? '/')) return false;
  return true;
}

/** Requests for a blob's bytes (GET /v2/<repo>/blobs/<digest>), optionally one digest only. */
export function blobGet(digest?: string): RequestMatch {
  const d = digest ? digest.replace(/[.*+?^${}()|[\]\\]/g, '\\$&') : 'sha256:[a-f0-9]{64}';
  return { method: 'GET', path: new RegExp(`/blobs/${d}(\\?|$)`) };
}

/** Requests for a manifest by tag or digest. */
export function manifestGet(): RequestMatch {
  return { method: 'GET', path: /\/manifests\// };
}

async function listen(server: Server, host: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  const addr = server.address();
  return typeof addr === 'object' && addr ? addr.port : 0;
}

async function close(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

function forward(
  upstream: URL,
  req: IncomingMessage,
  res: ServerResponse,
  action: FaultAction | undefined,
  extraHeaders: Record<string, string> = {},
): void {
  const up = httpRequest(
    {
      host: upstream.hostname,
      port: upstream.port,
      method: req.method,
      path: req.url,
      headers: { ...req.headers, ...extraHeaders },
    },
    (upRes) => {
      res.writeHead(upRes.statusCode ?? 502, upRes.headers);
      if (action?.kind === 'reset-after') {
        let sent = 0;
        upRes.on('data', (chunk: Buffer) => {
          if (sent >= action.bytes) return;
          const part = chunk.subarray(0, action.bytes - sent);
          sent += part.length;
          res.write(part);
          if (sent >= action.bytes) {
            upRes.destroy();
            // Let the bytes reach the client, then cut the connection mid-body.
            setTimeout(() => res.socket?.resetAndDestroy(), 20);
          }
        });
        return;
      }
      if (action?.kind === 'corrupt') {
        let first = true;
        upRes.on('data', (chunk: Buffer) => {
          if (first && chunk.length > 0) {
            first = false;
            const copy = Buffer.from(chunk);
            copy[0] = copy[0]! ^ 0xff;
            res.write(copy);
          } else res.write(chunk);
        });
        upRes.on('end', () => res.end());
        return;
      }
      upRes.pipe(res);
    },
  );
  up.on('error', () => res.destroy());
  req.pipe(up);
}

/** Starts a proxy on 127.0.0.1 in front of `upstream` (a base URL such as a registry's). */
export async function startFaultProxy(upstream: string): Promise<FaultProxy> {
  const target = new URL(upstream);
  const log: ProxyLogEntry[] = [];
  const rules: FaultRule[] = [];
  const server = createServer((req, res) => {
    const entry: ProxyLogEntry = {
      method: req.method ?? 'GET',
      path: req.url ?? '/',
      status: 0,
      authorization: req.headers.authorization !== undefined,
      ...(req.headers.range ? { range: req.headers.range } : {}),
    };
    log.push(entry);
    const writeHead = res.writeHead.bind(res);
    res.writeHead = ((status: number, ...rest: unknown[]) => {
      entry.status = status;
      return (writeHead as (...a: unknown[]) => ServerResponse)(status, ...rest);
    }) as typeof res.writeHead;
    const rule = rules.find((r) => r.hits < r.times && matches(r.match, req));
    if (!rule) return forward(target, req, res, undefined);
    rule.hits++;
    const action = rule.action;
    entry.fault = action.kind;
    if (action.kind === 'status') {
      req.resume();
      res.writeHead(action.status, { 'content-type': 'text/plain', ...action.headers });
      res.end(action.body ?? `injected HTTP ${action.status}`);
      return;
    }
    if (action.kind === 'redirect') {
      req.resume();
      res.writeHead(307, { location: `${action.to}${req.url ?? '/'}`, 'content-length': '0' });
      res.end();
      return;
    }
    forward(target, req, res, action);
  });
  const port = await listen(server, '127.0.0.1');
  return {
    url: `http://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    log,
    fault(match, action, times = 1) {
      const rule: FaultRule = { match, action, times, hits: 0 };
      rules.push(rule);
      return rule;
    },
    reset() {
      rules.length = 0;
      log.length = 0;
    },
    stop: () => close(server),
  };
}

export interface RedirectTarget {
  /** `http://HOST:PORT` */
  url: string;
  /** Every request received, with the Authorization header it carried (if any). */
  log: { method: string; path: string; authorization: string | undefined }[];
  stop(): Promise<void>;
}

/**
 * A second server on another host (127.0.0.2 by default), standing in for external blob
 * storage that a registry redirects to: it records the requests it gets, then fetches the
 * bytes from `upstream` with its own `upstreamHeaders` (as a signed URL would allow).
 */
export async function startRedirectTarget(
  upstream: string,
  opts: { host?: string; upstreamHeaders?: Record<string, string> } = {},
): Promise<RedirectTarget> {
  const target = new URL(upstream);
  const log: RedirectTarget['log'] = [];
  const host = opts.host ?? '127.0.0.2';
  const server = createServer((req, res) => {
    log.push({
      method: req.method ?? 'GET',
      path: req.url ?? '/',
      authorization: req.headers.authorization,
    });
    const { authorization: _dropped, host: _host, ...headers } = req.headers;
    req.headers = headers;
    forward(target, req, res, undefined, opts.upstreamHeaders ?? {});
  });
  const port = await listen(server, host);
  return { url: `http://${host}:${port}`, log, stop: () => close(server) };
}
