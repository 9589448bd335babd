/**
 * RegistryClient: the OCI distribution API over HTTP, for one registry endpoint.
 *
 * What it takes care of, so that transports do not have to:
 * - auth (auth.ts): the challenge is learned once (GET /v2/), tokens are fetched per scope set and cached, a 401
 *   is answered once with a fresh token, credentials never reach a message;
 * - retries: 408/429/5xx and network errors, exponential backoff with jitter, Retry-After honoured (capped),
 *   never on 401/403/404;
 * - redirects for GETs and HEADs (blobs on object storage), at most 10, loops detected, Authorization only ever
 *   sent to the registry's own origin;
 * - timeouts: an idle timeout per request and per response body, never counting the time our consumer takes;
 * - hostile answers: manifests capped at MAX_MANIFEST_BYTES (before and while reading), digests checked,
 *   blob streams that never yield more than the descriptor's size, error bodies capped.
 *
 * Every method takes an AbortSignal; close() releases the connections.
 */
import { Readable, addAbortSignal } from 'node:stream';
import { digestAlgorithm, digestOf, isDigest, parseDigest, type Digest } from '../digest/index.js';
import { DigestMismatchError, WharfError, asWharfError } from '../errors.js';
import { MAX_MANIFEST_BYTES, guessMediaType } from '../oci/manifest.js';
import type { ProxyConfig } from '../util/proxy.js';
import { Authenticator, repositoryScope, type CredentialsSource, type Logger, type RegistryCredentials } from './auth.js';
import { ChunkReader } from './chunk-reader.js';
import {
  HttpTransport,
  contentLength,
  discard,
  header,
  idleChunks,
  networkError,
  readBody,
  safeUrl,
  type HttpResponse,
  type TlsOptions,
} from './http.js';
import { RegistryError, errorForStatus, parseErrorBody, type ErrorContext } from './registry-errors.js';
import { abortedError, backoffDelay, parseRetryAfter, sleep } from './retry.js';

export type { RegistryCredentials, Logger, TlsOptions };

export interface RegistryClientOptions {
  /**
   * `host[:port]`. A mirror may add a namespace prefix (`mirror.example.com/prefix`), which is put in front of
   * every repository name, the way registries.conf mirror locations work.
   */
  endpoint: string;
  /** Default https; 'http' only when the caller allows an insecure registry. */
  scheme?: 'https' | 'http';
  tls?: TlsOptions;
  credentials?: CredentialsSource;
  /** Retries of one request after 408/429/5xx or a network error (default 3); never after 401/403/404. */
  retryTimes?: number;
  /** Idle timeout of a request and of a response body, in ms (default 60 000). */
  timeoutMs?: number;
  userAgent?: string;
  logger?: Logger;
  /** Blobs smaller than this are uploaded in one PUT, larger ones in PATCH chunks of this size (default 4 MiB: less memory per upload in flight, and measured faster against distribution than 8 MiB or 2 MiB). */
  chunkSize?: number;
  /** The first retry waits about this long, each further one twice as long (default 500 ms, at most 30 s). */
  retryDelayMs?: number;
  /** Proxies to go through (proxyFromEnv(env) reads them as Go does); default: every connection is direct. */
  proxy?: ProxyConfig;
}

export interface PutBlobOptions {
  /**
   * The blob again from `offset` on. A chunked upload that loses bytes it no longer holds (the registry kept less
   * than was sent, or the upload session had to be restarted) asks for them here; without it, such an upload fails
   * with a retryable error and the caller starts over.
   */
  reopen?: (offset: number) => Promise<Readable>;
}

export interface ListOptions {
  /** Page size asked of the registry (`n=`); the registry may send fewer. */
  pageSize?: number;
}

export interface ManifestResult {
  bytes: Buffer;
  mediaType: string;
  digest: Digest;
}

interface UploadSession {
  location: URL;
  minChunk: number;
}

interface SendSpec {
  method: string;
  url: URL;
  headers?: Record<string, string>;
  body?: Buffer;
  scopes: string[];
  /** Follow 3xx (GET and HEAD only). */
  redirects?: boolean;
  ctx: ErrorContext;
}

const DEFAULT_TIMEOUT_MS = 60_000;
const DEFAULT_CHUNK_SIZE = 4 << 20;
const MAX_REDIRECTS = 10;
const MAX_ERROR_BODY = 64 * 1024;
const MAX_LIST_PAGE = 32 << 20;
/** Resumes of one blob download, whatever the progress between them. */
const MAX_RESUMES = 100;
const REDIRECT_STATUS = new Set([301, 302, 303, 307, 308]);
const USER_AGENT = 'wharf/0.1';

const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

function retryableStatus(status: number): boolean {
  return status === 408 || status === 429 || (status >= 500 && status !== 501 && status !== 505);
}

export class RegistryClient {
  /** The endpoint as given, for messages. */
  readonly endpoint: string;
  /** scheme://host:port/ of the registry. */
  readonly baseUrl: URL;
  private readonly prefix: string;
  private readonly http: HttpTransport;
  private readonly auth: Authenticator;
  private readonly retryTimes: number;
  private readonly retryDelayMs: number;
  private readonly chunkSize: number;
  private readonly timeoutMs: number;
  private readonly userAgent: string;
  private readonly logger: Logger | undefined;
  private pinged = false;
  private pinging: Promise<void> | undefined;

