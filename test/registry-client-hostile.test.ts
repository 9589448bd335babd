/**
 * RegistryClient against registries that misbehave (the fake registry of the test helpers, whose every answer the
 * test writes): oversized manifests, blobs that do not match, redirect loops, stalls and dropped connections,
 * 503/429 with Retry-After, broken auth challenges and token services, interrupted chunked uploads.
 * Every failure must be a WharfError with a stable code; nothing here asserts on time.
 */
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { test, type TestContext } from 'node:test';
import { DigestingStream, digestOf, type Digest } from '../src/digest/index.js';
import { NotFoundError, WharfError } from '../src/errors.js';
import { MAX_MANIFEST_BYTES } from '../src/oci/manifest.js';
import { MediaType } from '../src/oci/media-types.js';
import { Authenticator } from '../src/registry-client/auth.js';
import { HttpTransport } from '../src/registry-client/http.js';
import { RegistryClient, nextLink, parseChallenges, type RegistryClientOptions } from '../src/registry-client/index.js';
import { startFakeRegistry, type FakeHandler, type FakeHelpers, type FakeRegistry } from './helpers/fake-registry.js';
import { pseudoRandomBytes } from './helpers/images.js';

const ACCEPT = [MediaType.OciManifest, MediaType.DockerManifest];
const MANIFEST = Buffer.from(
  JSON.stringify({
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    config: { mediaType: MediaType.OciConfig, digest: `sha256:${'a'.repeat(64)}`, size: 2 },
    layers: [],
  }),
);

function client(t: TestContext, fake: FakeRegistry, options: Partial<RegistryClientOptions> = {}): RegistryClient {
  const c = new RegistryClient({ endpoint: fake.host, scheme: 'http', retryDelayMs: 1, ...options });
  t.after(() => c.close());
  return c;
}

function logs(): { lines: string[]; logger: { warn(m: string): void; debug(m: string): void } } {
  const lines: string[] = [];
  return { lines, logger: { warn: (m) => lines.push(`warn: ${m}`), debug: (m) => lines.push(`debug: ${m}`) } };
}

async function readAll(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of stream) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

function code(expected: string, also?: (e: WharfError) => void): (e: unknown) => boolean {
  return (e: unknown) => {
    assert.ok(e instanceof WharfError, `a WharfError, not ${String(e)}`);
    assert.equal(e.code, expected, e.message);
    also?.(e);
    return true;
  };
}

/** Route requests: /v2/ answers ping, anything else goes to `handler`. */
function withPing(handler: FakeHandler): FakeHandler {
  return (req, res, h) => (h.path === '/v2/' ? h.ping() : handler(req, res, h));
}

// ---------------------------------------------------------------------------------------------------------------
// Manifests

test('oversized manifest: refused from Content-Length, and cut off when chunked', async (t) => {
  const fake = await startFakeRegistry(
    t,
    withPing((_req, _res, h) => {
      if (h.path.endsWith('/declared')) return h.oversizedManifest(MAX_MANIFEST_BYTES + 1);
      if (h.path.endsWith('/chunked')) return h.oversizedManifest(64 << 20, undefined, { declareLength: false });
      if (h.path.endsWith('/exact')) return h.oversizedManifest(MAX_MANIFEST_BYTES);
      return h.notFound();
    }),
  );
  const c = client(t, fake);
  await assert.rejects(c.getManifest('big/repo', 'declared', ACCEPT), code('TOO_LARGE', (e) => assert.equal(e.retryable, false)));
  await assert.rejects(c.getManifest('big/repo', 'chunked', ACCEPT), code('TOO_LARGE'));
  // HEAD announcing too much, without a digest: the GET it falls back to is refused the same way.
  await assert.rejects(c.headManifest('big/repo', 'declared', ACCEPT), code('TOO_LARGE'));
  // Exactly the limit is fine.
  const exact = await c.getManifest('big/repo', 'exact', ACCEPT);
  assert.equal(exact.bytes.length, MAX_MANIFEST_BYTES);
  assert.equal(exact.mediaType, MediaType.OciManifest);
  const hostile = fake.requests.filter((r) => r.path.endsWith('/declared') || r.path.endsWith('/chunked'));
  assert.deepEqual(hostile.map((r) => r.method), ['GET', 'GET', 'HEAD', 'GET'], 'never retried');
});

test('manifest bytes that do not match the digest asked for, or the Docker-Content-Digest header', async (t) => {
  const other = Buffer.from(MANIFEST.toString().replace('"layers":[]', '"layers":[],"annotations":{"x":"y"}'));
  const fake = await startFakeRegistry(
    t,
    withPing((_req, _res, h) => {
      if (h.path === `/v2/r/manifests/${digestOf(MANIFEST)}`) return h.manifest(other, MediaType.OciManifest);
      if (h.path === '/v2/r/manifests/lying-header') return h.manifest(MANIFEST, MediaType.OciManifest, { digest: digestOf(other) });
      if (h.path === '/v2/r/manifests/json-type') return h.manifest(MANIFEST, 'application/json');
      return h.notFound();
    }),
  );
  const c = client(t, fake);
  await assert.rejects(c.getManifest('r', digestOf(MANIFEST), ACCEPT), code('DIGEST_MISMATCH'));
  await assert.rejects(c.getManifest('r', 'lying-header', ACCEPT), code('DIGEST_MISMATCH'));
  await assert.rejects(c.headManifest('r', digestOf(MANIFEST), ACCEPT), code('DIGEST_MISMATCH'));
  // A generic Content-Type: the media type comes from the manifest itself.
  assert.equal((await c.getManifest('r', 'json-type', ACCEPT)).mediaType, MediaType.OciManifest);
  await assert.rejects(c.getManifest('r', 'missing', ACCEPT), (e) => e instanceof NotFoundError && e.code === 'MANIFEST_UNKNOWN');
  // Names that would escape the API path never reach the network.
  await assert.rejects(c.getManifest('../etc', 'x', ACCEPT), code('INVALID_REFERENCE'));
  await assert.rejects(c.getManifest('r', 'a/../../b', ACCEPT), code('INVALID_REFERENCE'));
});

