import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { digestOf, MediaType } from '@skiff/oci-image';
import * as tar from 'tar-stream';
import { afterEach, describe, expect, it } from 'vitest';
import {
  copyImage,
  type DockerArchiveDestination,
  openDestination,
  openSource,
  resolveImage,
} from '../src/index.js';
import {
  buildImage,
  buildIndex,
  listFiles,
  makeTar,
  TempDirs,
  writeOciLayout,
} from './fixtures.js';
import { copy, readManifest, verify } from './helpers.js';

const tmp = new TempDirs();
afterEach(() => tmp.cleanup());

async function tarNames(file: string): Promise<string[]> {
  const names: string[] = [];
  const ex = tar.extract();
  const done = (async () => {
    for await (const e of ex) {
      names.push(e.header.name);
      e.resume();
    }
  })();
  ex.end(await fs.readFile(file));
  await done;
  return names;
}

describe('copies between every pair of local transports', () => {
  it('oci -> oci-archive -> docker-archive -> dir -> oci -> dir -> oci-archive -> oci -> docker-archive -> oci', async () => {
    const d = await tmp.make();
    const img = await buildImage();
    await writeOciLayout(path.join(d, 'start'), [{ ref: 'v1', image: img }]);
    const chain = [
      `oci:${d}/start:v1`,
      `oci-archive:${d}/a.tar:one`,
      `docker-archive:${d}/b.tar:example.com/skiff/test:1`,
      `dir:${d}/c`,
      `oci:${d}/e:two`,
      `dir:${d}/f`,
      `oci-archive:${d}/g.tar`,
      `oci:${d}/h:three`,
      `docker-archive:${d}/i.tar`,
      `oci:${d}/j:end`,
    ];
    const digests: string[] = [];
    for (let i = 1; i < chain.length; i++) {
      const res = await copy(chain[i - 1]!, chain[i]!);
      const v = await verify(chain[i]!, { expectedDigest: res.manifestDigest });
      expect(v.layers).toBe(2);
      digests.push(res.manifestDigest);
    }
    // oci -> oci-archive keeps the manifest; docker-archive holds uncompressed layers.
    expect(digests[0]).toBe(img.manifestDigest);
    const b = await readManifest(`docker-archive:${d}/b.tar`);
    expect(b.mediaType).toBe(MediaType.DockerManifest);
    expect(b.json.layers.map((l: { digest: string }) => l.digest)).toEqual(
      img.layers.map((l) => l.diffId),
    );
    expect(b.json.layers[0].mediaType).toBe(MediaType.DockerLayer);
    // dir: keeps Docker schema 2 with tar layers; oci: converts it to OCI and gzips the
    // layers, as skopeo compresses uncompressed layers for oci: layouts.
    const c = await readManifest(`dir:${d}/c`);
    expect(c.mediaType).toBe(MediaType.DockerManifest);
    expect(c.json.layers[0].mediaType).toBe(MediaType.DockerLayer);
    const e = await readManifest(`oci:${d}/e:two`);
    expect(e.mediaType).toBe(MediaType.OciManifest);
    expect(e.json.layers[0].mediaType).toBe(MediaType.OciLayerGzip);
    // The config survives every hop unchanged.
    const end = await openSource(`oci:${d}/j:end`);
    const r = await resolveImage(end);
    await end.close();
    expect(Buffer.from(r.configRaw).equals(img.configRaw)).toBe(true);
    expect(r.config.rootfs.diff_ids).toEqual(img.layers.map((l) => l.diffId));
  });

  it('writes the dir: format as skopeo does', async () => {
    const d = await tmp.make();
    const img = await buildImage();
    await writeOciLayout(path.join(d, 'src'), [{ image: img }]);
    await copy(`oci:${d}/src`, `dir:${d}/out`);
    expect(await fs.readFile(path.join(d, 'out', 'version'), 'utf8')).toBe(
      'Directory Transport Version: 1.1\n',
    );
    expect(await listFiles(path.join(d, 'out'))).toEqual(
      [
        'manifest.json',
        'version',
        img.configDigest.slice(7),
        ...img.layers.map((l) => l.digest.slice(7)),
      ].sort(),
    );
    expect((await fs.readFile(path.join(d, 'out', 'manifest.json'))).equals(img.manifestRaw)).toBe(
      true,
    );
    // Copying again replaces the earlier dir: image.
    await copy(`oci:${d}/src`, `dir:${d}/out`);
    await verify(`dir:${d}/out`, { expectedDigest: img.manifestDigest });
  });

  it('writes a docker-archive with manifest.json, config, uncompressed layers, repositories', async () => {
    const d = await tmp.make();
    const img = await buildImage();
    await writeOciLayout(path.join(d, 'src'), [{ image: img }]);
    await copy(
      `oci:${d}/src`,
      `docker-archive:${d}/out.tar:busybox:latest`,
      {},
      {
        additionalTags: ['example.com/other:2'],
      },
    );
    const names = await tarNames(path.join(d, 'out.tar'));
    const hex = (s: string) => s.slice(7);
    expect(names).toEqual([
      ...img.layers.map((l) => `${hex(l.diffId)}.tar`),
      `${hex(img.configDigest)}.json`,
      'manifest.json',
      'repositories',
    ]);
    const x = tar.extract();
    const files = new Map<string, string>();
    const done = (async () => {
      for await (const e of x) {
        const chunks: Buffer[] = [];
        for await (const c of e) chunks.push(c as Buffer);
        files.set(e.header.name, Buffer.concat(chunks).toString('utf8'));
      }
    })();
    x.end(await fs.readFile(path.join(d, 'out.tar')));
    await done;
    expect(JSON.parse(files.get('manifest.json')!)).toEqual([
      {
        Config: `${hex(img.configDigest)}.json`,
        RepoTags: ['busybox:latest', 'example.com/other:2'],
        Layers: img.layers.map((l) => `${hex(l.diffId)}.tar`),
      },
    ]);
    expect(Object.keys(JSON.parse(files.get('repositories')!)).sort()).toEqual([
      'busybox',
      'example.com/other',
    ]);
    await verify(`docker-archive:${d}/out.tar:busybox:latest`);
    await verify(`docker-archive:${d}/out.tar:example.com/other:2`);
    await verify(`docker-archive:${d}/out.tar:@0`);
  });

  it('writes several images into one docker-archive and selects them by tag or @index', async () => {
    const d = await tmp.make();
    const one = await buildImage({ label: 'one' });
    const two = await buildImage({ label: 'two' });
    await writeOciLayout(path.join(d, 'src'), [
      { ref: 'one', image: one },
      { ref: 'two', image: two },
    ]);
    const dst = (await openDestination(
      `docker-archive:${d}/multi.tar:app:one`,
    )) as DockerArchiveDestination;
    try {
      const s1 = await openSource(`oci:${d}/src:one`);
      await copyImage(s1, dst, { commit: false });
      await s1.close();
      dst.setNextImageTags(['app:two']);
      const s2 = await openSource(`oci:${d}/src:two`);
      await copyImage(s2, dst);
      await s2.close();
    } finally {
      await dst.close();
    }
    const r1 = await openSource(`docker-archive:${d}/multi.tar:app:one`);
    const r2 = await openSource(`docker-archive:${d}/multi.tar:@1`);
    expect(Buffer.from((await resolveImage(r1)).configRaw).equals(one.configRaw)).toBe(true);
    expect(Buffer.from((await resolveImage(r2)).configRaw).equals(two.configRaw)).toBe(true);
    await r1.close();
    await r2.close();
    await expect(openSource(`docker-archive:${d}/multi.tar`)).rejects.toThrow(
      /has 2 images; name one: @0 \(app:one\), @1 \(app:two\)/,
    );
    await expect(openSource(`docker-archive:${d}/multi.tar:app:three`)).rejects.toThrow(
      /no image tagged app:three/,
    );
    await verify(`docker-archive:${d}/multi.tar:app:two`);
  });

  it('reads a docker-archive whose layer files are gzip-compressed, serving them uncompressed', async () => {
    const d = await tmp.make();
    const img = await buildImage();
    const hex = (s: string) => s.slice(7);
    const archive = await makeTar([
      {
        name: 'manifest.json',
        data: JSON.stringify([
          {
            Config: 'c.json',
            RepoTags: ['gz:1'],
            Layers: img.layers.map((_, i) => `${i}/layer.tar`),
          },
        ]),
      },
      { name: 'c.json', data: img.configRaw },
      ...img.layers.map((l, i) => ({ name: `${i}/layer.tar`, data: l.blob })),
    ]);
    await fs.writeFile(path.join(d, 'gz.tar'), archive);
    const m = await readManifest(`docker-archive:${d}/gz.tar`);
    expect(m.json.layers).toEqual(
      img.layers.map((l) => ({
        mediaType: MediaType.DockerLayer,
        size: l.tar.length,
        digest: l.diffId,
      })),
    );
    await verify(`docker-archive:${d}/gz.tar:gz:1`);
    await copy(`docker-archive:${d}/gz.tar`, `oci:${d}/out:x`);
    await verify(`oci:${d}/out:x`);
    // Served uncompressed, then gzipped into the oci: layout as skopeo does.
    const out = await readManifest(`oci:${d}/out:x`);
    expect(out.json.layers.map((l: { mediaType: string }) => l.mediaType)).toEqual(
      img.layers.map(() => MediaType.OciLayerGzip),
    );
    expect(await listFiles(path.join(d, 'out', 'blobs'))).not.toContain(
      `sha256/${hex(img.layers[0]!.diffId)}`,
    );
  });

  it('recompresses layers when asked and rewrites the manifest with the new digests', async () => {
    const d = await tmp.make();
    const img = await buildImage({ compression: 'none' });
    await writeOciLayout(path.join(d, 'src'), [{ image: img }]);
    const res = await copy(`oci:${d}/src`, `oci:${d}/gz:x`, { compressionFormat: 'gzip' });
    const m = JSON.parse(Buffer.from(res.manifest.raw).toString('utf8'));
    expect(m.layers.map((l: { mediaType: string }) => l.mediaType)).toEqual([
      MediaType.OciLayerGzip,
      MediaType.OciLayerGzip,
    ]);
    expect(m.layers[0].digest).not.toBe(img.layers[0]!.digest);
    await verify(`oci:${d}/gz:x`, { expectedDigest: res.manifestDigest });
    await expect(
      copy(`oci:${d}/src`, `oci:${d}/gz2:x`, { compressionFormat: 'gzip', preserveDigests: true }),
    ).rejects.toThrow(/cannot preserve digests.*recompressing layer 0/);
  });

  it('converts between Docker schema 2 and OCI on request', async () => {
    const d = await tmp.make();
    const img = await buildImage({ docker: true });
    await fs.mkdir(path.join(d, 'src'));
    // Start from a dir: image holding Docker schema 2.
    await fs.writeFile(path.join(d, 'src', 'manifest.json'), img.manifestRaw);
    await fs.writeFile(path.join(d, 'src', 'version'), 'Directory Transport Version: 1.1\n');
    await fs.writeFile(path.join(d, 'src', img.configDigest.slice(7)), img.configRaw);
    for (const l of img.layers) await fs.writeFile(path.join(d, 'src', l.digest.slice(7)), l.blob);
    await verify(`dir:${d}/src`, { expectedDigest: img.manifestDigest });

    const toOci = await copy(`dir:${d}/src`, `dir:${d}/oci`, { format: 'oci' });
    const oci = JSON.parse(Buffer.from(toOci.manifest.raw).toString('utf8'));
    expect(toOci.manifest.mediaType).toBe(MediaType.OciManifest);
    expect(oci.config.mediaType).toBe(MediaType.OciConfig);
    expect(
      oci.layers.map((l: { mediaType: string; digest: string }) => [l.mediaType, l.digest]),
    ).toEqual(img.layers.map((l) => [MediaType.OciLayerGzip, l.digest]));
    await verify(`dir:${d}/oci`, { expectedDigest: toOci.manifestDigest });

    const back = await copy(`dir:${d}/oci`, `dir:${d}/v2s2`, { format: 'v2s2' });
    expect(back.manifest.mediaType).toBe(MediaType.DockerManifest);
    expect(back.manifestDigest).toBe(img.manifestDigest);
    await verify(`dir:${d}/v2s2`);

    await expect(
      copy(`dir:${d}/src`, `dir:${d}/p`, { format: 'oci', preserveDigests: true }),
    ).rejects.toThrow(/cannot preserve digests/);
    // oci: stores only OCI, so a Docker manifest is converted automatically.
    const auto = await copy(`dir:${d}/src`, `oci:${d}/layout:x`);
    expect(auto.manifestDigest).toBe(toOci.manifestDigest);
  });
});

