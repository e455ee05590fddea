import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { digestOf } from '@skiff/oci-image';
import { openStore, type Store } from '@skiff/storage';
import { build } from 'esbuild';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseImageName } from '../src/index.js';
import { type BuiltImage, buildImage, listFiles, TempDirs, writeOciLayout } from './fixtures.js';
import { copy, readManifest, verify } from './helpers.js';

const tmp = new TempDirs();
afterEach(() => tmp.cleanup());

function storeName(dir: string, name: string): string {
  return `containers-storage:[vfs@${dir}/root+${dir}/run]${name}`;
}

function open(dir: string): Store {
  return openStore({ root: path.join(dir, 'root'), runroot: path.join(dir, 'run'), driver: 'vfs' });
}

/** Runs `fn` with the store of `dir` open, closing it after. */
async function withStore<T>(dir: string, fn: (s: Store) => T | Promise<T>): Promise<T> {
  const s = open(dir);
  try {
    return await fn(s);
  } finally {
    s.close();
  }
}

describe('containers-storage: names', () => {
  it('parses podman and skopeo forms', () => {
    const a = parseImageName('containers-storage:busybox');
    expect(a.reference).toMatchObject({
      domain: 'docker.io',
      path: 'library/busybox',
      tag: 'latest',
    });
    expect(a.image).toBe('busybox');
    const b = parseImageName('containers-storage:[overlay@/var/lib/x+/run/x:opt=1]quay.io/a/b:2');
    expect(b.storage).toEqual({
      driver: 'overlay',
      root: '/var/lib/x',
      runroot: '/run/x',
      options: ['opt=1'],
    });
    expect(b.reference).toMatchObject({ domain: 'quay.io', path: 'a/b', tag: '2' });
    const id = 'a'.repeat(64);
    expect(parseImageName(`containers-storage:@${id}`).imageId).toBe(id);
    expect(parseImageName(`containers-storage:${id}`).imageId).toBe(id);
    const c = parseImageName(`containers-storage:x:1@${id}`);
    expect(c).toMatchObject({ imageId: id, image: 'x:1' });
    expect(parseImageName('containers-storage:[/srv/store]abc123').storage).toEqual({
      root: '/srv/store',
    });
    expect(() => parseImageName('containers-storage:[btrfs@/x]a')).toThrow(/storage driver/);
    expect(() => parseImageName('containers-storage:[relative]a')).toThrow(/not absolute/);
    expect(() => parseImageName('containers-storage:[/x')).toThrow(/"]"/);
  });
});

describe('containers-storage: copies', () => {
  it('oci -> containers-storage -> oci keeps the manifest digest and every blob', async () => {
    const dir = await tmp.make();
    for (const docker of [false, true]) {
      const img = await buildImage({ docker, label: String(docker) });
      const src = path.join(dir, `src-${docker}`);
      await writeOciLayout(src, [{ ref: 'v1', image: img }]);
      const name = docker ? 'localhost/roundtrip:docker' : 'localhost/roundtrip:oci';
      const r1 = await copy(`oci:${src}:v1`, storeName(dir, name));
      expect(r1.manifestDigest).toBe(img.manifestDigest);
      const v = await verify(storeName(dir, name));
      expect(v).toBeDefined();
      const back = path.join(dir, `back-${docker}`);
      if (docker) {
        const r2 = await copy(storeName(dir, name), `dir:${back}`);
        expect(r2.manifestDigest).toBe(img.manifestDigest);
      } else {
        const r2 = await copy(storeName(dir, name), `oci:${back}:v1`);
        expect(r2.manifestDigest).toBe(img.manifestDigest);
        const m = await readManifest(`oci:${back}:v1`);
        expect(Buffer.from(m.raw)).toEqual(img.manifestRaw);
      }
      await withStore(dir, (s) => {
        const rec = s.lookupImage(name);
        expect(rec.id).toBe(img.configDigest.slice(7));
        expect(rec.digest).toBe(img.manifestDigest);
        expect(s.check()).toEqual([]);
      });
    }
    // The short name and the id prefix work as source names too.
    const m = await readManifest(storeName(dir, 'roundtrip:oci'));
    expect(m.json.schemaVersion).toBe(2);
  });

  it('a blob with bad bytes fails the copy and stores nothing', async () => {
    const dir = await tmp.make();
    const img = await buildImage({ label: 'bad' });
    const src = path.join(dir, 'src');
    await writeOciLayout(src, [{ ref: 'v1', image: img }]);
    // Corrupt the second layer's blob in place.
    const victim = path.join(src, 'blobs', 'sha256', img.layers[1]!.digest.slice(7));
    const bytes = fs.readFileSync(victim);
    bytes[bytes.length - 10] = (bytes[bytes.length - 10] ?? 0) ^ 0xff;
    fs.writeFileSync(victim, bytes);
    await expect(copy(`oci:${src}:v1`, storeName(dir, 'bad:1'))).rejects.toThrow(
      /digest mismatch|size mismatch/,
    );
    await withStore(dir, (s) => {
      expect(s.listImages()).toEqual([]);
      expect(s.listLayers()).toEqual([]);
    });
    const files = await listFiles(path.join(dir, 'root'));
    expect(files.filter((f) => !f.startsWith('storage.db'))).toEqual([]);
  });

  it('serves a regenerated layer when its blob is not kept, with a manifest describing it', async () => {
    const dir = await tmp.make();
    const img = await buildImage({ compression: 'none', label: 'regen' });
    const src = path.join(dir, 'src');
    await writeOciLayout(src, [{ ref: 'v1', image: img }]);
    await copy(`oci:${src}:v1`, storeName(dir, 'regen:1'));
    // As for a layer committed from a directory: the store has the files but no tar.
    await withStore(dir, (s) => fs.rmSync(s.blobPath(img.layers[0]!.digest)));
    const out = path.join(dir, 'out');
    const r = await copy(storeName(dir, 'regen:1'), `oci:${out}:v1`);
    await verify(`oci:${out}:v1`);
    const m = await readManifest(`oci:${out}:v1`);
    // Both layers are tars (one regenerated); oci: gets them gzipped, as skopeo does.
    expect(m.json.layers.map((l: { mediaType: string }) => l.mediaType)).toEqual([
      'application/vnd.oci.image.layer.v1.tar+gzip',
      'application/vnd.oci.image.layer.v1.tar+gzip',
    ]);
    expect(r.manifestDigest).toBe(digestOf(m.raw));
  });
});

