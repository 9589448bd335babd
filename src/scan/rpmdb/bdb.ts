/**
 * A read-only reader of the Berkeley DB hash access method, in either byte order, as rpm's Packages file uses
 * it (RHEL ≤ 8, CentOS 7, Amazon Linux 2): key = header number (u32, the writer's byte order), value = the
 * header blob. Layout, from Berkeley DB's db_page.h / hash.h:
 *
 * - page 0, the hash metadata page: the generic DBMETA (lsn 0, pgno 8, magic 12 = 0x061561, version 16,
 *   pagesize 20, encrypt_alg 24, type 25 = P_HASHMETA 8, last_pgno 32) then max_bucket 72, high_mask 76,
 *   low_mask 80, … spares[32] at 96. The magic read in the wrong byte order tells a file of the other one.
 * - bucket b lives on page b + spares[number of bits of b]; its chain continues through next_pgno.
 * - a page header is 26 bytes: lsn 0, pgno 8, prev_pgno 12, next_pgno 16, entries 20 (u16), hf_offset 22
 *   (u16), level 24, type 25; then `entries` u16 offsets of the items, which fill the page from its end.
 * - on a hash page (P_HASH 13, P_HASH_UNSORTED 2) items alternate key, value; an item's first byte is its kind:
 *   H_KEYDATA 1 (the bytes follow), H_OFFPAGE 3 (u32 pgno at +4, u32 total length at +8: a "big item" on a
 *   chain of P_OVERFLOW 7 pages, each holding hf_offset bytes after its header), H_DUPLICATE/H_OFFDUP.
 *
 * A page never written is all zeros; Berkeley DB reads such a bucket as empty, and so does this. Chains and
 * overflow chains are walked with every page seen once (a cycle is an error, never a hang).
 */
import { rpmdbInvalid } from './errors.js';

const HASH_MAGIC = 0x00061561;
const BTREE_MAGIC = 0x00053162;
const P_HASH_UNSORTED = 2;
const P_OVERFLOW = 7;
const P_HASHMETA = 8;
const P_HASH = 13;
const H_KEYDATA = 1;
const H_DUPLICATE = 2;
const H_OFFPAGE = 3;
const H_OFFDUP = 4;
const PAGE_HEADER = 26;

export type BdbMagic = 'hash' | 'btree';

/** Whether `data` starts like a Berkeley DB file, and which access method. */
export function bdbMagic(data: Buffer): BdbMagic | undefined {
  if (data.length < 16) return undefined;
  for (const m of [data.readUInt32LE(12), data.readUInt32BE(12)]) {
    if (m === HASH_MAGIC) return 'hash';
    if (m === BTREE_MAGIC) return 'btree';
  }
  return undefined;
}

export interface BdbRecord {
  key: Buffer;
  value: Buffer;
}

export class BdbHashFile {
  readonly pageSize: number;
  readonly littleEndian: boolean;
  readonly pageCount: number;
  private readonly maxBucket: number;
  private readonly spares: number[] = [];
  /** Bytes the big items may still claim: in a sound file they lie on distinct overflow pages. */
  private overflowBudget: number;

  constructor(
    private readonly data: Buffer,
    private readonly path: string,
  ) {
    if (data.length < 512) throw this.invalid(`truncated: ${data.length} bytes, shorter than a metadata page`);
    const le = data.readUInt32LE(12);
    const be = data.readUInt32BE(12);
    if (le === BTREE_MAGIC || be === BTREE_MAGIC) throw this.invalid('a Berkeley DB btree, not the hash database rpm keeps its packages in');
    if (le !== HASH_MAGIC && be !== HASH_MAGIC) throw this.invalid('not a Berkeley DB hash database');
    this.littleEndian = le === HASH_MAGIC;
    const version = this.u32(data, 16);
    if (version < 8 || version > 10) throw this.invalid(`hash version ${version} is not one this reader knows (8 to 10)`);
    const pageSize = this.u32(data, 20);
    if (pageSize < 512 || pageSize > 65536 || (pageSize & (pageSize - 1)) !== 0) {
      throw this.invalid(`page size ${pageSize} is not a power of two between 512 and 65536`);
    }
    this.pageSize = pageSize;
    if (data[24] !== 0) throw this.invalid('the database is encrypted');
    if (data[25] !== P_HASHMETA) throw this.invalid(`page 0 has type ${data[25]}, not a hash metadata page`);
    const lastPgno = this.u32(data, 32);
    const filePages = Math.floor(data.length / pageSize);
    if (lastPgno >= filePages) throw this.invalid(`truncated: the metadata says ${lastPgno + 1} pages of ${pageSize} bytes, the file holds ${filePages}`);
    this.pageCount = lastPgno + 1;
    this.maxBucket = this.u32(data, 72);
    // Every bucket has a page of its own: more buckets than pages is a lie.
    if (this.maxBucket >= this.pageCount) throw this.invalid(`${this.maxBucket + 1} buckets cannot fit in ${this.pageCount} pages`);
    for (let i = 0; i < 32; i++) this.spares.push(this.u32(data, 96 + i * 4));
    this.overflowBudget = this.pageCount * (pageSize - PAGE_HEADER);
  }

  private invalid(message: string): Error {
    return rpmdbInvalid(this.path, message);
  }

  private u32(b: Buffer, at: number): number {
    return this.littleEndian ? b.readUInt32LE(at) : b.readUInt32BE(at);
  }

  private u16(b: Buffer, at: number): number {
    return this.littleEndian ? b.readUInt16LE(at) : b.readUInt16BE(at);
  }

  /** Decode a u32 key as the writer stored it. */
  keyNumber(key: Buffer): number {
    return this.u32(key, 0);
  }

