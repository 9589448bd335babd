/**
 * Registry authentication: WWW-Authenticate parsing, Basic, and the Bearer token flow of the distribution
 * token-auth spec (GET realm?service=&scope=… with Basic credentials, or the OAuth2 refresh-token POST when we
 * hold an identity token), with tokens cached per scope set until they expire.
 *
 * Secrets (passwords, identity tokens, registry tokens, issued tokens) never go into a message: errors name the
 * registry, the repository and the token service, nothing else, and `redact()` scrubs registry-supplied text.
 */
import { WharfError } from '../errors.js';
import { discard, readBody, safeUrl, type HttpResponse, type HttpTransport } from './http.js';
import { RegistryError, cleanText, parseErrorBody } from './registry-errors.js';

export interface RegistryCredentials {
  username?: string;
  password?: string;
  /** An OAuth2 refresh token ("identitytoken" in auth.json), exchanged at the token service. */
  identityToken?: string;
  /** A bearer token sent to the registry as is (--registry-token). */
  registryToken?: string;
}

export type CredentialsSource = RegistryCredentials | ((endpoint: string) => Promise<RegistryCredentials | undefined>);

export interface Logger {
  warn(message: string): void;
  debug?(message: string): void;
}

// ---------------------------------------------------------------------------------------------------------------
// WWW-Authenticate

export interface Challenge {
  /** Lower-cased: "basic", "bearer", … */
  scheme: string;
  /** Parameter names lower-cased; values unquoted and unescaped. */
  params: Record<string, string>;
  token68?: string;
}

const TCHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;
const MAX_CHALLENGE_LENGTH = 16 * 1024;

/**
 * Parse one or more WWW-Authenticate header values (RFC 9110 §11.6.1): several challenges, each a scheme followed
 * by a token68 or comma-separated `name=value` parameters whose values may be quoted strings with backslash
 * escapes. Anything that does not follow the grammar is an AUTH_FAILED error, never an exception of another kind.
 */
export function parseChallenges(value: string | string[] | undefined, registry = 'the registry'): Challenge[] {
  const values = value === undefined ? [] : Array.isArray(value) ? value : [value];
  const out: Challenge[] = [];
  for (const v of values) out.push(...parseOne(v, registry));
  if (out.length === 0) throw malformed(registry, 'empty challenge');
  return out;
}

