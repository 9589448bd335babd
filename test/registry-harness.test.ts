/**
 * The registry test harness against the real peers: each mode of startRegistry (no auth, htpasswd, token,
 * TLS, pull-through proxy) proven with skopeo, the token issuer's JWTs accepted by distribution, and every
 * misbehaviour of the fake registry observable with plain node HTTP requests.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, copyFile } from 'node:fs/promises';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { startFakeRegistry, sha256Digest, layoutContent } from './helpers/fake-registry.js';
import { buildLayout, pseudoRandomBytes, type BuiltLayout } from './helpers/images.js';
import { requirePeer, tempDir } from './helpers/peers.js';
import { inspectWithSkopeo, pullWithSkopeo, pushWithSkopeo, startRegistry, waitForLog } from './helpers/registry.js';
import { decodeJwt } from './helpers/token-issuer.js';

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** Set when the connection broke before the body was complete. */
  error?: Error;
}

/** One plain HTTP(S) request, no redirects followed, no keep-alive; resolves even when the body is cut off. */
function get(
  url: string,
  o: { method?: string; headers?: Record<string, string>; ca?: string | Buffer; timeout?: number; body?: Buffer } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const opts = { method: o.method ?? 'GET', headers: o.headers ?? {}, agent: false as const, ...(o.ca ? { ca: o.ca } : {}) };
    const req = (url.startsWith('https:') ? httpsRequest : httpRequest)(url, opts, (res) => {
      req.setTimeout(0);
      const chunks: Buffer[] = [];
      let timer: NodeJS.Timeout | undefined;
      const done = (error?: Error) => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), ...(error ? { error } : {}) });
      };
      if (o.timeout) timer = setTimeout(() => res.destroy(new Error('body timeout')), o.timeout);
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => done());
      res.on('error', (e) => done(e));
      res.on('aborted', () => done(new Error('aborted')));
    });
    if (o.timeout) req.setTimeout(o.timeout, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(o.body);
  });
}

const basic = (user: string, pass: string) => `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;

async function smallImage(t: TestContext): Promise<BuiltLayout> {
  const dir = await tempDir(t);
  return buildLayout(join(dir, 'layout'), [
    { tag: 'v1', layers: [[{ path: 'etc/hello', content: 'hello\n' }, { path: 'bin/prog', size: 4096, mode: 0o755 }]], config: { Cmd: ['/bin/prog'] } },
  ]);
}

function digestOfRaw(raw: string): string {
  return `sha256:${createHash('sha256').update(raw).digest('hex')}`;
}

test('no auth: skopeo pushes an image and inspects it back; the registry survives a restart', async (t) => {
  if (!requirePeer(t, 'skopeo')) return;
  const layout = await smallImage(t);
  const reg = await startRegistry(t);
  assert.match(reg.host, /^127\.0\.0\.1:\d+$/);
  assert.equal(reg.url, `http://${reg.host}`);
  const ping = await get(`${reg.url}/v2/`);
  assert.equal(ping.status, 200);
  assert.equal(ping.headers['docker-distribution-api-version'], 'registry/2.0');

  await pushWithSkopeo(`oci:${layout.dir}:v1`, `${reg.host}/test/hello:v1`);
  const raw = await inspectWithSkopeo(`${reg.host}/test/hello:v1`, { args: ['--raw'] });
  assert.equal(digestOfRaw(raw), layout.ref('v1').digest, 'the registry serves the very manifest bytes skopeo pushed');
  const info = JSON.parse(await inspectWithSkopeo(`docker://${reg.host}/test/hello:v1`)) as { Digest: string; Layers: string[] };
  assert.equal(info.Digest, layout.ref('v1').digest);
  assert.deepEqual(info.Layers, layout.images[0]!.layers.map((l) => l.digest));

  await reg.restart();
  const again = await get(`${reg.url}/v2/test/hello/manifests/v1`, { headers: { accept: layout.ref('v1').mediaType } });
  assert.equal(again.status, 200);
  assert.equal(again.headers['docker-content-digest'], layout.ref('v1').digest);
  assert.match(reg.logs(), /starting docker-registry/);

  await reg.stop();
  await assert.rejects(get(`${reg.url}/v2/`), 'stopped registry no longer answers');
});

