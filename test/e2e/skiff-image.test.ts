// Runs the built skiff-image CLI (apps/skiff-image/dist) against real OCI layouts and checks
// what a user sees — stdout, stderr, exit codes, files — against skopeo where both apply.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ok, ROOT, runCommand, SKIFF_IMAGE_CLI, withoutLayersData } from '../lib/cli.js';
import { buildFixtureImage, type FixtureImage } from '../lib/fixture-image.js';

const skiff = (...args: string[]) => runCommand(process.execPath, [SKIFF_IMAGE_CLI, ...args]);
const skopeo = (...args: string[]) => runCommand('skopeo', ['--insecure-policy', ...args]);

let work: string;
let single: FixtureImage;
let multi: FixtureImage;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'skiff-image-e2e-'));
  single = await buildFixtureImage(work, {
    labels: { foo: 'bar', 'a.b': 'dotted', 'html<&>': 'x' },
    env: ['PATH=/usr/bin:/bin', 'LANG=C.UTF-8'],
  });
  multi = await buildFixtureImage(work, {
    ref: 'multi',
    platforms: [
      { os: 'linux', architecture: 'amd64' },
      { os: 'linux', architecture: 'arm64', variant: 'v8' },
    ],
  });
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('skiff-image --version and --help', () => {
  it('prints "skiff-image version X.Y.Z" like skopeo prints its version', async () => {
    const pkg = JSON.parse(await readFile(join(ROOT, 'apps/skiff-image/package.json'), 'utf8'));
    expect(await ok(skiff('--version'))).toBe(`skiff-image version ${pkg.version}\n`);
    expect(await ok(skiff('-v'))).toBe(`skiff-image version ${pkg.version}\n`);
  });

  it('lists the commands and global flags in the shape skopeo uses', async () => {
    const help = await ok(skiff('--help'));
    expect(help).toMatch(/^Various operations with container images/);
    expect(help).toContain('Usage:\n  skiff-image [flags]\n  skiff-image [command]\n');
    expect(help).toMatch(/Available Commands:\n {2}copy +Copy an IMAGE-NAME/);
    expect(help).toMatch(/\n {2}inspect +Inspect image IMAGE-NAME\n/);
    expect(help).toMatch(/\n {2}manifest-digest +Compute a manifest digest of a file\n/);
    expect(help).toMatch(/\n {6}--override-arch ARCH +use ARCH instead of the architecture/);
    expect(help).toContain(
      'Use "skiff-image [command] --help" for more information about a command.',
    );
  });

  it('documents each command with usage, flags and defaults', async () => {
    const inspect = await ok(skiff('inspect', '--help'));
    expect(inspect).toContain('Usage:\n  skiff-image inspect [command options] IMAGE-NAME\n');
    expect(inspect).toMatch(/\n {2}-f, --format string +Format the output to a Go template\n/);
    expect(inspect).toMatch(/\n {2}-n, --no-tags +Do not list the available tags/);
    expect(inspect).toMatch(/\n {6}--raw +output raw manifest or configuration\n/);
    expect(inspect).toContain('Global Flags:');
    const copy = await ok(skiff('copy', '--help'));
    expect(copy).toContain('skiff-image copy [command options] SOURCE-IMAGE DESTINATION-IMAGE');
    expect(copy).toMatch(
      /--multi-arch string +How to handle multi-architecture images .*\(default "system"\)/,
    );
    expect(copy).toMatch(/\n {2}-a, --all +Copy all images if SOURCE-IMAGE is a list\n/);
    expect(copy).toMatch(/--src-creds USERNAME\[:PASSWORD\] +Use USERNAME/);
  });
});

