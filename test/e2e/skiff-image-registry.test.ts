// Runs the built skiff-image CLI against Debian's real docker-registry with htpasswd (basic)
// auth: login/logout and the auth file, list-tags, delete, and copy/inspect through docker://,
// checked against what skopeo prints and reads where both apply.
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ok,
  registryClientEnv,
  runCommand,
  SKIFF_IMAGE_CLI,
  withoutLayersData,
} from '../lib/cli.js';
import { buildFixtureImage, type FixtureImage } from '../lib/fixture-image.js';
import { type RegistryServer, startRegistry } from '../lib/registry-server.js';

const USER = 'skiff';
const PASSWORD = 'skiff-secret';
const CREDS = `${USER}:${PASSWORD}`;

let work: string;
let home: string;
let registry: RegistryServer;
let fixture: FixtureImage;

const run = (cmd: string, args: string[], input?: string) =>
  runCommand(cmd, args, { env: registryClientEnv(home), input });
const skiff = (...args: string[]) => run(process.execPath, [SKIFF_IMAGE_CLI, ...args]);
const skopeo = (...args: string[]) => run('skopeo', ['--insecure-policy', ...args]);

/** Pushes an image with the real skopeo, so reading tests do not depend on skiff's push. */
const seed = (from: string, to: string) =>
  ok(skopeo('copy', '--quiet', '--dest-tls-verify=false', '--dest-creds', CREDS, from, to));

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'skiff-image-registry-e2e-'));
  home = join(work, 'home');
  registry = await startRegistry({
    auth: 'basic',
    users: [{ username: USER, password: PASSWORD }],
  });
  fixture = await buildFixtureImage(work, { labels: { app: 'registry-test' } });
  for (const tag of ['v1', 'v2']) {
    await seed(fixture.name, `docker://${registry.host}/seeded/app:${tag}`);
  }
});

