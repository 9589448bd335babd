/**
 * A read-only reader of the SQLite database file format (sqlite.org/fileformat2.html), as much of it as an
 * rpm database needs: the 100-byte header, table b-trees (interior 0x05, leaf 0x0d), cell payloads with their
 * overflow chains, the record format, the schema table on page 1 and, when given, the committed frames of a
 * write-ahead log (rpmdb.sqlite-wal) laid over the file. Indexes, freelists and pointer maps are never needed.
 *
 * Every page number is checked against the size of the database, every offset against the page, every page
 * visited once per walk (a cycle is an error, not a hang), and a payload's claimed size against what the
 * file could hold before anything is allocated for it.
 */
import { rpmdbInvalid } from './errors.js';

const MAGIC = Buffer.from('SQLite format 3\0', 'latin1');
const WAL_MAGIC_LE = 0x377f0682;
const WAL_MAGIC_BE = 0x377f0683;
/** SQLite's own limit on b-tree depth (BTCURSOR_MAX_DEPTH is 20); a deeper tree is a malformed one. */
const MAX_DEPTH = 40;

export function isSqlite(data: Buffer): boolean {
  return data.length >= 16 && data.subarray(0, 16).equals(MAGIC);
}

/** A column value of a record: what the record format can hold. */
export type SqlValue = null | bigint | number | string | Buffer;

export interface SqliteRow {
  rowid: bigint;
  values: SqlValue[];
}

export class SqliteFile {
  readonly pageSize: number;
  /** Bytes of each page that hold content (the page size less the reserved bytes at its end). */
  readonly usable: number;
  readonly pageCount: number;
  private readonly encoding: 'utf8' | 'utf16le' | 'utf16be';
  /** Page number → the bytes of its newest committed version in the write-ahead log. */
  private readonly walPages = new Map<number, Buffer>();

  constructor(
    private readonly data: Buffer,
    private readonly path: string,
    wal?: { data: Buffer; warn: (message: string) => void },
  ) {
    if (!isSqlite(data)) throw this.invalid('not an SQLite database (no "SQLite format 3" header)');
    if (data.length < 100) throw this.invalid(`truncated: ${data.length} bytes, shorter than the 100-byte header`);
    const raw = data.readUInt16BE(16);
    const pageSize = raw === 1 ? 65536 : raw;
    if (pageSize < 512 || pageSize > 65536 || (pageSize & (pageSize - 1)) !== 0) {
      throw this.invalid(`page size ${raw} is not a power of two between 512 and 65536`);
    }
    this.pageSize = pageSize;
    const reserved = data[20]!;
    this.usable = pageSize - reserved;
    if (this.usable < 480) throw this.invalid(`${reserved} reserved bytes leave only ${this.usable} usable bytes per page`);
    if (data[21] !== 64 || data[22] !== 32 || data[23] !== 32) throw this.invalid('the payload fractions are not 64/32/32');
    const enc = data.readUInt32BE(56);
    this.encoding = enc === 2 ? 'utf16le' : enc === 3 ? 'utf16be' : 'utf8';
    if (data.length < pageSize) throw this.invalid(`truncated: ${data.length} bytes, shorter than one page of ${pageSize}`);
    const filePages = Math.floor(data.length / pageSize);
    const walPages = wal && wal.data.length > 0 ? this.readWal(wal.data, wal.warn) : undefined;
    if (walPages === undefined) {
      // The size in the header counts only when the "version valid for" number matches the change counter.
      const headerPages = data.readUInt32BE(28);
      if (headerPages > filePages && data.readUInt32BE(92) === data.readUInt32BE(24)) {
        throw this.invalid(`truncated: the header says ${headerPages} pages of ${pageSize} bytes, the file holds ${filePages}`);
      }
    }
    this.pageCount = walPages ?? filePages;
  }

  private invalid(message: string): Error {
    return rpmdbInvalid(this.path, message);
  }

