/**
 * Registry credentials in the files the containers tools and Docker use: containers-auth.json(5)
 * (`${XDG_RUNTIME_DIR}/containers/auth.json`), Docker's `config.json`, and the legacy `~/.dockercfg`.
 *
 *   {
 *     "auths": { "registry.example.com/team": { "auth": base64("user:password") },
 *                "quay.io": { "identitytoken": "…" } },
 *     "credHelpers": { "123.dkr.ecr.eu-west-1.amazonaws.com": "ecr-login" },
 *     "credsStore": "pass"
 *   }
 *
 * Lookups follow containers/image: the files in order; in each file a `credHelpers` entry for the host wins
 * (and decides that file), then the most specific `auths` key (`host/a/b`, `host/a`, `host`), then keys
 * written as URLs (`https://index.docker.io/v1/`). `credsStore` (Docker's global helper) is asked before the
 * `auths` entries of its file.
 *
 * Nothing secret ever goes into an error: messages name the file and the key, never a value.
 */
import { basename, join } from 'node:path';
import { WharfError } from '../errors.js';
import {
  checkHelperName,
  helperErase,
  helperGet,
  helperStore,
  type Credentials,
  type HelperOptions,
} from './credential-helper.js';
import { readCapped, writeFileAtomic } from './files.js';
import { isDomain, isRepoPath, normalizeRegistryHost, printable } from './names.js';

export type { Credentials, HelperOptions } from './credential-helper.js';

/** The environment variables that choose the auth files. `uid` stands in for getuid() when XDG_RUNTIME_DIR is unset. */
export interface AuthEnv {
  REGISTRY_AUTH_FILE?: string | undefined;
  XDG_RUNTIME_DIR?: string | undefined;
  XDG_CONFIG_HOME?: string | undefined;
  HOME?: string | undefined;
  DOCKER_CONFIG?: string | undefined;
  uid?: number | undefined;
}

/** Docker Hub's key in Docker's own config.json. */
export const DOCKER_HUB_LEGACY_KEY = 'https://index.docker.io/v1/';

const nonEmpty = (s: string | undefined): s is string => typeof s === 'string' && s !== '';

/**
 * The auth file that is read first and written by login/logout: `explicit` (--authfile), else
 * `$REGISTRY_AUTH_FILE`, else `${XDG_RUNTIME_DIR}/containers/auth.json`, else `/run/containers/UID/auth.json`.
 * Returns undefined when none can be decided (no XDG_RUNTIME_DIR and no uid).
 */
export function primaryAuthFile(env: AuthEnv, explicit?: string): string | undefined {
  if (nonEmpty(explicit)) return explicit;
  if (nonEmpty(env.REGISTRY_AUTH_FILE)) return env.REGISTRY_AUTH_FILE;
  if (nonEmpty(env.XDG_RUNTIME_DIR)) return join(env.XDG_RUNTIME_DIR, 'containers', 'auth.json');
  if (typeof env.uid === 'number') return `/run/containers/${env.uid}/auth.json`;
  return undefined;
}

/**
 * The files to read credentials from, in order, as containers/image reads them.
 *
 * A file the user chose (`explicit`, i.e. --authfile, or `$REGISTRY_AUTH_FILE`) is the only one read: the
 * containers tools do not fall back to other files then, so a CI job with its own auth file never picks up a
 * developer's ~/.docker credentials. Otherwise: `${XDG_RUNTIME_DIR}/containers/auth.json` (or
 * `/run/containers/UID/auth.json`), `${XDG_CONFIG_HOME:-~/.config}/containers/auth.json`,
 * `$DOCKER_CONFIG/config.json` or `~/.docker/config.json`, and `~/.dockercfg` (legacy format).
 */
export function authFileCandidates(env: AuthEnv, explicit?: string): string[] {
  if (nonEmpty(explicit)) return [explicit];
  if (nonEmpty(env.REGISTRY_AUTH_FILE)) return [env.REGISTRY_AUTH_FILE];
  const out: string[] = [];
  const primary = primaryAuthFile(env);
  if (primary) out.push(primary);
  const home = nonEmpty(env.HOME) ? env.HOME : undefined;
  const configHome = nonEmpty(env.XDG_CONFIG_HOME) ? env.XDG_CONFIG_HOME : home ? join(home, '.config') : undefined;
  if (configHome) out.push(join(configHome, 'containers', 'auth.json'));
  if (nonEmpty(env.DOCKER_CONFIG)) out.push(join(env.DOCKER_CONFIG, 'config.json'));
  else if (home) out.push(join(home, '.docker', 'config.json'));
  if (home) out.push(join(home, '.dockercfg'));
  return [...new Set(out)];
}

