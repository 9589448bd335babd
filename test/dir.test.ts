import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createReadStream, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { digestHex, digestOf, type Digest } from '../src/digest/index.js';
import { WharfError } from '../src/errors.js';
import { MediaType } from '../src/oci/media-types.js';
import type { Descriptor } from '../src/oci/types.js';
import { DIR_VERSION, DirReference, dirTransport } from '../src/transports/dir/index.js';
import type { ImageDestination, ImageSource } from '../src/transports/types.js';
import { blobPath, buildLayout, type BuiltImage, type BuiltLayout, type ImageSpec } from './helpers/images.js';
import { requirePeer, runPeer, tempDir } from './helpers/peers.js';
import { expectCode } from './helpers/assert.js';

const BASIC: ImageSpec = {
  tag: 'basic',
  layers: [
    [
      { path: 'etc/os-release', content: 'ID=wharf\n' },
      { path: 'usr/bin/tool', size: 100_000, mode: 0o755 },
    ],
    [],
    [{ path: 'app/data.bin', size: 3000 }],
  ],
  config: { Env: ['PATH=/usr/bin'], Cmd: ['/usr/bin/tool'], Labels: { 'org.example': 'yes' }, WorkingDir: '/app' },
};

const MULTI: ImageSpec[] = [
  { tag: 'multi', platform: { os: 'linux', architecture: 'amd64' }, layers: [[{ path: 'arch', content: 'amd64\n' }]] },
  { tag: 'multi', platform: { os: 'linux', architecture: 'arm64', variant: 'v8' }, layers: [[{ path: 'arch', content: 'arm64\n' }]] },
];

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}


/** Put one image's config and layers from a built layout into a destination. */
async function putImageBlobs(dest: ImageDestination, layout: BuiltLayout, img: BuiltImage): Promise<void> {
  const blobs: Descriptor[] = [
    { mediaType: img.config.mediaType, digest: img.config.digest, size: img.config.size },
    ...img.layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
  ];
  await Promise.all(
    blobs.map(async (d) => {
      const stored = await dest.putBlob(createReadStream(blobPath(layout.dir, d.digest)), { digest: d.digest, size: d.size, mediaType: d.mediaType });
      assert.deepEqual(stored, d);
    }),
  );
}

/** Write the image (or index) a built ref names to dir:PATH with wharf, committing. */
async function writeRef(path: string, layout: BuiltLayout, tag: string): Promise<void> {
  const ref = layout.ref(tag);
  const dest = await dirTransport.parse(path).newDestination();
  try {
    for (const img of ref.images) {
      await putImageBlobs(dest, layout, img);
      if (ref.isIndex) await dest.putManifest(img.manifest.bytes, img.manifest.mediaType, img.manifest.digest);
    }
    await dest.putManifest(ref.bytes, ref.mediaType);
    await dest.commit();
  } finally {
    await dest.close();
  }
}

/** Every file under a directory with its sha256, for "left untouched" assertions. */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of (await fsp.readdir(dir, { recursive: true })).sort()) {
    const p = join(dir, name);
    const st = await fsp.lstat(p);
    out[name] = st.isFile() ? createHash('sha256').update(await fsp.readFile(p)).digest('hex') : 'dir';
  }
  return out;
}

async function verifySourceHasImage(src: ImageSource, img: BuiltImage, instance?: Digest): Promise<void> {
  const m = await src.getManifest(instance);
  assert.deepEqual(m.bytes, img.manifest.bytes);
  assert.equal(m.mediaType, img.manifest.mediaType);
  for (const d of [img.config, ...img.layers]) {
    const { stream, size } = await src.getBlob({ mediaType: d.mediaType, digest: d.digest, size: d.size });
    assert.equal(size, d.size);
    const bytes = await readAll(stream);
    assert.equal(digestOf(bytes), d.digest);
  }
}

