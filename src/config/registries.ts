/**
 * containers-registries.conf(5): which registry serves an image name, through which mirrors, whether it is
 * insecure or blocked, where short names are searched, and short-name aliases.
 *
 *   unqualified-search-registries = ["registry.fedoraproject.org", "docker.io"]
 *   short-name-mode = "enforcing"
 *
 *   [[registry]]
 *   prefix = "example.com/foo"                       # what the user writes (longest match wins)
 *   location = "internal.example.net/bar"            # where it really is
 *   insecure = false
 *   blocked = false
 *   mirror-by-digest-only = false
 *   [[registry.mirror]]
 *   location = "mirror.local/foo"
 *   pull-from-mirror = "digest-only"                 # all | digest-only | tag-only
 *
 *   [aliases]
 *   "fedora" = "registry.fedoraproject.org/fedora"
 *
 * The main file is followed by drop-ins (registries.conf.d/*.conf, in name order): a drop-in replaces a
 * [[registry]] with the same prefix, replaces the top-level settings it sets, and adds, replaces or (with "")
 * erases aliases. The deprecated version 1 format (`[registries.search]` …) is read in the main file only.
 */
import { promises as fsp } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { TomlError, parse as parseToml } from 'smol-toml';
import { WharfError } from '../errors.js';
import { exists, readCapped } from './files.js';
import {
  isDomain,
  isDomainName,
  isRepoPath,
  joinName,
  looksLikeDomain,
  printable,
  splitQualifiedName,
  type NameParts,
} from './names.js';

export type PullFromMirror = 'all' | 'digest-only' | 'tag-only';
export type ShortNameMode = 'enforcing' | 'permissive' | 'disabled';

export interface RegistryMirror {
  /** `host[:port][/path]` */
  location: string;
  insecure: boolean;
  pullFromMirror: PullFromMirror;
}

export interface RegistryEntry {
  /** `host[:port][/path][:tag|@digest]`, or `*.example.com`. */
  prefix: string;
  /** Where the prefix's namespace really lives; "" (only with a wildcard prefix) means "unchanged". */
  location: string;
  insecure: boolean;
  blocked: boolean;
  mirrorByDigestOnly: boolean;
  mirrors: RegistryMirror[];
  /** The file that defined this entry (for messages). */
  origin: string;
}

/** An image reference as the transport holds it: `domain` is `host[:port]`, `path` is `ns/repo`. */
export interface ImageRef {
  domain: string;
  path: string;
  tag?: string;
  digest?: string;
}

export interface PullSource {
  /** `host[:port][/path]`: the mirror or primary location this source uses. */
  endpoint: string;
  /** Plain HTTP or unverified TLS allowed for this endpoint. */
  insecure: boolean;
  /** The reference to pull from this endpoint (prefix replaced by the endpoint's location). */
  rewrittenRef: ImageRef;
  mirror: boolean;
}

export interface RegistriesEnv {
  CONTAINERS_REGISTRIES_CONF?: string | undefined;
  HOME?: string | undefined;
}

export interface RegistriesConfCandidateOptions {
  /**
   * Where the system files live, instead of /etc/containers (for tests and for inspecting another root). The
   * system file is `${systemDir}/registries.conf` and its drop-ins `${systemDir}/registries.conf.d`.
   */
  systemDir?: string;
}

const SYSTEM_DIR = '/etc/containers';
const MAX_DROP_INS = 1000;
const DROP_IN_DIR = 'registries.conf.d';

async function dropIns(dir: string): Promise<string[]> {
  let names: string[];
  try {
    const entries = await fsp.readdir(dir, { withFileTypes: true });
    names = entries.filter((e) => !e.isDirectory() && e.name.endsWith('.conf')).map((e) => e.name);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return [];
    throw new WharfError('IO_ERROR', `reading ${dir}: ${code ?? String(err)}`);
  }
  if (names.length > MAX_DROP_INS) {
    throw new WharfError('TOO_LARGE', `${dir} holds more than ${MAX_DROP_INS} drop-in files`, {
      hint: 'this is not a registries.conf.d directory wharf can use',
    });
  }
  // Byte order, as Go's directory walk sorts.
  return names.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)).map((n) => join(dir, n));
}

