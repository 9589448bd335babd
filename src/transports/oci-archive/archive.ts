/**
 * Reading an OCI archive (a tar of an OCI image layout) in place. skopeo extracts the whole archive into a
 * temporary directory before it reads anything; we index the tar once (headers only) and then serve index.json,
 * manifests and blobs straight from byte ranges of the file, through one file handle held open for the reader's
 * lifetime, so a concurrent writer renaming a new archive over the path cannot mix two archives' bytes.
 *
 * A gzip- or zstd-compressed archive (which skopeo also accepts) cannot be read at random offsets: it is first
 * decompressed into a temporary file, which close() removes.
 */
import { createReadStream, createWriteStream, promises as fsp, type Stats } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import type { Readable } from 'node:stream';
import { fileRangeStream } from '../../util/fs.js';
import { pipeline } from 'node:stream/promises';
import { digestAlgorithm, digestHex, parseDigest, type Digest } from '../../digest/index.js';
import { NotFoundError, WharfError, asWharfError } from '../../errors.js';
import { decompressor, detectCompression } from '../../archive/compression.js';
import { indexTarFile, normalizeTarPath, type TarEntry } from '../../archive/tar.js';
import { parseJsonObject, validateDescriptor } from '../../oci/manifest.js';
import type { ImageIndex } from '../../oci/types.js';
import { LAYOUT_VERSION, MAX_INDEX_JSON_BYTES } from '../../oci/layout.js';
import type { Context } from '../types.js';

/** The oci-layout marker is one tiny JSON object; the oci: transport parses at most this much of it too. */
export const MAX_OCI_LAYOUT_BYTES = 4096;
/** Symlink / hard-link hops followed when resolving a blob entry. */
const MAX_LINK_HOPS = 8;
const READ_CHUNK = 1 << 20;

export interface OciArchiveReaderOptions {
  signal?: AbortSignal;
  /** Where a compressed archive is decompressed to (default os.tmpdir()). */
  tmpDir?: string;
  /** The name errors use for the archive (default `oci-archive <path>`). */
  label?: string;
}

/** An indexed OCI archive: its validated index.json and a lookup of its blobs, read from one open handle. */
export class OciArchiveReader {
  private readonly byName = new Map<string, TarEntry>();
  private closed = false;

  private constructor(
    /** The archive as the user named it. */
    readonly path: string,
    readonly label: string,
    private readonly fh: fsp.FileHandle,
    /** Identity of the file the user named, at the time it was indexed (see sameFile()). */
    readonly stats: Stats,
    private readonly tempDir: string | undefined,
    entries: TarEntry[],
  ) {
    // Later entries win, as when the tar is extracted (which is how skopeo reads it).
    for (const e of entries) {
      const key = normalizeTarPath(e.name);
      if (key !== undefined && key !== '') this.byName.set(key, e);
    }
  }

  /** The image index of the archive (index.json), validated like an oci: layout's. */
  index!: ImageIndex;
  /** The raw index.json, so a writer can keep fields it does not know. */
  indexJson!: Record<string, unknown>;

  /**
   * Open and index an archive. Throws IMAGE_NOT_FOUND (a NotFoundError) when the file does not exist and
   * ARCHIVE_INVALID when it is not a tar of an OCI layout.
   */
  static async open(path: string, options: OciArchiveReaderOptions = {}): Promise<OciArchiveReader> {
    const label = options.label ?? `oci-archive ${path}`;
    let st: Stats;
    try {
      st = await fsp.stat(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        throw missingArchive(label, err);
      }
      throw asWharfError(err, 'IO_ERROR', `opening ${label}`);
    }
    if (!st.isFile()) {
      throw new WharfError('ARCHIVE_INVALID', `${label} is not a regular file`, {
        hint: st.isDirectory() ? 'for an OCI layout directory use oci:PATH' : 'oci-archive reads tar files',
      });
    }
    // A few tries: if the path is replaced between our open and the indexing, index again.
    for (let attempt = 0; ; attempt++) {
      const reader = await OciArchiveReader.tryOpen(path, label, options);
      if (reader) return reader;
      if (attempt >= 3) {
        throw new WharfError('IO_ERROR', `${label} kept changing while it was being read`, {
          hint: 'another program is rewriting the archive; try again when it is done',
          retryable: true,
        });
      }
    }
  }

