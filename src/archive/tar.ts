/**
 * A small, streaming, defensive tar implementation.
 *
 * Reading: `indexTarFile` walks the headers of a tar file with positional reads and skips over file data by
 * offset, so indexing a multi-gigabyte archive costs one small read per entry (a 64 KiB read-ahead window
 * serves runs of small entries with a single read). The archive is untrusted: every number is validated,
 * checksums are checked, metadata read into memory is capped, and anything malformed is a TAR_INVALID error.
 *
 * Writing: `TarWriter` emits deterministic ustar headers (PAX extended headers when a field does not fit)
 * into any Writable, streaming file contents with backpressure and checking that each source yields exactly
 * the number of bytes declared in its header.
 */
import { createReadStream, promises as fsp } from 'node:fs';
import { posix } from 'node:path';
import { Readable, Writable, addAbortSignal } from 'node:stream';
import { WharfError, asWharfError } from '../errors.js';
import { BLOB_READ_CHUNK } from '../util/fs.js';

export const TAR_BLOCK = 512;

export type TarEntryType = 'file' | 'dir' | 'symlink' | 'hardlink' | 'other';

export interface TarEntry {
  /** The entry's path as stored (after GNU long-name / PAX path resolution), not normalised. */
  name: string;
  type: TarEntryType;
  /** Bytes of data stored for the entry (0 for links, directories and devices). */
  size: number;
  /** Absolute offset of the entry's data in the file. */
  dataOffset: number;
  /** Link target for symlinks and hard links; empty otherwise. */
  linkname: string;
  /** Permission bits (0o7777). */
  mode: number;
  /** Modification time, seconds since the epoch. */
  mtime: number;
  uid: number;
  gid: number;
  /** The raw typeflag character ('0', '5', '2', …) — tells 'other' entries apart (devices, fifos, sparse files). */
  typeflag: string;
  /** Absolute offset of the entry's own header (after any long-name / PAX headers that precede it). */
  headerOffset: number;
}

export interface IndexTarOptions {
  signal?: AbortSignal;
  /** Refuse archives with more entries than this (default 1,000,000). */
  maxEntries?: number;
  /** Index a tar stored inside a larger file (e.g. a layer inside a docker-archive): where it starts. */
  start?: number;
  /** …and how long it is (default: to the end of the file). */
  length?: number;
}

/** The largest PAX extended header (and global header) read into memory. */
export const MAX_PAX_HEADER_BYTES = 1 << 20;
/** The largest GNU long name / long link read into memory. */
export const MAX_TAR_NAME_BYTES = 64 << 10;
export const DEFAULT_MAX_TAR_ENTRIES = 1_000_000;

const READ_WINDOW = 64 << 10;
const ZERO_BLOCK = Buffer.alloc(TAR_BLOCK);

function invalid(where: string, what: string, hint?: string): WharfError {
  return new WharfError('TAR_INVALID', `${where}: ${what}`, {
    hint: hint ?? 'the archive is corrupt, truncated or not a tar file; re-create or re-download it',
  });
}

function aborted(): WharfError {
  return new WharfError('ABORTED', 'operation aborted');
}

/** Positional reads over [start, end) of a file handle, with a read-ahead window for headers. */
class WindowReader {
  private buf = Buffer.alloc(READ_WINDOW);
  private bufStart = -1;
  private bufLen = 0;

  constructor(
    private readonly fh: fsp.FileHandle,
    readonly end: number,
  ) {}

  /** Up to `len` bytes at `off` (fewer only at the end of the range). The result is valid until the next call. */
  async view(off: number, len: number): Promise<Buffer> {
    const want = Math.min(len, Math.max(0, this.end - off));
    if (this.bufStart >= 0 && off >= this.bufStart && off + want <= this.bufStart + this.bufLen) {
      return this.buf.subarray(off - this.bufStart, off - this.bufStart + want);
    }
    if (want > this.buf.length) return this.fresh(off, want);
    const toRead = Math.min(this.buf.length, this.end - off);
    const n = await readFully(this.fh, this.buf, 0, toRead, off);
    this.bufStart = off;
    this.bufLen = n;
    return this.buf.subarray(0, Math.min(n, want));
  }

