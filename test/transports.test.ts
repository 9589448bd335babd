/**
 * One suite that every transport runs, as destination and then as source: round trip, multi-platform index,
 * empty and zero-layer images, a large blob with bounded memory, corrupt blob, missing blob, missing tag.
 * A new transport joins by adding an entry to TRANSPORTS.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { copy, inspect, parseReference } from '../src/index.js';
import { defaultTransports } from '../src/transports/index.js';
import { buildLayout, corruptBlob, largeLayer, removeBlob, type ImageSpec } from './helpers/images.js';
import { tempDir } from './helpers/peers.js';
import { snapshot } from './helpers/tree.js';
import { expectCode } from './helpers/assert.js';

interface TransportCase {
  name: string;
  /** A reference to a fresh location in `dir`, naming `tag` where the transport has names. */
  ref(dir: string, tag: string): string;
  /** The location on disk the reference writes, for "left as it was" checks. */
  location(dir: string): string;
  acceptsIndex: boolean;
  /** Whether a copy through it keeps the manifest digest (false when it must decompress layers). */
  keepsDigest: boolean;
}

const ALL_CASES: TransportCase[] = [
  { name: 'oci', ref: (d, t) => `oci:${join(d, 'layout')}:${t}`, location: (d) => join(d, 'layout'), acceptsIndex: true, keepsDigest: true },
  { name: 'dir', ref: (d) => `dir:${join(d, 'dirimg')}`, location: (d) => join(d, 'dirimg'), acceptsIndex: true, keepsDigest: true },
  {
    name: 'docker-archive',
    ref: (d, t) => `docker-archive:${join(d, 'image.tar')}:example.com/test/img:${t}`,
    location: (d) => join(d, 'image.tar'),
    acceptsIndex: false,
    keepsDigest: false,
  },
  { name: 'oci-archive', ref: (d, t) => `oci-archive:${join(d, 'image.oci.tar')}:${t}`, location: (d) => join(d, 'image.oci.tar'), acceptsIndex: true, keepsDigest: true },
];
const known = new Set(defaultTransports().names());
const TRANSPORTS = ALL_CASES.filter((c) => known.has(c.name));

const SIMPLE: ImageSpec = {
  tag: 'v1',
  layers: [
    [
      { path: 'etc/os-release', content: 'ID=wharf\n' },
      { path: 'bin/tool', size: 70_000, mode: 0o755 },
    ],
    [{ path: 'etc/app.conf', content: 'x=1\n' }, { path: 'etc/link', type: 'symlink', linkTarget: 'app.conf' }],
  ],
  config: { Env: ['PATH=/bin', 'A=<b>&'], Cmd: ['/bin/tool'], Labels: { team: 'wharf' }, User: '1000' },
};


async function sourceLayout(t: TestContext, images: ImageSpec[], options = {}) {
  const dir = await tempDir(t);
  return buildLayout(join(dir, 'src'), images, options);
}

