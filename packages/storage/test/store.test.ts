import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { digestOf, isSkiffError } from '@skiff/oci-image';
import { isRoot } from '@skiff/sys';
import { afterEach, describe, expect, it } from 'vitest';
import {
  chainIdOf,
  chainIds,
  defaultStoreOptions,
  openStore,
  readStorageConf,
  type StoreEvent,
} from '../src/index.js';
import {
  type LayerSpec,
  listTree,
  makeImage,
  makeLayer,
  newStore,
  storeImage,
  TempDirs,
  treeContent,
} from './helpers.js';

const tmp = new TempDirs();
afterEach(() => tmp.cleanup());

const root = isRoot();
const rootOnly = root ? it : it.skip;
const ROOT_REASON = root ? '' : ' (skipped: needs root for overlay mounts)';

describe('blob store', () => {
  it('keeps a blob whose bytes match its digest, atomically, and refuses bad bytes', async () => {
    const dir = tmp.make();
    const store = newStore(dir);
    try {
      const data = Buffer.from('hello blob');
      const digest = digestOf(data);
      const w = store.beginWrite();
      const bad = Buffer.from('hello blob, tampered');
      await expect(
        w.putBlob(Readable.from([bad]), { digest, size: data.length }),
      ).rejects.toSatisfy((e) => isSkiffError(e));
      expect(store.hasBlob(digest)).toBe(false);
      // Nothing half-written stays behind.
      expect(fs.readdirSync(path.join(dir, 'root', 'tmp'))).toEqual([]);
      await w.putBlob(Readable.from([data]), { digest, size: data.length });
      expect(store.hasBlob(digest, data.length)).toBe(true);
      expect(fs.readFileSync(store.blobPath(digest), 'utf8')).toBe('hello blob');
      w.release();
    } finally {
      store.close();
    }
  });

  it('does not trust a stored file of the wrong size and replaces it on the next write', async () => {
    const dir = tmp.make();
    const store = newStore(dir);
    try {
      const data = Buffer.from('0123456789');
      const digest = digestOf(data);
      fs.mkdirSync(path.dirname(store.blobPath(digest)), { recursive: true });
      fs.writeFileSync(store.blobPath(digest), '01234');
      const w = store.beginWrite();
      expect(w.hasBlob(digest, data.length)).toBe(false);
      await w.putBlob(Readable.from([data]), { digest, size: data.length });
      expect(w.hasBlob(digest, data.length)).toBe(true);
      w.release();
    } finally {
      store.close();
    }
  });
});

describe('layers', () => {
  it('computes chain ids as the OCI spec defines them', () => {
    const a = `sha256:${'a'.repeat(64)}`;
    const b = `sha256:${'b'.repeat(64)}`;
    expect(chainIdOf(undefined, a)).toBe('a'.repeat(64));
    const want = createHash('sha256')
      .update(`sha256:${'a'.repeat(64)} ${b}`)
      .digest('hex');
    expect(chainIds([a, b])).toEqual(['a'.repeat(64), want]);
  });

  it('extracts a layer once and reuses it for the next image with the same base', async () => {
    const dir = tmp.make();
    const store = newStore(dir);
    try {
      const base = await makeLayer({ 'etc/os-release': 'skiff\n', 'bin/': '' }, dir);
      const one = await makeImage([base, { 'app/one': '1' }], dir, 'one');
      const two = await makeImage([base, { 'app/two': '2' }], dir, 'two');
      const events: StoreEvent[] = [];
      await storeImage(store, one, ['one'], events);
      await storeImage(store, two, ['two'], events);
      const extracted = events.filter((e) => e.type === 'layer-extract-done');
      expect(extracted).toHaveLength(3);
      expect(events.filter((e) => e.type === 'layer-reused')).toHaveLength(1);
      const layers = store.listLayers();
      expect(layers).toHaveLength(3);
      const baseLayer = store.getLayer(base.diffId.slice(7))!;
      expect(baseLayer.diffId).toBe(base.diffId);
      expect(fs.readFileSync(path.join(baseLayer.path, 'etc/os-release'), 'utf8')).toBe('skiff\n');
      const img = store.getImage(one.id)!;
      expect(img.layers).toEqual(chainIds(one.layers.map((l) => l.diffId)));
      expect(store.getLayer(img.layers[1]!)!.parent).toBe(img.layers[0]);
    } finally {
      store.close();
    }
  });

  it('refuses a layer whose content does not match the config diff id and keeps nothing', async () => {
    const dir = tmp.make();
    const store = newStore(dir);
    try {
      const l = await makeLayer({ a: 'a' }, dir);
      const w = store.beginWrite();
      await w.putBlob(Readable.from([l.blob]), { digest: l.digest });
      const wrong = `sha256:${'0'.repeat(64)}`;
      await expect(
        w.ensureLayer({ parent: undefined, diffId: wrong, blob: { digest: l.digest, size: -1 } }),
      ).rejects.toThrow(/diff id mismatch/);
      w.release({ discard: true });
      expect(store.listLayers()).toEqual([]);
      expect(fs.readdirSync(path.join(dir, 'root', 'layers'))).toEqual([]);
      expect(fs.readdirSync(path.join(dir, 'root', 'tmp'))).toEqual([]);
      expect(store.hasBlob(l.digest)).toBe(false);
    } finally {
      store.close();
    }
  });
});

