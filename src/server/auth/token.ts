/**
 * The Docker/distribution token flow: scopes (distribution's docs/spec/auth/scope.md), HS256 JWTs with the
 * claims of spec/auth/jwt.md, and the token endpoint (spec/auth/token.md for GET, spec/auth/oauth.md for POST).
 *
 * The token endpoint never refuses a scope: it grants the intersection of what was asked and what the policy
 * allows, possibly nothing, exactly as the spec says ("it must not be considered an error"). Only bad
 * credentials are an error (AUTH_FAILED, which the HTTP layer answers with 401), and malformed requests (USAGE,
 * a 400).
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { WharfError } from '../../errors.js';
import { ACTIONS, type AccessPolicy, type Action, type Identity } from './access.js';
import { parseAuthorization } from './authorization.js';
import type { PasswordFile } from './htpasswd.js';

// ---------------------------------------------------------------------------------------------------------
// Scopes

export interface Scope {
  /** `repository`, `registry`, … */
  type: string;
  /** The deprecated resource class: `plugin` in `repository(plugin)`. Ignored when authorizing. */
  class?: string;
  name: string;
  /** As asked, deduplicated, in order; may hold `*`. */
  actions: string[];
}

/** Most scopes one token request may carry; further ones are ignored. Real clients ask for one to three. */
export const MAX_SCOPES = 50;
/** Longest scope string considered (a repository name is at most 255 characters). */
export const MAX_SCOPE_LENGTH = 512;
const MAX_ACTIONS = 16;

// The grammar of scope.md: resourcetype [ "(" class ")" ] ":" [ hostname [":" port] "/" ] component ("/" component)* ":" actions
const TYPE = /^([a-z0-9]+)(?:\(([a-z0-9]+)\))?$/;
const HOST_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const COMPONENT = '[a-z0-9]+(?:(?:[_.]|__|-+)[a-z0-9]+)*';
const NAME = new RegExp(`^(?:${HOST_COMPONENT}(?:\\.${HOST_COMPONENT})*(?::[0-9]+)?/)?${COMPONENT}(?:/${COMPONENT})*$`);
const ACTION = /^[a-z*]+$/;

/**
 * Parse one scope, `type[(class)]:name:action[,action]*`; undefined when it is malformed. The actions follow the
 * LAST colon and the type ends at the first: the name between may itself hold one (`localhost:5000/app`).
 */
export function parseScope(s: string): Scope | undefined {
  if (typeof s !== 'string' || s.length === 0 || s.length > MAX_SCOPE_LENGTH) return undefined;
  const first = s.indexOf(':');
  const last = s.lastIndexOf(':');
  if (first <= 0 || last === first) return undefined;
  const type = TYPE.exec(s.slice(0, first));
  const name = s.slice(first + 1, last);
  if (!type || !NAME.test(name)) return undefined;
  const actions: string[] = [];
  for (const a of s.slice(last + 1).split(',')) {
    if (a === '') continue; // the grammar allows empty actions ("pull,,push"); they ask for nothing
    if (!ACTION.test(a)) return undefined;
    if (!actions.includes(a)) actions.push(a);
    if (actions.length > MAX_ACTIONS) return undefined;
  }
  const scope: Scope = { type: type[1]!, name, actions };
  if (type[2] !== undefined) scope.class = type[2];
  return scope;
}

/**
 * Parse the `scope` values of a token request: each may be a space-separated list (POST sends one value that
 * way). Malformed scopes are dropped, not errors, and at most MAX_SCOPES are kept.
 */
export function parseScopes(values: Iterable<string>): Scope[] {
  const out: Scope[] = [];
  let examined = 0;
  for (const value of values) {
    if (typeof value !== 'string') continue;
    // split's limit bounds the work for a value that is nothing but spaces.
    for (const piece of value.split(' ', MAX_SCOPES * 4)) {
      if (piece === '') continue;
      if (++examined > MAX_SCOPES * 4 || out.length >= MAX_SCOPES) return out;
      const scope = parseScope(piece);
      if (scope) out.push(scope);
    }
  }
  return out;
}

