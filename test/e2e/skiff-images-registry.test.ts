// skiff pull and push against Debian's real docker-registry on 127.0.0.1: digests kept from pull
// to push, pushes to local formats, an image pushed by podman, kill -9 in the middle of pulls,
// concurrent pulls of one image, and a corrupted blob (fault proxy) that must store nothing.
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import { gunzipSync } from 'node:zlib';
import { createLayer } from '@skiff/archive';
import { digestOf, MediaType, serializeJson } from '@skiff/oci-image';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  containersEnv,
  podmanStoreFlags,
  runCommand,
  SKIFF_CLI,
  startCommand,
  stdoutOf,
  writeTestContainersConf,
} from '../lib/cli.js';
import { blobGet, type FaultProxy, startFaultProxy } from '../lib/fault-proxy.js';
import { type RegistryServer, startRegistry } from '../lib/registry-server.js';

const LAYERS = 4;
const LAYER_BYTES = 3 << 20;

let work: string;
let registry: RegistryServer;
let podmanConf: string;
let big: { layout: string; manifestDigest: string; layerDigests: string[] };

const env = () => containersEnv(work, podmanConf);
const start = (cmd: string, args: string[]) => startCommand(cmd, args, { env: env() });
const run = (cmd: string, args: string[]) => start(cmd, args).done;

/** A skiff bound to one store (its own --root/--runroot). */
function storeAt(name: string) {
  const root = join(work, name, 'root');
  const runroot = join(work, name, 'run');
  const args = (...a: string[]) => [SKIFF_CLI, '--root', root, '--runroot', runroot, ...a];
  return {
    root,
    run: (...a: string[]) => run(process.execPath, args(...a)),
    spawn: (...a: string[]) => start(process.execPath, args(...a)),
  };
}

const podman = (root: string, ...args: string[]) =>
  run('podman', [...podmanStoreFlags(join(root, 'root'), join(root, 'run')), ...args]);
const skopeo = (...args: string[]) => run('skopeo', ['--insecure-policy', ...args]);

/** An OCI layout with LAYERS layers of LAYER_BYTES random (incompressible) bytes each. */
async function buildBigImage(parent: string) {
  const layout = join(parent, 'big-layout');
  await mkdir(join(layout, 'blobs', 'sha256'), { recursive: true });
  await writeFile(join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  const put = async (data: Uint8Array) => {
    const d = digestOf(data);
    await writeFile(join(layout, 'blobs', 'sha256', d.slice(7)), data);
    return d;
  };
  const layers: { digest: string; size: number }[] = [];
  const diffIds: string[] = [];
  for (let i = 0; i < LAYERS; i++) {
    const rootfs = join(parent, `rootfs-${i}`);
    await mkdir(join(rootfs, 'data'), { recursive: true });
    await writeFile(join(rootfs, 'data', `layer-${i}.bin`), randomBytes(LAYER_BYTES));
    const gz = await buffer(createLayer(rootfs, { compression: 'gzip', clampMtime: 0 }));
    diffIds.push(digestOf(gunzipSync(gz)));
    layers.push({ digest: await put(gz), size: gz.length });
    await rm(rootfs, { recursive: true });
  }
  const config = serializeJson({
    created: '2024-05-06T07:08:09Z',
    architecture: 'amd64',
    os: 'linux',
    config: { Cmd: ['/bin/sh'], Labels: { test: 'big' } },
    rootfs: { type: 'layers', diff_ids: diffIds },
    history: diffIds.map((_d, i) => ({
      created: '2024-05-06T07:08:09Z',
      created_by: `layer ${i}`,
    })),
  });
  const configDigest = await put(config);
  const manifest = serializeJson({
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    config: { mediaType: MediaType.OciConfig, digest: configDigest, size: config.length },
    layers: layers.map((l) => ({ mediaType: MediaType.OciLayerGzip, ...l })),
  });
  const manifestDigest = await put(manifest);
  await writeFile(
    join(layout, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        {
          mediaType: MediaType.OciManifest,
          digest: manifestDigest,
          size: manifest.length,
          annotations: { 'org.opencontainers.image.ref.name': 'v1' },
        },
      ],
    }),
  );
  return { layout, manifestDigest, layerDigests: layers.map((l) => l.digest) };
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'skiff-images-registry-e2e-'));
  await mkdir(join(work, 'home'), { recursive: true });
  podmanConf = join(work, 'containers.conf');
  await writeTestContainersConf(podmanConf);
  registry = await startRegistry();
  // The test registry is plain http: registries.conf marks it insecure, as a user would.
  await writeFile(
    join(work, 'registries.conf'),
    `unqualified-search-registries = ["${registry.host}"]\n[[registry]]\nlocation = "${registry.host}"\ninsecure = true\n`,
  );
  big = await buildBigImage(work);
  await stdoutOf(
    skopeo(
      'copy',
      '-q',
      '--dest-tls-verify=false',
      `oci:${big.layout}:v1`,
      `docker://${registry.host}/big:v1`,
    ),
  );
  await stdoutOf(
    skopeo(
      'copy',
      '-q',
      '--dest-tls-verify=false',
      `oci:${inject('baseImageLayout')}:latest`,
      `docker://${registry.host}/skiffbox:latest`,
    ),
  );
}, 180_000);

