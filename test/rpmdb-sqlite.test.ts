/**
 * rpmdb.sqlite (Fedora ≥ 33, RHEL 9): wharf's own SQLite reader against the real thing. Rpms built by
 * rpmbuild are installed by rpm into a temporary root; wharf must read exactly what `rpm -qa` prints, in the
 * same order — on rpm's file, on the same file rewritten by sqlite3 with other page sizes and reserved bytes,
 * and with a write-ahead log that was never checkpointed (whole, cut short, or with a damaged frame: rpm, i.e.
 * SQLite itself, decides which commits count). Then the hostile files, each named after its attack.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cp, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { readRpmDatabase, readRpmDatabaseFile, type RpmDatabase } from '../src/scan/rpmdb/index.js';
import { requirePeer, runPeer } from './helpers/peers.js';
import { queryLine, rpmFixture, rpmHeader, rpmQueryAll, simpleHeader, sqliteFile, type SqliteLayout } from './helpers/rpmdb.js';
import { expectRpmdbInvalid, readPackageNames } from './helpers/rpmdb.js';

const DB = 'var/lib/rpm/rpmdb.sqlite';

async function readRoot(root: string, withWal = true): Promise<{ db: RpmDatabase | undefined; warnings: string[] }> {
  const files = [{ path: DB, data: await readFile(join(root, DB)) }];
  if (withWal) {
    const wal = await readFile(join(root, `${DB}-wal`)).catch(() => undefined);
    if (wal) files.push({ path: `${DB}-wal`, data: wal });
  }
  const warnings: string[] = [];
  const db = await readRpmDatabase(files, (m) => warnings.push(m));
  return { db, warnings };
}

function lines(db: RpmDatabase | undefined): string[] {
  assert.ok(db, 'an rpm database was found');
  return db.packages.map(queryLine);
}

test("rpm's own rpmdb.sqlite: wharf reads exactly what rpm -qa prints, in the same order", async (t) => {
  const f = await rpmFixture(t);
  if (!f) return;
  assert.equal(f.expected.length, f.rpms.length);
  const { db, warnings } = await readRoot(f.root);
  assert.deepEqual(warnings, []);
  assert.equal(db?.format, 'sqlite');
  assert.deepEqual(lines(db), f.expected);
  // The source package of a subpackage, from its SOURCERPM; epochs 0 and absent kept apart.
  const sub = db!.packages.find((p) => p.name === 'wharf-many-sub-7')!;
  assert.deepEqual([sub.sourceRpm, sub.sourceName, sub.sourceVersion, sub.sourceRelease], ['wharf-many-3.0-7.suse.src.rpm', 'wharf-many', '3.0', '7.suse']);
  assert.equal(db!.packages.find((p) => p.name === 'wharf-zero')!.epoch, 0);
  assert.equal('epoch' in db!.packages.find((p) => p.name === 'wharf-big')!, false);
  assert.equal(db!.packages.find((p) => p.name === 'wharf-lib++-devel')!.version, '2.0~rc1^git3');
});

test('the same database rewritten by sqlite3 with 512- and 65536-byte pages and 40 reserved bytes a page: wharf agrees with rpm', async (t) => {
  const f = await rpmFixture(t);
  if (!f || !requirePeer(t, 'sqlite3')) return;
  const variants: Array<[string, string[]]> = [
    ['512', ['PRAGMA page_size=512;']],
    ['65536', ['PRAGMA page_size=65536;']],
    ['reserved', ['.filectrl reserve_bytes 40', 'PRAGMA page_size=1024;']],
  ];
  for (const [name, pragmas] of variants) {
    const root = join(f.scratch, `sqlite-${name}`);
    await cp(f.root, root, { recursive: true });
    await runPeer('sqlite3', [join(root, DB), 'PRAGMA journal_mode=DELETE;', ...pragmas, 'VACUUM;']);
    const { db, warnings } = await readRoot(root, false);
    assert.deepEqual(warnings, [], name);
    const ours = lines(db);
    assert.deepEqual(ours, await rpmQueryAll(root), name);
    assert.deepEqual(ours, f.expected, name);
  }
});

/** Run sqlite3 on `db` with `statements`, then copy the database and its WAL to `to` while the connection is still open (nothing checkpointed). */
async function walSnapshot(db: string, statements: string[], to: string): Promise<void> {
  await mkdir(to, { recursive: true });
  const script = ['PRAGMA journal_mode=WAL;', 'PRAGMA wal_autocheckpoint=0;', ...statements, `.shell cp '${db}' '${db}-wal' '${to}/'`, ''].join('\n');
  await new Promise<void>((resolve, reject) => {
    const p = spawn('sqlite3', [db], { stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d) => (err += d));
    p.on('error', reject);
    p.on('close', (code) => (code === 0 && !err ? resolve() : reject(new Error(`sqlite3 failed (${code}): ${err}`))));
    p.stdin.end(script);
  });
}