  constructor(options: RegistryClientOptions) {
    const { host, prefix } = parseEndpoint(options.endpoint);
    const scheme = options.scheme ?? 'https';
    if (scheme !== 'https' && scheme !== 'http') throw new WharfError('USAGE', `registry scheme must be https or http, not "${String(scheme)}"`);
    this.endpoint = options.endpoint;
    this.baseUrl = new URL(`${scheme}://${host}/`);
    this.prefix = prefix;
    this.retryTimes = Math.max(0, Math.floor(options.retryTimes ?? 3));
    this.retryDelayMs = Math.max(0, options.retryDelayMs ?? 500);
    this.chunkSize = Math.max(1, Math.floor(options.chunkSize ?? DEFAULT_CHUNK_SIZE));
    this.timeoutMs = Math.max(1, options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    this.userAgent = options.userAgent ?? USER_AGENT;
    this.logger = options.logger;
    this.http = new HttpTransport({
      tlsHost: this.baseUrl.hostname,
      ...(options.tls ? { tls: options.tls } : {}),
      ...(options.proxy ? { proxy: options.proxy } : {}),
      timeoutMs: this.timeoutMs,
    });
    this.auth = new Authenticator({
      registry: host,
      credentialsKey: options.endpoint,
      credentials: options.credentials,
      transport: this.http,
      userAgent: this.userAgent,
      logger: this.logger ? { warn: (m) => this.warn(m), debug: (m) => this.debug(m) } : undefined,
    });
  }

  // -------------------------------------------------------------------------------------------------------------
  // Version check and login

  /** GET /v2/: checks that this is a registry and learns its auth challenge. */
  async ping(signal?: AbortSignal): Promise<void> {
    const ctx: ErrorContext = { registry: this.registryName, what: 'registry check (GET /v2/)' };
    await this.retrying(ctx.what, signal, async () => {
      const res = await this.http.request({
        method: 'GET',
        url: new URL('/v2/', this.baseUrl),
        headers: { 'user-agent': this.userAgent },
        ...(signal ? { signal } : {}),
      });
      this.debug(`GET ${safeUrl(res.url)} → ${res.status}`);
      if (res.status === 401) {
        const challenge = res.headers['www-authenticate'];
        discard(res);
        if (challenge !== undefined) this.auth.learn(challenge);
      } else if (res.status >= 200 && res.status < 300) {
        discard(res);
        this.auth.setNoAuth();
      } else if (res.status === 404) {
        discard(res);
        throw new RegistryError('REGISTRY_ERROR', `${this.registryName} does not serve the registry API (GET /v2/ answered 404)`, {
          status: 404,
          hint: 'check the registry host, port and scheme',
        });
      } else {
        throw await this.fail(res, ctx);
      }
      this.pinged = true;
    });
  }

  /** Check the credentials: a token without scope from the token service, or an authenticated GET /v2/. */
  async login(signal?: AbortSignal): Promise<void> {
    await this.ping(signal);
    const kind = await this.retrying('login', signal, () => this.auth.verifyToken(signal));
    if (kind === 'bearer') return;
    const ctx: ErrorContext = { registry: this.registryName, what: 'login', hadCredentials: await this.auth.hasCredentials() };
    const res = await this.send({ method: 'GET', url: new URL('/v2/', this.baseUrl), scopes: [], ctx }, signal);
    if (res.status !== 200) throw await this.fail(res, ctx);
    discard(res);
  }

  // -------------------------------------------------------------------------------------------------------------
  // Manifests

  /**
   * GET a manifest, at most MAX_MANIFEST_BYTES. When `reference` is a digest the bytes must match it; a
   * Docker-Content-Digest header must match the bytes. The digest returned is that of the bytes.
   */
  async getManifest(repo: string, reference: string, accept: string[], signal?: AbortSignal): Promise<ManifestResult> {
    const name = this.repoName(repo);
    checkReference(reference);
    const ctx = await this.context(name, `manifest ${reference}`, 'pull', 'MANIFEST_UNKNOWN');
    const where = `manifest ${reference} from ${this.registryName}/${name}`;
    return this.retrying(ctx.what, signal, async () => {
      const res = await this.request(
        { method: 'GET', url: this.apiUrl(`${name}/manifests/${reference}`), headers: acceptHeader(accept), scopes: [pull(name)], redirects: true, ctx },
        signal,
      );
      if (res.status !== 200) throw await this.fail(res, ctx);
      const bytes = await readBody(res, MAX_MANIFEST_BYTES, this.timeoutMs, where);
      const digest = verifyManifestDigest(bytes, reference, header(res.headers, 'docker-content-digest'), where);
      return { bytes, mediaType: manifestMediaType(header(res.headers, 'content-type'), bytes), digest };
    });
  }

  /** HEAD a manifest: its media type, digest and size, or undefined when the registry does not have it. */
  async headManifest(
    repo: string,
    reference: string,
    accept: string[],
    signal?: AbortSignal,
  ): Promise<{ mediaType: string; digest: Digest; size: number } | undefined> {
    const name = this.repoName(repo);
    checkReference(reference);
    const ctx = await this.context(name, `manifest ${reference}`, 'pull', 'MANIFEST_UNKNOWN');
    const head = await this.retrying(ctx.what, signal, async () => {
      const res = await this.request(
        { method: 'HEAD', url: this.apiUrl(`${name}/manifests/${reference}`), headers: acceptHeader(accept), scopes: [pull(name)], redirects: true, ctx },
        signal,
      );
      if (res.status === 404) {
        discard(res);
        return undefined;
      }
      if (res.status !== 200) throw await this.fail(res, ctx);
      discard(res);
      return res;
    });
    if (!head) return undefined;
    const digestHeader = header(head.headers, 'docker-content-digest');
    const type = header(head.headers, 'content-type');
    const size = contentLength(head.headers);
    if (digestHeader && isDigest(digestHeader) && size !== undefined && type && !genericType(type)) {
      if (isDigest(reference) && digestHeader !== reference) {
        throw new DigestMismatchError(reference, digestHeader, `manifest ${reference} from ${this.registryName}/${name}`);
      }
      if (size > MAX_MANIFEST_BYTES) {
        throw new WharfError('TOO_LARGE', `manifest ${reference} from ${this.registryName}/${name} is ${size} bytes, more than the ${MAX_MANIFEST_BYTES}-byte limit`);
      }
      return { mediaType: stripParams(type), digest: digestHeader as Digest, size };
    }
    // The registry did not say enough in the HEAD answer: read the manifest and compute.
    const m = await this.getManifest(repo, reference, accept, signal);
    return { mediaType: m.mediaType, digest: m.digest, size: m.bytes.length };
  }

  /** PUT a manifest (by tag or by digest); resolves with its digest. Its blobs (and children) must be there first. */
  async putManifest(repo: string, reference: string, bytes: Uint8Array, mediaType: string, signal?: AbortSignal): Promise<Digest> {
    const name = this.repoName(repo);
    checkReference(reference);
    const where = `manifest ${reference} for ${this.registryName}/${name}`;
    if (bytes.length > MAX_MANIFEST_BYTES) {
      throw new WharfError('TOO_LARGE', `${where} is ${bytes.length} bytes, more than the ${MAX_MANIFEST_BYTES}-byte limit`);
    }
    let digest: Digest;
    if (isDigest(reference)) {
      digest = reference as Digest;
      const actual = digestOf(bytes, digestAlgorithm(digest));
      if (actual !== digest) throw new DigestMismatchError(digest, actual, where);
    } else {
      digest = digestOf(bytes);
    }
    const ctx = await this.context(name, `manifest ${reference}`, 'push', 'IMAGE_NOT_FOUND');
    // One retry loop around the whole answer (request, not send: send has its own loop for 5xx and network
    // errors, and nesting the two would try (retryTimes+1)^2 times).
    const res = await this.retrying(where, signal, async () => {
      const r = await this.request(
        {
          method: 'PUT',
          url: this.apiUrl(`${name}/manifests/${reference}`),
          headers: { 'content-type': mediaType },
          body: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength),
          scopes: [push(name)],
          ctx,
        },
        signal,
      );
      if (r.status >= 200 && r.status < 300) return r;
      const err = await this.fail(r, ctx);
      // DIGEST_INVALID for a manifest whose digest wharf computed from the very bytes it sends is the registry's
      // passing state: distribution 2.8 answers so when, while it checks the manifest's blobs, another push of a
      // shared blob rewrites that blob's link file in the repository (its filesystem driver truncates, then
      // writes), and the check reads an empty link. Seen with parallel syncs of tags sharing layers; try again.
      if (err instanceof RegistryError && err.registryCode === 'DIGEST_INVALID') {
        throw new RegistryError(err.code, err.message, { retryable: true, status: err.status, registryCode: err.registryCode, cause: err, ...(err.hint ? { hint: err.hint } : {}) });
      }
      throw err;
    });
    const theirs = header(res.headers, 'docker-content-digest');
    discard(res);
    if (theirs && isDigest(theirs) && digestAlgorithm(theirs as Digest) === digestAlgorithm(digest) && theirs !== digest) {
      this.warn(`${where}: the registry reports digest ${theirs}, wharf computed ${digest}`);
    }
    return digest;
  }

