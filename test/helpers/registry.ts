/**
 * Real registries for the tests: Debian's `docker-registry` (CNCF distribution 2.8) started on 127.0.0.1 on a
 * free port, with its storage in a temporary directory, optionally behind htpasswd Basic auth, token auth
 * (through the issuer in token-issuer.ts), TLS, or configured as a pull-through cache of another registry.
 * Every registry is stopped and its directory removed after the test.
 *
 *   const reg = await startRegistry(t, { auth: 'htpasswd' });
 *   await pushWithSkopeo(`oci:${layout.dir}:v1`, `${reg.host}/demo:v1`, { creds: 'alice:secret' });
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { requirePeer, runPeer } from './peers.js';
import { DEFAULT_USERS, startTokenIssuer, testCertificate, type TokenIssuer, type TokenIssuerOptions } from './token-issuer.js';

export interface RegistryOptions {
  /** `none` (default), `htpasswd` (Basic auth, bcrypt entries) or `token` (Bearer, through a token issuer). */
  auth?: 'none' | 'htpasswd' | 'token';
  /** user → password for htpasswd and token auth (default `{ alice: 'secret', bob: 'pw' }`). */
  users?: Record<string, string>;
  /** Token issuer settings (policy, service, issuer, expiresIn) when `auth: 'token'`. */
  token?: Omit<TokenIssuerOptions, 'users'>;
  /**
   * Serve as a pull-through cache of another registry (pushes to it are refused). distribution 2.8 hands
   * username/password only to the Bearer realms the upstream's `/v2/` names when the cache starts, so a login
   * works against a token-auth upstream (started first), not a Basic-auth one.
   */
  proxy?: { remoteurl: string; username?: string; password?: string };
  /** Serve HTTPS with a self-signed certificate for 127.0.0.1 and localhost; `caCertPath` is the CA to trust. */
  tls?: boolean;
  /** Extra configuration deep-merged over the generated one (plain objects merge, anything else replaces). */
  config?: Record<string, unknown>;
  /** How long to wait for `GET /v2/` to answer, in ms (default 15000). */
  startTimeout?: number;
}

export interface RunningRegistry {
  /** `127.0.0.1:PORT` — the registry part of a reference. */
  host: string;
  /** `http://127.0.0.1:PORT` or `https://…` */
  url: string;
  port: number;
  /** The filesystem storage root. */
  storageDir: string;
  /** The config.yml the registry was started with. */
  configPath: string;
  /** With `tls: true`: the PEM certificate to trust (copy it to `certs.d/HOST/ca.crt` or a `--cert-dir`). */
  caCertPath?: string;
  /** With `auth: 'token'`: the issuer (its requests, policy and misbehaviour switch). */
  tokenIssuer?: TokenIssuer;
  /** The accounts that can log in ({} without auth). */
  users: Record<string, string>;
  /** Everything the registry printed so far (all runs). */
  logs(): string;
  /** Stop the registry (SIGTERM, then SIGKILL); idempotent. Storage stays until the test ends. */
  stop(): Promise<void>;
  /** Stop it and start it again on the same port with the same storage. */
  restart(): Promise<void>;
}

const LOG_LIMIT = 512 * 1024;
const live = new Set<ChildProcess>();
let exitHookInstalled = false;

/** Thrown by startRegistry after it marked the test skipped because a peer tool is missing. */
export class PeerMissingError extends Error {}

/**
 * Start a docker-registry for this test; skips (or fails under WHARF_REQUIRE_PEERS=1) when it or a tool its
 * options need is missing — then it throws PeerMissingError, so a caller never runs on without a registry.
 */
