/**
 * The vulnerability database: imports from directories, single files, zips (made here and by Info-ZIP) and
 * URLs; incremental re-imports; atomicity (an import that fails at any point, or is aborted, leaves the old
 * state readable, and a reader during an import sees the old state); serialised concurrent imports; lookups.
 */
import assert from 'node:assert/strict';
import { mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { WharfError } from '../src/errors.js';
import { downloadTo } from '../src/scan/db/download.js';
import { importOsv, lookup, status, type ImportOptions } from '../src/scan/db/index.js';
import { alpineRecord, debianRecord, dsaRecord, makeZip, npmRecord, osvZip, ubuntuRecord } from './helpers/osv.js';
import { requirePeer, runPeer, tempDir } from './helpers/peers.js';

type Rec = Record<string, unknown>;

async function writeRecords(dir: string, records: readonly Rec[]): Promise<string> {
  await mkdir(dir, { recursive: true });
  for (const r of records) await writeFile(join(dir, `${String(r.id)}.json`), JSON.stringify(r, null, 2));
  return dir;
}

const ALL: Rec[] = [debianRecord(), dsaRecord(), alpineRecord(), npmRecord(), ubuntuRecord()];

function opts(dbDir: string, extra: Partial<ImportOptions> = {}): ImportOptions & { warnings: string[] } {
  const warnings: string[] = [];
  return { dbDir, onWarning: (m) => warnings.push(m), warnings, ...extra };
}

async function ids(dbDir: string, ecosystem: string, name: string): Promise<string[]> {
  return (await lookup(dbDir, ecosystem, name)).map((r) => r.id);
}

/** Every file of the database with its bytes (CURRENT and meta.json's lastImport excluded when asked). */
async function snapshot(dbDir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (dir: string, rel: string): Promise<void> => {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) await walk(p, `${rel}${e.name}/`);
      else out[`${rel}${e.name}`] = await readFile(p, 'utf8');
    }
  };
  await walk(dbDir, '');
  return out;
}

async function rejectsWith(p: Promise<unknown>, code: string, message?: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof WharfError, `not a WharfError: ${String((err as Error)?.stack ?? err)}`);
    assert.equal(err.code, code, err.message);
    if (message) assert.match(err.message, message);
    return true;
  });
}

async function generations(dbDir: string): Promise<string[]> {
  return (await readdir(dbDir)).filter((n) => n.startsWith('gen-')).sort();
}