// ---------------------------------------------------------------------------------------------------------------
// Blobs

test('blob whose bytes do not match its digest: the stream yields them, DigestingStream catches it', async (t) => {
  const bytes = pseudoRandomBytes('corrupt', 100_000);
  const digest = digestOf(bytes);
  const fake = await startFakeRegistry(t, withPing((_req, _res, h) => h.corruptBlob(bytes)));
  const c = client(t, fake);
  const { stream, size } = await c.getBlob('r', { digest, size: bytes.length });
  assert.equal(size, bytes.length);
  const verify = new DigestingStream({ digest, size: bytes.length, where: `blob ${digest}` });
  await assert.rejects(
    pipeline(stream, verify, async function* (src) {
      for await (const _ of src) void _;
    }),
    code('DIGEST_MISMATCH'),
  );
  assert.equal(verify.bytes, bytes.length, 'every byte was delivered, none more');
});

test('blob longer than its descriptor, sent without Content-Length: cut off at size, SIZE_MISMATCH', async (t) => {
  const bytes = pseudoRandomBytes('long', 10_000);
  const fake = await startFakeRegistry(
    t,
    withPing((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' }); // chunked, no length
      res.write(bytes);
      res.end(bytes);
    }),
  );
  const c = client(t, fake);
  const { stream } = await c.getBlob('r', { digest: digestOf(bytes), size: bytes.length });
  let got = 0;
  await assert.rejects(
    (async () => {
      for await (const chunk of stream) got += (chunk as Buffer).length;
    })(),
    code('SIZE_MISMATCH'),
  );
  assert.ok(got <= bytes.length, `never more than size bytes (${got})`);
});

test('blob with a Content-Length that disagrees with the descriptor is refused before reading', async (t) => {
  const bytes = pseudoRandomBytes('announced', 10_000);
  const fake = await startFakeRegistry(t, withPing((_req, _res, h) => h.blob(Buffer.concat([bytes, bytes]))));
  const c = client(t, fake);
  await assert.rejects(c.getBlob('r', { digest: digestOf(bytes), size: bytes.length }), code('SIZE_MISMATCH'));
});

test('redirect loops and endless redirect chains end with TOO_MANY_REDIRECTS', async (t) => {
  const fake = await startFakeRegistry(
    t,
    withPing((_req, _res, h) => (h.path.includes('/same/') ? h.redirectLoop('same') : h.redirectLoop('chain'))),
  );
  const c = client(t, fake);
  const d = `sha256:${'3'.repeat(64)}` as Digest;
  await assert.rejects(c.getBlob('same', { digest: d, size: 1 }), code('TOO_MANY_REDIRECTS', (e) => assert.match(e.message, /loop/)));
  await assert.rejects(c.getBlob('chain', { digest: d, size: 1 }), code('TOO_MANY_REDIRECTS'));
  await assert.rejects(c.headBlob('chain', d), code('TOO_MANY_REDIRECTS'));
  const chain = fake.requests.filter((r) => r.path.startsWith('/v2/chain/') && r.method === 'GET').length;
  assert.ok(chain <= 11, `at most 10 redirects followed (${chain} requests)`);
});

test('redirect to another host: the blob arrives, the Authorization header stays behind', async (t) => {
  const bytes = pseudoRandomBytes('redirected', 20_000);
  const digest = digestOf(bytes);
  const storage = await startFakeRegistry(t, (_req, _res, h) => h.blob(bytes));
  const auth = `Basic ${Buffer.from('alice:secret').toString('base64')}`;
  const reg = await startFakeRegistry(t, (req, _res, h) => {
    if (req.headers.authorization !== auth) return h.unauthorized('Basic realm="fake"');
    if (h.path === '/v2/') return h.ping();
    if (h.path.startsWith('/v2/r/blobs/')) return h.redirect(`${storage.url}/signed/blob?sig=abc`);
    if (h.path.startsWith('/v2/local/blobs/')) return h.redirect('/v2/r2/blobs/x');
    if (h.path === '/v2/r2/blobs/x') return h.blob(bytes);
    return h.notFound();
  });
  const log = logs();
  const c = new RegistryClient({ endpoint: reg.host, scheme: 'http', credentials: { username: 'alice', password: 'secret' }, logger: log.logger });
  t.after(() => c.close());
  const { stream } = await c.getBlob('r', { digest, size: bytes.length });
  assert.ok((await readAll(stream)).equals(bytes));
  const atStorage = storage.requests.filter((r) => r.path === '/signed/blob');
  assert.equal(atStorage.length, 1);
  assert.equal(atStorage[0]!.headers.authorization, undefined, 'no credentials for the storage host');
  assert.ok(!log.lines.join('\n').includes('sig=abc'), 'signed query strings are not logged');
  // Same origin: the credentials go along.
  const local = await c.getBlob('local', { digest, size: bytes.length });
  assert.ok((await readAll(local.stream)).equals(bytes));
  assert.equal(reg.requests.find((r) => r.path === '/v2/r2/blobs/x')!.headers.authorization, auth);
});

