/**
 * A fake registry for hostile-registry tests: a bare node:http server on 127.0.0.1 whose every answer is
 * written by the test's handler, with helpers for the well-behaved answers (ping, manifest, blob with Range)
 * and for the misbehaviours a real registry cannot be made to show: oversized manifests, blobs that do not
 * match their digest, redirect loops, bodies that stall or are cut off, malformed challenges, 429/503 with
 * Retry-After. Every request is recorded (method, url, headers) for assertions.
 *
 *   const fake = await startFakeRegistry(t, (req, res, h) => {
 *     if (h.path === '/v2/') return h.ping();
 *     if (h.seen() <= 2) return h.retryAfter(503, 0);     // the first two tries fail
 *     return h.blob(bytes);                                // then it works, Range honoured
 *   });
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import type { BuiltLayout } from './images.js';

export interface RecordedRequest {
  method: string;
  /** Path and query as received. */
  url: string;
  /** The path alone. */
  path: string;
  headers: IncomingHttpHeaders;
  /** Milliseconds since the fake registry started. */
  at: number;
}

/** Content a fake registry can serve with `h.serve()`: manifests by `REPO:REF` or `REF`, blobs by digest. */
export interface FakeContent {
  manifests?: Record<string, { bytes: Buffer | string; mediaType: string }>;
  blobs?: Record<string, Buffer>;
}

export interface BlobOptions {
  /** The digest to announce (default: the sha256 of the bytes). */
  digest?: string;
  /** Default `application/octet-stream`. */
  contentType?: string;
  /** Honour `Range: bytes=N-` / `bytes=N-M` with a 206 (default true). */
  ranges?: boolean;
  /** Send the headers and this many bytes of the body, then destroy the connection. */
  dropAfter?: number;
}

export interface FakeHelpers {
  /** The request path (no query). */
  readonly path: string;
  /** The parsed request URL (base `http://HOST`). */
  readonly url: URL;
  /** This registry's base URL, `http://127.0.0.1:PORT`. */
  readonly base: string;
  /** How many requests (this one included) had this method and path, or the given ones (`*` for any method). */
  seen(method?: string, path?: string): number;
  /** 200 `{}` with `Docker-Distribution-API-Version: registry/2.0`, as a registry answers `GET /v2/`. */
  ping(): void;
  /** A JSON answer. */
  json(status: number, body: unknown, headers?: Record<string, string | number>): void;
  /** A distribution-style error: `{"errors":[{"code","message"}]}`. */
  error(status: number, code: string, message?: string, headers?: Record<string, string | number>): void;
  /** 404 MANIFEST_UNKNOWN / BLOB_UNKNOWN / NAME_UNKNOWN depending on the path. */
  notFound(): void;
  /** A manifest (GET or HEAD) with Content-Type, Content-Length and Docker-Content-Digest (default: its sha256). */
  manifest(bytes: Buffer | string | object, mediaType: string, options?: { digest?: string }): void;
  /** A blob (GET or HEAD), honouring Range unless told not to; `dropAfter` cuts it off mid-body. */
  blob(bytes: Buffer, options?: BlobOptions): void;
  /** Manifests and blobs from `content`, routed by `/v2/NAME/manifests/REF` and `/v2/NAME/blobs/DIGEST`; 404 otherwise. */
  serve(content: FakeContent): void;
  /** 401 with exactly this `WWW-Authenticate` value (malformed ones welcome). */
  unauthorized(challenge: string, body?: unknown): void;
  /** `status` (429, 503, …) with `Retry-After: seconds`. */
  retryAfter(status: number, seconds: number | string): void;
  /** A redirect (default 307) to `location`. */
  redirect(location: string, status?: number): void;
  /**
   * A redirect that never ends: `same` (default) points back at the very same URL; `chain` at the same path
   * with `?hop=N+1`, so every URL differs but it never arrives.
   */
  redirectLoop(mode?: 'same' | 'chain', status?: number): void;
  /**
   * A manifest of exactly `size` bytes (valid JSON, padded inside an annotation), streamed without building it
   * in memory; with `declareLength: false` it goes out chunked, without Content-Length.
   */
  oversizedManifest(size: number, mediaType?: string, options?: { declareLength?: boolean }): void;
  /** The blob's headers and length, announced under the digest of `bytes`, but one byte of the body flipped. */
  corruptBlob(bytes: Buffer, options?: { digest?: string; flipAt?: number }): void;
  /** Headers (with the full Content-Length) and the first `afterBytes` bytes, then nothing, ever. */
  stall(bytes: Buffer, afterBytes: number, headers?: Record<string, string | number>): void;
  /** Headers (with the full Content-Length) and the first `afterBytes` bytes, then the connection is destroyed. */
  drop(bytes: Buffer, afterBytes: number, headers?: Record<string, string | number>): void;
  /** Never answer this request at all (not even headers). */
  hang(): void;
  /** The request body (up to `limit` bytes, default 64 MiB). */
  body(limit?: number): Promise<Buffer>;
}

