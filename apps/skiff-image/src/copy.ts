import { writeFile } from 'node:fs/promises';
import { CopyProgress, UsageError } from '@skiff/cli-kit';
import {
  type CopyOptions,
  copyImage,
  type ImageName,
  type MultiArchMode,
  type OpenOptions,
  openDestination,
  openSource,
  parseImageName,
} from '@skiff/transports';
import { platformFromGlobals } from './inspect.js';
import { type GlobalOptions, registrySide, type SourceAndDestRegistryFlags } from './options.js';

export interface CopyFlags extends SourceAndDestRegistryFlags {
  additionalTag?: string[];
  all?: boolean;
  destCompressFormat?: 'gzip' | 'zstd';
  digestfile?: string;
  format?: string;
  multiArch?: string;
  preserveDigests?: boolean;
  quiet?: boolean;
  removeSignatures?: boolean;
}

const MULTI_ARCH: readonly MultiArchMode[] = ['system', 'all', 'index-only'];

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
  throw new UsageError(`unknown manifest type "${value}" for --format`, {
    hint: 'use oci or v2s2',
  });
}

function multiArchMode(flags: CopyFlags, explicit: boolean): MultiArchMode {
  if (flags.all) {
    if (explicit && flags.multiArch !== 'all') {
      throw new UsageError('cannot use --all and --multi-arch together');
    }
    return 'all';
  }
  const mode = (flags.multiArch ?? 'system') as MultiArchMode;
  if (!MULTI_ARCH.includes(mode)) {
    throw new UsageError(`unknown multi-arch option "${flags.multiArch}"`, {
      hint: 'use system, all or index-only',
    });
  }
  return mode;
}

/** Additional tags only make sense where an archive records names. */
function checkAdditionalTags(dest: ImageName, tags: string[] | undefined): void {
  if (tags && tags.length > 0 && dest.transport !== 'docker-archive') {
    throw new UsageError(
      `--additional-tag is only supported by docker-archive destinations, not ${dest.transport}:`,
    );
  }
}

export async function copyImageCommand(
  source: string,
  destination: string,
  flags: CopyFlags,
  globals: GlobalOptions,
  signal: AbortSignal,
  explicitMultiArch = process.argv.some(
    (a) => a === '--multi-arch' || a.startsWith('--multi-arch='),
  ),
): Promise<void> {
  const format = manifestFormat(flags.format);
  const multiArch = multiArchMode(flags, explicitMultiArch);
  const srcName = parseImageName(source);
  const dstName = parseImageName(destination);
  checkAdditionalTags(dstName, flags.additionalTag);

  const common: OpenOptions = { signal, ...(globals.tmpdir ? { tmpDir: globals.tmpdir } : {}) };
  const srcOpts: OpenOptions = { ...common, ...registrySide('src', flags) };
  const dstOpts: OpenOptions = {
    ...common,
    ...(flags.additionalTag ? { additionalTags: flags.additionalTag } : {}),
    ...registrySide('dest', flags),
  };

  const progress = flags.quiet ? undefined : new CopyProgress(process.stdout);
  const src = await openSource(srcName, srcOpts);
  try {
    const dst = await openDestination(dstName, dstOpts);
    try {
      progress?.start();
      const platform = platformFromGlobals(globals);
      const options: CopyOptions = {
        multiArch,
        signal,
        ...(platform ? { platform } : {}),
        ...(format ? { format } : {}),
        ...(flags.preserveDigests ? { preserveDigests: true } : {}),
        ...(flags.removeSignatures ? { removeSignatures: true } : {}),
        ...(flags.destCompressFormat ? { compressionFormat: flags.destCompressFormat } : {}),
        ...(progress ? { onEvent: progress.onEvent } : {}),
      };
      const result = await copyImage(src, dst, options);
      progress?.finish();
      if (flags.digestfile !== undefined) {
        await writeFile(flags.digestfile, result.manifestDigest);
      }
    } finally {
      progress?.finish();
      await dst.close();
    }
  } finally {
    await src.close();
  }
}
