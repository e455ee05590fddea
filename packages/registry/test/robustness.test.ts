import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isSkiffError } from '@skiff/oci-image';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RegistryServer, startRegistry } from '../../../test/lib/registry-server.js';
import { RegistryClient, RegistryError } from '../src/index.js';
import {
  failTimes,
  makeBlob,
  ociManifest,
  readAll,
  sha256,
  startFaultProxy,
  streamOf,
} from './helpers.js';

const creds = { username: 'skiff', password: 'proxy-test-secret', source: 'test' };
let registry: RegistryServer;
let proxy: Awaited<ReturnType<typeof startFaultProxy>>;
let client: RegistryClient;
const retries: string[] = [];
const blob = makeBlob(3 * 1024 * 1024);
const manifest = ociManifest({ digest: blob.digest, size: blob.data.length }, []);

beforeAll(async () => {
  registry = await startRegistry({ auth: 'basic', users: [creds] });
  proxy = await startFaultProxy(registry.url);
  client = new RegistryClient({
    registry: proxy.host,
    tlsVerify: false,
    credentials: creds,
    retryDelay: 20,
    onRetry: (i) => retries.push(`${i.operation}: ${i.reason}`),
  });
  await client.putBlob('r/app', streamOf(blob.data), { digest: blob.digest });
  await client.putManifest('r/app', 'v1', manifest.raw, manifest.mediaType);
});
afterAll(async () => {
  await client?.close();
  await proxy?.stop();
  await registry?.stop();
});

const isManifest = (req: { method?: string; url?: string }) =>
  req.method === 'GET' && /\/manifests\//.test(req.url ?? '');
const isBlobGet = (req: { method?: string; url?: string }) =>
  req.method === 'GET' && /\/blobs\/sha256:/.test(req.url ?? '');

describe('retries and resumption', () => {
  it('retries a 500 and then succeeds', async () => {
    proxy.rules.length = 0;
    retries.length = 0;
    proxy.rules.push(failTimes(2, isManifest, (res) => res.writeHead(500).end('boom')));
    expect((await client.getManifest('r/app', 'v1')).digest).toBe(manifest.digest);
    expect(retries).toEqual(['get manifest: HTTP 500', 'get manifest: HTTP 500']);
  });

  it('honours Retry-After in seconds and as an HTTP date on 429', async () => {
    proxy.rules.length = 0;
    retries.length = 0;
    let t0 = Date.now();
    proxy.rules.push(
      failTimes(1, isManifest, (res) => res.writeHead(429, { 'retry-after': '1' }).end()),
    );
    await client.headManifest('r/app', 'v1');
    await client.getManifest('r/app', 'v1');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(950);
    proxy.rules.length = 0;
    t0 = Date.now();
    const when = new Date(Math.ceil((Date.now() + 1500) / 1000) * 1000).toUTCString();
    proxy.rules.push(
      failTimes(1, isManifest, (res) => res.writeHead(429, { 'retry-after': when }).end()),
    );
    await client.getManifest('r/app', 'v1');
    expect(Date.now()).toBeGreaterThanOrEqual(Date.parse(when) - 5);
    expect(retries).toEqual(['get manifest: HTTP 429', 'get manifest: HTTP 429']);
  });

  it('gives up after retryTimes with a retryable error naming the status', async () => {
    proxy.rules.length = 0;
    const limited = new RegistryClient({
      registry: proxy.host,
      tlsVerify: false,
      credentials: creds,
      retryTimes: 1,
      retryDelay: 5,
    });
    try {
      proxy.rules.push(failTimes(5, isManifest, (res) => res.writeHead(503).end('unavailable')));
      const err = (await limited
        .getManifest('r/app', 'v1')
        .catch((e: unknown) => e)) as RegistryError;
      expect(err).toBeInstanceOf(RegistryError);
      expect(err.status).toBe(503);
      expect(err.retryable).toBe(true);
      expect(err.code).toBe('E_REGISTRY');
      expect(proxy.log.filter((e) => e.status === 503)).toHaveLength(2);
    } finally {
      await limited.close();
    }
  });

  it('retries a connection reset before the response', async () => {
    proxy.rules.length = 0;
    retries.length = 0;
    proxy.rules.push(failTimes(1, isManifest, (res) => res.socket?.resetAndDestroy()));
    expect((await client.getManifest('r/app', 'v1')).digest).toBe(manifest.digest);
    expect(retries).toHaveLength(1);
    expect(retries[0]).toMatch(/ECONNRESET|UND_ERR_SOCKET/);
  });

  it('resumes a blob download cut mid-body with a Range request', async () => {
    proxy.rules.length = 0;
    proxy.log.length = 0;
    let cut = false;
    proxy.rules.push((req, _res, forward) => {
      if (cut || !isBlobGet(req) || req.headers.range) return false;
      cut = true;
      forward({ cutAfterBytes: 1024 * 1024 + 17 });
      return true;
    });
    const got = await client.getBlob('r/app', blob.digest, { size: blob.data.length });
    expect(got.size).toBe(blob.data.length);
    const data = await readAll(got.stream);
    expect(data.length).toBe(blob.data.length);
    expect(sha256(data)).toBe(blob.digest);
    const ranges = proxy.log.filter((e) => e.range);
    expect(ranges).toHaveLength(1);
    expect(ranges[0]!.range).toMatch(/^bytes=\d+-$/);
    expect(ranges[0]!.status).toBe(206);
  });

  it('follows a blob redirect to another host without sending the registry credentials there', async () => {
    const seen: IncomingHttpHeaders[] = [];
    const storage = createServer((req, res) => {
      seen.push(req.headers);
      res.writeHead(200, { 'content-length': String(blob.data.length) });
      res.end(blob.data);
    });
    await new Promise<void>((r) => storage.listen(0, '127.0.0.2', r));
    const addr = storage.address();
    const port = typeof addr === 'object' && addr ? addr.port : 0;
    proxy.rules.length = 0;
    proxy.log.length = 0;
    proxy.rules.push((req, res) => {
      if (!isBlobGet(req)) return false;
      res.writeHead(307, { location: `http://127.0.0.2:${port}/storage/blob?sig=abc` }).end();
      return true;
    });
    try {
      const got = await client.getBlob('r/app', blob.digest);
      expect(sha256(await readAll(got.stream))).toBe(blob.digest);
      expect(proxy.log.find((e) => e.status === 307)?.authorization).toBe(true);
      expect(seen).toHaveLength(1);
      expect(seen[0]!.authorization).toBeUndefined();
    } finally {
      proxy.rules.length = 0;
      storage.closeAllConnections();
      await new Promise<void>((r) => storage.close(() => r()));
    }
  });

  it('refuses a schema 1 manifest clearly', async () => {
    proxy.rules.length = 0;
    proxy.rules.push((req, res) => {
      if (!isManifest(req)) return false;
      res
        .writeHead(200, {
          'content-type': 'application/vnd.docker.distribution.manifest.v1+prettyjws',
        })
        .end(
          JSON.stringify({
            schemaVersion: 1,
            name: 'r/app',
            tag: 'old',
            fsLayers: [],
            history: [],
          }),
        );
      return true;
    });
    try {
      const err = await client.getManifest('r/app', 'old').catch((e: unknown) => e);
      expect(isSkiffError(err, 'E_UNSUPPORTED_MANIFEST')).toBe(true);
      expect((err as Error).message).toMatch(/schema 1/);
    } finally {
      proxy.rules.length = 0;
    }
  });

  it('aborts a request through its AbortSignal', async () => {
    proxy.rules.length = 0;
    proxy.rules.push(failTimes(1, isManifest, () => {}));
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 50);
    const err = await client
      .getManifest('r/app', 'v1', { signal: ac.signal })
      .catch((e: unknown) => e);
    expect(isSkiffError(err, 'E_ABORTED')).toBe(true);
    proxy.rules.length = 0;
  });
});