test('a body that stalls fails with a retryable TIMEOUT; with retries the download resumes with Range', async (t) => {
  const bytes = pseudoRandomBytes('stall', 300_000);
  const digest = digestOf(bytes);
  const fake = await startFakeRegistry(
    t,
    withPing((req, _res, h) => {
      if (h.path.startsWith('/v2/always/')) return h.stall(bytes, 1000);
      // once: the first GET stalls after 100 000 bytes, the rest is served with Range.
      if (req.headers.range === undefined) return h.stall(bytes, 100_000);
      return h.blob(bytes);
    }),
  );
  const noRetry = client(t, fake, { timeoutMs: 200, retryTimes: 0 });
  const first = await noRetry.getBlob('always', { digest, size: bytes.length });
  await assert.rejects(readAll(first.stream), code('TIMEOUT', (e) => assert.equal(e.retryable, true)));

  const log = logs();
  const c = client(t, fake, { timeoutMs: 200, retryTimes: 2, logger: log.logger });
  const { stream } = await c.getBlob('once', { digest, size: bytes.length });
  const got = await readAll(stream);
  assert.ok(got.equals(bytes), 'the full, correct bytes');
  const ranged = fake.requests.filter((r) => r.path.startsWith('/v2/once/') && r.headers.range);
  assert.equal(ranged.length, 1);
  assert.equal(ranged[0]!.headers.range, 'bytes=100000-');
  assert.ok(log.lines.some((l) => /resuming at byte 100000/.test(l)), log.lines.join('\n'));

  // A request whose answer never even starts also times out.
  const hang = await startFakeRegistry(t, withPing((_req, _res, h) => h.hang()));
  const hc = client(t, hang, { timeoutMs: 200, retryTimes: 1 });
  await assert.rejects(hc.headBlob('r', digest), code('TIMEOUT'));
  assert.equal(hang.requests.filter((r) => r.method === 'HEAD').length, 2, 'retried once');
});

test('a connection dropped mid-blob is resumed with Range; a registry that ignores Range still works', async (t) => {
  const bytes = pseudoRandomBytes('drop', 500_000);
  const digest = digestOf(bytes);
  const fake = await startFakeRegistry(
    t,
    withPing((req, _res, h) => {
      const n = h.seen('GET');
      if (h.path.startsWith('/v2/ranged/')) {
        // Cut three times, at different places, then serve the rest.
        if (n === 1) return h.blob(bytes, { dropAfter: 123_456 });
        if (n === 2) return h.blob(bytes, { dropAfter: 50_000 });
        if (n === 3) return h.blob(bytes, { dropAfter: 0 });
        return h.blob(bytes);
      }
      if (h.path.startsWith('/v2/norange/')) return n === 1 ? h.blob(bytes, { dropAfter: 200_000, ranges: false }) : h.blob(bytes, { ranges: false });
      if (h.path.startsWith('/v2/forever/')) return h.blob(bytes, { dropAfter: req.headers.range ? 0 : 10 });
      return h.notFound();
    }),
  );
  const c = client(t, fake, { retryTimes: 3 });
  const ranged = await c.getBlob('ranged', { digest, size: bytes.length });
  const verify = new DigestingStream({ digest, size: bytes.length });
  await pipeline(ranged.stream, verify, async function* (src) {
    for await (const _ of src) void _;
  });
  assert.equal(verify.digest(), digest);
  const ranges = fake.requests.filter((r) => r.path.startsWith('/v2/ranged/') && r.method === 'GET').map((r) => r.headers.range);
  assert.deepEqual(ranges, [undefined, 'bytes=123456-', 'bytes=173456-', 'bytes=173456-']);

  // A stream destroyed before it is read releases its connection.
  const unread = await c.getBlob('ranged', { digest, size: bytes.length });
  unread.stream.destroy();
  await new Promise((r) => unread.stream.once('close', r));

  const norange = await c.getBlob('norange', { digest, size: bytes.length });
  assert.ok((await readAll(norange.stream)).equals(bytes), 'bytes already delivered are skipped, not repeated');

  // No progress at all after the first cut: give up after retryTimes resumes with a retryable error.
  const forever = await c.getBlob('forever', { digest, size: bytes.length });
  await assert.rejects(readAll(forever.stream), code('NETWORK_ERROR', (e) => assert.equal(e.retryable, true)));
  assert.equal(fake.requests.filter((r) => r.path.startsWith('/v2/forever/')).length, 4, 'one GET and three resumes');
});

// ---------------------------------------------------------------------------------------------------------------
// Retries

test('503 with Retry-After then success; 429 until it gives up; 404/401/403 never retried', async (t) => {
  const fake = await startFakeRegistry(
    t,
    withPing((_req, _res, h) => {
      if (h.path === '/v2/busy/manifests/v1') return h.seen() <= 2 ? h.retryAfter(503, h.seen() === 1 ? 1 : 0) : h.manifest(MANIFEST, MediaType.OciManifest);
      if (h.path === '/v2/limited/manifests/v1') return h.retryAfter(429, 0);
      if (h.path === '/v2/denied/manifests/v1') return h.error(403, 'DENIED', 'requested access to the resource is denied');
      if (h.path === '/v2/unauth/manifests/v1') return h.error(401, 'UNAUTHORIZED', 'authentication required');
      if (h.path === '/v2/gone/manifests/v1') return h.error(404, 'NAME_UNKNOWN', 'repository name not known to registry');
      if (h.path === '/v2/broken/manifests/v1') return h.error(500, 'UNKNOWN', 'boom');
      return h.notFound();
    }),
  );
  const log = logs();
  const c = client(t, fake, { logger: log.logger });
  assert.ok((await c.getManifest('busy', 'v1', ACCEPT)).bytes.equals(MANIFEST));
  assert.equal(fake.requests.filter((r) => r.path === '/v2/busy/manifests/v1').length, 3);
  assert.ok(log.lines.some((l) => /retrying in 1000 ms/.test(l)), `Retry-After honoured: ${log.lines.join('\n')}`);

  const once = client(t, fake, { retryTimes: 1 });
  await assert.rejects(
    once.getManifest('limited', 'v1', ACCEPT),
    code('RATE_LIMITED', (e) => {
      assert.equal(e.retryable, true);
      assert.match(e.message, /try again/);
    }),
  );
  assert.equal(fake.requests.filter((r) => r.path === '/v2/limited/manifests/v1').length, 2);
  await assert.rejects(once.getManifest('broken', 'v1', ACCEPT), code('REGISTRY_ERROR', (e) => assert.equal(e.retryable, true)));

  await assert.rejects(c.getManifest('denied', 'v1', ACCEPT), code('DENIED', (e) => assert.match(e.hint ?? '', /permission/)));
  await assert.rejects(c.getManifest('unauth', 'v1', ACCEPT), code('AUTH_FAILED'));
  await assert.rejects(c.getManifest('gone', 'v1', ACCEPT), (e) => e instanceof NotFoundError && e.code === 'IMAGE_NOT_FOUND');
  for (const p of ['denied', 'unauth', 'gone']) {
    assert.equal(fake.requests.filter((r) => r.path === `/v2/${p}/manifests/v1`).length, 1, `${p} is not retried`);
  }
});

