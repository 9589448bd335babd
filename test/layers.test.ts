/**
 * `wharf layers` and analyzeLayers(): per-layer changes, the tree views and dive's efficiency figures, with wasted
 * bytes counted once per extra copy. Every expected number is worked out here from the specs the test built (the
 * sizes written into each layer), never copied from the command's output.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as library from '../src/index.js';
import { history, parseReference } from '../src/index.js';
import { run } from '../src/cli/app.js';
import { parseByteSize, parseRatio } from '../src/cli/commands/layers.js';
import type { CliIO, CliLibrary } from '../src/cli/types.js';
import { WharfError } from '../src/errors.js';
import { analyzeLayers, evaluateCi, type LayerReport, type LayersAnalysis } from '../src/filesystem/layers.js';
import { buildLayout, corruptBlob, type ImageSpec } from './helpers/images.js';
import { Sink } from './helpers/sink.js';

const FIXTURE = '/tmp/wharf-fixtures/oci/debian-app';


async function cli(argv: string[], lib: CliLibrary = library) {
  const stdout = new Sink();
  const stderr = new Sink();
  const io: CliIO = { stdout, stderr, env: {}, cwd: process.cwd(), now: () => Date.parse('2025-01-01T00:00:00Z') };
  const code = await run(argv, io, lib);
  return { code, stdout: stdout.text, stderr: stderr.text };
}

const paths = (xs: readonly { path: string }[]): string[] => xs.map((x) => x.path);

let dir: string;
const refs: Record<string, string> = {};
const analyses: Record<string, LayersAnalysis> = {};

/** The images, by name: each layer's files with the sizes the expectations below are computed from. */
const IMAGES: Record<string, ImageSpec['layers']> = {
  // One path written in 3 layers; the smallest version is the middle one and the image shows the largest, so
  // "keep the smallest" (dive) and "keep the one shown" (wharf) disagree.
  thrice: [
    [{ path: 'a.bin', size: 1000 }, { path: 'keep.bin', size: 300 }],
    [{ path: 'a.bin', size: 500, seed: 'v2' }],
    [{ path: 'a.bin', size: 2000, seed: 'v3' }],
  ],
  // A file written twice then removed by a whiteout: every version wasted.
  removed: [
    [{ path: 'data/big', size: 4000 }, { path: 'data/small', size: 100 }],
    [{ path: 'data/big', size: 3000, seed: 'v2' }],
    [{ path: 'data/.wh.big', content: '' }],
  ],
  // Directory over directory keeps the children; then a file over the directory hides them.
  dirs: [
    [{ path: 'd', type: 'dir' }, { path: 'd/a', size: 10 }, { path: 'e', size: 3 }],
    [{ path: 'd', type: 'dir', mode: 0o700 }, { path: 'd/b', size: 20 }],
    [{ path: 'd', size: 5 }],
  ],
  // The same image but the last layer: for the tree views.
  dirs2: [
    [{ path: 'd', type: 'dir' }, { path: 'd/a', size: 10 }, { path: 'e', size: 3 }],
    [{ path: 'd', type: 'dir', mode: 0o700 }, { path: 'd/b', size: 20 }],
  ],
  // An opaque directory, its marker after the layer's own entries in the tar; old1 written again by that layer.
  opaque: [
    [{ path: 'opt/data/old1', size: 11 }, { path: 'opt/data/old2', size: 22 }, { path: 'opt/keep', size: 5 }],
    [{ path: 'opt/data/new1', size: 7 }, { path: 'opt/data/old1', size: 13, seed: 'v2' }, { path: 'opt/data/.wh..wh..opq', content: '' }],
  ],
  // usrmerge: a later layer writes through a symlinked parent; the version is the same path as the tree's.
  usrmerge: [
    [{ path: 'usr/lib/x', size: 10 }, { path: 'lib', type: 'symlink', linkTarget: 'usr/lib' }],
    // No parent entry: the helper would write `lib` as a directory over the symlink.
    { files: [{ path: 'lib/x', size: 20, seed: 'v2' }], implicitDirs: false },
  ],
  // One layer: nothing can be wasted.
  single: [[{ path: 'only', size: 64 }]],
  // Hostile names: terminal controls in a path and in a symlink target.
  hostile: [[{ path: 'evil\x1b[2Jname', size: 1 }, { path: 'link', type: 'symlink', linkTarget: '\x1b]0;owned\x07' }]],
};

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wharf-layers-'));
  for (const [name, layers] of Object.entries(IMAGES)) {
    const at = join(dir, name);
    await buildLayout(at, [{ tag: 'latest', layers, config: { history: (layers ?? []).map((_, i) => ({ created: '2024-01-01T00:00:00Z', created_by: `${name} step ${i + 1}` })) } }]);
    refs[name] = `oci:${at}:latest`;
    analyses[name] = await analyzeLayers(parseReference(refs[name]));
  }
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The invariants every analysis keeps, whatever the image. */
function checkInvariants(a: LayersAnalysis): void {
  const e = a.efficiency;
  assert.equal(e.totalBytes, a.layers.reduce((n, l) => n + l.bytes, 0), 'total = Σ layer file bytes');
  assert.equal(e.wastedBytes, e.totalBytes - e.finalBytes, 'wasted = total - final');
  assert.equal(e.wastedBytes, a.inefficient.reduce((n, p) => n + p.wastedBytes, 0), 'wasted = Σ per-path waste');
  assert.equal(e.userBytes, a.layers.slice(1).reduce((n, l) => n + l.bytes, 0));
}

