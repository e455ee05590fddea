// Run by containers-storage.test.ts in a child process (bundled with esbuild): copies one
// image into a store and prints store events and the result as JSON lines.
import type { StorageDriver } from '@skiff/storage';
import { copyImage, openDestination, openSource } from '../src/index.js';

const [from, to, root, runroot, driver] = process.argv.slice(2) as [
  string,
  string,
  string,
  string,
  StorageDriver,
];
const out = (o: unknown) => process.stdout.write(`${JSON.stringify(o)}\n`);
const src = await openSource(from);
try {
  const dst = await openDestination(to, {
    storeOptions: { root, runroot, driver },
    storageEvents: out,
  });
  try {
    const r = await copyImage(src, dst);
    out({ type: 'done', digest: r.manifestDigest, imageId: (dst as { imageId?: string }).imageId });
  } finally {
    await dst.close();
  }
} finally {
  await src.close();
}