test('an aborted request ends with ABORTED, whatever the registry does', async (t) => {
  const fake = await startFakeRegistry(t, withPing((_req, _res, h) => h.hang()));
  const c = client(t, fake);
  const ac = new AbortController();
  const p = c.getManifest('r', 'v1', ACCEPT, ac.signal);
  setImmediate(() => ac.abort());
  await assert.rejects(p, code('ABORTED'));
  await assert.rejects(c.getManifest('r', 'v1', ACCEPT, AbortSignal.abort()), code('ABORTED'));
});

// ---------------------------------------------------------------------------------------------------------------
// Auth

test('WWW-Authenticate parsing: several challenges, quoted values with escapes, token68; malformed → AUTH_FAILED', () => {
  assert.deepEqual(parseChallenges('Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:a/b:pull,push"'), [
    { scheme: 'bearer', params: { realm: 'https://auth.example.com/token', service: 'registry.example.com', scope: 'repository:a/b:pull,push' } },
  ]);
  assert.deepEqual(parseChallenges('Basic realm="a \\"quoted\\" \\\\ realm", charset=UTF-8, Bearer realm=https://x/t, error="insufficient_scope"'), [
    { scheme: 'basic', params: { realm: 'a "quoted" \\ realm', charset: 'UTF-8' } },
    { scheme: 'bearer', params: { realm: 'https://x/t', error: 'insufficient_scope' } },
  ]);
  assert.deepEqual(parseChallenges(['Negotiate abc==', 'BASIC   Realm = "r" ']), [
    { scheme: 'negotiate', params: {}, token68: 'abc==' },
    { scheme: 'basic', params: { realm: 'r' } },
  ]);
  assert.deepEqual(parseChallenges('Basic'), [{ scheme: 'basic', params: {} }]);
  for (const bad of ['', '   ', '=', 'Bearer realm="unterminated', 'Bearer realm=="x"', 'Bearer realm=\u0000', 'Bearer realm="a" service="b"', 'Bearer "x"', 'Bearer realm="a", realm="b"', '"Bearer"', 'Bearer realm="a"b']) {
    assert.throws(() => parseChallenges(bad), code('AUTH_FAILED'), JSON.stringify(bad));
  }
  // Whatever the bytes, a WharfError or a result: never another exception.
  let seed = 7;
  const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  const alphabet = 'Bearer Basic realm=",\\ \t=abc:/';
  for (let i = 0; i < 5000; i++) {
    let s = '';
    const n = Math.floor(rnd() * 40);
    for (let j = 0; j < n; j++) s += alphabet[Math.floor(rnd() * alphabet.length)];
    try {
      parseChallenges(s);
    } catch (e) {
      assert.ok(e instanceof WharfError && e.code === 'AUTH_FAILED', `${JSON.stringify(s)}: ${String(e)}`);
    }
  }
});

test('401 without a challenge, a malformed challenge, an unsupported scheme: clear AUTH_FAILED errors', async (t) => {
  const fake = await startFakeRegistry(t, (_req, res, h) => {
    if (h.path === '/v2/') return h.ping();
    if (h.path.startsWith('/v2/none/')) return h.json(401, { detail: 'no challenge here' });
    if (h.path.startsWith('/v2/malformed/')) return h.unauthorized('Bearer realm="https://auth.example.com/token, service=');
    if (h.path.startsWith('/v2/exotic/')) return h.unauthorized('Digest realm="x", nonce="y"');
    if (h.path.startsWith('/v2/norealm/')) return h.unauthorized('Bearer service="x"');
    if (h.path.startsWith('/v2/badrealm/')) return h.unauthorized('Bearer realm="file:///etc/passwd",service="x"');
    res.end();
  });
  // A fresh client for each: a client keeps the challenge it learned.
  const c = {
    getManifest: (repo: string, ref: string, accept: string[]) =>
      client(t, fake, { credentials: { username: 'u', password: 'pw-pw-pw' } }).getManifest(repo, ref, accept),
  };
  await assert.rejects(c.getManifest('none', 'v1', ACCEPT), code('AUTH_FAILED', (e) => assert.match(e.message, /without a WWW-Authenticate/)));
  await assert.rejects(c.getManifest('malformed', 'v1', ACCEPT), code('AUTH_FAILED', (e) => assert.match(e.message, /malformed WWW-Authenticate/)));
  await assert.rejects(c.getManifest('exotic', 'v1', ACCEPT), code('AUTH_FAILED', (e) => assert.match(e.message, /unsupported authentication scheme/)));
  await assert.rejects(c.getManifest('norealm', 'v1', ACCEPT), code('AUTH_FAILED', (e) => assert.match(e.message, /no realm/)));
  await assert.rejects(c.getManifest('badrealm', 'v1', ACCEPT), code('AUTH_FAILED', (e) => assert.match(e.message, /realm is not an http/)));
  // Malformed on GET /v2/ itself.
  const ping = await startFakeRegistry(t, (_req, _res, h) => h.unauthorized('Bearer realm="x'));
  const pc = client(t, ping);
  await assert.rejects(pc.ping(), code('AUTH_FAILED'));
  await assert.rejects(pc.headBlob('r', `sha256:${'4'.repeat(64)}` as Digest), code('AUTH_FAILED'));
});

