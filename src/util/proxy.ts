/**
 * Which proxy a request goes through, decided from HTTPS_PROXY / HTTP_PROXY / NO_PROXY the way Go's
 * golang.org/x/net/http/httpproxy decides it (net/http's ProxyFromEnvironment, so skopeo, podman, crane and
 * trivy): a user behind a corporate proxy sets the variables once and every tool agrees on where a request goes.
 *
 * The rules, as Go has them:
 * - HTTPS_PROXY is for https requests, HTTP_PROXY for http ones; each variable is read upper case first, then
 *   lower case, and an empty value counts as unset (so `HTTPS_PROXY= https_proxy=x` uses x).
 * - With REQUEST_METHOD set the process is a CGI program, where HTTP_PROXY may have come from a request's
 *   `Proxy:` header (httpoxy): a request that would use HTTP_PROXY fails instead. HTTPS_PROXY still applies.
 * - A value without a scheme (`proxy.corp:3128`) means http://; a proxy without a port is on 80 (http) or 443
 *   (https), as Go's canonicalAddr has it; user info becomes `Proxy-Authorization: Basic`.
 * - `localhost` and loopback addresses (127/8, ::1, ::ffff:127.x) never go through a proxy.
 * - NO_PROXY is a comma-separated list, matched case-insensitively: `*` alone bypasses every host; an IP address
 *   (`10.1.2.3`, `::1`, `[::1]:5000`) or a CIDR block (`10.0.0.0/8`, `fd00::/8`) matches addresses; a name
 *   (`corp.example`) matches itself and its subdomains, `.corp.example` and `*.corp.example` its subdomains only;
 *   `:PORT` after an address or name restricts the entry to that port (the request's port, 443/80 when implied).
 *   Entries Go cannot read are skipped, as Go skips them.
 *
 * One deliberate difference: a value Go would misread (garbage, an empty host, a bad port) or that names a
 * scheme wharf does not speak (socks5) makes the requests that would use it fail with a ProxyError that names
 * the variable, instead of going somewhere unintended or silently direct: a user who set a proxy is on a network
 * that may need it.
 *
 * No environment is read here: the caller hands one in (the CLI hands CliIO.env).
 */
import { domainToASCII } from 'node:url';
import { WharfError, type WharfErrorOptions } from '../errors.js';

export type ProxyEnv = Readonly<Record<string, string | undefined>>;

/** A proxy chosen for one request. Its `url` carries the credentials: never print it, print `display`. */
export interface Proxy {
  /** The parsed proxy URL, credentials included. */
  readonly url: URL;
  /** `http://host:port` — no user info, no path: what messages may show. */
  readonly display: string;
  /** The variable the value came from (`HTTPS_PROXY`, `https_proxy`, …), for hints. */
  readonly variable: string;
  /** Connect to the proxy over TLS (an https:// proxy URL). */
  readonly tls: boolean;
  /** Host to connect to (no brackets around an IPv6 address). */
  readonly host: string;
  readonly port: number;
  /** `Basic …` when the URL had user info; sent to the proxy only, never to the origin. */
  readonly authorization?: string;
}

/**
 * A failure that is the proxy's: it refused a CONNECT, wants credentials, cannot be reached, or its setting is
 * unusable. The message names the proxy as `display` (never its password) and the hint the variable that set it.
 * Its code is NETWORK_ERROR (or TIMEOUT), as for any network failure; `instanceof ProxyError` tells it apart.
 */
export class ProxyError extends WharfError {
  override readonly name = 'ProxyError';
  constructor(
    message: string,
    /** The proxy as shown (no credentials), or the variable when its value is unusable. */
    readonly proxy: string,
    /** The variable the proxy came from. */
    readonly variable: string,
    /** The proxy's HTTP status, when it answered. */
    readonly status: number | undefined,
    options: WharfErrorOptions & { code?: 'NETWORK_ERROR' | 'TIMEOUT' } = {},
  ) {
    super(options.code ?? 'NETWORK_ERROR', message, options);
  }
}

/** One variable's value, parsed or found unusable. */
type Setting = { variable: string; proxy: Proxy } | { variable: string; problem: string };

type Matcher = (host: string, port: string, ip: Uint8Array | undefined) => boolean;

/**
 * The proxy settings of one environment, parsed once. `proxyFor(url)` is the whole decision; the rest is there
 * for messages and tests.
 */
