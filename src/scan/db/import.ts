/**
 * Import OSV records into the database (layout.ts): incremental, atomic, one import at a time.
 *
 * - Incremental: a record whose id is stored with the same or a newer `modified` is not written again; a newer
 *   one replaces it everywhere it was (every ecosystem and package it named); a withdrawn one removes it and is
 *   remembered (ids.jsonl), so an older copy met later is not brought back.
 * - Atomic: the new generation is written beside the current one — changed shards rewritten, the others hard
 *   links — and becomes visible by one rename of CURRENT. Killed at any moment, the import leaves the previous
 *   generation as CURRENT; its leftovers are removed by the next import.
 * - Serialised: under `import.lock` (util/fs withLock), so two imports never build on the same generation.
 * - Conditional, for URLs: the ETag and Last-Modified a URL's server sent are kept in meta.json (urlSources) and
 *   sent back next time (If-None-Match, If-Modified-Since); a 304 downloads and reads nothing and keeps the
 *   generation, once the lock confirms that the generation still holds the copy the request named.
 *
 * Memory stays bounded by the size of one spool group (an ecosystem's records whose names hash to one of 16
 * groups), not by the whole source: records read are spooled to disk as they come.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { WharfError, asWharfError } from '../../errors.js';
import { fsyncDir, withLock, writeFileAtomic } from '../../util/fs.js';
import { DEFAULT_RECORD_LIMITS, parseOsvRecords, timestampKey, type OsvRecord, type RecordLimits, type WarningHandler } from '../osv/record.js';
import type { ProxyConfig } from '../../util/proxy.js';
import { DEFAULT_MAX_DOWNLOAD, downloadTo, isUrl, type DownloadOptions, type FetchFunction, type Validators } from './download.js';
import {
  CURRENT_FILE,
  ECO_DIR,
  FORMAT,
  GENERATION,
  INDEX_FILE,
  LOCK_DIR,
  META_FILE,
  damaged,
  displaySource,
  urlSourceKey,
  displayTime,
  ecosystemKey,
  nextUrlSources,
  readCurrentName,
  readIndex,
  readMeta,
  shardKey,
  shardPath,
  urlSourceOf,
  withUrlSources,
  type DbMeta,
  type EcosystemMeta,
  type IndexEntry,
  type LastImport,
  type UrlSourceMeta,
} from './layout.js';
import { detectSource, sourceFiles, type SourceKind } from './sources.js';
import type { ZipLimits } from './zip.js';

export type ImportPhase = 'download' | 'read' | 'write' | 'switch';

export interface ImportProgress {
  phase: ImportPhase;
  /** Files (zip entries) read so far. */
  files: number;
  /** Valid records read so far. */
  records: number;
}

export interface ImportOptions {
  /** The database directory; created when missing. */
  dbDir: string;
  signal?: AbortSignal;
  /** Records and files skipped (broken, too large), told one by one. */
  onWarning?: WarningHandler;
  /**
   * Told as the import goes (each phase, and every 1000 files); a promise it returns is awaited. A callback that
   * throws (or rejects) fails the import, which then leaves the database as it was.
   */
  onProgress?: (progress: ImportProgress) => void | Promise<void>;
  /** For URLs: a fetch to use instead of node:http(s) (tests); the proxy settings do not apply to it. */
  fetch?: FetchFunction;
  /** For URLs: the proxies to go through (proxyFromEnv: HTTPS_PROXY, HTTP_PROXY, NO_PROXY); default: direct. */
  proxy?: ProxyConfig;
  /** For URLs: download and read it whatever the server would say to the ETag of the last import (`--force`). */
  unconditional?: boolean;
  /** The clock for lastImport and generation names. */
  now?: () => Date;
  /** How long to wait for another import to finish (default 10 minutes). */
  lockTimeoutMs?: number;
  maxDownloadBytes?: number;
  recordLimits?: Partial<RecordLimits>;
  zipLimits?: Partial<ZipLimits>;
}

