/**
 * Garbage collection of a `wharf serve` storage: what it removes, and above all what it must never remove —
 * a blob a manifest needs, an index's children, a referrer of a kept manifest, an upload in progress, and the
 * blobs of an image whose manifest is still being pushed (distribution/distribution#3004, #4939).
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { collectGarbage, type GcOptions } from '../src/server/storage/gc.js';
import { RegistryStore } from '../src/server/storage/store.js';
import { buildLayout } from './helpers/images.js';
import { tempDir } from './helpers/peers.js';
import { serveInProcess, type InProcessRegistry } from './helpers/serve.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const sha256 = (b: Buffer | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

interface Pushed {
  digest: string;
  size: number;
  mediaType: string;
}

async function pushBlob(srv: InProcessRegistry, repo: string, bytes: Buffer, mediaType = 'application/vnd.oci.image.layer.v1.tar'): Promise<Pushed> {
  const digest = sha256(bytes);
  const r = await fetch(`${srv.url}/v2/${repo}/blobs/uploads/?digest=${digest}`, { method: 'POST', body: bytes, headers: { 'Content-Type': 'application/octet-stream' } });
  assert.equal(r.status, 201, await r.text());
  return { digest, size: bytes.length, mediaType };
}

async function pushManifest(srv: InProcessRegistry, repo: string, reference: string | undefined, value: object, mediaType: string): Promise<Pushed> {
  const bytes = Buffer.from(JSON.stringify({ ...value, mediaType }));
  const digest = sha256(bytes);
  const r = await fetch(`${srv.url}/v2/${repo}/manifests/${reference ?? digest}`, { method: 'PUT', body: bytes, headers: { 'Content-Type': mediaType } });
  assert.equal(r.status, 201, await r.text());
  return { digest, size: bytes.length, mediaType };
}

/** An image of one config and the given layers (each a fresh random blob unless given). */
async function pushImage(srv: InProcessRegistry, repo: string, tag: string | undefined, layers: Pushed[], extra: object = {}): Promise<{ manifest: Pushed; config: Pushed; layers: Pushed[] }> {
  const config = await pushBlob(srv, repo, Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, n: randomBytes(4).toString('hex') })), 'application/vnd.oci.image.config.v1+json');
  const manifest = await pushManifest(srv, repo, tag, { schemaVersion: 2, config, layers, ...extra }, OCI_MANIFEST);
  return { manifest, config, layers };
}

async function status(srv: InProcessRegistry, path: string): Promise<number> {
  return (await fetch(`${srv.url}${path}`, { method: 'HEAD' })).status;
}

async function listFiles(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const e of await fsp.readdir(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) await walk(p);
      else out.push(relative(root, p));
    }
  };
  await walk(root);
  return out.sort();
}

const now: GcOptions = { graceMs: 0, uploadExpiryMs: 7 * 86_400_000 };

test('gc keeps every blob a tagged or untagged manifest needs; --delete-untagged frees what only an untagged one needed', async (t) => {
  const srv = await serveInProcess(t);
  const shared = await pushBlob(srv, 'app', randomBytes(2000));
  const onlyA = await pushBlob(srv, 'app', randomBytes(3000));
  const onlyB = await pushBlob(srv, 'app', randomBytes(4000));
  const a = await pushImage(srv, 'app', '1', [shared, onlyA]);
  const b = await pushImage(srv, 'app', '1', [shared, onlyB]); // the tag moves: A is untagged now
  const plain = await collectGarbage(srv.store, now);
  assert.deepEqual(plain.blobs, [], 'an untagged manifest still holds its blobs');
  assert.equal(await status(srv, `/v2/app/manifests/${a.manifest.digest}`), 200);
  assert.equal(await status(srv, `/v2/app/blobs/${onlyA.digest}`), 200);

  const report = await collectGarbage(srv.store, { ...now, deleteUntagged: true });
  assert.deepEqual(report.manifests.map((m) => m.digest), [a.manifest.digest]);
  assert.deepEqual(new Set(report.freed.map((f) => f.digest)), new Set([a.manifest.digest, a.config.digest, onlyA.digest]));
  assert.equal(report.bytesFreed, a.manifest.size + a.config.size + onlyA.size);
  assert.equal(await status(srv, `/v2/app/manifests/${a.manifest.digest}`), 404);
  assert.equal(await status(srv, `/v2/app/blobs/${onlyA.digest}`), 404);
  for (const d of [b.manifest.digest, b.config.digest, shared.digest, onlyB.digest]) {
    assert.equal(await status(srv, d === b.manifest.digest ? `/v2/app/manifests/${d}` : `/v2/app/blobs/${d}`), 200, d);
  }
  assert.equal(await status(srv, '/v2/app/manifests/1'), 200);
});

