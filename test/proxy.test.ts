/**
 * util/proxy.ts: HTTPS_PROXY / HTTP_PROXY / NO_PROXY read as Go's golang.org/x/net/http/httpproxy reads them
 * (the expectations follow its documented rules and its proxy_test.go cases), and hostile values: empty,
 * garbage, unsupported schemes, odd NO_PROXY entries. No value's password ever reaches a message.
 */
import assert from 'node:assert/strict';
import { Agent as HttpAgent, createServer as createHttpServer, request as httpRequest } from 'node:http';
import { connect as connectNet, createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { describe, test, type TestContext } from 'node:test';
import { WharfError } from '../src/errors.js';
import { openTunnel } from '../src/util/proxy-agent.js';
import { ProxyError, parseCidr, parseIp, proxyFromEnv, splitHostPort, type Proxy, type ProxyEnv } from '../src/util/proxy.js';

/** The proxy a request to `url` goes through under `env`, as `scheme://host:port (VARIABLE)`, or 'direct'. */
function via(env: ProxyEnv, url: string): string {
  const p = proxyFromEnv(env).proxyFor(new URL(url));
  return p ? `${p.display} (${p.variable})` : 'direct';
}

function refusal(env: ProxyEnv, url: string): ProxyError {
  try {
    proxyFromEnv(env).proxyFor(new URL(url));
  } catch (err) {
    assert.ok(err instanceof ProxyError, `not a ProxyError: ${String(err)}`);
    assert.ok(err instanceof WharfError);
    return err;
  }
  assert.fail(`no error for ${url}`);
}

describe('which variable applies', () => {
  test('HTTPS_PROXY for https, HTTP_PROXY for http; upper case first, an empty value is unset', () => {
    const env = { HTTPS_PROXY: 'http://s.corp:1', HTTP_PROXY: 'http://p.corp:2' };
    assert.equal(via(env, 'https://registry.example/v2/'), 'http://s.corp:1 (HTTPS_PROXY)');
    assert.equal(via(env, 'http://registry.example/v2/'), 'http://p.corp:2 (HTTP_PROXY)');
    // HTTP_PROXY is not a fallback for https (Go: "HTTPS_PROXY takes precedence … for https requests", and only it).
    assert.equal(via({ HTTP_PROXY: 'http://p.corp:2' }, 'https://registry.example/'), 'direct');
    assert.equal(via({ HTTPS_PROXY: 'http://s.corp:1' }, 'http://registry.example/'), 'direct');
    assert.equal(via({ HTTPS_PROXY: 'http://UP:1', https_proxy: 'http://low:2' }, 'https://x.example/'), 'http://up:1 (HTTPS_PROXY)');
    assert.equal(via({ HTTPS_PROXY: '', https_proxy: 'http://low:2' }, 'https://x.example/'), 'http://low:2 (https_proxy)');
    assert.equal(via({ http_proxy: 'http://low:2' }, 'http://x.example/'), 'http://low:2 (http_proxy)');
    assert.equal(via({}, 'https://x.example/'), 'direct');
    assert.equal(proxyFromEnv({}).enabled, false);
    assert.equal(proxyFromEnv({ NO_PROXY: '*' }).enabled, false);
    assert.equal(proxyFromEnv({ https_proxy: 'x:1' }).enabled, true);
  });

  test('no scheme means http://; default ports 80 and 443; https:// proxies; user info becomes Basic', () => {
    assert.equal(via({ HTTPS_PROXY: 'proxy.corp:3128' }, 'https://x.example/'), 'http://proxy.corp:3128 (HTTPS_PROXY)');
    assert.equal(via({ HTTPS_PROXY: '127.0.0.1:3128' }, 'https://x.example/'), 'http://127.0.0.1:3128 (HTTPS_PROXY)');
    assert.equal(via({ HTTPS_PROXY: 'proxy.corp' }, 'https://x.example/'), 'http://proxy.corp (HTTPS_PROXY)');
    assert.equal(via({ HTTPS_PROXY: '[fd00::1]:3128' }, 'https://x.example/'), 'http://[fd00::1]:3128 (HTTPS_PROXY)');
    const plain = proxyFromEnv({ HTTPS_PROXY: 'proxy.corp' }).proxyFor(new URL('https://x.example/'))!;
    assert.deepEqual([plain.host, plain.port, plain.tls, plain.authorization], ['proxy.corp', 80, false, undefined]);
    const secure = proxyFromEnv({ HTTPS_PROXY: 'https://proxy.corp' }).proxyFor(new URL('https://x.example/'))!;
    assert.deepEqual([secure.host, secure.port, secure.tls], ['proxy.corp', 443, true]);
    const v6 = proxyFromEnv({ HTTPS_PROXY: 'http://[fd00::1]:8080' }).proxyFor(new URL('https://x.example/'))!;
    assert.deepEqual([v6.host, v6.port], ['fd00::1', 8080]);
    const auth = proxyFromEnv({ HTTPS_PROXY: 'http://al%40ce:p%3Ass@proxy.corp:3128/' }).proxyFor(new URL('https://x.example/'))!;
    assert.equal(auth.display, 'http://proxy.corp:3128');
    assert.equal(auth.authorization, `Basic ${Buffer.from('al@ce:p:ss').toString('base64')}`);
    const userOnly = proxyFromEnv({ HTTPS_PROXY: 'http://bob@proxy.corp:3128' }).proxyFor(new URL('https://x.example/'))!;
    assert.equal(userOnly.authorization, `Basic ${Buffer.from('bob:').toString('base64')}`);
  });

  test('REQUEST_METHOD (CGI): HTTP_PROXY is refused, not used and not skipped; HTTPS_PROXY still applies', () => {
    const env = { REQUEST_METHOD: 'GET', HTTP_PROXY: 'http://evil:1', HTTPS_PROXY: 'http://s.corp:1' };
    const err = refusal(env, 'http://registry.example/');
    assert.match(err.message, /refusing to use HTTP_PROXY .*REQUEST_METHOD is set/);
    assert.match(err.hint ?? '', /httpoxy/);
    assert.equal(via(env, 'https://registry.example/'), 'http://s.corp:1 (HTTPS_PROXY)');
    assert.equal(via({ REQUEST_METHOD: 'GET' }, 'http://registry.example/'), 'direct');
    assert.equal(via({ REQUEST_METHOD: '', HTTP_PROXY: 'http://p:1' }, 'http://registry.example/'), 'http://p:1 (HTTP_PROXY)');
  });
});

describe('hosts that never go through a proxy', () => {
  const env = { HTTPS_PROXY: 'http://proxy.corp:3128', HTTP_PROXY: 'http://proxy.corp:3128' };
  test('localhost and loopback addresses', () => {
    for (const url of ['https://localhost/', 'https://LOCALHOST:5000/', 'http://127.0.0.1:5000/', 'http://127.1.2.3/', 'https://[::1]:5000/', 'https://[::ffff:127.0.0.1]/', 'http://2130706433/']) {
      assert.equal(via(env, url), 'direct', url);
    }
    // Only the name localhost itself: Go does not exempt its subdomains or other names that resolve to loopback.
    for (const url of ['https://foo.localhost/', 'https://localhost.example/', 'https://[::2]/', 'http://128.0.0.1/']) {
      assert.equal(via(env, url), 'http://proxy.corp:3128 (HTTPS_PROXY)'.replace('HTTPS', url.startsWith('http:') ? 'HTTP' : 'HTTPS'), url);
    }
  });
});

describe('NO_PROXY', () => {
  const base = { HTTPS_PROXY: 'http://proxy.corp:3128', HTTP_PROXY: 'http://proxy.corp:3128' };
  function direct(noProxy: string, url: string): boolean {
    return via({ ...base, NO_PROXY: noProxy }, url) === 'direct';
  }

  test('`*` bypasses everything, wherever it is in the list; `*` inside an entry is not a wildcard', () => {
    assert.equal(direct('*', 'https://anything.example/'), true);
    assert.equal(direct('foo.example, * ,bar', 'https://anything.example/'), true);
    assert.equal(direct('*', 'http://10.0.0.1/'), true);
    assert.equal(direct('*example', 'https://www.example/'), false);
    assert.equal(direct('**', 'https://www.example/'), false);
  });

  test('names: `foo.com` matches it and its subdomains; `.foo.com` and `*.foo.com` only subdomains; case and spaces ignored', () => {
    assert.equal(direct('foo.com', 'https://foo.com/'), true);
    assert.equal(direct('foo.com', 'https://bar.foo.com/'), true);
    assert.equal(direct('foo.com', 'https://barfoo.com/'), false);
    assert.equal(direct('foo.com', 'https://foo.com.evil/'), false);
    assert.equal(direct('.foo.com', 'https://foo.com/'), false);
    assert.equal(direct('.foo.com', 'https://x.foo.com/'), true);
    assert.equal(direct('*.foo.com', 'https://foo.com/'), false);
    assert.equal(direct('*.foo.com', 'https://a.b.foo.com/'), true);
    assert.equal(direct('  FOO.Com  ', 'https://www.foo.com/'), true);
    assert.equal(direct('other.com,,  ,foo.com', 'https://foo.com/'), true);
    assert.equal(direct('bücher.example', 'https://www.xn--bcher-kva.example/'), true);
  });

  test('ports: `host:port` matches that port only, the implied 443/80 included', () => {
    assert.equal(direct('foo.com:5000', 'https://foo.com:5000/'), true);
    assert.equal(direct('foo.com:5000', 'https://foo.com/'), false);
    assert.equal(direct('foo.com:443', 'https://foo.com/'), true);
    assert.equal(direct('foo.com:80', 'http://foo.com/'), true);
    assert.equal(direct('foo.com:80', 'https://foo.com/'), false);
    assert.equal(direct('10.1.2.3:5000', 'http://10.1.2.3:5000/'), true);
    assert.equal(direct('10.1.2.3:5000', 'http://10.1.2.3:5001/'), false);
    assert.equal(direct('[fd00::5]:5000', 'https://[fd00::5]:5000/'), true);
    assert.equal(direct('[fd00::5]:5000', 'https://[fd00::5]/'), false);
    // A port that is not a number never matches, but is no error either.
    assert.equal(direct('foo.com:http', 'http://foo.com/'), false);
  });

  test('IP addresses and CIDR blocks, IPv4 and IPv6, IPv4-mapped IPv6 the same as IPv4', () => {
    assert.equal(direct('10.1.2.3', 'https://10.1.2.3/'), true);
    assert.equal(direct('10.1.2.3', 'https://10.1.2.4/'), false);
    assert.equal(direct('10.0.0.0/8', 'https://10.200.1.1:5000/'), true);
    assert.equal(direct('10.0.0.0/8', 'https://11.0.0.1/'), false);
    assert.equal(direct('10.9.9.9/8', 'https://10.1.1.1/'), true); // host bits set: Go masks them
    assert.equal(direct('0.0.0.0/0', 'https://192.0.2.7/'), true);
    assert.equal(direct('0.0.0.0/0', 'https://[fd00::1]/'), false);
    assert.equal(direct('fd00::/8', 'https://[fd12:3456::1]/'), true);
    assert.equal(direct('fd00::/8', 'https://[fe80::1]/'), false);
    assert.equal(direct('fd00::1', 'https://[fd00:0:0::1]/'), true);
    assert.equal(direct('FD00::ABCD', 'https://[fd00::abcd]/'), true);
    assert.equal(direct('::ffff:10.1.2.3', 'https://10.1.2.3/'), true);
    assert.equal(direct('10.1.2.3', 'https://[::ffff:a01:203]/'), true);
    assert.equal(direct('::ffff:10.0.0.0/104', 'https://10.7.7.7/'), true);
    // An address entry matches addresses, not names that happen to resolve to them.
    assert.equal(direct('10.1.2.3', 'https://ten.example/'), false);
    // A CIDR entry never matches a name.
    assert.equal(direct('10.0.0.0/8', 'https://10.example/'), false);
  });

  test('entries Go cannot read are skipped, the rest of the list still applies', () => {
    const junk = [':80', '[', ']', '[::1', '10.0.0.0/33', '10.0.0.0/-1', 'fd00::/129', '1.2.3.4/', '/8', '010.1.2.3', '1.2.3', 'fe80::1%eth0', ':::', '1:2:3:4:5:6:7:8:9', '\u0000', '%zz', 'a'.repeat(5000)];
    for (const j of junk) {
      assert.doesNotThrow(() => proxyFromEnv({ ...base, NO_PROXY: j }), j);
      assert.equal(direct(`${j},foo.com`, 'https://foo.com/'), true, j);
      assert.equal(direct(j, 'https://bar.example/'), false, j);
    }
    // Go reads `010.1.2.3` as a name (it rejects leading zeros in addresses), so it matches nothing real.
    assert.equal(direct('010.1.2.3', 'https://10.1.2.3/'), false);
  });
});

describe('values wharf cannot use make requests fail, naming the variable, never the value', () => {
  test('garbage, no host, bad port, socks5, an unknown scheme', () => {
    const cases: [string, RegExp][] = [
      ['http://', /no host|not a URL/],
      ['http://user:hunter2@:3128', /no host|not a URL/],
      ['http://proxy.corp:99999', /not a URL/],
      ['http://proxy.corp:port', /not a URL/],
      ['socks5://user:hunter2@proxy.corp:1080', /SOCKS proxies are not supported/],
      ['socks5h://proxy.corp:1080', /SOCKS proxies are not supported/],
      ['http://[fd00::1:3128', /not a URL/],
      ['ht tp://proxy.corp', /not a URL/],
      ['\u0000\u0001', /not a URL/],
    ];
    for (const [value, why] of cases) {
      const err = refusal({ HTTPS_PROXY: value }, 'https://registry.example/');
      assert.match(err.message, /^HTTPS_PROXY is not a proxy wharf can use: /, value);
      assert.match(err.message, why, value);
      assert.match(err.hint ?? '', /HTTPS_PROXY/);
      assert.equal(err.code, 'NETWORK_ERROR');
      assert.equal(err.retryable, false);
      assert.equal(`${err.message} ${err.hint}`.includes('hunter2'), false);
    }
  });

  test('a value without a scheme and with a bad port names neither its user nor its password (user-name leak)', () => {
    for (const value of ['AKIAIOSFODNN7EXAMPLE:hunter2@proxy.corp:99999', 'alice:hunter2@proxy:3128x']) {
      const err = refusal({ HTTPS_PROXY: value }, 'https://registry.example/');
      const said = `${err.message} ${err.hint ?? ''}`;
      assert.match(err.message, /not a URL/, value);
      assert.equal(/AKIAIOSFODNN7EXAMPLE|akiaiosfodnn7example|alice|hunter2/.test(said), false, said);
    }
  });

  test('an unusable value does not matter where NO_PROXY or loopback sends a request direct', () => {
    assert.equal(via({ HTTPS_PROXY: 'socks5://p:1', NO_PROXY: 'registry.example' }, 'https://registry.example/'), 'direct');
    assert.equal(via({ HTTPS_PROXY: 'socks5://p:1' }, 'https://127.0.0.1:5000/'), 'direct');
    assert.equal(via({ HTTPS_PROXY: 'socks5://p:1' }, 'http://registry.example/'), 'direct');
  });

  test('display and messages never hold the password', () => {
    const p = proxyFromEnv({ HTTPS_PROXY: 'http://alice:hunter2@proxy.corp:3128/path?q=1#f' }).proxyFor(new URL('https://x.example/'))!;
    assert.equal(p.display, 'http://proxy.corp:3128');
    assert.equal(JSON.stringify({ display: p.display, variable: p.variable, host: p.host }).includes('hunter2'), false);
  });
});

describe('the Go parsers under it', () => {
  test('splitHostPort', () => {
    assert.deepEqual(splitHostPort('foo.com:80'), { host: 'foo.com', port: '80' });
    assert.deepEqual(splitHostPort('[::1]:80'), { host: '::1', port: '80' });
    assert.deepEqual(splitHostPort(':80'), { host: '', port: '80' });
    assert.deepEqual(splitHostPort('foo:'), { host: 'foo', port: '' });
    for (const bad of ['foo.com', '::1', '[::1]', '[::1]x:80', 'a:b:c', '[a]:b]', 'x[y]:1']) assert.equal(splitHostPort(bad), undefined, bad);
  });

  test('parseIp: IPv4 strictly, IPv6 with :: and a dotted tail, mapped addresses as IPv4', () => {
    assert.deepEqual([...parseIp('192.0.2.1')!], [192, 0, 2, 1]);
    assert.deepEqual([...parseIp('::ffff:192.0.2.1')!], [192, 0, 2, 1]);
    assert.equal(parseIp('::1')!.length, 16);
    assert.deepEqual([...parseIp('1::')!], [0, 1, ...new Array(14).fill(0)]);
    assert.deepEqual([...parseIp('::')!], new Array(16).fill(0));
    assert.deepEqual([...parseIp('1:2:3:4:5:6:7:8')!], [0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0, 8]);
    assert.deepEqual([...parseIp('64:ff9b::192.0.2.1')!].slice(12), [192, 0, 2, 1]);
    for (const bad of ['256.0.0.1', '1.2.3', '1.2.3.4.5', '01.2.3.4', '1..2.3', '', ':', ':::', '1:::2', '1::2::3', '12345::', 'g::', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7::8', '::1.2.3', '1.2.3.4::', 'fe80::1%eth0', '[::1]', ' 1.2.3.4', '::ffff:1.2.3.04', '1:2:3:4:5:6:1.2.3.4:5']) {
      assert.equal(parseIp(bad), undefined, bad);
    }
    // "::" standing for no group at all is refused (Go: it must expand to at least one field of zeros).
    assert.equal(parseIp('1:2:3:4::5:6:7:8'), undefined);
  });

  test('parseCidr', () => {
    assert.deepEqual(parseCidr('10.0.0.0/8'), { net: Uint8Array.from([10, 0, 0, 0]), bits: 8 });
    assert.equal(parseCidr('::/0')!.net.length, 16);
    assert.deepEqual(parseCidr('::ffff:10.0.0.0/104'), { net: Uint8Array.from([10, 0, 0, 0]), bits: 8 });
    assert.deepEqual(parseCidr('10.0.0.0/08'), { net: Uint8Array.from([10, 0, 0, 0]), bits: 8 });
    for (const bad of ['10.0.0.0', '10.0.0.0/', '10.0.0.0/33', 'fd00::/129', '10.0.0.0/8/8', 'x/8', '10.0.0.0/+8', '10.0.0.0/ 8', 'fe80::%1/64']) assert.equal(parseCidr(bad), undefined, bad);
  });
});

describe('tunnels against hostile and broken proxies (util/proxy-agent.ts)', () => {
  /** A Proxy object for http://127.0.0.1:PORT, with optional user info. */
  function proxyAt(port: number, userinfo = ''): Proxy {
    return proxyFromEnv({ HTTPS_PROXY: `http://${userinfo}127.0.0.1:${port}` }).proxyFor(new URL('https://registry.example/'))!;
  }

  /** A TCP server that answers each connection with `answer` (after reading the request head), or never. */
  async function fakeProxy(t: TestContext, answer: string | undefined, onHead?: (head: string) => void): Promise<number> {
    const sockets = new Set<Socket>();
    const server = createNetServer((s) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {});
      let head = '';
      s.on('data', (b: Buffer) => {
        head += b.toString('latin1');
        if (!head.includes('\r\n\r\n')) return;
        onHead?.(head);
        if (answer === 'close') s.destroy();
        else if (answer !== undefined) s.write(answer);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    t.after(() => new Promise<void>((r) => {
      for (const s of sockets) s.destroy();
      server.close(() => r());
    }));
    return (server.address() as AddressInfo).port;
  }

  async function tunnelError(proxy: Proxy, timeoutMs = 5000): Promise<ProxyError> {
    try {
      const s = await openTunnel(proxy, 'registry.example', 443, { timeoutMs });
      s.destroy();
    } catch (err) {
      assert.ok(err instanceof ProxyError, String(err));
      return err;
    }
    assert.fail('the tunnel opened');
  }

  test('CONNECT carries the authority (IPv6 in brackets) and Proxy-Authorization, and nothing of the origin', async (t) => {
    const heads: string[] = [];
    const port = await fakeProxy(t, 'HTTP/1.1 200 Connection established\r\n\r\n', (h) => heads.push(h));
    const s = await openTunnel(proxyAt(port, 'al%20ice:s3cret@'), 'fd00::7', 5000, { timeoutMs: 5000 });
    s.destroy();
    assert.match(heads[0]!, /^CONNECT \[fd00::7\]:5000 HTTP\/1\.1\r\n/);
    assert.match(heads[0]!, /\r\nhost: \[fd00::7\]:5000\r\n/i);
    assert.match(heads[0]!, new RegExp(`\\r\\nproxy-authorization: Basic ${Buffer.from('al ice:s3cret').toString('base64')}\\r\\n`, 'i'));
    assert.doesNotMatch(heads[0]!, /^authorization:/im);
  });

  test('a signal already aborted: the tunnel is refused as aborted, and the destroyed request does not crash the process', async (t) => {
    const port = await fakeProxy(t, 'HTTP/1.1 200 Connection established\r\n\r\n');
    const controller = new AbortController();
    controller.abort();
    await assert.rejects(openTunnel(proxyAt(port), 'registry.example', 443, { timeoutMs: 5000, signal: controller.signal }), (e: Error) => e.name === 'AbortError');
    // The request's own error ("socket hang up") comes a turn later: without a listener it would be thrown.
    await new Promise((r) => setTimeout(r, 50));
  });

  test('a refusal names the proxy and its status, with a clean reason and no password', async (t) => {
    const port = await fakeProxy(t, 'HTTP/1.1 407 \x1b[31mLog in\x07 please\r\nProxy-Authenticate: Basic realm="x"\r\nContent-Length: 0\r\n\r\n');
    const err = await tunnelError(proxyAt(port, 'bob:hunter2@'));
    assert.equal(err.status, 407);
    assert.equal(err.message, `proxy http://127.0.0.1:${port} refused CONNECT registry.example:443: 407 [31mLog in please`);
    assert.match(err.hint ?? '', /refused the user and password in HTTPS_PROXY/);
    assert.equal(err.retryable, false);
    assert.equal(`${err.message}${err.hint}`.includes('hunter2'), false);
    const bad = await fakeProxy(t, 'HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n');
    const e502 = await tunnelError(proxyAt(bad));
    assert.deepEqual([e502.status, e502.retryable], [502, true]);
    assert.match(e502.hint ?? '', /could not reach registry\.example:443.*NO_PROXY/);
  });

  test('silence is a TIMEOUT; a closed connection, garbage, a refused port and early bytes are NETWORK_ERRORs', async (t) => {
    const silent = await tunnelError(proxyAt(await fakeProxy(t, undefined)), 200);
    assert.deepEqual([silent.code, silent.retryable], ['TIMEOUT', true]);
    assert.match(silent.message, /did not answer CONNECT registry\.example:443 within 200 ms/);
    const closed = await tunnelError(proxyAt(await fakeProxy(t, 'close')));
    assert.deepEqual([closed.code, closed.retryable], ['NETWORK_ERROR', true]);
    const garbage = await tunnelError(proxyAt(await fakeProxy(t, 'SSH-2.0-OpenSSH_9.2\r\n\r\n')));
    assert.match(garbage.message, /cannot use proxy http:\/\/127\.0\.0\.1:\d+: HPE_/);
    const early = await tunnelError(proxyAt(await fakeProxy(t, 'HTTP/1.1 200 OK\r\n\r\nHELLO')));
    assert.match(early.message, /sent data before the tunnel/);
    const free = await new Promise<number>((r) => {
      const s = createNetServer();
      s.listen(0, '127.0.0.1', () => {
        const p = (s.address() as AddressInfo).port;
        s.close(() => r(p));
      });
    });
    const refused = await tunnelError(proxyAt(free));
    assert.match(refused.message, /cannot use proxy http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED/);
    assert.deepEqual([refused.retryable, /HTTPS_PROXY/.test(refused.hint ?? '')], [true, true]);
  });

  test('TunnelAgent: requests through one agent share one tunnel (keep-alive), and an abort before it opens is ABORTED', async (t) => {
    // A CONNECT proxy (node's http server) in front of a plain http origin, and an http.Agent whose sockets come
    // from openTunnel asynchronously, as TunnelAgent's do (TunnelAgent adds TLS inside; its reuse through
    // tinyproxy is checked in proxy-e2e.test.ts): node pools such sockets like any other.
    const connects: string[] = [];
    const origin = createHttpServer((req, res) => res.end(`hello ${req.url}`));
    await new Promise<void>((r) => origin.listen(0, '127.0.0.1', () => r()));
    t.after(() => new Promise<void>((r) => origin.close(() => r())));
    const originPort = (origin.address() as AddressInfo).port;
    const proxyServer = createHttpServer();
    proxyServer.on('connect', (req, client: Socket) => {
      connects.push(req.url ?? '');
      const up = connectNet(originPort, '127.0.0.1', () => {
        client.write('HTTP/1.1 200 Connection established\r\n\r\n');
        up.pipe(client).pipe(up);
      });
      up.on('error', () => client.destroy());
      client.on('error', () => up.destroy());
    });
    await new Promise<void>((r) => proxyServer.listen(0, '127.0.0.1', () => r()));
    t.after(() => new Promise<void>((r) => {
      proxyServer.closeAllConnections();
      proxyServer.close(() => r());
    }));
    const proxy = proxyAt((proxyServer.address() as AddressInfo).port);
    const agent = new (class extends HttpAgent {
      override createConnection(options: { host?: string | null; port?: number | string | null }, cb?: (err: Error | null, s: Duplex) => void): Duplex | undefined {
        openTunnel(proxy, String(options.host), Number(options.port), { timeoutMs: 5000 }).then((s) => cb!(null, s), (e: Error) => cb!(e, undefined as unknown as Duplex));
        return undefined;
      }
    })({ keepAlive: true, maxSockets: 1 });
    t.after(() => agent.destroy());
    const get = (path: string): Promise<string> =>
      new Promise((resolve, reject) => {
        httpRequest({ host: 'origin.example', port: 8080, path, agent }, (res) => {
          let body = '';
          res.on('data', (b: Buffer) => (body += b.toString()));
          res.on('end', () => resolve(body));
        }).on('error', reject).end();
      });
    assert.equal(await get('/a'), 'hello /a');
    assert.equal(await get('/b'), 'hello /b');
    assert.equal(await get('/c'), 'hello /c');
    assert.deepEqual(connects, ['origin.example:8080']);

    const ac = new AbortController();
    const pending = openTunnel(proxyAt(await fakeProxy(t, undefined)), 'registry.example', 443, { timeoutMs: 5000, signal: ac.signal });
    ac.abort();
    await assert.rejects(pending, (err: Error) => err.name === 'AbortError');
  });
});
