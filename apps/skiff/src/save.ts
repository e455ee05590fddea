// skiff save: writes stored images to a docker-archive (several images with -m), an
// oci-archive or a directory, to a file or to stdout.
import { createReadStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { UsageError } from '@skiff/cli-kit';
import type { ImageDestination } from '@skiff/oci-image';
import type { ImageRecord, Store } from '@skiff/storage';
import {
  type CopyOptions,
  copyImage,
  DockerArchiveDestination,
  openDestination,
  openSource,
} from '@skiff/transports';
import { copyReporter } from './copy-progress.js';
import { type GlobalOptions, withStore } from './options.js';
import { localName } from './pull.js';

export interface SaveFlags {
  output?: string;
  format?: string;
  multiImageArchive?: boolean;
  quiet?: boolean;
  compress?: boolean;
  uncompressed?: boolean;
}

const FORMATS = ['docker-archive', 'oci-archive', 'oci-dir', 'docker-dir'];

/** The stored name an argument refers to, if it names the image rather than giving its id. */
export function storedNameFor(arg: string, img: ImageRecord): string | undefined {
  if (img.id.startsWith(arg.replace(/^sha256:/, '')) || arg.includes('@')) return undefined;
  const tail = arg.lastIndexOf(':') > arg.lastIndexOf('/') ? arg : `${arg}:latest`;
  return (
    img.names.find((n) => n === arg || n === tail) ??
    img.names.find((n) => n.endsWith(`/${tail}`)) ??
    undefined
  );
}

async function copyOne(
  store: Store,
  img: ImageRecord,
  dst: ImageDestination,
  opts: { signal: AbortSignal; quiet?: boolean; format?: CopyOptions['format']; commit?: boolean },
): Promise<void> {
  const reporter = copyReporter(opts.quiet);
  const src = await openSource(`containers-storage:@${img.id}`, { store, signal: opts.signal });
  try {
    reporter.start();
    await copyImage(src, dst, {
      signal: opts.signal,
      ...(opts.format ? { format: opts.format } : {}),
      ...(opts.commit === false ? { commit: false } : {}),
      ...(reporter.onEvent ? { onEvent: reporter.onEvent } : {}),
    });
    reporter.done();
  } finally {
    reporter.stop();
    await src.close();
  }
}

export async function saveCommand(
  args: string[],
  flags: SaveFlags,
  globals: GlobalOptions,
  signal: AbortSignal,
): Promise<void> {
  if (args.length === 0) throw new UsageError('need at least 1 argument');
  const format = flags.format ?? 'docker-archive';
  if (!FORMATS.includes(format)) {
    throw new UsageError(`unsupported format "${format}"`, { hint: `use ${FORMATS.join(', ')}` });
  }
  if (flags.multiImageArchive && format !== 'docker-archive') {
    throw new UsageError('--multi-image-archive can only be used with the docker-archive format');
  }
  if ((format === 'oci-dir' || format === 'docker-dir') && flags.output === undefined) {
    throw new UsageError(`--format ${format} needs a directory: pass -o DIR`);
  }
  let output = flags.output;
  let tmp: string | undefined;
  if (output === undefined) {
    if (process.stdout.isTTY) {
      throw new UsageError('refusing to save to terminal. Use -o flag or redirect');
    }
    tmp = await mkdtemp(join(tmpdir(), 'skiff-save-'));
    output = join(tmp, 'image.tar');
  }
  try {
    await withStore(globals, async (store) => {
      if (format === 'docker-archive') {
        // Without -m, further arguments are more names for the one image (podman).
        const imageArgs = flags.multiImageArchive ? args : [args[0]!];
        const extraTags = flags.multiImageArchive ? [] : args.slice(1);
        const images = imageArgs.map((a) => ({ arg: a, img: store.lookupImage(a) }));
        const dst = await openDestination(`docker-archive:${output}`, { signal });
        try {
          for (const [i, { arg, img }] of images.entries()) {
            const tags: string[] = [];
            const own = storedNameFor(arg, img);
            if (own) tags.push(own);
            for (const t of i === 0 ? extraTags : []) {
              const n = localName(t, 'localhost');
              if (!n) throw new UsageError(`invalid image name "${t}"`);
              if (!tags.includes(n)) tags.unshift(n);
            }
            if (dst instanceof DockerArchiveDestination) dst.setNextImageTags(tags);
            await copyOne(store, img, dst, { signal, quiet: flags.quiet, commit: false });
          }
          await dst.commit(signal);
        } finally {
          await dst.close();
        }
        return;
      }
      if (args.length > 1) {
        throw new UsageError(
          `--format ${format} saves one image; use docker-archive with -m for several`,
        );
      }
      const img = store.lookupImage(args[0]!);
      const name = storedNameFor(args[0]!, img);
      let dest: string;
      let manifestFormat: CopyOptions['format'];
      if (format === 'oci-archive') {
        dest = `oci-archive:${output}${name ? `:${name}` : ''}`;
        manifestFormat = 'oci';
      } else {
        dest = `dir:${output}`;
        manifestFormat = format === 'oci-dir' ? 'oci' : 'v2s2';
      }
      const dst = await openDestination(dest, { signal });
      try {
        await copyOne(store, img, dst, { signal, quiet: flags.quiet, format: manifestFormat });
      } finally {
        await dst.close();
      }
    });
    if (tmp) await pipeline(createReadStream(output), process.stdout, { end: false });
  } finally {
    if (tmp) await rm(tmp, { recursive: true, force: true });
  }
}
