// Benchmarks `skiff-image copy/inspect/list-tags` against `skopeo` side by side, through two
// real Debian docker-registry instances on 127.0.0.1. Run after the build (pnpm bench does it):
//   node bench/copy.bench.mjs            (SKIFF_BENCH_RUNS=N to change the run count)
// Everything lives on /dev/shm (falls back to the OS temp dir) and is removed at the end; the
// registries are stopped by pid. Each measurement is the median of several runs, alternating
// skiff and skopeo so that machine noise hits both; peak RSS comes from /usr/bin/time -f %M.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const here = fileURLToPath(new URL('.', import.meta.url));
const SKIFF = join(here, '..', 'apps', 'skiff-image', 'dist', 'skiff-image.js');
const REGISTRY_BIN = '/usr/bin/docker-registry';
const TIME_BIN = '/usr/bin/time';
const RUNS = Math.max(1, Number(process.env.SKIFF_BENCH_RUNS ?? 3));
const FAST_RUNS = Math.max(RUNS, 9);
const STEP_TIMEOUT = 600_000;
const DEADLINE = Date.now() + 40 * 60_000;

for (const [bin, what] of [
  [SKIFF, 'the built CLI (pnpm turbo run build)'],
  [REGISTRY_BIN, 'Debian docker-registry'],
  [TIME_BIN, 'GNU time (Debian package "time")'],
  ['/usr/bin/skopeo', 'skopeo'],
]) {
  if (!existsSync(bin)) {
    console.error(`copy bench: ${bin} is missing: install ${what}`);
    process.exit(1);
  }
}

const base = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
const work = mkdtempSync(join(base, 'skiff-copy-bench-'));
const home = join(work, 'home');
mkdirSync(home);
const policy = join(work, 'policy.json');
writeFileSync(policy, JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }));
// Both tools get an empty HOME: no auth files or registries.conf of the machine's user.
const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, TMPDIR: work };

// ---- registries ------------------------------------------------------------------------------

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

const registries = [];

async function startRegistry(name) {
  const port = await freePort();
  const reg = { name, port, host: `127.0.0.1:${port}`, child: undefined, dir: join(work, name) };
  registries.push(reg);
  await bootRegistry(reg);
  return reg;
}

async function bootRegistry(reg) {
  rmSync(reg.dir, { recursive: true, force: true });
  mkdirSync(join(reg.dir, 'storage'), { recursive: true });
  const config = join(reg.dir, 'config.yml');
  writeFileSync(
    config,
    [
      'version: 0.1',
      'log:',
      '  level: error',
      '  accesslog:',
      '    disabled: true',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${join(reg.dir, 'storage')}`,
      '  delete:',
      '    enabled: true',
      'http:',
      `  addr: ${reg.host}`,
      '',
    ].join('\n'),
  );
  const log = openSync(join(reg.dir, 'registry.log'), 'a');
  reg.child = spawn(REGISTRY_BIN, ['serve', config], {
    stdio: ['ignore', log, log],
    env: { PATH: env.PATH, HOME: reg.dir },
  });
  closeSync(log);
  reg.exited = new Promise((resolve) => reg.child.once('exit', resolve));
  for (let i = 0; i < 200; i++) {
    if (reg.child.exitCode !== null) break;
    try {
      const res = await fetch(`http://${reg.host}/v2/`);
      await res.arrayBuffer();
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(
    `registry ${reg.name} did not start:\n${readFileSync(join(reg.dir, 'registry.log'), 'utf8')}`,
  );
}

async function stopRegistry(reg) {
  const child = reg.child;
  reg.child = undefined;
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  process.kill(child.pid, 'SIGTERM');
  const timer = setTimeout(() => {
    if (child.exitCode === null) process.kill(child.pid, 'SIGKILL');
  }, 3000);
  await reg.exited;
  clearTimeout(timer);
}

/** An empty registry again: no blob of an earlier run can be skipped or mounted. */
async function wipeRegistry(reg) {
  await stopRegistry(reg);
  await bootRegistry(reg);
}

// ---- test images -----------------------------------------------------------------------------

/** xorshift32 over a 64-symbol alphabet: deterministic, gzip-compressible to about 0.8. */
function pseudoRandomPool(seed, size) {
  const out = Buffer.allocUnsafe(size);
  const alphabet = Buffer.from('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 \n');
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = alphabet[x & 63];
  }
  return out;
}

const POOL = pseudoRandomPool(0x5eed, 8 << 20);

/** `size` bytes made of 64 KiB slices of the pool at pseudo-random offsets (fast, deterministic). */
function fileContent(seed, size) {
  const out = Buffer.allocUnsafe(size);
  let x = seed >>> 0 || 1;
  for (let off = 0; off < size; off += 65536) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    const at = x % (POOL.length - 65536);
    POOL.copy(out, off, at, at + Math.min(65536, size - off));
  }
  return out;
}

