#!/usr/bin/env node
// Builds Skiff's local test base image from the host's busybox-static: /bin/busybox, a symlink
// per applet, a minimal /etc/passwd and /etc/group, as a one-layer OCI image in an OCI layout.
// Every input that could vary (mtimes, owners, modes, umask, order, gzip header) is fixed, so
// the same busybox gives the same digests on every run and machine.
//
//   node test/images/build-base-image.mjs OUT_DIR [--name busybox:latest] [--busybox PATH]
//
// Prints the manifest digest. OUT_DIR becomes (or gains) an OCI layout holding the image under
// the ref name given by --name's tag.

import { execFileSync } from 'node:child_process';
import { createReadStream, createWriteStream } from 'node:fs';
import { chmod, copyFile, mkdir, mkdtemp, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { compressStream, createLayer } from '@skiff/archive';
import { digestingStream, digestOf, MediaType, serializeJson } from '@skiff/oci-image';
import { copyImage, openDestination } from '@skiff/transports';

const EPOCH_DATE = '1970-01-01T00:00:00Z';

const PASSWD = `root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
`;
const GROUP = `root:x:0:
daemon:x:1:
tty:x:5:
nogroup:x:65534:
`;

/** Lays out the root filesystem; modes are set explicitly so the umask cannot leak in. */
async function makeRootfs(rootfs, busybox) {
  const dirs = [
    ['bin', 0o755],
    ['sbin', 0o755],
    ['usr', 0o755],
    ['usr/bin', 0o755],
    ['usr/sbin', 0o755],
    ['etc', 0o755],
    ['root', 0o700],
    ['tmp', 0o1777],
    ['var', 0o755],
    ['home', 0o755],
    ['proc', 0o755],
    ['sys', 0o755],
    ['dev', 0o755],
  ];
  for (const [dir, mode] of dirs) {
    await mkdir(join(rootfs, dir), { recursive: true });
    await chmod(join(rootfs, dir), mode);
  }
  await copyFile(busybox, join(rootfs, 'bin/busybox'));
  await chmod(join(rootfs, 'bin/busybox'), 0o755);
  const applets = execFileSync(busybox, ['--list-full'], { encoding: 'utf8' })
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && line !== 'bin/busybox');
  for (const applet of applets) {
    await mkdir(join(rootfs, dirname(applet)), { recursive: true });
    await symlink('/bin/busybox', join(rootfs, applet));
  }
  await writeFile(join(rootfs, 'etc/passwd'), PASSWD);
  await writeFile(join(rootfs, 'etc/group'), GROUP);
  await chmod(join(rootfs, 'etc/passwd'), 0o644);
  await chmod(join(rootfs, 'etc/group'), 0o644);
  return applets.length;
}

/** Writes the gzip layer to `file`, returning its digest, size and the tar's diff id. */
async function writeLayerBlob(rootfs, file) {
  const tar = createLayer(rootfs, {
    clampMtime: 0,
    compression: 'none',
    idMap: () => ({ uid: 0, gid: 0 }),
  });
  const uncompressed = digestingStream();
  const compressed = digestingStream();
  await pipeline(
    compressStream(tar.pipe(uncompressed), 'gzip'),
    compressed,
    createWriteStream(file),
  );
  return { digest: compressed.digest(), size: compressed.bytes, diffId: uncompressed.digest() };
}

function hostArchitecture() {
  const map = {
    x64: 'amd64',
    arm64: 'arm64',
    arm: 'arm',
    ppc64: 'ppc64le',
    s390x: 's390x',
    riscv64: 'riscv64',
  };
  return map[process.arch] ?? process.arch;
}

/** An ImageSource over the blobs just written, so the image is stored by the one copy pipeline. */
function memorySource(manifest, blobs) {
  return {
    reference: 'busybox-base',
    async getManifest() {
      return { raw: manifest, mediaType: MediaType.OciManifest };
    },
    async getBlob(info) {
      const blob = blobs.get(info.digest);
      if (blob === undefined) throw new Error(`base image has no blob ${info.digest}`);
      if (typeof blob === 'string')
        return { stream: createReadStream(blob), size: (await stat(blob)).size };
      return { stream: Readable.from([blob]), size: blob.length };
    },
    async close() {},
  };
}

export async function buildBaseImage(
  outDir,
  { name = 'busybox:latest', busybox = '/bin/busybox' } = {},
) {
  const work = await mkdtemp(join(tmpdir(), 'skiff-base-image-'));
  try {
    const rootfs = join(work, 'rootfs');
    await mkdir(rootfs);
    await chmod(rootfs, 0o755);
    await makeRootfs(rootfs, busybox);
    const layerFile = join(work, 'layer.tar.gz');
    const layer = await writeLayerBlob(rootfs, layerFile);
    const config = serializeJson({
      created: EPOCH_DATE,
      architecture: hostArchitecture(),
      os: 'linux',
      config: {
        Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
        Cmd: ['sh'],
      },
      rootfs: { type: 'layers', diff_ids: [layer.diffId] },
      history: [
        {
          created: EPOCH_DATE,
          created_by: 'skiff test/images/build-base-image.mjs (busybox-static)',
        },
      ],
    });
    const configDigest = digestOf(config);
    const manifest = serializeJson({
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      config: { mediaType: MediaType.OciConfig, digest: configDigest, size: config.length },
      layers: [{ mediaType: MediaType.OciLayerGzip, digest: layer.digest, size: layer.size }],
    });
    const blobs = new Map([
      [configDigest, config],
      [layer.digest, layerFile],
    ]);
    const tag = name.includes(':') ? name.slice(name.lastIndexOf(':') + 1) : 'latest';
    const dest = await openDestination(`oci:${resolve(outDir)}:${tag}`);
    try {
      const result = await copyImage(memorySource(manifest, blobs), dest);
      return result.manifestDigest;
    } finally {
      await dest.close();
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { name: { type: 'string' }, busybox: { type: 'string' } },
  });
  if (positionals.length !== 1) {
    process.stderr.write(
      'usage: build-base-image.mjs OUT_DIR [--name busybox:latest] [--busybox PATH]\n',
    );
    process.exit(2);
  }
  const digest = await buildBaseImage(positionals[0], values);
  process.stdout.write(`${digest}\n`);
}