  /** DELETE a manifest by digest (registries do not delete by tag). */
  async deleteManifest(repo: string, digest: Digest, signal?: AbortSignal): Promise<void> {
    const name = this.repoName(repo);
    parseDigest(digest);
    const ctx = await this.context(name, `manifest ${digest}`, 'delete', 'MANIFEST_UNKNOWN');
    const res = await this.send(
      { method: 'DELETE', url: this.apiUrl(`${name}/manifests/${digest}`), scopes: [repositoryScope(name, ['delete'])], ctx },
      signal,
    );
    if (res.status < 200 || res.status >= 300) throw await this.fail(res, ctx);
    discard(res);
  }

  // -------------------------------------------------------------------------------------------------------------
  // Blobs: download

  /**
   * GET a blob, following redirects. The stream resumes by itself with `Range: bytes=N-` after a dropped
   * connection or a stall (up to retryTimes times without progress). It verifies nothing but the size: it never
   * yields more than `size` bytes, and fails when the registry sends more, or less after all resumes.
   */
  async getBlob(repo: string, descriptor: { digest: Digest; size: number }, signal?: AbortSignal): Promise<{ stream: Readable; size: number }> {
    const name = this.repoName(repo);
    const digest = parseDigest(descriptor.digest);
    const ctx = await this.context(name, `blob ${digest}`, 'pull', 'BLOB_UNKNOWN');
    const spec = (offset: number): SendSpec => ({
      method: 'GET',
      url: this.apiUrl(`${name}/blobs/${digest}`),
      headers: offset > 0 ? { range: `bytes=${offset}-` } : {},
      scopes: [pull(name)],
      redirects: true,
      ctx,
    });
    const first = await this.send(spec(0), signal);
    if (first.status !== 200 && first.status !== 206) throw await this.fail(first, ctx);
    const announced = contentLength(first.headers);
    const size = descriptor.size >= 0 ? descriptor.size : announced ?? -1;
    if (first.status === 200 && announced !== undefined && size >= 0 && announced !== size) {
      first.body.destroy();
      throw new WharfError('SIZE_MISMATCH', `blob ${digest} from ${this.registryName}/${name}: the registry announces ${announced} bytes, expected ${size}`, {
        hint: 'the registry serves different content for this digest; nothing was written',
      });
    }
    const open = async (offset: number): Promise<HttpResponse> => {
      const res = await this.request(spec(offset), signal);
      if (res.status === 200 || res.status === 206) return res;
      throw await this.fail(res, ctx);
    };
    const stream = Readable.from(this.blobChunks(first, open, size, ctx.what, signal), { objectMode: false, highWaterMark: 1 << 20 });
    // Destroyed before the first read, the generator never runs its cleanup: release the response here.
    stream.once('close', () => {
      if (!first.body.readableEnded) first.body.destroy();
    });
    if (signal) addAbortSignal(signal, stream);
    return { stream, size };
  }