test('htpasswd: skopeo with --creds works, without creds it gets 401', async (t) => {
  if (!requirePeer(t, 'skopeo')) return;
  const layout = await smallImage(t);
  const reg = await startRegistry(t, { auth: 'htpasswd', users: { alice: 'secret', bob: 'pw' } });
  assert.deepEqual(reg.users, { alice: 'secret', bob: 'pw' });

  const ping = await get(`${reg.url}/v2/`);
  assert.equal(ping.status, 401);
  assert.match(String(ping.headers['www-authenticate']), /^Basic realm="wharf-test-registry"/);
  assert.equal((await get(`${reg.url}/v2/`, { headers: { authorization: basic('bob', 'pw') } })).status, 200);
  assert.equal((await get(`${reg.url}/v2/`, { headers: { authorization: basic('bob', 'wrong') } })).status, 401);

  await assert.rejects(pushWithSkopeo(`oci:${layout.dir}:v1`, `${reg.host}/test/hello:v1`), /401|unauthorized|authentication required/i);
  await pushWithSkopeo(`oci:${layout.dir}:v1`, `${reg.host}/test/hello:v1`, { creds: 'alice:secret' });
  const raw = await inspectWithSkopeo(`${reg.host}/test/hello:v1`, { creds: 'alice:secret', args: ['--raw'] });
  assert.equal(digestOfRaw(raw), layout.ref('v1').digest);
  await assert.rejects(inspectWithSkopeo(`${reg.host}/test/hello:v1`, { creds: 'alice:nope' }), /401|unauthorized|authentication required/i);
});

test('token: distribution accepts the issuer’s JWTs; skopeo with creds works, a wrong password fails', async (t) => {
  if (!requirePeer(t, 'skopeo')) return;
  const layout = await smallImage(t);
  const reg = await startRegistry(t, { auth: 'token' });
  const issuer = reg.tokenIssuer!;
  assert.ok(issuer);

  const ping = await get(`${reg.url}/v2/`);
  assert.equal(ping.status, 401);
  const challenge = String(ping.headers['www-authenticate']);
  assert.match(challenge, /^Bearer /);
  assert.ok(challenge.includes(`realm="${issuer.realm}"`), challenge);
  assert.ok(challenge.includes(`service="${issuer.service}"`), challenge);

  await pushWithSkopeo(`oci:${layout.dir}:v1`, `${reg.host}/test/hello:v1`, { creds: 'alice:secret' });
  const pushAsks = issuer.requests.filter((r) => r.user === 'alice');
  assert.ok(pushAsks.length > 0, 'skopeo asked the issuer for tokens');
  assert.ok(
    pushAsks.some((r) => r.scopes.some((s) => s.type === 'repository' && s.name === 'test/hello' && s.actions.includes('push'))),
    JSON.stringify(issuer.requests.map((r) => r.rawScopes)),
  );
  assert.ok(pushAsks.every((r) => r.service === issuer.service));

  const raw = await inspectWithSkopeo(`${reg.host}/test/hello:v1`, { creds: 'bob:pw', args: ['--raw'] });
  assert.equal(digestOfRaw(raw), layout.ref('v1').digest);

  const before = issuer.requests.length;
  await assert.rejects(inspectWithSkopeo(`${reg.host}/test/hello:v1`, { creds: 'alice:wrong' }), /401|unauthorized|authentication required/i);
  const rejected = issuer.requests.slice(before);
  assert.ok(rejected.some((r) => r.username === 'alice' && r.user === undefined && r.status === 401));
  await assert.rejects(inspectWithSkopeo(`${reg.host}/test/hello:v1`), /401|unauthorized|authentication required/i, 'anonymous gets nothing');

  // Registry-to-registry copy on the same registry: skopeo mounts across repositories and asks pull on the source.
  await pullWithSkopeo(`${reg.host}/test/hello:v1`, `docker://${reg.host}/other/copy:v1`, {
    creds: 'alice:secret',
    args: ['--dest-creds=alice:secret', '--dest-tls-verify=false'],
  });
  const mountAsk = issuer.requests.find(
    (r) => r.scopes.some((s) => s.name === 'other/copy' && s.actions.includes('push')) && r.scopes.some((s) => s.name === 'test/hello' && s.actions.includes('pull')),
  );
  assert.ok(mountAsk, `a token for the mount names both repositories: ${JSON.stringify(issuer.requests.map((r) => r.rawScopes))}`);
  assert.deepEqual(mountAsk.granted.map((s) => s.name).sort(), ['other/copy', 'test/hello']);
  const mountLine = /POST \/v2\/other\/copy\/blobs\/uploads\/\?from=test%2Fhello&mount=sha256%3A[0-9a-f]{64} HTTP\/1\.1" 201/;
  assert.match(await waitForLog(reg, mountLine), mountLine);
});