test('dir: references parse and print back', () => {
  const ref = dirTransport.parse('./some/where');
  assert.ok(ref instanceof DirReference);
  assert.equal(ref.toString(), 'dir:./some/where');
  assert.equal(ref.dockerReference(), undefined);
  assert.equal(ref.transport, dirTransport);
  assert.equal(dirTransport.parse('/a:b@c').toString(), 'dir:/a:b@c');
  assert.throws(() => dirTransport.parse(''), (e: WharfError) => e.code === 'INVALID_REFERENCE');
  assert.throws(() => dirTransport.parse('a\0b'), (e: WharfError) => e.code === 'INVALID_REFERENCE');
  // blob and manifest names come from validated digests only
  assert.throws(() => (ref as DirReference).blobPath('sha256:../../etc/passwd' as Digest), (e: WharfError) => e.code === 'INVALID_DIGEST');
});

test('dir: round trip of a single image through destination and source', async (t) => {
  const tmp = await tempDir(t);
  const layout = await buildLayout(join(tmp, 'layout'), [BASIC]);
  const img = layout.images[0]!;
  const path = join(tmp, 'out');
  await writeRef(path, layout, 'basic');

  // The files skopeo expects, and nothing else (no staging leftovers).
  assert.equal(await fsp.readFile(join(path, 'version'), 'utf8'), DIR_VERSION);
  assert.deepEqual(await fsp.readFile(join(path, 'manifest.json')), img.manifest.bytes);
  const expected = ['manifest.json', 'version', digestHex(img.config.digest), ...img.layers.map((l) => digestHex(l.digest))];
  assert.deepEqual((await fsp.readdir(path)).sort(), [...new Set(expected)].sort());
  assert.deepEqual((await fsp.readdir(tmp)).sort(), ['layout', 'out']);

  const src = await dirTransport.parse(path).newSource();
  try {
    await verifySourceHasImage(src, img);
    assert.deepEqual(src.repoTags(), []);
    const missing = digestOf('not here');
    const err = await expectCode(src.getBlob({ mediaType: MediaType.OciLayerGzip, digest: missing, size: 8 }), 'BLOB_UNKNOWN');
    assert.equal(err.name, 'NotFoundError');
    assert.match(err.message, new RegExp(missing));
    await expectCode(src.getManifest(digestOf('no such instance')), 'MANIFEST_UNKNOWN');
  } finally {
    await src.close();
  }
});

test('dir: an index with per-instance manifests (copy --all shape), Docker schema 2 types', async (t) => {
  const tmp = await tempDir(t);
  const layout = await buildLayout(join(tmp, 'layout'), MULTI, { format: 'v2s2' });
  const ref = layout.ref('multi');
  const path = join(tmp, 'out');
  await writeRef(path, layout, 'multi');
  for (const img of ref.images) {
    assert.deepEqual(await fsp.readFile(join(path, `${digestHex(img.manifest.digest)}.manifest.json`)), img.manifest.bytes);
  }
  const src = await dirTransport.parse(path).newSource();
  try {
    const top = await src.getManifest();
    assert.deepEqual(top.bytes, ref.bytes);
    assert.equal(top.mediaType, MediaType.DockerManifestList);
    for (const img of ref.images) await verifySourceHasImage(src, img, img.manifest.digest);
  } finally {
    await src.close();
  }
});

test('dir: source guesses the media type of a manifest without a mediaType field', async (t) => {
  const tmp = await tempDir(t);
  const path = join(tmp, 'out');
  const manifest = Buffer.from(
    JSON.stringify({ schemaVersion: 2, config: { mediaType: MediaType.OciConfig, digest: digestOf('{}'), size: 2 }, layers: [] }),
  );
  const dest = await dirTransport.parse(path).newDestination();
  await dest.putBlob(Readable.from([Buffer.from('{}')]), { mediaType: MediaType.OciConfig });
  await dest.putManifest(manifest, '');
  await dest.commit();
  await dest.close();
  const src = await dirTransport.parse(path).newSource();
  assert.equal((await src.getManifest()).mediaType, MediaType.OciManifest);
  await src.close();
});

