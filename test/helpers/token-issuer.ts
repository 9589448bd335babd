/**
 * A token issuer for the registry tests: the auth server of the Docker registry token flow
 * (WWW-Authenticate: Bearer realm=…,service=…,scope=… → GET realm?service=…&scope=… → {"token": …}), issuing
 * RS256 JWTs that CNCF distribution 2.8 (`auth: token:`) accepts.
 *
 * What distribution 2.8 checks in a token (registry/auth/token/token.go):
 * - `iss` equals the configured `issuer`; `aud` equals the configured `service` — a JSON *string* in 2.8
 *   (an array is only understood from distribution 3.0 on);
 * - `exp` and `nbf` (seconds since the epoch, 60 s leeway both ways); a missing `nbf` reads as 0;
 * - the signing key: taken from the header's `x5c` chain (standard base64 DER, leaf first), which must verify
 *   against the `rootcertbundle`; (without x5c it would look the key up by a libtrust key id in `kid`);
 * - `access: [{type, name, actions}]` must contain every action the request needs (pull for GET/HEAD, pull+push
 *   for uploads, delete for DELETE).
 *
 * The issuer records every request (scopes asked for, who asked, what it granted) and can be told to misbehave
 * for hostile-registry tests.
 */
import { execFile } from 'node:child_process';
import { createPrivateKey, randomBytes, sign, timingSafeEqual, X509Certificate, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

// ---------------------------------------------------------------------------------------------------------
// Certificates (made with openssl once per test process, removed when the process exits)

export interface TestCertificate {
  /** PEM certificate (self-signed: it is its own CA). */
  certPath: string;
  /** PEM private key (PKCS#8, unencrypted). */
  keyPath: string;
  certPem: string;
  keyPem: string;
  /** The certificate as base64 DER, as JWT `x5c` wants it. */
  derBase64: string;
}

let certDir: string | undefined;
const certCache = new Map<string, Promise<TestCertificate>>();

function certificateDir(): string {
  if (!certDir) {
    certDir = mkdtempSync(join(tmpdir(), 'wharf-test-certs-'));
    const dir = certDir;
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  }
  return certDir;
}

/**
 * A self-signed certificate and its key, made once per test process:
 * - `token-signing`: RSA 2048, for signing the issuer's RS256 JWTs (the registry's `rootcertbundle`);
 * - `tls`: EC P-256 with subjectAltName IP:127.0.0.1 and DNS:localhost, for HTTPS registries (also the CA to trust).
 */
export function testCertificate(kind: 'token-signing' | 'tls'): Promise<TestCertificate> {
  let p = certCache.get(kind);
  if (!p) {
    p = makeCertificate(kind);
    p.catch(() => certCache.delete(kind));
    certCache.set(kind, p);
  }
  return p;
}

async function makeCertificate(kind: 'token-signing' | 'tls'): Promise<TestCertificate> {
  const dir = certificateDir();
  const certPath = join(dir, `${kind}.crt`);
  const keyPath = join(dir, `${kind}.key`);
  const args = ['req', '-x509', '-nodes', '-sha256', '-days', '3650', '-keyout', keyPath, '-out', certPath];
  if (kind === 'token-signing') {
    args.push('-newkey', 'rsa:2048', '-subj', '/CN=wharf test token issuer');
  } else {
    args.push('-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-subj', '/CN=localhost');
    args.push('-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost');
  }
  try {
    await execFileP('openssl', args);
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`openssl ${args.join(' ')} failed: ${e.stderr || e.message}`);
  }
  const certPem = readFileSync(certPath, 'utf8');
  const keyPem = readFileSync(keyPath, 'utf8');
  return { certPath, keyPath, certPem, keyPem, derBase64: new X509Certificate(certPem).raw.toString('base64') };
}

// ---------------------------------------------------------------------------------------------------------
// Types

/** One `scope` of the token request, e.g. `repository:library/busybox:pull,push`; also one `access` claim entry. */
export interface TokenScope {
  type: string;
  name: string;
  actions: string[];
}

/**
 * Who may do what: a function returning the actions allowed to `user` (undefined: anonymous) on a scope's
 * resource, or a table `{ USER | 'anonymous' | '*': { REPO | 'PREFIX/*' | '*': actions } }` where the `'*'` user
 * is any authenticated user and `'*'` among the actions allows every action; matching rows add up.
 * The issuer grants the requested actions that are allowed.
 */
