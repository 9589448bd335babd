import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { copy, inspect, MediaType, WharfError, type CopyEvent } from '../src/index.js';
import { buildLayout, type ImageSpec } from './helpers/images.js';
import { requirePeer, runPeer, tempDir } from './helpers/peers.js';

const IMAGE: ImageSpec = {
  tag: 'v1',
  layers: [[{ path: 'a/file', size: 50_000 }], [{ path: 'b/file', content: 'b' }]],
  config: { Env: ['X=1'] },
};

for (const compression of ['zstd', 'none', 'gzip'] as const) {
  test(`--dest-compress-format ${compression} recompresses layers and keeps diff_ids`, async (t) => {
    if (compression === 'zstd' && !requirePeer(t, 'zstd')) return;
    const dir = await tempDir(t);
    const src = await buildLayout(join(dir, 'src'), [IMAGE]);
    const r = await copy(`oci:${src.dir}:v1`, `oci:${join(dir, 'out')}:v1`, { compression });
    const info = await inspect(`oci:${join(dir, 'out')}:v1`);
    const want = compression === 'none' ? MediaType.OciLayer : `${MediaType.OciLayer}+${compression}`;
    assert.deepEqual(info.output.LayersData.map((l) => l.MIMEType), [want, want]);
    assert.deepEqual(info.config.rootfs.diff_ids, src.images[0]!.diffIds);
    if (compression === 'none') assert.deepEqual(info.output.Layers, src.images[0]!.diffIds, 'plain layers are their diff_ids');
    if (compression === 'gzip') assert.equal(r.digest, src.images[0]!.manifest.digest, 'gzip to gzip is a byte-for-byte copy');
    else assert.notEqual(r.digest, src.images[0]!.manifest.digest);
    // And back to gzip: the same filesystem content.
    await copy(`oci:${join(dir, 'out')}:v1`, `oci:${join(dir, 'back')}:v1`, { compression: 'gzip' });
    const back = await inspect(`oci:${join(dir, 'back')}:v1`);
    assert.deepEqual(back.config.rootfs.diff_ids, src.images[0]!.diffIds);
    if (compression !== 'zstd' && requirePeer(t, 'umoci')) {
      await runPeer('umoci', ['unpack', '--rootless', '--image', `${join(dir, 'out')}:v1`, join(dir, 'bundle')]);
      assert.equal((await readFile(join(dir, 'bundle', 'rootfs', 'b', 'file'))).toString(), 'b');
    }
  });
}

test('progress events arrive in order and account for every blob', async (t) => {
  const dir = await tempDir(t);
  const src = await buildLayout(join(dir, 'src'), [IMAGE]);
  const events: CopyEvent[] = [];
  const r = await copy(`oci:${src.dir}:v1`, `oci:${join(dir, 'out')}:v1`, { onEvent: (e) => events.push(e) });
  assert.equal(events[0]!.type, 'copy-start');
  assert.equal(events.at(-1)!.type, 'copy-done');
  const done = events.filter((e) => e.type === 'blob-done');
  assert.equal(done.length, 3, 'config and two layers');
  assert.equal(r.blobsCopied, 3);
  for (const d of done) {
    const starts = events.findIndex((e) => e.type === 'blob-start' && e.digest === d.digest);
    assert.ok(starts >= 0 && starts < events.indexOf(d));
  }
  // A second copy into the same layout sends nothing.
  const events2: CopyEvent[] = [];
  const r2 = await copy(`oci:${src.dir}:v1`, `oci:${join(dir, 'out')}:again`, { onEvent: (e) => events2.push(e) });
  assert.equal(r2.blobsSkipped, 3);
  assert.equal(r2.bytesWritten, 0);
  assert.equal(events2.filter((e) => e.type === 'blob-skipped').length, 3);
});

