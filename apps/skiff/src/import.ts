// skiff import: makes a one-layer image from a root filesystem tarball (file, URL or stdin),
// with --change instructions and a --message, as podman import does.
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { decompressStream } from '@skiff/archive';
import { UsageError } from '@skiff/cli-kit';
import {
  digestingStream,
  digestOf,
  hostPlatform,
  MediaType,
  SkiffError,
  serializeJson,
} from '@skiff/oci-image';
import { applyChange, type ContainerConfig } from './changes.js';
import { copyReporter } from './copy-progress.js';
import { type GlobalOptions, withStore } from './options.js';

export interface ImportFlags {
  change?: string[];
  message?: string;
  quiet?: boolean;
  arch?: string;
  os?: string;
  variant?: string;
}

async function openInput(source: string, signal: AbortSignal): Promise<Readable> {
  if (source === '-') {
    if (process.stdin.isTTY) throw new UsageError('cannot read a tarball from a terminal');
    return process.stdin;
  }
  if (/^https?:\/\//i.test(source)) {
    const res = await fetch(source, { signal });
    if (!res.ok || !res.body) {
      throw new SkiffError(
        'E_DOWNLOAD',
        `downloading ${source}: HTTP ${res.status} ${res.statusText}`,
      );
    }
    return Readable.fromWeb(res.body as import('node:stream/web').ReadableStream);
  }
  if (!(await stat(source).catch(() => undefined))?.isFile()) {
    throw new SkiffError('E_NOT_FOUND', `${source}: no such file or directory`);
  }
  return createReadStream(source);
}

export async function importCommand(
  source: string,
  reference: string | undefined,
  flags: ImportFlags,
  globals: GlobalOptions,
  signal: AbortSignal,
): Promise<void> {
  const config: ContainerConfig = {};
  for (const c of flags.change ?? []) applyChange(config, c);
  const tmp = await mkdtemp(join(tmpdir(), 'skiff-import-'));
  try {
    // Store the layer uncompressed: its digest is then its diff id, as podman does.
    const layerFile = join(tmp, 'layer.tar');
    const digester = digestingStream();
    let input: Readable;
    try {
      input = await openInput(source, signal);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new SkiffError('E_NOT_FOUND', `${source}: no such file or directory`);
      }
      throw err;
    }
    const { stream } = await decompressStream(input);
    try {
      await pipeline(stream, digester, createWriteStream(layerFile), { signal });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new SkiffError('E_NOT_FOUND', `${source}: no such file or directory`);
      }
      throw err;
    }
    const diffId = digester.digest();
    const size = digester.bytes;
    const host = hostPlatform();
    const created = new Date().toISOString();
    const history: Record<string, unknown> = {
      created,
      created_by: `/bin/sh -c #(nop) ADD file:${diffId.slice(7)} in /`,
    };
    if (flags.message) history.comment = flags.message;
    const configRaw = serializeJson({
      created,
      architecture: flags.arch ?? host.architecture,
      ...((flags.variant ?? (flags.arch ? undefined : host.variant))
        ? { variant: flags.variant ?? host.variant }
        : {}),
      os: flags.os ?? host.os,
      config,
      rootfs: { type: 'layers', diff_ids: [diffId] },
      history: [history],
    });
    const configDigest = digestOf(configRaw);
    const manifestRaw = serializeJson({
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      config: { mediaType: MediaType.OciConfig, digest: configDigest, size: configRaw.length },
      layers: [{ mediaType: MediaType.OciLayer, digest: diffId, size }],
    });
    const reporter = copyReporter(flags.quiet);
    const id = await withStore(globals, async (store) => {
      const writer = store.beginWrite();
      let committed = false;
      try {
        reporter.start();
        await writer.putBlob(createReadStream(layerFile), { digest: diffId, size }, signal);
        reporter.line(`Copying blob ${diffId} done`);
        await writer.ensureLayer(
          {
            parent: undefined,
            diffId,
            blob: { digest: diffId, size, mediaType: MediaType.OciLayer },
          },
          signal,
        );
        reporter.line(`Copying config ${configDigest} done`);
        const img = await writer.commitImage({
          manifest: { raw: manifestRaw, mediaType: MediaType.OciManifest },
          configRaw,
        });
        committed = true;
        reporter.line('Writing manifest to image destination');
        reporter.line('Storing signatures');
        if (reference !== undefined) store.tagImage(img.id, reference);
        return img.id;
      } finally {
        writer.release({ discard: !committed });
      }
    });
    process.stdout.write(`sha256:${id}\n`);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}
