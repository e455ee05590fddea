import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openSource } from '../src/index.js';
import { buildImage, listFiles, makeTar, TempDirs } from './fixtures.js';
import { copy, verify } from './helpers.js';

const tmp = new TempDirs();
afterEach(() => tmp.cleanup());

type Entry = Parameters<typeof makeTar>[0][number];

/** A directory outside the archive with a canary file that must stay untouched. */
async function canary() {
  const outside = await tmp.make('skiff-outside-dir-');
  await fs.writeFile(path.join(outside, 'canary'), 'untouched');
  return outside;
}

async function expectCanaryIntact(outside: string) {
  expect(await listFiles(outside)).toEqual(['canary']);
  expect(await fs.readFile(path.join(outside, 'canary'), 'utf8')).toBe('untouched');
}

const hostileCases = (outside: string): [string, Entry[], RegExp][] => [
  [
    'a symlink "blobs" to an outside dir, then a file written through it',
    [
      { name: 'blobs', type: 'symlink', linkname: outside },
      { name: 'blobs/sha256/x', data: 'pwned' },
      { name: 'blobs/canary', data: 'pwned' },
    ],
    /entry "blobs" (is a symlink|links to absolute path)/,
  ],
  [
    'a relative symlink escaping the archive',
    [
      { name: 'blobs/', type: 'directory' },
      { name: 'blobs/sha256', type: 'symlink', linkname: `../../../../../../..${outside}` },
      { name: 'blobs/sha256/canary', data: 'pwned' },
    ],
    /entry "blobs\/sha256" (is a symlink|links outside the archive)/,
  ],
  [
    'a hard link to an outside file',
    [{ name: 'blobs/sha256/y', type: 'link', linkname: `${outside}/canary` }],
    /entry "blobs\/sha256\/y" (is a hard link|links to absolute path)/,
  ],
  [
    '"../" names',
    [{ name: `blobs/../../../../../../..${outside}/canary`, data: 'pwned' }],
    /contains "\.\."/,
  ],
  ['absolute names', [{ name: `${outside}/canary`, data: 'pwned' }], /is an absolute path/],
];

describe('hostile outer tars', () => {
  for (const transport of ['oci-archive', 'docker-archive'] as const) {
    for (const i of [0, 1, 2, 3, 4]) {
      it(`${transport}: refuses ${['a symlink written through', 'an escaping symlink', 'a hard link out', '../ names', 'absolute names'][i]}`, async () => {
        const outside = await canary();
        const [, entries, message] = hostileCases(outside)[i]!;
        const d = await tmp.make();
        const file = path.join(d, 'evil.tar');
        await fs.writeFile(
          file,
          await makeTar([
            { name: 'oci-layout', data: '{"imageLayoutVersion":"1.0.0"}' },
            { name: 'manifest.json', data: '[]' },
            ...entries,
          ]),
        );
        const err = await openSource(`${transport}:${file}`).catch((e: unknown) => e);
        expect((err as { code?: string }).code).toBe('E_UNSAFE_PATH');
        expect((err as Error).message).toMatch(message);
        await expectCanaryIntact(outside);
      });
    }
  }

  it('docker-archive: an in-archive symlink to another layer file is followed safely', async () => {
    const d = await tmp.make();
    const img = await buildImage({
      compression: 'none',
      layers: [{ 'a.txt': 'a' }, { 'a.txt': 'a' }],
    });
    const archive = await makeTar([
      {
        name: 'manifest.json',
        data: JSON.stringify([
          { Config: 'c.json', RepoTags: ['dup:1'], Layers: ['l1/layer.tar', 'l2/layer.tar'] },
        ]),
      },
      { name: 'c.json', data: img.configRaw },
      { name: 'l1/', type: 'directory' },
      { name: 'l1/layer.tar', data: img.layers[0]!.tar },
      { name: 'l2/', type: 'directory' },
      { name: 'l2/layer.tar', type: 'symlink', linkname: '../l1/layer.tar' },
    ]);
    await fs.writeFile(path.join(d, 'dup.tar'), archive);
    await verify(`docker-archive:${d}/dup.tar:dup:1`);
    await copy(`docker-archive:${d}/dup.tar`, `oci:${d}/out`);
    await verify(`oci:${d}/out`);
  });

  it('oci-archive: other members are ignored, not written', async () => {
    const outside = await canary();
    const d = await tmp.make();
    const img = await buildImage();
    const hex = (s: string) => s.slice(7);
    const index = {
      schemaVersion: 2,
      manifests: [
        { mediaType: img.mediaType, digest: img.manifestDigest, size: img.manifestRaw.length },
      ],
    };
    await fs.writeFile(
      path.join(d, 'ok.tar'),
      await makeTar([
        { name: './oci-layout', data: '{"imageLayoutVersion":"1.0.0"}' },
        { name: './index.json', data: JSON.stringify(index) },
        { name: 'README', data: 'extra' },
        { name: `blobs/sha256/${hex(img.manifestDigest)}`, data: img.manifestRaw },
        { name: `blobs/sha256/${hex(img.configDigest)}`, data: img.configRaw },
        ...img.layers.map((l) => ({ name: `blobs/sha256/${hex(l.digest)}`, data: l.blob })),
      ]),
    );
    await verify(`oci-archive:${d}/ok.tar`, { expectedDigest: img.manifestDigest });
    await expectCanaryIntact(outside);
  });

  it('a docker-archive whose config diff_ids do not match its layers is refused, naming both', async () => {
    const d = await tmp.make();
    const img = await buildImage({ compression: 'none' });
    const bad = await buildImage({
      compression: 'none',
      diffIds: [img.layers[1]!.diffId, img.layers[0]!.diffId],
    });
    await fs.writeFile(
      path.join(d, 'bad.tar'),
      await makeTar([
        {
          name: 'manifest.json',
          data: JSON.stringify([{ Config: 'c.json', RepoTags: [], Layers: ['0.tar', '1.tar'] }]),
        },
        { name: 'c.json', data: bad.configRaw },
        { name: '0.tar', data: img.layers[0]!.tar },
        { name: '1.tar', data: img.layers[1]!.tar },
      ]),
    );
    const err = (await copy(`docker-archive:${d}/bad.tar`, `oci:${d}/out:x`).catch(
      (e: unknown) => e,
    )) as Error;
    expect(err.message).toMatch(/digest mismatch/);
    expect(err.message).toContain(img.layers[0]!.diffId);
    await expect(fs.stat(path.join(d, 'out'))).rejects.toThrow();
  });
});
