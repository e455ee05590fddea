import { UsageError } from '@skiff/cli-kit';
import { SkiffError } from '@skiff/oci-image';
import type { Store, StoreOptions } from '@skiff/storage';

/** podman's global flags. */
export interface GlobalOptions {
  root?: string;
  runroot?: string;
  storageDriver?: string;
  logLevel?: string;
}

/** Flags of the commands that talk to a registry (pull, push, login). */
export interface RegistryFlags {
  authfile?: string;
  certDir?: string;
  creds?: string;
  tlsVerify?: boolean;
  retry?: string;
  retryDelay?: string;
}

/** podman's exit codes: 125 for a failure of skiff itself, usage errors included. */
export const podmanExitCodes = {
  failure: 125,
  usage: 125,
  interrupted: 130,
  byCode: {} as Record<string, number>,
};

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'warning', 'error', 'fatal', 'panic'];

export function checkLogLevel(level: string | undefined): void {
  if (level !== undefined && !LOG_LEVELS.includes(level)) {
    throw new UsageError(`invalid log level "${level}"`, {
      hint: `use one of ${LOG_LEVELS.filter((l) => l !== 'warning').join(', ')}`,
    });
  }
}

/** The store options that --root, --runroot and --storage-driver set over the defaults. */
export async function storeOptions(globals: GlobalOptions): Promise<StoreOptions> {
  const { defaultStoreOptions } = await import('@skiff/storage');
  const opts: StoreOptions = { ...defaultStoreOptions() };
  if (globals.root) opts.root = globals.root;
  if (globals.runroot) opts.runroot = globals.runroot;
  if (globals.storageDriver) {
    const d = globals.storageDriver === 'overlay2' ? 'overlay' : globals.storageDriver;
    if (d !== 'overlay' && d !== 'vfs') {
      throw new UsageError(`unknown storage driver "${globals.storageDriver}"`, {
        hint: 'use --storage-driver overlay or vfs',
      });
    }
    opts.driver = d;
  }
  return opts;
}

/** Opens the store for one command and closes it afterwards. */
export async function withStore<T>(
  globals: GlobalOptions,
  body: (store: Store) => Promise<T>,
): Promise<T> {
  const { openStore } = await import('@skiff/storage');
  const store = openStore(await storeOptions(globals));
  try {
    return await body(store);
  } finally {
    store.close();
  }
}

/** USERNAME[:PASSWORD] as podman's --creds takes it (the password is prompted for otherwise). */
export function checkCreds(creds: string): string {
  const colon = creds.indexOf(':');
  const user = colon < 0 ? creds : creds.slice(0, colon);
  if (user === '') {
    throw new UsageError('invalid --creds: the username is empty', {
      hint: 'write --creds USERNAME:PASSWORD',
    });
  }
  if (colon < 0) {
    throw new UsageError('--creds needs a password: write USERNAME:PASSWORD');
  }
  return creds;
}

export function parseCount(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) {
    throw new UsageError(`invalid ${flag} "${value}": expected a whole number`);
  }
  return n;
}

/** A Go duration ("2s", "500ms", "1m30s") in milliseconds. */
export function parseDuration(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const units: Record<string, number> = {
    ns: 1e-6,
    us: 1e-3,
    µs: 1e-3,
    ms: 1,
    s: 1000,
    m: 60_000,
    h: 3_600_000,
  };
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/y;
  let total = 0;
  let pos = 0;
  while (pos < text.length) {
    re.lastIndex = pos;
    const m = re.exec(text);
    if (!m) break;
    total += Number(m[1]) * units[m[2]!]!;
    pos = re.lastIndex;
  }
  if (text === '' || pos !== text.length) {
    throw new UsageError(`invalid duration "${text}" for ${flag}`, {
      hint: 'write a number with a unit, e.g. 500ms, 2s or 1m',
    });
  }
  return total;
}

/** The docker:// open options that --authfile, --creds, --cert-dir, --tls-verify, --retry set. */
export function registryOptions(flags: RegistryFlags): {
  authfile?: string;
  certDir?: string;
  creds?: string;
  tlsVerify?: boolean;
  retryTimes?: number;
  retryDelay?: number;
} {
  const out: ReturnType<typeof registryOptions> = {};
  if (flags.authfile !== undefined) out.authfile = flags.authfile;
  if (flags.certDir !== undefined) out.certDir = flags.certDir;
  if (flags.creds !== undefined) out.creds = checkCreds(flags.creds);
  if (flags.tlsVerify !== undefined) out.tlsVerify = flags.tlsVerify;
  const retry = parseCount('--retry', flags.retry);
  if (retry !== undefined) out.retryTimes = retry;
  const delay = parseDuration('--retry-delay', flags.retryDelay);
  if (delay !== undefined) out.retryDelay = delay;
  return out;
}

/** An error for a name that matches no image, worded as podman words it. */
export function imageNotKnown(name: string): SkiffError {
  return new SkiffError('E_IMAGE_NOT_FOUND', `${name}: image not known`);
}