/** The file `wharf login`/`logout` write: the primary file. Throws USAGE if there is none. */
export function authFileForWriting(env: AuthEnv, explicit?: string): string {
  const p = primaryAuthFile(env, explicit);
  if (!p) {
    throw new WharfError('USAGE', 'cannot decide where to store credentials: XDG_RUNTIME_DIR is not set', {
      hint: 'pass --authfile FILE, or set REGISTRY_AUTH_FILE',
    });
  }
  return p;
}

/** `~/.dockercfg` is the pre-2015 format: the `auths` map at the top level, keyed by URLs. */
export function isLegacyAuthFile(path: string): boolean {
  return basename(path) === '.dockercfg';
}

// ---------------------------------------------------------------------------------------------------------------
// Keys

interface ParsedKey {
  key: string;
  host: string;
  namespaced: boolean;
}

/**
 * A key is `host[:port]` or `host[:port]/namespace/…/repo` — a registry, a namespace or a repository, never a
 * tag or digest, never a URL.
 */
function parseKey(key: string): ParsedKey {
  const bad = (why: string): WharfError =>
    new WharfError('USAGE', `${JSON.stringify(printable(key, 300))} is not a registry or repository (${why})`, {
      hint: 'give host[:port] or host[:port]/namespace/repo, without scheme, tag or digest',
    });
  if (typeof key !== 'string' || key === '') throw bad('empty');
  if (key.startsWith('http://') || key.startsWith('https://')) throw bad('a URL');
  if (key.includes('@')) throw bad('contains "@"');
  const slash = key.indexOf('/');
  const host = slash < 0 ? key : key.slice(0, slash);
  const path = slash < 0 ? '' : key.slice(slash + 1);
  if (path.includes(':')) throw bad('contains ":" after host[:port]');
  if (!isDomain(host)) throw bad('invalid host');
  if (slash >= 0 && !isRepoPath(path)) throw bad('invalid repository path');
  return { key, host, namespaced: slash >= 0 };
}

/** `a.io/b/c` → [`a.io/b/c`, `a.io/b`, `a.io`]: most specific first. */
function keysMostSpecificFirst(key: string): string[] {
  const out = [key];
  let k = key;
  for (let i = k.lastIndexOf('/'); i > 0; i = k.lastIndexOf('/')) {
    k = k.slice(0, i);
    out.push(k);
  }
  return out;
}

/** A key as Docker may have written it (`https://host/v1/`) reduced to a host, docker.io spelled canonically. */
function normalizeFileKey(key: string, legacy: boolean): string {
  let stripped = key;
  if (key.startsWith('http://')) stripped = key.slice('http://'.length);
  else if (key.startsWith('https://')) stripped = key.slice('https://'.length);
  if (legacy || stripped !== key) stripped = stripped.split('/', 1)[0]!;
  return normalizeRegistryHost(stripped);
}

/** The server URLs a helper may know a host by: Docker stores Docker Hub under its v1 URL. */
function helperServerURLs(host: string): string[] {
  return normalizeRegistryHost(host) === 'docker.io' ? [host, DOCKER_HUB_LEGACY_KEY] : [host];
}

// ---------------------------------------------------------------------------------------------------------------
// Parsing

type JsonObject = Record<string, unknown>;

interface AuthFileContents {
  path: string;
  legacy: boolean;
  /** The whole document, so writes keep every field we do not know. */
  raw: JsonObject;
  auths: JsonObject;
  credHelpers: Record<string, unknown>;
  credsStore?: string;
}

const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

function invalid(path: string, what: string, hint?: string): WharfError {
  return new WharfError('AUTH_FILE_INVALID', `auth file ${path}: ${what}`, {
    hint: hint ?? 'fix or remove the file (wharf login rewrites it), or point --authfile elsewhere',
  });
}

/** Line and column of a byte offset, for pointing at a JSON syntax error without quoting the file. */
function lineCol(text: string, pos: number): string {
  let line = 1;
  let col = 1;
  for (let i = 0; i < pos && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      col = 1;
    } else col++;
  }
  return `line ${line}, column ${col}`;
}

