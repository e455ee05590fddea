// Small, realistic manifests as registries serve them (digests are of made-up blobs).

export const CONFIG = 'sha256:b79606fb3afea5bd1609ed40b622142f1c98125abcfe89a76a661b0e8e343910';
export const LAYER1 = 'sha256:77ea7eee3d80b1a38f83906dd3048e2689457eb90e18a7d12f839c5ae37106a2';
export const LAYER2 = 'sha256:95cf1a2e1698fe3ca1fcc3f653119146b271d0b62e487ec264441e886a11bd06';
export const LAYER3 = 'sha256:10dacdccfe877dc064d57442e6fa7a4e3085dc94e11a29819c2290fc3d788724';
export const AMD64 = 'sha256:5861314d7fccb39c2192173240eab44fa35ca66426201ca2acd0630a6258dd51';
export const ARM64 = 'sha256:f69162950f235e3cdbbad33f1f912d1a504be90d8a37d002c735d6f3e3882265';
export const ARMV7 = 'sha256:5ba6c8710dd1369ce61603ab9b7a81b25f92d4a9f74956ab72a7ea75884f07ee';

export const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

/** A Docker schema 2 manifest with two gzip layers, pretty-printed as `docker push` writes it. */
export const dockerManifest = `{
   "schemaVersion": 2,
   "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
   "config": {
      "mediaType": "application/vnd.docker.container.image.v1+json",
      "size": 1472,
      "digest": "${CONFIG}"
   },
   "layers": [
      {
         "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
         "size": 3408729,
         "digest": "${LAYER1}"
      },
      {
         "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
         "size": 1234,
         "digest": "${LAYER2}"
      }
   ]
}`;

/** An OCI image manifest as buildah writes it, with annotations. */
export const ociManifest = JSON.stringify({
  schemaVersion: 2,
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: CONFIG, size: 1472 },
  layers: [
    { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: LAYER1, size: 3408729 },
    { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: LAYER2, size: 10240 },
  ],
  annotations: { 'org.opencontainers.image.base.name': 'docker.io/library/alpine:3.20' },
});

/** An OCI index with amd64, arm64/v8 and arm/v7 images and a buildkit attestation entry. */
export const ociIndex = JSON.stringify({
  schemaVersion: 2,
  mediaType: 'application/vnd.oci.image.index.v1+json',
  manifests: [
    {
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      digest: AMD64,
      size: 1022,
      platform: { architecture: 'amd64', os: 'linux' },
    },
    {
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      digest: ARM64,
      size: 1022,
      platform: { architecture: 'arm64', os: 'linux', variant: 'v8' },
    },
    {
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      digest: ARMV7,
      size: 1022,
      platform: { architecture: 'arm', os: 'linux', variant: 'v7' },
    },
    {
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      digest: LAYER3,
      size: 566,
      annotations: {
        'vnd.docker.reference.digest': AMD64,
        'vnd.docker.reference.type': 'attestation-manifest',
      },
      platform: { architecture: 'unknown', os: 'unknown' },
    },
  ],
});

/** A Docker manifest list (as for busybox), arm64 without a variant. */
export const dockerList = `{
  "manifests": [
    {
      "digest": "${AMD64}",
      "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
      "platform": { "architecture": "amd64", "os": "linux" },
      "size": 528
    },
    {
      "digest": "${ARM64}",
      "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
      "platform": { "architecture": "arm64", "os": "linux" },
      "size": 528
    }
  ],
  "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
  "schemaVersion": 2
}`;

/** A Docker schema 1 signed manifest (abbreviated history, real structure). */
export const schema1Signed = `{
   "schemaVersion": 1,
   "name": "library/hello-world",
   "tag": "latest",
   "architecture": "amd64",
   "fsLayers": [
      { "blobSum": "${LAYER1}" },
      { "blobSum": "${LAYER2}" }
   ],
   "history": [
      { "v1Compatibility": "{\\"id\\":\\"e45a5af57b00862e5ef5782a9925979a02ba2b12dff832fd0991335f4a11e5c5\\",\\"created\\":\\"2014-12-31T22:23:56.943403668Z\\"}" }
   ],
   "signatures": [
      {
         "header": { "jwk": { "crv": "P-256", "kid": "OD6I:6DRK:JXEJ:KBM4:255X:NSAA:MUSF:E4VM:ZI6W:CUN2:L4Z6:LSF4", "kty": "EC", "x": "3gAwX48IQ5oaYQAYSxor6rYYc_6yjuLCjtQ9LUakg4A", "y": "t72ge6kIA1XOjqjVoEOiPPAURltJFBMGDSQvEGVB010" }, "alg": "ES256" },
         "signature": "XREm0L8WNn27Ga_iE_vRnTxVMhhYY0Zst_FfkKopg6gWSoTOZTuW4rK0fg_IqnKkEKlbD83tD46LKEGi5aIVFg",
         "protected": "eyJmb3JtYXRMZW5ndGgiOjY2MjgsImZvcm1hdFRhaWwiOiJDbjAiLCJ0aW1lIjoiMjAxNS0wNC0wOFQxODo1Mjo1OVoifQ"
      }
   ]
}`;

/** A Docker image config as `docker build` writes it, nulls included. */
export const dockerConfig = JSON.stringify({
  architecture: 'amd64',
  config: {
    Hostname: '',
    User: 'app',
    Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
    Cmd: ['/bin/sh'],
    Entrypoint: null,
    WorkingDir: '/srv',
    Labels: { 'org.opencontainers.image.title': 'demo' },
    ExposedPorts: { '8080/tcp': {} },
    Volumes: null,
    StopSignal: 'SIGTERM',
    OnBuild: null,
  },
  container: '0f3e4b6c',
  created: '2024-06-20T17:48:26.529472107Z',
  docker_version: '24.0.7',
  history: [
    { created: '2024-06-20T17:48:26Z', created_by: '/bin/sh -c #(nop) ADD file:abc in / ' },
    {
      created: '2024-06-20T17:48:26Z',
      created_by: '/bin/sh -c #(nop)  CMD ["/bin/sh"]',
      empty_layer: true,
    },
  ],
  os: 'linux',
  rootfs: { type: 'layers', diff_ids: [LAYER1, LAYER2] },
});