  /** A new buffer (not shared with the window) of up to `len` bytes at `off`. */
  async fresh(off: number, len: number): Promise<Buffer> {
    const want = Math.min(len, Math.max(0, this.end - off));
    const out = Buffer.alloc(want);
    const n = await readFully(this.fh, out, 0, want, off);
    return out.subarray(0, n);
  }
}

async function readFully(fh: fsp.FileHandle, buf: Buffer, at: number, len: number, pos: number): Promise<number> {
  let got = 0;
  while (got < len) {
    const { bytesRead } = await fh.read(buf, at + got, len - got, pos + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return got;
}

/** A NUL-terminated string field. */
function cString(buf: Buffer, start: number, len: number): string {
  const field = buf.subarray(start, start + len);
  const nul = field.indexOf(0);
  return field.subarray(0, nul < 0 ? field.length : nul).toString('utf8');
}

/**
 * A numeric header field: octal text (padded with spaces or NULs), or GNU base-256 when the top bit of the
 * first byte is set. Negative and garbage values are errors.
 */
function parseNumber(buf: Buffer, start: number, len: number, where: string, field: string): number {
  const b = buf.subarray(start, start + len);
  if (b[0]! & 0x80) {
    if (b[0] === 0xff) throw invalid(where, `negative ${field} in header`);
    let v = b[0]! & 0x7f;
    for (let i = 1; i < b.length; i++) {
      v = v * 256 + b[i]!;
      if (v > Number.MAX_SAFE_INTEGER) throw invalid(where, `${field} in header is too large`);
    }
    return v;
  }
  let s = 0;
  let e = b.length;
  while (s < e && (b[s] === 0x20 || b[s] === 0)) s++;
  while (e > s && (b[e - 1] === 0x20 || b[e - 1] === 0)) e--;
  if (s === e) return 0;
  let v = 0;
  for (let i = s; i < e; i++) {
    const c = b[i]!;
    if (c < 0x30 || c > 0x37) {
      throw invalid(where, `${field} field "${printable(b.subarray(s, e))}" is not an octal number`);
    }
    v = v * 8 + (c - 0x30);
  }
  if (v > Number.MAX_SAFE_INTEGER) throw invalid(where, `${field} in header is too large`);
  return v;
}

function printable(b: Buffer): string {
  const s = b.toString('latin1').replace(/[^\x20-\x7e]/g, '?');
  return s.length > 40 ? `${s.slice(0, 37)}...` : s;
}

function checksumOk(block: Buffer, where: string): boolean {
  const declared = parseNumber(block, 148, 8, where, 'checksum');
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < TAR_BLOCK; i++) {
    const c = i >= 148 && i < 156 ? 0x20 : block[i]!;
    unsigned += c;
    signed += c > 127 ? c - 256 : c;
  }
  return declared === unsigned || declared === signed;
}

/** Parse a PAX extended header body into key/value records. */
export function parsePaxRecords(data: Buffer, where: string): Map<string, string> {
  const out = new Map<string, string>();
  let pos = 0;
  while (pos < data.length) {
    if (data[pos] === 0 && data.subarray(pos).every((c) => c === 0)) break;
    const sp = data.indexOf(0x20, pos);
    if (sp < 0 || sp - pos > 20) throw invalid(where, 'malformed PAX record (no length)');
    const lenText = data.subarray(pos, sp).toString('latin1');
    if (!/^[1-9][0-9]*$/.test(lenText)) throw invalid(where, `malformed PAX record length "${printable(data.subarray(pos, sp))}"`);
    const len = Number(lenText);
    if (len <= sp - pos + 1 || pos + len > data.length) throw invalid(where, `PAX record length ${len} is out of range`);
    const rec = data.subarray(sp + 1, pos + len);
    if (rec[rec.length - 1] !== 0x0a) throw invalid(where, 'PAX record does not end with a newline');
    const kv = rec.subarray(0, rec.length - 1);
    const eq = kv.indexOf(0x3d);
    if (eq <= 0) throw invalid(where, 'PAX record has no key');
    const key = kv.subarray(0, eq).toString('utf8');
    const value = kv.subarray(eq + 1).toString('utf8');
    if (value.includes('\0') || key.includes('\0')) throw invalid(where, `PAX record "${key}" contains a NUL byte`);
    out.set(key, value);
    pos += len;
  }
  return out;
}

function paxInteger(value: string, where: string, key: string): number {
  if (!/^[0-9]{1,16}$/.test(value) || !Number.isSafeInteger(Number(value))) {
    throw invalid(where, `PAX ${key} "${value.slice(0, 40)}" is not a valid number`);
  }
  return Number(value);
}

function paxTime(value: string, where: string): number {
  if (!/^-?[0-9]{1,15}(\.[0-9]{0,9})?$/.test(value)) throw invalid(where, `PAX mtime "${value.slice(0, 40)}" is not a valid time`);
  return Math.floor(Number(value));
}

function classify(typeflag: string, name: string): TarEntryType {
  switch (typeflag) {
    case '0':
    case '\0':
    case '7':
      return name.endsWith('/') ? 'dir' : 'file';
    case '1':
      return 'hardlink';
    case '2':
      return 'symlink';
    case '5':
    case 'D':
      return 'dir';
    default:
      return 'other';
  }
}

/** Types whose size field says nothing about stored data (as Go's archive/tar treats them). */
function isHeaderOnly(typeflag: string): boolean {
  return typeflag === '1' || typeflag === '2' || typeflag === '3' || typeflag === '4' || typeflag === '5' || typeflag === '6';
}

/**
 * Read every header of a tar file (ustar, GNU and PAX formats) without reading file data.
 * Returns the entries in archive order. Throws TAR_INVALID for malformed or hostile input.
 */
/**
 * A tar file to read: a path, or an open FileHandle (which is read positionally and never closed here). A
 * reader that keeps one handle sees one file even if another process renames a new file over the path.
 */
export type TarFile = string | fsp.FileHandle;

function fileName(file: TarFile): string {
  return typeof file === 'string' ? file : `tar file (fd ${file.fd})`;
}

export async function indexTarFile(
  file: TarFile,
  signalOrOptions?: AbortSignal | IndexTarOptions,
  maybeOptions: IndexTarOptions = {},
): Promise<TarEntry[]> {
  const options: IndexTarOptions =
    signalOrOptions && !(signalOrOptions instanceof AbortSignal)
      ? signalOrOptions
      : { ...maybeOptions, signal: (signalOrOptions as AbortSignal | undefined) ?? maybeOptions.signal };
  const { signal } = options;
  const maxEntries = options.maxEntries ?? DEFAULT_MAX_TAR_ENTRIES;
  if (signal?.aborted) throw aborted();

  const path = fileName(file);
  let fh: fsp.FileHandle;
  try {
    fh = typeof file === 'string' ? await fsp.open(file, 'r') : file;
  } catch (err) {
    throw asWharfError(err, 'IO_ERROR', 'opening tar file');
  }
  try {
    const st = await fh.stat();
    const start = options.start ?? 0;
    const end = options.length === undefined ? st.size : start + options.length;
    if (start < 0 || end > st.size || start > end) {
      throw invalid(path, `range ${start}+${end - start} lies outside the file (${st.size} bytes)`);
    }
    return await walk(new WindowReader(fh, end), start, path, maxEntries, signal);
  } finally {
    if (typeof file === 'string') await fh.close();
  }
}

async function walk(r: WindowReader, start: number, path: string, maxEntries: number, signal?: AbortSignal): Promise<TarEntry[]> {
  const entries: TarEntry[] = [];
  let off = start;
  let longName: string | undefined;
  let longLink: string | undefined;
  let pax: Map<string, string> | undefined;
  let pendingMeta = false;
  let iterations = 0;

  for (;;) {
    if ((++iterations & 0x3ff) === 0 && signal?.aborted) throw aborted();
    const where = `${path}: tar header at offset ${off}`;
    const block = await r.view(off, TAR_BLOCK);
    if (block.length < TAR_BLOCK) {
      if (pendingMeta) throw invalid(where, 'the archive ends after an extended header, before its entry');
      if (block.length === 0 || block.every((c) => c === 0)) break;
      throw invalid(where, `the archive ends in the middle of a header (${block.length} of 512 bytes)`);
    }
    if (block.equals(ZERO_BLOCK)) {
      if (pendingMeta) throw invalid(where, 'an extended header is followed by an end-of-archive block');
      const next = await r.view(off + TAR_BLOCK, TAR_BLOCK);
      if (next.length < TAR_BLOCK || next.equals(ZERO_BLOCK)) break;
      throw invalid(where, 'a single zero block is followed by more data');
    }
    if (!checksumOk(block, where)) {
      throw invalid(where, 'header checksum does not match', 'the archive is corrupt (or not a tar file); re-create or re-download it');
    }

    const typeflag = String.fromCharCode(block[156]!);
    const magic = block.subarray(257, 263).toString('latin1');
    const isUstar = magic === 'ustar\0';
    const headerSize = parseNumber(block, 124, 12, where, 'size');
    const dataOffset = off + TAR_BLOCK;

    if (typeflag === 'L' || typeflag === 'K' || typeflag === 'x' || typeflag === 'g') {
      const isName = typeflag === 'L' || typeflag === 'K';
      const cap = isName ? MAX_TAR_NAME_BYTES : MAX_PAX_HEADER_BYTES;
      if (headerSize > cap) {
        const what = isName ? `GNU long ${typeflag === 'L' ? 'name' : 'link'}` : `PAX ${typeflag === 'g' ? 'global ' : ''}header`;
        throw invalid(where, `${what} of ${headerSize} bytes exceeds the ${cap}-byte limit`);
      }
      checkFits(r, dataOffset, headerSize, where, `extended header (type ${typeflag})`);
      if (typeflag === 'x') {
        const records = parsePaxRecords(await r.fresh(dataOffset, headerSize), where);
        pax = pax ? new Map([...pax, ...records]) : records;
        pendingMeta = true;
      } else if (isName) {
        const data = await r.fresh(dataOffset, headerSize);
        const nul = data.indexOf(0);
        const value = data.subarray(0, nul < 0 ? data.length : nul).toString('utf8');
        if (typeflag === 'L') longName = value;
        else longLink = value;
        pendingMeta = true;
      }
      off = dataOffset + roundUp(headerSize);
      continue;
    }

    // A real entry.
    let name: string;
    if (pax?.get('path')) name = pax.get('path')!;
    else if (longName !== undefined) name = longName;
    else {
      name = cString(block, 0, 100);
      if (isUstar) {
        const prefix = cString(block, 345, 155);
        if (prefix) name = `${prefix}/${name}`;
      }
    }
    if (pax?.get('GNU.sparse.name')) name = pax.get('GNU.sparse.name')!;
    let linkname = pax?.get('linkpath') || (longLink ?? cString(block, 157, 100));
    if (name.length === 0) throw invalid(where, 'entry has an empty name');
    if (name.length > MAX_TAR_NAME_BYTES || linkname.length > MAX_TAR_NAME_BYTES) throw invalid(where, 'entry name is too long');

    let size = headerSize;
    let mtime = parseNumber(block, 136, 12, where, 'mtime');
    let uid = parseNumber(block, 108, 8, where, 'uid');
    let gid = parseNumber(block, 116, 8, where, 'gid');
    const mode = parseNumber(block, 100, 8, where, 'mode') & 0o7777;
    let sparse = typeflag === 'S';
    if (pax) {
      const s = pax.get('size');
      if (s) size = paxInteger(s, where, 'size');
      const m = pax.get('mtime');
      if (m) mtime = paxTime(m, where);
      const u = pax.get('uid');
      if (u) uid = paxInteger(u, where, 'uid');
      const g = pax.get('gid');
      if (g) gid = paxInteger(g, where, 'gid');
      for (const k of pax.keys()) if (k.startsWith('GNU.sparse.')) sparse = true;
    }
    if (isHeaderOnly(typeflag)) size = 0;
    checkFits(r, dataOffset, size, where, `entry "${clip(name)}"`);
    let type = classify(typeflag, name);
    if (sparse) type = 'other';
    if (type !== 'symlink' && type !== 'hardlink') linkname = '';
    const nextOff = dataOffset + roundUp(size);

    if (entries.length >= maxEntries) {
      throw invalid(path, `the archive has more than ${maxEntries} entries`, 'this is far more than any image layer holds; the archive is hostile or not what it seems');
    }
    entries.push({ name, type, size, dataOffset, linkname, mode, mtime, uid, gid, typeflag, headerOffset: off });
    longName = undefined;
    longLink = undefined;
    pax = undefined;
    pendingMeta = false;
    off = nextOff;
  }
  return entries;
}

function roundUp(n: number): number {
  return Math.ceil(n / TAR_BLOCK) * TAR_BLOCK;
}

function checkFits(r: WindowReader, dataOffset: number, size: number, where: string, what: string): void {
  if (dataOffset + size > r.end) {
    throw invalid(
      where,
      `${what} declares ${size} bytes but the archive ends ${r.end - dataOffset} bytes later`,
      'the archive is truncated (an interrupted download or copy?), or the header is corrupt; re-create or re-download it',
    );
  }
}

function clip(s: string): string {
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

/**
 * A tar path normalised for lookups: no leading `./` or `/`, no trailing `/`, `a/../b` folded.
 * Returns undefined for paths that climb out of the archive root.
 */
export function normalizeTarPath(name: string): string | undefined {
  let p = posix.normalize(name.replace(/^\/+/, '') || '.').replace(/\/+$/, '');
  if (p === '.') p = '';
  if (p === '..' || p.startsWith('../')) return undefined;
  return p;
}

/** A stream of the data of one entry (a regular file) of an indexed tar file. */
export function readTarEntry(file: TarFile, entry: TarEntry, signal?: AbortSignal): Readable {
  const path = fileName(file);
  if (entry.type !== 'file') {
    throw new WharfError('TAR_INVALID', `${path}: "${clip(entry.name)}" is a ${entry.type}, not a regular file`);
  }
  const stream =
    entry.size === 0
      ? Readable.from([] as Buffer[])
      : typeof file === 'string'
        ? createReadStream(file, { start: entry.dataOffset, end: entry.dataOffset + entry.size - 1, highWaterMark: BLOB_READ_CHUNK })
        : createReadStream('', { fd: file, autoClose: false, start: entry.dataOffset, end: entry.dataOffset + entry.size - 1, highWaterMark: BLOB_READ_CHUNK });
  return signal ? addAbortSignal(signal, stream) : stream;
}

/** Read a small entry into memory; throws TOO_LARGE above `maxBytes`. */
export async function readTarEntryBuffer(file: TarFile, entry: TarEntry, maxBytes: number): Promise<Buffer> {
  const path = fileName(file);
  if (entry.type !== 'file') {
    throw new WharfError('TAR_INVALID', `${path}: "${clip(entry.name)}" is a ${entry.type}, not a regular file`);
  }
  if (entry.size > maxBytes) {
    throw new WharfError('TOO_LARGE', `${path}: "${clip(entry.name)}" is ${entry.size} bytes, more than the ${maxBytes}-byte limit`, {
      hint: 'a file this large is not what it claims to be; check the archive',
    });
  }
  const fh = typeof file === 'string' ? await fsp.open(file, 'r') : file;
  try {
    const buf = Buffer.alloc(entry.size);
    const n = await readFully(fh, buf, 0, entry.size, entry.dataOffset);
    if (n !== entry.size) throw invalid(path, `"${clip(entry.name)}" is truncated`);
    return buf;
  } finally {
    if (typeof file === 'string') await fh.close();
  }
}

// ---------------------------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------------------------

export interface TarWriteOptions {
  /** Permission bits; default 0o644 for files, 0o755 for directories, 0o777 for symlinks. */
  mode?: number;
  /** Seconds since the epoch, or a Date; default 0 (deterministic). */
  mtime?: number | Date;
  uid?: number;
  gid?: number;
  uname?: string;
  gname?: string;
}

const MAX_OCTAL_7 = 0o7777777;
const MAX_OCTAL_11 = 0o77777777777;

interface HeaderFields {
  name: string;
  typeflag: string;
  size: number;
  linkname: string;
  mode: number;
  mtime: number;
  uid: number;
  gid: number;
  uname: string;
  gname: string;
}

function writeString(block: Buffer, start: number, len: number, value: string): void {
  block.write(value, start, len, 'utf8');
}

function writeOctal(block: Buffer, start: number, len: number, value: number): void {
  // len-1 digits then a NUL, as Go's archive/tar and GNU tar do.
  block.write(value.toString(8).padStart(len - 1, '0'), start, len - 1, 'latin1');
  block[start + len - 1] = 0;
}

function isAscii(s: string): boolean {
  return /^[\x00-\x7f]*$/.test(s);
}

function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  const bodyLen = Buffer.byteLength(body);
  let len = bodyLen + String(bodyLen).length;
  if (String(len).length + bodyLen !== len) len = bodyLen + String(len).length;
  return `${len}${body}`;
}

function ustarHeader(h: HeaderFields): Buffer {
  const block = Buffer.alloc(TAR_BLOCK);
  writeString(block, 0, 100, h.name);
  writeOctal(block, 100, 8, h.mode);
  writeOctal(block, 108, 8, h.uid);
  writeOctal(block, 116, 8, h.gid);
  writeOctal(block, 124, 12, h.size);
  writeOctal(block, 136, 12, h.mtime);
  block.write(h.typeflag, 156, 1, 'latin1');
  writeString(block, 157, 100, h.linkname);
  block.write('ustar\x0000', 257, 8, 'latin1');
  writeString(block, 265, 32, h.uname);
  writeString(block, 297, 32, h.gname);
  writeOctal(block, 329, 8, 0);
  writeOctal(block, 337, 8, 0);
  setHeaderChecksum(block);
  return block;
}

/** (Re)compute a header block's checksum: the sum of its bytes with the checksum field taken as spaces. */
export function setHeaderChecksum(block: Buffer): void {
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < TAR_BLOCK; i++) sum += block[i]!;
  block.write(sum.toString(8).padStart(6, '0'), 148, 6, 'latin1');
  block[154] = 0;
  block[155] = 0x20;
}

