/**
 * Download an OSV export (https://osv-vulnerabilities.storage.googleapis.com/<Ecosystem>/all.zip) to a file,
 * streaming: never held in memory, capped in size, removed again when anything fails.
 *
 * Requests go out through node:http(s), through the proxy that HTTPS_PROXY / HTTP_PROXY / NO_PROXY name (as the
 * caller parsed them: util/proxy.ts), the same tunnels as the registry client's. A conditional request (the
 * ETag and Last-Modified of the copy the database holds) that gets 304 downloads nothing.
 */
import { createWriteStream, promises as fsp } from 'node:fs';
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import { WharfError, asWharfError } from '../../errors.js';
import { TunnelAgent, forwardRequest, proxyRefused, proxyUnreachable } from '../../util/proxy-agent.js';
import type { ProxyConfig } from '../../util/proxy.js';
import { displaySource } from './layout.js';

export type FetchFunction = typeof globalThis.fetch;

/** What identifies the copy a URL gave last time, as its server sent it. */
export interface Validators {
  etag?: string;
  lastModified?: string;
}

export interface DownloadOptions {
  signal?: AbortSignal;
  /** Instead of node:http(s): this fetch, as it is (no proxy, its own redirects and decoding). For tests. */
  fetch?: FetchFunction;
  /** The proxies to go through (proxyFromEnv); default: direct. */
  proxy?: ProxyConfig;
  /** Default 4 GiB. */
  maxBytes?: number;
  userAgent?: string;
  /** Sent as If-None-Match / If-Modified-Since: a 304 answer then writes nothing. */
  conditional?: Validators;
  /** A connection idle this long (waiting for the answer or for more of the body) fails the download (default 60 s). */
  timeoutMs?: number;
}

export interface DownloadResult {
  /** The server answered 304: the copy we have is current, and nothing was written. */
  notModified: boolean;
  /** Bytes written. */
  bytes: number;
  /** The validators of what was downloaded (or of the unchanged copy, as the 304 repeated them). */
  validators: Validators;
}

export const DEFAULT_MAX_DOWNLOAD = 4 * 1024 ** 3;
const DEFAULT_TIMEOUT_MS = 60_000;
const MAX_REDIRECTS = 10;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);
/** Longer validators are not kept: they are a server's mistake, and would go back in every request. */
const MAX_VALIDATOR = 512;

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

/** A response, whichever client got it. */
interface Fetched {
  status: number;
  statusText: string;
  header(name: string): string | undefined;
  /** The body, decoded. */
  body: Readable | undefined;
  /** Whether Content-Length counts the bytes of `body` (nothing was decoded). */
  lengthApplies: boolean;
  discard(): Promise<void>;
}

function networkFailure(shown: string, err: unknown, signal: AbortSignal | undefined): WharfError {
  if (err instanceof WharfError) return err;
  if (signal?.aborted) return asWharfError(signal.reason ?? err, 'ABORTED');
  return new WharfError('NETWORK_ERROR', `downloading ${shown}: ${(err as Error).message}`, {
    hint: 'check the URL and the network (and HTTPS_PROXY, HTTP_PROXY or NO_PROXY if a proxy is needed to reach it)',
    cause: err,
    retryable: true,
  });
}

/** A header value fit to store and send back: printable, one line, not huge. */
function validator(value: string | null | undefined): string | undefined {
  if (!value || value.length > MAX_VALIDATOR || !/^[\x20-\x7e]+$/.test(value)) return undefined;
  return value.trim() || undefined;
}

function requestHeaders(options: DownloadOptions): Record<string, string> {
  const headers: Record<string, string> = { 'user-agent': options.userAgent ?? 'wharf' };
  const etag = validator(options.conditional?.etag);
  const since = validator(options.conditional?.lastModified);
  if (etag) headers['if-none-match'] = etag;
  if (since) headers['if-modified-since'] = since;
  return headers;
}

