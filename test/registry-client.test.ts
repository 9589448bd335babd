/**
 * RegistryClient against a real CNCF distribution 2.8 (Debian's docker-registry, started by the test harness):
 * no auth, htpasswd Basic auth and token auth through the test token issuer; and skopeo on the other side.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { test, type TestContext } from 'node:test';
import { DigestingStream, digestOf, type Digest } from '../src/digest/index.js';
import { NotFoundError, WharfError } from '../src/errors.js';
import { MediaType } from '../src/oci/media-types.js';
import { RegistryClient, type RegistryClientOptions } from '../src/registry-client/index.js';
import { buildLayout, pseudoRandomBytes } from './helpers/images.js';
import { requirePeer, tempDir } from './helpers/peers.js';
import { pushWithSkopeo, startRegistryOrSkip, waitForLog, type RunningRegistry } from './helpers/registry.js';

const MANIFEST_TYPES = [MediaType.OciManifest, MediaType.OciIndex, MediaType.DockerManifest, MediaType.DockerManifestList];

interface Captured {
  lines: string[];
  logger: NonNullable<RegistryClientOptions['logger']>;
}

function capture(): Captured {
  const lines: string[] = [];
  return { lines, logger: { warn: (m) => lines.push(`warn: ${m}`), debug: (m) => lines.push(`debug: ${m}`) } };
}

function client(t: TestContext, reg: RunningRegistry, options: Partial<RegistryClientOptions> = {}): RegistryClient {
  const c = new RegistryClient({ endpoint: reg.host, scheme: 'http', retryDelayMs: 10, ...options });
  t.after(() => c.close());
  return c;
}

async function readAll(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of stream) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

/** Push a small image (config + one layer + manifest) through the client; returns what was pushed. */
async function pushImage(c: RegistryClient, repo: string, tag: string, seed = tag) {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, seed }));
  const layer = pseudoRandomBytes(`layer-${seed}`, 3000);
  const cfg = { digest: digestOf(config), size: config.length };
  const lay = { digest: digestOf(layer), size: layer.length };
  await c.putBlob(repo, Readable.from([config]), cfg);
  await c.putBlob(repo, Readable.from([layer]), lay);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      config: { mediaType: MediaType.OciConfig, ...cfg },
      layers: [{ mediaType: MediaType.OciLayer, ...lay }],
    }),
  );
  const digest = await c.putManifest(repo, tag, manifest, MediaType.OciManifest);
  return { manifest, digest, config: cfg, layer: { ...lay, bytes: layer } };
}

function accessLog(reg: RunningRegistry, method: string, pathPrefix: string): string[] {
  return reg.logs().split('\n').filter((l) => l.includes(`"${method} ${pathPrefix}`));
}

/** The registry writes its access log asynchronously: wait (up to 5 s) until it shows `count` such requests. */
async function accessLogAtLeast(reg: RunningRegistry, method: string, pathPrefix: string, count: number): Promise<number> {
  const deadline = Date.now() + 5000;
  let n = accessLog(reg, method, pathPrefix).length;
  while (n < count && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
    n = accessLog(reg, method, pathPrefix).length;
  }
  return n;
}