/** The header block(s) for an entry: a PAX extended header first when a value does not fit ustar. */
function headerBlocks(h: HeaderFields): Buffer[] {
  const records: string[] = [];
  const fields = { ...h };
  if (Buffer.byteLength(h.name) > 100 || !isAscii(h.name)) {
    records.push(paxRecord('path', h.name));
    fields.name = asciiClip(h.name, 100);
  }
  if (Buffer.byteLength(h.linkname) > 100 || !isAscii(h.linkname)) {
    records.push(paxRecord('linkpath', h.linkname));
    fields.linkname = asciiClip(h.linkname, 100);
  }
  if (h.size > MAX_OCTAL_11) {
    records.push(paxRecord('size', String(h.size)));
    fields.size = 0;
  }
  if (h.mtime < 0 || h.mtime > MAX_OCTAL_11) {
    records.push(paxRecord('mtime', String(h.mtime)));
    fields.mtime = 0;
  }
  if (h.uid > MAX_OCTAL_7) {
    records.push(paxRecord('uid', String(h.uid)));
    fields.uid = 0;
  }
  if (h.gid > MAX_OCTAL_7) {
    records.push(paxRecord('gid', String(h.gid)));
    fields.gid = 0;
  }
  if (Buffer.byteLength(h.uname) > 32 || !isAscii(h.uname)) {
    records.push(paxRecord('uname', h.uname));
    fields.uname = '';
  }
  if (Buffer.byteLength(h.gname) > 32 || !isAscii(h.gname)) {
    records.push(paxRecord('gname', h.gname));
    fields.gname = '';
  }
  const main = ustarHeader(fields);
  if (records.length === 0) return [main];
  const body = Buffer.from(records.join(''), 'utf8');
  const base = posix.basename(h.name.replace(/\/+$/, '')) || 'entry';
  const paxHeader = ustarHeader({
    name: asciiClip(`PaxHeaders.0/${base}`, 100),
    typeflag: 'x',
    size: body.length,
    linkname: '',
    mode: 0o644,
    mtime: 0,
    uid: 0,
    gid: 0,
    uname: '',
    gname: '',
  });
  return [paxHeader, body, padding(body.length), main].filter((b) => b.length > 0);
}

