/**
 * The installed packages of an rpm-based image, read natively from whichever database rpm keeps there:
 *
 * - `rpmdb.sqlite` (Fedora ≥ 33, RHEL 9, Amazon Linux 2023): SQLite, table Packages(hnum, blob), with its
 *   write-ahead log `rpmdb.sqlite-wal` laid over it when the caller has one;
 * - `Packages` (RHEL ≤ 8, CentOS 7, Amazon Linux 2): Berkeley DB hash, either byte order;
 * - `Packages.db` (SUSE): rpm's own ndb format;
 *
 * in `usr/lib/sysimage/rpm/` (where newer rpms keep it) or `var/lib/rpm/`. The caller hands in file contents
 * (already capped in size), never paths on disk; the format is told by the file's magic, the name only says
 * where to look. A database that cannot be walked is RPMDB_INVALID; a package whose own record or header is
 * damaged is told to onWarning and left out, and the rest are read.
 */
import { bdbMagic, BdbHashFile } from './bdb.js';
import { CappedWarnings, messageOf, rpmdbInvalid, type RpmWarningHandler } from './errors.js';
import { parseRpmHeader, type RpmPackage } from './header.js';
import { isNdb, ndbRecords } from './ndb.js';
import { isSqlite, SqliteFile } from './sqlite.js';

export { parseRpmHeader, parseSourceRpm, RpmTag, RpmType, type RpmPackage } from './header.js';
export type { RpmWarningHandler } from './errors.js';

export type RpmDbFormat = 'sqlite' | 'bdb' | 'ndb';

export interface RpmDbFile {
  /** Inside the image, with or without a leading `/`: `var/lib/rpm/Packages`. */
  path: string;
  data: Buffer;
}

/** Contents of a file of the image by path (no leading `/`), or undefined when the image has none. */
export type RpmDbLookup = (path: string) => Buffer | undefined | Promise<Buffer | undefined>;

export interface RpmDatabase {
  format: RpmDbFormat;
  /** The file read, as the caller named it. */
  path: string;
  /** In the database's own order (rpm -qa's). */
  packages: RpmPackage[];
}

/** Where rpm keeps its database, the newer place first. */
export const RPMDB_DIRS = ['usr/lib/sysimage/rpm', 'var/lib/rpm'] as const;

/** The file of each format, the newest format first: when an image has several, the first found is read. */
export const RPMDB_FILES: ReadonlyArray<{ format: RpmDbFormat; name: string }> = [
  { format: 'sqlite', name: 'rpmdb.sqlite' },
  { format: 'ndb', name: 'Packages.db' },
  { format: 'bdb', name: 'Packages' },
];

const WAL_SUFFIX = '-wal';

/** Every path (no leading `/`) a caller should fetch for readRpmDatabase, the WAL included. */
export const RPMDB_PATHS: readonly string[] = RPMDB_DIRS.flatMap((dir) => [
  ...RPMDB_FILES.map((f) => `${dir}/${f.name}`),
  `${dir}/rpmdb.sqlite${WAL_SUFFIX}`,
]);

/** Whether `path` (with or without a leading `/`) is one of RPMDB_PATHS: a `wanted` predicate for the file reader. */
export function isRpmDatabasePath(path: string): boolean {
  return RPMDB_PATHS.includes(normalize(path));
}

function normalize(path: string): string {
  return path.replace(/^(?:\.?\/)+/, '');
}