test('no auth: ping, blobs monolithic and chunked, manifests by tag and digest, delete', async (t) => {
  const reg = await startRegistryOrSkip(t);
  if (!reg) return;
  const c = client(t, reg, { chunkSize: 1 << 20 });
  await c.ping();

  // Monolithic.
  const small = pseudoRandomBytes('small', 100_000);
  const smallDesc = { digest: digestOf(small), size: small.length };
  assert.equal(await c.headBlob('demo/app', smallDesc.digest), undefined);
  await c.putBlob('demo/app', Readable.from([small.subarray(0, 5000), small.subarray(5000)]), smallDesc);
  assert.equal(await c.headBlob('demo/app', smallDesc.digest), small.length);
  const got = await c.getBlob('demo/app', smallDesc);
  assert.equal(got.size, small.length);
  assert.ok((await readAll(got.stream)).equals(small));

  // Chunked: a 20 MiB stream with a 1 MiB chunk threshold.
  const big = pseudoRandomBytes('big', 20 << 20);
  const bigDesc = { digest: digestOf(big), size: big.length };
  const patchesBefore = accessLog(reg, 'PATCH', '/v2/demo/app/blobs/uploads/').length;
  const pieces = function* () {
    for (let i = 0; i < big.length; i += 300_000) yield big.subarray(i, i + 300_000);
  };
  await c.putBlob('demo/app', Readable.from(pieces()), bigDesc);
  const patches = (await accessLogAtLeast(reg, 'PATCH', '/v2/demo/app/blobs/uploads/', patchesBefore + 20)) - patchesBefore;
  assert.equal(patches, 20, `one PATCH per MiB (saw ${patches})`);
  assert.equal(await c.headBlob('demo/app', bigDesc.digest), big.length);
  const bigBack = await c.getBlob('demo/app', bigDesc);
  const verify = new DigestingStream({ digest: bigDesc.digest, size: bigDesc.size });
  await pipeline(bigBack.stream, verify, async function* (src) {
    for await (const _ of src) void _;
  });
  assert.equal(verify.digest(), bigDesc.digest);

  // A source that is shorter than announced never becomes a blob.
  const short = { digest: digestOf(Buffer.from('x'.repeat(10))), size: 10 };
  await assert.rejects(c.putBlob('demo/app', Readable.from([Buffer.from('x'.repeat(9))]), short), (e: WharfError) => e.code === 'SIZE_MISMATCH');
  assert.equal(await c.headBlob('demo/app', short.digest), undefined);
  // A source whose bytes are not the digest: the registry refuses it at the final PUT.
  const liar = { digest: digestOf(Buffer.from('honest')), size: 6 };
  await assert.rejects(c.putBlob('demo/app', Readable.from([Buffer.from('liar!!')]), liar), (e: WharfError) => e.code === 'DIGEST_MISMATCH');
  assert.equal(await c.headBlob('demo/app', liar.digest), undefined);

  // Manifests by tag and by digest.
  const img = await pushImage(c, 'demo/app', 'v1');
  assert.equal(img.digest, digestOf(img.manifest));
  const byTag = await c.getManifest('demo/app', 'v1', MANIFEST_TYPES);
  assert.ok(byTag.bytes.equals(img.manifest));
  assert.equal(byTag.mediaType, MediaType.OciManifest);
  assert.equal(byTag.digest, img.digest);
  const byDigest = await c.getManifest('demo/app', img.digest, MANIFEST_TYPES);
  assert.ok(byDigest.bytes.equals(img.manifest));
  assert.deepEqual(await c.headManifest('demo/app', 'v1', MANIFEST_TYPES), {
    mediaType: MediaType.OciManifest,
    digest: img.digest,
    size: img.manifest.length,
  });
  assert.deepEqual(await c.headManifest('demo/app', img.digest, MANIFEST_TYPES), {
    mediaType: MediaType.OciManifest,
    digest: img.digest,
    size: img.manifest.length,
  });
  assert.equal(await c.headManifest('demo/app', 'nope', MANIFEST_TYPES), undefined);
  await assert.rejects(c.getManifest('demo/app', 'nope', MANIFEST_TYPES), (e: WharfError) => e instanceof NotFoundError && e.code === 'MANIFEST_UNKNOWN');
  await assert.rejects(c.getManifest('no/such-repo', 'v1', MANIFEST_TYPES), (e: WharfError) => e instanceof NotFoundError);
  await assert.rejects(c.getBlob('demo/app', { digest: digestOf('absent'), size: 6 }), (e: WharfError) => e.code === 'BLOB_UNKNOWN');

  // Put by digest.
  const again = await c.putManifest('demo/app', img.digest, img.manifest, MediaType.OciManifest);
  assert.equal(again, img.digest);
  await assert.rejects(
    c.putManifest('demo/app', digestOf('other'), img.manifest, MediaType.OciManifest),
    (e: WharfError) => e.code === 'DIGEST_MISMATCH',
  );
  // A manifest whose blobs are missing is refused by the registry.
  const orphan = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      config: { mediaType: MediaType.OciConfig, digest: digestOf('missing config'), size: 14 },
      layers: [],
    }),
  );
  await assert.rejects(c.putManifest('demo/app', 'orphan', orphan, MediaType.OciManifest), (e: WharfError) => e.code === 'BLOB_UNKNOWN');

  // Delete.
  await c.deleteManifest('demo/app', img.digest);
  assert.equal(await c.headManifest('demo/app', img.digest, MANIFEST_TYPES), undefined);
  await assert.rejects(c.deleteManifest('demo/app', img.digest), (e: WharfError) => e.code === 'MANIFEST_UNKNOWN');
});

