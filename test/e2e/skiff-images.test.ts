// Runs the built skiff CLI against its own store (--root/--runroot in a temp dir): pull from an
// OCI layout, list/inspect/history/tag/untag/rmi output shapes, save/load and import round
// trips, prune and reset, and interoperability with the real podman (load each other's saves).
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cp, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  containersEnv,
  podmanStoreFlags,
  runCommand,
  SKIFF_CLI,
  stdoutOf,
  writeTestContainersConf,
} from '../lib/cli.js';

const execFileAsync = promisify(execFile);
const BASE_ID_RE = /^[0-9a-f]{64}$/;

let work: string;
let layout: string;
let storeRoot: string;
let storeRun: string;
let podmanRoot: string;
let podmanRun: string;
let podmanConf: string;

const run = (cmd: string, args: string[], input?: Buffer | string) =>
  runCommand(cmd, args, { env: containersEnv(work, podmanConf), input });
const skiffIn = (root: string, runroot: string, ...args: string[]) =>
  run(process.execPath, [SKIFF_CLI, '--root', root, '--runroot', runroot, ...args]);
const skiff = (...args: string[]) => skiffIn(storeRoot, storeRun, ...args);
const podman = (...args: string[]) =>
  run('podman', [...podmanStoreFlags(podmanRoot, podmanRun), ...args]);

/** Every file under a directory, relative to it. */
async function listFiles(dir: string): Promise<string[]> {
  try {
    const entries = await readdir(dir, { recursive: true, withFileTypes: true });
    return entries
      .filter((e) => !e.isDirectory())
      .map((e) => join(e.parentPath ?? (e as { path: string }).path, e.name).slice(dir.length + 1))
      .sort();
  } catch {
    return [];
  }
}

beforeAll(async () => {
  // A lower-case path: `pull oci:PATH` names the image localhost/PATH, which must be a valid name.
  work = join(tmpdir(), `skiff-images-e2e-${randomBytes(6).toString('hex')}`);
  await mkdir(work);
  layout = join(work, 'layout');
  await cp(inject('baseImageLayout'), layout, { recursive: true });
  storeRoot = join(work, 'store');
  storeRun = join(work, 'run');
  podmanRoot = join(work, 'podman-root');
  podmanRun = join(work, 'podman-run');
  podmanConf = join(work, 'containers.conf');
  await mkdir(join(work, 'home'), { recursive: true });
  await writeFile(join(work, 'registries.conf'), 'unqualified-search-registries = []\n');
  await writeTestContainersConf(podmanConf);
});

afterAll(async () => {
  if (!work) return;
  await podman('system', 'reset', '-f');
  await rm(work, { recursive: true, force: true });
});

