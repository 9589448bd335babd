import { promises as fsp } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { WharfError, asWharfError } from '../errors.js';
import { createRegistryApp, type AccessLogEntry } from './http/app.js';
import type { ServerLimits } from './http/context.js';
import { openGate, type Gate } from './http/gate.js';
import { RegistryMetrics } from './metrics.js';
import { adoptDirImages, type AdoptReport } from './storage/adopt-dir.js';
import { META_DIR, RegistryStore } from './storage/store.js';

export interface RegistryServerOptions {
  /** Storage root (created if missing). */
  storage: string;
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  /** PEM certificate and key: serve HTTPS. */
  tls?: { cert: Buffer; key: Buffer };
  gate?: Gate;
  tokenEndpoint?: Parameters<typeof createRegistryApp>[0]['tokenEndpoint'];
  limits?: Partial<ServerLimits>;
  log?: (entry: AccessLogEntry) => void;
  /** Run this in the background, at this interval (online GC); errors go to `onBackgroundError`. */
  background?: { intervalMs: number; run: (store: RegistryStore, metrics: RegistryMetrics) => Promise<void> };
  onBackgroundError?: (err: unknown) => void;
}

export interface RunningRegistryServer {
  /** `http://HOST:PORT` or `https://…` */
  url: string;
  host: string;
  port: number;
  store: RegistryStore;
  metrics: RegistryMetrics;
  /** dir: images found in the storage at start and now served (and those that could not be). */
  adopted: AdoptReport;
  /** Stop accepting, end idle connections, wait for requests in flight (at most `graceMs`), then close. */
  close(graceMs?: number): Promise<void>;
}

/** Start the registry: the store, the HTTP(S) listener, and the scheduled background job if any. */
export async function startRegistryServer(options: RegistryServerOptions): Promise<RunningRegistryServer> {
  const store = await RegistryStore.open(options.storage);
  // What `wharf sync --dest dir` wrote into the storage is served too (hard links, nothing copied).
  const adopted = await adoptDirImages(store);
  const metrics = new RegistryMetrics();
  const appOptions: Parameters<typeof createRegistryApp>[0] = {
    store,
    gate: options.gate ?? openGate,
    metrics,
    health: () => fsp.access(join(options.storage, META_DIR, 'tmp'), 2 /* W_OK */).catch((err: unknown) => {
      throw asWharfError(err, 'IO_ERROR', 'storage is not writable');
    }),
  };
  if (options.tokenEndpoint) appOptions.tokenEndpoint = options.tokenEndpoint;
  if (options.limits) appOptions.limits = options.limits;
  if (options.log) appOptions.log = options.log;
  const app = createRegistryApp(appOptions);
  const server: Server = options.tls ? createHttpsServer({ cert: options.tls.cert, key: options.tls.key }, app) : createHttpServer(app);
  // Long uploads stream for minutes; what must time out is a client that sends nothing.
  server.requestTimeout = 0;
  server.headersTimeout = 30_000;
  server.keepAliveTimeout = 30_000;
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      reject(
        err.code === 'EADDRINUSE'
          ? new WharfError('IO_ERROR', `${host}:${options.port} is already in use`, { hint: 'stop what listens there, or pick another port with --listen' })
          : asWharfError(err, 'IO_ERROR', `listening on ${host}:${options.port}`),
      );
    });
    server.listen(options.port ?? 5000, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  if (options.background) {
    const { intervalMs, run } = options.background;
    timer = setInterval(() => {
      if (running) return; // one at a time
      running = run(store, metrics)
        .catch((err: unknown) => options.onBackgroundError?.(err))
        .finally(() => {
          running = undefined;
        });
    }, intervalMs);
    timer.unref();
  }
  const shownHost = host.includes(':') ? `[${host}]` : host;
  return {
    url: `${options.tls ? 'https' : 'http'}://${shownHost}:${port}`,
    host,
    port,
    store,
    metrics,
    adopted,
    async close(graceMs = 10_000) {
      if (timer) clearInterval(timer);
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const forced = setTimeout(() => server.closeAllConnections(), graceMs);
      forced.unref();
      await closed;
      clearTimeout(forced);
      await running;
    },
  };
}
