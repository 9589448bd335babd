/**
 * `unpackImage`: the root filesystem of an image on disk, agreeing with umoci (the real peer) on names, types,
 * modes, sizes, link targets and contents; OCI whiteouts applied; hostile layers (a test named after each
 * attack) never write outside the target; an interrupted or failed unpack leaves the target as it was; the
 * bundle's config.json starts under runc.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { parseReference } from '../src/index.js';
import { unpackImage } from '../src/filesystem/unpack.js';
import { buildLayout, corruptBlob, type FileSpec, type ImageSpec } from './helpers/images.js';
import { requirePeer, runPeer, tempDir } from './helpers/peers.js';

/** Every path under root with what both tools must agree on: type, mode, size, link target, content hash. */
async function describeTree(root: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (dir: string, rel: string): Promise<void> => {
    for (const name of (await fsp.readdir(dir)).sort()) {
      const p = join(dir, name);
      const r = rel ? `${rel}/${name}` : name;
      const st = await fsp.lstat(p);
      const mode = (st.mode & 0o7777).toString(8);
      if (st.isDirectory()) {
        out.set(r, `dir ${mode}`);
        await walk(p, r);
      } else if (st.isSymbolicLink()) {
        out.set(r, `symlink -> ${await fsp.readlink(p)}`);
      } else if (st.isFile()) {
        out.set(r, `file ${mode} ${st.size} ${createHash('sha256').update(await fsp.readFile(p)).digest('hex').slice(0, 16)}`);
      } else {
        out.set(r, 'other');
      }
    }
  };
  await walk(root, '');
  return out;
}

const LAYERS: ImageSpec = {
  tag: 'v1',
  layers: [
    [
      { path: 'etc', type: 'dir', mode: 0o755 },
      { path: 'etc/passwd', content: 'root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/app:/bin/sh\n' },
      { path: 'etc/group', content: 'root:x:0:\napp:x:1000:\n' },
      { path: 'usr/lib/libx.so', content: 'lib' },
      { path: 'lib', type: 'symlink', linkTarget: 'usr/lib' },
      { path: 'bin/tool', content: '#!/bin/sh\n', mode: 0o4755 },
      { path: 'bin/tool-link', type: 'hardlink', linkTarget: 'bin/tool' },
      { path: 'data/old1', content: '1' },
      { path: 'data/old2', content: '2' },
      { path: 'secret.env', content: 'AWS=1' },
      { path: 'ro', type: 'dir', mode: 0o555 },
      { path: 'ro/inside', content: 'written although ro is read-only' },
    ],
    {
      // No directory entries: `lib/` would replace the symlink with a directory (as it does in both tools).
      implicitDirs: false,
      files: [
        { path: '.wh.secret.env', content: '' },
        { path: 'etc/hostname', content: 'wharf\n' },
        { path: 'lib/liby.so', content: 'through the usrmerge link' },
      ],
    },
    [
      { path: 'data/new1', content: 'new' },
      { path: 'data/.wh..wh..opq', content: '' },
      { path: 'data', type: 'dir', mode: 0o750 },
    ],
  ],
  config: { Cmd: ['/bin/tool'], User: 'app', WorkingDir: '/data', Env: ['A=1'] },
};

test('unpack agrees with umoci unpack --rootless: whiteouts, an opaque directory after its new child, hard links, usrmerge symlinks, modes', async (t) => {
  if (!requirePeer(t, 'umoci')) return;
  const dir = await tempDir(t);
  const src = await buildLayout(join(dir, 'src'), [LAYERS]);
  const ours = join(dir, 'ours');
  const result = await unpackImage(parseReference(`oci:${src.dir}:v1`), ours);
  assert.equal(result.layers, 3);
  await runPeer('umoci', ['unpack', '--rootless', '--image', `${src.dir}:v1`, join(dir, 'umoci')]);
  const theirs = await describeTree(join(dir, 'umoci', 'rootfs'));
  const mine = await describeTree(ours);
  assert.deepEqual([...mine.keys()], [...theirs.keys()], 'the same paths');
  for (const [path, what] of theirs) assert.equal(mine.get(path), what, path);
  // And what the rules say, spelt out:
  assert.ok(!mine.has('secret.env'), 'whited out');
  assert.deepEqual([...mine.keys()].filter((p) => p.startsWith('data/')), ['data/new1'], 'opaque: only the new child');
  assert.ok(mine.has('usr/lib/liby.so'), 'written through lib -> usr/lib, inside the root');
  const a = await fsp.stat(join(ours, 'bin/tool'));
  const b = await fsp.stat(join(ours, 'bin/tool-link'));
  assert.equal(a.ino, b.ino, 'a hard link');
  assert.equal(a.mode & 0o7777, 0o4755, 'setuid kept');
});