/**
 * The registries.conf files to load, in order: the main file then its drop-ins, chosen as containers/image
 * does:
 *
 * - `explicit` (a --registries-conf flag) or `$CONTAINERS_REGISTRIES_CONF`: that file (which must exist), then
 *   the drop-ins of /etc/containers/registries.conf.d and ~/.config/containers/registries.conf.d;
 * - else `~/.config/containers/registries.conf` if it exists, then only ~/.config/containers/registries.conf.d;
 * - else `/etc/containers/registries.conf` if it exists, then both drop-in directories.
 *
 * The result may be empty (no configuration at all: no mirrors, no search registries).
 */
export async function registriesConfCandidates(
  env: RegistriesEnv,
  explicit?: string,
  options: RegistriesConfCandidateOptions = {},
): Promise<string[]> {
  const systemDir = options.systemDir ?? SYSTEM_DIR;
  const home = env.HOME ? env.HOME : undefined;
  const userFile = home ? join(home, '.config', 'containers', 'registries.conf') : undefined;
  const userDropIns = home ? await dropIns(join(home, '.config', 'containers', DROP_IN_DIR)) : [];
  const systemDropIns = await dropIns(join(systemDir, DROP_IN_DIR));
  const chosen = explicit || env.CONTAINERS_REGISTRIES_CONF;
  if (chosen) return [chosen, ...systemDropIns, ...userDropIns];
  if (userFile && (await exists(userFile))) return [userFile, ...userDropIns];
  const systemFile = join(systemDir, 'registries.conf');
  if (await exists(systemFile)) return [systemFile, ...systemDropIns, ...userDropIns];
  return [...systemDropIns, ...userDropIns];
}

/** A file in a registries.conf.d directory is a drop-in: version 2 only, and it may vanish while we list. */
function isDropIn(path: string): boolean {
  return basename(dirname(path)) === DROP_IN_DIR;
}

// ---------------------------------------------------------------------------------------------------------------
// Parsing one file

/** One file's settings; undefined fields were not set in it (and so do not override earlier files). */
interface PartialConf {
  origin: string;
  registries: RegistryEntry[];
  unqualifiedSearchRegistries?: string[];
  shortNameMode?: ShortNameMode;
  credentialHelpers?: string[];
  /** null erases an alias set by an earlier file. */
  aliases: Map<string, string | null>;
}

type Table = Record<string, unknown>;
const isTable = (v: unknown): v is Table => typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);

function typeName(v: unknown): string {
  if (Array.isArray(v)) return 'an array';
  if (v instanceof Date) return 'a date';
  if (v === null) return 'null';
  if (typeof v === 'object') return 'a table';
  if (typeof v === 'bigint' || typeof v === 'number') return 'a number';
  return `a ${typeof v}`;
}

class FileChecker {
  constructor(readonly origin: string) {}

  fail(what: string, hint?: string): WharfError {
    return new WharfError('REGISTRIES_CONF_INVALID', `${this.origin}: ${what}`, {
      hint: hint ?? 'fix the file; see containers-registries.conf(5)',
    });
  }

  string(t: Table, key: string, where: string): string | undefined {
    const v = t[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'string') throw this.fail(`${where}${key} must be a string, not ${typeName(v)}`);
    return v;
  }

  bool(t: Table, key: string, where: string): boolean {
    const v = t[key];
    if (v === undefined) return false;
    if (typeof v !== 'boolean') throw this.fail(`${where}${key} must be true or false, not ${typeName(v)}`);
    return v;
  }

