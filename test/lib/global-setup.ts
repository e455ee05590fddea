import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
// @ts-expect-error -- a plain ESM script, typed by its use here
import { buildBaseImage } from '../images/build-base-image.mjs';

declare module 'vitest' {
  export interface ProvidedContext {
    /** An OCI layout holding the busybox base image under the ref `latest`. */
    baseImageLayout: string;
    baseImageDigest: string;
  }
}

// Builds the busybox base image once for the whole end-to-end run.
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const dir = await mkdtemp(join(tmpdir(), 'skiff-e2e-base-'));
  const layout = join(dir, 'busybox');
  const digest: string = await buildBaseImage(layout, { name: 'busybox:latest' });
  project.provide('baseImageLayout', layout);
  project.provide('baseImageDigest', digest);
  return async () => {
    await rm(dir, { recursive: true, force: true });
  };
}
