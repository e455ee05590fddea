import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { bundleCli } from '../../scripts/bundle-cli.mjs';

// Split so that `skiff --version` parses only main; commands load their chunks when they run.
// Old chunks are removed first so dist/ never accumulates stale hashes.
await rm(join(import.meta.dirname, 'dist'), { recursive: true, force: true });
await bundleCli(import.meta.dirname, 'skiff', { splitting: true });