export async function startRegistry(t: TestContext, options: RegistryOptions = {}): Promise<RunningRegistry> {
  const auth = options.auth ?? 'none';
  const needed: [string, string][] = [['docker-registry', 'docker-registry']];
  if (auth === 'htpasswd') needed.push(['htpasswd', 'apache2-utils']);
  if (auth === 'token' || options.tls) needed.push(['openssl', 'openssl']);
  for (const [tool, pkg] of needed) {
    if (!requirePeer(t, tool, pkg)) throw new PeerMissingError(`${tool} is not installed (test skipped)`);
  }

  const dir = await fsp.mkdtemp(join(tmpdir(), 'wharf-registry-'));
  const storageDir = join(dir, 'storage');
  const configPath = join(dir, 'config.yml');
  await fsp.mkdir(storageDir);

  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let log = '';
  const appendLog = (chunk: Buffer | string) => {
    log += chunk.toString();
    if (log.length > LOG_LIMIT) log = `[…]\n${log.slice(log.length - LOG_LIMIT / 2)}`;
  };

  const stop = async (): Promise<void> => {
    const c = child;
    if (!c) return;
    child = undefined;
    if (c.exitCode === null && c.signalCode === null) {
      c.kill('SIGTERM');
      const killer = setTimeout(() => c.kill('SIGKILL'), 2000);
      await exited;
      clearTimeout(killer);
    }
    live.delete(c);
  };

  let issuer: TokenIssuer | undefined;
  t.after(async () => {
    await stop();
    await issuer?.close();
    await fsp.rm(dir, { recursive: true, force: true });
  });

  const users = auth === 'none' ? {} : { ...(options.users ?? DEFAULT_USERS) };
  const config: Record<string, unknown> = {
    version: '0.1',
    log: { level: 'info', formatter: 'text', accesslog: { disabled: false } },
    storage: {
      filesystem: { rootdirectory: storageDir },
      delete: { enabled: true },
      maintenance: { uploadpurging: { enabled: false } },
    },
    http: {
      addr: '',
      // Fixed per registry, so upload sessions survive restart().
      secret: randomBytes(16).toString('hex'),
      headers: { 'X-Content-Type-Options': ['nosniff'] },
    },
  };
  if (auth === 'htpasswd') {
    const lines: string[] = [];
    for (const [user, pass] of Object.entries(users)) lines.push((await runPeer('htpasswd', ['-Bbn', user, pass])).trim());
    const htpasswdPath = join(dir, 'htpasswd');
    await fsp.writeFile(htpasswdPath, `${lines.join('\n')}\n`);
    config.auth = { htpasswd: { realm: 'wharf-test-registry', path: htpasswdPath } };
  } else if (auth === 'token') {
    issuer = await startTokenIssuer(t, { ...options.token, users });
    config.auth = { token: { realm: issuer.realm, service: issuer.service, issuer: issuer.issuer, rootcertbundle: issuer.certPath } };
  }
  let caCertPath: string | undefined;
  if (options.tls) {
    const cert = await testCertificate('tls');
    caCertPath = join(dir, 'ca.crt');
    await fsp.copyFile(cert.certPath, caCertPath);
    (config.http as Record<string, unknown>).tls = { certificate: cert.certPath, key: cert.keyPath };
  }
  if (options.proxy) {
    const p = options.proxy;
    config.proxy = { remoteurl: p.remoteurl, ...(p.username !== undefined ? { username: p.username, password: p.password ?? '' } : {}) };
  }
  if (options.config) deepMerge(config, options.config);

  const scheme = options.tls ? 'https' : 'http';
  const timeout = options.startTimeout ?? 15_000;

  // distribution reads REGISTRY_* variables as configuration overrides (REGISTRY_AUTH_FILE, which the containers
  // tools use for the auth file, would become `auth: file:`): start it without any.
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('REGISTRY_')) env[k] = v;

  const launch = async (port: number): Promise<'ok' | 'port-in-use'> => {
    (config.http as Record<string, unknown>).addr = `127.0.0.1:${port}`;
    // JSON is YAML: distribution's yaml parser reads it as is.
    await fsp.writeFile(configPath, `${JSON.stringify(config, null, 2)}\n`);
    appendLog(`--- starting docker-registry on 127.0.0.1:${port}\n`);
    const c = spawn('docker-registry', ['serve', configPath], { stdio: ['ignore', 'pipe', 'pipe'], env });
    child = c;
    live.add(c);
    installExitHook();
    c.stdout!.on('data', appendLog);
    c.stderr!.on('data', appendLog);
    exited = new Promise<void>((resolve) => {
      c.once('exit', (code, signal) => {
        appendLog(`--- docker-registry exited (${signal ?? `code ${code}`})\n`);
        live.delete(c);
        resolve();
      });
      c.once('error', (err) => {
        appendLog(`--- docker-registry could not start: ${err.message}\n`);
        live.delete(c);
        resolve();
      });
    });
    const deadline = Date.now() + timeout;
    for (;;) {
      if (c.exitCode !== null || c.signalCode !== null || c.pid === undefined) {
        await exited;
        if (child === c) child = undefined;
        if (/address already in use/i.test(log.slice(log.lastIndexOf('--- starting')))) return 'port-in-use';
        throw new Error(`docker-registry exited before it answered on 127.0.0.1:${port}; its log:\n${log}`);
      }
      // Any status will do, but it must be a registry that answers (not whoever took the port first) and ours
      // must still be running.
      if ((await answers(`${scheme}://127.0.0.1:${port}/v2/`)) && c.exitCode === null && c.signalCode === null) return 'ok';
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`docker-registry did not answer GET /v2/ on 127.0.0.1:${port} within ${timeout} ms; its log:\n${log}`);
      }
      await sleep(20);
    }
  };

  let port = 0;
  for (let attempt = 1; ; attempt++) {
    port = await freePort();
    if ((await launch(port)) === 'ok') break;
    if (attempt >= 5) throw new Error(`docker-registry: no free port after ${attempt} tries; its log:\n${log}`);
  }

  return {
    host: `127.0.0.1:${port}`,
    url: `${scheme}://127.0.0.1:${port}`,
    port,
    storageDir,
    configPath,
    ...(caCertPath ? { caCertPath } : {}),
    ...(issuer ? { tokenIssuer: issuer } : {}),
    users,
    logs: () => log,
    stop,
    async restart() {
      await stop();
      if ((await launch(port)) !== 'ok') throw new Error(`docker-registry: port ${port} was taken while restarting; its log:\n${log}`);
    },
  };
}