export type AccessPolicy = ((user: string | undefined, scope: TokenScope) => readonly string[]) | AccessTable;
export type AccessTable = Record<string, Record<string, readonly string[]>>;

/** Ways the issuer can misbehave, for hostile tests. */
export type TokenMisbehaviour =
  /** A valid token, but its access claims name another repository (`other/NAME`). */
  | 'wrong-scope'
  /** Only `token` in the response, no `access_token`. */
  | 'token-only'
  /** Only `access_token` in the response, no `token`. */
  | 'access-token-only'
  /** HTTP 500 with a plain-text body. */
  | 'status-500'
  /** HTTP 200 with a truncated JSON body. */
  | 'malformed-json'
  /** HTTP 200 `{}`: no token at all. */
  | 'no-token'
  /** A token whose `exp` is an hour ago (the registry refuses it). */
  | 'expired'
  /** A token whose signature does not verify (the registry refuses it). */
  | 'bad-signature';

export interface TokenRequestRecord {
  method: string;
  /** Request path and query as received. */
  url: string;
  /** The client's User-Agent (tells skopeo from a pull-through registry). */
  userAgent?: string;
  /** `password` or `refresh_token` for the OAuth2 POST form; undefined for the GET flow. */
  grantType?: string;
  service?: string;
  /** The scopes asked for, parsed, in order. */
  scopes: TokenScope[];
  /** The scope strings as sent. */
  rawScopes: string[];
  /** The user name presented (Basic auth, or the POST form), even when the password was wrong. */
  username?: string;
  /** The authenticated user; undefined for anonymous or rejected requests. */
  user?: string;
  /** The `account` query parameter. */
  account?: string;
  clientId?: string;
  offlineToken: boolean;
  /** HTTP status the issuer answered with. */
  status: number;
  /** What the token granted (empty when no token was issued). */
  granted: TokenScope[];
  /** The misbehaviour applied to this answer, if any. */
  misbehaviour?: TokenMisbehaviour;
}

export interface TokenIssuerOptions {
  /** user → password (default `{ alice: 'secret', bob: 'pw' }`). */
  users?: Record<string, string>;
  /** Default: any authenticated user gets every action asked for; anonymous gets nothing. */
  policy?: AccessPolicy;
  /** The `service` (JWT `aud`); default `wharf-test-registry`. */
  service?: string;
  /** The JWT `iss`; default `wharf-test-issuer`. */
  issuer?: string;
  /** Token lifetime in seconds (default 300). */
  expiresIn?: number;
}

export interface MintOptions {
  user?: string;
  access: TokenScope[];
  /** Seconds (default: the issuer's expiresIn); negative makes an expired token. */
  expiresIn?: number;
  audience?: string;
  issuer?: string;
}

export interface TokenIssuer {
  /** `http://127.0.0.1:PORT` */
  url: string;
  /** The realm to put in the registry's challenge: `${url}/token`. */
  realm: string;
  service: string;
  issuer: string;
  /** The signing certificate (what the registry's `rootcertbundle` holds). */
  certPath: string;
  users: Record<string, string>;
  policy: AccessPolicy;
  /** Every request received, oldest first. */
  requests: TokenRequestRecord[];
  /** Misbehave on the next `times` requests (default: until told otherwise); no mode: behave again. */
  misbehave(mode?: TokenMisbehaviour, times?: number): void;
  /** Sign a token directly (e.g. to hand a client a token for a chosen scope). */
  mint(options: MintOptions): string;
  close(): Promise<void>;
}

export const DEFAULT_USERS: Readonly<Record<string, string>> = Object.freeze({ alice: 'secret', bob: 'pw' });

// ---------------------------------------------------------------------------------------------------------
// Issuer

