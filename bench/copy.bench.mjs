// Benchmarks `skiff-image copy/inspect/list-tags` against `skopeo` side by side, through two
// real Debian docker-registry instances on 127.0.0.1. Run after the build (pnpm bench does it):
//   node bench/copy.bench.mjs            (SKIFF_BENCH_RUNS=N to change the run count)
// Everything lives on /dev/shm (falls back to the OS temp dir) and is removed at the end; the
// registries are stopped by pid. Each measurement is the median of several runs, alternating
// skiff and skopeo so that machine noise hits both; peak RSS comes from /usr/bin/time -f %M.
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  makeWorkDir,
  median,
  REGISTRY_BIN,
  Registries,
  requireBinaries,
  TIME_BIN,
  timedRunner,
  writeLayout,
} from './lib.mjs';

const here = fileURLToPath(new URL('.', import.meta.url));
const SKIFF = join(here, '..', 'apps', 'skiff-image', 'dist', 'skiff-image.js');
const RUNS = Math.max(1, Number(process.env.SKIFF_BENCH_RUNS ?? 3));
const FAST_RUNS = Math.max(RUNS, 9);
const STEP_TIMEOUT = 600_000;
const DEADLINE = Date.now() + 40 * 60_000;

requireBinaries('copy bench', [
  [SKIFF, 'the built CLI (pnpm turbo run build)'],
  [REGISTRY_BIN, 'Debian docker-registry'],
  [TIME_BIN, 'GNU time (Debian package "time")'],
  ['/usr/bin/skopeo', 'skopeo'],
]);

const { work, env } = makeWorkDir('skiff-copy-bench-');
const policy = join(work, 'policy.json');
writeFileSync(policy, JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }));
const registries = new Registries(work, env);
const startRegistry = (name) => registries.start(name);
const wipeRegistry = (reg) => registries.wipe(reg);

// ---- running and timing ----------------------------------------------------------------------

/** Runs a command under /usr/bin/time; returns wall seconds and peak RSS in KiB. */
const run = timedRunner({
  env,
  rssFile: join(work, 'rss.txt'),
  deadline: DEADLINE,
  stepTimeout: STEP_TIMEOUT,
  bench: 'copy bench',
});

const skiff = (...args) => run(process.execPath, [SKIFF, ...args]);
const skopeo = (...args) => run('/usr/bin/skopeo', ['--policy', policy, ...args]);
const TLS = ['--src-tls-verify=false', '--dest-tls-verify=false'];

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
  await registries.stopAll();
  rmSync(work, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