test('dir: putBlob verifies digest and size while streaming; a bad blob is never visible', async (t) => {
  const tmp = await tempDir(t);
  const path = join(tmp, 'out');
  const dest = await dirTransport.parse(path).newDestination();
  try {
    const data = Buffer.from('some layer bytes');
    const good = digestOf(data);
    await expectCode(dest.putBlob(Readable.from([data]), { digest: digestOf('other'), mediaType: MediaType.OciLayer }), 'DIGEST_MISMATCH');
    await expectCode(dest.putBlob(Readable.from([data]), { digest: good, size: data.length + 1, mediaType: MediaType.OciLayer }), 'SIZE_MISMATCH');
    await expectCode(dest.putBlob(Readable.from([data]), { digest: good, size: data.length - 1, mediaType: MediaType.OciLayer }), 'SIZE_MISMATCH');
    await expectCode(dest.putBlob(Readable.from([data]), { digest: 'sha256:nothex' as Digest, mediaType: MediaType.OciLayer }), 'INVALID_DIGEST');
    assert.equal(await dest.tryReuseBlob({ mediaType: MediaType.OciLayer, digest: good, size: data.length }), false);
    // Without an expected digest the destination computes it.
    const stored = await dest.putBlob(Readable.from([data]), { mediaType: MediaType.OciLayer });
    assert.deepEqual(stored, { mediaType: MediaType.OciLayer, digest: good, size: data.length });
    assert.equal(await dest.tryReuseBlob(stored), true);
    // sha512 digests are kept: the file is named by the 128-character encoded part, as containers/image does.
    const d512 = digestOf(data, 'sha512');
    const s512 = await dest.putBlob(Readable.from([data]), { digest: d512, mediaType: MediaType.OciLayer });
    assert.equal(s512.digest, d512);
    await dest.putManifest(Buffer.from('{"schemaVersion":2,"config":{},"layers":[]}'), MediaType.OciManifest);
    await expectCode(dest.putManifest(Buffer.from('{}'), MediaType.OciManifest, digestOf('something else')), 'DIGEST_MISMATCH');
    await dest.commit();
  } finally {
    await dest.close();
  }
  // Only the good blobs, no partial files.
  const names = (await fsp.readdir(path)).sort();
  assert.deepEqual(names, ['manifest.json', 'version', digestHex(digestOf('some layer bytes')), digestHex(digestOf(Buffer.from('some layer bytes'), 'sha512'))].sort());
  const src = await dirTransport.parse(path).newSource();
  const blob = await src.getBlob({ mediaType: MediaType.OciLayer, digest: digestOf(Buffer.from('some layer bytes'), 'sha512'), size: 16 });
  assert.equal((await readAll(blob.stream)).toString(), 'some layer bytes');
  await src.close();
});

test('dir: commit without a manifest is refused, and nothing is written', async (t) => {
  const tmp = await tempDir(t);
  const path = join(tmp, 'out');
  const dest = await dirTransport.parse(path).newDestination();
  await dest.putBlob(Readable.from([Buffer.from('x')]), { mediaType: MediaType.OciLayer });
  await expectCode(dest.commit(), 'MANIFEST_UNKNOWN');
  await dest.close();
  assert.deepEqual(await fsp.readdir(tmp), []);
});

test('dir: a failed or abandoned copy leaves an absent PATH absent (and removes parents it created)', async (t) => {
  const tmp = await tempDir(t);
  const layout = await buildLayout(join(tmp, 'layout'), [BASIC]);
  const img = layout.images[0]!;
  const path = join(tmp, 'deep', 'er', 'out');
  const dest = await dirTransport.parse(path).newDestination();
  await putImageBlobs(dest, layout, img);
  // A source that fails half way.
  const failing = new Readable({
    read() {
      this.push(Buffer.alloc(1000));
      this.destroy(new Error('network went away'));
    },
  });
  await expectCode(dest.putBlob(failing, { mediaType: MediaType.OciLayerGzip }), 'IO_ERROR');
  await dest.close();
  assert.deepEqual(await fsp.readdir(tmp), ['layout']);
});

