import { randomBytes } from 'node:crypto';
import { createWriteStream, promises as fsp } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { Readable, addAbortSignal } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DigestingStream, type Digest, type VerifyExpectation } from '../digest/index.js';
import { WharfError, asWharfError } from '../errors.js';

/**
 * How much a blob reader asks the disk for at once. 256 KiB keeps six concurrent copies' buffers (and the
 * garbage V8 has yet to collect) small: a 1 GiB copy peaks ~25 MB lower than with 1 MiB reads, at the same speed.
 */
export const BLOB_READ_CHUNK = 256 * 1024;

/** A unique name for a temporary file beside `path`, so the final rename stays on one filesystem. */
export function tempPathBeside(path: string): string {
  return join(dirname(path), `.${randomBytes(6).toString('hex')}.wharf-tmp`);
}

/** Write a small file atomically: temp file, fsync, rename, so readers see the old or the new file, never half. */
export async function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
  const tmp = tempPathBeside(path);
  const fh = await fsp.open(tmp, 'wx', mode);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } catch (err) {
    await fh.close().catch(() => {});
    await fsp.rm(tmp, { force: true });
    throw asWharfError(err, 'IO_ERROR', `writing ${path}`);
  }
  await fh.close();
  try {
    await fsp.rename(tmp, path);
  } catch (err) {
    await fsp.rm(tmp, { force: true });
    throw asWharfError(err, 'IO_ERROR', `writing ${path}`);
  }
}

export interface StreamedFile {
  digest: Digest;
  size: number;
}

/**
 * Stream into `path` (which must not be visible to readers yet: a temp or staging name), hashing as the
 * bytes pass and verifying the expectation. On any failure the file is removed.
 */
export async function streamToFile(
  stream: Readable,
  path: string,
  expected: VerifyExpectation = {},
  signal?: AbortSignal,
  durable = false,
): Promise<StreamedFile> {
  const digester = new DigestingStream(expected);
  // flush: fsync before close, so a blob renamed into place after this is whole even after a crash.
  const out = createWriteStream(path, { flags: 'wx', highWaterMark: 1 << 20, flush: durable });
  try {
    await pipeline(stream, digester, out, signal ? { signal } : {});
  } catch (err) {
    // The file is opened asynchronously: wait until the stream has closed (after its open, if that was still
    // pending), or a file created after the removal below would be left behind.
    if (!out.closed) await new Promise<void>((resolve) => out.once('close', () => resolve()));
    await fsp.rm(path, { force: true });
    throw asWharfError(err, 'IO_ERROR', `writing ${expected.where ?? path}`);
  }
  return { digest: digester.digest(), size: digester.bytes };
}

export async function exists(path: string): Promise<boolean> {
  try {
    await fsp.lstat(path);
    return true;
  } catch {
    return false;
  }
}

export interface LockOptions {
  /** Give up after this long. */
  timeoutMs?: number;
  /** A lock older than this is taken to be left by a crashed process and broken. */
  staleMs?: number;
  /**
   * While `fn` runs, touch the lock this often, so that a long holder (writing a large archive) is never taken
   * for a crashed one. Default: a third of staleMs.
   */
  refreshMs?: number;
}

/** Who holds a lock: written inside the lock directory, so a waiter can tell a crashed holder from a slow one. */
interface LockOwner {
  host: string;
  pid: number;
  token: string;
}

async function readOwner(lockPath: string): Promise<LockOwner | undefined> {
  try {
    const o = JSON.parse(await fsp.readFile(join(lockPath, 'owner'), 'utf8')) as Partial<LockOwner>;
    return typeof o.host === 'string' && typeof o.pid === 'number' && typeof o.token === 'string' ? (o as LockOwner) : undefined;
  } catch {
    return undefined;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'; // exists, but not ours to signal
  }
}

