/**
 * The synthetic image builder is the ground truth of every transport test, so check it against the established
 * tools: what it writes must be accepted by umoci and skopeo, with the digests it reports.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { digestOf } from '../src/digest/index.js';
import { MediaType } from '../src/oci/media-types.js';
import {
  MiB,
  blobPath,
  buildLayout,
  corruptBlob,
  largeLayer,
  pseudoRandomBytes,
  removeBlob,
  tarBytes,
  type ImageSpec,
} from './helpers/images.js';
import { requirePeer, runPeer, tempDir } from './helpers/peers.js';

/** sha256 of a tar with no entries: two zero blocks. The well-known "empty layer" diff_id. */
const EMPTY_TAR_DIFF_ID = 'sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef';

const BASIC: ImageSpec = {
  tag: 'basic',
  layers: [
    [
      { path: 'etc/hello.txt', content: 'hello\n' },
      { path: 'usr/bin/tool', size: 5000, mode: 0o755 },
      { path: 'bin/sh', type: 'symlink', linkTarget: '/usr/bin/tool' },
      { path: `deep/${'d'.repeat(120)}/file.txt`, content: 'long path\n' },
    ],
    [{ path: 'etc/hello.txt', content: 'bye\n' }],
  ],
  config: {
    Env: ['PATH=/usr/bin:/bin', 'A=1'],
    Cmd: ['/bin/sh'],
    Entrypoint: ['/usr/bin/tool'],
    Labels: { 'org.opencontainers.image.title': 'basic' },
    User: '1000:1000',
    WorkingDir: '/work',
    ExposedPorts: ['8080/tcp'],
    created: '2023-05-06T07:08:09Z',
    history: [
      { created: '2023-05-06T07:08:09Z', created_by: 'ADD files' },
      { created: '2023-05-06T07:08:09Z', created_by: 'RUN echo bye', comment: 'second' },
    ],
  },
};

const MULTI: ImageSpec[] = [
  { tag: 'multi', platform: { os: 'linux', architecture: 'amd64' }, layers: [[{ path: 'arch', content: 'amd64\n' }]] },
  { tag: 'multi', platform: { os: 'linux', architecture: 'arm64', variant: 'v8' }, layers: [[{ path: 'arch', content: 'arm64\n' }]] },
  { tag: 'multi', platform: { os: 'linux', architecture: 'arm', variant: 'v7' }, layers: [[{ path: 'arch', content: 'arm\n' }]] },
];

interface SkopeoInspect {
  Digest: string;
  Architecture: string;
  Os: string;
  Layers: string[];
  Env: string[] | null;
  Labels: Record<string, string> | null;
  Created: string;
}

async function skopeoInspect(ref: string, ...extra: string[]): Promise<SkopeoInspect> {
  return JSON.parse(await runPeer('skopeo', ['inspect', ...extra, ref])) as SkopeoInspect;
}

async function sha256File(path: string): Promise<string> {
  return `sha256:${createHash('sha256').update(await fsp.readFile(path)).digest('hex')}`;
}

