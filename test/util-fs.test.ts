import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, readdir, utimes, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { WharfError } from '../src/index.js';
import { withLock } from '../src/util/fs.js';
import { tempDir } from './helpers/peers.js';

test('withLock: holders run one at a time, and the lock is gone afterwards', async (t) => {
  const dir = await tempDir(t);
  const lock = join(dir, 'x.lock');
  let inside = 0;
  let most = 0;
  await Promise.all(
    Array.from({ length: 6 }, () =>
      withLock(lock, async () => {
        inside++;
        most = Math.max(most, inside);
        await new Promise((r) => setTimeout(r, 5));
        inside--;
      }),
    ),
  );
  assert.equal(most, 1);
  assert.deepEqual(await readdir(dir), []);
});

test('withLock: a lock left by a crashed process is broken once stale; a live one times out with LOCK_TIMEOUT', async (t) => {
  const dir = await tempDir(t);
  const lock = join(dir, 'stale.lock');
  await mkdir(lock);
  const old = new Date(Date.now() - 10 * 60_000);
  await utimes(lock, old, old);
  assert.equal(await withLock(lock, async () => 'ran', { staleMs: 60_000 }), 'ran');

  const live = join(dir, 'live.lock');
  await mkdir(live);
  await assert.rejects(withLock(live, async () => 'never', { timeoutMs: 100, staleMs: 60_000 }), (err: unknown) => {
    assert.ok(err instanceof WharfError && err.code === 'LOCK_TIMEOUT', String(err));
    assert.match(err.hint ?? '', /remove the lock/);
    return true;
  });
});

test('withLock: the lock is released when the holder throws', async (t) => {
  const dir = await tempDir(t);
  const lock = join(dir, 'x.lock');
  await assert.rejects(withLock(lock, async () => {
    throw new Error('boom');
  }), /boom/);
  assert.equal(await withLock(lock, async () => 'again', { timeoutMs: 100 }), 'again');
});

test('withLock: a lock whose holder (a process on this machine) is dead is broken at once; a living holder keeps it', async (t) => {
  const dir = await tempDir(t);
  const lock = join(dir, 'index.json.lock');
  // A process that has exited: its pid names nobody now.
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  const deadPid = Number(child.stdout);
  await mkdir(lock);
  await writeFile(join(lock, 'owner'), JSON.stringify({ host: hostname(), pid: deadPid, token: 'crashed' }));
  // It runs at all only if the lock was broken for its dead owner: it is far from stale, and the wait times out first.
  assert.equal(await withLock(lock, async () => 'ran', { staleMs: 60_000, timeoutMs: 5_000 }), 'ran');
  assert.deepEqual(await readdir(dir), [], 'released: nothing left');
  // A holder that is alive (this test's parent process) is waited for, then LOCK_TIMEOUT names it.
  await mkdir(lock);
  await writeFile(join(lock, 'owner'), JSON.stringify({ host: hostname(), pid: process.ppid, token: 'alive' }));
  await assert.rejects(withLock(lock, async () => 'never', { staleMs: 60_000, timeoutMs: 300 }), (err: WharfError) => err.code === 'LOCK_TIMEOUT' && err.hint!.includes(`pid ${process.ppid}`));
});

test('withLock: a stale lock that is not empty (not an rmdir-able directory) is still broken, and a timeout is still a timeout', async (t) => {
  const dir = await tempDir(t);
  const lock = join(dir, 'x.lock');
  await mkdir(join(lock, 'junk'), { recursive: true });
  const old = new Date(Date.now() - 10 * 60_000);
  await utimes(lock, old, old);
  assert.equal(await withLock(lock, async () => 'ran', { staleMs: 60_000, timeoutMs: 2_000 }), 'ran');
});