/** Start a token issuer on 127.0.0.1 (a free port); it is closed after the test. */
export async function startTokenIssuer(t: TestContext, options: TokenIssuerOptions = {}): Promise<TokenIssuer> {
  const cert = await testCertificate('token-signing');
  const key = createPrivateKey(cert.keyPem);
  const service = options.service ?? 'wharf-test-registry';
  const issuerName = options.issuer ?? 'wharf-test-issuer';
  const expiresIn = options.expiresIn ?? 300;
  const refreshTokens = new Map<string, string>();
  let mode: TokenMisbehaviour | undefined;
  let modeLeft = 0;

  const state: TokenIssuer = {
    url: '',
    realm: '',
    service,
    issuer: issuerName,
    certPath: cert.certPath,
    users: { ...(options.users ?? DEFAULT_USERS) },
    policy: options.policy ?? defaultPolicy,
    requests: [],
    misbehave(m?: TokenMisbehaviour, times = Number.POSITIVE_INFINITY) {
      mode = m;
      modeLeft = m ? times : 0;
    },
    mint: (o) => mint(key, cert.derBase64, { issuer: issuerName, audience: service, expiresIn, ...o }),
    close: async () => {},
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(`token issuer error: ${(err as Error).message}`);
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://issuer');
    if (url.pathname !== '/token' || (req.method !== 'GET' && req.method !== 'POST')) {
      sendJson(res, 404, { errors: [{ code: 'NOT_FOUND', message: `no route ${req.method} ${url.pathname}` }] });
      return;
    }
    const rec: TokenRequestRecord = { method: req.method, url: req.url ?? '', scopes: [], rawScopes: [], offlineToken: false, status: 0, granted: [] };
    if (req.headers['user-agent'] !== undefined) rec.userAgent = req.headers['user-agent'];
    state.requests.push(rec);

    let params = url.searchParams;
    let user: string | undefined;
    let authFailed = false;
    if (req.method === 'POST') {
      params = new URLSearchParams(await readBody(req, 1 << 20));
      rec.grantType = params.get('grant_type') ?? undefined;
      if (rec.grantType === 'password') {
        rec.username = params.get('username') ?? undefined;
        if (rec.username !== undefined && checkPassword(state.users, rec.username, params.get('password') ?? '')) user = rec.username;
        else authFailed = true;
      } else if (rec.grantType === 'refresh_token') {
        user = refreshTokens.get(params.get('refresh_token') ?? '');
        rec.username = user;
        if (user === undefined) authFailed = true;
      } else {
        rec.status = 400;
        sendJson(res, 400, { error: 'unsupported_grant_type', error_description: `grant_type ${rec.grantType ?? '(none)'}` });
        return;
      }
      rec.offlineToken = params.get('access_type') === 'offline';
    } else {
      const basic = parseBasic(req.headers.authorization);
      if (basic) {
        rec.username = basic.user;
        if (checkPassword(state.users, basic.user, basic.pass)) user = basic.user;
        else authFailed = true;
      } else if (req.headers.authorization) {
        authFailed = true;
      }
      rec.offlineToken = params.get('offline_token') === 'true';
    }
    rec.user = user;
    rec.service = params.get('service') ?? undefined;
    rec.account = params.get('account') ?? undefined;
    rec.clientId = params.get('client_id') ?? undefined;
    for (const raw of params.getAll('scope')) {
      for (const one of raw.split(' ').filter(Boolean)) {
        rec.rawScopes.push(one);
        const s = parseScope(one);
        if (s) rec.scopes.push(s);
      }
    }

    if (authFailed) {
      rec.status = 401;
      res.setHeader('www-authenticate', 'Basic realm="wharf-test-issuer"');
      sendJson(res, 401, { errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] });
      return;
    }

    let bad: TokenMisbehaviour | undefined;
    if (mode !== undefined && modeLeft > 0) {
      bad = mode;
      rec.misbehaviour = bad;
      modeLeft--;
      if (modeLeft === 0) mode = undefined;
    }
    if (bad === 'status-500') {
      rec.status = 500;
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end('internal error (on purpose)');
      return;
    }
    if (bad === 'malformed-json') {
      rec.status = 200;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"token": "eyJhbGciOi');
      return;
    }
    if (bad === 'no-token') {
      rec.status = 200;
      sendJson(res, 200, {});
      return;
    }

    let granted = grant(state.policy, user, rec.scopes);
    if (bad === 'wrong-scope') granted = granted.length ? granted.map((s) => ({ ...s, name: `other/${s.name}` })) : rec.scopes.map((s) => ({ ...s, name: `other/${s.name}` }));
    rec.granted = granted;
    let token = state.mint({ user, access: granted, ...(bad === 'expired' ? { expiresIn: -3600 } : {}) });
    if (bad === 'bad-signature') {
      const [h, p, s] = token.split('.') as [string, string, string];
      const sig = Buffer.from(s, 'base64url');
      sig[0] = sig[0]! ^ 0xff;
      token = `${h}.${p}.${sig.toString('base64url')}`;
    }
    const body: Record<string, unknown> = { expires_in: expiresIn, issued_at: new Date().toISOString() };
    if (req.method === 'POST') {
      body.access_token = token;
      body.scope = rec.rawScopes.join(' ');
      if (bad === 'token-only') {
        delete body.access_token;
        body.token = token;
      }
    } else {
      if (bad !== 'access-token-only') body.token = token;
      if (bad !== 'token-only') body.access_token = token;
    }
    if (rec.offlineToken && user !== undefined) {
      const refresh = randomBytes(18).toString('base64url');
      refreshTokens.set(refresh, user);
      body.refresh_token = refresh;
    }
    rec.status = 200;
    sendJson(res, 200, body);
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  state.url = `http://127.0.0.1:${port}`;
  state.realm = `${state.url}/token`;
  let closed: Promise<void> | undefined;
  state.close = () => {
    closed ??= new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
    return closed;
  };
  t.after(() => state.close());
  return state;
}

