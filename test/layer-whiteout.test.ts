/**
 * OCI whiteout names (image-spec layer.md, "Whiteouts" and "Opaque Whiteout"), as src/layer/whiteout.ts
 * classifies them: file whiteouts, opaque whiteouts, AUFS metadata, and the malformed ones.
 */
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { WharfError } from '../src/errors.js';
import { readLayerEntries } from '../src/layer/tar-stream.js';
import type { LayerEntry, Whiteout } from '../src/layer/types.js';
import { OPAQUE_WHITEOUT, isWhiteoutName, whiteoutOf } from '../src/layer/whiteout.js';
import { requirePeer, runPeer, tempDir } from './helpers/peers.js';

function entry(path: string, type: LayerEntry['type'] = 'file'): LayerEntry {
  return { path, type, mode: 0o644, uid: 0, gid: 0, size: 0, mtime: 0 };
}

function of(path: string, type: LayerEntry['type'] = 'file'): Whiteout | undefined {
  return whiteoutOf(entry(path, type));
}

function assertInvalid(path: string): void {
  assert.throws(
    () => of(path),
    (err: unknown) => {
      assert.ok(err instanceof WharfError);
      assert.equal(err.code, 'LAYER_INVALID');
      assert.ok(err.message.includes(path), err.message);
      assert.ok(err.hint);
      return true;
    },
  );
}

test('.wh.NAME removes NAME in the same directory', () => {
  assert.deepEqual(of('etc/.wh.my-app-config'), { kind: 'file', target: 'etc/my-app-config' });
  assert.deepEqual(of('.wh.top'), { kind: 'file', target: 'top' });
  assert.deepEqual(of('a/b/c/.wh..hidden'), { kind: 'file', target: 'a/b/c/.hidden' }, 'a dot file can be whited out');
  assert.deepEqual(of('a/.wh.x.wh.y'), { kind: 'file', target: 'a/x.wh.y' });
});

test('.wh..wh..opq makes its directory opaque', () => {
  assert.deepEqual(of(`a/${OPAQUE_WHITEOUT}`), { kind: 'opaque', dir: 'a' });
  assert.deepEqual(of(`usr/share/doc/${OPAQUE_WHITEOUT}`), { kind: 'opaque', dir: 'usr/share/doc' });
  assert.deepEqual(of(OPAQUE_WHITEOUT), { kind: 'opaque', dir: '' }, 'at the top: the root is opaque');
});

test('a whiteout is recognised by its name whatever the entry type (as Docker, containerd and umoci do)', () => {
  assert.deepEqual(of('x/.wh.gone', 'dir'), { kind: 'file', target: 'x/gone' });
  assert.deepEqual(of('x/.wh.gone', 'symlink'), { kind: 'file', target: 'x/gone' });
  assert.deepEqual(of(`x/${OPAQUE_WHITEOUT}`, 'hardlink'), { kind: 'opaque', dir: 'x' });
});

test('.wh. with an empty name, ".wh.." and ".wh..." are errors', () => {
  assertInvalid('a/.wh.');
  assertInvalid('.wh.');
  assertInvalid('a/.wh..');
  assertInvalid('a/b/.wh...');
});

test('AUFS metadata (.wh..wh.plnk, .wh..wh.aufs, and what is under them) is ignored, not taken for a whiteout', () => {
  for (const p of ['.wh..wh.plnk', '.wh..wh.plnk/123.456', '.wh..wh.plnk/deep/er', '.wh..wh.aufs', '.wh..wh.orph', 'a/.wh..wh.plnk/x']) {
    assert.deepEqual(of(p, p.endsWith('plnk') ? 'dir' : 'file'), { kind: 'aufs' }, p);
  }
});

test('ordinary names are not whiteouts', () => {
  for (const p of ['', 'etc/passwd', 'a.wh.b', 'x/.whatever', '.wh', 'wh.x', 'x/.w.h.y', 'a/.wh.dir/child']) {
    assert.equal(of(p), undefined, p);
  }
});

test('isWhiteoutName: every name the convention reserves', () => {
  for (const n of ['.wh.x', OPAQUE_WHITEOUT, '.wh..wh.plnk', 'a/b/.wh.c', 'a/.wh.c/', '.wh.']) assert.equal(isWhiteoutName(n), true, n);
  for (const n of ['x', 'a.wh.b', '.wh', 'a/.wh.b/c', '', '/']) assert.equal(isWhiteoutName(n), false, n);
});

test('whiteouts in a layer made by GNU tar, read by the stream reader, in any entry order', async (t) => {
  if (!requirePeer(t, 'tar')) return;
  const dir = await tempDir(t);
  const src = join(dir, 'layer');
  await fsp.mkdir(join(src, 'a/b/c'), { recursive: true });
  await fsp.mkdir(join(src, 'etc'), { recursive: true });
  await fsp.writeFile(join(src, 'a/b/c/foo'), 'foo');
  await fsp.writeFile(join(src, 'a', OPAQUE_WHITEOUT), '');
  await fsp.writeFile(join(src, 'etc/.wh.my-app-config'), '');
  await fsp.writeFile(join(src, 'etc/kept'), 'k');
  const expected = new Map<string, Whiteout | undefined>([
    ['', undefined],
    ['a', undefined],
    ['a/b', undefined],
    ['a/b/c', undefined],
    ['a/b/c/foo', undefined],
    [`a/${OPAQUE_WHITEOUT}`, { kind: 'opaque', dir: 'a' }],
    ['etc', undefined],
    ['etc/.wh.my-app-config', { kind: 'file', target: 'etc/my-app-config' }],
    ['etc/kept', undefined],
  ]);
  // Tar order (directories first, the marker among its siblings), and the reverse: children before their
  // directories, the opaque marker after what it sits beside. Classification is per entry: order cannot matter.
  const natural = ['.', './a', './a/b', './a/b/c', './a/b/c/foo', `./a/${OPAQUE_WHITEOUT}`, './etc', './etc/.wh.my-app-config', './etc/kept'];
  for (const order of [natural, [...natural].reverse()]) {
    const path = join(dir, 'layer.tar');
    await runPeer('tar', ['--format=pax', '--no-recursion', '-cf', path, '-C', src, ...order]);
    const seen: Array<[string, Whiteout | undefined]> = [];
    for await (const { entry: e } of readLayerEntries(createReadStream(path))) seen.push([e.path, whiteoutOf(e)]);
    assert.deepEqual(seen.map(([p]) => p), order.map((p) => p.replace(/^\.\/?/, '')));
    for (const [p, w] of seen) assert.deepEqual(w, expected.get(p), p);
  }
});
