/**
 * Image layers read as streams: a tar parser over a (decompressed) byte stream that yields each entry's header
 * and, for regular files, a stream of exactly its bytes. Nothing is buffered but one header (and capped extended
 * headers): a file's data flows from the source to the consumer with backpressure, and the next header is read
 * only once the consumer is done with the body. Layers are untrusted input: every number is checked, metadata
 * read into memory is capped, paths are normalised and `..` refused, and anything malformed is LAYER_INVALID.
 *
 * The header decoding itself (numbers, checksums, PAX records, GNU long names, type flags) is shared with
 * indexTarFile in src/archive/tar.ts, so a layer read from a stream and a tar indexed from a file say the same.
 */
import { pipeline, Readable } from 'node:stream';
import { decompressor, sniffCompression } from '../archive/compression.js';
import {
  MAX_PAX_HEADER_BYTES,
  MAX_TAR_NAME_BYTES,
  DEFAULT_MAX_TAR_ENTRIES,
  TAR_BLOCK,
  TarExtendedHeaders,
  decodeTarHeaderBlock,
  isExtendedHeader,
  isZeroBlock,
  resolveTarEntry,
  tarInvalid,
  type ResolvedTarHeader,
  type TarFail,
} from '../archive/tar.js';
import { WharfError, asWharfError } from '../errors.js';
import type { LayerEntry, LayerEntryWithBody } from './types.js';

export interface TarStreamOptions {
  signal?: AbortSignal;
  /**
   * Told about everything skipped or odd: unsupported entry types (sparse files, volume labels, vendor types),
   * unsafe paths with `onUnsafe: 'skip'`, a stream without an end-of-archive marker. Without a handler these
   * go to `process.emitWarning`: never silently.
   */
  onWarning?: (message: string) => void;
  /**
   * An entry whose path (or hard link target) contains a `..` component or a NUL byte, or a non-directory
   * that names the root itself: 'error' (default) fails with LAYER_INVALID naming the path; 'skip' skips the
   * entry (and its data) with a warning.
   */
  onUnsafe?: 'error' | 'skip';
  /** Prefix of error and warning messages, e.g. `layer 3 (sha256:…)`; default `layer`. */
  where?: string;
  /** Refuse layers with more entries than this (default 1,000,000). Skipped entries count too. */
  maxEntries?: number;
  /** The largest PAX extended header (and most PAX header bytes before one entry, and of all global headers); default 1 MiB. */
  maxPaxHeaderBytes?: number;
  /** The largest GNU long name / long link; default 64 KiB. */
  maxLongNameBytes?: number;
  /** The longest path (after normalisation) or link target, in bytes; default 64 KiB. */
  maxPathBytes?: number;
  /** Refuse an entry that declares more data than this before reading any of it (default: any safe integer). */
  maxFileSize?: number;
  /**
   * After the end-of-archive blocks, read the rest of the stream and ignore it (default true), so that a digest
   * computed upstream sees every byte; with false the source is destroyed there instead.
   */
  drainTrailing?: boolean;
}

/** One body chunk handed to the consumer at most; source chunks larger than this are split. */
const BODY_CHUNK = 256 << 10;
/**
 * Entries between two turns of the event loop. A source that has its data ready (in memory, or a fast
 * decompressor) keeps the reader in one unbroken chain of promises, and Node runs process.nextTick callbacks
 * (which streams use for their events) only when that chain pauses: without a pause they pile up, one or two
 * per entry.
 */
const YIELD_EVERY = 256;

type MapError = (err: unknown) => WharfError;

function aborted(): WharfError {
  return new WharfError('ABORTED', 'operation aborted');
}

/**
 * Read the entries of an uncompressed tar stream, in archive order. Each yielded file entry's `body` must be
 * read to its end, `resume()`d or `destroy()`ed before the next entry is asked for; a body that was never
 * touched when the next entry is asked for is skipped (its bytes read and dropped, and the body destroyed).
 * Ending the iteration early (break, an error) destroys `stream`.
 */
export function readLayerEntries(stream: Readable, options: TarStreamOptions = {}): AsyncGenerator<LayerEntryWithBody> {
  return readEntries(stream, options, sourceErrorMapper(options.where ?? 'layer', 'tar'));
}

