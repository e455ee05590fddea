import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SkiffError } from '@skiff/oci-image';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exitCodeFor, formatError, skopeoExitCodes, UsageError } from '../src/index.js';

describe('error messages', () => {
  it('prints "Error:" with the message and the hint on its own line', () => {
    const err = new SkiffError('E_IMAGE_NOT_FOUND', 'no image "v2" in oci:/x', {
      hint: 'List the tags with skiff-image list-tags.',
    });
    expect(formatError(err)).toBe(
      'Error: no image "v2" in oci:/x\nHint: List the tags with skiff-image list-tags.\n',
    );
  });

  it('shows causes and stacks only in debug mode', () => {
    const cause = new Error('ENOENT: no such file or directory');
    const err = new SkiffError('E_X', 'reading index.json', { cause });
    expect(formatError(err)).toBe('Error: reading index.json\n');
    const debug = formatError(err, { debug: true });
    expect(debug).toMatch(/^Error: reading index.json\nSkiffError: reading index.json\n\s+at /);
    expect(debug).toContain('Caused by: Error: ENOENT: no such file or directory');
    expect(formatError('plain')).toBe('Error: plain\n');
  });

  it('maps error codes to exit codes', () => {
    expect(exitCodeFor(new UsageError('x'))).toBe(1);
    expect(exitCodeFor(new Error('x'))).toBe(1);
    const podman = { failure: 125, usage: 125, interrupted: 130, byCode: { E_NOT_FOUND: 2 } };
    expect(exitCodeFor(new UsageError('x'), podman)).toBe(125);
    expect(exitCodeFor(new SkiffError('E_NOT_FOUND', 'x'), podman)).toBe(2);
    expect(exitCodeFor(new SkiffError('E_ABORTED', 'x'), skopeoExitCodes)).toBe(130);
  });
});

describe('runCli in a real process', () => {
  let dir: string;
  let script: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cli-kit-run-'));
    const contents = `import { SkiffError } from '@skiff/oci-image';
       import { runCli } from '../src/index.ts';
       const mode = process.argv[2];
       await runCli(async (signal) => {
         if (mode === 'ok') { process.stdout.write('x'.repeat(200000) + '\\n'); return; }
         if (mode === 'code') return 3;
         if (mode === 'wait') {
           process.stdout.write('ready\\n');
           await new Promise((_, reject) => {
             const timer = setTimeout(reject, 60000);
             signal.addEventListener('abort', () => { clearTimeout(timer); reject(signal.reason); });
           });
         }
         throw new SkiffError('E_IMAGE_NOT_FOUND', 'no such image', { hint: 'check the tag' });
       });`;
    script = join(dir, 'entry.mjs');
    await build({
      stdin: { contents, loader: 'ts', resolveDir: import.meta.dirname },
      outfile: script,
      bundle: true,
      platform: 'node',
      format: 'esm',
      conditions: ['source'],
      logLevel: 'silent',
    });
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('exits 0 after writing all of stdout to a pipe', () => {
    const r = spawnSync(process.execPath, [script, 'ok'], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stdout.length).toBe(200001);
  });

  it('exits with the code main returns', () => {
    expect(spawnSync(process.execPath, [script, 'code']).status).toBe(3);
  });

  it('prints the error and hint on stderr and exits 1', () => {
    const r = spawnSync(process.execPath, [script, 'fail'], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe('Error: no such image\nHint: check the tag\n');
  });

  it('turns SIGINT into an abort and exits 130', async () => {
    const child = spawn(process.execPath, [script, 'wait']);
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += String(d);
    });
    await once(child.stdout, 'data');
    child.kill('SIGINT');
    const [code] = await once(child, 'exit');
    expect(code).toBe(130);
    expect(stderr).toBe('Error: interrupted by SIGINT\n');
  });
});