test('dir: an abandoned copy leaves an existing dir: image exactly as it was', async (t) => {
  const tmp = await tempDir(t);
  const layout = await buildLayout(join(tmp, 'layout'), [BASIC, ...MULTI]);
  const path = join(tmp, 'out');
  await writeRef(path, layout, 'basic');
  const before = await snapshot(path);

  const ac = new AbortController();
  const dest = await dirTransport.parse(path).newDestination({ signal: ac.signal });
  await putImageBlobs(dest, layout, layout.ref('multi').images[0]!);
  ac.abort();
  const endless = new Readable({
    read() {
      this.push(Buffer.alloc(1 << 16));
    },
  });
  await expectCode(dest.putBlob(endless, { mediaType: MediaType.OciLayerGzip }), 'ABORTED');
  await dest.close();
  assert.deepEqual(await snapshot(path), before);
  assert.deepEqual((await fsp.readdir(tmp)).sort(), ['layout', 'out']);
});

test('dir: committing over an existing dir: image replaces it as a whole', async (t) => {
  const tmp = await tempDir(t);
  const layout = await buildLayout(join(tmp, 'layout'), [BASIC, ...MULTI]);
  const path = join(tmp, 'out');
  await writeRef(path, layout, 'basic');
  await writeRef(path, layout, 'multi');
  const ref = layout.ref('multi');
  const expected = new Set(['manifest.json', 'version']);
  for (const img of ref.images) {
    expected.add(`${digestHex(img.manifest.digest)}.manifest.json`);
    for (const d of [img.config, ...img.layers]) expected.add(digestHex(d.digest));
  }
  assert.deepEqual((await fsp.readdir(path)).sort(), [...expected].sort());
  assert.deepEqual((await fsp.readdir(tmp)).sort(), ['layout', 'out'], 'no staging or backup directories left');
});

test('dir: an existing empty directory is used', async (t) => {
  const tmp = await tempDir(t);
  const layout = await buildLayout(join(tmp, 'layout'), [BASIC]);
  const path = join(tmp, 'out');
  await fsp.mkdir(path);
  await writeRef(path, layout, 'basic');
  assert.deepEqual(await fsp.readFile(join(path, 'manifest.json')), layout.images[0]!.manifest.bytes);
});

test('dir: refuses to overwrite a non-empty directory that is not a dir: image, or a file', async (t) => {
  const tmp = await tempDir(t);
  const foreign = join(tmp, 'home');
  await fsp.mkdir(foreign);
  await fsp.writeFile(join(foreign, 'thesis.tex'), 'years of work');
  const err = await expectCode(dirTransport.parse(foreign).newDestination(), 'DESTINATION_EXISTS');
  assert.ok(err.hint && /empty directory/.test(err.hint), err.hint);
  assert.equal(await fsp.readFile(join(foreign, 'thesis.tex'), 'utf8'), 'years of work');

  // A `version` file that is not ours does not make it one.
  await fsp.writeFile(join(foreign, 'version'), '1.0.0\n');
  await expectCode(dirTransport.parse(foreign).newDestination(), 'DESTINATION_EXISTS');

  const file = join(tmp, 'file');
  await fsp.writeFile(file, 'data');
  await expectCode(dirTransport.parse(file).newDestination(), 'DESTINATION_EXISTS');
  assert.equal(await fsp.readFile(file, 'utf8'), 'data');
  assert.deepEqual((await fsp.readdir(tmp)).sort(), ['file', 'home']);
});

