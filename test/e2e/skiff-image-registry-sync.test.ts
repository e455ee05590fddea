// Runs `skiff-image sync` (the built CLI) against Debian's real docker-registry without auth:
// docker -> dir, dir -> docker and yaml -> docker, tag filters, --scoped, --dry-run and
// --keep-going, checking the files and registry contents a user would look at.
import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ok, type Run, registryClientEnv, runCommand, SKIFF_IMAGE_CLI } from '../lib/cli.js';
import { buildFixtureImage, type FixtureImage } from '../lib/fixture-image.js';
import { type RegistryServer, startRegistry } from '../lib/registry-server.js';

const TAGS = ['1.0.0', '1.1.0', '1.2.0-rc.1', '2.0.0', 'latest'];

let work: string;
let registry: RegistryServer;
let fixture: FixtureImage;

const run = (cmd: string, args: string[]) =>
  runCommand(cmd, args, { env: registryClientEnv(join(work, 'home')) });
const skiff = (...args: string[]) => run(process.execPath, [SKIFF_IMAGE_CLI, ...args]);
const skopeo = (...args: string[]) => run('skopeo', ['--insecure-policy', ...args]);

/** Pushes an image with the real skopeo, so the sources do not depend on skiff's push. */
const seed = (from: string, to: string) =>
  ok(skopeo('copy', '--quiet', '--dest-tls-verify=false', from, to));
const sync = (...args: string[]) =>
  skiff('sync', '--src-tls-verify=false', '--dest-tls-verify=false', ...args);

/** For sync runs, which log to stderr: only the exit status must say success. */
async function succeeds(p: Promise<Run>): Promise<Run> {
  const r = await p;
  expect(r.code, r.stderr).toBe(0);
  return r;
}

async function tagsOf(repo: string): Promise<string[]> {
  const r = await skiff('list-tags', '--tls-verify=false', `docker://${registry.host}/${repo}`);
  if (r.code !== 0) return [];
  return (JSON.parse(r.stdout).Tags as string[]).sort();
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}

/** The log lines of a sync run whose message starts with `msg`. */
function logLines(stderr: string, msg: string): string[] {
  return stderr.split('\n').filter((l) => l.includes(`msg="${msg}`));
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'skiff-image-sync-e2e-'));
  registry = await startRegistry({ auth: 'none' });
  fixture = await buildFixtureImage(work, { labels: { app: 'sync-test' } });
  for (const tag of TAGS) {
    await seed(fixture.name, `docker://${registry.host}/src/app:${tag}`);
  }
  await seed(fixture.name, `docker://${registry.host}/src/tools:stable`);
});