test('unpack --bundle: rootfs/ and a config.json from the image config that runc starts', async (t) => {
  if (!requirePeer(t, 'runc') || !requirePeer(t, 'busybox', 'busybox-static')) return;
  const dir = await tempDir(t);
  const busybox = await fsp.readFile((await runPeer('sh', ['-c', 'command -v busybox'])).trim());
  const files: FileSpec[] = [
    { path: 'bin/busybox', content: busybox, mode: 0o755 },
    { path: 'bin/sh', type: 'symlink', linkTarget: 'busybox' },
    { path: 'bin/echo', type: 'symlink', linkTarget: 'busybox' },
    { path: 'bin/id', type: 'symlink', linkTarget: 'busybox' },
    { path: 'etc/passwd', content: 'root:x:0:0::/:/bin/sh\nworker:x:1234:4321::/work:/bin/sh\n' },
    { path: 'etc/group', content: 'root:x:0:\nworkers:x:4321:\n' },
    { path: 'work', type: 'dir', mode: 0o777 },
  ];
  const src = await buildLayout(join(dir, 'src'), [{ tag: 'v1', layers: [files], config: { Entrypoint: ['/bin/sh', '-c'], Cmd: ['echo "hello from $(id -u):$(id -g) in $PWD, A=$A"'], User: 'worker', WorkingDir: '/work', Env: ['A=b c'] } }]);
  const bundle = join(dir, 'bundle');
  await unpackImage(parseReference(`oci:${src.dir}:v1`), bundle, { bundle: true, isRoot: process.getuid?.() === 0 });
  const config = JSON.parse(await fsp.readFile(join(bundle, 'config.json'), 'utf8')) as { process: { args: string[]; cwd: string; user: { uid: number; gid: number }; env: string[] } };
  assert.deepEqual(config.process.args, ['/bin/sh', '-c', 'echo "hello from $(id -u):$(id -g) in $PWD, A=$A"']);
  assert.equal(config.process.cwd, '/work');
  assert.deepEqual(config.process.user, { uid: 1234, gid: 4321 }, 'the user name resolved in the image\'s own /etc/passwd');
  assert.ok(config.process.env.includes('A=b c'));
  const out = await runPeer('runc', ['run', '--bundle', bundle, `wharf-test-${process.pid}-${Date.now()}`]);
  assert.equal(out.trim(), 'hello from 1234:4321 in /work, A=b c');
});

test('a corrupt layer fails the unpack with a digest error (wherever the damage is) and leaves the target as it was', async (t) => {
  const dir = await tempDir(t);
  // Damage early in the gzip data breaks the tar before the blob's digest is known: it must still say DIGEST_MISMATCH.
  for (const offset of [undefined, 40]) {
    const src = await buildLayout(join(dir, `src${offset ?? ''}`), [{ tag: 'v1', layers: [[{ path: 'big', size: 2 << 20 }]] }]);
    await corruptBlob(src.dir, src.images[0]!.layers[0]!.digest, offset);
    const target = join(dir, 'target');
    await assert.rejects(unpackImage(parseReference(`oci:${src.dir}:v1`), target), (err: Error & { code?: string }) => err.code === 'DIGEST_MISMATCH');
    assert.ok(!(await fsp.readdir(dir)).some((n) => n.includes('target')), 'no target, no staging folder left');
  }
});

test('an interrupted unpack leaves nothing the next run cannot replace; an existing non-empty target is refused', async (t) => {
  const dir = await tempDir(t);
  const src = await buildLayout(join(dir, 'src'), [{ tag: 'v1', layers: [[{ path: 'big', size: 20 << 20 }], [{ path: 'b', content: 'b' }]] }]);
  const target = join(dir, 'target');
  const controller = new AbortController();
  const started = unpackImage(parseReference(`oci:${src.dir}:v1`), target, { signal: controller.signal, onLayer: () => controller.abort() });
  await assert.rejects(started);
  assert.ok(!(await fsp.readdir(dir)).includes('target'));
  await unpackImage(parseReference(`oci:${src.dir}:v1`), target);
  assert.deepEqual((await fsp.readdir(target)).sort(), ['b', 'big']);
  assert.deepEqual((await fsp.readdir(dir)).sort(), ['src', 'target'], 'no staging folder left behind');
  await assert.rejects(unpackImage(parseReference(`oci:${src.dir}:v1`), target), (err: Error & { code?: string }) => err.code === 'DESTINATION_EXISTS');
});

