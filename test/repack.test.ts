/**
 * `wharf repack` and repackImage(): the changes made in an unpacked directory become one new layer of its image.
 * Checked by unpacking the result again (wharf, and umoci as the peer) and comparing it with the directory, by
 * reading the new layer's entries (only what changed; one whiteout per removed tree), and by the failure cases:
 * nothing changed, a corrupt base, an abort — the destination is left as it was.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { diffImages } from '../src/filesystem/diff.js';
import { openImage } from '../src/filesystem/image-layers.js';
import { readLayer } from '../src/filesystem/image-tree.js';
import { repackImage } from '../src/filesystem/repack.js';
import { unpackImage } from '../src/filesystem/unpack.js';
import { parseReference } from '../src/index.js';
import type { LayerEntry } from '../src/layer/types.js';
import { expectCode } from './helpers/assert.js';
import { buildLayout, corruptBlob, type ImageSpec } from './helpers/images.js';
import { requirePeer, runPeer, tempDir } from './helpers/peers.js';
import { runCli, type CliRun } from './helpers/run-cli.js';

const BASE: ImageSpec = {
  tag: 'v1',
  layers: [
    [
      { path: 'etc', type: 'dir' },
      { path: 'etc/os-release', content: 'ID=wharf\n' },
      { path: 'etc/motd', content: 'hello\n' },
      { path: 'etc/owned', content: 'app data', uid: 1000, gid: 1000 },
      { path: 'opt/old/a', content: 'a' },
      { path: 'opt/old/deep/b', content: 'b' },
      { path: 'var/was-dir/x', content: 'x' },
      { path: 'bin/tool', content: '#!/bin/sh\n', mode: 0o755 },
      { path: 'same', content: 'same size!' },
    ],
  ],
  config: { Cmd: ['/bin/tool'], Env: ['A=1'] },
};

function cli(argv: string[], cwd: string, uid?: number): Promise<CliRun> {
  return runCli(argv, { cwd, ...(uid === undefined ? {} : { uid }) });
}

/** A layout with the base image, unpacked into dir/root. */
async function unpacked(t: TestContext, spec: ImageSpec = BASE): Promise<{ dir: string; layout: string; root: string }> {
  const dir = await tempDir(t, 'wharf-repack-');
  const layout = (await buildLayout(join(dir, 'layout'), [spec])).dir;
  const root = join(dir, 'root');
  await unpackImage(parseReference(`oci:${layout}:v1`), root, { isRoot: process.getuid?.() === 0 });
  return { dir, layout, root };
}

/** The top layer's entries (headers) of an image. */
async function topLayer(ref: string): Promise<LayerEntry[]> {
  const image = await openImage(parseReference(ref));
  try {
    const out: LayerEntry[] = [];
    await readLayer(image, image.layers.length - 1, async (entries) => {
      for await (const { entry } of entries) out.push(entry);
    });
    return out;
  } finally {
    await image.close();
  }
}

/** Every kind of change a user makes in a container's root filesystem. */
async function change(root: string): Promise<void> {
  await fsp.writeFile(join(root, 'hello'), 'hi\n');
  await fsp.mkdir(join(root, 'srv/app'), { recursive: true });
  await fsp.writeFile(join(root, 'srv/app/one'), 'one');
  await fsp.link(join(root, 'srv/app/one'), join(root, 'srv/app/two'));
  await fsp.appendFile(join(root, 'etc/motd'), 'more\n');
  await fsp.writeFile(join(root, 'same'), 'SAME SIZE!'); // the same size, a new time
  await fsp.chmod(join(root, 'bin/tool'), 0o700);
  await fsp.rm(join(root, 'etc/os-release'));
  await fsp.rm(join(root, 'opt/old'), { recursive: true });
  await fsp.rm(join(root, 'var/was-dir'), { recursive: true });
  await fsp.writeFile(join(root, 'var/was-dir'), 'now a file');
  await fsp.symlink('/etc/shadow', join(root, 'link-out'));
}