describe('import and lookup', () => {
  test('a directory of records: lookups by (ecosystem, name), status counts', async (t) => {
    const dir = await tempDir(t);
    const src = await writeRecords(join(dir, 'src'), ALL);
    const db = join(dir, 'db');
    const o = opts(db, { now: () => new Date('2025-06-01T12:00:00Z') });
    const r = await importOsv(src, o);
    assert.deepEqual(o.warnings, []);
    assert.equal(r.kind, 'directory');
    assert.deepEqual([r.files, r.records, r.added, r.updated, r.unchanged, r.withdrawn, r.skipped, r.changed], [5, 5, 5, 0, 0, 0, 0, true]);

    assert.deepEqual(await ids(db, 'Debian:12', 'openssl'), ['DEBIAN-CVE-2024-2511']);
    assert.deepEqual(await ids(db, 'Debian:13', 'openssl'), ['DEBIAN-CVE-2024-2511']);
    assert.deepEqual(await ids(db, 'Debian:12', 'glibc'), ['DSA-5678-1']);
    assert.deepEqual(await ids(db, 'Alpine:v3.20', 'busybox'), ['ALPINE-CVE-2024-58251']);
    assert.deepEqual(await ids(db, 'npm', 'lodash'), ['GHSA-p6mc-m468-83gw']);
    assert.deepEqual(await ids(db, 'npm', 'lodash.pick'), ['GHSA-p6mc-m468-83gw']);
    assert.deepEqual(await ids(db, 'Ubuntu:22.04:LTS', 'vips'), ['UBUNTU-CVE-2025-29769']);
    // Exact names: no other ecosystem, no other case, no prefix.
    assert.deepEqual(await ids(db, 'Debian:11', 'openssl'), []);
    assert.deepEqual(await ids(db, 'debian:12', 'openssl'), []);
    assert.deepEqual(await ids(db, 'npm', 'Lodash'), []);
    assert.deepEqual(await ids(db, 'npm', 'lodas'), []);
    assert.deepEqual(await ids(db, 'PyPI', 'lodash'), []);

    const record = (await lookup(db, 'Debian:12', 'openssl'))[0]!;
    assert.equal(record.affected[0]!.ranges[0]!.events[1]!.hasOwnProperty('fixed'), true);
    assert.equal((record as unknown as Rec).details, undefined);

    const s = await status(db);
    assert.equal(s.exists, true);
    assert.equal(s.records, 5);
    assert.equal(s.withdrawn, 0);
    assert.equal(s.newestModified, '2025-09-12T19:00:05.02962299Z');
    assert.equal(s.lastImport?.at, '2025-06-01T12:00:00.000Z');
    assert.equal(s.lastImport?.source, src);
    assert.deepEqual(
      s.ecosystems.map((e) => [e.ecosystem, e.records]),
      [
        ['Alpine:v3.20', 1],
        ['Alpine:v3.21', 1],
        ['Debian:12', 2],
        ['Debian:13', 1],
        ['Ubuntu:22.04:LTS', 1],
        ['npm', 1],
      ],
    );
    assert.equal(s.ecosystems.find((e) => e.ecosystem === 'Debian:12')?.newestModified, '2025-02-10T08:30:12.123456789Z');
  });

  test('a single .json file, and one holding a list of records', async (t) => {
    const dir = await tempDir(t);
    await writeFile(join(dir, 'one.json'), JSON.stringify(npmRecord()));
    await writeFile(join(dir, 'list.json'), JSON.stringify([dsaRecord(), alpineRecord()]));
    const db = join(dir, 'db');
    assert.equal((await importOsv(join(dir, 'one.json'), opts(db))).kind, 'json');
    await importOsv(join(dir, 'list.json'), opts(db));
    assert.equal((await status(db)).records, 3);
    assert.deepEqual(await ids(db, 'Alpine:v3.21', 'busybox'), ['ALPINE-CVE-2024-58251']);
  });

  test('broken records are warnings and skipped; the rest is imported', async (t) => {
    const dir = await tempDir(t);
    const src = await writeRecords(join(dir, 'src'), [dsaRecord()]);
    await writeFile(join(src, 'broken.json'), '{"id": "X-1",');
    await writeFile(join(src, 'twobounds.json'), JSON.stringify(dsaRecord({ id: 'DSA-2', affected: [{ package: { ecosystem: 'Debian:12', name: 'x' }, ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0', fixed: '1' }] }] }] })));
    await writeFile(join(src, 'README.md'), 'not a record');
    await mkdir(join(src, '.git'));
    await writeFile(join(src, '.git', 'HEAD.json'), '{}');
    const o = opts(join(dir, 'db'));
    const r = await importOsv(src, o);
    assert.deepEqual([r.files, r.records, r.added, r.skipped], [3, 1, 1, 2]);
    assert.equal(o.warnings.length, 2);
    assert.match(o.warnings.join('\n'), /broken\.json: skipped: not JSON/);
    assert.match(o.warnings.join('\n'), /twobounds\.json "DSA-2": skipped: affected\[0\]\.ranges\[0\]\.events\[0\] has more than one bound/);
  });

  test('an OSV zip made here (deflated, zip64), and the same by Info-ZIP zip: one result', async (t) => {
    const dir = await tempDir(t);
    await writeFile(join(dir, 'all.zip'), osvZip(ALL));
    await writeFile(join(dir, 'all64.zip'), osvZip(ALL, { zip64: true }));
    const a = join(dir, 'db-a');
    const r = await importOsv(join(dir, 'all.zip'), opts(a));
    assert.deepEqual([r.kind, r.files, r.added], ['zip', 5, 5]);
    const b = join(dir, 'db-b');
    await importOsv(join(dir, 'all64.zip'), opts(b));
    assert.deepEqual(await ids(b, 'Debian:12', 'openssl'), await ids(a, 'Debian:12', 'openssl'));
    assert.deepEqual((await status(b)).ecosystems, (await status(a)).ecosystems);
    if (!requirePeer(t, 'zip')) return;
    const src = await writeRecords(join(dir, 'src'), ALL);
    await writeFile(join(src, 'notes.txt'), 'ignored: not .json');
    await runPeer('sh', ['-c', `cd ${src} && zip -q -r ../info.zip . && zip -q - *.json > ../streamed.zip`]);
    for (const name of ['info.zip', 'streamed.zip']) {
      const c = join(dir, `db-${name}`);
      const rc = await importOsv(join(dir, name), opts(c));
      assert.deepEqual([rc.files, rc.added, rc.skipped], [5, 5, 0], name);
      assert.deepEqual((await status(c)).ecosystems, (await status(a)).ecosystems, name);
      assert.deepEqual(await lookup(c, 'npm', 'lodash'), await lookup(a, 'npm', 'lodash'));
    }
  });
});

describe('incremental', () => {
  test('re-importing the same zip changes nothing but lastImport', async (t) => {
    const dir = await tempDir(t);
    await writeFile(join(dir, 'all.zip'), osvZip(ALL));
    const db = join(dir, 'db');
    const first = await importOsv(join(dir, 'all.zip'), opts(db, { now: () => new Date('2025-06-01T00:00:00Z') }));
    const before = await snapshot(db);
    const again = await importOsv(join(dir, 'all.zip'), opts(db, { now: () => new Date('2025-06-02T00:00:00Z') }));
    assert.deepEqual([again.added, again.updated, again.unchanged, again.withdrawn, again.changed], [0, 0, 5, 0, false]);
    assert.equal(again.generation, first.generation);
    const after = await snapshot(db);
    const metaPath = `${first.generation}/meta.json`;
    assert.deepEqual(Object.keys(after).sort(), Object.keys(before).sort());
    for (const k of Object.keys(before)) if (k !== metaPath) assert.equal(after[k], before[k], k);
    const metaBefore = JSON.parse(before[metaPath]!);
    const metaAfter = JSON.parse(after[metaPath]!);
    assert.equal(metaAfter.lastImport.at, '2025-06-02T00:00:00.000Z');
    assert.equal(metaAfter.lastImport.unchanged, 5);
    assert.deepEqual({ ...metaAfter, lastImport: undefined }, { ...metaBefore, lastImport: undefined });
  });

  test('a newer record replaces the old one everywhere; older or equal ones are ignored', async (t) => {
    const dir = await tempDir(t);
    const db = join(dir, 'db');
    await importOsv(await writeRecords(join(dir, 'v1'), ALL), opts(db));
    const v1 = await importOsv(await writeRecords(join(dir, 'v1b'), ALL), opts(db)); // generation unchanged
    // v2: the Debian record drops Debian:13 and names Debian:11; the npm one is older; the DSA equal but edited.
    const newer = debianRecord({
      modified: '2025-03-01T00:00:00Z',
      affected: [
        { package: { ecosystem: 'Debian:12', name: 'openssl' }, ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed: '3.0.14-1~deb12u1' }] }] },
        { package: { ecosystem: 'Debian:11', name: 'openssl' }, ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed: '1.1.1w-0+deb11u2' }] }] },
      ],
    });
    const older = npmRecord({ modified: '2020-01-01T00:00:00Z', summary: 'OLD' });
    const equal = dsaRecord({ summary: 'edited without a new modified' });
    const r = await importOsv(await writeRecords(join(dir, 'v2'), [newer, older, equal]), opts(db));
    assert.deepEqual([r.added, r.updated, r.unchanged, r.changed], [0, 1, 2, true]);
    assert.notEqual(r.generation, v1.generation);

    const deb12 = await lookup(db, 'Debian:12', 'openssl');
    assert.deepEqual(deb12.map((x) => x.modified), ['2025-03-01T00:00:00Z']);
    assert.deepEqual(deb12[0]!.affected[0]!.ranges[0]!.events, [{ introduced: '0' }, { fixed: '3.0.14-1~deb12u1' }]);
    assert.deepEqual(await ids(db, 'Debian:11', 'openssl'), ['DEBIAN-CVE-2024-2511']);
    assert.deepEqual(await ids(db, 'Debian:13', 'openssl'), []);
    assert.equal((await lookup(db, 'npm', 'lodash'))[0]!.summary, 'Prototype Pollution in lodash');
    assert.equal((await lookup(db, 'Debian:12', 'glibc'))[0]!.summary, 'glibc - security update');
    const s = await status(db);
    assert.equal(s.records, 5);
    assert.deepEqual(
      s.ecosystems.map((e) => e.ecosystem),
      ['Alpine:v3.20', 'Alpine:v3.21', 'Debian:11', 'Debian:12', 'Ubuntu:22.04:LTS', 'npm'],
    );
    // Only the previous generation is kept beside the new one.
    assert.deepEqual(await generations(db), [v1.generation, r.generation].sort());
  });

  test('shards no record of the import touched are hard links to the previous generation', async (t) => {
    const dir = await tempDir(t);
    const db = join(dir, 'db');
    const a = await importOsv(await writeRecords(join(dir, 'v1'), ALL), opts(db));
    const b = await importOsv(await writeRecords(join(dir, 'v2'), [npmRecord({ modified: '2025-01-01T00:00:00Z' })]), opts(db));
    const shardOf = async (gen: string, eco: string): Promise<string> => {
      const ecoDirs = await readdir(join(db, gen, 'eco'));
      const d = ecoDirs.find((x) => x.startsWith(eco))!;
      const files = await readdir(join(db, gen, 'eco', d));
      return join(db, gen, 'eco', d, files[0]!);
    };
    assert.equal((await stat(await shardOf(a.generation, 'alpine_v3.20'))).ino, (await stat(await shardOf(b.generation, 'alpine_v3.20'))).ino);
    assert.notEqual((await stat(await shardOf(a.generation, 'npm'))).ino, (await stat(await shardOf(b.generation, 'npm'))).ino);
  });

  test('two versions of one id in one import: the newest wins, wherever it comes', async (t) => {
    const dir = await tempDir(t);
    const db = join(dir, 'db');
    await writeFile(join(dir, 'list.json'), JSON.stringify([npmRecord({ modified: '2025-01-01T00:00:00Z', summary: 'NEW' }), npmRecord({ summary: 'OLD' })]));
    await importOsv(join(dir, 'list.json'), opts(db));
    assert.deepEqual(
      (await lookup(db, 'npm', 'lodash')).map((r) => r.summary),
      ['NEW'],
    );
  });

  test('withdrawn: a newer withdrawn copy removes the record, and an older live copy does not bring it back', async (t) => {
    const dir = await tempDir(t);
    const db = join(dir, 'db');
    await importOsv(await writeRecords(join(dir, 'v1'), ALL), opts(db));
    const r = await importOsv(await writeRecords(join(dir, 'v2'), [npmRecord({ modified: '2025-01-01T00:00:00Z', withdrawn: '2025-01-01T00:00:00Z' })]), opts(db));
    assert.deepEqual([r.withdrawn, r.updated], [1, 0]);
    assert.deepEqual(await ids(db, 'npm', 'lodash'), []);
    assert.deepEqual(await ids(db, 'npm', 'lodash.pick'), []);
    let s = await status(db);
    assert.deepEqual([s.records, s.withdrawn], [4, 1]);
    assert.equal(s.ecosystems.some((e) => e.ecosystem === 'npm'), false);
    const again = await importOsv(await writeRecords(join(dir, 'v3'), [npmRecord()]), opts(db));
    assert.deepEqual([again.unchanged, again.added, again.changed], [1, 0, false]);
    assert.deepEqual(await ids(db, 'npm', 'lodash'), []);
    // A withdrawn record never seen before is remembered, not stored.
    await importOsv(await writeRecords(join(dir, 'v4'), [alpineRecord({ id: 'ALPINE-CVE-2000-1', withdrawn: '2024-01-01T00:00:00Z' })]), opts(db));
    s = await status(db);
    assert.deepEqual([s.records, s.withdrawn], [4, 2]);
    assert.deepEqual(await ids(db, 'Alpine:v3.20', 'busybox'), ['ALPINE-CVE-2024-58251']);
  });

  test('many records in one shard file and across ecosystems', async (t) => {
    const dir = await tempDir(t);
    const db = join(dir, 'db');
    const many = Array.from({ length: 600 }, (_, i) => npmRecord({ id: `GHSA-test-${String(i).padStart(4, '0')}`, affected: [{ package: { ecosystem: i % 2 ? 'npm' : 'PyPI', name: `pkg-${i % 50}` }, ranges: [{ type: 'SEMVER', events: [{ introduced: '0' }] }] }] }));
    await writeFile(join(dir, 'all.zip'), osvZip(many));
    await importOsv(join(dir, 'all.zip'), opts(db));
    assert.equal((await lookup(db, 'npm', 'pkg-1')).length, 12);
    assert.equal((await lookup(db, 'PyPI', 'pkg-2')).length, 12);
    assert.equal((await lookup(db, 'npm', 'pkg-2')).length, 0);
    const s = await status(db);
    assert.deepEqual(
      s.ecosystems.map((e) => [e.ecosystem, e.records]),
      [
        ['PyPI', 300],
        ['npm', 300],
      ],
    );
  });
});