describe('efficiency: wasted bytes counted once per extra copy', () => {
  test('a file written in 3 layers wastes the 2 versions the image does not show, not all 3', () => {
    const a = analyses.thrice!;
    checkInvariants(a);
    const total = 1000 + 300 + 500 + 2000;
    const final = 300 + 2000; // keep.bin, and a.bin as layer 3 wrote it
    const wasted = 1000 + 500; // the two earlier versions of a.bin
    assert.equal(a.efficiency.totalBytes, total);
    assert.equal(a.efficiency.finalBytes, final);
    assert.equal(a.efficiency.wastedBytes, wasted);
    assert.notEqual(a.efficiency.wastedBytes, 1000 + 500 + 2000, 'not every copy, as dive before #684 counts');
    assert.notEqual(a.efficiency.wastedBytes, 1000 + 500 + 2000 - 500, 'not "all but the smallest", as dive keeps the smallest');
    assert.equal(a.efficiency.efficiency, 1 - wasted / total);
    assert.equal(a.efficiency.userBytes, 500 + 2000);
    assert.equal(a.efficiency.userWastedRatio, wasted / (500 + 2000));
    assert.deepEqual(a.inefficient, [{ path: '/a.bin', copies: 3, layers: [1, 2, 3], bytes: 3500, wastedBytes: wasted, inFinalImage: true }]);
  });

  test('a file removed later wastes every version it had', () => {
    const a = analyses.removed!;
    checkInvariants(a);
    assert.equal(a.efficiency.totalBytes, 4000 + 100 + 3000);
    assert.equal(a.efficiency.finalBytes, 100);
    assert.equal(a.efficiency.wastedBytes, 4000 + 3000);
    assert.equal(a.efficiency.userWastedRatio, 7000 / 3000);
    assert.deepEqual(a.inefficient, [{ path: '/data/big', copies: 2, layers: [1, 2], bytes: 7000, wastedBytes: 7000, inFinalImage: false, removedIn: 3 }]);
  });

  test('a file over a directory hides what was below it: wasted, not removed by a whiteout', () => {
    const a = analyses.dirs!;
    checkInvariants(a);
    assert.equal(a.efficiency.totalBytes, 10 + 3 + 20 + 5);
    assert.equal(a.efficiency.finalBytes, 3 + 5);
    assert.equal(a.efficiency.wastedBytes, 10 + 20);
    assert.deepEqual(
      a.inefficient.map((p) => [p.path, p.copies, p.wastedBytes, p.inFinalImage, p.removedIn]),
      [
        ['/d/b', 1, 20, false, undefined],
        ['/d/a', 1, 10, false, undefined],
      ],
    );
  });

  test('an opaque directory wastes what it hides; a path it hides and its layer writes again keeps one version', () => {
    const a = analyses.opaque!;
    checkInvariants(a);
    assert.equal(a.efficiency.totalBytes, 11 + 22 + 5 + 7 + 13);
    assert.equal(a.efficiency.finalBytes, 5 + 7 + 13);
    assert.equal(a.efficiency.wastedBytes, 11 + 22);
    assert.deepEqual(
      a.inefficient.map((p) => [p.path, p.copies, p.wastedBytes, p.inFinalImage, p.removedIn]),
      [
        ['/opt/data/old2', 1, 22, false, 2],
        ['/opt/data/old1', 2, 11, true, undefined],
      ],
    );
  });

  test('a later layer writing through a symlinked parent replaces the same file', () => {
    const a = analyses.usrmerge!;
    checkInvariants(a);
    assert.equal(a.efficiency.wastedBytes, 10);
    assert.deepEqual(paths(a.inefficient), ['/usr/lib/x']);
    assert.deepEqual(paths(a.layers[1]!.changed), ['/usr/lib/x']);
    assert.deepEqual(a.layers[1]!.added, []);
  });

  test('a single layer wastes nothing: efficiency 1, user wasted 0', () => {
    const a = analyses.single!;
    checkInvariants(a);
    assert.deepEqual(a.efficiency, { totalBytes: 64, finalBytes: 64, wastedBytes: 0, userBytes: 0, userWastedRatio: 0, efficiency: 1 });
  });
});

