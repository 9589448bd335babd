/**
 * From a registry's answer to a WharfError: the distribution spec's JSON error body
 * (`{"errors":[{"code","message","detail"}]}`) when there is one, the HTTP status otherwise.
 */
import { NotFoundError, WharfError, type ErrorCode, type WharfErrorOptions } from '../errors.js';

/** A failure reported by (or on the way to) a registry; `status` and `registryCode` say what it answered. */
export class RegistryError extends WharfError {
  override readonly name: string = 'RegistryError';
  readonly status: number | undefined;
  readonly registryCode: string | undefined;
  /** How long the registry asked us to wait (Retry-After), when it did. */
  readonly retryAfterMs: number | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    options: WharfErrorOptions & { status?: number; registryCode?: string; retryAfterMs?: number } = {},
  ) {
    super(code, message, options);
    this.status = options.status;
    this.registryCode = options.registryCode;
    this.retryAfterMs = options.retryAfterMs;
  }
}

export interface ErrorContext {
  /** The registry endpoint, as the user wrote it ("localhost:5000"). */
  registry: string;
  /** The repository, when the request was about one. */
  repo?: string | undefined;
  /** What we were doing, for the message: "manifest latest", "blob sha256:…", "tag list". */
  what: string;
  /** The code a bare 404 means here. */
  notFound?: 'MANIFEST_UNKNOWN' | 'BLOB_UNKNOWN' | 'IMAGE_NOT_FOUND';
  /** Whether credentials were available, for the hint of an auth failure. */
  hadCredentials?: boolean;
  /** The action denied, for messages ("pull", "push", "delete"). */
  action?: string | undefined;
}

export interface RegistryErrorBody {
  code: string;
  message: string;
}

/** The first error of a distribution-spec error body; undefined when the body is not one. */
export function parseErrorBody(body: Buffer | undefined): RegistryErrorBody | undefined {
  if (!body || body.length === 0) return undefined;
  try {
    const json = JSON.parse(body.toString('utf8')) as { errors?: unknown; error?: unknown; message?: unknown };
    const first = Array.isArray(json?.errors) ? (json.errors[0] as { code?: unknown; message?: unknown }) : undefined;
    if (first && typeof first === 'object') {
      return {
        code: typeof first.code === 'string' ? first.code.toUpperCase() : '',
        message: typeof first.message === 'string' ? first.message : '',
      };
    }
    // Some token services and proxies answer {"error": "...", "message": "..."}.
    if (typeof json?.error === 'string' || typeof json?.message === 'string') {
      return { code: '', message: String(json.message ?? json.error) };
    }
  } catch {
    /* not JSON */
  }
  return undefined;
}

/** Registry-supplied text, made safe to print: one line, no control characters, bounded. */
export function cleanText(s: string, max = 300): string {
  const one = s.replace(/[\u0000-\u001f\u007f-\u009f]+/g, ' ').trim();
  return one.length > max ? `${one.slice(0, max - 3)}...` : one;
}

