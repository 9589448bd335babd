/**
 * oci-archive: interoperability with skopeo both ways, archives made by GNU tar (`./` names, hard links,
 * symlinks), damaged and hostile archives, writing into an existing archive (kept entries, atomicity,
 * concurrency), and bounded memory while reading.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { copy, inspect, parseReference, WharfError, type CopyEvent } from '../src/index.js';
import { indexTarFile } from '../src/archive/tar.js';
import { buildLayout, corruptBlob, largeLayer, tarBytes, type ImageSpec } from './helpers/images.js';
import { hasPeer, requirePeer, runPeer, tempDir } from './helpers/peers.js';
import { expectCode } from './helpers/assert.js';

const INDEX_JS = fileURLToPath(new URL('../src/index.js', import.meta.url));
const REF_NAME = 'org.opencontainers.image.ref.name';

const IMAGE_A: ImageSpec = {
  tag: 'a',
  layers: [
    [{ path: 'etc/os-release', content: 'ID=wharf\n' }, { path: 'bin/tool', size: 50_000, mode: 0o755 }],
    [{ path: 'etc/app.conf', content: 'a=1\n' }],
  ],
  config: { Env: ['WHO=a'], Cmd: ['/bin/tool'] },
};
const IMAGE_B: ImageSpec = {
  tag: 'b',
  // Shares its first layer with A.
  layers: [IMAGE_A.layers![0]!, [{ path: 'etc/b.conf', content: 'b=1\n' }]],
  config: { Env: ['WHO=b'] },
};
const IMAGE_C: ImageSpec = { tag: 'c', layers: [[{ path: 'c', content: 'c' }]], config: { Env: ['WHO=c'] } };


async function sha256File(path: string): Promise<string> {
  return createHash('sha256').update(await fsp.readFile(path)).digest('hex');
}

async function indexOf(layout: string): Promise<{ manifests: { digest: string; annotations?: Record<string, string> }[] }> {
  return JSON.parse(await fsp.readFile(join(layout, 'index.json'), 'utf8'));
}

/** The names of the entries of a tar, as stored. */
async function tarNames(path: string): Promise<string[]> {
  return (await indexTarFile(path)).map((e) => e.name);
}

function hasGnuTar(t: TestContext): boolean {
  if (spawnSync('tar', ['--version'], { encoding: 'utf8' }).stdout?.includes('GNU tar')) return true;
  t.skip('GNU tar is not installed (apt-get install -y tar)');
  return false;
}

async function fixture(t: TestContext, images: ImageSpec[] = [IMAGE_A, IMAGE_B]) {
  const dir = await tempDir(t);
  const src = await buildLayout(join(dir, 'src'), images);
  return { dir, src };
}

test('oci-archive: references parse as skopeo writes them', () => {
  assert.equal(parseReference('oci-archive:/tmp/x.tar:latest').toString(), 'oci-archive:/tmp/x.tar:latest');
  assert.equal(parseReference('oci-archive:/tmp/x.tar').toString(), 'oci-archive:/tmp/x.tar');
  assert.equal(parseReference('oci-archive:x.tar:@1').toString(), 'oci-archive:x.tar:@1');
  assert.equal(parseReference('oci-archive:x.tar:docker.io/library/busybox:1.36').toString(), 'oci-archive:x.tar:docker.io/library/busybox:1.36');
  assert.equal(parseReference('oci-archive:x.tar:a').dockerReference(), undefined);
  for (const bad of ['oci-archive:', 'oci-archive::a', 'oci-archive:x.tar:bad tag', 'oci-archive:x.tar:@x']) {
    assert.throws(() => parseReference(bad), (err: unknown) => err instanceof WharfError && err.code === 'INVALID_REFERENCE');
  }
});