describe('repackImage', () => {
  test('every kind of change: unpacking the result gives the changed directory back; the layer holds only the changes', async (t) => {
    const { layout, root, dir } = await unpacked(t);
    await change(root);
    const r = await repackImage(root, parseReference(`oci:${layout}:v2`), { base: parseReference(`oci:${layout}:v1`), isRoot: process.getuid?.() === 0, createdBy: 'changes', comment: 'by a test' });
    assert.equal(r.written, true);
    assert.deepEqual([r.added, r.changed, r.removed], [6, 4, 6], JSON.stringify(r));
    const again = join(dir, 'again');
    await unpackImage(parseReference(`oci:${layout}:v2`), again, { isRoot: process.getuid?.() === 0 });
    const d = await diffImages({ kind: 'dir', path: root }, { kind: 'dir', path: again });
    assert.deepEqual([d.onlyInA, d.onlyInB, d.different], [[], [], []]);
    assert.equal((await fsp.stat(join(again, 'srv/app/one'))).ino, (await fsp.stat(join(again, 'srv/app/two'))).ino, 'a hard link stays one');

    const entries = await topLayer(`oci:${layout}:v2`);
    const names = entries.map((e) => `${e.type} ${e.path}`).sort();
    assert.deepEqual(names, [
      'dir srv',
      'dir srv/app',
      'file etc/.wh.os-release',
      'file bin/tool',
      'file etc/motd',
      'file hello',
      'file opt/.wh.old',
      'file same',
      'file srv/app/one',
      'file var/was-dir',
      'hardlink srv/app/two',
      'symlink link-out',
    ].sort());
    // The old tree under /opt/old and /var/was-dir is gone by its top alone: no whiteout below it.
    const tool = entries.find((e) => e.path === 'bin/tool')!;
    assert.equal(tool.mode & 0o7777, 0o700);

    const image = await openImage(parseReference(`oci:${layout}:v2`));
    try {
      const history = image.config.history!;
      assert.deepEqual({ ...history.at(-1), created: undefined }, { created: undefined, created_by: 'changes', comment: 'by a test' });
      assert.equal(image.config.rootfs!.diff_ids.length, 2);
      assert.equal(image.config.rootfs!.diff_ids[1], r.layer!.diffId);
      assert.deepEqual(image.config.config?.Cmd, ['/bin/tool'], 'the rest of the config is kept');
    } finally {
      await image.close();
    }
    // v1 is still what it was.
    const v1 = await openImage(parseReference(`oci:${layout}:v1`));
    assert.equal(v1.layers.length, 1);
    await v1.close();
  });

  test('umoci unpacks what repack wrote to the same tree', async (t) => {
    if (!requirePeer(t, 'umoci')) return;
    const { layout, root, dir } = await unpacked(t);
    await change(root);
    await repackImage(root, parseReference(`oci:${layout}:v1`), { isRoot: process.getuid?.() === 0 });
    const bundle = join(dir, 'umoci');
    await runPeer('umoci', ['unpack', '--rootless', '--image', `${layout}:v1`, bundle]);
    const d = await diffImages({ kind: 'dir', path: root }, { kind: 'dir', path: join(bundle, 'rootfs') }, { ignore: ['uid', 'gid'] });
    assert.deepEqual([d.onlyInA, d.onlyInB, d.different], [[], [], []]);
    // skopeo reads it too.
    if (requirePeer(t, 'skopeo')) {
      const out = JSON.parse(await runPeer('skopeo', ['inspect', `oci:${layout}:v1`])) as { Layers: string[] };
      assert.equal(out.Layers.length, 2);
    }
  });

  test('nothing changed: nothing written, index.json byte for byte as it was', async (t) => {
    const { layout, root } = await unpacked(t);
    const before = await fsp.readFile(join(layout, 'index.json'));
    const r = await repackImage(root, parseReference(`oci:${layout}:v1`), { isRoot: true });
    assert.equal(r.written, false);
    assert.deepEqual(await fsp.readFile(join(layout, 'index.json')), before);
    const empty = await repackImage(root, parseReference(`oci:${layout}:v1`), { isRoot: true, allowEmpty: true });
    assert.equal(empty.written, true);
    assert.deepEqual(await topLayer(`oci:${layout}:v1`), []);
  });

  test('a file changed with its size and time put back is found by fullCompare only (the quick check is documented)', async (t) => {
    const { layout, root } = await unpacked(t);
    const p = join(root, 'same');
    const st = await fsp.stat(p);
    await fsp.writeFile(p, 'SAME SIZE!');
    await fsp.utimes(p, st.atime, st.mtime);
    const quick = await repackImage(root, parseReference(`oci:${layout}:v1`), { isRoot: true });
    assert.equal(quick.written, false);
    const full = await repackImage(root, parseReference(`oci:${layout}:v1`), { isRoot: true, fullCompare: true });
    assert.equal(full.changed, 1);
    assert.deepEqual((await topLayer(`oci:${layout}:v1`)).map((e) => e.path), ['same']);
  });

  test('rootless: paths the image had keep its owners, new paths are 0:0, whatever the disk says', async (t) => {
    const { layout, root } = await unpacked(t);
    await fsp.appendFile(join(root, 'etc/owned'), ' changed');
    await fsp.writeFile(join(root, 'new'), 'new');
    if (process.getuid?.() === 0) {
      await fsp.chown(join(root, 'etc/owned'), 4321, 4321);
      await fsp.chown(join(root, 'new'), 4321, 4321);
    }
    await repackImage(root, parseReference(`oci:${layout}:v1`), { isRoot: false });
    const owners = Object.fromEntries((await topLayer(`oci:${layout}:v1`)).map((e) => [e.path, `${e.uid}:${e.gid}`]));
    assert.deepEqual(owners, { 'etc/owned': '1000:1000', new: '0:0' });
  });

  test('root: owners come from the disk', { skip: process.getuid?.() !== 0 ? 'needs root to chown' : false }, async (t) => {
    const { layout, root } = await unpacked(t);
    await fsp.chown(join(root, 'etc/motd'), 4321, 99);
    const r = await repackImage(root, parseReference(`oci:${layout}:v1`), { isRoot: true });
    assert.equal(r.changed, 1);
    const [e] = await topLayer(`oci:${layout}:v1`);
    assert.equal(`${e!.path} ${e!.uid}:${e!.gid}`, 'etc/motd 4321:99');
  });

  test('a bundle: rootfs/ is compared, config.json is not part of the image', async (t) => {
    const dir = await tempDir(t, 'wharf-repack-');
    const layout = (await buildLayout(join(dir, 'layout'), [BASE])).dir;
    const bundle = join(dir, 'bundle');
    await unpackImage(parseReference(`oci:${layout}:v1`), bundle, { bundle: true, isRoot: true });
    await fsp.writeFile(join(bundle, 'rootfs/hello'), 'hi');
    const r = await repackImage(bundle, parseReference(`oci:${layout}:v1`), { isRoot: true });
    assert.deepEqual([r.added, r.changed, r.removed], [1, 0, 0]);
    assert.deepEqual((await topLayer(`oci:${layout}:v1`)).map((e) => e.path), ['hello']);
  });

  test('a corrupt base layer fails the repack and the destination is left as it was', async (t) => {
    const { layout, root, dir } = await unpacked(t);
    await fsp.writeFile(join(root, 'hello'), 'hi');
    const built = await openImage(parseReference(`oci:${layout}:v1`));
    const digest = built.layers[0]!.digest;
    await built.close();
    await corruptBlob(layout, digest);
    const dest = join(dir, 'dest');
    await buildLayout(dest, [{ tag: 'other', layers: [[{ path: 'x', content: 'x' }]] }]);
    const before = await fsp.readFile(join(dest, 'index.json'));
    const blobsBefore = (await fsp.readdir(join(dest, 'blobs/sha256'))).sort();
    await expectCode(repackImage(root, parseReference(`oci:${dest}:v2`), { base: parseReference(`oci:${layout}:v1`), isRoot: true }), 'DIGEST_MISMATCH');
    assert.deepEqual(await fsp.readFile(join(dest, 'index.json')), before);
    assert.deepEqual((await fsp.readdir(join(dest, 'blobs/sha256'))).sort(), blobsBefore);
  });

  test('aborted while writing: the destination gains nothing', async (t) => {
    const { layout, root } = await unpacked(t);
    await fsp.writeFile(join(root, 'big'), Buffer.alloc(8 << 20, 7));
    const before = await fsp.readFile(join(layout, 'index.json'));
    const ac = new AbortController();
    const p = repackImage(root, parseReference(`oci:${layout}:v1`), {
      isRoot: true,
      signal: ac.signal,
      onEvent: (e) => {
        if (e.type === 'blob-start') ac.abort();
      },
    });
    await assert.rejects(p);
    assert.deepEqual(await fsp.readFile(join(layout, 'index.json')), before);
  });

  test('attack: a symlink to the host /etc/shadow and a FIFO in the directory: the link is stored as a link, the FIFO left out, neither opened', async (t) => {
    const { layout, root } = await unpacked(t);
    await fsp.symlink('/etc/shadow', join(root, 'shadow'));
    await fsp.symlink('../../../../../../etc', join(root, 'up'));
    execFileSync('mkfifo', [join(root, 'pipe')]);
    const warnings: string[] = [];
    const r = await repackImage(root, parseReference(`oci:${layout}:v1`), { isRoot: true, onWarning: (m) => warnings.push(m) });
    assert.deepEqual(r.skipped, { fifo: 1 });
    assert.match(warnings.join('\n'), /pipe: a fifo cannot be stored/);
    const entries = await topLayer(`oci:${layout}:v1`);
    assert.deepEqual(entries.map((e) => `${e.type} ${e.path} ${e.linkname ?? ''} ${e.size}`).sort(), ['symlink shadow /etc/shadow 0', 'symlink up ../../../../../../etc 0']);
  });
});