describe('skiff pull from an OCI layout and the image commands', () => {
  let id: string;
  const name = () => `localhost/${layout.replace(/^\/+/, '')}:latest`;

  it("pulls oci:DIR:REF into storage, printing podman's progress on stderr and the id on stdout", async () => {
    const r = await skiff('pull', `oci:${layout}:latest`);
    expect(r.code, r.stderr).toBe(0);
    id = r.stdout.trim();
    expect(id).toMatch(BASE_ID_RE);
    expect(r.stderr).toMatch(/^Getting image source signatures\n/);
    expect(r.stderr).toMatch(/Copying blob sha256:[0-9a-f]{64} done\n/);
    expect(r.stderr).toMatch(/Copying config sha256:[0-9a-f]{64} done\n/);
    expect(r.stderr).toMatch(/Writing manifest to image destination\nStoring signatures\n$/);
    // -q prints only the id; the second pull reuses what is stored.
    const q = await skiff('pull', '-q', `oci:${layout}:latest`);
    expect(q).toEqual({ code: 0, stdout: `${id}\n`, stderr: '' });
  });

  it("lists it with podman's columns, human sizes and ages", async () => {
    const out = await stdoutOf(skiff('images'));
    const lines = out.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE$/);
    expect(lines[1]).toMatch(
      new RegExp(
        `^${name().replace(/:latest$/, '')}\\s+latest\\s+${id.slice(0, 12)}\\s+\\d+ years ago\\s+\\d+(\\.\\d+)? MB$`,
      ),
    );
    expect(await stdoutOf(skiff('images', '-q'))).toBe(`${id.slice(0, 12)}\n`);
    expect(await stdoutOf(skiff('images', '-q', '--no-trunc'))).toBe(`sha256:${id}\n`);
    const json = JSON.parse(await stdoutOf(skiff('images', '--format', 'json')));
    expect(json).toHaveLength(1);
    expect(json[0]).toMatchObject({
      Id: id,
      Names: [name()],
      Containers: 0,
      CreatedAt: '1970-01-01T00:00:00Z',
    });
    expect(json[0].RepoDigests[0]).toMatch(/@sha256:[0-9a-f]{64}$/);
    expect(await stdoutOf(skiff('images', '--format', '{{.Repository}}:{{.Tag}} {{.ID}}'))).toBe(
      `${name()} ${id.slice(0, 12)}\n`,
    );
    const digests = await stdoutOf(skiff('images', '--digests'));
    expect(digests.split('\n')[0]).toMatch(
      /^REPOSITORY\s+TAG\s+DIGEST\s+IMAGE ID\s+CREATED\s+SIZE$/,
    );
  });

  it('tags and untags: short names go under localhost/, like podman', async () => {
    await stdoutOf(skiff('tag', id.slice(0, 12), 'mybox', 'quay.io/example/box:2'));
    const names = await stdoutOf(
      skiff('images', '--format', '{{.Repository}}:{{.Tag}}', '--sort', 'repository'),
    );
    expect(names.trim().split('\n')).toEqual(
      [name(), 'localhost/mybox:latest', 'quay.io/example/box:2'].sort(),
    );
    // Like podman, a matching image is listed with all its names.
    expect(await stdoutOf(skiff('images', '--filter', 'reference=mybox', '-q'))).toBe(
      `${id.slice(0, 12)}\n`,
    );
    expect(await stdoutOf(skiff('images', '--filter', 'reference=other*', '-q'))).toBe('');
    await stdoutOf(skiff('untag', 'mybox', 'quay.io/example/box:2'));
    expect((await stdoutOf(skiff('images', '-q'))).trim()).toBe(id.slice(0, 12));
    const none = await skiff('tag', 'nothere', 'x');
    expect(none.code).toBe(125);
    expect(none.stderr).toBe(
      'Error: nothere: image not known\nHint: list images with `skiff images`, or pull it first\n',
    );
  });

  it("inspects in podman's JSON shape and with --format", async () => {
    const data = JSON.parse(await stdoutOf(skiff('image', 'inspect', 'mybox')));
    expect(data).toHaveLength(1);
    const img = data[0];
    expect(Object.keys(img)).toEqual([
      'Id',
      'Digest',
      'RepoTags',
      'RepoDigests',
      'Parent',
      'Comment',
      'Created',
      'Config',
      'Version',
      'Author',
      'Architecture',
      'Os',
      'Size',
      'VirtualSize',
      'GraphDriver',
      'RootFS',
      'Labels',
      'Annotations',
      'ManifestType',
      'User',
      'History',
      'NamesHistory',
    ]);
    expect(img.Id).toBe(id);
    expect(img.RepoTags).toEqual([name(), 'localhost/mybox:latest']);
    expect(img.Config.Cmd).toEqual(['sh']);
    expect(img.RootFS.Type).toBe('layers');
    expect(img.RootFS.Layers).toHaveLength(1);
    expect(img.NamesHistory[0]).toBe('localhost/mybox:latest');
    expect(img.ManifestType).toBe('application/vnd.oci.image.manifest.v1+json');
    expect(
      await stdoutOf(skiff('inspect', '--format', '{{.Id}} {{.Os}}/{{.Architecture}}', 'mybox')),
    ).toBe(`${id} linux/amd64\n`);
    const missing = await skiff('image', 'inspect', 'nothere');
    expect(missing.code).toBe(125);
    expect(missing.stdout).toBe('[]\n');
    expect(missing.stderr).toContain('nothere: image not known');
  });

  it('shows history like podman (truncated CREATED BY, -q, --no-trunc, json)', async () => {
    const out = await stdoutOf(skiff('history', 'mybox'));
    const [head, row] = out.split('\n');
    expect(head).toMatch(/^ID\s+CREATED\s+CREATED BY\s+SIZE\s+COMMENT$/);
    expect(row).toMatch(
      new RegExp(
        `^${id.slice(0, 12)}\\s+\\d+ years ago\\s+skiff test/images/build-base-image\\.mjs \\(bu\\.\\.\\.\\s+\\d`,
      ),
    );
    expect(await stdoutOf(skiff('history', '-q', 'mybox'))).toBe(`${id.slice(0, 12)}\n`);
    expect(await stdoutOf(skiff('history', '--no-trunc', 'mybox'))).toContain('(busybox-static)');
    const json = JSON.parse(await stdoutOf(skiff('history', '--format', 'json', 'mybox')));
    expect(json[0]).toMatchObject({ id, created: '1970-01-01T00:00:00Z' });
  });

  it('rmi untags a name of an image with several, then deletes it, and exits 1 for unknown images', async () => {
    expect(await stdoutOf(skiff('rmi', 'mybox'))).toBe('Untagged: localhost/mybox:latest\n');
    const gone = await skiff('rmi', 'mybox');
    expect(gone.code).toBe(1);
    expect(gone.stderr).toBe('Error: mybox: image not known\n');
    await stdoutOf(skiff('tag', id, 'again:v1'));
    const out = await stdoutOf(skiff('rmi', id));
    expect(out).toBe(`Untagged: ${name()}\nUntagged: localhost/again:v1\nDeleted: ${id}\n`);
    expect(await stdoutOf(skiff('images', '-q'))).toBe('');
  });
});

