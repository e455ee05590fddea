import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import { openStore, type Store } from '@skiff/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Container,
  type ContainerOptions,
  ContainerRuntime,
  createVolume,
  inspectVolume,
  listVolumes,
  parseVolume,
  pruneVolumes,
  removeVolume,
  volumeMountpoint,
} from '../src/index.js';
import { resolveVolumes } from '../src/volume.js';
import { isRoot, storeWithBusybox } from './helpers.js';

describe('volume API (no root needed)', () => {
  let dir: string;
  let store: Store;
  let rt: ContainerRuntime;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'skiff-vol-unit-'));
    store = openStore({ root: path.join(dir, 'root'), runroot: path.join(dir, 'run') });
    rt = new ContainerRuntime({ store });
  });
  afterAll(() => {
    store?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('creates, lists, inspects (podman shape) and removes volumes', async () => {
    const v = createVolume(store, { name: 'data1', labels: { a: 'b' } });
    expect(v).toMatchObject({
      Name: 'data1',
      Driver: 'local',
      Mountpoint: path.join(store.root, 'volumes', 'data1', '_data'),
      Labels: { a: 'b' },
      Scope: 'local',
      Options: {},
      MountCount: 0,
    });
    expect(Number.isNaN(Date.parse(v.CreatedAt))).toBe(false);
    expect(fs.statSync(v.Mountpoint).isDirectory()).toBe(true);
    expect(() => createVolume(store, { name: 'data1' })).toThrow(/already exists/);
    expect(createVolume(store, { name: 'data1', ignore: true }).CreatedAt).toBe(v.CreatedAt);
    expect(() => createVolume(store, { name: '../x' })).toThrow(/invalid volume name/);
    const anon = createVolume(store);
    expect(anon.Name).toMatch(/^[0-9a-f]{64}$/);
    expect(listVolumes(store).map((x) => x.Name)).toEqual([anon.Name, 'data1'].sort());
    await removeVolume(rt, 'data1');
    expect(() => inspectVolume(store, 'data1')).toThrow(/no such volume/);
    await expect(removeVolume(rt, 'data1')).rejects.toThrow(/no such volume/);
    expect(await pruneVolumes(rt)).toEqual([anon.Name]);
    expect(listVolumes(store)).toEqual([]);
  });

  it("gives -v /path and the image's VOLUME entries anonymous volumes; names are created on first use", () => {
    const opts = resolveVolumes(
      store,
      { mounts: [parseVolume('named1:/data'), parseVolume('/anon')] },
      { config: { Volumes: { '/var/lib/db': {}, '/data': {} } } } as never,
    );
    const mounts = opts.mounts ?? [];
    expect(mounts.map((m) => m.destination)).toEqual(['/data', '/anon', '/var/lib/db']);
    expect(mounts[0]).toMatchObject({ type: 'volume', source: 'named1' });
    expect(mounts[1]!.anonymous).toBe(true);
    expect(mounts[2]!.anonymous).toBe(true);
    expect(inspectVolume(store, 'named1').Name).toBe('named1');
    for (const m of mounts) expect(fs.existsSync(volumeMountpoint(store, m.source!))).toBe(true);
  });
});

const suite = isRoot() ? describe : describe.skip;

suite('volumes in containers (needs root: skipped otherwise)', () => {
  let store: Store;
  let dir: string;
  let rt: ContainerRuntime;
  const created: string[] = [];

  beforeAll(async () => {
    ({ store, dir } = await storeWithBusybox());
    rt = new ContainerRuntime({ store });
  }, 120_000);

  afterAll(async () => {
    for (const id of created) await rt.remove(id, { force: true }).catch(() => undefined);
    store?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  async function run(
    options: ContainerOptions,
  ): Promise<{ out: string; code: number; c: Container }> {
    const c = await rt.create('busybox', options);
    created.push(c.id);
    await rt.start(c.id, { attached: true });
    let out = '';
    const sink = new Writable({
      write(chunk, _e, cb) {
        out += chunk.toString();
        cb();
      },
    });
    const code = await rt.attach(c.id, { stdout: sink, stderr: sink });
    return { out, code, c };
  }

  it('keeps a file in a named volume from one container to the next', async () => {
    const first = await run({
      mounts: [parseVolume('keep:/data')],
      command: ['sh', '-c', 'echo persisted > /data/file && echo ok'],
    });
    expect(first.out).toBe('ok\n');
    expect(inspectVolume(store, 'keep').MountCount).toBe(0);
    const second = await run({
      mounts: [parseVolume('keep:/data:ro')],
      command: ['sh', '-c', 'cat /data/file; touch /data/x 2>/dev/null || echo read-only'],
    });
    expect(second.out).toBe('persisted\nread-only\n');
    await expect(removeVolume(rt, 'keep')).rejects.toThrow(/being used/);
    await removeVolume(rt, 'keep', { force: true });
    expect(() => rt.inspect(first.c.id)).toThrow();
    expect(listVolumes(store).map((v) => v.Name)).not.toContain('keep');
  });

  it("fills a new volume with the image's content at the mount point, owners and modes kept", async () => {
    const { out, code } = await run({
      mounts: [parseVolume('etcvol:/etc')],
      command: ['sh', '-c', 'grep -c root /etc/passwd'],
    });
    expect(code).toBe(0);
    expect(out).toBe('1\n');
    const data = volumeMountpoint(store, 'etcvol');
    const st = fs.statSync(path.join(data, 'passwd'));
    expect(st.mode & 0o777).toBe(0o644);
    expect(st.uid).toBe(0);
    expect(fs.statSync(data).mode & 0o777).toBe(0o755);
    expect(inspectVolume(store, 'etcvol').NeedsCopyUp).toBe(false);
    // Copied once: what the container changes stays.
    fs.writeFileSync(path.join(data, 'marker'), 'x');
    const again = await run({
      mounts: [parseVolume('etcvol:/etc')],
      command: ['cat', '/etc/marker'],
    });
    expect(again.out).toBe('x');
  });

  it('removes an anonymous volume with its --rm container, keeps named ones', async () => {
    const before = new Set(listVolumes(store).map((v) => v.Name));
    const c = await rt.create('busybox', {
      autoRemove: true,
      mounts: [parseVolume('/scratch'), parseVolume('kept:/kept')],
      command: ['sh', '-c', 'echo hi > /scratch/f'],
    });
    const anon = c.options.mounts!.find((m) => m.destination === '/scratch')!.source!;
    expect(anon).toMatch(/^[0-9a-f]{64}$/);
    expect(inspectVolume(store, anon).Anonymous).toBe(true);
    await rt.start(c.id, { attached: true });
    expect(await rt.attach(c.id, {})).toBe(0);
    expect(() => rt.inspect(c.id)).toThrow();
    const after = listVolumes(store).map((v) => v.Name);
    expect(after).not.toContain(anon);
    expect(after).toContain('kept');
    expect(after.filter((n) => !before.has(n))).toEqual(['kept']);
  });
});