function parseAuthFile(path: string, bytes: Buffer): AuthFileContents {
  const legacy = isLegacyAuthFile(path);
  const text = bytes.toString('utf8');
  let doc: unknown;
  if (text.trim() === '') {
    doc = {};
  } else {
    try {
      doc = JSON.parse(text);
    } catch (err) {
      // The engine's message may quote the text around the error, which may be a secret: report a position only.
      const m = /position (\d+)/.exec(String((err as Error).message));
      const where = m ? ` at ${lineCol(text, Number(m[1]))}` : '';
      throw invalid(path, `not valid JSON${where}`);
    }
  }
  if (!isObject(doc)) throw invalid(path, 'the top level is not a JSON object');
  if (legacy) return { path, legacy, raw: doc, auths: doc, credHelpers: {} };
  const auths = doc.auths ?? {};
  if (!isObject(auths)) throw invalid(path, '"auths" is not an object');
  const credHelpers = doc.credHelpers ?? {};
  if (!isObject(credHelpers)) throw invalid(path, '"credHelpers" is not an object');
  const out: AuthFileContents = { path, legacy, raw: doc, auths, credHelpers };
  if (doc.credsStore !== undefined && doc.credsStore !== null && doc.credsStore !== '') {
    if (typeof doc.credsStore !== 'string') throw invalid(path, '"credsStore" is not a string');
    out.credsStore = doc.credsStore;
  }
  return out;
}

const STRICT_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * One `auths` entry to credentials. undefined for the empty `{}` entries Docker writes next to a credential
 * helper. The messages never include the value.
 */
function decodeEntry(path: string, key: string, entry: unknown): Credentials | undefined {
  const where = `entry ${JSON.stringify(printable(key, 300))}`;
  if (!isObject(entry)) throw invalid(path, `${where} is not an object`);
  const { auth, identitytoken } = entry;
  if (auth !== undefined && auth !== null && typeof auth !== 'string') throw invalid(path, `${where}: "auth" is not a string`);
  if (identitytoken !== undefined && identitytoken !== null && typeof identitytoken !== 'string') {
    throw invalid(path, `${where}: "identitytoken" is not a string`);
  }
  let username: string | undefined;
  let password: string | undefined;
  if (typeof auth === 'string' && auth !== '') {
    const compact = auth.replace(/[\r\n]/g, ''); // Go's decoder skips line breaks
    if (!STRICT_BASE64.test(compact)) {
      throw invalid(path, `${where}: "auth" is not valid base64`, 'log in again to rewrite the entry (wharf login)');
    }
    const decoded = Buffer.from(compact, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) {
      if (decoded !== '') {
        throw invalid(path, `${where}: "auth" does not decode to "user:password"`, 'log in again to rewrite the entry (wharf login)');
      }
    } else {
      username = decoded.slice(0, colon);
      // Only the first colon separates: passwords may contain colons. Go trims stray NULs around the password.
      password = decoded.slice(colon + 1).replace(/^\0+|\0+$/g, '');
    }
  }
  if (typeof identitytoken === 'string' && identitytoken !== '') {
    return username ? { identityToken: identitytoken, username } : { identityToken: identitytoken };
  }
  if (username === undefined || (username === '' && password === '')) return undefined;
  return { username, password: password ?? '' };
}

// ---------------------------------------------------------------------------------------------------------------
// Reading

/** Where a credential was found: a file path, or `docker-credential-NAME` (with the file that named it). */
export interface CredentialsFound {
  credentials: Credentials;
  source: string;
}

interface LoadedFile {
  path: string;
  contents?: AuthFileContents;
  /** A file that could not be read or parsed fails the lookups that reach it, as in containers/image. */
  error?: WharfError;
}

export class AuthStore {
  private constructor(
    private readonly loaded: LoadedFile[],
    private readonly options: HelperOptions,
  ) {}

  /**
   * Read `files` (missing ones are skipped). A file that cannot be parsed does not fail here: it fails the
   * lookups that get as far as it, so a broken ~/.docker/config.json does not hide credentials in auth.json.
   */
  static async load(files: readonly string[], options: HelperOptions = {}): Promise<AuthStore> {
    const loaded: LoadedFile[] = [];
    for (const path of files) {
      try {
        const bytes = await readCapped(path, 'auth file');
        if (bytes === undefined) continue;
        loaded.push({ path, contents: parseAuthFile(path, bytes) });
      } catch (err) {
        loaded.push({ path, error: err instanceof WharfError ? err : invalid(path, 'cannot be read') });
      }
    }
    return new AuthStore(loaded, options);
  }