describe('skiff-image inspect', () => {
  it('prints the same JSON as skopeo inspect, plus LayersData', async () => {
    const ours = await ok(skiff('inspect', single.name));
    const theirs = await ok(skopeo('inspect', single.name));
    expect(withoutLayersData(ours)).toBe(theirs);
    const parsed = JSON.parse(ours);
    expect(Object.keys(parsed)).toEqual([
      'Digest',
      'RepoTags',
      'Created',
      'DockerVersion',
      'Labels',
      'Architecture',
      'Os',
      'Layers',
      'LayersData',
      'Env',
    ]);
    expect(parsed.Digest).toBe(single.digest);
    expect(parsed.LayersData).toEqual([
      {
        MIMEType: 'application/vnd.oci.image.layer.v1.tar+gzip',
        Digest: single.images[0]!.layerDigest,
        Size: expect.any(Number),
        Annotations: { 'org.example.layer': 'linux/amd64' },
      },
    ]);
    // Go's encoder escapes HTML characters; skopeo's output does too.
    expect(ours).toContain('"html\\u003c\\u0026\\u003e": "x"');
  });

  it('prints the config like skopeo inspect --config', async () => {
    const ours = await ok(skiff('inspect', '--config', single.name));
    expect(ours).toBe(await ok(skopeo('inspect', '--config', single.name)));
  });

  it('prints the exact manifest and config bytes with --raw', async () => {
    const raw = await skiff('inspect', '--raw', single.name);
    expect(raw.code).toBe(0);
    expect(Buffer.from(raw.stdout)).toEqual(single.manifest);
    const configRaw = await ok(skiff('inspect', '--raw', '--config', single.name));
    const blob = await readFile(
      join(single.dir, 'blobs', 'sha256', single.images[0]!.configDigest.slice(7)),
      'utf8',
    );
    expect(configRaw).toBe(blob);
  });

  it('renders Go templates exactly as skopeo does', async () => {
    const template =
      '{{.Name}}|{{.Labels.foo}}|{{index .Labels "a.b"}}|{{.Created}}|{{.Layers}}|{{.Env}}|{{.RepoTags}}|{{.Labels.nope}}';
    const ours = await ok(skiff('inspect', '--format', template, single.name));
    expect(ours).toBe(await ok(skopeo('inspect', '--format', template, single.name)));
    expect(ours).toBe(
      `|bar|dotted|2024-01-02 03:04:05 +0000 UTC|[${single.images[0]!.layerDigest}]|[PATH=/usr/bin:/bin LANG=C.UTF-8]|[]|<no value>\n`,
    );
    const config = '{{.OS}}/{{.Architecture}} {{.Config.Cmd}} {{(index .History 0).CreatedBy}}';
    expect(await ok(skiff('inspect', '--config', '-f', config, single.name))).toBe(
      await ok(skopeo('inspect', '--config', '--format', config, single.name)),
    );
  });

  it('supports json, range, if, pipelines, functions and typed \\t escapes in --format', async () => {
    const f = (t: string) => ok(skiff('inspect', '--format', t, single.name));
    expect(await f('{{json .Labels}}')).toBe('{"a.b":"dotted","foo":"bar","html<&>":"x"}\n');
    expect(await f('{{range .LayersData}}{{.Size}} {{.MIMEType}}{{end}}')).toMatch(
      /^\d+ application\/vnd\.oci\.image\.layer\.v1\.tar\+gzip\n$/,
    );
    // As in podman, the output gets a final newline unless the format ends with one.
    expect(await f('{{range .Env}}{{$.Os}}:{{.}}\\n{{end}}')).toBe(
      'linux:PATH=/usr/bin:/bin\nlinux:LANG=C.UTF-8\n\n',
    );
    expect(await f('{{range .Env}}{{.}}\\n{{end}}\\n')).toBe(
      'PATH=/usr/bin:/bin\nLANG=C.UTF-8\n\n',
    );
    expect(await f('{{.Os | upper}}\\t{{len .Layers}}\\t{{join .Env ","}}')).toBe(
      'LINUX\t1\tPATH=/usr/bin:/bin,LANG=C.UTF-8\n',
    );
    expect(await f('{{if .Labels.foo}}has foo{{else}}none{{end}} {{printf "%q" .Os}}')).toBe(
      'has foo "linux"\n',
    );
    expect(await f('table {{.Architecture}} {{.Os}}')).toBe(
      'ARCHITECTURE  OS\namd64         linux\n',
    );
  });

  it('fails with exit 1 naming the field when a template uses an unknown field', async () => {
    const r = await skiff('inspect', '--format', '{{.Nope}}', single.name);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^Error: template: .*can't evaluate field Nope in type/);
    const fn = await skiff('inspect', '--format', '{{nope .Os}}', single.name);
    expect(fn.code).toBe(1);
    expect(fn.stderr).toContain('function "nope" not defined');
  });

  it('refuses --raw with --format as skopeo does', async () => {
    const r = await skiff('inspect', '--raw', '--format', '{{.Os}}', single.name);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('raw output does not support format option');
  });

  it('inspects the platform chosen with --override-arch in an index, with the index digest', async () => {
    const arm = JSON.parse(await ok(skiff('--override-arch', 'arm64', 'inspect', multi.name)));
    expect(arm.Digest).toBe(multi.digest);
    expect(arm.Architecture).toBe('arm64');
    expect(arm.Layers).toEqual([multi.images[1]!.layerDigest]);
    const theirs = await ok(skopeo('--override-arch', 'arm64', 'inspect', multi.name));
    expect(
      withoutLayersData(await ok(skiff('inspect', '--override-arch', 'arm64', multi.name))),
    ).toBe(theirs);
    const amd = JSON.parse(await ok(skiff('--override-arch', 'amd64', 'inspect', multi.name)));
    expect(amd.Layers).toEqual([multi.images[0]!.layerDigest]);
    const missing = await skiff('--override-arch', 's390x', 'inspect', multi.name);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/s390x/);
  });

  it('reads the busybox base image the same way skopeo does', async () => {
    const name = `oci:${inject('baseImageLayout')}:latest`;
    const ours = await ok(skiff('inspect', name));
    expect(withoutLayersData(ours)).toBe(await ok(skopeo('inspect', name)));
    expect(JSON.parse(ours).Digest).toBe(inject('baseImageDigest'));
  });
});