export interface ImportResult {
  dbDir: string;
  /** As given (a URL without credentials or query). */
  source: string;
  kind: SourceKind;
  /** The generation CURRENT names afterwards. */
  generation: string;
  /** Files or zip entries read. */
  files: number;
  /** Valid records read. */
  records: number;
  added: number;
  updated: number;
  /** Already stored with the same or a newer `modified`. */
  unchanged: number;
  /** Withdrawn records that removed (or kept out) their id. */
  withdrawn: number;
  /** Files and records skipped with a warning. */
  skipped: number;
  /** Nothing was added, updated or withdrawn: the generation stayed (only lastImport was updated). */
  changed: boolean;
  /**
   * A URL source whose server answered 304 Not Modified to the ETag / Last-Modified of the copy imported from it
   * before: nothing was downloaded or read (the counts are 0), the generation stayed.
   */
  notModified: boolean;
}

const MiB = 1 << 20;
const SPOOL_FLUSH_BYTES = 32 * MiB;
/** How long a download left by a killed import is kept before an import removes it. */
const STALE_DOWNLOAD_MS = 24 * 3600_000;

/** A record's chosen version in this import. */
interface Chosen {
  m: string;
  s: string[];
  w: boolean;
}

/** Spool group of a shard key `<eco>/<hh>`: `<eco>.<h>` (16 groups per ecosystem). */
function groupOf(key: string): string {
  const slash = key.indexOf('/');
  return `${key.slice(0, slash)}.${key[slash + 1]}`;
}

/** Lines of records read, on disk, by group, until the new shards are written. */
class Spool {
  private buffers = new Map<string, string[]>();
  private buffered = 0;
  readonly groups = new Set<string>();

  constructor(private readonly dir: string) {}

  async add(key: string, m: string, line: string): Promise<void> {
    const group = groupOf(key);
    this.groups.add(group);
    let buf = this.buffers.get(group);
    if (!buf) this.buffers.set(group, (buf = []));
    const entry = `${key}\t${m}\t${line}\n`;
    buf.push(entry);
    this.buffered += entry.length;
    if (this.buffered > SPOOL_FLUSH_BYTES) await this.flush();
  }

  async flush(): Promise<void> {
    for (const [group, lines] of this.buffers) await fsp.appendFile(join(this.dir, `${group}.spool`), lines.join(''));
    this.buffers.clear();
    this.buffered = 0;
  }

  /** The spooled lines of one group: shard key → record lines, only each id's chosen version, once. */
  async read(group: string, chosen: ReadonlyMap<string, Chosen>): Promise<Map<string, Map<string, string>>> {
    const out = new Map<string, Map<string, string>>();
    if (!this.groups.has(group)) return out;
    const lines = createInterface({ input: createReadStream(join(this.dir, `${group}.spool`), 'utf8'), crlfDelay: Infinity });
    for await (const entry of lines) {
      if (entry === '') continue;
      const t1 = entry.indexOf('\t');
      const t2 = entry.indexOf('\t', t1 + 1);
      const key = entry.slice(0, t1);
      const m = entry.slice(t1 + 1, t2);
      const line = entry.slice(t2 + 1);
      const id = idOfLine(line);
      if (id === undefined || chosen.get(id)?.m !== m) continue; // a version this import later replaced
      let shard = out.get(key);
      if (!shard) out.set(key, (shard = new Map()));
      if (!shard.has(id)) shard.set(id, line);
    }
    return out;
  }
}

const ID_AT_START = /^\{"id":("(?:[^"\\]|\\.)*")/;

/** The id of a stored record line (its first key), without parsing the record. */
function idOfLine(line: string): string | undefined {
  const m = ID_AT_START.exec(line);
  if (!m) return undefined;
  try {
    return JSON.parse(m[1]!) as string;
  } catch {
    return undefined;
  }
}

/** The shard keys a record is stored under: one per distinct (ecosystem, name) hash of its affected entries. */
function shardKeysOf(record: OsvRecord, names: Map<string, string>): string[] {
  const keys = new Set<string>();
  for (const a of record.affected) {
    const eco = ecosystemKey(a.package.ecosystem);
    const known = names.get(eco);
    if (known === undefined) names.set(eco, a.package.ecosystem);
    else if (known !== a.package.ecosystem) throw new WharfError('UNSUPPORTED', `ecosystems ${JSON.stringify(known)} and ${JSON.stringify(a.package.ecosystem)} have one folder name`, { hint: 'report this: it is a hash collision wharf did not expect' });
    keys.add(shardKey(a.package.ecosystem, a.package.name));
  }
  return [...keys].sort();
}

