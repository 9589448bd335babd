/**
 * readRpmDatabase: which file of an image it reads (by magic, the newest format in the newest place), from a
 * list or a lookup, with the SQLite WAL beside its database; warnings capped; and every format's reader fed
 * thousands of damaged files (seeded, so a failure repeats) — each read either succeeds or is RPMDB_INVALID,
 * never another exception, never a hang.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { WharfError } from '../src/errors.js';
import { isRpmDatabasePath, readRpmDatabase, readRpmDatabaseFile, RPMDB_PATHS } from '../src/scan/rpmdb/index.js';
import { bdbHashFile, ndbFile, simpleHeader, sqliteFile } from './helpers/rpmdb.js';

const blobs = [simpleHeader('one'), simpleHeader('two', { padding: 6000 }), simpleHeader('three', { epoch: 4 })];
const SQLITE = sqliteFile(blobs.map((blob, i) => ({ rowid: i + 1, blob }))).file;
const BDB = bdbHashFile(blobs, { pageSize: 1024 }).file;
const NDB = ndbFile(blobs.map((blob, i) => ({ pkgIdx: i + 1, blob })));
const names = (db: { packages: Array<{ name: string }> } | undefined) => db?.packages.map((p) => p.name);

test('the paths to fetch, and a predicate for them', () => {
  assert.ok(RPMDB_PATHS.includes('var/lib/rpm/Packages'));
  assert.ok(RPMDB_PATHS.includes('usr/lib/sysimage/rpm/rpmdb.sqlite-wal'));
  assert.ok(isRpmDatabasePath('/var/lib/rpm/rpmdb.sqlite'));
  assert.ok(isRpmDatabasePath('./usr/lib/sysimage/rpm/Packages.db'));
  assert.ok(!isRpmDatabasePath('var/lib/rpm/Name'));
});

test('no rpm database: undefined', async () => {
  assert.equal(await readRpmDatabase([]), undefined);
  assert.equal(await readRpmDatabase([{ path: 'var/lib/dpkg/status', data: Buffer.from('Package: bash\n') }]), undefined);
  assert.equal(await readRpmDatabase(() => undefined), undefined);
});

test('several databases: the newest format in the newest place is read, the others named in a warning', async () => {
  const warnings: string[] = [];
  const db = await readRpmDatabase(
    [
      { path: '/var/lib/rpm/Packages', data: BDB },
      { path: '/var/lib/rpm/rpmdb.sqlite', data: SQLITE },
      { path: '/usr/lib/sysimage/rpm/Packages.db', data: NDB },
      { path: '/var/lib/rpm/Name', data: BDB },
    ],
    (m) => warnings.push(m),
  );
  assert.equal(db?.format, 'ndb');
  assert.equal(db?.path, '/usr/lib/sysimage/rpm/Packages.db');
  assert.deepEqual(names(db), ['one', 'two', 'three']);
  assert.deepEqual(warnings, ['/usr/lib/sysimage/rpm/Packages.db: read; also found /var/lib/rpm/rpmdb.sqlite, /var/lib/rpm/Packages, not read']);
});

test('the format is the magic\'s, whatever the name; a file of another name counts when its magic is a package database', async () => {
  assert.equal((await readRpmDatabase([{ path: 'var/lib/rpm/Packages', data: SQLITE }]))?.format, 'sqlite');
  assert.equal((await readRpmDatabase([{ path: 'backup/rpm.db', data: BDB }]))?.format, 'bdb');
  await assert.rejects(readRpmDatabase([{ path: 'var/lib/rpm/rpmdb.sqlite', data: Buffer.alloc(4096, 7) }]), (err: unknown) => err instanceof WharfError && err.code === 'RPMDB_INVALID' && /neither SQLite/.test(err.message));
});

test('an empty database file is not a database: a warning, and the next one is read', async () => {
  const warnings: string[] = [];
  const db = await readRpmDatabase(
    [
      { path: 'var/lib/rpm/rpmdb.sqlite', data: Buffer.alloc(0) },
      { path: 'var/lib/rpm/Packages', data: BDB },
    ],
    (m) => warnings.push(m),
  );
  assert.equal(db?.format, 'bdb');
  assert.deepEqual(warnings, ['var/lib/rpm/rpmdb.sqlite: empty file, not an rpm database; ignored']);
});

test('a lookup, sync or async, is asked for the known paths only, the WAL beside a sqlite database', async () => {
  const asked: string[] = [];
  const files = new Map([['usr/lib/sysimage/rpm/rpmdb.sqlite', SQLITE]]);
  const db = await readRpmDatabase(async (path) => {
    asked.push(path);
    return files.get(path);
  });
  assert.deepEqual(names(db), ['one', 'two', 'three']);
  assert.ok(asked.includes('usr/lib/sysimage/rpm/rpmdb.sqlite-wal'));
  assert.ok(asked.every((p) => RPMDB_PATHS.includes(p)));
  assert.equal((await readRpmDatabase((p) => (p === 'var/lib/rpm/Packages' ? BDB : undefined)))?.format, 'bdb');
});

test('warnings are capped: the first ten told, the rest counted', () => {
  const bad = Buffer.alloc(16); // a header of one entry with nothing behind it
  bad.writeUInt32BE(1, 0);
  const many = Array.from({ length: 25 }, (_, i) => ({ rowid: i + 1, blob: bad }));
  const warnings: string[] = [];
  const db = readRpmDatabaseFile('rpmdb.sqlite', sqliteFile([...many, { rowid: 99, blob: simpleHeader('fine') }]).file, { onWarning: (m) => warnings.push(m) });
  assert.deepEqual(names(db), ['fine']);
  assert.equal(warnings.length, 11);
  assert.match(warnings[0]!, /^rpmdb.sqlite: header 1: the header is truncated/);
  assert.equal(warnings[10], 'rpmdb.sqlite: 15 more problems not shown');
});

/** mulberry32: a small seeded generator, so that a failing case can be replayed. */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const INTERESTING = [0, 1, 2, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff];

