/**
 * Where OSV records are imported from, as a stream of JSON files: an OSV zip (each entry one record, as
 * https://osv-vulnerabilities.storage.googleapis.com/<Ecosystem>/all.zip publishes), a directory of `.json`
 * files (an unpacked zip, a clone of an advisory repository: walked recursively, hidden folders and symlinks
 * skipped), or a single `.json` file. A zip is told by its first bytes, not its name.
 */
import { promises as fsp } from 'node:fs';
import { join, relative } from 'node:path';
import { WharfError, asWharfError } from '../../errors.js';
import type { WarningHandler } from '../osv/record.js';
import { ZipReader, looksLikeZip, type ZipLimits } from './zip.js';

export type SourceKind = 'zip' | 'directory' | 'json';

export interface SourceFile {
  /** For warnings: `all.zip: "DSA-5000-1.json"`, `advisories/GHSA-….json`. */
  where: string;
  bytes: Buffer;
}

export interface SourceOptions {
  signal?: AbortSignal;
  onWarning?: WarningHandler;
  /** Called once for each file skipped (after its warning), for counts. */
  onSkip?: () => void;
  /** A larger file or entry is skipped with a warning. */
  maxFileBytes: number;
  zipLimits?: Partial<ZipLimits>;
  /** Names the source in messages (a URL it was downloaded from); default: the path. */
  where?: string;
}

const MAX_DEPTH = 32;

export async function detectSource(path: string, where = path): Promise<SourceKind> {
  let st;
  try {
    st = await fsp.stat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new WharfError('PATH_NOT_FOUND', `${where} does not exist`, { hint: 'give an OSV zip (all.zip), a directory of .json files, a .json file or an https:// URL' });
    }
    throw asWharfError(err, 'IO_ERROR', `reading ${where}`);
  }
  if (st.isDirectory()) return 'directory';
  if (!st.isFile()) throw new WharfError('UNSUPPORTED', `${where} is not a file or a directory`, { hint: 'give an OSV zip, a directory of .json files or a .json file' });
  const fh = await fsp.open(path, 'r');
  try {
    const head = Buffer.alloc(4);
    const { bytesRead } = await fh.read(head, 0, 4, 0);
    return looksLikeZip(head.subarray(0, bytesRead)) ? 'zip' : 'json';
  } finally {
    await fh.close();
  }
}

async function readCapped(path: string, where: string, options: SourceOptions): Promise<Buffer | undefined> {
  const st = await fsp.stat(path);
  if (st.size > options.maxFileBytes) {
    options.onWarning?.(`${where}: skipped: ${st.size} bytes is more than the ${options.maxFileBytes} a record file may have`);
    options.onSkip?.();
    return undefined;
  }
  return fsp.readFile(path, { signal: options.signal });
}

async function* walk(root: string, dir: string, depth: number, options: SourceOptions): AsyncGenerator<SourceFile> {
  if (depth > MAX_DEPTH) {
    options.onWarning?.(`${relative(root, dir)}: skipped: more than ${MAX_DEPTH} folders deep`);
    options.onSkip?.();
    return;
  }
  const entries = await fsp.readdir(dir, { withFileTypes: true });
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    options.signal?.throwIfAborted();
    if (e.name.startsWith('.')) continue;
    const path = join(dir, e.name);
    if (e.isDirectory()) {
      yield* walk(root, path, depth + 1, options);
    } else if (e.isFile() && e.name.toLowerCase().endsWith('.json')) {
      const where = relative(root, path);
      const bytes = await readCapped(path, where, options);
      if (bytes) yield { where, bytes };
    }
  }
}

/** The JSON files of a source, one at a time; zip errors (damage, bombs) are thrown, bad records are not read here. */
export async function* sourceFiles(path: string, kind: SourceKind, options: SourceOptions): AsyncGenerator<SourceFile> {
  const where = options.where ?? path;
  try {
    if (kind === 'directory') {
      yield* walk(path, path, 0, options);
      return;
    }
    if (kind === 'json') {
      const bytes = await readCapped(path, where, options);
      if (bytes) yield { where, bytes };
      return;
    }
    const zip = await ZipReader.open(path, {
      where,
      signal: options.signal,
      limits: { maxEntryBytes: options.maxFileBytes, ...options.zipLimits },
    });
    try {
      for (const entry of zip.entries) {
        options.signal?.throwIfAborted();
        if (entry.isDirectory || !entry.name.toLowerCase().endsWith('.json')) continue;
        const entryWhere = `${where}: ${JSON.stringify(entry.name.slice(0, 200))}`;
        if (entry.tooLarge) {
          options.onWarning?.(`${entryWhere}: skipped: ${entry.uncompressedSize} bytes is more than the ${options.maxFileBytes} a record file may have`);
          options.onSkip?.();
          continue;
        }
        yield { where: entryWhere, bytes: await zip.read(entry, options.signal) };
      }
    } finally {
      await zip.close();
    }
  } catch (err) {
    throw asWharfError(err, 'IO_ERROR', `reading ${where}`);
  }
}