function tarHeader(name, size) {
  const h = Buffer.alloc(512);
  const put = (s, at, len) => h.write(s.slice(0, len), at, 'ascii');
  put(name, 0, 100);
  put('0000644\0', 100, 8);
  put('0000000\0', 108, 8);
  put('0000000\0', 116, 8);
  put(`${size.toString(8).padStart(11, '0')}\0`, 124, 12);
  put('00000000000\0', 136, 12);
  put('        ', 148, 8);
  put('0', 156, 1);
  put('ustar\0', 257, 6);
  put('00', 263, 2);
  let sum = 0;
  for (const b of h) sum += b;
  put(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8);
  return h;
}

/** A deterministic layer tar of `files` files of `fileSize` bytes. */
function layerTar(seed, files, fileSize) {
  const parts = [];
  for (let i = 0; i < files; i++) {
    parts.push(tarHeader(`data/l${seed}/f${i}.txt`, fileSize));
    parts.push(fileContent(seed * 7919 + i + 1, fileSize));
    const pad = (512 - (fileSize % 512)) % 512;
    if (pad) parts.push(Buffer.alloc(pad));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

function sha256(b) {
  return `sha256:${createHash('sha256').update(b).digest('hex')}`;
}

/** Writes an OCI layout with one image (tag v1) of the given layers; returns its total blob size. */
function writeLayout(dir, layerSpecs) {
  mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
  const putBlob = (b) => {
    const d = sha256(b);
    writeFileSync(join(dir, 'blobs', 'sha256', d.slice(7)), b);
    return { digest: d, size: b.length };
  };
  const layers = [];
  const diffIds = [];
  let total = 0;
  for (const spec of layerSpecs) {
    const tar = layerTar(spec.seed, spec.files, spec.fileSize);
    diffIds.push(sha256(tar));
    const gz = gzipSync(tar, { level: 1 });
    const d = putBlob(gz);
    total += d.size;
    layers.push({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...d });
  }
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: { Cmd: ['/bin/sh'] },
      rootfs: { type: 'layers', diff_ids: diffIds },
      history: diffIds.map(() => ({ created_by: 'bench' })),
    }),
  );
  const cfg = putBlob(config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...cfg },
      layers,
    }),
  );
  const m = putBlob(manifest);
  writeFileSync(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  writeFileSync(
    join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          ...m,
          annotations: { 'org.opencontainers.image.ref.name': 'v1' },
        },
      ],
    }),
  );
  return total;
}

// ---- running and timing ----------------------------------------------------------------------

const rssFile = join(work, 'rss.txt');

/** Runs a command under /usr/bin/time; returns wall seconds and peak RSS in KiB. */
function run(cmd, args) {
  if (Date.now() > DEADLINE) throw new Error('copy bench: time budget exhausted');
  const start = process.hrtime.bigint();
  const r = spawnSync(TIME_BIN, ['-f', '%M', '-o', rssFile, cmd, ...args], {
    env,
    encoding: 'utf8',
    timeout: STEP_TIMEOUT,
    maxBuffer: 64 << 20,
  });
  const secs = Number(process.hrtime.bigint() - start) / 1e9;
  if (r.status !== 0) {
    throw new Error(
      `${cmd} ${args.join(' ')} failed (${r.status ?? r.signal}):\n${r.stderr}${r.stdout}`,
    );
  }
  const rss = Number(readFileSync(rssFile, 'utf8').trim().split('\n').at(-1));
  return { secs, rss, stdout: r.stdout };
}

