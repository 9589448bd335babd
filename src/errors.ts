/**
 * Every failure wharf reports is a WharfError: a stable machine-readable `code`, a one-line message that says
 * what went wrong, and a `hint` that says what to do about it. The CLI prints `message` and `hint`, never a stack.
 */
export type ErrorCode =
  | 'INVALID_REFERENCE'
  | 'UNKNOWN_TRANSPORT'
  | 'INVALID_DIGEST'
  | 'DIGEST_MISMATCH'
  | 'SIZE_MISMATCH'
  | 'MANIFEST_INVALID'
  | 'MANIFEST_UNSUPPORTED'
  | 'MANIFEST_UNKNOWN'
  | 'CONFIG_INVALID'
  | 'BLOB_UNKNOWN'
  | 'IMAGE_NOT_FOUND'
  | 'PLATFORM_NOT_FOUND'
  | 'TOO_LARGE'
  | 'LAYOUT_INVALID'
  | 'ARCHIVE_INVALID'
  | 'TAR_INVALID'
  | 'UNSUPPORTED'
  | 'CONVERSION_UNSUPPORTED'
  | 'COMPRESSION_UNAVAILABLE'
  | 'DESTINATION_EXISTS'
  | 'LOCK_TIMEOUT'
  | 'IO_ERROR'
  | 'ABORTED'
  | 'LAYER_INVALID'
  /** A path asked for (wharf extract --path) is not in the image (or the layer). */
  | 'PATH_NOT_FOUND'
  | 'USAGE'
  // registry-client/: the distribution API over HTTP
  | 'AUTH_FAILED'
  | 'DENIED'
  | 'NETWORK_ERROR'
  | 'TIMEOUT'
  | 'REGISTRY_ERROR'
  | 'TOO_MANY_REDIRECTS'
  | 'RATE_LIMITED'
  // config/: auth.json, registries.conf, certs.d
  | 'AUTH_FILE_INVALID'
  | 'CREDENTIAL_HELPER_FAILED'
  | 'REGISTRIES_CONF_INVALID'
  | 'REGISTRY_BLOCKED'
  | 'CERTS_INVALID'
  // server/: `wharf serve` configuration (access rules, htpasswd, token keys)
  | 'SERVER_CONFIG_INVALID'
  // scan/: the databases and files the scanners read out of an image
  /** An rpm database (rpmdb.sqlite, Packages, Packages.db) or a header in it is damaged or not what its name says. */
  | 'RPMDB_INVALID'
  /** A package version that its package manager's grammar rejects (dpkg, apk, rpm, npm semver, PEP 440). */
  | 'VERSION_INVALID';

export interface WharfErrorOptions {
  hint?: string;
  cause?: unknown;
  retryable?: boolean;
}

export class WharfError extends Error {
  override readonly name: string = 'WharfError';
  readonly code: ErrorCode;
  readonly hint: string | undefined;
  readonly retryable: boolean;

  constructor(code: ErrorCode, message: string, options: WharfErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.hint = options.hint;
    this.retryable = options.retryable ?? false;
  }
}

/** A blob or manifest whose bytes do not match what its descriptor promised. */
export class DigestMismatchError extends WharfError {
  override readonly name = 'DigestMismatchError';
  constructor(
    readonly expected: string,
    readonly actual: string,
    where: string,
  ) {
    super('DIGEST_MISMATCH', `${where}: content has digest ${actual}, expected ${expected}`, {
      hint: 'the source is corrupt or was modified; nothing was written to the destination',
    });
  }
}

/** Something asked for (blob, manifest, tag, image in an archive) is not where it should be. */
export class NotFoundError extends WharfError {
  override readonly name = 'NotFoundError';
}

/** Wrap any error that is not already a WharfError, keeping it as the cause. */
export function asWharfError(err: unknown, code: ErrorCode = 'IO_ERROR', context?: string): WharfError {
  if (err instanceof WharfError) return err;
  const e = err as NodeJS.ErrnoException;
  if (e?.name === 'AbortError') return new WharfError('ABORTED', 'operation aborted', { cause: err });
  const detail = e?.code && e.path ? `${e.code}: ${e.path}` : (e?.message ?? String(err));
  return new WharfError(code, context ? `${context}: ${detail}` : detail, { cause: err });
}