test('dir: a directory that fills up with foreign files during the copy is not overwritten at commit', async (t) => {
  const tmp = await tempDir(t);
  const path = join(tmp, 'out');
  const dest = await dirTransport.parse(path).newDestination();
  await dest.putManifest(Buffer.from('{"schemaVersion":2,"manifests":[]}'), MediaType.OciIndex);
  await fsp.mkdir(path);
  await fsp.writeFile(join(path, 'notes.txt'), 'mine');
  await expectCode(dest.commit(), 'DESTINATION_EXISTS');
  await dest.close();
  assert.deepEqual(await fsp.readdir(path), ['notes.txt']);
  assert.deepEqual(await fsp.readdir(tmp), ['out']);
});

test('dir: source errors for a missing directory and a missing manifest', async (t) => {
  const tmp = await tempDir(t);
  await expectCode(dirTransport.parse(join(tmp, 'nope')).newSource(), 'IMAGE_NOT_FOUND');
  const src = await dirTransport.parse(tmp).newSource();
  await expectCode(src.getManifest(), 'MANIFEST_UNKNOWN');
  await src.close();
});

test('interop: skopeo reads the dir: wharf writes', async (t) => {
  if (!requirePeer(t, 'skopeo')) return;
  const tmp = await tempDir(t);
  const layout = await buildLayout(join(tmp, 'layout'), [BASIC, ...MULTI]);
  const img = layout.images[0]!;
  const path = join(tmp, 'out');
  await writeRef(path, layout, 'basic');
  const info = JSON.parse(await runPeer('skopeo', ['inspect', `dir:${path}`])) as {
    Digest: string;
    Layers: string[];
    Env: string[];
    Labels: Record<string, string>;
  };
  assert.equal(info.Digest, img.manifest.digest);
  assert.deepEqual(info.Layers, img.layers.map((l) => l.digest));
  assert.deepEqual(info.Env, ['PATH=/usr/bin']);
  assert.deepEqual(info.Labels, { 'org.example': 'yes' });
  // skopeo copy verifies every blob digest on the way out of dir:.
  await runPeer('skopeo', ['copy', '--quiet', `dir:${path}`, `oci:${join(tmp, 'back')}:x`]);

  const multi = join(tmp, 'multi');
  await writeRef(multi, layout, 'multi');
  const raw = await runPeer('skopeo', ['inspect', '--raw', `dir:${multi}`]);
  assert.equal(raw, layout.ref('multi').bytes.toString());
  await runPeer('skopeo', ['copy', '--quiet', '--all', `dir:${multi}`, `oci:${join(tmp, 'back')}:multi`]);
});

test('interop: wharf reads the dir: skopeo writes (single image and --all)', async (t) => {
  if (!requirePeer(t, 'skopeo')) return;
  const tmp = await tempDir(t);
  const layout = await buildLayout(join(tmp, 'layout'), [BASIC, ...MULTI]);
  const out = join(tmp, 'single');
  await runPeer('skopeo', ['copy', '--quiet', `oci:${layout.dir}:basic`, `dir:${out}`]);
  let src = await dirTransport.parse(out).newSource();
  try {
    await verifySourceHasImage(src, layout.images[0]!);
  } finally {
    await src.close();
  }

  const all = join(tmp, 'all');
  await runPeer('skopeo', ['copy', '--quiet', '--all', `oci:${layout.dir}:multi`, `dir:${all}`]);
  src = await dirTransport.parse(all).newSource();
  try {
    const ref = layout.ref('multi');
    const top = await src.getManifest();
    assert.equal(digestOf(top.bytes), ref.digest);
    assert.equal(top.mediaType, MediaType.OciIndex);
    for (const img of ref.images) await verifySourceHasImage(src, img, img.manifest.digest);
  } finally {
    await src.close();
  }

  // And wharf can replace what skopeo wrote (it has skopeo's version file).
  await writeRef(all, layout, 'basic');
  assert.deepEqual(await fsp.readFile(join(all, 'manifest.json')), layout.images[0]!.manifest.bytes);
});
