import { SkiffError } from '@skiff/oci-image';

/** Flags every command accepts (skopeo's global flags). */
export interface GlobalOptions {
  commandTimeout?: string;
  debug?: boolean;
  insecurePolicy?: boolean;
  overrideArch?: string;
  overrideOs?: string;
  overrideVariant?: string;
  tmpdir?: string;
}

/**
 * Registry flags of one side of a command, as commander parses them (`--creds`,
 * `--username`/`--password`, `--no-creds`, `--authfile`, `--cert-dir`, `--tls-verify`,
 * `--retry-times`), already stripped of a `--src-`/`--dest-` prefix.
 */
export interface RegistryFlags {
  creds?: string | undefined;
  username?: string | undefined;
  password?: string | undefined;
  /** true with --no-creds (or --src-no-creds / --dest-no-creds). */
  noCreds?: boolean | undefined;
  authfile?: string | undefined;
  certDir?: string | undefined;
  tlsVerify?: boolean | undefined;
  retryTimes?: string | number | undefined;
}

/**
 * What commander gives for a command with `--creds <v>` and `--no-creds`: `creds` is the
 * string, or false after --no-creds.
 */
export interface CommanderRegistryFlags {
  creds?: string | false;
  username?: string;
  password?: string;
  authfile?: string;
  certDir?: string;
  tlsVerify?: boolean;
  retryTimes?: string;
}

/** The registry options of a command with unprefixed flags (inspect, list-tags, delete). */
export function commandRegistryOptions(opts: CommanderRegistryFlags): RegistryOpenOptions {
  return registryOpenOptions('', {
    creds: typeof opts.creds === 'string' ? opts.creds : undefined,
    noCreds: opts.creds === false,
    username: opts.username,
    password: opts.password,
    authfile: opts.authfile,
    certDir: opts.certDir,
    tlsVerify: opts.tlsVerify,
    retryTimes: opts.retryTimes,
  });
}

/**
 * The registry flags of a command that reads from one registry and writes to another (copy,
 * sync), as commander parses them: `--src-*` and `--dest-*`, with `--authfile` for both.
 */
export interface SourceAndDestRegistryFlags {
  authfile?: string;
  srcAuthfile?: string;
  destAuthfile?: string;
  srcCreds?: string;
  destCreds?: string;
  srcUsername?: string;
  destUsername?: string;
  srcPassword?: string;
  destPassword?: string;
  srcNoCreds?: boolean;
  destNoCreds?: boolean;
  srcCertDir?: string;
  destCertDir?: string;
  srcTlsVerify?: boolean;
  destTlsVerify?: boolean;
  retryTimes?: string;
}

/** One side's registry options (--src-* or --dest-*, with --authfile as the fallback file). */
export function registrySide(
  side: 'src' | 'dest',
  flags: SourceAndDestRegistryFlags,
): RegistryOpenOptions {
  const src = side === 'src';
  return registryOpenOptions(`${side}-`, {
    creds: src ? flags.srcCreds : flags.destCreds,
    username: src ? flags.srcUsername : flags.destUsername,
    password: src ? flags.srcPassword : flags.destPassword,
    noCreds: src ? flags.srcNoCreds : flags.destNoCreds,
    authfile: (src ? flags.srcAuthfile : flags.destAuthfile) ?? flags.authfile,
    certDir: src ? flags.srcCertDir : flags.destCertDir,
    tlsVerify: src ? flags.srcTlsVerify : flags.destTlsVerify,
    retryTimes: flags.retryTimes,
  });
}

/** The docker:// transport's open options that registry flags set (see @skiff/transports). */
export interface RegistryOpenOptions {
  creds?: string;
  password?: string;
  noCreds?: boolean;
  authfile?: string;
  certDir?: string;
  tlsVerify?: boolean;
  retryTimes?: number;
}

/**
 * Turns one side's registry flags into the transport's options, refusing the combinations
 * skopeo refuses. `prefix` is "" or "src-"/"dest-", for messages.
 */
