/**
 * A small zip reader for untrusted archives (OSV publishes each ecosystem as `all.zip`): the central directory
 * is the index, entries are stored or deflated (Node's zlib), zip64 sizes and offsets are read where the
 * 32-bit fields overflow. Entries are read into memory one at a time, so every size is capped first.
 *
 * Hostile archives are errors, never crashes or runaway work:
 * - no end record, a central directory outside the file, a local header that is not one: ARCHIVE_INVALID;
 * - entries whose data overlap (the "overlapping files" zip bomb), more bytes inflated than declared, a CRC
 *   that does not match, data running past the end of the file: ARCHIVE_INVALID;
 * - an archive declaring more entries, central-directory bytes, uncompressed bytes in all or a compression
 *   ratio than the limits allow: TOO_LARGE.
 * Names are only looked at (to pick `*.json`), never used as paths.
 */
import { promises as fsp } from 'node:fs';
import { promisify } from 'node:util';
import { inflateRaw, inflateRawSync } from 'node:zlib';
import { WharfError, asWharfError } from '../../errors.js';

const inflateRawP = promisify(inflateRaw) as (buf: Buffer, options: { maxOutputLength: number }) => Promise<Buffer>;

export interface ZipLimits {
  maxEntries: number;
  maxCentralDirectoryBytes: number;
  /** Uncompressed bytes of one entry read into memory. Larger entries are listed (tooLarge) but not read. */
  maxEntryBytes: number;
  /** Uncompressed bytes the whole archive may declare. */
  maxTotalBytes: number;
  /** Uncompressed / compressed, per deflated entry (deflate itself cannot exceed ~1032). */
  maxRatio: number;
}

export const DEFAULT_ZIP_LIMITS: Readonly<ZipLimits> = Object.freeze({
  maxEntries: 2_000_000,
  maxCentralDirectoryBytes: 512 << 20,
  maxEntryBytes: 16 << 20,
  maxTotalBytes: 16 * 1024 ** 3,
  maxRatio: 1000,
});

