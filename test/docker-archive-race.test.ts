import assert from 'node:assert/strict';
import { rename } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { test } from 'node:test';
import { copy, parseReference, DigestMismatchError } from '../src/index.js';
import { DigestingStream } from '../src/digest/index.js';
import { parseManifest } from '../src/oci/manifest.js';
import { buildLayout } from './helpers/images.js';
import { tempDir } from './helpers/peers.js';

test('a docker-archive source keeps reading the archive it opened when another is renamed over the path', async (t) => {
  const dir = await tempDir(t);
  const src = await buildLayout(join(dir, 'src'), [
    { tag: 'a', layers: [[{ path: 'a', size: 300_000, seed: 'first' }]] },
    { tag: 'b', layers: [[{ path: 'b', size: 300_000, seed: 'second' }]] },
  ]);
  const path = join(dir, 'image.tar');
  await copy(`oci:${src.dir}:a`, `docker-archive:${path}:x/a:1`);
  await copy(`oci:${src.dir}:b`, `docker-archive:${join(dir, 'other.tar')}:x/b:1`);
  const source = await parseReference(`docker-archive:${path}`).newSource();
  try {
    const before = await source.getManifest();
    // A writer replaces the archive while the source is open (a rename, as every wharf writer does).
    await rename(join(dir, 'other.tar'), path);
    const manifest = parseManifest(before.bytes, before.mediaType);
    assert.equal(manifest.kind, 'image');
    if (manifest.kind !== 'image') return;
    for (const desc of [manifest.manifest.config, ...manifest.manifest.layers]) {
      const { stream } = await source.getBlob(desc);
      // Every blob still matches the manifest read before the rename.
      await pipeline(stream, new DigestingStream({ digest: desc.digest, size: desc.size }), async function* (s: AsyncIterable<Buffer>) {
        for await (const _ of s) void _;
      }).catch((err: unknown) => {
        if (err instanceof DigestMismatchError) assert.fail(`blob ${desc.digest} was read from the new file`);
        throw err;
      });
    }
  } finally {
    await source.close();
  }
});