describe('multi-arch indexes', () => {
  async function setup() {
    const d = await tmp.make();
    const amd = await buildImage({ architecture: 'amd64', label: 'amd64' });
    const arm = await buildImage({ architecture: 'arm64', variant: 'v8', label: 'arm64' });
    const index = buildIndex([amd, arm]);
    await writeOciLayout(path.join(d, 'src'), [{ ref: 'multi', index }]);
    return { d, amd, arm, index };
  }

  it('multiArch system copies the requested platform as a plain image', async () => {
    const { d, arm } = await setup();
    const res = await copy(`oci:${d}/src:multi`, `oci:${d}/one:arm`, {
      platform: { os: 'linux', architecture: 'arm64' },
    });
    expect(res.manifestDigest).toBe(arm.manifestDigest);
    await verify(`oci:${d}/one:arm`, { expectedDigest: arm.manifestDigest });
    await expect(
      copy(`oci:${d}/src:multi`, `oci:${d}/none:x`, {
        platform: { os: 'linux', architecture: 's390x' },
      }),
    ).rejects.toThrow(/no image for linux\/s390x.*linux\/amd64, linux\/arm64/);
  });

  it('multiArch all copies every instance and keeps the index byte-identical', async () => {
    const { d, index, amd, arm } = await setup();
    const res = await copy(`oci:${d}/src:multi`, `oci:${d}/all:multi`, { multiArch: 'all' });
    expect(res.manifestDigest).toBe(index.digest);
    const v = await verify(`oci:${d}/all:multi`, { expectedDigest: index.digest });
    expect(v.images).toBe(2);
    await copy(`oci:${d}/all:multi`, `dir:${d}/dir`, { multiArch: 'all' });
    const files = await listFiles(path.join(d, 'dir'));
    expect(files).toContain(`${amd.manifestDigest.slice(7)}.manifest.json`);
    expect(files).toContain(`${arm.manifestDigest.slice(7)}.manifest.json`);
    await verify(`dir:${d}/dir`, { expectedDigest: index.digest });
  });

  it('multiArch all with format v2s2 converts the instances and the index', async () => {
    const { d } = await setup();
    const res = await copy(`oci:${d}/src:multi`, `dir:${d}/list`, {
      multiArch: 'all',
      format: 'v2s2',
    });
    expect(res.manifest.mediaType).toBe(MediaType.DockerManifestList);
    const list = JSON.parse(Buffer.from(res.manifest.raw).toString('utf8'));
    expect(list.manifests.map((m: { mediaType: string }) => m.mediaType)).toEqual([
      MediaType.DockerManifest,
      MediaType.DockerManifest,
    ]);
    await verify(`dir:${d}/list`, { expectedDigest: res.manifestDigest });
    // Back into oci: the list becomes an OCI index again.
    const back = await copy(`dir:${d}/list`, `oci:${d}/back:m`, { multiArch: 'all' });
    expect(back.manifest.mediaType).toBe(MediaType.OciIndex);
    await verify(`oci:${d}/back:m`);
  });

  it('multiArch index-only copies only the index', async () => {
    const { d, index, amd } = await setup();
    const res = await copy(`oci:${d}/src:multi`, `oci:${d}/idx:m`, { multiArch: 'index-only' });
    expect(res.manifestDigest).toBe(index.digest);
    const files = await listFiles(path.join(d, 'idx', 'blobs'));
    expect(files).toEqual([`sha256/${index.digest.slice(7)}`]);
    await verify(`oci:${d}/idx:m`, { indexOnly: true });
    await expect(verify(`oci:${d}/idx:m`)).rejects.toThrow(new RegExp(amd.manifestDigest));
  });

  it('a docker-archive cannot take a whole index', async () => {
    const { d } = await setup();
    await expect(
      copy(`oci:${d}/src:multi`, `docker-archive:${d}/x.tar`, { multiArch: 'all' }),
    ).rejects.toThrow(/cannot store a multi-arch index/);
    await expect(fs.stat(path.join(d, 'x.tar'))).rejects.toThrow();
  });

  it('resolveImage picks the platform image and its config', async () => {
    const { d, arm } = await setup();
    const src = await openSource(`oci:${d}/src:multi`);
    const r = await resolveImage(src, { platform: { os: 'linux', architecture: 'arm64' } });
    await src.close();
    expect(r.top.kind).toBe('index');
    expect(r.image.digest).toBe(arm.manifestDigest);
    expect(r.config.architecture).toBe('arm64');
    expect(digestOf(r.configRaw)).toBe(arm.configDigest);
  });
});
