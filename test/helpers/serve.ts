/**
 * Helpers for the `wharf serve` security and crash tests: a registry in-process (optionally with auth and an
 * access-log collector) or as a child process of the CLI (so that a test can kill -9 it), raw HTTP for requests
 * fetch would normalise, and small push/pull helpers that verify every digest.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import type { TestContext } from 'node:test';
import type { AccessRule } from '../../src/server/auth/access.js';
import type { PasswordFileStats } from '../../src/server/auth/htpasswd.js';
import type { AccessLogEntry } from '../../src/server/http/app.js';
import { createAuthGate } from '../../src/server/http/auth-gate.js';
import { startRegistryServer, type RegistryServerOptions, type RunningRegistryServer } from '../../src/server/serve.js';
import { WHARF_BIN } from './bin.js';
import { runPeer } from './peers.js';

/** The wharf bin (the bundle), for tests that run the server as a child process. */
export const CLI = WHARF_BIN;

export const sha256 = (data: Uint8Array | string): string => `sha256:${createHash('sha256').update(data).digest('hex')}`;

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';

// ---------------------------------------------------------------------------------------------------------
// Scratch folders that outlive nothing

/** What a test started (servers, child processes), to stop before its folders are removed. */
const started = new WeakMap<TestContext, (() => Promise<void>)[]>();

function onStop(t: TestContext, stop: () => Promise<void>): void {
  const list = started.get(t) ?? [];
  list.push(stop);
  started.set(t, list);
  t.after(stop);
}

/**
 * A fresh temporary folder, removed after the test, but only once every server and process the test started
 * (with the helpers below) is stopped: a live server would keep re-creating what the removal deletes (the
 * removal of a folder a process is still writing into can go on forever).
 */
export async function scratchDir(t: TestContext, prefix = 'wharf-test-'): Promise<string> {
  const dir = await fsp.mkdtemp(join(tmpdir(), prefix));
  t.after(async () => {
    for (const stop of started.get(t) ?? []) await stop();
    await fsp.rm(dir, { recursive: true, force: true, maxRetries: 3 });
  });
  return dir;
}

// ---------------------------------------------------------------------------------------------------------
// Servers

export interface AuthSetup {
  /** user → password; hashed with Debian's `htpasswd -nbB -C 5`. */
  users: Record<string, string>;
  access: AccessRule[];
  groups?: Record<string, string[]>;
  /** A token signing key file (so the test can sign its own tokens); default: the server makes one. */
  keyPath?: string;
  service?: string;
  issuer?: string;
  expirySeconds?: number;
}

export interface InProcessRegistry {
  url: string;
  port: number;
  /** `127.0.0.1:PORT` */
  host: string;
  storage: string;
  log: AccessLogEntry[];
  server: RunningRegistryServer;
  store: RunningRegistryServer['store'];
  warnings: string[];
  /** With auth: the password checks' counters (bcrypt comparisons run, cache hits). */
  passwordStats?: () => PasswordFileStats;
}

/** An htpasswd file of bcrypt (cost 5) entries made by Apache's htpasswd. */
export async function htpasswdFile(dir: string, users: Record<string, string>): Promise<string> {
  const lines: string[] = [];
  for (const [user, password] of Object.entries(users)) lines.push((await runPeer('htpasswd', ['-nbB', '-C', '5', user, password])).trim());
  const path = join(dir, 'htpasswd');
  await fsp.writeFile(path, lines.join('\n') + '\n');
  return path;
}

/** `wharf serve` in this process on a free loopback port, closed after the test. */
export async function serveInProcess(
  t: TestContext,
  options: { storage?: string; auth?: AuthSetup; limits?: RegistryServerOptions['limits']; tls?: RegistryServerOptions['tls'] } = {},
): Promise<InProcessRegistry> {
  const storage = options.storage ?? join(await scratchDir(t, 'wharf-serve-'), 'storage');
  await fsp.mkdir(join(storage, '.wharf'), { recursive: true });
  const log: AccessLogEntry[] = [];
  const warnings: string[] = [];
  const serverOptions: RegistryServerOptions = { storage, port: 0, log: (e) => log.push(e) };
  if (options.limits) serverOptions.limits = options.limits;
  if (options.tls) serverOptions.tls = options.tls;
  let passwordStats: (() => PasswordFileStats) | undefined;
  if (options.auth) {
    const a = options.auth;
    const dir = await scratchDir(t, 'wharf-serve-auth-');
    const token: Parameters<typeof createAuthGate>[0]['token'] = {
      issuer: a.issuer ?? 'wharf',
      service: a.service ?? 'wharf',
      expirySeconds: a.expirySeconds ?? 300,
    };
    if (a.keyPath) token.key = a.keyPath;
    const gate = await createAuthGate({
      htpasswd: await htpasswdFile(dir, a.users),
      groups: a.groups ?? {},
      access: a.access,
      token,
      defaultKeyPath: join(storage, '.wharf', 'token.key'),
      onWarning: (w) => warnings.push(w),
    });
    serverOptions.gate = gate.gate;
    serverOptions.tokenEndpoint = gate.tokenEndpoint;
    passwordStats = gate.passwordStats;
  }
  const server = await startRegistryServer(serverOptions);
  let closing: Promise<void> | undefined;
  onStop(t, () => (closing ??= server.close(500)));
  const registry: InProcessRegistry = { url: server.url, port: server.port, host: `127.0.0.1:${server.port}`, storage, log, server, store: server.store, warnings };
  if (passwordStats) registry.passwordStats = passwordStats;
  return registry;
}