test('no auth: cross-repository mount, tag pagination, catalog, one connection reused', async (t) => {
  const reg = await startRegistryOrSkip(t);
  if (!reg) return;
  const c = client(t, reg);
  const blob = pseudoRandomBytes('mount', 50_000);
  const desc = { digest: digestOf(blob), size: blob.length };
  await c.putBlob('src/repo', Readable.from([blob]), desc);
  assert.equal(await c.headBlob('dst/repo', desc.digest), undefined);
  assert.equal(await c.mountBlob('dst/repo', desc.digest, 'src/repo'), true);
  assert.equal(await c.headBlob('dst/repo', desc.digest), blob.length);
  // A blob the source repository does not have: the registry starts an upload, which is cancelled.
  const absent = digestOf('not there');
  assert.equal(await c.mountBlob('dst/repo', absent, 'src/repo'), false);
  assert.ok((await accessLogAtLeast(reg, 'DELETE', '/v2/dst/repo/blobs/uploads/', 1)) >= 1, 'the upload the registry started is cancelled');

  const tags = ['a', 'b', 'c', 'd', 'e'];
  for (const tag of tags) await pushImage(c, 'paged/repo', tag, 'same');
  // distribution 2.8 accepts n= on tags/list but answers with one page (3.0 paginates; the fake registry of
  // the hostile tests does): the client must give the same answer either way.
  const listed: string[] = [];
  for await (const tag of c.listTags('paged/repo', undefined, { pageSize: 2 })) listed.push(tag);
  assert.deepEqual(listed.sort(), tags);
  assert.match(await waitForLog(reg, /"GET \/v2\/paged\/repo\/tags\/list\?n=2 HTTP/), /"GET \/v2\/paged\/repo\/tags\/list\?n=2 HTTP/);
  const all: string[] = [];
  for await (const tag of c.listTags('paged/repo')) all.push(tag);
  assert.deepEqual(all.sort(), tags);
  await assert.rejects(
    (async () => {
      for await (const _ of c.listTags('never/pushed')) void _;
    })(),
    (e: WharfError) => e.code === 'IMAGE_NOT_FOUND',
  );

  // The catalog does paginate in 2.8: Link: <…>; rel="next", one repository per page.
  const before = accessLog(reg, 'GET', '/v2/_catalog').length;
  const repos: string[] = [];
  for await (const r of c.catalog!(undefined, { pageSize: 1 })) repos.push(r);
  assert.deepEqual(repos.sort(), ['dst/repo', 'paged/repo', 'src/repo']);
  assert.ok((await accessLogAtLeast(reg, 'GET', '/v2/_catalog', before + 3)) - before >= 3, 'one page per repository');
  assert.ok((await accessLogAtLeast(reg, 'GET', '/v2/_catalog?last=', 2)) >= 2, 'the next pages come from the Link header');

  // Keep-alive: many requests, few connections (the registry logs each request, not connections; count ours).
  const sockets = new Set<unknown>();
  const c2 = client(t, reg);
  const agent = (c2 as unknown as { http: { agentFor(u: URL): import('node:http').Agent } }).http.agentFor(c2.baseUrl);
  agent.on('free', (s) => sockets.add(s));
  for (let i = 0; i < 10; i++) await c2.headBlob('src/repo', desc.digest);
  // (A response is handed back a tick before its socket is free, so a second connection may open; never more.)
  assert.ok(sockets.size <= 2, `sequential requests reuse their connections (${sockets.size} for 11 requests)`);
});

test('mirror endpoint with a namespace prefix: repositories live under the prefix', async (t) => {
  const reg = await startRegistryOrSkip(t);
  if (!reg) return;
  const plain = client(t, reg);
  const mirror = client(t, reg, { endpoint: `${reg.host}/mirror/ns` });
  const img = await pushImage(mirror, 'library/busybox', 'latest');
  assert.equal((await plain.getManifest('mirror/ns/library/busybox', 'latest', MANIFEST_TYPES)).digest, img.digest);
  const repos: string[] = [];
  for await (const r of mirror.catalog!()) repos.push(r);
  assert.deepEqual(repos, ['library/busybox']);
});

test('htpasswd: Basic auth works; no or wrong credentials → AUTH_FAILED without the password anywhere', async (t) => {
  const reg = await startRegistryOrSkip(t, { auth: 'htpasswd' });
  if (!reg) return;
  const ok = client(t, reg, { credentials: { username: 'alice', password: 'secret' } });
  await ok.login();
  const img = await pushImage(ok, 'private/app', 'v1');
  assert.equal((await ok.getManifest('private/app', 'v1', MANIFEST_TYPES)).digest, img.digest);
  const blob = await ok.getBlob('private/app', img.layer);
  assert.ok((await readAll(blob.stream)).equals(img.layer.bytes));

  const anon = client(t, reg);
  await assert.rejects(anon.getManifest('private/app', 'v1', MANIFEST_TYPES), (e: WharfError) => {
    assert.equal(e.code, 'AUTH_FAILED');
    assert.match(e.message, new RegExp(`${reg.host.replace(/\./g, '\\.')}/private/app`));
    assert.match(e.hint ?? '', /wharf login/);
    return true;
  });

  const PASSWORD = 'hunter2-not-the-password';
  const log = capture();
  const wrong = client(t, reg, { credentials: async () => ({ username: 'alice', password: PASSWORD }), logger: log.logger });
  await assert.rejects(wrong.getManifest('private/app', 'v1', MANIFEST_TYPES), (e: WharfError) => {
    assert.equal(e.code, 'AUTH_FAILED');
    assert.equal(e.retryable, false);
    const text = `${e.message}\n${e.hint}\n${String(e.cause ?? '')}\n${JSON.stringify(e)}`;
    assert.ok(!text.includes(PASSWORD), text);
    assert.ok(!text.includes(Buffer.from(`alice:${PASSWORD}`).toString('base64')), text);
    assert.match(e.hint ?? '', /check the user name and password/);
    return true;
  });
  await assert.rejects(wrong.login(), (e: WharfError) => e.code === 'AUTH_FAILED' && !e.message.includes(PASSWORD));
  assert.ok(log.lines.length > 0, 'the logger saw the requests');
  assert.ok(!log.lines.join('\n').includes(PASSWORD));
  // Never retried: 401 is not a transient failure.
  assert.ok(!log.lines.some((l) => l.startsWith('warn:') && /retrying/.test(l)), log.lines.join('\n'));
});

test('token auth: pull/push with tokens cached per scope, widened scope for a mount, wrong password', async (t) => {
  const reg = await startRegistryOrSkip(t, { auth: 'token' });
  if (!reg) return;
  const issuer = reg.tokenIssuer!;
  const log = capture();
  const c = client(t, reg, { credentials: { username: 'alice', password: 'secret' }, logger: log.logger });
  await c.login();
  const img = await pushImage(c, 'team/app', 'v1');
  const asked = issuer.requests.filter((r) => r.user === 'alice').map((r) => r.rawScopes.join(' '));
  assert.ok(asked.includes('repository:team/app:pull,push'), JSON.stringify(asked));
  // Two blobs and a manifest, but one token for the repository's push scope.
  assert.equal(asked.filter((s) => s === 'repository:team/app:pull,push').length, 1, JSON.stringify(asked));
  assert.ok(issuer.requests.every((r) => r.service === issuer.service));

  const n = issuer.requests.length;
  assert.equal((await c.getManifest('team/app', 'v1', MANIFEST_TYPES)).digest, img.digest);
  assert.equal(await c.headBlob('team/app', img.layer.digest), img.layer.size);
  assert.equal(issuer.requests.length, n, 'a pull,push token serves pulls too');

  // Mount: one token naming both repositories.
  assert.equal(await c.mountBlob('team/copy', img.layer.digest, 'team/app'), true);
  const mountAsk = issuer.requests.find((r) => r.rawScopes.includes('repository:team/copy:pull,push') && r.rawScopes.includes('repository:team/app:pull'));
  assert.ok(mountAsk, JSON.stringify(issuer.requests.map((r) => r.rawScopes)));
  assert.deepEqual(mountAsk.granted.map((s) => s.name).sort(), ['team/app', 'team/copy']);

  // Tags and delete (the delete action) work with tokens.
  const tags: string[] = [];
  for await (const tag of c.listTags('team/app', undefined, { pageSize: 1 })) tags.push(tag);
  assert.deepEqual(tags, ['v1']);
  await c.deleteManifest('team/app', img.digest);
  assert.ok(issuer.requests.some((r) => r.rawScopes.includes('repository:team/app:delete')));
  assert.ok(!log.lines.join('\n').includes('secret'));

  // Wrong password: the token service refuses, AUTH_FAILED naming the registry, never the password.
  const PASSWORD = 'correct-horse-battery';
  const wlog = capture();
  const wrong = client(t, reg, { credentials: { username: 'alice', password: PASSWORD }, logger: wlog.logger });
  await assert.rejects(wrong.getManifest('team/app', 'v1', MANIFEST_TYPES), (e: WharfError) => {
    assert.equal(e.code, 'AUTH_FAILED');
    assert.match(e.message, new RegExp(reg.host.replace(/\./g, '\\.')));
    assert.match(e.message, /team\/app/);
    assert.ok(!`${e.message} ${e.hint} ${String(e.cause)}`.includes(PASSWORD));
    return true;
  });
  await assert.rejects(wrong.login(), (e: WharfError) => e.code === 'AUTH_FAILED');
  assert.ok(!wlog.lines.join('\n').includes(PASSWORD));

  // Anonymous: the issuer grants nothing; the registry's second 401 becomes an auth error.
  const anon = client(t, reg);
  await assert.rejects(anon.getManifest('team/copy', 'v1', MANIFEST_TYPES), (e: WharfError) => ['AUTH_FAILED', 'DENIED'].includes(e.code));
});

test('token auth: identity token (OAuth2 refresh token) and a registry token sent as is', async (t) => {
  const reg = await startRegistryOrSkip(t, { auth: 'token' });
  if (!reg) return;
  const issuer = reg.tokenIssuer!;
  const seed = client(t, reg, { credentials: { username: 'alice', password: 'secret' } });
  const img = await pushImage(seed, 'team/app', 'v1');

  // A refresh token, as `docker login` would have stored it.
  const refresh = await new Promise<string>((resolve, reject) => {
    const url = `${issuer.realm}?service=${encodeURIComponent(issuer.service)}&offline_token=true&client_id=test`;
    const req = httpRequest(url, { headers: { authorization: `Basic ${Buffer.from('alice:secret').toString('base64')}` } }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => resolve((JSON.parse(Buffer.concat(parts).toString()) as { refresh_token: string }).refresh_token));
    });
    req.on('error', reject);
    req.end();
  });
  const viaRefresh = client(t, reg, { credentials: { identityToken: refresh } });
  assert.equal((await viaRefresh.getManifest('team/app', 'v1', MANIFEST_TYPES)).digest, img.digest);
  const post = issuer.requests.at(-1)!;
  assert.equal(post.method, 'POST');
  assert.equal(post.grantType, 'refresh_token');
  assert.equal(post.user, 'alice');
  assert.deepEqual(post.rawScopes, ['repository:team/app:pull']);

  // --registry-token: sent as Bearer, no token request.
  const token = issuer.mint({ user: 'alice', access: [{ type: 'repository', name: 'team/app', actions: ['pull'] }] });
  const n = issuer.requests.length;
  const direct = client(t, reg, { credentials: { registryToken: token } });
  assert.equal((await direct.getManifest('team/app', 'v1', MANIFEST_TYPES)).digest, img.digest);
  assert.equal(issuer.requests.length, n);
  // It does not cover another repository; it cannot be refreshed: an auth error, naming no token.
  await assert.rejects(direct.getManifest('team/other', 'v1', MANIFEST_TYPES), (e: WharfError) => {
    assert.ok(['AUTH_FAILED', 'DENIED'].includes(e.code), e.code);
    assert.ok(!e.message.includes(token));
    return true;
  });
});