  private async *blobChunks(
    first: HttpResponse,
    open: (offset: number) => Promise<HttpResponse>,
    size: number,
    what: string,
    signal: AbortSignal | undefined,
  ): AsyncGenerator<Buffer> {
    let res: HttpResponse | undefined = first;
    let pos = 0;
    let failures = 0;
    let resumes = 0;
    try {
      for (;;) {
        const startedAt = pos;
        try {
          if (!res) res = await open(pos);
          let skip = 0;
          if (res.status === 206) {
            const start = contentRangeStart(header(res.headers, 'content-range'));
            if (start !== pos) {
              throw new RegistryError('REGISTRY_ERROR', `${what}: asked for bytes from ${pos}, the registry sent a range from ${start ?? 'an unreadable offset'}`);
            }
          } else if (pos > 0) {
            skip = pos; // the registry ignored Range: read past what we have
          }
          let counted = 0;
          for await (let chunk of idleChunks(res.body, this.timeoutMs, what)) {
            if (skip > 0) {
              if (chunk.length <= skip) {
                skip -= chunk.length;
                continue;
              }
              chunk = chunk.subarray(skip);
              skip = 0;
            }
            if (size >= 0 && pos + chunk.length > size) {
              throw new WharfError('SIZE_MISMATCH', `${what} from ${this.registryName}: the registry sent more than the ${size} bytes expected`, {
                hint: 'the registry serves different content for this digest; nothing was written',
              });
            }
            pos += chunk.length;
            counted += chunk.length;
            yield chunk;
          }
          res = undefined;
          if (size < 0 || pos === size) return;
          throw new RegistryError('NETWORK_ERROR', `${what}: the connection ended after ${pos} of ${size} bytes`, { retryable: true });
        } catch (err) {
          res?.body.destroy();
          res = undefined;
          const e = networkError(err, what);
          if (!e.retryable || signal?.aborted || size < 0) throw signal?.aborted ? abortedError(signal) : e;
          failures = pos > startedAt ? 1 : failures + 1;
          if (failures > this.retryTimes || ++resumes > MAX_RESUMES) throw e;
          this.warn(`${e.message}; resuming at byte ${pos} of ${size}`);
          await sleep(backoffDelay(failures - 1, this.retryDelayMs), signal);
        }
      }
    } finally {
      res?.body.destroy();
    }
  }

  /** HEAD a blob: its size (-1 when the registry does not say), or undefined when the repository lacks it. */
  async headBlob(repo: string, digest: Digest, signal?: AbortSignal): Promise<number | undefined> {
    const name = this.repoName(repo);
    parseDigest(digest);
    const ctx = await this.context(name, `blob ${digest}`, 'pull', 'BLOB_UNKNOWN');
    return this.retrying(ctx.what, signal, async () => {
      const res = await this.request({ method: 'HEAD', url: this.apiUrl(`${name}/blobs/${digest}`), scopes: [pull(name)], redirects: true, ctx }, signal);
      if (res.status === 404) {
        discard(res);
        return undefined;
      }
      if (res.status !== 200) throw await this.fail(res, ctx);
      discard(res);
      return contentLength(res.headers) ?? -1;
    });
  }

  // -------------------------------------------------------------------------------------------------------------
  // Blobs: upload

  /**
   * Cross-repository mount: true when the registry linked the blob from `fromRepo` (201). When it started an
   * upload instead (202), that upload is cancelled and the answer is false; so is it when the mount is not
   * allowed, and the caller uploads the blob.
   */
  async mountBlob(repo: string, digest: Digest, fromRepo: string, signal?: AbortSignal): Promise<boolean> {
    const name = this.repoName(repo);
    const from = this.repoName(fromRepo);
    parseDigest(digest);
    const ctx = await this.context(name, `mount of blob ${digest} from ${from}`, 'push', 'IMAGE_NOT_FOUND');
    const url = this.apiUrl(`${name}/blobs/uploads/`);
    url.searchParams.set('mount', digest);
    url.searchParams.set('from', from);
    const res = await this.send({ method: 'POST', url, scopes: [push(name), pull(from)], ctx }, signal);
    if (res.status === 201) {
      discard(res);
      return true;
    }
    if (res.status === 202) {
      const location = header(res.headers, 'location');
      discard(res);
      if (location) await this.cancelUpload(resolveLocation(location, res.url), name);
      return false;
    }
    const err = await this.fail(res, ctx);
    if (res.status === 401 || res.status === 403 || res.status === 404) {
      this.debug(`${err.message}; the blob will be uploaded instead`);
      return false;
    }
    throw err;
  }

  /**
   * Upload a blob: one POST + PUT when it is smaller than the chunk size, otherwise POST, PATCH chunks with
   * Content-Range (at least OCI-Chunk-Min-Length each), and a final PUT with the digest. A chunked upload that
   * loses its connection asks the registry how much it kept and goes on from there, from the chunk it still
   * holds or from `options.reopen`. The registry checks the digest on the final PUT; nothing is visible before.
   * The stream is consumed, and destroyed on failure.
   */
  async putBlob(
    repo: string,
    stream: Readable,
    expected: { digest: Digest; size: number },
    signal?: AbortSignal,
    options: PutBlobOptions = {},
  ): Promise<void> {
    const name = this.repoName(repo);
    const digest = parseDigest(expected.digest);
    const ctx = await this.context(name, `blob ${digest}`, 'push', 'IMAGE_NOT_FOUND');
    const reader = new ChunkReader(stream);
    try {
      if (expected.size >= 0 && expected.size < this.chunkSize) {
        await this.putMonolithic(name, reader, digest, expected.size, ctx, signal);
      } else {
        await this.putChunked(name, reader, digest, expected.size, ctx, signal, options.reopen);
      }
    } catch (err) {
      reader.close();
      throw signal?.aborted ? abortedError(signal) : err;
    }
  }

  private async putMonolithic(name: string, reader: ChunkReader, digest: Digest, size: number, ctx: ErrorContext, signal?: AbortSignal): Promise<void> {
    const bytes = await reader.read(size + 1);
    if (bytes.length !== size) throw sourceSizeError(ctx.what, size, bytes.length > size ? 'more' : bytes.length);
    await this.retrying(ctx.what, signal, async () => {
      const session = await this.startUpload(name, ctx, signal);
      let res: HttpResponse;
      try {
        res = await this.request(
          { method: 'PUT', url: withDigest(session.location, digest), headers: { 'content-type': 'application/octet-stream' }, body: bytes, scopes: [push(name)], ctx },
          signal,
        );
      } catch (err) {
        if (await this.landed(name, digest, size, signal)) return;
        throw err;
      }
      if (res.status >= 200 && res.status < 300) {
        discard(res);
        return;
      }
      const e = await this.fail(res, ctx);
      if (!e.retryable) await this.cancelUpload(session.location, name);
      throw e;
    });
  }

