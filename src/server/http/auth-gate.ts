import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { WharfError, asWharfError } from '../../errors.js';
import { AccessPolicy, type AccessRule } from '../auth/access.js';
import { basicChallenge, bearerChallenge, parseAuthorization } from '../auth/authorization.js';
import { PasswordFile, type PasswordFileOptions, type PasswordFileStats } from '../auth/htpasswd.js';
import { MIN_KEY_BYTES, issueToken, verifyToken, type TokenDeps } from '../auth/token.js';
import { RegistryApiError } from '../errors.js';
import { readCapped } from './body.js';
import type { Caller, Gate } from './gate.js';
import { sendJson } from './respond.js';

export interface AuthGateOptions {
  htpasswd: string;
  groups: Record<string, string[]>;
  access: AccessRule[];
  token: { issuer: string; service: string; expirySeconds: number; realm?: string; key?: string };
  /** Where the token signing key is kept when the configuration names none (created 0600 on first start). */
  defaultKeyPath: string;
  now?: () => number;
  onWarning?: (message: string) => void;
}

export interface AuthGate {
  gate: Gate;
  tokenEndpoint: (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<void>;
  /** How many bcrypt comparisons and cache hits the password checks made (for metrics and tests). */
  passwordStats(): PasswordFileStats;
}

/** The signing key: the configured file, or one the server made for itself in its storage. */
async function loadKey(path: string, create: boolean): Promise<Buffer> {
  try {
    const key = await fsp.readFile(path);
    if (key.length < MIN_KEY_BYTES) {
      throw new WharfError('SERVER_CONFIG_INVALID', `${path}: the token key has ${key.length} bytes; it needs at least ${MIN_KEY_BYTES}`, {
        hint: `make one with: head -c 32 /dev/urandom > ${path}; chmod 600 ${path}`,
      });
    }
    return key;
  } catch (err) {
    if (!create || (err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw err instanceof WharfError ? err : asWharfError(err, 'IO_ERROR', `reading the token key ${path}`);
    }
  }
  const key = randomBytes(32);
  try {
    await fsp.writeFile(path, key, { mode: 0o600, flag: 'wx' });
    return key;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return loadKey(path, false); // another process made it first
    throw asWharfError(err, 'IO_ERROR', `creating the token key ${path}`);
  }
}

/** Host header values we are willing to put into a challenge's realm. */
const SAFE_HOST = /^[A-Za-z0-9.-]+(?::\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](?::\d{1,5})?$/;

/**
 * Access control from the configuration: users in an htpasswd file, access rules, and the built-in token
 * endpoint. Clients are challenged with Bearer (what docker, podman and skopeo expect from a registry with
 * users); Basic credentials sent with any request are accepted as well, for curl and simple clients.
 */
export async function createAuthGate(options: AuthGateOptions): Promise<AuthGate> {
  const now = options.now ?? Date.now;
  const passwordOptions: PasswordFileOptions = { now };
  if (options.onWarning) passwordOptions.onWarning = options.onWarning;
  const passwords = await PasswordFile.load(options.htpasswd, passwordOptions);
  const policy = new AccessPolicy(options.access, options.groups);
  const key = await loadKey(options.token.key ?? options.defaultKeyPath, options.token.key === undefined);
  const { issuer, service } = options.token;
  const deps: TokenDeps = { passwords, policy, key, issuer, service, expiresIn: Math.max(60, options.token.expirySeconds), now };

  const realmOf = (req: IncomingMessage): string => {
    if (options.token.realm) return options.token.realm;
    const host = typeof req.headers.host === 'string' && SAFE_HOST.test(req.headers.host) ? req.headers.host : `${req.socket.localAddress}:${req.socket.localPort}`;
    const scheme = (req.socket as TLSSocket).encrypted ? 'https' : 'http';
    return `${scheme}://${host}/token`;
  };

  const challenge = (req: IncomingMessage, scope?: string, error?: string): string => {
    const value: Parameters<typeof bearerChallenge>[0] = { realm: realmOf(req), service };
    if (scope) value.scope = scope;
    if (error) value.error = error;
    return bearerChallenge(value);
  };

  const refuse = (req: IncomingMessage, message: string, error?: string): RegistryApiError => {
    const err = new RegistryApiError(401, 'UNAUTHORIZED', message);
    err.headers = { 'WWW-Authenticate': challenge(req, undefined, error) };
    return err;
  };

  const gate: Gate = {
    enabled: true,
    async identify(req): Promise<Caller> {
      const header = req.headers.authorization;
      if (header === undefined) return {};
      const creds = parseAuthorization(header);
      if (!creds) throw refuse(req, 'the Authorization header is malformed');
      if (creds.scheme === 'basic') {
        if (!(await passwords.verify(creds.user, creds.password))) throw refuse(req, 'wrong user name or password');
        return { user: creds.user };
      }
      let claims;
      try {
        claims = verifyToken(creds.token, key, { issuer, audience: service, now: now() });
      } catch {
        throw refuse(req, 'the token is invalid or expired', 'invalid_token');
      }
      const granted = new Map<string, Set<string>>();
      let catalog = false;
      for (const entry of claims.access) {
        if (entry.type === 'repository') {
          const set = granted.get(entry.name) ?? new Set<string>();
          for (const a of entry.actions) set.add(a);
          granted.set(entry.name, set);
        } else if (entry.type === 'registry' && entry.name === 'catalog' && entry.actions.includes('*')) {
          catalog = true;
        }
      }
      const caller: Caller = { granted, catalog };
      if (claims.sub) caller.user = claims.sub;
      return caller;
    },
    allows(caller, repository, action) {
      if (caller.granted) return caller.granted.get(repository)?.has(action) ?? false;
      return policy.can(policy.identity(caller.user), repository, action);
    },
    canSee(caller, repository) {
      return policy.can(policy.identity(caller.user), repository, 'pull');
    },
    canListCatalog(caller) {
      return caller.granted ? caller.catalog === true : caller.user !== undefined;
    },
    challenge,
  };

  async function tokenEndpoint(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const request: Parameters<typeof issueToken>[0] = { method: req.method ?? 'GET', query: url.searchParams };
    if (req.headers.authorization !== undefined) request.authorization = req.headers.authorization;
    if (req.method === 'POST') {
      const type = req.headers['content-type']?.split(';')[0]?.trim().toLowerCase();
      if (type !== 'application/x-www-form-urlencoded') {
        throw new RegistryApiError(400, 'UNSUPPORTED', 'a token POST must be an application/x-www-form-urlencoded form');
      }
      request.form = new URLSearchParams((await readCapped(req, 64 * 1024, 'the token request')).toString('utf8'));
    } else if (req.method !== 'GET') {
      throw new RegistryApiError(405, 'UNSUPPORTED', `${req.method} is not allowed on the token endpoint`);
    }
    try {
      const result = await issueToken(request, deps);
      sendJson(res, 200, result.body, { 'Cache-Control': 'no-store' });
    } catch (err) {
      if (err instanceof WharfError && err.code === 'AUTH_FAILED') {
        const refused = new RegistryApiError(401, 'UNAUTHORIZED', err.message);
        refused.headers = { 'WWW-Authenticate': basicChallenge(service) };
        throw refused;
      }
      if (err instanceof WharfError && (err.code === 'USAGE' || err.code === 'TOO_LARGE')) throw new RegistryApiError(400, 'UNSUPPORTED', err.message);
      throw err;
    }
  }

  return { gate, tokenEndpoint, passwordStats: () => passwords.stats() };
}