export class ProxyConfig {
  private readonly http: Setting | undefined;
  private readonly https: Setting | undefined;
  private readonly ipMatchers: Matcher[] = [];
  private readonly domainMatchers: Matcher[] = [];
  private readonly cgi: boolean;

  constructor(values: { httpProxy?: [variable: string, value: string]; httpsProxy?: [variable: string, value: string]; noProxy?: string; cgi?: boolean }) {
    this.http = values.httpProxy ? parseSetting(values.httpProxy[0], values.httpProxy[1]) : undefined;
    this.https = values.httpsProxy ? parseSetting(values.httpsProxy[0], values.httpsProxy[1]) : undefined;
    this.cgi = values.cgi ?? false;
    this.parseNoProxy(values.noProxy ?? '');
  }

  /** Whether any proxy is set at all (a config without one sends everything direct). */
  get enabled(): boolean {
    return this.http !== undefined || this.https !== undefined;
  }

  /**
   * The proxy for a request to `url`, or undefined to connect directly (no proxy for its scheme, NO_PROXY,
   * loopback). Throws a ProxyError when the proxy that applies cannot be used (CGI and HTTP_PROXY, an unusable
   * value): the request must not go out at all then.
   */
  proxyFor(url: URL): Proxy | undefined {
    let setting: Setting | undefined;
    if (url.protocol === 'https:') setting = this.https;
    else if (url.protocol === 'http:') {
      setting = this.http;
      if (setting && this.cgi) {
        throw new ProxyError(`refusing to use ${setting.variable} for ${url.protocol}//${url.host}: REQUEST_METHOD is set, so this is a CGI program`, setting.variable, setting.variable, undefined, {
          hint: `in a CGI program ${setting.variable} may come from a client's "Proxy:" header (httpoxy); unset REQUEST_METHOD if this is not CGI, or ${setting.variable}`,
        });
      }
    }
    if (!setting) return undefined;
    if (!this.useProxy(url)) return undefined;
    if ('problem' in setting) {
      throw new ProxyError(`${setting.variable} is not a proxy wharf can use: ${setting.problem}`, setting.variable, setting.variable, undefined, {
        hint: `set ${setting.variable} to http://[USER:PASSWORD@]HOST:PORT (or https://…), or unset it`,
      });
    }
    return setting.proxy;
  }

  /** Go's useProxy: false for loopback, localhost and what NO_PROXY names. */
  private useProxy(url: URL): boolean {
    const host = hostOf(url);
    const port = url.port || (url.protocol === 'https:' ? '443' : url.protocol === 'http:' ? '80' : '');
    if (host === 'localhost') return false;
    const ip = parseIp(host);
    if (ip && isLoopback(ip)) return false;
    const h = host.trim().toLowerCase();
    if (ip) for (const m of this.ipMatchers) if (m(h, port, ip)) return false;
    for (const m of this.domainMatchers) if (m(h, port, ip)) return false;
    return true;
  }

  /** Go's config.init for NO_PROXY. */
  private parseNoProxy(value: string): void {
    for (const raw of value.split(',')) {
      const p = raw.trim().toLowerCase();
      if (p === '') continue;
      if (p === '*') {
        this.ipMatchers.splice(0, Infinity, () => true);
        this.domainMatchers.splice(0, Infinity, () => true);
        return;
      }
      const cidr = parseCidr(p);
      if (cidr) {
        this.ipMatchers.push((_h, _p, ip) => ip !== undefined && cidrContains(cidr, ip));
        continue;
      }
      let phost: string;
      let pport = '';
      const split = splitHostPort(p);
      if (split) {
        if (split.host === '') continue; // ":80": no host part
        phost = split.host;
        pport = split.port;
      } else {
        phost = p;
      }
      const pip = parseIp(phost);
      if (pip) {
        const port = pport;
        this.ipMatchers.push((_h, reqPort, ip) => ip !== undefined && sameIp(pip, ip) && (port === '' || port === reqPort));
        continue;
      }
      if (phost === '') continue;
      if (phost.startsWith('*.')) phost = phost.slice(1);
      let matchHost = false;
      if (!phost.startsWith('.')) {
        matchHost = true;
        phost = `.${phost}`;
      }
      if (!/^[\x00-\x7f]*$/.test(phost)) {
        // Go's idna.Lookup.ToASCII; a name it cannot convert stays as it is (and so matches nothing).
        const ascii = domainToASCII(phost.slice(1));
        if (ascii !== '') phost = `.${ascii}`;
      }
      const suffix = phost;
      const port = pport;
      this.domainMatchers.push((h, reqPort) => (h.endsWith(suffix) || (matchHost && h === suffix.slice(1))) && (port === '' || port === reqPort));
    }
  }
}