test('an aborted copy stops and leaves the destination as it was', async (t) => {
  const dir = await tempDir(t);
  const src = await buildLayout(join(dir, 'src'), [{ tag: 'big', layers: [[{ path: 'big', size: 64 << 20 }]] }], { gzipLevel: 1 });
  const controller = new AbortController();
  const p = copy(`oci:${src.dir}:big`, `oci:${join(dir, 'out')}:big`, {
    signal: controller.signal,
    onEvent: (e) => {
      if (e.type === 'blob-progress' && e.bytes > 0) controller.abort();
    },
  });
  await assert.rejects(p, (err: unknown) => err instanceof WharfError && err.code === 'ABORTED');
  await assert.rejects(readFile(join(dir, 'out', 'index.json')));
});

test('a v2s2 image converts to OCI in an oci: layout, blobs unchanged, and skopeo reads it', async (t) => {
  if (!requirePeer(t, 'skopeo')) return;
  const dir = await tempDir(t);
  const src = await buildLayout(join(dir, 'src'), [IMAGE], { format: 'v2s2' });
  const ours = await copy(`oci:${src.dir}:v1`, `oci:${join(dir, 'ours')}:v1`);
  const raw = JSON.parse((await inspect(`oci:${join(dir, 'ours')}:v1`)).rawManifest.toString());
  assert.equal(raw.mediaType, MediaType.OciManifest);
  assert.equal(raw.config.mediaType, MediaType.OciConfig);
  assert.equal(raw.config.digest, src.images[0]!.config.digest, 'the config bytes are kept');
  assert.deepEqual(
    raw.layers.map((l: { mediaType: string; digest: string }) => [l.mediaType, l.digest]),
    src.images[0]!.layers.map((l) => [MediaType.OciLayerGzip, l.digest]),
  );
  const sk = JSON.parse(await runPeer('skopeo', ['inspect', `oci:${join(dir, 'ours')}:v1`]));
  assert.equal(sk.Digest, ours.digest);
});

test('a gzip layer that is corrupt in the middle is a digest error, even when decompression fails first', async (t) => {
  const { corruptBlob } = await import('./helpers/images.js');
  const dir = await tempDir(t);
  const src = await buildLayout(join(dir, 'src'), [IMAGE]);
  await corruptBlob(src.dir, src.images[0]!.layers[0]!.digest);
  // docker-archive decompresses, so zlib meets the damage before the digest is complete.
  await assert.rejects(copy(`oci:${src.dir}:v1`, `docker-archive:${join(dir, 'a.tar')}:x/y:z`), (err: unknown) => {
    assert.ok(err instanceof WharfError);
    assert.equal(err.code, 'DIGEST_MISMATCH', err.message);
    return true;
  });
});

test('a layer that matches its digest but is not valid gzip is LAYER_INVALID, not a digest error', async (t) => {
  const { writeFile } = await import('node:fs/promises');
  const { createHash } = await import('node:crypto');
  const dir = await tempDir(t);
  const src = await buildLayout(join(dir, 'src'), [IMAGE]);
  // Rewrite the layer with a gzip header followed by garbage, and fix up the digests so everything "verifies".
  const bad = Buffer.concat([Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]), Buffer.alloc(5000, 0xab)]);
  const badDigest = `sha256:${createHash('sha256').update(bad).digest('hex')}`;
  await writeFile(join(src.dir, 'blobs', 'sha256', badDigest.slice(7)), bad);
  const img = src.images[0]!;
  const manifest = JSON.parse(img.manifest.bytes.toString());
  manifest.layers[0] = { ...manifest.layers[0], digest: badDigest, size: bad.length };
  const mBytes = Buffer.from(JSON.stringify(manifest));
  const mDigest = `sha256:${createHash('sha256').update(mBytes).digest('hex')}`;
  await writeFile(join(src.dir, 'blobs', 'sha256', mDigest.slice(7)), mBytes);
  await writeFile(join(src.dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: MediaType.OciManifest, digest: mDigest, size: mBytes.length, annotations: { 'org.opencontainers.image.ref.name': 'v1' } }] }));
  await assert.rejects(copy(`oci:${src.dir}:v1`, `docker-archive:${join(dir, 'a.tar')}:x/y:z`), (err: unknown) => {
    assert.ok(err instanceof WharfError);
    assert.equal(err.code, 'LAYER_INVALID', err.message);
    return true;
  });
});