/** Build the error for a response the caller did not expect. `body` is the (capped) error body, if read. */
export function errorForStatus(
  status: number,
  body: Buffer | undefined,
  ctx: ErrorContext,
  retryAfterMs?: number,
  registryCodeOverride?: string,
): WharfError {
  const parsed = parseErrorBody(body);
  if (registryCodeOverride) {
    if (parsed) parsed.code = registryCodeOverride;
    else return errorForStatus(status, Buffer.from(JSON.stringify({ errors: [{ code: registryCodeOverride, message: '' }] })), ctx, retryAfterMs);
  }
  const where = ctx.repo ? `${ctx.registry}/${ctx.repo}` : ctx.registry;
  const regCode = parsed?.code || undefined;
  // The registry's own words, unless they only repeat its code ("manifest unknown" for MANIFEST_UNKNOWN).
  const message = parsed?.message ? cleanText(parsed.message) : '';
  const repeatsCode = regCode !== undefined && message.toLowerCase().replace(/[\s_]+/g, ' ') === regCode.toLowerCase().replace(/_/g, ' ');
  const said = message && !repeatsCode ? `: ${message}` : '';
  const base = {
    status,
    ...(regCode ? { registryCode: regCode } : {}),
    ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
  };
  const prefix = `${ctx.what} (${where})`;

  switch (regCode) {
    case 'MANIFEST_UNKNOWN':
      return notFound('MANIFEST_UNKNOWN', `${prefix}: manifest unknown${said}`, 'check the tag or digest; `wharf list-tags` lists the tags');
    case 'BLOB_UNKNOWN':
      return notFound('BLOB_UNKNOWN', `${prefix}: blob unknown${said}`, 'the registry does not have this blob in this repository');
    case 'NAME_UNKNOWN':
      return notFound('IMAGE_NOT_FOUND', `${prefix}: repository unknown${said}`, 'check the repository name; a private repository may also answer this way to an anonymous user');
    case 'MANIFEST_BLOB_UNKNOWN':
      return new RegistryError('BLOB_UNKNOWN', `${prefix}: the manifest references a blob the repository does not have${said}`, {
        ...base,
        hint: 'push every blob before the manifest that references it',
      });
    case 'DENIED':
      return new RegistryError('DENIED', `${prefix}: access denied${said}`, { ...base, hint: deniedHint(ctx) });
    case 'UNAUTHORIZED':
      return new RegistryError('AUTH_FAILED', `${prefix}: authentication required${said}`, { ...base, hint: authHint(ctx) });
    case 'TOOMANYREQUESTS':
      return new RegistryError('RATE_LIMITED', `${prefix}: too many requests${said}`, {
        ...base,
        retryable: true,
        hint: rateHint(retryAfterMs),
      });
    case 'DIGEST_INVALID':
      return new RegistryError('DIGEST_MISMATCH', `${prefix}: the registry says the content does not match its digest${said}`, {
        ...base,
        hint: 'the source is corrupt or changed while it was read; nothing was committed',
      });
    case 'SIZE_INVALID':
      return new RegistryError('SIZE_MISMATCH', `${prefix}: the registry says the content does not have the expected size${said}`, base);
    case 'NAME_INVALID':
      return new RegistryError('INVALID_REFERENCE', `${prefix}: invalid repository name${said}`, base);
    case 'TAG_INVALID':
      return new RegistryError('INVALID_REFERENCE', `${prefix}: invalid tag${said}`, base);
    case 'MANIFEST_INVALID':
    case 'MANIFEST_UNVERIFIED':
      return new RegistryError('MANIFEST_INVALID', `${prefix}: the registry refused the manifest${said}`, base);
    case 'UNSUPPORTED':
      return new RegistryError('UNSUPPORTED', `${prefix}: the registry does not support this operation${said}`, {
        ...base,
        hint: ctx.action === 'delete' ? DELETE_HINT : undefined,
      });
    default:
      break;
  }

  switch (status) {
    case 401:
      return new RegistryError('AUTH_FAILED', `${prefix}: authentication failed${said}`, { ...base, hint: authHint(ctx) });
    case 403:
      return new RegistryError('DENIED', `${prefix}: access denied${said}`, { ...base, hint: deniedHint(ctx) });
    case 404: {
      const code = ctx.notFound ?? 'IMAGE_NOT_FOUND';
      return notFound(code, `${prefix}: not found${said}`, code === 'MANIFEST_UNKNOWN' ? 'check the tag or digest' : undefined);
    }
    case 405:
      return new RegistryError('UNSUPPORTED', `${prefix}: the registry does not allow this operation (405)${said}`, {
        ...base,
        hint: ctx.action === 'delete' ? DELETE_HINT : undefined,
      });
    case 408:
      return new RegistryError('TIMEOUT', `${prefix}: the registry timed out the request (408)${said}`, { ...base, retryable: true });
    case 429:
      return new RegistryError('RATE_LIMITED', `${prefix}: too many requests (429)${said}`, {
        ...base,
        retryable: true,
        hint: rateHint(retryAfterMs),
      });
    default:
      return new RegistryError(
        'REGISTRY_ERROR',
        `${prefix}: the registry answered ${status}${regCode ? ` ${cleanText(regCode, 40)}` : ''}${said}`,
        { ...base, retryable: status >= 500 },
      );
  }

  function notFound(code: ErrorCode, message: string, hint?: string): NotFoundError {
    const e = new NotFoundError(code, message, hint ? { hint } : {});
    Object.assign(e, { status, registryCode: regCode });
    return e;
  }
}

const DELETE_HINT = 'the registry has deletes disabled (distribution: storage.delete.enabled: true)';

function authHint(ctx: ErrorContext): string {
  return ctx.hadCredentials
    ? `check the user name and password for ${ctx.registry} (wharf login ${ctx.registry})`
    : `log in first (wharf login ${ctx.registry}) or pass --creds`;
}

function deniedHint(ctx: ErrorContext): string {
  const act = ctx.action ? `${ctx.action} ` : '';
  const what = ctx.repo ?? ctx.registry;
  return ctx.hadCredentials
    ? `the account has no ${act}permission on ${what}, or ${what} does not exist`
    : `${what} may not exist, or it needs credentials: log in (wharf login ${ctx.registry}) with an account that has ${act}permission`;
}

function rateHint(retryAfterMs?: number): string {
  return retryAfterMs !== undefined
    ? `the registry asks to wait ${Math.ceil(retryAfterMs / 1000)} s; retry later or log in for a higher limit`
    : 'retry later, or log in for a higher limit';
}
