import { execFile } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { buildImage, TempDirs, writeOciLayout } from './fixtures.js';
import { copy, readManifest, verify } from './helpers.js';

const run = promisify(execFile);
const tmp = new TempDirs();
afterEach(() => tmp.cleanup());

async function which(bin: string): Promise<string | undefined> {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    const p = path.join(dir, bin);
    try {
      await fs.access(p, fs.constants.X_OK);
      return p;
    } catch {}
  }
  return undefined;
}

const skopeo = await which('skopeo');
const podman = await which('podman');

async function skopeoRun(...args: string[]) {
  const { stdout } = await run(skopeo!, ['--insecure-policy', ...args], { maxBuffer: 1 << 24 });
  return stdout;
}

describe.skipIf(!skopeo)('interop with skopeo (needs the skopeo binary)', () => {
  it('skopeo inspects and copies an oci layout Skiff wrote; Skiff reads what skopeo wrote', async () => {
    const d = await tmp.make();
    const img = await buildImage();
    await writeOciLayout(path.join(d, 'src'), [{ image: img }]);
    const res = await copy(`oci:${d}/src`, `oci:${d}/skiff:v1`);
    const info = JSON.parse(await skopeoRun('inspect', `oci:${d}/skiff:v1`));
    expect(info.Digest).toBe(res.manifestDigest);
    expect(info.Layers).toEqual(img.layers.map((l) => l.digest));
    expect(info.Labels).toEqual({ 'skiff.test': 'fixture' });

    await skopeoRun('copy', `oci:${d}/skiff:v1`, `docker-archive:${d}/skopeo.tar:skopeo/img:1`);
    await verify(`docker-archive:${d}/skopeo.tar:skopeo/img:1`);
    const m = await readManifest(`docker-archive:${d}/skopeo.tar`);
    expect(m.json.layers.map((l: { digest: string }) => l.digest)).toEqual(
      img.layers.map((l) => l.diffId),
    );

    await skopeoRun('copy', `oci:${d}/skiff:v1`, `oci:${d}/skopeo-layout:v2`);
    await verify(`oci:${d}/skopeo-layout:v2`, { expectedDigest: res.manifestDigest });
    await skopeoRun('copy', `oci:${d}/skiff:v1`, `oci-archive:${d}/skopeo-oci.tar:v3`);
    await verify(`oci-archive:${d}/skopeo-oci.tar:v3`, { expectedDigest: res.manifestDigest });
    await skopeoRun('copy', `oci:${d}/skiff:v1`, `dir:${d}/skopeo-dir`);
    await verify(`dir:${d}/skopeo-dir`, { expectedDigest: res.manifestDigest });
  });

  it('skopeo reads the docker-archive, oci-archive and dir: images Skiff wrote', async () => {
    const d = await tmp.make();
    const img = await buildImage();
    await writeOciLayout(path.join(d, 'src'), [{ image: img }]);
    await copy(`oci:${d}/src`, `docker-archive:${d}/skiff.tar:skiff/test:1`);
    await copy(`oci:${d}/src`, `oci-archive:${d}/skiff-oci.tar:t`);
    await copy(`oci:${d}/src`, `dir:${d}/skiff-dir`);
    const a = JSON.parse(await skopeoRun('inspect', `docker-archive:${d}/skiff.tar`));
    expect(a.RepoTags ?? []).toBeDefined();
    expect(a.Layers).toEqual(img.layers.map((l) => l.diffId));
    const b = JSON.parse(await skopeoRun('inspect', `oci-archive:${d}/skiff-oci.tar:t`));
    expect(b.Digest).toBe(img.manifestDigest);
    const c = JSON.parse(await skopeoRun('inspect', `dir:${d}/skiff-dir`));
    expect(c.Digest).toBe(img.manifestDigest);
    // And a round trip through skopeo keeps everything verifiable.
    await skopeoRun('copy', `docker-archive:${d}/skiff.tar`, `oci:${d}/back:x`);
    await verify(`oci:${d}/back:x`);
  });
});

describe.skipIf(!podman)('interop with podman (needs the podman binary)', () => {
  it('podman loads Skiff archives and Skiff reads what podman save wrote', async () => {
    const d = await tmp.make();
    const conf = path.join(d, 'containers.conf');
    await fs.writeFile(
      conf,
      '[engine]\nruntime = "runc"\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]\n',
    );
    const root = path.join(d, 'root');
    const runroot = path.join(d, 'runroot');
    const pod = async (...args: string[]) => {
      const { stdout } = await run(
        podman!,
        ['--root', root, '--runroot', runroot, '--storage-driver', 'vfs', ...args],
        { env: { ...process.env, CONTAINERS_CONF: conf }, maxBuffer: 1 << 24 },
      );
      return stdout;
    };
    try {
      const img = await buildImage();
      await writeOciLayout(path.join(d, 'src'), [{ image: img }]);
      await copy(`oci:${d}/src`, `docker-archive:${d}/skiff.tar:localhost/skiff/docker:1`);
      await copy(`oci:${d}/src`, `oci-archive:${d}/skiff-oci.tar:localhost/skiff/oci:2`);
      expect(await pod('load', '-q', '-i', path.join(d, 'skiff.tar'))).toContain(
        'localhost/skiff/docker:1',
      );
      await pod('load', '-q', '-i', path.join(d, 'skiff-oci.tar'));
      const images = JSON.parse(await pod('images', '--format', 'json'));
      const names = images.flatMap((i: { Names?: string[] }) => i.Names ?? []);
      expect(names).toContain('localhost/skiff/docker:1');

      await pod(
        'save',
        '--format',
        'docker-archive',
        '-o',
        path.join(d, 'podman.tar'),
        'localhost/skiff/docker:1',
      );
      await verify(`docker-archive:${d}/podman.tar:localhost/skiff/docker:1`);
      const res = await copy(`docker-archive:${d}/podman.tar`, `oci:${d}/from-podman:x`);
      await verify(`oci:${d}/from-podman:x`, { expectedDigest: res.manifestDigest });
      await pod(
        'save',
        '--format',
        'oci-archive',
        '-o',
        path.join(d, 'podman-oci.tar'),
        'localhost/skiff/docker:1',
      );
      await verify(`oci-archive:${d}/podman-oci.tar`);
    } finally {
      await pod('system', 'reset', '-f').catch(() => {});
      await fs.rm(root, { recursive: true, force: true });
      await fs.rm(runroot, { recursive: true, force: true });
    }
  }, 120_000);
});