export interface ChildRegistry {
  url: string;
  port: number;
  child: ChildProcess;
  /** Every line the server wrote on stderr so far. */
  lines: string[];
  /** Resolves with the exit code or signal once the process is gone. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill9(): Promise<void>;
}

/** `node dist/bin/wharf.js serve --listen 127.0.0.1:0 --storage DIR --json`, killed after the test. */
export async function spawnServe(t: TestContext, storage: string, extra: string[] = []): Promise<ChildRegistry> {
  const child = spawn(process.execPath, [CLI, 'serve', '--listen', '127.0.0.1:0', '--storage', storage, '--json', ...extra], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const lines: string[] = [];
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  onStop(t, async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  });
  const url = await new Promise<string>((resolve, reject) => {
    let partial = '';
    const timer = setTimeout(() => reject(new Error(`wharf serve did not start within 10 s:\n${lines.join('\n')}`)), 10_000);
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      partial += chunk;
      const parts = partial.split('\n');
      partial = parts.pop()!;
      for (const line of parts) {
        lines.push(line);
        try {
          const o = JSON.parse(line) as { url?: string };
          if (o.url) {
            clearTimeout(timer);
            resolve(o.url);
          }
        } catch {
          // not JSON: keep it for the message
        }
      }
    });
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`wharf serve exited (${code ?? signal}) before listening:\n${lines.join('\n')}`));
    });
  });
  return {
    url,
    port: Number(new URL(url).port),
    child,
    lines,
    exited,
    async kill9() {
      child.kill('SIGKILL');
      await exited;
    },
  };
}

export interface CliRun {
  child: ChildProcess;
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
}

/** Start a CLI command (e.g. `registry gc`), without waiting for it. */
export function startCli(t: TestContext, args: string[]): CliRun {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve) => {
    child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  onStop(t, async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await done;
  });
  return { child, done };
}

/** Run a CLI command to its end, killing it (and failing) after `timeoutMs`. */
export async function runCli(t: TestContext, args: string[], timeoutMs = 20_000) {
  const run = startCli(t, args);
  const timer = setTimeout(() => run.child.kill('SIGKILL'), timeoutMs);
  const result = await run.done;
  clearTimeout(timer);
  if (result.signal === 'SIGKILL') throw new Error(`wharf ${args.join(' ')} did not finish within ${timeoutMs} ms:\n${result.stderr}`);
  return result;
}

// ---------------------------------------------------------------------------------------------------------
// Raw HTTP

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  /** The server closed the connection (after or instead of answering). */
  closed: boolean;
  /** The raw text before the body. */
  head: string;
}

/**
 * Send `request` (a whole HTTP/1.1 request, request line and all, exactly as given) and read one response.
 * The body is read by Content-Length, or until the server closes; `closed` says whether it closed within
 * `closeWaitMs` after the response.
 */
export async function rawRequest(port: number, request: string | Buffer, options: ReadOptions = {}): Promise<RawResponse> {
  const socket = await openSocket(port);
  const response = readResponse(socket, options);
  socket.write(request);
  return response;
}

/** A request built from parts, sent raw (the path exactly as given: no normalisation). */
export function rawHttp(port: number, method: string, path: string, headers: Record<string, string> = {}, body?: Buffer | string, options: ReadOptions = {}): Promise<RawResponse> {
  const data = body === undefined ? undefined : Buffer.from(body);
  const lines = [`${method} ${path} HTTP/1.1`, `Host: 127.0.0.1:${port}`, 'Connection: close'];
  for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
  if (data && !Object.keys(headers).some((k) => k.toLowerCase() === 'content-length')) lines.push(`Content-Length: ${data.length}`);
  const head = Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
  return rawRequest(port, data ? Buffer.concat([head, data]) : head, { method, ...options });
}

export interface ReadOptions {
  timeoutMs?: number;
  /** After a complete response, how long to wait to see whether the server closes the connection. */
  closeWaitMs?: number;
  /** HEAD responses have no body whatever their Content-Length. */
  method?: string;
}

