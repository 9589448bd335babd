import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { parseDigest, type Digest } from '../../digest/index.js';
import { REF_NAME_ANNOTATION, blobPath, readIndex } from '../../oci/layout.js';
import type { Descriptor } from '../../oci/types.js';
import type { RegistryStore } from './store.js';

export interface GcOptions {
  /** Say what would go; change nothing. */
  dryRun?: boolean;
  /** Also remove manifests no tag reaches (directly, as an index's child, or as a referrer of one). */
  deleteUntagged?: boolean;
  /**
   * Nothing younger than this is removed: an image being pushed has blobs (and child manifests) that no
   * manifest names yet. The age is the inode's change time, which every new link to a blob renews.
   */
  graceMs: number;
  /** Upload sessions untouched for this long are abandoned and removed. */
  uploadExpiryMs: number;
  now?: number;
  signal?: AbortSignal;
}

export interface GcReport {
  repositories: number;
  /** Untagged manifests removed from their repository's index (deleteUntagged). */
  manifests: { repository: string; digest: Digest }[];
  /** Blob links removed from repositories. */
  blobs: { repository: string; digest: Digest; size: number }[];
  /** Blobs removed from the shared store (no repository links them any more): the bytes actually freed. */
  freed: { digest: Digest; size: number }[];
  bytesFreed: number;
  uploads: number;
  /** Blobs left only because they are younger than the grace period. */
  keptYoung: number;
  /** Repositories not swept because a manifest in them could not be read (so what it needs is unknown). */
  skipped: string[];
  dryRun: boolean;
}

/**
 * Mark and sweep, one repository at a time under its lock (the lock a manifest PUT and a blob commit take), so
 * that a push can never be half-seen: a manifest is either recorded before the sweep of its repository, and its
 * blobs are marked, or after it, and then it was checked against the blobs that survived. The shared store is
 * swept last: a blob there is freed only when no repository links it and no upload holds it (link count 1).
 * Every removal is an unlink or an atomic index.json rewrite, so a GC killed at any point leaves a consistent store.
 */
export async function collectGarbage(store: RegistryStore, options: GcOptions): Promise<GcReport> {
  const now = options.now ?? Date.now();
  const dryRun = options.dryRun === true;
  const report: GcReport = { repositories: 0, manifests: [], blobs: [], freed: [], bytesFreed: 0, uploads: 0, keptYoung: 0, skipped: [], dryRun };
  // Our own unlinks change an inode's ctime too, which would make a blob look young to the rest of this run
  // (a shared blob freed only by a second run). So for each inode we unlinked, remember its ctime before and
  // after: while it is still the "after", the "before" counts; any other change (a push linking it) counts as is.
  const ours = new Map<number, { before: number; after: number }>();
  const age = (st: { ino: number; ctimeMs: number }): number => {
    const o = ours.get(st.ino);
    return now - (o && o.after === st.ctimeMs ? o.before : st.ctimeMs);
  };
  const young = (st: { ino: number; ctimeMs: number }): boolean => options.graceMs > 0 && age(st) < options.graceMs;

  for (const repository of await store.repositories(now, true)) {
    options.signal?.throwIfAborted();
    report.repositories++;
    const dir = store.repositoryDir(repository);
    await store.locks.withRepository(dir, async () => {
      const index = await readIndex(dir, false);
      if (!index) return;
      let listed = index.manifests;
      if (options.deleteUntagged) {
        const keep = await reachableFromTags(store, repository, listed);
        const removed: Descriptor[] = [];
        const kept: Descriptor[] = [];
        for (const d of listed) {
          const isTagged = d.annotations?.[REF_NAME_ANNOTATION] !== undefined;
          if (isTagged || keep.has(d.digest)) {
            kept.push(d);
            continue;
          }
          const st = await fsp.stat(blobPath(dir, d.digest)).catch(() => undefined);
          if (st && young(st)) {
            report.keptYoung++;
            kept.push(d);
            continue;
          }
          removed.push(d);
        }
        if (removed.length > 0) {
          for (const d of removed) report.manifests.push({ repository, digest: d.digest });
          listed = kept;
          if (!dryRun) await store.writeIndex(repository, { ...index, manifests: kept });
        }
      }
      const marked = await markRepository(store, repository, listed);
      if (!marked) {
        report.skipped.push(repository);
        return;
      }
      for (const alg of await fsp.readdir(join(dir, 'blobs')).catch(() => [] as string[])) {
        for (const hex of await fsp.readdir(join(dir, 'blobs', alg)).catch(() => [] as string[])) {
          const digest = `${alg}:${hex}` as Digest;
          if (marked.has(digest)) continue;
          const path = join(dir, 'blobs', alg, hex);
          const st = await fsp.lstat(path).catch(() => undefined);
          if (!st?.isFile()) continue;
          if (young(st)) {
            report.keptYoung++;
            continue;
          }
          report.blobs.push({ repository, digest, size: st.size });
          // A file in blobs/ that only this repository holds (a layout written by `wharf copy`, not a push) is
          // freed here rather than in the shared store.
          if (st.nlink === 1) {
            report.freed.push({ digest, size: st.size });
            report.bytesFreed += st.size;
          }
          if (dryRun) continue;
          await fsp.unlink(path).catch(() => {});
          const after = await fsp.lstat(store.sharedBlobPath(digest)).catch(() => undefined);
          if (after?.ino === st.ino) ours.set(st.ino, { before: ours.get(st.ino)?.before ?? st.ctimeMs, after: after.ctimeMs });
        }
      }
    });
  }

  const sharedRoot = join(store.metaDir, 'blobs');
  for (const alg of await fsp.readdir(sharedRoot).catch(() => [] as string[])) {
    for (const hex of await fsp.readdir(join(sharedRoot, alg)).catch(() => [] as string[])) {
      options.signal?.throwIfAborted();
      const path = join(sharedRoot, alg, hex);
      const st = await fsp.lstat(path).catch(() => undefined);
      if (!st?.isFile()) continue;
      // In a dry run nothing was unlinked above, so count what the sweep would have left alone.
      const links = dryRun ? st.nlink - removedLinks(report, `${alg}:${hex}` as Digest) : st.nlink;
      if (links > 1) continue;
      if (young(st)) {
        report.keptYoung++;
        continue;
      }
      report.freed.push({ digest: `${alg}:${hex}` as Digest, size: st.size });
      report.bytesFreed += st.size;
      if (!dryRun) await fsp.unlink(path).catch(() => {});
    }
  }

  for (const id of await store.uploads.listStale(now - options.uploadExpiryMs)) {
    report.uploads++;
    if (!dryRun) await store.uploads.remove(id);
  }
  return report;
}

