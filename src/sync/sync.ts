/**
 * `skopeo sync` as a library operation: copy every image a source holds (a registry repository, a directory of
 * `dir:` images, an OCI layout, or skopeo's sync YAML) to a registry namespace or a local directory, several
 * images at once, each with one copyImage call (so blobs the destination has are skipped, and each destination
 * is written atomically).
 *
 *   const r = await sync({ src: 'docker', dest: 'dir', source: 'registry.example.com/busybox', destination: '/media/usb' });
 *   // r.copied: dir:/media/usb/busybox:1.36, dir:/media/usb/busybox:latest, …
 */
import { copyImage } from '../copy/copy.js';
import type { CopyEvent, CopyOptions } from '../copy/types.js';
import { WharfError, asWharfError } from '../errors.js';
import { makePlan, parallelism, type PlannedImage } from './plan.js';
import type { SyncEvent, SyncFailure, SyncOptions, SyncResult } from './types.js';

const SOURCES = ['docker', 'dir', 'oci', 'yaml'];
const DESTINATIONS = ['docker', 'dir', 'oci'];

/**
 * Sync the images of `options.source` to `options.destination`. Without keepGoing the first failure stops the
 * sync (copies in flight are aborted, and leave their destinations as they were) and is thrown; with keepGoing
 * every image is attempted and `failed` lists the failures.
 */
export async function sync(options: SyncOptions): Promise<SyncResult> {
  checkOptions(options);
  const emit = options.onEvent ?? (() => {});
  throwIfAborted(options.signal);
  const plan = await makePlan(options, (f) => emit({ type: 'repository-failed', repository: f.item.source, error: f.error }));
  throwIfAborted(options.signal);
  const planned = plan.images.map((p) => p.item);
  emit({ type: 'plan', images: planned.length, items: planned, dryRun: options.dryRun === true });
  const result: SyncResult = { planned, copied: [], failed: [...plan.failures], bytesWritten: 0 };
  if (options.dryRun || plan.images.length === 0) return result;
  await copyAll(plan.images, options, result, emit);
  return result;
}

function checkOptions(options: SyncOptions): void {
  if (!SOURCES.includes(options.src)) {
    throw new WharfError('USAGE', `"${String(options.src).slice(0, 40)}" is not a valid source transport`, { hint: `use one of: ${SOURCES.join(', ')}` });
  }
  if (!DESTINATIONS.includes(options.dest)) {
    throw new WharfError('USAGE', `"${String(options.dest).slice(0, 40)}" is not a valid destination transport`, { hint: `use one of: ${DESTINATIONS.join(', ')}` });
  }
  if (typeof options.source !== 'string' || options.source === '') throw new WharfError('USAGE', 'the sync source is empty');
  if (typeof options.destination !== 'string' || options.destination === '') throw new WharfError('USAGE', 'the sync destination is empty');
  if (options.appendSuffix !== undefined && options.appendSuffix !== '' && !/^[\w.-]{1,127}$/.test(options.appendSuffix)) {
    throw new WharfError('USAGE', `--append-suffix ${JSON.stringify(options.appendSuffix.slice(0, 60))} cannot be part of a tag`, {
      hint: 'a tag suffix is letters, digits, _ . and -',
    });
  }
  parallelism(options);
}

async function copyAll(images: PlannedImage[], options: SyncOptions, result: SyncResult, emit: (e: SyncEvent) => void): Promise<void> {
  const stop = new AbortController();
  const signal = options.signal ? AbortSignal.any([options.signal, stop.signal]) : stop.signal;
  const total = images.length;
  const base: Omit<CopyOptions, 'onEvent' | 'signal' | 'sourceRegistry' | 'destinationRegistry'> = options.copy ?? {};
  const destinationRegistry = options.destinationRegistry ?? base.registry;
  const logger = options.logger ?? base.logger;
  let first: SyncFailure | undefined;
  let next = 0;

  const worker = async (): Promise<void> => {
    while (next < total && !signal.aborted) {
      const index = next++;
      const { item, src, dest, sourceAccess } = images[index]!;
      emit({ type: 'image-start', item, index, total });
      const copyOptions: CopyOptions = {
        ...base,
        signal,
        onEvent: (e: CopyEvent) => emit({ ...e, item }),
      };
      if (options.all !== undefined) copyOptions.all = options.all;
      if (logger) copyOptions.logger = logger;
      const sourceRegistry = sourceAccess ?? options.sourceRegistry ?? base.registry;
      if (sourceRegistry) copyOptions.sourceRegistry = sourceRegistry;
      if (destinationRegistry) copyOptions.destinationRegistry = destinationRegistry;
      try {
        const r = await copyImage(src, dest, copyOptions);
        result.copied.push({ ...item, digest: r.digest, bytesWritten: r.bytesWritten, blobsCopied: r.blobsCopied, blobsSkipped: r.blobsSkipped });
        result.bytesWritten += r.bytesWritten;
        emit({ type: 'image-done', item, index, total, digest: r.digest, bytesWritten: r.bytesWritten, blobsCopied: r.blobsCopied, blobsSkipped: r.blobsSkipped });
      } catch (err) {
        const error = asWharfError(err);
        if (options.signal?.aborted) {
          emit({ type: 'image-failed', item, index, total, error: aborted(options.signal, err) });
        } else if (first !== undefined) {
          // Stopped because another image failed first.
          emit({ type: 'image-failed', item, index, total, error: new WharfError('ABORTED', `stopped: ${first.item.source} failed`, { cause: err }) });
        } else if (options.keepGoing) {
          result.failed.push({ item, error });
          emit({ type: 'image-failed', item, index, total, error });
          logger?.warn(`copying ${item.source} failed: ${error.message}`);
        } else {
          first = { item, error };
          emit({ type: 'image-failed', item, index, total, error });
          stop.abort(error);
        }
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallelism(options), total) }, worker));
  if (options.signal?.aborted) throw aborted(options.signal);
  if (first) {
    const e = first.error;
    throw new WharfError(e.code, `syncing ${first.item.source} to ${first.item.destination}: ${e.message}`, {
      hint: e.hint ?? 'use --keep-going to sync the other images anyway',
      cause: e,
      retryable: e.retryable,
    });
  }
}

function aborted(signal: AbortSignal, cause?: unknown): WharfError {
  const reason: unknown = signal.reason;
  if (reason instanceof WharfError && reason.code === 'ABORTED') return reason;
  return new WharfError('ABORTED', 'sync aborted', { cause: cause ?? reason });
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw aborted(signal);
}