describe('skiff-image copy', () => {
  it('copies a layout unchanged, printing one line per blob, and writes --digestfile', async () => {
    const dest = join(work, 'copy-plain');
    const digestFile = join(work, 'copy-plain.digest');
    const out = await ok(
      skiff('copy', '--digestfile', digestFile, single.name, `oci:${dest}:copied`),
    );
    const img = single.images[0]!;
    expect(out).toBe(
      [
        'Getting image source signatures',
        `Copying blob ${img.layerDigest} done`,
        `Copying config ${img.configDigest} done`,
        'Writing manifest to image destination',
        '',
      ].join('\n'),
    );
    expect(await readFile(digestFile, 'utf8')).toBe(single.digest);
    const raw = await skiff('inspect', '--raw', `oci:${dest}:copied`);
    expect(Buffer.from(raw.stdout)).toEqual(single.manifest);
    expect(await ok(skopeo('inspect', '--raw', `oci:${dest}:copied`))).toBe(
      single.manifest.toString(),
    );
  });

  it('reports blobs the destination already has as skipped', async () => {
    const dest = join(work, 'copy-twice');
    await ok(skiff('copy', '-q', single.name, `oci:${dest}:one`));
    const out = await ok(skiff('copy', single.name, `oci:${dest}:two`));
    expect(out).toContain(`Copying blob ${single.images[0]!.layerDigest} skipped: already exists`);
    expect(out).toContain(`Copying config ${single.images[0]!.configDigest} done`);
  });

  it('prints nothing with --quiet', async () => {
    expect(await ok(skiff('copy', '--quiet', single.name, `oci:${join(work, 'quiet')}:q`))).toBe(
      '',
    );
  });

  it('writes a docker-archive that skopeo reads with the same config digest', async () => {
    const archive = join(work, 'image.tar');
    await ok(
      skiff(
        'copy',
        '-q',
        '--additional-tag',
        'example/extra:2',
        single.name,
        `docker-archive:${archive}:example/app:1`,
      ),
    );
    const raw = JSON.parse(await ok(skopeo('inspect', '--raw', `docker-archive:${archive}`)));
    expect(raw.config.digest).toBe(single.images[0]!.configDigest);
    const theirs = JSON.parse(await ok(skopeo('inspect', `docker-archive:${archive}`)));
    expect(theirs.Layers).toEqual([single.images[0]!.diffId]);
    expect(
      await ok(
        skopeo('inspect', '--format', '{{.Name}}', `docker-archive:${archive}:example/extra:2`),
      ),
    ).toBe('docker.io/example/extra\n');
    // And skiff reads back what it wrote as skopeo does, except for the Digest: skopeo labels
    // the uncompressed layers of a docker-archive as gzip in the manifest it synthesises.
    const ours = await ok(skiff('inspect', `docker-archive:${archive}`));
    const { Digest: _d, LayersData: _l, ...rest } = JSON.parse(ours);
    const { Digest: _t, ...theirsRest } = theirs;
    expect(rest).toEqual(theirsRest);
  });

  it('converts to Docker schema 2 with --format v2s2', async () => {
    const dir = join(work, 'v2s2-dir');
    await ok(skiff('copy', '-q', '--format', 'v2s2', single.name, `dir:${dir}`));
    const raw = JSON.parse(await ok(skopeo('inspect', '--raw', `dir:${dir}`)));
    expect(raw.mediaType).toBe('application/vnd.docker.distribution.manifest.v2+json');
    expect(raw.config.digest).toBe(single.images[0]!.configDigest);
  });

  it('copies every instance of an index with --all and keeps the index digest', async () => {
    const dest = join(work, 'copy-all');
    const digestFile = join(work, 'copy-all.digest');
    await ok(
      skiff(
        'copy',
        '-q',
        '--all',
        '--preserve-digests',
        '--digestfile',
        digestFile,
        multi.name,
        `oci:${dest}:all`,
      ),
    );
    expect(await readFile(digestFile, 'utf8')).toBe(multi.digest);
    const arm = JSON.parse(
      await ok(skopeo('--override-arch', 'arm64', 'inspect', `oci:${dest}:all`)),
    );
    expect(arm.Layers).toEqual([multi.images[1]!.layerDigest]);
  });

  it('copies only the chosen platform by default and with --multi-arch system', async () => {
    const dest = join(work, 'copy-system');
    const digestFile = join(work, 'copy-system.digest');
    await ok(
      skiff(
        'copy',
        '-q',
        '--override-arch',
        'arm64',
        '--multi-arch',
        'system',
        '--digestfile',
        digestFile,
        multi.name,
        `oci:${dest}:one`,
      ),
    );
    expect(await readFile(digestFile, 'utf8')).toBe(multi.images[1]!.manifestDigest);
  });

  it('accepts registry flags for local transports', async () => {
    const dest = join(work, 'copy-flags');
    await ok(
      skiff(
        'copy',
        '-q',
        '--src-tls-verify=false',
        '--dest-tls-verify',
        '--src-creds',
        'u:p',
        '--retry-times',
        '2',
        '--src-cert-dir',
        work,
        single.name,
        `oci:${dest}:f`,
      ),
    );
    const r = await skiff('copy', '--retry-times', 'many', single.name, `oci:${dest}:g`);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('--retry-times');
  });

  it('stops with exit 1 when --command-timeout expires and leaves no destination', async () => {
    const dest = join(work, 'timed-out');
    const r = await skiff('--command-timeout', '1ms', 'copy', single.name, `oci:${dest}:t`);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('command timed out after 1ms');
    await expect(readFile(join(dest, 'index.json'))).rejects.toThrow('ENOENT');
  });

  it('refuses unknown manifest formats and multi-arch modes with exit 1', async () => {
    const dest = `oci:${join(work, 'never')}:x`;
    const v2s1 = await skiff('copy', '--format', 'v2s1', single.name, dest);
    expect(v2s1.code).toBe(1);
    expect(v2s1.stderr).toContain('v2s1');
    const mode = await skiff('copy', '--multi-arch', 'some', single.name, dest);
    expect(mode.code).toBe(1);
    expect(mode.stderr).toContain('unknown multi-arch option "some"');
  });
});