describe('the debian bench fixture', () => {
  test('unpacked, one file added and one removed: the new layer holds exactly those two (every other file keeps its size, mode and time)', { timeout: 120_000 }, async (t) => {
    const fixture = '/tmp/wharf-fixtures/oci/debian';
    if (!(await fsp.stat(fixture).then(() => true, () => false))) {
      t.skip(`the bench fixtures are not in ${fixture} (make them with ../shared/bench/make-fixtures.sh)`);
      return;
    }
    const dir = await tempDir(t, 'wharf-repack-');
    const root = join(dir, 'root');
    await unpackImage(parseReference(`oci:${fixture}:latest`), root, { isRoot: process.getuid?.() === 0 });
    await fsp.writeFile(join(root, 'hello'), 'hi\n');
    await fsp.rm(join(root, 'etc/hostname'));
    const dest = `oci:${join(dir, 'out')}:v2`;
    const r = await repackImage(root, parseReference(dest), { base: parseReference(`oci:${fixture}:latest`), isRoot: process.getuid?.() === 0 });
    assert.deepEqual([r.added, r.changed, r.removed], [1, 0, 1]);
    assert.deepEqual((await topLayer(dest)).map((e) => e.path).sort(), ['etc/.wh.hostname', 'hello']);
  });
});

describe('wharf repack', () => {
  test('--json summary; the history entry shows in wharf history; --history.created_by as umoci spells it', async (t) => {
    const { layout, root, dir } = await unpacked(t);
    await fsp.writeFile(join(root, 'hello'), 'hi');
    const r = await cli(['repack', '--json', '--history.created_by', 'add hello', 'root', `oci:${layout}:v1`], dir, 0);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { written: boolean; added: number; digest: string; layer: { digest: string } };
    assert.equal(out.written, true);
    assert.equal(out.added, 1);
    const h = await cli(['history', '--json', `oci:${layout}:v1`], dir);
    assert.match(h.stdout, /add hello/);
    const again = await cli(['repack', 'root', `oci:${layout}:v1`], dir, 0);
    assert.equal(again.code, 0);
    assert.match(again.stderr, /Nothing changed/);
  });

  test('bad flags and operands are usage errors (exit 2) with a hint', async (t) => {
    const { layout, dir } = await unpacked(t);
    const bad = await cli(['repack', '--compress', 'lz4', 'root', `oci:${layout}:v1`], dir);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /unknown compression "lz4"/);
    const missing = await cli(['repack', 'nowhere', `oci:${layout}:v1`], dir);
    assert.notEqual(missing.code, 0);
    assert.doesNotMatch(missing.stderr, /\n\s+at /, 'no stack trace');
    const v2 = join(dir, 'v2');
    await buildLayout(v2, [BASE], { format: 'v2s2' });
    await fsp.writeFile(join(dir, 'root/x'), 'x');
    const zstd = await cli(['repack', '--compress', 'zstd', '--base', `oci:${layout}:v1`, 'root', `oci:${v2}:from-oci`], dir);
    assert.equal(zstd.code, 0, `an OCI base takes a zstd layer: ${zstd.stderr}`);
    const zimg = await openImage(parseReference(`oci:${v2}:from-oci`));
    assert.equal(zimg.layers.at(-1)!.mediaType, 'application/vnd.oci.image.layer.v1.tar+zstd');
    await zimg.close();
    assert.deepEqual((await topLayer(`oci:${v2}:from-oci`)).map((e) => e.path), ['x']);
    const docker = await cli(['repack', '--compress', 'zstd', 'root', `oci:${v2}:v1`], dir);
    assert.equal(docker.code, 2, docker.stderr);
    assert.match(docker.stderr, /cannot hold a zstd layer/);
  });
});
