/**
 * Hostile registries, end to end: a copy from a registry that misbehaves fails with a clear WharfError, and
 * the destination (an existing oci: layout holding another image) is left exactly as it was. The misbehaving
 * server is a test double on loopback: a real registry cannot be made to misbehave on purpose.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { copy, WharfError } from '../src/index.js';
import type { RegistryAccess } from '../src/transports/index.js';
import { layoutContent, startFakeRegistry, type FakeHandler } from './helpers/fake-registry.js';
import { buildLayout } from './helpers/images.js';
import { tempDir } from './helpers/peers.js';
import { snapshot } from './helpers/tree.js';

const ACCESS: RegistryAccess = { tlsVerify: false, retryTimes: 1, timeoutMs: 1500 };

async function setup(t: TestContext) {
  const dir = await tempDir(t);
  const src = await buildLayout(join(dir, 'src'), [
    { tag: 'v1', layers: [[{ path: 'big', size: 200_000 }], [{ path: 'small', content: 'x' }]] },
    { tag: 'other', layers: [[{ path: 'o', content: 'o' }]] },
  ]);
  const content = await layoutContent(src);
  const dest = join(dir, 'dest');
  await copy(`oci:${src.dir}:other`, `oci:${dest}:other`);
  const before = await snapshot(dest);
  const image = src.ref('v1').images[0]!;
  return { src, content, dest, before, image };
}

async function expectFailure(t: TestContext, handler: (ctx: Awaited<ReturnType<typeof setup>>) => FakeHandler, codes: string[], message?: RegExp) {
  const ctx = await setup(t);
  const fake = await startFakeRegistry(t, handler(ctx));
  const err = await copy(`docker://${fake.host}/evil/app:v1`, `oci:${ctx.dest}:v1`, { registry: ACCESS }).then(
    () => assert.fail('the copy should have failed'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof WharfError, `not a WharfError: ${String(err)}`);
  assert.ok(codes.includes(err.code), `${err.code}: ${err.message}`);
  if (message) assert.match(err.message, message);
  assert.ok(!err.message.includes('\n'), 'a one-line message');
  assert.equal(await snapshot(ctx.dest), ctx.before, 'the destination is left as it was');
}

test('hostile registry: an oversized manifest is refused before it is read', (t) =>
  expectFailure(t, () => (_req, _res, h) => {
    if (h.path === '/v2/') return h.ping();
    return h.oversizedManifest(64 << 20);
  }, ['TOO_LARGE', 'MANIFEST_INVALID']));

test('hostile registry: a blob whose bytes do not match its digest', (t) =>
  expectFailure(t, ({ content, image }) => (_req, _res, h) => {
    if (h.path === '/v2/') return h.ping();
    if (h.path.endsWith(`/blobs/${image.layers[0]!.digest}`)) return h.corruptBlob(content.blobs[image.layers[0]!.digest]!);
    return h.serve(content);
  }, ['DIGEST_MISMATCH'], /sha256:/));

test('hostile registry: a redirect loop on a blob', (t) =>
  expectFailure(t, ({ content, image }) => (_req, _res, h) => {
    if (h.path === '/v2/') return h.ping();
    if (h.path.endsWith(`/blobs/${image.layers[0]!.digest}`)) return h.redirectLoop();
    return h.serve(content);
  }, ['TOO_MANY_REDIRECTS']));

test('hostile registry: a server that stalls mid-body times out', (t) =>
  expectFailure(t, ({ content, image }) => (_req, _res, h) => {
    if (h.path === '/v2/') return h.ping();
    if (h.path.endsWith(`/blobs/${image.layers[0]!.digest}`)) return h.stall(content.blobs[image.layers[0]!.digest]!, 1000);
    return h.serve(content);
  }, ['TIMEOUT']));

test('hostile registry: a malformed WWW-Authenticate challenge', (t) =>
  expectFailure(t, () => (_req, _res, h) => h.unauthorized('Bearer realm="http://127.0.0.1:1/token, service'), ['AUTH_FAILED', 'REGISTRY_ERROR']));

test('hostile registry: a 401 that never names a way to authenticate', (t) =>
  expectFailure(t, () => (_req, res) => {
    res.writeHead(401, { 'content-type': 'application/json' });
    res.end('{"errors":[{"code":"UNAUTHORIZED","message":"who are you"}]}');
  }, ['AUTH_FAILED']));

test('a dropped connection mid-blob is resumed with a Range request, and the copy succeeds', async (t) => {
  const ctx = await setup(t);
  const digest = ctx.image.layers[0]!.digest;
  const fake = await startFakeRegistry(t, (_req, _res, h) => {
    if (h.path === '/v2/') return h.ping();
    if (h.path.endsWith(`/blobs/${digest}`) && h.seen('GET') === 1) return h.blob(ctx.content.blobs[digest]!, { dropAfter: 50_000 });
    return h.serve(ctx.content);
  });
  const r = await copy(`docker://${fake.host}/evil/app:v1`, `oci:${ctx.dest}:v1`, { registry: ACCESS });
  assert.equal(r.digest, ctx.image.manifest.digest);
  const ranged = fake.requests.filter((q) => q.path.endsWith(`/blobs/${digest}`) && q.headers.range);
  assert.equal(ranged.length, 1, 'one resumed request');
  assert.match(String(ranged[0]!.headers.range), /^bytes=\d+-/);
});

test('429 and 503 with Retry-After are retried, then the copy succeeds', async (t) => {
  const ctx = await setup(t);
  const fake = await startFakeRegistry(t, (_req, _res, h) => {
    if (h.path === '/v2/') return h.ping();
    if (h.path.includes('/manifests/') && h.seen('GET') === 1) return h.retryAfter(429, 0);
    if (h.path.includes('/blobs/') && h.seen('GET') === 1) return h.retryAfter(503, 0);
    return h.serve(ctx.content);
  });
  const r = await copy(`docker://${fake.host}/evil/app:v1`, `oci:${ctx.dest}:v1`, { registry: { ...ACCESS, retryTimes: 2 } });
  assert.equal(r.digest, ctx.image.manifest.digest);
});