/** Read one response from `socket`; destroys the socket when done. */
export function readResponse(socket: Socket, options: ReadOptions = {}): Promise<RawResponse> {
  return new Promise<RawResponse>((resolve, reject) => {
    let buf = Buffer.alloc(0);
    let parsed: { status: number; headers: Record<string, string>; head: string; bodyStart: number; length?: number } | undefined;
    let done = false;
    const timeoutMs = options.timeoutMs ?? 5000;
    const timer = setTimeout(() => finish(new Error(`no complete response within ${timeoutMs} ms; got ${JSON.stringify(buf.toString('latin1').slice(0, 300))}`)), timeoutMs);
    let closeTimer: NodeJS.Timeout | undefined;
    const finish = (err?: Error, closed = false): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (closeTimer) clearTimeout(closeTimer);
      socket.destroy();
      if (err) return reject(err);
      const p = parsed!;
      const body = buf.subarray(p.bodyStart, p.length !== undefined ? p.bodyStart + p.length : undefined);
      resolve({ status: p.status, headers: p.headers, body: Buffer.from(body), closed, head: p.head });
    };
    const complete = (): boolean => parsed !== undefined && parsed.length !== undefined && buf.length - parsed.bodyStart >= parsed.length;
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      if (!parsed) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buf.subarray(0, end).toString('latin1');
        const [statusLine, ...headerLines] = head.split('\r\n');
        const headers: Record<string, string> = {};
        for (const line of headerLines) {
          const i = line.indexOf(':');
          if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
        }
        const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine ?? '')?.[1]);
        parsed = { status, headers, head, bodyStart: end + 4 };
        const noBody = options.method === 'HEAD' || status === 204 || status === 304;
        if (noBody) parsed.length = 0;
        else if (headers['content-length'] !== undefined) parsed.length = Number(headers['content-length']);
      }
      if (complete() && !closeTimer) {
        closeTimer = setTimeout(() => finish(undefined, false), options.closeWaitMs ?? 300);
      }
    });
    const onClose = (): void => {
      if (parsed) finish(undefined, true);
      else finish(new Error(`the server closed the connection without answering; got ${JSON.stringify(buf.toString('latin1').slice(0, 300))}`));
    };
    socket.on('end', onClose);
    socket.on('close', onClose);
    socket.on('error', (err) => {
      if (parsed) finish(undefined, true);
      else finish(err);
    });
  });
}

/** Open a socket and resolve once connected. */
export function openSocket(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  });
}

/** The spec's error code of an error body, or undefined when the body is not the spec's error JSON. */
export function errorCode(body: Buffer | string): string | undefined {
  try {
    const o = JSON.parse(body.toString()) as { errors?: { code?: unknown; message?: unknown }[] };
    const first = o.errors?.[0];
    return typeof first?.code === 'string' && typeof first.message === 'string' ? first.code : undefined;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Push and pull

export type Headers = Record<string, string>;

/** Push a blob monolithically (POST + PUT); resolves with its digest. Throws on anything but 201. */
export async function pushBlob(url: string, repo: string, bytes: Buffer, headers: Headers = {}): Promise<string> {
  const digest = sha256(bytes);
  const start = await fetch(`${url}/v2/${repo}/blobs/uploads/`, { method: 'POST', headers });
  if (start.status !== 202) throw new Error(`POST uploads for ${repo}: ${start.status} ${await start.text()}`);
  await start.arrayBuffer();
  const location = new URL(start.headers.get('location')!, url);
  location.searchParams.set('digest', digest);
  const put = await fetch(location, { method: 'PUT', headers: { ...headers, 'Content-Type': 'application/octet-stream' }, body: bytes });
  if (put.status !== 201) throw new Error(`PUT blob ${digest} to ${repo}: ${put.status} ${await put.text()}`);
  await put.arrayBuffer();
  return digest;
}

export interface TestImage {
  config: Buffer;
  layers: Buffer[];
  manifest: Buffer;
  digest: string;
  blobs: string[];
}

/** A small OCI image: a config and layers of pseudo-random bytes (the registry never looks inside them). */
export function makeImage(seed: string, layerSizes: number[] = [1024]): TestImage {
  const layers = layerSizes.map((size, i) => bytesOf(`${seed}/layer${i}`, size));
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: layers.map((l) => sha256(l)) }, seed }));
  return imageOf(config, layers);
}

export function imageOf(config: Buffer, layers: Buffer[]): TestImage {
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, digest: sha256(config), size: config.length },
      layers: layers.map((l) => ({ mediaType: OCI_LAYER, digest: sha256(l), size: l.length })),
    }),
  );
  return { config, layers, manifest, digest: sha256(manifest), blobs: [sha256(config), ...layers.map((l) => sha256(l))] };
}