test('a write-ahead log never checkpointed: its committed frames count; cut short or with a damaged frame, the same commits as SQLite itself', async (t) => {
  const f = await rpmFixture(t);
  if (!f || !requirePeer(t, 'sqlite3')) return;
  const work = join(f.scratch, 'wal-work');
  await cp(f.root, work, { recursive: true });
  const snap = join(f.scratch, 'wal-snap');
  // Two commits: two packages removed, then one added twice over (a copy of row 5).
  await walSnapshot(join(work, DB), ['DELETE FROM Packages WHERE hnum IN (2, 3);', 'INSERT INTO Packages(blob) SELECT blob FROM Packages WHERE hnum = 5;'], snap);
  const main = await readFile(join(snap, 'rpmdb.sqlite'));
  const wal = await readFile(join(snap, 'rpmdb.sqlite-wal'));
  assert.ok(wal.length > 32, 'the WAL holds frames');

  const cases: Array<[string, Buffer]> = [
    ['whole', wal],
    // The last frame cut in half: the second commit is gone.
    ['cut', wal.subarray(0, wal.length - 100)],
    // The last frame's page damaged: its checksum fails, and with it the second commit.
    ['damaged', Buffer.concat([wal.subarray(0, wal.length - 10), Buffer.from(wal.subarray(wal.length - 10).map((b) => b ^ 0xff))])],
  ];
  const seen = new Set<string>();
  for (const [name, w] of cases) {
    const root = join(f.scratch, `wal-${name}`);
    await mkdir(join(root, 'var/lib/rpm'), { recursive: true });
    await writeFile(join(root, DB), main);
    await writeFile(join(root, `${DB}-wal`), w);
    const warnings: string[] = [];
    const db = await readRpmDatabase([{ path: DB, data: main }, { path: `${DB}-wal`, data: w }], (m) => warnings.push(m));
    assert.deepEqual(warnings, [], name);
    const ours = lines(db);
    // rpm runs on its own copy: SQLite checkpoints the WAL when it closes.
    assert.deepEqual(ours, await rpmQueryAll(root), name);
    seen.add(ours.join('\n'));
  }
  const whole = lines(await readRpmDatabase([{ path: DB, data: main }, { path: `${DB}-wal`, data: wal }]));
  assert.equal(whole.length, f.expected.length - 2 + 1);
  assert.equal(seen.size, 2, 'the cut and damaged logs lose the second commit');
  // Without its WAL the file alone is the state before both commits.
  assert.deepEqual(lines(await readRpmDatabase([{ path: DB, data: main }])), f.expected);
});