describe('images', () => {
  it('finds an image by id, id prefix, full name, short name, sha256:id and name@digest', async () => {
    const dir = tmp.make();
    const store = newStore(dir);
    try {
      const img = await makeImage([{ 'bin/busybox': 'bb' }], dir, 'bb');
      await storeImage(store, img, ['docker.io/library/busybox:latest']);
      const other = await makeImage([{ 'x/': '' }], dir, 'other');
      await storeImage(store, other, ['quay.io/team/tool:1.0']);
      const find = (s: string) => store.findImage(s)?.id;
      expect(find(img.id)).toBe(img.id);
      expect(find(img.id.slice(0, 12))).toBe(img.id);
      expect(find(`sha256:${img.id}`)).toBe(img.id);
      expect(find('docker.io/library/busybox:latest')).toBe(img.id);
      expect(find('busybox')).toBe(img.id);
      expect(find('busybox:latest')).toBe(img.id);
      expect(find('library/busybox')).toBe(img.id);
      expect(find(`busybox@${img.manifestDigest}`)).toBe(img.id);
      expect(find(`docker.io/library/busybox@${img.manifestDigest}`)).toBe(img.id);
      expect(find(img.manifestDigest)).toBe(img.id);
      expect(find('tool:1.0')).toBe(other.id);
      expect(find('team/tool:1.0')).toBe(other.id);
      expect(find('busybox:1.36')).toBeUndefined();
      expect(find('nothing')).toBeUndefined();
      expect(() => store.lookupImage('nothing')).toThrow(/image not known/);
      const rec = store.getImage(img.id)!;
      expect(rec.names).toEqual(['docker.io/library/busybox:latest']);
      expect(rec.digest).toBe(img.manifestDigest);
      expect(rec.created.toISOString()).toBe('2024-01-02T03:04:05.000Z');
      expect(Buffer.from(store.imageConfig(img.id))).toEqual(img.configRaw);
      expect(Buffer.from(store.imageManifest(img.id).raw)).toEqual(Buffer.from(img.manifest.raw));
    } finally {
      store.close();
    }
  });

  it('matches a short name stored under localhost/ like podman, and tags and untags', async () => {
    const dir = tmp.make();
    const store = newStore(dir);
    try {
      const img = await makeImage([{ f: '1' }], dir, 'a');
      await storeImage(store, img);
      expect(store.tagImage(img.id, 'myapp')).toBe('localhost/myapp:latest');
      expect(store.findImage('myapp')?.id).toBe(img.id);
      expect(store.tagImage(img.id, 'registry.example:5000/x/y:2')).toBe(
        'registry.example:5000/x/y:2',
      );
      // A name moves: tagging another image with it takes it away from the first.
      const img2 = await makeImage([{ f: '2' }], dir, 'b');
      await storeImage(store, img2, ['localhost/myapp:latest']);
      expect(store.findImage('myapp')?.id).toBe(img2.id);
      expect(store.getImage(img.id)!.names).toEqual(['registry.example:5000/x/y:2']);
      expect(store.untagImage(img.id, 'registry.example:5000/x/y:2')).toEqual([
        'registry.example:5000/x/y:2',
      ]);
      expect(store.getImage(img.id)!.names).toEqual([]);
      // Two images claiming the same short name in different registries: ambiguous.
      store.tagImage(img.id, 'a.example/app:latest');
      store.tagImage(img2.id, 'b.example/app:latest');
      expect(() => store.findImage('app')).toThrow(/several images/);
    } finally {
      store.close();
    }
  });

  it('records several manifest digests for one image', async () => {
    const dir = tmp.make();
    const store = newStore(dir);
    try {
      const img = await makeImage([{ f: '1' }], dir);
      await storeImage(store, img, ['a:1']);
      const json = JSON.parse(Buffer.from(img.manifest.raw).toString());
      json.annotations = { other: 'form' };
      const raw = new Uint8Array(Buffer.from(JSON.stringify(json)));
      const again = { ...img, manifest: { ...img.manifest, raw }, manifestDigest: digestOf(raw) };
      const rec = await storeImage(store, again, ['a:2']);
      expect(rec.id).toBe(img.id);
      expect(rec.digests.sort()).toEqual([img.manifestDigest, again.manifestDigest].sort());
      expect(rec.names.sort()).toEqual(['docker.io/library/a:1', 'docker.io/library/a:2']);
      expect(store.listImages()).toHaveLength(1);
    } finally {
      store.close();
    }
  });

  it('stores shared layers once and removes them only when the last image goes', async () => {
    const dir = tmp.make();
    const store = newStore(dir);
    try {
      const base = await makeLayer({ 'base/file': 'base' }, dir);
      const a = await makeImage([base, { a: 'a' }], dir, 'a');
      const b = await makeImage([base, { b: 'b' }], dir, 'b');
      await storeImage(store, a, ['a']);
      await storeImage(store, b, ['b']);
      const baseId = base.diffId.slice(7);
      expect(store.listLayers().map((l) => l.id)).toContain(baseId);
      const df = await store.df();
      const dfa = df.images.find((i) => i.id === a.id)!;
      expect(dfa.sharedSize).toBeGreaterThan(0);
      expect(dfa.uniqueSize).toBeGreaterThan(0);
      const res = await store.removeImage(a.id);
      expect(res.untagged).toEqual(['docker.io/library/a:latest']);
      expect(store.listLayers()).toHaveLength(2);
      expect(fs.existsSync(path.join(dir, 'root', 'layers', baseId, 'diff', 'base', 'file'))).toBe(
        true,
      );
      expect(store.hasBlob(base.digest)).toBe(true);
      expect(store.hasBlob(a.layers[1]!.digest)).toBe(false);
      await store.removeImage(b.id);
      expect(store.listLayers()).toEqual([]);
      expect(fs.readdirSync(path.join(dir, 'root', 'layers'))).toEqual([]);
      expect(store.hasBlob(base.digest)).toBe(false);
      expect(store.check()).toEqual([]);
    } finally {
      store.close();
    }
  });

  it('prunes dangling images, then all unused with all, leaving no stray files', async () => {
    const dir = tmp.make();
    const store = newStore(dir);
    try {
      const named = await makeImage([{ n: 'n' }], dir, 'named');
      const dangling = await makeImage([{ d: 'd' }], dir, 'dangling');
      await storeImage(store, named, ['named']);
      await storeImage(store, dangling);
      const r1 = await store.pruneImages();
      expect(r1.removed).toEqual([dangling.id]);
      expect(r1.reclaimedBytes).toBeGreaterThan(0);
      expect(store.listImages().map((i) => i.id)).toEqual([named.id]);
      const r2 = await store.pruneImages({ all: true });
      expect(r2.removed).toEqual([named.id]);
      expect(listTree(path.join(dir, 'root', 'layers'))).toEqual([]);
      expect(listTree(path.join(dir, 'root', 'blobs')).filter((p) => p.includes('/'))).toEqual([]);
      expect(listTree(path.join(dir, 'root', 'tmp'))).toEqual([]);
    } finally {
      store.close();
    }
  });

  it('reset empties root and runroot', async () => {
    const dir = tmp.make();
    const store = newStore(dir);
    const img = await makeImage([{ f: 'x' }], dir);
    await storeImage(store, img, ['x']);
    await store.createContainer(img.id, { name: 'c1' });
    await store.reset();
    expect(fs.readdirSync(path.join(dir, 'root'))).toEqual([]);
    expect(fs.readdirSync(path.join(dir, 'run'))).toEqual([]);
    const again = newStore(dir);
    expect(again.listImages()).toEqual([]);
    again.close();
  });
});

