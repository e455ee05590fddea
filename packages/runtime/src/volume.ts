import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type ImageConfig, SkiffError } from '@skiff/oci-image';
import type { ContainerRecord, Store } from '@skiff/storage';
import type { ContainerRuntime } from './container.js';
import { RuntimeErrorCode } from './errors.js';
import { writeFileAtomic } from './network.js';
import { run } from './oci.js';
import type { ContainerOptions, MountRequest } from './types.js';
import { resolveInRoot } from './user.js';

/** What `<root>/volumes/<name>/config.json` holds. */
interface VolumeConfig {
  name: string;
  driver: 'local';
  createdAt: string;
  labels: Record<string, string>;
  options: Record<string, string>;
  anonymous: boolean;
  /** Empty and never mounted: the first container copies the image's content in. */
  needsCopyUp: boolean;
}

/** `volume inspect` (podman's shape). */
export interface VolumeInspect {
  Name: string;
  Driver: 'local';
  Mountpoint: string;
  CreatedAt: string;
  Labels: Record<string, string>;
  Scope: 'local';
  Options: Record<string, string>;
  /** Running containers that have it mounted. */
  MountCount: number;
  NeedsCopyUp: boolean;
  Anonymous: boolean;
}

export interface CreateVolumeOptions {
  /** Default: a random 64-hex name. */
  name?: string;
  labels?: Record<string, string>;
  /** `--opt` (kept; the local driver's mount options are not applied yet). */
  options?: Record<string, string>;
  /** `--ignore`: an existing volume of that name is returned. */
  ignore?: boolean;
  anonymous?: boolean;
}

const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

function volumesDir(store: Store): string {
  return path.join(store.root, 'volumes');
}

function volumeDir(store: Store, name: string): string {
  return path.join(volumesDir(store), name);
}

/** The host directory a volume's content lives in. */
export function volumeMountpoint(store: Store, name: string): string {
  return path.join(volumeDir(store, name), '_data');
}

function readConfig(store: Store, name: string): VolumeConfig | undefined {
  if (!NAME_RE.test(name)) return undefined;
  try {
    return JSON.parse(
      fs.readFileSync(path.join(volumeDir(store, name), 'config.json'), 'utf8'),
    ) as VolumeConfig;
  } catch {
    return undefined;
  }
}

function mountsOf(rec: ContainerRecord): MountRequest[] {
  const o = (rec.config as { options?: ContainerOptions }).options;
  return o?.mounts ?? [];
}

/** Ids of the containers whose mounts use the volume. */
export function volumeUsers(store: Store, name: string): string[] {
  return store
    .listContainers()
    .filter((r) => mountsOf(r).some((m) => m.type === 'volume' && m.source === name))
    .map((r) => r.id);
}

function toInspect(store: Store, cfg: VolumeConfig, records?: ContainerRecord[]): VolumeInspect {
  const running = (records ?? store.listContainers()).filter((r) => {
    const status = (r.state as { status?: string }).status;
    return (
      (status === 'running' || status === 'paused') &&
      mountsOf(r).some((m) => m.type === 'volume' && m.source === cfg.name)
    );
  });
  return {
    Name: cfg.name,
    Driver: 'local',
    Mountpoint: volumeMountpoint(store, cfg.name),
    CreatedAt: cfg.createdAt,
    Labels: cfg.labels,
    Scope: 'local',
    Options: cfg.options,
    MountCount: running.length,
    NeedsCopyUp: cfg.needsCopyUp,
    Anonymous: cfg.anonymous,
  };
}

