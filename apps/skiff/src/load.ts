// skiff load: reads a docker-archive or oci-archive (file or stdin) into storage and prints
// "Loaded image: NAME" for every name, as podman does.
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, open, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { decompressStream, detectCompression } from '@skiff/archive';
import { UsageError } from '@skiff/cli-kit';
import { SkiffError } from '@skiff/oci-image';
import { extract } from 'tar-stream';
import { type GlobalOptions, withStore } from './options.js';
import { copyIntoStore, localName } from './pull.js';

export interface LoadFlags {
  input?: string;
  quiet?: boolean;
}

/** Reads the small JSON files that tell the archive's kind, skipping everything else. */
async function archiveIndex(file: string): Promise<{ manifest?: unknown; index?: unknown }> {
  const found: { manifest?: unknown; index?: unknown } = {};
  const ex = extract();
  ex.on('entry', (header, stream, next) => {
    const name = header.name.replace(/^\.\//, '');
    if ((name === 'manifest.json' || name === 'index.json') && header.size! < 8 << 20) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: unknown) => {
        chunks.push(c as Buffer);
      });
      stream.on('end', () => {
        try {
          const doc = JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
          if (name === 'manifest.json') found.manifest = doc;
          else found.index = doc;
        } catch {
          // Not JSON: the format check below reports the archive as unknown.
        }
        next();
      });
    } else {
      stream.on('end', () => next());
      stream.resume();
    }
  });
  try {
    await pipeline(createReadStream(file), ex);
  } catch (err) {
    throw new SkiffError(
      'E_INVALID_ARCHIVE',
      `${file}: not a tar archive: ${(err as Error).message}`,
    );
  }
  return found;
}

async function isCompressed(file: string): Promise<boolean> {
  const fh = await open(file, 'r');
  try {
    const head = Buffer.alloc(8);
    const { bytesRead } = await fh.read(head, 0, 8, 0);
    return detectCompression(head.subarray(0, bytesRead)) !== 'none';
  } finally {
    await fh.close();
  }
}

export async function loadCommand(
  flags: LoadFlags,
  globals: GlobalOptions,
  signal: AbortSignal,
): Promise<void> {
  let input = flags.input;
  const tmp = await mkdtemp(join(tmpdir(), 'skiff-load-'));
  try {
    if (input === undefined || input === '-') {
      if (process.stdin.isTTY) {
        throw new UsageError(
          'cannot read from terminal, use command-line redirection or the --input flag',
        );
      }
      input = join(tmp, 'stdin.tar');
      await pipeline(process.stdin, createWriteStream(input), { signal });
    }
    const st = await stat(input).catch(() => undefined);
    if (!st) throw new SkiffError('E_NOT_FOUND', `${input}: no such file or directory`);
    let sources: { source: string; names: (opened: unknown) => Promise<string[]> }[];
    if (st.isDirectory()) {
      sources = [{ source: `oci:${input}`, names: async () => [] }];
    } else {
      if (await isCompressed(input)) {
        const plain = join(tmp, 'archive.tar');
        const { stream } = await decompressStream(createReadStream(input));
        await pipeline(stream, createWriteStream(plain), { signal });
        input = plain;
      }
      const file = input;
      const kind = await archiveIndex(file);
      if (Array.isArray(kind.manifest)) {
        sources = kind.manifest.map((_entry, i) => ({
          source: `docker-archive:${file}:@${i}`,
          names: async (opened: unknown) =>
            ((opened as { repoTags?: string[] }).repoTags ?? [])
              .map((t) => localName(t, 'docker.io'))
              .filter((n): n is string => n !== undefined),
        }));
      } else if (kind.index && typeof kind.index === 'object') {
        const manifests =
          (kind.index as { manifests?: { annotations?: Record<string, string> }[] }).manifests ??
          [];
        const refs = manifests.map((m) => m.annotations?.['org.opencontainers.image.ref.name']);
        sources =
          refs.length > 1 && refs.every((r) => r !== undefined)
            ? refs.map((ref) => ({
                source: `oci-archive:${file}:${ref}`,
                names: async () => {
                  const n = localName(ref!, 'localhost');
                  return n ? [n] : [];
                },
              }))
            : [
                {
                  source: `oci-archive:${file}`,
                  names: async () => {
                    const n = refs[0] ? localName(refs[0], 'localhost') : undefined;
                    return n ? [n] : [];
                  },
                },
              ];
      } else {
        throw new SkiffError(
          'E_INVALID_ARCHIVE',
          `payload does not match any of the supported image formats: ${flags.input ?? 'stdin'} is neither a docker-archive (manifest.json) nor an oci-archive (index.json)`,
        );
      }
    }
    await withStore(globals, async (store) => {
      const lines: string[] = [];
      for (const s of sources) {
        let given: string[] = [];
        const id = await copyIntoStore(
          s.source,
          async (opened) => {
            given = await s.names(opened);
            return given;
          },
          {
            store,
            openOptions: { signal, tmpDir: tmp },
            platform: undefined,
            quiet: flags.quiet,
            signal,
          },
        );
        if (given.length === 0) lines.push(`Loaded image: sha256:${id}`);
        for (const n of given) lines.push(`Loaded image: ${n}`);
      }
      process.stdout.write(`${lines.join('\n')}\n`);
    });
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}