  private static async tryOpen(path: string, label: string, options: OciArchiveReaderOptions): Promise<OciArchiveReader | undefined> {
    let fh: fsp.FileHandle | undefined;
    let tempDir: string | undefined;
    try {
      try {
        fh = await fsp.open(path, 'r');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
          throw missingArchive(label, err);
        }
        throw asWharfError(err, 'IO_ERROR', `opening ${label}`);
      }
      const stats = await fh.stat();
      const head = Buffer.alloc(8);
      const { bytesRead } = await fh.read(head, 0, head.length, 0);
      const compression = detectCompression(head.subarray(0, bytesRead));
      let tarPath = path;
      if (compression !== 'none') {
        // Decompress from the handle we hold (not the path), so what we index is what we opened.
        tempDir = await fsp.mkdtemp(join(options.tmpDir ?? tmpdir(), 'wharf-oci-archive-'));
        tarPath = join(tempDir, 'archive.tar');
        try {
          const filter = decompressor(compression)!;
          const input = createReadStream('', { fd: fh, autoClose: false, start: 0, highWaterMark: READ_CHUNK });
          await pipeline(input, filter, createWriteStream(tarPath, { flags: 'wx' }), options.signal ? { signal: options.signal } : {});
        } catch (err) {
          if ((err as Error)?.name === 'AbortError') throw asWharfError(err);
          if (err instanceof WharfError && (err.code === 'COMPRESSION_UNAVAILABLE' || err.code === 'ABORTED')) throw err;
          // A failing write of the scratch copy (ENOSPC…) says nothing about the archive.
          if ((err as NodeJS.ErrnoException)?.syscall) throw asWharfError(err, 'IO_ERROR', `decompressing ${label}`);
          throw new WharfError('ARCHIVE_INVALID', `${label} is ${compression}-compressed but cannot be decompressed: ${(err as Error).message}`, {
            hint: 'the archive is corrupt or truncated; re-create or re-download it',
            cause: err,
          });
        }
        await fh.close();
        fh = await fsp.open(tarPath, 'r');
      }
      let entries: TarEntry[];
      try {
        entries = await indexTarFile(tarPath, options.signal);
      } catch (err) {
        if (err instanceof WharfError && err.code === 'TAR_INVALID') {
          throw new WharfError('ARCHIVE_INVALID', `${label} is not a valid tar archive: ${err.message}`, {
            hint: 'an oci-archive is a tar of an OCI image layout; this file is corrupt, truncated or something else',
            cause: err,
          });
        }
        throw err;
      }
      if (compression === 'none') {
        // The path may have been replaced between our open() and indexTarFile()'s: make sure both saw one file.
        const now = await fsp.stat(path).catch(() => undefined);
        if (!now || !sameIdentity(now, stats)) {
          await fh.close();
          return undefined;
        }
      }
      const reader = new OciArchiveReader(path, label, fh, stats, tempDir, entries);
      fh = undefined;
      tempDir = undefined;
      try {
        await reader.load(entries);
      } catch (err) {
        await reader.close();
        throw err;
      }
      return reader;
    } catch (err) {
      await fh?.close().catch(() => {});
      if (tempDir) await fsp.rm(tempDir, { recursive: true, force: true }).catch(() => {});
      throw err;
    }
  }

  private async load(entries: TarEntry[]): Promise<void> {
    const indexEntry = this.byName.get('index.json');
    if (!indexEntry) {
      const looksDocker = this.byName.has('manifest.json');
      throw new WharfError('ARCHIVE_INVALID', `${this.label} is not an OCI archive: it has no index.json`, {
        hint: looksDocker
          ? 'it looks like a docker save archive: read it with docker-archive:'
          : entries.length === 0
            ? 'the tar is empty'
            : 'an oci-archive is a tar of an OCI image layout (oci-layout, index.json, blobs/)',
      });
    }
    const layoutEntry = this.byName.get('oci-layout');
    if (layoutEntry) {
      const bytes = await this.readFile(this.resolve('oci-layout', 'oci-layout'), MAX_OCI_LAYOUT_BYTES, 'oci-layout');
      const json = parseJsonObject(bytes, `${this.label}: oci-layout`, 'ARCHIVE_INVALID');
      if (json.imageLayoutVersion !== LAYOUT_VERSION) {
        throw new WharfError('ARCHIVE_INVALID', `${this.label}: unsupported imageLayoutVersion ${JSON.stringify(json.imageLayoutVersion)}`, {
          hint: `wharf reads OCI image layout version ${LAYOUT_VERSION}`,
        });
      }
    }
    const where = `${this.label}: index.json`;
    const bytes = await this.readFile(this.resolve('index.json', 'index.json'), MAX_INDEX_JSON_BYTES, 'index.json');
    const json = parseJsonObject(bytes, where, 'ARCHIVE_INVALID');
    if (json.schemaVersion !== 2 || !Array.isArray(json.manifests)) {
      throw new WharfError('ARCHIVE_INVALID', `${where} is not an image index (needs schemaVersion 2 and manifests)`);
    }
    try {
      json.manifests.forEach((m, i) => validateDescriptor(m, `${where}: manifests[${i}]`));
    } catch (err) {
      throw new WharfError('ARCHIVE_INVALID', (err as Error).message, { cause: err });
    }
    this.indexJson = json;
    this.index = json as unknown as ImageIndex;
  }

  /** Whether `st` (a fresh stat of the path) is still the file this reader indexed. */
  sameFile(st: Stats): boolean {
    return sameIdentity(st, this.stats);
  }

  /**
   * The regular-file entry holding a blob, following hard links and symlinks to other entries of the archive;
   * undefined when the archive has no such blob. Throws ARCHIVE_INVALID when the entry is not a file.
   */
  findBlob(digest: Digest): TarEntry | undefined {
    parseDigest(digest); // nothing that could name another part of the archive
    const name = `blobs/${digestAlgorithm(digest)}/${digestHex(digest)}`;
    if (!this.byName.has(name)) return undefined;
    return this.resolve(name, `blob ${digest}`, true);
  }

  /** Every well-named blob in the archive, in archive order of their names (links included). */
  blobDigests(): Digest[] {
    const out: Digest[] = [];
    for (const key of this.byName.keys()) {
      const m = /^blobs\/([a-z0-9]+)\/([a-f0-9]+)$/.exec(key);
      if (!m) continue;
      try {
        out.push(parseDigest(`${m[1]}:${m[2]}`));
      } catch {
        // Not a digest we know (another algorithm, a stray file): nothing refers to it by a digest we accept.
      }
    }
    return out;
  }

  /** The bytes of a small entry, refused above `maxBytes`. */
  async readFile(entry: TarEntry, maxBytes: number, what: string): Promise<Buffer> {
    this.checkOpen();
    if (entry.size > maxBytes) {
      throw new WharfError('TOO_LARGE', `${this.label}: ${what} is ${entry.size} bytes, more than the ${maxBytes}-byte limit`, {
        hint: 'a file this large is not what it claims to be; check the archive',
      });
    }
    const buf = Buffer.alloc(entry.size);
    let got = 0;
    while (got < entry.size) {
      const { bytesRead } = await this.fh.read(buf, got, entry.size - got, entry.dataOffset + got);
      if (bytesRead === 0) throw truncated(this.label, what);
      got += bytesRead;
    }
    return buf;
  }

  /** A stream of an entry's data, read from the handle this reader holds. */
  stream(entry: TarEntry, what: string, signal?: AbortSignal): Readable {
    this.checkOpen();
    const label = this.label;
    return fileRangeStream(this.fh, entry.dataOffset, entry.size, {
      ...(signal ? { signal } : {}),
      onShort: () => truncated(label, what),
      what: `reading ${what} from ${label}`,
    });
  }


  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.fh.close().catch(() => {});
    if (this.tempDir) await fsp.rm(this.tempDir, { recursive: true, force: true }).catch(() => {});
  }

  /**
   * The regular-file entry `name` names, following symlinks (relative to the link's folder) and hard links
   * (relative to the archive root), never out of the archive.
   */
  private resolve(name: string, what: string, missingIsNotFound = false): TarEntry {
    let current: string | undefined = name;
    for (let hop = 0; hop <= MAX_LINK_HOPS; hop++) {
      const e = current === undefined ? undefined : this.byName.get(current);
      if (!e) break;
      if (e.type === 'file') return e;
      if (e.type === 'hardlink') current = normalizeTarPath(e.linkname);
      else if (e.type === 'symlink') {
        current = e.linkname.startsWith('/')
          ? normalizeTarPath(e.linkname)
          : normalizeTarPath(posix.join(posix.dirname(current!), e.linkname));
      } else {
        throw new WharfError('ARCHIVE_INVALID', `${this.label}: ${what} is a ${e.type} entry, not a file`, {
          hint: 'the archive is damaged or was not made from an OCI layout; re-create it',
        });
      }
    }
    if (current !== undefined && this.byName.get(current)) {
      throw new WharfError('ARCHIVE_INVALID', `${this.label}: ${what} goes through more than ${MAX_LINK_HOPS} links`);
    }
    const message = `${this.label}: ${what} is a link to "${current ?? '(outside the archive)'}", which the archive does not hold`;
    if (missingIsNotFound) {
      throw new NotFoundError('BLOB_UNKNOWN', message, { hint: 'the archive is incomplete; re-create it' });
    }
    throw new WharfError('ARCHIVE_INVALID', message, { hint: 'the archive is incomplete; re-create it' });
  }

  private checkOpen(): void {
    if (this.closed) throw new WharfError('USAGE', `${this.label}: the archive reader is closed`);
  }
}

function sameIdentity(a: Stats, b: Stats): boolean {
  return a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtimeMs === b.mtimeMs;
}

function missingArchive(label: string, cause: unknown): NotFoundError {
  return new NotFoundError('IMAGE_NOT_FOUND', `${label} does not exist`, {
    hint: 'check the path; oci-archive:PATH names a tar of an OCI image layout (as skopeo copy … oci-archive:PATH writes)',
    cause,
  });
}

function truncated(label: string, what: string): WharfError {
  return new WharfError('ARCHIVE_INVALID', `${label}: ${what} is cut short: the archive file is shorter than its index says`, {
    hint: 'the archive was truncated or changed while it was read; re-create or re-download it',
  });
}

/** Context fields the reader uses. */
export function readerOptions(ctx: Context | undefined, label: string): OciArchiveReaderOptions {
  const o: OciArchiveReaderOptions = { label };
  if (ctx?.signal) o.signal = ctx.signal;
  if (ctx?.tmpDir) o.tmpDir = ctx.tmpDir;
  return o;
}
