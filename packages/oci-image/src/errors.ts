/**
 * The one error base class of Skiff. `code` is stable and machine-readable (the CLIs map it to
 * exit codes); `hint` is a sentence telling the user what to do about it.
 */
export class SkiffError extends Error {
  readonly code: string;
  readonly hint: string | undefined;

  constructor(code: string, message: string, options: { hint?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SkiffError';
    this.code = code;
    this.hint = options.hint;
  }
}

/** Error codes shared across packages. Packages may add their own `E_*` codes. */
export const ErrorCode = {
  InvalidReference: 'E_INVALID_REFERENCE',
  InvalidDigest: 'E_INVALID_DIGEST',
  DigestMismatch: 'E_DIGEST_MISMATCH',
  SizeMismatch: 'E_SIZE_MISMATCH',
  InvalidManifest: 'E_INVALID_MANIFEST',
  UnsupportedManifest: 'E_UNSUPPORTED_MANIFEST',
  ManifestUnknown: 'E_MANIFEST_UNKNOWN',
  BlobUnknown: 'E_BLOB_UNKNOWN',
  InvalidPlatform: 'E_INVALID_PLATFORM',
  NoMatchingPlatform: 'E_NO_MATCHING_PLATFORM',
  InvalidLayer: 'E_INVALID_LAYER',
  UnsafePath: 'E_UNSAFE_PATH',
  InvalidTransport: 'E_INVALID_TRANSPORT',
  ImageNotFound: 'E_IMAGE_NOT_FOUND',
  Aborted: 'E_ABORTED',
} as const;

export function isSkiffError(err: unknown, code?: string): err is SkiffError {
  return err instanceof SkiffError && (code === undefined || err.code === code);
}