/** A registry with token auth served by itself: /token issues `token`, the registry accepts only `accepted`. */
function tokenRegistry(issue: (h: FakeHelpers, req: IncomingMessage, res: ServerResponse) => void, accepted: string): FakeHandler {
  return (req, res, h) => {
    if (h.path === '/token') return issue(h, req, res);
    const challenge = `Bearer realm="${h.base}/token",service="fake",scope="repository:app:pull"`;
    if (req.headers.authorization !== `Bearer ${accepted}`) {
      const error = req.headers.authorization ? ',error="insufficient_scope"' : '';
      return h.unauthorized(challenge + error);
    }
    if (h.path === '/v2/') return h.ping();
    return h.manifest(MANIFEST, MediaType.OciManifest);
  };
}

test('a token service that issues a token for another scope: one fresh token, then DENIED naming the repository', async (t) => {
  const fake = await startFakeRegistry(t, tokenRegistry((h) => h.json(200, { token: 'token-for-something-else', expires_in: 300 }), 'right-token'));
  const c = client(t, fake, { credentials: { username: 'u', password: 'the-password' } });
  await assert.rejects(
    c.getManifest('app', 'v1', ACCEPT),
    code('DENIED', (e) => {
      assert.match(e.message, /app/);
      assert.match(e.message, new RegExp(fake.host.replace(/\./g, '\\.')));
      assert.ok(!e.message.includes('the-password') && !e.message.includes('token-for-something-else'));
    }),
  );
  const tokenRequests = fake.requests.filter((r) => r.path === '/token');
  assert.equal(tokenRequests.length, 2, 'a fresh token after the 401, and no more');
  const asked = new URL(tokenRequests[0]!.url, fake.url);
  assert.equal(asked.searchParams.get('service'), 'fake');
  assert.deepEqual(asked.searchParams.getAll('scope'), ['repository:app:pull']);
  assert.equal(tokenRequests[0]!.headers.authorization, `Basic ${Buffer.from('u:the-password').toString('base64')}`);
});

test('token service answering 500: retried, then a retryable REGISTRY_ERROR; access_token and expires_in honoured', async (t) => {
  let failures = 0;
  const fake = await startFakeRegistry(
    t,
    tokenRegistry((h) => {
      if (failures > 0) {
        failures--;
        return h.error(500, 'UNKNOWN', 'token service down');
      }
      return h.json(200, { access_token: 'good', expires_in: 3600 });
    }, 'good'),
  );
  failures = 1;
  const c = client(t, fake);
  assert.ok((await c.getManifest('app', 'v1', ACCEPT)).bytes.equals(MANIFEST));
  assert.ok((await c.getManifest('app', 'v2', ACCEPT)).bytes.equals(MANIFEST));
  assert.equal(fake.requests.filter((r) => r.path === '/token').length, 2, 'one failure, one token, then the cached token');

  failures = 100;
  const down = client(t, fake, { retryTimes: 2 });
  await assert.rejects(
    down.getManifest('app', 'v1', ACCEPT),
    code('REGISTRY_ERROR', (e) => {
      assert.equal(e.retryable, true);
      assert.match(e.message, /token service .*answered 500/);
    }),
  );
  assert.equal(fake.requests.filter((r) => r.path === '/token').length, 2 + 3);
});

test('concurrent requests share one ping and one token; tokens are cached per scope set until expires_in', async (t) => {
  const fake = await startFakeRegistry(t, tokenRegistry((h) => h.json(200, { token: 'good' }), 'good'));
  const c = client(t, fake);
  const results = await Promise.all(Array.from({ length: 12 }, (_, i) => c.getManifest('app', `v${i}`, ACCEPT)));
  assert.equal(results.length, 12);
  assert.equal(fake.requests.filter((r) => r.path === '/token').length, 1, 'one token for twelve requests');
  assert.equal(fake.requests.filter((r) => r.path === '/v2/' && !r.headers.authorization).length, 1, 'one ping');

  // The token cache, with a clock we move: no expires_in means 60 s; expires_in is honoured.
  let now = 1_000_000;
  let expiresIn: number | undefined;
  const issued: string[] = [];
  const tokens = await startFakeRegistry(t, (_req, _res, h) => {
    issued.push(h.url.searchParams.getAll('scope').join(' '));
    h.json(200, { token: `t${issued.length}`, ...(expiresIn !== undefined ? { expires_in: expiresIn } : {}) });
  });
  const transport = new HttpTransport({ tlsHost: '127.0.0.1', timeoutMs: 5000 });
  t.after(() => transport.close());
  const auth = new Authenticator({ registry: 'reg.example', transport, userAgent: 'test', now: () => now });
  auth.learn(`Bearer realm="${tokens.url}/token",service="svc"`);
  const pullA = ['repository:a:pull'];
  assert.equal(await auth.authorization(pullA), 'Bearer t1');
  now += 50_000;
  assert.equal(await auth.authorization(pullA), 'Bearer t1', 'still valid at 50 s');
  assert.equal(await auth.authorization(['repository:a:pull,push']), 'Bearer t2', 'another scope set, another token');
  assert.equal(await auth.authorization(pullA), 'Bearer t1');
  now += 20_000;
  assert.equal(await auth.authorization(pullA), 'Bearer t2', 't1 expired after 60 s; the pull,push token still valid covers pull');
  now += 50_000;
  assert.equal(await auth.authorization(pullA), 'Bearer t3', 'both expired: a new one');
  expiresIn = 600;
  assert.equal(await auth.authorization(['repository:b:pull', 'repository:a:pull,push']), 'Bearer t4');
  assert.deepEqual(issued.at(-1), 'repository:a:pull,push repository:b:pull', 'one scope parameter per scope, normalised');
  now += 500_000;
  assert.equal(await auth.authorization(['repository:b:pull']), 'Bearer t4', 'a token for more serves less, within its 600 s');
  now += 100_000;
  assert.equal(await auth.authorization(['repository:b:pull']), 'Bearer t5');
});

