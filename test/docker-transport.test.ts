/**
 * The docker:// transport against a real registry (Debian's docker-registry, CNCF distribution 2.8), with
 * skopeo as the peer: what one pushes the other pulls, digest for digest.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { copy, inspect, WharfError } from '../src/index.js';
import type { RegistryAccess } from '../src/transports/index.js';
import { buildLayout, type ImageSpec } from './helpers/images.js';
import { requirePeer, runPeer, tempDir } from './helpers/peers.js';
import { inspectWithSkopeo, pushWithSkopeo, startRegistry } from './helpers/registry.js';

const IMAGE: ImageSpec = {
  tag: 'v1',
  layers: [[{ path: 'etc/hello', content: 'hello\n' }], [{ path: 'data/blob', size: 300_000 }]],
  config: { Env: ['A=1'], Labels: { x: 'y' } },
};
const INSECURE: RegistryAccess = { tlsVerify: false };

function withCreds(user: string, password: string): RegistryAccess {
  return { tlsVerify: false, credentials: async () => ({ username: user, password }) };
}

test('push to a registry and pull back: digests kept, skopeo agrees', async (t) => {
  if (!requirePeer(t, 'docker-registry') || !requirePeer(t, 'skopeo')) return;
  const reg = await startRegistry(t);
  const dir = await tempDir(t);
  const src = await buildLayout(join(dir, 'src'), [IMAGE]);
  const pushed = await copy(`oci:${src.dir}:v1`, `docker://${reg.host}/team/app:v1`, { registry: INSECURE });
  assert.equal(pushed.digest, src.images[0]!.manifest.digest);
  const sk = JSON.parse(await inspectWithSkopeo(`${reg.host}/team/app:v1`));
  assert.equal(sk.Digest, pushed.digest);
  // wharf inspect prints what skopeo prints, RepoTags (the repository's tags) included.
  await copy(`oci:${src.dir}:v1`, `docker://${reg.host}/team/app:v2`, { registry: INSECURE });
  const ours = await inspect(`docker://${reg.host}/team/app:v1`, { registry: INSECURE });
  const theirs = JSON.parse(await inspectWithSkopeo(`${reg.host}/team/app:v1`));
  for (const key of Object.keys(theirs)) assert.deepEqual(ours.output[key], theirs[key], key);
  assert.deepEqual([...(ours.output.RepoTags as string[])].sort(), ['v1', 'v2']);
  // Pull into a fresh layout: byte for byte.
  const pulled = await copy(`docker://${reg.host}/team/app:v1`, `oci:${join(dir, 'pulled')}:v1`, { registry: INSECURE });
  assert.equal(pulled.digest, pushed.digest);
  // A second push sends nothing: every blob is already there.
  const again = await copy(`oci:${src.dir}:v1`, `docker://${reg.host}/team/app:v1`, { registry: INSECURE });
  assert.equal(again.bytesWritten, 0);
  assert.equal(again.blobsCopied, 0, 'the registry already names this manifest: nothing to send');
  assert.equal(again.blobsSkipped, 0, 'not even a HEAD per blob: one manifest HEAD settles it');
});

test('wharf pulls what skopeo pushed, and by digest', async (t) => {
  if (!requirePeer(t, 'docker-registry') || !requirePeer(t, 'skopeo')) return;
  const reg = await startRegistry(t);
  const dir = await tempDir(t);
  const src = await buildLayout(join(dir, 'src'), [IMAGE]);
  await pushWithSkopeo(`oci:${src.dir}:v1`, `${reg.host}/lib/img:latest`);
  const digest = JSON.parse(await inspectWithSkopeo(`${reg.host}/lib/img:latest`)).Digest as string;
  const r = await copy(`docker://${reg.host}/lib/img@${digest}`, `oci:${join(dir, 'out')}:x`, { registry: INSECURE });
  assert.equal(r.digest, digest);
  await assert.rejects(
    copy(`docker://${reg.host}/lib/img:nope`, `oci:${join(dir, 'out2')}:x`, { registry: INSECURE }),
    (err: unknown) => err instanceof WharfError && err.code === 'MANIFEST_UNKNOWN',
  );
});

test('a multi-platform index is pushed children first and pulled whole', async (t) => {
  if (!requirePeer(t, 'docker-registry') || !requirePeer(t, 'skopeo')) return;
  const reg = await startRegistry(t);
  const dir = await tempDir(t);
  const src = await buildLayout(join(dir, 'src'), [
    { tag: 'multi', platform: { os: 'linux', architecture: 'amd64' }, layers: [[{ path: 'a', content: 'amd' }]] },
    { tag: 'multi', platform: { os: 'linux', architecture: 'arm64', variant: 'v8' }, layers: [[{ path: 'a', content: 'arm' }]] },
  ]);
  const r = await copy(`oci:${src.dir}:multi`, `docker://${reg.host}/m/img:1`, { registry: INSECURE, all: true });
  assert.equal(r.digest, src.ref('multi').digest);
  const raw = await runPeer('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${reg.host}/m/img:1`]);
  assert.equal(JSON.parse(raw).manifests.length, 2);
  const back = await copy(`docker://${reg.host}/m/img:1`, `oci:${join(dir, 'back')}:m`, { registry: INSECURE, all: true });
  assert.equal(back.digest, r.digest);
});

test('a docker-archive pushed to a registry is compressed on the way (digest learned while streaming)', async (t) => {
  if (!requirePeer(t, 'docker-registry') || !requirePeer(t, 'skopeo')) return;
  const reg = await startRegistry(t);
  const dir = await tempDir(t);
  const src = await buildLayout(join(dir, 'src'), [IMAGE]);
  await copy(`oci:${src.dir}:v1`, `docker-archive:${join(dir, 'a.tar')}:x/y:z`);
  const r = await copy(`docker-archive:${join(dir, 'a.tar')}`, `docker://${reg.host}/from/archive:1`, { registry: INSECURE });
  const sk = JSON.parse(await runPeer('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${reg.host}/from/archive:1`]));
  assert.ok(sk.layers.every((l: { mediaType: string }) => l.mediaType.endsWith('gzip')));
  const info = await inspect(`docker://${reg.host}/from/archive:1`, { registry: INSECURE });
  assert.equal(info.output.Digest, r.digest);
  assert.deepEqual(info.config.rootfs.diff_ids, src.images[0]!.diffIds);
});

test('htpasswd Basic auth: right credentials work, wrong ones are AUTH_FAILED without the password in the message', async (t) => {
  if (!requirePeer(t, 'docker-registry') || !requirePeer(t, 'htpasswd', 'apache2-utils')) return;
  const reg = await startRegistry(t, { auth: 'htpasswd', users: { alice: 'sesame-42' } });
  const dir = await tempDir(t);
  const src = await buildLayout(join(dir, 'src'), [IMAGE]);
  await copy(`oci:${src.dir}:v1`, `docker://${reg.host}/secure/app:v1`, { registry: withCreds('alice', 'sesame-42') });
  const err = await copy(`docker://${reg.host}/secure/app:v1`, `oci:${join(dir, 'x')}:v1`, { registry: withCreds('alice', 'not-the-password') }).then(
    () => assert.fail('expected failure'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof WharfError);
  assert.ok(['AUTH_FAILED', 'DENIED'].includes(err.code), err.code);
  assert.ok(!`${err.message} ${err.hint}`.includes('not-the-password'));
  await assert.rejects(inspect(`docker://${reg.host}/secure/app:v1`, { registry: INSECURE }), WharfError);
});

test('token auth: a copy between repositories of one registry mounts blobs, with the source scope asked for', async (t) => {
  if (!requirePeer(t, 'docker-registry')) return;
  const reg = await startRegistry(t, { auth: 'token' });
  const issuer = reg.tokenIssuer!;
  const dir = await tempDir(t);
  const src = await buildLayout(join(dir, 'src'), [IMAGE]);
  const access = withCreds('alice', reg.users.alice!);
  await copy(`oci:${src.dir}:v1`, `docker://${reg.host}/one/app:v1`, { registry: access });
  issuer.requests.length = 0;
  const r = await copy(`docker://${reg.host}/one/app:v1`, `docker://${reg.host}/two/app:v1`, { registry: access });
  assert.equal(r.digest, src.images[0]!.manifest.digest);
  assert.equal(r.bytesWritten, 0, 'every blob was mounted, none sent');
  const scopes = issuer.requests.flatMap((q) => q.rawScopes);
  assert.ok(scopes.some((s) => s.startsWith('repository:one/app:') && s.includes('pull')), scopes.join(' '));
  assert.ok(scopes.some((s) => s.startsWith('repository:two/app:') && s.includes('push')), scopes.join(' '));
});

test('hostile token service: a token for another scope is an auth error, and nothing is written', async (t) => {
  if (!requirePeer(t, 'docker-registry')) return;
  const reg = await startRegistry(t, { auth: 'token' });
  const dir = await tempDir(t);
  const src = await buildLayout(join(dir, 'src'), [IMAGE]);
  const access = withCreds('alice', reg.users.alice!);
  await copy(`oci:${src.dir}:v1`, `docker://${reg.host}/one/app:v1`, { registry: access });
  reg.tokenIssuer!.misbehave('wrong-scope', 1000);
  const err = await copy(`docker://${reg.host}/one/app:v1`, `oci:${join(dir, 'out')}:v1`, { registry: access }).then(
    () => assert.fail('expected an auth failure'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof WharfError && ['AUTH_FAILED', 'DENIED'].includes(err.code), String(err));
  assert.ok(!String((err as WharfError).message).includes(reg.users.alice!));
  await assert.rejects(import('node:fs/promises').then((fs) => fs.stat(join(dir, 'out'))));
});

test('TLS: a registry with a private CA works through certs.d, and fails without it', async (t) => {
  if (!requirePeer(t, 'docker-registry')) return;
  const reg = await startRegistry(t, { tls: true });
  const dir = await tempDir(t);
  const src = await buildLayout(join(dir, 'src'), [IMAGE]);
  const { readFile } = await import('node:fs/promises');
  const ca = await readFile(reg.caCertPath!);
  const trusted: RegistryAccess = { tlsFiles: async (host) => (host === reg.host ? { ca: [ca] } : undefined) };
  const r = await copy(`oci:${src.dir}:v1`, `docker://${reg.host}/tls/app:v1`, { registry: trusted });
  assert.equal(r.digest, src.images[0]!.manifest.digest);
  const err = await inspect(`docker://${reg.host}/tls/app:v1`, { registry: {} }).then(
    () => assert.fail('an unknown CA must be refused'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof WharfError, String(err));
  assert.match(`${err.message} ${err.hint}`, /certificate|tls/i);
  // --tls-verify=false accepts it.
  const info = await inspect(`docker://${reg.host}/tls/app:v1`, { registry: { tlsVerify: false } });
  assert.equal(info.output.Digest, r.digest);
});
