import { isAbsolute, join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { WharfError } from '../errors.js';
import { validateAccessRules, validateGroups, type AccessRule } from './auth/access.js';

/**
 * `wharf serve --config FILE`: the registry's settings, in YAML. Every key is optional; unknown keys are errors
 * (a misspelt `acess:` must not silently leave a registry open). Relative paths are relative to the file.
 *
 *   listen: 127.0.0.1:5000
 *   storage: ./registry
 *   tls: { cert: cert.pem, key: key.pem }
 *   auth:
 *     htpasswd: htpasswd              # bcrypt entries, as `htpasswd -B` writes them
 *     groups: { ci: [carol] }
 *     token: { issuer: wharf, service: wharf, expiry: 5m, realm: https://reg.example/token, key: token.key }
 *   access:
 *     - { repositories: ["team-a/**"], users: [alice], groups: [ci], actions: [pull, push, delete] }
 *     - { repositories: ["public/**"], anonymous: [pull] }
 *   gc: { interval: 24h, grace: 1h, deleteUntagged: false, uploadExpiry: 168h }
 *   log: { access: true }
 *   limits: { maxManifestBytes: 4194304, maxBlobBytes: 68719476736 }
 */
export interface ServerConfig {
  listen?: { host: string; port: number };
  storage?: string;
  tls?: { cert: string; key: string };
  auth?: {
    htpasswd: string;
    groups: Record<string, string[]>;
    token: { issuer: string; service: string; expirySeconds: number; realm?: string; key?: string };
  };
  access: AccessRule[];
  gc: { intervalMs?: number; graceMs: number; deleteUntagged: boolean; uploadExpiryMs: number };
  log: { access: boolean };
  limits: { maxManifestBytes?: number; maxBlobBytes?: number };
}

export const DEFAULT_GC = { graceMs: 60 * 60 * 1000, deleteUntagged: false, uploadExpiryMs: 7 * 24 * 60 * 60 * 1000 };

const MAX_CONFIG_BYTES = 1 << 20;

function fail(where: string, message: string, hint?: string): never {
  throw new WharfError('SERVER_CONFIG_INVALID', `${where}: ${message}`, { hint: hint ?? 'see `wharf serve --help` for the configuration file format' });
}

function object(value: unknown, where: string, keys: readonly string[]): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) fail(where, 'must be a mapping');
  const o = value as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!keys.includes(k)) fail(where, `unknown key "${k.slice(0, 40)}"`, `the keys here are: ${keys.join(', ')}`);
  }
  return o;
}

function string(value: unknown, where: string): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > 4096) fail(where, 'must be a non-empty string');
  return value;
}

function path(value: unknown, where: string, baseDir: string): string {
  const p = string(value, where);
  return isAbsolute(p) ? p : join(baseDir, p);
}

function positiveInteger(value: unknown, where: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) fail(where, 'must be a positive integer');
  return value;
}

/** `90s`, `5m`, `1h`, `7d`, `1h30m`, or a number of seconds. */
export function parseDuration(value: unknown, where: string): number {
  if (typeof value === 'number' && Number.isFinite(value) && value >= 0) return value * 1000;
  if (typeof value !== 'string') fail(where, 'must be a duration such as 90s, 5m, 1h or 7d');
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
  let total = 0;
  let rest = value.trim();
  if (!rest) fail(where, 'must be a duration such as 90s, 5m, 1h or 7d');
  while (rest) {
    const m = /^(\d{1,9})(ms|s|m|h|d)/.exec(rest);
    if (!m) fail(where, `"${value.slice(0, 30)}" is not a duration`, 'write it as 90s, 5m, 1h, 7d or 1h30m');
    total += Number(m[1]) * units[m[2]!]!;
    rest = rest.slice(m[0].length);
  }
  return total;
}

/** `HOST:PORT`, `:PORT`, `PORT`, or `[IPv6]:PORT`. */
export function parseListen(value: string, where = 'listen'): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s]*))?:?(\d{1,5})$/.exec(value.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) fail(where, `"${value.slice(0, 60)}" is not HOST:PORT`, 'e.g. --listen 127.0.0.1:5000, --listen :5000 (every interface) or --listen 0.0.0.0:443');
  const host = m[1] ?? (m[2] || (value.trim().startsWith(':') ? '0.0.0.0' : '127.0.0.1'));
  return { host, port };
}