  /**
   * Lay the committed frames of a WAL over the file: the frames of one session (the header's salts), checksums
   * chained from the header, up to the last commit frame. Returns the database size after that commit.
   */
  private readWal(wal: Buffer, warn: (message: string) => void): number | undefined {
    if (wal.length < 32) {
      warn(`${wal.length} bytes is shorter than a WAL header; ignored`);
      return undefined;
    }
    const magic = wal.readUInt32BE(0);
    if (magic !== WAL_MAGIC_LE && magic !== WAL_MAGIC_BE) {
      warn(`not a write-ahead log; ignored`);
      return undefined;
    }
    const bigEndian = magic === WAL_MAGIC_BE;
    const pageSize = wal.readUInt32BE(8);
    if (pageSize !== this.pageSize) {
      warn(`page size ${pageSize} differs from the database's ${this.pageSize}; ignored`);
      return undefined;
    }
    const salt1 = wal.readUInt32BE(16);
    const salt2 = wal.readUInt32BE(20);
    let [s0, s1] = walChecksum(wal, 0, 24, bigEndian, 0, 0);
    if (s0 !== wal.readUInt32BE(24) || s1 !== wal.readUInt32BE(28)) {
      warn(`the WAL header's checksum does not match; ignored`);
      return undefined;
    }
    const frameSize = 24 + pageSize;
    const pending = new Map<number, Buffer>();
    let committedSize: number | undefined;
    for (let at = 32; at + frameSize <= wal.length; at += frameSize) {
      const pgno = wal.readUInt32BE(at);
      const commit = wal.readUInt32BE(at + 4);
      if (wal.readUInt32BE(at + 8) !== salt1 || wal.readUInt32BE(at + 12) !== salt2 || pgno === 0) break;
      [s0, s1] = walChecksum(wal, at, 8, bigEndian, s0, s1);
      [s0, s1] = walChecksum(wal, at + 24, pageSize, bigEndian, s0, s1);
      if (s0 !== wal.readUInt32BE(at + 16) || s1 !== wal.readUInt32BE(at + 20)) break;
      pending.set(pgno, wal.subarray(at + 24, at + frameSize));
      if (commit > 0) {
        for (const [p, page] of pending) this.walPages.set(p, page);
        pending.clear();
        committedSize = commit;
      }
    }
    return committedSize;
  }

  page(pgno: number): Buffer {
    if (!Number.isInteger(pgno) || pgno < 1 || pgno > this.pageCount) {
      throw this.invalid(`page number ${pgno} is outside the database (${this.pageCount} pages)`);
    }
    const fromWal = this.walPages.get(pgno);
    if (fromWal) return fromWal;
    const start = (pgno - 1) * this.pageSize;
    if (start + this.pageSize > this.data.length) throw this.invalid(`page ${pgno} is past the end of the file`);
    return this.data.subarray(start, start + this.pageSize);
  }

  /** The root page of a table named in the schema (page 1), matched without regard to case as SQL does. */
  tableRoot(name: string): number | undefined {
    const want = name.toLowerCase();
    for (const row of this.rows(1, 'sqlite_schema')) {
      const [type, tname, , rootpage] = row.values;
      if (type === 'table' && typeof tname === 'string' && tname.toLowerCase() === want) {
        if (typeof rootpage !== 'bigint' || rootpage < 1n || rootpage > BigInt(this.pageCount)) {
          throw this.invalid(`table ${name}: root page ${String(rootpage)} is outside the database (${this.pageCount} pages)`);
        }
        return Number(rootpage);
      }
    }
    return undefined;
  }

