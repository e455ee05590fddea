import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { isSkiffError } from '@skiff/oci-image';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  blobGet,
  type FaultProxy,
  manifestGet,
  type RedirectTarget,
  startFaultProxy,
  startRedirectTarget,
} from '../../../test/lib/fault-proxy.js';
import { type RegistryServer, startRegistry } from '../../../test/lib/registry-server.js';
import type { OpenOptions } from '../src/index.js';
import { copyWith, verifyWith } from './docker-helpers.js';
import { type BuiltImage, buildImage, listFiles, TempDirs, writeOciLayout } from './fixtures.js';

const user = { username: 'skiff', password: 'fault-test-secret' };
const basicAuth = `Basic ${Buffer.from(`${user.username}:${user.password}`).toString('base64')}`;
const tmp = new TempDirs();
let registry: RegistryServer;
let proxy: FaultProxy;
let storage: RedirectTarget;
let dir: string;
let img: BuiltImage;
/** The big layer: random data, so that a connection can be cut in the middle of it. */
let big: string;
const retries: string[] = [];

const opts = (): OpenOptions => ({
  tlsVerify: false,
  creds: `${user.username}:${user.password}`,
  retryDelay: 10,
});
const viaProxy = () => `docker://${proxy.host}/skiff/faults:v1`;

beforeAll(async () => {
  [registry, dir, img] = await Promise.all([
    startRegistry({ auth: 'basic', users: [user] }),
    tmp.make(),
    buildImage({
      label: 'faults',
      layers: [{ 'data/random.b64': randomBytes(450 * 1024).toString('base64') }, { a: 'b\n' }],
    }),
  ]);
  big = img.layers[0]!.digest;
  proxy = await startFaultProxy(registry.url);
  storage = await startRedirectTarget(registry.url, {
    host: '127.0.0.2',
    upstreamHeaders: { authorization: basicAuth },
  });
  await writeOciLayout(path.join(dir, 'src'), [{ ref: 'v1', image: img }]);
  await copyWith(`oci:${dir}/src:v1`, `docker://${registry.host}/skiff/faults:v1`, opts());
});

afterAll(async () => {
  await storage?.stop();
  await proxy?.stop();
  await registry?.stop();
  await tmp.cleanup();
});

beforeEach(() => {
  proxy.reset();
  retries.length = 0;
});

async function pullToOci(name = 'out') {
  const d = await tmp.make();
  const res = await copyWith(viaProxy(), `oci:${d}/${name}:v1`, opts());
  await verifyWith(`oci:${d}/${name}:v1`, {}, { expectedDigest: img.manifestDigest });
  return { ...res, dir: d };
}

describe('registry faults between Skiff and the registry', () => {
  it('retries HTTP 500 on a manifest and on a blob upload, then succeeds', async () => {
    const rule = proxy.fault(manifestGet(), { kind: 'status', status: 500 }, 2);
    const res = await pullToOci();
    expect(res.manifestDigest).toBe(img.manifestDigest);
    expect(rule.hits).toBe(2);
    const put = proxy.fault(
      { method: 'PUT', path: /\/blobs\/uploads\// },
      { kind: 'status', status: 500 },
    );
    const pushed = await copyWith(
      `oci:${dir}/src:v1`,
      `docker://${proxy.host}/skiff/push-500:v1`,
      opts(),
    );
    expect(pushed.manifestDigest).toBe(img.manifestDigest);
    expect(put.hits).toBe(1);
    await verifyWith(`docker://${registry.host}/skiff/push-500:v1`, opts(), {
      expectedDigest: img.manifestDigest,
    });
  });

  it('waits as long as a 429 Retry-After asks, then succeeds', async () => {
    const rule = proxy.fault(blobGet(big), {
      kind: 'status',
      status: 429,
      headers: { 'retry-after': '1' },
    });
    const started = Date.now();
    const res = await pullToOci();
    expect(res.manifestDigest).toBe(img.manifestDigest);
    expect(rule.hits).toBe(1);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
  });

  it('resumes a blob with a Range request after the connection is reset mid-body', async () => {
    const rule = proxy.fault(blobGet(big), { kind: 'reset-after', bytes: 100_000 });
    const res = await pullToOci();
    expect(res.manifestDigest).toBe(img.manifestDigest);
    expect(rule.hits).toBe(1);
    const resumed = proxy.log.filter(
      (e) => e.method === 'GET' && decodeURIComponent(e.path).includes(big) && e.range,
    );
    expect(resumed.length).toBeGreaterThanOrEqual(1);
    expect(resumed[0]!.range).toMatch(/^bytes=[1-9]\d*-$/);
  });

  it('fails with a digest mismatch on corrupted blob bytes and leaves no image behind', async () => {
    proxy.fault(blobGet(big), { kind: 'corrupt' }, Number.POSITIVE_INFINITY);
    const d = await tmp.make();
    const err = await copyWith(viaProxy(), `oci:${d}/bad:v1`, opts()).catch((e: unknown) => e);
    expect(isSkiffError(err, 'E_DIGEST_MISMATCH')).toBe(true);
    expect((err as Error).message).toContain(big);
    expect((err as Error).message).toMatch(/digest mismatch|digest/);
    expect(await listFiles(`${d}/bad`)).not.toContain('index.json');
    expect(
      (await listFiles(`${d}/bad`)).filter((f) => f.startsWith('blobs/')).map((f) => f),
    ).toEqual([]);
  });

  it('follows a redirect to another host without sending it the credentials', async () => {
    proxy.fault(blobGet(big), { kind: 'redirect', to: storage.url });
    storage.log.length = 0;
    const res = await pullToOci();
    expect(res.manifestDigest).toBe(img.manifestDigest);
    const atStorage = storage.log.filter((e) => decodeURIComponent(e.path).includes(big));
    expect(atStorage).toHaveLength(1);
    expect(atStorage[0]!.authorization).toBeUndefined();
    // The registry itself did get credentials for the same blob.
    const atRegistry = proxy.log.filter(
      (e) => e.method === 'GET' && decodeURIComponent(e.path).includes(big),
    );
    expect(atRegistry.map((e) => [e.status, e.authorization])).toEqual([[307, true]]);
  });

  it('gives up on a fault that does not go away, naming the registry', async () => {
    proxy.fault(manifestGet(), { kind: 'status', status: 503 }, Number.POSITIVE_INFINITY);
    const d = await tmp.make();
    const err = await copyWith(viaProxy(), `oci:${d}/x:v1`, { ...opts(), retryTimes: 1 }).catch(
      (e: unknown) => e,
    );
    expect(isSkiffError(err, 'E_REGISTRY')).toBe(true);
    expect((err as Error).message).toContain(proxy.host);
    expect((err as Error).message).toContain('503');
    expect(await fs.readdir(d)).toEqual([]);
  });
});