  /** Page `pgno`, or undefined for a page never written (all zeros). */
  private page(pgno: number, what: string): Buffer | undefined {
    if (pgno < 1 || pgno >= this.pageCount) throw this.invalid(`${what}: page number ${pgno} is outside the file (${this.pageCount} pages)`);
    const page = this.data.subarray(pgno * this.pageSize, (pgno + 1) * this.pageSize);
    if (this.u32(page, 8) !== pgno) {
      if (page.every((b) => b === 0)) return undefined;
      throw this.invalid(`${what}: page ${pgno} says it is page ${this.u32(page, 8)}`);
    }
    return page;
  }

  private bucketPage(bucket: number): number {
    let bits = 0;
    for (let b = bucket; b > 0; b >>>= 1) bits++;
    return bucket + this.spares[bits]!;
  }

  /**
   * Every key/value pair, bucket by bucket. A damaged bucket chain throws; a value whose overflow chain is
   * damaged is given to onBadItem and skipped, as are duplicate sets (rpm never writes them).
   */
  *records(onBadItem: (key: Buffer | undefined, message: string) => void): Generator<BdbRecord> {
    const visited = new Set<number>();
    for (let bucket = 0; bucket <= this.maxBucket; bucket++) {
      let pgno = this.bucketPage(bucket);
      const what = `bucket ${bucket}`;
      while (pgno !== 0) {
        if (visited.has(pgno)) throw this.invalid(`${what}: page ${pgno} is reached twice (a cycle in the bucket chains)`);
        visited.add(pgno);
        const page = this.page(pgno, what);
        if (!page) break;
        const type = page[25];
        if (type !== P_HASH && type !== P_HASH_UNSORTED) throw this.invalid(`${what}: page ${pgno} has type ${type}, not a hash page`);
        const entries = this.u16(page, 20);
        const first = PAGE_HEADER + entries * 2;
        if (first > this.pageSize) throw this.invalid(`${what}: page ${pgno} claims ${entries} items, more than fit`);
        if (entries % 2 !== 0) throw this.invalid(`${what}: page ${pgno} has an odd number of items (${entries})`);
        let end = this.pageSize;
        const item = (i: number): Buffer => {
          const off = this.u16(page, PAGE_HEADER + i * 2);
          if (off < first || off >= end) throw this.invalid(`${what}: page ${pgno} item ${i} at offset ${off} is outside the item area`);
          const bytes = page.subarray(off, end);
          end = off;
          return bytes;
        };
        for (let i = 0; i < entries; i += 2) {
          const k = item(i);
          const v = item(i + 1);
          let key: Buffer | undefined;
          try {
            key = this.itemValue(k, `${what} page ${pgno} key ${i / 2}`);
            const value = this.itemValue(v, `${what} page ${pgno} value ${i / 2}`);
            yield { key, value };
          } catch (err) {
            if (!(err instanceof ItemError)) throw err;
            onBadItem(key, err.message);
          }
        }
        pgno = this.u32(page, 16);
      }
    }
  }

  private itemValue(item: Buffer, where: string): Buffer {
    const kind = item[0];
    if (kind === H_KEYDATA) return item.subarray(1);
    if (kind === H_OFFPAGE) {
      if (item.length !== 12) throw new ItemError(`${where}: an off-page item of ${item.length} bytes, not 12`);
      return this.overflow(this.u32(item, 4), this.u32(item, 8), where);
    }
    if (kind === H_DUPLICATE || kind === H_OFFDUP) throw new ItemError(`${where}: a set of duplicates, which rpm never writes`);
    throw new ItemError(`${where}: unknown item kind ${kind}`);
  }

  /** A big item: `length` bytes on the chain of overflow pages starting at `pgno`. */
  private overflow(pgno: number, length: number, where: string): Buffer {
    // No item is larger than the pages that could hold it: checked before anything is allocated.
    if (length > this.pageCount * (this.pageSize - PAGE_HEADER)) throw new ItemError(`${where}: a big item of ${length} bytes is larger than the whole file`);
    // Big items that share overflow pages (to make the same pages be copied again and again) run out of budget.
    if (length > this.overflowBudget) throw new ItemError(`${where}: the big items claim more bytes than the file holds (they share overflow pages)`);
    this.overflowBudget -= length;
    const out = Buffer.allocUnsafe(length);
    let filled = 0;
    const seen = new Set<number>();
    while (filled < length) {
      if (pgno === 0) throw new ItemError(`${where}: the overflow chain ends after ${filled} of ${length} bytes`);
      if (pgno >= this.pageCount) throw new ItemError(`${where}: overflow page number ${pgno} is outside the file (${this.pageCount} pages)`);
      if (seen.has(pgno)) throw new ItemError(`${where}: overflow page ${pgno} is reached twice (a cycle)`);
      seen.add(pgno);
      const page = this.data.subarray(pgno * this.pageSize, (pgno + 1) * this.pageSize);
      if (this.u32(page, 8) !== pgno || page[25] !== P_OVERFLOW) throw new ItemError(`${where}: page ${pgno} is not an overflow page`);
      const n = this.u16(page, 22);
      if (n > this.pageSize - PAGE_HEADER || n > length - filled) throw new ItemError(`${where}: overflow page ${pgno} claims ${n} bytes, more than fit`);
      if (n === 0) throw new ItemError(`${where}: overflow page ${pgno} holds no bytes`);
      page.copy(out, filled, PAGE_HEADER, PAGE_HEADER + n);
      filled += n;
      pgno = this.u32(page, 16);
    }
    return out;
  }
}

/** A problem with one item, not with the file: the item is skipped. */
class ItemError extends Error {}
