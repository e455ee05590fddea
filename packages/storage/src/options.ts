import { readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ErrorCode, SkiffError } from '@skiff/oci-image';
import { isRoot } from '@skiff/sys';
import type { StorageDriver, StoreOptions } from './types.js';

export function isStorageDriver(s: unknown): s is StorageDriver {
  return s === 'overlay' || s === 'vfs';
}

export function checkDriver(s: string, where: string): StorageDriver {
  // podman's "overlay2" alias.
  const d = s === 'overlay2' ? 'overlay' : s;
  if (!isStorageDriver(d)) {
    throw new SkiffError(
      StorageErrorCode.Driver,
      `unknown storage driver "${s}" (${where}): use overlay or vfs`,
    );
  }
  return d;
}

export const StorageErrorCode = {
  ImageNotFound: ErrorCode.ImageNotFound,
  AmbiguousImage: 'E_AMBIGUOUS_IMAGE',
  ImageInUse: 'E_IMAGE_IN_USE',
  ContainerNotFound: 'E_CONTAINER_NOT_FOUND',
  AmbiguousContainer: 'E_AMBIGUOUS_CONTAINER',
  NameInUse: 'E_NAME_IN_USE',
  Driver: 'E_STORAGE_DRIVER',
  LayerUnknown: 'E_LAYER_UNKNOWN',
  Corrupt: 'E_STORE_CORRUPT',
  Mount: 'E_MOUNT',
} as const;

/** The `[storage]` table of a storage.conf: driver, graphroot, runroot (a small TOML subset). */
export function readStorageConf(file: string): Partial<StoreOptions> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return {};
  }
  const out: Partial<StoreOptions> = {};
  let table = '';
  for (const raw of text.split('\n')) {
    const line = raw.replace(/(^|\s)#.*$/, '').trim();
    if (line === '') continue;
    const t = /^\[([^\]]+)\]$/.exec(line);
    if (t) {
      table = t[1]!.trim();
      continue;
    }
    if (table !== 'storage') continue;
    const kv = /^([A-Za-z_]+)\s*=\s*(?:"([^"]*)"|'([^']*)')$/.exec(line);
    if (!kv) continue;
    const value = kv[2] ?? kv[3] ?? '';
    if (kv[1] === 'driver' && value !== '') out.driver = checkDriver(value, file);
    else if (kv[1] === 'graphroot' && value !== '') out.root = value;
    else if (kv[1] === 'runroot' && value !== '') out.runroot = value;
  }
  return out;
}

/**
 * Where the store lives, as podman decides it: root /var/lib/skiff + /run/skiff; rootless
 * $XDG_DATA_HOME/skiff + $XDG_RUNTIME_DIR/skiff. A storage.conf (SKIFF_STORAGE_CONF, else
 * ~/.config/skiff/storage.conf for rootless, /etc/skiff/storage.conf) and SKIFF_STORAGE_DRIVER
 * override.
 */
export function defaultStoreOptions(env: NodeJS.ProcessEnv = process.env): StoreOptions {
  const rootless = !isRoot();
  const home = env.HOME || os.homedir();
  let root: string;
  let runroot: string;
  if (rootless) {
    const data = env.XDG_DATA_HOME || path.join(home, '.local', 'share');
    root = path.join(data, 'skiff');
    const uid = process.getuid?.() ?? 0;
    const run = env.XDG_RUNTIME_DIR || path.join(os.tmpdir(), `skiff-run-${uid}`);
    runroot = path.join(run, 'skiff');
  } else {
    root = '/var/lib/skiff';
    runroot = '/run/skiff';
  }
  const confFile =
    env.SKIFF_STORAGE_CONF ||
    (rootless
      ? path.join(env.XDG_CONFIG_HOME || path.join(home, '.config'), 'skiff', 'storage.conf')
      : '/etc/skiff/storage.conf');
  const conf = readStorageConf(confFile);
  const out: StoreOptions = {
    root: conf.root ?? root,
    runroot: conf.runroot ?? runroot,
    rootless,
  };
  const driver = env.SKIFF_STORAGE_DRIVER
    ? checkDriver(env.SKIFF_STORAGE_DRIVER, 'SKIFF_STORAGE_DRIVER')
    : conf.driver;
  if (driver) out.driver = driver;
  return out;
}