  private async putChunked(
    name: string,
    firstReader: ChunkReader,
    digest: Digest,
    size: number,
    ctx: ErrorContext,
    signal: AbortSignal | undefined,
    reopen: ((offset: number) => Promise<Readable>) | undefined,
  ): Promise<void> {
    let reader = firstReader;
    let readerPos = 0;
    let session = await this.retrying(ctx.what, signal, () => this.startUpload(name, ctx, signal));
    const chunkSize = Math.max(this.chunkSize, session.minChunk);
    let pending: { start: number; buf: Buffer } | undefined;
    let committed = 0;
    let failures = 0;
    let sourceEnded = false;
    try {
      for (;;) {
        if (size >= 0 && committed >= size) break;
        if (size < 0 && sourceEnded && pending && committed >= pending.start + pending.buf.length) break;
        if (!pending || committed < pending.start || committed >= pending.start + pending.buf.length) {
          if (committed !== readerPos) {
            if (!reopen) {
              throw new RegistryError(
                'NETWORK_ERROR',
                `${ctx.what}: the upload to ${this.registryName}/${name} was interrupted at byte ${committed} and the source cannot be read again`,
                { retryable: true, hint: 'retry the copy' },
              );
            }
            reader.close();
            reader = new ChunkReader(await reopen(committed));
            readerPos = committed;
            sourceEnded = false;
          }
          const want = size >= 0 ? Math.min(chunkSize, size - committed) : chunkSize;
          const buf = await reader.read(want);
          readerPos += buf.length;
          if (buf.length < want) {
            if (size >= 0) throw sourceSizeError(ctx.what, size, readerPos);
            sourceEnded = true;
            if (buf.length === 0) break;
          }
          pending = { start: committed, buf };
        }
        const part = pending.buf.subarray(committed - pending.start);
        try {
          committed = await this.patchChunk(session, part, committed, name, ctx, signal);
          failures = 0;
        } catch (err) {
          const e = asWharfError(err);
          if (!e.retryable || signal?.aborted || ++failures > this.retryTimes) throw e;
          this.warn(`${e.message}; checking how much of the upload the registry kept`);
          await sleep(backoffDelay(failures - 1, this.retryDelayMs), signal);
          const kept = await this.uploadStatus(session, name, ctx, signal).catch((statusErr: unknown) => {
            this.debug(`upload status: ${asWharfError(statusErr).message}`);
            return undefined;
          });
          const sentUpTo = pending.start + pending.buf.length;
          if (kept !== undefined && kept <= sentUpTo) {
            committed = kept;
          } else {
            this.warn(`${ctx.what}: the upload session to ${this.registryName}/${name} is gone; starting it again`);
            await this.cancelUpload(session.location, name);
            session = await this.retrying(ctx.what, signal, () => this.startUpload(name, ctx, signal));
            committed = 0;
          }
        }
      }
      if (size >= 0) {
        const extra = await reader.read(1);
        if (extra.length > 0) throw sourceSizeError(ctx.what, size, 'more');
      }
      const total = size >= 0 ? size : committed;
      await this.retrying(ctx.what, signal, async () => {
        let res: HttpResponse;
        try {
          res = await this.request({ method: 'PUT', url: withDigest(session.location, digest), scopes: [push(name)], ctx }, signal);
        } catch (err) {
          if (await this.landed(name, digest, total, signal)) return;
          throw err;
        }
        if (res.status >= 200 && res.status < 300) {
          discard(res);
          return;
        }
        if (res.status === 404 && (await this.landed(name, digest, total, signal))) {
          discard(res);
          return; // an earlier PUT went through after all
        }
        throw await this.fail(res, ctx);
      });
    } catch (err) {
      await this.cancelUpload(session.location, name);
      throw err;
    } finally {
      if (reader !== firstReader) reader.close();
    }
  }

  /** PATCH one chunk; resolves with the offset the registry has after it. */
  private async patchChunk(
    session: UploadSession,
    part: Buffer,
    start: number,
    name: string,
    ctx: ErrorContext,
    signal?: AbortSignal,
  ): Promise<number> {
    const end = start + part.length - 1;
    const res = await this.request(
      {
        method: 'PATCH',
        url: session.location,
        headers: { 'content-type': 'application/octet-stream', 'content-range': `${start}-${end}` },
        body: part,
        scopes: [push(name)],
        ctx,
      },
      signal,
    );
    if (res.status === 416) {
      discard(res);
      throw new RegistryError('REGISTRY_ERROR', `${ctx.what}: the registry refused the chunk at ${start}-${end} (416)`, { status: 416, retryable: true });
    }
    if (res.status !== 202 && res.status !== 204) throw await this.fail(res, ctx);
    const location = header(res.headers, 'location');
    if (location) session.location = resolveLocation(location, res.url);
    const kept = rangeEnd(header(res.headers, 'range'));
    discard(res);
    if (kept !== undefined && kept + 1 !== end + 1) {
      if (kept + 1 < start || kept + 1 > end + 1) {
        throw new RegistryError('REGISTRY_ERROR', `${ctx.what}: after the chunk ${start}-${end} the registry reports a range up to ${kept}`, { retryable: true });
      }
      return kept + 1;
    }
    return end + 1;
  }

  /** GET the upload URL: how many bytes the registry has. undefined: the session is gone. */
  private async uploadStatus(session: UploadSession, name: string, ctx: ErrorContext, signal?: AbortSignal): Promise<number | undefined> {
    const res = await this.send({ method: 'GET', url: session.location, scopes: [push(name)], ctx }, signal);
    if (res.status === 404) {
      discard(res);
      return undefined;
    }
    if (res.status !== 204 && res.status !== 200) throw await this.fail(res, ctx);
    const location = header(res.headers, 'location');
    if (location) session.location = resolveLocation(location, res.url);
    const end = rangeEnd(header(res.headers, 'range'));
    discard(res);
    // distribution writes "0-0" for an empty upload: a chunked upload never keeps a single byte.
    return end === undefined || end === 0 ? 0 : end + 1;
  }