describe('atomicity and concurrency', () => {
  async function baseline(t: Parameters<typeof tempDir>[0]): Promise<{ dir: string; db: string; before: Record<string, string> }> {
    const dir = await tempDir(t);
    const db = join(dir, 'db');
    await importOsv(await writeRecords(join(dir, 'v1'), ALL), opts(db));
    return { dir, db, before: await snapshot(db) };
  }

  const update = (dir: string): Promise<string> =>
    writeRecords(join(dir, 'v2'), [npmRecord({ modified: '2025-01-01T00:00:00Z', summary: 'NEW' }), dsaRecord({ id: 'DSA-9999-1', modified: '2025-01-01T00:00:00Z' })]);

  for (const phase of ['read', 'write', 'switch'] as const) {
    test(`a failure in the ${phase} phase leaves the old state as it was, and nothing behind`, async (t) => {
      const { dir, db, before } = await baseline(t);
      const src = await update(dir);
      await assert.rejects(
        importOsv(src, opts(db, { onProgress: (p) => {
          if (p.phase === phase) throw new Error(`injected failure in ${phase}`);
        } })),
        /injected failure/,
      );
      assert.deepEqual(await snapshot(db), before);
      assert.equal((await lookup(db, 'npm', 'lodash'))[0]!.summary, 'Prototype Pollution in lodash');
      // And the next import goes through.
      const r = await importOsv(src, opts(db));
      assert.deepEqual([r.added, r.updated], [1, 1]);
      assert.equal((await lookup(db, 'npm', 'lodash'))[0]!.summary, 'NEW');
    });
  }

  test('an abort half-way: ABORTED, the old state stays', async (t) => {
    const { dir, db, before } = await baseline(t);
    const many = Array.from({ length: 3000 }, (_, i) => dsaRecord({ id: `DSA-${i}-1`, modified: '2025-01-01T00:00:00Z' }));
    await writeFile(join(dir, 'big.zip'), osvZip(many));
    const ac = new AbortController();
    await rejectsWith(
      importOsv(join(dir, 'big.zip'), opts(db, { signal: ac.signal, onProgress: (p) => {
        if (p.phase === 'read' && p.files >= 1000) ac.abort();
      } })),
      'ABORTED',
    );
    assert.deepEqual(await snapshot(db), before);
  });

  test('a reader during an import sees the old state, up to the switch; after it, the new one', async (t) => {
    const { dir, db } = await baseline(t);
    const seen: string[] = [];
    const read = async (when: string): Promise<void> => {
      const s = await status(db);
      seen.push(`${when}: ${(await lookup(db, 'npm', 'lodash'))[0]!.summary} / ${await ids(db, 'Debian:12', 'glibc')} / ${s.records}`);
    };
    await importOsv(await update(dir), opts(db, { onProgress: (p) => read(p.phase) }));
    await read('after');
    assert.deepEqual(seen, [
      'read: Prototype Pollution in lodash / DSA-5678-1 / 5',
      'write: Prototype Pollution in lodash / DSA-5678-1 / 5',
      'switch: Prototype Pollution in lodash / DSA-5678-1 / 5',
      'after: NEW / DSA-5678-1,DSA-9999-1 / 6',
    ]);
  });

  test('a generation left by a killed import is ignored by readers and removed by the next import', async (t) => {
    const { dir, db, before } = await baseline(t);
    await mkdir(join(db, 'gen-0000000000001-deadbeef', 'spool'), { recursive: true });
    await writeFile(join(db, 'gen-0000000000001-deadbeef', 'spool', 'x.spool'), 'half a line');
    assert.deepEqual(await ids(db, 'npm', 'lodash'), ['GHSA-p6mc-m468-83gw']);
    assert.equal((await status(db)).records, 5);
    await writeFile(join(db, '.0123456789ab.wharf-tmp'), 'gen-half');
    // Even an import that changes nothing clears them.
    const same = await importOsv(await writeRecords(join(dir, 'same'), [npmRecord()]), opts(db));
    assert.equal(same.changed, false);
    assert.deepEqual(await generations(db), Object.keys(before).filter((k) => k.endsWith('/meta.json')).map((k) => k.split('/')[0]));
    assert.equal((await readdir(db)).includes('.0123456789ab.wharf-tmp'), false);
    const r = await importOsv(await update(dir), opts(db));
    assert.ok((await generations(db)).includes(r.generation));
  });

  test('concurrent imports run one after the other and both land', async (t) => {
    const dir = await tempDir(t);
    const db = join(dir, 'db');
    const a = await writeRecords(join(dir, 'a'), [npmRecord(), dsaRecord()]);
    const b = await writeRecords(join(dir, 'b'), [alpineRecord(), ubuntuRecord(), npmRecord({ modified: '2025-01-01T00:00:00Z', summary: 'NEW' })]);
    const c = await writeRecords(join(dir, 'c'), [debianRecord()]);
    await Promise.all([importOsv(a, opts(db)), importOsv(b, opts(db)), importOsv(c, opts(db))]);
    const s = await status(db);
    assert.equal(s.records, 5);
    assert.equal((await lookup(db, 'npm', 'lodash'))[0]!.summary, 'NEW');
    assert.ok((await generations(db)).length <= 2);
    assert.equal((await readdir(db)).includes('import.lock'), false);
  });

  test('a hostile zip fails the import and changes nothing', async (t) => {
    const { dir, db, before } = await baseline(t);
    const z = makeZip([{ name: 'a.json', data: JSON.stringify(npmRecord({ modified: '2026-01-01T00:00:00Z' })) }]);
    const bad = Buffer.from(z.bytes);
    bad.writeUInt32LE(0xdeadbeef, z.cdOffset + 16); // CRC
    await writeFile(join(dir, 'bad.zip'), bad);
    await rejectsWith(importOsv(join(dir, 'bad.zip'), opts(db)), 'ARCHIVE_INVALID', /CRC-32/);
    await writeFile(join(dir, 'bomb.zip'), makeZip([{ name: 'z.json', data: Buffer.alloc(64 << 20, 0x20) }]).bytes);
    await rejectsWith(importOsv(join(dir, 'bomb.zip'), opts(db)), 'TOO_LARGE');
    await writeFile(join(dir, 'cut.zip'), osvZip(ALL).subarray(0, 300));
    // A cut zip has no end record; its first bytes still say zip, so it is read as one and fails.
    await rejectsWith(importOsv(join(dir, 'cut.zip'), opts(db)), 'ARCHIVE_INVALID');
    assert.deepEqual(await snapshot(db), before);
  });

  test('an entry too large for a record is skipped with a warning, not read', async (t) => {
    const dir = await tempDir(t);
    await writeFile(join(dir, 'x.zip'), makeZip([{ name: 'huge.json', data: `{"id":"H-1","pad":"${'x'.repeat(5000)}"}` }, { name: 'ok.json', data: JSON.stringify(dsaRecord()) }]).bytes);
    const o = opts(join(dir, 'db'), { recordLimits: { maxBytes: 4096 } });
    const r = await importOsv(join(dir, 'x.zip'), o);
    assert.deepEqual([r.added, r.skipped], [1, 1]);
    assert.match(o.warnings[0]!, /"huge\.json": skipped: \d+ bytes is more than the 4096/);
  });
});