afterAll(async () => {
  await registry?.stop();
  if (work) {
    await podman(join(work, 'podman'), 'system', 'reset', '-f').catch(() => undefined);
    await rm(work, { recursive: true, force: true });
  }
});

describe('skiff pull and push with a registry', () => {
  const s = () => storeAt('main');

  it('pulls by short name through unqualified-search-registries, printing "Trying to pull"', async () => {
    const r = await s().run('pull', 'skiffbox');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr.split('\n')[0]).toBe(`Trying to pull ${registry.host}/skiffbox:latest...`);
    expect(r.stdout).toMatch(/^[0-9a-f]{64}\n$/);
    expect(await stdoutOf(s().run('images', '--format', '{{.Repository}}:{{.Tag}}'))).toBe(
      `${registry.host}/skiffbox:latest\n`,
    );
  });

  it('pulls a multi-layer image and pushes it to another repository with the same manifest digest', async () => {
    const id = (await stdoutOf(s().run('pull', '-q', `${registry.host}/big:v1`))).trim();
    const [img] = JSON.parse(await stdoutOf(s().run('image', 'inspect', id)));
    expect(img.Digest).toBe(big.manifestDigest);
    expect(img.RootFS.Layers).toHaveLength(LAYERS);
    expect(img.Labels).toEqual({ test: 'big' });
    const digestfile = join(work, 'pushed.digest');
    const push = await s().run(
      'push',
      '--digestfile',
      digestfile,
      `${registry.host}/big:v1`,
      `${registry.host}/copy/big:v2`,
    );
    expect(push.code, push.stderr).toBe(0);
    expect(push.stderr).toContain('Writing manifest to image destination');
    expect(await readFile(digestfile, 'utf8')).toBe(big.manifestDigest);
    const remote = JSON.parse(
      await stdoutOf(
        skopeo('inspect', '--tls-verify=false', `docker://${registry.host}/copy/big:v2`),
      ),
    );
    expect(remote.Digest).toBe(big.manifestDigest);
    expect(remote.Layers).toEqual(big.layerDigests);
  });

  it('pushes to oci: and docker-archive: destinations that skopeo reads', async () => {
    const oci = join(work, 'pushed-oci');
    await stdoutOf(s().run('push', '-q', `${registry.host}/big:v1`, `oci:${oci}:v1`));
    const fromOci = JSON.parse(await stdoutOf(skopeo('inspect', `oci:${oci}:v1`)));
    expect(fromOci.Digest).toBe(big.manifestDigest);
    const archive = join(work, 'pushed.tar');
    await stdoutOf(s().run('push', '-q', 'skiffbox', `docker-archive:${archive}:busybox:pushed`));
    const fromArchive = JSON.parse(await stdoutOf(skopeo('inspect', `docker-archive:${archive}`)));
    expect(fromArchive.Layers).toHaveLength(1);
    const manifestJson = (await run('tar', ['-xOf', archive, 'manifest.json'])).stdout;
    expect(JSON.parse(manifestJson)[0].RepoTags).toEqual(['busybox:pushed']);
    expect(fromArchive.Layers).toHaveLength(1);
    const v2s2 = await s().run(
      'push',
      '-q',
      '--format',
      'v2s2',
      `${registry.host}/big:v1`,
      `${registry.host}/v2s2/big:v1`,
    );
    expect(v2s2.code, v2s2.stderr).toBe(0);
    const raw = JSON.parse(
      await stdoutOf(
        skopeo('inspect', '--raw', '--tls-verify=false', `docker://${registry.host}/v2s2/big:v1`),
      ),
    );
    expect(raw.mediaType).toBe(MediaType.DockerManifest);
  });

  it('pulls an image that podman pushed, with the same layers', async () => {
    const p = join(work, 'podman');
    await stdoutOf(
      podman(p, 'pull', '-q', '--tls-verify=false', `${registry.host}/skiffbox:latest`),
    );
    await stdoutOf(
      podman(
        p,
        'push',
        '-q',
        '--tls-verify=false',
        '--format',
        'v2s2',
        `${registry.host}/skiffbox:latest`,
        `docker://${registry.host}/frompodman:1`,
      ),
    );
    const remote = JSON.parse(
      await stdoutOf(
        skopeo('inspect', '--tls-verify=false', `docker://${registry.host}/frompodman:1`),
      ),
    );
    const id = (
      await stdoutOf(s().run('pull', '-q', `docker://${registry.host}/frompodman:1`))
    ).trim();
    const [img] = JSON.parse(await stdoutOf(s().run('image', 'inspect', id)));
    expect(img.Digest).toBe(remote.Digest);
    expect(img.ManifestType).toBe(MediaType.DockerManifest);
    const manifest = JSON.parse(
      await stdoutOf(
        skopeo('inspect', '--raw', '--tls-verify=false', `docker://${registry.host}/frompodman:1`),
      ),
    );
    // Push it back out: the layers skiff stored are podman's, byte for byte.
    const oci = join(work, 'podman-roundtrip');
    await stdoutOf(s().run('push', '-q', id, `oci:${oci}:x`));
    const back = JSON.parse(await stdoutOf(skopeo('inspect', '--raw', `oci:${oci}:x`)));
    expect(back.layers.map((l: { digest: string }) => l.digest)).toEqual(
      manifest.layers.map((l: { digest: string }) => l.digest),
    );
  });

  it('fails a pull of an unknown tag and of an ambiguous short name, exit 125', async () => {
    const r = await s().run('pull', `${registry.host}/big:nope`);
    expect(r.code).toBe(125);
    expect(r.stderr).toMatch(/Error: .*(manifest unknown|not found)/i);
    const conf = join(work, 'ambiguous.conf');
    await writeFile(
      conf,
      `unqualified-search-registries = ["${registry.host}", "registry.invalid"]\nshort-name-mode = "enforcing"\n`,
    );
    const res = await runCommand(
      process.execPath,
      [
        SKIFF_CLI,
        '--root',
        s().root,
        '--runroot',
        join(work, 'main', 'run'),
        'pull',
        'zzz-unaliased',
      ],
      { env: { ...env(), CONTAINERS_REGISTRIES_CONF: conf } },
    );
    expect(res.code).toBe(125);
    expect(res.stderr).toContain(
      `${registry.host}/zzz-unaliased:latest, registry.invalid/zzz-unaliased:latest`,
    );
  });
});