export interface ZipEntry {
  name: string;
  /** 0 stored, 8 deflated; others are listed but cannot be read. */
  method: number;
  flags: number;
  crc32: number;
  compressedSize: number;
  uncompressedSize: number;
  localHeaderOffset: number;
  isDirectory: boolean;
  /** Larger than maxEntryBytes: read() refuses it. */
  tooLarge: boolean;
  /** Where the next entry's local header (or the central directory) begins: this entry's data must end before. */
  end: number;
}

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_EOCD = 0x06054b50;
const SIG_ZIP64_EOCD = 0x06064b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;
const EOCD_SIZE = 22;
const MAX_COMMENT = 0xffff;

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (ISO 3309, as zip uses it). */
export function crc32(buf: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < buf.length; i++) c = CRC_TABLE[(c ^ buf[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function u64(buf: Buffer, at: number, what: string, where: string): number {
  const v = buf.readBigUInt64LE(at);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw invalid(where, `${what} ${v} is not a size a real archive has`);
  return Number(v);
}

function invalid(where: string, why: string): WharfError {
  return new WharfError('ARCHIVE_INVALID', `${where} is not a readable zip archive: ${why}`, {
    hint: 'the file is damaged, truncated or not a zip; download it again',
  });
}

function tooLarge(where: string, why: string): WharfError {
  return new WharfError('TOO_LARGE', `${where}: ${why}`, { hint: 'this is not an archive wharf reads; if it is genuine, split it' });
}

async function readAt(fh: fsp.FileHandle, position: number, length: number): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await fh.read(buf, done, length - done, position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return done === length ? buf : buf.subarray(0, done);
}

export interface ZipOpenOptions {
  limits?: Partial<ZipLimits>;
  signal?: AbortSignal;
  /** Names the archive in errors (a URL it came from, say); default: the path. */
  where?: string;
}

/** How much is read at once: entries of an OSV zip are small and in order, so one read serves many. */
const WINDOW = 1 << 20;
/** Entries this small are inflated on the main thread: a thread-pool round trip costs more than the work. */
const SYNC_INFLATE_MAX = 256 << 10;

export class ZipReader {
  private totalRead = 0;
  private window: { start: number; bytes: Buffer } | undefined;

  private constructor(
    private readonly fh: fsp.FileHandle,
    readonly where: string,
    readonly entries: readonly ZipEntry[],
    private readonly limits: ZipLimits,
    private readonly dataEnd: number,
  ) {}

  /** Open and index an archive. The handle stays open until close(). */
  static async open(path: string, options: ZipOpenOptions = {}): Promise<ZipReader> {
    const limits = { ...DEFAULT_ZIP_LIMITS, ...options.limits };
    const where = options.where ?? path;
    let fh: fsp.FileHandle;
    try {
      fh = await fsp.open(path, 'r');
    } catch (err) {
      throw asWharfError(err, 'IO_ERROR', `opening ${where}`);
    }
    try {
      const { entries, cdOffset } = await readDirectory(fh, where, limits, options.signal);
      return new ZipReader(fh, where, entries, limits, cdOffset);
    } catch (err) {
      await fh.close().catch(() => {});
      throw err;
    }
  }

  /** The uncompressed bytes of one entry, verified against its declared size and CRC. */
  async read(entry: ZipEntry, signal?: AbortSignal): Promise<Buffer> {
    signal?.throwIfAborted();
    const where = `${this.where}: ${JSON.stringify(entry.name.slice(0, 200))}`;
    if (entry.tooLarge) throw tooLarge(where, `${entry.uncompressedSize} bytes uncompressed is more than the ${this.limits.maxEntryBytes} an entry may have`);
    if (entry.flags & 0x1) throw new WharfError('UNSUPPORTED', `${where} is encrypted`, { hint: 'wharf reads unencrypted archives only' });
    if (entry.method !== 0 && entry.method !== 8) {
      throw new WharfError('UNSUPPORTED', `${where} uses compression method ${entry.method}`, { hint: 'wharf reads stored and deflated entries (what zip and osv.dev write)' });
    }
    const header = await this.range(entry.localHeaderOffset, 30);
    if (header.length < 30 || header.readUInt32LE(0) !== SIG_LOCAL) throw invalid(where, `no local header at offset ${entry.localHeaderOffset}`);
    const dataStart = entry.localHeaderOffset + 30 + header.readUInt16LE(26) + header.readUInt16LE(28);
    if (dataStart + entry.compressedSize > Math.min(entry.end, this.dataEnd)) throw invalid(where, 'its data runs into the next entry, the central directory or past the end of the file');
    const compressed = await this.range(dataStart, entry.compressedSize);
    if (compressed.length !== entry.compressedSize) throw invalid(where, 'the file ends inside its data');
    let data: Buffer;
    if (entry.method === 0) {
      if (entry.compressedSize !== entry.uncompressedSize) throw invalid(where, 'a stored entry whose sizes differ');
      data = compressed;
    } else {
      try {
        // One byte more than declared: an entry that inflates past its declared size is caught, not trusted.
        const inflateOptions = { maxOutputLength: Math.max(1, entry.uncompressedSize + 1) };
        data = entry.uncompressedSize <= SYNC_INFLATE_MAX ? inflateRawSync(compressed, inflateOptions) : await inflateRawP(compressed, inflateOptions);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE' || err instanceof RangeError) {
          throw invalid(where, `it inflates to more than the ${entry.uncompressedSize} bytes it declares`);
        }
        throw invalid(where, `its deflate data is damaged (${(err as Error).message})`);
      }
      if (data.length !== entry.uncompressedSize) throw invalid(where, `it inflates to ${data.length} bytes, not the ${entry.uncompressedSize} it declares`);
    }
    if (crc32(data) !== entry.crc32) throw invalid(where, 'its CRC-32 does not match its contents');
    this.totalRead += data.length;
    if (this.totalRead > this.limits.maxTotalBytes) throw tooLarge(this.where, `more than ${this.limits.maxTotalBytes} bytes uncompressed`);
    return data;
  }

  async close(): Promise<void> {
    this.window = undefined;
    await this.fh.close().catch(() => {});
  }

  /** Bytes at [position, position + length), from the current window or a new one read there (short at EOF). */
  private async range(position: number, length: number): Promise<Buffer> {
    const w = this.window;
    if (w && position >= w.start && position + length <= w.start + w.bytes.length) {
      return w.bytes.subarray(position - w.start, position - w.start + length);
    }
    const bytes = await readAt(this.fh, position, Math.min(Math.max(length, WINDOW), Math.max(length, this.dataEnd - position)));
    this.window = { start: position, bytes };
    return bytes.subarray(0, Math.min(length, bytes.length));
  }
}

/** Whether the bytes at the start of a file are a zip's (a local header, or the end record of an empty zip). */
export function looksLikeZip(head: Uint8Array): boolean {
  if (head.length < 4) return false;
  const sig = Buffer.from(head.buffer, head.byteOffset, 4).readUInt32LE(0);
  return sig === SIG_LOCAL || sig === SIG_EOCD;
}

interface Directory {
  entries: ZipEntry[];
  cdOffset: number;
}

async function readDirectory(fh: fsp.FileHandle, where: string, limits: ZipLimits, signal: AbortSignal | undefined): Promise<Directory> {
  const size = (await fh.stat()).size;
  if (size < EOCD_SIZE) throw invalid(where, `${size} bytes is too short for a zip`);
  const tailLength = Math.min(size, EOCD_SIZE + MAX_COMMENT);
  const tailStart = size - tailLength;
  const tail = await readAt(fh, tailStart, tailLength);
  let eocd = -1;
  for (let i = tail.length - EOCD_SIZE; i >= 0; i--) {
    if (tail.readUInt32LE(i) === SIG_EOCD && i + EOCD_SIZE + tail.readUInt16LE(i + 20) <= tail.length) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw invalid(where, 'no end-of-central-directory record (truncated?)');
  const eocdPos = tailStart + eocd;
  const disk = tail.readUInt16LE(eocd + 4);
  const cdDisk = tail.readUInt16LE(eocd + 6);
  let count = tail.readUInt16LE(eocd + 10);
  let cdSize = tail.readUInt32LE(eocd + 12);
  let cdOffset = tail.readUInt32LE(eocd + 16);
  let cdEnd = eocdPos;
  if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    const locatorPos = eocdPos - 20;
    if (locatorPos < 0) throw invalid(where, 'zip64 sizes without a zip64 locator');
    const locator = await readAt(fh, locatorPos, 20);
    if (locator.length < 20 || locator.readUInt32LE(0) !== SIG_ZIP64_LOCATOR) throw invalid(where, 'zip64 sizes without a zip64 locator');
    const recordPos = u64(locator, 8, 'the zip64 end record offset', where);
    if (recordPos + 56 > locatorPos) throw invalid(where, 'the zip64 end record is outside the file');
    const record = await readAt(fh, recordPos, 56);
    if (record.length < 56 || record.readUInt32LE(0) !== SIG_ZIP64_EOCD) throw invalid(where, 'no zip64 end record where the locator points');
    if (record.readUInt32LE(16) !== 0 || record.readUInt32LE(20) !== 0) throw new WharfError('UNSUPPORTED', `${where} spans several disks`, { hint: 'join the parts into one archive' });
    count = u64(record, 32, 'the entry count', where);
    cdSize = u64(record, 40, 'the central directory size', where);
    cdOffset = u64(record, 48, 'the central directory offset', where);
    cdEnd = recordPos;
  } else if (disk !== 0 || cdDisk !== 0) {
    throw new WharfError('UNSUPPORTED', `${where} spans several disks`, { hint: 'join the parts into one archive' });
  }
  if (cdOffset + cdSize > cdEnd) throw invalid(where, `the central directory (offset ${cdOffset}, ${cdSize} bytes) is outside the file`);
  if (count * 46 > cdSize) throw invalid(where, `${count} entries cannot fit in a central directory of ${cdSize} bytes`);
  if (count > limits.maxEntries) throw tooLarge(where, `${count} entries is more than the ${limits.maxEntries} an archive may have`);
  if (cdSize > limits.maxCentralDirectoryBytes) throw tooLarge(where, `a central directory of ${cdSize} bytes is more than ${limits.maxCentralDirectoryBytes}`);
  const cd = await readAt(fh, cdOffset, cdSize);
  if (cd.length !== cdSize) throw invalid(where, 'the file ends inside the central directory');

  const entries: ZipEntry[] = [];
  let total = 0;
  let at = 0;
  for (let n = 0; n < count; n++) {
    if (n % 4096 === 0) signal?.throwIfAborted();
    if (at + 46 > cd.length || cd.readUInt32LE(at) !== SIG_CENTRAL) throw invalid(where, `central directory entry ${n} is damaged`);
    const flags = cd.readUInt16LE(at + 8);
    const method = cd.readUInt16LE(at + 10);
    const crc = cd.readUInt32LE(at + 16);
    let compressedSize = cd.readUInt32LE(at + 20);
    let uncompressedSize = cd.readUInt32LE(at + 24);
    const nameLength = cd.readUInt16LE(at + 28);
    const extraLength = cd.readUInt16LE(at + 30);
    const commentLength = cd.readUInt16LE(at + 32);
    let localHeaderOffset = cd.readUInt32LE(at + 42);
    const end = at + 46 + nameLength + extraLength + commentLength;
    if (end > cd.length) throw invalid(where, `central directory entry ${n} runs past the directory`);
    const nameBytes = cd.subarray(at + 46, at + 46 + nameLength);
    const name = nameBytes.toString(flags & 0x800 ? 'utf8' : 'latin1');
    if (compressedSize === 0xffffffff || uncompressedSize === 0xffffffff || localHeaderOffset === 0xffffffff) {
      // The zip64 extra field holds, in this order, only the fields whose 32-bit value overflowed.
      let x = at + 46 + nameLength;
      const xEnd = x + extraLength;
      let found = false;
      while (x + 4 <= xEnd) {
        const id = cd.readUInt16LE(x);
        const len = cd.readUInt16LE(x + 2);
        if (x + 4 + len > xEnd) break;
        if (id === 0x0001) {
          let p = x + 4;
          const take = (what: string): number => {
            if (p + 8 > x + 4 + len) throw invalid(where, `entry ${n}: its zip64 extra field is too short`);
            const v = u64(cd, p, what, where);
            p += 8;
            return v;
          };
          if (uncompressedSize === 0xffffffff) uncompressedSize = take('an uncompressed size');
          if (compressedSize === 0xffffffff) compressedSize = take('a compressed size');
          if (localHeaderOffset === 0xffffffff) localHeaderOffset = take('a local header offset');
          found = true;
          break;
        }
        x += 4 + len;
      }
      if (!found) throw invalid(where, `entry ${n} has 32-bit sizes that overflowed but no zip64 extra field`);
    }
    const isDirectory = name.endsWith('/') && uncompressedSize === 0;
    if (localHeaderOffset + 30 + compressedSize > cdOffset) throw invalid(where, `entry ${n} (${JSON.stringify(name.slice(0, 100))}) has data outside the file`);
    if (method === 8 && uncompressedSize > limits.maxRatio * Math.max(compressedSize, 1) && uncompressedSize > 1 << 20) {
      throw tooLarge(where, `entry ${JSON.stringify(name.slice(0, 100))} claims to inflate ${compressedSize} bytes to ${uncompressedSize} (a zip bomb?)`);
    }
    if (method === 0 && compressedSize !== uncompressedSize) throw invalid(where, `stored entry ${n} has two different sizes`);
    total += uncompressedSize;
    if (total > limits.maxTotalBytes) throw tooLarge(where, `more than ${limits.maxTotalBytes} bytes uncompressed in all (a zip bomb?)`);
    entries.push({ name, method, flags, crc32: crc, compressedSize, uncompressedSize, localHeaderOffset, isDirectory, tooLarge: uncompressedSize > limits.maxEntryBytes, end: cdOffset });
    at = end;
  }
  // Entries share no bytes: each local header and its data end before the next one begins. This is what
  // defeats the overlapping-entries bomb (many entries inflating the same compressed kernel).
  const byOffset = entries.map((e, i) => [e.localHeaderOffset, e.localHeaderOffset + 30 + e.compressedSize, i] as const).sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < byOffset.length; i++) {
    if (byOffset[i]![0] < byOffset[i - 1]![1]) {
      throw invalid(where, `entries ${byOffset[i - 1]![2]} and ${byOffset[i]![2]} overlap (a zip bomb?)`);
    }
    entries[byOffset[i - 1]![2]]!.end = byOffset[i]![0];
  }
  return { entries, cdOffset };
}