  strings(t: Table, key: string, where: string): string[] | undefined {
    const v = t[key];
    if (v === undefined) return undefined;
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) {
      throw this.fail(`${where}${key} must be an array of strings`);
    }
    return v as string[];
  }

  tables(t: Table, key: string, where: string): Table[] {
    const v = t[key];
    if (v === undefined) return [];
    if (!Array.isArray(v) || !v.every(isTable)) {
      throw this.fail(`${where}${key} must be an array of tables ([[${where}${key}]])`);
    }
    return v as Table[];
  }

  /** Trailing slashes are dropped and URL schemes refused, as containers/image does. */
  location(value: string, what: string): string {
    const trimmed = value.replace(/\/+$/, '');
    if (/^https?:\/\//.test(trimmed)) {
      throw this.fail(`${what} ${JSON.stringify(value)}: URI schemes are not supported`, 'write host[:port][/path], without http:// or https://');
    }
    return trimmed;
  }

  /** host[:port][/path][:tag|@digest] */
  qualifiedName(value: string, what: string): void {
    if (!splitQualifiedName(value)) {
      throw this.fail(
        `${what} ${JSON.stringify(printable(value, 300))} is not a valid host[:port][/namespace/repo][:tag|@digest]`,
        'a prefix or location starts with the registry host; repository paths are lowercase',
      );
    }
  }
}

const V2_KEYS = ['registry', 'unqualified-search-registries', 'short-name-mode', 'credential-helpers', 'aliases'];

function parseFile(text: string, origin: string, allowV1: boolean): PartialConf {
  const c = new FileChecker(origin);
  let doc: Table;
  try {
    doc = parseToml(text) as Table;
  } catch (err) {
    if (err instanceof TomlError) {
      const first = err.message.split('\n', 1)[0]!.replace(/^Invalid TOML document:\s*/, '');
      throw new WharfError('REGISTRIES_CONF_INVALID', `${origin}:${err.line}:${err.column}: invalid TOML: ${first}`, {
        hint: 'fix the syntax at that line; see containers-registries.conf(5)',
      });
    }
    throw c.fail(`invalid TOML: ${String((err as Error)?.message ?? err)}`);
  }

  const out: PartialConf = { origin, registries: [], aliases: new Map() };
  const v1 = doc.registries;
  if (v1 !== undefined) {
    if (!allowV1) {
      throw c.fail('drop-in files must use the version 2 format, but this one has a [registries] table (version 1)', 'rewrite it with [[registry]] tables');
    }
    if (V2_KEYS.some((k) => doc[k] !== undefined)) {
      throw c.fail('mixes the version 1 format ([registries.search] …) with version 2 settings', 'use only the version 2 format ([[registry]] tables)');
    }
    parseV1(c, v1, out);
    return out;
  }

  // [[registry]]
  for (const [i, t] of c.tables(doc, 'registry', '').entries()) {
    const where = `registry[${i}].`;
    const rawLocation = c.string(t, 'location', where) ?? '';
    const location = c.location(rawLocation, `${where}location`);
    const rawPrefix = c.string(t, 'prefix', where);
    let prefix: string;
    if (rawPrefix === undefined || rawPrefix === '') {
      if (location === '') throw c.fail(`${where.slice(0, -1)} has neither "prefix" nor "location"`);
      prefix = location;
    } else {
      prefix = c.location(rawPrefix, `${where}prefix`);
    }
    if (prefix.startsWith('*.')) {
      if (!isDomainName(prefix.slice(2))) {
        throw c.fail(
          `${where}prefix ${JSON.stringify(printable(prefix, 300))}: a wildcard prefix must be *.example.com (no port, path, tag or digest)`,
        );
      }
    } else {
      c.qualifiedName(prefix, `${where}prefix`);
      if (location === '') {
        throw c.fail(`${where.slice(0, -1)} has no "location"; only a wildcard prefix (*.example.com) may leave it out`);
      }
    }
    if (location !== '') c.qualifiedName(location, `${where}location`);
    if (t['pull-from-mirror'] !== undefined) {
      throw c.fail(`${where}pull-from-mirror applies to [[registry.mirror]] entries, not to the registry itself`);
    }
    const mirrorByDigestOnly = c.bool(t, 'mirror-by-digest-only', where);
    const mirrors: RegistryMirror[] = [];
    for (const [j, m] of c.tables(t, 'mirror', where).entries()) {
      const mwhere = `${where}mirror[${j}].`;
      const mloc = c.location(c.string(m, 'location', mwhere) ?? '', `${mwhere}location`);
      if (mloc === '') throw c.fail(`${mwhere.slice(0, -1)} has no "location"`);
      c.qualifiedName(mloc, `${mwhere}location`);
      const pfm = c.string(m, 'pull-from-mirror', mwhere) ?? '';
      if (pfm !== '' && pfm !== 'all' && pfm !== 'digest-only' && pfm !== 'tag-only') {
        throw c.fail(`${mwhere}pull-from-mirror must be "all", "digest-only" or "tag-only", not ${JSON.stringify(printable(pfm, 60))}`);
      }
      if (pfm !== '' && mirrorByDigestOnly) {
        throw c.fail(`${where.slice(0, -1)} sets mirror-by-digest-only and ${mwhere}pull-from-mirror; use one or the other`);
      }
      mirrors.push({ location: mloc, insecure: c.bool(m, 'insecure', mwhere), pullFromMirror: (pfm || 'all') as PullFromMirror });
    }
    out.registries.push({
      prefix,
      location,
      insecure: c.bool(t, 'insecure', where),
      blocked: c.bool(t, 'blocked', where),
      mirrorByDigestOnly,
      mirrors,
      origin,
    });
  }
  checkConflicts(c, out.registries);
  out.registries = firstPerPrefix(out.registries);

  const usr = c.strings(doc, 'unqualified-search-registries', '');
  if (usr !== undefined) {
    out.unqualifiedSearchRegistries = usr.map((r, i) => {
      const loc = c.location(r, `unqualified-search-registries[${i}]`);
      if (!isDomain(loc)) {
        throw c.fail(`unqualified-search-registries[${i}] ${JSON.stringify(printable(r, 300))} is not a host[:port]`);
      }
      return loc;
    });
  }

  const mode = c.string(doc, 'short-name-mode', '');
  if (mode !== undefined && mode !== '') {
    if (mode !== 'enforcing' && mode !== 'permissive' && mode !== 'disabled') {
      throw c.fail(`short-name-mode must be "enforcing", "permissive" or "disabled", not ${JSON.stringify(printable(mode, 60))}`);
    }
    out.shortNameMode = mode;
  }

  const helpers = c.strings(doc, 'credential-helpers', '');
  if (helpers !== undefined) out.credentialHelpers = helpers;

  const aliases = doc.aliases;
  if (aliases !== undefined) {
    if (!isTable(aliases)) throw c.fail('[aliases] must be a table of "short-name" = "registry/repository"');
    for (const [name, value] of Object.entries(aliases)) {
      checkShortName(c, name);
      if (typeof value !== 'string') throw c.fail(`alias ${JSON.stringify(printable(name, 100))} must be a string, not ${typeName(value)}`);
      out.aliases.set(name, value === '' ? null : checkAliasValue(c, name, value));
    }
  }
  return out;
}

