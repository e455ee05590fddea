import { createHash, randomBytes } from 'node:crypto';
import {
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { Readable } from 'node:stream';

export function sha256(data: Uint8Array | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** Random bytes with their digest. */
export function makeBlob(size: number): { data: Buffer; digest: string } {
  const data = randomBytes(size);
  return { data, digest: sha256(data) };
}

/** A stream that yields `data` in small pieces, as a network or tar stream would. */
export function streamOf(data: Buffer, piece = 64 * 1024): Readable {
  return Readable.from(
    (function* () {
      for (let i = 0; i < data.length; i += piece) yield data.subarray(i, i + piece);
    })(),
  );
}

export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** An OCI image manifest for a config and layers already pushed. */
export function ociManifest(
  config: { digest: string; size: number },
  layers: { digest: string; size: number }[],
) {
  const doc = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
    layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...l })),
  };
  const raw = new TextEncoder().encode(JSON.stringify(doc));
  return { raw, digest: sha256(raw), mediaType: doc.mediaType };
}

export interface ProxyLogEntry {
  method: string;
  path: string;
  status: number;
  range?: string;
  authorization: boolean;
}

/**
 * What to do with a request: undefined forwards it, a function answers it itself (it may
 * also call `forward` to pass it on and then break the connection).
 */
export type FaultRule = (
  req: IncomingMessage,
  res: ServerResponse,
  forward: (opts?: { cutAfterBytes?: number }) => void,
) => boolean | undefined;

/** A tiny HTTP proxy in front of a registry that records requests and injects faults. */
export async function startFaultProxy(upstream: string): Promise<{
  url: string;
  host: string;
  log: ProxyLogEntry[];
  rules: FaultRule[];
  stop(): Promise<void>;
}> {
  const log: ProxyLogEntry[] = [];
  const rules: FaultRule[] = [];
  const target = new URL(upstream);
  const server: Server = createServer((req, res) => {
    const entry: ProxyLogEntry = {
      method: req.method ?? 'GET',
      path: req.url ?? '/',
      status: 0,
      authorization: req.headers.authorization !== undefined,
      ...(req.headers.range ? { range: req.headers.range } : {}),
    };
    log.push(entry);
    const origWriteHead = res.writeHead.bind(res);
    res.writeHead = ((status: number, ...rest: unknown[]) => {
      entry.status = status;
      return (origWriteHead as (...a: unknown[]) => ServerResponse)(status, ...rest);
    }) as typeof res.writeHead;
    const forward = (opts: { cutAfterBytes?: number } = {}) => {
      const up = httpRequest(
        {
          host: target.hostname,
          port: target.port,
          method: req.method,
          path: req.url,
          headers: req.headers,
        },
        (upRes) => {
          res.writeHead(upRes.statusCode ?? 502, upRes.headers);
          if (opts.cutAfterBytes === undefined) {
            upRes.pipe(res);
            return;
          }
          let sent = 0;
          upRes.on('data', (chunk: Buffer) => {
            if (sent >= opts.cutAfterBytes!) return;
            const part = chunk.subarray(0, opts.cutAfterBytes! - sent);
            sent += part.length;
            res.write(part);
            if (sent >= opts.cutAfterBytes!) {
              upRes.destroy();
              // Reset the client's connection in the middle of the body.
              setTimeout(() => res.socket?.resetAndDestroy(), 20);
            }
          });
        },
      );
      up.on('error', () => res.destroy());
      req.pipe(up);
    };
    for (const rule of rules) {
      if (rule(req, res, forward)) return;
    }
    forward();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    log,
    rules,
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A rule that answers the first `times` matching requests itself. */
export function failTimes(
  times: number,
  match: (req: IncomingMessage) => boolean,
  answer: (res: ServerResponse) => void,
): FaultRule {
  let left = times;
  return (req, res) => {
    if (left <= 0 || !match(req)) return false;
    left--;
    req.resume();
    answer(res);
    return true;
  };
}