describe('skiff-image errors and manifest-digest', () => {
  it('names a missing ref and exits 1', async () => {
    const r = await skiff('inspect', `oci:${single.dir}:nope`);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^Error: .*"nope"/);
  });

  it('names an unknown transport and a name without one', async () => {
    const unknown = await skiff('inspect', 'foo:bar');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('unknown transport "foo"');
    const bare = await skiff('inspect', 'busybox');
    expect(bare.code).toBe(1);
    expect(bare.stderr).toContain('"busybox"');
  });

  it('reports a missing layout directory', async () => {
    const r = await skiff(
      'copy',
      `oci:${join(work, 'does-not-exist')}:x`,
      `oci:${join(work, 'out')}:x`,
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('does-not-exist');
  });

  it('treats bad command lines as usage errors with exit 1 and a pointer to help', async () => {
    const unknownFlag = await skiff('inspect', '--bogus', single.name);
    expect(unknownFlag).toMatchObject({ code: 1, stdout: '' });
    expect(unknownFlag.stderr).toBe(
      "Error: unknown option '--bogus'\nSee 'skiff-image inspect --help'.\n",
    );
    const noArgs = await skiff('inspect');
    expect(noArgs.code).toBe(1);
    expect(noArgs.stderr).toContain("See 'skiff-image inspect --help'.");
    const unknownCommand = await skiff('frobnicate');
    expect(unknownCommand.code).toBe(1);
    expect(unknownCommand.stderr).toContain('unrecognized command `skiff-image frobnicate`');
  });

  it('computes manifest digests as skopeo does', async () => {
    const file = join(single.dir, 'blobs', 'sha256', single.digest.slice(7));
    const ours = await ok(skiff('manifest-digest', file));
    expect(ours).toBe(`${single.digest}\n`);
    expect(ours).toBe(await ok(skopeo('manifest-digest', file)));
    const missing = await skiff('manifest-digest', join(work, 'absent.json'));
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('absent.json');
  });
});