/** A scope back in its string form, as challenges and the OAuth `scope` response field carry it. */
export function formatScope(scope: { type: string; class?: string; name: string; actions: readonly string[] }): string {
  return `${scope.type}${scope.class ? `(${scope.class})` : ''}:${scope.name}:${scope.actions.join(',')}`;
}

// ---------------------------------------------------------------------------------------------------------
// JWT (HS256)

export interface AccessEntry {
  type: string;
  name: string;
  actions: string[];
}

export interface TokenClaims {
  iss: string;
  /** The user; empty for the anonymous client. */
  sub: string;
  aud: string;
  /** Seconds since the epoch, as JWT has them. */
  exp: number;
  nbf: number;
  iat: number;
  jti: string;
  access: AccessEntry[];
  /** `refresh` marks a refresh token, which must never pass as an access token (nor the reverse). */
  token_use?: 'refresh';
}

export interface VerifyExpectation {
  issuer: string;
  audience: string;
  /** Now, in ms since the epoch. */
  now: number;
  /** Which kind of token is expected (default `access`). */
  use?: 'access' | 'refresh';
}

/** Longest token verifyToken reads. */
export const MAX_TOKEN_LENGTH = 8 * 1024;
/** signToken stays below this, so that `Authorization: Bearer <token>` fits in an 8 KiB header. */
export const MAX_ISSUED_TOKEN_LENGTH = MAX_TOKEN_LENGTH - 64;
/** Clock skew tolerated between the issuer and the verifier, in both directions (distribution allows 60 s). */
export const CLOCK_SKEW_SECONDS = 60;
/** HS256 keys shorter than the hash output weaken it (RFC 7518 §3.2). */
export const MIN_KEY_BYTES = 32;

const HEADER = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })).toString('base64url');
const B64URL = /^[A-Za-z0-9_-]+$/;

function checkKey(key: Buffer): void {
  if (!Buffer.isBuffer(key) || key.length < MIN_KEY_BYTES) {
    throw new WharfError('SERVER_CONFIG_INVALID', `token signing key is ${Buffer.isBuffer(key) ? key.length : 0} bytes; HS256 needs at least ${MIN_KEY_BYTES}`, {
      hint: 'make a key with: openssl rand -out token.key 32',
    });
  }
}

function mac(key: Buffer, signingInput: string): string {
  return createHmac('sha256', key).update(signingInput).digest('base64url');
}

/** Sign claims as a compact HS256 JWT. */
export function signToken(claims: TokenClaims, key: Buffer): string {
  checkKey(key);
  const input = `${HEADER}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
  const token = `${input}.${mac(key, input)}`;
  if (token.length > MAX_ISSUED_TOKEN_LENGTH) {
    throw new WharfError('TOO_LARGE', `the token would be ${token.length} bytes, more than the ${MAX_ISSUED_TOKEN_LENGTH}-byte limit`, {
      hint: 'ask for fewer or shorter scopes in one token request',
    });
  }
  return token;
}

function rejected(why: string): WharfError {
  return new WharfError('AUTH_FAILED', `bearer token rejected: ${why}`, {
    hint: 'get a new token from the token endpoint (docker login again if it keeps failing)',
  });
}

function decodeJsonObject(part: string, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
  } catch {
    throw rejected(`its ${what} is not JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw rejected(`its ${what} is not a JSON object`);
  return value as Record<string, unknown>;
}

function isStringArray(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((x) => typeof x === 'string');
}

function readAccess(v: unknown): AccessEntry[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw rejected('its access claim is not a list');
  return v.map((e: unknown) => {
    const o = e as Record<string, unknown> | null;
    if (typeof o !== 'object' || o === null || typeof o.type !== 'string' || typeof o.name !== 'string' || !isStringArray(o.actions)) {
      throw rejected('an access entry is not {type, name, actions}');
    }
    return { type: o.type, name: o.name, actions: [...o.actions] };
  });
}

