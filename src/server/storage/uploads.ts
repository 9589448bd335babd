import { randomUUID, type Hash } from 'node:crypto';
import { createReadStream, createWriteStream, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { newHasher, type Digest } from '../../digest/index.js';
import { asWharfError } from '../../errors.js';
import { writeFileAtomic } from '../../util/fs.js';
import { RegistryApiError, apiError } from '../errors.js';
import { KeyedMutex } from './locks.js';

/** An upload session as it is kept on disk, so that it survives a restart of the server. */
export interface UploadSession {
  id: string;
  repository: string;
  startedAt: number;
  /** Bytes received and acknowledged so far (recorded in state.json: the data file may hold more after a crash). */
  size: number;
}

interface UploadState {
  repository?: unknown;
  startedAt?: unknown;
  size?: unknown;
}

const ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The digest of what an upload holds so far, kept while the process lives so the final PUT need not re-read. */
interface RunningHash {
  hash: Hash;
  bytes: number;
}

export interface AppendOptions {
  /** Where the client says this chunk starts (Content-Range); must be the current size. */
  start?: number;
  /** How many bytes the chunk has (Content-Range or Content-Length), when the client said. */
  length?: number;
  /** The most an upload may hold in all. */
  maxSize: number;
  signal?: AbortSignal;
}

/**
 * Upload sessions in `.wharf/uploads/<id>/` (`state.json` + `data`). A chunk is appended under a per-upload
 * mutex, fsynced before it is acknowledged, and cut back off when it fails half-way, so the acknowledged size
 * is always exactly what the file holds. Data becomes a blob only through RegistryStore's commit, after its
 * digest is verified.
 */
export class UploadStore {
  private readonly mutex = new KeyedMutex();
  private readonly hashes = new Map<string, RunningHash>();

  constructor(readonly dir: string) {}

  async create(repository: string, now = Date.now()): Promise<UploadSession> {
    const id = randomUUID();
    const dir = join(this.dir, id);
    await fsp.mkdir(dir);
    await fsp.writeFile(join(dir, 'data'), '');
    await writeFileAtomic(join(dir, 'state.json'), JSON.stringify({ repository, startedAt: now, size: 0 }));
    this.hashes.set(id, { hash: newHasher('sha256'), bytes: 0 });
    return { id, repository, startedAt: now, size: 0 };
  }

  /** The session `id` of `repository`; BLOB_UPLOAD_UNKNOWN for anything else (another repository's id too). */
  async get(repository: string, id: string): Promise<UploadSession> {
    if (!ID.test(id)) throw apiError.uploadUnknown();
    const dir = join(this.dir, id);
    let state: UploadState;
    let onDisk: number;
    try {
      state = JSON.parse(await fsp.readFile(join(dir, 'state.json'), 'utf8')) as UploadState;
      onDisk = (await fsp.stat(join(dir, 'data'))).size;
    } catch {
      throw apiError.uploadUnknown();
    }
    if (state.repository !== repository) throw apiError.uploadUnknown();
    const acknowledged = typeof state.size === 'number' && Number.isSafeInteger(state.size) ? Math.min(state.size, onDisk) : onDisk;
    return { id, repository, startedAt: typeof state.startedAt === 'number' ? state.startedAt : 0, size: acknowledged };
  }

  private async record(session: UploadSession): Promise<void> {
    const state = { repository: session.repository, startedAt: session.startedAt, size: session.size };
    await writeFileAtomic(join(this.dir, session.id, 'state.json'), JSON.stringify(state));
  }

  /**
   * The session with its data cut to exactly what was acknowledged: a chunk the server was killed in the
   * middle of may have left bytes that no client was ever told were received.
   */
  async seal(session: UploadSession): Promise<UploadSession> {
    return this.mutex.with(session.id, async () => {
      const current = await this.get(session.repository, session.id);
      const st = await fsp.stat(this.dataPath(session.id));
      if (st.size > current.size) await fsp.truncate(this.dataPath(session.id), current.size);
      return current;
    });
  }

  dataPath(id: string): string {
    return join(this.dir, id, 'data');
  }

  /** Append a chunk; resolves with the new size. A chunk that does not start at the current size is 416. */
  async append(session: UploadSession, body: Readable, options: AppendOptions): Promise<number> {
    return this.mutex.with(session.id, async () => {
      const current = (await this.get(session.repository, session.id)).size;
      if (options.start !== undefined && options.start !== current) {
        body.resume();
        throw new RegistryApiError(416, 'BLOB_UPLOAD_INVALID', `chunk starts at ${options.start}, but the upload holds ${current} bytes`, { size: current });
      }
      const limit = Math.min(options.maxSize - current, options.length ?? Infinity);
      const running = this.hashes.get(session.id);
      const inSync = running !== undefined && running.bytes === current;
      let written = 0;
      const meter = new Transform({
        transform(chunk: Buffer, _enc, done) {
          written += chunk.length;
          if (written > limit) {
            done(options.length !== undefined && written > options.length
              ? apiError.sizeInvalid(`the chunk is longer than the ${options.length} bytes it declared`)
              : apiError.tooLarge('the blob', options.maxSize));
            return;
          }
          if (inSync) running.hash.update(chunk);
          done(null, chunk);
        },
      });
      const path = this.dataPath(session.id);
      const out = createWriteStream(path, { flags: 'r+', start: current, highWaterMark: 1 << 20, flush: true });
      try {
        await pipeline(body, meter, out, options.signal ? { signal: options.signal } : {});
        if (options.length !== undefined && written !== options.length) {
          throw apiError.sizeInvalid(`the chunk has ${written} bytes, ${options.length} were declared`);
        }
      } catch (err) {
        // Cut the file back to what was acknowledged; the running hash saw bytes that are gone, so drop it.
        if (!out.closed) await new Promise<void>((resolve) => out.once('close', () => resolve()));
        await fsp.truncate(path, current).catch(() => {});
        this.hashes.delete(session.id);
        if (err instanceof RegistryApiError) throw err;
        throw asWharfError(err, 'IO_ERROR', 'receiving an upload chunk');
      }
      if (inSync) running.bytes += written;
      else this.hashes.delete(session.id);
      session.size = current + written;
      // Bytes past the chunk can only be left over from a chunk a killed server never acknowledged.
      if ((await fsp.stat(path)).size > session.size) await fsp.truncate(path, session.size);
      await this.record(session);
      return session.size;
    });
  }

  /**
   * The digest of everything uploaded, in `digest`'s algorithm: from the running hash when it saw every byte,
   * else (after a restart, a failed chunk, or sha512) by reading the data once.
   */
  async digestOf(session: UploadSession, algorithm: string): Promise<Digest> {
    const running = this.hashes.get(session.id);
    if (algorithm === 'sha256' && running && running.bytes === session.size) {
      return `sha256:${running.hash.copy().digest('hex')}` as Digest;
    }
    const hash = newHasher(algorithm);
    if (session.size === 0) return `${algorithm}:${hash.digest('hex')}` as Digest;
    await pipeline(createReadStream(this.dataPath(session.id), { highWaterMark: 1 << 20, end: session.size - 1 }), async (source: AsyncIterable<Buffer>) => {
      for await (const chunk of source) hash.update(chunk);
    });
    return `${algorithm}:${hash.digest('hex')}` as Digest;
  }

  /** Forget a session (after its commit, or a cancel). */
  async remove(id: string): Promise<void> {
    this.hashes.delete(id);
    await fsp.rm(join(this.dir, id), { recursive: true, force: true });
  }

  /** Sessions started before `before` (GC removes abandoned uploads). */
  async listStale(before: number): Promise<string[]> {
    const out: string[] = [];
    for (const id of await fsp.readdir(this.dir).catch(() => [] as string[])) {
      if (!ID.test(id)) continue;
      const st = await fsp.stat(join(this.dir, id, 'data')).catch(() => undefined);
      if (!st || st.mtimeMs < before) out.push(id);
    }
    return out;
  }
}

