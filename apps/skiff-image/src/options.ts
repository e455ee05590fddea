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

/** Registry settings for one side of a copy. Only docker:// uses them. */
export interface RegistryOptions {
  username?: string;
  password?: string;
  authfile?: string;
  certDir?: string;
  /** undefined: the default (verify). */
  tlsVerify?: boolean;
  retryTimes?: number;
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
): Pick<RegistryOptions, 'username' | 'password'> {
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
