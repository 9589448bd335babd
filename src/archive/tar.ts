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

function invalid(where: string, what: string, hint?: string): WharfError {
  return tarInvalid(where, what, hint, 'TAR_INVALID');
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

// ---------------------------------------------------------------------------------------------------------
// Header decoding, shared by indexTarFile (positional reads of a file) and src/layer/tar-stream.ts (a stream)
// ---------------------------------------------------------------------------------------------------------

/** How a malformed tar is reported: TAR_INVALID for archives wharf reads as files, LAYER_INVALID for image layers. */
export type TarErrorCode = 'TAR_INVALID' | 'LAYER_INVALID';

/** Makes the error for one malformed header; the reader that calls the decoder decides the code and the place. */
export type TarFail = (what: string, hint?: string) => WharfError;

const TAR_HINTS: Record<TarErrorCode, string> = {
  TAR_INVALID: 'the archive is corrupt, truncated or not a tar file; re-create or re-download it',
  LAYER_INVALID: 'the layer is corrupt, truncated or hostile; pull the image again, or rebuild the layer',
};

export function tarInvalid(where: string, what: string, hint?: string, code: TarErrorCode = 'TAR_INVALID'): WharfError {
  return new WharfError(code, `${where}: ${what}`, { hint: hint ?? TAR_HINTS[code] });
}

/** A TarFail that prefixes its messages with `where`. */
export function tarFail(where: string, code: TarErrorCode = 'TAR_INVALID'): TarFail {
  return (what, hint) => tarInvalid(where, what, hint, code);
}

export function isZeroBlock(block: Buffer): boolean {
  if (block.length !== TAR_BLOCK) return false;
  // A header's checksum field is never zero, so a real header fails fast at byte 148.
  if (block[148] !== 0 || block[156] !== 0) return false;
  for (let i = 0; i < TAR_BLOCK; i++) if (block[i] !== 0) return false;
  return true;
}

/** Where the first NUL of buf[start, start+len) is, or start+len. */
function nulAt(buf: Buffer, start: number, len: number): number {
  const end = Math.min(start + len, buf.length);
  let i = start;
  while (i < end && buf[i] !== 0) i++;
  return i;
}

/** A NUL-terminated string field: everything before the first NUL. */
function cString(buf: Buffer, start: number, len: number): string {
  const nul = nulAt(buf, start, len);
  return nul === start ? '' : buf.toString('utf8', start, nul);
}

/**
 * A NUL-terminated name that keeps what hides after the NUL: if anything but NUL padding follows the first NUL,
 * the result contains the NUL and those bytes, so the caller sees (and refuses) a name that other readers would
 * cut short. Plain padding after the NUL is dropped.
 */
function nameField(buf: Buffer, start: number, len: number): string {
  const nul = nulAt(buf, start, len);
  let end = Math.min(start + len, buf.length);
  while (end > nul && buf[end - 1] === 0) end--;
  return end === start ? '' : buf.toString('utf8', start, end);
}

/**
 * A numeric header field: octal text (padded with spaces or NULs), or GNU base-256 when the top bit of the
 * first byte is set. Negative, unsafe (above 2^53) and garbage values are errors.
 */
export function parseTarNumber(buf: Buffer, start: number, len: number, field: string, fail: TarFail): number {
  const end = Math.min(start + len, buf.length);
  const first = buf[start]!;
  if (first & 0x80) {
    if (first === 0xff) throw fail(`negative ${field} in header`);
    let v = first & 0x7f;
    for (let i = start + 1; i < end; i++) {
      v = v * 256 + buf[i]!;
      if (v > Number.MAX_SAFE_INTEGER) throw fail(`${field} in header is too large`);
    }
    return v;
  }
  let s = start;
  let e = end;
  while (s < e && (buf[s] === 0x20 || buf[s] === 0)) s++;
  while (e > s && (buf[e - 1] === 0x20 || buf[e - 1] === 0)) e--;
  if (s === e) return 0;
  let v = 0;
  for (let i = s; i < e; i++) {
    const c = buf[i]!;
    if (c < 0x30 || c > 0x37) {
      throw fail(`${field} field "${printable(buf.subarray(s, e))}" is not an octal number`);
    }
    v = v * 8 + (c - 0x30);
  }
  if (v > Number.MAX_SAFE_INTEGER) throw fail(`${field} in header is too large`);
  return v;
}

function printable(b: Buffer): string {
  const s = b.toString('latin1').replace(/[^\x20-\x7e]/g, '?');
  return s.length > 40 ? `${s.slice(0, 37)}...` : s;
}

/** Whether a header block's checksum field matches its bytes, summed as unsigned (POSIX) or signed (old Sun tar) bytes. */
export function tarChecksumOk(block: Buffer, fail: TarFail): boolean {
  const declared = parseTarNumber(block, 148, 8, 'checksum', fail);
  // The checksum field itself counts as eight spaces.
  let unsigned = 8 * 0x20;
  for (let i = 0; i < 148; i++) unsigned += block[i]!;
  for (let i = 156; i < TAR_BLOCK; i++) unsigned += block[i]!;
  if (declared === unsigned) return true;
  let high = 0;
  for (let i = 0; i < TAR_BLOCK; i++) if (block[i]! > 127 && (i < 148 || i >= 156)) high++;
  return declared === unsigned - 256 * high;
}

/**
 * The records of a PAX extended header body, in order, values as raw bytes (`len key=value\n` each; a run of
 * NULs ends the body). Malformed records are errors; NUL bytes in values are left for the caller to judge.
 */
export function paxRecordList(data: Buffer, fail: TarFail): Array<[key: string, value: Buffer]> {
  const out: Array<[string, Buffer]> = [];
  let pos = 0;
  while (pos < data.length) {
    if (data[pos] === 0 && data.subarray(pos).every((c) => c === 0)) break;
    const sp = data.indexOf(0x20, pos);
    if (sp < 0 || sp - pos > 20) throw fail('malformed PAX record (no length)');
    const lenText = data.subarray(pos, sp).toString('latin1');
    if (!/^[1-9][0-9]*$/.test(lenText)) throw fail(`malformed PAX record length "${printable(data.subarray(pos, sp))}"`);
    const len = Number(lenText);
    if (len <= sp - pos + 1 || pos + len > data.length) throw fail(`PAX record length ${len} is out of range`);
    const rec = data.subarray(sp + 1, pos + len);
    if (rec[rec.length - 1] !== 0x0a) throw fail('PAX record does not end with a newline');
    const kv = rec.subarray(0, rec.length - 1);
    const eq = kv.indexOf(0x3d);
    if (eq <= 0) throw fail('PAX record has no key');
    const key = kv.subarray(0, eq).toString('utf8');
    if (key.includes('\0')) throw fail(`PAX record "${key}" contains a NUL byte`);
    out.push([key, kv.subarray(eq + 1)]);
    pos += len;
  }
  return out;
}

/** Parse a PAX extended header body into key/value records; a NUL byte in any value is an error. */
export function parsePaxRecords(data: Buffer, where: string, code: TarErrorCode = 'TAR_INVALID'): Map<string, string> {
  const fail = tarFail(where, code);
  const out = new Map<string, string>();
  for (const [key, raw] of paxRecordList(data, fail)) {
    if (raw.includes(0)) throw fail(`PAX record "${key}" contains a NUL byte`);
    out.set(key, raw.toString('utf8'));
  }
  return out;
}

/** A PAX decimal integer (size, uid, gid): digits only, a safe integer. */
export function paxInteger(value: string, key: string, fail: TarFail): number {
  if (!/^[0-9]{1,16}$/.test(value) || !Number.isSafeInteger(Number(value))) {
    throw fail(`PAX ${key} "${value.slice(0, 40)}" is not a valid number`);
  }
  return Number(value);
}

/** A PAX time (mtime): seconds since the epoch, possibly negative and fractional; returned as given, not rounded. */
export function paxTime(value: string, key: string, fail: TarFail): number {
  if (!/^-?[0-9]{1,15}(\.[0-9]{0,9})?$/.test(value)) throw fail(`PAX ${key} "${value.slice(0, 40)}" is not a valid time`);
  return Number(value);
}

/** The kinds of entry a tar can hold that wharf understands. */
export type TarKind = 'file' | 'dir' | 'symlink' | 'hardlink' | 'char' | 'block' | 'fifo';

/**
 * What a typeflag means, or undefined for a type wharf does not know (GNU sparse 'S', multi-volume 'M', volume
 * labels 'V', vendor extensions). Old-style archives mark directories as regular files whose name ends in `/`.
 */
export function tarKind(typeflag: string, name: string): TarKind | undefined {
  switch (typeflag) {
    case '0':
    case '\0':
    case '7':
      return name.endsWith('/') ? 'dir' : 'file';
    case '1':
      return 'hardlink';
    case '2':
      return 'symlink';
    case '3':
      return 'char';
    case '4':
      return 'block';
    case '5':
    case 'D':
      return 'dir';
    case '6':
      return 'fifo';
    default:
      return undefined;
  }
}

/** Types whose size field says nothing about stored data (as Go's archive/tar treats them). */
export function isHeaderOnly(typeflag: string): boolean {
  return typeflag === '1' || typeflag === '2' || typeflag === '3' || typeflag === '4' || typeflag === '5' || typeflag === '6';
}

/** The typeflags of extended headers, which describe the entry after them (or, for 'g', all later entries). */
export function isExtendedHeader(typeflag: string): boolean {
  return typeflag === 'L' || typeflag === 'K' || typeflag === 'x' || typeflag === 'g';
}

/** What one header block says by itself: checked against its checksum, before extended headers are applied. */
export interface TarHeaderBlock {
  typeflag: string;
  /** The size field: how many data bytes follow (for extended headers, their body; see isHeaderOnly for entries). */
  size: number;
  /** `ustar` (POSIX, and PAX), `gnu` (GNU tar's own format) or `v7` (no magic). */
  format: 'ustar' | 'gnu' | 'v7';
  /**
   * For an old-style GNU sparse entry ('S'): whether extension blocks of sparse map (512 bytes each, not counted in
   * `size`) follow the header before the data. Each extension block says in its byte 504 whether another follows.
   */
  sparseExtended: boolean;
}

/** Check a non-zero header block and read the fields every reader needs first. */
export function decodeTarHeaderBlock(block: Buffer, fail: TarFail): TarHeaderBlock {
  if (!tarChecksumOk(block, fail)) {
    throw fail('header checksum does not match', 'the archive is corrupt (or not a tar file); re-create or re-download it');
  }
  const typeflag = String.fromCharCode(block[156]!);
  // "ustar\0" (POSIX) or "ustar " (GNU) at 257.
  const ustar = block[257] === 0x75 && block[258] === 0x73 && block[259] === 0x74 && block[260] === 0x61 && block[261] === 0x72;
  const format = ustar && block[262] === 0 ? 'ustar' : ustar && block[262] === 0x20 ? 'gnu' : 'v7';
  const size = parseTarNumber(block, 124, 12, 'size', fail);
  return { typeflag, size, format, sparseExtended: typeflag === 'S' && format === 'gnu' && block[482] !== 0 };
}

export interface TarDecodeOptions {
  /**
   * Apply PAX global headers ('g') to every later entry, as GNU tar does. Without it they are skipped, as Go's
   * archive/tar (and so Docker and containerd) skip them.
   */
  applyGlobal?: boolean;
  /**
   * Decode for image layers: names keep any NUL bytes hidden in them (for the caller to refuse), SCHILY.xattr
   * values are kept as bytes (capabilities are binary), and user and group names and device numbers are read.
   * Without it any PAX value with a NUL is an error and names end at their first NUL.
   */
  layer?: boolean;
  /** The largest PAX header body (and the most PAX header bytes in front of one entry); default MAX_PAX_HEADER_BYTES. */
  maxPaxBytes?: number;
  /** The largest GNU long name or long link; default MAX_TAR_NAME_BYTES. */
  maxLongNameBytes?: number;
}

/** PAX keys whose values are names: NUL bytes in them are refused by the caller, not by the record parser. */
function isNameKey(key: string): boolean {
  return key === 'path' || key === 'linkpath' || key === 'GNU.sparse.name';
}

const XATTR_PREFIX = 'SCHILY.xattr.';

/**
 * The extended headers (GNU long name 'L' and long link 'K', PAX 'x' and global 'g') read so far, waiting for the
 * entry they describe. A reader feeds every extended header to `add`, resolves the next real entry with
 * `resolveTarEntry`, then calls `clear`.
 */
export class TarExtendedHeaders {
  longName: string | undefined;
  longLink: string | undefined;
  /** This entry's PAX records (later 'x' headers override earlier ones). */
  pax: Map<string, Buffer> | undefined;
  /** Records of the global headers seen so far (only with applyGlobal). */
  global: Map<string, Buffer> | undefined;
  /** Whether an 'L', 'K' or 'x' header is waiting for its entry. */
  pending = false;
  private paxBytes = 0;
  private globalBytes = 0;
  readonly maxPaxBytes: number;
  readonly maxLongNameBytes: number;

  constructor(readonly options: TarDecodeOptions = {}) {
    this.maxPaxBytes = options.maxPaxBytes ?? MAX_PAX_HEADER_BYTES;
    this.maxLongNameBytes = options.maxLongNameBytes ?? MAX_TAR_NAME_BYTES;
  }

  /** Whether the body of this extended header needs to be read (an ignored global header is only skipped). */
  wants(typeflag: string): boolean {
    return typeflag !== 'g' || this.options.applyGlobal === true;
  }

  /** Refuse an extended header whose declared size is over its limit, before anything of it is read. */
  checkSize(typeflag: string, size: number, fail: TarFail): void {
    const isName = typeflag === 'L' || typeflag === 'K';
    const cap = isName ? this.maxLongNameBytes : this.maxPaxBytes;
    if (size > cap) {
      const what = isName ? `GNU long ${typeflag === 'L' ? 'name' : 'link'}` : `PAX ${typeflag === 'g' ? 'global ' : ''}header`;
      throw fail(`${what} of ${size} bytes exceeds the ${cap}-byte limit`);
    }
    const total = typeflag === 'x' ? this.paxBytes + size : typeflag === 'g' && this.wants('g') ? this.globalBytes + size : 0;
    if (total > this.maxPaxBytes) {
      throw fail(`PAX ${typeflag === 'g' ? 'global headers' : 'headers for one entry'} add up to ${total} bytes, more than the ${this.maxPaxBytes}-byte limit`);
    }
  }

  /** Take in the body of an extended header (call checkSize first). */
  add(typeflag: string, data: Buffer, fail: TarFail): void {
    if (typeflag === 'L' || typeflag === 'K') {
      const value = this.options.layer ? nameField(data, 0, data.length) : cString(data, 0, data.length);
      if (typeflag === 'L') this.longName = value;
      else this.longLink = value;
      this.pending = true;
      return;
    }
    if (typeflag === 'g' && !this.wants('g')) return;
    const records = paxRecordList(data, fail);
    for (const [key, value] of records) {
      if (value.includes(0) && !(this.options.layer && (isNameKey(key) || key.startsWith(XATTR_PREFIX)))) {
        throw fail(`PAX record "${key}" contains a NUL byte`);
      }
    }
    // Copies: the records must not pin the (possibly large) buffer they were read into.
    if (typeflag === 'x') {
      this.pax ??= new Map();
      for (const [key, value] of records) this.pax.set(key, Buffer.from(value));
      this.paxBytes += data.length;
      this.pending = true;
    } else {
      this.global ??= new Map();
      for (const [key, value] of records) this.global.set(key, Buffer.from(value));
      this.globalBytes += data.length;
    }
  }

  /** A PAX value for the next entry: its own record, else a global one. Empty values count as absent. */
  get(key: string): string | undefined {
    const raw = this.raw(key);
    return raw && raw.length > 0 ? raw.toString('utf8') : undefined;
  }

  private raw(key: string): Buffer | undefined {
    return this.pax?.get(key) ?? this.global?.get(key);
  }

  /** SCHILY.xattr.* records for the next entry (global ones first, the entry's own over them). */
  xattrs(): Record<string, Buffer> | undefined {
    let out: Record<string, Buffer> | undefined;
    for (const records of [this.global, this.pax]) {
      if (!records) continue;
      for (const [key, value] of records) {
        if (!key.startsWith(XATTR_PREFIX) || key.length === XATTR_PREFIX.length) continue;
        out ??= Object.create(null) as Record<string, Buffer>;
        out[key.slice(XATTR_PREFIX.length)] = value;
      }
    }
    return out;
  }

  /** Whether PAX records say the next entry is a GNU sparse file (formats 0.0, 0.1 and 1.0). */
  sparse(): boolean {
    for (const records of [this.pax, this.global]) {
      if (records) for (const k of records.keys()) if (k.startsWith('GNU.sparse.')) return true;
    }
    return false;
  }

  /** Forget what described the entry just read (global records stay). */
  clear(): void {
    this.longName = undefined;
    this.longLink = undefined;
    this.pax = undefined;
    this.pending = false;
    this.paxBytes = 0;
  }
}

/** A header with its extended headers applied: everything a reader says about one entry. */
export interface ResolvedTarHeader {
  /** The path as stored (PAX `path`, else GNU long name, else ustar prefix + name), not normalised. */
  name: string;
  typeflag: string;
  /** What the entry is, or undefined for a type wharf does not know (sparse files included). */
  kind: TarKind | undefined;
  /** A GNU sparse file (type 'S' or GNU.sparse.* PAX records), whose stored data is not its content. */
  sparse: boolean;
  /** Link target for symlinks and hard links (PAX `linkpath`, else GNU long link, else the header's); '' otherwise. */
  linkname: string;
  /** Bytes of data stored after the header: 0 for header-only types, whatever their size field says. */
  size: number;
  /** Permission bits and setuid/setgid/sticky. */
  mode: number;
  uid: number;
  gid: number;
  /** Seconds since the epoch; fractional when PAX gave sub-second precision. */
  mtime: number;
  /** Only with `layer`: */
  uname?: string;
  gname?: string;
  devmajor?: number;
  devminor?: number;
  xattrs?: Record<string, Buffer>;
}

/** Apply the waiting extended headers to an entry's header block. */
export function resolveTarEntry(block: Buffer, header: TarHeaderBlock, ext: TarExtendedHeaders, fail: TarFail): ResolvedTarHeader {
  const layer = ext.options.layer === true;
  const field = layer ? nameField : cString;
  let name: string;
  const paxPath = ext.get('path');
  if (paxPath) name = paxPath;
  else if (ext.longName !== undefined) name = ext.longName;
  else {
    name = field(block, 0, 100);
    if (header.format === 'ustar') {
      const prefix = field(block, 345, 155);
      if (prefix) name = `${prefix}/${name}`;
    }
  }
  const sparseName = ext.get('GNU.sparse.name');
  if (sparseName) name = sparseName;
  let linkname = ext.get('linkpath') || (ext.longLink ?? field(block, 157, 100));

  let size = header.size;
  let mtime = parseTarNumber(block, 136, 12, 'mtime', fail);
  let uid = parseTarNumber(block, 108, 8, 'uid', fail);
  let gid = parseTarNumber(block, 116, 8, 'gid', fail);
  const mode = parseTarNumber(block, 100, 8, 'mode', fail) & 0o7777;
  const s = ext.get('size');
  if (s) size = paxInteger(s, 'size', fail);
  const m = ext.get('mtime');
  if (m) mtime = paxTime(m, 'mtime', fail);
  const u = ext.get('uid');
  if (u) uid = paxInteger(u, 'uid', fail);
  const g = ext.get('gid');
  if (g) gid = paxInteger(g, 'gid', fail);
  const sparse = header.typeflag === 'S' || ext.sparse();
  if (isHeaderOnly(header.typeflag)) size = 0;
  const kind = sparse ? undefined : tarKind(header.typeflag, name);
  if (kind !== 'symlink' && kind !== 'hardlink') linkname = '';
  const out: ResolvedTarHeader = { name, typeflag: header.typeflag, kind, sparse, linkname, size, mode, uid, gid, mtime };
  if (layer) {
    const hasNames = header.format !== 'v7';
    const uname = ext.get('uname') ?? (hasNames ? cString(block, 265, 32) : '');
    const gname = ext.get('gname') ?? (hasNames ? cString(block, 297, 32) : '');
    if (uname) out.uname = uname;
    if (gname) out.gname = gname;
    if ((kind === 'char' || kind === 'block') && hasNames) {
      out.devmajor = parseTarNumber(block, 329, 8, 'devmajor', fail);
      out.devminor = parseTarNumber(block, 337, 8, 'devminor', fail);
    }
    const xattrs = ext.xattrs();
    if (xattrs) out.xattrs = xattrs;
  }
  return out;
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
  const ext = new TarExtendedHeaders();
  let off = start;
  let iterations = 0;

  for (;;) {
    if ((++iterations & 0x3ff) === 0 && signal?.aborted) throw aborted();
    const where = `${path}: tar header at offset ${off}`;
    const fail = tarFail(where);
    const block = await r.view(off, TAR_BLOCK);
    if (block.length < TAR_BLOCK) {
      if (ext.pending) throw invalid(where, 'the archive ends after an extended header, before its entry');
      if (block.length === 0 || block.every((c) => c === 0)) break;
      throw invalid(where, `the archive ends in the middle of a header (${block.length} of 512 bytes)`);
    }
    if (isZeroBlock(block)) {
      if (ext.pending) throw invalid(where, 'an extended header is followed by an end-of-archive block');
      const next = await r.view(off + TAR_BLOCK, TAR_BLOCK);
      if (next.length < TAR_BLOCK || isZeroBlock(next)) break;
      throw invalid(where, 'a single zero block is followed by more data');
    }
    const header = decodeTarHeaderBlock(block, fail);
    let dataOffset = off + TAR_BLOCK;

    if (isExtendedHeader(header.typeflag)) {
      ext.checkSize(header.typeflag, header.size, fail);
      checkFits(r, dataOffset, header.size, where, `extended header (type ${header.typeflag})`);
      if (ext.wants(header.typeflag)) ext.add(header.typeflag, await r.fresh(dataOffset, header.size), fail);
      off = dataOffset + roundUp(header.size);
      continue;
    }

    // A real entry. Old GNU sparse headers may be followed by extension blocks of sparse map before the data.
    for (let more = header.sparseExtended; more; ) {
      const extBlock = await r.view(dataOffset, TAR_BLOCK);
      if (extBlock.length < TAR_BLOCK) throw invalid(where, 'the archive ends in the sparse map of a GNU sparse file');
      more = extBlock[504] !== 0;
      dataOffset += TAR_BLOCK;
    }
    const h = resolveTarEntry(block, header, ext, fail);
    const { name, size } = h;
    if (name.length === 0) throw invalid(where, 'entry has an empty name');
    if (name.length > MAX_TAR_NAME_BYTES || h.linkname.length > MAX_TAR_NAME_BYTES) throw invalid(where, 'entry name is too long');
    checkFits(r, dataOffset, size, where, `entry "${clip(name)}"`);
    const type: TarEntryType = h.kind === 'file' || h.kind === 'dir' || h.kind === 'symlink' || h.kind === 'hardlink' ? h.kind : 'other';
    const nextOff = dataOffset + roundUp(size);

    if (entries.length >= maxEntries) {
      throw invalid(path, `the archive has more than ${maxEntries} entries`, 'this is far more than any image layer holds; the archive is hostile or not what it seems');
    }
    entries.push({
      name,
      type,
      size,
      dataOffset,
      linkname: h.linkname,
      mode: h.mode,
      mtime: Math.floor(h.mtime),
      uid: h.uid,
      gid: h.gid,
      typeflag: h.typeflag,
      headerOffset: off,
    });
    ext.clear();
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
