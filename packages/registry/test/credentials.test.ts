import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isSkiffError } from '@skiff/oci-image';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RegistryServer, startRegistry } from '../../../test/lib/registry-server.js';
import { getCredentials, login, logout, RegistryClient, RegistryError } from '../src/index.js';

let dir: string;
let env: NodeJS.ProcessEnv;
const b64 = (s: string) => Buffer.from(s).toString('base64');

function writeJson(path: string, value: unknown) {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, JSON.stringify(value));
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'skiff-creds-'));
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  // A credential helper as docker's protocol defines it: server URL on stdin, JSON on stdout.
  writeFileSync(
    join(bin, 'docker-credential-skifftest'),
    `#!/bin/sh
[ "$1" = get ] || exit 1
read server
case "$server" in
  helper.example.com) printf '{"ServerURL":"%s","Username":"helper-user","Secret":"helper-secret"}' "$server" ;;
  token.example.com) printf '{"ServerURL":"%s","Username":"<token>","Secret":"refresh-123"}' "$server" ;;
  *) echo "credentials not found in native keychain"; exit 1 ;;
esac
`,
  );
  chmodSync(join(bin, 'docker-credential-skifftest'), 0o755);
  env = {
    HOME: join(dir, 'home'),
    XDG_RUNTIME_DIR: join(dir, 'run'),
    PATH: `${bin}:${process.env.PATH}`,
  };
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('credential lookup', () => {
  it('prefers explicit creds, then auth.json files in order, then docker config', async () => {
    writeJson(join(dir, 'run', 'containers', 'auth.json'), {
      auths: { 'runtime.example.com': { auth: b64('rt-user:rt-pass') } },
    });
    writeJson(join(dir, 'home', '.config', 'containers', 'auth.json'), {
      auths: {
        'runtime.example.com': { auth: b64('shadowed:x') },
        'cfg.example.com': { auth: b64('cfg-user:cfg:pass:with:colons') },
      },
    });
    writeJson(join(dir, 'home', '.docker', 'config.json'), {
      auths: { 'https://docker.example.com/v1/': { auth: b64('dk-user:dk-pass') } },
    });
    expect(await getCredentials('runtime.example.com', { env })).toMatchObject({
      username: 'rt-user',
      password: 'rt-pass',
    });
    expect(await getCredentials('cfg.example.com/some/repo', { env })).toMatchObject({
      username: 'cfg-user',
      password: 'cfg:pass:with:colons',
    });
    expect(await getCredentials('docker.example.com', { env })).toMatchObject({
      username: 'dk-user',
      source: join(dir, 'home', '.docker', 'config.json'),
    });
    expect(await getCredentials('runtime.example.com', { env, creds: 'me:mine' })).toMatchObject({
      username: 'me',
      password: 'mine',
    });
    expect(await getCredentials('nothing.example.com', { env })).toBeUndefined();
  });

  it('lets a namespaced key win over the host key', async () => {
    const authfile = join(dir, 'ns.json');
    writeJson(authfile, {
      auths: {
        'ns.example.com': { auth: b64('host-user:p') },
        'ns.example.com/team': { auth: b64('team-user:p') },
        'ns.example.com/team/app': { auth: b64('app-user:p') },
      },
    });
    const get = async (r: string) => (await getCredentials(r, { env, authfile }))?.username;
    expect(await get('ns.example.com/team/app')).toBe('app-user');
    expect(await get('ns.example.com/team/other')).toBe('team-user');
    expect(await get('ns.example.com/elsewhere')).toBe('host-user');
    // REGISTRY_AUTH_FILE replaces the default files, as --authfile does.
    expect(
      (await getCredentials('ns.example.com', { env: { ...env, REGISTRY_AUTH_FILE: authfile } }))
        ?.username,
    ).toBe('host-user');
    expect(
      await getCredentials('runtime.example.com', {
        env: { ...env, REGISTRY_AUTH_FILE: authfile },
      }),
    ).toBeUndefined();
  });

  it('runs docker-credential helpers from credHelpers and credsStore', async () => {
    const authfile = join(dir, 'helpers.json');
    writeJson(authfile, {
      credHelpers: { 'helper.example.com': 'skifftest', 'missing.example.com': 'skifftest' },
      credsStore: 'skifftest',
    });
    expect(await getCredentials('helper.example.com/a/b', { env, authfile })).toEqual({
      username: 'helper-user',
      password: 'helper-secret',
      source: 'docker-credential-skifftest',
    });
    expect(await getCredentials('token.example.com', { env, authfile })).toMatchObject({
      identityToken: 'refresh-123',
    });
    expect(await getCredentials('missing.example.com', { env, authfile })).toBeUndefined();
    const broken = join(dir, 'broken.json');
    writeJson(broken, { credHelpers: { 'x.example.com': 'doesnotexist' } });
    const err = await getCredentials('x.example.com', { env, authfile: broken }).catch(
      (e: unknown) => e,
    );
    expect(isSkiffError(err, 'E_CREDENTIALS')).toBe(true);
    expect((err as Error).message).toContain('docker-credential-doesnotexist');
  });

  it('reports a corrupt auth file by path', async () => {
    const authfile = join(dir, 'corrupt.json');
    writeFileSync(authfile, '{not json');
    const err = await getCredentials('a.example.com', { env, authfile }).catch((e: unknown) => e);
    expect(isSkiffError(err, 'E_CREDENTIALS')).toBe(true);
    expect((err as Error).message).toContain(authfile);
  });
});