export type FakeHandler = (req: IncomingMessage, res: ServerResponse, h: FakeHelpers) => void | Promise<void>;

export interface FakeRegistry {
  /** `127.0.0.1:PORT` */
  host: string;
  /** `http://127.0.0.1:PORT` */
  url: string;
  port: number;
  /** Every request received, oldest first. */
  requests: RecordedRequest[];
  /** Errors thrown by the handler (each was also answered with a 500). */
  errors: Error[];
  /** Replace the handler. */
  setHandler(handler: FakeHandler): void;
  close(): Promise<void>;
}

const API_VERSION = { 'docker-distribution-api-version': 'registry/2.0' };

export function sha256Digest(bytes: Buffer | string): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** Start a fake registry for this test; closed (open connections destroyed) after it. */
export async function startFakeRegistry(t: TestContext, handler: FakeHandler): Promise<FakeRegistry> {
  const requests: RecordedRequest[] = [];
  const errors: Error[] = [];
  const sockets = new Set<Socket>();
  const started = Date.now();
  let current = handler;
  let base = '';

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://fake');
    requests.push({ method: req.method ?? '', url: req.url ?? '', path: url.pathname, headers: req.headers, at: Date.now() - started });
    const state = { hung: false };
    const h = helpers(req, res, url, state);
    Promise.resolve()
      .then(() => current(req, res, h))
      .then(
        () => {
          if (!state.hung && !res.headersSent && !res.writableEnded) h.notFound();
        },
        (err: unknown) => {
          const e = err instanceof Error ? err : new Error(String(err));
          errors.push(e);
          if (!res.headersSent) h.error(500, 'UNKNOWN', `fake registry handler failed: ${e.message}`);
          else res.destroy();
        },
      );
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });

  function helpers(req: IncomingMessage, res: ServerResponse, url: URL, state: { hung: boolean }): FakeHelpers {
    const isHead = req.method === 'HEAD';
    const send = (status: number, headers: Record<string, string | number>, body?: Buffer) => {
      res.writeHead(status, { ...API_VERSION, ...headers });
      res.end(isHead ? undefined : body);
    };
    const partial = (bytes: Buffer, afterBytes: number, headers: Record<string, string | number> | undefined, then: () => void) => {
      res.writeHead(200, { ...API_VERSION, 'content-type': 'application/octet-stream', ...headers, 'content-length': bytes.length });
      res.flushHeaders();
      const n = Math.max(0, Math.min(afterBytes, bytes.length));
      if (n > 0) res.write(bytes.subarray(0, n), () => then());
      else setImmediate(then);
    };
    const h: FakeHelpers = {
      path: url.pathname,
      url,
      base,
      seen(method = req.method ?? '', path = url.pathname) {
        return requests.filter((r) => (method === '*' || r.method === method) && r.path === path).length;
      },
      ping() {
        send(200, { 'content-type': 'application/json', 'content-length': 2 }, Buffer.from('{}'));
      },
      json(status, body, headers = {}) {
        const bytes = Buffer.from(JSON.stringify(body));
        send(status, { 'content-type': 'application/json', 'content-length': bytes.length, ...headers }, bytes);
      },
      error(status, code, message = code.toLowerCase().replace(/_/g, ' '), headers = {}) {
        h.json(status, { errors: [{ code, message, detail: null }] }, headers);
      },
      notFound() {
        if (/\/manifests\/[^/]+$/.test(url.pathname)) h.error(404, 'MANIFEST_UNKNOWN', 'manifest unknown');
        else if (/\/blobs\/[^/]+$/.test(url.pathname)) h.error(404, 'BLOB_UNKNOWN', 'blob unknown to registry');
        else h.error(404, 'NAME_UNKNOWN', `no route for ${req.method} ${url.pathname}`);
      },
      manifest(bytes, mediaType, options = {}) {
        const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(typeof bytes === 'string' ? bytes : JSON.stringify(bytes));
        send(200, { 'content-type': mediaType, 'content-length': buf.length, 'docker-content-digest': options.digest ?? sha256Digest(buf) }, buf);
      },
      blob(bytes, options = {}) {
        const headers: Record<string, string | number> = {
          'content-type': options.contentType ?? 'application/octet-stream',
          'docker-content-digest': options.digest ?? sha256Digest(bytes),
          'accept-ranges': 'bytes',
        };
        let body = bytes;
        let status = 200;
        const range = /^bytes=(\d+)-(\d*)$/.exec(String(req.headers.range ?? ''));
        if (range && options.ranges !== false) {
          const start = Number(range[1]);
          const end = range[2] ? Math.min(Number(range[2]), bytes.length - 1) : bytes.length - 1;
          if (start >= bytes.length || start > end) {
            send(416, { 'content-range': `bytes */${bytes.length}`, 'content-length': 0 });
            return;
          }
          body = bytes.subarray(start, end + 1);
          status = 206;
          headers['content-range'] = `bytes ${start}-${end}/${bytes.length}`;
        }
        if (options.dropAfter !== undefined && !isHead) {
          res.writeHead(status, { ...API_VERSION, ...headers, 'content-length': body.length });
          res.flushHeaders();
          const n = Math.max(0, Math.min(options.dropAfter, body.length));
          const cut = () => res.destroy();
          if (n > 0) res.write(body.subarray(0, n), () => setImmediate(cut));
          else setImmediate(cut);
          return;
        }
        send(status, { ...headers, 'content-length': body.length }, body);
      },
      serve(content) {
        if (url.pathname === '/v2/' || url.pathname === '/v2') return h.ping();
        const m = /^\/v2\/(.+)\/(manifests|blobs)\/([^/]+)$/.exec(url.pathname);
        if (!m || (req.method !== 'GET' && req.method !== 'HEAD')) return h.notFound();
        const [, name, kind, ref] = m as unknown as [string, string, string, string];
        if (kind === 'blobs') {
          const b = content.blobs?.[ref];
          return b ? h.blob(b) : h.notFound();
        }
        const entries = content.manifests ?? {};
        let found: { bytes: Buffer | string; mediaType: string } | undefined = entries[`${name}:${ref}`] ?? entries[ref];
        if (!found && ref.includes(':')) {
          found = Object.values(entries).find((e) => sha256Digest(e.bytes) === ref);
        }
        return found ? h.manifest(Buffer.from(found.bytes), found.mediaType) : h.notFound();
      },
      unauthorized(challenge, body = { errors: [{ code: 'UNAUTHORIZED', message: 'authentication required', detail: null }] }) {
        h.json(401, body, { 'www-authenticate': challenge });
      },
      retryAfter(status, seconds) {
        h.error(status, status === 429 ? 'TOOMANYREQUESTS' : 'UNAVAILABLE', `try again in ${seconds} s`, { 'retry-after': String(seconds) });
      },
      redirect(location, status = 307) {
        send(status, { location, 'content-length': 0 });
      },
      redirectLoop(mode = 'same', status = 307) {
        if (mode === 'same') return h.redirect(`${base}${req.url ?? '/'}`, status);
        const next = new URL(url.pathname, base);
        for (const [k, v] of url.searchParams) if (k !== 'hop') next.searchParams.append(k, v);
        next.searchParams.set('hop', String(Number(url.searchParams.get('hop') ?? '0') + 1));
        return h.redirect(next.toString(), status);
      },
      oversizedManifest(size, mediaType = 'application/vnd.oci.image.manifest.v1+json', options = {}) {
        const head = Buffer.from(
          `{"schemaVersion":2,"mediaType":"${mediaType}","config":{"mediaType":"application/vnd.oci.image.config.v1+json",` +
            `"digest":"sha256:${'0'.repeat(64)}","size":2},"layers":[],"annotations":{"pad":"`,
        );
        const tail = Buffer.from('"}}');
        const padding = Math.max(0, size - head.length - tail.length);
        const headers: Record<string, string | number> = { ...API_VERSION, 'content-type': mediaType };
        if (options.declareLength !== false) headers['content-length'] = head.length + padding + tail.length;
        res.writeHead(200, headers);
        if (isHead) {
          res.end();
          return;
        }
        const chunk = Buffer.alloc(Math.min(padding, 1 << 20), 'a');
        let left = padding;
        res.write(head);
        const pump = (): void => {
          while (left > 0) {
            const n = Math.min(left, chunk.length);
            left -= n;
            if (!res.write(n === chunk.length ? chunk : chunk.subarray(0, n))) {
              res.once('drain', pump);
              return;
            }
          }
          res.end(tail);
        };
        res.on('close', () => {
          left = 0;
        });
        pump();
      },
      corruptBlob(bytes, options = {}) {
        const bad = Buffer.from(bytes);
        if (bad.length === 0) throw new Error('corruptBlob: cannot corrupt an empty blob');
        const at = Math.min(options.flipAt ?? bad.length - 1, bad.length - 1);
        bad[at] = bad[at]! ^ 0xff;
        h.blob(bad, { digest: options.digest ?? sha256Digest(bytes), ranges: false });
      },
      stall(bytes, afterBytes, headers) {
        state.hung = true;
        if (isHead) {
          res.writeHead(200, { ...API_VERSION, ...headers, 'content-length': bytes.length });
          res.flushHeaders();
          return;
        }
        partial(bytes, afterBytes, headers, () => {});
      },
      drop(bytes, afterBytes, headers) {
        partial(bytes, afterBytes, headers, () => setImmediate(() => res.destroy()));
      },
      hang() {
        state.hung = true;
      },
      async body(limit = 64 << 20) {
        const chunks: Buffer[] = [];
        let n = 0;
        for await (const c of req as AsyncIterable<Buffer>) {
          n += c.length;
          if (n > limit) throw new Error(`request body over ${limit} bytes`);
          chunks.push(c);
        }
        return Buffer.concat(chunks);
      },
    };
    return h;
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  base = `http://127.0.0.1:${port}`;
  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= new Promise<void>((resolve) => {
      server.close(() => resolve());
      for (const s of sockets) s.destroy();
      server.closeAllConnections();
    });
    return closing;
  };
  t.after(close);
  return {
    host: `127.0.0.1:${port}`,
    url: base,
    port,
    requests,
    errors,
    setHandler(next) {
      current = next;
    },
    close,
  };
}

/**
 * The manifests and blobs of an OCI layout built by `buildLayout` (or any layout), ready for `h.serve()`:
 * manifests under `tag` and digest, blobs by digest. Only for small test images: blobs are read into memory.
 */
export async function layoutContent(layout: BuiltLayout): Promise<Required<FakeContent>> {
  const content: Required<FakeContent> = { manifests: {}, blobs: {} };
  for (const digest of layout.blobs) {
    content.blobs[digest] = await readFile(join(layout.dir, 'blobs', ...digest.split(':')));
  }
  for (const r of layout.refs) {
    const entry = { bytes: Buffer.from(r.bytes), mediaType: r.mediaType };
    if (r.tag !== undefined) content.manifests[r.tag] = entry;
    content.manifests[r.digest] = entry;
    for (const img of r.images) content.manifests[img.manifest.digest] = { bytes: Buffer.from(img.manifest.bytes), mediaType: img.manifest.mediaType };
  }
  return content;
}