/**
 * The entries of a layer blob as stored: gzip, zstd or plain tar, told apart by its first bytes (media types
 * can lie), decompressed as it streams. Ending the iteration early destroys `blobStream`.
 */
export async function* layerEntries(blobStream: Readable, options: TarStreamOptions = {}): AsyncGenerator<LayerEntryWithBody> {
  const where = options.where ?? 'layer';
  const onAbort = (): void => void blobStream.destroy(aborted());
  if (options.signal?.aborted) {
    blobStream.destroy();
    throw aborted();
  }
  options.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    let sniffed: Awaited<ReturnType<typeof sniffCompression>>;
    try {
      sniffed = await sniffCompression(blobStream);
    } catch (err) {
      throw sourceErrorMapper(where, 'blob')(err);
    }
    const dec = decompressor(sniffed.compression);
    const tar = dec ? pipeline(sniffed.stream, dec, () => {}) : sniffed.stream;
    yield* readEntries(tar as Readable, options, sourceErrorMapper(where, sniffed.compression === 'none' ? 'tar' : sniffed.compression));
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    if (!blobStream.destroyed && !blobStream.readableEnded) blobStream.destroy();
  }
}

/** Errors of the source (or decompressor) as WharfErrors: corrupt compressed data is LAYER_INVALID. */
function sourceErrorMapper(where: string, format: string): MapError {
  return (err) => {
    if (err instanceof WharfError) return err;
    const e = err as NodeJS.ErrnoException | undefined;
    if (e?.name === 'AbortError') return new WharfError('ABORTED', 'operation aborted', { cause: err });
    if (typeof e?.code === 'string' && (e.code.startsWith('Z_') || e.code.startsWith('ERR_ZSTD') || e.code.startsWith('ERR__ZSTD'))) {
      return new WharfError('LAYER_INVALID', `${where}: the layer is not valid ${format} data (${e.message})`, {
        cause: err,
        hint: 'the layer blob is corrupt or truncated; pull the image again',
      });
    }
    return asWharfError(err, 'IO_ERROR', `${where}: reading the layer`);
  };
}

/**
 * Pull-based reads over a stream's chunks. Only one reader uses it at a time: the generator between entries,
 * or one entry's body while the consumer reads it.
 */
class Cursor {
  /** Bytes consumed so far. */
  position = 0;
  private chunk: Buffer = Buffer.alloc(0);
  private at = 0;
  private ended = false;
  private readonly it: AsyncIterator<unknown>;

  constructor(
    private readonly stream: Readable,
    private readonly mapError: MapError,
  ) {
    this.it = stream[Symbol.asyncIterator]();
  }

  /** Up to `max` bytes (a view into a source chunk), or null at the end of the stream. */
  async take(max: number): Promise<Buffer | null> {
    if (this.at >= this.chunk.length && !(await this.fill())) return null;
    const n = Math.min(max, this.chunk.length - this.at);
    const out = this.chunk.subarray(this.at, this.at + n);
    this.at += n;
    this.position += n;
    return out;
  }

  /** Exactly `n` bytes, or fewer if the stream ends first. */
  async read(n: number): Promise<Buffer> {
    if (this.chunk.length - this.at >= n) {
      const out = this.chunk.subarray(this.at, this.at + n);
      this.at += n;
      this.position += n;
      return out;
    }
    const parts: Buffer[] = [];
    let got = 0;
    while (got < n) {
      const b = await this.take(n - got);
      if (!b) break;
      parts.push(b);
      got += b.length;
    }
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts, got);
  }

  /** Drop `n` bytes; returns how many there were. */
  async skip(n: number): Promise<number> {
    let left = n;
    while (left > 0) {
      const b = await this.take(Math.min(left, 1 << 30));
      if (!b) break;
      left -= b.length;
    }
    return n - left;
  }

  /** Read and drop everything left. */
  async drain(): Promise<void> {
    while (await this.take(Number.MAX_SAFE_INTEGER));
  }

  /** Stop reading: the source is destroyed. */
  close(): void {
    if (this.ended) return;
    this.ended = true;
    void this.it.return?.().catch(() => {});
    if (!this.stream.destroyed) this.stream.destroy();
  }

  private async fill(): Promise<boolean> {
    while (!this.ended) {
      let r: IteratorResult<unknown>;
      try {
        r = await this.it.next();
      } catch (err) {
        this.ended = true;
        throw this.mapError(err);
      }
      if (r.done) {
        this.ended = true;
        return false;
      }
      const v = r.value;
      const buf = Buffer.isBuffer(v)
        ? v
        : v instanceof Uint8Array
          ? Buffer.from(v.buffer, v.byteOffset, v.length)
          : typeof v === 'string'
            ? Buffer.from(v)
            : undefined;
      if (!buf) throw new WharfError('USAGE', 'a layer stream must yield bytes, not objects');
      if (buf.length === 0) continue;
      this.chunk = buf;
      this.at = 0;
      return true;
    }
    return false;
  }
}