describe('skiff pull under failure', () => {
  it('survives kill -9 at random points of ten pulls; the store stays consistent and a new pull succeeds', async () => {
    const s = storeAt('killed');
    for (let i = 0; i < 10; i++) {
      const { child, done } = s.spawn('pull', '-q', `${registry.host}/big:v1`);
      await new Promise((r) => setTimeout(r, 5 + Math.floor(Math.random() * 700)));
      child.kill('SIGKILL');
      await done;
      const images = await s.run('images', '--format', '{{.ID}} {{.Repository}}');
      expect(images.code, images.stderr).toBe(0);
      // Either nothing or the complete image: never an image with missing layers.
      for (const line of images.stdout.trim().split('\n').filter(Boolean)) {
        const [id] = line.split(' ');
        const [img] = JSON.parse(await stdoutOf(s.run('image', 'inspect', id!)));
        expect(img.RootFS.Layers).toHaveLength(LAYERS);
      }
      if (images.stdout.trim() !== '') await stdoutOf(s.run('rmi', '-a', '-f'));
    }
    const id = (await stdoutOf(s.run('pull', '-q', `${registry.host}/big:v1`))).trim();
    const [img] = JSON.parse(await stdoutOf(s.run('image', 'inspect', id)));
    expect(img.RootFS.Layers).toHaveLength(LAYERS);
    expect(img.Digest).toBe(big.manifestDigest);
    // The pulled image pushes back out unchanged: every layer is complete.
    const oci = join(work, 'after-kills');
    await stdoutOf(s.run('push', '-q', id, `oci:${oci}:v1`));
    const verify = JSON.parse(await stdoutOf(skopeo('inspect', `oci:${oci}:v1`)));
    expect(verify.Layers).toEqual(big.layerDigests);
  });

  it('runs two pulls of the same image at once; both succeed with the same id', async () => {
    const s = storeAt('concurrent');
    const [a, b] = await Promise.all([
      s.run('pull', '-q', `${registry.host}/big:v1`),
      s.run('pull', '-q', `${registry.host}/big:v1`),
    ]);
    expect(a!.code, a!.stderr).toBe(0);
    expect(b!.code, b!.stderr).toBe(0);
    expect(a!.stdout).toBe(b!.stdout);
    expect((await stdoutOf(s.run('images', '-q'))).trim().split('\n')).toHaveLength(1);
  });

  it('fails a pull whose blob comes back corrupted, with a digest error, storing nothing', async () => {
    const proxy: FaultProxy = await startFaultProxy(registry.url);
    try {
      await writeFile(
        join(work, 'registries.conf'),
        `unqualified-search-registries = ["${registry.host}"]\n[[registry]]\nlocation = "${registry.host}"\ninsecure = true\n[[registry]]\nlocation = "${proxy.host}"\ninsecure = true\n`,
      );
      proxy.fault(blobGet(big.layerDigests[2]), { kind: 'corrupt' }, Number.POSITIVE_INFINITY);
      const s = storeAt('corrupt');
      const r = await s.run('pull', `${proxy.host}/big:v1`);
      expect(r.code).toBe(125);
      expect(r.stderr).toMatch(/Error: .*digest/i);
      expect(r.stderr).toContain(big.layerDigests[2]!);
      expect(await stdoutOf(s.run('images', '-q'))).toBe('');
      const df = JSON.parse(await stdoutOf(s.run('system', 'df', '--format', 'json')));
      expect(df[0].Total).toBe(0);
    } finally {
      await proxy.stop();
    }
  });
});
