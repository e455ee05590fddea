import { execFile } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { isSkiffError, MediaType } from '@skiff/oci-image';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FaultProxy, startFaultProxy } from '../../../test/lib/fault-proxy.js';
import { type RegistryServer, startRegistry } from '../../../test/lib/registry-server.js';
import {
  type DockerSource,
  listRegistryTags,
  type OpenOptions,
  openDestination,
  openSource,
} from '../src/index.js';
import { copyWith, eventDigests, manifestOf, verifyWith } from './docker-helpers.js';
import {
  type BuiltImage,
  buildImage,
  buildIndex,
  listFiles,
  TempDirs,
  writeOciLayout,
} from './fixtures.js';

const run = promisify(execFile);
const tmp = new TempDirs();
let registry: RegistryServer;
let proxy: FaultProxy;
let dir: string;
let img: BuiltImage;
/** Plain-http test registry, no stored credentials of the machine's user. */
const ro: OpenOptions = { tlsVerify: false, noCreds: true, retryDelay: 10 };
const reg = (repo: string) => `docker://${registry.host}/${repo}`;

beforeAll(async () => {
  [registry, dir, img] = await Promise.all([
    startRegistry(),
    tmp.make(),
    buildImage({ label: 'docker-transport' }),
  ]);
  proxy = await startFaultProxy(registry.url);
  await writeOciLayout(path.join(dir, 'src'), [{ ref: 'v1', image: img }]);
  // The image every test reads: pushed once.
  await copyWith(`oci:${dir}/src:v1`, reg('skiff/base:v1'), ro);
});

afterAll(async () => {
  await proxy?.stop();
  await registry?.stop();
  await tmp.cleanup();
});