export function parseServerConfig(text: string, file: string, baseDir: string): ServerConfig {
  if (Buffer.byteLength(text) > MAX_CONFIG_BYTES) fail(file, `is larger than ${MAX_CONFIG_BYTES} bytes`);
  let doc: unknown;
  try {
    doc = parseYaml(text, { maxAliasCount: 100, uniqueKeys: true });
  } catch (err) {
    fail(file, `is not valid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  const top = object(doc ?? {}, file, ['listen', 'storage', 'tls', 'auth', 'access', 'gc', 'log', 'limits']);
  const config: ServerConfig = { access: [], gc: { ...DEFAULT_GC }, log: { access: true }, limits: {} };
  if (top.listen !== undefined) config.listen = parseListen(string(top.listen, `${file}: listen`), `${file}: listen`);
  if (top.storage !== undefined) config.storage = path(top.storage, `${file}: storage`, baseDir);
  if (top.tls !== undefined) {
    const tls = object(top.tls, `${file}: tls`, ['cert', 'key']);
    config.tls = { cert: path(tls.cert, `${file}: tls.cert`, baseDir), key: path(tls.key, `${file}: tls.key`, baseDir) };
  }
  if (top.auth !== undefined) {
    const auth = object(top.auth, `${file}: auth`, ['htpasswd', 'groups', 'token']);
    if (auth.htpasswd === undefined) fail(`${file}: auth`, 'needs htpasswd: the file of users and bcrypt passwords', 'make one with `htpasswd -cB FILE USER`');
    const token = object(auth.token ?? {}, `${file}: auth.token`, ['issuer', 'service', 'expiry', 'realm', 'key']);
    config.auth = {
      htpasswd: path(auth.htpasswd, `${file}: auth.htpasswd`, baseDir),
      groups: auth.groups === undefined ? {} : validateGroups(auth.groups, `${file}: auth.groups`),
      token: {
        issuer: token.issuer === undefined ? 'wharf' : string(token.issuer, `${file}: auth.token.issuer`),
        service: token.service === undefined ? 'wharf' : string(token.service, `${file}: auth.token.service`),
        expirySeconds: token.expiry === undefined ? 300 : Math.max(1, Math.floor(parseDuration(token.expiry, `${file}: auth.token.expiry`) / 1000)),
      },
    };
    if (token.realm !== undefined) config.auth.token.realm = string(token.realm, `${file}: auth.token.realm`);
    if (token.key !== undefined) config.auth.token.key = path(token.key, `${file}: auth.token.key`, baseDir);
  }
  if (top.access !== undefined) {
    if (!config.auth) fail(`${file}: access`, 'access rules need auth (an htpasswd file): without auth everyone may do anything');
    config.access = validateAccessRules(top.access, `${file}: access`);
  }
  if (top.gc !== undefined) {
    const gc = object(top.gc, `${file}: gc`, ['interval', 'grace', 'deleteUntagged', 'uploadExpiry']);
    if (gc.interval !== undefined) config.gc.intervalMs = Math.max(1000, parseDuration(gc.interval, `${file}: gc.interval`));
    if (gc.grace !== undefined) config.gc.graceMs = parseDuration(gc.grace, `${file}: gc.grace`);
    if (gc.uploadExpiry !== undefined) config.gc.uploadExpiryMs = parseDuration(gc.uploadExpiry, `${file}: gc.uploadExpiry`);
    if (gc.deleteUntagged !== undefined) {
      if (typeof gc.deleteUntagged !== 'boolean') fail(`${file}: gc.deleteUntagged`, 'must be true or false');
      config.gc.deleteUntagged = gc.deleteUntagged;
    }
  }
  if (top.log !== undefined) {
    const log = object(top.log, `${file}: log`, ['access']);
    if (log.access !== undefined) {
      if (typeof log.access !== 'boolean') fail(`${file}: log.access`, 'must be true or false');
      config.log.access = log.access;
    }
  }
  if (top.limits !== undefined) {
    const limits = object(top.limits, `${file}: limits`, ['maxManifestBytes', 'maxBlobBytes']);
    if (limits.maxManifestBytes !== undefined) config.limits.maxManifestBytes = positiveInteger(limits.maxManifestBytes, `${file}: limits.maxManifestBytes`);
    if (limits.maxBlobBytes !== undefined) config.limits.maxBlobBytes = positiveInteger(limits.maxBlobBytes, `${file}: limits.maxBlobBytes`);
  }
  return config;
}