  /** The files that exist, in lookup order. */
  get files(): string[] {
    return this.loaded.map((f) => f.path);
  }

  /** Credentials for `key` (`host[:port]` or `host[:port]/repo/path`), or undefined for anonymous access. */
  async lookup(key: string, signal?: AbortSignal): Promise<Credentials | undefined> {
    return (await this.find(key, signal))?.credentials;
  }

  /** Like lookup, and says where the credentials came from (for debug output; never print the credentials). */
  async find(key: string, signal?: AbortSignal): Promise<CredentialsFound | undefined> {
    const k = parseKey(key);
    const opts = signal ? { ...this.options, signal } : this.options;
    for (const f of this.loaded) {
      if (f.error) throw f.error;
      const found = await findInFile(f.contents!, k, opts);
      if (found) return found;
    }
    return undefined;
  }
}

async function askHelper(name: string, host: string, where: string, opts: HelperOptions): Promise<CredentialsFound | undefined> {
  checkHelperName(name, where);
  for (const url of helperServerURLs(host)) {
    const c = await helperGet(name, url, opts);
    if (c) return { credentials: c, source: `docker-credential-${name}` };
  }
  return undefined;
}

/**
 * The credHelpers key for `host`: the host itself, else a key Docker may have used for the same registry
 * (`index.docker.io` or `https://index.docker.io/v1/` for docker.io).
 */
function credHelperKey(f: AuthFileContents, host: string): string | undefined {
  if (Object.hasOwn(f.credHelpers, host)) return host;
  const want = normalizeRegistryHost(host);
  return Object.keys(f.credHelpers).find((k) => normalizeFileKey(k, false) === want || normalizeRegistryHost(k) === want);
}

