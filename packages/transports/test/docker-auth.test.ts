import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { isSkiffError } from '@skiff/oci-image';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RegistryServer, startRegistry } from '../../../test/lib/registry-server.js';
import type { OpenOptions } from '../src/index.js';
import { copyWith, eventDigests, verifyWith } from './docker-helpers.js';
import { type BuiltImage, buildImage, TempDirs, writeOciLayout } from './fixtures.js';

const user = { username: 'skiff', password: 'auth-test-secret' };
const tmp = new TempDirs();
let dir: string;
let img: BuiltImage;
const servers: Partial<Record<'basic' | 'token', RegistryServer>> = {};

beforeAll(async () => {
  let basic: RegistryServer;
  let token: RegistryServer;
  [basic, token, dir, img] = await Promise.all([
    startRegistry({ auth: 'basic', users: [user] }),
    startRegistry({ auth: 'token', users: [user] }),
    tmp.make(),
    buildImage({ label: 'auth' }),
  ]);
  servers.basic = basic;
  servers.token = token;
  await writeOciLayout(path.join(dir, 'src'), [{ ref: 'v1', image: img }]);
});

afterAll(async () => {
  await servers.basic?.stop();
  await servers.token?.stop();
  await tmp.cleanup();
});

// An empty auth file keeps the machine user's stored logins out of these tests.
const base = (): OpenOptions => ({
  tlsVerify: false,
  retryTimes: 0,
  authfile: path.join(dir, 'no-auth.json'),
});

describe.each(['basic', 'token'] as const)('%s auth registry', (mode) => {
  const reg = (repo: string) => `docker://${servers[mode]!.host}/${repo}`;
  const good = (): OpenOptions => ({ ...base(), creds: `${user.username}:${user.password}` });

  it('copies with --creds both ways', async () => {
    const pushed = await copyWith(`oci:${dir}/src:v1`, reg('skiff/app:v1'), good());
    expect(pushed.manifestDigest).toBe(img.manifestDigest);
    await verifyWith(reg('skiff/app:v1'), good(), { expectedDigest: img.manifestDigest });
    const back = await copyWith(reg('skiff/app:v1'), `oci:${dir}/${mode}-back:v1`, good());
    expect(back.manifestDigest).toBe(img.manifestDigest);
  });

  it('uses credentials from an auth file', async () => {
    const authfile = path.join(dir, `${mode}-auth.json`);
    const auth = Buffer.from(`${user.username}:${user.password}`).toString('base64');
    await fs.writeFile(authfile, JSON.stringify({ auths: { [servers[mode]!.host]: { auth } } }));
    const res = await copyWith(reg('skiff/app:v1'), reg('skiff/from-authfile:v1'), {
      ...base(),
      authfile,
    });
    expect(res.manifestDigest).toBe(img.manifestDigest);
    // Same registry, same credentials: the blobs are mounted, not uploaded.
    expect(eventDigests(res.events, 'blob-reused')).toHaveLength(3);
  });

  it('fails with a clear unauthorized error for wrong credentials, without leaking them', async () => {
    const wrong: OpenOptions = { ...base(), creds: `${user.username}:not-the-password` };
    for (const attempt of [
      () => copyWith(`oci:${dir}/src:v1`, reg('skiff/denied:v1'), wrong),
      () => copyWith(reg('skiff/app:v1'), `oci:${dir}/${mode}-denied:v1`, wrong),
    ]) {
      const err = await attempt().catch((e: unknown) => e);
      expect(isSkiffError(err, 'E_UNAUTHORIZED')).toBe(true);
      expect((err as Error).message).toMatch(/unauthorized/i);
      expect((err as Error).message).toContain(servers[mode]!.host);
      expect((err as Error).message).not.toContain('not-the-password');
    }
  });

  it('anonymous access (--no-creds) is refused', async () => {
    const err = await copyWith(reg('skiff/app:v1'), `oci:${dir}/${mode}-anon:v1`, {
      ...base(),
      noCreds: true,
    }).catch((e: unknown) => e);
    expect(isSkiffError(err, 'E_UNAUTHORIZED')).toBe(true);
  });
});