describe('crash leftovers', () => {
  it('a writer whose process died leaves nothing that the next open keeps', async () => {
    const dir = tmp.make();
    const store = newStore(dir);
    const img = await makeImage([{ f: 'x' }, { g: 'y' }], dir);
    // Simulate a pull killed mid-way: a lease of a dead process, a claimed layer half
    // extracted in place, a temp blob and a temp dir of that process.
    const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
    const deadPid = Number(child.stdout.toString());
    const db = (store as unknown as { db: import('better-sqlite3').Database }).db;
    db.prepare("INSERT INTO leases(id, pid, start, created) VALUES ('dead', ?, '1', 0)").run(
      deadPid,
    );
    const layerId = img.layers[0]!.diffId.slice(7);
    db.prepare(
      "INSERT INTO layers(id, parent, diff_id, size, created, kind, state, owner) VALUES (?, NULL, ?, 0, 0, 'image', 'extracting', 'dead')",
    ).run(layerId, img.layers[0]!.diffId);
    fs.mkdirSync(path.join(dir, 'root', 'layers', layerId, 'diff'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'root', 'layers', layerId, 'diff', 'half'), 'x');
    fs.writeFileSync(path.join(dir, 'root', 'tmp', `blob-${deadPid}-1-abcdef`), 'partial');
    fs.mkdirSync(path.join(dir, 'root', 'tmp', `layer-${deadPid}-1-abcdef`));
    store.close();

    const reopened = newStore(dir);
    try {
      expect(fs.readdirSync(path.join(dir, 'root', 'tmp'))).toEqual([]);
      expect(fs.existsSync(path.join(dir, 'root', 'layers', layerId))).toBe(false);
      expect(reopened.check()).toEqual([]);
      const events: StoreEvent[] = [];
      await storeImage(reopened, img, ['x'], events);
      expect(events.filter((e) => e.type === 'layer-extract-done')).toHaveLength(2);
      expect(reopened.check()).toEqual([]);
      expect(fs.readdirSync(path.join(reopened.getLayer(layerId)!.path))).toEqual(['f']);
    } finally {
      reopened.close();
    }
  });
});

