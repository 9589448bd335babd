import assert from 'node:assert/strict';
import { mkdir, readdir, utimes } from 'node:fs/promises';
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
