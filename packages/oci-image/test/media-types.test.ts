import {
  baseMediaType,
  isImageManifestMediaType,
  isIndexMediaType,
  isNondistributableLayer,
  layerCompression,
  MediaType,
} from '@skiff/oci-image';
import { describe, expect, it } from 'vitest';

describe('media types', () => {
  it('has the registered strings', () => {
    expect(MediaType.DockerLayer).toBe('application/vnd.docker.image.rootfs.diff.tar');
    expect(MediaType.OciLayerZstd).toBe('application/vnd.oci.image.layer.v1.tar+zstd');
    expect(MediaType.DockerSchema1Signed).toBe(
      'application/vnd.docker.distribution.manifest.v1+prettyjws',
    );
  });

  it('tells indexes from image manifests, ignoring parameters and case', () => {
    expect(isIndexMediaType(MediaType.OciIndex)).toBe(true);
    expect(isIndexMediaType(`${MediaType.DockerManifestList}; charset=utf-8`)).toBe(true);
    expect(isIndexMediaType(MediaType.OciManifest)).toBe(false);
    expect(isImageManifestMediaType(MediaType.DockerManifest.toUpperCase())).toBe(true);
    expect(isImageManifestMediaType(MediaType.DockerSchema1)).toBe(false);
    expect(isImageManifestMediaType(undefined)).toBe(false);
    expect(baseMediaType(' Application/JSON ; q=1')).toBe('application/json');
  });

  it.each([
    [MediaType.OciLayer, 'none'],
    [MediaType.OciLayerGzip, 'gzip'],
    [MediaType.OciLayerZstd, 'zstd'],
    [MediaType.OciLayerNondistributableZstd, 'zstd'],
    [MediaType.DockerLayer, 'none'],
    [MediaType.DockerLayerGzip, 'gzip'],
    [MediaType.DockerForeignLayerGzip, 'gzip'],
    [MediaType.OciConfig, undefined],
    ['application/vnd.cncf.helm.chart.content.v1.tar+gzip', undefined],
  ])('layerCompression(%s) = %s', (mt, want) => {
    expect(layerCompression(mt)).toBe(want);
  });

  it('recognises non-distributable and foreign layers', () => {
    expect(isNondistributableLayer(MediaType.DockerForeignLayerGzip)).toBe(true);
    expect(isNondistributableLayer(MediaType.OciLayerNondistributable)).toBe(true);
    expect(isNondistributableLayer(MediaType.OciLayerGzip)).toBe(false);
  });
});