test('token auth: a token for another scope or a failing token service → a clear error', async (t) => {
  const reg = await startRegistryOrSkip(t, { auth: 'token' });
  if (!reg) return;
  const issuer = reg.tokenIssuer!;
  const seed = client(t, reg, { credentials: { username: 'alice', password: 'secret' } });
  const img = await pushImage(seed, 'team/app', 'v1');

  // Once: the first token is for another repository; the 401 makes the client fetch the right one.
  issuer.misbehave('wrong-scope', 1);
  const once = client(t, reg, { credentials: { username: 'alice', password: 'secret' } });
  assert.equal((await once.getManifest('team/app', 'v1', MANIFEST_TYPES)).digest, img.digest);

  // Always: the registry keeps refusing; an auth error naming registry and repository.
  issuer.misbehave('wrong-scope');
  const always = client(t, reg, { credentials: { username: 'alice', password: 'secret' } });
  await assert.rejects(always.getManifest('team/app', 'v1', MANIFEST_TYPES), (e: WharfError) => {
    assert.ok(['AUTH_FAILED', 'DENIED'].includes(e.code), e.code);
    assert.match(e.message, /team\/app/);
    assert.equal(e.retryable, false);
    return true;
  });
  const wrongScoped = issuer.requests.filter((r) => r.misbehaviour === 'wrong-scope').length;
  assert.equal(wrongScoped, 3, 'one fresh token after the 401, then no more');

  // Token service failing with 500: retried, then a retryable error that says so.
  issuer.misbehave('status-500', 1);
  const flaky = client(t, reg, { credentials: { username: 'alice', password: 'secret' } });
  assert.equal((await flaky.getManifest('team/app', 'v1', MANIFEST_TYPES)).digest, img.digest);
  issuer.misbehave('status-500');
  const down = client(t, reg, { credentials: { username: 'alice', password: 'secret' }, retryTimes: 1 });
  await assert.rejects(down.getManifest('team/app', 'v1', MANIFEST_TYPES), (e: WharfError) => {
    assert.equal(e.code, 'REGISTRY_ERROR');
    assert.match(e.message, /token service .* answered 500/);
    return true;
  });
  for (const mode of ['malformed-json', 'no-token'] as const) {
    issuer.misbehave(mode);
    const c = client(t, reg, { credentials: { username: 'alice', password: 'secret' } });
    await assert.rejects(c.getManifest('team/app', 'v1', MANIFEST_TYPES), (e: WharfError) => e.code === 'AUTH_FAILED', mode);
  }
  for (const mode of ['token-only', 'access-token-only'] as const) {
    issuer.misbehave(mode);
    const c = client(t, reg, { credentials: { username: 'alice', password: 'secret' } });
    assert.equal((await c.getManifest('team/app', 'v1', MANIFEST_TYPES)).digest, img.digest, mode);
  }
  issuer.misbehave();
});