/**
 * Verify a token this server issued: structure, algorithm (HS256 only: `alg: none` and algorithm swaps are the
 * classic JWT bypasses), signature (constant time), expiry and not-before with CLOCK_SKEW_SECONDS, issuer,
 * audience and kind. Every failure is AUTH_FAILED.
 */
export function verifyToken(token: string, key: Buffer, expect: VerifyExpectation): TokenClaims {
  checkKey(key);
  if (typeof token !== 'string') throw rejected('it is not a string');
  if (token.length > MAX_TOKEN_LENGTH) throw rejected(`it is longer than ${MAX_TOKEN_LENGTH} bytes`);
  const parts = token.split('.');
  if (parts.length !== 3 || !parts.every((p) => B64URL.test(p))) throw rejected('it is not a compact JWT (header.payload.signature)');
  const [headerPart, payloadPart, signaturePart] = parts as [string, string, string];
  // The header is the only thing read before the signature is checked, and only to refuse other algorithms.
  const header = decodeJsonObject(headerPart, 'header');
  if (header.alg !== 'HS256') throw rejected(`algorithm ${JSON.stringify(String(header.alg)).slice(0, 40)} is not accepted (only HS256)`);
  if (header.typ !== undefined && header.typ !== 'JWT') throw rejected('its type is not JWT');
  if (header.crit !== undefined) throw rejected('it has critical header extensions');
  const expected = Buffer.from(mac(key, `${headerPart}.${payloadPart}`));
  const given = Buffer.from(signaturePart);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw rejected('its signature does not match');

  const p = decodeJsonObject(payloadPart, 'payload');
  if (p.iss !== expect.issuer) throw rejected('it was issued by another issuer');
  const audOk = typeof p.aud === 'string' ? p.aud === expect.audience : isStringArray(p.aud) && p.aud.includes(expect.audience);
  if (!audOk) throw rejected('it is for another service (audience)');
  for (const claim of ['exp', 'nbf', 'iat'] as const) {
    if (typeof p[claim] !== 'number' || !Number.isFinite(p[claim])) throw rejected(`its ${claim} claim is missing or not a number`);
  }
  const exp = p.exp as number;
  const nbf = p.nbf as number;
  const iat = p.iat as number;
  const now = expect.now / 1000;
  if (now > exp + CLOCK_SKEW_SECONDS) throw rejected('it has expired');
  if (now < nbf - CLOCK_SKEW_SECONDS) throw rejected('it is not valid yet');
  if (now < iat - CLOCK_SKEW_SECONDS) throw rejected('it was issued in the future');
  if (typeof p.sub !== 'string') throw rejected('its sub claim is missing');
  if (typeof p.jti !== 'string') throw rejected('its jti claim is missing');
  const use = expect.use ?? 'access';
  if (use === 'refresh' && p.token_use !== 'refresh') throw rejected('it is not a refresh token');
  if (use === 'access' && p.token_use !== undefined) throw rejected('a refresh token cannot be used as an access token');
  const claims: TokenClaims = { iss: p.iss, sub: p.sub, aud: expect.audience, exp, nbf, iat, jti: p.jti, access: readAccess(p.access) };
  if (use === 'refresh') claims.token_use = 'refresh';
  return claims;
}

// ---------------------------------------------------------------------------------------------------------
// The token endpoint

export interface TokenRequest {
  method: string;
  query: URLSearchParams;
  /** The parsed `application/x-www-form-urlencoded` body of a POST. */
  form?: URLSearchParams;
  authorization?: string;
}

export interface TokenDeps {
  /** Without it nobody can log in: only anonymous grants are given. */
  passwords?: PasswordFile;
  policy: AccessPolicy;
  key: Buffer;
  issuer: string;
  /** This registry's name as clients send it in `service` (the token audience). */
  service: string;
  /** Access token lifetime in seconds; at least 60, as the spec requires of tokens handed out. */
  expiresIn: number;
  /** Refresh token lifetime in seconds (default 30 days). */
  refreshExpiresIn?: number;
  /** Clock in ms since the epoch. */
  now: () => number;
}