describe('errors of readers and sources', () => {
  test('no database: status says so, lookup is an error (never an empty answer)', async (t) => {
    const dir = await tempDir(t);
    assert.deepEqual(await status(join(dir, 'none')), { dbDir: join(dir, 'none'), exists: false, records: 0, withdrawn: 0, ecosystems: [] });
    await rejectsWith(lookup(join(dir, 'none'), 'npm', 'x'), 'PATH_NOT_FOUND', /no vulnerability database/);
  });

  test('a tampered CURRENT never leads a reader outside the database', async (t) => {
    const dir = await tempDir(t);
    await mkdir(join(dir, 'db'));
    await writeFile(join(dir, 'db', 'CURRENT'), '../../etc\n');
    await rejectsWith(lookup(join(dir, 'db'), 'npm', 'x'), 'LAYOUT_INVALID');
    await rejectsWith(status(join(dir, 'db')), 'LAYOUT_INVALID');
  });

  test('a source that does not exist; a source that is neither file nor directory', async (t) => {
    const dir = await tempDir(t);
    await rejectsWith(importOsv(join(dir, 'missing.zip'), opts(join(dir, 'db'))), 'PATH_NOT_FOUND');
    await rejectsWith(importOsv('/dev/null', opts(join(dir, 'db'))), 'UNSUPPORTED');
  });
});