/**
 * The content of one file entry: exactly `size` bytes pulled from the cursor as the consumer reads. If the
 * source fails or ends early, the body is destroyed (with the error when someone listens for errors, quietly
 * otherwise, so a consumer that only resume()d it does not crash) and the generator reports the error.
 */
class EntryBody extends Readable {
  remaining: number;
  error: WharfError | undefined;
  private pulling: Promise<void> | undefined;
  private waiter: (() => void) | undefined;

  constructor(
    private readonly cursor: Cursor,
    readonly size: number,
    private readonly truncated: (got: number) => WharfError,
  ) {
    super({ highWaterMark: 64 << 10 });
    this.remaining = size;
  }

  /** Every byte of the body has been taken from the source (the consumer may not have read the last ones yet). */
  get complete(): boolean {
    return this.remaining === 0;
  }

  /** Nobody has started reading: no pipe, no 'data' or 'readable' listener, no resume(). */
  get untouched(): boolean {
    return this.readableFlowing === null && this.listenerCount('readable') === 0 && this.listenerCount('data') === 0;
  }

  override _read(): void {
    if (this.size === 0) return void this.push(null); // ended when first read, so an unread empty body costs nothing
    if (this.pulling || this.remaining === 0) return;
    this.pulling = this.pull().finally(() => {
      this.pulling = undefined;
      this.notify();
    });
  }

  private async pull(): Promise<void> {
    try {
      while (this.remaining > 0) {
        const b = await this.cursor.take(Math.min(this.remaining, BODY_CHUNK));
        if (!b) throw this.truncated(this.size - this.remaining);
        this.remaining -= b.length;
        if (this.destroyed) return;
        if (this.remaining === 0) {
          this.push(b);
          this.push(null);
          return;
        }
        if (!this.push(b)) return;
      }
    } catch (err) {
      this.error = err instanceof WharfError ? err : asWharfError(err);
      if (this.destroyed) return;
      if (this.listenerCount('error') > 0) this.destroy(this.error);
      else this.destroy();
    }
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    callback(err);
    this.notify();
  }

  private notify(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  /** Wait until the body is complete, destroyed or failed (the consumer is reading it). */
  async settled(signal: AbortSignal | undefined): Promise<void> {
    while (!this.complete && !this.destroyed && !this.error) {
      await new Promise<void>((resolve, reject) => {
        const onAbort = (): void => reject(aborted());
        if (signal?.aborted) return onAbort();
        signal?.addEventListener('abort', onAbort, { once: true });
        this.waiter = () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        };
      });
    }
    await this.idle();
  }

  /** Wait for a pull in flight (the cursor is the body's until it returns). */
  async idle(): Promise<void> {
    while (this.pulling) await this.pulling;
  }
}

function defaultWarning(message: string): void {
  process.emitWarning(message, { code: 'WHARF_LAYER' });
}

/** A path for messages: quoted, control characters (NUL included) escaped, long ones clipped. */
function shown(s: string): string {
  return JSON.stringify(s.length > 200 ? `${s.slice(0, 197)}...` : s);
}

/**
 * A tar path normalised as LayerEntry.path says: no leading `/` or `./`, no empty or `.` components, no trailing
 * `/`; the root is ''. A `..` component or a NUL byte makes it unsafe: the reason is returned instead.
 */
function cleanPath(raw: string): string | { unsafe: string } {
  if (raw.includes('\0')) return { unsafe: 'contains a NUL byte' };
  const parts = raw.split('/');
  const out: string[] = [];
  for (const c of parts) {
    if (c === '' || c === '.') continue;
    if (c === '..') return { unsafe: 'has a ".." component' };
    out.push(c);
  }
  return out.length === parts.length ? raw : out.join('/');
}