export interface TokenResponseBody {
  token: string;
  access_token: string;
  expires_in: number;
  /** RFC 3339, UTC. */
  issued_at: string;
  refresh_token?: string;
  /** The OAuth2 (POST) response's granted scopes, space-separated. */
  scope?: string;
}

export interface TokenResult {
  status: 200;
  body: TokenResponseBody;
  /** The claims of the access token, for the audit log (never send them instead of the token). */
  claims: TokenClaims;
}

const DEFAULT_REFRESH_SECONDS = 30 * 24 * 3600;

function badRequest(message: string, hint: string): WharfError {
  return new WharfError('USAGE', `token request: ${message}`, { hint });
}

function authFailed(message: string): WharfError {
  return new WharfError('AUTH_FAILED', `token request: ${message}`, {
    hint: 'check the user name and password (docker login / wharf login); users live in the server\'s htpasswd file',
  });
}

async function checkPassword(deps: TokenDeps, user: string, password: string): Promise<Identity> {
  if (!deps.passwords) throw authFailed('this registry has no users; only anonymous access is possible');
  if (!(await deps.passwords.verify(user, password))) throw authFailed('wrong user name or password');
  return deps.policy.identity(user);
}

/** For each requested scope (merged by resource), the actions the identity has, possibly none. */
function grant(policy: AccessPolicy, identity: Identity, scopes: readonly Scope[]): AccessEntry[] {
  const byResource = new Map<string, { type: string; name: string; asked: Set<string> }>();
  for (const s of scopes) {
    // The resource class is deprecated and ignored: `repository(plugin)` is `repository` (scope.md).
    const k = `${s.type}\u0000${s.name}`;
    let r = byResource.get(k);
    if (!r) byResource.set(k, (r = { type: s.type, name: s.name, asked: new Set() }));
    for (const a of s.actions) r.asked.add(a);
  }
  return [...byResource.values()].map(({ type, name, asked }) => {
    let actions: string[] = [];
    if (type === 'repository') {
      const has = policy.actions(identity, name);
      // `*` is spelt out into the actions granted, so the registry side only ever checks plain names.
      actions = ACTIONS.filter((a: Action) => has.has(a) && (asked.has(a) || asked.has('*')));
    } else if (type === 'registry' && name === 'catalog' && asked.has('*') && identity.user !== undefined) {
      // Every logged-in user may list; the catalog handler shows each only the repositories they can pull.
      actions = ['*'];
    }
    return { type, name, actions };
  });
}