describe('login and logout against a registry with htpasswd', () => {
  let registry: RegistryServer;
  beforeAll(async () => {
    registry = await startRegistry({
      auth: 'basic',
      users: [{ username: 'alice', password: 'alice-pw-123' }],
    });
  });
  afterAll(async () => {
    await registry?.stop();
  });

  it('validates, writes auth.json like podman, is used for pulls, and logout removes it', async () => {
    const loginEnv = { HOME: join(dir, 'login-home'), XDG_RUNTIME_DIR: join(dir, 'login-run') };
    const bad = await login(registry.host, {
      username: 'alice',
      password: 'wrong-pw-999',
      tlsVerify: false,
      env: loginEnv,
    }).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(RegistryError);
    expect((bad as RegistryError).code).toBe('E_UNAUTHORIZED');
    expect((bad as Error).message).not.toContain('wrong-pw-999');

    const { authfile } = await login(registry.host, {
      username: 'alice',
      password: 'alice-pw-123',
      tlsVerify: false,
      env: loginEnv,
    });
    expect(authfile).toBe(join(dir, 'login-run', 'containers', 'auth.json'));
    expect(JSON.parse(readFileSync(authfile, 'utf8'))).toEqual({
      auths: { [registry.host]: { auth: b64('alice:alice-pw-123') } },
    });
    expect(statSync(authfile).mode & 0o777).toBe(0o600);

    const client = new RegistryClient({
      registry: registry.host,
      tlsVerify: false,
      credentialOptions: { env: loginEnv },
    });
    try {
      expect(await client.catalog()).toEqual([]);
    } finally {
      await client.close();
    }

    expect((await logout(registry.host, { env: loginEnv })).removed).toEqual([registry.host]);
    expect(JSON.parse(readFileSync(authfile, 'utf8'))).toEqual({ auths: {} });
    const again = await logout(registry.host, { env: loginEnv }).catch((e: unknown) => e);
    expect(isSkiffError(again, 'E_NOT_LOGGED_IN')).toBe(true);
    expect((again as Error).message).toContain(`not logged into ${registry.host}`);

    await login(registry.host, {
      username: 'alice',
      password: 'alice-pw-123',
      tlsVerify: false,
      env: loginEnv,
    });
    writeJson(authfile, {
      ...JSON.parse(readFileSync(authfile, 'utf8')),
      auths: { a: { auth: 'x' }, [registry.host]: { auth: 'y' } },
    });
    expect((await logout(undefined, { env: loginEnv, all: true })).removed.sort()).toEqual(
      [registry.host, 'a'].sort(),
    );
  });
});