function parseOne(s: string, registry: string): Challenge[] {
  if (s.length > MAX_CHALLENGE_LENGTH) throw malformed(registry, 'challenge too long');
  const out: Challenge[] = [];
  let i = 0;
  const n = s.length;
  const skipWs = (): void => {
    while (i < n && (s[i] === ' ' || s[i] === '\t')) i++;
  };
  const skipWsAndCommas = (): void => {
    while (i < n && (s[i] === ' ' || s[i] === '\t' || s[i] === ',')) i++;
  };
  const token = (): string => {
    const start = i;
    while (i < n && TCHAR.test(s[i]!)) i++;
    return s.slice(start, i);
  };
  const quoted = (): string => {
    // s[i] === '"'
    i++;
    let v = '';
    while (i < n) {
      const c = s[i]!;
      if (c === '\\') {
        if (i + 1 >= n) break;
        v += s[i + 1];
        i += 2;
        continue;
      }
      if (c === '"') {
        i++;
        return v;
      }
      if (c === '\r' || c === '\n' || c === '\0') throw malformed(registry, 'control character in a quoted value');
      v += c;
      i++;
    }
    throw malformed(registry, 'unterminated quoted string');
  };

  skipWsAndCommas();
  while (i < n) {
    const scheme = token();
    if (!scheme) throw malformed(registry, `unexpected "${cleanText(s[i]!, 5)}" where an auth scheme was expected`);
    const challenge: Challenge = { scheme: scheme.toLowerCase(), params: {} };
    out.push(challenge);
    if (i < n && s[i] !== ' ' && s[i] !== '\t' && s[i] !== ',') {
      throw malformed(registry, `unexpected "${cleanText(s[i]!, 5)}" after the auth scheme`);
    }
    skipWs();
    // A token68 (`Negotiate abc==`) is the only thing up to the next comma or the end.
    const t68 = /^[A-Za-z0-9\-._~+/]+=*[ \t]*(?:,|$)/.exec(s.slice(i));
    if (t68) {
      challenge.token68 = t68[0].replace(/[ \t,]+$/, '');
      i += t68[0].length;
      skipWsAndCommas();
      continue;
    }
    // auth-params, until the next scheme
    for (;;) {
      skipWsAndCommas();
      if (i >= n) break;
      const save = i;
      const name = token();
      if (!name) throw malformed(registry, `unexpected "${cleanText(s[i]!, 5)}" in the parameters`);
      skipWs();
      if (s[i] !== '=') {
        // Not a parameter: the next challenge's scheme (which must follow a comma).
        i = save;
        break;
      }
      i++;
      skipWs();
      let value: string;
      if (s[i] === '"') value = quoted();
      else {
        // RFC 9110 wants a token here; registries in the wild also send bare URLs (realm=https://…).
        const start = i;
        while (i < n && !/[\s,"]/.test(s[i]!)) i++;
        value = s.slice(start, i);
        if (!value) throw malformed(registry, `parameter "${cleanText(name, 40)}" has no value`);
        if (/[\u0000-\u001f\u007f]/.test(value)) throw malformed(registry, 'control character in a value');
      }
      const key = name.toLowerCase();
      if (key in challenge.params) throw malformed(registry, `parameter "${cleanText(name, 40)}" appears twice`);
      challenge.params[key] = value;
      skipWs();
      if (i < n && s[i] !== ',') throw malformed(registry, `unexpected "${cleanText(s[i]!, 5)}" after parameter "${cleanText(name, 40)}"`);
    }
  }
  return out;
}

function malformed(registry: string, why: string): RegistryError {
  return new RegistryError('AUTH_FAILED', `${registry} sent a malformed WWW-Authenticate challenge (${why})`, {
    hint: 'the registry (or a proxy in front of it) is misconfigured; report it to its operator',
  });
}

/** The challenge we answer: Bearer before Basic; others are not supported. */
export function chooseChallenge(challenges: Challenge[], registry: string): Challenge {
  const bearer = challenges.find((c) => c.scheme === 'bearer');
  if (bearer) return bearer;
  const basic = challenges.find((c) => c.scheme === 'basic');
  if (basic) return basic;
  throw new RegistryError(
    'AUTH_FAILED',
    `${registry} asks for an unsupported authentication scheme (${challenges.map((c) => cleanText(c.scheme, 30)).join(', ')})`,
    { hint: 'wharf supports Basic and Bearer (token) authentication' },
  );
}

// ---------------------------------------------------------------------------------------------------------------
// Scopes

/** `repository:NAME:ACTIONS` */
export function repositoryScope(name: string, actions: string[]): string {
  return `repository:${name}:${actions.join(',')}`;
}

type ScopeMap = Map<string, Set<string>>;

/** type:name:actions; the name may itself contain ':' (a host:port in some scopes), the actions do not. */
function parseScopes(scopes: string[]): ScopeMap {
  const map: ScopeMap = new Map();
  for (const scope of scopes) {
    const last = scope.lastIndexOf(':');
    const resource = last > 0 ? scope.slice(0, last) : scope;
    const actions = last > 0 ? scope.slice(last + 1).split(',').filter(Boolean) : [];
    const set = map.get(resource) ?? new Set<string>();
    for (const a of actions) set.add(a);
    map.set(resource, set);
  }
  return map;
}

/** Merge scopes on the same resource and sort, so that equal sets have equal keys. */
export function normalizeScopes(scopes: string[]): string[] {
  return [...parseScopes(scopes)].map(([resource, actions]) => `${resource}:${[...actions].sort().join(',')}`).sort();
}

function covers(have: ScopeMap, want: ScopeMap): boolean {
  for (const [resource, actions] of want) {
    const got = have.get(resource);
    if (!got) return false;
    if (got.has('*')) continue;
    for (const a of actions) if (!got.has(a)) return false;
  }
  return true;
}

function repositoriesOf(scopes: string[]): string {
  const names = [...parseScopes(scopes).keys()].filter((r) => r.startsWith('repository:')).map((r) => r.slice('repository:'.length));
  return names.join(', ');
}

// ---------------------------------------------------------------------------------------------------------------
// The authenticator

interface CachedToken {
  realm: string;
  service: string;
  scopes: ScopeMap;
  token: string;
  expiresAt: number;
}

export interface AuthenticatorOptions {
  /** The registry host, for messages. */
  registry: string;
  /** What the credentials callback is asked for (the endpoint as configured); default `registry`. */
  credentialsKey?: string;
  credentials?: CredentialsSource | undefined;
  transport: HttpTransport;
  userAgent: string;
  logger?: Logger | undefined;
  now?: () => number;
}

/** A token is refreshed this long before the registry would consider it expired. */
const EXPIRY_MARGIN_MS = 5_000;
/** What the token spec says to assume when a token response has no expires_in. */
const DEFAULT_TOKEN_SECONDS = 60;
const MAX_TOKEN_RESPONSE = 1 << 20;

export class Authenticator {
  /** undefined: not learned yet; null: the registry asked for nothing. */
  private challenge: Challenge | null | undefined;
  private credsPromise: Promise<RegistryCredentials | undefined> | undefined;
  private readonly tokens = new Map<string, CachedToken>();
  private readonly inflight = new Map<string, Promise<CachedToken>>();
  private readonly secrets = new Set<string>();
  private readonly now: () => number;

  constructor(private readonly options: AuthenticatorOptions) {
    this.now = options.now ?? Date.now;
  }

  /** Whether ping (or a 401) has told us what the registry wants. */
  get learned(): boolean {
    return this.challenge !== undefined;
  }

  get scheme(): string | undefined {
    return this.challenge?.scheme;
  }

  /** The registry answered GET /v2/ with 200: no auth needed (until a 401 says otherwise). */
  setNoAuth(): void {
    if (this.challenge === undefined) this.challenge = null;
  }

  /** Learn the challenge of a 401. Throws AUTH_FAILED when it is malformed or of an unsupported scheme. */
  learn(value: string | string[] | undefined): Challenge {
    const chosen = chooseChallenge(parseChallenges(value, this.options.registry), this.options.registry);
    this.challenge = chosen;
    return chosen;
  }

  /** The credentials, resolved once (the callback may read auth files or run a credential helper). */
  async credentials(): Promise<RegistryCredentials | undefined> {
    const src = this.options.credentials;
    if (!src) return undefined;
    this.credsPromise ??= (async () => {
      let creds: RegistryCredentials | undefined;
      try {
        creds = typeof src === 'function' ? await src(this.options.credentialsKey ?? this.options.registry) : src;
      } catch (err) {
        this.credsPromise = undefined;
        if (err instanceof WharfError) throw err;
        throw new RegistryError('AUTH_FAILED', `could not get the credentials for ${this.options.registry}`, { cause: err });
      }
      for (const s of [creds?.password, creds?.identityToken, creds?.registryToken]) if (s) this.addSecret(s);
      if (creds?.username !== undefined && creds.password !== undefined) {
        this.addSecret(Buffer.from(`${creds.username}:${creds.password}`).toString('base64'));
      }
      return creds;
    })();
    return this.credsPromise;
  }

  async hasCredentials(): Promise<boolean> {
    const c = await this.credentials().catch(() => undefined);
    return !!(c && (c.password !== undefined || c.identityToken || c.registryToken));
  }

  /** The Authorization header for a request to the registry that needs `scopes`; undefined: send none. */
  async authorization(scopes: string[], signal?: AbortSignal): Promise<string | undefined> {
    const creds = await this.credentials();
    if (creds?.registryToken) return `Bearer ${creds.registryToken}`;
    const ch = this.challenge;
    if (!ch) return undefined;
    if (ch.scheme === 'basic') return basicHeader(creds);
    const token = await this.bearerToken(ch, scopes, signal);
    return `Bearer ${token.token}`;
  }

  /**
   * A 401 came back. Learn its challenge and forget the tokens that were tried; resolves true when sending the
   * request again may succeed (a fresh token; Basic credentials that were not sent yet).
   */
  async unauthorized(value: string | string[] | undefined, scopes: string[], sentAuthorization: boolean): Promise<boolean> {
    const creds = await this.credentials();
    if (value === undefined || (Array.isArray(value) && value.length === 0)) return false;
    const ch = this.learn(value);
    if (creds?.registryToken) return false; // a fixed token cannot be refreshed
    if (ch.scheme === 'basic') return !sentAuthorization && basicHeader(creds) !== undefined;
    this.forget(ch, scopes);
    return true;
  }

  /**
   * Check the credentials against the token service without any scope (what `docker login` does), or say that
   * the registry uses Basic and the caller must try a request.
   */
  async verifyToken(signal?: AbortSignal): Promise<'bearer' | 'basic' | 'none'> {
    const ch = this.challenge;
    if (!ch) return 'none';
    if (ch.scheme === 'basic') return 'basic';
    await this.fetchToken(ch, [], signal);
    return 'bearer';
  }

  /** Replace every secret we know of in registry-supplied text. */
  redact(text: string): string {
    let out = text;
    for (const s of this.secrets) if (out.includes(s)) out = out.split(s).join('***');
    return out;
  }

  private addSecret(s: string): void {
    if (s.length >= 4) this.secrets.add(s);
  }

  private forget(ch: Challenge, scopes: string[]): void {
    const want = parseScopes(scopes);
    for (const [key, t] of this.tokens) {
      if (t.realm === (ch.params.realm ?? '') && covers(t.scopes, want)) this.tokens.delete(key);
    }
  }

  private async bearerToken(ch: Challenge, scopes: string[], signal?: AbortSignal): Promise<CachedToken> {
    const realm = ch.params.realm ?? '';
    const service = ch.params.service ?? '';
    const wanted = normalizeScopes(scopes);
    const want = parseScopes(wanted);
    const now = this.now();
    const key = `${realm}\n${service}\n${wanted.join(' ')}`;
    const exact = this.tokens.get(key);
    if (exact && exact.expiresAt > now) return exact;
    for (const t of this.tokens.values()) {
      if (t.realm === realm && t.service === service && t.expiresAt > now && covers(t.scopes, want)) return t;
    }
    let p = this.inflight.get(key);
    if (!p) {
      p = this.fetchToken(ch, wanted, signal).finally(() => this.inflight.delete(key));
      this.inflight.set(key, p);
    }
    const token = await p;
    this.tokens.set(key, token);
    return token;
  }

  private async fetchToken(ch: Challenge, scopes: string[], signal?: AbortSignal): Promise<CachedToken> {
    const { registry, transport, userAgent, logger } = this.options;
    const realmText = ch.params.realm;
    const repos = repositoriesOf(scopes);
    const forWhat = `${registry}${repos ? ` (repository ${repos})` : ''}`;
    if (!realmText) {
      throw new RegistryError('AUTH_FAILED', `${registry} asks for a Bearer token but its challenge names no realm`, {
        hint: 'the registry is misconfigured; report it to its operator',
      });
    }
    let realm: URL;
    try {
      realm = new URL(realmText);
    } catch {
      throw new RegistryError('AUTH_FAILED', `${registry} sent a Bearer challenge with an invalid realm URL`, {
        hint: 'the registry is misconfigured; report it to its operator',
      });
    }
    if (realm.protocol !== 'https:' && realm.protocol !== 'http:') {
      throw new RegistryError('AUTH_FAILED', `${registry} sent a Bearer challenge whose realm is not an http(s) URL`);
    }
    const service = ch.params.service;
    const creds = await this.credentials();
    const where = safeUrl(realm);
    const common = { 'user-agent': userAgent, accept: 'application/json' };

    let res: HttpResponse | undefined;
    if (creds?.identityToken) {
      const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: creds.identityToken, client_id: 'wharf' });
      if (service) form.set('service', service);
      if (scopes.length) form.set('scope', scopes.join(' '));
      logger?.debug?.(`POST ${where} (oauth2 refresh token) for ${forWhat}`);
      res = await transport.request({
        method: 'POST',
        url: realm,
        headers: { ...common, 'content-type': 'application/x-www-form-urlencoded' },
        body: Buffer.from(form.toString()),
        ...(signal ? { signal } : {}),
      });
      if (res.status === 404 || res.status === 405) {
        // A token service without the OAuth2 endpoint: fall back to GET (docker's identity tokens work there too).
        discard(res);
        res = undefined;
      }
    }
    if (!res) {
      const url = new URL(realm);
      if (service) url.searchParams.set('service', service);
      for (const s of scopes) url.searchParams.append('scope', s);
      const headers: Record<string, string> = { ...common };
      const basic =
        basicHeader(creds) ??
        (creds?.identityToken ? `Basic ${Buffer.from(`${creds.username ?? '<token>'}:${creds.identityToken}`).toString('base64')}` : undefined);
      if (basic) headers.authorization = basic;
      logger?.debug?.(`GET ${where} for ${forWhat}${basic ? ' with credentials' : ' anonymously'}`);
      res = await transport.request({ method: 'GET', url, headers, ...(signal ? { signal } : {}) });
    }

    if (res.status !== 200) {
      const body = await readBody(res, 64 * 1024, transport.timeoutMs, `token service ${where}`).catch(() => undefined);
      const said = parseErrorBody(body)?.message;
      const detail = said ? `: ${this.redact(cleanText(said))}` : '';
      const withCreds = !!(creds && (creds.password !== undefined || creds.identityToken));
      if (res.status === 401 || res.status === 403) {
        throw new RegistryError(
          'AUTH_FAILED',
          `the token service ${where} refused ${withCreds ? 'the credentials' : 'an anonymous request'} for ${forWhat} (${res.status})${detail}`,
          {
            status: res.status,
            hint: withCreds
              ? `check the user name and password for ${registry} (wharf login ${registry})`
              : `log in first (wharf login ${registry}) or pass --creds`,
          },
        );
      }
      if (res.status === 429) {
        throw new RegistryError('RATE_LIMITED', `the token service ${where} is rate limiting requests for ${forWhat}${detail}`, {
          status: res.status,
          retryable: true,
        });
      }
      const failing = res.status >= 500 || res.status === 408;
      throw new RegistryError(failing ? 'REGISTRY_ERROR' : 'AUTH_FAILED', `the token service ${where} answered ${res.status} for ${forWhat}${detail}`, {
        status: res.status,
        retryable: failing,
        hint: res.status >= 500 ? 'the token service is failing; retry later' : 'the registry or its token service is misconfigured',
      });
    }

    const body = await readBody(res, MAX_TOKEN_RESPONSE, transport.timeoutMs, `token service ${where}`);
    let json: Record<string, unknown>;
    try {
      const parsed: unknown = JSON.parse(body.toString('utf8'));
      if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
      json = parsed as Record<string, unknown>;
    } catch {
      throw new RegistryError('AUTH_FAILED', `the token service ${where} sent a response that is not a JSON object (for ${forWhat})`, {
        hint: 'the registry or its token service is misconfigured',
      });
    }
    const token = [json.token, json.access_token].find((t): t is string => typeof t === 'string' && t.length > 0);
    if (!token) {
      throw new RegistryError('AUTH_FAILED', `the token service ${where} sent no token for ${forWhat}`, {
        hint: 'the registry or its token service is misconfigured',
      });
    }
    if (!/^[\x21-\x7e]+$/.test(token)) {
      throw new RegistryError('AUTH_FAILED', `the token service ${where} sent a token with invalid characters for ${forWhat}`);
    }
    this.addSecret(token);
    if (typeof json.refresh_token === 'string') this.addSecret(json.refresh_token);
    const expiresIn =
      typeof json.expires_in === 'number' && Number.isFinite(json.expires_in) && json.expires_in > 0 ? json.expires_in : DEFAULT_TOKEN_SECONDS;
    const lifetime = expiresIn * 1000;
    return {
      realm: realmText,
      service: service ?? '',
      scopes: parseScopes(scopes),
      token,
      expiresAt: this.now() + lifetime - Math.min(EXPIRY_MARGIN_MS, lifetime / 10),
    };
  }
}

function basicHeader(creds: RegistryCredentials | undefined): string | undefined {
  if (!creds || creds.username === undefined || creds.password === undefined) return undefined;
  return `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`;
}

