import type { IncomingMessage, ServerResponse } from 'node:http';
import { RegistryApiError, apiError } from '../errors.js';
import type { RegistryMetrics } from '../metrics.js';
import { validateRepositoryName } from '../storage/names.js';
import type { RegistryStore } from '../storage/store.js';
import * as blobs from './blobs.js';
import { DEFAULT_LIMITS, type RequestContext, type ServerLimits } from './context.js';
import type { Action, Gate } from './gate.js';
import * as manifests from './manifests.js';
import { API_VERSION_HEADER, sendError, sendJson, toApiError } from './respond.js';
import { routeOf, type Route } from './routes.js';
import { BufferPool } from './send-file.js';

/** One line of the access log. It never holds credentials: no headers are logged, only who the caller was. */
export interface AccessLogEntry {
  time: string;
  remote: string | undefined;
  method: string | undefined;
  path: string;
  route: Route['kind'];
  repository?: string;
  status: number;
  bytesOut: number;
  bytesIn?: number;
  ms: number;
  user?: string;
  error?: string;
  event?: string;
}

export interface RegistryAppOptions {
  store: RegistryStore;
  gate: Gate;
  metrics: RegistryMetrics;
  limits?: Partial<ServerLimits>;
  log?: (entry: AccessLogEntry) => void;
  /** The token endpoint (`/token`), when the gate issues tokens. */
  tokenEndpoint?: (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<void>;
  /** Answers /healthz: resolves when the storage is usable. */
  health?: () => Promise<void>;
  clock?: () => number;
}

type Handler = (ctx: RequestContext) => Promise<void>;

interface RouteTable {
  [method: string]: { action?: Action; run: Handler } | undefined;
}

/** The HTTP face of the registry: a request listener for node:http or node:https. */
export function createRegistryApp(options: RegistryAppOptions): (req: IncomingMessage, res: ServerResponse) => void {
  const limits: ServerLimits = { ...DEFAULT_LIMITS, ...options.limits };
  const clock = options.clock ?? Date.now;
  const { store, gate, metrics } = options;
  // 1 MiB reads keep a GET near the disk's speed; 16 idle buffers (16 MiB) are kept for the next responses.
  const sendBuffers = new BufferPool(1 << 20, 16);

  const name = (ctx: RequestContext): string => validateRepositoryName((ctx.route as { name: string }).name);
  const tables: Partial<Record<Route['kind'], RouteTable>> = {
    manifest: {
      GET: { action: 'pull', run: (ctx) => manifests.getManifest(ctx, name(ctx), ref(ctx)) },
      HEAD: { action: 'pull', run: (ctx) => manifests.getManifest(ctx, name(ctx), ref(ctx)) },
      PUT: { action: 'push', run: (ctx) => manifests.putManifest(ctx, name(ctx), ref(ctx)) },
      DELETE: { action: 'delete', run: (ctx) => manifests.deleteManifest(ctx, name(ctx), ref(ctx)) },
    },
    blob: {
      GET: { action: 'pull', run: (ctx) => blobs.getBlob(ctx, name(ctx), digestOfRoute(ctx)) },
      HEAD: { action: 'pull', run: (ctx) => blobs.getBlob(ctx, name(ctx), digestOfRoute(ctx)) },
      DELETE: { action: 'delete', run: (ctx) => blobs.deleteBlob(ctx, name(ctx), digestOfRoute(ctx)) },
    },
    uploads: {
      POST: {
        action: 'push',
        run: (ctx) => blobs.startUpload(ctx, name(ctx), (from) => validName(from) && gate.allows(ctx.caller, from, 'pull')),
      },
    },
    upload: {
      GET: { action: 'push', run: (ctx) => blobs.uploadStatus(ctx, name(ctx), uploadId(ctx)) },
      PATCH: { action: 'push', run: (ctx) => blobs.patchUpload(ctx, name(ctx), uploadId(ctx)) },
      PUT: { action: 'push', run: (ctx) => blobs.finishUpload(ctx, name(ctx), uploadId(ctx)) },
      DELETE: { action: 'push', run: (ctx) => blobs.cancelUpload(ctx, name(ctx), uploadId(ctx)) },
    },
    tags: { GET: { action: 'pull', run: (ctx) => manifests.listTags(ctx, name(ctx)) } },
    referrers: { GET: { action: 'pull', run: (ctx) => manifests.referrers(ctx, name(ctx), digestOfRoute(ctx)) } },
    catalog: {
      GET: {
        run: async (ctx) => {
          if (!gate.canListCatalog(ctx.caller)) throw unauthorized(ctx, 'registry:catalog:*');
          await manifests.catalog(ctx);
        },
      },
    },
    base: {
      GET: {
        run: async (ctx) => {
          // A client probes /v2/ to learn how to authenticate: with auth on, only a known caller gets a 200.
          if (gate.enabled && ctx.caller.user === undefined) throw unauthorized(ctx, undefined);
          sendJson(ctx.res, 200, {});
        },
      },
    },
  };
  tables.base!.HEAD = tables.base!.GET;

  function unauthorized(ctx: RequestContext, scope: string | undefined): RegistryApiError {
    const known = ctx.caller.user !== undefined || ctx.caller.granted !== undefined;
    const challenge = gate.challenge(ctx.req, scope, ctx.caller.granted ? 'insufficient_scope' : undefined);
    if (challenge) ctx.res.setHeader('WWW-Authenticate', challenge);
    // A Basic user who is known but not allowed is denied (403); anyone else is asked to authenticate, which for
    // a token client means: fetch a token with the scope named in the challenge.
    if (known && ctx.caller.granted === undefined) return new RegistryApiError(403, 'DENIED', 'requested access to the resource is denied');
    return new RegistryApiError(401, 'UNAUTHORIZED', 'authentication required');
  }

  async function dispatch(ctx: RequestContext): Promise<void> {
    const { route, req } = ctx;
    if (route.kind === 'healthz') {
      await options.health?.();
      sendJson(ctx.res, 200, { status: 'ok' });
      return;
    }
    if (route.kind === 'metrics') {
      const body = metrics.render(clock());
      ctx.res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4', 'Content-Length': String(Buffer.byteLength(body)) });
      ctx.res.end(body);
      return;
    }
    if (route.kind === 'token') {
      if (!options.tokenEndpoint) throw new RegistryApiError(404, 'UNSUPPORTED', 'this registry issues no tokens');
      await options.tokenEndpoint(req, ctx.res, ctx.url);
      return;
    }
    ctx.res.setHeader(API_VERSION_HEADER[0], API_VERSION_HEADER[1]);
    if (route.kind === 'invalid') throw apiError.nameInvalid('the path has dot segments or backslashes');
    const table = tables[route.kind];
    if (!table) throw new RegistryApiError(404, 'UNSUPPORTED', 'no such endpoint in the distribution API');
    const entry = table[req.method ?? ''];
    if (!entry) {
      ctx.res.setHeader('Allow', Object.keys(table).join(', '));
      throw new RegistryApiError(405, 'UNSUPPORTED', `${req.method} is not allowed here`);
    }
    ctx.caller = await gate.identify(req);
    if (entry.action) {
      const repository = name(ctx);
      if (!gate.allows(ctx.caller, repository, entry.action)) {
        const actions: Action[] = entry.action === 'push' ? ['pull', 'push'] : [entry.action];
        throw unauthorized(ctx, `repository:${repository}:${actions.join(',')}`);
      }
    }
    await entry.run(ctx);
  }

  return (req, res) => {
    const started = clock();
    // The path is taken from the request line as sent: URL parsing would resolve `a/../b` (and `%2e%2e`, and
    // `\`) into another repository's path. Only the query is parsed.
    const raw = req.url ?? '/';
    const q = raw.indexOf('?');
    const pathname = q < 0 ? raw : raw.slice(0, q);
    const url = new URL(q < 0 ? '/' : `/${raw.slice(q)}`, 'http://registry.invalid');
    const route = routeOf(pathname);
    // The socket is gone from `req` once the response closes; keep it for the byte count and the log.
    const socket = req.socket;
    const abort = new AbortController();
    res.once('close', () => {
      if (!res.writableFinished) abort.abort(); // the client went away before the answer was complete
    });
    const ctx: RequestContext = { req, res, path: pathname, url, route, store, gate, caller: {}, limits, sendBuffers, signal: abort.signal, note: {} };
    const bytesAtStart = socket.bytesWritten;
    metrics.started();
    let errorCode: string | undefined;
    res.once('close', () => {
      const ms = clock() - started;
      const bytesOut = Math.max(0, socket.bytesWritten - bytesAtStart);
      metrics.finished(req.method ?? '?', route.kind, res.statusCode, ms / 1000);
      metrics.add('wharf_http_response_bytes_total', bytesOut);
      if (ctx.note.bytesIn) metrics.add('wharf_http_request_bytes_total', ctx.note.bytesIn);
      if (ctx.note.event === 'mounted') metrics.add('wharf_blobs_mounted_total', 1);
      if (!options.log) return;
      const entry: AccessLogEntry = {
        time: new Date(started).toISOString(),
        remote: socket.remoteAddress,
        method: req.method,
        path: clip(pathname + redactedQuery(url.searchParams)),
        route: route.kind,
        status: res.statusCode,
        bytesOut,
        ms,
      };
      if ('name' in route) entry.repository = clip(route.name);
      if (ctx.note.bytesIn) entry.bytesIn = ctx.note.bytesIn;
      if (ctx.caller.user !== undefined) entry.user = ctx.caller.user;
      if (errorCode) entry.error = errorCode;
      if (ctx.note.event) entry.event = ctx.note.event;
      options.log(entry);
    });
    dispatch(ctx).catch((err: unknown) => {
      errorCode = toApiError(err).specCode;
      // Whatever the client sent that we did not read is dropped with the connection after the answer.
      if (!req.complete && !res.headersSent) res.setHeader('Connection', 'close');
      sendError(req, res, err);
    });
  };
}

function ref(ctx: RequestContext): string {
  return (ctx.route as { reference: string }).reference;
}

function digestOfRoute(ctx: RequestContext): string {
  return (ctx.route as { digest: string }).digest;
}

function uploadId(ctx: RequestContext): string {
  return (ctx.route as { id: string }).id;
}

function validName(name: string): boolean {
  try {
    validateRepositoryName(name);
    return true;
  } catch {
    return false;
  }
}

/** The query for the log, with the value of anything that looks like a credential replaced. */
function redactedQuery(params: URLSearchParams): string {
  if ([...params.keys()].length === 0) return '';
  const shown = new URLSearchParams();
  for (const [key, value] of params) shown.append(key, /pass|secret|token|key|auth|cred/i.test(key) ? 'REDACTED' : value);
  return `?${shown.toString()}`;
}

/** Log fields stay short and printable, whatever a client put in its URL. */
function clip(s: string): string {
  const printable = s.replace(/[^\x20-\x7e]/g, '?');
  return printable.length > 300 ? `${printable.slice(0, 297)}...` : printable;
}
