/**
 * Proxies end to end: the `wharf` bin with HTTPS_PROXY / HTTP_PROXY / NO_PROXY in its environment, a real
 * tinyproxy (run here with a config written here), the real docker-registry of test/helpers/registry.ts, and a
 * small OSV download server.
 *
 * Requests to loopback never go through a proxy (as in Go), and the registry listens on 127.0.0.1 only, so the
 * tests reach it by this machine's own non-loopback address through a small TCP forwarder; its TLS certificate
 * (made here) names that address, so certificates are verified through the tunnel as they would be directly.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import { createServer as createHttpServer, type IncomingHttpHeaders, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import net, { type AddressInfo } from 'node:net';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { before, describe, test, type TestContext } from 'node:test';
import tls from 'node:tls';
import { runBin, type BinRun } from './helpers/bin.js';
import { buildLayout, type BuiltLayout } from './helpers/images.js';
import { npmRecord, osvZip } from './helpers/osv.js';
import { requirePeer, runPeer, tempDir } from './helpers/peers.js';
import { freePort, startRegistry } from './helpers/registry.js';

const PROXY_VARS = /^(https?_proxy|no_proxy|all_proxy|request_method)$/i;

/** The first IPv4 address of this machine that is not loopback: what the tests name the registry by. */
function lanAddress(): string | undefined {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return undefined;
}

/** An environment of our own: HOME, registries.conf and the proxy variables given, none inherited. */
async function isolatedEnv(dir: string, extra: Record<string, string> = {}): Promise<Record<string, string>> {
  const conf = join(dir, 'registries.conf');
  await fsp.writeFile(conf, '', { flag: 'a' });
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined || PROXY_VARS.test(k) || k.startsWith('REGISTRY_') || k.startsWith('XDG_') || k.startsWith('CONTAINERS_') || k === 'DOCKER_CONFIG' || k === 'WHARF_DEBUG') continue;
    env[k] = v;
  }
  return { ...env, HOME: dir, XDG_RUNTIME_DIR: join(dir, 'run'), XDG_CACHE_HOME: join(dir, 'cache'), CONTAINERS_REGISTRIES_CONF: conf, ...extra };
}

function wharf(args: string[], env: Record<string, string>): Promise<BinRun> {
  return runBin(args, { env });
}

function ok(r: BinRun, what: string): void {
  assert.equal(r.code, 0, `${what} failed (${r.code}):\n${r.stderr}`);
}

async function listen(server: net.Server, host: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  return (server.address() as AddressInfo).port;
}

/** Close a server and whatever connections it still has. */
function closer(server: net.Server, sockets: Set<net.Socket>): () => Promise<void> {
  return () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    });
}

/** A TCP forwarder on `host` (an ephemeral port) to 127.0.0.1:`port`. */
async function forwarder(t: TestContext, host: string, port: number): Promise<number> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(port, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    }
    client.pipe(upstream);
    upstream.pipe(client);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  const p = await listen(server, host);
  t.after(closer(server, sockets));
  return p;
}

interface Tinyproxy {
  port: number;
  /** `http://127.0.0.1:PORT` */
  url: string;
  /** The log written so far. */
  log(): Promise<string>;
  /** The log once it matches (tinyproxy writes it as requests come, but give it a moment). */
  waitFor(pattern: RegExp): Promise<string>;
}

/**
 * tinyproxy on 127.0.0.1 (a free port: its config has no port 0), allowing 127.0.0.1, CONNECT to `connectPorts`
 * only, optionally asking for Basic credentials; stopped after the test. Undefined when it is not installed.
 */