function mutate(file: Buffer, r: () => number): Buffer {
  const pick = (n: number) => Math.floor(r() * n);
  const kind = pick(4);
  if (kind === 0) return file.subarray(0, pick(file.length));
  const out = Buffer.from(file);
  const edits = 1 + pick(8);
  for (let i = 0; i < edits; i++) {
    const at = pick(out.length - 4);
    if (kind === 1) out[at] = pick(256);
    else if (kind === 2) out.writeUInt32BE(INTERESTING[pick(INTERESTING.length)]!, at);
    else out.writeUInt32LE(INTERESTING[pick(INTERESTING.length)]!, at);
  }
  return out;
}

for (const [format, file] of [
  ['sqlite', SQLITE],
  ['sqlite-512', sqliteFile(blobs.map((blob, i) => ({ rowid: i + 1, blob })), { pageSize: 512 }).file],
  ['bdb', BDB],
  ['bdb-be', bdbHashFile(blobs, { pageSize: 512, littleEndian: false }).file],
  ['ndb', NDB],
] as const) {
  test(`${format}: 1500 damaged files, each read or RPMDB_INVALID, nothing else`, { timeout: 60_000 }, () => {
    const r = rng(0x5eed + format.length);
    let read = 0;
    let refused = 0;
    for (let i = 0; i < 1500; i++) {
      const bad = mutate(file, r);
      try {
        readRpmDatabaseFile('db', bad, { onWarning: () => {} });
        read++;
      } catch (err) {
        if (!(err instanceof WharfError) || err.code !== 'RPMDB_INVALID') {
          assert.fail(`case ${i} (${format}): ${err instanceof Error ? err.stack : String(err)}`);
        }
        refused++;
      }
    }
    assert.ok(read > 0 && refused > 0, `${read} read, ${refused} refused`);
  });
}
