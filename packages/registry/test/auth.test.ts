import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type RegistryServer,
  startRegistry,
  TOKEN_SERVICE,
} from '../../../test/lib/registry-server.js';
import { RegistryClient, RegistryError } from '../src/index.js';
import { makeBlob, ociManifest, readAll, sha256, streamOf } from './helpers.js';

const users = [
  { username: 'skiff', password: 'pa55-w0rd-secret' },
  { username: 'reader', password: 'read-only-secret', actions: ['pull'] },
];

async function push(client: RegistryClient, repo: string) {
  const layer = makeBlob(4000);
  await client.putBlob(repo, streamOf(layer.data), { digest: layer.digest });
  const manifest = ociManifest({ digest: layer.digest, size: layer.data.length }, []);
  await client.putManifest(repo, 'v1', manifest.raw, manifest.mediaType);
  return { layer, manifest };
}

describe('basic auth (htpasswd)', () => {
  let registry: RegistryServer;
  beforeAll(async () => {
    registry = await startRegistry({ auth: 'basic', users });
  });
  afterAll(async () => {
    await registry?.stop();
  });

  it('pushes and pulls with good credentials', async () => {
    const client = new RegistryClient({
      registry: registry.host,
      tlsVerify: false,
      credentials: { username: 'skiff', password: 'pa55-w0rd-secret', source: 'test' },
    });
    try {
      const { layer, manifest } = await push(client, 'basic/app');
      expect((await client.getManifest('basic/app', 'v1')).digest).toBe(manifest.digest);
      const blob = await client.getBlob('basic/app', layer.digest);
      expect(sha256(await readAll(blob.stream))).toBe(layer.digest);
    } finally {
      await client.close();
    }
  });

  it('says unauthorized, names the registry and never shows the password for bad credentials', async () => {
    const client = new RegistryClient({
      registry: registry.host,
      tlsVerify: false,
      credentials: { username: 'skiff', password: 'wrong-password-value', source: 'test' },
    });
    try {
      const err = await client.getManifest('basic/app', 'v1').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RegistryError);
      const e = err as RegistryError;
      expect(e.code).toBe('E_UNAUTHORIZED');
      expect(e.status).toBe(401);
      expect(e.message).toMatch(/unauthorized/);
      expect(e.message).toContain(registry.host);
      expect(e.message).not.toContain('wrong-password-value');
      expect(e.hint).toMatch(/log in/);
    } finally {
      await client.close();
    }
  });

  it('is unauthorized without credentials', async () => {
    const client = new RegistryClient({
      registry: registry.host,
      tlsVerify: false,
      credentials: null,
    });
    try {
      const err = (await client.listTags('basic/app').catch((e: unknown) => e)) as RegistryError;
      expect(err.code).toBe('E_UNAUTHORIZED');
      expect(err.message).toContain(registry.host);
    } finally {
      await client.close();
    }
  });
});

describe('bearer token auth', () => {
  let registry: RegistryServer;
  beforeAll(async () => {
    registry = await startRegistry({ auth: 'token', users });
  });
  afterAll(async () => {
    await registry?.stop();
  });

  it('fetches tokens for the repository scopes it needs and caches them', async () => {
    const client = new RegistryClient({
      registry: registry.host,
      tlsVerify: false,
      credentials: { username: 'skiff', password: 'pa55-w0rd-secret', source: 'test' },
    });
    try {
      registry.tokenRequests.length = 0;
      const { manifest } = await push(client, 'tok/app');
      expect((await client.getManifest('tok/app', 'v1')).digest).toBe(manifest.digest);
      expect((await client.getManifest('tok/app', manifest.digest)).digest).toBe(manifest.digest);
      const scopes = registry.tokenRequests.map((r) => r.scopes.join(' '));
      expect(scopes).toEqual(['repository:tok/app:pull,push', 'repository:tok/app:pull']);
      expect(
        registry.tokenRequests.every((r) => r.account === 'skiff' && r.service === TOKEN_SERVICE),
      ).toBe(true);
    } finally {
      await client.close();
    }
  });

  it('asks for more scope when the registry answers insufficient_scope (catalog, cross-repo mount)', async () => {
    const client = new RegistryClient({
      registry: registry.host,
      tlsVerify: false,
      credentials: { username: 'skiff', password: 'pa55-w0rd-secret', source: 'test' },
    });
    try {
      const { layer } = await push(client, 'tok/source');
      registry.tokenRequests.length = 0;
      const repos = await client.catalog();
      expect(repos).toEqual(expect.arrayContaining(['tok/source']));
      // The first token had no scope; the registry's challenge named registry:catalog:*.
      expect(registry.tokenRequests.map((r) => r.scopes)).toEqual([[], ['registry:catalog:*']]);
      registry.tokenRequests.length = 0;
      expect(await client.mountBlob('tok/dest', layer.digest, 'tok/source')).toBe(true);
      expect(registry.tokenRequests.map((r) => r.scopes)).toEqual([
        ['repository:tok/dest:pull,push', 'repository:tok/source:pull'],
      ]);
    } finally {
      await client.close();
    }
  });

  it('reports denied when the user may pull but not push, and bad passwords as unauthorized', async () => {
    const reader = new RegistryClient({
      registry: registry.host,
      tlsVerify: false,
      credentials: { username: 'reader', password: 'read-only-secret', source: 'test' },
    });
    const bad = new RegistryClient({
      registry: registry.host,
      tlsVerify: false,
      credentials: { username: 'skiff', password: 'not-the-password', source: 'test' },
    });
    try {
      const blob = makeBlob(100);
      const err = (await reader
        .putBlob('tok/ro', streamOf(blob.data))
        .catch((e: unknown) => e)) as RegistryError;
      expect(err).toBeInstanceOf(RegistryError);
      expect(err.code).toBe('E_DENIED');
      expect(err.message).toContain(registry.host);
      const err2 = (await bad.listTags('tok/app').catch((e: unknown) => e)) as RegistryError;
      expect(err2.code).toBe('E_UNAUTHORIZED');
      expect(err2.message).toContain(registry.host);
      expect(err2.message).not.toContain('not-the-password');
    } finally {
      await reader.close();
      await bad.close();
    }
  });

  it('pulls anonymously-denied content only with a token, and uses an identity token via POST oauth', async () => {
    // Obtain a refresh token as `podman login` would store it (identitytoken in auth.json).
    const res = await fetch(`${registry.tokenRealm}?service=${TOKEN_SERVICE}&offline_token=true`, {
      headers: {
        authorization: `Basic ${Buffer.from('skiff:pa55-w0rd-secret').toString('base64')}`,
      },
    });
    const refresh = ((await res.json()) as { refresh_token: string }).refresh_token;
    expect(refresh).toBeTruthy();
    const client = new RegistryClient({
      registry: registry.host,
      tlsVerify: false,
      credentials: { username: '', password: '', identityToken: refresh, source: 'test' },
    });
    try {
      registry.tokenRequests.length = 0;
      expect(await client.listTags('tok/app')).toEqual(['v1']);
      expect(registry.tokenRequests).toEqual([
        expect.objectContaining({
          method: 'POST',
          grantType: 'refresh_token',
          scopes: ['repository:tok/app:pull'],
        }),
      ]);
    } finally {
      await client.close();
    }
  });
});
