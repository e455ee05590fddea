// Benchmarks skiff's local-storage image commands against podman side by side: pulls from a
// Debian docker-registry on 127.0.0.1 into empty storage (one large image, one of 40 small
// layers), a pull whose layers are all present, save and load of the large image as a
// docker-archive, `images` with 200 images stored and `rmi`. Run after the build:
//   node bench/storage.bench.mjs     (SKIFF_BENCH_RUNS=N runs; SKIFF_BENCH_DRIVER=vfs|overlay)
// Everything lives on /dev/shm (falls back to the OS temp dir): the registry, both stores (each
// tool its own --root/--runroot, the same storage driver), podman's tmpdir and config. Each
// measurement is the median of several runs, alternating the tools; peak RSS comes from
// /usr/bin/time -f %M. The registry is stopped by pid and podman's store is reset at the end.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  imageConfig,
  layerTar,
  makeWorkDir,
  median,
  REGISTRY_BIN,
  Registries,
  requireBinaries,
  sha256,
  TIME_BIN,
  tarOf,
  timedRunner,
  writeLayout,
} from './lib.mjs';

const here = fileURLToPath(new URL('.', import.meta.url));
const SKIFF = join(here, '..', 'apps', 'skiff', 'dist', 'skiff.js');
const PODMAN = '/usr/bin/podman';
const RUNS = Math.max(1, Number(process.env.SKIFF_BENCH_RUNS ?? 3));
const FAST_RUNS = Math.max(RUNS, 9);
const STEP_TIMEOUT = 300_000;
const DEADLINE = Date.now() + 40 * 60_000;
const MANY = 200;

requireBinaries('storage bench', [
  [SKIFF, 'the built CLI (pnpm turbo run build)'],
  [REGISTRY_BIN, 'Debian docker-registry'],
  [TIME_BIN, 'GNU time (Debian package "time")'],
  [PODMAN, 'podman'],
  ['/usr/bin/skopeo', 'skopeo'],
  ['/usr/bin/runc', 'runc (podman needs a runtime to start)'],
]);

const { work, env } = makeWorkDir('skiff-storage-bench-');
const policy = join(work, 'policy.json');
writeFileSync(policy, JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }));

/** Podman on /dev/shm: overlay works on tmpfs as root; vfs otherwise (or when asked). */
function chooseDriver() {
  const want = process.env.SKIFF_BENCH_DRIVER;
  if (want === 'vfs' || want === 'overlay') return want;
  return process.getuid?.() === 0 ? 'overlay' : 'vfs';
}
const DRIVER = chooseDriver();

// Podman's configuration: this machine needs runc, cgroupfs and a file event log; its storage,
// tmpdir and network configuration live in the work directory so nothing of the host's is used.
const podmanDir = join(work, 'podman');
mkdirSync(join(podmanDir, 'tmp'), { recursive: true });
mkdirSync(join(podmanDir, 'networks'), { recursive: true });
writeFileSync(
  join(podmanDir, 'containers.conf'),
  [
    '[containers]',
    'default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]',
    '[engine]',
    'runtime = "runc"',
    'cgroup_manager = "cgroupfs"',
    'events_logger = "file"',
    `image_copy_tmp_dir = "${join(podmanDir, 'tmp')}"`,
    '',
  ].join('\n'),
);
writeFileSync(
  join(podmanDir, 'storage.conf'),
  `[storage]\ndriver = "${DRIVER}"\ngraphroot = "${join(work, 'podman-root')}"\nrunroot = "${join(work, 'podman-run')}"\n`,
);
writeFileSync(join(podmanDir, 'registries.conf'), 'unqualified-search-registries = []\n');
const podmanEnv = {
  ...env,
  CONTAINERS_CONF: join(podmanDir, 'containers.conf'),
  CONTAINERS_STORAGE_CONF: join(podmanDir, 'storage.conf'),
  CONTAINERS_REGISTRIES_CONF: join(podmanDir, 'registries.conf'),
};
const skiffEnv = { ...env, CONTAINERS_REGISTRIES_CONF: join(podmanDir, 'registries.conf') };

const stores = {
  skiff: { root: join(work, 'skiff-root'), runroot: join(work, 'skiff-run') },
  podman: { root: join(work, 'podman-root'), runroot: join(work, 'podman-run') },
};

const run = timedRunner({
  env,
  rssFile: join(work, 'rss.txt'),
  deadline: DEADLINE,
  stepTimeout: STEP_TIMEOUT,
  bench: 'storage bench',
});

