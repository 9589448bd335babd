/**
 * `wharf serve` with real clients: wharf's own docker:// transport and skopeo push to it and pull from it,
 * digest for digest; what `wharf sync --dest oci` wrote is served as it is; blobs are stored once; uploads
 * survive a restart; concurrent pushes to one tag lose nothing.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { copy, inspect, sync } from '../src/index.js';
import { startRegistryServer } from '../src/server/serve.js';
import type { RegistryAccess } from '../src/transports/index.js';
import { buildLayout, type ImageSpec } from './helpers/images.js';
import { requirePeer, runPeer, tempDir } from './helpers/peers.js';
import { testCertificate } from './helpers/token-issuer.js';
import { serveInProcess } from './helpers/serve.js';
import { WHARF_BIN } from './helpers/bin.js';

const INSECURE: RegistryAccess = { tlsVerify: false };
const IMAGE: ImageSpec = {
  tag: 'v1',
  layers: [[{ path: 'etc/hello', content: 'hello\n' }], [{ path: 'data/blob', size: 300_000 }]],
  config: { Env: ['A=1'] },
};

const sha256 = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

test('wharf copy pushes to wharf serve and pulls back byte for byte; the storage is an OCI layout per repository', async (t) => {
  const srv = await serveInProcess(t);
  const dir = await tempDir(t);
  const src = await buildLayout(join(dir, 'src'), [
    { ...IMAGE, tag: 'multi', platform: { os: 'linux', architecture: 'amd64' } },
    { ...IMAGE, tag: 'multi', platform: { os: 'linux', architecture: 'arm64', variant: 'v8' }, layers: [[{ path: 'arm', content: 'arm\n' }]] },
  ]);
  const pushed = await copy(`oci:${src.dir}:multi`, `docker://${srv.host}/team/app:multi`, { registry: INSECURE, all: true });
  assert.equal(pushed.digest, src.ref('multi').digest, 'the index digest is kept');
  const pulled = await copy(`docker://${srv.host}/team/app:multi`, `oci:${join(dir, 'out')}:m`, { registry: INSECURE, all: true });
  assert.equal(pulled.digest, pushed.digest);
  // The storage itself is readable as an OCI layout by wharf's oci: transport (and so by skopeo and umoci).
  const local = await inspect(`oci:${join(srv.storage, 'team', 'app')}:multi`, { platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } });
  assert.equal(local.output.Digest, src.ref('multi').digest, 'inspect names the index, as skopeo does');
  assert.equal(local.output.Architecture, 'arm64');
  const viaRegistry = await inspect(`docker://${srv.host}/team/app:multi`, { registry: INSECURE, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } });
  assert.deepEqual(viaRegistry.output.RepoTags, ['multi']);
  assert.equal(viaRegistry.output.Digest, local.output.Digest);
  assert.equal(viaRegistry.output.Architecture, 'arm64');
});

test('skopeo pushes to wharf serve and wharf pulls the same digests; wharf pushes and skopeo pulls (v2s2 too)', async (t) => {
  if (!requirePeer(t, 'skopeo')) return;
  const srv = await serveInProcess(t);
  const dir = await tempDir(t);
  const src = await buildLayout(join(dir, 'src'), [IMAGE]);
  await runPeer('skopeo', ['--insecure-policy', 'copy', '-q', '--dest-tls-verify=false', `oci:${src.dir}:v1`, `docker://${srv.host}/lib/img:v1`]);
  const ours = await copy(`docker://${srv.host}/lib/img:v1`, `oci:${join(dir, 'pulled')}:v1`, { registry: INSECURE });
  assert.equal(ours.digest, src.images[0]!.manifest.digest);
  await copy(`oci:${src.dir}:v1`, `docker://${srv.host}/lib/docker:v1`, { registry: INSECURE, format: 'v2s2' });
  const raw = await runPeer('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${srv.host}/lib/docker:v1`]);
  assert.equal(JSON.parse(raw).mediaType, 'application/vnd.docker.distribution.manifest.v2+json');
  const out = join(dir, 'skopeo-out');
  await runPeer('skopeo', ['--insecure-policy', 'copy', '-q', '--src-tls-verify=false', `docker://${srv.host}/lib/docker:v1`, `dir:${out}`]);
  const manifest = await fsp.readFile(join(out, 'manifest.json'));
  assert.equal(sha256(manifest), sha256(Buffer.from(raw)), 'skopeo got the manifest bytes that were pushed');
  const tags = JSON.parse(await runPeer('skopeo', ['list-tags', '--tls-verify=false', `docker://${srv.host}/lib/img`]));
  assert.deepEqual(tags.Tags, ['v1']);
});

test('what wharf sync --dest oci wrote is served as it is (the mirror-to-disk-and-serve path)', async (t) => {
  const dir = await tempDir(t);
  const src = await buildLayout(join(dir, 'src'), [IMAGE, { ...IMAGE, tag: 'v2', layers: [[{ path: 'v2', content: '2' }]] }]);
  const upstream = await serveInProcess(t);
  await copy(`oci:${src.dir}:v1`, `docker://${upstream.host}/apps/web:v1`, { registry: INSECURE });
  await copy(`oci:${src.dir}:v2`, `docker://${upstream.host}/apps/web:v2`, { registry: INSECURE });
  // A directory of layouts, one per repository, as sync writes them; then that directory is the storage.
  const mirror = join(dir, 'mirror');
  await sync({ src: 'docker', dest: 'oci', source: `${upstream.host}/apps/web`, destination: mirror, sourceRegistry: INSECURE });
  const srv = await serveInProcess(t, { storage: mirror });
  const listed = (await (await fetch(`http://${srv.host}/v2/_catalog`)).json()) as { repositories: string[] };
  assert.ok(listed.repositories.length >= 1, JSON.stringify(listed));
  const repo = listed.repositories[0]!;
  const tags = (await (await fetch(`http://${srv.host}/v2/${repo}/tags/list`)).json()) as { tags: string[] };
  assert.deepEqual(tags.tags, ['v1', 'v2']);
  for (const tag of tags.tags) {
    const r = await copy(`docker://${srv.host}/${repo}:${tag}`, `oci:${join(dir, 'out')}:${tag}`, { registry: INSECURE });
    assert.ok(src.refs.some((ref) => ref.digest === r.digest), `${repo}:${tag} is one of the source's images`);
  }
});

test('what wharf sync --dest dir wrote is served too: each REPO:TAG folder becomes a tag, its files hard-linked, nothing copied', async (t) => {
  if (!requirePeer(t, 'skopeo')) return;
  const dir = await tempDir(t);
  const src = await buildLayout(join(dir, 'src'), [
    IMAGE,
    { ...IMAGE, tag: 'multi', platform: { os: 'linux', architecture: 'amd64' } },
    { ...IMAGE, tag: 'multi', platform: { os: 'linux', architecture: 'arm64' }, layers: [[{ path: 'arm', content: 'arm' }]] },
  ]);
  const upstream = await serveInProcess(t);
  await copy(`oci:${src.dir}:v1`, `docker://${upstream.host}/apps/web:v1`, { registry: INSECURE });
  await copy(`oci:${src.dir}:multi`, `docker://${upstream.host}/apps/web:multi`, { registry: INSECURE, all: true });
  const mirror = join(dir, 'mirror');
  await sync({ src: 'docker', dest: 'dir', source: `${upstream.host}/apps/web`, destination: mirror, sourceRegistry: INSECURE, all: true });
  const before = (await fsp.readdir(mirror)).sort();
  const srv = await serveInProcess(t, { storage: mirror });
  assert.deepEqual(srv.server.adopted.skipped, []);
  assert.equal(srv.server.adopted.adopted.length, 2, JSON.stringify(srv.server.adopted));
  const repo = srv.server.adopted.adopted[0]!.split(':')[0]!;
  const tags = (await (await fetch(`http://${srv.host}/v2/${repo}/tags/list`)).json()) as { tags: string[] };
  assert.deepEqual(tags.tags, ['multi', 'v1']);
  const single = await copy(`docker://${srv.host}/${repo}:v1`, `oci:${join(dir, 'out')}:v1`, { registry: INSECURE });
  assert.equal(single.digest, src.ref('v1').digest);
  const multi = await copy(`docker://${srv.host}/${repo}:multi`, `oci:${join(dir, 'out')}:multi`, { registry: INSECURE, all: true });
  assert.equal(multi.digest, src.ref('multi').digest, 'the index and its children are served');
  await runPeer('skopeo', ['--insecure-policy', 'copy', '-q', '--all', '--src-tls-verify=false', `docker://${srv.host}/${repo}:multi`, `oci:${join(dir, 'sk')}:m`]);
  // The dir: images are untouched, and the layout's blobs are their files (hard links: the same inodes).
  for (const name of before) assert.ok((await fsp.readdir(mirror)).includes(name), name);
  const layer = src.images[0]!.layers[1]!.digest.slice(7); // in both tags' folders: either copy may have been linked
  const copies = await Promise.all(before.map((n) => fsp.stat(join(mirror, n, layer)).then((st) => st.ino, () => -1)));
  const served = await fsp.stat(join(mirror, ...repo.split('/'), 'blobs', 'sha256', layer));
  assert.ok(copies.includes(served.ino), 'served from one of the dir: images\' own files');
  // A second start adopts nothing new and serves the same.
  await srv.server.close(100);
  const again = await serveInProcess(t, { storage: mirror });
  assert.equal(again.server.adopted.adopted.length, 2);
  assert.equal((await fetch(`http://${again.host}/v2/${repo}/manifests/v1`, { method: 'HEAD' })).status, 200);
});

test('dir: folders the server cannot serve are skipped with a reason, and it starts anyway', async (t) => {
  const dir = await tempDir(t);
  const storage = join(dir, 'storage');
  const dirImage = async (name: string, manifest: string | Buffer): Promise<void> => {
    await fsp.mkdir(join(storage, name), { recursive: true });
    await fsp.writeFile(join(storage, name, 'version'), 'Directory Transport Version: 1.1\n');
    await fsp.writeFile(join(storage, name, 'manifest.json'), manifest);
  };
  await dirImage('Bad-Name:v1', '{}');
  await dirImage('notags', '{}');
  await dirImage('junk:v1', 'not json at all');
  await dirImage('huge:v1', Buffer.alloc(5 << 20, 32));
  await dirImage('evil:..', '{}');
  const srv = await serveInProcess(t, { storage });
  assert.deepEqual(srv.server.adopted.adopted, []);
  const skipped = srv.server.adopted.skipped.join('\n');
  for (const name of ['Bad-Name:v1', 'notags', 'junk:v1', 'huge:v1', 'evil:..']) assert.ok(skipped.includes(name), `${name} in ${skipped}`);
  assert.equal((await fetch(`${srv.url}/v2/`)).status, 200);
  assert.deepEqual(((await (await fetch(`${srv.url}/v2/_catalog`)).json()) as { repositories: string[] }).repositories, []);
});

test('a blob pushed to two repositories is stored once (hard links), and one repository cannot read the other\'s blob', async (t) => {
  const srv = await serveInProcess(t);
  const dir = await tempDir(t);
  const src = await buildLayout(join(dir, 'src'), [IMAGE]);
  await copy(`oci:${src.dir}:v1`, `docker://${srv.host}/a/app:v1`, { registry: INSECURE });
  const layer = src.images[0]!.layers[1]!;
  // A second repository in another namespace: no mount source is known to the client, so the bytes are uploaded.
  await copy(`oci:${src.dir}:v1`, `docker://${srv.host}/b/app:v1`, { registry: INSECURE });
  const hex = layer.digest.slice(7);
  const a = await fsp.stat(join(srv.storage, 'a', 'app', 'blobs', 'sha256', hex));
  const b = await fsp.stat(join(srv.storage, 'b', 'app', 'blobs', 'sha256', hex));
  assert.equal(a.ino, b.ino, 'one inode for both repositories');
  assert.equal(a.nlink, 3, 'the shared store and two repositories');
  const other = await fetch(`http://${srv.host}/v2/c/app/blobs/${layer.digest}`, { method: 'HEAD' });
  assert.equal(other.status, 404, 'a repository without the blob does not serve it');
});

test('concurrent pushes of the same image to one tag and of different images to one tag lose nothing', async (t) => {
  const srv = await serveInProcess(t);
  const dir = await tempDir(t);
  const specs: ImageSpec[] = [0, 1, 2, 3].map((i) => ({ tag: `i${i}`, layers: [[{ path: 'shared', size: 200_000, seed: 'same' }], [{ path: `own${i}`, content: String(i) }]] }));
  const src = await buildLayout(join(dir, 'src'), specs);
  await Promise.all(specs.map((s) => copy(`oci:${src.dir}:${s.tag}`, `docker://${srv.host}/race/app:latest`, { registry: INSECURE })));
  await Promise.all(specs.map((s) => copy(`oci:${src.dir}:${s.tag}`, `docker://${srv.host}/race/app:${s.tag}`, { registry: INSECURE })));
  const index = JSON.parse(await fsp.readFile(join(srv.storage, 'race', 'app', 'index.json'), 'utf8')) as { manifests: { digest: string; annotations?: Record<string, string> }[] };
  const latest = index.manifests.filter((m) => m.annotations?.['org.opencontainers.image.ref.name'] === 'latest');
  assert.equal(latest.length, 1, 'one entry for the tag');
  assert.ok(src.refs.some((r) => r.digest === latest[0]!.digest), 'the tag names one of the pushed images');
  for (const s of specs) {
    const r = await copy(`docker://${srv.host}/race/app:${s.tag}`, `oci:${join(dir, 'out')}:${s.tag}`, { registry: INSECURE });
    assert.equal(r.digest, src.ref(s.tag!).digest);
  }
  // Every image pushed under `latest` is still there by digest (a tag that moved leaves its manifest reachable).
  for (const ref of src.refs) {
    const head = await fetch(`http://${srv.host}/v2/race/app/manifests/${ref.digest}`, { method: 'HEAD' });
    assert.equal(head.status, 200, ref.digest);
  }
});

test('an upload survives a restart: acknowledged chunks are kept, the blob verifies after the last PUT', async (t) => {
  const dir = await tempDir(t);
  const storage = join(dir, 'storage');
  const blob = Buffer.alloc(3 << 20, 7);
  blob.write('a distinctive start');
  const first = await startRegistryServer({ storage, port: 0 });
  const post = await fetch(`${first.url}/v2/up/app/blobs/uploads/`, { method: 'POST' });
  assert.equal(post.status, 202);
  const location = post.headers.get('location')!;
  const half = 1 << 20;
  const patch = await fetch(`${first.url}${location}`, {
    method: 'PATCH',
    body: blob.subarray(0, half),
    headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `0-${half - 1}` },
  });
  assert.equal(patch.status, 202);
  assert.equal(patch.headers.get('range'), `0-${half - 1}`);
  await first.close(100);
  const second = await startRegistryServer({ storage, port: 0 });
  t.after(() => second.close(100));
  const status = await fetch(`${second.url}${location}`);
  assert.equal(status.status, 204);
  assert.equal(status.headers.get('range'), `0-${half - 1}`, 'the restarted server knows what was acknowledged');
  const digest = sha256(blob);
  const put = await fetch(`${second.url}${location}?digest=${digest}`, {
    method: 'PUT',
    body: blob.subarray(half),
    headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${half}-${blob.length - 1}` },
  });
  assert.equal(put.status, 201, await put.text());
  const got = Buffer.from(await (await fetch(`${second.url}/v2/up/app/blobs/${digest}`)).arrayBuffer());
  assert.equal(sha256(got), digest);
});

test('wharf login and copy against wharf serve with auth: token flow end to end', async (t) => {
  if (!requirePeer(t, 'htpasswd', 'apache2-utils')) return;
  const dir = await tempDir(t);
  const srv = await serveInProcess(t, {
    auth: { users: { alice: 'w4rf-s3cret' }, access: [{ repositories: ['team/**'], users: ['alice'], actions: ['pull', 'push', 'delete'] }] },
  });
  const src = await buildLayout(join(dir, 'src'), [IMAGE]);
  const alice: RegistryAccess = { tlsVerify: false, credentials: async () => ({ username: 'alice', password: 'w4rf-s3cret' }) };
  const pushed = await copy(`oci:${src.dir}:v1`, `docker://${srv.host}/team/app:v1`, { registry: alice });
  assert.equal(pushed.digest, src.images[0]!.manifest.digest);
  await assert.rejects(copy(`docker://${srv.host}/team/app:v1`, `oci:${join(dir, 'anon')}:v1`, { registry: INSECURE }), (err: Error & { code?: string }) => err.code === 'AUTH_FAILED' || err.code === 'DENIED');
  const pulled = await copy(`docker://${srv.host}/team/app:v1`, `oci:${join(dir, 'pulled')}:v1`, { registry: alice });
  assert.equal(pulled.digest, pushed.digest);
  assert.ok(srv.log.some((e) => e.route === 'token' && e.status === 200), 'the client used the token endpoint');
  assert.ok(srv.log.every((e) => !JSON.stringify(e).includes('w4rf-s3cret')), 'no password in the access log');
});

test('wharf serve over TLS: skopeo pushes trusting the CA from --dest-cert-dir, wharf pulls with --src-cert-dir; without the CA skopeo refuses it', async (t) => {
  if (!requirePeer(t, 'skopeo') || !requirePeer(t, 'openssl')) return;
  const cert = await testCertificate('tls');
  const srv = await serveInProcess(t, { tls: { cert: Buffer.from(cert.certPem), key: Buffer.from(cert.keyPem) } });
  assert.match(srv.url, /^https:/);
  const dir = await tempDir(t);
  const certs = join(dir, 'certs');
  await fsp.mkdir(certs);
  await fsp.copyFile(cert.certPath, join(certs, 'ca.crt'));
  const src = await buildLayout(join(dir, 'src'), [IMAGE]);
  await runPeer('skopeo', ['--insecure-policy', 'copy', '-q', `--dest-cert-dir=${certs}`, `oci:${src.dir}:v1`, `docker://${srv.host}/tls/app:v1`]);
  const cli = WHARF_BIN;
  const out = await runPeer(process.execPath, [cli, 'copy', '-q', '--json', `--src-cert-dir=${certs}`, `docker://${srv.host}/tls/app:v1`, `oci:${join(dir, 'out')}:v1`]);
  assert.equal(JSON.parse(out).digest, src.images[0]!.manifest.digest);
  await assert.rejects(runPeer('skopeo', ['inspect', `docker://${srv.host}/tls/app:v1`]), /certificate|x509/, 'without the CA the certificate is not trusted');
});

test('blob GETs from the buffer pool: whole, ranged across chunk boundaries, and after clients that went away mid-body', async (t) => {
  const srv = await serveInProcess(t);
  const blob = randomBytes(5 * (1 << 20) + 12345);
  const digest = sha256(blob);
  assert.equal((await fetch(`${srv.url}/v2/pool/blobs/uploads/?digest=${digest}`, { method: 'POST', body: blob })).status, 201);
  // Clients that read a little and hang up: their buffers must not come back to the pool while a write holds them.
  for (let i = 0; i < 6; i++) {
    const controller = new AbortController();
    const res = await fetch(`${srv.url}/v2/pool/blobs/${digest}`, { signal: controller.signal });
    const reader = res.body!.getReader();
    await reader.read();
    controller.abort();
    await reader.cancel().catch(() => {});
  }
  const whole = await Promise.all([0, 1, 2, 3].map(async () => Buffer.from(await (await fetch(`${srv.url}/v2/pool/blobs/${digest}`)).arrayBuffer())));
  for (const got of whole) assert.equal(sha256(got), digest);
  const [from, to] = [(1 << 20) - 7, 3 * (1 << 20) + 9];
  const ranged = await fetch(`${srv.url}/v2/pool/blobs/${digest}`, { headers: { Range: `bytes=${from}-${to}` } });
  assert.equal(ranged.status, 206);
  assert.equal(ranged.headers.get('content-range'), `bytes ${from}-${to}/${blob.length}`);
  assert.ok(Buffer.from(await ranged.arrayBuffer()).equals(blob.subarray(from, to + 1)));
});

test('a small blob damaged on disk in one repository is never served from memory to another that has it whole', async (t) => {
  const srv = await serveInProcess(t);
  const blob = randomBytes(1000);
  const digest = sha256(blob);
  for (const repo of ['good', 'bad']) {
    assert.equal((await fetch(`${srv.url}/v2/${repo}/blobs/uploads/?digest=${digest}`, { method: 'POST', body: blob })).status, 201);
  }
  // Give `bad` its own damaged copy of the file (same size), as a hand-edited or bit-rotted layout would have.
  const badPath = join(srv.storage, 'bad', 'blobs', 'sha256', digest.slice(7));
  await fsp.rm(badPath);
  await fsp.writeFile(badPath, Buffer.alloc(blob.length, 0));
  const fromBad = Buffer.from(await (await fetch(`${srv.url}/v2/bad/blobs/${digest}`)).arrayBuffer());
  assert.notEqual(sha256(fromBad), digest, 'the damaged copy is what bad holds');
  const fromGood = Buffer.from(await (await fetch(`${srv.url}/v2/good/blobs/${digest}`)).arrayBuffer());
  assert.equal(sha256(fromGood), digest);
  const again = Buffer.from(await (await fetch(`${srv.url}/v2/good/blobs/${digest}`)).arrayBuffer());
  assert.equal(sha256(again), digest, 'served from memory: still the right bytes');
});

test('podman pulls from wharf serve and pushes to it (a second real client besides skopeo)', async (t) => {
  if (!requirePeer(t, 'podman')) return;
  const srv = await serveInProcess(t);
  const dir = await tempDir(t);
  const src = await buildLayout(join(dir, 'src'), [IMAGE]);
  await copy(`oci:${src.dir}:v1`, `docker://${srv.host}/lib/app:v1`, { registry: INSECURE });
  // Its own storage in the test's folder: nothing of the machine's podman state is read or changed.
  const podman = (...args: string[]) => runPeer('podman', ['--root', join(dir, 'root'), '--runroot', join(dir, 'run'), '--storage-driver', 'vfs', ...args]);
  await podman('pull', '-q', '--tls-verify=false', `${srv.host}/lib/app:v1`);
  const inspected = JSON.parse(await podman('image', 'inspect', `${srv.host}/lib/app:v1`)) as { Digest: string }[];
  assert.equal(inspected[0]!.Digest, src.images[0]!.manifest.digest);
  await podman('tag', `${srv.host}/lib/app:v1`, `${srv.host}/lib/app:from-podman`);
  await podman('push', '-q', '--tls-verify=false', `${srv.host}/lib/app:from-podman`);
  const pulled = await copy(`docker://${srv.host}/lib/app:from-podman`, `oci:${join(dir, 'back')}:x`, { registry: INSECURE });
  const config = JSON.parse((await inspect(`oci:${join(dir, "back")}:x`)).rawConfig!.toString()) as { rootfs: { diff_ids: string[] } };
  assert.deepEqual(config.rootfs.diff_ids, src.images[0]!.diffIds, 'the same layers came back');
  assert.ok(pulled.digest.startsWith('sha256:'));
});