  /**
   * The rows of the table b-tree rooted at `root`, in rowid order. A damaged b-tree page throws; a row whose
   * own payload is damaged (overflow chain, record header) is given to onBadRow and skipped.
   */
  *rows(root: number, table: string, onBadRow?: (rowid: bigint, err: unknown) => void): Generator<SqliteRow> {
    const visited = new Set<number>();
    // In a sound file the payloads of a table lie in distinct bytes of it, so together they are no larger than
    // the database: cells that overlap (to make the same bytes be parsed again and again) run out of budget.
    const budget = { left: BigInt(this.pageCount) * BigInt(this.usable) };
    // Depth-first, children in order: a stack of [page, depth], pushed in reverse.
    const stack: Array<[number, number]> = [[root, 0]];
    while (stack.length > 0) {
      const [pgno, depth] = stack.pop()!;
      if (depth > MAX_DEPTH) throw this.invalid(`table ${table}: the b-tree is deeper than ${MAX_DEPTH} levels`);
      if (visited.has(pgno)) throw this.invalid(`table ${table}: page ${pgno} is reached twice (a cycle in the b-tree)`);
      visited.add(pgno);
      const page = this.page(pgno);
      const h = pgno === 1 ? 100 : 0;
      const type = page[h]!;
      if (type !== 0x05 && type !== 0x0d) throw this.invalid(`table ${table}: page ${pgno} has type ${type}, not a table b-tree page`);
      const interior = type === 0x05;
      const headerSize = interior ? 12 : 8;
      const cells = page.readUInt16BE(h + 3);
      const pointers = h + headerSize;
      if (pointers + cells * 2 > this.usable) throw this.invalid(`table ${table}: page ${pgno} claims ${cells} cells, more than fit`);
      if (interior) {
        const children: number[] = [];
        for (let i = 0; i < cells; i++) {
          const off = this.cellOffset(page, pointers, cells, i, pgno, table);
          if (off + 4 > this.usable) throw this.invalid(`table ${table}: page ${pgno} cell ${i} runs past the page`);
          children.push(page.readUInt32BE(off));
        }
        children.push(page.readUInt32BE(h + 8));
        for (let i = children.length - 1; i >= 0; i--) stack.push([children[i]!, depth + 1]);
        continue;
      }
      for (let i = 0; i < cells; i++) {
        const off = this.cellOffset(page, pointers, cells, i, pgno, table);
        const [size, a] = readVarint(page, off, this.usable, () => this.invalid(`table ${table}: page ${pgno} cell ${i} is cut off`));
        const [rowid, b] = readVarint(page, a, this.usable, () => this.invalid(`table ${table}: page ${pgno} cell ${i} is cut off`));
        let values: SqlValue[];
        try {
          const payload = this.payload(page, b, size, pgno, i, budget, table);
          values = this.record(payload);
        } catch (err) {
          if (err instanceof SqliteStructureError) throw err.error;
          if (!onBadRow) throw err;
          onBadRow(rowid, err);
          continue;
        }
        yield { rowid, values };
      }
    }
  }

  /** The offset of cell i: in the cell content area, after the pointer array and before the reserved bytes. */
  private cellOffset(page: Buffer, pointers: number, cells: number, i: number, pgno: number, table: string): number {
    const off = page.readUInt16BE(pointers + i * 2);
    if (off < pointers + cells * 2 || off >= this.usable) throw this.invalid(`table ${table}: page ${pgno} cell ${i} at offset ${off} is outside the cell area`);
    return off;
  }

  /** A leaf cell's payload of `size` bytes starting at `at`, with its overflow pages if it spills. */
  private payload(page: Buffer, at: number, size: bigint, pgno: number, cell: number, budget: { left: bigint }, table: string): Buffer {
    const where = `page ${pgno} cell ${cell}`;
    const U = this.usable;
    const X = U - 35;
    // No payload can be larger than the database that holds it: checked before anything is allocated.
    if (size > BigInt(this.pageCount) * BigInt(U)) throw this.invalid(`${where}: a payload of ${size} bytes is larger than the whole database`);
    budget.left -= size;
    if (budget.left < 0n) throw new SqliteStructureError(this.invalid(`table ${table}: its cells claim more bytes than the database holds (cells overlap)`));
    if (size <= BigInt(X)) {
      const n = Number(size);
      if (at + n > U) throw this.invalid(`${where}: a payload of ${n} bytes runs past the page`);
      return page.subarray(at, at + n);
    }
    const P = Number(size);
    const M = Math.floor(((U - 12) * 32) / 255) - 23;
    const K = M + ((P - M) % (U - 4));
    const local = K <= X ? K : M;
    if (at + local + 4 > U) throw this.invalid(`${where}: the local part of the payload runs past the page`);
    const out = Buffer.allocUnsafe(P);
    page.copy(out, 0, at, at + local);
    let filled = local;
    let next = page.readUInt32BE(at + local);
    const seen = new Set<number>();
    while (filled < P) {
      if (next === 0) throw this.invalid(`${where}: the overflow chain ends after ${filled} of ${P} bytes`);
      if (seen.has(next)) throw this.invalid(`${where}: overflow page ${next} is reached twice (a cycle)`);
      seen.add(next);
      const ov = this.page(next);
      const n = Math.min(P - filled, U - 4);
      ov.copy(out, filled, 4, 4 + n);
      filled += n;
      next = ov.readUInt32BE(0);
    }
    return out;
  }