// ---- child processes: crash safety and concurrency ----

let childScript: string;
let childDir: string;

beforeAll(async () => {
  // Bundle the child (TypeScript sources through the "source" condition) next to symlinks to
  // the two native packages, which must load from their own directories.
  childDir = fs.mkdtempSync(path.join(process.env.TMPDIR ?? '/tmp', 'skiff-cs-child-'));
  const here = import.meta.dirname;
  const nm = path.join(childDir, 'node_modules');
  fs.mkdirSync(nm);
  const pkgs = path.join(here, '..', '..');
  for (const [pkg, dep] of [
    ['storage', 'better-sqlite3'],
    ['sys', 'koffi'],
  ] as const) {
    const real = fs.realpathSync(path.join(pkgs, pkg, 'node_modules', dep));
    fs.symlinkSync(real, path.join(nm, dep));
  }
  childScript = path.join(childDir, 'child.mjs');
  await build({
    entryPoints: [path.join(here, 'storage-child.ts')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    conditions: ['source'],
    external: ['better-sqlite3', 'koffi'],
    outfile: childScript,
    banner: {
      js: "import { createRequire as __skiffCreateRequire } from 'node:module'; const require = __skiffCreateRequire(import.meta.url);",
    },
    logLevel: 'silent',
  });
}, 60_000);

afterAll(() => {
  if (childDir) fs.rmSync(childDir, { recursive: true, force: true });
});

interface ChildRun {
  child: ChildProcess;
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; lines: { type: string }[] }>;
}