describe('TLS', () => {
  let tlsRegistry: RegistryServer;
  let certDir: string;
  beforeAll(async () => {
    tlsRegistry = await startRegistry({ tls: true });
    certDir = mkdtempSync(join(tmpdir(), 'skiff-certs-'));
  });
  afterAll(async () => {
    await tlsRegistry?.stop();
    rmSync(certDir, { recursive: true, force: true });
  });

  it('trusts a registry CA from certs.d/<host:port>/*.crt and refuses it without', async () => {
    const { readFileSync } = await import('node:fs');
    const roots = join(certDir, 'roots');
    const hostDir = join(roots, tlsRegistry.host);
    const { mkdirSync } = await import('node:fs');
    mkdirSync(hostDir, { recursive: true });
    writeFileSync(join(hostDir, 'ca.crt'), readFileSync(tlsRegistry.caCertPath!));
    const trusted = new RegistryClient({ registry: tlsRegistry.host, certsRoots: [roots] });
    const untrusted = new RegistryClient({
      registry: tlsRegistry.host,
      certsRoots: [join(certDir, 'none')],
      retryTimes: 0,
    });
    const insecure = new RegistryClient({ registry: tlsRegistry.host, tlsVerify: false });
    try {
      const b = makeBlob(10);
      await trusted.putBlob('tls/app', streamOf(b.data));
      expect(await trusted.hasBlob('tls/app', b.digest)).toBe(true);
      const err = (await untrusted
        .hasBlob('tls/app', b.digest)
        .catch((e: unknown) => e)) as RegistryError;
      expect(err.code).toBe('E_REGISTRY_UNREACHABLE');
      expect(err.message).toMatch(/certificate/i);
      // tls-verify=false: https without verification still works (no fall back needed).
      expect(await insecure.hasBlob('tls/app', b.digest)).toBe(true);
    } finally {
      await trusted.close();
      await untrusted.close();
      await insecure.close();
    }
  });
});
