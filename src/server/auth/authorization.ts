/**
 * The Authorization request header (RFC 7617 Basic, RFC 6750 Bearer) and the WWW-Authenticate challenges the
 * registry answers a 401 with. The header comes straight from the client: anything odd is "no usable
 * credentials" (undefined), never an exception, so the caller decides between anonymous and 401.
 */

/** Longest Authorization header looked at; the tokens wharf issues fit with room to spare. */
export const MAX_AUTHORIZATION_LENGTH = 8 * 1024;

export type Credentials = { scheme: 'basic'; user: string; password: string } | { scheme: 'bearer'; token: string };

// RFC 7617 §2: neither user-id nor password may contain control characters.
const CONTROL = /[\u0000-\u001f\u007f]/;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
// RFC 6750 §2.1 b64token.
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Parse an Authorization header value; undefined for a missing, oversized, malformed or unknown-scheme one. */
export function parseAuthorization(header: string | undefined): Credentials | undefined {
  if (typeof header !== 'string' || header.length > MAX_AUTHORIZATION_LENGTH) return undefined;
  const m = /^[ \t]*([A-Za-z]+)[ \t]+([^ \t]+)[ \t]*$/.exec(header);
  if (!m) return undefined;
  const scheme = m[1]!.toLowerCase();
  const value = m[2]!;
  if (scheme === 'bearer') return B64TOKEN.test(value) ? { scheme: 'bearer', token: value } : undefined;
  if (scheme !== 'basic') return undefined;
  // Buffer's base64 decoder skips characters it does not know; check the alphabet and padding first so that
  // garbage is refused instead of decoded into something else.
  if (!BASE64.test(value) || value.length % 4 === 1) return undefined;
  if (value.includes('=') && value.length % 4 !== 0) return undefined;
  let decoded: string;
  try {
    decoded = utf8.decode(Buffer.from(value, 'base64'));
  } catch {
    return undefined;
  }
  const colon = decoded.indexOf(':');
  if (colon <= 0) return undefined;
  const user = decoded.slice(0, colon);
  const password = decoded.slice(colon + 1);
  if (CONTROL.test(user) || CONTROL.test(password)) return undefined;
  return { scheme: 'basic', user, password };
}

/**
 * A quoted-string (RFC 9110 §5.6.4): backslash and double quote escaped. Characters no header value may hold
 * (controls other than tab) are dropped rather than thrown on, so a challenge can always be written.
 */
export function quoteHeaderValue(value: string): string {
  const clean = value.replace(/[\u0000-\u0008\u000a-\u001f\u007f]/g, '');
  return `"${clean.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

/** `Basic realm="…", charset="UTF-8"` (the charset tells clients how to encode non-ASCII passwords). */
export function basicChallenge(realm: string): string {
  return `Basic realm=${quoteHeaderValue(realm)},charset="UTF-8"`;
}

export interface BearerChallengeOptions {
  /** The token endpoint's URL. */
  realm: string;
  /** The audience tokens must be issued for. */
  service: string;
  /** The scopes the failed request needs (several are joined by spaces, as RFC 6750 §3 and distribution do). */
  scope?: string | readonly string[];
  /** `invalid_token` for a bad token, `insufficient_scope` for a valid one that grants too little. */
  error?: string;
  errorDescription?: string;
}

/** `Bearer realm="…",service="…",scope="…",error="…"`, in distribution's order. */
export function bearerChallenge(options: BearerChallengeOptions): string {
  const params = [`realm=${quoteHeaderValue(options.realm)}`, `service=${quoteHeaderValue(options.service)}`];
  const scope = typeof options.scope === 'string' ? options.scope : options.scope?.join(' ');
  if (scope) params.push(`scope=${quoteHeaderValue(scope)}`);
  if (options.error) params.push(`error=${quoteHeaderValue(options.error)}`);
  if (options.errorDescription) params.push(`error_description=${quoteHeaderValue(options.errorDescription)}`);
  return `Bearer ${params.join(',')}`;
}