test('builder: layout files, digests and configs are consistent and deterministic', async (t) => {
  const tmp = await tempDir(t);
  const a = await buildLayout(join(tmp, 'a'), [BASIC, ...MULTI, { tag: 'zero' }]);
  const b = await buildLayout(join(tmp, 'b'), [BASIC, ...MULTI, { tag: 'zero' }]);
  assert.deepEqual(a.refs.map((r) => r.digest), b.refs.map((r) => r.digest), 'same specs, same digests');

  assert.deepEqual(JSON.parse(await fsp.readFile(join(a.dir, 'oci-layout'), 'utf8')), { imageLayoutVersion: '1.0.0' });
  const index = JSON.parse(await fsp.readFile(join(a.dir, 'index.json'), 'utf8')) as { manifests: { digest: string; annotations?: Record<string, string> }[] };
  assert.deepEqual(
    index.manifests.map((m) => [m.annotations?.['org.opencontainers.image.ref.name'], m.digest]),
    a.refs.map((r) => [r.tag, r.digest]),
  );
  for (const d of a.blobs) assert.equal(await sha256File(blobPath(a.dir, d)), d, `blob ${d} is named by its digest`);

  const basic = a.ref('basic').images[0]!;
  assert.equal(a.ref('basic').isIndex, false);
  assert.deepEqual(basic.config.json.rootfs.diff_ids, basic.diffIds);
  assert.deepEqual(basic.config.json.config?.ExposedPorts, { '8080/tcp': {} });
  assert.equal(basic.layers.length, 2);
  assert.equal(a.ref('multi').isIndex, true);
  assert.equal(a.ref('multi').images.length, 3);
  const idx = JSON.parse(a.ref('multi').bytes.toString()) as { mediaType: string; manifests: { platform: unknown }[] };
  assert.equal(idx.mediaType, MediaType.OciIndex);
  assert.deepEqual(idx.manifests.map((m) => m.platform), [
    { os: 'linux', architecture: 'amd64' },
    { os: 'linux', architecture: 'arm64', variant: 'v8' },
    { os: 'linux', architecture: 'arm', variant: 'v7' },
  ]);
  assert.equal(a.ref('zero').images[0]!.layers.length, 0);

  // append keeps other tags and replaces a re-built one
  await buildLayout(a.dir, [{ tag: 'zero', config: { Env: ['X=1'] } }, { tag: 'extra' }], { append: true });
  const again = JSON.parse(await fsp.readFile(join(a.dir, 'index.json'), 'utf8')) as { manifests: { annotations?: Record<string, string> }[] };
  assert.deepEqual(again.manifests.map((m) => m.annotations?.['org.opencontainers.image.ref.name']), ['basic', 'multi', 'zero', 'extra']);
});

