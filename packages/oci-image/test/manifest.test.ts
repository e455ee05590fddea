import { createHash } from 'node:crypto';
import {
  DescriptorSchema,
  detectManifestMediaType,
  digestOf,
  ErrorCode,
  isSkiffError,
  MediaType,
  manifestDescriptor,
  parseImageConfig,
  parseManifest,
  type SkiffError,
  serializeJson,
} from '@skiff/oci-image';
import { describe, expect, it } from 'vitest';
import {
  AMD64,
  ARM64,
  bytes,
  CONFIG,
  dockerConfig,
  dockerList,
  dockerManifest,
  LAYER1,
  LAYER2,
  ociIndex,
  ociManifest,
  schema1Signed,
} from './fixtures.js';

function failure(fn: () => unknown): SkiffError {
  try {
    fn();
  } catch (err) {
    if (isSkiffError(err)) return err;
    throw err;
  }
  throw new Error('expected a SkiffError');
}

// biome-ignore lint/suspicious/noExplicitAny: tests corrupt fixture JSON in arbitrary ways
function mutate(json: string, f: (o: Record<string, any>) => void): Uint8Array {
  const o = JSON.parse(json);
  f(o);
  return bytes(JSON.stringify(o));
}

describe('parseManifest', () => {
  it('reads a Docker schema 2 manifest with two gzip layers and keeps its exact bytes', () => {
    const raw = bytes(dockerManifest);
    const m = parseManifest(raw);
    expect(m.kind).toBe('image');
    if (m.kind !== 'image') return;
    expect(m.mediaType).toBe(MediaType.DockerManifest);
    expect(m.raw).toBe(raw);
    expect(m.digest).toBe(`sha256:${createHash('sha256').update(raw).digest('hex')}`);
    expect(m.config).toEqual({ mediaType: MediaType.DockerConfig, size: 1472, digest: CONFIG });
    expect(m.layers.map((l) => [l.digest, l.size])).toEqual([
      [LAYER1, 3408729],
      [LAYER2, 1234],
    ]);
  });

  it('reads an OCI manifest with annotations', () => {
    const m = parseManifest(bytes(ociManifest), MediaType.OciManifest);
    expect(m.kind).toBe('image');
    expect(m.mediaType).toBe(MediaType.OciManifest);
    expect(m.annotations).toEqual({
      'org.opencontainers.image.base.name': 'docker.io/library/alpine:3.20',
    });
  });

  it('reads an OCI index with its platforms', () => {
    const m = parseManifest(bytes(ociIndex));
    expect(m.kind).toBe('index');
    if (m.kind !== 'index') return;
    expect(m.manifests.map((d) => d.platform?.architecture)).toEqual([
      'amd64',
      'arm64',
      'arm',
      'unknown',
    ]);
    expect(m.manifests[1]!.platform!.variant).toBe('v8');
  });

  it('reads a Docker manifest list', () => {
    const m = parseManifest(bytes(dockerList));
    expect(m.kind).toBe('index');
    expect(m.mediaType).toBe(MediaType.DockerManifestList);
    if (m.kind === 'index') expect(m.manifests.map((d) => d.digest)).toEqual([AMD64, ARM64]);
  });

  it('accepts an OCI manifest without a mediaType field, from its structure', () => {
    const raw = mutate(ociManifest, (o) => {
      delete o.mediaType;
    });
    expect(parseManifest(raw).mediaType).toBe(MediaType.OciManifest);
  });

  it('keeps fields it does not know in json', () => {
    const raw = mutate(ociManifest, (o) => {
      o['x-extension'] = { keep: true };
    });
    expect((parseManifest(raw).json as Record<string, unknown>)['x-extension']).toEqual({
      keep: true,
    });
  });

  it('accepts OCI 1.1 artifact fields: artifactType, subject and data', () => {
    const raw = mutate(ociManifest, (o) => {
      o.artifactType = 'application/vnd.example.sbom+json';
      o.subject = { mediaType: MediaType.OciManifest, digest: AMD64, size: 1022 };
      o.config = { mediaType: MediaType.OciEmpty, digest: CONFIG, size: 2, data: 'e30=' };
    });
    const m = parseManifest(raw);
    expect(m.artifactType).toBe('application/vnd.example.sbom+json');
    expect(m.subject?.digest).toBe(AMD64);
  });

  it('refuses Docker schema 1 with a hint to convert it', () => {
    const err = failure(() => parseManifest(bytes(schema1Signed)));
    expect(err.code).toBe(ErrorCode.UnsupportedManifest);
    expect(err.message).toMatch(/schema 1/);
    expect(err.hint).toMatch(/convert/);
    const declared = failure(() =>
      parseManifest(bytes('{"name":"x","tag":"y"}'), MediaType.DockerSchema1Signed),
    );
    expect(declared.code).toBe(ErrorCode.UnsupportedManifest);
  });

  it('names the field and index of an invalid layer digest', () => {
    const raw = mutate(dockerManifest, (o) => {
      o.layers[1].digest = 'sha256:ABCDEF';
    });
    const err = failure(() => parseManifest(raw));
    expect(err.code).toBe(ErrorCode.InvalidManifest);
    expect(err.message).toContain('layers[1].digest');
    expect(err.message).toContain('sha256 needs 64 hex characters');
  });

  it('refuses negative, fractional and absurd sizes', () => {
    for (const size of [-1, 1.5, 2 ** 60, '12']) {
      const raw = mutate(ociManifest, (o) => {
        o.config.size = size;
      });
      const err = failure(() => parseManifest(raw));
      expect(err.code).toBe(ErrorCode.InvalidManifest);
      expect(err.message).toContain('config.size');
    }
  });

  it('refuses layer urls that are not http(s)', () => {
    const raw = mutate(ociManifest, (o) => {
      o.layers[1].urls = ['https://example.com/ok', 'file:///etc/shadow'];
    });
    expect(failure(() => parseManifest(raw)).message).toContain(
      'layers[1].urls[1]: urls must be http',
    );
  });

  it('refuses uppercase hex and unknown algorithms in descriptors', () => {
    const upper = mutate(ociManifest, (o) => {
      o.layers[0].digest = o.layers[0].digest.toUpperCase().replace('SHA256', 'sha256');
    });
    expect(failure(() => parseManifest(upper)).message).toMatch(/layers\[0\]\.digest.*lowercase/);
    const md5 = mutate(ociManifest, (o) => {
      o.layers[0].digest = 'md5:d41d8cd98f00b204e9800998ecf8427e';
    });
    expect(failure(() => parseManifest(md5)).message).toMatch(/unsupported algorithm "md5"/);
  });

  it('refuses garbage: not JSON, not an object, not UTF-8, empty', () => {
    for (const raw of [
      bytes('{"schemaVersion":'),
      bytes('[1,2]'),
      new Uint8Array([0xff, 0xfe]),
      bytes(''),
    ]) {
      expect(failure(() => parseManifest(raw)).code).toBe(ErrorCode.InvalidManifest);
    }
  });

  it('refuses a document that is both an index and an image', () => {
    const raw = mutate(ociManifest, (o) => {
      o.manifests = [];
    });
    expect(failure(() => parseManifest(raw)).message).toMatch(/ambiguous|fields of an index/);
  });

  it('refuses a mediaType field that disagrees with the declared Content-Type', () => {
    const err = failure(() => parseManifest(bytes(dockerManifest), MediaType.OciManifest));
    expect(err.code).toBe(ErrorCode.InvalidManifest);
    expect(err.message).toContain('declared as application/vnd.oci.image.manifest.v1+json');
  });

  it('refuses a manifest bigger than 4 MiB before parsing it', () => {
    const raw = new Uint8Array(4 * 1024 * 1024 + 1).fill(0x20);
    expect(failure(() => parseManifest(raw)).message).toMatch(/too large/);
  });

  it('refuses schemaVersion other than 2 and a wrong-typed layers field', () => {
    expect(
      failure(() => parseManifest(mutate(ociManifest, (o) => (o.schemaVersion = 3)))).message,
    ).toContain('schemaVersion');
    expect(
      failure(() => parseManifest(mutate(ociManifest, (o) => (o.layers = {})))).message,
    ).toContain('field layers');
  });

  it('requires a platform on every Docker manifest list entry', () => {
    const raw = mutate(dockerList, (o) => {
      delete o.manifests[1].platform;
    });
    expect(failure(() => parseManifest(raw)).message).toContain('manifests[1].platform');
  });

  it('does not let __proto__ keys pollute objects', () => {
    const raw = bytes(
      ociManifest.replace('"annotations":{', '"annotations":{"__proto__":{"polluted":"yes"},'),
    );
    const m = parseManifest(raw);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect((m.annotations as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('detectManifestMediaType', () => {
  it('uses the mediaType field when present', () => {
    expect(detectManifestMediaType(bytes(dockerManifest))).toBe(MediaType.DockerManifest);
    expect(detectManifestMediaType(bytes(dockerList), 'application/json')).toBe(
      MediaType.DockerManifestList,
    );
  });

  it('falls back to structure: manifests -> index, config+layers -> image', () => {
    expect(detectManifestMediaType(bytes('{"schemaVersion":2,"manifests":[]}'))).toBe(
      MediaType.OciIndex,
    );
    expect(detectManifestMediaType(bytes(`{"schemaVersion":2,"config":{},"layers":[]}`))).toBe(
      MediaType.OciManifest,
    );
  });

  it('believes a specific declared type that fits the structure, ignores generic ones', () => {
    const noField = bytes('{"schemaVersion":2,"manifests":[]}');
    expect(detectManifestMediaType(noField, MediaType.DockerManifestList)).toBe(
      MediaType.DockerManifestList,
    );
    expect(detectManifestMediaType(noField, 'text/plain; charset=utf-8')).toBe(MediaType.OciIndex);
    expect(
      detectManifestMediaType(bytes(dockerManifest), `${MediaType.DockerManifest}; charset=utf-8`),
    ).toBe(MediaType.DockerManifest);
  });

  it('refuses a declared index type for an image structure', () => {
    const err = failure(() =>
      detectManifestMediaType(
        bytes('{"schemaVersion":2,"config":{},"layers":[]}'),
        MediaType.OciIndex,
      ),
    );
    expect(err.code).toBe(ErrorCode.InvalidManifest);
  });

  it('recognises schema 1 by structure and by media type', () => {
    expect(failure(() => detectManifestMediaType(bytes(schema1Signed))).code).toBe(
      ErrorCode.UnsupportedManifest,
    );
    expect(
      failure(() => detectManifestMediaType(bytes(`{"mediaType":"${MediaType.DockerSchema1}"}`)))
        .code,
    ).toBe(ErrorCode.UnsupportedManifest);
  });

  it('refuses unknown manifest media types such as the withdrawn OCI artifact manifest', () => {
    const err = failure(() =>
      detectManifestMediaType(
        bytes('{"mediaType":"application/vnd.oci.artifact.manifest.v1+json"}'),
      ),
    );
    expect(err.code).toBe(ErrorCode.UnsupportedManifest);
  });
});

describe('parseImageConfig', () => {
  it('reads a Docker config with nulls, keeping unknown fields', () => {
    const c = parseImageConfig(bytes(dockerConfig));
    expect(c.architecture).toBe('amd64');
    expect(c.os).toBe('linux');
    expect(c.config?.User).toBe('app');
    expect(c.config?.Entrypoint).toBeNull();
    expect(c.config?.ExposedPorts).toEqual({ '8080/tcp': {} });
    expect(c.rootfs.diff_ids).toEqual([LAYER1, LAYER2]);
    expect(c.history?.[1]?.empty_layer).toBe(true);
    expect((c as Record<string, unknown>).docker_version).toBe('24.0.7');
  });

  it('reads an OCI config with variant and os.version', () => {
    const c = parseImageConfig(
      bytes(
        JSON.stringify({
          created: '2024-01-01T00:00:00Z',
          author: 'skiff',
          architecture: 'arm64',
          variant: 'v8',
          os: 'linux',
          'os.version': '6.1',
          config: { Env: ['A=1'], Entrypoint: ['/app'], Volumes: { '/data': {} } },
          rootfs: { type: 'layers', diff_ids: [] },
        }),
      ),
    );
    expect(c.variant).toBe('v8');
    expect(c['os.version']).toBe('6.1');
    expect(c.config?.Volumes).toEqual({ '/data': {} });
  });

  it('names the invalid diff_id and refuses a rootfs of another type', () => {
    const bad = JSON.parse(dockerConfig);
    bad.rootfs.diff_ids[1] = 'sha256:nothex';
    const err = failure(() => parseImageConfig(bytes(JSON.stringify(bad))));
    expect(err.code).toBe(ErrorCode.InvalidManifest);
    expect(err.message).toContain('rootfs.diff_ids[1]');
    bad.rootfs = { type: 'tarballs', diff_ids: [] };
    expect(failure(() => parseImageConfig(bytes(JSON.stringify(bad)))).message).toContain(
      'rootfs.type',
    );
  });

  it('refuses Env that is not a list of strings', () => {
    const bad = JSON.parse(dockerConfig);
    bad.config.Env = 'PATH=/bin';
    expect(failure(() => parseImageConfig(bytes(JSON.stringify(bad)))).message).toContain(
      'config.Env',
    );
  });
});

describe('DescriptorSchema', () => {
  it('validates urls, annotations, platform, artifactType and data', () => {
    const d = DescriptorSchema.parse({
      mediaType: MediaType.OciLayerNondistributableGzip,
      digest: LAYER1,
      size: 10,
      urls: ['https://example.com/layer'],
      annotations: { a: 'b' },
      platform: { architecture: 'amd64', os: 'windows', 'os.version': '10.0.17763.5576' },
      artifactType: 'application/vnd.example+json',
      data: 'aGVsbG8=',
    });
    expect(d.urls).toEqual(['https://example.com/layer']);
    expect(DescriptorSchema.safeParse({ ...d, data: 'not base64!' }).success).toBe(false);
    expect(DescriptorSchema.safeParse({ ...d, mediaType: 'nonsense' }).success).toBe(false);
  });
});

describe('serializeJson', () => {
  it('writes compact JSON with HTML characters escaped like Go', () => {
    const out = new TextDecoder().decode(serializeJson({ a: '<b>&', n: 1, l: [true, null] }));
    expect(out).toBe('{"a":"\\u003cb\\u003e\\u0026","n":1,"l":[true,null]}');
    expect(JSON.parse(out)).toEqual({ a: '<b>&', n: 1, l: [true, null] });
  });

  it('gives a manifest descriptor that matches its bytes', () => {
    const raw = serializeJson({ schemaVersion: 2, manifests: [] });
    expect(manifestDescriptor({ raw, mediaType: MediaType.OciIndex })).toEqual({
      mediaType: MediaType.OciIndex,
      digest: digestOf(raw),
      size: raw.byteLength,
    });
  });
});
