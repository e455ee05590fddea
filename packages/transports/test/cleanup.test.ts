import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { MediaType } from '@skiff/oci-image';
import { afterEach, describe, expect, it } from 'vitest';
import { buildImage, TempDirs, writeOciLayout } from './fixtures.js';
import { copy, verify } from './helpers.js';

const tmp = new TempDirs();
afterEach(() => tmp.cleanup());

describe('a failed copy leaves every destination without a new image', () => {
  for (const [transport, target] of [
    ['oci-archive', 'out.tar:x'],
    ['docker-archive', 'out.tar:x:y'],
    ['dir', 'out'],
    ['oci', 'out:x'],
  ] as const) {
    it(`${transport}: a corrupt source layer is refused and nothing appears`, async () => {
      const d = await tmp.make();
      const img = await buildImage();
      await writeOciLayout(path.join(d, 'src'), [{ image: img }]);
      const layer = path.join(d, 'src', 'blobs', 'sha256', img.layers[0]!.digest.slice(7));
      const bytes = await fs.readFile(layer);
      bytes[20] = (bytes[20]! + 1) % 256;
      await fs.writeFile(layer, bytes);
      const err = (await copy(`oci:${d}/src`, `${transport}:${d}/${target}`).catch(
        (e: unknown) => e,
      )) as Error;
      expect(err).toBeInstanceOf(Error);
      expect(err.message).toMatch(/mismatch|invalid|unexpected|incorrect/i);
      expect((await fs.readdir(d)).sort()).toEqual(['src']);
    });
  }
});

describe('zstd', () => {
  it('recompresses layers as zstd for OCI and refuses zstd for Docker schema 2', async () => {
    const d = await tmp.make();
    const img = await buildImage();
    await writeOciLayout(path.join(d, 'src'), [{ image: img }]);
    const res = await copy(`oci:${d}/src`, `oci:${d}/z:x`, { compressionFormat: 'zstd' });
    const m = JSON.parse(Buffer.from(res.manifest.raw).toString('utf8'));
    expect(m.layers.map((l: { mediaType: string }) => l.mediaType)).toEqual([
      MediaType.OciLayerZstd,
      MediaType.OciLayerZstd,
    ]);
    await verify(`oci:${d}/z:x`, { expectedDigest: res.manifestDigest });
    // zstd layers decompress on the way into a docker-archive.
    await copy(`oci:${d}/z:x`, `docker-archive:${d}/z.tar`);
    await verify(`docker-archive:${d}/z.tar`);
    await expect(
      copy(`oci:${d}/src`, `dir:${d}/zd`, { compressionFormat: 'zstd', format: 'v2s2' }),
    ).rejects.toThrow(/zstd/);
  });
});