export function registryOpenOptions(prefix: string, flags: RegistryFlags): RegistryOpenOptions {
  const out: RegistryOpenOptions = {};
  const credsFlag = `--${prefix}creds`;
  if (flags.creds !== undefined && (flags.username !== undefined || flags.password !== undefined)) {
    throw new SkiffError(
      'E_USAGE',
      `${credsFlag} and --${prefix}username/--${prefix}password are mutually exclusive`,
    );
  }
  if (flags.noCreds && (flags.creds !== undefined || flags.username !== undefined)) {
    throw new SkiffError(
      'E_USAGE',
      `--${prefix}no-creds and ${credsFlag} or --${prefix}username cannot be used together`,
    );
  }
  if (flags.creds !== undefined) {
    const c = parseCreds(credsFlag, flags.creds);
    if (c.password === undefined) {
      throw new SkiffError('E_USAGE', `${credsFlag} needs a password: write USERNAME:PASSWORD`);
    }
    out.creds = `${c.username}:${c.password}`;
  } else if (flags.username !== undefined || flags.password !== undefined) {
    if (!flags.username || flags.password === undefined) {
      throw new SkiffError(
        'E_USAGE',
        `--${prefix}username and --${prefix}password must be given together`,
      );
    }
    out.creds = flags.username;
    out.password = flags.password;
  }
  if (flags.noCreds) out.noCreds = true;
  if (flags.authfile !== undefined) out.authfile = flags.authfile;
  if (flags.certDir !== undefined) out.certDir = flags.certDir;
  if (flags.tlsVerify !== undefined) out.tlsVerify = flags.tlsVerify;
  const retryTimes = parseRetryTimes(flags.retryTimes);
  if (retryTimes !== undefined) out.retryTimes = retryTimes;
  return out;
}

const UNITS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/** Parses a Go duration such as "30s", "1m30s" or "500ms" into milliseconds. */
export function parseDuration(text: string): number {
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/y;
  let total = 0;
  let pos = 0;
  while (pos < text.length) {
    re.lastIndex = pos;
    const m = re.exec(text);
    if (!m) break;
    total += Number(m[1]) * UNITS[m[2]!]!;
    pos = re.lastIndex;
  }
  if (text === '' || pos !== text.length) {
    throw new SkiffError('E_USAGE', `invalid duration "${text}" for --command-timeout`, {
      hint: 'write a number with a unit, e.g. 30s, 5m or 1h30m',
    });
  }
  return total;
}

/** Adds --command-timeout to the signal that interrupts the command. */
export function withTimeout(signal: AbortSignal, timeout: string | undefined): AbortSignal {
  if (timeout === undefined) return signal;
  const ms = parseDuration(timeout);
  if (ms <= 0) return signal;
  return AbortSignal.any([signal, AbortSignal.timeout(ms)]);
}

export function timeoutError(timeout: string | undefined): SkiffError {
  return new SkiffError('E_TIMEOUT', `command timed out after ${timeout}`, {
    hint: 'raise --command-timeout or leave it out',
  });
}

/** USERNAME[:PASSWORD] as skopeo's --creds flags take it. */
export function parseCreds(
  flag: string,
  value: string | undefined,
): { username?: string; password?: string } {
  if (value === undefined) return {};
  const colon = value.indexOf(':');
  const username = colon < 0 ? value : value.slice(0, colon);
  if (username === '') {
    throw new SkiffError('E_USAGE', `invalid ${flag}: the username is empty`, {
      hint: `write ${flag} USERNAME[:PASSWORD]`,
    });
  }
  return colon < 0 ? { username } : { username, password: value.slice(colon + 1) };
}

export function parseRetryTimes(value: unknown): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) {
    throw new SkiffError(
      'E_USAGE',
      `invalid --retry-times "${String(value)}": expected a whole number`,
    );
  }
  return n;
}