export interface SkopeoOptions {
  /** `USER:PASS`; without it skopeo goes anonymous (`--*-no-creds`), ignoring any auth file on the machine. */
  creds?: string;
  /** Default false: plain HTTP or unverified HTTPS, as a loopback registry needs. */
  tlsVerify?: boolean;
  /** A directory of `*.crt` CAs (and client `*.cert`/`*.key`). */
  certDir?: string;
  /** More arguments for the subcommand. */
  args?: string[];
}

function dockerRef(ref: string): string {
  return /^[a-z0-9-]+:(?!\d)/i.test(ref) && !ref.startsWith('localhost:') ? ref : `docker://${ref}`;
}

function registryFlags(prefix: '' | 'src-' | 'dest-', o: SkopeoOptions): string[] {
  const out = [`--${prefix}tls-verify=${o.tlsVerify ?? false}`];
  out.push(o.creds !== undefined ? `--${prefix}creds=${o.creds}` : `--${prefix}no-creds`);
  if (o.certDir) out.push(`--${prefix}cert-dir=${o.certDir}`);
  return out;
}

/**
 * `skopeo copy LAYOUT_REF docker://REGISTRY_REF` (a bare `HOST/REPO:TAG` gets `docker://`), with the
 * destination's creds/TLS options; resolves with skopeo's stdout, rejects with its stderr.
 */
/** startRegistry, or undefined when the test was skipped for a missing peer: `if (!reg) return;`. */
export async function startRegistryOrSkip(t: TestContext, options: RegistryOptions = {}): Promise<RunningRegistry | undefined> {
  try {
    return await startRegistry(t, options);
  } catch (err) {
    if (err instanceof PeerMissingError) return undefined;
    throw err;
  }
}

export function pushWithSkopeo(layoutRef: string, registryRef: string, options: SkopeoOptions = {}): Promise<string> {
  return runPeer('skopeo', ['--insecure-policy', 'copy', '--quiet', ...registryFlags('dest-', options), ...(options.args ?? []), layoutRef, dockerRef(registryRef)]);
}

/** `skopeo copy docker://REGISTRY_REF DEST_REF` with the source's creds/TLS options. */
export function pullWithSkopeo(registryRef: string, destRef: string, options: SkopeoOptions = {}): Promise<string> {
  return runPeer('skopeo', ['--insecure-policy', 'copy', '--quiet', ...registryFlags('src-', options), ...(options.args ?? []), dockerRef(registryRef), destRef]);
}

/** `skopeo inspect docker://REF` (add `args: ['--raw']` for the manifest bytes); resolves with stdout. */
export function inspectWithSkopeo(registryRef: string, options: SkopeoOptions = {}): Promise<string> {
  return runPeer('skopeo', ['inspect', ...registryFlags('', options), ...(options.args ?? []), dockerRef(registryRef)]);
}

// ---------------------------------------------------------------------------------------------------------

/** A port that was free a moment ago (listen on 0, read it, close). The caller retries on a bind race. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** Whether a registry answers an HTTP(S) GET at url (any status, with the distribution API header; certificates unchecked). */
function answers(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const opts = { method: 'GET', agent: false as const, timeout: 1000, rejectUnauthorized: false };
    const req = (url.startsWith('https:') ? httpsRequest : httpRequest)(url, opts, (res) => {
      res.resume();
      resolve(res.headers['docker-distribution-api-version'] !== undefined);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve(false));
    req.end();
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function deepMerge(into: Record<string, unknown>, from: Record<string, unknown>): void {
  for (const [k, v] of Object.entries(from)) {
    const cur = into[k];
    if (isPlainObject(cur) && isPlainObject(v)) deepMerge(cur, v);
    else into[k] = v;
  }
}

/** If the test process goes away with registries still running, take them along. */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const c of live) c.kill('SIGKILL');
  });
}

/**
 * The registry's log once it matches `pattern` (waiting up to `timeoutMs`): distribution writes its access log
 * asynchronously, so a line for a request that just finished may not be there yet. Returns the log either way.
 */
export async function waitForLog(reg: RunningRegistry, pattern: RegExp, timeoutMs = 5000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let text = reg.logs();
  while (!pattern.test(text) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
    text = reg.logs();
  }
  return text;
}