describe('URLs', () => {
  async function serve(t: Parameters<typeof tempDir>[0], routes: Record<string, Buffer>): Promise<string> {
    const server: Server = createServer((req, res) => {
      const body = routes[req.url ?? ''];
      if (!body) {
        res.writeHead(404).end('not found');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/zip', 'content-length': body.length }).end(body);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    t.after(() => new Promise<void>((r) => server.close(() => r())));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  test('a zip downloaded, imported, the temporary file removed; the URL shown without its query', async (t) => {
    const dir = await tempDir(t);
    const base = await serve(t, { '/npm/all.zip': osvZip([npmRecord()]) });
    const db = join(dir, 'db');
    const r = await importOsv(`${base}/npm/all.zip`, opts(db));
    assert.deepEqual([r.kind, r.added, r.source], ['zip', 1, `${base}/npm/all.zip`]);
    assert.deepEqual(await ids(db, 'npm', 'lodash'), ['GHSA-p6mc-m468-83gw']);
    assert.equal((await readdir(db)).some((n) => n.startsWith('.download-')), false);
    const withToken = await importOsv(`${base.replace('http://', 'http://user:secret@')}/npm/all.zip`, opts(db, { fetch: (u, i) => fetch(String(u).replace('user:secret@', ''), i) }));
    assert.equal(withToken.source.includes('secret'), false);
    assert.equal((await status(db)).lastImport?.source.includes('secret'), false);
  });

  test('two URLs that differ only in their query are two sources: the ETag and date of one are never sent for the other', async (t) => {
    const dir = await tempDir(t);
    const zips: Record<string, { body: Buffer; modified: string }> = {
      '?feed=a': { body: osvZip([npmRecord()]), modified: 'Tue, 02 Dec 2025 10:00:00 GMT' },
      '?feed=b': { body: osvZip([debianRecord()]), modified: 'Mon, 01 Jan 2024 10:00:00 GMT' },
    };
    const asked: { query: string; since?: string; etag?: string }[] = [];
    const server: Server = createServer((req, res) => {
      const query = (req.url ?? '').replace(/^[^?]*/, '');
      const z = zips[query];
      const since = req.headers['if-modified-since'];
      asked.push({ query, ...(since ? { since } : {}), ...(req.headers['if-none-match'] ? { etag: String(req.headers['if-none-match']) } : {}) });
      if (!z) return void res.writeHead(404).end();
      // As a server does: not modified since a date later than this file's.
      if (since && Date.parse(since) >= Date.parse(z.modified)) return void res.writeHead(304).end();
      res.writeHead(200, { 'content-type': 'application/zip', 'content-length': z.body.length, 'last-modified': z.modified, etag: `"${query}"` }).end(z.body);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    t.after(() => new Promise<void>((r) => server.close(() => r())));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/osv/all.zip`;
    const db = join(dir, 'db');
    assert.equal((await importOsv(`${url}?feed=a`, opts(db))).added, 1);
    const b = await importOsv(`${url}?feed=b`, opts(db));
    assert.equal(b.notModified ?? false, false, 'feed b was imported, not taken as unchanged');
    assert.equal(b.added, 1);
    assert.deepEqual(asked[1], { query: '?feed=b' }, 'no validators of feed a sent for feed b');
    // Each remembers its own: the second import of a is conditional with a's validators.
    const again = await importOsv(`${url}?feed=a`, opts(db));
    assert.equal(again.notModified, true);
    assert.deepEqual(asked[2], { query: '?feed=a', since: zips['?feed=a']!.modified, etag: '"?feed=a"' });
    const meta = JSON.stringify(await status(db));
    assert.equal(meta.includes('feed=a'), false, 'the query is not stored');
    // --force: no validators sent, the file read again (and found unchanged record by record).
    const forced = await importOsv(`${url}?feed=a`, opts(db, { unconditional: true }));
    assert.deepEqual(asked[3], { query: '?feed=a' });
    assert.deepEqual([forced.notModified ?? false, forced.unchanged], [false, 1]);
  });

  test('a download that stalls mid-body is a TIMEOUT (not "aborted"), and the partial file is removed', async (t) => {
    const dir = await tempDir(t);
    const server: Server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/zip', 'content-length': 100 });
      res.write(Buffer.alloc(10)); // and then nothing
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    t.after(() => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))));
    const path = join(dir, 'part.zip');
    await assert.rejects(downloadTo(`http://127.0.0.1:${(server.address() as AddressInfo).port}/all.zip`, path, { timeoutMs: 300 }), (e: WharfError) => e.code === 'TIMEOUT' && /no data for 300 ms/.test(e.message));
    assert.deepEqual(await readdir(dir), []);
  });

  test('404 is PATH_NOT_FOUND, a server error NETWORK_ERROR; too large TOO_LARGE; nothing left behind', async (t) => {
    const dir = await tempDir(t);
    const base = await serve(t, { '/big.zip': Buffer.alloc(5000) });
    const db = join(dir, 'db');
    await rejectsWith(importOsv(`${base}/debian/all.zip`, opts(db)), 'PATH_NOT_FOUND', /HTTP 404/);
    await rejectsWith(importOsv(`${base}/big.zip`, opts(db, { maxDownloadBytes: 1000 })), 'TOO_LARGE');
    const failing = (async () => new Response('boom', { status: 503 })) as typeof fetch;
    await rejectsWith(importOsv(`${base}/x.zip`, opts(db, { fetch: failing })), 'NETWORK_ERROR', /HTTP 503/);
    const unreachable = (async () => {
      throw new TypeError('fetch failed');
    }) as typeof fetch;
    await rejectsWith(importOsv(`${base}/x.zip`, opts(db, { fetch: unreachable })), 'NETWORK_ERROR', /fetch failed/);
    assert.deepEqual(await readdir(db), []);
  });
});
