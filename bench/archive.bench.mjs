// Benchmarks of @skiff/archive against GNU tar and of streaming sha256 against openssl.
// Run after `pnpm --filter @skiff/archive... build`: node bench/archive.bench.mjs
// Works on /dev/shm (falls back to the OS temp dir) and removes everything it wrote.
import { execFileSync, spawnSync } from 'node:child_process';
import {
  createReadStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));

async function importPackage(name, distPath) {
  try {
    return await import(name);
  } catch {
    return await import(join(here, '..', distPath));
  }
}

const archive = await importPackage('@skiff/archive', 'packages/archive/dist/index.js');
const ociImage = await importPackage('@skiff/oci-image', 'packages/oci-image/dist/index.js').catch(
  () => undefined,
);

const RUNS = 3;
const base = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
const work = mkdtempSync(join(base, 'skiff-bench-'));

/** xorshift32: deterministic bytes; a small alphabet keeps them gzip-compressible but not trivial. */
function pseudoRandom(seed, size) {
  const out = Buffer.allocUnsafe(size);
  let x = seed >>> 0 || 1;
  const alphabet = Buffer.from(
    'abcdefghijklmnopqrstuvwxyz0123456789 \n_-ABCDEFGHIJKLMNOPQRSTUVWXYZ',
  );
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = alphabet[x % alphabet.length];
  }
  return out;
}

function seconds(start) {
  return Number(process.hrtime.bigint() - start) / 1e9;
}

function fresh(name) {
  const dir = join(work, name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir);
  return dir;
}

async function best(fn) {
  let min = Number.POSITIVE_INFINITY;
  for (let i = 0; i < RUNS; i++) min = Math.min(min, await fn());
  return min;
}

function makeLayer(src, layer) {
  // GNU tar and gzip make the input, so that neither side extracts its own output.
  execFileSync('sh', ['-c', 'tar -C "$1" -cf - . | gzip -1 > "$2"', 'sh', src, layer]);
}

async function compareExtract(label, layer) {
  const skiff = await best(async () => {
    const target = fresh('target');
    const start = process.hrtime.bigint();
    await archive.applyLayer(createReadStream(layer, { highWaterMark: 1024 * 1024 }), target);
    return seconds(start);
  });
  const tar = await best(async () => {
    const target = fresh('target');
    const start = process.hrtime.bigint();
    const r = spawnSync('tar', ['-xzf', layer, '-C', target]);
    if (r.status !== 0) throw new Error(`tar failed: ${r.stderr}`);
    return seconds(start);
  });
  rmSync(join(work, 'target'), { recursive: true, force: true });
  console.log(
    `extract ${label}: skiff ${skiff.toFixed(2)}s tar ${tar.toFixed(2)}s ratio ${(skiff / tar).toFixed(2)}x`,
  );
}

async function benchBigLayer() {
  const src = fresh('big-src');
  for (let i = 0; i < 20; i++)
    writeFileSync(join(src, `blob-${i}.bin`), pseudoRandom(i + 1, 10 * 1024 * 1024));
  const layer = join(work, 'big.tar.gz');
  makeLayer(src, layer);
  rmSync(src, { recursive: true, force: true });
  await compareExtract('200MB gzip', layer);
  rmSync(layer, { force: true });
}

async function benchSmallFiles() {
  const src = fresh('small-src');
  let n = 0;
  for (let a = 0; a < 20; a++) {
    for (let b = 0; b < 10; b++) {
      const dir = join(src, `dir-${a}`, `sub-${b}`);
      mkdirSync(dir, { recursive: true });
      for (let f = 0; f < 100; f++) {
        writeFileSync(join(dir, `file-${f}.txt`), pseudoRandom(++n, 200 + (n % 1800)));
      }
    }
  }
  const layer = join(work, 'small.tar.gz');
  makeLayer(src, layer);
  rmSync(src, { recursive: true, force: true });
  await compareExtract(`${n} small files gzip`, layer);
  rmSync(layer, { force: true });
}

async function benchSha256() {
  const file = join(work, 'blob-1g');
  const chunk = pseudoRandom(7, 16 * 1024 * 1024);
  const parts = [];
  for (let i = 0; i < 64; i++) parts.push(chunk);
  writeFileSync(file, Buffer.concat(parts));
  const node = await best(async () => {
    const start = process.hrtime.bigint();
    if (ociImage?.digestingStream) {
      const digester = ociImage.digestingStream('sha256');
      await pipeline(
        createReadStream(file, { highWaterMark: 1024 * 1024 }),
        digester,
        async (s) => {
          for await (const _ of s);
        },
      );
    } else {
      const { createHash } = await import('node:crypto');
      const hash = createHash('sha256');
      for await (const c of createReadStream(file, { highWaterMark: 1024 * 1024 })) hash.update(c);
      hash.digest('hex');
    }
    return seconds(start);
  });
  const openssl = await best(async () => {
    const start = process.hrtime.bigint();
    execFileSync('openssl', ['dgst', '-sha256', file]);
    return seconds(start);
  });
  rmSync(file, { force: true });
  const via = ociImage?.digestingStream ? 'digestingStream' : 'node:crypto';
  console.log(
    `sha256 1GiB stream (${via}): skiff ${node.toFixed(2)}s openssl ${openssl.toFixed(2)}s ratio ${(node / openssl).toFixed(2)}x`,
  );
}

try {
  const only = process.argv[2];
  if (!only || only === 'big') await benchBigLayer();
  if (!only || only === 'small') await benchSmallFiles();
  if (!only || only === 'sha256') await benchSha256();
} finally {
  rmSync(work, { recursive: true, force: true });
}