test('credentials never appear in errors or logs, even when the registry echoes them', async (t) => {
  const PASSWORD = 'p4ssw0rd-do-not-print';
  const basic = `Basic ${Buffer.from(`bob:${PASSWORD}`).toString('base64')}`;
  const fake = await startFakeRegistry(t, (req, _res, h) => {
    if (req.headers.authorization !== basic) return h.unauthorized('Basic realm="echo"');
    if (h.path === '/v2/') return h.ping();
    return h.error(403, 'DENIED', `user bob with password ${PASSWORD} (${req.headers.authorization}) may not`);
  });
  const log = logs();
  const c = client(t, fake, { credentials: async () => ({ username: 'bob', password: PASSWORD }), logger: log.logger });
  await assert.rejects(
    c.getManifest('r', 'v1', ACCEPT),
    code('DENIED', (e) => {
      assert.ok(!e.message.includes(PASSWORD), e.message);
      assert.ok(!e.message.includes(basic.slice(6)), e.message);
      assert.match(e.message, /\*\*\*/);
    }),
  );
  assert.ok(!log.lines.join('\n').includes(PASSWORD));
});

// ---------------------------------------------------------------------------------------------------------------
// Uploads

interface UploadServer {
  fake: FakeRegistry;
  /** Committed blobs by digest. */
  blobs: Map<string, Buffer>;
  patches: { range: string; length: number }[];
  reopened: number[];
}

/**
 * A registry that implements uploads (POST, PATCH with Content-Range, GET status, PUT ?digest=) and misbehaves
 * on the PATCH numbered `dropOn`: it keeps `keep(chunkStart, received)` bytes of what it had and drops the connection.
 */
async function uploadServer(
  t: TestContext,
  o: { dropOn?: number[]; keep?: (start: number, had: number, body: Buffer) => number; minChunk?: number; lose?: boolean } = {},
): Promise<UploadServer> {
  const sessions = new Map<string, Buffer>();
  const blobs = new Map<string, Buffer>();
  const patches: { range: string; length: number }[] = [];
  let nextId = 0;
  let patchNo = 0;
  const fake = await startFakeRegistry(t, async (req, res, h) => {
    if (h.path === '/v2/') return h.ping();
    if (req.method === 'HEAD' && h.path.startsWith('/v2/up/blobs/')) {
      const b = blobs.get(h.path.slice('/v2/up/blobs/'.length));
      return b ? h.blob(b) : h.notFound();
    }
    if (req.method === 'POST' && h.path === '/v2/up/blobs/uploads/') {
      const id = `u${++nextId}`;
      sessions.set(id, Buffer.alloc(0));
      res.writeHead(202, { location: `/v2/up/blobs/uploads/${id}`, 'content-length': 0, ...(o.minChunk ? { 'oci-chunk-min-length': o.minChunk } : {}) });
      res.end();
      return;
    }
    const m = /^\/v2\/up\/blobs\/uploads\/(u\d+)$/.exec(h.path);
    const id = m?.[1];
    if (!id || !sessions.has(id)) return h.error(404, 'BLOB_UPLOAD_UNKNOWN', 'upload unknown');
    const have = sessions.get(id)!;
    if (req.method === 'GET') {
      res.writeHead(204, { location: `/v2/up/blobs/uploads/${id}`, range: `0-${Math.max(0, have.length - 1)}`, 'content-length': 0 });
      res.end();
      return;
    }
    if (req.method === 'DELETE') {
      sessions.delete(id);
      res.writeHead(204);
      res.end();
      return;
    }
    if (req.method === 'PATCH') {
      const range = String(req.headers['content-range'] ?? '');
      const body = await h.body();
      const start = Number(range.split('-')[0]);
      patches.push({ range, length: body.length });
      patchNo++;
      if (start !== have.length) {
        res.writeHead(416, { range: `0-${Math.max(0, have.length - 1)}`, 'content-length': 0 });
        res.end();
        return;
      }
      if (o.dropOn?.includes(patchNo)) {
        if (o.lose) sessions.delete(id);
        else {
          const keep = o.keep ? o.keep(start, have.length, body) : have.length;
          sessions.set(id, Buffer.concat([have, body]).subarray(0, keep));
        }
        res.destroy();
        return;
      }
      const now = Buffer.concat([have, body]);
      sessions.set(id, now);
      res.writeHead(202, { location: `/v2/up/blobs/uploads/${id}`, range: `0-${now.length - 1}`, 'content-length': 0 });
      res.end();
      return;
    }
    if (req.method === 'PUT') {
      const body = await h.body();
      const all = Buffer.concat([have, body]);
      const digest = h.url.searchParams.get('digest') ?? '';
      if (digestOf(all) !== digest) return h.error(400, 'DIGEST_INVALID', 'provided digest did not match uploaded content');
      blobs.set(digest, all);
      sessions.delete(id);
      res.writeHead(201, { location: `/v2/up/blobs/${digest}`, 'content-length': 0 });
      res.end();
      return;
    }
    return h.notFound();
  });
  return { fake, blobs, patches, reopened: [] };
}

const CHUNK = 64 * 1024;

function source(bytes: Buffer, piece = 10_000): Readable {
  return Readable.from(
    (function* () {
      for (let i = 0; i < bytes.length; i += piece) yield bytes.subarray(i, i + piece);
    })(),
  );
}

