/**
 * Packages (Berkeley DB hash: RHEL ≤ 8, CentOS 7). Debian's rpm cannot write this backend any more, but it
 * still reads it (bdb_ro), and Berkeley DB itself is packaged: the headers rpm exports from the fixture
 * database are written by db5.3_load in both byte orders, several page sizes and fill factors (many buckets,
 * long bucket chains, big items over overflow pages), and wharf must read exactly what `rpm -qa` with bdb_ro
 * prints, in its order. Then the hostile files, hand-made, each named after its attack.
 */
import assert from 'node:assert/strict';
import { mkdir, writeFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { readRpmDatabase, readRpmDatabaseFile } from '../src/scan/rpmdb/index.js';
import { requirePeer, runPeer } from './helpers/peers.js';
import { bdbHashFile, exportHeaders, queryLine, rpmFixture, rpmQueryAll, simpleHeader, writeBdbWithDbLoad, type BdbLayout } from './helpers/rpmdb.js';
import { expectRpmdbInvalid, readPackageNames } from './helpers/rpmdb.js';

const DB = 'var/lib/rpm/Packages';

test('Packages written by Berkeley DB in both byte orders, pages of 512 to 65536 bytes, few and many buckets: wharf reads what rpm (bdb_ro) reads', async (t) => {
  const f = await rpmFixture(t);
  if (!f || !requirePeer(t, 'db5.3_load', 'db5.3-util')) return;
  const blobs = await exportHeaders(f.root);
  assert.equal(blobs.length, f.expected.length);
  const variants: Array<{ littleEndian: boolean; pageSize: number; ffactor?: number; copies?: number }> = [
    { littleEndian: true, pageSize: 4096 },
    { littleEndian: false, pageSize: 4096 },
    // Every header a big item on a chain of several overflow pages.
    { littleEndian: true, pageSize: 512 },
    { littleEndian: false, pageSize: 512, ffactor: 2 },
    // Few buckets holding many items (each header three times over): bucket pages chained through next_pgno.
    { littleEndian: true, pageSize: 512, ffactor: 400, copies: 3 },
    { littleEndian: false, pageSize: 65536 },
  ];
  for (const v of variants) {
    const name = `${v.littleEndian ? 'le' : 'be'}-${v.pageSize}-${v.ffactor ?? 'default'}`;
    const root = join(f.scratch, `bdb-${name}`);
    await mkdir(join(root, 'var/lib/rpm'), { recursive: true });
    const copies = v.copies ?? 1;
    await writeBdbWithDbLoad(join(root, DB), Array.from({ length: copies }, () => blobs).flat(), v);
    if (v.copies) {
      // The variant is there for its bucket chains: Berkeley DB says it made some.
      const stat = await runPeer('db5.3_stat', ['-d', join(root, DB)]);
      assert.ok(Number(/(\d+)\s+Number of bucket overflow pages/.exec(stat)?.[1]) > 0, stat);
    }
    const warnings: string[] = [];
    const db = await readRpmDatabase([{ path: DB, data: await readFile(join(root, DB)) }], (m) => warnings.push(m));
    assert.equal(db?.format, 'bdb', name);
    assert.deepEqual(warnings, [], name);
    const ours = db!.packages.map(queryLine);
    assert.deepEqual(ours, await rpmQueryAll(root, 'bdb_ro'), name);
    assert.deepEqual([...ours].sort(), Array.from({ length: copies }, () => f.expected).flat().sort(), name);
  }
});

test("the hostile tests' hand-made Berkeley DB file is one rpm (bdb_ro) reads the same way, in both byte orders", async (t) => {
  const f = await rpmFixture(t);
  if (!f) return;
  const blobs = [simpleHeader('hand-one', { epoch: 1 }), simpleHeader('hand-two', { padding: 3000 }), simpleHeader('hand-three')];
  for (const littleEndian of [true, false]) {
    const root = join(f.scratch, `hand-bdb-${littleEndian ? 'le' : 'be'}`);
    await mkdir(join(root, 'var/lib/rpm'), { recursive: true });
    const file = bdbHashFile(blobs, { littleEndian, pageSize: 512 }).file;
    await writeFile(join(root, DB), file);
    const ours = readRpmDatabaseFile(DB, file).packages.map(queryLine);
    assert.deepEqual(ours, await rpmQueryAll(root, 'bdb_ro'));
    assert.deepEqual(
      ours.map((l) => l.split('\t')[0]),
      ['hand-one', 'hand-two', 'hand-three'],
    );
  }
});

// ---------------------------------------------------------------------------------------------------------------
// Hostile files: each an RPMDB_INVALID, or a warning and the package skipped; never a hang or a crash.

const BLOBS = [simpleHeader('first'), simpleHeader('second', { padding: 5000 }), simpleHeader('third')];

const invalid = expectRpmdbInvalid;

const read = (file: Buffer): { names: string[]; warnings: string[] } => readPackageNames(DB, file);

function patched(patch: (l: BdbLayout, w32: (page: Buffer, v: number, at: number) => void) => void, littleEndian = true, blobs = BLOBS): Buffer {
  return bdbHashFile(blobs, {
    littleEndian,
    pageSize: 1024,
    patch: (l) => patch(l, (page, v, at) => (littleEndian ? page.writeUInt32LE(v, at) : page.writeUInt32BE(v, at))),
  }).file;
}

test('bdb: the hand-made file reads, in both byte orders', () => {
  for (const le of [true, false]) assert.deepEqual(read(patched(() => {}, le)), { names: ['first', 'second', 'third'], warnings: [] });
});

test('bdb: a bucket chain pointing outside the file', { timeout: 10_000 }, () => {
  invalid(() => read(patched((l, w32) => w32(l.pages[1]!, 99_999, 16))), /page number 99999 is outside the file/);
});

test('bdb: a cycle of bucket pages', { timeout: 10_000 }, () => {
  invalid(() => read(patched((l, w32) => w32(l.pages[1]!, 1, 16))), /reached twice/);
});

test('bdb: a cycle of overflow pages skips that package with a warning', { timeout: 10_000 }, () => {
  const r = read(
    patched((l, w32) => {
      const first = l.overflowOf[1]!;
      const second = l.pages[first]!.readUInt32LE(16);
      w32(l.pages[second]!, first, 16);
    }),
  );
  assert.deepEqual(r.names, ['first', 'third']);
  assert.equal(r.warnings.length, 1);
  assert.match(r.warnings[0]!, /header 2: .*overflow page \d+ is reached twice/);
});

test('bdb: an overflow page number outside the file skips that package', { timeout: 10_000 }, () => {
  const r = read(
    patched((l, w32) => {
      const first = l.overflowOf[1]!;
      w32(l.pages[first]!, 77_777, 16);
    }, false),
  );
  assert.deepEqual(r.names, ['first', 'third']);
  assert.match(r.warnings[0]!, /overflow page number 77777 is outside the file/);
});

test('bdb: a big item claiming 4 GiB is refused before anything is allocated', { timeout: 10_000 }, () => {
  const r = read(
    patched((l, w32) => {
      // The off-page item of record 2 (key 0, then records 1, 2): items 5 (its value) on the bucket page.
      const page = l.pages[1]!;
      const off = page.readUInt16LE(26 + 5 * 2);
      assert.equal(page[off], 3);
      w32(page, 0xffffffff, off + 8);
    }),
  );
  assert.deepEqual(r.names, ['first', 'third']);
  assert.match(r.warnings[0]!, /4294967295 bytes is larger than the whole file/);
});

test('bdb: a zero page size', { timeout: 10_000 }, () => {
  invalid(() => read(patched((l, w32) => w32(l.pages[0]!, 0, 20))), /page size 0 is not a power of two/);
});

test('bdb: a truncated file', { timeout: 10_000 }, () => {
  const file = patched(() => {});
  invalid(() => read(file.subarray(0, 100)), /truncated: 100 bytes/);
  invalid(() => read(file.subarray(0, file.length - 1024)), /truncated: the metadata says \d+ pages/);
});

test('bdb: an item offset outside the page', { timeout: 10_000 }, () => {
  invalid(() => read(patched((l) => l.pages[1]!.writeUInt16LE(5000, 26))), /item 0 at offset 5000 is outside the item area/);
});

test('bdb: an entry count larger than the page', { timeout: 10_000 }, () => {
  invalid(() => read(patched((l) => l.pages[1]!.writeUInt16LE(60_000, 20))), /claims 60000 items/);
});

test('bdb: more buckets than the file has pages', { timeout: 10_000 }, () => {
  invalid(() => read(patched((l, w32) => w32(l.pages[0]!, 0x7fffffff, 72))), /buckets cannot fit/);
});

test('bdb: a bucket page number that wraps around', { timeout: 10_000 }, () => {
  invalid(() => read(patched((l, w32) => w32(l.pages[0]!, 0xfffffff0, 96))), /outside the file/);
});

test('bdb: a page that says it is another page', { timeout: 10_000 }, () => {
  invalid(() => read(patched((l, w32) => w32(l.pages[1]!, 5, 8))), /page 1 says it is page 5/);
});

test('bdb: a page of another type in a bucket chain', { timeout: 10_000 }, () => {
  invalid(() => read(patched((l) => (l.pages[1]![25] = 5))), /type 5, not a hash page/);
});

test('bdb: a never-written (all-zero) bucket page is an empty bucket, as Berkeley DB reads it', { timeout: 10_000 }, () => {
  const file = patched((l, w32) => {
    // Two buckets: bucket 1 on a page that was allocated but never written.
    l.pages.push(Buffer.alloc(1024));
    w32(l.pages[0]!, l.pages.length - 1, 32);
    w32(l.pages[0]!, 1, 72);
    w32(l.pages[0]!, l.pages.length - 1 - 1, 100); // spares[1]: bucket 1 → page 1 + spares[1]
  });
  assert.deepEqual(read(file), { names: ['first', 'second', 'third'], warnings: [] });
});

test('bdb: a key that is not a header number skips that record', { timeout: 10_000 }, () => {
  const r = read(
    patched((l) => {
      // Key of record 3 (item 6): make it a 1-byte key by moving its start up 3 bytes inside its slot.
      const page = l.pages[1]!;
      const off = page.readUInt16LE(26 + 6 * 2);
      page[off + 3] = 1;
      page.writeUInt16LE(off + 3, 26 + 6 * 2);
    }),
  );
  assert.deepEqual(r.names, ['first', 'second']);
  assert.match(r.warnings[0]!, /a key of 1 bytes?, not a header number; skipped/);
});

test('bdb: a set of duplicates (which rpm never writes) skips that record', { timeout: 10_000 }, () => {
  const r = read(
    patched((l) => {
      const page = l.pages[1]!;
      page[page.readUInt16LE(26 + 3 * 2)] = 2; // H_DUPLICATE
    }),
  );
  assert.deepEqual(r.names, ['second', 'third']);
  assert.match(r.warnings[0]!, /header 1: .*duplicates/);
});

test('bdb: a btree file (an rpm index) in place of Packages', { timeout: 10_000 }, () => {
  invalid(() => read(patched((l, w32) => w32(l.pages[0]!, 0x00053162, 12))), /btree/);
});

test('bdb: an encrypted database', { timeout: 10_000 }, () => {
  invalid(() => read(patched((l) => (l.pages[0]![24] = 1))), /encrypted/);
});

test('bdb: 3000 big items sharing one overflow chain are read once, the rest skipped, in linear time', { timeout: 10_000 }, () => {
  const pageSize = 65536;
  const items = 3000;
  const large = simpleHeader('large', { padding: 1 << 20 });
  const layout = bdbHashFile([large], { pageSize });
  const chain = layout.overflowOf[0]!;
  // The bucket page rewritten: key i → an off-page item on the one chain, for i = 1…3000.
  const page = Buffer.alloc(pageSize);
  layout.pages[1]!.copy(page, 0, 0, 26);
  let top = pageSize;
  for (let i = 0; i < items; i++) {
    const key = Buffer.alloc(5);
    key[0] = 1;
    key.writeUInt32LE(i + 1, 1);
    const value = Buffer.alloc(12);
    value[0] = 3;
    value.writeUInt32LE(chain, 4);
    value.writeUInt32LE(large.length, 8);
    for (const [n, it] of [key, value].entries()) {
      top -= it.length;
      it.copy(page, top);
      page.writeUInt16LE(top, 26 + (i * 2 + n) * 2);
    }
  }
  page.writeUInt16LE(items * 2, 20);
  page.writeUInt16LE(top, 22);
  layout.pages[1] = page;
  const started = Date.now();
  const r = read(Buffer.concat(layout.pages));
  assert.ok(Date.now() - started < 3_000, `${Date.now() - started} ms`);
  assert.ok(r.names.length >= 1 && r.names.length < 3, `${r.names.length} read`);
  assert.match(r.warnings.join('\n'), /the big items claim more bytes than the file holds/);
  assert.match(r.warnings[r.warnings.length - 1]!, /more problems not shown/);
});