  private async startUpload(name: string, ctx: ErrorContext, signal?: AbortSignal): Promise<UploadSession> {
    const res = await this.request({ method: 'POST', url: this.apiUrl(`${name}/blobs/uploads/`), scopes: [push(name)], ctx }, signal);
    if (res.status !== 202) throw await this.fail(res, ctx);
    const location = header(res.headers, 'location');
    const min = Number(header(res.headers, 'oci-chunk-min-length') ?? 0);
    discard(res);
    if (!location) throw new RegistryError('REGISTRY_ERROR', `${ctx.what}: the registry started an upload without a Location`);
    return { location: resolveLocation(location, res.url), minChunk: Number.isSafeInteger(min) && min > 0 ? Math.min(min, 1 << 30) : 0 };
  }

  /** Best effort: a failed upload is cancelled so that the registry can drop what it received. */
  private async cancelUpload(location: URL, name: string): Promise<void> {
    try {
      const res = await this.sendOnce(
        { method: 'DELETE', url: location, scopes: [push(name)], ctx: { registry: this.registryName, what: 'upload cancel' } },
        AbortSignal.timeout(Math.min(this.timeoutMs, 10_000)),
      );
      discard(res);
    } catch {
      /* the registry expires abandoned uploads anyway */
    }
  }

  /** After a failed final PUT: did the blob make it anyway? */
  private async landed(name: string, digest: Digest, size: number, signal?: AbortSignal): Promise<boolean> {
    try {
      const ctx = await this.context(name, `blob ${digest}`, 'pull', 'BLOB_UNKNOWN');
      const res = await this.send({ method: 'HEAD', url: this.apiUrl(`${name}/blobs/${digest}`), scopes: [push(name)], redirects: true, ctx }, signal);
      discard(res);
      return res.status === 200 && (size < 0 || contentLength(res.headers) === undefined || contentLength(res.headers) === size);
    } catch {
      return false;
    }
  }

  // -------------------------------------------------------------------------------------------------------------
  // Listings

  /** The tags of a repository, following `Link: <…>; rel="next"` pagination. */
  async *listTags(repo: string, signal?: AbortSignal, options: ListOptions = {}): AsyncGenerator<string> {
    const name = this.repoName(repo);
    const url = this.apiUrl(`${name}/tags/list`);
    if (options.pageSize) url.searchParams.set('n', String(options.pageSize));
    const ctx = await this.context(name, 'tag list', 'pull', 'IMAGE_NOT_FOUND');
    yield* this.paginate(url, 'tags', [pull(name)], ctx, signal);
  }

  /** The repositories of the registry (GET /v2/_catalog), under the endpoint's prefix when it has one. */
  async *catalog(signal?: AbortSignal, options: ListOptions = {}): AsyncGenerator<string> {
    const url = new URL('/v2/_catalog', this.baseUrl);
    if (options.pageSize) url.searchParams.set('n', String(options.pageSize));
    const ctx = await this.context(undefined, 'catalog', 'catalog', 'IMAGE_NOT_FOUND');
    for await (const repo of this.paginate(url, 'repositories', ['registry:catalog:*'], ctx, signal)) {
      if (!this.prefix) yield repo;
      else if (repo.startsWith(this.prefix)) yield repo.slice(this.prefix.length);
    }
  }

  private async *paginate(first: URL, field: string, scopes: string[], ctx: ErrorContext, signal?: AbortSignal): AsyncGenerator<string> {
    const seen = new Set<string>();
    let next: URL | undefined = first;
    while (next) {
      const url: URL = next;
      if (seen.has(url.href)) {
        throw new RegistryError('REGISTRY_ERROR', `${ctx.what} (${this.registryName}): the registry's pagination loops back to a page already read`);
      }
      seen.add(url.href);
      const page = await this.retrying(ctx.what, signal, async () => {
        const res = await this.request({ method: 'GET', url, headers: { accept: 'application/json' }, scopes, ctx }, signal);
        if (res.status !== 200) throw await this.fail(res, ctx);
        const link = res.headers.link;
        const body = await readBody(res, MAX_LIST_PAGE, this.timeoutMs, `${ctx.what} from ${this.registryName}`);
        return { body, link: Array.isArray(link) ? link.join(', ') : link };
      });
      let items: unknown;
      try {
        items = (JSON.parse(page.body.toString('utf8')) as Record<string, unknown>)?.[field];
      } catch {
        throw new RegistryError('REGISTRY_ERROR', `${ctx.what} (${this.registryName}): the registry sent a page that is not JSON`);
      }
      if (items !== null && items !== undefined && !Array.isArray(items)) {
        throw new RegistryError('REGISTRY_ERROR', `${ctx.what} (${this.registryName}): "${field}" is not a list`);
      }
      for (const item of (items as unknown[] | null | undefined) ?? []) if (typeof item === 'string') yield item;
      next = nextLink(page.link, url);
      if (next && next.origin !== this.baseUrl.origin) {
        throw new RegistryError('REGISTRY_ERROR', `${ctx.what} (${this.registryName}): the next page is on another host (${next.host})`);
      }
    }
  }

  /** Release every connection. The client cannot be used afterwards. */
  close(): void {
    this.http.close();
  }

  // -------------------------------------------------------------------------------------------------------------
  // The request machinery

  private get registryName(): string {
    return this.baseUrl.host;
  }

  private apiUrl(path: string): URL {
    return new URL(`/v2/${path}`, this.baseUrl);
  }

  /** The repository name on the registry: prefix + repo, validated (it becomes part of a URL path). */
  private repoName(repo: string): string {
    const name = `${this.prefix}${repo}`;
    if (name.length > 255 || !name.split('/').every((c) => PATH_COMPONENT.test(c))) {
      throw new WharfError('INVALID_REFERENCE', `invalid repository name "${clip(repo)}"`, {
        hint: 'repository names are lowercase path components separated by "/"',
      });
    }
    return name;
  }