/** Go's httpproxy.FromEnvironment: the first non-empty of each pair, upper case first. */
export function proxyFromEnv(env: ProxyEnv): ProxyConfig {
  const any = (...names: string[]): [string, string] | undefined => {
    for (const n of names) {
      const v = env[n];
      if (v !== undefined && v !== '') return [n, v];
    }
    return undefined;
  };
  const httpProxy = any('HTTP_PROXY', 'http_proxy');
  const httpsProxy = any('HTTPS_PROXY', 'https_proxy');
  const noProxy = any('NO_PROXY', 'no_proxy');
  return new ProxyConfig({
    ...(httpProxy ? { httpProxy } : {}),
    ...(httpsProxy ? { httpsProxy } : {}),
    ...(noProxy ? { noProxy: noProxy[1] } : {}),
    cgi: (env.REQUEST_METHOD ?? '') !== '',
  });
}

/** A proxy URL as messages may show it: scheme, host and port, nothing else. */
export function displayProxy(url: URL): string {
  return `${url.protocol}//${url.host}`;
}

const PROXY_SCHEMES = new Set(['http:', 'https:', 'socks5:']);

/** Go's parseProxy (a value with an unknown scheme or none is tried again as http://VALUE), then checked. */
function parseSetting(variable: string, value: string): Setting {
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  // Go retries any value as http://VALUE; one that already says `scheme://` would only become host "http".
  if ((!url || !PROXY_SCHEMES.has(url.protocol)) && !/^[a-z][a-z0-9+.-]*:\/\//i.test(value.trim())) {
    try {
      url = new URL(`http://${value}`);
    } catch {
      // Keep what parsed, if anything: its scheme is then reported below.
    }
  }
  // The value itself is never quoted: it may hold a password.
  if (!url) return { variable, problem: 'the value is not a URL' };
  if (url.protocol === 'socks5:' || url.protocol === 'socks5h:') return { variable, problem: 'SOCKS proxies are not supported, only http:// and https:// ones' };
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    // Only a scheme the value spells out as `scheme://` is named: in `user:secret@host:99999` (no scheme, a bad
    // port) the "scheme" URL parsing found is the user name.
    const spelled = /^[a-z][a-z0-9+.-]*:\/\//i.test(value.trim());
    return { variable, problem: spelled ? `the scheme ${JSON.stringify(url.protocol.slice(0, 20))} is not http: or https:` : 'the value is not a URL (a bad port?)' };
  }
  const host = hostOf(url);
  if (host === '') return { variable, problem: 'the value has no host' };
  const tls = url.protocol === 'https:';
  const port = url.port ? Number(url.port) : tls ? 443 : 80;
  let authorization: string | undefined;
  if (url.username !== '' || url.password !== '') {
    authorization = `Basic ${Buffer.from(`${unescapeUserinfo(url.username)}:${unescapeUserinfo(url.password)}`, 'utf8').toString('base64')}`;
  }
  return { variable, proxy: { url, display: displayProxy(url), variable, tls, host, port, ...(authorization ? { authorization } : {}) } };
}

function unescapeUserinfo(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** url.hostname without the brackets of an IPv6 literal. */
function hostOf(url: URL): string {
  const h = url.hostname;
  return h.startsWith('[') && h.endsWith(']') ? h.slice(1, -1) : h;
}

// ---------------------------------------------------------------------------------------------------------------
// Go's net.SplitHostPort, ParseIP and ParseCIDR, as far as NO_PROXY needs them.

/** Go's net.SplitHostPort: undefined where Go returns an error. The port is not checked (Go does not either). */
export function splitHostPort(s: string): { host: string; port: string } | undefined {
  const i = s.lastIndexOf(':');
  if (i < 0) return undefined;
  let host: string;
  let j = 0;
  let k = 0;
  if (s.startsWith('[')) {
    const end = s.indexOf(']');
    if (end < 0 || end + 1 !== i) return undefined;
    host = s.slice(1, end);
    j = 1;
    k = end + 1;
  } else {
    host = s.slice(0, i);
    if (host.includes(':')) return undefined;
  }
  if (s.slice(j).includes('[') || s.slice(k).includes(']')) return undefined;
  return { host, port: s.slice(i + 1) };
}

/**
 * Go's net.ParseIP: dotted IPv4 (no leading zeros, since Go 1.17) or IPv6 (with an optional dotted tail; no
 * zone). IPv4 and IPv4-mapped IPv6 come back as 4 bytes, other IPv6 as 16, so that equal addresses compare equal.
 */
export function parseIp(s: string): Uint8Array | undefined {
  const v4 = parseIpv4(s);
  if (v4) return v4;
  const v6 = parseIpv6(s);
  if (!v6) return undefined;
  return isV4Mapped(v6) ? v6.subarray(12) : v6;
}

function parseIpv4(s: string): Uint8Array | undefined {
  const parts = s.split('.');
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i]!;
    if (!/^\d{1,3}$/.test(p) || (p.length > 1 && p.startsWith('0'))) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    out[i] = n;
  }
  return out;
}