test('--preserve-digests: a copy that would convert fails and the destination is left as it was', async (t) => {
  const { snapshot } = await import('./helpers/tree.js');
  const dir = await tempDir(t);
  const src = await buildLayout(join(dir, 'src'), [IMAGE], { format: 'v2s2' });
  // oci: stores only OCI manifests, so a Docker v2s2 source is converted: its digest would change.
  await assert.rejects(copy(`oci:${src.dir}:v1`, `oci:${join(dir, 'out')}:v1`, { preserveDigests: true }), (err: unknown) => {
    assert.ok(err instanceof WharfError && err.code === 'CONVERSION_UNSUPPORTED', String(err));
    assert.match(err.message, new RegExp(src.images[0]!.manifest.digest));
    return true;
  });
  assert.equal(await snapshot(join(dir, 'out')), '. absent');
  // A byte-for-byte copy passes.
  const ok = await copy(`oci:${src.dir}:v1`, `dir:${join(dir, 'd')}`, { preserveDigests: true });
  assert.equal(ok.digest, src.images[0]!.manifest.digest);
});

test('additional tags: a docker-archive stores the image under every name, as skopeo --additional-tag', async (t) => {
  const dir = await tempDir(t);
  const src = await buildLayout(join(dir, 'src'), [IMAGE]);
  const archive = join(dir, 'a.tar');
  await copy(`oci:${src.dir}:v1`, `docker-archive:${archive}:example.com/app:1`, { additionalTags: ['example.com/app:latest', 'other/name:2'] });
  for (const name of ['example.com/app:1', 'example.com/app:latest', 'other/name:2']) {
    const info = await inspect(`docker-archive:${archive}:${name}`);
    assert.deepEqual(info.config.rootfs.diff_ids, src.images[0]!.diffIds, name);
  }
  await assert.rejects(inspect(`docker-archive:${archive}:example.com/app:nope`), (err: unknown) => err instanceof WharfError && err.code === 'IMAGE_NOT_FOUND');
});

test('schema 1: inspected and copied as it is to dir:, refused where it would need converting', async (t) => {
  const { writeFile, mkdir } = await import('node:fs/promises');
  const { gzipSync } = await import('node:zlib');
  const { digestOf } = await import('../src/index.js');
  const dir = await tempDir(t);
  const src = join(dir, 's1');
  await mkdir(src);
  const layer = gzipSync(Buffer.from('not really a tar, but a blob'));
  const blobSum = digestOf(layer);
  const manifest = {
    schemaVersion: 1,
    name: 'library/old',
    tag: 'v1',
    architecture: 'amd64',
    fsLayers: [{ blobSum }, { blobSum }],
    history: [
      { v1Compatibility: JSON.stringify({ id: 'b', created: '2016-01-01T00:00:00Z', os: 'linux', architecture: 'amd64', config: { Env: ['OLD=1'] } }) },
      { v1Compatibility: JSON.stringify({ id: 'a', created: '2015-01-01T00:00:00Z', throwaway: true }) },
    ],
  };
  await writeFile(join(src, 'manifest.json'), JSON.stringify(manifest));
  await writeFile(join(src, blobSum.slice(7)), layer);
  await writeFile(join(src, 'version'), 'Directory Transport Version: 1.1\n');
  const info = await inspect(`dir:${src}`);
  assert.deepEqual(info.output.Env, ['OLD=1']);
  assert.deepEqual(info.output.Layers, [blobSum], 'the throwaway entry is not a layer');
  const r = await copy(`dir:${src}`, `dir:${join(dir, 'out')}`);
  assert.equal(r.digest, digestOf(JSON.stringify(manifest)), 'copied byte for byte');
  assert.equal(r.blobsCopied, 1, 'the repeated blobSum is copied once');
  await assert.rejects(copy(`dir:${src}`, `oci:${join(dir, 'oci')}:x`), (err: unknown) => err instanceof WharfError && err.code === 'CONVERSION_UNSUPPORTED');
});
