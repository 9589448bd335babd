/**
 * A reader of rpm's own "ndb" package database (Packages.db: SUSE, openSUSE), as lib/backend/ndb/rpmpkg.c
 * describes it. Everything is little-endian u32:
 *
 * - a 32-byte header: magic "RpmP", version 0, generation, slot pages, next package index;
 * - the slot pages (4096 bytes each, the first 32 bytes of page 0 being the header): 16-byte slots of
 *   magic "Slot", package index, block offset, block count — a block offset of 0 is a free slot;
 * - blobs in 16-byte blocks after the slot pages: a head (magic "BlbS", package index, timestamp, length), the
 *   header blob, zero padding, and a tail (adler32 over head + blob + padding, length, magic "BlbE").
 *
 * rpm lists packages in the order of their blocks, and so does this. A damaged slot area throws; a slot or blob
 * that does not check out is reported and skipped.
 */
import { rpmdbInvalid } from './errors.js';

const PKGDB_MAGIC = 0x506d7052; // "RpmP"
const SLOT_MAGIC = 0x746f6c53; // "Slot"
const BLOBHEAD_MAGIC = 0x53626c42; // "BlbS"
const BLOBTAIL_MAGIC = 0x45626c42; // "BlbE"
const HEADER_SIZE = 32;
const SLOT_SIZE = 16;
const BLK_SIZE = 16;
const PAGE_SIZE = 4096;
const BLOBHEAD_SIZE = 16;
const BLOBTAIL_SIZE = 12;

export function isNdb(data: Buffer): boolean {
  return data.length >= 4 && data.readUInt32LE(0) === PKGDB_MAGIC;
}

export interface NdbRecord {
  pkgIdx: number;
  blob: Buffer;
}

interface Slot {
  pkgIdx: number;
  blkOff: number;
  blkCnt: number;
  slotNo: number;
}

/** Every package blob of an ndb Packages.db, in block order; problems with one slot or blob go to onBad. */
export function* ndbRecords(data: Buffer, path: string, onBad: (message: string) => void): Generator<NdbRecord> {
  if (data.length < HEADER_SIZE) throw rpmdbInvalid(path, `truncated: ${data.length} bytes, shorter than the 32-byte header`);
  if (!isNdb(data)) throw rpmdbInvalid(path, 'not an rpm ndb database (no "RpmP" magic)');
  const version = data.readUInt32LE(4);
  if (version !== 0) throw rpmdbInvalid(path, `ndb version ${version} is not 0`);
  const slotPages = data.readUInt32LE(12);
  if (slotPages === 0) throw rpmdbInvalid(path, 'the header claims no slot pages');
  if (slotPages * PAGE_SIZE > data.length) {
    throw rpmdbInvalid(path, `truncated: ${slotPages} slot pages of ${PAGE_SIZE} bytes need ${slotPages * PAGE_SIZE} bytes, the file has ${data.length}`);
  }
  const fileBlocks = Math.floor(data.length / BLK_SIZE);
  const minBlock = (slotPages * PAGE_SIZE) / BLK_SIZE;
  const slots: Slot[] = [];
  const seen = new Set<number>();
  for (let at = HEADER_SIZE, slotNo = HEADER_SIZE / SLOT_SIZE; at < slotPages * PAGE_SIZE; at += SLOT_SIZE, slotNo++) {
    if (data.readUInt32LE(at) !== SLOT_MAGIC) throw rpmdbInvalid(path, `slot ${slotNo} has no "Slot" magic`);
    const blkOff = data.readUInt32LE(at + 8);
    if (blkOff === 0) continue;
    const pkgIdx = data.readUInt32LE(at + 4);
    const blkCnt = data.readUInt32LE(at + 12);
    if (pkgIdx === 0 || blkCnt === 0 || blkOff < minBlock) {
      onBad(`slot ${slotNo}: package ${pkgIdx} at block ${blkOff} (${blkCnt} blocks) is not a valid slot; skipped`);
      continue;
    }
    if (blkOff + blkCnt > fileBlocks) {
      onBad(`slot ${slotNo}: package ${pkgIdx} at blocks ${blkOff}+${blkCnt} is past the end of the file (${fileBlocks} blocks); skipped`);
      continue;
    }
    if (seen.has(pkgIdx)) {
      onBad(`slot ${slotNo}: package ${pkgIdx} has a second slot; skipped`);
      continue;
    }
    seen.add(pkgIdx);
    slots.push({ pkgIdx, blkOff, blkCnt, slotNo });
  }
  slots.sort((a, b) => a.blkOff - b.blkOff);
  // rpm's blobs never overlap; blobs that do (to make the same bytes be read again and again) are skipped.
  let end = minBlock;
  for (const slot of slots) {
    if (slot.blkOff < end) {
      onBad(`slot ${slot.slotNo}: package ${slot.pkgIdx} at block ${slot.blkOff} overlaps the blob before it; skipped`);
      continue;
    }
    // A slot whose blob does not check out costs a few reads; only the blobs read take up room.
    const blob = readBlob(data, slot, onBad);
    if (!blob) continue;
    end = slot.blkOff + slot.blkCnt;
    yield { pkgIdx: slot.pkgIdx, blob };
  }
}

function readBlob(data: Buffer, slot: Slot, onBad: (message: string) => void): Buffer | undefined {
  const where = `package ${slot.pkgIdx} (slot ${slot.slotNo})`;
  const start = slot.blkOff * BLK_SIZE;
  const size = slot.blkCnt * BLK_SIZE;
  if (size < BLOBHEAD_SIZE + BLOBTAIL_SIZE) {
    onBad(`${where}: ${slot.blkCnt} blocks cannot hold a blob; skipped`);
    return undefined;
  }
  const head = data.subarray(start, start + BLOBHEAD_SIZE);
  if (head.readUInt32LE(0) !== BLOBHEAD_MAGIC || head.readUInt32LE(4) !== slot.pkgIdx) {
    onBad(`${where}: no blob of this package at block ${slot.blkOff}; skipped`);
    return undefined;
  }
  const length = head.readUInt32LE(12);
  if (Math.ceil((BLOBHEAD_SIZE + length + BLOBTAIL_SIZE) / BLK_SIZE) !== slot.blkCnt) {
    onBad(`${where}: a blob of ${length} bytes does not fill the slot's ${slot.blkCnt} blocks; skipped`);
    return undefined;
  }
  const tail = data.subarray(start + size - BLOBTAIL_SIZE, start + size);
  if (tail.readUInt32LE(8) !== BLOBTAIL_MAGIC || tail.readUInt32LE(4) !== length) {
    onBad(`${where}: the blob's tail does not match its head; skipped`);
    return undefined;
  }
  if (adler32(data.subarray(start, start + size - BLOBTAIL_SIZE)) !== tail.readUInt32LE(0)) {
    // rpm itself does not check the sum when it reads; a blob that is damaged still has to pass the header checks.
    onBad(`${where}: the blob's adler32 does not match`);
  }
  return data.subarray(start + BLOBHEAD_SIZE, start + BLOBHEAD_SIZE + length);
}

/** Adler-32 (RFC 1950). */
export function adler32(b: Buffer): number {
  let s1 = 1;
  let s2 = 0;
  for (let i = 0; i < b.length; ) {
    const end = Math.min(b.length, i + 5552);
    for (; i < end; i++) {
      s1 += b[i]!;
      s2 += s1;
    }
    s1 %= 65521;
    s2 %= 65521;
  }
  return ((s2 << 16) | s1) >>> 0;
}