function parseV1(c: FileChecker, v1: unknown, out: PartialConf): void {
  if (!isTable(v1)) throw c.fail('[registries] must be a table');
  const list = (section: string): string[] => {
    const t = v1[section];
    if (t === undefined) return [];
    if (!isTable(t)) throw c.fail(`[registries.${section}] must be a table`);
    return c.strings(t, 'registries', `registries.${section}.`) ?? [];
  };
  const byLocation = new Map<string, RegistryEntry>();
  const entry = (raw: string, section: string): RegistryEntry => {
    const loc = c.location(raw, `registries.${section}`);
    c.qualifiedName(loc, `registries.${section} entry`);
    let e = byLocation.get(loc);
    if (!e) {
      e = { prefix: loc, location: loc, insecure: false, blocked: false, mirrorByDigestOnly: false, mirrors: [], origin: c.origin };
      byLocation.set(loc, e);
    }
    return e;
  };
  for (const r of list('block')) entry(r, 'block').blocked = true;
  for (const r of list('insecure')) entry(r, 'insecure').insecure = true;
  const search = list('search').map((r, i) => {
    const loc = c.location(r, `registries.search[${i}]`);
    if (!isDomain(loc)) throw c.fail(`registries.search entry ${JSON.stringify(printable(r, 300))} is not a host[:port]`);
    return loc;
  });
  if (v1.search !== undefined) out.unqualifiedSearchRegistries = search;
  out.registries = [...byLocation.values()];
}