describe('per-layer changes', () => {
  const layer = (name: string, n: number): LayerReport => analyses[name]!.layers[n - 1]!;

  test('added, changed (with what differs) and removed, with sizes and the layer of the version replaced', () => {
    assert.deepEqual(layer('thrice', 1).added, [
      { path: '/a.bin', type: 'file', size: 1000 },
      { path: '/keep.bin', type: 'file', size: 300 },
    ]);
    assert.deepEqual(layer('thrice', 2).changed, [{ path: '/a.bin', type: 'file', size: 500, before: { layer: 1, type: 'file', size: 1000 }, differs: ['size'] }]);
    assert.deepEqual(layer('thrice', 3).changed, [{ path: '/a.bin', type: 'file', size: 2000, before: { layer: 2, type: 'file', size: 500 }, differs: ['size'] }]);
    for (const n of [1, 2, 3]) assert.deepEqual(layer('thrice', n).removed, []);
    assert.deepEqual([layer('thrice', 1).bytes, layer('thrice', 2).bytes, layer('thrice', 3).bytes], [1300, 500, 2000]);

    const l3 = layer('removed', 3);
    assert.deepEqual(l3.added, []);
    // The helper writes the parent directory entry again in every layer: a directory over layer 2's, same header.
    assert.deepEqual(l3.changed, [{ path: '/data', type: 'dir', size: 0, before: { layer: 2, type: 'dir', size: 0 }, differs: [] }]);
    assert.deepEqual(l3.removed, [{ path: '/data/big', type: 'file', size: 3000, layer: 2 }]);
    assert.equal(l3.removedBytes, 3000);
    assert.equal(l3.bytes, 0, 'a whiteout is not content');
  });

  test('a directory over a directory keeps its children; a file over it replaces it', () => {
    assert.deepEqual(paths(layer('dirs', 1).added), ['/d', '/d/a', '/e']);
    const l2 = layer('dirs', 2);
    assert.deepEqual(l2.added, [{ path: '/d/b', type: 'file', size: 20 }]);
    assert.deepEqual(l2.changed, [{ path: '/d', type: 'dir', size: 0, before: { layer: 1, type: 'dir', size: 0 }, differs: ['mode'] }]);
    assert.deepEqual(l2.removed, []);
    assert.equal(analyses.dirs2!.tree.get('d/a')?.layer, 0, 'd/a is still the base layer’s');
    const l3 = layer('dirs', 3);
    assert.deepEqual(l3.changed.map((c) => [c.path, c.type, c.before.type, c.differs.includes('type')]), [['/d', 'file', 'dir', true]]);
    assert.deepEqual(l3.removed, [], 'what a replaced directory held is hidden, not removed by a whiteout');
  });

  test('opaque directory: hidden paths are removed, a hidden path the layer writes again is changed', () => {
    const l2 = layer('opaque', 2);
    assert.deepEqual(paths(l2.added), ['/opt/data/new1']);
    assert.deepEqual(paths(l2.changed), ['/opt', '/opt/data', '/opt/data/old1']);
    assert.deepEqual(l2.changed.find((c) => c.path === '/opt/data/old1')!.before, { layer: 1, type: 'file', size: 11 });
    assert.deepEqual(l2.removed, [{ path: '/opt/data/old2', type: 'file', size: 22, layer: 1 }]);
  });

  test('each layer carries its digest, compressed size, diff_id and history step', async () => {
    const a = analyses.thrice!;
    const layout = JSON.parse(await readFile(join(dir, 'thrice', 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
    const manifestDigest = layout.manifests[0]!.digest;
    const manifest = JSON.parse(await readFile(join(dir, 'thrice', 'blobs', 'sha256', manifestDigest.slice(7)), 'utf8')) as { layers: { digest: string; size: number }[] };
    assert.deepEqual(a.layers.map((l) => [l.layer, l.digest, l.compressedSize, l.createdBy]), manifest.layers.map((d, i) => [i + 1, d.digest, d.size, `thrice step ${i + 1}`]));
    assert.ok(a.layers.every((l) => l.diffId?.startsWith('sha256:')));
  });
});

describe('CI rules', () => {
  // thrice: efficiency 1 - 1500/3800 ≈ 0.605, wasted 1500 bytes, user wasted 1500/2500 = 0.6.
  const ciJson = async (args: string[]) => {
    const r = await cli(['layers', '--ci', '--json', ...args, refs.thrice!]);
    const out = JSON.parse(r.stdout) as { ci: { passed: boolean; rules: { rule: string; status: string; value: number; threshold?: number }[] } };
    return { code: r.code, status: Object.fromEntries(out.ci.rules.map((x) => [x.rule, x.status])), ci: out.ci };
  };

  test('defaults are dive’s (0.9, disabled, 0.1): this image fails two rules, exit 1', async () => {
    const r = await cli(['layers', '--ci', refs.thrice!]);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /^ {2}FAIL {2}lowest-efficiency: /m);
    assert.match(r.stdout, /^ {2}SKIP {2}highest-wasted-bytes: disabled/m);
    assert.match(r.stdout, /^ {2}FAIL {2}highest-user-wasted-percent: /m);
    assert.match(r.stdout, /^Result: FAIL \(0 passed, 2 failed, 1 skipped\)$/m);
    assert.doesNotMatch(r.stdout, /^Layer /m, '--ci does not list the layers');
  });

  test('each threshold passes at the figure and fails just past it', async () => {
    const eff = 1 - 1500 / 3800;
    const off = ['--lowest-efficiency', 'disabled', '--highest-user-wasted-percent', 'disabled'];
    let r = await ciJson([...off, '--lowest-efficiency', String(eff)]);
    assert.deepEqual([r.code, r.status['lowest-efficiency']], [0, 'pass']);
    r = await ciJson([...off, '--lowest-efficiency', '0.61']);
    assert.deepEqual([r.code, r.status['lowest-efficiency']], [1, 'fail']);

    for (const [size, status] of [['1500', 'pass'], ['1.5KB', 'pass'], ['1499', 'fail'], ['1KiB', 'fail'], ['20MB', 'pass']] as const) {
      r = await ciJson([...off, '--highest-wasted-bytes', size]);
      assert.deepEqual([r.code, r.status['highest-wasted-bytes']], [status === 'pass' ? 0 : 1, status], size);
    }

    r = await ciJson([...off, '--highest-user-wasted-percent', '0.6']);
    assert.deepEqual([r.code, r.status['highest-user-wasted-percent']], [0, 'pass']);
    r = await ciJson([...off, '--highest-user-wasted-percent', '0.59']);
    assert.deepEqual([r.code, r.status['highest-user-wasted-percent']], [1, 'fail']);
    assert.equal(r.ci.rules.find((x) => x.rule === 'highest-user-wasted-percent')!.value, 0.6);
  });

  test('an image without waste passes the defaults, exit 0', async () => {
    const r = await cli(['layers', '--ci', refs.single!]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Result: PASS \(2 passed, 0 failed, 1 skipped\)$/m);
  });

  test('bytes wasted with no user bytes: an infinite ratio, which fails any threshold', () => {
    const e = { totalBytes: 10, finalBytes: 0, wastedBytes: 10, userBytes: 0, userWastedRatio: null, efficiency: 0 };
    const r = evaluateCi(e, { highestUserWastedPercent: 1 });
    assert.equal(r.passed, false);
    assert.deepEqual(r.rules.map((x) => x.status), ['skip', 'skip', 'fail']);
  });

  test('usage errors exit 2', async () => {
    for (const args of [
      ['--lowest-efficiency', '0.5'],
      ['--ci', '--lowest-efficiency', '1.5'],
      ['--ci', '--highest-user-wasted-percent', 'ten'],
      ['--ci', '--highest-wasted-bytes', '20XB'],
      ['--ci', '--tree'],
      ['--ci', '--layer', '1'],
      ['--layer', '0'],
      ['--layer', '4'],
      ['--layer', '-4'],
      ['--limit', '-1'],
    ]) {
      const r = await cli(['layers', ...args, refs.thrice!]);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stdout, '');
    }
  });

  test('sizes and ratios as .dive-ci writes them', () => {
    assert.equal(parseByteSize('20MB'), 20_000_000);
    assert.equal(parseByteSize('20 mb'), 20_000_000);
    assert.equal(parseByteSize('1.5GiB'), 1.5 * 2 ** 30);
    assert.equal(parseByteSize('1048576'), 1048576);
    assert.equal(parseByteSize('2KiB'), 2048);
    assert.equal(parseByteSize('disabled'), undefined);
    assert.throws(() => parseByteSize('-5'), (e: unknown) => e instanceof WharfError && e.code === 'USAGE');
    assert.throws(() => parseByteSize('5 XB'), (e: unknown) => e instanceof WharfError && e.code === 'USAGE');
    assert.equal(parseRatio('0.9', '--x'), 0.9);
    assert.equal(parseRatio('1', '--x'), 1);
    assert.throws(() => parseRatio('90%', '--x'), (e: unknown) => e instanceof WharfError && e.code === 'USAGE');
  });
});

describe('output', () => {
  test('--json: everything, machine-readable', async () => {
    const r = await cli(['layers', '--json', refs.removed!]);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as Record<string, unknown> & { layers: Record<string, unknown>[]; efficiency: Record<string, unknown>; inefficient: unknown[] };
    assert.deepEqual(Object.keys(out), ['reference', 'layers', 'efficiency', 'inefficient']);
    assert.equal(out.reference, refs.removed);
    assert.equal(out.layers.length, 3);
    assert.deepEqual(Object.keys(out.layers[2]!), [
      'layer', 'digest', 'mediaType', 'compressedSize', 'diffId', 'created', 'createdBy',
      'bytes', 'addedBytes', 'changedBytes', 'removedBytes', 'added', 'changed', 'removed',
    ]);
    assert.deepEqual(out.layers[2]!.removed, [{ path: '/data/big', type: 'file', size: 3000, layer: 2 }]);
    assert.deepEqual(out.efficiency, { totalBytes: 7100, finalBytes: 100, wastedBytes: 7000, userBytes: 3000, userWastedRatio: 7000 / 3000, efficiency: 100 / 7100 });
    assert.deepEqual(out.inefficient, [{ path: '/data/big', copies: 2, layers: [1, 2], bytes: 7000, wastedBytes: 7000, inFinalImage: false, removedIn: 3 }]);

    const one = JSON.parse((await cli(['layers', '--json', '--layer', '-1', refs.removed!])).stdout) as { layers: { layer: number }[] };
    assert.deepEqual(one.layers.map((l) => l.layer), [3]);
  });

  test('--tree: the final filesystem, each path with its size, the layer that last touched it, + or ~', async () => {
    const r = await cli(['layers', '--tree', refs.dirs2!]);
    assert.equal(r.code, 0, r.stderr);
    // d/ is 10 + 20 bytes below it; layer 2 wrote d again (~), added d/b; d/a and e are layer 1's.
    assert.equal(
      r.stdout,
      [
        '  LAYER        SIZE  PATH',
        '               33 B  /',
        '~     2        30 B  ├── d/',
        '+     1        10 B  │   ├── a',
        '+     2        20 B  │   └── b',
        '+     1         3 B  └── e',
        '',
      ].join('\n'),
    );
    const json = JSON.parse((await cli(['layers', '--tree', '--json', refs.dirs2!])).stdout) as { tree: unknown[] };
    assert.deepEqual(json.tree, [
      { path: '/', type: 'dir', size: 33, layer: 0 },
      { path: '/d', type: 'dir', size: 30, layer: 2, change: 'changed' },
      { path: '/d/a', type: 'file', size: 10, layer: 1, change: 'added' },
      { path: '/d/b', type: 'file', size: 20, layer: 2, change: 'added' },
      { path: '/e', type: 'file', size: 3, layer: 1, change: 'added' },
    ]);
  });

  test('--tree --layer N: only what layer N changed, dive-style + ~ -, with untouched parents unmarked', async () => {
    const r = await cli(['layers', '--tree', '--layer', '2', refs.opaque!]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.split('\n');
    assert.match(lines[0]!, /^Layer 2\/2 {2}sha256:[0-9a-f]{64}: 1 added, 3 changed, 1 removed$/);
    assert.deepEqual(lines.slice(1), [
      '  LAYER        SIZE  PATH',
      '               20 B  /',
      '~     2        20 B  └── opt/',
      '~     2        20 B      └── data/',
      '+     2         7 B          ├── new1',
      '~     2        13 B          ├── old1',
      '-     1        22 B          └── old2',
      '',
    ]);
    const deep = await cli(['layers', '--tree', '--layer', '3', refs.removed!]);
    assert.deepEqual(deep.stdout.split('\n').slice(1), [
      '  LAYER        SIZE  PATH',
      '                0 B  /',
      '~     3         0 B  └── data/',
      '-     2     2.9 KiB      └── big',
      '',
    ]);
  });

  test('the overview: every layer with its changes, then efficiency and the inefficient files', async () => {
    const r = await cli(['layers', refs.thrice!]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Layer 2\/3 {2}sha256:[0-9a-f]{64}$/m);
    assert.match(r.stdout, /^ {2}created by: {2}thrice step 2$/m);
    assert.match(r.stdout, /^ {2}~ +500 B {2}\/a\.bin {2}\(over layer 1: size\)$/m);
    assert.match(r.stdout, /^ {2}potential wasted space: {2}1\.5 KiB \(1,500 bytes\)$/m);
    assert.match(r.stdout, new RegExp(`^  image efficiency score:  ${((1 - 1500 / 3800) * 100).toFixed(4)} %$`, 'm'));
    assert.match(r.stdout, /^ {2}user wasted percent: {5}60\.0000 %/m);
    assert.match(r.stdout, /^ {7}3 +1\.5 KiB {2}\/a\.bin {2}\(layers 1, 2, 3\)$/m);
    const limited = await cli(['layers', '--limit', '1', refs.thrice!]);
    assert.match(limited.stdout, /^ {2}… and 1 more \(--layer 1 lists them all\)$/m);
  });

  test('paths and link targets from the image cannot drive the terminal', async () => {
    for (const args of [[], ['--tree'], ['--layer', '1']]) {
      const r = await cli(['layers', ...args, refs.hostile!]);
      assert.equal(r.code, 0, r.stderr);
      assert.doesNotMatch(r.stdout, /[\x1b\x07]/, args.join(' '));
      assert.match(r.stdout, /evil\\x1b\[2Jname/);
    }
    const json = await cli(['layers', '--json', refs.hostile!]);
    assert.doesNotMatch(json.stdout, /[\x1b\x07]/);
    assert.equal((JSON.parse(json.stdout) as { layers: { added: { path: string }[] }[] }).layers[0]!.added.some((x) => x.path === '/evil\x1b[2Jname'), true);
  });
});

test('a corrupt layer is refused (exit 4), nothing printed on stdout', async () => {
  const at = join(dir, 'corrupt');
  const built = await buildLayout(at, [{ tag: 'latest', layers: [[{ path: 'a', size: 4096 }], [{ path: 'b', size: 4096 }]] }]);
  await corruptBlob(at, built.images[0]!.layers[1]!.digest);
  const r = await cli(['layers', `oci:${at}:latest`]);
  assert.equal(r.code, 4, r.stderr);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /layer 2/);
});

describe('bench fixture debian-app: the planted changes, and no more', () => {
  test('the per-layer changes of its 3 app layers are what the truth file says', async (t) => {
    if (!existsSync(FIXTURE) || !existsSync(`${FIXTURE}.truth.json`)) {
      t.skip(`${FIXTURE} is absent (made by ../shared/bench)`);
      return;
    }
    interface Truth {
      layers: { index: number; digest: string }[];
      layer_paths: Record<string, string[]>;
      reemitted_dirs: Record<string, string[] | string>;
      whiteouts: { layer: number; deletes: string; deleted_from_layer: number }[];
      opaque_dirs: { layer: number; dir: string; hides: string[]; final_contents: string[] }[];
      modified: { layer: number; path: string }[];
    }
    const truth = JSON.parse(await readFile(`${FIXTURE}.truth.json`, 'utf8')) as Truth;
    const ref = `oci:${FIXTURE}:latest`;
    const a = await analyzeLayers(parseReference(ref));
    checkInvariants(a);
    assert.deepEqual(a.layers.map((l) => l.digest), truth.layers.map((l) => l.digest));
    const strip = (p: string): string => (p.length > 1 ? p.replace(/\/$/, '') : p);
    const base = (p: string): string => p.slice(p.lastIndexOf('/') + 1);
    for (const i of [1, 2, 3]) {
      const l = a.layers[i]!; // truth's 0-based index i is our layer i + 1
      assert.equal(l.layer, i + 1);
      const entries = truth.layer_paths[String(i)]!.map(strip).filter((p) => !base(p).startsWith('.wh.'));
      const reemitted = (truth.reemitted_dirs[String(i)] as string[]).map(strip);
      const modified = truth.modified.filter((m) => m.layer === i).map((m) => m.path);
      const removed = [...truth.whiteouts.filter((w) => w.layer === i).map((w) => w.deletes), ...truth.opaque_dirs.filter((o) => o.layer === i).flatMap((o) => o.hides)];
      const changed = [...reemitted, ...modified];
      const added = entries.filter((p) => !changed.includes(p));
      assert.deepEqual(paths(l.added), [...added].sort(), `layer ${i + 1} added`);
      assert.deepEqual(paths(l.changed), [...changed].sort(), `layer ${i + 1} changed`);
      assert.deepEqual(paths(l.removed), [...removed].sort(), `layer ${i + 1} removed`);
      // The re-emitted directories: "same mode and owner" — at most their mtime differs.
      for (const c of l.changed.filter((x) => reemitted.includes(x.path))) assert.ok(c.differs.every((d) => d === 'mtime'), `${c.path}: ${c.differs.join(',')}`);
      for (const w of truth.whiteouts.filter((x) => x.layer === i)) assert.equal(l.removed.find((r) => r.path === w.deletes)!.layer, w.deleted_from_layer + 1);
    }
    // What is wasted: the files the app layers modified (two versions each) and everything they removed.
    const wastedPaths = [...truth.modified.map((m) => m.path), ...truth.whiteouts.map((w) => w.deletes), ...truth.opaque_dirs.flatMap((o) => o.hides)];
    assert.deepEqual(paths(a.inefficient).sort(), [...wastedPaths].sort());
    for (const p of a.inefficient) {
      const modifiedHere = truth.modified.some((m) => m.path === p.path);
      assert.equal(p.inFinalImage, modifiedHere, p.path);
      assert.equal(p.copies, modifiedHere ? 2 : 1, p.path);
    }
    for (const o of truth.opaque_dirs) {
      const kids = a.tree.childrenOf(o.dir.slice(1)).map((k) => `/${k}`);
      assert.deepEqual(kids, o.final_contents);
    }
    // "created by" is the history step wharf history pairs with each layer.
    const steps = (await history(ref)).filter((h) => h.layer);
    assert.deepEqual(a.layers.map((l) => l.createdBy), [...steps].sort((x, y) => x.layer!.index - y.layer!.index).map((h) => h.createdBy));
  });
});
