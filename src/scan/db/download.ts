/**
 * Download an OSV export (https://osv-vulnerabilities.storage.googleapis.com/<Ecosystem>/all.zip) to a file,
 * streaming: never held in memory, capped in size, removed again when anything fails.
 */
import { createWriteStream, promises as fsp } from 'node:fs';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { WharfError, asWharfError } from '../../errors.js';
import { displaySource } from './layout.js';

export type FetchFunction = typeof globalThis.fetch;

export interface DownloadOptions {
  signal?: AbortSignal;
  /** Default: the global fetch. */
  fetch?: FetchFunction;
  /** Default 4 GiB. */
  maxBytes?: number;
  userAgent?: string;
}

export const DEFAULT_MAX_DOWNLOAD = 4 * 1024 ** 3;

export function isUrl(source: string): boolean {
  return /^https?:\/\//i.test(source);
}

class Cap extends Transform {
  bytes = 0;
  constructor(
    private readonly max: number,
    private readonly where: string,
  ) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.max) {
      done(new WharfError('TOO_LARGE', `${this.where} is larger than ${this.max} bytes`, { hint: 'this is not an OSV export wharf reads' }));
      return;
    }
    done(null, chunk);
  }
}

/** Fetch `url` into `path` (created, must not exist). Resolves with the size written. */
export async function downloadTo(url: string, path: string, options: DownloadOptions = {}): Promise<number> {
  const shown = displaySource(url);
  const max = options.maxBytes ?? DEFAULT_MAX_DOWNLOAD;
  const doFetch = options.fetch ?? globalThis.fetch;
  let res: Response;
  try {
    res = await doFetch(url, {
      redirect: 'follow',
      headers: { 'user-agent': options.userAgent ?? 'wharf' },
      ...(options.signal ? { signal: options.signal } : {}),
    });
  } catch (err) {
    if (options.signal?.aborted) throw asWharfError(options.signal.reason ?? err, 'ABORTED');
    throw new WharfError('NETWORK_ERROR', `downloading ${shown}: ${(err as Error).message}`, {
      hint: 'check the URL and the network (proxies are not read from the environment)',
      cause: err,
      retryable: true,
    });
  }
  if (!res.ok) {
    await res.body?.cancel().catch(() => {});
    if (res.status === 404) {
      throw new WharfError('PATH_NOT_FOUND', `downloading ${shown}: HTTP 404, no such file`, {
        hint: 'OSV ecosystem names are case-sensitive: …/Debian/all.zip, …/Alpine/all.zip, …/npm/all.zip',
      });
    }
    throw new WharfError('NETWORK_ERROR', `downloading ${shown}: HTTP ${res.status} ${res.statusText}`.trim(), {
      hint: res.status >= 500 || res.status === 429 ? 'the server failed; try again later' : 'check the URL',
      retryable: res.status >= 500 || res.status === 429,
    });
  }
  // With a content-encoding, fetch decodes and content-length counts the encoded bytes: no check then.
  const encoded = (res.headers.get('content-encoding') ?? 'identity').toLowerCase() !== 'identity';
  const length = encoded ? NaN : Number(res.headers.get('content-length') ?? NaN);
  if (Number.isFinite(length) && length > max) {
    await res.body?.cancel().catch(() => {});
    throw new WharfError('TOO_LARGE', `${shown} is ${length} bytes, more than ${max}`, { hint: 'this is not an OSV export wharf reads' });
  }
  if (!res.body) throw new WharfError('NETWORK_ERROR', `downloading ${shown}: the response has no body`, { retryable: true });
  const cap = new Cap(max, shown);
  const out = createWriteStream(path, { flags: 'wx', flush: true });
  try {
    await pipeline(Readable.fromWeb(res.body as unknown as WebReadableStream<Uint8Array>), cap, out, options.signal ? { signal: options.signal } : {});
  } catch (err) {
    if (!out.closed) await new Promise<void>((resolve) => out.once('close', () => resolve()));
    await fsp.rm(path, { force: true });
    if (err instanceof WharfError) throw err;
    if (options.signal?.aborted) throw asWharfError(options.signal.reason ?? err, 'ABORTED');
    throw new WharfError('NETWORK_ERROR', `downloading ${shown}: ${(err as Error).message}`, { cause: err, retryable: true });
  }
  if (Number.isFinite(length) && cap.bytes !== length) {
    await fsp.rm(path, { force: true });
    throw new WharfError('NETWORK_ERROR', `downloading ${shown}: got ${cap.bytes} bytes of ${length}`, { hint: 'the connection was cut; try again', retryable: true });
  }
  return cap.bytes;
}
