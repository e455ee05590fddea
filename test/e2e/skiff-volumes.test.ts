// skiff's named and anonymous volumes for real with the built CLI and its own store: a named
// volume persisting a file between two containers, anonymous volumes removed by --rm and
// rm -v, inspect's Mounts, and the `volume` commands' output. Root only (runc, mounts).
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createSkiffTestStore, type Run, type SkiffTestStore, stdoutOf } from '../lib/cli.js';

const isRoot = process.getuid?.() === 0;
const tag = randomBytes(3).toString('hex');
const n = (name: string) => `${name}-${tag}`;
let store: SkiffTestStore;
let image: string;

function skiff(...args: string[]): Promise<Run> {
  return store.skiff(args);
}

async function volumeNames(): Promise<string[]> {
  return (await stdoutOf(skiff('volume', 'ls', '-q'))).split('\n').filter(Boolean);
}

beforeAll(async () => {
  if (!isRoot) return;
  store = await createSkiffTestStore('skiff-vol-e2e', inject('baseImageLayout'), `busybox-${tag}`);
  image = store.image;
});

afterAll(async () => {
  if (!store) return;
  await skiff('rm', '-a', '-f');
  await skiff('volume', 'rm', '-a', '-f');
  await store.remove();
});

// --network none: these tests are about storage, and it keeps them quick.
const run = (...args: string[]) => skiff('run', '--network', 'none', ...args);