function removedLinks(report: GcReport, digest: Digest): number {
  return report.blobs.filter((b) => b.digest === digest).length;
}

/** Every manifest a tag reaches: tagged ones, their children (recursively), and referrers of anything kept. */
async function reachableFromTags(store: RegistryStore, repository: string, listed: Descriptor[]): Promise<Set<Digest>> {
  const keep = new Set<Digest>();
  const queue = listed.filter((d) => d.annotations?.[REF_NAME_ANNOTATION] !== undefined);
  const subjects = new Map<Digest, Descriptor[]>();
  for (const d of listed) {
    const info = await store.manifestInfo(repository, d);
    if (!info?.subject) continue;
    const list = subjects.get(info.subject.digest) ?? [];
    list.push(d);
    subjects.set(info.subject.digest, list);
  }
  while (queue.length > 0) {
    const d = queue.pop()!;
    if (keep.has(d.digest)) continue;
    keep.add(d.digest);
    const info = await store.manifestInfo(repository, d);
    queue.push(...(info?.children ?? []), ...(subjects.get(d.digest) ?? []));
  }
  return keep;
}

/**
 * The blobs a repository's manifests need: each manifest's own bytes, its config and layers, its children's.
 * `undefined` when a manifest that is there cannot be read: then nothing in the repository may be swept.
 */
async function markRepository(store: RegistryStore, repository: string, listed: Descriptor[]): Promise<Set<Digest> | undefined> {
  const marked = new Set<Digest>();
  const queue = [...listed];
  while (queue.length > 0) {
    const d = queue.pop()!;
    if (marked.has(d.digest)) continue;
    try {
      parseDigest(d.digest);
    } catch {
      continue;
    }
    marked.add(d.digest);
    const info = await store.manifestInfo(repository, d);
    if (!info) {
      if ((await store.blobSize(repository, d.digest)) !== undefined) return undefined;
      continue; // deleted: it needs nothing any more
    }
    for (const blob of info.blobs) marked.add(blob.digest);
    queue.push(...info.children);
  }
  return marked;
}