/** The normalised form of a path in a layer (see LayerEntry.path), or undefined if it contains `..` or a NUL. */
export function normalizeLayerPath(path: string): string | undefined {
  const p = cleanPath(path);
  return typeof p === 'string' ? p : undefined;
}

async function* readEntries(stream: Readable, options: TarStreamOptions, mapError: MapError): AsyncGenerator<LayerEntryWithBody> {
  const where = options.where ?? 'layer';
  const warn = options.onWarning ?? defaultWarning;
  const skipUnsafe = options.onUnsafe === 'skip';
  const maxEntries = options.maxEntries ?? DEFAULT_MAX_TAR_ENTRIES;
  const maxPathBytes = options.maxPathBytes ?? MAX_TAR_NAME_BYTES;
  const maxFileSize = options.maxFileSize ?? Number.MAX_SAFE_INTEGER;
  const { signal } = options;
  const ext = new TarExtendedHeaders({
    applyGlobal: true,
    layer: true,
    maxPaxBytes: options.maxPaxHeaderBytes ?? MAX_PAX_HEADER_BYTES,
    maxLongNameBytes: options.maxLongNameBytes ?? MAX_TAR_NAME_BYTES,
  });
  const cursor = new Cursor(stream, mapError);
  const onAbort = (): void => void stream.destroy(aborted());
  let body: EntryBody | undefined;
  let done = false;
  let entries = 0;

  /** Drop `n` data bytes, which the stream must hold. */
  const skipData = async (n: number, fail: TarFail, what: string): Promise<void> => {
    const got = await cursor.skip(n);
    if (got < n) throw fail(`the layer is truncated: ${what} declares ${n} bytes, the stream ends after ${got}`);
  };
  // Padding after data: a stream may end there (no end-of-archive marker), as tar accepts.
  const skipPadding = async (size: number): Promise<void> => {
    const pad = (TAR_BLOCK - (size % TAR_BLOCK)) % TAR_BLOCK;
    if (pad) await cursor.skip(pad);
  };

  if (signal?.aborted) {
    cursor.close();
    throw aborted();
  }
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    for (let n = 1; ; n++) {
      if (n % YIELD_EVERY === 0) await new Promise<void>((resolve) => setImmediate(resolve));
      if (signal?.aborted) throw aborted();
      const offset = cursor.position;
      const fail: TarFail = (what, hint) => tarInvalid(`${where}: tar header at offset ${offset}`, what, hint, 'LAYER_INVALID');
      const block = await cursor.read(TAR_BLOCK);
      if (block.length < TAR_BLOCK) {
        if (ext.pending) throw fail('the layer is truncated after an extended header, before its entry');
        if (block.length === 0 || block.every((c) => c === 0)) {
          warn(`${where}: the tar stream ends without an end-of-archive marker`);
          break;
        }
        throw fail(`the layer is truncated in the middle of a header (${block.length} of 512 bytes)`);
      }
      if (isZeroBlock(block)) {
        if (ext.pending) throw fail('an extended header is followed by an end-of-archive block');
        const next = await cursor.read(TAR_BLOCK);
        if (next.length === TAR_BLOCK && !isZeroBlock(next)) throw fail('a single zero block is followed by more data');
        break;
      }
      const header = decodeTarHeaderBlock(block, fail);

      if (isExtendedHeader(header.typeflag)) {
        ext.checkSize(header.typeflag, header.size, fail);
        const what = `an extended header (type ${header.typeflag})`;
        if (ext.wants(header.typeflag)) {
          const data = await cursor.read(header.size);
          if (data.length < header.size) {
            throw fail(`the layer is truncated: ${what} declares ${header.size} bytes, the stream ends after ${data.length}`);
          }
          ext.add(header.typeflag, data, fail);
        } else {
          await skipData(header.size, fail, what);
        }
        await skipPadding(header.size);
        continue;
      }

      for (let more = header.sparseExtended; more; ) {
        const extBlock = await cursor.read(TAR_BLOCK);
        if (extBlock.length < TAR_BLOCK) throw fail('the layer is truncated in the sparse map of a GNU sparse file');
        more = extBlock[504] !== 0;
      }
      if (++entries > maxEntries) {
        throw fail(`the layer has more than ${maxEntries} entries`, 'this is far more than any image layer holds; the layer is hostile or not what it seems');
      }
      const h = resolveTarEntry(block, header, ext, fail);
      ext.clear();
      if (h.name.length === 0) throw fail('entry has an empty name');
      if (h.size > maxFileSize) {
        throw fail(`${shown(h.name)} declares ${h.size} bytes, more than the ${maxFileSize}-byte limit`, 'the layer is hostile or corrupt');
      }

      const entry = toEntry(h, fail, maxPathBytes);
      if (typeof entry === 'string') {
        if (!h.kind) warn(`${where}: ${entry}; skipped`);
        else if (skipUnsafe) warn(`${where}: refusing ${entry}; skipped`);
        else throw fail(`refusing ${entry}`, 'the layer tries to write outside the image root, or is corrupt; do not use it (or unpack it with unsafe entries skipped)');
        await skipData(h.size, fail, shown(h.name));
        await skipPadding(h.size);
        continue;
      }

      if (entry.type === 'file') {
        const b = new EntryBody(cursor, h.size, (got) =>
          fail(`the layer is truncated: ${shown(entry.path)} declares ${h.size} bytes, the stream ends after ${got}`),
        );
        body = b;
        yield { entry, body: b };
        if (!b.complete) {
          if (!b.untouched && !b.destroyed) await b.settled(signal);
          await b.idle();
          if (b.error) throw b.error;
          if (!b.complete) {
            if (!b.destroyed) b.destroy();
            await skipData(b.remaining, fail, shown(entry.path));
          }
        }
        if (b.error) throw b.error;
        body = undefined;
      } else {
        yield { entry };
        if (h.size > 0) await skipData(h.size, fail, shown(entry.path)); // a GNU dumpdir ('D') has data
      }
      await skipPadding(h.size);
    }

    // End of archive: what follows is ignored, as tar does.
    if (options.drainTrailing ?? true) await cursor.drain();
    else cursor.close();
    done = true;
  } finally {
    signal?.removeEventListener('abort', onAbort);
    if (body && !body.destroyed && !body.complete) body.destroy();
    if (!done) cursor.close();
  }
}