function basename(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

function dirname(path: string): string {
  const i = path.lastIndexOf('/');
  return i < 0 ? '' : path.slice(0, i);
}

interface Candidate {
  path: string;
  data: Buffer;
  wal?: { path: string; data: Buffer };
}

/**
 * Read the package list of the rpm database among `files` (or reachable through a lookup by path). Undefined
 * when there is none: not an rpm-based image. When there are several, the newest format in the newest place is
 * read and the others are named in a warning.
 */
export async function readRpmDatabase(files: readonly RpmDbFile[] | RpmDbLookup, onWarning?: RpmWarningHandler): Promise<RpmDatabase | undefined> {
  const candidates = typeof files === 'function' ? await lookUp(files) : fromList(files);
  const usable: Candidate[] = [];
  for (const c of candidates) {
    if (c.data.length === 0) onWarning?.(`${c.path}: empty file, not an rpm database; ignored`);
    else usable.push(c);
  }
  const chosen = usable[0];
  if (!chosen) return undefined;
  if (usable.length > 1) onWarning?.(`${chosen.path}: read; also found ${usable.slice(1).map((c) => c.path).join(', ')}, not read`);
  const options: ReadRpmDatabaseFileOptions = {};
  if (chosen.wal) options.wal = chosen.wal;
  if (onWarning) options.onWarning = onWarning;
  return readRpmDatabaseFile(chosen.path, chosen.data, options);
}

async function lookUp(lookup: RpmDbLookup): Promise<Candidate[]> {
  const out: Candidate[] = [];
  for (const dir of RPMDB_DIRS) {
    for (const { name } of RPMDB_FILES) {
      const path = `${dir}/${name}`;
      const data = await lookup(path);
      if (!data) continue;
      const c: Candidate = { path, data };
      if (name === 'rpmdb.sqlite') {
        const wal = await lookup(path + WAL_SUFFIX);
        if (wal && wal.length > 0) c.wal = { path: path + WAL_SUFFIX, data: wal };
      }
      out.push(c);
    }
  }
  return out;
}

function fromList(files: readonly RpmDbFile[]): Candidate[] {
  const byPath = new Map(files.map((f) => [normalize(f.path), f] as const));
  const rank = (path: string): number => {
    const name = RPMDB_FILES.findIndex((f) => f.name === basename(path));
    const dir = RPMDB_DIRS.indexOf(dirname(path) as (typeof RPMDB_DIRS)[number]);
    return (dir < 0 ? RPMDB_DIRS.length : dir) * RPMDB_FILES.length + name;
  };
  const known = [...byPath.keys()].filter((p) => RPMDB_FILES.some((f) => f.name === basename(p)));
  // Files by other names count only when their magic says they are a package database.
  const named = known.length > 0 ? known : [...byPath.keys()].filter((p) => !p.endsWith(WAL_SUFFIX) && formatOf(byPath.get(p)!.data) !== undefined);
  return named
    .sort((a, b) => rank(a) - rank(b))
    .map((p) => {
      const f = byPath.get(p)!;
      const c: Candidate = { path: f.path, data: f.data };
      const wal = byPath.get(p + WAL_SUFFIX);
      if (wal && wal.data.length > 0) c.wal = { path: wal.path, data: wal.data };
      return c;
    });
}

/** The format the magic of `data` says, if it is one of rpm's. */
export function formatOf(data: Buffer): RpmDbFormat | undefined {
  if (isSqlite(data)) return 'sqlite';
  if (isNdb(data)) return 'ndb';
  if (bdbMagic(data) === 'hash') return 'bdb';
  return undefined;
}

export interface ReadRpmDatabaseFileOptions {
  /** The SQLite write-ahead log beside an rpmdb.sqlite: its committed pages are read in place of the file's. */
  wal?: { path: string; data: Buffer };
  onWarning?: RpmWarningHandler;
}

/** Read one database file whatever its name, the format told by its magic. */
export function readRpmDatabaseFile(path: string, data: Buffer, options: ReadRpmDatabaseFileOptions = {}): RpmDatabase {
  const format = formatOf(data);
  if (!format) {
    const what = bdbMagic(data) === 'btree' ? 'a Berkeley DB btree (an rpm index, not the package database)' : 'neither SQLite, rpm ndb nor Berkeley DB hash';
    throw rpmdbInvalid(path, `${what}${data.length < 512 ? ` (${data.length} bytes)` : ''}`);
  }
  const warnings = new CappedWarnings(path, options.onWarning);
  const packages: RpmPackage[] = [];
  const add = (blob: Buffer, instance: number | bigint): void => {
    try {
      packages.push(parseRpmHeader(blob, `header ${instance}`));
    } catch (err) {
      warnings.warn(`${messageOf(err)}; skipped`);
    }
  };
  try {
    if (format === 'sqlite') readSqlite(path, data, options, warnings, add);
    else if (format === 'bdb') readBdb(path, data, warnings, add);
    else for (const r of ndbRecords(data, path, (m) => warnings.warn(m))) add(r.blob, r.pkgIdx);
  } finally {
    warnings.finish();
  }
  return { format, path, packages };
}

type AddBlob = (blob: Buffer, instance: number | bigint) => void;

function readSqlite(path: string, data: Buffer, options: ReadRpmDatabaseFileOptions, warnings: CappedWarnings, add: AddBlob): void {
  const { wal: w, onWarning } = options;
  // The WAL's own problems (it is ignored, the file read alone) are told under its name, uncapped: there are few.
  const wal = w ? { data: w.data, warn: (m: string) => onWarning?.(`${w.path}: ${m}`) } : undefined;
  const db = new SqliteFile(data, path, wal);
  const root = db.tableRoot('Packages');
  if (root === undefined) throw rpmdbInvalid(path, 'an SQLite database without a Packages table');
  for (const row of db.rows(root, 'Packages', (rowid, err) => warnings.warn(`row ${rowid}: ${messageOf(err)}; skipped`))) {
    // Packages(hnum INTEGER PRIMARY KEY, blob BLOB): hnum is the rowid, stored as NULL in the record.
    const blob = row.values[1];
    if (!Buffer.isBuffer(blob)) {
      warnings.warn(`row ${row.rowid}: no blob in the second column; skipped`);
      continue;
    }
    add(blob, row.rowid);
  }
}

function readBdb(path: string, data: Buffer, warnings: CappedWarnings, add: AddBlob): void {
  const db = new BdbHashFile(data, path);
  for (const { key, value } of db.records((key, message) => warnings.warn(`${key && key.length === 4 ? `header ${db.keyNumber(key)}: ` : ''}${message}; skipped`))) {
    if (key.length !== 4) {
      warnings.warn(`a key of ${key.length} bytes, not a header number; skipped`);
      continue;
    }
    const instance = db.keyNumber(key);
    // Record 0 is rpm's own: the next free header number, not a header.
    if (instance === 0) continue;
    add(value, instance);
  }
}
