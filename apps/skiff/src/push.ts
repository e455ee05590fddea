// skiff push: copies a stored image to a registry or any other transport. The stored blobs are
// sent as they were pulled, so an unchanged format keeps the manifest digest.
import { writeFile } from 'node:fs/promises';
import { UsageError } from '@skiff/cli-kit';
import { formatReference, normalizeReference, parseReference } from '@skiff/oci-image';
import type { ImageRecord } from '@skiff/storage';
import {
  type CopyOptions,
  copyImage,
  type OpenOptions,
  openDestination,
  openSource,
} from '@skiff/transports';
import { copyReporter } from './copy-progress.js';
import { type GlobalOptions, type RegistryFlags, registryOptions, withStore } from './options.js';
import { hasTransport } from './pull.js';

export interface PushFlags extends RegistryFlags {
  format?: string;
  compressionFormat?: string;
  digestfile?: string;
  removeSignatures?: boolean;
  quiet?: boolean;
}

export function manifestFormat(value: string | undefined): CopyOptions['format'] {
  if (value === undefined) return undefined;
  const v = value.toLowerCase();
  if (v === 'oci' || v === 'v2s2') return v;
  if (v === 'v2s1') {
    throw new UsageError(
      '--format v2s1 is not supported: Docker schema 1 manifests are deprecated',
      {
        hint: 'use --format v2s2 or --format oci',
      },
    );
  }
  throw new UsageError(`unknown format "${value}"`, { hint: 'use oci or v2s2' });
}

/** The registry name a push without a destination goes to: the image's name as written. */
function defaultDestination(arg: string, img: ImageRecord): string {
  let wanted: string;
  try {
    wanted = formatReference(normalizeReference(parseReference(arg)));
  } catch {
    throw new UsageError(`${arg}: give a destination to push an image named by its id`);
  }
  if (img.names.includes(wanted)) return wanted;
  // A short name matched a stored name such as localhost/NAME:TAG: push to that one.
  const tail = arg.includes(':') ? arg : `${arg}:latest`;
  const match = img.names.find((n) => n.endsWith(`/${tail}`));
  return match ?? wanted;
}

export async function pushCommand(
  image: string,
  destination: string | undefined,
  flags: PushFlags,
  globals: GlobalOptions,
  signal: AbortSignal,
): Promise<void> {
  const format = manifestFormat(flags.format);
  const compression = flags.compressionFormat;
  if (compression !== undefined && compression !== 'gzip' && compression !== 'zstd') {
    throw new UsageError(`unsupported compression format "${compression}"`, {
      hint: 'use gzip or zstd',
    });
  }
  const openOptions: OpenOptions = { signal, ...registryOptions(flags) };
  await withStore(globals, async (store) => {
    const img = store.lookupImage(image);
    const dest =
      destination === undefined
        ? `docker://${defaultDestination(image, img)}`
        : hasTransport(destination)
          ? destination
          : `docker://${destination}`;
    const reporter = copyReporter(flags.quiet);
    const src = await openSource(`containers-storage:@${img.id}`, { ...openOptions, store });
    try {
      const dst = await openDestination(dest, openOptions);
      try {
        reporter.start();
        const result = await copyImage(src, dst, {
          signal,
          ...(format ? { format } : {}),
          ...(compression ? { compressionFormat: compression } : {}),
          ...(flags.removeSignatures ? { removeSignatures: true } : {}),
          ...(reporter.onEvent ? { onEvent: reporter.onEvent } : {}),
        });
        reporter.done();
        if (flags.digestfile !== undefined) {
          await writeFile(flags.digestfile, result.manifestDigest);
        }
      } finally {
        reporter.stop();
        await dst.close();
      }
    } finally {
      await src.close();
    }
  });
}