test('chunked upload: Content-Range chunks, OCI-Chunk-Min-Length honoured', async (t) => {
  const bytes = pseudoRandomBytes('upload', 10 * CHUNK + 123);
  const digest = digestOf(bytes);
  const s = await uploadServer(t, { minChunk: 3 * CHUNK });
  const c = client(t, s.fake, { chunkSize: CHUNK });
  await c.putBlob('up', source(bytes), { digest, size: bytes.length });
  assert.ok(s.blobs.get(digest)?.equals(bytes));
  assert.deepEqual(
    s.patches.map((p) => p.length),
    [3 * CHUNK, 3 * CHUNK, 3 * CHUNK, CHUNK + 123],
    'chunks of at least the minimum, the last one smaller',
  );
  assert.deepEqual(s.patches.map((p) => p.range).slice(0, 2), [`0-${3 * CHUNK - 1}`, `${3 * CHUNK}-${6 * CHUNK - 1}`]);
});

test('chunked upload of a blob whose size is not known in advance', async (t) => {
  for (const length of [0, CHUNK, 3 * CHUNK + 1]) {
    const bytes = pseudoRandomBytes(`unknown-${length}`, length);
    const digest = digestOf(bytes);
    const s = await uploadServer(t);
    const c = client(t, s.fake, { chunkSize: CHUNK });
    await c.putBlob('up', source(bytes), { digest, size: -1 });
    assert.ok(s.blobs.get(digest)?.equals(bytes), `${length} bytes`);
    assert.equal(s.patches.length, Math.ceil(length / CHUNK));
  }
});

test('chunked upload: a dropped connection resumes from what the registry kept, from the chunk in hand', async (t) => {
  const bytes = pseudoRandomBytes('resume', 5 * CHUNK + 7);
  const digest = digestOf(bytes);
  // PATCH 3 is cut off after the registry kept half of it.
  const s = await uploadServer(t, { dropOn: [3], keep: (start, had, body) => had + Math.floor(body.length / 2) + 0 * start });
  const log = logs();
  const c = client(t, s.fake, { chunkSize: CHUNK, logger: log.logger });
  await c.putBlob('up', source(bytes), { digest, size: bytes.length });
  assert.ok(s.blobs.get(digest)?.equals(bytes), 'the blob is whole');
  const half = 2 * CHUNK + CHUNK / 2;
  assert.deepEqual(
    s.patches.map((p) => p.range),
    [`0-${CHUNK - 1}`, `${CHUNK}-${2 * CHUNK - 1}`, `${2 * CHUNK}-${3 * CHUNK - 1}`, `${half}-${3 * CHUNK - 1}`, `${3 * CHUNK}-${4 * CHUNK - 1}`, `${4 * CHUNK}-${5 * CHUNK - 1}`, `${5 * CHUNK}-${5 * CHUNK + 6}`],
  );
  assert.ok(s.fake.requests.some((r) => r.method === 'GET' && r.path.startsWith('/v2/up/blobs/uploads/')), 'asked the registry where it stood');
});

test('chunked upload: a registry that lost earlier bytes needs reopen(offset); without it, a retryable error', async (t) => {
  const bytes = pseudoRandomBytes('reopen', 4 * CHUNK);
  const digest = digestOf(bytes);
  // PATCH 3 drops, and the registry only kept the first chunk: bytes the client no longer holds.
  const s = await uploadServer(t, { dropOn: [3], keep: () => CHUNK });
  const c = client(t, s.fake, { chunkSize: CHUNK });
  const reopened: number[] = [];
  await c.putBlob('up', source(bytes), { digest, size: bytes.length }, undefined, {
    reopen: async (offset) => {
      reopened.push(offset);
      return source(bytes.subarray(offset), 7777);
    },
  });
  assert.deepEqual(reopened, [CHUNK]);
  assert.ok(s.blobs.get(digest)?.equals(bytes));

  const s2 = await uploadServer(t, { dropOn: [3], keep: () => CHUNK });
  const c2 = client(t, s2.fake, { chunkSize: CHUNK });
  const src = source(bytes);
  await assert.rejects(c2.putBlob('up', src, { digest, size: bytes.length }), code('NETWORK_ERROR', (e) => assert.equal(e.retryable, true)));
  assert.ok(src.destroyed, 'the source is released');
  assert.equal(s2.blobs.size, 0, 'nothing committed');
  assert.ok(s2.fake.requests.some((r) => r.method === 'DELETE'), 'the upload is cancelled');
});

test('chunked upload: a lost upload session is started again; the first chunk is still in hand', async (t) => {
  const bytes = pseudoRandomBytes('lost', 2 * CHUNK + 5);
  const digest = digestOf(bytes);
  const s = await uploadServer(t, { dropOn: [1], lose: true });
  const c = client(t, s.fake, { chunkSize: CHUNK });
  await c.putBlob('up', source(bytes), { digest, size: bytes.length });
  assert.ok(s.blobs.get(digest)?.equals(bytes));
  assert.equal(s.fake.requests.filter((r) => r.method === 'POST').length, 2);
});