async function writeDurable(path: string, data: string): Promise<void> {
  const fh = await fsp.open(path, 'wx', 0o644);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** The lines of an old shard whose record is not replaced by this import. */
async function keptLines(path: string, changed: ReadonlyMap<string, Chosen>, dbDir: string, out: Map<string, string>): Promise<void> {
  let input;
  try {
    await fsp.access(path);
    input = createReadStream(path, 'utf8');
  } catch {
    return; // the shard did not exist in the old generation
  }
  for await (const line of createInterface({ input, crlfDelay: Infinity })) {
    if (line === '') continue;
    const id = idOfLine(line);
    if (id === undefined) throw damaged(dbDir, `a line of ${path} is not a record`);
    if (!changed.has(id)) out.set(id, line);
  }
}

async function linkOrCopy(from: string, to: string): Promise<void> {
  try {
    await fsp.link(from, to);
  } catch {
    await fsp.copyFile(from, to);
  }
}

/** Every shard key of a generation, from its eco/ folder. */
async function shardKeysIn(genDir: string): Promise<string[]> {
  const keys: string[] = [];
  const ecoRoot = join(genDir, ECO_DIR);
  const ecos = await fsp.readdir(ecoRoot).catch(() => [] as string[]);
  for (const eco of ecos) {
    for (const f of await fsp.readdir(join(ecoRoot, eco))) {
      if (/^[0-9a-f]{2}\.jsonl$/.test(f)) keys.push(`${eco}/${f.slice(0, 2)}`);
    }
  }
  return keys;
}

function newGenerationName(now: Date): string {
  return `gen-${String(now.getTime()).padStart(13, '0')}-${randomBytes(4).toString('hex')}`;
}

/** Counts by ecosystem, from the whole index. */
function summarise(index: ReadonlyMap<string, IndexEntry>, names: ReadonlyMap<string, string>): Pick<DbMeta, 'records' | 'withdrawn' | 'newestModified' | 'ecosystems'> {
  let records = 0;
  let withdrawn = 0;
  let newest: string | undefined;
  const ecosystems: Record<string, EcosystemMeta> = {};
  for (const e of index.values()) {
    if (newest === undefined || e.m > newest) newest = e.m;
    if (e.w) {
      withdrawn++;
      continue;
    }
    records++;
    const seen = new Set<string>();
    for (const s of e.s) {
      const eco = s.slice(0, s.indexOf('/'));
      if (seen.has(eco)) continue;
      seen.add(eco);
      const meta = (ecosystems[eco] ??= { ecosystem: names.get(eco) ?? eco, records: 0 });
      meta.records++;
      if (meta.newestModified === undefined || e.m > meta.newestModified) meta.newestModified = e.m;
    }
  }
  for (const e of Object.values(ecosystems)) if (e.newestModified !== undefined) e.newestModified = displayTime(e.newestModified);
  return { records, withdrawn, ...(newest !== undefined ? { newestModified: displayTime(newest) } : {}), ecosystems };
}

/**
 * Under the lock, whatever no live import can be writing: generations other than `keep` (left by killed or
 * failed imports, or superseded), temporary files of atomic writes (CURRENT, meta.json) a killed import left,
 * and downloads older than a day (a download runs outside the lock, so a young one may be in progress).
 */
async function removeLeftovers(dbDir: string, keep: readonly string[], now: number): Promise<void> {
  const tmp = /^\.[0-9a-f]{12}\.wharf-tmp$/;
  for (const name of await fsp.readdir(dbDir).catch(() => [] as string[])) {
    const path = join(dbDir, name);
    if (GENERATION.test(name) && !keep.includes(name)) {
      await fsp.rm(path, { recursive: true, force: true }).catch(() => {});
    } else if (GENERATION.test(name)) {
      for (const inner of await fsp.readdir(path).catch(() => [] as string[])) {
        if (tmp.test(inner)) await fsp.rm(join(path, inner), { force: true }).catch(() => {});
      }
    } else if (tmp.test(name)) {
      await fsp.rm(path, { force: true }).catch(() => {});
    } else if (/^\.download-[0-9a-f]+\.tmp$/.test(name)) {
      const st = await fsp.stat(path).catch(() => undefined);
      if (st && now - st.mtimeMs > STALE_DOWNLOAD_MS) await fsp.rm(path, { force: true }).catch(() => {});
    }
  }
}

/**
 * Import OSV records from `source`: an OSV zip, a directory of `.json` files, one `.json` file (a record or an
 * array of them), or an http(s) URL of any of the files (downloaded to a temporary file in the database
 * directory first). Broken records are warnings; a damaged or hostile zip is an error that changes nothing.
 */
export async function importOsv(source: string, options: ImportOptions): Promise<ImportResult> {
  const { dbDir } = options;
  const shown = displaySource(source);
  try {
    await fsp.mkdir(dbDir, { recursive: true });
  } catch (err) {
    throw asWharfError(err, 'IO_ERROR', `creating ${dbDir}`);
  }
  if (!isUrl(source)) return importLocal(source, shown, options);
  // Read without the lock (the download must not hold it): checked again under it before a 304 is believed.
  const key = urlSourceKey(source);
  const known = options.unconditional ? undefined : await storedUrlSource(dbDir, key);
  const conditional = known && (known.etag !== undefined || known.lastModified !== undefined) ? validatorsOf(known) : undefined;
  await options.onProgress?.({ phase: 'download', files: 0, records: 0 });
  const tmp = join(dbDir, `.download-${randomBytes(8).toString('hex')}.tmp`);
  const download: DownloadOptions = {
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.fetch ? { fetch: options.fetch } : {}),
    ...(options.proxy ? { proxy: options.proxy } : {}),
    maxBytes: options.maxDownloadBytes ?? DEFAULT_MAX_DOWNLOAD,
  };
  try {
    let got = await downloadTo(source, tmp, { ...download, ...(conditional ? { conditional } : {}) });
    if (got.notModified) {
      const kept = await keepNotModified(dbDir, key, shown, conditional!, got.validators, options);
      if (kept) return kept;
      // The database changed since it was read (another import of the URL, or it was removed): all of it, then.
      got = await downloadTo(source, tmp, download);
    }
    return await importLocal(tmp, shown, options, { validators: got.validators, key });
  } finally {
    await fsp.rm(tmp, { force: true }).catch(() => {});
  }
}