const tool = {
  skiff: (...args) =>
    run(
      process.execPath,
      [
        SKIFF,
        '--root',
        stores.skiff.root,
        '--runroot',
        stores.skiff.runroot,
        '--storage-driver',
        DRIVER,
        ...args,
      ],
      { env: skiffEnv },
    ),
  podman: (...args) =>
    run(
      PODMAN,
      [
        '--root',
        stores.podman.root,
        '--runroot',
        stores.podman.runroot,
        '--storage-driver',
        DRIVER,
        '--tmpdir',
        join(podmanDir, 'tmp'),
        '--network-config-dir',
        join(podmanDir, 'networks'),
        ...args,
      ],
      { env: podmanEnv },
    ),
};

let podmanUsed = false;

/** Empties a tool's store (untimed): podman through `system reset`, both then removed. */
function resetStore(name) {
  if (name === 'podman' && podmanUsed) {
    const r = spawnSync(
      PODMAN,
      [
        '--root',
        stores.podman.root,
        '--runroot',
        stores.podman.runroot,
        '--storage-driver',
        DRIVER,
        '--tmpdir',
        join(podmanDir, 'tmp'),
        '--network-config-dir',
        join(podmanDir, 'networks'),
        'system',
        'reset',
        '-f',
      ],
      { env: podmanEnv, encoding: 'utf8', timeout: 120_000 },
    );
    if (r.status !== 0) console.error(`podman system reset: ${r.stderr}`);
  }
  const s = stores[name];
  rmSync(s.root, { recursive: true, force: true });
  rmSync(s.runroot, { recursive: true, force: true });
}

// ---- a docker-archive of many small images ----------------------------------------------------

/**
 * `count` images sharing one base layer, each with a small layer of its own, tagged
 * localhost/many:iN, as one docker-archive (what `save -m` writes).
 */
function writeManyArchive(file, count) {
  const base = layerTar(9000, 3, 4096);
  const baseDiff = sha256(base);
  const entries = [[`${baseDiff.slice(7)}/layer.tar`, base]];
  const manifest = [];
  for (let i = 0; i < count; i++) {
    const own = layerTar(10_000 + i, 1, 2048);
    const ownDiff = sha256(own);
    entries.push([`${ownDiff.slice(7)}/layer.tar`, own]);
    const config = imageConfig([baseDiff, ownDiff], ['/bin/sh', '-c', `echo ${i}`]);
    const cfgName = `${sha256(config).slice(7)}.json`;
    entries.push([cfgName, config]);
    manifest.push({
      Config: cfgName,
      RepoTags: [`localhost/many:i${i}`],
      Layers: [`${baseDiff.slice(7)}/layer.tar`, `${ownDiff.slice(7)}/layer.tar`],
    });
  }
  entries.push(['manifest.json', Buffer.from(JSON.stringify(manifest))]);
  writeFileSync(file, tarOf(entries));
}

// ---- comparing -------------------------------------------------------------------------------

const results = [];
let pullRss = 0;

/**
 * Times skiff and podman alternately, `runs` times each; `prepare(name, i)` runs untimed before
 * every measurement and returns the arguments; `after(name, i, r)` runs untimed after it.
 */
async function compare(label, runs, prepare, opts = {}) {
  const times = { skiff: [], podman: [] };
  let rss = 0;
  for (let i = 0; i < runs; i++) {
    const order = i % 2 === 0 ? ['skiff', 'podman'] : ['podman', 'skiff'];
    for (const name of order) {
      const args = await prepare(name, i);
      const r = tool[name](...args);
      if (name === 'podman') podmanUsed = true;
      if (opts.check) opts.check(name, r);
      if (opts.after) await opts.after(name, i, r);
      times[name].push(r.secs);
      if (name === 'skiff') rss = Math.max(rss, r.rss);
    }
  }
  if (opts.pull) pullRss = Math.max(pullRss, rss);
  const a = median(times.skiff);
  const b = median(times.podman);
  const res = { label, skiff: a, podman: b, ratio: a / b, rss, target: opts.target };
  results.push(res);
  console.log(
    `${label}: skiff ${a.toFixed(2)}s podman ${b.toFixed(2)}s ratio ${(a / b).toFixed(2)}x` +
      `  skiff peak RSS ${(rss / 1024).toFixed(0)} MB` +
      `  (skiff ${times.skiff.map((t) => t.toFixed(2)).join(' ')}; podman ${times.podman.map((t) => t.toFixed(2)).join(' ')})`,
  );
  return res;
}

function expectLines(min) {
  return (name, r) => {
    const n = r.stdout.trim().split('\n').length;
    if (n < min) throw new Error(`${name} printed ${n} lines, expected at least ${min}`);
  };
}

// ---- the scenarios ---------------------------------------------------------------------------