test("gc never removes an index's children, even untagged and with --delete-untagged", async (t) => {
  const srv = await serveInProcess(t);
  const children: Pushed[] = [];
  const all: string[] = [];
  for (let i = 0; i < 2; i++) {
    const layer = await pushBlob(srv, 'multi', randomBytes(1000));
    const img = await pushImage(srv, 'multi', undefined, [layer]); // pushed by digest, as clients push children
    children.push({ ...img.manifest });
    all.push(img.manifest.digest, img.config.digest, layer.digest);
  }
  const index = await pushManifest(srv, 'multi', 'latest', { schemaVersion: 2, manifests: children.map((c, i) => ({ ...c, platform: { os: 'linux', architecture: i ? 'arm64' : 'amd64' } })) }, OCI_INDEX);
  const report = await collectGarbage(srv.store, { ...now, deleteUntagged: true });
  assert.deepEqual(report.manifests, []);
  assert.deepEqual(report.blobs, []);
  for (const d of all) assert.equal(await status(srv, `/v2/multi/blobs/${d}`), 200, d);
  assert.equal(await status(srv, `/v2/multi/manifests/${index.digest}`), 200);
});

test('gc keeps a referrer of a kept manifest (a signature, an SBOM) and its blobs; it goes with its subject', async (t) => {
  const srv = await serveInProcess(t);
  const subject = await pushImage(srv, 'signed', 'v1', [await pushBlob(srv, 'signed', randomBytes(500))]);
  const sigLayer = await pushBlob(srv, 'signed', Buffer.from('a signature'), 'application/vnd.example.signature');
  const empty = await pushBlob(srv, 'signed', Buffer.from('{}'), 'application/vnd.oci.empty.v1+json');
  const sig = await pushManifest(srv, 'signed', undefined, { schemaVersion: 2, artifactType: 'application/vnd.example.signature', config: empty, layers: [sigLayer], subject: subject.manifest }, OCI_MANIFEST);
  const kept = await collectGarbage(srv.store, { ...now, deleteUntagged: true });
  assert.deepEqual(kept.manifests, []);
  assert.deepEqual(kept.blobs, []);
  const referrers = (await (await fetch(`${srv.url}/v2/signed/referrers/${subject.manifest.digest}`)).json()) as { manifests: Pushed[] };
  assert.deepEqual(referrers.manifests.map((m) => m.digest), [sig.digest]);
  // Untag the subject: now neither it nor its signature is reachable from a tag.
  assert.equal((await fetch(`${srv.url}/v2/signed/manifests/v1`, { method: 'DELETE' })).status, 202);
  const gone = await collectGarbage(srv.store, { ...now, deleteUntagged: true });
  assert.deepEqual(new Set(gone.manifests.map((m) => m.digest)), new Set([subject.manifest.digest, sig.digest]));
  assert.equal(await status(srv, `/v2/signed/blobs/${sigLayer.digest}`), 404);
});

test('gc keeps the blobs of an image still being pushed (younger than the grace period) and uploads in progress', async (t) => {
  const srv = await serveInProcess(t);
  const early = await pushBlob(srv, 'pushing', randomBytes(5000)); // no manifest names it yet
  const post = await fetch(`${srv.url}/v2/pushing/blobs/uploads/`, { method: 'POST' });
  const location = post.headers.get('location')!;
  const part = randomBytes(4096);
  const rest = randomBytes(1000);
  assert.equal((await fetch(`${srv.url}${location}`, { method: 'PATCH', body: part, headers: { 'Content-Range': `0-${part.length - 1}` } })).status, 202);

  const withGrace = await collectGarbage(srv.store, { graceMs: 3_600_000, uploadExpiryMs: 7 * 86_400_000 });
  assert.deepEqual(withGrace.blobs, []);
  assert.equal(withGrace.uploads, 0);
  assert.ok(withGrace.keptYoung >= 1);
  assert.equal(await status(srv, `/v2/pushing/blobs/${early.digest}`), 200);
  // The push goes on: its manifest can name the early blob, and the upload finishes.
  const digest = sha256(Buffer.concat([part, rest]));
  const put = await fetch(`${srv.url}${location}?digest=${digest}`, { method: 'PUT', body: rest, headers: { 'Content-Range': `${part.length}-${part.length + rest.length - 1}` } });
  assert.equal(put.status, 201);
  await pushImage(srv, 'pushing', 'done', [early, { digest, size: part.length + rest.length, mediaType: 'application/vnd.oci.image.layer.v1.tar' }]);
  assert.deepEqual((await collectGarbage(srv.store, now)).blobs, []);
});

test('gc without a grace period removes unreferenced blobs, and stale uploads once they expire', async (t) => {
  const srv = await serveInProcess(t);
  const orphan = await pushBlob(srv, 'orphans', randomBytes(700));
  const post = await fetch(`${srv.url}/v2/orphans/blobs/uploads/`, { method: 'POST' });
  assert.equal(post.status, 202);
  const report = await collectGarbage(srv.store, { graceMs: 0, uploadExpiryMs: 0, now: Date.now() + 1000 });
  assert.deepEqual(report.blobs.map((b) => b.digest), [orphan.digest]);
  assert.equal(report.uploads, 1);
  assert.equal(await status(srv, `/v2/orphans/blobs/${orphan.digest}`), 404);
  assert.equal((await fetch(`${srv.url}${post.headers.get('location')}`)).status, 404, 'the abandoned upload is gone');
});

