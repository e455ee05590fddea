import { isSkiffError } from '@skiff/oci-image';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RegistryServer, startRegistry } from '../../../test/lib/registry-server.js';
import { RegistryClient, RegistryError } from '../src/index.js';
import { makeBlob, ociManifest, readAll, sha256, startFaultProxy, streamOf } from './helpers.js';

let registry: RegistryServer;
let client: RegistryClient;

beforeAll(async () => {
  registry = await startRegistry();
  client = new RegistryClient({ registry: registry.host, tlsVerify: false, retryDelay: 10 });
});
afterAll(async () => {
  await client?.close();
  await registry?.stop();
});

async function pushImage(repo: string, tag: string, layerSize = 1000) {
  const layer = makeBlob(layerSize);
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      rootfs: { type: 'layers', diff_ids: [] },
    }),
  );
  await client.putBlob(repo, streamOf(layer.data), {
    digest: layer.digest,
    size: layer.data.length,
  });
  const cfg = await client.putBlob(repo, streamOf(config), { size: config.length });
  const manifest = ociManifest(cfg, [{ digest: layer.digest, size: layer.data.length }]);
  const digest = await client.putManifest(repo, tag, manifest.raw, manifest.mediaType);
  return { layer, config, manifest, digest };
}

describe('RegistryClient against docker-registry', () => {
  it('pushes a blob in streamed chunks and pulls the same bytes back', async () => {
    const chunked = new RegistryClient({
      registry: registry.host,
      tlsVerify: false,
      chunkSize: 256 * 1024,
    });
    try {
      const blob = makeBlob(1024 * 1024 + 123);
      const put = await chunked.putBlob('skiff/chunks', streamOf(blob.data), {
        digest: blob.digest,
        size: blob.data.length,
      });
      expect(put).toEqual({ digest: blob.digest, size: blob.data.length, mounted: false });
      expect(await chunked.hasBlob('skiff/chunks', blob.digest)).toBe(true);
      const got = await chunked.getBlob('skiff/chunks', blob.digest);
      expect(got.size).toBe(blob.data.length);
      expect(sha256(await readAll(got.stream))).toBe(blob.digest);
    } finally {
      await chunked.close();
    }
  });

  it('uploads a small blob with one monolithic PUT and computes its digest when not given', async () => {
    const proxy = await startFaultProxy(registry.url);
    const c = new RegistryClient({ registry: proxy.host, tlsVerify: false });
    try {
      const blob = makeBlob(5000);
      const put = await c.putBlob('skiff/mono', streamOf(blob.data, 700));
      expect(put.digest).toBe(blob.digest);
      const methods = proxy.log
        .filter((e) => e.path.includes('/blobs/uploads/'))
        .map((e) => `${e.method} ${e.status}`);
      expect(methods).toEqual(['POST 202', 'PUT 201']);
    } finally {
      await c.close();
      await proxy.stop();
    }
  });

  it('refuses a blob whose bytes do not match the expected digest', async () => {
    const blob = makeBlob(2000);
    const err = await client
      .putBlob('skiff/bad', streamOf(blob.data), { digest: sha256('something else') })
      .catch((e: unknown) => e);
    expect(isSkiffError(err, 'E_DIGEST_MISMATCH')).toBe(true);
    expect(await client.hasBlob('skiff/bad', blob.digest)).toBe(false);
  });

  it('pushes a manifest by tag and by digest, reads it back byte for byte, and HEADs it', async () => {
    const { manifest, digest } = await pushImage('skiff/app', 'v1');
    expect(digest).toBe(manifest.digest);
    const got = await client.getManifest('skiff/app', 'v1');
    expect(Buffer.from(got.raw).equals(Buffer.from(manifest.raw))).toBe(true);
    expect(got.mediaType).toBe('application/vnd.oci.image.manifest.v1+json');
    expect(got.digest).toBe(manifest.digest);
    const byDigest = await client.getManifest('skiff/app', manifest.digest);
    expect(byDigest.digest).toBe(manifest.digest);
    expect(
      await client.putManifest('skiff/app', manifest.digest, manifest.raw, manifest.mediaType),
    ).toBe(manifest.digest);
    expect(await client.headManifest('skiff/app', 'v1')).toEqual({
      digest: manifest.digest,
      mediaType: manifest.mediaType,
      size: manifest.raw.length,
    });
    expect(await client.headManifest('skiff/app', 'nope')).toBeUndefined();
  });

  it('reports a missing manifest and blob with typed errors', async () => {
    const err = await client.getManifest('skiff/app', 'missing').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RegistryError);
    expect((err as RegistryError).code).toBe('E_MANIFEST_UNKNOWN');
    expect((err as RegistryError).status).toBe(404);
    expect((err as RegistryError).registryCodes).toContain('MANIFEST_UNKNOWN');
    expect((err as RegistryError).message).toContain(`${registry.host}/skiff/app:missing`);
    expect((err as RegistryError).retryable).toBe(false);
    const blobErr = await client.getBlob('skiff/app', sha256('absent')).catch((e: unknown) => e);
    expect((blobErr as RegistryError).code).toBe('E_BLOB_UNKNOWN');
    expect(await client.hasBlob('skiff/app', sha256('absent'))).toBe(false);
  });

  it('deletes a manifest by digest and by tag', async () => {
    const a = await pushImage('skiff/del', 'one');
    expect(await client.deleteManifest('skiff/del', a.digest)).toBe(a.digest);
    expect(await client.headManifest('skiff/del', a.digest)).toBeUndefined();
    const b = await pushImage('skiff/del', 'two');
    expect(await client.deleteManifest('skiff/del', 'two')).toBe(b.digest);
    const err = await client.getManifest('skiff/del', b.digest).catch((e: unknown) => e);
    expect((err as RegistryError).code).toBe('E_MANIFEST_UNKNOWN');
  });

  it('lists many tags across Link-paginated pages (n=) and the paginated catalog', async () => {
    const { manifest } = await pushImage('skiff/many', 'base');
    const tags = ['base'];
    for (let i = 0; i < 23; i++) {
      const tag = `t${String(i).padStart(2, '0')}`;
      await client.putManifest('skiff/many', tag, manifest.raw, manifest.mediaType);
      tags.push(tag);
    }
    const proxy = await startFaultProxy(registry.url);
    // distribution 2.8 ignores n= for tags (3.x honours it): the proxy pages the registry's
    // real list the way newer registries do, with relative Link headers.
    proxy.rules.push((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      if (!url.pathname.endsWith('/tags/list') || !url.searchParams.has('n')) return false;
      const n = Number(url.searchParams.get('n'));
      const last = url.searchParams.get('last');
      fetch(`${registry.url}${url.pathname}`)
        .then((r) => r.json() as Promise<{ name: string; tags: string[] }>)
        .then((full) => {
          const sorted = [...full.tags].sort();
          const start = last ? sorted.indexOf(last) + 1 : 0;
          const page = sorted.slice(start, start + n);
          const headers: Record<string, string> = { 'content-type': 'application/json' };
          if (start + n < sorted.length) {
            headers.link = `<${url.pathname}?n=${n}&last=${page.at(-1)}>; rel="next"`;
          }
          res.writeHead(200, headers);
          res.end(JSON.stringify({ name: full.name, tags: page }));
        });
      return true;
    });
    const c = new RegistryClient({ registry: proxy.host, tlsVerify: false });
    try {
      expect((await c.listTags('skiff/many', { pageSize: 5 })).sort()).toEqual(tags.sort());
      const pages = proxy.log.filter((e) => e.path.includes('/tags/list'));
      expect(pages.map((p) => p.path)).toEqual([
        '/v2/skiff/many/tags/list?n=5',
        '/v2/skiff/many/tags/list?n=5&last=t03',
        '/v2/skiff/many/tags/list?n=5&last=t08',
        '/v2/skiff/many/tags/list?n=5&last=t13',
        '/v2/skiff/many/tags/list?n=5&last=t18',
      ]);
      // Without n= the registry returns every tag in one response.
      expect((await c.listTags('skiff/many')).length).toBe(24);
      await pushImage('skiff/another', 'v1');
      const repos = await c.catalog({ pageSize: 1 });
      expect(repos).toEqual(expect.arrayContaining(['skiff/another', 'skiff/many']));
      // The catalog pagination is the registry's own (Link headers from distribution).
      expect(proxy.log.filter((e) => e.path.startsWith('/v2/_catalog')).length).toBe(repos.length);
    } finally {
      await c.close();
      await proxy.stop();
    }
  });

  it('mounts a blob from another repository without uploading it', async () => {
    const { layer } = await pushImage('skiff/source', 'v1');
    const proxy = await startFaultProxy(registry.url);
    const c = new RegistryClient({ registry: proxy.host, tlsVerify: false });
    try {
      expect(await c.mountBlob('skiff/target', layer.digest, 'skiff/source')).toBe(true);
      const uploads = proxy.log.filter((e) => e.path.includes('/blobs/uploads/'));
      expect(uploads).toHaveLength(1);
      expect(uploads[0]!.method).toBe('POST');
      expect(uploads[0]!.status).toBe(201);
      expect(uploads[0]!.path).toContain(`mount=${encodeURIComponent(layer.digest)}`);
      expect(await c.hasBlob('skiff/target', layer.digest)).toBe(true);

      // An unknown blob cannot be mounted: 202 opens an upload, which putBlob then uses.
      const other = makeBlob(3000);
      expect(await c.mountBlob('skiff/target', other.digest, 'skiff/source')).toBe(false);
      const put = await c.putBlob('skiff/target', streamOf(other.data), {
        digest: other.digest,
        size: other.data.length,
        mountFrom: 'skiff/source',
      });
      expect(put.mounted).toBe(false);
      expect(await c.hasBlob('skiff/target', other.digest)).toBe(true);
      const mounted = await c.putBlob('skiff/third', streamOf(other.data), {
        digest: other.digest,
        mountFrom: 'skiff/target',
      });
      expect(mounted.mounted).toBe(true);
    } finally {
      await c.close();
      await proxy.stop();
    }
  });

  it('refuses an https connection to a plain-http registry unless tls-verify is off', async () => {
    const strict = new RegistryClient({ registry: registry.host, retryTimes: 0 });
    try {
      const err = await strict.listTags('skiff/app').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RegistryError);
      expect((err as RegistryError).code).toBe('E_REGISTRY_UNREACHABLE');
      expect((err as RegistryError).message).toContain(registry.host);
    } finally {
      await strict.close();
    }
  });
});