describe('docker:// as source and destination', () => {
  it('oci -> docker -> oci round trip keeps the manifest digest, and the registry image verifies', async () => {
    const pushed = await copyWith(`oci:${dir}/src:v1`, reg('skiff/round:v1'), ro);
    expect(pushed.manifestDigest).toBe(img.manifestDigest);
    const v = await verifyWith(reg('skiff/round:v1'), ro, { expectedDigest: img.manifestDigest });
    expect(v.layers).toBe(2);
    const src = (await openSource(reg('skiff/round:v1'), ro)) as DockerSource;
    expect(src.manifestDigest).toBe(img.manifestDigest);
    expect(Buffer.from((await src.getManifest()).raw)).toEqual(img.manifestRaw);
    await src.close();
    // By digest too.
    const back = await copyWith(
      `docker://${registry.host}/skiff/round@${img.manifestDigest}`,
      `oci:${dir}/back:v1`,
      ro,
    );
    expect(back.manifestDigest).toBe(img.manifestDigest);
    await verifyWith(`oci:${dir}/back:v1`, ro, { expectedDigest: img.manifestDigest });
  });

  it('copies between the registry and docker-archive, dir and oci-archive, both ways', async () => {
    const d = await tmp.make();
    const locals = [
      `docker-archive:${d}/img.tar:skiff/base:v1`,
      `dir:${d}/dir`,
      `oci-archive:${d}/img-oci.tar:v1`,
    ];
    for (const [i, local] of locals.entries()) {
      const out = await copyWith(reg('skiff/base:v1'), local, ro);
      await verifyWith(local, ro, { expectedDigest: out.manifestDigest });
      const target = reg(`skiff/back-${i}:v1`);
      const back = await copyWith(local, target, ro);
      await verifyWith(target, ro, { expectedDigest: back.manifestDigest });
      if (local.startsWith('docker-archive:')) {
        // docker-archive holds tar layers; the registry gets them gzipped again, as with skopeo.
        const m = await manifestOf(target, ro);
        const layers = JSON.parse(Buffer.from(m.raw).toString()).layers;
        expect(layers.map((l: { mediaType: string }) => l.mediaType)).toEqual(
          layers.map(() => MediaType.DockerLayerGzip),
        );
      } else {
        expect(back.manifestDigest).toBe(out.manifestDigest);
      }
    }
    // dir: and oci-archive: keep the registry's manifest; docker-archive stores tar layers.
    expect((await manifestOf(reg('skiff/back-1:v1'), ro)).raw).toEqual(
      new Uint8Array(img.manifestRaw),
    );
    expect((await manifestOf(reg('skiff/back-2:v1'), ro)).raw).toEqual(
      new Uint8Array(img.manifestRaw),
    );
    // From docker-archive the layers come back gzipped (new digests, same diff_ids).
    const fromArchive = await manifestOf(reg('skiff/back-0:v1'), ro);
    expect(fromArchive.mediaType).toBe(MediaType.DockerManifest);
    expect(fromArchive.json.layers.map((l: { digest: string }) => l.digest)).not.toEqual(
      img.layers.map((l) => l.diffId),
    );
    expect(fromArchive.json.config.digest).toBe(img.configDigest);
  });

  it('pushes and pulls a multi-arch index with multiArch "all", and one platform on request', async () => {
    const d = await tmp.make();
    const arm = await buildImage({ architecture: 'arm64', variant: 'v8', label: 'arm' });
    const amd = await buildImage({ label: 'amd' });
    const index = buildIndex([amd, arm]);
    await writeOciLayout(path.join(d, 'multi'), [{ ref: 'v1', index }]);
    const pushed = await copyWith(`oci:${d}/multi:v1`, reg('skiff/multi:v1'), ro, {
      multiArch: 'all',
    });
    expect(pushed.manifestDigest).toBe(index.digest);
    const v = await verifyWith(reg('skiff/multi:v1'), ro, { expectedDigest: index.digest });
    expect(v.images).toBe(2);
    const all = await copyWith(reg('skiff/multi:v1'), `oci:${d}/all:v1`, ro, {
      multiArch: 'all',
    });
    expect(all.manifestDigest).toBe(index.digest);
    await verifyWith(`oci:${d}/all:v1`, ro, { expectedDigest: index.digest });
    const one = await copyWith(reg('skiff/multi:v1'), `oci:${d}/arm:v1`, ro, {
      platform: { os: 'linux', architecture: 'arm64' },
    });
    expect(one.manifestDigest).toBe(arm.manifestDigest);
    await verifyWith(`oci:${d}/arm:v1`, ro, { expectedDigest: arm.manifestDigest });
  });

  it('converts OCI to Docker schema 2 and back through the registry', async () => {
    const d = await tmp.make();
    const v2 = await copyWith(`oci:${dir}/src:v1`, reg('skiff/v2s2:v1'), ro, { format: 'v2s2' });
    const m = await manifestOf(reg('skiff/v2s2:v1'), ro);
    expect(m.mediaType).toBe(MediaType.DockerManifest);
    expect(m.json.config.mediaType).toBe(MediaType.DockerConfig);
    expect(m.json.layers[0].mediaType).toBe(MediaType.DockerLayerGzip);
    await verifyWith(reg('skiff/v2s2:v1'), ro, { expectedDigest: v2.manifestDigest });
    const oci = await copyWith(reg('skiff/v2s2:v1'), reg('skiff/oci-again:v1'), ro, {
      format: 'oci',
    });
    const back = await manifestOf(reg('skiff/oci-again:v1'), ro);
    expect(back.mediaType).toBe(MediaType.OciManifest);
    expect(back.json.layers.map((l: { digest: string }) => l.digest)).toEqual(
      img.layers.map((l) => l.digest),
    );
    const local = await copyWith(reg('skiff/oci-again:v1'), `oci:${d}/again:v1`, ro);
    expect(local.manifestDigest).toBe(oci.manifestDigest);
    await verifyWith(`oci:${d}/again:v1`, ro, { expectedDigest: oci.manifestDigest });
  });

  it('skips every blob the repository has on a second copy', async () => {
    const again = await copyWith(`oci:${dir}/src:v1`, reg('skiff/base:v1'), ro);
    const blobs = [img.configDigest, ...img.layers.map((l) => l.digest)].sort();
    expect(eventDigests(again.events, 'blob-skipped')).toEqual(blobs);
    expect(eventDigests(again.events, 'blob-start')).toEqual([]);
  });

  it('mounts blobs from another repository of the same registry instead of uploading them', async () => {
    proxy.reset();
    const via = (repo: string) => `docker://${proxy.host}/${repo}`;
    const res = await copyWith(via('skiff/base:v1'), via('skiff/mounted:v1'), ro);
    expect(res.manifestDigest).toBe(img.manifestDigest);
    const blobs = [img.configDigest, ...img.layers.map((l) => l.digest)].sort();
    expect(eventDigests(res.events, 'blob-reused')).toEqual(blobs);
    expect(eventDigests(res.events, 'blob-start')).toEqual([]);
    // The registry saw one mount request per blob, answered 201, and no upload session.
    const mounts = proxy.log.filter((e) => e.method === 'POST' && /[?&]mount=/.test(e.path));
    expect(mounts.map((e) => e.status)).toEqual(blobs.map(() => 201));
    for (const b of blobs) {
      expect(mounts.some((e) => decodeURIComponent(e.path).includes(`mount=${b}`))).toBe(true);
    }
    const uploads = proxy.log.filter(
      (e) => /\/blobs\/uploads\//.test(e.path) && e.method !== 'POST',
    );
    expect(uploads).toEqual([]);
    // Only the config is read (the pipeline parses it); layer bytes never travel.
    const reads = proxy.log.filter((e) => e.method === 'GET' && /\/blobs\//.test(e.path));
    expect(reads.map((e) => decodeURIComponent(e.path).split('/blobs/')[1])).toEqual([
      img.configDigest,
    ]);
    await verifyWith(reg('skiff/mounted:v1'), ro, { expectedDigest: img.manifestDigest });
  });

  it('pushes by digest, and refuses a manifest that does not have the named digest', async () => {
    const ok = await copyWith(
      `oci:${dir}/src:v1`,
      `docker://${registry.host}/skiff/by-digest@${img.manifestDigest}`,
      ro,
    );
    expect(ok.manifestDigest).toBe(img.manifestDigest);
    const wrong = `sha256:${'1'.repeat(64)}`;
    const err = await copyWith(
      `oci:${dir}/src:v1`,
      `docker://${registry.host}/skiff/wrong-digest@${wrong}`,
      ro,
    ).catch((e: unknown) => e);
    expect(isSkiffError(err, 'E_DIGEST_MISMATCH')).toBe(true);
    expect((err as Error).message).toContain(wrong);
    const missing = await openSource(`docker://${registry.host}/skiff/wrong-digest@${wrong}`, {
      ...ro,
      retryTimes: 0,
    }).catch((e: unknown) => e);
    expect(isSkiffError(missing, 'E_MANIFEST_UNKNOWN')).toBe(true);
  });

  it('leaves no manifest in the registry when a copy fails', async () => {
    const d = await tmp.make();
    await writeOciLayout(path.join(d, 'bad'), [{ ref: 'v1', image: img }]);
    const layer = img.layers[1]!;
    const file = path.join(d, 'bad', 'blobs', 'sha256', layer.digest.slice(7));
    const bytes = await fs.readFile(file);
    bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 0xff;
    await fs.writeFile(file, bytes);
    const err = await copyWith(`oci:${d}/bad:v1`, reg('skiff/partial:v1'), ro).catch(
      (e: unknown) => e,
    );
    expect(isSkiffError(err, 'E_DIGEST_MISMATCH')).toBe(true);
    const open = await openSource(reg('skiff/partial:v1'), ro).catch((e: unknown) => e);
    expect(isSkiffError(open, 'E_MANIFEST_UNKNOWN') || isSkiffError(open, 'E_NAME_UNKNOWN')).toBe(
      true,
    );
  });

  it('lists the tags of a repository', async () => {
    await copyWith(reg('skiff/base:v1'), reg('skiff/tags:one'), ro);
    await copyWith(reg('skiff/base:v1'), reg('skiff/tags:two'), ro);
    expect((await listRegistryTags(reg('skiff/tags'), ro)).sort()).toEqual(['one', 'two']);
    expect((await listRegistryTags(`${registry.host}/skiff/tags`, ro)).sort()).toEqual([
      'one',
      'two',
    ]);
    await expect(listRegistryTags(reg('skiff/tags:one'), ro)).rejects.toThrow(/without a tag/);
  });
});

describe('registries.conf', () => {
  let conf: string;
  let opts: OpenOptions;
  beforeAll(async () => {
    conf = path.join(dir, 'registries.conf');
    const h = registry.host;
    await fs.writeFile(
      conf,
      [
        `unqualified-search-registries = ["${h}"]`,
        '[[registry]]',
        `location = "${h}"`,
        'insecure = true',
        '[[registry]]',
        'prefix = "remapped.invalid/app"',
        `location = "${h}/skiff/base"`,
        'insecure = true',
        '[[registry]]',
        'location = "mirrored.invalid"',
        '[[registry.mirror]]',
        `location = "${h}"`,
        'insecure = true',
        '[[registry]]',
        'location = "blocked.invalid"',
        'blocked = true',
        '',
      ].join('\n'),
    );
    // No tlsVerify: the `insecure = true` entries must allow plain http by themselves.
    opts = { registriesConf: conf, noCreds: true, retryTimes: 0 };
  });

  it('resolves a short name through unqualified-search-registries', async () => {
    const src = (await openSource('docker://skiff/base:v1', opts)) as DockerSource;
    expect(src.endpoint.registry).toBe(registry.host);
    expect(src.manifestDigest).toBe(img.manifestDigest);
    await src.close();
  });

  it('refuses an ambiguous short name in enforcing mode', async () => {
    const ambiguous = path.join(dir, 'ambiguous.conf');
    await fs.writeFile(
      ambiguous,
      `unqualified-search-registries = ["${registry.host}", "other.invalid"]\nshort-name-mode = "enforcing"\n`,
    );
    const err = await openSource('docker://skiff/base:v1', {
      ...opts,
      registriesConf: ambiguous,
    }).catch((e: unknown) => e);
    expect(isSkiffError(err, 'E_SHORT_NAME')).toBe(true);
    expect((err as Error).message).toMatch(/ambiguous/);
  });

  it('applies a remapped location and pulls from a mirror first', async () => {
    const remapped = (await openSource('docker://remapped.invalid/app:v1', opts)) as DockerSource;
    expect(remapped.endpoint.reference).toBe(`${registry.host}/skiff/base:v1`);
    await remapped.close();
    const d = await tmp.make();
    const res = await copyWith('docker://mirrored.invalid/skiff/base:v1', `oci:${d}/m:v1`, opts);
    expect(res.manifestDigest).toBe(img.manifestDigest);
  });

  it('refuses blocked registries as source and destination', async () => {
    const src = await openSource('docker://blocked.invalid/x:1', opts).catch((e: unknown) => e);
    expect(isSkiffError(src, 'E_REGISTRY_BLOCKED')).toBe(true);
    const dst = await openDestination('docker://blocked.invalid/x:1', opts).catch(
      (e: unknown) => e,
    );
    expect(isSkiffError(dst, 'E_REGISTRY_BLOCKED')).toBe(true);
  });
});

async function which(bin: string): Promise<string | undefined> {
  for (const d of (process.env.PATH ?? '').split(':')) {
    try {
      await fs.access(path.join(d, bin), fs.constants.X_OK);
      return path.join(d, bin);
    } catch {}
  }
  return undefined;
}
const skopeo = await which('skopeo');
if (!skopeo) console.warn('docker transport interop tests skipped: skopeo is not installed');

describe.skipIf(!skopeo)('interop with skopeo through the registry (needs skopeo)', () => {
  const skopeoRun = async (...args: string[]) =>
    (await run(skopeo!, ['--insecure-policy', ...args], { maxBuffer: 1 << 24 })).stdout;

  it('skopeo inspects what Skiff pushed and sees the same digest', async () => {
    const info = JSON.parse(
      await skopeoRun('inspect', '--tls-verify=false', `docker://${registry.host}/skiff/base:v1`),
    );
    expect(info.Digest).toBe(img.manifestDigest);
    expect(info.Layers).toEqual(img.layers.map((l) => l.digest));
  });

  it('Skiff reads and copies back what skopeo pushed, with the same digest', async () => {
    const d = await tmp.make();
    const other = await buildImage({ label: 'pushed-by-skopeo' });
    await writeOciLayout(path.join(d, 'in'), [{ ref: 'v1', image: other }]);
    const digestFile = path.join(d, 'digest');
    await skopeoRun(
      'copy',
      '--dest-tls-verify=false',
      '--format',
      'v2s2',
      '--digestfile',
      digestFile,
      `oci:${d}/in:v1`,
      `docker://${registry.host}/skiff/by-skopeo:v1`,
    );
    const pushed = (await fs.readFile(digestFile, 'utf8')).trim();
    const m = await manifestOf(`docker://${registry.host}/skiff/by-skopeo:v1`, ro);
    expect(m.mediaType).toBe(MediaType.DockerManifest);
    const back = await copyWith(`docker://${registry.host}/skiff/by-skopeo:v1`, `dir:${d}/out`, ro);
    expect(back.manifestDigest).toBe(pushed);
    await verifyWith(`dir:${d}/out`, ro, { expectedDigest: pushed });
    expect(await listFiles(`${d}/out`)).toContain('manifest.json');
  });
});
