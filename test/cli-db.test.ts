/**
 * `wharf db import|status|lookup`: in-process through run() for output and exit codes, and as the real bin
 * for SIGKILL half-way through an import (the database must stay readable as it was, and the next import must
 * go through, breaking the dead import's lock and removing its leftovers).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { run } from '../src/cli/app.js';
import { defaultDbDir } from '../src/cli/commands/db.js';
import type { CliIO, CliLibrary } from '../src/cli/types.js';
import { importOsv, lookup, status } from '../src/scan/db/index.js';
import { alpineRecord, debianRecord, dsaRecord, npmRecord, osvZip, ubuntuRecord } from './helpers/osv.js';
import { tempDir } from './helpers/peers.js';
import { Sink } from './helpers/sink.js';
import { WHARF_BIN } from './helpers/bin.js';

const BIN = WHARF_BIN;
const CHILD = fileURLToPath(new URL('./helpers/osv-import-child.js', import.meta.url));
const ALL = [debianRecord(), dsaRecord(), alpineRecord(), npmRecord(), ubuntuRecord()];

const lib = { VERSION: '9.9.9' } as unknown as CliLibrary;

async function cli(argv: string[], env: Record<string, string> = {}, cwd = process.cwd()): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new Sink();
  const stderr = new Sink();
  const io: CliIO = { stdout, stderr, env, cwd };
  const code = await run(argv, io, lib);
  return { code, stdout: stdout.text, stderr: stderr.text };
}

async function writeRecords(dir: string, records: readonly Record<string, unknown>[]): Promise<string> {
  await mkdir(dir, { recursive: true });
  for (const r of records) await writeFile(join(dir, `${String(r.id)}.json`), JSON.stringify(r));
  return dir;
}

describe('wharf db', () => {
  test('--help: usage, subcommands, an example, exit codes', async () => {
    const r = await cli(['db', '--help']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^Usage:\n  wharf db import FILE\|DIR\|URL/);
    assert.match(r.stdout, /wharf db import https:\/\/osv-vulnerabilities\.storage\.googleapis\.com\/Debian\/all\.zip/);
    assert.match(r.stdout, /--db-dir DIR/);
    assert.match(r.stdout, /Exit codes:/);
    assert.match((await cli(['--help'])).stdout, /\n {2}db +Manage the local vulnerability database/);
  });

  test('the database directory: --db-dir, $WHARF_DB_DIR, $XDG_CACHE_HOME/wharf/db, ~/.cache/wharf/db', () => {
    const io = (env: Record<string, string>): CliIO => ({ stdout: new Sink(), stderr: new Sink(), env, cwd: '/work' });
    assert.equal(defaultDbDir(io({ WHARF_DB_DIR: 'rel/db', XDG_CACHE_HOME: '/c', HOME: '/h' })), '/work/rel/db');
    assert.equal(defaultDbDir(io({ XDG_CACHE_HOME: '/c', HOME: '/h' })), '/c/wharf/db');
    assert.equal(defaultDbDir(io({ XDG_CACHE_HOME: 'relative', HOME: '/h' })), '/h/.cache/wharf/db');
    assert.equal(defaultDbDir(io({ HOME: '/h' })), '/h/.cache/wharf/db');
  });

  test('import, re-import, status and lookup, in words and as JSON', async (t) => {
    const dir = await tempDir(t);
    await writeFile(join(dir, 'all.zip'), osvZip(ALL));
    const env = { XDG_CACHE_HOME: join(dir, 'cache') };
    const imp = await cli(['db', 'import', 'all.zip'], env, dir);
    assert.deepEqual([imp.code, imp.stderr], [0, '']);
    assert.equal(imp.stdout, `Imported ${join(dir, 'all.zip')} (5 records in 5 files): 5 added, 0 updated, 0 unchanged, 0 withdrawn, 0 skipped\n`);
    const db = join(dir, 'cache', 'wharf', 'db');
    assert.equal((await status(db)).records, 5);

    const again = await cli(['db', 'import', join(dir, 'all.zip'), '--json'], env);
    assert.equal(again.code, 0);
    const result = JSON.parse(again.stdout);
    assert.deepEqual([result.added, result.unchanged, result.changed, result.warningCount, result.warnings], [0, 5, false, 0, []]);

    const st = await cli(['db', 'status'], env);
    assert.equal(st.code, 0);
    assert.match(st.stdout, new RegExp(`^Database: +${db}\\nRecords: +5\\nNewest modified: +2025-09-12T19:00:05\\.02962299Z\\nLast import: +\\S+ from ${join(dir, 'all.zip')}\\n +0 added, 0 updated, 5 unchanged, 0 withdrawn, 0 skipped\\n`));
    assert.match(st.stdout, /\nECOSYSTEM +RECORDS +NEWEST MODIFIED\nAlpine:v3\.20 +1 +2025-05-02T10:11:12\.756478307Z\n/);
    assert.match(st.stdout, /\nDebian:12 +2 +2025-02-10T08:30:12\.123456789Z\n/);
    const sj = JSON.parse((await cli(['db', 'status', '--json', '--db-dir', db])).stdout);
    assert.equal(sj.exists, true);
    assert.equal(sj.ecosystems.length, 6);

    const lk = await cli(['db', 'lookup', 'npm', 'lodash'], env);
    assert.equal(lk.code, 0);
    assert.equal(lk.stdout, 'ID                    SEVERITY     FIXED     SUMMARY\nGHSA-p6mc-m468-83gw   high (7.4)   4.17.19   Prototype Pollution in lodash\n');
    const deb = await cli(['db', 'lookup', 'Debian:12', 'glibc'], env);
    assert.match(deb.stdout, /DSA-5678-1 +unknown +2\.36-9\+deb12u6 +glibc - security update/);
    const lj = JSON.parse((await cli(['db', 'lookup', 'Alpine:v3.20', 'busybox', '--json'], env)).stdout);
    assert.deepEqual(
      lj.map((r: { id: string }) => r.id),
      ['ALPINE-CVE-2024-58251'],
    );
    assert.equal((await cli(['db', 'lookup', 'npm', 'left-pad'], env)).stdout, 'No records name npm package left-pad\n');
  });

  test('$WHARF_DB_DIR is used; status of an empty place says how to fill it', async (t) => {
    const dir = await tempDir(t);
    const r = await cli(['db', 'status'], { WHARF_DB_DIR: join(dir, 'x') });
    assert.deepEqual(r, { code: 0, stdout: `No vulnerability database in ${join(dir, 'x')} yet: import one with 'wharf db import URL|FILE|DIR'\n`, stderr: '' });
  });

  test('warnings: the first 20 on stderr, the rest counted; with --json in the result', async (t) => {
    const dir = await tempDir(t);
    const src = await writeRecords(join(dir, 'src'), [npmRecord()]);
    for (let i = 0; i < 25; i++) await writeFile(join(src, `bad-${String(i).padStart(2, '0')}.json`), '{');
    const r = await cli(['db', 'import', src, '--db-dir', join(dir, 'db')]);
    assert.equal(r.code, 0);
    const lines = r.stderr.trimEnd().split('\n');
    assert.equal(lines.length, 21);
    assert.match(lines[0]!, /^wharf: warning: bad-00\.json: skipped: not JSON/);
    assert.equal(lines[20], 'wharf: warning: 5 more warnings not shown (--json lists the first 100)');
    assert.match(r.stdout, /1 added, 0 updated, 0 unchanged, 0 withdrawn, 25 skipped/);
    const j = await cli(['db', 'import', src, '--db-dir', join(dir, 'db2'), '--json']);
    assert.equal(j.stderr, '');
    const out = JSON.parse(j.stdout);
    assert.equal(out.warningCount, 25);
    assert.equal(out.warnings.length, 25);
    assert.equal(out.skipped, 25);
  });

  test('usage errors exit 2; a missing source or database 3; a damaged zip 1 with a hint; --json errors', async (t) => {
    const dir = await tempDir(t);
    const db = ['--db-dir', join(dir, 'db')];
    for (const argv of [['db'], ['db', 'frobnicate'], ['db', 'import'], ['db', 'import', 'a', 'b'], ['db', 'status', 'extra'], ['db', 'lookup', 'npm']]) {
      const r = await cli([...argv, ...db]);
      assert.equal(r.code, 2, argv.join(' '));
      assert.match(r.stderr, /^wharf: error: .*\n {2}hint: /);
    }
    const missing = await cli(['db', 'import', join(dir, 'nope.zip'), ...db]);
    assert.equal(missing.code, 3);
    assert.match(missing.stderr, /does not exist/);
    const noDb = await cli(['db', 'lookup', 'npm', 'x', ...db]);
    assert.equal(noDb.code, 3);
    assert.match(noDb.stderr, /there is no vulnerability database in .*\n {2}hint: import one first/);
    await writeFile(join(dir, 'bad.zip'), osvZip(ALL).subarray(0, 400));
    const bad = await cli(['db', 'import', join(dir, 'bad.zip'), ...db]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /is not a readable zip archive: .*\n {2}hint: the file is damaged, truncated or not a zip; download it again\n/);
    const j = await cli(['db', 'import', join(dir, 'bad.zip'), '--json', ...db]);
    assert.equal(j.stdout, '');
    assert.equal(JSON.parse(j.stderr).error.code, 'ARCHIVE_INVALID');
  });
});

describe('wharf db import killed half-way', () => {
  function spawnNode(args: string[]): { child: ReturnType<typeof spawn>; exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> } {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
    });
    return { child, exited };
  }

  async function until(check: () => Promise<boolean>, what: string, ms = 30_000): Promise<void> {
    const end = Date.now() + ms;
    while (!(await check())) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 2));
    }
  }

  async function setUp(t: Parameters<typeof tempDir>[0]): Promise<{ dir: string; db: string; big: string; current: string; before: string }> {
    const dir = await tempDir(t);
    const db = join(dir, 'db');
    await importOsv(await writeRecords(join(dir, 'v1'), ALL), { dbDir: db });
    const many = Array.from({ length: 8000 }, (_, i) =>
      dsaRecord({ id: `DSA-${10000 + i}-1`, modified: '2025-01-01T00:00:00Z', affected: [{ package: { ecosystem: 'Debian:12', name: `pkg${i}` }, ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed: `1.${i}` }] }] }] }),
    );
    many.push(npmRecord({ modified: '2025-01-01T00:00:00Z', summary: 'NEW' }));
    const big = join(dir, 'big.zip');
    await writeFile(big, osvZip(many));
    const current = (await readFile(join(db, 'CURRENT'), 'utf8')).trim();
    return { dir, db, big, current, before: JSON.stringify(await status(db)) };
  }

  async function assertOldState(db: string, current: string, before: string): Promise<void> {
    assert.equal((await readFile(join(db, 'CURRENT'), 'utf8')).trim(), current);
    assert.equal(JSON.stringify(await status(db)), before);
    assert.equal((await lookup(db, 'npm', 'lodash'))[0]!.summary, 'Prototype Pollution in lodash');
    assert.deepEqual(await lookup(db, 'Debian:12', 'pkg7'), []);
  }

  async function assertRecovers(db: string, big: string): Promise<void> {
    // The dead import's lock (its pid is gone) is broken, its generation removed.
    const r = await importOsv(big, { dbDir: db, lockTimeoutMs: 20_000 });
    assert.deepEqual([r.added, r.updated], [8000, 1]);
    assert.equal((await lookup(db, 'npm', 'lodash'))[0]!.summary, 'NEW');
    assert.equal((await lookup(db, 'Debian:12', 'pkg7')).length, 1);
    const gens = (await readdir(db)).filter((n) => n.startsWith('gen-'));
    assert.ok(gens.length <= 2, gens.join(' '));
    assert.equal((await readdir(db)).includes('import.lock'), false);
  }

  test('SIGKILL of the bin while it reads the zip', async (t) => {
    const { db, big, current, before } = await setUp(t);
    const { child, exited } = spawnNode([BIN, 'db', 'import', big, '--db-dir', db]);
    await until(async () => (await readdir(db)).some((n) => n.startsWith('gen-') && n !== current), 'the new generation');
    child.kill('SIGKILL');
    const end = await exited;
    assert.equal(end.signal, 'SIGKILL', `the import finished before it was killed: ${end.stdout}${end.stderr}`);
    assert.ok((await readdir(db)).includes('import.lock'), 'the lock is left behind, as a crash leaves it');
    await assertOldState(db, current, before);
    await assertRecovers(db, big);
  });

  for (const phase of ['write', 'switch'] as const) {
    test(`SIGKILL at the ${phase} phase (${phase === 'write' ? 'records spooled, no shard written' : 'new generation complete, CURRENT not replaced'})`, async (t) => {
      const { db, big, current, before } = await setUp(t);
      const { child, exited } = spawnNode([CHILD, big, db, phase]);
      await new Promise<void>((resolve, reject) => {
        child.stdout!.on('data', (b: Buffer) => b.toString().includes(`at ${phase}`) && resolve());
        child.on('close', () => reject(new Error('the child ended before the phase')));
      });
      child.kill('SIGKILL');
      assert.equal((await exited).signal, 'SIGKILL');
      await assertOldState(db, current, before);
      await assertRecovers(db, big);
    });
  }
});
