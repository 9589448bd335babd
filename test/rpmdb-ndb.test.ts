/**
 * Packages.db (rpm's ndb backend: SUSE). Debian's rpm is built without ndb, so no peer can write or read one
 * here: the files are written by the test helper from rpm's description of the format (lib/backend/ndb/rpmpkg.c)
 * around the very headers rpm exports from the fixture database, and wharf must list what `rpm -qa` lists of
 * those headers, in block order as rpm does. Then the hostile files, each named after its attack.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readRpmDatabaseFile } from '../src/scan/rpmdb/index.js';
import { exportHeaders, ndbFile, queryLine, rpmFixture, rpmHeader, simpleHeader } from './helpers/rpmdb.js';
import { expectRpmdbInvalid, readPackageNames } from './helpers/rpmdb.js';

const DB = 'usr/lib/sysimage/rpm/Packages.db';

function swapSlots(file: Buffer, a: number, b: number): void {
  const sa = Buffer.from(file.subarray(a, a + 16));
  file.copy(file, a, b, b + 16);
  sa.copy(file, b);
}

test("Packages.db around the headers rpm exports: wharf lists what rpm -qa lists of them, in block order whatever the slot order", async (t) => {
  const f = await rpmFixture(t);
  if (!f) return;
  const blobs = await exportHeaders(f.root);
  // Package numbers counting down while the blocks go up, and the slots shuffled: the order is the blocks'.
  const records = blobs.map((blob, i) => ({ pkgIdx: 1000 - i, blob }));
  const file = ndbFile(records, {
    patch: (file, slotAt) => {
      for (let i = 0; i + 1 < records.length; i += 3) swapSlots(file, slotAt(i), slotAt(i + 1));
    },
  });
  const warnings: string[] = [];
  const db = readRpmDatabaseFile(DB, file, { onWarning: (m) => warnings.push(m) });
  assert.equal(db.format, 'ndb');
  assert.deepEqual(warnings, []);
  assert.deepEqual(db.packages.map(queryLine), f.expected);
});

test('ndb: 600 packages spill onto three slot pages', { timeout: 10_000 }, () => {
  const records = Array.from({ length: 600 }, (_, i) => ({ pkgIdx: i + 1, blob: simpleHeader(`pkg-${i + 1}`) }));
  const file = ndbFile(records);
  assert.equal(file.readUInt32LE(12), 3);
  const db = readRpmDatabaseFile(DB, file);
  assert.equal(db.packages.length, 600);
  assert.equal(db.packages[599]!.name, 'pkg-600');
});

// ---------------------------------------------------------------------------------------------------------------
// Hostile files: each an RPMDB_INVALID, or a warning and the package skipped; never a hang or a crash.

const RECORDS = [
  { pkgIdx: 1, blob: simpleHeader('first') },
  { pkgIdx: 2, blob: simpleHeader('second', { padding: 3000 }) },
  { pkgIdx: 3, blob: simpleHeader('third') },
];

const invalid = expectRpmdbInvalid;

const read = (file: Buffer): { names: string[]; warnings: string[] } => readPackageNames(DB, file);

const patched = (patch: (file: Buffer, slotAt: (i: number) => number, blobAt: number[]) => void) => ndbFile(RECORDS, { patch });

test('ndb: the hand-made file reads', () => {
  assert.deepEqual(read(ndbFile(RECORDS)), { names: ['first', 'second', 'third'], warnings: [] });
});

test('ndb: a slot pointing outside the file skips that package', { timeout: 10_000 }, () => {
  const r = read(patched((file, slotAt) => file.writeUInt32LE(0x0fffffff, slotAt(1) + 8)));
  assert.deepEqual(r.names, ['first', 'third']);
  assert.match(r.warnings[0]!, /slot 3: package 2 .* past the end of the file/);
});

test('ndb: a slot pointing into the slot pages skips that package', { timeout: 10_000 }, () => {
  const r = read(patched((file, slotAt) => file.writeUInt32LE(4, slotAt(0) + 8)));
  assert.deepEqual(r.names, ['second', 'third']);
  assert.match(r.warnings[0]!, /not a valid slot/);
});

test('ndb: zero slot pages', { timeout: 10_000 }, () => {
  invalid(() => read(patched((file) => file.writeUInt32LE(0, 12))), /no slot pages/);
});

test('ndb: slot pages claiming 2^32 - 1 pages are refused before anything is allocated', { timeout: 10_000 }, () => {
  invalid(() => read(patched((file) => file.writeUInt32LE(0xffffffff, 12))), /truncated: 4294967295 slot pages/);
});

test('ndb: a truncated file', { timeout: 10_000 }, () => {
  const file = ndbFile(RECORDS);
  invalid(() => read(file.subarray(0, 20)), /truncated: 20 bytes/);
  invalid(() => read(file.subarray(0, 2000)), /truncated: 1 slot pages/);
  // Cut inside the last blob: that package is gone, the others are read.
  const r = read(file.subarray(0, file.length - 40));
  assert.deepEqual(r.names, ['first', 'second']);
  assert.match(r.warnings[0]!, /package 3 .* past the end of the file/);
});

test('ndb: a slot without its magic', { timeout: 10_000 }, () => {
  invalid(() => read(patched((file, slotAt) => file.writeUInt32LE(0, slotAt(7)))), /slot 9 has no "Slot" magic/);
});

test('ndb: a blob length that does not match its blocks skips that package', { timeout: 10_000 }, () => {
  const r = read(patched((file, _slotAt, blobAt) => file.writeUInt32LE(0x7fffffff, blobAt[1]! + 12)));
  assert.deepEqual(r.names, ['first', 'third']);
  assert.match(r.warnings[0]!, /a blob of 2147483647 bytes does not fill/);
});

test("ndb: a slot pointing at another package's blob skips it", { timeout: 10_000 }, () => {
  const r = read(patched((file, slotAt) => file.writeUInt32LE(file.readUInt32LE(slotAt(2) + 8), slotAt(0) + 8)));
  assert.deepEqual(r.names, ['second', 'third']);
  assert.match(r.warnings[0]!, /package 1 .*no blob of this package/);
});

test('ndb: a damaged blob (adler32 mismatch) is told, and read when its header holds', { timeout: 10_000 }, () => {
  const r = read(patched((file, _slotAt, blobAt) => file.writeUInt32LE(1, blobAt[2]! + 8))); // the timestamp
  assert.deepEqual(r.names, ['first', 'second', 'third']);
  assert.match(r.warnings[0]!, /package 3 .*adler32 does not match/);
});

test('ndb: two slots for one package', { timeout: 10_000 }, () => {
  const r = read(patched((file, slotAt) => file.writeUInt32LE(1, slotAt(2) + 4)));
  assert.deepEqual(r.names, ['first', 'second']);
  assert.match(r.warnings[0]!, /package 1 has a second slot/);
});

test('ndb: a version this reader does not know', { timeout: 10_000 }, () => {
  invalid(() => read(patched((file) => file.writeUInt32LE(1, 4))), /ndb version 1 is not 0/);
});

test('ndb: a blob hidden inside another blob (overlapping slots) is skipped: no byte is read twice', { timeout: 10_000 }, () => {
  // The ndb bytes of package 2's blob, carried inside package 1's header as a BIN value placed on a block boundary.
  const inner = ndbFile([{ pkgIdx: 2, blob: simpleHeader('inner') }]);
  const innerBlocks = inner.readUInt32LE(32 + 12);
  const innerBytes = inner.subarray(4096, 4096 + innerBlocks * 16);
  const before = 4096 + 16 + 8 + 4 * 16 + 'outer\0'.length + '1\0'.length + '1\0'.length;
  const pad = Buffer.alloc((16 - (before % 16)) % 16);
  const outer = rpmHeader([
    { tag: 1000, type: 6, value: 'outer' },
    { tag: 1001, type: 6, value: '1' },
    { tag: 1002, type: 6, value: '1' },
    { tag: 1005, type: 7, value: Buffer.concat([pad, innerBytes]) },
  ]);
  const file = ndbFile(
    [
      { pkgIdx: 1, blob: outer },
      { pkgIdx: 2, blob: simpleHeader('inner') },
    ],
    {
      patch: (f, slotAt) => {
        const at = before + pad.length;
        assert.equal(f.readUInt32LE(at), 0x53626c42, 'the hidden blob starts on a block');
        f.writeUInt32LE(at / 16, slotAt(1) + 8);
      },
    },
  );
  const r = read(file);
  assert.deepEqual(r.names, ['outer']);
  assert.match(r.warnings[0]!, /package 2 at block \d+ overlaps the blob before it; skipped/);
});
