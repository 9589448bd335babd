/**
 * The on-disk layout of the vulnerability database (a directory, `$XDG_CACHE_HOME/wharf/db` by default):
 *
 *   CURRENT                      the name of the generation readers use ("gen-…\n"), replaced atomically
 *   import.lock/                 held by an import (withLock): imports run one at a time
 *   gen-<ms>-<hex>/              one generation, never modified once CURRENT names it (but meta.json's
 *     meta.json                    lastImport, replaced atomically when an import changes nothing)
 *     ids.jsonl                  every record id: {"id","m" (modified, as timestampKey),"s" (its shards),"w"?}
 *     eco/<ecosystem key>/<hh>.jsonl
 *                                the records naming a package of that ecosystem whose name hashes to hh
 *                                (sha-256, first byte): one OSV record per line, `"id"` first
 *
 * An import builds a new generation beside the current one (unchanged shard files are hard links), then
 * renames a new CURRENT into place: a reader sees the old generation or the new one, never half of one. The
 * previous generation is kept until the next import, so a reader that read CURRENT just before the switch
 * still finds its files; a reader whose generation is gone re-reads CURRENT.
 */
import { createHash } from 'node:crypto';
import { createReadStream, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { WharfError, asWharfError } from '../../errors.js';

export const FORMAT = 1;
export const CURRENT_FILE = 'CURRENT';
export const LOCK_DIR = 'import.lock';
export const META_FILE = 'meta.json';
export const INDEX_FILE = 'ids.jsonl';
export const ECO_DIR = 'eco';
export const GENERATION = /^gen-\d{13}-[0-9a-f]{8}$/;

/** How a source was named in the last import (paths as given, URLs without credentials or query). */
export interface LastImport {
  at: string;
  source: string;
  added: number;
  updated: number;
  unchanged: number;
  withdrawn: number;
  skipped: number;
  /** The source is a URL whose server answered 304 Not Modified: nothing was downloaded or read (counts are 0). */
  notModified?: true;
}

/**
 * What identifies the copy of a URL source the database holds, as its server sent it (ETag, Last-Modified),
 * so that the next import of the URL asks "changed since?" (If-None-Match, If-Modified-Since) and a 304
 * downloads nothing. Kept per source, so imports of several ecosystems' exports in turn each stay conditional.
 */
export interface UrlSourceMeta {
  etag?: string;
  lastModified?: string;
  /** What the source was, for the result of an import it answered 304 to. */
  kind: 'zip' | 'directory' | 'json';
  /** When it was last imported or found unchanged. */
  at: string;
}

/** At most this many URL sources are remembered (the most recently imported ones). */
export const MAX_URL_SOURCES = 64;

export interface EcosystemMeta {
  ecosystem: string;
  records: number;
  newestModified?: string;
}

export interface DbMeta {
  format: typeof FORMAT;
  generation: string;
  previous?: string;
  /** When this generation was written. */
  createdAt: string;
  lastImport: LastImport;
  /** Records that are not withdrawn. */
  records: number;
  withdrawn: number;
  newestModified?: string;
  /** By ecosystem key (the folder under eco/). */
  ecosystems: Record<string, EcosystemMeta>;
  /** By urlSourceKey (the URL as shown, a hash of its query): carried from generation to generation. */
  urlSources?: Record<string, UrlSourceMeta>;
}

/** The remembered copy of a URL source, if meta.json holds a well-formed one (it is read back into requests). */
export function urlSourceOf(meta: DbMeta | undefined, source: string): UrlSourceMeta | undefined {
  const all = meta?.urlSources;
  if (typeof all !== 'object' || all === null || !Object.prototype.hasOwnProperty.call(all, source)) return undefined;
  const e = all[source] as Partial<UrlSourceMeta> | undefined;
  if (typeof e !== 'object' || e === null) return undefined;
  if (e.etag !== undefined && typeof e.etag !== 'string') return undefined;
  if (e.lastModified !== undefined && typeof e.lastModified !== 'string') return undefined;
  if (e.kind !== 'zip' && e.kind !== 'directory' && e.kind !== 'json') return undefined;
  if (typeof e.at !== 'string') return undefined;
  return { ...(e.etag !== undefined ? { etag: e.etag } : {}), ...(e.lastModified !== undefined ? { lastModified: e.lastModified } : {}), kind: e.kind, at: e.at };
}

/**
 * The urlSources of the next meta.json: `meta`'s well-formed entries, with `source` set to `entry` (or removed
 * when `entry` is null), the most recent MAX_URL_SOURCES kept. Undefined when none are left.
 */
export function nextUrlSources(meta: DbMeta | undefined, source: string, entry: UrlSourceMeta | null | undefined): Record<string, UrlSourceMeta> | undefined {
  const kept = new Map<string, UrlSourceMeta>();
  for (const name of Object.keys(meta?.urlSources ?? {})) {
    const e = urlSourceOf(meta, name);
    if (e) kept.set(name, e);
  }
  if (entry === null) kept.delete(source);
  else if (entry !== undefined) kept.set(source, entry);
  if (kept.size === 0) return undefined;
  const newest = [...kept.entries()].sort((a, b) => (a[1].at < b[1].at ? 1 : a[1].at > b[1].at ? -1 : 0)).slice(0, MAX_URL_SOURCES);
  return Object.fromEntries(newest.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)));
}

/** `meta` with `urlSources` replaced (or left out when undefined). */
export function withUrlSources(meta: DbMeta, urlSources: Record<string, UrlSourceMeta> | undefined): DbMeta {
  const { urlSources: _old, ...rest } = meta;
  return urlSources ? { ...rest, urlSources } : rest;
}