test('skopeo pushes, wharf pulls the same digests', async (t) => {
  if (!requirePeer(t, 'skopeo')) return;
  const reg = await startRegistryOrSkip(t, { auth: 'htpasswd' });
  if (!reg) return;
  const dir = await tempDir(t);
  const layout = await buildLayout(`${dir}/layout`, [
    { tag: 'v1', layers: [[{ path: 'etc/hello', content: 'hello\n' }], [{ path: 'big', size: 3 << 20 }]], config: { Cmd: ['/bin/sh'] } },
  ]);
  await pushWithSkopeo(`oci:${layout.dir}:v1`, `${reg.host}/interop/app:v1`, { creds: 'alice:secret' });
  const c = client(t, reg, { credentials: { username: 'alice', password: 'secret' } });
  const ref = layout.ref('v1');
  const m = await c.getManifest('interop/app', 'v1', MANIFEST_TYPES);
  assert.equal(m.digest, ref.digest);
  assert.equal(m.mediaType, ref.mediaType);
  const manifest = JSON.parse(m.bytes.toString()) as { config: { digest: Digest; size: number }; layers: { digest: Digest; size: number }[] };
  for (const d of [manifest.config, ...manifest.layers]) {
    const { stream } = await c.getBlob('interop/app', d);
    const v = new DigestingStream({ digest: d.digest, size: d.size });
    await pipeline(stream, v, async function* (src) {
      for await (const _ of src) void _;
    });
  }
});