/** A registry named several times in one file must agree on insecure and blocked (containers/image checks this). */
function checkConflicts(c: FileChecker, regs: RegistryEntry[]): void {
  const seen = new Map<string, RegistryEntry>();
  for (const r of regs) {
    const key = r.location === '' ? r.prefix : r.location;
    const other = seen.get(key);
    if (!other) {
      seen.set(key, r);
      continue;
    }
    for (const field of ['insecure', 'blocked'] as const) {
      if (other[field] !== r[field]) {
        throw c.fail(`registry ${JSON.stringify(key)} is defined several times with conflicting "${field}" settings`);
      }
    }
  }
}

/** In one file, the first [[registry]] with a prefix wins; later ones with the same prefix are ignored. */
function firstPerPrefix(regs: RegistryEntry[]): RegistryEntry[] {
  const seen = new Set<string>();
  return regs.filter((r) => (seen.has(r.prefix) ? false : (seen.add(r.prefix), true)));
}

/** An alias name is a repository without registry, tag or digest: `fedora`, `ubi8/ubi`. */
function checkShortName(c: FileChecker, name: string): void {
  const slash = name.indexOf('/');
  if (slash > 0 && looksLikeDomain(name.slice(0, slash))) {
    throw c.fail(`alias ${JSON.stringify(printable(name, 100))}: the name must be a short name, without a registry`);
  }
  if (name.includes('@') || name.includes(':')) {
    throw c.fail(`alias ${JSON.stringify(printable(name, 100))}: the name must not contain a tag or digest`);
  }
  if (!isRepoPath(name)) throw c.fail(`alias ${JSON.stringify(printable(name, 100))} is not a valid repository name`);
}

/** An alias value is `registry/repository`, fully qualified, without tag or digest; docker.io gains `library/`. */
function checkAliasValue(c: FileChecker, name: string, value: string): string {
  const what = `alias ${JSON.stringify(printable(name, 100))} = ${JSON.stringify(printable(value, 300))}`;
  const slash = value.indexOf('/');
  if (slash <= 0 || !looksLikeDomain(value.slice(0, slash))) throw c.fail(`${what}: the value must include a registry and a repository`);
  const parts = splitQualifiedName(value);
  if (!parts || parts.path === '') throw c.fail(`${what}: the value is not a valid registry/repository`);
  if (parts.tag !== undefined || parts.digest !== undefined) throw c.fail(`${what}: the value must not contain a tag or digest`);
  return joinName(normalizeDockerHub(parts));
}

/** `docker.io/alpine` is `docker.io/library/alpine`. */
function normalizeDockerHub(p: NameParts): NameParts {
  if (p.domain === 'docker.io' && p.path !== '' && !p.path.includes('/')) return { ...p, path: `library/${p.path}` };
  return p;
}

// ---------------------------------------------------------------------------------------------------------------
// Matching

/**
 * How much of `name` a prefix covers, or -1 if it does not apply. `*.example.com` covers the host
 * (`a.example.com`, `b.a.example.com`, with any port); other prefixes must be followed by the end of the name
 * or a separator: `/` after a host, `/`, `:` or `@` after a repository path.
 */
function matchLength(name: string, prefix: string): number {
  const slash = name.indexOf('/');
  const hostPort = slash < 0 ? name.split('@', 1)[0]! : name.slice(0, slash);
  if (prefix.startsWith('*.')) {
    const host = hostPort.startsWith('[') ? hostPort : hostPort.replace(/:[0-9]*$/, '');
    const suffix = prefix.slice(1);
    return host.length > suffix.length && host.endsWith(suffix) ? hostPort.length : -1;
  }
  if (name === prefix) return prefix.length;
  if (!name.startsWith(prefix)) return -1;
  const next = name[prefix.length];
  // containers/image also lets "example.com" match "example.com:5000/…", which it calls unintended; we do not.
  if (!prefix.includes('/')) return next === '/' ? prefix.length : -1;
  return next === '/' || next === ':' || next === '@' ? prefix.length : -1;
}