function defaultPolicy(user: string | undefined, scope: TokenScope): readonly string[] {
  return user === undefined ? [] : scope.actions;
}

/** Parse `type:name:actions` (`name` may itself hold colons, e.g. a registry:catalog:* scope). */
export function parseScope(s: string): TokenScope | undefined {
  const first = s.indexOf(':');
  const last = s.lastIndexOf(':');
  if (first < 0 || last === first) return undefined;
  return { type: s.slice(0, first), name: s.slice(first + 1, last), actions: s.slice(last + 1).split(',').filter(Boolean) };
}

function allowedBy(policy: AccessPolicy, user: string | undefined, scope: TokenScope): readonly string[] {
  if (typeof policy === 'function') return policy(user, scope);
  const rows = user === undefined ? [policy.anonymous] : [policy[user], policy['*']];
  const out: string[] = [];
  for (const row of rows) {
    if (!row) continue;
    for (const [pattern, actions] of Object.entries(row)) {
      const hit =
        pattern === '*' || pattern === scope.name || (pattern.endsWith('/*') && scope.name.startsWith(pattern.slice(0, -1)));
      if (hit) out.push(...actions);
    }
  }
  return out;
}

function grant(policy: AccessPolicy, user: string | undefined, scopes: TokenScope[]): TokenScope[] {
  const out: TokenScope[] = [];
  for (const s of scopes) {
    const allowed = allowedBy(policy, user, s);
    const actions = allowed.includes('*') ? s.actions : s.actions.filter((a) => allowed.includes(a));
    if (actions.length) out.push({ type: s.type, name: s.name, actions });
  }
  return out;
}

function mint(key: KeyObject, x5c: string, o: MintOptions & { issuer: string; audience: string; expiresIn: number }): string {
  const now = Math.floor(Date.now() / 1000);
  const header = { typ: 'JWT', alg: 'RS256', x5c: [x5c] };
  const claims = {
    iss: o.issuer,
    sub: o.user ?? '',
    aud: o.audience,
    exp: now + o.expiresIn,
    nbf: Math.min(now, now + o.expiresIn) - 1,
    iat: Math.min(now, now + o.expiresIn) - 1,
    jti: randomBytes(12).toString('hex'),
    access: o.access.map((a) => ({ type: a.type, name: a.name, actions: [...a.actions] })),
  };
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
  return `${input}.${sign('sha256', Buffer.from(input), key).toString('base64url')}`;
}

/** Decode a JWT's header and claims without verifying it (for assertions). */
export function decodeJwt(token: string): { header: Record<string, unknown>; claims: Record<string, unknown> } {
  const [h, p] = token.split('.');
  return {
    header: JSON.parse(Buffer.from(h ?? '', 'base64url').toString('utf8')) as Record<string, unknown>,
    claims: JSON.parse(Buffer.from(p ?? '', 'base64url').toString('utf8')) as Record<string, unknown>,
  };
}

function b64url(s: string): string {
  return Buffer.from(s, 'utf8').toString('base64url');
}

function parseBasic(header: string | undefined): { user: string; pass: string } | undefined {
  const m = /^Basic\s+(\S+)$/i.exec(header ?? '');
  if (!m) return undefined;
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  return { user: decoded.slice(0, colon), pass: decoded.slice(colon + 1) };
}

function checkPassword(users: Record<string, string>, user: string, pass: string): boolean {
  if (!Object.prototype.hasOwnProperty.call(users, user)) return false;
  const a = Buffer.from(users[user]!);
  const b = Buffer.from(pass);
  return a.length === b.length && timingSafeEqual(a, b);
}

async function readBody(req: IncomingMessage, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    n += c.length;
    if (n > limit) throw new Error('request body too large');
    chunks.push(c);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const bytes = Buffer.from(JSON.stringify(body));
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': bytes.length });
  res.end(bytes);
}