const skiff = (...args) => run(process.execPath, [SKIFF, ...args]);
const skopeo = (...args) => run('/usr/bin/skopeo', ['--policy', policy, ...args]);
const TLS = ['--src-tls-verify=false', '--dest-tls-verify=false'];

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

let peakRss = 0;
const results = [];

/**
 * Times skiff and skopeo alternately, `runs` times each; `prepare(tool, i)` runs untimed before
 * every measurement and returns the arguments for that tool.
 */
async function compare(name, runs, prepare, opts = {}) {
  const times = { skiff: [], skopeo: [] };
  let rss = 0;
  for (let i = 0; i < runs; i++) {
    const order = i % 2 === 0 ? ['skiff', 'skopeo'] : ['skopeo', 'skiff'];
    for (const tool of order) {
      const args = await prepare(tool, i);
      const r = tool === 'skiff' ? skiff(...args) : skopeo(...args);
      if (opts.check) opts.check(tool, r);
      times[tool].push(r.secs);
      if (tool === 'skiff') rss = Math.max(rss, r.rss);
    }
  }
  peakRss = Math.max(peakRss, rss);
  const a = median(times.skiff);
  const b = median(times.skopeo);
  const res = { name, skiff: a, skopeo: b, ratio: a / b, rss, target: opts.target };
  results.push(res);
  let line = `${name}: skiff ${a.toFixed(2)}s skopeo ${b.toFixed(2)}s ratio ${(a / b).toFixed(2)}x`;
  if (opts.nodeBaseline !== undefined) {
    res.overMs = (a - opts.nodeBaseline) * 1000;
    res.skopeoOverMs = (b - opts.nodeBaseline) * 1000;
    line += `  (skiff - node -e 0: ${res.overMs.toFixed(0)} ms)`;
  }
  line += `  skiff peak RSS ${(rss / 1024).toFixed(0)} MB`;
  console.log(line);
  return res;
}

// ---- the scenarios ---------------------------------------------------------------------------