function asciiClip(s: string, max: number): string {
  return s.replace(/[^\x20-\x7e]/g, '_').slice(0, max);
}

function padding(size: number): Buffer {
  const rem = size % TAR_BLOCK;
  return rem === 0 ? Buffer.alloc(0) : Buffer.alloc(TAR_BLOCK - rem);
}

function toSeconds(mtime: number | Date | undefined): number {
  if (mtime === undefined) return 0;
  const s = mtime instanceof Date ? Math.floor(mtime.getTime() / 1000) : Math.floor(mtime);
  if (!Number.isSafeInteger(s)) throw new WharfError('USAGE', `invalid tar mtime ${String(mtime)}`);
  return s;
}

function checkName(name: string, what: string): void {
  if (typeof name !== 'string' || name.length === 0) throw new WharfError('USAGE', `tar ${what} is empty`);
  if (name.includes('\0')) throw new WharfError('USAGE', `tar ${what} "${clip(name.replace(/\0/g, '\\0'))}" contains a NUL byte`);
}

function checkId(n: number | undefined, what: string): number {
  const v = n ?? 0;
  if (!Number.isSafeInteger(v) || v < 0) throw new WharfError('USAGE', `invalid tar ${what} ${String(n)}`);
  return v;
}

/**
 * Writes a tar stream to a Writable, one entry at a time (await each call before the next). Headers are
 * deterministic: mtime 0, uid/gid 0 and fixed modes unless told otherwise. File contents are streamed with
 * backpressure and never buffered whole; a source that yields more or fewer bytes than declared fails with
 * SIZE_MISMATCH and leaves the writer unusable (the output is then not a valid archive).
 */