async function startTinyproxy(t: TestContext, options: { connectPorts: number[]; basicAuth?: [string, string] }): Promise<Tinyproxy | undefined> {
  if (!requirePeer(t, 'tinyproxy')) return undefined;
  const dir = await tempDir(t, 'wharf-tinyproxy-');
  const logPath = join(dir, 'tinyproxy.log');
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const conf = [
      `Port ${port}`,
      'Listen 127.0.0.1',
      'Timeout 60',
      'Allow 127.0.0.1',
      'MaxClients 100',
      'LogLevel Connect',
      `LogFile "${logPath}"`,
      ...options.connectPorts.map((p) => `ConnectPort ${p}`),
      ...(options.basicAuth ? [`BasicAuth ${options.basicAuth[0]} ${options.basicAuth[1]}`] : []),
    ];
    const confPath = join(dir, 'tinyproxy.conf');
    await fsp.writeFile(confPath, `${conf.join('\n')}\n`);
    const child: ChildProcess = spawn('tinyproxy', ['-d', '-c', confPath], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout!.on('data', (b: Buffer) => (output += b.toString()));
    child.stderr!.on('data', (b: Buffer) => (output += b.toString()));
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const stop = async (): Promise<void> => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const killer = setTimeout(() => child.kill('SIGKILL'), 2000);
        await exited;
        clearTimeout(killer);
      }
    };
    const deadline = Date.now() + 10_000;
    let up = false;
    while (Date.now() < deadline && child.exitCode === null) {
      up = await new Promise<boolean>((resolve) => {
        const s = net.connect(port, '127.0.0.1', () => {
          s.destroy();
          resolve(true);
        });
        s.on('error', () => resolve(false));
      });
      if (up) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    if (up && child.exitCode === null) {
      t.after(stop);
      const log = (): Promise<string> => fsp.readFile(logPath, 'utf8').catch(() => '');
      return {
        port,
        url: `http://127.0.0.1:${port}`,
        log,
        async waitFor(pattern) {
          const until = Date.now() + 5000;
          let text = await log();
          while (!pattern.test(text) && Date.now() < until) {
            await new Promise((r) => setTimeout(r, 25));
            text = await log();
          }
          return text;
        },
      };
    }
    await stop();
    if (attempt >= 5) throw new Error(`tinyproxy did not start on 127.0.0.1:${port}:\n${output}\n${await fsp.readFile(logPath, 'utf8').catch(() => '')}`);
  }
}

/** A self-signed certificate for `ip` and 127.0.0.1 (and localhost), which is also the CA to trust. */
/** A TLS registry with a certificate for `ip`, reached through a forwarder on `ip` (loopback is never proxied). */
async function tlsRegistryAt(t: TestContext, dir: string, ip: string): Promise<{ cert: Awaited<ReturnType<typeof certificateFor>>; port: number }> {
  const cert = await certificateFor(dir, ip);
  const reg = await startRegistry(t, { tls: true, config: { http: { tls: { certificate: cert.certPath, key: cert.keyPath } } } });
  return { cert, port: await forwarder(t, ip, reg.port) };
}

async function certificateFor(dir: string, ip: string): Promise<{ certPath: string; keyPath: string; certDir: string }> {
  const certDir = join(dir, 'certs');
  await fsp.mkdir(certDir, { recursive: true });
  const certPath = join(certDir, 'ca.crt');
  const keyPath = join(dir, 'tls.key');
  await runPeer('openssl', [
    'req', '-x509', '-nodes', '-sha256', '-days', '2', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256',
    '-subj', '/CN=wharf proxy test', '-addext', `subjectAltName=IP:${ip},IP:127.0.0.1,DNS:localhost`,
    '-keyout', keyPath, '-out', certPath,
  ]);
  return { certPath, keyPath, certDir };
}

/** Everything this machine offers for the tests, or undefined (and the test skipped or failed) when not. */
async function setup(t: TestContext): Promise<string | undefined> {
  if (!requirePeer(t, 'tinyproxy') || !requirePeer(t, 'docker-registry')) return undefined;
  const ip = lanAddress();
  if (!ip) {
    // Not a missing package: a machine without a network interface besides loopback cannot run these at all.
    t.skip('no non-loopback IPv4 address on this machine: loopback is never proxied, so there is nothing to test');
    return undefined;
  }
  return ip;
}

