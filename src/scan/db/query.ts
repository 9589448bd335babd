/**
 * Reading the vulnerability database: the records of one package (one shard file read, not the whole
 * database), and what the database holds (meta.json alone). Readers take no lock: they read CURRENT, then the
 * generation it names, which no import modifies; if that generation was removed meanwhile (two imports ran
 * while a reader held it), the reader reads CURRENT again.
 */
import { createReadStream, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { WharfError, asWharfError } from '../../errors.js';
import type { OsvRecord } from '../osv/record.js';
import { damaged, readCurrentName, readMeta, shardPath, shardKey, type LastImport } from './layout.js';

export interface EcosystemStatus {
  ecosystem: string;
  records: number;
  newestModified?: string;
}

export interface DbStatus {
  dbDir: string;
  /** False when nothing was imported yet (the other fields are then empty). */
  exists: boolean;
  generation?: string;
  lastImport?: LastImport;
  /** Records not withdrawn. */
  records: number;
  withdrawn: number;
  newestModified?: string;
  /** Sorted by name. */
  ecosystems: EcosystemStatus[];
}

export interface QueryOptions {
  signal?: AbortSignal;
}

function noDatabase(dbDir: string): WharfError {
  return new WharfError('PATH_NOT_FOUND', `there is no vulnerability database in ${dbDir}`, {
    hint: "import one first: 'wharf db import https://osv-vulnerabilities.storage.googleapis.com/<Ecosystem>/all.zip'",
  });
}

async function generationExists(dbDir: string, generation: string): Promise<boolean> {
  return fsp.stat(join(dbDir, generation)).then(
    (st) => st.isDirectory(),
    () => false,
  );
}

/** What the database holds: ecosystems with their record counts, the last import, the newest `modified`. */
export async function status(dbDir: string, options: QueryOptions = {}): Promise<DbStatus> {
  for (let attempt = 0; ; attempt++) {
    options.signal?.throwIfAborted();
    const generation = await readCurrentName(dbDir);
    if (generation === undefined) return { dbDir, exists: false, records: 0, withdrawn: 0, ecosystems: [] };
    try {
      const meta = await readMeta(dbDir, generation);
      const ecosystems = Object.values(meta.ecosystems)
        .map((e) => ({ ecosystem: e.ecosystem, records: e.records, ...(e.newestModified !== undefined ? { newestModified: e.newestModified } : {}) }))
        .sort((a, b) => (a.ecosystem < b.ecosystem ? -1 : a.ecosystem > b.ecosystem ? 1 : 0));
      return {
        dbDir,
        exists: true,
        generation,
        lastImport: meta.lastImport,
        records: meta.records,
        withdrawn: meta.withdrawn,
        ...(meta.newestModified !== undefined ? { newestModified: meta.newestModified } : {}),
        ecosystems,
      };
    } catch (err) {
      if (attempt < 3 && !(await generationExists(dbDir, generation))) continue;
      throw err;
    }
  }
}

/** The records of a shard file that name (ecosystem, name) in one of their affected entries. */
async function readShard(path: string, ecosystem: string, name: string, dbDir: string, signal?: AbortSignal): Promise<OsvRecord[]> {
  const out: OsvRecord[] = [];
  // The name as the record serialises it: most lines of a shard name other packages and are not parsed.
  const needle = `"name":${JSON.stringify(name)}`;
  const input = createReadStream(path, { encoding: 'utf8', ...(signal ? { signal } : {}) });
  for await (const line of createInterface({ input, crlfDelay: Infinity })) {
    if (!line.includes(needle)) continue;
    let record: OsvRecord;
    try {
      record = JSON.parse(line) as OsvRecord;
    } catch (err) {
      throw damaged(dbDir, `a line of ${path} is not JSON`, err);
    }
    if (!Array.isArray(record.affected)) throw damaged(dbDir, `a line of ${path} is not an OSV record`);
    if (record.affected.some((a) => a.package?.ecosystem === ecosystem && a.package?.name === name)) out.push(record);
  }
  return out;
}

/**
 * Every record naming the package `name` of `ecosystem` (exact strings: `Debian:12`, `Alpine:v3.20`, `npm`),
 * sorted by id. Withdrawn records are not stored, so never returned. A database that does not exist is an
 * error (PATH_NOT_FOUND), never an empty answer a scan could take for "no vulnerabilities".
 */
export async function lookup(dbDir: string, ecosystem: string, name: string, options: QueryOptions = {}): Promise<OsvRecord[]> {
  for (let attempt = 0; ; attempt++) {
    options.signal?.throwIfAborted();
    const generation = await readCurrentName(dbDir);
    if (generation === undefined) throw noDatabase(dbDir);
    const path = shardPath(join(dbDir, generation), shardKey(ecosystem, name));
    try {
      return await readShard(path, ecosystem, name, dbDir, options.signal);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw asWharfError(err, 'IO_ERROR', `reading ${path}`);
      if (await generationExists(dbDir, generation)) return []; // no record names a package of this shard
      if (attempt >= 3) throw damaged(dbDir, `${generation} vanished while it was being read`);
    }
  }
}