  private async context(
    repo: string | undefined,
    what: string,
    action: string,
    notFound: NonNullable<ErrorContext['notFound']>,
  ): Promise<ErrorContext> {
    return { registry: this.registryName, repo, what, action, notFound, hadCredentials: await this.auth.hasCredentials() };
  }

  /** Learn the auth challenge once (GET /v2/) before the first request. */
  private async ensurePinged(signal?: AbortSignal): Promise<void> {
    if (this.pinged || this.auth.learned) return;
    if ((await this.auth.credentials())?.registryToken) return;
    this.pinging ??= this.ping()
      .catch((err: unknown) => {
        // A registry that answers /v2/ strangely may still answer the real request; that answer will say more.
        if (err instanceof RegistryError && err.code === 'REGISTRY_ERROR' && !err.retryable) this.pinged = true;
        else throw err;
      })
      .finally(() => {
        this.pinging = undefined;
      });
    await raceAbort(this.pinging, signal);
  }

  /**
   * One request with auth and redirects, no retries: a 401 is answered once with fresh credentials; 3xx are
   * followed when asked (GET/HEAD), Authorization only ever going to the registry's origin.
   */
  private async sendOnce(spec: SendSpec, signal?: AbortSignal): Promise<HttpResponse> {
    await this.ensurePinged(signal);
    let url = spec.url;
    let method = spec.method;
    let authRetried = false;
    const seen = new Set<string>([url.href]);
    for (;;) {
      const headers: Record<string, string> = { 'user-agent': this.userAgent, ...spec.headers };
      const toRegistry = url.origin === this.baseUrl.origin;
      if (toRegistry) {
        const authorization = await this.auth.authorization(spec.scopes, signal);
        if (authorization) headers.authorization = authorization;
      }
      const res = await this.http.request({
        method,
        url,
        headers,
        ...(spec.body && method !== 'GET' && method !== 'HEAD' ? { body: spec.body } : {}),
        ...(signal ? { signal } : {}),
      });
      this.debug(`${method} ${safeUrl(url)} → ${res.status}`);
      if (res.status === 401 && toRegistry && !authRetried) {
        let again: boolean;
        try {
          again = await this.auth.unauthorized(res.headers['www-authenticate'], spec.scopes, headers.authorization !== undefined);
        } catch (err) {
          discard(res);
          throw err;
        }
        if (again) {
          discard(res);
          authRetried = true;
          continue;
        }
        return res;
      }
      if (spec.redirects && REDIRECT_STATUS.has(res.status) && (method === 'GET' || method === 'HEAD')) {
        const location = header(res.headers, 'location');
        if (!location) return res;
        discard(res);
        let target: URL;
        try {
          target = new URL(location, url);
        } catch {
          throw new RegistryError('REGISTRY_ERROR', `${spec.ctx.what} (${this.registryName}): redirect to an invalid URL`);
        }
        if (target.protocol !== 'https:' && target.protocol !== 'http:') {
          throw new RegistryError('REGISTRY_ERROR', `${spec.ctx.what} (${this.registryName}): redirect to a non-http URL`);
        }
        if (seen.has(target.href)) {
          throw new RegistryError('TOO_MANY_REDIRECTS', `${spec.ctx.what} (${this.registryName}): redirect loop (back to ${safeUrl(target)})`, {
            hint: 'the registry or its storage is misconfigured',
          });
        }
        if (seen.size > MAX_REDIRECTS) {
          throw new RegistryError('TOO_MANY_REDIRECTS', `${spec.ctx.what} (${this.registryName}): more than ${MAX_REDIRECTS} redirects`, {
            hint: 'the registry or its storage is misconfigured',
          });
        }
        if (url.protocol === 'https:' && target.protocol === 'http:') {
          this.warn(`${spec.ctx.what}: the registry redirects from https to plain http (${target.host})`);
        }
        seen.add(target.href);
        url = target;
        if (res.status === 303 && method !== 'HEAD') method = 'GET';
        continue;
      }
      return res;
    }
  }

  /** sendOnce, and a retryable status (408/429/5xx) becomes a retryable error carrying Retry-After. */
  private async request(spec: SendSpec, signal?: AbortSignal): Promise<HttpResponse> {
    const res = await this.sendOnce(spec, signal);
    if (retryableStatus(res.status)) throw await this.fail(res, spec.ctx);
    return res;
  }

  /** request, retried. */
  private send(spec: SendSpec, signal?: AbortSignal): Promise<HttpResponse> {
    return this.retrying(spec.ctx.what, signal, () => this.request(spec, signal));
  }

  /** Run `fn` again after retryable failures, up to retryTimes, with backoff (or Retry-After). */
  private async retrying<T>(what: string, signal: AbortSignal | undefined, fn: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn();
      } catch (err) {
        if (signal?.aborted) throw abortedError(signal);
        const e = networkError(err, what);
        if (!e.retryable || attempt >= this.retryTimes) throw e;
        const after = e instanceof RegistryError ? e.retryAfterMs : undefined;
        const delay = after ?? backoffDelay(attempt, this.retryDelayMs);
        this.warn(`${e.message}; retrying in ${delay} ms (${attempt + 1}/${this.retryTimes})`);
        await sleep(delay, signal);
      }
    }
  }

  /** The error for an unexpected response; reads (a capped part of) its body. */
  private async fail(res: HttpResponse, ctx: ErrorContext): Promise<WharfError> {
    const body =
      res.body.readableEnded || res.body.destroyed
        ? undefined
        : await readBody(res, MAX_ERROR_BODY, Math.min(this.timeoutMs, 10_000), `${ctx.what} error body`).catch(() => {
            res.body.destroy();
            return undefined;
          });
    const status = res.status;
    const challenge = res.headers['www-authenticate'];
    // A 401 that says insufficient_scope after a fresh token: the token service did not grant the access.
    const insufficient = status === 401 && /insufficient_scope/i.test(String(challenge ?? ''));
    if (status === 401 && challenge === undefined && !parseErrorBody(body)) {
      return new RegistryError(
        'AUTH_FAILED',
        `${ctx.what} (${ctx.repo ? `${ctx.registry}/${ctx.repo}` : ctx.registry}): the registry answered 401 without a WWW-Authenticate challenge`,
        { status, hint: 'the registry (or a proxy in front of it) is misconfigured, or it expects credentials wharf was not given' },
      );
    }
    const err = errorForStatus(status, body, ctx, parseRetryAfter(res.headers['retry-after']), insufficient ? 'DENIED' : undefined);
    return this.scrub(err);
  }

  /** Registry-supplied text may echo what we sent: replace any secret we know of. */
  private scrub(err: WharfError): WharfError {
    const message = this.auth.redact(err.message);
    if (message !== err.message) Object.defineProperty(err, 'message', { value: message });
    if (err.hint) {
      const hint = this.auth.redact(err.hint);
      if (hint !== err.hint) Object.defineProperty(err, 'hint', { value: hint });
    }
    return err;
  }

  private warn(message: string): void {
    this.logger?.warn(this.auth.redact(message));
  }

  private debug(message: string): void {
    this.logger?.debug?.(this.auth.redact(message));
  }
}