/**
 * Run `fn` holding an exclusive lock on `lockPath` (a directory created with mkdir, which is atomic on every
 * filesystem Node runs on). Several processes updating one oci: layout's index.json serialise here.
 *
 * A lock whose holder died is broken: at once when the holder was a process on this machine that no longer
 * exists (its pid and host are in the lock's `owner` file), else once the lock is older than `staleMs` (the
 * holder touches it while it works). Breaking re-reads the owner first, so a lock taken anew meanwhile stays.
 */
export async function withLock<T>(lockPath: string, fn: () => Promise<T>, options: LockOptions = {}): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const staleMs = options.staleMs ?? 120_000;
  const start = Date.now();
  const me: LockOwner = { host: hostname(), pid: process.pid, token: randomBytes(8).toString('hex') };
  let delay = 5;
  for (;;) {
    try {
      await fsp.mkdir(lockPath);
      await fsp.writeFile(join(lockPath, 'owner'), JSON.stringify(me)).catch(() => {});
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw asWharfError(err, 'IO_ERROR', `locking ${lockPath}`);
      const owner = await readOwner(lockPath);
      const st = await fsp.stat(lockPath).catch(() => undefined);
      const dead = owner !== undefined && owner.host === me.host && owner.pid !== me.pid && !isAlive(owner.pid);
      if (st && (dead || Date.now() - st.mtimeMs > staleMs) && (await readOwner(lockPath))?.token === owner?.token) {
        await fsp.rm(lockPath, { recursive: true, force: true }).catch(() => {});
        continue;
      }
      if (Date.now() - start > timeoutMs) {
        throw new WharfError('LOCK_TIMEOUT', `could not lock ${lockPath} within ${timeoutMs} ms`, {
          hint: `another wharf process is writing here${owner ? ` (pid ${owner.pid} on ${owner.host})` : ''}; if none is, remove the lock directory`,
        });
      }
      await new Promise((r) => setTimeout(r, delay + Math.random() * delay));
      delay = Math.min(delay * 2, 200);
    }
  }
  const refresh = setInterval(() => {
    const now = new Date();
    fsp.utimes(lockPath, now, now).catch(() => {});
  }, options.refreshMs ?? Math.max(1000, Math.floor(staleMs / 3)));
  refresh.unref();
  try {
    return await fn();
  } finally {
    clearInterval(refresh);
    const owner = await readOwner(lockPath);
    if (!owner || owner.token === me.token) await fsp.rm(lockPath, { recursive: true, force: true }).catch(() => {});
  }
}

export async function fsyncDir(path: string): Promise<void> {
  const fh = await fsp.open(path, 'r').catch(() => undefined);
  if (!fh) return;
  await fh.sync().catch(() => {});
  await fh.close();
}

export interface RangeStreamOptions {
  signal?: AbortSignal;
  /** The error when the file ends before the range does (`missing` bytes short). */
  onShort: (missing: number) => Error;
  /** What a read error is wrapped as (where it happened, for the message). */
  what: string;
}

/**
 * The bytes `start` to `start + length` of an open file, read positionally (several ranges of one handle can be
 * read at once). A file shorter than the range is an error, never a silently short blob.
 */
export function fileRangeStream(fh: fsp.FileHandle, start: number, length: number, options: RangeStreamOptions): Readable {
  let pos = start;
  const end = start + length;
  const stream = new Readable({
    highWaterMark: BLOB_READ_CHUNK,
    read(): void {
      const n = Math.min(BLOB_READ_CHUNK, end - pos);
      if (n <= 0) {
        this.push(null);
        return;
      }
      const buf = Buffer.allocUnsafe(n);
      fh.read(buf, 0, n, pos).then(
        ({ bytesRead }) => {
          if (bytesRead === 0) {
            this.destroy(options.onShort(end - pos));
            return;
          }
          pos += bytesRead;
          this.push(bytesRead === n ? buf : buf.subarray(0, bytesRead));
        },
        (err: unknown) => this.destroy(asWharfError(err, 'IO_ERROR', options.what)),
      );
    },
  });
  return options.signal ? addAbortSignal(options.signal, stream) : stream;
}
