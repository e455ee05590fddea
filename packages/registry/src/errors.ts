import { ErrorCode, SkiffError } from '@skiff/oci-image';

/** Error codes of the registry package, next to the shared ones of `@skiff/oci-image`. */
export const RegistryErrorCode = {
  Unauthorized: 'E_UNAUTHORIZED',
  Denied: 'E_DENIED',
  TooManyRequests: 'E_TOO_MANY_REQUESTS',
  NameUnknown: 'E_NAME_UNKNOWN',
  ManifestUnknown: ErrorCode.ManifestUnknown,
  BlobUnknown: ErrorCode.BlobUnknown,
  InvalidManifest: ErrorCode.InvalidManifest,
  UnsupportedManifest: ErrorCode.UnsupportedManifest,
  DigestMismatch: ErrorCode.DigestMismatch,
  SizeMismatch: ErrorCode.SizeMismatch,
  Unsupported: 'E_REGISTRY_UNSUPPORTED',
  Unreachable: 'E_REGISTRY_UNREACHABLE',
  Registry: 'E_REGISTRY',
  Blocked: 'E_REGISTRY_BLOCKED',
  InvalidConfig: 'E_INVALID_REGISTRIES_CONF',
  ShortName: 'E_SHORT_NAME',
  Credentials: 'E_CREDENTIALS',
  NotLoggedIn: 'E_NOT_LOGGED_IN',
  Aborted: ErrorCode.Aborted,
} as const;

/** One entry of a registry's `{"errors": [...]}` body. */
export interface RegistryErrorDetail {
  code: string;
  message?: string;
  detail?: unknown;
}

export interface RegistryErrorInit {
  /** What Skiff was doing, e.g. "get manifest", "upload blob". */
  operation: string;
  /** The registry host (host[:port]). */
  registry: string;
  /** The repository and tag/digest concerned, when there is one. */
  reference?: string;
  status?: number;
  errors?: RegistryErrorDetail[];
  retryable?: boolean;
  hint?: string;
  cause?: unknown;
  /** Overrides the code derived from status and registry error codes. */
  code?: string;
  /** Overrides the message derived from the rest. */
  message?: string;
}

// The registry's own error codes (distribution spec) mapped to Skiff's stable codes.
const CODE_BY_REGISTRY_CODE: Record<string, string> = {
  MANIFEST_UNKNOWN: RegistryErrorCode.ManifestUnknown,
  BLOB_UNKNOWN: RegistryErrorCode.BlobUnknown,
  BLOB_UPLOAD_UNKNOWN: RegistryErrorCode.BlobUnknown,
  NAME_UNKNOWN: RegistryErrorCode.NameUnknown,
  UNAUTHORIZED: RegistryErrorCode.Unauthorized,
  DENIED: RegistryErrorCode.Denied,
  TOOMANYREQUESTS: RegistryErrorCode.TooManyRequests,
  MANIFEST_INVALID: RegistryErrorCode.InvalidManifest,
  MANIFEST_BLOB_UNKNOWN: RegistryErrorCode.InvalidManifest,
  MANIFEST_UNVERIFIED: RegistryErrorCode.InvalidManifest,
  TAG_INVALID: RegistryErrorCode.InvalidManifest,
  DIGEST_INVALID: RegistryErrorCode.DigestMismatch,
  SIZE_INVALID: RegistryErrorCode.SizeMismatch,
  UNSUPPORTED: RegistryErrorCode.Unsupported,
};

function codeFor(init: RegistryErrorInit): string {
  if (init.code) return init.code;
  for (const e of init.errors ?? []) {
    const mapped = CODE_BY_REGISTRY_CODE[e.code.toUpperCase()];
    if (mapped) return mapped;
  }
  switch (init.status) {
    case 401:
      return RegistryErrorCode.Unauthorized;
    case 403:
      return RegistryErrorCode.Denied;
    case 429:
      return RegistryErrorCode.TooManyRequests;
    case 404:
      if (/manifest/.test(init.operation)) return RegistryErrorCode.ManifestUnknown;
      if (/blob/.test(init.operation)) return RegistryErrorCode.BlobUnknown;
      return RegistryErrorCode.NameUnknown;
    case 405:
      return RegistryErrorCode.Unsupported;
    case undefined:
      return RegistryErrorCode.Unreachable;
    default:
      return RegistryErrorCode.Registry;
  }
}

