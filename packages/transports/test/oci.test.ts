import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { digestOf } from '@skiff/oci-image';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type CopyEvent,
  copyImage,
  openDestination,
  openSource,
  verifyImage,
} from '../src/index.js';
import { buildImage, listFiles, TempDirs, writeOciLayout } from './fixtures.js';

const tmp = new TempDirs();
afterEach(() => tmp.cleanup());

async function copy(from: string, to: string, opts: Parameters<typeof copyImage>[2] = {}) {
  const src = await openSource(from);
  const dst = await openDestination(to);
  try {
    return await copyImage(src, dst, opts);
  } finally {
    await src.close();
    await dst.close();
  }
}

async function verify(name: string, opts: Parameters<typeof verifyImage>[1] = {}) {
  const src = await openSource(name);
  try {
    return await verifyImage(src, opts);
  } finally {
    await src.close();
  }
}

async function indexJson(dir: string) {
  return JSON.parse(await fs.readFile(path.join(dir, 'index.json'), 'utf8')) as {
    manifests: { digest: string; annotations?: Record<string, string> }[];
  };
}

describe('oci: transport', () => {
  it('copies an unchanged image byte-identically (same manifest digest)', async () => {
    const d = await tmp.make();
    const img = await buildImage();
    await writeOciLayout(path.join(d, 'src'), [{ ref: 'v1', image: img }]);
    const res = await copy(`oci:${d}/src:v1`, `oci:${d}/dst:copied`);
    expect(res.manifestDigest).toBe(img.manifestDigest);
    expect(Buffer.from(res.manifest.raw).equals(img.manifestRaw)).toBe(true);
    const stored = await fs.readFile(
      path.join(d, 'dst', 'blobs', 'sha256', img.manifestDigest.slice(7)),
    );
    expect(stored.equals(img.manifestRaw)).toBe(true);
    await verify(`oci:${d}/dst:copied`, { expectedDigest: img.manifestDigest });
    expect(await fs.readFile(path.join(d, 'dst', 'oci-layout'), 'utf8')).toContain('1.0.0');
  });

  it('skips every blob on a second copy into the same layout', async () => {
    const d = await tmp.make();
    const img = await buildImage();
    await writeOciLayout(path.join(d, 'src'), [{ image: img }]);
    await copy(`oci:${d}/src`, `oci:${d}/dst:a`);
    const events: CopyEvent[] = [];
    await copy(`oci:${d}/src`, `oci:${d}/dst:b`, { onEvent: (e) => events.push(e) });
    const skipped = events.filter((e) => e.type === 'blob-skipped').map((e) => e.digest);
    expect(skipped.sort()).toEqual([img.configDigest, ...img.layers.map((l) => l.digest)].sort());
    expect(events.some((e) => e.type === 'blob-start')).toBe(false);
    const refs = (await indexJson(path.join(d, 'dst'))).manifests.map(
      (m) => m.annotations?.['org.opencontainers.image.ref.name'],
    );
    expect(refs.sort()).toEqual(['a', 'b']);
    await verify(`oci:${d}/dst:b`);
  });

  it('reports start, progress and done for copied blobs', async () => {
    const d = await tmp.make();
    const img = await buildImage();
    await writeOciLayout(path.join(d, 'src'), [{ image: img }]);
    const events: CopyEvent[] = [];
    await copy(`oci:${d}/src`, `oci:${d}/dst`, { onEvent: (e) => events.push(e) });
    for (const l of img.layers) {
      expect(events).toContainEqual({ type: 'blob-start', digest: l.digest, size: l.blob.length });
      expect(events).toContainEqual({ type: 'blob-done', digest: l.digest, size: l.blob.length });
      expect(events).toContainEqual({
        type: 'blob-progress',
        digest: l.digest,
        bytes: l.blob.length,
        size: l.blob.length,
      });
    }
    expect(events).toContainEqual({ type: 'config', digest: img.configDigest });
    expect(events.at(-1)).toEqual({ type: 'manifest', digest: img.manifestDigest });
  });

  it('replaces an entry with the same ref and adds untagged entries', async () => {
    const d = await tmp.make();
    const one = await buildImage({ label: 'one' });
    const two = await buildImage({ label: 'two' });
    await writeOciLayout(path.join(d, 'one'), [{ image: one }]);
    await writeOciLayout(path.join(d, 'two'), [{ image: two }]);
    await copy(`oci:${d}/one`, `oci:${d}/dst:latest`);
    await copy(`oci:${d}/two`, `oci:${d}/dst:latest`);
    let idx = await indexJson(path.join(d, 'dst'));
    expect(idx.manifests).toHaveLength(1);
    expect(idx.manifests[0]!.digest).toBe(two.manifestDigest);
    await copy(`oci:${d}/one`, `oci:${d}/dst`);
    idx = await indexJson(path.join(d, 'dst'));
    expect(idx.manifests).toHaveLength(2);
    expect(idx.manifests[1]!.annotations).toBeUndefined();
    // With two images and no ref, reading must name the choices.
    await expect(openSource(`oci:${d}/dst`)).rejects.toThrow(
      /contains 2 images; name one: latest, @sha256:/,
    );
    await expect(openSource(`oci:${d}/dst:nope`)).rejects.toThrow(/no image named "nope"/);
    await verify(`oci:${d}/dst:latest`, { expectedDigest: two.manifestDigest });
  });

  it('an aborted copy leaves no index entry and removes the blobs it wrote', async () => {
    const d = await tmp.make();
    const old = await buildImage({ label: 'old' });
    const img = await buildImage({
      label: 'new',
      layers: [{ 'big.bin': 'x'.repeat(4 * 1024 * 1024) }, { 'a.txt': 'a' }],
    });
    await writeOciLayout(path.join(d, 'src'), [{ image: img }]);
    await writeOciLayout(path.join(d, 'dst'), [{ ref: 'old', image: old }]);
    const before = await listFiles(path.join(d, 'dst'));
    const ac = new AbortController();
    const err = await copy(`oci:${d}/src`, `oci:${d}/dst:new`, {
      signal: ac.signal,
      onEvent: (e) => {
        if (e.type === 'blob-progress' || e.type === 'blob-done') ac.abort();
      },
    }).catch((e: unknown) => e);
    expect((err as { code?: string }).code).toBe('E_ABORTED');
    expect(await listFiles(path.join(d, 'dst'))).toEqual(before);
    await verify(`oci:${d}/dst:old`);
  });

  it('an aborted copy into a new layout leaves nothing', async () => {
    const d = await tmp.make();
    const img = await buildImage();
    await writeOciLayout(path.join(d, 'src'), [{ image: img }]);
    const ac = new AbortController();
    ac.abort();
    await expect(copy(`oci:${d}/src`, `oci:${d}/new:x`, { signal: ac.signal })).rejects.toThrow(
      /aborted/,
    );
    await expect(fs.stat(path.join(d, 'new'))).rejects.toThrow();
  });

  it('refuses a layer whose digest does not match and adds no image', async () => {
    const d = await tmp.make();
    const img = await buildImage();
    await writeOciLayout(path.join(d, 'src'), [{ image: img }]);
    const layerPath = path.join(d, 'src', 'blobs', 'sha256', img.layers[1]!.digest.slice(7));
    const tampered = Buffer.from(img.layers[1]!.blob);
    tampered[tampered.length - 9] = (tampered[tampered.length - 9]! + 1) % 256;
    await fs.writeFile(layerPath, tampered);
    const err = (await copy(`oci:${d}/src`, `oci:${d}/dst:x`).catch((e: unknown) => e)) as Error & {
      code: string;
    };
    expect(err.code).toBe('E_DIGEST_MISMATCH');
    expect(err.message).toContain(img.layers[1]!.digest);
    await expect(fs.stat(path.join(d, 'dst'))).rejects.toThrow();
  });

  it('refuses a layer whose size does not match the manifest', async () => {
    const d = await tmp.make();
    const img = await buildImage();
    await writeOciLayout(path.join(d, 'src'), [{ image: img }]);
    const layerPath = path.join(d, 'src', 'blobs', 'sha256', img.layers[0]!.digest.slice(7));
    await fs.appendFile(layerPath, 'trailing');
    await writeOciLayout(path.join(d, 'dst'), []);
    const err = (await copy(`oci:${d}/src`, `oci:${d}/dst:x`).catch((e: unknown) => e)) as Error & {
      code: string;
    };
    expect(err.code).toBe('E_SIZE_MISMATCH');
    expect(err.message).toContain(img.layers[0]!.digest);
    expect((await indexJson(path.join(d, 'dst'))).manifests).toHaveLength(0);
    expect(await listFiles(path.join(d, 'dst', 'blobs'))).toEqual([]);
  });

  it('refuses a config whose diff_ids do not match the layers (count and content)', async () => {
    const d = await tmp.make();
    const short = await buildImage({ diffIds: [digestOf('x')] });
    await writeOciLayout(path.join(d, 'short'), [{ image: short }]);
    await expect(copy(`oci:${d}/short`, `oci:${d}/dst:x`)).rejects.toThrow(
      /lists 1 diff_ids but manifest .* has 2 layers/,
    );
    const base = await buildImage();
    const wrong = await buildImage({ diffIds: [base.layers[0]!.diffId, digestOf('nope')] });
    await writeOciLayout(path.join(d, 'wrong'), [{ image: wrong }]);
    // Preserving copy into oci does not decompress; the invariant checker catches it.
    const src = await openSource(`oci:${d}/wrong`);
    await expect(verifyImage(src)).rejects.toThrow(/layer 1 .* does not match config diff_id/);
    await src.close();
    // A copy that decompresses (docker-archive) refuses with the mismatch named.
    await expect(copy(`oci:${d}/wrong`, `docker-archive:${d}/out.tar:x:y`)).rejects.toThrow(
      new RegExp(`diff_id ${digestOf('nope')}`),
    );
    await expect(fs.stat(path.join(d, 'out.tar'))).rejects.toThrow();
    await expect(fs.stat(path.join(d, 'dst'))).rejects.toThrow();
  });

  it('refuses a manifest blob whose content does not match index.json', async () => {
    const d = await tmp.make();
    const img = await buildImage();
    await writeOciLayout(path.join(d, 'src'), [{ image: img }]);
    await fs.writeFile(
      path.join(d, 'src', 'blobs', 'sha256', img.manifestDigest.slice(7)),
      Buffer.concat([img.manifestRaw, Buffer.from(' ')]),
    );
    await expect(copy(`oci:${d}/src`, `oci:${d}/dst`)).rejects.toThrow(
      new RegExp(`manifest ${img.manifestDigest}.*has digest`),
    );
  });
});