test('builder: the ustar writer makes archives GNU tar lists as intended', async (t) => {
  if (!requirePeer(t, 'tar')) return;
  const tmp = await tempDir(t);
  const longName = `p/${'x'.repeat(140)}/${'y'.repeat(90)}.txt`; // needs the ustar prefix field
  const paxName = `q/${'z'.repeat(200)}`; // a single component over 100 bytes: needs a PAX header
  const bytes = await tarBytes([
    { path: '/abs/file', content: 'a' },
    { path: longName, content: 'long' },
    { path: paxName, size: 1234 },
    { path: 'link', type: 'symlink', linkTarget: `/${'t'.repeat(150)}` },
    { path: 'hard', type: 'hardlink', linkTarget: 'abs/file' },
    { path: 'ünïcode', content: 'u' },
    { path: 'emptydir', type: 'dir', mode: 0o700 },
  ]);
  assert.equal(bytes.length % 512, 0);
  const file = join(tmp, 'x.tar');
  await fsp.writeFile(file, bytes);
  const listing = (await runPeer('tar', ['-tf', file])).trim().split('\n');
  assert.deepEqual(listing, [
    'abs/',
    'abs/file',
    'p/',
    `p/${'x'.repeat(140)}/`,
    longName,
    'q/',
    paxName,
    'link',
    'hard',
    'ünïcode',
    'emptydir/',
  ]);
  const verbose = await runPeer('tar', ['-tvf', file]);
  assert.match(verbose, new RegExp(`1234 .* ${paxName}`));
  assert.match(verbose, new RegExp(`link -> /${'t'.repeat(150)}`));
  assert.match(verbose, /hard link to abs\/file/);
  assert.match(verbose, /drwx------ .* emptydir\//);

  assert.equal(digestOf(await tarBytes([])), EMPTY_TAR_DIFF_ID);
  assert.deepEqual(pseudoRandomBytes('s', 3000), pseudoRandomBytes('s', 3000));
  assert.notDeepEqual(pseudoRandomBytes('s', 64), pseudoRandomBytes('t', 64));
});

test('builder: umoci and skopeo accept a basic OCI image, with the digests the builder reports', async (t) => {
  if (!requirePeer(t, 'skopeo') || !requirePeer(t, 'umoci')) return;
  const tmp = await tempDir(t);
  const layout = await buildLayout(join(tmp, 'layout'), [BASIC]);
  const img = layout.images[0]!;

  const info = await skopeoInspect(`oci:${layout.dir}:basic`);
  assert.equal(info.Digest, img.manifest.digest);
  assert.deepEqual(info.Layers, img.layers.map((l) => l.digest));
  assert.deepEqual(info.Env, BASIC.config!.Env);
  assert.deepEqual(info.Labels, BASIC.config!.Labels);
  assert.equal(info.Architecture, 'amd64');
  assert.equal(info.Os, 'linux');
  assert.equal(info.Created, '2023-05-06T07:08:09Z');

  const stat = JSON.parse(await runPeer('umoci', ['stat', '--json', '--image', `${layout.dir}:basic`])) as {
    history: { layer?: { digest: string }; diff_id?: string; created_by?: string }[];
  };
  assert.deepEqual(stat.history.map((h) => h.layer?.digest), img.layers.map((l) => l.digest));
  assert.deepEqual(stat.history.map((h) => h.diff_id), img.diffIds);
  assert.deepEqual(stat.history.map((h) => h.created_by), ['ADD files', 'RUN echo bye']);

  // umoci unpacks the layers (checking diff_ids) and the files are what the spec says.
  const bundle = join(tmp, 'bundle');
  await runPeer('umoci', ['unpack', '--rootless', '--image', `${layout.dir}:basic`, bundle]);
  const rootfs = join(bundle, 'rootfs');
  assert.equal(await fsp.readFile(join(rootfs, 'etc/hello.txt'), 'utf8'), 'bye\n');
  assert.deepEqual(await fsp.readFile(join(rootfs, 'usr/bin/tool')), pseudoRandomBytes('usr/bin/tool', 5000));
  assert.equal(await fsp.readlink(join(rootfs, 'bin/sh')), '/usr/bin/tool');
  assert.equal(await fsp.readFile(join(rootfs, `deep/${'d'.repeat(120)}/file.txt`), 'utf8'), 'long path\n');
  const runtime = JSON.parse(await fsp.readFile(join(bundle, 'config.json'), 'utf8')) as { process: { args: string[]; cwd: string } };
  assert.deepEqual(runtime.process.args, ['/usr/bin/tool', '/bin/sh']);
  assert.equal(runtime.process.cwd, '/work');

  // skopeo copy verifies every blob's digest and size.
  await runPeer('skopeo', ['copy', '--quiet', `oci:${layout.dir}:basic`, `dir:${join(tmp, 'copied')}`]);
});

test('builder: multi-platform index, zero-layer image and empty layer', async (t) => {
  if (!requirePeer(t, 'skopeo') || !requirePeer(t, 'umoci')) return;
  const tmp = await tempDir(t);
  const layout = await buildLayout(join(tmp, 'layout'), [
    ...MULTI,
    { tag: 'zero', config: { Cmd: ['true'] } },
    { tag: 'empty', layers: [[]], config: { Cmd: ['true'] } },
    { tag: 'single-in-index', layers: [[{ path: 'f', content: 'x' }]] },
  ]);

  const multi = layout.ref('multi');
  assert.equal(await runPeer('skopeo', ['inspect', '--raw', `oci:${layout.dir}:multi`]), multi.bytes.toString());
  for (const [arch, variant, i] of [['amd64', '', 0], ['arm64', 'v8', 1], ['arm', 'v7', 2]] as const) {
    const extra = ['--override-os', 'linux', '--override-arch', arch, ...(variant ? ['--override-variant', variant] : [])];
    const info = await skopeoInspect(`oci:${layout.dir}:multi`, ...extra);
    assert.equal(info.Architecture, arch);
    assert.deepEqual(info.Layers, multi.images[i]!.layers.map((l) => l.digest));
  }
  await runPeer('skopeo', ['copy', '--quiet', '--all', `oci:${layout.dir}:multi`, `dir:${join(tmp, 'multi')}`]);

  const zero = await skopeoInspect(`oci:${layout.dir}:zero`);
  assert.deepEqual(zero.Layers, []);
  assert.equal(zero.Digest, layout.ref('zero').digest);
  await runPeer('umoci', ['stat', '--image', `${layout.dir}:zero`]);
  await runPeer('umoci', ['unpack', '--rootless', '--image', `${layout.dir}:zero`, join(tmp, 'zero-bundle')]);

  const empty = layout.ref('empty').images[0]!;
  assert.deepEqual(empty.diffIds, [EMPTY_TAR_DIFF_ID]);
  assert.equal(empty.layers[0]!.uncompressedSize, 1024);
  await runPeer('umoci', ['unpack', '--rootless', '--image', `${layout.dir}:empty`, join(tmp, 'empty-bundle')]);
  assert.deepEqual(await fsp.readdir(join(tmp, 'empty-bundle', 'rootfs')), []);
  await runPeer('skopeo', ['copy', '--quiet', `oci:${layout.dir}:empty`, `dir:${join(tmp, 'empty')}`]);

  // options.index wraps even a single image
  const wrapped = await buildLayout(join(tmp, 'wrapped'), [{ tag: 'one', layers: [[{ path: 'f', content: 'x' }]] }], { index: true });
  assert.equal(wrapped.ref('one').isIndex, true);
  await runPeer('skopeo', ['copy', '--quiet', '--all', `oci:${wrapped.dir}:one`, `dir:${join(tmp, 'wrapped-out')}`]);
});

test('builder: Docker schema 2 media types (image and manifest list)', async (t) => {
  if (!requirePeer(t, 'skopeo')) return;
  const tmp = await tempDir(t);
  // skopeo before 1.10 only looks up a *tag* among OCI-typed index.json entries, but takes the only entry of a
  // layout when the reference names no tag; so each Docker-typed ref gets its own layout here.
  const single = await buildLayout(join(tmp, 'single'), [BASIC], { format: 'v2s2' });
  const img = single.ref('basic').images[0]!;
  const raw = JSON.parse(await runPeer('skopeo', ['inspect', '--raw', `oci:${single.dir}`])) as {
    mediaType: string;
    config: { mediaType: string };
    layers: { mediaType: string }[];
  };
  assert.equal(raw.mediaType, MediaType.DockerManifest);
  assert.equal(raw.config.mediaType, MediaType.DockerConfig);
  assert.deepEqual(raw.layers.map((l) => l.mediaType), [MediaType.DockerLayerGzip, MediaType.DockerLayerGzip]);
  assert.equal(single.ref('basic').mediaType, MediaType.DockerManifest);
  const info = await skopeoInspect(`oci:${single.dir}`);
  assert.equal(info.Digest, img.manifest.digest);
  assert.deepEqual(info.Env, BASIC.config!.Env);
  assert.deepEqual(info.Layers, img.layers.map((l) => l.digest));
  await runPeer('skopeo', ['copy', '--quiet', `oci:${single.dir}`, `dir:${join(tmp, 'basic')}`]);

  const list = await buildLayout(join(tmp, 'list'), MULTI, { format: 'v2s2' });
  const rawList = JSON.parse(await runPeer('skopeo', ['inspect', '--raw', `oci:${list.dir}`])) as { mediaType: string; manifests: { mediaType: string }[] };
  assert.equal(rawList.mediaType, MediaType.DockerManifestList);
  assert.deepEqual(rawList.manifests.map((m) => m.mediaType), MULTI.map(() => MediaType.DockerManifest));
  const arm = await skopeoInspect(`oci:${list.dir}`, '--override-arch', 'arm64', '--override-variant', 'v8');
  assert.deepEqual(arm.Layers, list.ref('multi').images[1]!.layers.map((l) => l.digest));
  await runPeer('skopeo', ['copy', '--quiet', '--all', `oci:${list.dir}`, `dir:${join(tmp, 'multi')}`]);
  await assert.rejects(buildLayout(join(tmp, 'bad'), [BASIC], { format: 'v2s2', compression: 'none' }));
});

test('builder: uncompressed layers', async (t) => {
  if (!requirePeer(t, 'umoci')) return;
  const tmp = await tempDir(t);
  const layout = await buildLayout(join(tmp, 'layout'), [BASIC], { compression: 'none' });
  const img = layout.images[0]!;
  assert.deepEqual(img.layers.map((l) => l.mediaType), [MediaType.OciLayer, MediaType.OciLayer]);
  assert.deepEqual(img.layers.map((l) => l.digest), img.diffIds);
  await runPeer('umoci', ['unpack', '--rootless', '--image', `${layout.dir}:basic`, join(tmp, 'bundle')]);
  assert.equal(await fsp.readFile(join(tmp, 'bundle', 'rootfs', 'etc/hello.txt'), 'utf8'), 'bye\n');
});

test('builder: a large layer is streamed to disk, not held in memory', async (t) => {
  if (!requirePeer(t, 'skopeo') || !requirePeer(t, 'umoci')) return;
  const tmp = await tempDir(t);
  // Node keeps ~30-40 MiB of garbage buffers around whatever the size; what matters is that memory does not
  // grow with the layer (a 256 MiB layer peaks at the same ~40 MiB).
  const mib = 96;
  const before = process.memoryUsage();
  const layout = await buildLayout(join(tmp, 'layout'), [{ tag: 'big', layers: [largeLayer(mib)] }], { gzipLevel: 1 });
  const after = process.memoryUsage();
  const grown = Math.max(after.rss - before.rss, after.arrayBuffers - before.arrayBuffers);
  assert.ok(grown < (mib * MiB * 2) / 3, `memory grew by ${(grown / MiB).toFixed(1)} MiB while writing a ${mib} MiB layer`);
  const layer = layout.images[0]!.layers[0]!;
  assert.ok(layer.uncompressedSize > mib * MiB && layer.uncompressedSize < mib * MiB + 4096);
  assert.ok(layer.size > mib * MiB, 'pseudo-random data does not compress');
  assert.equal((await fsp.stat(blobPath(layout.dir, layer.digest))).size, layer.size);
  const info = await skopeoInspect(`oci:${layout.dir}:big`);
  assert.deepEqual(info.Layers, [layer.digest]);
  const stat = JSON.parse(await runPeer('umoci', ['stat', '--json', '--image', `${layout.dir}:big`])) as { history: { diff_id: string }[] };
  assert.deepEqual(stat.history.map((h) => h.diff_id), [layer.diffId]);
  await runPeer('skopeo', ['copy', '--quiet', `oci:${layout.dir}:big`, `dir:${join(tmp, 'copied')}`]);
});

test('builder: corruptBlob and removeBlob break a layout the way tests need', async (t) => {
  if (!requirePeer(t, 'skopeo')) return;
  const tmp = await tempDir(t);
  const layout = await buildLayout(join(tmp, 'layout'), [BASIC]);
  const img = layout.images[0]!;
  const layer = img.layers[0]!;
  const path = blobPath(layout.dir, layer.digest);
  const before = await fsp.readFile(path);
  await corruptBlob(layout.dir, layer.digest);
  const after = await fsp.readFile(path);
  assert.equal(after.length, before.length);
  assert.equal([...after].filter((b, i) => b !== before[i]).length, 1, 'exactly one byte differs');
  await assert.rejects(runPeer('skopeo', ['copy', '--quiet', `oci:${layout.dir}:basic`, `dir:${join(tmp, 'c1')}`]), /digest|mismatch/i);

  await removeBlob(layout.dir, img.config.digest);
  await assert.rejects(fsp.stat(blobPath(layout.dir, img.config.digest)), { code: 'ENOENT' });
  await assert.rejects(runPeer('skopeo', ['inspect', `oci:${layout.dir}:basic`]));
});
