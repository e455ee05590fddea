import { readFile } from 'node:fs/promises';
import { digestOf, SkiffError } from '@skiff/oci-image';

/** Prints the digest of a manifest file: sha256 of its exact bytes, as registries compute it. */
export async function manifestDigest(file: string): Promise<void> {
  let raw: Buffer;
  try {
    raw = await readFile(file);
  } catch (err) {
    const reason =
      (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message;
    throw new SkiffError('E_NOT_FOUND', `reading manifest from ${file}: ${reason}`, {
      cause: err,
    });
  }
  process.stdout.write(`${digestOf(raw)}\n`);
}