afterAll(async () => {
  await registry?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('skiff-image login and logout', () => {
  it('stores checked credentials in a 0600 auth file that other commands use, and removes them', async () => {
    const authfile = join(work, 'login', 'auth.json');
    const login = await skiff(
      'login',
      '--tls-verify=false',
      '--authfile',
      authfile,
      '-u',
      USER,
      '-p',
      PASSWORD,
      registry.host,
    );
    expect(login).toEqual({ code: 0, stdout: 'Login Succeeded!\n', stderr: '' });
    expect((await stat(authfile)).mode & 0o777).toBe(0o600);
    const stored = JSON.parse(await readFile(authfile, 'utf8'));
    expect(stored.auths[registry.host].auth).toBe(Buffer.from(CREDS).toString('base64'));

    expect(await ok(skiff('login', '--authfile', authfile, '--get-login', registry.host))).toBe(
      `${USER}\n`,
    );
    // The stored credentials are what list-tags uses, with no --creds.
    const tags = JSON.parse(
      await ok(
        skiff(
          'list-tags',
          '--tls-verify=false',
          '--authfile',
          authfile,
          `docker://${registry.host}/seeded/app`,
        ),
      ),
    );
    expect(tags.Tags).toContain('v1');
    // skopeo reads the same file.
    const theirs = JSON.parse(
      await ok(
        skopeo(
          'list-tags',
          '--tls-verify=false',
          '--authfile',
          authfile,
          `docker://${registry.host}/seeded/app`,
        ),
      ),
    );
    expect(theirs.Tags).toEqual(tags.Tags);

    expect(await ok(skiff('logout', '--authfile', authfile, registry.host))).toBe(
      `Removed login credentials for ${registry.host}\n`,
    );
    const after = JSON.parse(await readFile(authfile, 'utf8'));
    expect(after.auths?.[registry.host]).toBeUndefined();

    const anonymous = await skiff(
      'list-tags',
      '--tls-verify=false',
      '--authfile',
      authfile,
      `docker://${registry.host}/seeded/app`,
    );
    expect(anonymous.code).toBe(1);
    expect(anonymous.stderr).toMatch(/unauthorized/i);

    const again = await skiff('logout', '--authfile', authfile, registry.host);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain(`not logged into ${registry.host}`);
  });

  it('refuses a wrong password with exit 1, naming the registry, and writes nothing', async () => {
    const authfile = join(work, 'wrong', 'auth.json');
    const r = await skiff(
      'login',
      '--tls-verify=false',
      '--authfile',
      authfile,
      '-u',
      USER,
      '-p',
      'not-the-password',
      registry.host,
    );
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`logging into "${registry.host}": invalid username/password`);
    expect(r.stderr).not.toContain('not-the-password');
    await expect(stat(authfile)).rejects.toThrow(/ENOENT/);
  });

  it('takes the password from stdin with --password-stdin', async () => {
    const authfile = join(work, 'stdin', 'auth.json');
    const r = await run(
      process.execPath,
      [
        SKIFF_IMAGE_CLI,
        'login',
        '--tls-verify=false',
        '--authfile',
        authfile,
        '-u',
        USER,
        '--password-stdin',
        registry.host,
      ],
      `${PASSWORD}\n`,
    );
    expect(r).toEqual({ code: 0, stdout: 'Login Succeeded!\n', stderr: '' });
    // Without -u/-p the stored credentials are checked again instead of prompting.
    expect(
      await ok(skiff('login', '--tls-verify=false', '--authfile', authfile, registry.host)),
    ).toBe(
      `Authenticating with existing credentials for ${registry.host}\nExisting credentials are valid. Already logged in to ${registry.host}\n`,
    );
    expect(await ok(skiff('logout', '--all', '--authfile', authfile))).toBe(
      'Removed login credentials for all registries\n',
    );
    expect(JSON.parse(await readFile(authfile, 'utf8')).auths).toEqual({});
  });

  it('refuses --password-stdin without --username and a missing registry with exit 1', async () => {
    const noUser = await run(
      process.execPath,
      [SKIFF_IMAGE_CLI, 'login', '--password-stdin', registry.host],
      'x\n',
    );
    expect(noUser.code).toBe(1);
    expect(noUser.stderr).toContain('must provide --username with --password-stdin');
    const noRegistry = await skiff('login', '-u', USER, '-p', PASSWORD);
    expect(noRegistry.code).toBe(1);
    expect(noRegistry.stderr).toContain('please provide a registry to login to');
  });
});

describe('skiff-image list-tags', () => {
  it('prints the JSON skopeo prints', async () => {
    const repo = `docker://${registry.host}/seeded/app`;
    const ours = await ok(skiff('list-tags', '--tls-verify=false', '--creds', CREDS, repo));
    expect(ours).toBe(await ok(skopeo('list-tags', '--tls-verify=false', '--creds', CREDS, repo)));
    const parsed = JSON.parse(ours);
    expect(Object.keys(parsed)).toEqual(['Repository', 'Tags']);
    expect(parsed.Repository).toBe(`${registry.host}/seeded/app`);
    expect(parsed.Tags).toEqual(expect.arrayContaining(['v1', 'v2']));
    expect(ours).toMatch(/^\{\n {4}"Repository": ".*",\n {4}"Tags": \[\n {8}"/);
  });

  it('refuses a tagged reference and other transports with exit 1', async () => {
    const tagged = await skiff(
      'list-tags',
      '--creds',
      CREDS,
      `docker://${registry.host}/seeded/app:v1`,
    );
    expect(tagged.code).toBe(1);
    expect(tagged.stderr).toContain('no tag or digest allowed');
    const oci = await skiff('list-tags', fixture.name);
    expect(oci.code).toBe(1);
    expect(oci.stderr).toContain('unsupported transport "oci"');
  });

  it('names an unknown repository', async () => {
    const r = await skiff(
      'list-tags',
      '--tls-verify=false',
      '--creds',
      CREDS,
      `docker://${registry.host}/no/such-repo`,
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('no/such-repo');
  });
});

describe('skiff-image copy and inspect with docker://', () => {
  it('inspects a registry image as skopeo does, with RepoTags', async () => {
    const image = `docker://${registry.host}/seeded/app:v1`;
    const flags = ['--tls-verify=false', '--creds', CREDS];
    const ours = await ok(skiff('inspect', ...flags, image));
    expect(withoutLayersData(ours)).toBe(await ok(skopeo('inspect', ...flags, image)));
    const parsed = JSON.parse(ours);
    expect(parsed.Name).toBe(`${registry.host}/seeded/app`);
    expect(parsed.Digest).toBe(fixture.digest);
    expect(parsed.RepoTags).toEqual(expect.arrayContaining(['v1', 'v2']));
    const noTags = JSON.parse(await ok(skiff('inspect', ...flags, '--no-tags', image)));
    expect(noTags.RepoTags).toEqual([]);
    expect(await ok(skiff('inspect', ...flags, '--raw', image))).toBe(fixture.manifest.toString());
  });

  it('pushes with --dest-creds and pulls back with --src-creds, keeping the digest', async () => {
    const pushed = `docker://${registry.host}/copied/app:v1`;
    await ok(
      skiff(
        'copy',
        '--quiet',
        '--dest-tls-verify=false',
        '--dest-creds',
        CREDS,
        fixture.name,
        pushed,
      ),
    );
    expect(
      await ok(skopeo('inspect', '--raw', '--tls-verify=false', '--creds', CREDS, pushed)),
    ).toBe(fixture.manifest.toString());

    const layout = join(work, 'pulled');
    const out = await ok(
      skiff('copy', '--src-tls-verify=false', '--src-creds', CREDS, pushed, `oci:${layout}:back`),
    );
    expect(out).toContain('Writing manifest to image destination');
    expect(await ok(skopeo('inspect', '--raw', `oci:${layout}:back`))).toBe(
      fixture.manifest.toString(),
    );
  });

  it('fails with exit 1 and an unauthorized error without credentials', async () => {
    const r = await skiff(
      'copy',
      '--quiet',
      '--dest-tls-verify=false',
      fixture.name,
      `docker://${registry.host}/copied/anonymous:v1`,
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/unauthorized/i);
    expect(r.stderr).toContain(registry.host);
  });
});

describe('skiff-image delete', () => {
  const flags = () => ['--tls-verify=false', '--creds', CREDS];

  it('deletes by tag; inspecting it afterwards fails with manifest unknown', async () => {
    // A manifest of its own: deleting it would otherwise remove every tag that shares it.
    const doomed = await buildFixtureImage(work, { labels: { app: 'doomed' }, ref: 'doomed' });
    const image = `docker://${registry.host}/seeded/doomed:to-delete`;
    await seed(doomed.name, image);
    await ok(skiff('delete', ...flags(), image));
    const gone = await skiff('inspect', ...flags(), image);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/manifest unknown|MANIFEST_UNKNOWN/i);
    const theirs = await skopeo('inspect', ...flags(), image);
    expect(theirs.code).not.toBe(0);
  });

  it('deletes by digest and names a tag that does not exist', async () => {
    const second = await buildFixtureImage(work, { labels: { app: 'second' }, ref: 'second' });
    const tagged = `docker://${registry.host}/seeded/other:by-digest`;
    await seed(second.name, tagged);
    const byDigest = `docker://${registry.host}/seeded/other@${second.digest}`;
    await ok(skiff('delete', ...flags(), byDigest));
    const gone = await skiff('inspect', ...flags(), tagged);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/manifest unknown|MANIFEST_UNKNOWN/i);

    const missing = await skiff('delete', ...flags(), `docker://${registry.host}/seeded/app:nope`);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('seeded/app:nope');
  });

  it('refuses transports other than docker://', async () => {
    const r = await skiff('delete', fixture.name);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('docker:// only');
  });
});