test('skopeo reads the archives wharf writes, both images of a shared archive', async (t) => {
  if (!requirePeer(t, 'skopeo')) return;
  const { dir, src } = await fixture(t);
  const archive = join(dir, 'out.tar');
  await copy(`oci:${src.dir}:a`, `oci-archive:${archive}:a`);
  await copy(`oci:${src.dir}:b`, `oci-archive:${archive}:b`);
  for (const tag of ['a', 'b']) {
    const want = src.ref(tag).digest;
    const info = JSON.parse(await runPeer('skopeo', ['inspect', `oci-archive:${archive}:${tag}`])) as { Digest: string; Env: string[] };
    assert.equal(info.Digest, want, `skopeo inspect ${tag}`);
    assert.deepEqual(info.Env, [`WHO=${tag}`]);
    const out = join(dir, `skopeo-${tag}`);
    await runPeer('skopeo', ['copy', `oci-archive:${archive}:${tag}`, `oci:${out}:${tag}`]);
    assert.equal((await indexOf(out)).manifests[0]!.digest, want, `skopeo copy ${tag}`);
  }
  // The archive's layout: oci-layout and index.json first, then blobs/sha256/<hex>, no ./ prefixes.
  const names = await tarNames(archive);
  assert.deepEqual(names.slice(0, 4), ['oci-layout', 'index.json', 'blobs/', 'blobs/sha256/']);
  assert.ok(names.slice(4).every((n) => /^blobs\/sha256\/[a-f0-9]{64}$/.test(n)), names.join(' '));
  assert.equal(new Set(names).size, names.length, 'the shared layer is stored once');
});

test('skopeo reads a multi-platform index that wharf wrote', async (t) => {
  if (!requirePeer(t, 'skopeo')) return;
  const dir = await tempDir(t);
  const src = await buildLayout(join(dir, 'src'), [
    { tag: 'm', platform: { os: 'linux', architecture: 'amd64' }, layers: [[{ path: 'f', content: 'x' }]] },
    { tag: 'm', platform: { os: 'linux', architecture: 'arm64' }, layers: [[{ path: 'f', content: 'y' }]] },
  ]);
  const archive = join(dir, 'm.tar');
  const r = await copy(`oci:${src.dir}:m`, `oci-archive:${archive}:m`, { all: true });
  assert.equal(r.digest, src.ref('m').digest);
  const raw = await runPeer('skopeo', ['inspect', '--raw', `oci-archive:${archive}:m`]);
  assert.equal(`sha256:${createHash('sha256').update(raw).digest('hex')}`, src.ref('m').digest);
  const out = join(dir, 'back');
  await runPeer('skopeo', ['copy', '--all', `oci-archive:${archive}:m`, `oci:${out}:m`]);
  assert.equal((await indexOf(out)).manifests[0]!.digest, src.ref('m').digest);
});

test('wharf reads the archives skopeo writes', async (t) => {
  if (!requirePeer(t, 'skopeo')) return;
  const { dir, src } = await fixture(t);
  const archive = join(dir, 'skopeo.tar');
  await runPeer('skopeo', ['copy', `oci:${src.dir}:a`, `oci-archive:${archive}:a`]);
  const info = await inspect(`oci-archive:${archive}:a`);
  assert.equal(info.output.Digest, src.ref('a').digest);
  assert.deepEqual(info.output.Env, ['WHO=a']);
  // Unnamed and @0 select the only image.
  assert.equal((await inspect(`oci-archive:${archive}`)).output.Digest, src.ref('a').digest);
  assert.equal((await inspect(`oci-archive:${archive}:@0`)).output.Digest, src.ref('a').digest);
  const back = join(dir, 'back');
  const r = await copy(`oci-archive:${archive}:a`, `oci:${back}:a`);
  assert.equal(r.digest, src.ref('a').digest);
  assert.equal((await indexOf(back)).manifests[0]!.digest, src.ref('a').digest);
  await expectCode(inspect(`oci-archive:${archive}:nope`), 'IMAGE_NOT_FOUND');
  await expectCode(inspect(`oci-archive:${archive}:@3`), 'IMAGE_NOT_FOUND');

  // skopeo replaces an archive it writes into; the result still reads.
  await runPeer('skopeo', ['copy', `oci:${src.dir}:b`, `oci-archive:${archive}:b`]);
  assert.equal((await inspect(`oci-archive:${archive}:b`)).output.Digest, src.ref('b').digest);

  // A gzip-compressed archive (skopeo reads those too).
  const gz = join(dir, 'skopeo.tar.gz');
  await fsp.writeFile(gz, gzipSync(await fsp.readFile(archive)));
  assert.equal((await copy(`oci-archive:${gz}:b`, `oci:${join(dir, 'fromgz')}:b`)).digest, src.ref('b').digest);
});