/** `volume create`: `<root>/volumes/<name>/{_data,config.json}`, created exclusively. */
export function createVolume(store: Store, opts: CreateVolumeOptions = {}): VolumeInspect {
  const name = opts.name ?? randomBytes(32).toString('hex');
  if (!NAME_RE.test(name)) {
    throw new SkiffError(
      RuntimeErrorCode.InvalidOption,
      `invalid volume name ${name}: it must match [a-zA-Z0-9][a-zA-Z0-9_.-]*`,
    );
  }
  const dir = volumeDir(store, name);
  fs.mkdirSync(volumesDir(store), { recursive: true, mode: 0o700 });
  try {
    fs.mkdirSync(dir, { mode: 0o700 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    const existing = waitForConfig(store, name);
    if (opts.ignore && existing) return toInspect(store, existing);
    throw new SkiffError(RuntimeErrorCode.VolumeExists, `volume with name ${name} already exists`);
  }
  fs.mkdirSync(path.join(dir, '_data'), { mode: 0o755 });
  const cfg: VolumeConfig = {
    name,
    driver: 'local',
    createdAt: new Date().toISOString(),
    labels: { ...(opts.labels ?? {}) },
    options: { ...(opts.options ?? {}) },
    anonymous: opts.anonymous === true,
    needsCopyUp: true,
  };
  writeFileAtomic(path.join(dir, 'config.json'), `${JSON.stringify(cfg, null, 2)}\n`);
  return toInspect(store, cfg, []);
}

/** Another process made the directory: its config.json follows right after. */
function waitForConfig(store: Store, name: string): VolumeConfig | undefined {
  const until = Date.now() + 2000;
  for (;;) {
    const cfg = readConfig(store, name);
    if (cfg || Date.now() > until) return cfg;
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
  }
}

export function listVolumes(store: Store): VolumeInspect[] {
  let names: string[];
  try {
    names = fs.readdirSync(volumesDir(store));
  } catch {
    return [];
  }
  const records = store.listContainers();
  return names
    .map((n) => readConfig(store, n))
    .filter((c): c is VolumeConfig => c !== undefined)
    .map((c) => toInspect(store, c, records))
    .sort((a, b) => a.Name.localeCompare(b.Name));
}

export function inspectVolume(store: Store, name: string): VolumeInspect {
  const cfg = readConfig(store, name);
  if (!cfg) {
    throw new SkiffError(RuntimeErrorCode.VolumeNotFound, `no such volume ${name}`);
  }
  return toInspect(store, cfg);
}

/** `volume rm`: refuses a volume containers use unless `force` (which removes them first). */
export async function removeVolume(
  rt: ContainerRuntime,
  name: string,
  opts: { force?: boolean } = {},
): Promise<void> {
  const store = rt.store;
  inspectVolume(store, name);
  const users = volumeUsers(store, name);
  if (users.length > 0) {
    if (!opts.force) {
      throw new SkiffError(
        RuntimeErrorCode.VolumeInUse,
        `volume ${name} is being used by the following container(s): ${users.join(', ')}`,
        { hint: 'remove the containers first, or use force' },
      );
    }
    for (const id of users) await rt.remove(id, { force: true });
  }
  await deleteVolume(store, name);
}

async function deleteVolume(store: Store, name: string): Promise<void> {
  const dir = volumeDir(store, name);
  // Rename first so that a half-deleted volume is never seen as a volume.
  const trash = path.join(volumesDir(store), `.rm-${name}-${randomBytes(4).toString('hex')}`);
  try {
    fs.renameSync(dir, trash);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  fs.rmSync(trash, { recursive: true, force: true });
}

/** `volume prune`: removes every volume no container uses; returns their names. */
export async function pruneVolumes(
  rt: ContainerRuntime,
  opts: { filter?: (v: VolumeInspect) => boolean } = {},
): Promise<string[]> {
  const removed: string[] = [];
  for (const v of listVolumes(rt.store)) {
    if (opts.filter && !opts.filter(v)) continue;
    if (volumeUsers(rt.store, v.Name).length > 0) continue;
    await deleteVolume(rt.store, v.Name);
    removed.push(v.Name);
  }
  return removed;
}

/**
 * At create: named volumes are created on first use, `-v /path` and the image's VOLUME
 * entries get anonymous volumes. Returns the options with every volume mount named.
 */
export function resolveVolumes(
  store: Store,
  options: ContainerOptions,
  image: ImageConfig,
): ContainerOptions {
  const mounts: MountRequest[] = [];
  for (const m of options.mounts ?? []) {
    if (m.type !== 'volume') {
      mounts.push(m);
    } else if (m.source) {
      createVolume(store, { name: m.source, ignore: true });
      mounts.push(m);
    } else {
      const v = createVolume(store, { anonymous: true });
      mounts.push({ ...m, source: v.Name, anonymous: true });
    }
  }
  const taken = new Set(mounts.map((m) => path.posix.normalize(m.destination)));
  for (const dest of Object.keys(image.config?.Volumes ?? {})) {
    if (taken.has(path.posix.normalize(dest))) continue;
    const v = createVolume(store, { anonymous: true });
    mounts.push({ type: 'volume', source: v.Name, destination: dest, anonymous: true });
  }
  if (mounts.length === 0 && options.mounts === undefined) return options;
  return { ...options, mounts };
}

/**
 * At start: volume mounts become binds of their `_data`; a volume not mounted before gets the
 * image's content at the mount point (owners and modes kept), as podman's copy-up.
 */
export async function volumeBinds(
  store: Store,
  options: ContainerOptions,
  rootfs: string,
): Promise<ContainerOptions> {
  if (!options.mounts?.some((m) => m.type === 'volume')) return options;
  const mounts: MountRequest[] = [];
  for (const m of options.mounts) {
    if (m.type !== 'volume') {
      mounts.push(m);
      continue;
    }
    const name = m.source ?? '';
    const cfg = readConfig(store, name);
    if (!cfg) {
      throw new SkiffError(RuntimeErrorCode.VolumeNotFound, `no such volume ${name}`);
    }
    const data = volumeMountpoint(store, name);
    if (cfg.needsCopyUp) {
      await copyUp(resolveInRoot(rootfs, m.destination), data);
      writeFileAtomic(
        path.join(volumeDir(store, name), 'config.json'),
        `${JSON.stringify({ ...cfg, needsCopyUp: false }, null, 2)}\n`,
      );
    }
    const { anonymous: _a, ...rest } = m;
    mounts.push({ ...rest, type: 'bind', source: data, options: [...(m.options ?? [])] });
  }
  return { ...options, mounts };
}

async function copyUp(from: string, data: string): Promise<void> {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(from);
  } catch {
    return;
  }
  if (!st.isDirectory()) return;
  if (fs.readdirSync(data).length > 0) return;
  fs.chownSync(data, st.uid, st.gid);
  fs.chmodSync(data, st.mode & 0o7777);
  if (fs.readdirSync(from).length === 0) return;
  // cp -a keeps owners, modes, times, links, xattrs; it never follows the image's symlinks.
  const r = await run('cp', ['-a', '--', `${from}/.`, `${data}/`]);
  if (r.code !== 0) {
    throw new SkiffError(
      RuntimeErrorCode.InvalidOption,
      `copying image content to volume: ${r.stderr}`,
    );
  }
}

/** `rm -v` / `--rm`: the container's anonymous volumes that no other container uses. */
export async function removeAnonymousVolumes(store: Store, mounts: readonly MountRequest[]) {
  for (const m of mounts) {
    if (m.type !== 'volume' || !m.anonymous || !m.source) continue;
    if (volumeUsers(store, m.source).length > 0) continue;
    await deleteVolume(store, m.source);
  }
}
