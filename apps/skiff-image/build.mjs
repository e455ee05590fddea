import { bundleCli } from '../../scripts/bundle-cli.mjs';

await bundleCli(import.meta.dirname, 'skiff-image');