export class TarWriter {
  /** Bytes handed to the output so far. */
  bytesWritten = 0;
  private busy = false;
  private failed: Error | undefined;
  private finished = false;

  constructor(
    private readonly out: Writable,
    private readonly signal?: AbortSignal,
  ) {}

  async addFile(name: string, size: number, source: Readable | Buffer | Uint8Array, opts: TarWriteOptions = {}): Promise<void> {
    checkName(name, 'file name');
    if (!Number.isSafeInteger(size) || size < 0) throw new WharfError('USAGE', `invalid tar entry size ${String(size)} for "${clip(name)}"`);
    if (!(source instanceof Readable) && source.length !== size) {
      throw new WharfError('SIZE_MISMATCH', `tar entry "${clip(name)}": got ${source.length} bytes, declared ${size}`);
    }
    await this.entry(async () => {
      await this.push(this.header(name, '0', size, '', opts, 0o644));
      if (source instanceof Readable) await this.pump(name, size, source);
      else if (size > 0) await this.push(Buffer.isBuffer(source) ? source : Buffer.from(source.buffer, source.byteOffset, source.length));
      const pad = padding(size);
      if (pad.length) await this.push(pad);
    });
  }

  async addDirectory(name: string, opts: TarWriteOptions = {}): Promise<void> {
    checkName(name, 'directory name');
    const dirName = name.endsWith('/') ? name : `${name}/`;
    await this.entry(() => this.push(this.header(dirName, '5', 0, '', opts, 0o755)));
  }

