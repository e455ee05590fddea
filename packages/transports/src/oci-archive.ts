import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import type { ImageDestination, ImageSource } from '@skiff/oci-image';
import { makeTempDir, writeThroughTemp } from './fsutil.js';
import type { OpenOptions } from './name.js';
import { OciLayoutDestination, OciLayoutSource } from './oci-layout.js';
import { extractArchiveSafely, writeTarFromFiles } from './safe-tar.js';

const acceptLayoutMember = (name: string) =>
  name === 'oci-layout' || name === 'index.json' || name === 'blobs' || name.startsWith('blobs/');

/** An oci-archive source: the tar is extracted (safely) into a temp layout, then read. */
export async function openOciArchiveSource(
  file: string,
  ref: string | undefined,
  reference: string,
  opts: OpenOptions,
): Promise<ImageSource> {
  const tmp = await makeTempDir('oci-archive', opts.tmpDir);
  const cleanup = () => fs.rm(tmp, { recursive: true, force: true });
  try {
    await extractArchiveSafely(file, tmp, { accept: acceptLayoutMember, signal: opts.signal });
    return await OciLayoutSource.open(tmp, ref, reference, cleanup);
  } catch (err) {
    await cleanup();
    throw err;
  }
}

/** Lists a layout's files in tar order: oci-layout, index.json, then blobs/ sorted. */
async function layoutEntries(root: string) {
  const entries: { name: string; file?: string; dir?: boolean }[] = [
    { name: 'oci-layout', file: path.join(root, 'oci-layout') },
    { name: 'index.json', file: path.join(root, 'index.json') },
    { name: 'blobs/', dir: true },
  ];
  const algs = (await fs.readdir(path.join(root, 'blobs'))).sort();
  for (const alg of algs) {
    entries.push({ name: `blobs/${alg}/`, dir: true });
    const names = (await fs.readdir(path.join(root, 'blobs', alg)))
      .filter((n) => !n.startsWith('.'))
      .sort();
    for (const n of names) {
      entries.push({ name: `blobs/${alg}/${n}`, file: path.join(root, 'blobs', alg, n) });
    }
  }
  return entries;
}

/**
 * An oci-archive destination: a layout in a temp dir, tarred at commit into a temp file next to
 * the target and renamed into place.
 */
export async function openOciArchiveDestination(
  file: string,
  ref: string | undefined,
  reference: string,
  opts: OpenOptions,
): Promise<ImageDestination> {
  const tmp = await makeTempDir('oci-archive', opts.tmpDir);
  const layout = path.join(tmp, 'layout');
  const afterCommit = async () => {
    const entries = await layoutEntries(layout);
    await writeThroughTemp(file, (partial) => writeTarFromFiles(partial, entries, opts.signal));
  };
  try {
    return await OciLayoutDestination.open(layout, ref, reference, {
      afterCommit,
      onClose: () => fs.rm(tmp, { recursive: true, force: true }),
    });
  } catch (err) {
    await fs.rm(tmp, { recursive: true, force: true });
    throw err;
  }
}