  /** Decode a record: a header of serial types, then the values. */
  private record(payload: Buffer): SqlValue[] {
    const cut = () => this.invalid('a record is cut off');
    const [hsize, h0] = readVarint(payload, 0, payload.length, cut);
    if (hsize < BigInt(h0) || hsize > BigInt(payload.length)) throw this.invalid(`a record header of ${hsize} bytes does not fit its ${payload.length}-byte payload`);
    const headerEnd = Number(hsize);
    const values: SqlValue[] = [];
    let p = h0;
    let body = headerEnd;
    while (p < headerEnd) {
      const [st, q] = readVarint(payload, p, headerEnd, cut);
      p = q;
      const len = serialLength(st);
      if (len === undefined) throw this.invalid(`a record has the reserved serial type ${st}`);
      if (body + len > payload.length) throw this.invalid(`a record value of ${len} bytes runs past its payload`);
      values.push(this.value(st, payload, body, len));
      body += len;
    }
    return values;
  }

  private value(st: bigint, b: Buffer, at: number, len: number): SqlValue {
    if (st === 0n) return null;
    if (st === 8n) return 0n;
    if (st === 9n) return 1n;
    if (st === 7n) return b.readDoubleBE(at);
    if (st <= 6n) {
      let v = 0n;
      for (let i = 0; i < len; i++) v = (v << 8n) | BigInt(b[at + i]!);
      return BigInt.asIntN(len * 8, v);
    }
    const bytes = b.subarray(at, at + len);
    if ((st & 1n) === 0n) return bytes;
    if (this.encoding === 'utf8') return bytes.toString('utf8');
    if (this.encoding === 'utf16le') return bytes.toString('utf16le');
    const swapped = Buffer.from(bytes);
    swapped.swap16();
    return swapped.toString('utf16le');
  }
}

/** Bytes of a value of serial type `st`; undefined for the reserved types 10 and 11. */
function serialLength(st: bigint): number | undefined {
  if (st <= 4n) return [0, 1, 2, 3, 4][Number(st)]!;
  if (st === 5n) return 6;
  if (st === 6n || st === 7n) return 8;
  if (st === 8n || st === 9n) return 0;
  if (st === 10n || st === 11n) return undefined;
  return Number((st - (st & 1n ? 13n : 12n)) / 2n);
}

/** SQLite's varint: 1 to 9 bytes, big-endian, 7 bits a byte with the high bit for "more", all 8 bits in the 9th. */
export function readVarint(b: Buffer, at: number, end: number, cut: () => Error): [bigint, number] {
  let v = 0n;
  for (let i = 0; i < 9; i++) {
    if (at + i >= end) throw cut();
    const byte = b[at + i]!;
    if (i === 8) return [(v << 8n) | BigInt(byte), at + 9];
    v = (v << 7n) | BigInt(byte & 0x7f);
    if ((byte & 0x80) === 0) return [v, at + i + 1];
  }
  throw cut();
}

/** The WAL checksum over `len` bytes (a multiple of 8) at `at`, continuing from s0, s1. */
function walChecksum(b: Buffer, at: number, len: number, bigEndian: boolean, s0: number, s1: number): [number, number] {
  for (let i = at; i < at + len; i += 8) {
    const x0 = bigEndian ? b.readUInt32BE(i) : b.readUInt32LE(i);
    const x1 = bigEndian ? b.readUInt32BE(i + 4) : b.readUInt32LE(i + 4);
    s0 = (s0 + x0 + s1) >>> 0;
    s1 = (s1 + x1 + s0) >>> 0;
  }
  return [s0, s1];
}

/** A fault of the table, not of one row, raised where a row is read: it ends the walk. */
class SqliteStructureError extends Error {
  constructor(readonly error: Error) {
    super(error.message);
  }
}