  async addSymlink(name: string, target: string, opts: TarWriteOptions = {}): Promise<void> {
    checkName(name, 'symlink name');
    checkName(target, 'symlink target');
    await this.entry(() => this.push(this.header(name, '2', 0, target, opts, 0o777)));
  }

  async addHardlink(name: string, target: string, opts: TarWriteOptions = {}): Promise<void> {
    checkName(name, 'hard link name');
    checkName(target, 'hard link target');
    await this.entry(() => this.push(this.header(name, '1', 0, target, opts, 0o644)));
  }

  /** Write the end-of-archive marker (two zero blocks); with `end` (default true), end the output and wait for it. */
  async finish(options: { end?: boolean } = {}): Promise<void> {
    await this.entry(async () => {
      await this.push(Buffer.alloc(TAR_BLOCK * 2));
      this.finished = true;
      if (options.end ?? true) {
        await new Promise<void>((resolve, reject) => {
          const onError = (err: Error): void => {
            this.out.off('finish', onFinish);
            reject(err);
          };
          const onFinish = (): void => {
            this.out.off('error', onError);
            resolve();
          };
          this.out.once('error', onError);
          this.out.once('finish', onFinish);
          this.out.end();
        });
      }
    });
  }

  private header(name: string, typeflag: string, size: number, linkname: string, opts: TarWriteOptions, defMode: number): Buffer {
    const mode = opts.mode ?? defMode;
    if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777) throw new WharfError('USAGE', `invalid tar mode ${String(opts.mode)}`);
    const blocks = headerBlocks({
      name,
      typeflag,
      size,
      linkname,
      mode,
      mtime: toSeconds(opts.mtime),
      uid: checkId(opts.uid, 'uid'),
      gid: checkId(opts.gid, 'gid'),
      uname: opts.uname ?? '',
      gname: opts.gname ?? '',
    });
    return blocks.length === 1 ? blocks[0]! : Buffer.concat(blocks);
  }

  private async entry(fn: () => Promise<void>): Promise<void> {
    if (this.failed) throw new WharfError('IO_ERROR', 'the tar writer failed earlier; the archive is incomplete', { cause: this.failed });
    if (this.finished) throw new WharfError('USAGE', 'the tar archive is already finished');
    if (this.busy) throw new WharfError('USAGE', 'TarWriter entries must be added one at a time (await each call)');
    if (this.signal?.aborted) throw aborted();
    this.busy = true;
    try {
      await fn();
    } catch (err) {
      this.failed = err as Error;
      throw err;
    } finally {
      this.busy = false;
    }
  }

  private async pump(name: string, size: number, source: Readable): Promise<void> {
    let got = 0;
    try {
      for await (const chunk of source) {
        if (this.signal?.aborted) throw aborted();
        const buf = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
        got += buf.length;
        if (got > size) {
          throw new WharfError('SIZE_MISMATCH', `tar entry "${clip(name)}": source yields more than the declared ${size} bytes`, {
            hint: 'the source changed while it was being archived, or its size was wrong',
          });
        }
        await this.push(buf);
      }
    } finally {
      if (!source.destroyed && got > size) source.destroy();
    }
    if (got !== size) {
      throw new WharfError('SIZE_MISMATCH', `tar entry "${clip(name)}": source yielded ${got} bytes, declared ${size}`, {
        hint: 'the source changed while it was being archived, or its size was wrong',
      });
    }
  }

  private push(buf: Buffer): Promise<void> {
    const out = this.out;
    if (out.destroyed || out.writableEnded) {
      return Promise.reject(new WharfError('IO_ERROR', 'the tar output stream is closed'));
    }
    this.bytesWritten += buf.length;
    if (out.write(buf)) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const cleanup = (): void => {
        out.off('drain', onDrain);
        out.off('error', onError);
        out.off('close', onClose);
      };
      const onDrain = (): void => {
        cleanup();
        resolve();
      };
      const onError = (err: Error): void => {
        cleanup();
        reject(err);
      };
      const onClose = (): void => {
        cleanup();
        reject(new WharfError('IO_ERROR', 'the tar output stream closed before the archive was complete'));
      };
      out.on('drain', onDrain);
      out.on('error', onError);
      out.on('close', onClose);
    });
  }
}