describe('wharf through a proxy (tinyproxy)', () => {
  let layout: BuiltLayout;

  before(async () => {
    const { mkdtemp, rm } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const root = await mkdtemp(join(tmpdir(), 'wharf-proxy-'));
    process.on('exit', () => void rm(root, { recursive: true, force: true }));
    layout = await buildLayout(join(root, 'layout'), [
      { tag: 'v1', layers: [[{ path: 'etc/hello', content: 'through the proxy\n' }], [{ path: 'data/blob', size: 200_000 }]] },
    ]);
  });

  test('plain HTTP: copy and inspect go to the proxy in absolute form (HTTP_PROXY)', async (t) => {
    const ip = await setup(t);
    if (!ip) return;
    const reg = await startRegistry(t);
    const port = await forwarder(t, ip, reg.port);
    const proxy = (await startTinyproxy(t, { connectPorts: [port] }))!;
    const dir = await tempDir(t);
    const env = await isolatedEnv(dir, { HTTP_PROXY: proxy.url });
    const ref = `docker://${ip}:${port}/demo/app:v1`;

    const push = await wharf(['copy', '-q', '--dest-tls-verify=false', `oci:${layout.dir}:v1`, ref], env);
    ok(push, 'copy through HTTP_PROXY');
    const inspect = await wharf(['inspect', '--tls-verify=false', ref], env);
    ok(inspect, 'inspect through HTTP_PROXY');
    assert.equal(JSON.parse(inspect.stdout).Digest, layout.ref('v1').digest);
    const log = await proxy.waitFor(/Request \(file descriptor \d+\): GET http:\/\/\S+\/v2\/demo\/app\/manifests\/v1/);
    const host = `${ip}:${port}`.replace(/\./g, '\\.');
    for (const method of ['GET', 'HEAD', 'POST', 'PUT']) {
      assert.match(log, new RegExp(`Request \\(file descriptor \\d+\\): ${method} http://${host}/v2/`), `${method} in absolute form`);
    }
    assert.doesNotMatch(log, /\): CONNECT /, 'no tunnel for plain http');
  });

  test('TLS: a CONNECT tunnel per origin, reused; the certificate verified through it (HTTPS_PROXY)', async (t) => {
    const ip = await setup(t);
    if (!ip || !requirePeer(t, 'openssl')) return;
    const dir = await tempDir(t);
    const { cert, port } = await tlsRegistryAt(t, dir, ip);
    const proxy = (await startTinyproxy(t, { connectPorts: [port] }))!;
    const env = await isolatedEnv(dir, { HTTPS_PROXY: proxy.url });
    const ref = `docker://${ip}:${port}/demo/app:v1`;

    ok(await wharf(['copy', '-q', '--dest-cert-dir', cert.certDir, `oci:${layout.dir}:v1`, ref], env), 'copy through HTTPS_PROXY');
    const before = (await proxy.log()).length;
    const inspect = await wharf(['inspect', '--debug', '--cert-dir', cert.certDir, ref], env);
    ok(inspect, 'inspect through HTTPS_PROXY');
    assert.equal(JSON.parse(inspect.stdout).Digest, layout.ref('v1').digest);
    const log = (await proxy.waitFor(/\): CONNECT /)).slice(before);
    const connects = log.match(new RegExp(`Request \\(file descriptor \\d+\\): CONNECT ${ip.replace(/\./g, '\\.')}:${port} HTTP/1\\.1`, 'g')) ?? [];
    const requests = inspect.stderr.match(/wharf: debug: (GET|HEAD) https:\/\/\S+ → \d+/g) ?? [];
    assert.ok(connects.length >= 1, `the inspect went through a tunnel:\n${log}`);
    assert.ok(requests.length >= 3, `the inspect made several requests:\n${inspect.stderr}`);
    assert.ok(connects.length < requests.length, `${requests.length} requests should share tunnels, not open ${connects.length}`);

    // Without the CA the certificate is refused inside the tunnel, as it would be directly.
    const untrusted = await wharf(['inspect', ref], env);
    assert.equal(untrusted.code, 1);
    assert.match(untrusted.stderr, /TLS error/);
  });

  test('NO_PROXY sends a host direct (by address, by address:port); the wrong port does not', async (t) => {
    const ip = await setup(t);
    if (!ip || !requirePeer(t, 'openssl')) return;
    const dir = await tempDir(t);
    const { cert, port } = await tlsRegistryAt(t, dir, ip);
    const push = await wharf(['copy', '-q', '--dest-cert-dir', cert.certDir, `oci:${layout.dir}:v1`, `docker://${ip}:${port}/demo/app:v1`], await isolatedEnv(dir));
    ok(push, 'direct copy');
    // A proxy nobody listens on: a request that goes to it fails, one that bypasses it works.
    const dead = await freePort();
    const ref = `docker://${ip}:${port}/demo/app:v1`;
    for (const noProxy of [ip, `${ip}:${port}`, `${ip.split('.').slice(0, 2).join('.')}.0.0/16`, `other.example, ${ip}`, '*']) {
      const r = await wharf(['inspect', '--cert-dir', cert.certDir, ref], await isolatedEnv(dir, { HTTPS_PROXY: `http://127.0.0.1:${dead}`, NO_PROXY: noProxy }));
      ok(r, `NO_PROXY=${noProxy}`);
    }
    const lower = await wharf(['inspect', '--cert-dir', cert.certDir, ref], await isolatedEnv(dir, { https_proxy: `http://127.0.0.1:${dead}`, no_proxy: ip }));
    ok(lower, 'no_proxy');
    const wrongPort = await wharf(['inspect', '--retry-times', '0', '--cert-dir', cert.certDir, ref], await isolatedEnv(dir, { HTTPS_PROXY: `http://127.0.0.1:${dead}`, NO_PROXY: `${ip}:1` }));
    assert.equal(wrongPort.code, 1);
    assert.match(wrongPort.stderr, new RegExp(`cannot use proxy http://127\\.0\\.0\\.1:${dead}: ECONNREFUSED`));
    assert.match(wrongPort.stderr, /hint: .*HTTPS_PROXY/);
  });

  test('NO_PROXY: wharf sends the same requests through the proxy as skopeo (Go) does, quirks included', async (t) => {
    const ip = await setup(t);
    if (!ip || !requirePeer(t, 'openssl') || !requirePeer(t, 'skopeo')) return;
    const dir = await tempDir(t);
    const { cert, port } = await tlsRegistryAt(t, dir, ip);
    ok(await wharf(['copy', '-q', '--dest-cert-dir', cert.certDir, `oci:${layout.dir}:v1`, `docker://${ip}:${port}/demo/app:v1`], await isolatedEnv(dir)), 'direct copy');
    const dead = await freePort();
    const ref = `docker://${ip}:${port}/demo/app:v1`;
    const last = ip.split('.').slice(2).join('.');
    const values = [ip, `${ip}:${port}`, `${ip}:1`, `[${ip}]:${port}`, `${ip}/32`, `${ip.split('.')[0]}.0.0.0/8`, `::ffff:${ip}`, `.${ip}`, last, `*.${last}`, '*', 'other.example', ` other.example , ${ip} `, `${ip}:${port}0`, 'localhost'];
    const differ: string[] = [];
    const direct: string[] = [];
    for (const noProxy of values) {
      const env = await isolatedEnv(dir, { HTTPS_PROXY: `http://127.0.0.1:${dead}`, NO_PROXY: noProxy });
      const ours = await wharf(['inspect', '--retry-times', '0', '--cert-dir', cert.certDir, ref], env);
      const theirs = await new Promise<number | null>((resolve) => {
        const c = spawn('skopeo', ['inspect', '--no-creds', '--cert-dir', cert.certDir, ref], { env, stdio: 'ignore' });
        c.on('close', (code) => resolve(code));
      });
      if (ours.code === 0) direct.push(noProxy);
      if ((ours.code === 0) !== (theirs === 0)) differ.push(`NO_PROXY=${JSON.stringify(noProxy)}: wharf ${ours.code === 0 ? 'direct' : 'proxy'}, skopeo ${theirs === 0 ? 'direct' : 'proxy'}`);
    }
    assert.deepEqual(differ, []);
    // Both ways occur: `.IP` and a wrong port go through the proxy, the last two bytes as a "domain" do not (Go's
    // suffix match on names applies to addresses too).
    assert.deepEqual(direct, [ip, `${ip}:${port}`, `[${ip}]:${port}`, `${ip}/32`, `${ip.split('.')[0]}.0.0.0/8`, `::ffff:${ip}`, last, `*.${last}`, '*', ` other.example , ${ip} `]);
  });

  test('a proxy that wants credentials: 407 without them or with wrong ones (no password shown), works with them; 403 for a port it does not allow', async (t) => {
    const ip = await setup(t);
    if (!ip || !requirePeer(t, 'openssl')) return;
    const dir = await tempDir(t);
    const { cert, port: tlsPort } = await tlsRegistryAt(t, dir, ip);
    const plainReg = await startRegistry(t);
    const plainPort = await forwarder(t, ip, plainReg.port);
    const proxy = (await startTinyproxy(t, { connectPorts: [tlsPort], basicAuth: ['alice', 'pr0xy-s3cret'] }))!;
    const hostPort = proxy.url.replace('http://', '');
    const tlsRef = `docker://${ip}:${tlsPort}/demo/app:v1`;
    const plainRef = `docker://${ip}:${plainPort}/demo/app:v1`;

    const anonymous = await wharf(['copy', '-q', '--dest-cert-dir', cert.certDir, `oci:${layout.dir}:v1`, tlsRef], await isolatedEnv(dir, { HTTPS_PROXY: proxy.url }));
    assert.equal(anonymous.code, 1, anonymous.stderr);
    assert.match(anonymous.stderr, new RegExp(`proxy http://127\\.0\\.0\\.1:${proxy.port} refused CONNECT ${ip.replace(/\./g, '\\.')}:${tlsPort}: 407 Proxy Authentication Required`));
    assert.match(anonymous.stderr, new RegExp(`hint: the proxy wants credentials: set HTTPS_PROXY=http://USER:PASSWORD@127\\.0\\.0\\.1:${proxy.port}`));

    const wrong = await wharf(['inspect', '--cert-dir', cert.certDir, tlsRef], await isolatedEnv(dir, { HTTPS_PROXY: `http://alice:not-the-pw@${hostPort}` }));
    assert.equal(wrong.code, 1);
    // tinyproxy answers wrong credentials with 401, not 407: the same to us.
    assert.match(wrong.stderr, /refused CONNECT .*: 40[17]/);
    assert.match(wrong.stderr, /hint: the proxy refused the user and password in HTTPS_PROXY/);
    assert.equal(wrong.stderr.includes('not-the-pw'), false, 'the password is never printed');

    const authed = { HTTPS_PROXY: `http://alice:pr0xy-s3cret@${hostPort}`, HTTP_PROXY: `http://alice:pr0xy-s3cret@${hostPort}` };
    const push = await wharf(['copy', '--dest-cert-dir', cert.certDir, `oci:${layout.dir}:v1`, tlsRef], await isolatedEnv(dir, authed));
    ok(push, 'copy with the proxy credentials');
    const inspect = await wharf(['inspect', '--debug', '--cert-dir', cert.certDir, tlsRef], await isolatedEnv(dir, authed));
    ok(inspect, 'inspect with the proxy credentials');
    for (const out of [push.stdout, push.stderr, inspect.stdout, inspect.stderr]) assert.equal(out.includes('pr0xy-s3cret'), false, 'the password is never printed');
    assert.match(await proxy.waitFor(/\): CONNECT /), new RegExp(`CONNECT ${ip.replace(/\./g, '\\.')}:${tlsPort}`));

    // Plain http through the same proxy: the 407 comes as the answer to the request itself.
    const forwarded = await wharf(['copy', '-q', '--dest-tls-verify=false', `oci:${layout.dir}:v1`, plainRef], await isolatedEnv(dir, { HTTP_PROXY: proxy.url }));
    assert.equal(forwarded.code, 1);
    assert.match(forwarded.stderr, new RegExp(`proxy http://127\\.0\\.0\\.1:${proxy.port} refused (GET|HEAD|POST) http://\\S+: 407`));
    assert.match(forwarded.stderr, /hint: the proxy wants credentials: set HTTP_PROXY=/);
    ok(await wharf(['copy', '-q', '--dest-tls-verify=false', `oci:${layout.dir}:v1`, plainRef], await isolatedEnv(dir, authed)), 'plain http with credentials');

    // CONNECT to a port tinyproxy's ConnectPort does not list: 403. (With --tls-verify=false wharf would then try
    // plain http, as skopeo does after any failure of https.)
    const denied = await wharf(['inspect', '--retry-times', '0', plainRef], await isolatedEnv(dir, { HTTPS_PROXY: authed.HTTPS_PROXY }));
    assert.equal(denied.code, 1);
    assert.match(denied.stderr, new RegExp(`refused CONNECT ${ip.replace(/\./g, '\\.')}:${plainPort}: 403`));
    assert.match(denied.stderr, /hint: the proxy \(from HTTPS_PROXY\) does not allow connections to .*NO_PROXY/);
    assert.equal(denied.stderr.includes('pr0xy-s3cret'), false);
  });

  test('an https:// proxy: TLS to the proxy, then the tunnel and TLS to the registry inside it', async (t) => {
    const ip = await setup(t);
    if (!ip || !requirePeer(t, 'openssl')) return;
    const dir = await tempDir(t);
    const { cert, port } = await tlsRegistryAt(t, dir, ip);
    const proxy = (await startTinyproxy(t, { connectPorts: [port] }))!;
    // TLS in front of tinyproxy, with the same certificate (it names 127.0.0.1 too).
    const sockets = new Set<net.Socket>();
    const front = tls.createServer({ cert: await fsp.readFile(cert.certPath), key: await fsp.readFile(cert.keyPath) }, (s) => {
      const up = net.connect(proxy.port, '127.0.0.1');
      for (const x of [s, up]) {
        sockets.add(x);
        x.on('close', () => sockets.delete(x));
        x.on('error', () => {});
      }
      s.pipe(up).pipe(s);
      s.on('close', () => up.destroy());
      up.on('close', () => s.destroy());
    });
    const frontPort = await listen(front, '127.0.0.1');
    t.after(closer(front, sockets));
    const env = await isolatedEnv(dir, { HTTPS_PROXY: `https://127.0.0.1:${frontPort}` });
    ok(await wharf(['copy', '-q', '--dest-cert-dir', cert.certDir, `oci:${layout.dir}:v1`, `docker://${ip}:${port}/demo/app:v1`], env), 'copy through an https proxy');
    assert.match(await proxy.waitFor(/\): CONNECT /), new RegExp(`CONNECT ${ip.replace(/\./g, '\\.')}:${port}`));
  });

  test('db import through the proxy, over http and https; the second import is a 304 and reports the source unchanged', async (t) => {
    const ip = await setup(t);
    if (!ip || !requirePeer(t, 'openssl')) return;
    const dir = await tempDir(t);
    const cert = await certificateFor(dir, ip);
    let zip = osvZip([npmRecord()]);
    let etag = '"v1"';
    const seen: IncomingHttpHeaders[] = [];
    const handler = (req: { url?: string; headers: IncomingHttpHeaders }, res: import('node:http').ServerResponse): void => {
      seen.push(req.headers);
      if (req.url !== '/npm/all.zip') {
        res.writeHead(404).end();
        return;
      }
      if (req.headers['if-none-match'] === etag) {
        res.writeHead(304, { etag }).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/zip', 'content-length': zip.length, etag, 'last-modified': 'Tue, 02 Dec 2025 10:00:00 GMT' }).end(zip);
    };
    const servers: HttpServer[] = [createHttpServer(handler), createHttpsServer({ cert: await fsp.readFile(cert.certPath), key: await fsp.readFile(cert.keyPath) }, handler)];
    const [httpPort, httpsPort] = [await listen(servers[0]!, ip), await listen(servers[1]!, ip)];
    for (const s of servers) t.after(() => new Promise<void>((r) => s.close(() => r())));
    const proxy = (await startTinyproxy(t, { connectPorts: [httpsPort] }))!;
    const db = join(dir, 'db');
    // NODE_EXTRA_CA_CERTS: the download trusts the system's roots, and for this test the certificate made here.
    const env = await isolatedEnv(dir, { HTTP_PROXY: proxy.url, HTTPS_PROXY: proxy.url, NODE_EXTRA_CA_CERTS: cert.certPath });
    const url = `http://${ip}:${httpPort}/npm/all.zip`;

    const first = await wharf(['db', 'import', url, '--db-dir', db, '--json'], env);
    ok(first, 'first import');
    const r1 = JSON.parse(first.stdout);
    assert.deepEqual([r1.added, r1.changed, r1.notModified], [1, true, false]);
    assert.match(String(seen.at(-1)?.via), /tinyproxy/, 'the request came through the proxy');
    assert.match(await proxy.waitFor(/GET http:\/\//), new RegExp(`GET http://${ip.replace(/\./g, '\\.')}:${httpPort}/npm/all\\.zip`));

    const generation = r1.generation;
    const second = await wharf(['db', 'import', url, '--db-dir', db], env);
    ok(second, 'second import');
    assert.equal(second.stdout, `Unchanged: ${url} was not modified since it was last imported (HTTP 304); nothing downloaded\n`);
    assert.equal(seen.at(-1)?.['if-none-match'], '"v1"');
    assert.equal(seen.at(-1)?.['if-modified-since'], 'Tue, 02 Dec 2025 10:00:00 GMT');
    const status = JSON.parse((await wharf(['db', 'status', '--db-dir', db, '--json'], env)).stdout);
    assert.equal(status.generation, generation);
    assert.equal(status.lastImport.notModified, true);
    assert.equal(status.records, 1);
    const words = await wharf(['db', 'status', '--db-dir', db], env);
    assert.match(words.stdout, /not modified since it was imported before \(HTTP 304\)/);

    // The export changes: a full download, the new record imported, a new generation.
    zip = osvZip([npmRecord(), npmRecord({ id: 'GHSA-2222-3333-4444', modified: '2025-11-01T00:00:00Z' })]);
    etag = '"v2"';
    const third = await wharf(['db', 'import', url, '--db-dir', db, '--json'], env);
    ok(third, 'third import');
    const r3 = JSON.parse(third.stdout);
    assert.deepEqual([r3.added, r3.changed, r3.notModified], [1, true, false]);
    assert.notEqual(r3.generation, generation);

    // Over https: a CONNECT tunnel, the same conditional request.
    const secure = `https://${ip}:${httpsPort}/npm/all.zip`;
    const s1 = JSON.parse((await wharf(['db', 'import', secure, '--db-dir', db, '--json'], env)).stdout);
    assert.equal(s1.notModified, false);
    const s2 = await wharf(['db', 'import', secure, '--db-dir', db, '--json'], env);
    ok(s2, 'https import, again');
    assert.deepEqual([JSON.parse(s2.stdout).notModified, JSON.parse(s2.stdout).changed], [true, false]);
    assert.match(await proxy.waitFor(/\): CONNECT /), new RegExp(`CONNECT ${ip.replace(/\./g, '\\.')}:${httpsPort}`));

    // The http source is still remembered after the https one was imported: each URL keeps its own validators.
    const again = JSON.parse((await wharf(['db', 'import', url, '--db-dir', db, '--json'], env)).stdout);
    assert.equal(again.notModified, true);
  });
});