test('TLS: a registry with its own CA is trusted through tls.ca, refused without it, accepted unverified when asked', async (t) => {
  const reg = await startRegistryOrSkip(t, { tls: true });
  if (!reg) return;
  const ca = await readFile(reg.caCertPath!);
  const trusted = client(t, reg, { scheme: 'https', tls: { ca: [ca] } });
  await trusted.ping();
  const img = await pushImage(trusted, 'secure/app', 'v1');
  assert.equal((await trusted.getManifest('secure/app', 'v1', MANIFEST_TYPES)).digest, img.digest);

  const untrusted = client(t, reg, { scheme: 'https' });
  await assert.rejects(untrusted.ping(), (e: WharfError) => {
    assert.equal(e.code, 'NETWORK_ERROR');
    assert.equal(e.retryable, false);
    assert.match(e.message, /TLS/);
    assert.match(e.hint ?? '', /certs\.d|tls-verify/);
    return true;
  });
  const insecure = client(t, reg, { scheme: 'https', tls: { rejectUnauthorized: false } });
  assert.equal((await insecure.getManifest('secure/app', 'v1', MANIFEST_TYPES)).digest, img.digest);

  // Plain HTTP against the TLS port: a clear error, not a hang.
  const plain = client(t, reg, { scheme: 'http', retryTimes: 0 });
  await assert.rejects(plain.ping(), (e: WharfError) => e instanceof WharfError);
});