const HINTS: Record<string, string> = {
  E_UNAUTHORIZED:
    'log in with "login" or pass credentials (--creds USER:PASS or --authfile); check the user name and password',
  E_DENIED: 'the credentials are valid but lack permission for this repository',
  E_TOO_MANY_REQUESTS: 'the registry is rate limiting; wait and retry, or raise --retry-times',
  E_NAME_UNKNOWN: 'check the repository name',
  E_MANIFEST_UNKNOWN: 'check the tag or digest; list tags with "list-tags"',
  E_REGISTRY_UNREACHABLE:
    'check the registry address and network; for a plain-HTTP registry use --tls-verify=false',
};

export function isRetryableStatus(status: number): boolean {
  return status === 429 || status === 408 || (status >= 500 && status !== 501 && status !== 505);
}

function describeErrors(errors: RegistryErrorDetail[] | undefined): string {
  if (!errors || errors.length === 0) return '';
  return errors
    .map((e) => (e.message ? `${e.code}: ${e.message}` : e.code))
    .slice(0, 4)
    .join('; ');
}

/** A failed registry operation: HTTP status, the registry's error codes, retryability. */
export class RegistryError extends SkiffError {
  readonly status: number | undefined;
  readonly registryCodes: string[];
  readonly errors: RegistryErrorDetail[];
  readonly operation: string;
  readonly registry: string;
  readonly reference: string | undefined;
  readonly retryable: boolean;

  constructor(init: RegistryErrorInit) {
    const code = codeFor(init);
    const what = init.reference ? `${init.registry}/${init.reference}` : init.registry;
    const detail = describeErrors(init.errors);
    let message = init.message;
    if (message === undefined) {
      const statusText =
        init.status === undefined
          ? `registry ${init.registry} unreachable${init.cause instanceof Error ? `: ${init.cause.message}` : ''}`
          : `HTTP ${init.status}`;
      const kind =
        code === RegistryErrorCode.Unauthorized
          ? 'unauthorized'
          : code === RegistryErrorCode.Denied
            ? 'access denied'
            : code === RegistryErrorCode.TooManyRequests
              ? 'too many requests'
              : '';
      message = `${init.operation} ${what}: ${[kind, statusText, detail].filter(Boolean).join(', ')}`;
      if (code === RegistryErrorCode.Unauthorized && !message.includes(init.registry)) {
        message += ` (registry ${init.registry})`;
      }
    }
    super(code, redact(message), {
      hint: init.hint ?? HINTS[code],
      ...(init.cause === undefined ? {} : { cause: init.cause }),
    });
    this.name = 'RegistryError';
    this.status = init.status;
    this.errors = init.errors ?? [];
    this.registryCodes = this.errors.map((e) => e.code);
    this.operation = init.operation;
    this.registry = init.registry;
    this.reference = init.reference;
    this.retryable =
      init.retryable ??
      ((init.status !== undefined && isRetryableStatus(init.status)) ||
        this.registryCodes.includes('TOOMANYREQUESTS'));
  }
}

/** Parses a registry error body; tolerant of anything that is not the spec's JSON. */
export function parseErrorBody(text: string): RegistryErrorDetail[] {
  if (!text) return [];
  try {
    const parsed = JSON.parse(text) as { errors?: unknown; details?: unknown };
    if (Array.isArray(parsed.errors)) {
      return parsed.errors
        .filter((e): e is Record<string, unknown> => typeof e === 'object' && e !== null)
        .map((e) => ({
          code: typeof e.code === 'string' ? e.code : 'UNKNOWN',
          ...(typeof e.message === 'string' ? { message: e.message } : {}),
          ...(e.detail === undefined ? {} : { detail: e.detail }),
        }));
    }
  } catch {
    // not JSON: fall through
  }
  return [];
}

const secrets = new Set<string>();

/** Registers a secret (password, token) that must never appear in an error message. */
export function registerSecret(secret: string | undefined): void {
  if (secret && secret.length >= 4) secrets.add(secret);
}

/** Removes credentials from text: URL user-info, Authorization values, known secrets. */
export function redact(text: string): string {
  let out = text
    .replace(/(\b[a-z][a-z0-9+.-]*:\/\/)[^/@\s:]+(?::[^/@\s]*)?@/gi, '$1***@')
    .replace(/\b(Basic|Bearer)\s+[A-Za-z0-9+/=._~-]{8,}/g, '$1 ***')
    .replace(/([?&](?:_state|access_token|token|password|refresh_token)=)[^&\s"]+/gi, '$1***');
  for (const s of secrets) out = out.split(s).join('***');
  return out;
}