test('token: the issuer speaks the token spec directly, with a policy, and misbehaves on request', async (t) => {
  const reg = await startRegistry(t, {
    auth: 'token',
    users: { alice: 'secret', bob: 'pw' },
    token: { policy: { alice: { '*': ['*'] }, bob: { 'public/*': ['pull'] }, anonymous: { 'public/*': ['pull'] } } },
  });
  const issuer = reg.tokenIssuer!;
  const ask = (scope: string, auth?: string) =>
    get(`${issuer.realm}?service=${encodeURIComponent(issuer.service)}&scope=${encodeURIComponent(scope)}`, auth ? { headers: { authorization: auth } } : {});
  const tokenOf = (r: Reply) => (JSON.parse(r.body.toString()) as { token: string }).token;

  const ok = await ask('repository:demo/app:pull,push', basic('alice', 'secret'));
  assert.equal(ok.status, 200);
  const body = JSON.parse(ok.body.toString()) as Record<string, unknown>;
  assert.equal(body.token, body.access_token);
  assert.equal(body.expires_in, 300);
  assert.equal(typeof body.issued_at, 'string');
  const { header, claims } = decodeJwt(body.token as string);
  assert.equal(header.alg, 'RS256');
  assert.ok(Array.isArray(header.x5c));
  assert.equal(claims.aud, issuer.service);
  assert.equal(claims.iss, issuer.issuer);
  assert.equal(claims.sub, 'alice');
  assert.deepEqual(claims.access, [{ type: 'repository', name: 'demo/app', actions: ['pull', 'push'] }]);
  assert.deepEqual(issuer.requests.at(-1)!.scopes, [{ type: 'repository', name: 'demo/app', actions: ['pull', 'push'] }]);

  // The registry takes the token: an empty repository is a 404, not a 401.
  const bearer = (tok: string) => ({ headers: { authorization: `Bearer ${tok}` } });
  assert.equal((await get(`${reg.url}/v2/demo/app/tags/list`, bearer(tokenOf(ok)))).status, 404);

  // Policy: bob may only pull public/*; anonymous the same.
  const bob = await ask('repository:demo/app:pull,push', basic('bob', 'pw'));
  assert.deepEqual(decodeJwt(tokenOf(bob)).claims.access, []);
  assert.equal((await get(`${reg.url}/v2/demo/app/tags/list`, bearer(tokenOf(bob)))).status, 401);
  const anon = await ask('repository:public/x:pull,push');
  assert.deepEqual(decodeJwt(tokenOf(anon)).claims.access, [{ type: 'repository', name: 'public/x', actions: ['pull'] }]);
  assert.equal(issuer.requests.at(-1)!.user, undefined);
  assert.equal((await ask('repository:demo/app:pull', basic('bob', 'nope'))).status, 401);

  // Misbehaviour, one request each.
  issuer.misbehave('wrong-scope', 1);
  const wrong = await ask('repository:demo/app:pull', basic('alice', 'secret'));
  assert.deepEqual(decodeJwt(tokenOf(wrong)).claims.access, [{ type: 'repository', name: 'other/demo/app', actions: ['pull'] }]);
  assert.equal((await get(`${reg.url}/v2/demo/app/tags/list`, bearer(tokenOf(wrong)))).status, 401, 'a token for another scope is refused');
  assert.equal(issuer.requests.at(-1)!.misbehaviour, 'wrong-scope');

  issuer.misbehave('token-only', 1);
  assert.deepEqual(Object.keys(JSON.parse((await ask('repository:demo/app:pull', basic('alice', 'secret'))).body.toString())).sort(), ['expires_in', 'issued_at', 'token']);
  issuer.misbehave('access-token-only', 1);
  const at = JSON.parse((await ask('repository:demo/app:pull', basic('alice', 'secret'))).body.toString()) as Record<string, string>;
  assert.deepEqual(Object.keys(at).sort(), ['access_token', 'expires_in', 'issued_at']);
  assert.equal((await get(`${reg.url}/v2/demo/app/tags/list`, bearer(at.access_token!))).status, 404);
  issuer.misbehave('status-500', 1);
  assert.equal((await ask('repository:demo/app:pull', basic('alice', 'secret'))).status, 500);
  issuer.misbehave('malformed-json', 1);
  const bad = await ask('repository:demo/app:pull', basic('alice', 'secret'));
  assert.equal(bad.status, 200);
  assert.throws(() => JSON.parse(bad.body.toString()));
  issuer.misbehave('expired', 1);
  assert.equal((await get(`${reg.url}/v2/demo/app/tags/list`, bearer(tokenOf(await ask('repository:demo/app:pull', basic('alice', 'secret')))))).status, 401);
  issuer.misbehave('bad-signature', 1);
  assert.equal((await get(`${reg.url}/v2/demo/app/tags/list`, bearer(tokenOf(await ask('repository:demo/app:pull', basic('alice', 'secret')))))).status, 401);
  // Back to normal after the counted misbehaviours.
  assert.equal((await get(`${reg.url}/v2/demo/app/tags/list`, bearer(tokenOf(await ask('repository:demo/app:pull', basic('alice', 'secret')))))).status, 404);

  // A token minted directly, and the OAuth2 POST form with a refresh token.
  const minted = issuer.mint({ user: 'alice', access: [{ type: 'repository', name: 'demo/app', actions: ['pull'] }] });
  assert.equal((await get(`${reg.url}/v2/demo/app/tags/list`, bearer(minted))).status, 404);
  const form = await new Promise<Reply>((resolve, reject) => {
    const payload = new URLSearchParams({ grant_type: 'password', username: 'alice', password: 'secret', service: issuer.service, scope: 'repository:demo/app:pull', access_type: 'offline', client_id: 'wharf' }).toString();
    const req = httpRequest(issuer.realm, { method: 'POST', agent: false, headers: { 'content-type': 'application/x-www-form-urlencoded' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end(payload);
  });
  assert.equal(form.status, 200);
  const oauth = JSON.parse(form.body.toString()) as Record<string, string>;
  assert.ok(oauth.access_token && oauth.refresh_token);
  assert.equal(issuer.requests.at(-1)!.grantType, 'password');
  assert.equal((await get(`${reg.url}/v2/demo/app/tags/list`, bearer(oauth.access_token))).status, 404);
});

test('tls: skopeo trusts the registry through --cert-dir, and refuses it without the CA', async (t) => {
  if (!requirePeer(t, 'skopeo')) return;
  const layout = await smallImage(t);
  const reg = await startRegistry(t, { tls: true });
  assert.equal(reg.url, `https://${reg.host}`);
  assert.ok(reg.caCertPath);
  const certDir = join(await tempDir(t), 'certs');
  await mkdir(certDir);
  await copyFile(reg.caCertPath, join(certDir, 'ca.crt'));

  await pushWithSkopeo(`oci:${layout.dir}:v1`, `${reg.host}/test/hello:v1`, { tlsVerify: true, certDir });
  const raw = await inspectWithSkopeo(`${reg.host}/test/hello:v1`, { tlsVerify: true, certDir, args: ['--raw'] });
  assert.equal(digestOfRaw(raw), layout.ref('v1').digest);
  await assert.rejects(inspectWithSkopeo(`${reg.host}/test/hello:v1`, { tlsVerify: true }), /x509|certificate/i);
  // Node's TLS takes the same CA, for 127.0.0.1 and for localhost.
  const { readFile } = await import('node:fs/promises');
  const ca = await readFile(reg.caCertPath);
  assert.equal((await get(`${reg.url}/v2/`, { ca })).status, 200);
  assert.equal((await get(`https://localhost:${reg.port}/v2/`, { ca })).status, 200);
  await assert.rejects(get(`${reg.url}/v2/`), /self.signed|certificate/i);
});

test('proxy: a pull-through registry in front of another serves its images', async (t) => {
  if (!requirePeer(t, 'skopeo')) return;
  const layout = await smallImage(t);
  const upstream = await startRegistry(t);
  await pushWithSkopeo(`oci:${layout.dir}:v1`, `${upstream.host}/test/hello:v1`);
  const mirror = await startRegistry(t, { proxy: { remoteurl: upstream.url } });

  const raw = await inspectWithSkopeo(`${mirror.host}/test/hello:v1`, { args: ['--raw'] });
  assert.equal(digestOfRaw(raw), layout.ref('v1').digest);
  const layer = layout.images[0]!.layers[0]!;
  const blob = await get(`${mirror.url}/v2/test/hello/blobs/${layer.digest}`);
  assert.equal(blob.status, 200);
  assert.equal(sha256Digest(blob.body), layer.digest);
  // A mirror of a registry that wants a login logs in with the proxy credentials. (distribution 2.8 hands them
  // only to the Bearer realms it finds when it starts: a Basic-auth upstream cannot be mirrored with a login.)
  const locked = await startRegistry(t, { auth: 'token', users: { mirror: 'm1rr0r' } });
  await pushWithSkopeo(`oci:${layout.dir}:v1`, `${locked.host}/test/hello:v1`, { creds: 'mirror:m1rr0r' });
  const lockedMirror = await startRegistry(t, { proxy: { remoteurl: locked.url, username: 'mirror', password: 'm1rr0r' } });
  assert.equal(digestOfRaw(await inspectWithSkopeo(`${lockedMirror.host}/test/hello:v1`, { args: ['--raw'] })), layout.ref('v1').digest);
  const fromMirror = locked.tokenIssuer!.requests.filter((r) => !r.userAgent?.startsWith('skopeo'));
  assert.ok(fromMirror.length > 0, 'the mirror asked the upstream issuer for a token');
  assert.ok(fromMirror.every((r) => r.user === 'mirror'), JSON.stringify(fromMirror));

  // Pushing to a pull-through cache is refused.
  await assert.rejects(pushWithSkopeo(`oci:${layout.dir}:v1`, `${mirror.host}/test/other:v1`), /unsupported|405|denied|not allowed/i);
});

test('fake registry: every misbehaviour is observable with plain HTTP', async (t) => {
  const dir = await tempDir(t);
  const layout = await buildLayout(join(dir, 'layout'), [{ tag: 'v1', layers: [[{ path: 'f', content: 'x' }]] }]);
  const content = await layoutContent(layout);
  const blob = pseudoRandomBytes('fake-blob', 200_000);
  const blobDigest = sha256Digest(blob);

  const fake = await startFakeRegistry(t, (_req, _res, h) => {
    switch (h.path) {
      case '/v2/':
        return h.ping();
      case '/v2/big/manifests/v1':
        return h.oversizedManifest(5 << 20);
      case '/v2/big/manifests/chunked':
        return h.oversizedManifest(1 << 20, undefined, { declareLength: false });
      case `/v2/bad/blobs/${blobDigest}`:
        return h.corruptBlob(blob);
      case '/v2/loop/manifests/v1':
        return h.redirectLoop();
      case '/v2/chain/manifests/v1':
        return h.redirectLoop('chain');
      case `/v2/stall/blobs/${blobDigest}`:
        return h.stall(blob, 1000);
      case '/v2/auth/manifests/v1':
        return h.unauthorized('Bearer realm="http://127.0.0.1:1/token,service=');
      case `/v2/flaky/blobs/${blobDigest}`:
        if (h.seen() === 1) return h.retryAfter(429, 1);
        if (h.seen() === 2) return h.retryAfter(503, 0);
        return h.blob(blob);
      case `/v2/drop/blobs/${blobDigest}`:
        return h.seen() === 1 ? h.blob(blob, { dropAfter: 50_000 }) : h.blob(blob);
      default:
        return h.serve(content);
    }
  });

  const ping = await get(`${fake.url}/v2/`);
  assert.equal(ping.status, 200);
  assert.equal(ping.headers['docker-distribution-api-version'], 'registry/2.0');

  // serve(): a good image, by tag and by digest, HEAD without a body; unknown things are 404.
  const ref = layout.ref('v1');
  const man = await get(`${fake.url}/v2/any/manifests/v1`);
  assert.equal(man.status, 200);
  assert.equal(man.headers['docker-content-digest'], ref.digest);
  assert.equal(man.headers['content-type'], ref.mediaType);
  assert.equal(sha256Digest(man.body), ref.digest);
  const head = await get(`${fake.url}/v2/any/manifests/${ref.digest}`, { method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal(head.body.length, 0);
  assert.equal(Number(head.headers['content-length']), ref.size);
  const cfg = layout.images[0]!.config;
  assert.equal(sha256Digest((await get(`${fake.url}/v2/any/blobs/${cfg.digest}`)).body), cfg.digest);
  assert.equal((await get(`${fake.url}/v2/any/manifests/nope`)).status, 404);
  assert.match((await get(`${fake.url}/v2/any/blobs/sha256:${'1'.repeat(64)}`)).body.toString(), /BLOB_UNKNOWN/);

  // Oversized manifest: 5 MiB with a Content-Length, 1 MiB chunked; both valid JSON.
  const big = await get(`${fake.url}/v2/big/manifests/v1`);
  assert.equal(Number(big.headers['content-length']), 5 << 20);
  assert.equal(big.body.length, 5 << 20);
  assert.equal((JSON.parse(big.body.toString()) as { schemaVersion: number }).schemaVersion, 2);
  const chunked = await get(`${fake.url}/v2/big/manifests/chunked`);
  assert.equal(chunked.headers['content-length'], undefined);
  assert.equal(chunked.headers['transfer-encoding'], 'chunked');
  assert.equal(chunked.body.length, 1 << 20);

  // A blob whose bytes do not match the digest it is served under.
  const bad = await get(`${fake.url}/v2/bad/blobs/${blobDigest}`);
  assert.equal(bad.status, 200);
  assert.equal(bad.headers['docker-content-digest'], blobDigest);
  assert.equal(bad.body.length, blob.length);
  assert.notEqual(sha256Digest(bad.body), blobDigest);

  // Redirect loops.
  const loop = await get(`${fake.url}/v2/loop/manifests/v1`);
  assert.equal(loop.status, 307);
  assert.equal(loop.headers.location, `${fake.url}/v2/loop/manifests/v1`);
  let next = `${fake.url}/v2/chain/manifests/v1`;
  for (let i = 1; i <= 3; i++) {
    const r = await get(next);
    assert.equal(r.status, 307);
    next = String(r.headers.location);
    assert.equal(next, `${fake.url}/v2/chain/manifests/v1?hop=${i}`);
  }

  // Stalls mid-body: headers promise the whole blob, 1000 bytes come, then nothing.
  const stalled = await get(`${fake.url}/v2/stall/blobs/${blobDigest}`, { timeout: 300 });
  assert.equal(Number(stalled.headers['content-length']), blob.length);
  assert.equal(stalled.body.length, 1000);
  assert.match(String(stalled.error?.message), /body timeout|aborted/);

  // Malformed WWW-Authenticate, exactly as given.
  const auth = await get(`${fake.url}/v2/auth/manifests/v1`);
  assert.equal(auth.status, 401);
  assert.equal(auth.headers['www-authenticate'], 'Bearer realm="http://127.0.0.1:1/token,service=');

  // 429 then 503 with Retry-After, then success.
  const r1 = await get(`${fake.url}/v2/flaky/blobs/${blobDigest}`);
  assert.equal(r1.status, 429);
  assert.equal(r1.headers['retry-after'], '1');
  const r2 = await get(`${fake.url}/v2/flaky/blobs/${blobDigest}`);
  assert.equal(r2.status, 503);
  assert.equal(r2.headers['retry-after'], '0');
  const r3 = await get(`${fake.url}/v2/flaky/blobs/${blobDigest}`);
  assert.equal(r3.status, 200);
  assert.ok(r3.body.equals(blob));

  // Dropped mid-blob, then resumed with a Range request.
  const cut = await get(`${fake.url}/v2/drop/blobs/${blobDigest}`);
  assert.equal(cut.status, 200);
  assert.ok(cut.error, 'the connection broke');
  assert.equal(cut.body.length, 50_000);
  const rest = await get(`${fake.url}/v2/drop/blobs/${blobDigest}`, { headers: { range: `bytes=${cut.body.length}-` } });
  assert.equal(rest.status, 206);
  assert.equal(rest.headers['content-range'], `bytes 50000-${blob.length - 1}/${blob.length}`);
  assert.ok(Buffer.concat([cut.body, rest.body]).equals(blob));
  assert.equal((await get(`${fake.url}/v2/drop/blobs/${blobDigest}`, { headers: { range: `bytes=${blob.length}-` } })).status, 416);

  // Everything was recorded, headers included.
  const ranged = fake.requests.filter((r) => r.path === `/v2/drop/blobs/${blobDigest}`);
  assert.deepEqual(ranged.map((r) => r.headers.range), [undefined, 'bytes=50000-', `bytes=${blob.length}-`]);
  assert.ok(fake.requests.some((r) => r.method === 'HEAD'));
  assert.deepEqual(fake.errors, []);
});

test('fake registry: handlers can read bodies, hang, cut off, redirect and be swapped', async (t) => {
  const bytes = pseudoRandomBytes('drop', 10_000);
  const fake = await startFakeRegistry(t, async (req, _res, h) => {
    if (req.method === 'PUT') {
      const body = await h.body();
      return h.json(201, { got: body.length, digest: sha256Digest(body) }, { location: `/v2/x/blobs/${sha256Digest(body)}` });
    }
    if (h.path === '/hang') return h.hang();
    if (h.path === '/drop') return h.drop(bytes, 100);
    if (h.path === '/moved') return h.redirect(`${h.base}/v2/`, 302);
    if (h.path === '/boom') throw new Error('handler bug');
    return undefined; // falls through to a 404
  });
  const put = await get(`${fake.url}/v2/x/blobs/uploads/1`, { method: 'PUT', body: bytes });
  assert.equal(put.status, 201);
  assert.deepEqual(JSON.parse(put.body.toString()), { got: bytes.length, digest: sha256Digest(bytes) });
  await assert.rejects(get(`${fake.url}/hang`, { timeout: 200 }), /timeout/);
  const dropped = await get(`${fake.url}/drop`);
  assert.equal(Number(dropped.headers['content-length']), bytes.length);
  assert.equal(dropped.body.length, 100);
  assert.ok(dropped.error);
  const moved = await get(`${fake.url}/moved`);
  assert.equal(moved.status, 302);
  assert.equal(moved.headers.location, `${fake.url}/v2/`);
  const missing = await get(`${fake.url}/v2/nothing/manifests/v1`);
  assert.equal(missing.status, 404);
  assert.match(missing.body.toString(), /MANIFEST_UNKNOWN/);
  const boom = await get(`${fake.url}/boom`);
  assert.equal(boom.status, 500);
  assert.equal(fake.errors.length, 1);
  assert.match(fake.errors[0]!.message, /handler bug/);

  fake.setHandler((_req, _res, h) => h.ping());
  assert.equal((await get(`${fake.url}/anything`)).status, 200);
  assert.equal(fake.requests.length, 7);
  assert.equal(fake.requests[0]!.method, 'PUT');
  assert.equal(fake.requests[0]!.headers['content-length'], String(bytes.length));
});