// ---- hostile layers: each refused or skipped with a warning; nothing is written outside the target --------

async function unpackHostile(t: TestContext, files: FileSpec[][], expectError = false): Promise<{ root: string; outside: string; warnings: string[]; error?: Error }> {
  const dir = await tempDir(t);
  const outside = join(dir, 'outside');
  await fsp.mkdir(outside);
  await fsp.writeFile(join(outside, 'victim'), 'untouched');
  const src = await buildLayout(join(dir, 'src'), [{ tag: 'v1', layers: files }]);
  const root = join(dir, 'root');
  const warnings: string[] = [];
  try {
    await unpackImage(parseReference(`oci:${src.dir}:v1`), root, { onWarning: (w) => warnings.push(w) });
  } catch (err) {
    if (!expectError) throw err;
    return { root, outside, warnings, error: err as Error };
  }
  assert.equal(await fsp.readFile(join(outside, 'victim'), 'utf8'), 'untouched');
  assert.deepEqual(await fsp.readdir(outside), ['victim'], 'nothing new outside the target');
  return { root, outside, warnings };
}

test('attack: a ../ path in a layer is refused and nothing is written outside', async (t) => {
  const r = await unpackHostile(t, [[{ path: '../outside/victim', content: 'pwned', raw: true }]], true);
  assert.equal((r.error as Error & { code?: string }).code, 'LAYER_INVALID');
  assert.equal(await fsp.readFile(join(r.outside, 'victim'), 'utf8'), 'untouched');
});

test('attack: an absolute path lands inside the target, not at the host path', async (t) => {
  const r = await unpackHostile(t, [[{ path: '/abs/file', content: 'inside', raw: true }]]);
  assert.equal(await fsp.readFile(join(r.root, 'abs', 'file'), 'utf8'), 'inside');
});

test('attack: a symlink planted in one layer and written through in a later one stays inside the target', async (t) => {
  const dir = await tempDir(t);
  const r = await unpackHostile(t, [
    [{ path: 'escape', type: 'symlink', linkTarget: join(dir, '..', '..', '..') }, { path: 'rel', type: 'symlink', linkTarget: '../../../../../../tmp' }],
    [{ path: 'escape/planted', content: 'x' }, { path: 'rel/planted', content: 'y' }],
  ]);
  const inside = await describeTree(r.root);
  assert.ok([...inside.keys()].some((p) => p.endsWith('planted')), 'the files exist, inside the root');
});

test('attack: a symlink as the last component of a later file is replaced, not written through', async (t) => {
  const dir = await tempDir(t);
  const outsideFile = join(dir, 'outside', 'victim');
  const r = await unpackHostile(t, [[{ path: 'f', type: 'symlink', linkTarget: outsideFile }], [{ path: 'f', content: 'replaced' }]]);
  assert.equal(await fsp.readFile(join(r.root, 'f'), 'utf8'), 'replaced');
  assert.ok((await fsp.lstat(join(r.root, 'f'))).isFile());
});

test('attack: a hard link to a path outside the root is refused (skipped with a warning)', async (t) => {
  const r = await unpackHostile(t, [[{ path: 'hl', type: 'hardlink', linkTarget: '../outside/victim', raw: true }]], true);
  // Either the reader refuses the `..` target (LAYER_INVALID) or the unpacker skips the link: never a link made.
  if (r.error) assert.equal((r.error as Error & { code?: string }).code, 'LAYER_INVALID');
  else assert.ok(!(await fsp.readdir(r.root)).includes('hl'));
  assert.equal(await fsp.readFile(join(r.outside, 'victim'), 'utf8'), 'untouched');
});

test('attack: a hard link through a planted symlink to a host file is refused', async (t) => {
  const dir = await tempDir(t);
  const r = await unpackHostile(t, [[{ path: 'up', type: 'symlink', linkTarget: join(dir, 'outside') }], [{ path: 'hl', type: 'hardlink', linkTarget: 'up/victim' }]]);
  assert.ok(!(await fsp.readdir(r.root)).includes('hl'), 'not linked to the host file');
  assert.ok(r.warnings.some((w) => /hard link/.test(w)), r.warnings.join('\n'));
});
