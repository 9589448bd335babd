/**
 * The HTTP layer under the registry client: one keep-alive agent per origin (the registry, and whatever hosts it
 * redirects to or sends us to for tokens), single requests with an idle timeout, and careful body readers.
 * No auth, no retries here: those live in client.ts and auth.ts.
 *
 * Proxies (util/proxy.ts decides, from the environment the caller parsed): an https origin behind a proxy gets
 * a TunnelAgent, whose pooled sockets are CONNECT tunnels with the origin's TLS inside, so keep-alive works as
 * for a direct connection; plain http requests go to the proxy in absolute form, over one agent per proxy.
 */
import http, { type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import https from 'node:https';
import { rootCertificates } from 'node:tls';
import { WharfError } from '../errors.js';
import type { Proxy, ProxyConfig } from '../util/proxy.js';
import { TunnelAgent, forwardAgent, forwardRequest, proxyRefused, proxyUnreachable, type ProxyTlsOptions } from '../util/proxy-agent.js';
import { RegistryError } from './registry-errors.js';

export interface TlsOptions {
  /** Extra CAs, added to the system's roots (as certs.d/HOST/ca.crt does for the containers tools). */
  ca?: Buffer[];
  /** Client certificate and key (certs.d/HOST/client.cert, client.key). */
  cert?: Buffer;
  key?: Buffer;
  /** false: accept any certificate (--tls-verify=false). */
  rejectUnauthorized?: boolean;
}

export interface HttpRequest {
  method: string;
  url: URL;
  headers: Record<string, string>;
  /** Request bodies are buffers, so that a request can be replayed after a 401 or a dropped connection. */
  body?: Buffer;
  signal?: AbortSignal;
}

export interface HttpResponse {
  method: string;
  status: number;
  headers: IncomingHttpHeaders;
  url: URL;
  body: IncomingMessage;
}

export interface TransportOptions {
  /** The registry's hostname: the TLS options apply to it (any port), not to redirect targets elsewhere. */
  tlsHost: string;
  tls?: TlsOptions;
  timeoutMs: number;
  /** Proxies (HTTPS_PROXY, HTTP_PROXY, NO_PROXY as proxyFromEnv read them); without, every connection is direct. */
  proxy?: ProxyConfig;
}

/** How requests to one origin go out. */
interface Route {
  agent: http.Agent;
  /** The proxy they go through, if any. */
  proxy?: Proxy;
  /** Plain http through the proxy: absolute-form requests to the proxy (https ones tunnel inside `agent`). */
  forward: boolean;
}

/** A URL for messages and logs: no query (signed redirect URLs carry secrets there), no user info. */
export function safeUrl(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname}`;
}

export class HttpTransport {
  private readonly routes = new Map<string, Route>();
  /** Agents to the proxies themselves, for plain http requests: shared by every origin behind one proxy. */
  private readonly proxyAgents = new Map<string, http.Agent>();
  private closed = false;

  constructor(private readonly options: TransportOptions) {}

  get timeoutMs(): number {
    return this.options.timeoutMs;
  }

  /** The agent for an origin, created on first use and reused for every request to it until close(). */
  agentFor(url: URL): http.Agent {
    return this.routeFor(url).agent;
  }

  /**
   * The route to an origin, decided on first use (the proxy settings do not change while a client lives).
   * Throws a ProxyError when the proxy that applies cannot be used: the request must not go out direct.
   */
  private routeFor(url: URL): Route {
    const key = `${url.protocol}//${url.host}`;
    const known = this.routes.get(key);
    if (known) return known;
    const proxy = this.options.proxy?.proxyFor(url);
    const common = { keepAlive: true, maxSockets: 32, maxFreeSockets: 16, scheduling: 'lifo' as const, timeout: 30_000 };
    let route: Route;
    if (url.protocol === 'https:') {
      const tls = url.hostname === this.options.tlsHost ? this.options.tls : undefined;
      const tlsOptions = {
        ...(tls?.ca?.length ? { ca: withRoots(tls.ca) } : {}),
        ...(tls?.cert ? { cert: tls.cert } : {}),
        ...(tls?.key ? { key: tls.key } : {}),
        ...(tls?.rejectUnauthorized === false ? { rejectUnauthorized: false } : {}),
      };
      const agent = proxy
        ? new TunnelAgent({ ...common, ...tlsOptions, proxy, connectTimeoutMs: this.options.timeoutMs, proxyTls: this.proxyTls() })
        : new https.Agent({ ...common, ...tlsOptions });
      route = { agent, forward: false, ...(proxy ? { proxy } : {}) };
    } else if (proxy) {
      const proxyKey = `${proxy.variable}\0${proxy.url.href}`;
      let agent = this.proxyAgents.get(proxyKey);
      if (!agent) {
        agent = forwardAgent(proxy, common, this.proxyTls());
        this.proxyAgents.set(proxyKey, agent);
      }
      route = { agent, proxy, forward: true };
    } else {
      route = { agent: new http.Agent(common), forward: false };
    }
    this.routes.set(key, route);
    return route;
  }

  /**
   * TLS to an https:// proxy, as Go's transport does it: the registry's TLS settings (its extra CAs, and
   * --tls-verify=false), never its client certificate.
   */
  private proxyTls(): ProxyTlsOptions {
    const tls = this.options.tls;
    return {
      ...(tls?.ca?.length ? { ca: withRoots(tls.ca) } : {}),
      ...(tls?.rejectUnauthorized === false ? { rejectUnauthorized: false } : {}),
    };
  }

  /**
   * One request. Resolves when the response headers arrive, whatever the status; the caller owns the body and
   * must read it (readBody, idleChunks) or discard it. Until the headers arrive, a socket idle for timeoutMs
   * fails the request with a retryable TIMEOUT; after that the body readers keep their own idle watchdog, which
   * does not count the time the consumer spends not reading.
   */
  request(req: HttpRequest): Promise<HttpResponse> {
    if (this.closed) return Promise.reject(new WharfError('IO_ERROR', 'registry client is closed'));
    const { url } = req;
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      return Promise.reject(new RegistryError('REGISTRY_ERROR', `refusing to fetch ${safeUrl(url)}: not an http(s) URL`));
    }
    let route: Route;
    try {
      route = this.routeFor(url);
    } catch (err) {
      return Promise.reject(err);
    }
    const what = `${req.method} ${safeUrl(url)}`;
    const shown = route.proxy ? `${what} (through proxy ${route.proxy.display})` : what;
    const headers: Record<string, string> = { ...req.headers };
    if (req.body) headers['content-length'] = String(req.body.length);
    else if (req.method === 'POST' || req.method === 'PUT' || req.method === 'PATCH') headers['content-length'] = '0';
    return new Promise<HttpResponse>((resolve, reject) => {
      let timedOut = false;
      const onResponse = (res: IncomingMessage): void => {
        r.setTimeout(0);
        // A body error before anyone listens must not crash the process.
        res.on('error', () => {});
        if (route.forward && route.proxy && res.statusCode === 407) {
          res.resume();
          reject(proxyRefused(route.proxy, 407, res.statusMessage, url.host, what));
          return;
        }
        resolve({ method: req.method, status: res.statusCode ?? 0, headers: res.headers, url, body: res });
      };
      const signal = req.signal ? { signal: req.signal } : {};
      let r: http.ClientRequest;
      if (route.forward && route.proxy) {
        const f = forwardRequest(url, route.proxy);
        r = f.module.request({ ...f.options, method: req.method, headers: { ...headers, ...f.headers }, agent: route.agent, ...signal }, onResponse);
      } else {
        r = (url.protocol === 'https:' ? https : http).request(url, { method: req.method, headers, agent: route.agent, ...signal }, onResponse);
      }
      r.setTimeout(this.options.timeoutMs, () => {
        timedOut = true;
        r.destroy(timeoutError(shown, this.options.timeoutMs));
      });
      r.on('error', (err) => {
        // Forwarded, every socket is the proxy's: a connection it refuses or drops is told as the proxy's.
        const proxied = route.forward && route.proxy && !timedOut && !(err instanceof WharfError) && (err as Error).name !== 'AbortError';
        reject(proxied ? proxyUnreachable(route.proxy!, err, what) : networkError(err, shown, timedOut));
      });
      r.end(req.body);
    });
  }

  close(): void {
    this.closed = true;
    for (const route of this.routes.values()) route.agent.destroy();
    for (const agent of this.proxyAgents.values()) agent.destroy();
    this.routes.clear();
    this.proxyAgents.clear();
  }
}