test("the hostile tests' hand-made SQLite file is one sqlite3 and rpm read the same way", async (t) => {
  if (!requirePeer(t, 'sqlite3') || !requirePeer(t, 'rpm')) return;
  const f = await rpmFixture(t);
  if (!f) return;
  const rows = [
    { rowid: 1, blob: simpleHeader('hand-one', { epoch: 3 }) },
    { rowid: 2, blob: simpleHeader('hand-two', { padding: 9000 }) },
    { rowid: 7, blob: simpleHeader('hand-three', { arch: 'x86_64', padding: 3000 }) },
  ];
  for (const pageSize of [512, 4096]) {
    const root = join(f.scratch, `hand-sqlite-${pageSize}`);
    await mkdir(join(root, 'var/lib/rpm'), { recursive: true });
    const file = sqliteFile(rows, { pageSize }).file;
    await writeFile(join(root, DB), file);
    assert.equal((await runPeer('sqlite3', [join(root, DB), 'PRAGMA integrity_check;'])).trim(), 'ok');
    assert.equal((await runPeer('sqlite3', [join(root, DB), 'SELECT group_concat(hnum) FROM Packages;'])).trim(), '1,2,7');
    const ours = lines(readRpmDatabaseFile(DB, file));
    // rpm opens a database read-only only when its index tables are there: sqlite3 adds them (rpm's own
    // schema, from the fixture's database) to a copy, leaving the Packages b-tree as the writer made it.
    const schema = (await runPeer('sqlite3', [join(f.root, DB), '.schema']))
      .split('\n')
      .filter((l) => l.startsWith('CREATE') && !/'Packages' \(|sqlite_/.test(l));
    await runPeer('sqlite3', [join(root, DB), ...schema]);
    assert.deepEqual(ours, await rpmQueryAll(root));
    assert.deepEqual(
      ours.map((l) => l.split('\t')[0]),
      ['hand-one', 'hand-two', 'hand-three'],
    );
  }
});

// ---------------------------------------------------------------------------------------------------------------
// Hostile files: each an RPMDB_INVALID, or a warning and the package skipped; never a hang or a crash.

const ROWS = [
  { rowid: 1, blob: simpleHeader('first') },
  { rowid: 2, blob: simpleHeader('second', { padding: 20000 }) },
  { rowid: 3, blob: simpleHeader('third') },
];

const invalid = expectRpmdbInvalid;

const read = (file: Buffer): { names: string[]; warnings: string[] } => readPackageNames(DB, file);

function patched(patch: (l: SqliteLayout) => void, rows = ROWS): Buffer {
  return sqliteFile(rows, { patch }).file;
}

test('sqlite: the hand-made file reads', () => {
  assert.deepEqual(read(patched(() => {})), { names: ['first', 'second', 'third'], warnings: [] });
});

test('sqlite: a child page number pointing outside the file', { timeout: 10_000 }, () => {
  invalid(() => read(patched((l) => l.pages[2]!.writeUInt32BE(999_999, 8))), /page number 999999 is outside the database/);
});

test('sqlite: a b-tree page that is its own child (a cycle)', { timeout: 10_000 }, () => {
  invalid(() => read(patched((l) => l.pages[2]!.writeUInt32BE(2, 8))), /reached twice/);
});

test('sqlite: two interior cells pointing at the same leaf', { timeout: 10_000 }, () => {
  invalid(() => read(patched((l) => l.pages[2]!.writeUInt32BE(l.leafOf[0]!, 8))), /reached twice/);
});

test('sqlite: a cycle of overflow pages skips that package with a warning', { timeout: 10_000 }, () => {
  const r = read(
    patched((l) => {
      // The second page of the chain points back at the first, long before the payload is complete.
      const first = l.overflowOf[1]!;
      const second = l.pages[first]!.readUInt32BE(0);
      l.pages[second]!.writeUInt32BE(first, 0);
    }),
  );
  assert.deepEqual(r.names, ['first', 'third']);
  assert.equal(r.warnings.length, 1);
  assert.match(r.warnings[0]!, /row 2: .*(reached twice|cycle)/);
});

test('sqlite: an overflow page number pointing outside the file skips that package', { timeout: 10_000 }, () => {
  const r = read(
    patched((l) => {
      // The leaf's one cell ends the page, and the overflow pointer ends the cell.
      l.pages[l.leafOf[1]!]!.writeUInt32BE(123_456, 4096 - 4);
    }),
  );
  assert.deepEqual(r.names, ['first', 'third']);
  assert.match(r.warnings[0]!, /row 2: .*page number 123456 is outside/);
});

test('sqlite: a payload claiming 2^62 bytes is refused before anything is allocated', { timeout: 10_000 }, () => {
  const r = read(
    patched((l) => {
      const leaf = l.pages[l.leafOf[0]!]!;
      // A new cell in the free part of the page: size 2^62, rowid 1, a few bytes.
      const cell = Buffer.from([0xc0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0, 0]);
      cell.copy(leaf, 200);
      leaf.writeUInt16BE(200, 8);
    }),
  );
  assert.deepEqual(r.names, ['second', 'third']);
  assert.match(r.warnings[0]!, /row 1: .*larger than the whole database/);
});

test('sqlite: a zero page size', { timeout: 10_000 }, () => {
  invalid(() => read(patched((l) => l.pages[1]!.writeUInt16BE(0, 16))), /page size 0 is not a power of two/);
});

test('sqlite: a page size that is not a power of two', { timeout: 10_000 }, () => {
  invalid(() => read(patched((l) => l.pages[1]!.writeUInt16BE(1000, 16))), /page size 1000/);
});

test('sqlite: a truncated file', { timeout: 10_000 }, () => {
  const file = patched(() => {});
  invalid(() => read(file.subarray(0, 60)), /truncated: 60 bytes/);
  invalid(() => read(file.subarray(0, 3000)), /truncated: 3000 bytes, shorter than one page/);
  invalid(() => read(file.subarray(0, file.length - 4096)), /truncated: the header says \d+ pages/);
});

test('sqlite: a cell count larger than the page', { timeout: 10_000 }, () => {
  invalid(() => read(patched((l) => l.pages[l.leafOf[0]!]!.writeUInt16BE(60_000, 3))), /claims 60000 cells/);
});

test('sqlite: a cell pointer outside the page', { timeout: 10_000 }, () => {
  invalid(() => read(patched((l) => l.pages[l.leafOf[0]!]!.writeUInt16BE(5000, 8))), /offset 5000 is outside the cell area/);
});

test('sqlite: a varint running off the end of the page', { timeout: 10_000 }, () => {
  invalid(
    () =>
      read(
        patched((l) => {
          const leaf = l.pages[l.leafOf[0]!]!;
          leaf.fill(0xff, 4090);
          leaf.writeUInt16BE(4090, 8);
        }),
      ),
    /cut off/,
  );
});

test('sqlite: a record header longer than its payload skips that package', { timeout: 10_000 }, () => {
  const r = read(
    patched((l) => {
      const leaf = l.pages[l.leafOf[2]!]!;
      const at = leaf.readUInt16BE(8);
      // Payload size (2 bytes), rowid (1), record header size (1), NULL (1), then the blob's serial type
      // (2 bytes): make it claim 8185 bytes.
      leaf[at + 5] = 0xff;
      leaf[at + 6] = 0x7f;
    }),
  );
  assert.deepEqual(r.names, ['first', 'second']);
  assert.match(r.warnings[0]!, /row 3: .*record/);
});

test('sqlite: a page that is not a table b-tree page', { timeout: 10_000 }, () => {
  invalid(() => read(patched((l) => (l.pages[l.leafOf[0]!]![0] = 0x0a))), /type 10, not a table b-tree page/);
});

test('sqlite: a schema without a Packages table', { timeout: 10_000 }, () => {
  invalid(() => read(patched((l) => l.pages[1]!.write('Parcels!', l.pages[1]!.indexOf('Packages'), 'latin1'))), /without a Packages table/);
});

test('sqlite: a Packages root page outside the file', { timeout: 10_000 }, () => {
  invalid(
    () =>
      read(
        patched((l) => {
          // The rootpage column is a 4-byte integer right before the CREATE statement.
          const p1 = l.pages[1]!;
          const sql = p1.indexOf('CREATE TABLE');
          p1.writeInt32BE(77_777, sql - 4);
        }),
      ),
    /root page 77777 is outside/,
  );
});

test('sqlite: a WAL that is not one is ignored with a warning', { timeout: 10_000 }, async () => {
  const file = patched(() => {});
  const warnings: string[] = [];
  const db = await readRpmDatabase(
    [
      { path: DB, data: file },
      { path: `${DB}-wal`, data: Buffer.alloc(5000, 0x41) },
    ],
    (m) => warnings.push(m),
  );
  assert.deepEqual(
    db?.packages.map((p) => p.name),
    ['first', 'second', 'third'],
  );
  assert.deepEqual(warnings, ['var/lib/rpm/rpmdb.sqlite-wal: not a write-ahead log; ignored']);
});

test('sqlite: cells that overlap, 16000 cell pointers at one large cell, are refused in linear time', { timeout: 10_000 }, () => {
  // A header of 1800 entries (each costs a little to index): half a page, the other half its 16000 pointers.
  const entries = Array.from({ length: 1800 }, (_, i) => ({ tag: 2000 + i, type: 7, value: Buffer.from([i & 0xff]) }));
  const large = rpmHeader([{ tag: 1000, type: 6, value: 'large' }, { tag: 1001, type: 6, value: '1' }, { tag: 1002, type: 6, value: '1' }, ...entries]);
  const file = sqliteFile([{ rowid: 1, blob: large }], {
    pageSize: 65536,
    patch: (l) => {
      const leaf = l.pages[l.leafOf[0]!]!;
      const at = leaf.readUInt16BE(8);
      assert.ok(at > 8 + 16_000 * 2);
      leaf.writeUInt16BE(16_000, 3);
      for (let i = 0; i < 16_000; i++) leaf.writeUInt16BE(at, 8 + i * 2);
    },
  }).file;
  const started = Date.now();
  invalid(() => read(file), /cells claim more bytes than the database holds/);
  assert.ok(Date.now() - started < 2_000, `${Date.now() - started} ms`);
});
