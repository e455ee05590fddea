import {
  ErrorCode,
  formatPlatform,
  hostPlatform,
  type IndexDoc,
  isSkiffError,
  normalizePlatform,
  type Platform,
  parseManifest,
  parsePlatform,
  platformMatches,
  selectPlatformManifest,
} from '@skiff/oci-image';
import { describe, expect, it } from 'vitest';
import { AMD64, ARM64, ARMV7, bytes, dockerList, ociIndex } from './fixtures.js';

function index(json: string): IndexDoc {
  const m = parseManifest(bytes(json));
  if (m.kind !== 'index') throw new Error('fixture is not an index');
  return m;
}

function indexOf(platforms: Platform[]): IndexDoc {
  return {
    kind: 'index',
    mediaType: 'application/vnd.oci.image.index.v1+json',
    raw: new Uint8Array(),
    digest: AMD64,
    json: { schemaVersion: 2, manifests: [] },
    manifests: platforms.map((platform, i) => ({
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      digest: `sha256:${i.toString(16).padStart(64, '0')}`,
      size: 100,
      platform,
    })),
  };
}

describe('parsePlatform / formatPlatform', () => {
  it('parses os/arch and os/arch/variant', () => {
    expect(parsePlatform('linux/arm64/v8')).toEqual({
      os: 'linux',
      architecture: 'arm64',
      variant: 'v8',
    });
    expect(parsePlatform('linux/amd64')).toEqual({ os: 'linux', architecture: 'amd64' });
    expect(parsePlatform('Linux/AMD64')).toEqual({ os: 'linux', architecture: 'amd64' });
  });

  it.each([
    ['linux', /expected os\/arch/],
    ['linux/arm/v7/extra', /expected os\/arch/],
    ['linux//v7', /architecture "" is empty/],
    ['linux/am d64', /architecture "am d64"/],
  ])('refuses %j with E_INVALID_PLATFORM', (s, why) => {
    let err: unknown;
    try {
      parsePlatform(s);
    } catch (e) {
      err = e;
    }
    expect(isSkiffError(err, ErrorCode.InvalidPlatform)).toBe(true);
    expect((err as Error).message).toMatch(why);
  });

  it('formats back', () => {
    expect(formatPlatform(parsePlatform('linux/arm/v7'))).toBe('linux/arm/v7');
    expect(formatPlatform({ os: 'windows', architecture: 'amd64' })).toBe('windows/amd64');
  });
});

describe('normalizePlatform', () => {
  it.each([
    ['linux/aarch64', 'linux/arm64/v8'],
    ['linux/arm64', 'linux/arm64/v8'],
    ['linux/arm64/8', 'linux/arm64/v8'],
    ['linux/x86_64', 'linux/amd64'],
    ['linux/amd64/v1', 'linux/amd64'],
    ['linux/amd64/v3', 'linux/amd64/v3'],
    ['linux/armhf', 'linux/arm/v7'],
    ['linux/armel', 'linux/arm/v6'],
    ['linux/arm', 'linux/arm/v7'],
    ['linux/arm/6', 'linux/arm/v6'],
    ['linux/i686', 'linux/386'],
    ['linux/s390x', 'linux/s390x'],
  ])('%s -> %s', (input, want) => {
    expect(formatPlatform(normalizePlatform(parsePlatform(input)))).toBe(want);
  });

  it('keeps os.version and other fields', () => {
    expect(
      normalizePlatform({ os: 'windows', architecture: 'x86_64', 'os.version': '10.0.20348' }),
    ).toEqual({
      os: 'windows',
      architecture: 'amd64',
      'os.version': '10.0.20348',
    });
  });
});

describe('hostPlatform', () => {
  it('describes this machine in OCI terms', () => {
    const p = hostPlatform();
    expect(p.os).toBe(process.platform === 'win32' ? 'windows' : process.platform);
    const expected: Record<string, string> = {
      x64: 'amd64',
      arm64: 'arm64',
      arm: 'arm',
      ia32: '386',
    };
    if (expected[process.arch]) expect(p.architecture).toBe(expected[process.arch]);
    expect(normalizePlatform(p)).toEqual(p);
  });
});