/** The LayerEntry for a resolved header, or why it is not yielded (an unknown type, an unsafe path). */
function toEntry(h: ResolvedTarHeader, fail: TarFail, maxPathBytes: number): LayerEntry | string {
  if (!h.kind) {
    return h.sparse
      ? `${shown(h.name)} is a GNU sparse file, which wharf does not read`
      : `${shown(h.name)} has tar entry type ${JSON.stringify(h.typeflag)}, which wharf does not read`;
  }
  const path = cleanPath(h.name);
  if (typeof path !== 'string') return `${shown(h.name)}: the path ${path.unsafe}`;
  if (path === '' && h.kind !== 'dir') return `${shown(h.name)}: a ${h.kind} cannot replace the image root`;
  checkLength(path, 'path', fail, maxPathBytes);
  const entry: LayerEntry = { path, type: h.kind, mode: h.mode, uid: h.uid, gid: h.gid, size: h.kind === 'file' ? h.size : 0, mtime: h.mtime };
  if (h.uname !== undefined) entry.uname = h.uname;
  if (h.gname !== undefined) entry.gname = h.gname;
  if (h.kind === 'symlink') {
    if (h.linkname.includes('\0')) return `${shown(h.name)}: the symlink target ${shown(h.linkname)} contains a NUL byte`;
    checkLength(h.linkname, 'symlink target', fail, maxPathBytes);
    entry.linkname = h.linkname;
  } else if (h.kind === 'hardlink') {
    const target = cleanPath(h.linkname);
    if (typeof target !== 'string') return `${shown(h.name)}: the hard link target ${shown(h.linkname)} ${target.unsafe}`;
    if (target === '') return `${shown(h.name)}: a hard link to the image root`;
    checkLength(target, 'hard link target', fail, maxPathBytes);
    entry.linkname = target;
  }
  if (h.devmajor !== undefined) entry.devmajor = h.devmajor;
  if (h.devminor !== undefined) entry.devminor = h.devminor;
  if (h.xattrs) entry.xattrs = h.xattrs;
  return entry;
}

function checkLength(s: string, what: string, fail: TarFail, max: number): void {
  const n = Buffer.byteLength(s);
  if (n > max) throw fail(`a ${what} of ${n} bytes is longer than the ${max}-byte limit`, 'the layer is hostile (a path bomb) or corrupt');
}