/** Deterministic pseudo-random bytes (a sha256 chain: fast enough for the few MiB tests use). */
export function bytesOf(seed: string, size: number): Buffer {
  const out = Buffer.allocUnsafe(size);
  let block = createHash('sha256').update(seed).digest();
  for (let at = 0; at < size; at += 32) {
    block.copy(out, at, 0, Math.min(32, size - at));
    block = createHash('sha256').update(block).digest();
  }
  return out;
}

export async function putManifest(url: string, repo: string, reference: string, bytes: Buffer, headers: Headers = {}): Promise<Response> {
  return fetch(`${url}/v2/${repo}/manifests/${reference}`, { method: 'PUT', headers: { ...headers, 'Content-Type': OCI_MANIFEST }, body: bytes });
}

/** Push every blob of the image, then its manifest under `tag`. */
export async function pushImage(url: string, repo: string, tag: string, image: TestImage, headers: Headers = {}): Promise<void> {
  await pushBlob(url, repo, image.config, headers);
  for (const l of image.layers) await pushBlob(url, repo, l, headers);
  const res = await putManifest(url, repo, tag, image.manifest, headers);
  if (res.status !== 201) throw new Error(`PUT manifest ${repo}:${tag}: ${res.status} ${await res.text()}`);
  await res.arrayBuffer();
}

/**
 * Pull `repo:ref` completely: the manifest (by tag, then by digest), then every blob it names, each verified
 * against its digest and size. Rejects with what went wrong. Resolves with the manifest's digest.
 */
export async function pullVerify(url: string, repo: string, ref: string, headers: Headers = {}): Promise<string> {
  const res = await fetch(`${url}/v2/${repo}/manifests/${ref}`, { headers: { ...headers, Accept: OCI_MANIFEST } });
  const bytes = Buffer.from(await res.arrayBuffer());
  if (res.status !== 200) throw new Error(`GET manifest ${repo}:${ref}: ${res.status} ${bytes.toString().slice(0, 300)}`);
  const digest = sha256(bytes);
  if (res.headers.get('docker-content-digest') !== digest) throw new Error(`manifest ${repo}:${ref}: Docker-Content-Digest ${res.headers.get('docker-content-digest')} is not ${digest}`);
  const manifest = JSON.parse(bytes.toString()) as { config: { digest: string; size: number }; layers: { digest: string; size: number }[] };
  for (const d of [manifest.config, ...manifest.layers]) {
    const b = await fetch(`${url}/v2/${repo}/blobs/${d.digest}`, { headers });
    const data = Buffer.from(await b.arrayBuffer());
    if (b.status !== 200) throw new Error(`GET blob ${repo}@${d.digest}: ${b.status} ${data.toString().slice(0, 300)}`);
    if (sha256(data) !== d.digest || data.length !== d.size) throw new Error(`blob ${repo}@${d.digest}: got ${data.length} bytes hashing to ${sha256(data)}`);
  }
  return digest;
}

// ---------------------------------------------------------------------------------------------------------
// Files

/** Every entry below `dir` (relative path → kind and size), to show that requests changed nothing. */
export async function snapshotTree(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (d: string): Promise<void> => {
    for (const e of await fsp.readdir(d, { withFileTypes: true }).catch(() => [])) {
      const p = join(d, e.name);
      const st = await fsp.lstat(p);
      out.set(relative(dir, p), e.isDirectory() ? 'dir' : `${e.isSymbolicLink() ? 'link' : 'file'}:${st.size}`);
      if (e.isDirectory()) await walk(p);
    }
  };
  await walk(dir);
  return out;
}

/** Entries added, removed or changed between two snapshots. */
export function treeDiff(before: Map<string, string>, after: Map<string, string>): string[] {
  const out: string[] = [];
  for (const [k, v] of after) if (before.get(k) !== v) out.push(`${before.has(k) ? '~' : '+'} ${k} (${v})`);
  for (const k of before.keys()) if (!after.has(k)) out.push(`- ${k}`);
  return out;
}

/** Every regular file below `dir` whose name is a hex digest but whose content does not hash to it. */
export async function misnamedBlobs(dir: string): Promise<string[]> {
  const bad: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const e of await fsp.readdir(d, { withFileTypes: true }).catch(() => [])) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile()) {
        const hash = createHash('sha256');
        const fh = await fsp.open(p, 'r');
        try {
          for await (const chunk of fh.createReadStream({ highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
        } finally {
          await fh.close().catch(() => {});
        }
        if (hash.digest('hex') !== e.name) bad.push(relative(dir, p));
      }
    }
  };
  await walk(dir);
  return bad;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Poll `check` every few ms until it returns true; false after `timeoutMs`. */
export async function waitFor(check: () => Promise<boolean> | boolean, timeoutMs = 10_000, everyMs = 5): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return true;
    await sleep(everyMs);
  }
  return false;
}