describe('containers', () => {
  it('creates container records with unique names and updates state atomically', async () => {
    const dir = tmp.make();
    const store = newStore(dir, { driver: 'vfs' });
    try {
      const img = await makeImage([{ 'etc/hostname': 'img\n' }], dir);
      await storeImage(store, img, ['img']);
      const c = await store.createContainer(img.id, { name: 'web', config: { cmd: ['sh'] } });
      expect(c.name).toBe('web');
      await expect(store.createContainer(img.id, { name: 'web' })).rejects.toThrow(/in use/);
      expect(store.lookupContainer('web').id).toBe(c.id);
      expect(store.lookupContainer(c.id.slice(0, 8)).id).toBe(c.id);
      const next = store.updateContainer(c.id, (cur) => ({
        state: { ...cur.state, status: 'running' },
      }));
      expect(next.state).toEqual({ status: 'running' });
      expect(store.getImage(img.id)!.containers).toBe(1);
      await expect(store.removeImage(img.id)).rejects.toThrow(/in use/);
      const rootfs = await store.mountContainer(c.id);
      expect(fs.readFileSync(path.join(rootfs, 'etc/hostname'), 'utf8')).toBe('img\n');
      await store.unmountContainer(c.id);
      const res = await store.removeImage(img.id, { force: true });
      expect(res.removedContainers).toEqual([c.id]);
      expect(store.listContainers()).toEqual([]);
      expect(listTree(path.join(dir, 'root', 'layers'))).toEqual([]);
      expect(listTree(path.join(dir, 'root', 'containers'))).toEqual([]);
    } finally {
      store.close();
    }
  });

  rootOnly(
    `mounts a container rootfs with overlay and writes go to its own layer${ROOT_REASON}`,
    async () => {
      const dir = tmp.make();
      const store = newStore(dir, { driver: 'overlay' });
      try {
        const img = await makeImage([{ 'etc/a': 'a' }, { 'etc/b': 'b' }], dir);
        await storeImage(store, img, ['img']);
        const c = await store.createContainer(img.id);
        const rootfs = await store.mountContainer(c.id);
        expect(store.isContainerMounted(c.id)).toBe(true);
        expect(fs.readdirSync(path.join(rootfs, 'etc')).sort()).toEqual(['a', 'b']);
        fs.writeFileSync(path.join(rootfs, 'etc', 'c'), 'c');
        fs.rmSync(path.join(rootfs, 'etc', 'a'));
        // The image layers are untouched; the change sits in the container's layer.
        expect(fs.readFileSync(path.join(store.containerLayerPath(c.id), 'etc', 'c'), 'utf8')).toBe(
          'c',
        );
        const lowest = store.getLayer(store.getImage(img.id)!.layers[0]!)!;
        expect(fs.existsSync(path.join(lowest.path, 'etc', 'a'))).toBe(true);
        await store.mountContainer(c.id);
        expect(await store.unmountContainer(c.id)).toBe(false);
        expect(await store.unmountContainer(c.id)).toBe(true);
        expect(store.isContainerMounted(c.id)).toBe(false);
        await store.removeContainer(c.id);
        expect(fs.readdirSync(path.join(dir, 'run', 'mounts'))).toEqual([]);
      } finally {
        store.close();
      }
    },
  );
});