function validatorsOf(e: Validators): Validators {
  return { ...(e.etag !== undefined ? { etag: e.etag } : {}), ...(e.lastModified !== undefined ? { lastModified: e.lastModified } : {}) };
}

function sameValidators(a: Validators, b: Validators): boolean {
  return a.etag === b.etag && a.lastModified === b.lastModified;
}

/** The remembered copy of a URL source in the current generation; none when there is no (readable) database. */
async function storedUrlSource(dbDir: string, shown: string): Promise<UrlSourceMeta | undefined> {
  try {
    const current = await readCurrentName(dbDir);
    return current ? urlSourceOf(await readMeta(dbDir, current), shown) : undefined;
  } catch {
    return undefined; // a damaged database is the import's to report, not this lookup's
  }
}

/**
 * A 304: under the lock, if the current generation still holds the copy the request named, keep it and say
 * when it was checked (lastImport, as an import that changes nothing does); undefined when it does not.
 */
async function keepNotModified(dbDir: string, key: string, shown: string, sent: Validators, answered: Validators, options: ImportOptions): Promise<ImportResult | undefined> {
  const now = options.now ?? (() => new Date());
  return withLock(
    join(dbDir, LOCK_DIR),
    async () => {
      options.signal?.throwIfAborted();
      const current = await readCurrentName(dbDir);
      if (!current) return undefined;
      const meta = await readMeta(dbDir, current);
      const entry = urlSourceOf(meta, key);
      if (!entry || !sameValidators(validatorsOf(entry), sent)) return undefined;
      await options.onProgress?.({ phase: 'switch', files: 0, records: 0 });
      const at = now().toISOString();
      const lastImport: LastImport = { at, source: shown, added: 0, updated: 0, unchanged: 0, withdrawn: 0, skipped: 0, notModified: true };
      const urlSources = nextUrlSources(meta, key, { ...validatorsOf(answered), kind: entry.kind, at });
      await writeFileAtomic(join(dbDir, current, META_FILE), `${JSON.stringify(withUrlSources({ ...meta, lastImport }, urlSources), null, 1)}\n`);
      await removeLeftovers(dbDir, meta.previous ? [current, meta.previous] : [current], Date.now());
      return {
        dbDir,
        source: shown,
        kind: entry.kind,
        generation: current,
        files: 0,
        records: 0,
        added: 0,
        updated: 0,
        unchanged: 0,
        withdrawn: 0,
        skipped: 0,
        changed: false,
        notModified: true,
      };
    },
    { timeoutMs: options.lockTimeoutMs ?? 600_000 },
  );
}

