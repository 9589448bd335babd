import type { RegistriesConf } from '../../config/index.js';
import type { TlsFiles } from '../../config/index.js';
import { WharfError } from '../../errors.js';
import { RegistryClient, type RegistryCredentials, type TlsOptions } from '../../registry-client/index.js';
import type { ProxyConfig } from '../../util/proxy.js';
import type { Logger } from '../types.js';

/**
 * What a registry transport needs to know about the user's setup: credentials, TLS, registries.conf. The CLI
 * builds it from auth.json, certs.d and registries.conf (and flags); library callers pass what they want.
 * Everything is optional: with nothing, registries are reached anonymously over verified HTTPS.
 */
export interface RegistryAccess {
  /** Credentials for `host[:port]/repo/path` (most specific first), as auth.json lookups work. */
  credentials?: (key: string) => Promise<RegistryCredentials | undefined>;
  /** A bearer token sent as is (--registry-token). */
  registryToken?: string;
  /** false: plain HTTP and unverified certificates are allowed (--tls-verify=false). Default true. */
  tlsVerify?: boolean;
  /** certs.d: CA and client certificate for `host[:port]`. */
  tlsFiles?: (hostPort: string) => Promise<TlsFiles | undefined>;
  /** registries.conf: short names, mirrors, blocked and insecure registries. */
  registries?: RegistriesConf;
  retryTimes?: number;
  timeoutMs?: number;
  userAgent?: string;
  /** HTTPS_PROXY / HTTP_PROXY / NO_PROXY, parsed (proxyFromEnv); default: no proxy. */
  proxy?: ProxyConfig;
}

/**
 * Docker Hub is named docker.io in references and auth files, but its API answers at registry-1.docker.io
 * (docker.io itself only redirects browsers), as the docker and containers tools know.
 */
export function apiEndpoint(endpoint: string): string {
  const { host, prefix } = splitEndpoint(endpoint);
  if (host !== 'docker.io' && host !== 'index.docker.io') return endpoint;
  return prefix ? `registry-1.docker.io/${prefix}` : 'registry-1.docker.io';
}

/** Split `host[:port][/path]` (a mirror location may carry a path) into the host and the path prefix. */
export function splitEndpoint(endpoint: string): { host: string; prefix: string } {
  const slash = endpoint.indexOf('/');
  return slash < 0 ? { host: endpoint, prefix: '' } : { host: endpoint.slice(0, slash), prefix: endpoint.slice(slash + 1) };
}

/**
 * Make a client for one endpoint and repository. `insecure` (registries.conf or --tls-verify=false) allows an
 * unverified certificate and, if HTTPS does not answer at all, plain HTTP, as the containers tools do.
 */
export async function openClient(
  access: RegistryAccess,
  endpoint: string,
  repo: string,
  insecure: boolean,
  logger: Logger | undefined,
  signal?: AbortSignal,
): Promise<RegistryClient> {
  const { host } = splitEndpoint(endpoint);
  // An explicit --tls-verify wins over registries.conf's `insecure`, both ways.
  const allowInsecure = access.tlsVerify === undefined ? insecure : !access.tlsVerify;
  const files = await access.tlsFiles?.(host);
  const tls: TlsOptions = {};
  if (files?.ca.length) tls.ca = files.ca;
  if (files?.cert) tls.cert = files.cert;
  if (files?.key) tls.key = files.key;
  if (allowInsecure) tls.rejectUnauthorized = false;
  const credentialsKey = `${host}/${repo}`;
  const make = (scheme: 'https' | 'http'): RegistryClient => {
    const options: ConstructorParameters<typeof RegistryClient>[0] = {
      endpoint: apiEndpoint(endpoint),
      scheme,
      tls,
      credentials: async () => {
        if (access.registryToken) return { registryToken: access.registryToken };
        return access.credentials?.(credentialsKey);
      },
    };
    if (access.retryTimes !== undefined) options.retryTimes = access.retryTimes;
    if (access.timeoutMs !== undefined) options.timeoutMs = access.timeoutMs;
    if (access.userAgent) options.userAgent = access.userAgent;
    if (access.proxy) options.proxy = access.proxy;
    if (logger) options.logger = logger;
    return new RegistryClient(options);
  };
  const https = make('https');
  if (!allowInsecure) return https;
  try {
    await https.ping(signal);
    return https;
  } catch (err) {
    if (!(err instanceof WharfError) || !isConnectionProblem(err)) throw err;
    https.close();
    logger?.debug?.(`${host}: HTTPS failed (${err.message}); trying plain HTTP, as the registry is insecure`);
    const http = make('http');
    await http.ping(signal);
    return http;
  }
}

function isConnectionProblem(err: WharfError): boolean {
  return err.code === 'NETWORK_ERROR' || err.code === 'TIMEOUT';
}
