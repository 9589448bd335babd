/** Exit codes of the `wharf` command, the same for every subcommand, and how errors map to them. */
import type { ErrorCode } from '../errors.js';
import { WharfError } from '../errors.js';

export const ExitCode = {
  /** Success. */
  OK: 0,
  /** The operation failed (I/O, invalid or unsupported content, destination exists, …). */
  FAILED: 1,
  /** The command line is wrong: unknown command or flag, missing value or operand, malformed reference. */
  USAGE: 2,
  /** What was asked for does not exist: image, tag, manifest, blob, platform in an index, or a path in an image. */
  NOT_FOUND: 3,
  /** Content does not match its digest or size: the source is corrupt or was tampered with. */
  INTEGRITY: 4,
  /** The registry refused the credentials (or there were none) or denied access; or not logged in (logout, login --get-login). */
  AUTH: 5,
  /** Interrupted by Ctrl-C (SIGINT); nothing half-written is left at the destination. */
  INTERRUPTED: 130,
  /** Terminated by SIGTERM. */
  TERMINATED: 143,
} as const;

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/** The error codes with an exit code other than FAILED. */
const BY_CODE: Partial<Record<ErrorCode, ExitCodeValue>> = {
  USAGE: ExitCode.USAGE,
  INVALID_REFERENCE: ExitCode.USAGE,
  UNKNOWN_TRANSPORT: ExitCode.USAGE,
  IMAGE_NOT_FOUND: ExitCode.NOT_FOUND,
  BLOB_UNKNOWN: ExitCode.NOT_FOUND,
  MANIFEST_UNKNOWN: ExitCode.NOT_FOUND,
  PLATFORM_NOT_FOUND: ExitCode.NOT_FOUND,
  PATH_NOT_FOUND: ExitCode.NOT_FOUND,
  DIGEST_MISMATCH: ExitCode.INTEGRITY,
  SIZE_MISMATCH: ExitCode.INTEGRITY,
  LAYER_INVALID: ExitCode.INTEGRITY,
  ABORTED: ExitCode.INTERRUPTED,
  AUTH_FAILED: ExitCode.AUTH,
  DENIED: ExitCode.AUTH,
};

export function exitCodeForCode(code: ErrorCode): ExitCodeValue {
  return BY_CODE[code] ?? ExitCode.FAILED;
}

/** The exit code for anything thrown: WharfErrors by their code, an AbortError as interrupted, the rest as failed. */
export function exitCodeFor(err: unknown): ExitCodeValue {
  if (err instanceof WharfError) return exitCodeForCode(err.code);
  if ((err as { name?: unknown })?.name === 'AbortError') return ExitCode.INTERRUPTED;
  return ExitCode.FAILED;
}

/** The table printed by `wharf --help` and every command's help. */
export const EXIT_CODES_HELP = `Exit codes:
  0    success
  1    the operation failed
  2    usage error (unknown command or flag, missing operand, malformed reference)
  3    not found (image, manifest, blob, platform in an index, or a path in an image)
  4    integrity failure (content does not match its digest or size)
  5    authentication failed or access denied by a registry; not logged in (logout, login --get-login)
  130  interrupted (Ctrl-C); 143 terminated (SIGTERM)`;