// ---------------------------------------------------------------------------------------------------------------

function pull(name: string): string {
  return repositoryScope(name, ['pull']);
}

function push(name: string): string {
  return repositoryScope(name, ['pull', 'push']);
}

function parseEndpoint(endpoint: string): { host: string; prefix: string } {
  const text = String(endpoint ?? '').replace(/^[a-z]+:\/\//i, '');
  const slash = text.indexOf('/');
  const host = (slash >= 0 ? text.slice(0, slash) : text).toLowerCase();
  const prefix = slash >= 0 ? text.slice(slash + 1).replace(/^\/+|\/+$/g, '') : '';
  if (!/^(?:[a-z0-9]([a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*|\[[0-9a-f:.]+\])(?::\d{1,5})?$/.test(host)) {
    throw new WharfError('INVALID_REFERENCE', `invalid registry endpoint "${clip(endpoint)}"`, { hint: 'expected host[:port][/prefix]' });
  }
  return { host, prefix: prefix ? `${prefix}/` : '' };
}

function checkReference(reference: string): void {
  if (TAG.test(reference)) return;
  if (isDigest(reference)) return;
  throw new WharfError('INVALID_REFERENCE', `invalid tag or digest "${clip(reference)}"`);
}

function acceptHeader(accept: string[]): Record<string, string> {
  return accept.length ? { accept: accept.join(', ') } : {};
}

function stripParams(type: string): string {
  return type.split(';')[0]!.trim();
}

function genericType(type: string): boolean {
  const t = stripParams(type).toLowerCase();
  return t === '' || t === 'application/json' || t === 'text/plain' || t === 'application/octet-stream' || t === 'binary/octet-stream';
}

/** The Content-Type when it says something; otherwise what the JSON says it is. */
function manifestMediaType(contentType: string | undefined, bytes: Buffer): string {
  if (contentType && !genericType(contentType)) return stripParams(contentType);
  try {
    const json = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
    if (typeof json?.mediaType === 'string' && json.mediaType) return json.mediaType;
    return guessMediaType(json);
  } catch {
    return contentType ? stripParams(contentType) : 'application/octet-stream';
  }
}

/** The digest of manifest bytes, checked against the reference (when a digest) and Docker-Content-Digest. */
function verifyManifestDigest(bytes: Buffer, reference: string, digestHeader: string | undefined, where: string): Digest {
  let digest: Digest;
  if (isDigest(reference)) {
    const ref = reference as Digest;
    digest = digestOf(bytes, digestAlgorithm(ref));
    if (digest !== ref) throw new DigestMismatchError(ref, digest, where);
  } else {
    digest = digestOf(bytes);
  }
  if (digestHeader && isDigest(digestHeader)) {
    const claimed = digestHeader as Digest;
    const actual = digestAlgorithm(claimed) === digestAlgorithm(digest) ? digest : digestOf(bytes, digestAlgorithm(claimed));
    if (actual !== claimed) throw new DigestMismatchError(claimed, actual, `${where} (Docker-Content-Digest)`);
  }
  return digest;
}

function withDigest(location: URL, digest: Digest): URL {
  const url = new URL(location);
  url.searchParams.append('digest', digest);
  return url;
}

function resolveLocation(location: string, base: URL): URL {
  try {
    return new URL(location, base);
  } catch {
    throw new RegistryError('REGISTRY_ERROR', `the registry sent an invalid Location (${clip(location)})`);
  }
}

/** The last byte of a `Range: 0-N` (or `bytes=0-N`) upload status header. */
function rangeEnd(value: string | undefined): number | undefined {
  const m = /^(?:bytes=)?\s*(\d+)-(\d+)\s*$/.exec(value ?? '');
  return m ? Number(m[2]) : undefined;
}

/** The first byte of a `Content-Range: bytes N-M/T` response header. */
function contentRangeStart(value: string | undefined): number | undefined {
  const m = /^bytes\s+(\d+)-\d+\/(?:\d+|\*)$/.exec((value ?? '').trim());
  return m ? Number(m[1]) : undefined;
}

/** The target of `Link: <url>; rel="next"`, resolved against the page's URL. */
export function nextLink(link: string | undefined, base: URL): URL | undefined {
  if (!link) return undefined;
  for (const m of link.matchAll(/<([^>]*)>\s*((?:;\s*[^;,]+)*)/g)) {
    if (/;\s*rel\s*=\s*"?(?:[^";]*\s)?next(?:\s[^";]*)?"?/i.test(m[2] ?? '')) {
      try {
        return new URL(m[1]!, base);
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}

function sourceSizeError(what: string, expected: number, got: number | 'more'): WharfError {
  return new WharfError('SIZE_MISMATCH', `${what}: the source has ${got === 'more' ? 'more than' : got} bytes, expected ${expected}`, {
    hint: 'the source is corrupt or changed while it was read; nothing was committed at the destination',
  });
}

function raceAbort<T>(p: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) return Promise.reject(abortedError(signal));
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(abortedError(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

function clip(s: string): string {
  const t = String(s);
  return t.length > 80 ? `${t.slice(0, 77)}...` : t;
}