function refName(ref: ImageRef): string {
  return `${ref.domain}/${ref.path}`;
}

function refString(ref: ImageRef): string {
  return joinName(ref);
}

export class RegistriesConf {
  /** The [[registry]] entries after merging, sorted by prefix. */
  readonly registries: readonly RegistryEntry[];
  readonly unqualifiedSearchRegistries: readonly string[];
  /** The file that set unqualified-search-registries, for messages. */
  readonly unqualifiedSearchRegistriesOrigin: string | undefined;
  /** permissive when no file sets it. */
  readonly shortNameMode: ShortNameMode;
  /** `credential-helpers`, when a file sets it (containers/image's default is ["containers-auth.json"]). */
  readonly credentialHelpers: readonly string[] | undefined;
  private readonly aliases: ReadonlyMap<string, { value: string; origin: string }>;
  /** The files this was loaded from, in order. */
  readonly files: readonly string[];

  constructor(parts: readonly PartialConf[]) {
    const registries = new Map<string, RegistryEntry>();
    const aliases = new Map<string, { value: string; origin: string }>();
    let usr: string[] = [];
    let usrOrigin: string | undefined;
    let mode: ShortNameMode | undefined;
    let helpers: string[] | undefined;
    for (const p of parts) {
      for (const r of p.registries) registries.set(r.prefix, r);
      if (p.unqualifiedSearchRegistries !== undefined) {
        usr = p.unqualifiedSearchRegistries;
        usrOrigin = p.origin;
      }
      if (p.shortNameMode !== undefined) mode = p.shortNameMode;
      if (p.credentialHelpers !== undefined) helpers = p.credentialHelpers;
      for (const [name, value] of p.aliases) {
        if (value === null) aliases.delete(name);
        else aliases.set(name, { value, origin: p.origin });
      }
    }
    this.registries = [...registries.keys()].sort().map((k) => registries.get(k)!);
    this.unqualifiedSearchRegistries = usr;
    this.unqualifiedSearchRegistriesOrigin = usrOrigin;
    this.shortNameMode = mode ?? 'permissive';
    this.credentialHelpers = helpers;
    this.aliases = aliases;
    this.files = parts.map((p) => p.origin);
  }

  /**
   * The [[registry]] entry for an image name (`host[:port]/path`, optionally with tag or digest): the one
   * with the longest matching prefix. A literal prefix beats a wildcard of the same length.
   */
  findRegistry(imageName: string): RegistryEntry | undefined {
    let best: RegistryEntry | undefined;
    for (const r of this.registries) {
      if (matchLength(imageName, r.prefix) < 0) continue;
      if (
        !best ||
        r.prefix.length > best.prefix.length ||
        (r.prefix.length === best.prefix.length && best.prefix.startsWith('*.') && !r.prefix.startsWith('*.'))
      ) {
        best = r;
      }
    }
    return best;
  }

  /** Is pulling `ref` forbidden (`blocked = true` on its [[registry]])? */
  isBlocked(ref: ImageRef | string): boolean {
    const name = typeof ref === 'string' ? ref : refName(ref);
    return this.findRegistry(name)?.blocked ?? false;
  }

  /** Is the registry of `ref` insecure (plain HTTP or unverified TLS allowed)? */
  isInsecure(ref: ImageRef | string): boolean {
    const name = typeof ref === 'string' ? ref : refName(ref);
    return this.findRegistry(name)?.insecure ?? false;
  }