test('monolithic upload: a dropped final PUT is retried; a short or long source is refused before anything commits', async (t) => {
  const bytes = pseudoRandomBytes('mono', 5000);
  const digest = digestOf(bytes);
  let puts = 0;
  const s = await uploadServer(t);
  const inner = s.fake;
  // Wrap: the first PUT is dropped before the registry commits it.
  const blobs = new Map<string, Buffer>();
  inner.setHandler(async (req, res, h) => {
    if (h.path === '/v2/') return h.ping();
    if (req.method === 'POST') {
      res.writeHead(202, { location: `/v2/up/blobs/uploads/x${h.seen('POST', h.path)}`, 'content-length': 0 });
      res.end();
      return;
    }
    if (req.method === 'PUT') {
      const body = await h.body();
      if (++puts === 1) {
        res.destroy();
        return;
      }
      blobs.set(h.url.searchParams.get('digest')!, body);
      res.writeHead(201, { 'content-length': 0 });
      res.end();
      return;
    }
    if (req.method === 'HEAD') {
      const b = blobs.get(h.path.split('/').pop()!);
      return b ? h.blob(b) : h.notFound();
    }
    return h.notFound();
  });
  const c = client(t, inner);
  await c.putBlob('up', source(bytes, 999), { digest, size: bytes.length });
  assert.ok(blobs.get(digest)?.equals(bytes));
  assert.equal(puts, 2);
  await assert.rejects(c.putBlob('up', source(bytes.subarray(1)), { digest, size: bytes.length }), code('SIZE_MISMATCH'));
  await assert.rejects(c.putBlob('up', source(Buffer.concat([bytes, bytes])), { digest, size: bytes.length }), code('SIZE_MISMATCH'));
  assert.equal(puts, 2, 'a wrong-size source never reaches the registry');
});

// ---------------------------------------------------------------------------------------------------------------
// Listings

test('tag list pagination follows Link rel="next"; a loop is refused', async (t) => {
  const all = ['a', 'b', 'c', 'd', 'e'];
  const fake = await startFakeRegistry(
    t,
    withPing((_req, _res, h) => {
      if (h.path === '/v2/loop/tags/list') return h.json(200, { name: 'loop', tags: ['x'] }, { link: '</v2/loop/tags/list>; rel="next"' });
      const n = Number(h.url.searchParams.get('n') ?? 100);
      const last = h.url.searchParams.get('last');
      const from = last ? all.indexOf(last) + 1 : 0;
      const page = all.slice(from, from + n);
      const more = from + n < all.length;
      return h.json(200, { name: 'r', tags: page }, more ? { link: `</v2/r/tags/list?n=${n}&last=${page.at(-1)}>; rel="next"` } : {});
    }),
  );
  const c = client(t, fake);
  const got: string[] = [];
  for await (const tag of c.listTags('r', undefined, { pageSize: 2 })) got.push(tag);
  assert.deepEqual(got, all);
  assert.deepEqual(
    fake.requests.filter((r) => r.path === '/v2/r/tags/list').map((r) => r.url),
    ['/v2/r/tags/list?n=2', '/v2/r/tags/list?n=2&last=b', '/v2/r/tags/list?n=2&last=d'],
  );
  await assert.rejects(
    (async () => {
      for await (const _ of c.listTags('loop')) void _;
    })(),
    code('REGISTRY_ERROR', (e) => assert.match(e.message, /loops/)),
  );
  const base = new URL('http://r.example/v2/x/tags/list');
  assert.equal(nextLink('<http://r.example/v2/x/tags/list?last=b>; rel="next"', base)?.href, 'http://r.example/v2/x/tags/list?last=b');
  assert.equal(nextLink('</a>; rel="prev", </b>; rel=next', base)?.href, 'http://r.example/b');
  assert.equal(nextLink('</a>; rel="prev"', base), undefined);
});

test('manifest PUT answered DIGEST_INVALID while the registry re-links a shared blob: tried again; a lasting refusal is still an error', async (t) => {
  // distribution 2.8 answers so when another push rewrites a blob link the manifest's check reads (seen in
  // parallel syncs of tags sharing a layer): the digest is wharf's own, computed from the bytes it sends.
  const flaky = await startFakeRegistry(t, withPing((req, _res, h) => {
    if (req.method !== 'PUT') return h.notFound();
    req.resume();
    if (h.seen('PUT') <= 2) return h.error(400, 'DIGEST_INVALID', 'provided digest did not match uploaded content');
    h.json(201, {}, { 'docker-content-digest': digestOf(MANIFEST) });
  }));
  const log = logs();
  const digest = await client(t, flaky, { logger: log.logger }).putManifest('team/app', 'v1', MANIFEST, MediaType.OciManifest);
  assert.equal(digest, digestOf(MANIFEST));
  assert.equal(flaky.requests.filter((r) => r.method === 'PUT').length, 3, 'two refusals, then the PUT that took');
  assert.equal(log.lines.filter((l) => l.startsWith('warn:') && /retrying/.test(l)).length, 2);

  const refusing = await startFakeRegistry(t, withPing((req, _res, h) => {
    req.resume();
    h.error(400, 'DIGEST_INVALID', 'provided digest did not match uploaded content');
  }));
  await assert.rejects(client(t, refusing, { retryTimes: 2 }).putManifest('team/app', 'v1', MANIFEST, MediaType.OciManifest), code('DIGEST_MISMATCH'));
  assert.equal(refusing.requests.filter((r) => r.method === 'PUT').length, 3, 'the first try and two more, then the error');

  // Other refusals are not tried again: a manifest naming a blob the registry lacks is the caller's to fix.
  const unknown = await startFakeRegistry(t, withPing((req, _res, h) => {
    req.resume();
    h.error(400, 'MANIFEST_BLOB_UNKNOWN', 'blob unknown to registry');
  }));
  await assert.rejects(client(t, unknown).putManifest('team/app', 'v1', MANIFEST, MediaType.OciManifest));
  assert.equal(unknown.requests.filter((r) => r.method === 'PUT').length, 1);
});

test('manifest PUT answered 503 each time: tried retryTimes more times, not (retryTimes+1)^2 (one retry loop, not two nested)', async (t) => {
  const down = await startFakeRegistry(t, withPing((req, _res, h) => {
    req.resume();
    h.error(503, 'UNAVAILABLE', 'try later');
  }));
  await assert.rejects(client(t, down, { retryTimes: 3 }).putManifest('team/app', 'v1', MANIFEST, MediaType.OciManifest));
  assert.equal(down.requests.filter((r) => r.method === 'PUT').length, 4);
});