/** One line of ids.jsonl. */
export interface IndexEntry {
  /** timestampKey(modified) */
  m: string;
  /** Shard keys `<ecosystem key>/<hh>` the record is written in. */
  s: string[];
  /** Withdrawn: kept so an older copy is not imported again, stored in no shard. */
  w?: boolean;
}

function sha256(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}

/** A folder name for an ecosystem: readable, and unique by a hash of the exact name (`Debian:12` → `debian_12-…`). */
export function ecosystemKey(ecosystem: string): string {
  const slug = ecosystem.toLowerCase().replace(/[^a-z0-9.]+/g, '_').replace(/^[._]+|_+$/g, '').slice(0, 40) || 'x';
  return `${slug}-${sha256(ecosystem).slice(0, 12)}`;
}

/** The shard of a package name: two hex digits. */
export function shardOf(name: string): string {
  return sha256(name).slice(0, 2);
}

export function shardKey(ecosystem: string, name: string): string {
  return `${ecosystemKey(ecosystem)}/${shardOf(name)}`;
}

export function shardPath(genDir: string, key: string): string {
  return join(genDir, ECO_DIR, `${key}.jsonl`);
}

export function damaged(dbDir: string, why: string, cause?: unknown): WharfError {
  return new WharfError('LAYOUT_INVALID', `the vulnerability database in ${dbDir} is damaged: ${why}`, {
    hint: `import again ('wharf db import …'), or remove ${dbDir} and import from scratch`,
    ...(cause !== undefined ? { cause } : {}),
  });
}

/** The generation CURRENT names, or undefined when there is no database yet. */
export async function readCurrentName(dbDir: string): Promise<string | undefined> {
  let text: string;
  try {
    const fh = await fsp.open(join(dbDir, CURRENT_FILE), 'r');
    try {
      const buf = Buffer.alloc(128);
      const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
      text = buf.subarray(0, bytesRead).toString('utf8');
    } finally {
      await fh.close();
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
    throw asWharfError(err, 'IO_ERROR', `reading ${join(dbDir, CURRENT_FILE)}`);
  }
  const name = text.trim();
  // Never a path: a tampered CURRENT cannot point a reader outside the database.
  if (!GENERATION.test(name)) throw damaged(dbDir, `${CURRENT_FILE} does not name a generation`);
  return name;
}

export async function readMeta(dbDir: string, generation: string): Promise<DbMeta> {
  const path = join(dbDir, generation, META_FILE);
  let text: string;
  try {
    const st = await fsp.stat(path);
    if (st.size > 256 << 20) throw damaged(dbDir, `${META_FILE} is ${st.size} bytes`);
    text = await fsp.readFile(path, 'utf8');
  } catch (err) {
    if (err instanceof WharfError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw damaged(dbDir, `generation ${generation} has no ${META_FILE}`, err);
    throw asWharfError(err, 'IO_ERROR', `reading ${path}`);
  }
  let meta: DbMeta;
  try {
    meta = JSON.parse(text) as DbMeta;
  } catch (err) {
    throw damaged(dbDir, `${META_FILE} is not JSON`, err);
  }
  if (typeof meta !== 'object' || meta === null || meta.format !== FORMAT || typeof meta.ecosystems !== 'object' || meta.ecosystems === null) {
    throw damaged(dbDir, `${META_FILE} is not a format ${FORMAT} database description`);
  }
  return meta;
}

/** The id index of a generation. */
export async function readIndex(dbDir: string, generation: string, signal?: AbortSignal): Promise<Map<string, IndexEntry>> {
  const path = join(dbDir, generation, INDEX_FILE);
  const index = new Map<string, IndexEntry>();
  const lines = createInterface({ input: createReadStream(path, { encoding: 'utf8', ...(signal ? { signal } : {}) }), crlfDelay: Infinity });
  try {
    for await (const line of lines) {
      if (line === '') continue;
      let v: { id?: unknown; m?: unknown; s?: unknown; w?: unknown };
      try {
        v = JSON.parse(line) as typeof v;
      } catch (err) {
        throw damaged(dbDir, `a line of ${INDEX_FILE} is not JSON`, err);
      }
      if (typeof v.id !== 'string' || typeof v.m !== 'string' || !Array.isArray(v.s)) throw damaged(dbDir, `a line of ${INDEX_FILE} is not an index entry`);
      index.set(v.id, { m: v.m, s: v.s as string[], ...(v.w === true ? { w: true } : {}) });
    }
  } catch (err) {
    if (err instanceof WharfError) throw err;
    throw asWharfError(err, 'IO_ERROR', `reading ${path}`);
  }
  return index;
}

/** A timestampKey as people read it: `2024-01-01T00:00:00Z`, `2024-01-01T00:00:00.12Z` (trailing zeros gone). */
export function displayTime(key: string): string {
  return key.replace(/\.(\d*?)0*Z$/, (_, digits: string) => (digits ? `.${digits}Z` : 'Z'));
}

/**
 * The key a URL's validators are remembered under in meta.json: the URL as shown, and when it has a query, a
 * hash of the query. Two URLs that differ only there (`?ecosystem=A`, `?ecosystem=B`) are two sources, and one's
 * ETag must never be sent for the other; the query itself is not stored (signed URLs carry tokens in it).
 */
export function urlSourceKey(source: string): string {
  const shown = displaySource(source);
  try {
    const query = new URL(source).search;
    return query ? `${shown} (query sha256:${createHash('sha256').update(query).digest('hex').slice(0, 16)})` : shown;
  } catch {
    return shown;
  }
}

/** A URL as it may be shown and stored: no user, password, query or fragment (signed URLs carry tokens there). */
export function displaySource(source: string): string {
  if (!/^https?:\/\//i.test(source)) return source;
  try {
    const u = new URL(source);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return '(a URL)';
  }
}