/** The system's roots and the extra CAs: an https.Agent's `ca` replaces the roots, it does not add to them. */
function withRoots(ca: Buffer[]): string[] {
  return [...rootCertificates, ...ca.map((c) => c.toString('utf8'))];
}

export function timeoutError(what: string, ms: number): RegistryError {
  return new RegistryError('TIMEOUT', `${what}: no data for ${ms} ms`, {
    retryable: true,
    hint: 'the registry or the network stalled; it is retried automatically (--retry-times); raise the timeout for slow links',
  });
}

const RETRYABLE_NET = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'ERR_STREAM_PREMATURE_CLOSE',
]);

/** Turn whatever node:http threw into a WharfError: ABORTED, TIMEOUT, or NETWORK_ERROR (retryable or not). */
export function networkError(err: unknown, what: string, timedOut = false): WharfError {
  if (err instanceof WharfError) return err;
  const e = err as NodeJS.ErrnoException;
  if (e?.name === 'AbortError' || e?.code === 'ABORT_ERR') return new WharfError('ABORTED', 'operation aborted', { cause: err });
  if (timedOut) return new RegistryError('TIMEOUT', `${what}: timed out`, { retryable: true, cause: err });
  const code = e?.code ?? '';
  const message = e?.message ?? String(err);
  if (/CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER|HOSTNAME_MISMATCH/i.test(code) || /wrong version number/i.test(message)) {
    return new RegistryError('NETWORK_ERROR', `${what}: TLS error (${code || message})`, {
      cause: err,
      hint: /wrong version number/i.test(message)
        ? 'the registry may speak plain HTTP; if you trust the network, use --tls-verify=false'
        : 'add the registry CA to certs.d/HOST:PORT/ca.crt, or use --tls-verify=false if you trust the network',
    });
  }
  if (code === 'ENOTFOUND') {
    return new RegistryError('NETWORK_ERROR', `${what}: host not found`, { cause: err, hint: 'check the registry name and DNS' });
  }
  if (code.startsWith('HPE_')) {
    return new RegistryError('REGISTRY_ERROR', `${what}: the server sent an invalid HTTP response (${code})`, {
      cause: err,
      retryable: true,
    });
  }
  return new RegistryError('NETWORK_ERROR', `${what}: ${code ? `${code} ` : ''}${clip(message)}`, {
    cause: err,
    retryable: RETRYABLE_NET.has(code) || message === 'aborted' || message === 'socket hang up' || !code,
  });
}