async function viaFetch(url: string, options: DownloadOptions, doFetch: FetchFunction): Promise<Fetched> {
  const res = await doFetch(url, {
    redirect: 'follow',
    headers: requestHeaders(options),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  // With a content-encoding, fetch decodes and content-length counts the encoded bytes: no check then.
  const encoded = (res.headers.get('content-encoding') ?? 'identity').toLowerCase() !== 'identity';
  return {
    status: res.status,
    statusText: res.statusText,
    header: (name) => res.headers.get(name) ?? undefined,
    body: res.body ? Readable.fromWeb(res.body as unknown as WebReadableStream<Uint8Array>) : undefined,
    lengthApplies: !encoded,
    discard: async () => {
      await res.body?.cancel().catch(() => {});
    },
  };
}

/** One GET, direct or through the proxy that applies to it. */
function getOnce(url: URL, headers: Record<string, string>, options: DownloadOptions, shown: string): Promise<IncomingMessage> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const proxy = options.proxy?.proxyFor(url);
  const signal = options.signal ? { signal: options.signal } : {};
  return new Promise<IncomingMessage>((resolve, reject) => {
    let req: http.ClientRequest;
    if (proxy && url.protocol === 'http:') {
      const f = forwardRequest(url, proxy);
      req = f.module.request({ ...f.options, method: 'GET', headers: { ...headers, ...f.headers }, agent: false, ...signal });
    } else {
      // One download, one connection: the tunnel agent is not kept.
      const agent = proxy ? new TunnelAgent({ keepAlive: false, proxy, connectTimeoutMs: timeoutMs }) : undefined;
      req = (url.protocol === 'https:' ? https : http).request(url, { method: 'GET', headers, ...(agent ? { agent } : {}), ...signal });
    }
    // Idle, not total: a large export on a slow link takes as long as it takes, a stalled one fails. A stall
    // mid-body fails the response with the same error, or its reader would see only "aborted".
    let response: IncomingMessage | undefined;
    req.setTimeout(timeoutMs, () => {
      const stalled = new WharfError('TIMEOUT', `downloading ${shown}: no data for ${timeoutMs} ms`, { retryable: true, hint: 'the server or the network stalled; try again' });
      response?.destroy(stalled);
      req.destroy(stalled);
    });
    req.on('response', (res: IncomingMessage) => {
      response = res;
      res.on('error', () => {}); // read (and its errors seen) by the caller's pipeline
      if (proxy && url.protocol === 'http:' && res.statusCode === 407) {
        res.resume();
        reject(proxyRefused(proxy, 407, res.statusMessage, url.host, `GET ${shown}`));
        return;
      }
      resolve(res);
    });
    req.on('error', (err) => {
      // Forwarded, every socket is the proxy's: a connection it refuses or drops is told as the proxy's.
      const proxied = proxy && url.protocol === 'http:' && !(err instanceof WharfError) && err.name !== 'AbortError';
      reject(proxied ? proxyUnreachable(proxy, err, `GET ${shown}`) : err);
    });
    req.end();
  });
}

function unescape(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** GET through node:http(s), following redirects (never from https down to http), decoding what a server encoded. */
async function viaNode(url: string, options: DownloadOptions, shown: string): Promise<Fetched> {
  let current = new URL(url);
  const origin = current.origin;
  // User info in the URL is Basic auth for its own origin, never for where it redirects to.
  const basic = current.username || current.password ? `Basic ${Buffer.from(`${unescape(current.username)}:${unescape(current.password)}`).toString('base64')}` : undefined;
  const base = requestHeaders(options);
  for (let hop = 0; ; hop++) {
    current.username = '';
    current.password = '';
    const headers = { ...base, ...(basic && current.origin === origin ? { authorization: basic } : {}) };
    const res = await getOnce(current, headers, options, shown);
    const status = res.statusCode ?? 0;
    const location = res.headers.location;
    if (REDIRECTS.has(status) && location) {
      res.resume();
      if (hop >= MAX_REDIRECTS) throw new WharfError('TOO_MANY_REDIRECTS', `downloading ${shown}: more than ${MAX_REDIRECTS} redirects`, { hint: 'check the URL' });
      let next: URL;
      try {
        next = new URL(location, current);
      } catch {
        throw new WharfError('NETWORK_ERROR', `downloading ${shown}: redirected to an invalid URL`, { hint: 'check the URL' });
      }
      if (next.protocol !== 'https:' && next.protocol !== 'http:') throw new WharfError('NETWORK_ERROR', `downloading ${shown}: redirected to a ${next.protocol} URL`, { hint: 'check the URL' });
      if (current.protocol === 'https:' && next.protocol === 'http:') {
        throw new WharfError('NETWORK_ERROR', `downloading ${shown}: redirected from https to plain http (${displaySource(next.href)})`, {
          hint: 'wharf does not follow a redirect that drops TLS: download the file yourself if you trust it, and import the file',
        });
      }
      current = next;
      continue;
    }
    const encoding = String(res.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
    let body: Readable = res;
    if (encoding !== 'identity' && encoding !== '') {
      const decoder = encoding === 'gzip' || encoding === 'x-gzip' ? createGunzip() : encoding === 'deflate' ? createInflate() : encoding === 'br' ? createBrotliDecompress() : undefined;
      if (!decoder) {
        res.destroy();
        throw new WharfError('UNSUPPORTED', `downloading ${shown}: the server sent content-encoding ${JSON.stringify(encoding.slice(0, 40))}`, { hint: 'wharf reads identity, gzip, deflate and br' });
      }
      // Errors of `res` reach the pipeline through the decoder.
      res.on('error', (err) => decoder.destroy(err));
      body = res.pipe(decoder);
    }
    return {
      status,
      statusText: res.statusMessage ?? '',
      header: (name) => {
        const v = res.headers[name.toLowerCase()];
        return Array.isArray(v) ? v[0] : v;
      },
      body,
      lengthApplies: body === res,
      discard: async () => {
        res.destroy();
      },
    };
  }
}

/**
 * Fetch `url` into `path` (created, must not exist). Resolves with the size written and the validators of what
 * was written; with `conditional` validators and a 304 answer, with `notModified` and nothing written.
 */
export async function downloadTo(url: string, path: string, options: DownloadOptions = {}): Promise<DownloadResult> {
  const shown = displaySource(url);
  const max = options.maxBytes ?? DEFAULT_MAX_DOWNLOAD;
  let res: Fetched;
  try {
    res = options.fetch ? await viaFetch(url, options, options.fetch) : await viaNode(url, options, shown);
  } catch (err) {
    throw networkFailure(shown, err, options.signal);
  }
  const validators: Validators = {};
  const etag = validator(res.header('etag'));
  const lastModified = validator(res.header('last-modified'));
  if (etag) validators.etag = etag;
  if (lastModified) validators.lastModified = lastModified;
  if (res.status === 304 && options.conditional) {
    await res.discard();
    // A 304 may leave out what did not change: the copy we have keeps its validators then.
    return { notModified: true, bytes: 0, validators: { ...options.conditional, ...validators } };
  }
  if (res.status < 200 || res.status > 299) {
    await res.discard();
    if (res.status === 404) {
      throw new WharfError('PATH_NOT_FOUND', `downloading ${shown}: HTTP 404, no such file`, {
        hint: 'OSV ecosystem names are case-sensitive: …/Debian/all.zip, …/Alpine/all.zip, …/npm/all.zip',
      });
    }
    throw new WharfError('NETWORK_ERROR', `downloading ${shown}: HTTP ${res.status} ${res.statusText.replace(/[^\x20-\x7e]/g, '').slice(0, 80)}`.trim(), {
      hint: res.status >= 500 || res.status === 429 ? 'the server failed; try again later' : 'check the URL',
      retryable: res.status >= 500 || res.status === 429,
    });
  }
  const length = res.lengthApplies ? Number(res.header('content-length') ?? NaN) : NaN;
  if (Number.isFinite(length) && length > max) {
    await res.discard();
    throw new WharfError('TOO_LARGE', `${shown} is ${length} bytes, more than ${max}`, { hint: 'this is not an OSV export wharf reads' });
  }
  if (!res.body) throw new WharfError('NETWORK_ERROR', `downloading ${shown}: the response has no body`, { retryable: true });
  const cap = new Cap(max, shown);
  const out = createWriteStream(path, { flags: 'wx', flush: true });
  try {
    await pipeline(res.body, cap, out, options.signal ? { signal: options.signal } : {});
  } catch (err) {
    if (!out.closed) await new Promise<void>((resolve) => out.once('close', () => resolve()));
    await fsp.rm(path, { force: true });
    throw networkFailure(shown, err, options.signal);
  }
  if (Number.isFinite(length) && cap.bytes !== length) {
    await fsp.rm(path, { force: true });
    throw new WharfError('NETWORK_ERROR', `downloading ${shown}: got ${cap.bytes} bytes of ${length}`, { hint: 'the connection was cut; try again', retryable: true });
  }
  return { notModified: false, bytes: cap.bytes, validators };
}