afterAll(async () => {
  await registry?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('skiff-image sync --src docker --dest dir', () => {
  it('copies every tag of a repository into DEST/NAME:TAG directories that skopeo reads', async () => {
    const dest = join(work, 'all');
    const r = await sync('--src', 'docker', '--dest', 'dir', `${registry.host}/src/app`, dest);
    expect(r.code, r.stderr).toBe(0);
    expect((await readdir(dest)).sort()).toEqual(TAGS.map((t) => `app:${t}`).sort());
    const copying = logLines(r.stderr, 'Copying image ref');
    expect(copying).toHaveLength(TAGS.length);
    expect(copying[0]).toMatch(
      new RegExp(
        `level=info msg="Copying image ref 1/${TAGS.length}" from="docker://${registry.host}/src/app:[^"]+" to="dir:${dest}/app:`,
      ),
    );
    expect(r.stderr).toContain(`msg="Synced ${TAGS.length} images from 1 sources"`);
    expect(r.stdout).toContain('Writing manifest to image destination');
    const raw = await ok(skopeo('inspect', '--raw', `dir:${join(dest, 'app:latest')}`));
    expect(raw).toBe(fixture.manifest.toString());
  });

  it('copies one tag when the source names it, and prefixes the source path with --scoped', async () => {
    const dest = join(work, 'scoped');
    const r = await sync(
      '--src',
      'docker',
      '--dest',
      'dir',
      '--scoped',
      `${registry.host}/src/app:1.0.0`,
      dest,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(await exists(join(dest, registry.host, 'src', 'app:1.0.0', 'manifest.json'))).toBe(true);
    expect(r.stderr).toContain('msg="Synced 1 images from 1 sources"');
  });

  it('keeps tags that match --include-tags and none of --exclude-tags', async () => {
    const dest = join(work, 'filtered');
    const r = await sync(
      '--src',
      'docker',
      '--dest',
      'dir',
      '--include-tags',
      '^1\\.',
      '--include-tags',
      '^latest$',
      '--exclude-tags',
      'rc',
      `${registry.host}/src/app`,
      dest,
    );
    expect(r.code, r.stderr).toBe(0);
    expect((await readdir(dest)).sort()).toEqual(['app:1.0.0', 'app:1.1.0', 'app:latest']);
  });

  it('writes nothing with --dry-run but says what it would copy', async () => {
    const dest = join(work, 'dry');
    const r = await sync(
      '--src',
      'docker',
      '--dest',
      'dir',
      '--dry-run',
      `${registry.host}/src/app`,
      dest,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(await exists(dest)).toBe(false);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('level=warning msg="Running in dry-run mode"');
    expect(logLines(r.stderr, 'Would have copied image ref')).toHaveLength(TAGS.length);
    expect(r.stderr).toContain(`msg="Would have synced ${TAGS.length} images from 1 sources"`);
  });

  it('refuses to overwrite an existing image directory', async () => {
    const dest = join(work, 'again');
    await succeeds(
      sync('--src', 'docker', '--dest', 'dir', `${registry.host}/src/tools:stable`, dest),
    );
    const r = await sync(
      '--src',
      'docker',
      '--dest',
      'dir',
      `${registry.host}/src/tools:stable`,
      dest,
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('refusing to overwrite destination directory');
  });
});

describe('skiff-image sync --src dir --dest docker', () => {
  it('pushes each dir: image under DEST/NAME:TAG with the same digest', async () => {
    const source = join(work, 'dir-source');
    await succeeds(sync('--src', 'docker', '--dest', 'dir', `${registry.host}/src/app`, source));
    const r = await sync('--src', 'dir', '--dest', 'docker', source, `${registry.host}/mirror/`);
    expect(r.code, r.stderr).toBe(0);
    expect(await tagsOf('mirror/app')).toEqual([...TAGS].sort());
    expect(r.stderr).toContain(`msg="Synced ${TAGS.length} images from 1 sources"`);
    const digest = await ok(
      skopeo(
        'inspect',
        '--tls-verify=false',
        '--format',
        '{{.Digest}}',
        `docker://${registry.host}/mirror/app:2.0.0`,
      ),
    );
    expect(digest.trim()).toBe(fixture.digest);
  });

  it('stops at the first broken image, or copies the rest and fails at the end with --keep-going', async () => {
    const source = join(work, 'broken-source');
    await mkdir(join(source, 'a-broken:v1'), { recursive: true });
    await writeFile(join(source, 'a-broken:v1', 'manifest.json'), '{"this is": "not a manifest"');
    await ok(skiff('copy', '--quiet', fixture.name, `dir:${join(source, 'b-good:v1')}`));

    const stop = await sync('--src', 'dir', '--dest', 'docker', source, `${registry.host}/stop`);
    expect(stop.code).toBe(1);
    expect(stop.stderr).toContain(`copying ref "dir:${join(source, 'a-broken:v1')}"`);
    expect(await tagsOf('stop/b-good')).toEqual([]);

    const going = await sync(
      '--src',
      'dir',
      '--dest',
      'docker',
      '--keep-going',
      source,
      `${registry.host}/going`,
    );
    expect(going.code).toBe(1);
    expect(going.stderr).toMatch(
      /level=error msg="Error copying ref \\"dir:.*a-broken:v1\\"" error=/,
    );
    expect(going.stderr).toContain('msg="Synced 1 images from 1 sources"');
    expect(going.stderr).toContain('sync failed due to previous reported error(s)');
    expect(await tagsOf('going/b-good')).toEqual(['v1']);
  });
});

describe('skiff-image sync --src yaml --dest docker', () => {
  it('copies the images, tag regexes and semver ranges a YAML file lists, with tag filters', async () => {
    const yamlFile = join(work, 'sync.yml');
    await writeFile(
      yamlFile,
      [
        `${registry.host}:`,
        '  tls-verify: false',
        '  images:',
        '    src/tools: []',
        '    src/app:',
        '      - latest',
        '  images-by-tag-regex:',
        '    src/app: ^1\\.1\\.',
        '  images-by-semver:',
        '    src/app: ">= 1.0.0, < 2"',
        '',
      ].join('\n'),
    );
    const r = await skiff(
      'sync',
      '--src',
      'yaml',
      '--dest',
      'docker',
      '--dest-tls-verify=false',
      '--exclude-tags',
      '^1\\.1\\.',
      yamlFile,
      `${registry.host}/from-yaml`,
    );
    expect(r.code, r.stderr).toBe(0);
    // latest from images:, 1.1.0 from the regex (then excluded), 1.0.0 (and 1.1.0, excluded)
    // from semver; 1.2.0-rc.1 is a pre-release and 2.0.0 out of range.
    expect(await tagsOf('from-yaml/app')).toEqual(['1.0.0', 'latest']);
    expect(await tagsOf('from-yaml/tools')).toEqual(['stable']);
    expect(r.stderr).toContain('msg="Synced 3 images from 3 sources"');

    const dry = await skiff(
      'sync',
      '--src',
      'yaml',
      '--dest',
      'docker',
      '--dry-run',
      yamlFile,
      `${registry.host}/dry-yaml`,
    );
    expect(dry.code, dry.stderr).toBe(0);
    expect(await tagsOf('dry-yaml/app')).toEqual([]);
    expect(dry.stderr).toContain('Would have synced 5 images from 4 sources');
  });

  it('names the problem in an invalid YAML file', async () => {
    const yamlFile = join(work, 'bad.yml');
    await writeFile(yamlFile, `${registry.host}:\n  imagez:\n    src/app: []\n`);
    const r = await skiff('sync', '--src', 'yaml', '--dest', 'dir', yamlFile, join(work, 'never'));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('unknown key "imagez"');
    expect(await exists(join(work, 'never'))).toBe(false);
  });

  it('refuses unknown transports and dir to dir with exit 1', async () => {
    const r = await skiff('sync', '--src', 'oci', '--dest', 'dir', 'a', 'b');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('"oci" is not a valid source transport');
    const d = await skiff('sync', '--src', 'dir', '--dest', 'dir', 'a', 'b');
    expect(d.code).toBe(1);
    expect(d.stderr).toContain("sync from 'dir' to 'dir' is not implemented");
  });
});