function parseIpv6(s: string): Uint8Array | undefined {
  if (s.length < 2 || s.length > 45) return undefined;
  const out = new Uint8Array(16);
  let rest = s;
  let ellipsis = -1;
  let i = 0;
  if (rest.startsWith('::')) {
    ellipsis = 0;
    rest = rest.slice(2);
    if (rest === '') return out;
  }
  while (i < 16) {
    const m = /^[0-9a-fA-F]{1,4}/.exec(rest);
    if (!m) return undefined;
    // A dotted IPv4 tail takes the last four bytes.
    if (rest.length > m[0].length && rest[m[0].length] === '.') {
      if (ellipsis < 0 && i !== 12) return undefined;
      if (i + 4 > 16) return undefined;
      const v4 = parseIpv4(rest);
      if (!v4) return undefined;
      out.set(v4, i);
      i += 4;
      rest = '';
      break;
    }
    const n = parseInt(m[0], 16);
    out[i] = n >> 8;
    out[i + 1] = n & 0xff;
    i += 2;
    rest = rest.slice(m[0].length);
    if (rest === '') break;
    if (rest[0] !== ':' || rest.length === 1) return undefined;
    rest = rest.slice(1);
    if (rest[0] === ':') {
      if (ellipsis >= 0) return undefined;
      ellipsis = i;
      rest = rest.slice(1);
      if (rest === '') break;
    }
  }
  if (rest !== '') return undefined;
  if (i < 16) {
    if (ellipsis < 0) return undefined;
    const n = 16 - i;
    out.copyWithin(ellipsis + n, ellipsis, i);
    out.fill(0, ellipsis, ellipsis + n);
  } else if (ellipsis >= 0) {
    return undefined; // "::" must stand for at least one group of zeros
  }
  return out;
}

function isV4Mapped(b: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return false;
  return b[10] === 0xff && b[11] === 0xff;
}

function isLoopback(ip: Uint8Array): boolean {
  if (ip.length === 4) return ip[0] === 127;
  for (let i = 0; i < 15; i++) if (ip[i] !== 0) return false;
  return ip[15] === 1;
}

function sameIp(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

interface Cidr {
  net: Uint8Array;
  bits: number;
}

/**
 * Go's net.ParseCIDR: an address without zone, `/`, a decimal prefix length up to the address's width. An
 * IPv4-mapped IPv6 block is an IPv4 block (its prefix less 96), as Go's IPNet.Contains treats it.
 */
export function parseCidr(s: string): Cidr | undefined {
  const slash = s.indexOf('/');
  if (slash < 0) return undefined;
  const addr = s.slice(0, slash);
  const mask = s.slice(slash + 1);
  if (!/^\d+$/.test(mask) || mask.length > 4) return undefined;
  let bits = Number(mask);
  const v4 = parseIpv4(addr);
  let net: Uint8Array;
  if (v4) {
    if (bits > 32) return undefined;
    net = v4;
  } else {
    const v6 = parseIpv6(addr);
    if (!v6 || bits > 128) return undefined;
    if (isV4Mapped(v6)) {
      net = v6.subarray(12);
      bits = Math.max(0, bits - 96);
    } else {
      net = v6;
    }
  }
  return { net, bits };
}

function cidrContains(c: Cidr, ip: Uint8Array): boolean {
  if (ip.length !== c.net.length) return false;
  let bits = c.bits;
  for (let i = 0; i < ip.length && bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((ip[i]! & mask) !== (c.net[i]! & mask)) return false;
  }
  return true;
}