/**
 * Import a local file or directory. `downloaded` is given for a URL source (its validators, maybe none): the
 * meta.json written remembers them for the next conditional download.
 */
async function importLocal(path: string, shown: string, options: ImportOptions, url?: { validators: Validators; key: string }): Promise<ImportResult> {
  const downloaded = url?.validators;
  const { dbDir, signal } = options;
  const kind = await detectSource(path, shown);
  const now = options.now ?? (() => new Date());
  const recordLimits = { ...DEFAULT_RECORD_LIMITS, ...options.recordLimits };
  return withLock(
    join(dbDir, LOCK_DIR),
    async () => {
      signal?.throwIfAborted();
      const current = await readCurrentName(dbDir);
      const oldMeta = current ? await readMeta(dbDir, current) : undefined;
      const oldIndex = current ? await readIndex(dbDir, current, signal) : new Map<string, IndexEntry>();
      const names = new Map<string, string>(Object.entries(oldMeta?.ecosystems ?? {}).map(([k, v]) => [k, v.ecosystem]));
      const generation = newGenerationName(now());
      const genDir = join(dbDir, generation);
      const spoolDir = join(genDir, 'spool');
      const counts = { files: 0, records: 0, added: 0, updated: 0, unchanged: 0, withdrawn: 0, skipped: 0 };
      const progress = async (phase: ImportPhase): Promise<void> => options.onProgress?.({ phase, files: counts.files, records: counts.records });
      const onSkip = (): void => void counts.skipped++;
      let switched = false;
      await fsp.mkdir(spoolDir, { recursive: true });
      try {
        await progress('read');
        const spool = new Spool(spoolDir);
        const chosen = new Map<string, Chosen>();
        for await (const file of sourceFiles(path, kind, {
          ...(signal ? { signal } : {}),
          ...(options.onWarning ? { onWarning: options.onWarning } : {}),
          onSkip,
          maxFileBytes: recordLimits.maxBytes,
          ...(options.zipLimits ? { zipLimits: options.zipLimits } : {}),
          where: shown,
        })) {
          counts.files++;
          if (counts.files % 1000 === 0) {
            signal?.throwIfAborted();
            await progress('read');
          }
          const records = parseOsvRecords(file.bytes, { where: file.where, limits: recordLimits, onSkip, ...(options.onWarning ? { onWarning: options.onWarning } : {}) });
          for (const r of records) {
            counts.records++;
            const m = timestampKey(r.modified)!;
            const earlier = chosen.get(r.id);
            if (earlier ? earlier.m >= m : (oldIndex.get(r.id)?.m ?? '') >= m) {
              if (!earlier) counts.unchanged++;
              continue;
            }
            const withdrawn = r.withdrawn !== undefined;
            const s = withdrawn ? [] : shardKeysOf(r, names);
            chosen.set(r.id, { m, s, w: withdrawn });
            if (!withdrawn) {
              const line = JSON.stringify(r);
              for (const key of s) await spool.add(key, m, line);
            }
          }
        }
        await spool.flush();
        for (const [id, c] of chosen) {
          if (c.w) counts.withdrawn++;
          else if (oldIndex.has(id)) counts.updated++;
          else counts.added++;
        }
        const lastImport: LastImport = { at: now().toISOString(), source: shown, added: counts.added, updated: counts.updated, unchanged: counts.unchanged, withdrawn: counts.withdrawn, skipped: counts.skipped };
        // A URL's copy is remembered with its validators (forgotten when its server sent none); a path's is not.
        const urlEntry = downloaded === undefined ? undefined : downloaded.etag !== undefined || downloaded.lastModified !== undefined ? { ...validatorsOf(downloaded), kind, at: lastImport.at } : null;
        const urlSources = url ? nextUrlSources(oldMeta, url.key, urlEntry) : nextUrlSources(oldMeta, shown, urlEntry);

        if (chosen.size === 0 && current && oldMeta) {
          // Nothing changed: keep the generation, say when it was last checked.
          await progress('switch');
          await writeFileAtomic(join(dbDir, current, META_FILE), `${JSON.stringify(withUrlSources({ ...oldMeta, lastImport }, urlSources), null, 1)}\n`);
          await fsp.rm(genDir, { recursive: true, force: true });
          await removeLeftovers(dbDir, oldMeta.previous ? [current, oldMeta.previous] : [current], Date.now());
          return { dbDir, source: shown, kind, generation: current, ...counts, changed: false, notModified: false };
        }

        await progress('write');
        const dirty = new Set<string>();
        for (const [id, c] of chosen) {
          for (const s of oldIndex.get(id)?.s ?? []) dirty.add(s);
          for (const s of c.s) dirty.add(s);
        }
        const oldDir = current ? join(dbDir, current) : undefined;
        const groups = new Map<string, string[]>();
        for (const key of dirty) {
          const g = groupOf(key);
          const list = groups.get(g);
          if (list) list.push(key);
          else groups.set(g, [key]);
        }
        const ecoDirs = new Set<string>();
        for (const [group, keys] of groups) {
          signal?.throwIfAborted();
          const staged = await spool.read(group, chosen);
          for (const key of keys.sort()) {
            const lines = new Map<string, string>();
            if (oldDir) await keptLines(shardPath(oldDir, key), chosen, dbDir, lines);
            for (const [id, line] of staged.get(key) ?? []) lines.set(id, line);
            if (lines.size === 0) continue;
            const eco = key.slice(0, key.indexOf('/'));
            if (!ecoDirs.has(eco)) {
              await fsp.mkdir(join(genDir, ECO_DIR, eco), { recursive: true });
              ecoDirs.add(eco);
            }
            const sorted = [...lines.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
            await writeDurable(shardPath(genDir, key), sorted.map(([, l]) => `${l}\n`).join(''));
          }
        }
        if (oldDir) {
          for (const key of await shardKeysIn(oldDir)) {
            if (dirty.has(key)) continue;
            const eco = key.slice(0, key.indexOf('/'));
            if (!ecoDirs.has(eco)) {
              await fsp.mkdir(join(genDir, ECO_DIR, eco), { recursive: true });
              ecoDirs.add(eco);
            }
            await linkOrCopy(shardPath(oldDir, key), shardPath(genDir, key));
          }
        }
        await fsp.rm(spoolDir, { recursive: true, force: true });

        const index = new Map(oldIndex);
        for (const [id, c] of chosen) index.set(id, { m: c.m, s: c.s, ...(c.w ? { w: true } : {}) });
        const ids = [...index.keys()].sort();
        await writeDurable(join(genDir, INDEX_FILE), ids.map((id) => `${JSON.stringify({ id, ...index.get(id)! })}\n`).join(''));
        const summary = summarise(index, names);
        const meta: DbMeta = {
          format: FORMAT,
          generation,
          ...(current ? { previous: current } : {}),
          createdAt: now().toISOString(),
          lastImport,
          ...summary,
          ...(urlSources ? { urlSources } : {}),
        };
        await writeDurable(join(genDir, META_FILE), `${JSON.stringify(meta, null, 1)}\n`);
        for (const eco of ecoDirs) await fsyncDir(join(genDir, ECO_DIR, eco));
        await fsyncDir(join(genDir, ECO_DIR));
        await fsyncDir(genDir);

        signal?.throwIfAborted();
        await progress('switch');
        await writeFileAtomic(join(dbDir, CURRENT_FILE), `${generation}\n`);
        switched = true;
        await fsyncDir(dbDir);
        await removeLeftovers(dbDir, current ? [generation, current] : [generation], Date.now());
        return { dbDir, source: shown, kind, generation, ...counts, changed: true, notModified: false };
      } catch (err) {
        if (!switched) await fsp.rm(genDir, { recursive: true, force: true }).catch(() => {});
        throw asWharfError(err, 'IO_ERROR', `importing ${shown}`);
      }
    },
    { timeoutMs: options.lockTimeoutMs ?? 600_000 },
  );
}