function runChild(from: string, to: string, dir: string): ChildRun {
  const child = spawn(
    process.execPath,
    [childScript, from, to, path.join(dir, 'root'), path.join(dir, 'run'), 'vfs'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  let err = '';
  child.stdout!.on('data', (c: Buffer) => {
    out += c.toString();
  });
  child.stderr!.on('data', (c: Buffer) => {
    err += c.toString();
  });
  const done = new Promise<{
    code: number | null;
    signal: NodeJS.Signals | null;
    lines: { type: string }[];
  }>((resolve) => {
    child.on('close', (code, signal) => {
      if (code !== 0 && signal === null) console.error(err);
      const lines = out
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => JSON.parse(l) as { type: string });
      resolve({ code, signal, lines });
    });
  });
  return { child, done };
}

/** An image with a few layers big enough that a copy takes a noticeable time. */
async function bigImage(label: string, shared?: Record<string, string>): Promise<BuiltImage> {
  const layers: Record<string, string>[] = [];
  if (shared) layers.push(shared);
  for (let i = 0; i < 3; i++) {
    layers.push({
      [`data/${label}-${i}.bin`]: randomBytes(3 * 1024 * 1024).toString('base64'),
      [`etc/${label}-${i}`]: `${label} ${i}\n`,
    });
  }
  return buildImage({ layers, label });
}

describe('containers-storage: processes', () => {
  it('a copy killed with kill -9 at random points ten times leaves a consistent store', async () => {
    const dir = await tmp.make();
    const img = await bigImage('crash');
    const src = path.join(dir, 'src');
    await writeOciLayout(src, [{ ref: 'v1', image: img }]);
    const to = storeName(dir, 'crash:1');
    // How long a full copy takes, to spread the kills over it.
    const t0 = Date.now();
    const first = await runChild(`oci:${src}:v1`, storeName(dir, 'probe:1'), dir).done;
    expect(first.code).toBe(0);
    const full = Date.now() - t0;
    await withStore(dir, async (s) => {
      await s.removeImage(s.lookupImage('probe:1').id);
    });
    for (let i = 0; i < 10; i++) {
      const run = runChild(`oci:${src}:v1`, to, dir);
      const delay = Math.floor(Math.random() * full);
      await new Promise((r) => setTimeout(r, delay));
      run.child.kill('SIGKILL');
      await run.done;
      await withStore(dir, (s) => {
        expect(s.check(), `after kill ${i} at ${delay} ms`).toEqual([]);
        for (const image of s.listImages()) {
          for (const l of image.layers) expect(s.getLayer(l), `layer ${l}`).toBeDefined();
        }
      });
    }
    const last = await runChild(`oci:${src}:v1`, to, dir).done;
    expect(last.code).toBe(0);
    await verify(to);
    await withStore(dir, async (s) => {
      expect(s.check()).toEqual([]);
      expect(s.lookupImage('crash:1').digest).toBe(img.manifestDigest);
      await s.gc();
      expect(fs.readdirSync(path.join(dir, 'root', 'tmp'))).toEqual([]);
      expect(s.listLayers()).toHaveLength(img.layers.length);
    });
  }, 180_000);

  it('two concurrent copies of one image both succeed and extract each layer once', async () => {
    const dir = await tmp.make();
    const img = await bigImage('twice');
    const src = path.join(dir, 'src');
    await writeOciLayout(src, [{ ref: 'v1', image: img }]);
    // Create the store first so the two children do not race on its creation alone.
    await withStore(dir, () => {});
    const a = runChild(`oci:${src}:v1`, storeName(dir, 'twice:a'), dir);
    const b = runChild(`oci:${src}:v1`, storeName(dir, 'twice:b'), dir);
    const [ra, rb] = await Promise.all([a.done, b.done]);
    expect(ra.code).toBe(0);
    expect(rb.code).toBe(0);
    const extracted = [...ra.lines, ...rb.lines].filter((l) => l.type === 'layer-extract-done');
    expect(extracted).toHaveLength(img.layers.length);
    await withStore(dir, (s) => {
      const one = s.lookupImage('twice:a');
      expect(s.lookupImage('twice:b').id).toBe(one.id);
      expect(s.check()).toEqual([]);
    });
  }, 120_000);

  it('rmi of an image during a copy of another that shares its layers breaks neither', async () => {
    const dir = await tmp.make();
    const shared = { 'base/blob': randomBytes(2 * 1024 * 1024).toString('base64') };
    const first = await bigImage('first', shared);
    const second = await bigImage('second', shared);
    const src = path.join(dir, 'src');
    await writeOciLayout(src, [
      { ref: 'first', image: first },
      { ref: 'second', image: second },
    ]);
    await copy(`oci:${src}:first`, storeName(dir, 'first:1'));
    const run = runChild(`oci:${src}:second`, storeName(dir, 'second:1'), dir);
    // Remove the first image while the second is being copied.
    await new Promise((r) => setTimeout(r, 150));
    await withStore(dir, async (s) => {
      await s.removeImage(s.lookupImage('first:1').id);
    });
    const r = await run.done;
    expect(r.code).toBe(0);
    await withStore(dir, async (s) => {
      expect(s.findImage('first:1')).toBeUndefined();
      const img = s.lookupImage('second:1');
      expect(img.layers).toHaveLength(second.layers.length);
      expect(s.check()).toEqual([]);
      await s.gc();
      expect(s.listLayers()).toHaveLength(second.layers.length);
    });
    await verify(storeName(dir, 'second:1'));
  }, 120_000);
});
