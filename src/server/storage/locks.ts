import { join } from 'node:path';
import { INDEX_LOCK_NAME } from '../../oci/layout.js';
import { withLock } from '../../util/fs.js';

/** Runs functions one at a time per key, within this process: a promise chain per key, so callers queue. */
export class KeyedMutex {
  private readonly tails = new Map<string, Promise<unknown>>();

  async with<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    const run = previous.catch(() => {}).then(fn);
    this.tails.set(key, run);
    try {
      return await run;
    } finally {
      // The last one out removes the chain, so the map holds only keys with work queued.
      if (this.tails.get(key) === run) this.tails.delete(key);
    }
  }
}

/**
 * Serialises changes to one repository: first among this process's requests (queued, not polling), then across
 * processes through the lock directory that `wharf copy` into an oci: layout and `wharf registry gc` take too.
 * Blob commits, manifest writes and GC's sweep of a repository all hold it: that is what makes "GC deleted a
 * blob that a manifest had just named" impossible. The repository's folder must exist.
 */
export class RepositoryLocks {
  private readonly local = new KeyedMutex();

  withRepository<T>(repositoryDir: string, fn: () => Promise<T>): Promise<T> {
    return this.local.with(repositoryDir, () => withLock(join(repositoryDir, INDEX_LOCK_NAME), fn, { timeoutMs: 30_000 }));
  }
}