/**
 * The chunks of a response body, with an idle watchdog that only runs while we wait for the network: a server
 * that stalls fails with a retryable TIMEOUT, a consumer that is slow to ask for more does not.
 * Leaving early (break, throw) destroys the response.
 */
export async function* idleChunks(res: IncomingMessage, timeoutMs: number, what: string): AsyncGenerator<Buffer> {
  const it = res[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  let ended = false;
  try {
    for (;;) {
      let timer: NodeJS.Timeout | undefined;
      const stall = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          const err = timeoutError(what, timeoutMs);
          res.destroy(err);
          reject(err);
        }, timeoutMs);
      });
      let r: IteratorResult<Buffer>;
      try {
        r = await Promise.race([it.next(), stall]);
      } catch (err) {
        throw networkError(err, what);
      } finally {
        clearTimeout(timer);
      }
      if (r.done) {
        ended = true;
        return;
      }
      yield r.value;
    }
  } finally {
    if (!ended && !res.destroyed) res.destroy();
  }
}

/**
 * Read a whole body into memory, refusing more than `cap` bytes: a Content-Length over the cap is refused before
 * reading, and a body without one is cut off as soon as it passes the cap.
 */
export async function readBody(res: HttpResponse, cap: number, timeoutMs: number, what: string): Promise<Buffer> {
  const declared = contentLength(res.headers);
  if (declared !== undefined && declared > cap) {
    res.body.destroy();
    throw tooLarge(what, cap, declared);
  }
  const parts: Buffer[] = [];
  let total = 0;
  for await (const chunk of idleChunks(res.body, timeoutMs, what)) {
    total += chunk.length;
    if (total > cap) throw tooLarge(what, cap); // leaving the loop destroys the response
    parts.push(chunk);
  }
  return Buffer.concat(parts, total);
}

function tooLarge(what: string, cap: number, declared?: number): WharfError {
  return new WharfError(
    'TOO_LARGE',
    `${what}: the registry sent ${declared !== undefined ? `${declared} bytes` : 'more'} than the ${cap}-byte limit`,
    { hint: 'a registry response this large is not what was asked for; check the registry' },
  );
}

/** Throw a response away, keeping the connection when the body is small, dropping it when it is large or unknown. */
export function discard(res: HttpResponse): void {
  const len = contentLength(res.headers);
  if (res.body.destroyed || res.body.readableEnded) return;
  // Even a complete body must be read to its end before node hands the connection back to the pool.
  const bodiless = res.method === 'HEAD' || res.status === 204 || res.status === 304;
  if (bodiless || res.body.complete || (len !== undefined && len <= 64 * 1024)) {
    const timer = setTimeout(() => res.body.destroy(), 10_000);
    res.body.once('close', () => clearTimeout(timer));
    res.body.resume();
  } else {
    res.body.destroy();
  }
}

export function contentLength(headers: IncomingHttpHeaders): number | undefined {
  const v = headers['content-length'];
  if (v === undefined || !/^\d+$/.test(v.trim())) return undefined;
  return Number(v);
}

export function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

function clip(s: string): string {
  return s.length > 200 ? `${s.slice(0, 197)}...` : s;
}