test('gc --dry-run reports and changes nothing', async (t) => {
  const srv = await serveInProcess(t);
  const a = await pushImage(srv, 'dry', '1', [await pushBlob(srv, 'dry', randomBytes(100))]);
  await pushImage(srv, 'dry', '1', [await pushBlob(srv, 'dry', randomBytes(100))]);
  await pushBlob(srv, 'dry', randomBytes(100));
  const before = await listFiles(srv.storage);
  const index = await fsp.readFile(join(srv.storage, 'dry', 'index.json'), 'utf8');
  const report = await collectGarbage(srv.store, { ...now, deleteUntagged: true, dryRun: true });
  assert.equal(report.dryRun, true);
  assert.deepEqual(report.manifests.map((m) => m.digest), [a.manifest.digest]);
  assert.equal(report.freed.length, 4, "the orphan, and the untagged manifest's bytes, config and layer");
  assert.deepEqual(await listFiles(srv.storage), before);
  assert.equal(await fsp.readFile(join(srv.storage, 'dry', 'index.json'), 'utf8'), index);
});

test('a blob two repositories share: gc of one repository unlinks it there and frees nothing while the other holds it', async (t) => {
  const srv = await serveInProcess(t);
  const layer = randomBytes(1234);
  const inA = await pushImage(srv, 'a', '1', [await pushBlob(srv, 'a', layer)]);
  await pushImage(srv, 'b', '1', [await pushBlob(srv, 'b', layer)]);
  assert.equal((await fetch(`${srv.url}/v2/a/manifests/${inA.manifest.digest}`, { method: 'DELETE' })).status, 202);
  const report = await collectGarbage(srv.store, now);
  assert.ok(report.blobs.some((b) => b.repository === 'a' && b.digest === sha256(layer)));
  assert.ok(!report.freed.some((f) => f.digest === sha256(layer)), 'b still links it');
  assert.equal(await status(srv, `/v2/b/blobs/${sha256(layer)}`), 200);
  assert.equal(await status(srv, `/v2/a/blobs/${sha256(layer)}`), 404);
});

test('a repository with a manifest gc cannot read is skipped, not swept', async (t) => {
  const srv = await serveInProcess(t);
  const img = await pushImage(srv, 'broken', '1', [await pushBlob(srv, 'broken', randomBytes(300))]);
  await pushBlob(srv, 'broken', randomBytes(300)); // an orphan that would be swept
  // Damage the manifest's bytes in place (same inode, so every hard link sees it).
  await fsp.writeFile(join(srv.storage, 'broken', 'blobs', 'sha256', img.manifest.digest.slice(7)), 'not json');
  // A store of its own, whose caches have not seen the manifest (as `wharf registry gc` in another process).
  const report = await collectGarbage(await RegistryStore.open(srv.storage), now);
  assert.deepEqual(report.skipped, ['broken']);
  assert.deepEqual(report.blobs, []);
});

test("gc of a layout wharf copy wrote (an index's children not listed in index.json) keeps every child and its blobs", async (t) => {
  const dir = await tempDir(t);
  const storage = join(dir, 'storage');
  const src = await buildLayout(join(storage, 'copied', 'app'), [
    { tag: 'm', platform: { os: 'linux', architecture: 'amd64' }, layers: [[{ path: 'a', content: 'amd64' }]] },
    { tag: 'm', platform: { os: 'linux', architecture: 'arm64' }, layers: [[{ path: 'a', content: 'arm64' }]] },
  ]);
  const store = await RegistryStore.open(storage);
  const report = await collectGarbage(store, { ...now, deleteUntagged: true });
  assert.deepEqual(report.blobs, []);
  assert.deepEqual(report.manifests, []);
  const left = await listFiles(join(storage, 'copied', 'app', 'blobs'));
  assert.deepEqual(left, src.blobs.map((d) => join('sha256', d.slice(7))).sort());
  // An orphan dropped into the same layout is swept: the walk did run.
  await fsp.writeFile(join(storage, 'copied', 'app', 'blobs', 'sha256', 'f'.repeat(64)), 'orphan');
  const second = await collectGarbage(store, now);
  assert.deepEqual(second.blobs.map((b) => b.digest), [`sha256:${'f'.repeat(64)}`]);
});

test('one gc run with a grace period frees what a deleted image left: its own unlinks do not make blobs look young', async (t) => {
  const srv = await serveInProcess(t);
  const img = await pushImage(srv, 'once', '1', [await pushBlob(srv, 'once', randomBytes(2048))]);
  assert.equal((await fetch(`${srv.url}/v2/once/manifests/${img.manifest.digest}`, { method: 'DELETE' })).status, 202);
  await new Promise((r) => setTimeout(r, 300)); // older than the grace below
  const report = await collectGarbage(srv.store, { graceMs: 200, uploadExpiryMs: 7 * 86_400_000 });
  assert.deepEqual(new Set(report.freed.map((f) => f.digest)), new Set([img.manifest.digest, img.config.digest, img.layers[0]!.digest]));
  assert.equal(report.keptYoung, 0);
});
