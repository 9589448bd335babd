/**
 * The OCI whiteout rules of image-spec layer.md, applied by FileTree to layers given as tar headers: a test per
 * rule, and the rules again with the entries in unusual orders (an opaque marker after the directory's new
 * children, a whiteout before the file it hides, children before their directory).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { FileTree } from '../src/layer/file-tree.js';
import type { LayerEntry } from '../src/layer/types.js';
import { whiteoutOf } from '../src/layer/whiteout.js';

const file = (path: string, size = 1, extra: Partial<LayerEntry> = {}): LayerEntry => ({ path, type: 'file', mode: 0o644, uid: 0, gid: 0, size, mtime: 1, ...extra });
const dir = (path: string, extra: Partial<LayerEntry> = {}): LayerEntry => ({ path, type: 'dir', mode: 0o755, uid: 0, gid: 0, size: 0, mtime: 1, ...extra });
const link = (path: string, target: string): LayerEntry => ({ path, type: 'symlink', mode: 0o777, uid: 0, gid: 0, size: 0, mtime: 1, linkname: target });
const wh = (path: string): LayerEntry => file(path.replace(/[^/]+$/, (n) => `.wh.${n}`), 0);
const opq = (d: string): LayerEntry => file(`${d}/.wh..wh..opq`, 0);

function tree(...layers: LayerEntry[][]): FileTree {
  const t = new FileTree();
  for (const l of layers) t.applyLayer(l, whiteoutOf);
  return t;
}

describe('OCI whiteouts (image-spec layer.md)', () => {
  test('a whiteout removes the path and everything below it from lower layers, and never shows itself', () => {
    const t = tree([dir('a'), file('a/x'), dir('a/sub'), file('a/sub/y'), file('b')], [wh('a/sub'), wh('b')]);
    assert.deepEqual(t.paths(), ['a', 'a/x']);
    assert.deepEqual(t.layers[1]!.removed.map((r) => r.path).sort(), ['a/sub', 'a/sub/y', 'b']);
  });

  test('an opaque marker hides everything lower layers put in its directory, but keeps the directory', () => {
    const t = tree([dir('d'), file('d/old1'), file('d/old2'), dir('d/deep'), file('d/deep/z')], [dir('d'), opq('d'), file('d/new1')]);
    assert.deepEqual(t.paths(), ['d', 'd/new1']);
  });

  test('the opaque marker applies before the layer\'s own entries, whatever their tar order', () => {
    // The layer's new child comes first in the tar, the marker after it: the child must survive.
    const t = tree([dir('d'), file('d/old')], [file('d/new'), opq('d'), dir('d')]);
    assert.deepEqual(t.paths(), ['d', 'd/new']);
  });

  test('a whiteout never removes what its own layer adds, before or after it in the tar', () => {
    const before = tree([file('f', 1)], [file('f', 2), wh('f')]);
    assert.equal(before.get('f')?.entry.size, 2);
    const after = tree([file('f', 1)], [wh('f'), file('f', 3)]);
    assert.equal(after.get('f')?.entry.size, 3);
  });

  test('a .wh. with no name is an error', () => {
    assert.throws(() => tree([file('a/.wh.', 0)]), (err: Error & { code?: string }) => err.code === 'LAYER_INVALID');
  });

  test('AUFS hard-link metadata (.wh..wh.plnk) is ignored, not taken for a whiteout', () => {
    const t = tree([file('keep')], [dir('.wh..wh.plnk'), file('.wh..wh.plnk/123.456', 5), file('x')]);
    assert.deepEqual(t.paths(), ['keep', 'x']);
  });

  test('a directory over a directory keeps its children (and takes the new metadata)', () => {
    const t = tree([dir('etc', { mode: 0o700 }), file('etc/passwd')], [dir('etc', { mode: 0o755 })]);
    assert.deepEqual(t.paths(), ['etc', 'etc/passwd']);
    assert.equal(t.get('etc')?.entry.mode, 0o755);
    assert.equal(t.get('etc')?.layer, 1);
  });

  test('a file over a directory replaces it and everything below it; a directory over a file replaces the file', () => {
    const t = tree([dir('x'), file('x/inner'), file('y')], [file('x', 9), dir('y'), file('y/child')]);
    assert.deepEqual(t.paths(), ['x', 'y', 'y/child']);
    assert.equal(t.get('x')?.entry.type, 'file');
    assert.deepEqual(t.layers[1]!.changed.map((c) => c.path).sort(), ['x', 'y']);
  });

  test('a symlink over a directory replaces it; a later path below it goes where the link points, inside the image', () => {
    // usrmerge: lib -> usr/lib; a later layer's lib/b is usr/lib/b, as docker and umoci extract it.
    const t = tree([dir('usr'), dir('usr/lib'), dir('lib'), file('lib/a')], [link('lib', 'usr/lib')], [file('lib/b')]);
    assert.equal(t.get('lib')?.entry.type, 'symlink');
    assert.deepEqual(t.paths(), ['lib', 'usr', 'usr/lib', 'usr/lib/b']);
  });

  test('symlink escape: a link planted in one layer and written through in a later one stays inside the image', () => {
    const t = tree([link('evil', '../../../../etc'), link('abs', '/etc'), link('up', '..')], [file('evil/passwd'), file('abs/shadow'), file('up/up/x')]);
    assert.deepEqual(t.paths(), ['abs', 'etc', 'etc/passwd', 'etc/shadow', 'evil', 'up', 'x']);
  });

  test('a symlink loop is LAYER_INVALID, not a hang', () => {
    assert.throws(() => tree([link('a', 'b'), link('b', 'a')], [file('a/x')]), (err: Error & { code?: string }) => err.code === 'LAYER_INVALID');
  });

  test('children before their directory, and paths whose parents no entry names', () => {
    const t = tree([file('a/b/c'), dir('a', { mode: 0o711 })]);
    assert.deepEqual(t.paths(), ['a', 'a/b', 'a/b/c']);
    assert.equal(t.get('a')?.entry.mode, 0o711);
    assert.equal(t.get('a/b')?.implicit, true);
  });

  test('the same path twice in one layer: the last entry wins', () => {
    const t = tree([file('f', 1), file('f', 2)]);
    assert.equal(t.get('f')?.entry.size, 2);
  });

  test('per-layer changes: what was added, changed and removed, and the bytes each layer holds', () => {
    const t = tree([dir('app'), file('app/a', 10), file('app/b', 20)], [file('app/a', 15), wh('app/b'), file('app/c', 5)]);
    const l1 = t.layers[1]!;
    assert.deepEqual(l1.added, ['app/c']);
    assert.deepEqual(l1.changed.map((c) => [c.path, c.before.entry.size]), [['app/a', 10]]);
    assert.deepEqual(l1.removed.map((r) => r.path), ['app/b']);
    assert.equal(l1.bytes, 20);
    assert.equal(t.layers[0]!.bytes, 30);
  });
});
