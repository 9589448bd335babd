/**
 * Requests through a proxy (proxy.ts decides which): an https request goes through a CONNECT tunnel, with TLS
 * to the origin inside it; a plain http request is sent to the proxy in absolute form (`GET http://host/path`).
 *
 * TunnelAgent is an https.Agent whose connections are tunnels, so a tunnel is pooled and reused like any
 * keep-alive socket: one agent per origin gives one set of tunnels per origin. The CONNECT happens before node
 * counts the socket as the agent's, so a burst of requests may open more tunnels than maxSockets; the callers'
 * own concurrency (a copy's pool) bounds them.
 *
 * The proxy's credentials go in Proxy-Authorization to the proxy only; messages name the proxy by its display
 * form and the variable that set it, never the password.
 */
import http from 'node:http';
import https from 'node:https';
import { isIP, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { ProxyError, type Proxy } from './proxy.js';

/** TLS settings for the connection to an https:// proxy itself (not the origin). */
export type ProxyTlsOptions = Pick<tls.ConnectionOptions, 'ca' | 'rejectUnauthorized'>;

export interface TunnelOptions {
  /** How long connecting to the proxy and its answer to CONNECT may take, in ms. */
  timeoutMs: number;
  proxyTls?: ProxyTlsOptions;
  signal?: AbortSignal;
}

/** `host:port` as CONNECT and Host want it (brackets around an IPv6 address). */
export function authority(host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

const RETRYABLE_CONNECT = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENETDOWN', 'EAI_AGAIN', 'EPIPE']);

/** A clean reason phrase: a hostile proxy does not get to write escape sequences into our messages. */
function reason(text: string | undefined): string {
  const clean = (text ?? '').replace(/[^\x20-\x7e]/g, '').trim();
  return clean.length > 80 ? `${clean.slice(0, 77)}...` : clean;
}

/**
 * The error for a proxy that answered `status` instead of passing the request on: 407 (credentials), 403
 * (not allowed), 5xx (could not reach the origin). Whether credentials were sent picks the 407 hint. A 401 to
 * CONNECT (`tunnel`) is about credentials too: no origin has spoken yet, and tinyproxy answers wrong ones so.
 */
export function proxyRefused(proxy: Proxy, status: number, statusText: string | undefined, target: string, what: string, tunnel = false): ProxyError {
  const why = `${status}${reason(statusText) ? ` ${reason(statusText)}` : ''}`;
  let hint: string;
  if (status === 407 || (tunnel && status === 401)) {
    hint = proxy.authorization
      ? `the proxy refused the user and password in ${proxy.variable}; check them`
      : `the proxy wants credentials: set ${proxy.variable}=${proxy.url.protocol}//USER:PASSWORD@${proxy.url.host}`;
  } else if (status === 403) {
    hint = `the proxy (from ${proxy.variable}) does not allow connections to ${target}; if it is reachable without the proxy, add it to NO_PROXY`;
  } else if (status >= 500) {
    hint = `the proxy (from ${proxy.variable}) could not reach ${target}; if it is reachable without the proxy, add it to NO_PROXY`;
  } else {
    hint = `check the proxy in ${proxy.variable}`;
  }
  return new ProxyError(`proxy ${proxy.display} refused ${what}: ${why}`, proxy.display, proxy.variable, status, {
    hint,
    retryable: status === 502 || status === 503 || status === 504,
  });
}

/** The error for a proxy that could not be reached or spoke no HTTP. */
export function proxyUnreachable(proxy: Proxy, err: unknown, what: string): ProxyError {
  if (err instanceof ProxyError) return err;
  const e = err as NodeJS.ErrnoException;
  const code = e?.code ?? '';
  const detail = code || reason(e?.message) || 'failed';
  const tlsProblem = /CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO|HOSTNAME_MISMATCH/i.test(code);
  return new ProxyError(`${what}: cannot use proxy ${proxy.display}: ${detail}`, proxy.display, proxy.variable, undefined, {
    cause: err,
    retryable: RETRYABLE_CONNECT.has(code) || detail === 'socket hang up',
    hint:
      code === 'ENOTFOUND'
        ? `the proxy host in ${proxy.variable} is not known; check it`
        : tlsProblem
          ? `the proxy's certificate (${proxy.variable} is an https:// proxy) is not trusted`
          : `check the proxy in ${proxy.variable} and that it is running`,
  });
}

/** Resolve with a socket at the start of a tunnel to `host:port`, or reject with a ProxyError. */
export function openTunnel(proxy: Proxy, host: string, port: number, options: TunnelOptions): Promise<Socket> {
  const target = authority(host, port);
  const what = `CONNECT ${target}`;
  const headers: Record<string, string> = { host: target };
  if (proxy.authorization) headers['proxy-authorization'] = proxy.authorization;
  return new Promise<Socket>((resolve, reject) => {
    let settled = false;
    const settle = (err: Error | undefined, socket?: Socket): void => {
      if (settled) {
        socket?.destroy();
        return;
      }
      settled = true;
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      if (err) reject(err);
      else resolve(socket!);
    };
    const common = { host: proxy.host, port: proxy.port, method: 'CONNECT', path: target, headers, agent: false as const };
    const req = proxy.tls
      ? https.request({ ...common, ...(isIP(proxy.host) ? {} : { servername: proxy.host }), ...options.proxyTls })
      : http.request(common);
    const timer = setTimeout(() => {
      req.destroy();
      settle(
        new ProxyError(`proxy ${proxy.display} did not answer ${what} within ${options.timeoutMs} ms`, proxy.display, proxy.variable, undefined, {
          code: 'TIMEOUT',
          retryable: true,
          hint: `check the proxy in ${proxy.variable} and the network to it`,
        }),
      );
    }, options.timeoutMs);
    const onAbort = (): void => {
      req.destroy();
      const err = new Error('operation aborted');
      err.name = 'AbortError';
      settle(err);
    };
    // Listen for the request's errors before anything can destroy it: an abort destroys it, and its "socket
    // hang up" must not be an unhandled 'error' event (settle ignores what comes after the first outcome).
    req.on('error', (err) => settle(proxyUnreachable(proxy, err, what)));
    if (options.signal?.aborted) {
      onAbort();
      return;
    }
    options.signal?.addEventListener('abort', onAbort, { once: true });
    req.on('connect', (res: http.IncomingMessage, socket: Socket, head: Buffer) => {
      const status = res.statusCode ?? 0;
      if (status < 200 || status > 299) {
        socket.destroy();
        settle(proxyRefused(proxy, status, res.statusMessage, target, what, true));
        return;
      }
      if (head.length > 0) {
        // The origin speaks after our TLS hello, never first: bytes here are the proxy's mistake.
        socket.destroy();
        settle(new ProxyError(`proxy ${proxy.display} sent data before the tunnel to ${target} was used`, proxy.display, proxy.variable, status));
        return;
      }
      socket.setTimeout(0);
      settle(undefined, socket);
    });
    req.end();
  });
}

export interface TunnelAgentOptions extends https.AgentOptions {
  proxy: Proxy;
  /** Connecting to the proxy, its CONNECT answer and the TLS handshake with the origin, in ms. */
  connectTimeoutMs: number;
  proxyTls?: ProxyTlsOptions;
}

/** An https.Agent whose sockets are TLS connections to the origin inside CONNECT tunnels. */
export class TunnelAgent extends https.Agent {
  private readonly proxy: Proxy;
  private readonly connectTimeoutMs: number;
  private readonly proxyTls: ProxyTlsOptions | undefined;

  constructor(options: TunnelAgentOptions) {
    const { proxy, connectTimeoutMs, proxyTls, ...agentOptions } = options;
    super(agentOptions);
    this.proxy = proxy;
    this.connectTimeoutMs = connectTimeoutMs;
    this.proxyTls = proxyTls;
  }

  override createConnection(options: https.RequestOptions, callback?: (err: Error | null, stream: Duplex) => void): Duplex | null | undefined {
    const done = callback ?? (() => {});
    const host = String(options.host ?? options.hostname ?? 'localhost').replace(/^\[(.*)\]$/, '$1');
    const port = Number(options.port ?? 443);
    const started = Date.now();
    openTunnel(this.proxy, host, port, { timeoutMs: this.connectTimeoutMs, ...(this.proxyTls ? { proxyTls: this.proxyTls } : {}) }).then(
      (raw) => {
        // The options node would hand tls.connect for a direct connection (CA, client certificate,
        // rejectUnauthorized, servername — empty for an IP address — and host for the identity check), over the tunnel.
        const secure = tls.connect({ ...(options as tls.ConnectionOptions), socket: raw, host, ...(options.servername ? { servername: options.servername } : {}) });
        const left = Math.max(1, this.connectTimeoutMs - (Date.now() - started));
        const timer = setTimeout(() => secure.destroy(Object.assign(new Error(`TLS handshake with ${authority(host, port)} through proxy ${this.proxy.display} timed out`), { code: 'ETIMEDOUT' })), left);
        const fail = (err: Error): void => {
          clearTimeout(timer);
          raw.destroy();
          done(err, undefined as unknown as Duplex);
        };
        secure.once('error', fail);
        secure.once('secureConnect', () => {
          clearTimeout(timer);
          secure.removeListener('error', fail);
          // The tunnel lives as long as the TLS connection in it.
          secure.once('close', () => raw.destroy());
          done(null, secure);
        });
      },
      (err: Error) => done(err, undefined as unknown as Duplex),
    );
    return undefined;
  }
}

/**
 * The request options that send a plain http request to the proxy in absolute form. `agent` must be an agent
 * for the proxy (forwardAgent), shared by every origin that goes through it.
 */
export function forwardRequest(url: URL, proxy: Proxy): { module: typeof http | typeof https; options: https.RequestOptions; headers: Record<string, string> } {
  const headers: Record<string, string> = { host: url.host };
  if (proxy.authorization) headers['proxy-authorization'] = proxy.authorization;
  return {
    module: proxy.tls ? https : http,
    options: {
      host: proxy.host,
      port: proxy.port,
      // Absolute form, without user info or fragment.
      path: `${url.protocol}//${url.host}${url.pathname}${url.search}`,
      ...(proxy.tls && !isIP(proxy.host) ? { servername: proxy.host } : {}),
    },
    headers,
  };
}

/** A keep-alive agent for the proxy itself (plain http requests go to it, whatever their origin). */
export function forwardAgent(proxy: Proxy, agentOptions: http.AgentOptions, proxyTls?: ProxyTlsOptions): http.Agent {
  return proxy.tls ? new https.Agent({ ...agentOptions, ...proxyTls }) : new http.Agent(agentOptions);
}