test('an archive made by GNU tar (./ names, hard links, symlinks) reads', async (t) => {
  if (!hasGnuTar(t)) return;
  const { dir, src } = await fixture(t, [IMAGE_A]);
  const img = src.images[0]!;
  const plain = join(dir, 'plain.tar');
  const tarRun = (args: string[]) => {
    const r = spawnSync('tar', args, { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
  };
  tarRun(['-C', src.dir, '-cf', plain, '.']);
  assert.ok((await tarNames(plain)).includes('./index.json'), 'GNU tar names entries ./…');
  assert.equal((await inspect(`oci-archive:${plain}:a`)).output.Digest, src.ref('a').digest);
  assert.equal((await copy(`oci-archive:${plain}:a`, `oci:${join(dir, 'back1')}:a`)).digest, src.ref('a').digest);

  // Blob entries that are links: the config becomes a hard link to an earlier entry, a layer a symlink.
  const linked = join(dir, 'linked');
  await fsp.cp(src.dir, linked, { recursive: true });
  const store = join(linked, 'a-store');
  await fsp.mkdir(store);
  const cfgHex = img.config.digest.slice(7);
  const layerHex = img.layers[1]!.digest.slice(7);
  await fsp.rename(join(linked, 'blobs/sha256', cfgHex), join(store, 'config'));
  await fsp.link(join(store, 'config'), join(linked, 'blobs/sha256', cfgHex));
  await fsp.rename(join(linked, 'blobs/sha256', layerHex), join(store, 'layer'));
  await fsp.symlink('../../a-store/layer', join(linked, 'blobs/sha256', layerHex));
  const linkedTar = join(dir, 'linked.tar');
  tarRun(['--sort=name', '-C', linked, '-cf', linkedTar, '.']);
  const entries = await indexTarFile(linkedTar);
  assert.equal(entries.find((e) => e.name === `./blobs/sha256/${cfgHex}`)?.type, 'hardlink');
  assert.equal(entries.find((e) => e.name === `./blobs/sha256/${layerHex}`)?.type, 'symlink');
  const back = join(dir, 'back2');
  assert.equal((await copy(`oci-archive:${linkedTar}:a`, `oci:${back}:a`)).digest, src.ref('a').digest);
  assert.equal((await inspect(`oci:${back}:a`)).rawConfig?.toString(), img.config.bytes.toString());
  if (hasPeer('skopeo')) {
    const info = JSON.parse(await runPeer('skopeo', ['inspect', `oci-archive:${plain}:a`])) as { Digest: string };
    assert.equal(info.Digest, src.ref('a').digest, 'skopeo agrees on the GNU tar archive');
  }
});

test('a blob that is a symlink out of the archive is not followed', async (t) => {
  const { dir, src } = await fixture(t, [IMAGE_A]);
  const img = src.images[0]!;
  const layerHex = img.layers[0]!.digest.slice(7);
  const files = [
    { path: 'oci-layout', content: JSON.stringify({ imageLayoutVersion: '1.0.0' }) },
    { path: 'index.json', content: await fsp.readFile(join(src.dir, 'index.json')) },
  ];
  const blobs = await fsp.readdir(join(src.dir, 'blobs/sha256'));
  for (const hex of blobs) {
    if (hex === layerHex) continue;
    files.push({ path: `blobs/sha256/${hex}`, content: await fsp.readFile(join(src.dir, 'blobs/sha256', hex)) });
  }
  const hostile = [
    ...files,
    { path: `blobs/sha256/${layerHex}`, type: 'symlink' as const, linkTarget: '../../../../../../../../etc/passwd' },
  ];
  const archive = join(dir, 'hostile.tar');
  await fsp.writeFile(archive, await tarBytes(hostile));
  const err = await expectCode(copy(`oci-archive:${archive}:a`, `oci:${join(dir, 'out')}:a`), 'BLOB_UNKNOWN');
  assert.match(err.message, new RegExp(layerHex));
  // A blob that is simply absent.
  const missing = join(dir, 'missing.tar');
  await fsp.writeFile(missing, await tarBytes(files));
  await expectCode(copy(`oci-archive:${missing}:a`, `oci:${join(dir, 'out2')}:a`), 'BLOB_UNKNOWN');
  await fsp.access(join(dir, 'out2')).then(
    () => assert.fail('the failed copy left a layout behind'),
    () => {},
  );
});

test('damaged and foreign archives give clear errors', async (t) => {
  const { dir, src } = await fixture(t, [IMAGE_A]);
  const good = join(dir, 'good.tar');
  await copy(`oci:${src.dir}:a`, `oci-archive:${good}:a`);
  const bytes = await fsp.readFile(good);

  const truncated = join(dir, 'truncated.tar');
  await fsp.writeFile(truncated, bytes.subarray(0, Math.floor(bytes.length / 2) + 100));
  let err = await expectCode(inspect(`oci-archive:${truncated}:a`), 'ARCHIVE_INVALID');
  assert.match(err.message, /truncated\.tar/);
  assert.ok(err.hint, 'says what to do');

  const garbage = join(dir, 'garbage.tar');
  await fsp.writeFile(garbage, Buffer.alloc(4096, 'not a tar at all '));
  err = await expectCode(inspect(`oci-archive:${garbage}`), 'ARCHIVE_INVALID');
  assert.match(err.message, /not a valid tar/);

  const empty = join(dir, 'empty.tar');
  await fsp.writeFile(empty, '');
  await expectCode(inspect(`oci-archive:${empty}`), 'ARCHIVE_INVALID');

  const noIndex = join(dir, 'noindex.tar');
  await fsp.writeFile(noIndex, await tarBytes([{ path: 'manifest.json', content: '[]' }]));
  err = await expectCode(inspect(`oci-archive:${noIndex}`), 'ARCHIVE_INVALID');
  assert.match(err.message, /no index\.json/);
  assert.match(err.hint ?? '', /docker-archive/);

  const badIndex = join(dir, 'badindex.tar');
  await fsp.writeFile(badIndex, await tarBytes([{ path: 'index.json', content: '{"schemaVersion": 2, "manifests": [{"digest": "nope"}]}' }]));
  await expectCode(inspect(`oci-archive:${badIndex}`), 'ARCHIVE_INVALID');

  const corruptGz = join(dir, 'corrupt.tar.gz');
  await fsp.writeFile(corruptGz, gzipSync(bytes).subarray(0, 200));
  await expectCode(inspect(`oci-archive:${corruptGz}:a`), 'ARCHIVE_INVALID');

  await expectCode(inspect(`oci-archive:${dir}:a`), 'ARCHIVE_INVALID');
  err = await expectCode(inspect(`oci-archive:${join(dir, 'nope.tar')}:a`), 'IMAGE_NOT_FOUND');
  assert.ok(err.hint);

  // A flipped byte inside a layer: the copy catches it by digest and writes nothing.
  const flipped = Buffer.from(bytes);
  const entry = (await indexTarFile(good)).find((e) => e.name === `blobs/sha256/${src.images[0]!.layers[0]!.digest.slice(7)}`)!;
  flipped[entry.dataOffset + Math.floor(entry.size / 2)]! ^= 0xff;
  const corrupt = join(dir, 'corrupt.tar');
  await fsp.writeFile(corrupt, flipped);
  await expectCode(copy(`oci-archive:${corrupt}:a`, `oci:${join(dir, 'out')}:a`), 'DIGEST_MISMATCH');
  // A flipped byte inside the manifest is caught when the manifest is read.
  const man = (await indexTarFile(good)).find((e) => e.name === `blobs/sha256/${src.ref('a').digest.slice(7)}`)!;
  const flippedManifest = Buffer.from(bytes);
  flippedManifest[man.dataOffset + 5]! ^= 0x01;
  await fsp.writeFile(corrupt, flippedManifest);
  await expectCode(inspect(`oci-archive:${corrupt}:a`), 'DIGEST_MISMATCH');
});

test('writing into an existing archive keeps its other images and drops what a replaced name left', async (t) => {
  const { dir, src } = await fixture(t, [IMAGE_A, IMAGE_B, IMAGE_C]);
  const archive = join(dir, 'x.tar');
  await copy(`oci:${src.dir}:a`, `oci-archive:${archive}:a`);
  const events: CopyEvent[] = [];
  await copy(`oci:${src.dir}:b`, `oci-archive:${archive}:b`, { onEvent: (e) => events.push(e) });
  // B's first layer is A's: the archive already had it, so it was not sent again.
  const shared = src.images[1]!.layers[0]!.digest;
  assert.ok(events.some((e) => e.type === 'blob-skipped' && e.digest === shared), 'shared layer reused from the archive');
  assert.equal((await inspect(`oci-archive:${archive}:a`)).output.Digest, src.ref('a').digest);
  assert.equal((await inspect(`oci-archive:${archive}:b`)).output.Digest, src.ref('b').digest);
  assert.equal((await copy(`oci-archive:${archive}:b`, `oci:${join(dir, 'b-back')}:b`)).digest, src.ref('b').digest);

  // Re-using name a for image C: a's own blobs go, the shared layer stays for b.
  await copy(`oci:${src.dir}:c`, `oci-archive:${archive}:a`);
  const names = await tarNames(archive);
  assert.ok(!names.includes(`blobs/sha256/${src.ref('a').digest.slice(7)}`), 'the old manifest of a is gone');
  assert.ok(!names.includes(`blobs/sha256/${src.images[0]!.layers[1]!.digest.slice(7)}`), "a's own layer is gone");
  assert.ok(names.includes(`blobs/sha256/${shared.slice(7)}`), 'the layer b needs stays');
  assert.equal((await inspect(`oci-archive:${archive}:a`)).output.Digest, src.ref('c').digest);
  assert.equal((await copy(`oci-archive:${archive}:b`, `oci:${join(dir, 'b-again')}:b`)).digest, src.ref('b').digest);

  // An unnamed image joins the named ones; @N picks by position.
  await copy(`oci:${src.dir}:c`, `oci-archive:${archive}`);
  const entries = JSON.parse((await runTarEntry(archive, 'index.json')).toString()) as { manifests: { annotations?: Record<string, string> }[] };
  assert.deepEqual(entries.manifests.map((m) => m.annotations?.[REF_NAME] ?? ''), ['b', 'a', '']);
  assert.equal((await inspect(`oci-archive:${archive}:@0`)).output.Digest, src.ref('b').digest);
  await expectCode(copy(`oci:${src.dir}:c`, `oci-archive:${archive}:@0`), 'INVALID_REFERENCE');
  // Nothing is left beside the archive.
  assert.deepEqual((await fsp.readdir(dir)).filter((n) => n.startsWith('.')), []);
});

test('an existing archive whose entries wharf cannot follow is kept whole', async (t) => {
  const { dir, src } = await fixture(t, [IMAGE_A, IMAGE_C]);
  // An old archive with image a, an entry of an unknown kind (not JSON), a stray blob and an entry whose blob is missing.
  const opaque = Buffer.from('opaque bytes, not a manifest');
  const stray = Buffer.from('stray');
  const hexOf = (b: Buffer) => createHash('sha256').update(b).digest('hex');
  const index = await indexOf(src.dir);
  const aEntry = index.manifests.find((m) => m.annotations?.[REF_NAME] === 'a')!;
  const missingHex = 'f'.repeat(64);
  const files: { path: string; content: string | Buffer }[] = [
    { path: 'oci-layout', content: '{"imageLayoutVersion":"1.0.0"}' },
    {
      path: 'index.json',
      content: JSON.stringify({
        schemaVersion: 2,
        manifests: [
          aEntry,
          { mediaType: 'application/vnd.example.thing', digest: `sha256:${hexOf(opaque)}`, size: opaque.length, annotations: { [REF_NAME]: 'thing' } },
          { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${missingHex}`, size: 10, annotations: { [REF_NAME]: 'gone' } },
        ],
      }),
    },
    { path: `blobs/sha256/${hexOf(opaque)}`, content: opaque },
    { path: `blobs/sha256/${hexOf(stray)}`, content: stray },
  ];
  for (const img of [src.images[0]!]) {
    for (const b of [img.manifest, img.config, ...img.layers]) {
      files.push({ path: `blobs/sha256/${b.digest.slice(7)}`, content: await fsp.readFile(join(src.dir, 'blobs/sha256', b.digest.slice(7))) });
    }
  }
  const archive = join(dir, 'old.tar');
  await fsp.writeFile(archive, await tarBytes(files.map((f) => ({ path: f.path, content: f.content }))));
  const warnings: string[] = [];
  await copy(`oci:${src.dir}:c`, `oci-archive:${archive}:c`, { logger: { warn: (m) => warnings.push(m) } });
  const names = await tarNames(archive);
  assert.ok(names.includes(`blobs/sha256/${hexOf(stray)}`), 'unsure what the opaque entry needs, every old blob is kept');
  assert.ok(names.includes(`blobs/sha256/${hexOf(opaque)}`));
  assert.ok(warnings.some((w) => w.includes('keeping every blob')), warnings.join('\n'));
  assert.ok(warnings.some((w) => w.includes(missingHex)), 'the missing blob is reported');
  const kept = JSON.parse((await runTarEntry(archive, 'index.json')).toString()) as { manifests: { annotations?: Record<string, string> }[] };
  assert.deepEqual(kept.manifests.map((m) => m.annotations?.[REF_NAME]), ['a', 'thing', 'gone', 'c']);
  assert.equal((await inspect(`oci-archive:${archive}:a`)).output.Digest, src.ref('a').digest);
  assert.equal((await inspect(`oci-archive:${archive}:c`)).output.Digest, src.ref('c').digest);
});

async function runTarEntry(archive: string, name: string): Promise<Buffer> {
  const e = (await indexTarFile(archive)).find((x) => x.name === name)!;
  const fh = await fsp.open(archive, 'r');
  try {
    const buf = Buffer.alloc(e.size);
    await fh.read(buf, 0, e.size, e.dataOffset);
    return buf;
  } finally {
    await fh.close();
  }
}

test('a file at PATH that is not an OCI archive is replaced, as skopeo does, with a warning', async (t) => {
  const { dir, src } = await fixture(t, [IMAGE_A]);
  const archive = join(dir, 'x.tar');
  await fsp.writeFile(archive, 'some other file\n');
  const warnings: string[] = [];
  await copy(`oci:${src.dir}:a`, `oci-archive:${archive}:a`, { logger: { warn: (m) => warnings.push(m) } });
  assert.equal((await inspect(`oci-archive:${archive}:a`)).output.Digest, src.ref('a').digest);
  assert.ok(warnings.some((w) => w.includes('replacing')), warnings.join('\n'));
  // Writing to a directory is refused.
  await expectCode(copy(`oci:${src.dir}:a`, `oci-archive:${dir}:a`), 'DESTINATION_EXISTS');
});

test('a failed copy leaves an existing archive byte-identical and nothing beside it', async (t) => {
  const { dir, src } = await fixture(t);
  const archive = join(dir, 'x.tar');
  await copy(`oci:${src.dir}:a`, `oci-archive:${archive}:a`);
  const before = await sha256File(archive);
  const beforeStat = await fsp.stat(archive);
  const listing = async () => (await fsp.readdir(dir)).sort();
  const entriesBefore = await listing();

  // A corrupt source blob.
  await corruptBlob(src.dir, src.images[1]!.layers[1]!.digest);
  await expectCode(copy(`oci:${src.dir}:b`, `oci-archive:${archive}:b`), 'DIGEST_MISMATCH');
  assert.equal(await sha256File(archive), before);
  assert.equal((await fsp.stat(archive)).ino, beforeStat.ino, 'not even replaced by an identical file');
  assert.deepEqual(await listing(), entriesBefore);

  // Aborted copies: while a blob flows, and after the manifest, while the archive is being written.
  const other = await buildLayout(join(dir, 'src3'), [IMAGE_C]);
  entriesBefore.push('src3');
  entriesBefore.sort();
  for (const when of ['blob-start', 'manifest-written'] as const) {
    const controller = new AbortController();
    const p = copy(`oci:${other.dir}:c`, `oci-archive:${archive}:c`, {
      signal: controller.signal,
      onEvent: (e) => {
        if (e.type === when) controller.abort();
      },
    });
    await expectCode(p, 'ABORTED');
    assert.equal(await sha256File(archive), before, `aborted at ${when}`);
    assert.deepEqual(await listing(), entriesBefore);
  }

  // A missing image in the source: the destination is never even written.
  await expectCode(copy(`oci:${src.dir}:nope`, `oci-archive:${archive}:a`), 'IMAGE_NOT_FOUND');
  assert.equal(await sha256File(archive), before);
  assert.deepEqual(await listing(), entriesBefore);

  // An existing archive with a corrupt blob: it cannot be kept, so the write fails and leaves it as it was.
  const good = await fsp.readFile(archive);
  const entry = (await indexTarFile(archive)).find((e) => e.name === `blobs/sha256/${src.images[0]!.layers[1]!.digest.slice(7)}`)!;
  good[entry.dataOffset + 3]! ^= 0xff;
  await fsp.writeFile(archive, good);
  const damaged = await sha256File(archive);
  const fresh = await buildLayout(join(dir, 'src2'), [IMAGE_C]);
  const err = await expectCode(copy(`oci:${fresh.dir}:c`, `oci-archive:${archive}:c`), 'DIGEST_MISMATCH');
  assert.match(err.hint ?? '', /existing archive/);
  assert.equal(await sha256File(archive), damaged);
  entriesBefore.push('src2');
  assert.deepEqual(await listing(), entriesBefore.sort());
});

test('several wharf processes writing into one archive at once lose no image', async (t) => {
  const dir = await tempDir(t);
  const specs: ImageSpec[] = [0, 1, 2].map((i) => ({ tag: `t${i}`, layers: [[{ path: `f${i}`, size: 200_000 + i }]], config: { Env: [`I=${i}`] } }));
  const src = await buildLayout(join(dir, 'src'), specs);
  const archive = join(dir, 'shared.tar');
  await Promise.all(
    specs.map(
      (s) =>
        new Promise<void>((resolve, reject) => {
          const script = `import(${JSON.stringify(INDEX_JS)}).then(w => w.copy(${JSON.stringify(`oci:${src.dir}:${s.tag}`)}, ${JSON.stringify(`oci-archive:${archive}:${s.tag}`)}))`;
          const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'ignore', 'pipe'] });
          let err = '';
          child.stderr.on('data', (d) => (err += d));
          child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`copy failed: ${err}`))));
        }),
    ),
  );
  for (const s of specs) {
    assert.equal((await inspect(`oci-archive:${archive}:${s.tag}`)).output.Digest, src.ref(s.tag!).digest);
  }
});

test('reading a large blob from an archive keeps memory bounded', async (t) => {
  if (!hasGnuTar(t)) return;
  const dir = await tempDir(t);
  const src = await buildLayout(join(dir, 'src'), [{ tag: 'big', layers: [largeLayer(200)] }], { gzipLevel: 1 });
  const archive = join(dir, 'big.tar');
  // Made by GNU tar, so that only reading is measured.
  const r = spawnSync('tar', ['-C', src.dir, '-cf', archive, '.']);
  assert.equal(r.status, 0);
  const layer = src.images[0]!.layers[0]!;
  global.gc?.();
  const base = process.memoryUsage().rss;
  let peak = base;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 5);
  try {
    const source = await parseReference(`oci-archive:${archive}:big`).newSource();
    try {
      const { stream, size } = await source.getBlob(layer);
      assert.equal(size, layer.size);
      const hash = createHash('sha256');
      for await (const chunk of stream) hash.update(chunk as Buffer);
      assert.equal(`sha256:${hash.digest('hex')}`, layer.digest);
    } finally {
      await source.close();
    }
    const back = await copy(`oci-archive:${archive}:big`, `oci:${join(dir, 'back')}:big`);
    assert.equal(back.digest, src.ref('big').digest);
  } finally {
    clearInterval(timer);
  }
  const grew = (peak - base) / (1 << 20);
  assert.ok(layer.size > 150 << 20, 'the layer is large enough to tell');
  assert.ok(grew < 80, `memory grew by ${grew.toFixed(0)} MiB while reading a ${(layer.size / (1 << 20)).toFixed(0)} MiB blob`);
});