for (const tc of TRANSPORTS) {
  describe(`transport ${tc.name}`, () => {
    test('round trip keeps the image', async (t) => {
      const src = await sourceLayout(t, [SIMPLE]);
      const dir = await tempDir(t);
      const img = src.images[0]!;
      const there = await copy(`oci:${src.dir}:v1`, tc.ref(dir, 'v1'), {});
      if (tc.keepsDigest) assert.equal(there.digest, img.manifest.digest);
      const back = await copy(tc.ref(dir, 'v1'), `oci:${join(dir, 'back')}:v1`, {});
      const info = await inspect(`oci:${join(dir, 'back')}:v1`);
      if (tc.keepsDigest) assert.equal(back.digest, img.manifest.digest);
      assert.equal(info.rawConfig?.toString(), img.config.bytes.toString(), 'config bytes unchanged');
      assert.deepEqual(info.config.rootfs.diff_ids, img.diffIds);
      assert.deepEqual(info.output.Env, ['PATH=/bin', 'A=<b>&']);
      assert.deepEqual(info.output.Labels, { team: 'wharf' });
      const direct = await inspect(tc.ref(dir, 'v1'));
      assert.equal(direct.output.Layers.length, 2);
      assert.equal(direct.output.Architecture, 'amd64');
    });

    test('multi-platform index', async (t) => {
      const layers = [[{ path: 'f', content: 'x' }]];
      const src = await sourceLayout(t, [
        { tag: 'multi', platform: { os: 'linux', architecture: 'amd64' }, layers, config: { Env: ['ARCH=amd64'] } },
        { tag: 'multi', platform: { os: 'linux', architecture: 'arm64', variant: 'v8' }, layers: [[{ path: 'f', content: 'y' }]], config: { Env: ['ARCH=arm64'] } },
      ]);
      const dir = await tempDir(t);
      const ref = src.ref('multi');
      if (tc.acceptsIndex) {
        const r = await copy(`oci:${src.dir}:multi`, tc.ref(dir, 'multi'), { all: true });
        assert.equal(r.digest, ref.digest, 'the index is copied byte for byte');
        const arm = await inspect(tc.ref(dir, 'multi'), { platform: { os: 'linux', architecture: 'arm64' } });
        assert.deepEqual(arm.output.Env, ['ARCH=arm64']);
        assert.equal(arm.output.Digest, ref.digest, 'Digest is the index digest, as skopeo prints it');
        assert.equal(arm.platforms?.length, 2);
      } else {
        await expectCode(copy(`oci:${src.dir}:multi`, tc.ref(dir, 'multi'), { all: true }), 'CONVERSION_UNSUPPORTED');
      }
      // Without --all: one platform, chosen explicitly.
      const dir2 = await tempDir(t);
      const one = await copy(`oci:${src.dir}:multi`, tc.ref(dir2, 'one'), { platform: { os: 'linux', architecture: 'arm64' } });
      if (tc.keepsDigest) assert.equal(one.digest, src.images[1]!.manifest.digest);
      const info = await inspect(tc.ref(dir2, 'one'));
      assert.deepEqual(info.output.Env, ['ARCH=arm64']);
      await expectCode(copy(`oci:${src.dir}:multi`, tc.ref(dir2, 'x'), { platform: { os: 'linux', architecture: 's390x' } }), 'PLATFORM_NOT_FOUND');
    });

    test('zero-layer image and an empty layer', async (t) => {
      const src = await sourceLayout(t, [
        { tag: 'zero', config: { Cmd: ['true'] } },
        { tag: 'emptylayer', layers: [[]] },
      ]);
      for (const tag of ['zero', 'emptylayer']) {
        const dir = await tempDir(t);
        const r = await copy(`oci:${src.dir}:${tag}`, tc.ref(dir, tag), {});
        if (tc.keepsDigest) assert.equal(r.digest, src.ref(tag).digest);
        const info = await inspect(tc.ref(dir, tag));
        assert.equal(info.output.Layers.length, tag === 'zero' ? 0 : 1);
        await copy(tc.ref(dir, tag), `oci:${join(dir, 'back')}:${tag}`, {});
      }
    });

    test('a large blob streams with bounded memory', async (t) => {
      const src = await sourceLayout(t, [{ tag: 'big', layers: [largeLayer(160)] }], { gzipLevel: 1 });
      const dir = await tempDir(t);
      global.gc?.();
      const base = process.memoryUsage().rss;
      let peak = base;
      const timer = setInterval(() => {
        peak = Math.max(peak, process.memoryUsage().rss);
      }, 10);
      try {
        await copy(`oci:${src.dir}:big`, tc.ref(dir, 'big'), {});
        await copy(tc.ref(dir, 'big'), `oci:${join(dir, 'back')}:big`, {});
      } finally {
        clearInterval(timer);
      }
      const grew = (peak - base) / (1 << 20);
      assert.ok(grew < 100, `memory grew by ${grew.toFixed(0)} MiB while streaming a 160 MiB layer`);
    });

    test('a corrupt blob fails with a digest error and the destination gains nothing', async (t) => {
      const src = await sourceLayout(t, [SIMPLE, { tag: 'other', layers: [[{ path: 'other', content: 'o' }]], config: { Env: ['OTHER=1'] } }]);
      const dir = await tempDir(t);
      // The destination already holds another image: it must keep it, untouched.
      await copy(`oci:${src.dir}:other`, tc.ref(dir, 'other'), {});
      const before = await snapshot(tc.location(dir));
      await corruptBlob(src.dir, src.ref('v1').images[0]!.layers[0]!.digest);
      const err = await expectCode(copy(`oci:${src.dir}:v1`, tc.ref(dir, 'v1'), {}), 'DIGEST_MISMATCH');
      assert.match(err.message, /sha256:/);
      assert.equal(await snapshot(tc.location(dir)), before);
      // And into a fresh location, nothing at all is left behind.
      const fresh = await tempDir(t);
      await expectCode(copy(`oci:${src.dir}:v1`, tc.ref(fresh, 'v1'), {}), 'DIGEST_MISMATCH');
      assert.equal(await snapshot(tc.location(fresh)), '. absent');
    });

    test('a missing blob fails with BLOB_UNKNOWN and leaves nothing', async (t) => {
      const src = await sourceLayout(t, [SIMPLE]);
      await removeBlob(src.dir, src.images[0]!.layers[1]!.digest);
      const dir = await tempDir(t);
      await expectCode(copy(`oci:${src.dir}:v1`, tc.ref(dir, 'v1'), {}), 'BLOB_UNKNOWN');
      assert.equal(await snapshot(tc.location(dir)), '. absent');
    });

    test('a missing image is IMAGE_NOT_FOUND', async (t) => {
      const src = await sourceLayout(t, [SIMPLE]);
      const dir = await tempDir(t);
      await copy(`oci:${src.dir}:v1`, tc.ref(dir, 'v1'), {});
      if (tc.name === 'dir') {
        await expectCode(inspect(`dir:${join(dir, 'nothing-here')}`), 'IMAGE_NOT_FOUND');
      } else if (tc.name === 'oci') {
        await expectCode(inspect(tc.ref(dir, 'nope')), 'IMAGE_NOT_FOUND');
      } else {
        await expectCode(inspect(tc.ref(dir, 'nope')), 'IMAGE_NOT_FOUND');
        await expectCode(inspect(`${tc.name}:${join(dir, 'no-such-file.tar')}`), 'IMAGE_NOT_FOUND');
      }
    });
  });
}

test('every transport of the default registry runs the shared suite', () => {
  assert.deepEqual(
    TRANSPORTS.map((c) => c.name).sort(),
    defaultTransports().names().filter((n) => ALL_CASES.some((c) => c.name === n)).sort(),
  );
  assert.ok(parseReference('oci:/x:y'));
});