describe('rootfs of an image', () => {
  const layers: LayerSpec[] = [
    {
      'etc/keep': 'keep',
      'etc/gone': 'gone',
      'var/cache/': '',
      'var/cache/x': 'x',
      'var/cache/y': 'y',
    },
    { 'etc/gone': null, 'var/cache/*': null, 'var/cache/z': 'z', 'etc/new': 'new' },
  ];
  const expected = {
    etc: 'dir',
    'etc/keep': 'keep',
    'etc/new': 'new',
    var: 'dir',
    'var/cache': 'dir',
    'var/cache/z': 'z',
  };

  rootOnly(
    `an overlay mount shows the merged rootfs with whiteouts applied${ROOT_REASON}`,
    async () => {
      const dir = tmp.make();
      const store = newStore(dir, { driver: 'overlay' });
      try {
        const img = await makeImage(layers, dir);
        await storeImage(store, img, ['wh']);
        const p = await store.mountImage(img.id);
        try {
          expect(treeContent(p)).toEqual(expected);
        } finally {
          await store.unmountImage(img.id);
        }
        expect(fs.existsSync(p)).toBe(false);
      } finally {
        store.close();
      }
    },
  );

  it('a vfs copy equals the overlay view', async () => {
    const dir = tmp.make();
    const store = newStore(dir, { driver: 'vfs' });
    try {
      const img = await makeImage(layers, dir);
      await storeImage(store, img, ['wh']);
      const p = await store.mountImage(img.id);
      const content = treeContent(p);
      delete content['.skiff-complete'];
      expect(content).toEqual(expected);
      await store.unmountImage(img.id);
      expect(fs.existsSync(p)).toBe(false);
    } finally {
      store.close();
    }
  });
});

describe('options', () => {
  it('chooses paths like podman and honours storage.conf and SKIFF_STORAGE_DRIVER', () => {
    const dir = tmp.make();
    const conf = path.join(dir, 'storage.conf');
    fs.writeFileSync(
      conf,
      '[storage]\ndriver = "vfs" # comment\ngraphroot = "/srv/skiff"\nrunroot = "/run/x"\n',
    );
    expect(readStorageConf(conf)).toEqual({ driver: 'vfs', root: '/srv/skiff', runroot: '/run/x' });
    const d = defaultStoreOptions({ SKIFF_STORAGE_CONF: path.join(dir, 'none'), HOME: dir });
    if (root) expect(d).toMatchObject({ root: '/var/lib/skiff', runroot: '/run/skiff' });
    else expect(d.root).toBe(path.join(dir, '.local', 'share', 'skiff'));
    const e = defaultStoreOptions({ SKIFF_STORAGE_CONF: conf, SKIFF_STORAGE_DRIVER: 'overlay' });
    expect(e).toMatchObject({ root: '/srv/skiff', runroot: '/run/x', driver: 'overlay' });
  });

  it('keeps the driver a store was created with', () => {
    const dir = tmp.make();
    const s = newStore(dir, { driver: 'vfs' });
    expect(s.driver).toBe('vfs');
    s.close();
    expect(() => newStore(dir, { driver: 'overlay' })).toThrow(/uses the vfs driver/);
    const again = openStore({ root: path.join(dir, 'root'), runroot: path.join(dir, 'run') });
    expect(again.driver).toBe('vfs');
    again.close();
  });
});