function isoSeconds(seconds: number): string {
  return new Date(seconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * The token endpoint: `GET /token?service=…&scope=…&account=…[&offline_token=true]` with optional Basic
 * credentials, and the OAuth2 `POST /token` form (`grant_type=password` or `grant_type=refresh_token`).
 * Throws AUTH_FAILED for credentials that do not check out (→ 401) and USAGE for a malformed request (→ 400).
 */
export async function issueToken(request: TokenRequest, deps: TokenDeps): Promise<TokenResult> {
  if (!Number.isInteger(deps.expiresIn) || deps.expiresIn < 60) {
    throw new WharfError('SERVER_CONFIG_INVALID', `token lifetime ${deps.expiresIn} s is too short`, {
      hint: 'set it to 60 seconds or more: clients treat shorter tokens as broken',
    });
  }
  const method = request.method.toUpperCase();
  let params: URLSearchParams;
  let identity: Identity;
  let wantRefresh = false;
  let refreshToken: string | undefined;

  if (method === 'GET') {
    params = request.query;
    if (request.authorization === undefined) {
      identity = deps.policy.identity(undefined);
    } else {
      const creds = parseAuthorization(request.authorization);
      // Credentials that were sent but cannot be read must not quietly become anonymous access.
      if (!creds) throw authFailed('the Authorization header is malformed');
      if (creds.scheme !== 'basic') throw authFailed('the token endpoint takes Basic credentials, not a bearer token');
      identity = await checkPassword(deps, creds.user, creds.password);
      const account = params.get('account');
      if (account !== null && account !== '' && account !== identity.user) {
        throw authFailed('the account parameter names another user than the credentials');
      }
      wantRefresh = params.get('offline_token') === 'true';
    }
  } else if (method === 'POST') {
    if (!request.form) throw badRequest('a POST needs an application/x-www-form-urlencoded body', 'send grant_type, service and scope as a form');
    params = request.form;
    const grantType = params.get('grant_type');
    if (grantType === 'password') {
      const user = params.get('username');
      const password = params.get('password');
      if (!user || password === null) throw badRequest('grant_type=password needs username and password', 'send both form fields');
      identity = await checkPassword(deps, user, password);
      wantRefresh = params.get('access_type') === 'offline';
    } else if (grantType === 'refresh_token') {
      const given = params.get('refresh_token');
      if (!given) throw badRequest('grant_type=refresh_token needs refresh_token', 'send the refresh token you were given');
      let claims: TokenClaims;
      try {
        claims = verifyToken(given, deps.key, { issuer: deps.issuer, audience: deps.service, now: deps.now(), use: 'refresh' });
      } catch (err) {
        throw authFailed(`the refresh token is not valid (${err instanceof WharfError ? err.message.replace(/^bearer token rejected: /, '') : 'unreadable'})`);
      }
      // A user removed from the htpasswd file loses their refresh tokens with their password.
      if (claims.sub === '' || !deps.passwords || !(await deps.passwords.hasUser(claims.sub))) {
        throw authFailed('the refresh token is for a user who no longer exists');
      }
      identity = deps.policy.identity(claims.sub);
      // oauth.md: a refresh grant hands back the same refresh token, not a new one.
      refreshToken = given;
    } else {
      throw badRequest(`grant_type ${JSON.stringify(grantType ?? '')} is not supported`, 'use grant_type=password or grant_type=refresh_token');
    }
  } else {
    throw badRequest(`method ${method} is not allowed`, 'use GET or POST');
  }

  const service = params.get('service');
  if (service !== null && service !== '' && service !== deps.service) {
    throw badRequest(`this token server issues tokens for ${JSON.stringify(deps.service)}, not ${JSON.stringify(service.slice(0, 200))}`, 'use the service named in the registry\'s WWW-Authenticate challenge');
  }

  const scopes = parseScopes(params.getAll('scope'));
  const iat = Math.floor(deps.now() / 1000);
  const access = grant(deps.policy, identity, scopes);
  const sub = identity.user ?? '';
  const claims: TokenClaims = {
    iss: deps.issuer,
    sub,
    aud: deps.service,
    exp: iat + deps.expiresIn,
    nbf: iat,
    iat,
    jti: randomBytes(16).toString('base64url'),
    access,
  };
  const token = signToken(claims, deps.key);
  if (wantRefresh && identity.user !== undefined) {
    refreshToken = signToken(
      {
        iss: deps.issuer,
        sub,
        aud: deps.service,
        exp: iat + (deps.refreshExpiresIn ?? DEFAULT_REFRESH_SECONDS),
        nbf: iat,
        iat,
        jti: randomBytes(16).toString('base64url'),
        access: [],
        token_use: 'refresh',
      },
      deps.key,
    );
  }
  const body: TokenResponseBody = { token, access_token: token, expires_in: deps.expiresIn, issued_at: isoSeconds(iat) };
  if (refreshToken !== undefined) body.refresh_token = refreshToken;
  if (method === 'POST') body.scope = access.filter((a) => a.actions.length > 0).map(formatScope).join(' ');
  return { status: 200, body, claims };
}
