import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { openStore, type Store } from '@skiff/storage';
import { copyImage, openDestination, openSource } from '@skiff/transports';

const repoRoot = path.join(import.meta.dirname, '..', '..', '..');

export function isRoot(): boolean {
  return process.getuid?.() === 0;
}

/** A temp store holding the deterministic busybox test image as `busybox`. */
export async function storeWithBusybox(): Promise<{ store: Store; dir: string }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'skiff-runtime-test-'));
  const layout = path.join(dir, 'layout');
  const builder = path.join(repoRoot, 'test', 'images', 'build-base-image.mjs');
  const { buildBaseImage } = (await import(builder)) as {
    buildBaseImage: (out: string, opts?: { name?: string }) => Promise<string>;
  };
  await buildBaseImage(layout, { name: 'busybox:latest' });
  const store = openStore({ root: path.join(dir, 'root'), runroot: path.join(dir, 'run') });
  const src = await openSource(`oci:${layout}:latest`);
  const dest = await openDestination('containers-storage:busybox', { store });
  try {
    await copyImage(src, dest);
  } finally {
    await src.close();
    await dest.close();
  }
  return { store, dir };
}