describe.skipIf(!isRoot)('skiff volumes (skipped: runc containers need root)', () => {
  it('a named volume keeps a file between two containers; inspect shows its mount', async () => {
    expect(
      await stdoutOf(
        run('--rm', '-v', `${n('data')}:/data`, image, 'sh', '-c', 'echo kept > /data/f'),
      ),
    ).toBe('');
    expect(
      await stdoutOf(run('--rm', '-v', `${n('data')}:/data:ro`, image, 'cat', '/data/f')),
    ).toBe('kept\n');
    const ro = await run(
      '--rm',
      '-v',
      `${n('data')}:/data:ro`,
      image,
      'sh',
      '-c',
      'echo x > /data/g',
    );
    expect(ro.code).not.toBe(0);
    expect(ro.stderr).toMatch(/Read-only file system/);
    const mountpoint = (
      await stdoutOf(skiff('volume', 'inspect', '--format', '{{.Mountpoint}}', n('data')))
    ).trim();
    expect(await readFile(join(mountpoint, 'f'), 'utf8')).toBe('kept\n');

    // --mount type=volume reaches the same volume.
    expect(
      await stdoutOf(
        run('--rm', '--mount', `type=volume,source=${n('data')},target=/m`, image, 'cat', '/m/f'),
      ),
    ).toBe('kept\n');

    await stdoutOf(
      skiff('create', '--name', n('holder'), '-v', `${n('data')}:/data:ro`, image, 'true'),
    );
    const [c] = JSON.parse(await stdoutOf(skiff('inspect', n('holder')))) as {
      Mounts: Record<string, unknown>[];
      HostConfig: { Binds: string[] };
    }[];
    expect(c!.Mounts).toEqual([
      {
        Type: 'volume',
        Name: n('data'),
        Source: mountpoint,
        Destination: '/data',
        Driver: 'local',
        Mode: '',
        Options: ['nosuid', 'nodev', 'rbind'],
        RW: false,
        Propagation: 'rprivate',
      },
    ]);
    expect(c!.HostConfig.Binds).toEqual([`${n('data')}:/data:ro,rprivate,nosuid,nodev,rbind`]);
    // In use: rm refuses (exit 2), rm -f removes the container too.
    const inUse = await skiff('volume', 'rm', n('data'));
    expect(inUse.code).toBe(2);
    expect(inUse.stderr).toContain('volume is being used');
    expect(await stdoutOf(skiff('volume', 'rm', '-f', n('data')))).toBe(`${n('data')}\n`);
    expect((await skiff('inspect', n('holder'))).code).toBe(125);
  });

  it('--rm and rm -v remove anonymous volumes; rm alone keeps them', async () => {
    const before = await volumeNames();
    await stdoutOf(run('--rm', '-v', '/anon', image, 'sh', '-c', 'echo x > /anon/x'));
    expect(await volumeNames()).toEqual(before);

    await stdoutOf(run('--name', n('anon1'), '-v', '/anon', image, 'true'));
    const added = (await volumeNames()).filter((v) => !before.includes(v));
    expect(added).toHaveLength(1);
    expect(added[0]).toMatch(/^[0-9a-f]{64}$/);
    const anon = JSON.parse(await stdoutOf(skiff('volume', 'inspect', added[0]!))) as {
      Anonymous?: boolean;
    }[];
    expect(anon[0]!.Anonymous).toBe(true);
    await stdoutOf(skiff('rm', '-v', n('anon1')));
    expect(await volumeNames()).toEqual(before);

    await stdoutOf(run('--name', n('anon2'), '-v', '/anon', image, 'true'));
    await stdoutOf(skiff('rm', n('anon2')));
    const kept = (await volumeNames()).filter((v) => !before.includes(v));
    expect(kept).toHaveLength(1);
    expect(await stdoutOf(skiff('volume', 'rm', kept[0]!))).toBe(`${kept[0]}\n`);
  });

  it("volume create/ls/inspect/exists/rm/prune print podman's output", async () => {
    expect(
      await stdoutOf(
        skiff('volume', 'create', '--label', 'suite=volumes', '--opt', 'o=x', n('labelled')),
      ),
    ).toBe(`${n('labelled')}\n`);
    expect(await stdoutOf(skiff('volume', 'create', n('plain')))).toBe(`${n('plain')}\n`);
    const dup = await skiff('volume', 'create', n('plain'));
    expect(dup).toMatchObject({
      code: 125,
      stderr: `Error: volume with name ${n('plain')} already exists: volume already exists\n`,
    });
    const table = await stdoutOf(skiff('volume', 'ls'));
    expect(table.split('\n')[0]).toMatch(/^DRIVER\s+VOLUME NAME$/);
    expect(table).toMatch(new RegExp(`^local\\s+${n('labelled')}$`, 'm'));
    expect(
      await stdoutOf(
        skiff(
          'volume',
          'ls',
          '--filter',
          'label=suite=volumes',
          '--format',
          '{{.Name}} {{.Driver}} {{.Labels}}',
        ),
      ),
    ).toBe(`${n('labelled')} local map[suite:volumes]\n`);
    expect(await stdoutOf(skiff('volume', 'ls', '-q', '--filter', `name=${n('plain')}`))).toBe(
      `${n('plain')}\n`,
    );
    const listed = await stdoutOf(skiff('volume', 'ls', '--format', 'json'));
    // podman 4.3 writes empty maps in list JSON as a brace, an indented blank line and a brace.
    expect(listed).toContain('    "Labels": {\n      \n    },');
    expect((JSON.parse(listed) as { Name: string }[]).map((v) => v.Name)).toEqual(
      expect.arrayContaining([n('labelled'), n('plain')]),
    );

    const inspected = await stdoutOf(skiff('volume', 'inspect', n('labelled')));
    expect(inspected.startsWith('[\n     {\n          "Name": ')).toBe(true);
    const [v] = JSON.parse(inspected) as Record<string, unknown>[];
    expect(Object.keys(v!)).toEqual([
      'Name',
      'Driver',
      'Mountpoint',
      'CreatedAt',
      'Labels',
      'Scope',
      'Options',
      'MountCount',
      'NeedsCopyUp',
      'NeedsChown',
    ]);
    expect(v).toMatchObject({
      Name: n('labelled'),
      Driver: 'local',
      Mountpoint: join(store.work, 'store', 'volumes', n('labelled'), '_data'),
      Labels: { suite: 'volumes' },
      Scope: 'local',
      Options: { o: 'x' },
      MountCount: 0,
    });
    expect((await skiff('volume', 'exists', n('plain'))).code).toBe(0);
    expect((await skiff('volume', 'exists', n('nope'))).code).toBe(1);
    const missing = await skiff('volume', 'inspect', n('nope'));
    expect(missing).toMatchObject({
      code: 125,
      stdout: '[]\n',
      stderr: `Error: inspecting object: no such volume ${n('nope')}\n`,
    });
    const rmMissing = await skiff('volume', 'rm', n('nope'));
    expect(rmMissing).toMatchObject({
      code: 1,
      stderr: `Error: no volume with name "${n('nope')}" found: no such volume\n`,
    });

    // prune keeps volumes that containers use.
    await stdoutOf(skiff('create', '--name', n('user'), '-v', `${n('plain')}:/p`, image, 'true'));
    const pruned = (await stdoutOf(skiff('volume', 'prune', '-f'))).split('\n');
    expect(pruned).toContain(n('labelled'));
    expect(pruned).not.toContain(n('plain'));
    expect(await volumeNames()).toContain(n('plain'));
    await stdoutOf(skiff('rm', n('user')));
    expect(await stdoutOf(skiff('volume', 'rm', n('plain')))).toBe(`${n('plain')}\n`);
  });
});