  /**
   * Where to pull `ref` from, in the order to try: the mirrors that apply (a digest-only mirror only for a
   * reference with a digest, a tag-only mirror only for one without), then the primary location. Each source
   * carries the reference rewritten for it. Throws REGISTRY_BLOCKED if the registry is blocked.
   */
  pullSources(ref: ImageRef): PullSource[] {
    const reg = this.findRegistry(refName(ref));
    if (!reg) return [{ endpoint: ref.domain, insecure: false, rewrittenRef: { ...ref }, mirror: false }];
    if (reg.blocked) {
      throw new WharfError('REGISTRY_BLOCKED', `pulling ${refString(ref)} is blocked by the [[registry]] with prefix "${reg.prefix}" in ${reg.origin}`, {
        hint: 'remove "blocked = true" from that entry if this registry should be allowed',
      });
    }
    const digested = ref.digest !== undefined;
    const mirrors = reg.mirrors.filter((m) => {
      if (reg.mirrorByDigestOnly) return digested;
      if (m.pullFromMirror === 'digest-only') return digested;
      if (m.pullFromMirror === 'tag-only') return !digested;
      return true;
    });
    const out: PullSource[] = mirrors.map((m) => ({
      endpoint: m.location,
      insecure: m.insecure,
      rewrittenRef: this.rewrite(ref, reg, m.location),
      mirror: true,
    }));
    out.push({
      endpoint: reg.location === '' ? ref.domain : reg.location,
      insecure: reg.insecure,
      rewrittenRef: this.rewrite(ref, reg, reg.location),
      mirror: false,
    });
    return out;
  }

  private rewrite(ref: ImageRef, reg: RegistryEntry, location: string): ImageRef {
    if (location === '') return { ...ref };
    const full = refString(ref);
    const n = matchLength(full, reg.prefix);
    const rewritten = location + full.slice(n);
    const parts = splitQualifiedName(rewritten);
    if (!parts || parts.path === '') {
      throw new WharfError('REGISTRIES_CONF_INVALID', `${reg.origin}: location "${location}" for prefix "${reg.prefix}" turns ${full} into ${JSON.stringify(rewritten)}, which is not a valid image reference`, {
        hint: 'a prefix that names a whole repository needs a location that names a repository too',
      });
    }
    return normalizeDockerHub(parts);
  }

  /**
   * The fully-qualified name a short name is aliased to (`[aliases]`), with the short name's tag or digest
   * carried over; undefined if there is no alias. `fedora:39` → `registry.fedoraproject.org/fedora:39`.
   */
  resolveAlias(shortName: string): string | undefined {
    return this.resolveAliasWithOrigin(shortName)?.name;
  }

  /** Like resolveAlias, and names the file that defined the alias. */
  resolveAliasWithOrigin(shortName: string): { name: string; origin: string } | undefined {
    let rest = shortName;
    let digest = '';
    const at = rest.indexOf('@');
    if (at >= 0) {
      digest = rest.slice(at);
      rest = rest.slice(0, at);
    }
    let tag = '';
    const colon = rest.lastIndexOf(':');
    if (colon > rest.lastIndexOf('/')) {
      tag = rest.slice(colon);
      rest = rest.slice(0, colon);
    }
    const a = this.aliases.get(rest);
    return a ? { name: `${a.value}${tag}${digest}`, origin: a.origin } : undefined;
  }
}

/** Parse one registries.conf text (for tests and for callers that already hold the bytes). */
export function parseRegistriesConf(text: string, origin = 'registries.conf'): RegistriesConf {
  return new RegistriesConf([parseFile(text, origin, true)]);
}

/**
 * Load and merge registries.conf files, in order (as `registriesConfCandidates` lists them). A file inside a
 * `registries.conf.d` directory is a drop-in and must use the version 2 format; the main file may use
 * version 1. Every file must exist, except drop-ins removed since they were listed.
 */
export async function loadRegistriesConf(paths: readonly string[]): Promise<RegistriesConf> {
  const parts: PartialConf[] = [];
  for (const path of paths) {
    const dropIn = isDropIn(path);
    const bytes = await readCapped(path, 'registries configuration');
    if (bytes === undefined) {
      if (dropIn) continue;
      throw new WharfError('REGISTRIES_CONF_INVALID', `registries configuration ${path} does not exist`, {
        hint: 'check --registries-conf / CONTAINERS_REGISTRIES_CONF',
      });
    }
    parts.push(parseFile(bytes.toString('utf8'), path, !dropIn));
  }
  return new RegistriesConf(parts);
}