describe('skiff save, load and import', () => {
  let id: string;

  beforeAll(async () => {
    id = (await stdoutOf(skiff('pull', '-q', `oci:${layout}:latest`))).trim();
    await stdoutOf(skiff('tag', id, 'busybox:saved'));
  });

  it('saves a docker-archive that podman loads, and loads it back from stdin', async () => {
    const file = join(work, 'saved.tar');
    await stdoutOf(skiff('save', '-q', '-o', file, 'busybox:saved'));
    const pl = await podman('load', '-i', file);
    expect(pl.code, pl.stderr).toBe(0);
    expect(pl.stdout).toBe('Loaded image: localhost/busybox:saved\n');
    expect(
      (await stdoutOf(podman('images', '--format', '{{.ID}}', 'localhost/busybox:saved'))).trim(),
    ).toBe(id.slice(0, 12));
    await stdoutOf(skiff('rmi', '-a'));
    const loaded = await skiff('load', '-q');
    expect(loaded.code).not.toBe(0); // stdin is empty: not an archive
    const data = await readFile(file);
    const r = await run(
      process.execPath,
      [SKIFF_CLI, '--root', storeRoot, '--runroot', storeRun, 'load'],
      data,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('Loaded image: localhost/busybox:saved\n');
    expect((await stdoutOf(skiff('images', '--format', '{{.ID}}'))).trim()).toBe(id.slice(0, 12));
  });

  it('loads what podman saves (docker-archive and oci-archive)', async () => {
    await stdoutOf(podman('tag', 'localhost/busybox:saved', 'docker.io/library/frompodman:1'));
    const dockerFile = join(work, 'podman.tar');
    const ociFile = join(work, 'podman-oci.tar');
    await stdoutOf(podman('save', '-q', '-o', dockerFile, 'docker.io/library/frompodman:1'));
    await stdoutOf(
      podman(
        'save',
        '-q',
        '--format',
        'oci-archive',
        '-o',
        ociFile,
        'docker.io/library/frompodman:1',
      ),
    );
    await stdoutOf(skiff('rmi', '-a'));
    expect(await stdoutOf(skiff('load', '-q', '-i', dockerFile))).toBe(
      'Loaded image: docker.io/library/frompodman:1\n',
    );
    const inspect = JSON.parse(await stdoutOf(skiff('image', 'inspect', 'frompodman:1')));
    expect(inspect[0].Id).toBe(id);
    await stdoutOf(skiff('rmi', '-a'));
    const oci = await stdoutOf(skiff('load', '-q', '-i', ociFile));
    expect(oci).toMatch(/^Loaded image: /);
    expect((await stdoutOf(skiff('images', '-q', '--no-trunc'))).trim()).toBe(`sha256:${id}`);
  });

  it('saves several images into one docker-archive with -m, and other formats', async () => {
    await stdoutOf(skiff('tag', id, 'busybox:saved'));
    const rootfs = join(work, 'rootfs');
    await mkdir(join(rootfs, 'etc'), { recursive: true });
    await writeFile(join(rootfs, 'etc', 'hello'), 'hello from import\n');
    const tarball = join(work, 'rootfs.tar');
    await execFileAsync('tar', ['-C', rootfs, '-cf', tarball, '.']);
    const imported = (await stdoutOf(skiff('import', '-q', tarball, 'imported:v1'))).trim();
    const multi = join(work, 'multi.tar');
    await stdoutOf(skiff('save', '-q', '-m', '-o', multi, 'busybox:saved', 'imported:v1'));
    const { stdout } = await execFileAsync('tar', ['-xOf', multi, 'manifest.json']);
    const manifest = JSON.parse(stdout);
    expect(manifest.map((m: { RepoTags: string[] }) => m.RepoTags)).toEqual([
      ['localhost/busybox:saved'],
      ['localhost/imported:v1'],
    ]);
    expect(manifest[1].Config).toBe(`${imported.slice(7)}.json`);
    const ociArchive = join(work, 'save-oci.tar');
    await stdoutOf(
      skiff('save', '-q', '--format', 'oci-archive', '-o', ociArchive, 'busybox:saved'),
    );
    const index = JSON.parse(
      (await execFileAsync('tar', ['-xOf', ociArchive, 'index.json'])).stdout,
    );
    expect(index.manifests[0].annotations['org.opencontainers.image.ref.name']).toBe(
      'localhost/busybox:saved',
    );
    const dir = join(work, 'save-dir');
    await stdoutOf(skiff('save', '-q', '--format', 'oci-dir', '-o', dir, 'busybox:saved'));
    expect(await readFile(join(dir, 'version'), 'utf8')).toContain('Directory Transport Version');
    // stdout when redirected
    const toStdout = await run(process.execPath, [
      SKIFF_CLI,
      '--root',
      storeRoot,
      '--runroot',
      storeRun,
      'save',
      '-q',
      'busybox:saved',
    ]);
    expect(toStdout.code).toBe(0);
    expect(toStdout.stdout.length).toBeGreaterThan(1_000_000);
  });

  it('imports a rootfs tarball with --change and --message, and exports it back unchanged', async () => {
    const rootfs = join(work, 'rootfs2');
    await mkdir(join(rootfs, 'etc'), { recursive: true });
    await writeFile(join(rootfs, 'etc', 'greeting'), 'hi\n');
    const tarball = join(work, 'rootfs2.tar');
    await execFileAsync('tar', ['-C', rootfs, '--numeric-owner', '-cf', tarball, '.']);
    const data = await readFile(tarball);
    const r = await run(
      process.execPath,
      [
        SKIFF_CLI,
        '--root',
        storeRoot,
        '--runroot',
        storeRun,
        'import',
        '--change',
        'CMD ["/bin/sh"]',
        '--change',
        'ENV A=b',
        '--change',
        'EXPOSE 80',
        '--change',
        'LABEL x=y',
        '--change',
        'WORKDIR=/w',
        '--change',
        'USER 1000',
        '--message',
        'my msg',
        '-',
        'myimp',
      ],
      data,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/);
    expect(r.stderr).toContain('Writing manifest to image destination\nStoring signatures\n');
    const [img] = JSON.parse(await stdoutOf(skiff('image', 'inspect', 'myimp')));
    expect(img.Config).toEqual({
      User: '1000',
      ExposedPorts: { '80/tcp': {} },
      Env: ['A=b'],
      Cmd: ['/bin/sh'],
      WorkingDir: '/w',
      Labels: { x: 'y' },
    });
    expect(img.Comment).toBe('my msg');
    expect(img.RepoTags).toEqual(['localhost/myimp:latest']);
    expect(img.History[0].created_by).toMatch(
      /^\/bin\/sh -c #\(nop\) ADD file:[0-9a-f]{64} in \/$/,
    );
    // The stored layer is the tarball itself: saving gives back the same bytes.
    const out = join(work, 'myimp.tar');
    await stdoutOf(skiff('save', '-q', '-o', out, 'myimp'));
    const layerName = `${img.RootFS.Layers[0].slice(7)}.tar`;
    const extracted = join(work, 'myimp-x');
    await mkdir(extracted);
    await execFileAsync('tar', ['-C', extracted, '-xf', out, layerName]);
    expect(Buffer.compare(await readFile(join(extracted, layerName)), data)).toBe(0);
  });

  it('refuses a missing tarball and unknown --change instructions, exit 125', async () => {
    const missing = await skiff('import', join(work, 'nope.tar'));
    expect(missing.code).toBe(125);
    expect(missing.stderr).toContain('nope.tar: no such file or directory');
    const bad = await skiff('import', '--change', 'FROM x', join(work, 'rootfs2.tar'));
    expect(bad.code).toBe(125);
    expect(bad.stderr).toContain('invalid change "FROM x"');
  });
});

describe('skiff prune and reset', () => {
  it('image prune removes dangling images, system prune -a the rest, reset empties the store', async () => {
    const id = (await stdoutOf(skiff('pull', '-q', `oci:${layout}:latest`))).trim();
    const imp = (await stdoutOf(skiff('import', '-q', join(work, 'rootfs2.tar')))).trim().slice(7);
    const pruned = await stdoutOf(skiff('image', 'prune', '-f'));
    expect(pruned.trim().split('\n')).toContain(imp);
    expect(await stdoutOf(skiff('images', '--filter', 'dangling=true', '-q'))).toBe('');
    expect((await stdoutOf(skiff('images', '-q', '--no-trunc'))).trim().split('\n')).toContain(
      `sha256:${id}`,
    );

    const df = await stdoutOf(skiff('system', 'df'));
    expect(df.split('\n')[0]).toMatch(/^TYPE\s+TOTAL\s+ACTIVE\s+SIZE\s+RECLAIMABLE$/);
    expect(df).toMatch(/\nImages\s+\d+\s+0\s+[\d.]+[kM]B\s+[\d.]+[kM]B \(100%\)\n/);

    const sys = await stdoutOf(skiff('system', 'prune', '-a', '-f'));
    expect(sys).toContain(`Deleted Images\n`);
    expect(sys).toContain(id);
    expect(sys).toMatch(/Total reclaimed space: [\d.]+[kM]?B\n$/);
    expect(await stdoutOf(skiff('images', '-q'))).toBe('');
    // Nothing left of the images' blobs and layers.
    const left = (await listFiles(storeRoot)).filter((f) => /blobs|layers/.test(f));
    expect(left).toEqual([]);

    await stdoutOf(skiff('pull', '-q', `oci:${layout}:latest`));
    await stdoutOf(skiff('system', 'reset', '-f'));
    expect(await listFiles(storeRoot)).toEqual([]);
    expect(await listFiles(storeRun)).toEqual([]);
    expect(await stdoutOf(skiff('images', '-q'))).toBe('');
  });

  it("info reports the store and version in podman's shape", async () => {
    const info = JSON.parse(await stdoutOf(skiff('info', '--format', 'json')));
    expect(info.store).toMatchObject({
      graphRoot: storeRoot,
      runRoot: storeRun,
      imageStore: { number: 0 },
    });
    expect(info.host.arch).toBe('amd64');
    expect(await stdoutOf(skiff('info', '--format', '{{.Store.GraphRoot}}'))).toBe(
      `${storeRoot}\n`,
    );
    expect(
      await stdoutOf(
        skiff(
          '--storage-driver',
          'vfs',
          '--root',
          join(work, 'vfs'),
          '--runroot',
          join(work, 'vfs-run'),
          'info',
          '--format',
          '{{.Store.GraphDriverName}}',
        ),
      ),
    ).toBe('vfs\n');
    expect(await stdoutOf(skiff('version', '--format', '{{.Client.Version}}'))).toMatch(
      /^\d+\.\d+\.\d+\n$/,
    );
    const v = await run(process.execPath, [SKIFF_CLI, '--version']);
    expect(v.stdout).toMatch(/^skiff version \d+\.\d+\.\d+\n$/);
  });

  it('reports usage errors like podman, exit 125', async () => {
    const r = await skiff('images', '--bogus');
    expect(r.code).toBe(125);
    expect(r.stderr).toBe("Error: unknown flag: --bogus\nSee 'skiff images --help'\n");
    const s = await skiff('images', '--sort', 'nope');
    expect(s.code).toBe(125);
    expect(s.stderr).toContain('invalid option for --sort "nope"');
    const short = await skiff('pull', 'nosuchimage-here');
    expect(short.code).toBe(125);
    expect(short.stderr).toContain(
      'short-name "nosuchimage-here" did not resolve to an alias and no unqualified-search registries are defined',
    );
  });
});
