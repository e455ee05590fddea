// Bundles one CLI into a single ESM file with a node shebang, so that it starts without
// resolving hundreds of modules. Workspace packages are bundled from their TypeScript sources.
// With `{ splitting: true }` the code behind dynamic import()s goes to dist/chunks/, so that
// start-up parses only the entry file (same dist/<name>.js entry point).
import { chmod, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { build } from 'esbuild';

export async function bundleCli(appDir, name, options = {}) {
  const pkg = JSON.parse(await readFile(join(appDir, 'package.json'), 'utf8'));
  const outfile = join(appDir, 'dist', `${name}.js`);
  await build({
    ...(options.splitting
      ? {
          entryPoints: { [name]: join(appDir, 'src', 'main.ts') },
          outdir: join(appDir, 'dist'),
          splitting: true,
          chunkNames: 'chunks/[name]-[hash]',
        }
      : { entryPoints: [join(appDir, 'src', 'main.ts')], outfile }),
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    conditions: ['source'],
    // Native addons cannot be bundled; they load from node_modules at run time.
    external: ['koffi', 'better-sqlite3'],
    define: { SKIFF_VERSION: JSON.stringify(pkg.version) },
    banner: {
      js: "#!/usr/bin/env node\nimport { createRequire as __skiffCreateRequire } from 'node:module';\nconst require = __skiffCreateRequire(import.meta.url);",
    },
    minifySyntax: true,
    legalComments: 'none',
    logLevel: 'warning',
  });
  await chmod(outfile, 0o755);
}