const registries = new Registries(work, env);
let failed = false;
try {
  const t0 = Date.now();
  const bigDir = join(work, 'big-layout');
  const smallDir = join(work, 'small-layout');
  const bigSize = writeLayout(
    bigDir,
    [1, 2, 3, 4, 5].map((seed) => ({ seed, files: 4, fileSize: 26 << 20 })),
    ['v1', 'v2'],
  );
  const smallSize = writeLayout(
    smallDir,
    Array.from({ length: 40 }, (_, i) => ({
      seed: 100 + i,
      files: 1 + (i % 4),
      fileSize: (96 + ((i * 37) % 160)) << 10,
    })),
  );
  const manyTar = join(work, 'many.tar');
  writeManyArchive(manyTar, MANY);
  const reg = await registries.start('registry');
  const skopeo = (...args) => run('/usr/bin/skopeo', ['--policy', policy, ...args]);
  const TLS = ['--src-tls-verify=false', '--dest-tls-verify=false'];
  skopeo('copy', ...TLS, `oci:${bigDir}:v1`, `docker://${reg.host}/big:v1`);
  skopeo('copy', ...TLS, `oci:${bigDir}:v2`, `docker://${reg.host}/big:v2`);
  skopeo('copy', ...TLS, `oci:${smallDir}:v1`, `docker://${reg.host}/small:v1`);
  rmSync(bigDir, { recursive: true, force: true });
  rmSync(smallDir, { recursive: true, force: true });
  const big = `${reg.host}/big:v1`;
  const big2 = `${reg.host}/big:v2`;
  const small = `${reg.host}/small:v1`;
  const pull = (ref) => ['pull', '-q', '--tls-verify=false', ref];
  console.log(
    `driver ${DRIVER} for both; images: big ${(bigSize / 1e6).toFixed(0)} MB in 5 gzip layers, ` +
      `small ${(smallSize / 1e6).toFixed(1)} MB in 40 layers, ${MANY} small images in a ` +
      `docker-archive; set up in ${((Date.now() - t0) / 1000).toFixed(1)}s; ${RUNS} runs ` +
      `(fast ones: ${FAST_RUNS}), medians`,
  );

  await compare(
    'pull 5 x 80 MB gzip layers into empty storage',
    RUNS,
    async (name) => {
      resetStore(name);
      return pull(big);
    },
    { target: 0.6, pull: true, check: expectLines(1) },
  );
  // Both stores now hold big:v1; big:v2 has the same layers and its own config.
  await compare('pull of an image whose layers are all present', RUNS + 2, async () => pull(big2), {
    target: 0.5,
    pull: true,
    after: (name) => void tool[name]('rmi', big2),
  });
  const archives = { skiff: join(work, 'save-skiff.tar'), podman: join(work, 'save-podman.tar') };
  await compare(
    'save the large image as docker-archive',
    RUNS,
    async (name) => {
      rmSync(archives[name], { force: true });
      return ['save', '-q', '--format', 'docker-archive', '-o', archives[name], big];
    },
    { target: 0.3 },
  );
  // Both load podman's archive: the same input.
  const loadInput = join(work, 'load-input.tar');
  copyFileSync(archives.podman, loadInput);
  rmSync(archives.skiff, { force: true });
  rmSync(archives.podman, { force: true });
  await compare(
    'load the large docker-archive into empty storage',
    RUNS,
    async (name) => {
      resetStore(name);
      return ['load', '-q', '-i', loadInput];
    },
    { target: 0.3, check: expectLines(1) },
  );
  rmSync(loadInput, { force: true });
  await compare(
    'pull 40 small layers into empty storage',
    RUNS,
    async (name) => {
      resetStore(name);
      return pull(small);
    },
    { target: 0.2, pull: true, check: expectLines(1) },
  );

  const setup = {};
  for (const name of ['skiff', 'podman']) {
    resetStore(name);
    setup[name] = tool[name]('load', '-q', '-i', manyTar).secs;
  }
  console.log(
    `(untimed set-up: load of ${MANY} images: skiff ${setup.skiff.toFixed(2)}s podman ${setup.podman.toFixed(2)}s)`,
  );
  await compare('images with 200 images stored', FAST_RUNS, async () => ['images'], {
    target: 0.5,
    check: expectLines(MANY + 1),
  });
  await compare(
    'rmi of the 40-layer image (200 others stored)',
    RUNS + 2,
    async (name) => {
      tool[name](...pull(small));
      return ['rmi', small];
    },
    { target: 0.5 },
  );

  console.log('\ntargets:');
  for (const r of results) {
    const ok = r.ratio <= r.target;
    console.log(
      `  ${ok ? 'met ' : 'MISS'} ${r.label}: ratio <= ${r.target}x (is ${r.ratio.toFixed(2)}x)`,
    );
  }
  console.log(
    `  ${pullRss < 150 * 1024 ? 'met ' : 'MISS'} skiff pull peak RSS < 150 MB (is ${(pullRss / 1024).toFixed(0)} MB)`,
  );
} catch (err) {
  failed = true;
  console.error(err instanceof Error ? err.message : err);
} finally {
  await registries.stopAll();
  resetStore('podman');
  resetStore('skiff');
  if (existsSync(work)) rmSync(work, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