describe('platformMatches', () => {
  it('matches the same platform through aliases', () => {
    expect(
      platformMatches(parsePlatform('linux/aarch64'), {
        os: 'linux',
        architecture: 'arm64',
        variant: 'v8',
      }),
    ).toBe(true);
    expect(
      platformMatches(parsePlatform('linux/x86_64'), { os: 'linux', architecture: 'amd64' }),
    ).toBe(true);
  });

  it('lets a CPU run older variants, not newer ones', () => {
    expect(platformMatches(parsePlatform('linux/arm/v7'), parsePlatform('linux/arm/v6'))).toBe(
      true,
    );
    expect(platformMatches(parsePlatform('linux/arm/v6'), parsePlatform('linux/arm/v7'))).toBe(
      false,
    );
    expect(platformMatches(parsePlatform('linux/arm64'), parsePlatform('linux/arm64/v9'))).toBe(
      false,
    );
  });

  it('does not match other oses or architectures', () => {
    expect(platformMatches(parsePlatform('linux/amd64'), parsePlatform('windows/amd64'))).toBe(
      false,
    );
    expect(platformMatches(parsePlatform('linux/amd64'), parsePlatform('linux/arm64'))).toBe(false);
  });
});

describe('selectPlatformManifest', () => {
  it('picks each platform of a multi-arch OCI index', () => {
    const idx = index(ociIndex);
    expect(selectPlatformManifest(idx, parsePlatform('linux/amd64')).digest).toBe(AMD64);
    expect(selectPlatformManifest(idx, parsePlatform('linux/arm64')).digest).toBe(ARM64);
    expect(selectPlatformManifest(idx, parsePlatform('linux/arm64/v8')).digest).toBe(ARM64);
    expect(selectPlatformManifest(idx, parsePlatform('linux/aarch64')).digest).toBe(ARM64);
    expect(selectPlatformManifest(idx, parsePlatform('linux/arm/v7')).digest).toBe(ARMV7);
    expect(selectPlatformManifest(idx, parsePlatform('linux/arm')).digest).toBe(ARMV7);
  });

  it('matches arm64/v8 against a manifest list entry that names no variant', () => {
    expect(selectPlatformManifest(index(dockerList), parsePlatform('linux/arm64/v8')).digest).toBe(
      ARM64,
    );
  });

  it('prefers an exact variant over an older compatible one, in any order', () => {
    const idx = indexOf([
      { os: 'linux', architecture: 'arm', variant: 'v6' },
      { os: 'linux', architecture: 'arm', variant: 'v7' },
      { os: 'linux', architecture: 'arm', variant: 'v5' },
    ]);
    expect(selectPlatformManifest(idx, parsePlatform('linux/arm/v7')).digest).toBe(
      idx.manifests[1]!.digest,
    );
    expect(selectPlatformManifest(idx, parsePlatform('linux/arm/v8')).digest).toBe(
      idx.manifests[1]!.digest,
    );
    expect(selectPlatformManifest(idx, parsePlatform('linux/arm/v6')).digest).toBe(
      idx.manifests[0]!.digest,
    );
  });

  it('falls back to the best older variant', () => {
    const idx = indexOf([
      { os: 'linux', architecture: 'arm', variant: 'v5' },
      { os: 'linux', architecture: 'arm', variant: 'v6' },
    ]);
    expect(selectPlatformManifest(idx, parsePlatform('linux/arm/v7')).digest).toBe(
      idx.manifests[1]!.digest,
    );
  });

  it('prefers amd64 without a variant when none is wanted, else takes the first amd64', () => {
    const both = indexOf([
      { os: 'linux', architecture: 'amd64', variant: 'v3' },
      { os: 'linux', architecture: 'amd64' },
    ]);
    expect(selectPlatformManifest(both, parsePlatform('linux/amd64')).digest).toBe(
      both.manifests[1]!.digest,
    );
    const onlyV3 = indexOf([{ os: 'linux', architecture: 'amd64', variant: 'v3' }]);
    expect(selectPlatformManifest(onlyV3, parsePlatform('linux/amd64')).digest).toBe(
      onlyV3.manifests[0]!.digest,
    );
    expect(selectPlatformManifest(both, parsePlatform('linux/amd64/v3')).digest).toBe(
      both.manifests[0]!.digest,
    );
  });

  it('says which platforms the index has when none matches', () => {
    let err: unknown;
    try {
      selectPlatformManifest(index(ociIndex), parsePlatform('linux/s390x'));
    } catch (e) {
      err = e;
    }
    expect(isSkiffError(err, ErrorCode.NoMatchingPlatform)).toBe(true);
    expect((err as Error).message).toBe(
      'no image for linux/s390x in the index; it has linux/amd64, linux/arm64/v8, linux/arm/v7',
    );
  });

  it('does not run a newer arm variant on an older CPU', () => {
    const idx = indexOf([{ os: 'linux', architecture: 'arm', variant: 'v7' }]);
    expect(() => selectPlatformManifest(idx, parsePlatform('linux/arm/v6'))).toThrow(
      /no image for linux\/arm\/v6/,
    );
  });
});