let failed = false;
try {
  const t0 = Date.now();
  const bigDir = join(work, 'big-layout');
  const smallDir = join(work, 'small-layout');
  const bigSize = writeLayout(
    bigDir,
    [1, 2, 3, 4, 5].map((seed) => ({ seed, files: 4, fileSize: 26 << 20 })),
  );
  const smallSize = writeLayout(
    smallDir,
    Array.from({ length: 40 }, (_, i) => ({
      seed: 100 + i,
      files: 1 + (i % 4),
      fileSize: (96 + ((i * 37) % 160)) << 10,
    })),
  );
  const A = await startRegistry('registry-a');
  const B = await startRegistry('registry-b');
  skopeo('copy', ...TLS, `oci:${bigDir}:v1`, `docker://${A.host}/big:v1`);
  skopeo('copy', ...TLS, `oci:${smallDir}:v1`, `docker://${A.host}/small:v1`);
  console.log(
    `images: big ${(bigSize / 1e6).toFixed(0)} MB in 5 gzip layers, small ${(smallSize / 1e6).toFixed(1)} MB in 40 layers; set up in ${((Date.now() - t0) / 1000).toFixed(1)}s; ${RUNS} runs (ms-scale: ${FAST_RUNS}), medians`,
  );

  let n = 0;
  await compare(
    'registry -> registry, 5 x 80 MB, cold',
    RUNS,
    async () => {
      await wipeRegistry(B);
      return [
        'copy',
        '-q',
        ...TLS,
        `docker://${A.host}/big:v1`,
        `docker://${B.host}/cold${n++}:v1`,
      ];
    },
    { target: 0.6 },
  );
  const ociOut = join(work, 'oci-out');
  await compare(
    'registry -> oci dir, 5 x 80 MB',
    RUNS,
    async () => {
      rmSync(ociOut, { recursive: true, force: true });
      return ['copy', '-q', ...TLS, `docker://${A.host}/big:v1`, `oci:${ociOut}:v1`];
    },
    { target: 0.8 },
  );
  rmSync(ociOut, { recursive: true, force: true });
  await compare(
    'oci dir -> registry, 5 x 80 MB, cold',
    RUNS,
    async () => {
      await wipeRegistry(B);
      return ['copy', '-q', ...TLS, `oci:${bigDir}:v1`, `docker://${B.host}/push${n++}:v1`];
    },
    { target: 0.6 },
  );
  await compare(
    'registry -> registry, 40 small layers, cold',
    RUNS,
    async () => {
      await wipeRegistry(B);
      return [
        'copy',
        '-q',
        ...TLS,
        `docker://${A.host}/small:v1`,
        `docker://${B.host}/small${n++}:v1`,
      ];
    },
    { target: 0.5 },
  );

  // Start-up baseline for the millisecond-scale scenarios, under the same /usr/bin/time wrapper.
  const nodeTimes = [];
  for (let i = 0; i < 15; i++) nodeTimes.push(run(process.execPath, ['-e', '0']).secs);
  const nodeBaseline = median(nodeTimes);
  console.log(`node -e 0: ${(nodeBaseline * 1000).toFixed(0)} ms`);

  await wipeRegistry(B);
  skopeo('copy', ...TLS, `docker://${A.host}/big:v1`, `docker://${B.host}/present:v1`);
  await compare(
    'all blobs present (same repo again), 5 layers',
    FAST_RUNS,
    async () => [
      'copy',
      '-q',
      ...TLS,
      `docker://${A.host}/big:v1`,
      `docker://${B.host}/present:v1`,
    ],
    { nodeBaseline, targetMs: 15 },
  );
  await compare(
    'cross-repository mount (new repo, same registry), 5 layers',
    FAST_RUNS,
    async () => [
      'copy',
      '-q',
      ...TLS,
      `docker://${A.host}/big:v1`,
      `docker://${A.host}/mount${n++}:v1`,
    ],
    { nodeBaseline, targetMs: 15 },
  );
  await compare(
    'inspect docker://',
    FAST_RUNS,
    async () => ['inspect', '--tls-verify=false', `docker://${A.host}/big:v1`],
    {
      nodeBaseline,
      check: (tool, r) => {
        if (!JSON.parse(r.stdout).Digest) throw new Error(`${tool} inspect printed no digest`);
      },
    },
  );
  await compare(
    'list-tags docker://',
    FAST_RUNS,
    async () => ['list-tags', '--tls-verify=false', `docker://${A.host}/big`],
    {
      nodeBaseline,
      check: (tool, r) => {
        if (!JSON.parse(r.stdout).Tags?.includes('v1')) throw new Error(`${tool} list-tags: no v1`);
      },
    },
  );

  console.log('\ntargets:');
  for (const r of results) {
    let ok;
    let want;
    if (r.overMs !== undefined) {
      ok = r.overMs <= 15;
      want = `<= 15 ms over node -e 0 (is ${r.overMs.toFixed(0)} ms; skopeo ${r.skopeoOverMs.toFixed(0)} ms)`;
    } else {
      ok = r.ratio <= r.target;
      want = `ratio <= ${r.target}x (is ${r.ratio.toFixed(2)}x)`;
    }
    console.log(`  ${ok ? 'met ' : 'MISS'} ${r.name}: ${want}`);
  }
  console.log(
    `  ${peakRss < 150 * 1024 ? 'met ' : 'MISS'} skiff peak RSS < 150 MB (is ${(peakRss / 1024).toFixed(0)} MB)`,
  );
} catch (err) {
  failed = true;
  console.error(err instanceof Error ? err.message : err);
} finally {
  for (const reg of registries) await stopRegistry(reg).catch(() => {});
  rmSync(work, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