async function findInFile(f: AuthFileContents, k: ParsedKey, opts: HelperOptions): Promise<CredentialsFound | undefined> {
  if (!f.legacy) {
    // A per-registry helper decides for this file: its "auths" are not consulted for that host.
    const helperKey = credHelperKey(f, k.host);
    if (helperKey !== undefined) {
      return askHelper(f.credHelpers[helperKey] as string, k.host, `auth file ${f.path}: credHelpers[${JSON.stringify(helperKey)}]`, opts);
    }
    if (f.credsStore !== undefined) {
      const found = await askHelper(f.credsStore, k.host, `auth file ${f.path}: credsStore`, opts);
      if (found) return found;
    }
  }
  // Namespaced keys are a containers extension; the legacy format only knows registries.
  const keys = f.legacy ? [k.host] : keysMostSpecificFirst(k.key);
  for (const key of keys) {
    if (Object.hasOwn(f.auths, key)) {
      const c = decodeEntry(f.path, key, f.auths[key]);
      return c ? { credentials: c, source: f.path } : undefined;
    }
  }
  // Keys written as URLs or with another spelling of Docker Hub's host.
  const want = normalizeRegistryHost(k.host);
  for (const [key, entry] of Object.entries(f.auths)) {
    if (normalizeFileKey(key, f.legacy) === want) {
      const c = decodeEntry(f.path, key, entry);
      return c ? { credentials: c, source: f.path } : undefined;
    }
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------------------------
// Writing (wharf login / logout)

async function readForEdit(file: string): Promise<AuthFileContents | undefined> {
  if (isLegacyAuthFile(file)) {
    throw new WharfError('USAGE', `${file} is in the legacy .dockercfg format, which wharf does not write`, {
      hint: 'store credentials in auth.json (the default) or pass --authfile with a .json file',
    });
  }
  const bytes = await readCapped(file, 'auth file');
  return bytes === undefined ? undefined : parseAuthFile(file, bytes);
}

async function writeAuthFile(f: AuthFileContents): Promise<void> {
  // Tabs, as containers/image and Docker write the file.
  await writeFileAtomic(f.path, `${JSON.stringify(f.raw, null, '\t')}\n`, 0o600, 0o700);
}

function emptyContents(file: string): AuthFileContents {
  const auths: JsonObject = {};
  return { path: file, legacy: false, raw: { auths }, auths, credHelpers: {} };
}

/** The helper that owns `host` in this file, if any: a credHelpers entry, else credsStore. */
function helperFor(f: AuthFileContents, host: string): { name: string; where: string } | undefined {
  const key = credHelperKey(f, host);
  if (key !== undefined) {
    return { name: checkHelperName(f.credHelpers[key], `auth file ${f.path}: credHelpers[${JSON.stringify(key)}]`), where: 'credHelpers' };
  }
  if (f.credsStore !== undefined) return { name: checkHelperName(f.credsStore, `auth file ${f.path}: credsStore`), where: 'credsStore' };
  return undefined;
}

/**
 * Store `username`/`password` for `key` in `file` (read-modify-write; every other field is kept), or in the
 * credential helper the file names for that host. Returns where they went: the file, or
 * `docker-credential-NAME`.
 */
export async function setCredentials(
  file: string,
  key: string,
  username: string,
  password: string,
  options: HelperOptions = {},
): Promise<string> {
  const k = parseKey(key);
  if (typeof username !== 'string' || username === '' || username.includes(':') || /[\u0000-\u001f\u007f]/.test(username)) {
    throw new WharfError('USAGE', 'the username is empty or contains ":" or a control character', {
      hint: 'registries take the username and password joined by ":", so the username cannot contain one',
    });
  }
  if (typeof password !== 'string') throw new WharfError('USAGE', 'the password must be a string');
  const f = (await readForEdit(file)) ?? emptyContents(file);
  const helper = helperFor(f, k.host);
  if (helper) {
    if (k.namespaced) {
      throw new WharfError('USAGE', `credentials for ${key} cannot be stored per namespace: ${file} sends ${k.host} to credential helper docker-credential-${helper.name}`, {
        hint: `log in to ${k.host} instead, or remove the "${helper.where}" entry from ${file}`,
      });
    }
    await helperStore(helper.name, k.host, username, password, options);
    // Docker lists the registries a credsStore holds as empty "auths" entries; keep that convention.
    if (helper.where === 'credsStore' && !Object.hasOwn(f.auths, k.host)) {
      f.auths[k.host] = {};
      f.raw.auths = f.auths;
      await writeAuthFile(f);
    }
    return `docker-credential-${helper.name}`;
  }
  const previous = f.auths[k.key];
  const entry: JsonObject = isObject(previous) ? { ...previous } : {};
  delete entry.identitytoken; // it belonged to the old login
  entry.auth = Buffer.from(`${username}:${password}`, 'utf8').toString('base64');
  f.auths[k.key] = entry;
  f.raw.auths = f.auths;
  await writeAuthFile(f);
  return file;
}

/**
 * Remove the credentials stored for exactly `key` (logout). Returns false if there were none. Credentials kept
 * by a credential helper are erased there.
 */
export async function removeCredentials(file: string, key: string, options: HelperOptions = {}): Promise<boolean> {
  const k = parseKey(key);
  const f = await readForEdit(file);
  if (!f) return false;
  let removed = false;
  const helper = helperFor(f, k.host);
  if (helper && !k.namespaced) {
    for (const url of helperServerURLs(k.host)) {
      if (await helperErase(helper.name, url, options)) removed = true;
    }
  }
  if (Object.hasOwn(f.auths, k.key)) {
    const entry = f.auths[k.key];
    // An empty entry beside a helper is only a marker; removing it is not "being logged in".
    if (!(helper && isObject(entry) && Object.keys(entry).length === 0)) removed = true;
    delete f.auths[k.key];
    f.raw.auths = f.auths;
    await writeAuthFile(f);
  }
  return removed;
}

/**
 * Remove every credential in `file` (logout --all): all "auths" entries, and what the file's credential
 * helpers hold for the registries it names. The "credHelpers"/"credsStore" settings themselves stay, so the
 * next login still goes to the helper rather than into the file.
 */
export async function removeAll(file: string, options: HelperOptions = {}): Promise<void> {
  const f = await readForEdit(file);
  if (!f) return;
  for (const [host, name] of Object.entries(f.credHelpers)) {
    const helper = checkHelperName(name, `auth file ${file}: credHelpers[${JSON.stringify(host)}]`);
    for (const url of helperServerURLs(host)) await helperErase(helper, url, options);
  }
  if (f.credsStore !== undefined) {
    const helper = checkHelperName(f.credsStore, `auth file ${file}: credsStore`);
    for (const key of Object.keys(f.auths)) {
      if (Object.hasOwn(f.credHelpers, key)) continue;
      await helperErase(helper, key, options);
    }
  }
  f.raw.auths = {};
  await writeAuthFile(f);
}
