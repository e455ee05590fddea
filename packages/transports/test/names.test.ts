import { isSkiffError } from '@skiff/oci-image';
import { describe, expect, it } from 'vitest';
import { openSource, parseImageName } from '../src/index.js';

describe('parseImageName', () => {
  it('parses oci: with and without a ref (split at the first colon, as skopeo)', () => {
    expect(parseImageName('oci:/tmp/layout')).toMatchObject({
      transport: 'oci',
      path: '/tmp/layout',
    });
    expect(parseImageName('oci:/tmp/layout').ref).toBeUndefined();
    expect(parseImageName('oci:/tmp/layout:v1.0')).toMatchObject({
      path: '/tmp/layout',
      ref: 'v1.0',
    });
    expect(parseImageName('oci:dir:name:tag')).toMatchObject({ path: 'dir', ref: 'name:tag' });
    expect(parseImageName('oci-archive:a.tar:latest')).toMatchObject({
      transport: 'oci-archive',
      path: 'a.tar',
      ref: 'latest',
    });
  });

  it('parses docker-archive: with a name:tag or @index', () => {
    const n = parseImageName('docker-archive:/x/img.tar:busybox:1.36');
    expect(n.transport).toBe('docker-archive');
    expect(n.path).toBe('/x/img.tar');
    expect(n.reference).toMatchObject({
      domain: 'docker.io',
      path: 'library/busybox',
      tag: '1.36',
    });
    expect(parseImageName('docker-archive:/x/img.tar:@2').index).toBe(2);
    expect(parseImageName('docker-archive:/x/img.tar').reference).toBeUndefined();
  });

  it('parses dir: and docker://', () => {
    expect(parseImageName('dir:/some/dir')).toMatchObject({ transport: 'dir', path: '/some/dir' });
    expect(parseImageName('docker://quay.io/foo/bar:1').reference).toMatchObject({
      domain: 'quay.io',
      path: 'foo/bar',
      tag: '1',
    });
  });

  it('names the unknown transport', () => {
    expect(() => parseImageName('foo:bar')).toThrow(/unknown transport "foo"/);
    expect(() => parseImageName('no-colon-here')).toThrow(/expected TRANSPORT:DETAILS/);
  });

  it('names the invalid part of a reference', () => {
    expect(() => parseImageName('oci:/tmp/x:bad ref!')).toThrow(
      /invalid reference "bad ref!" in oci:PATH:REF/,
    );
    expect(() => parseImageName('docker-archive:/x.tar:UPPER:tag')).toThrow(
      /invalid reference "UPPER:tag" in docker-archive:PATH:REF/,
    );
    expect(() => parseImageName('docker-archive:/x.tar:@one')).toThrow(
      /invalid image index "@one"/,
    );
    expect(() => parseImageName('docker:quay.io/x')).toThrow(/docker:\/\/REFERENCE/);
    expect(() => parseImageName('docker://Bad/Name')).toThrow(/invalid reference "Bad\/Name"/);
    expect(() => parseImageName('oci:')).toThrow(/missing path/);
  });

  it('opening docker:// reaches for the registry and names it when it is unreachable', async () => {
    const err = await openSource('docker://127.0.0.1:1/x:1', {
      tlsVerify: false,
      retryTimes: 0,
    }).catch((e: unknown) => e);
    expect(isSkiffError(err, 'E_REGISTRY_UNREACHABLE')).toBe(true);
    expect((err as Error).message).toMatch(/127\.0\.0\.1:1/);
  });
});
