/**
 * `wharf diff` and the library's diffImages(): two filesystems compared, each an image or a directory, from tar
 * headers and a selective second read. Every reason is tested on built images; whiteouts and opaque directories;
 * hard links as the files they link to; --ignore, --json, exit codes; a directory against an image; hostile
 * directories (symlink loops, FIFOs: never opened); that the second pass reads only the layers it needs; the
 * bench fixtures against their ground truth; and umoci + diff -r as the yardstick.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { parseReference } from '../src/index.js';
import { parseIgnore } from '../src/cli/commands/diff.js';
import { diffImages, type DiffOptions, type DiffResult, type DiffSide } from '../src/filesystem/diff.js';
import { unpackImage } from '../src/filesystem/unpack.js';
import { buildLayout, type FileSpec, type LayerSpec } from './helpers/images.js';
import { requirePeer, runPeer, tempDir } from './helpers/peers.js';
import { runCli, type CliRun } from './helpers/run-cli.js';

const FIXTURES = '/tmp/wharf-fixtures/oci';
const T0 = 1700000000;

function image(dir: string, tag: string): DiffSide {
  return { kind: 'image', ref: parseReference(`oci:${dir}:${tag}`) };
}

/** One layout holding images `a` and `b` (layers built deterministically: equal specs give equal blobs). */
async function twoImages(t: TestContext, a: LayerSpec[], b: LayerSpec[]): Promise<{ dir: string; a: DiffSide; b: DiffSide; root: string }> {
  const root = await tempDir(t);
  const dir = join(root, 'layout');
  await buildLayout(dir, [
    { tag: 'a', layers: a },
    { tag: 'b', layers: b },
  ]);
  return { dir, a: image(dir, 'a'), b: image(dir, 'b'), root };
}

function reasonsOf(r: DiffResult): Record<string, string> {
  return Object.fromEntries(r.different.map((d) => [d.path, d.reasons.join(',')]));
}


function cli(argv: string[], cwd = process.cwd()): Promise<CliRun> {
  return runCli(argv, { cwd });
}

// ---------------------------------------------------------------------------------------------------------
// Every reason

const BASE: FileSpec[] = [
  { path: 'same/kept', content: 'kept in the shared base layer' },
  { path: 'same/big', size: 1 << 20 },
  { path: 'etc/os-release', content: 'ID=wharf\n' },
];

const A_TOP: FileSpec[] = [
  { path: 'f/size', content: 'abc' },
  { path: 'f/content', content: 'abc' },
  { path: 'f/equal', content: 'same bytes, other layers' },
  { path: 'f/empty', content: '' },
  { path: 'f/mode', content: 'm', mode: 0o644 },
  { path: 'f/uid', content: 'u' },
  { path: 'f/gid', content: 'g' },
  { path: 'f/type', content: 'a file in A' },
  { path: 'f/link', type: 'symlink', linkTarget: 'a' },
  { path: 'f/time', content: 't' },
  { path: 'f/many', content: 'many', mode: 0o755 },
  { path: 'f/symlink-mode', type: 'symlink', linkTarget: 'x', mode: 0o777 },
  { path: 'd/mode', type: 'dir', mode: 0o755 },
  { path: 'd/time', type: 'dir', mtime: T0 },
];

const B_TOP: FileSpec[] = [
  { path: 'f/size', content: 'abcd' },
  { path: 'f/content', content: 'abd' },
  { path: 'f/equal', content: 'same bytes, other layers' },
  { path: 'f/empty', content: '' },
  { path: 'f/mode', content: 'm', mode: 0o600 },
  { path: 'f/uid', content: 'u', uid: 1000 },
  { path: 'f/gid', content: 'g', gid: 1000 },
  { path: 'f/type', type: 'dir' },
  { path: 'f/link', type: 'symlink', linkTarget: 'b' },
  { path: 'f/time', content: 't', mtime: T0 + 100 },
  { path: 'f/many', content: 'MANY', mode: 0o700, uid: 1, mtime: T0 + 1 },
  { path: 'f/symlink-mode', type: 'symlink', linkTarget: 'x', mode: 0o755 },
  { path: 'd/mode', type: 'dir', mode: 0o700 },
  { path: 'd/time', type: 'dir', mtime: T0 + 3600 },
];

describe('diffImages: reasons', () => {
  test('every reason, each alone where it can be; same-size contents hashed, the rest told from headers', async (t) => {
    const { a, b } = await twoImages(t, [BASE, A_TOP], [BASE, B_TOP]);
    const r = await diffImages(a, b);
    assert.deepEqual(r.onlyInA, []);
    assert.deepEqual(r.onlyInB, []);
    assert.deepEqual(reasonsOf(r), {
      '/d/mode': 'mode',
      '/f/content': 'content',
      '/f/gid': 'gid',
      '/f/link': 'link target',
      '/f/many': 'content,mode,uid,time',
      '/f/mode': 'mode',
      '/f/size': 'size',
      '/f/time': 'time',
      '/f/type': 'type',
      '/f/uid': 'uid',
    });
    // Equal bytes in other layers were hashed and found equal; the shared base was never read for content.
    assert.equal(r.stats.a.hashedFiles, 7, 'content, equal, mode, uid, gid, time, many (same sizes, other layers)');
    assert.deepEqual(r.stats.a.contentLayers, [1]);
    assert.deepEqual(r.stats.b.contentLayers, [1]);
    assert.equal(r.stats.sameLayer, 3, 'the three files of the shared base layer are equal without reading them');
    assert.equal(r.stats.b.headerReads, 1, "the shared base layer's headers were read once, for A");
  });

  test('directory times only with directoryTimes', async (t) => {
    const { a, b } = await twoImages(t, [BASE, A_TOP], [BASE, B_TOP]);
    const r = await diffImages(a, b, { directoryTimes: true });
    assert.equal(reasonsOf(r)['/d/time'], 'time');
    assert.equal(reasonsOf(r)['/d/mode'], 'mode', 'd/mode has the same time in both');
  });

  test('ignore: dropped reasons, and a path whose only differences are ignored is not listed; size ignored reports content', async (t) => {
    const { a, b } = await twoImages(t, [BASE, A_TOP], [BASE, B_TOP]);
    const r = await diffImages(a, b, { ignore: ['time', 'uid', 'gid', 'mode'] });
    assert.deepEqual(reasonsOf(r), {
      '/f/content': 'content',
      '/f/link': 'link target',
      '/f/many': 'content',
      '/f/size': 'size',
      '/f/type': 'type',
    });
    const noSize = await diffImages(a, b, { ignore: ['size', 'content', 'type', 'link target', 'time', 'uid', 'gid', 'mode'] });
    assert.deepEqual(noSize.different, [], 'everything ignored: nothing listed');
    assert.equal(noSize.stats.candidates, 0, 'content ignored: nothing hashed');
    const sizeOnly = await diffImages(a, b, { ignore: ['size'] });
    assert.equal(reasonsOf(sizeOnly)['/f/size'], 'content', 'other sizes mean other bytes');
    await assert.rejects(diffImages(a, b, { ignore: ['colour' as never] }), (err: Error & { code?: string }) => err.code === 'USAGE');
  });
});

// ---------------------------------------------------------------------------------------------------------
// Layers: whiteouts, opaque directories, replacement, hard links

describe('diffImages: layers', () => {
  const base: FileSpec[] = [
    { path: 'gone', content: 'deleted in B' },
    { path: 'data/old1', content: '1' },
    { path: 'data/old2', content: '2' },
    { path: 'tree/x', content: 'x' },
    { path: 'tree/sub/y', content: 'y' },
    { path: 'becomes-file/z', content: 'z' },
  ];

  test('a file deleted in B is only in A; an opaque directory hides what was below; a deleted directory is listed with everything below it', async (t) => {
    const top: LayerSpec = {
      implicitDirs: false,
      files: [
        { path: '.wh.gone', content: '' },
        { path: 'data/new', content: 'new' },
        { path: 'data/.wh..wh..opq', content: '' },
        { path: '.wh.tree', content: '' },
        { path: 'becomes-file', content: 'now a file' },
      ],
    };
    const { a, b } = await twoImages(t, [base], [base, top]);
    const r = await diffImages(a, b);
    assert.deepEqual(r.onlyInA, ['/becomes-file/z', '/data/old1', '/data/old2', '/gone', '/tree', '/tree/sub', '/tree/sub/y', '/tree/x']);
    assert.deepEqual(r.onlyInB, ['/data/new']);
    assert.deepEqual(reasonsOf(r), { '/becomes-file': 'type' });
    const reverse = await diffImages(b, a);
    assert.deepEqual(reverse.onlyInB, r.onlyInA, 'the same, the other way round');
    assert.deepEqual(reverse.onlyInA, r.onlyInB);
    // Whiteout markers never show as paths.
    assert.ok(![...r.onlyInA, ...r.onlyInB].some((p) => p.includes('.wh.')));
  });

  test('a hard link is the file it links to, as it was when the link was made', async (t) => {
    // A: bin/alias links to bin/tool's first version; a later layer replaces bin/tool. On disk alias keeps T1.
    const a: LayerSpec[] = [
      [
        { path: 'bin/tool', content: 'T1', mode: 0o755 },
        { path: 'bin/alias', type: 'hardlink', linkTarget: 'bin/tool' },
      ],
      [{ path: 'bin/tool', content: 'T2', mode: 0o755 }],
    ];
    // B: the same bytes as plain files.
    const b: LayerSpec[] = [
      [
        { path: 'bin/tool', content: 'T2', mode: 0o755 },
        { path: 'bin/alias', content: 'T1', mode: 0o755 },
      ],
    ];
    const img = await twoImages(t, a, b);
    const r = await diffImages(img.a, img.b);
    assert.deepEqual([r.onlyInA, r.onlyInB, r.different], [[], [], []], JSON.stringify(r));
    assert.equal(r.stats.a.hashedFiles, 2, 'bin/alias hashed from the entry of bin/tool in layer 1, bin/tool from layer 2');
    assert.deepEqual(r.stats.a.contentLayers, [0, 1]);
    // And the unpacked image agrees.
    const dir = join(img.root, 'unpacked');
    await unpackImage(parseReference(`oci:${img.dir}:a`), dir);
    const d = await diffImages(img.b, { kind: 'dir', path: dir }, { ignore: ['uid', 'gid'] });
    assert.deepEqual([d.onlyInA, d.onlyInB, d.different], [[], [], []], JSON.stringify(d));
  });

  test('the second pass reads only the layers holding the candidates, and a file the same layer gives both images is never hashed', async (t) => {
    const unrelated: FileSpec[] = [{ path: 'big/blob', size: 4 << 20 }, { path: 'big/other', size: 1000 }];
    const { a, b } = await twoImages(t, [BASE, unrelated, [{ path: 'x', content: 'aaa' }]], [BASE, unrelated, [{ path: 'x', content: 'aab' }]]);
    const r = await diffImages(a, b);
    assert.deepEqual(reasonsOf(r), { '/x': 'content' });
    assert.deepEqual(r.stats.a.contentLayers, [2], 'only the layer holding x');
    assert.deepEqual(r.stats.b.contentLayers, [2]);
    assert.equal(r.stats.a.hashedFiles, 1);
    assert.equal(r.stats.b.hashedFiles, 1);
    assert.equal(r.stats.a.hashedBytes, 3, 'only the bytes of x');
    assert.equal(r.stats.sameLayer, 5, 'the base and the unrelated layer: equal without reading');
    assert.equal(r.stats.a.headerReads, 3);
    assert.equal(r.stats.b.headerReads, 1, 'the two shared layers were read once');
  });

  test('an image against itself: no differences, nothing hashed', async (t) => {
    const { a } = await twoImages(t, [BASE, A_TOP], [BASE]);
    const r = await diffImages(a, a);
    assert.deepEqual([r.onlyInA, r.onlyInB, r.different], [[], [], []]);
    assert.equal(r.stats.a.hashedFiles + r.stats.b.hashedFiles, 0);
    assert.equal(r.stats.b.headerReads, 0);
  });
});

// ---------------------------------------------------------------------------------------------------------
// Directories

describe('diffImages: directories', () => {
  const isRoot = process.getuid?.() === 0;

  test('an image against its own unpacked directory: no differences (owners too when root)', async (t) => {
    const { dir, b, root } = await twoImages(t, [BASE, A_TOP], [BASE, B_TOP]);
    const target = join(root, 'b');
    await unpackImage(parseReference(`oci:${dir}:b`), target, { isRoot });
    const options: DiffOptions = isRoot ? {} : { ignore: ['uid', 'gid'] };
    const r = await diffImages(b, { kind: 'dir', path: target }, options);
    assert.deepEqual([r.onlyInA, r.onlyInB, r.different], [[], [], []], JSON.stringify(r.different));
    assert.equal(r.stats.b.kind, 'dir');
    assert.ok(r.stats.b.hashedFiles > 0, 'a directory has no layers: same-size files are hashed');
  });

  test('image against directory says what image against image says', async (t) => {
    const { dir, a, b, root } = await twoImages(t, [BASE, A_TOP], [BASE, B_TOP]);
    const target = join(root, 'b');
    await unpackImage(parseReference(`oci:${dir}:b`), target, { isRoot });
    const options: DiffOptions = isRoot ? {} : { ignore: ['uid', 'gid'] };
    const images = await diffImages(a, b, options);
    const mixed = await diffImages(a, { kind: 'dir', path: target }, options);
    assert.deepEqual([mixed.onlyInA, mixed.onlyInB, mixed.different], [images.onlyInA, images.onlyInB, images.different]);
    const reversed = await diffImages({ kind: 'dir', path: target }, a, options);
    assert.deepEqual(reversed.onlyInA, images.onlyInB);
  });

  test('hostile directory: symlink loops and links to / are compared as links, FIFOs by type and never opened', { timeout: 30_000 }, async (t) => {
    if (spawnSync('sh', ['-c', 'command -v mkfifo'], { stdio: 'ignore' }).status !== 0) return void t.skip('mkfifo is not installed (coreutils)');
    const root = await tempDir(t);
    const make = async (name: string, fifoAsFile: boolean): Promise<string> => {
      const d = join(root, name);
      await fsp.mkdir(join(d, 'sub'), { recursive: true });
      await fsp.symlink('loop2', join(d, 'loop1'));
      await fsp.symlink('loop1', join(d, 'loop2'));
      await fsp.symlink('.', join(d, 'self'));
      await fsp.symlink('/', join(d, 'host'));
      await fsp.symlink('../sub', join(d, 'sub/up'));
      await fsp.writeFile(join(d, 'sub/file'), 'same');
      spawnSync('mkfifo', [join(d, 'pipe')]);
      if (fifoAsFile) await fsp.writeFile(join(d, 'pipe2'), 'a file of some size');
      else spawnSync('mkfifo', [join(d, 'pipe2')]);
      return d;
    };
    const x = await make('x', false);
    const y = await make('y', true);
    const r = await diffImages({ kind: 'dir', path: x }, { kind: 'dir', path: y }, { ignore: ['time', 'mode'] });
    assert.deepEqual(r.onlyInA, []);
    assert.deepEqual(r.onlyInB, []);
    assert.deepEqual(reasonsOf(r), { '/pipe2': 'type' });
    assert.equal(r.stats.a.paths, 9, 'links never followed: loop1, loop2, self, host, sub, sub/up, sub/file, pipe, pipe2');
    // An image with regular files where the directory has FIFOs: type, and the FIFO is not opened (that would hang).
    const layout = join(root, 'layout');
    await buildLayout(layout, [{ tag: 'v', layers: [[
      { path: 'pipe', content: 'not a pipe' },
      { path: 'pipe2', content: 'not a pipe either' },
      { path: 'sub/file', content: 'same' },
      { path: 'sub/up', type: 'symlink', linkTarget: '../sub' },
      { path: 'loop1', type: 'symlink', linkTarget: 'loop2' },
      { path: 'loop2', type: 'symlink', linkTarget: 'loop1' },
      { path: 'self', type: 'symlink', linkTarget: '.' },
      { path: 'host', type: 'symlink', linkTarget: '/' },
    ]] }]);
    const m = await diffImages(image(layout, 'v'), { kind: 'dir', path: x }, { ignore: ['time', 'mode', 'uid', 'gid'] });
    assert.deepEqual([m.onlyInA, m.onlyInB], [[], []]);
    assert.deepEqual(reasonsOf(m), { '/pipe': 'type', '/pipe2': 'type' });
    assert.equal(m.stats.b.hashedFiles, 1, 'only sub/file (the same size on both sides) was read');
  });

  test('a directory that cannot be read is an error, not a silent gap', async (t) => {
    const root = await tempDir(t);
    await fsp.chmod(root, 0o755);
    await fsp.mkdir(join(root, 'x/locked'), { recursive: true });
    await fsp.chmod(join(root, 'x/locked'), 0);
    t.after(() => fsp.chmod(join(root, 'x/locked'), 0o755).catch(() => {}));
    if (process.getuid?.() !== 0) {
      await assert.rejects(diffImages({ kind: 'dir', path: join(root, 'x') }, { kind: 'dir', path: join(root, 'x') }), (err: Error & { code?: string }) => err.code === 'IO_ERROR');
      return;
    }
    // Root reads every directory: the same diff in a child that runs as nobody.
    if (!requirePeer(t, 'setpriv', 'util-linux')) return;
    const x = JSON.stringify(join(root, 'x'));
    const script = `
      const { diffImages } = await import(${JSON.stringify(new URL('../src/filesystem/diff.js', import.meta.url).href)});
      try { await diffImages({ kind: 'dir', path: ${x} }, { kind: 'dir', path: ${x} }); console.log('no error'); }
      catch (err) { console.log(err.code); }`;
    const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, '--input-type=module', '-e', script], { encoding: 'utf8' });
    assert.equal(r.stdout.trim(), 'IO_ERROR', r.stderr);
  });
});

// ---------------------------------------------------------------------------------------------------------
// The command

describe('wharf diff', () => {
  test('text like atomic diff: sections, leading /, reasons in parentheses; exit 0 unless --exit-code', async (t) => {
    const base: FileSpec[] = [{ path: 'etc/hostname', content: 'debian\n' }, { path: 'etc/gone', content: 'x' }];
    const { dir } = await twoImages(t, [base], [base, [{ path: 'etc/hostname', content: 'wharf-app\n', mtime: T0 + 5 }, { path: 'opt/new', content: 'n' }, { path: 'etc/.wh.gone', content: '' }]]);
    const [A, B] = [`oci:${dir}:a`, `oci:${dir}:b`];
    const r = await cli(['diff', A, B]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      r.stdout,
      `Files only in ${A}:\n     /etc/gone\n\nFiles only in ${B}:\n     /opt\n     /opt/new\n\nCommon files that are different: (reason)\n     /etc/hostname (size, time)\n`,
    );
    assert.equal((await cli(['diff', '--exit-code', A, B])).code, 1);
    const q = await cli(['diff', '-q', A, B]);
    assert.deepEqual([q.code, q.stdout], [1, '']);
    const same = await cli(['diff', '--exit-code', A, A]);
    assert.deepEqual([same.code, same.stdout], [0, `There are no file differences between ${A} and ${A}\n`]);
    const ignored = await cli(['diff', '--ignore', 'size,time', '--ignore=content', A, B]);
    assert.ok(!ignored.stdout.includes('Common files'), ignored.stdout);
  });

  test('--json: {onlyInA, onlyInB, different} as the library says', async (t) => {
    const { dir, a, b } = await twoImages(t, [BASE, A_TOP], [BASE, B_TOP]);
    const r = await cli(['diff', '--json', `oci:${dir}:a`, `oci:${dir}:b`]);
    assert.equal(r.code, 0, r.stderr);
    const lib = await diffImages(a, b);
    assert.deepEqual(JSON.parse(r.stdout), { onlyInA: lib.onlyInA, onlyInB: lib.onlyInB, different: lib.different });
  });

  test('operands: a transport prefix is an image, anything else must be a directory; an OCI layout as a directory is warned about', async (t) => {
    const { dir, root } = await twoImages(t, [BASE], [BASE]);
    const missing = await cli(['diff', join(root, 'nope'), `oci:${dir}:a`]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /neither an image reference nor a directory/);
    const unknownTag = await cli(['diff', `oci:${dir}:nope`, `oci:${dir}:a`]);
    assert.equal(unknownTag.code, 3, unknownTag.stderr);
    const layoutAsDir = await cli(['diff', 'layout', `oci:${dir}:a`], root);
    assert.match(layoutAsDir.stderr, /is an OCI image layout, compared here as a plain directory; for the image it holds, write oci:layout:TAG/);
    const bad = await cli(['diff', '--ignore', 'colour', `oci:${dir}:a`, `oci:${dir}:a`]);
    assert.equal(bad.code, 2);
    assert.deepEqual(parseIgnore(['link,mtime', 'uid']), ['link target', 'time', 'uid']);
  });
});

// ---------------------------------------------------------------------------------------------------------
// The bench fixtures: the ground truth, and umoci + diff -r

interface Truth {
  layer_paths: Record<string, string[]>;
  reemitted_dirs: Record<string, string[]>;
  whiteouts: { entry: string; deletes: string }[];
  opaque_dirs: { entry: string; hides: string[] }[];
  modified: { path: string }[];
}

function fixturesPresent(t: TestContext): boolean {
  if (existsSync(join(FIXTURES, 'debian')) && existsSync(join(FIXTURES, 'debian-app.truth.json'))) return true;
  t.skip(`the bench fixtures are not in ${FIXTURES} (make them with ../shared/bench/make-fixtures.sh)`);
  return false;
}

describe('debian vs debian-app', () => {
  test('reports exactly what debian-app.truth.json says was planted, and no more', async (t) => {
    if (!fixturesPresent(t)) return;
    const truth = JSON.parse(await fsp.readFile(join(FIXTURES, 'debian-app.truth.json'), 'utf8')) as Truth;
    const clean = (p: string): string => p.replace(/\/+$/, '');
    const planted = new Set(Object.values(truth.layer_paths).flat().map(clean).filter((p) => !p.split('/').pop()!.startsWith('.wh.')));
    for (const w of truth.whiteouts) planted.delete(clean(w.deletes));
    for (const o of truth.opaque_dirs) for (const h of o.hides) planted.delete(clean(h));
    const modified = truth.modified.map((m) => clean(m.path)).sort();
    // Directories the app's first layer re-emitted were in debian already: the same, but for their times.
    const reemitted = (truth.reemitted_dirs['1'] ?? []).map(clean);
    for (const p of [...modified, ...reemitted]) planted.delete(p);
    const r = await diffImages(image(join(FIXTURES, 'debian'), 'latest'), image(join(FIXTURES, 'debian-app'), 'latest'));
    assert.deepEqual(r.onlyInA, []);
    assert.deepEqual(r.onlyInB, [...planted].sort());
    assert.deepEqual(r.different.map((d) => d.path), modified);
    for (const d of r.different) assert.ok(d.reasons.includes('size') || d.reasons.includes('content'), `${d.path}: ${d.reasons.join(', ')}`);
    assert.equal(r.stats.a.hashedFiles + r.stats.b.hashedFiles, 0, 'the base layer is shared: nothing to hash');
    assert.equal(r.stats.b.headerReads, 3, "the shared base layer's headers were read once");
    // With directory times, exactly the re-emitted directories are added, for their time alone.
    const withTimes = await diffImages(image(join(FIXTURES, 'debian'), 'latest'), image(join(FIXTURES, 'debian-app'), 'latest'), { directoryTimes: true });
    const extra = withTimes.different.filter((d) => !modified.includes(d.path));
    assert.deepEqual(extra.map((d) => d.path), [...reemitted].sort());
    for (const d of extra) assert.deepEqual(d.reasons, ['time'], d.path);
  });

  test('agrees with umoci unpack + diff -rq --no-dereference, image against image, image against directory and directory against directory', { timeout: 300_000 }, async (t) => {
    if (!fixturesPresent(t) || !requirePeer(t, 'umoci')) return;
    const dir = await tempDir(t);
    const [ua, ub] = [join(dir, 'a'), join(dir, 'b')];
    await runPeer('umoci', ['unpack', '--rootless', '--image', `${FIXTURES}/debian:latest`, ua]);
    await runPeer('umoci', ['unpack', '--rootless', '--image', `${FIXTURES}/debian-app:latest`, ub]);
    const [ra, rb] = [join(ua, 'rootfs'), join(ub, 'rootfs')];
    const d = spawnSync('diff', ['-rq', '--no-dereference', ra, rb], { encoding: 'utf8', maxBuffer: 64 << 20 });
    assert.ok(d.status === 0 || d.status === 1, d.stderr);
    const theirs = new Set<string>();
    for (const line of d.stdout.split('\n').filter(Boolean)) {
      let m = /^Only in (.*): (.*)$/.exec(line);
      if (m) {
        const parent = m[1]!.startsWith(ra) ? m[1]!.slice(ra.length) : m[1]!.slice(rb.length);
        theirs.add(`${parent}/${m[2]}`);
        continue;
      }
      m = /^(?:Files|Symbolic links) (\S+) and \S+ differ$/.exec(line) ?? /^File (\S+) is a .* while file \S+ is a .*$/.exec(line);
      assert.ok(m, `an unexpected line from diff: ${line}`);
      theirs.add(m[1]!.slice(ra.length));
    }
    // diff -r names a directory only on one side, not what is below it; and it compares no metadata.
    const tops = (list: string[]): string[] => {
      const s = new Set(list);
      return list.filter((p) => ![...ancestors(p)].some((q) => s.has(q)));
    };
    const pathsOf = (r: DiffResult): string[] => [...tops(r.onlyInA), ...tops(r.onlyInB), ...r.different.map((x) => x.path)].sort();
    const contentOnly: DiffOptions = { ignore: ['mode', 'uid', 'gid', 'time'] };
    const imgA = image(join(FIXTURES, 'debian'), 'latest');
    const imgB = image(join(FIXTURES, 'debian-app'), 'latest');
    const images = await diffImages(imgA, imgB, contentOnly);
    assert.deepEqual(pathsOf(images), [...theirs].sort());
    // Against umoci's directories: owners are not applied by a rootless unpack, so they are left out; the rest
    // must be exactly what image against image says.
    const noOwners: DiffOptions = { ignore: ['uid', 'gid'] };
    const full = await diffImages(imgA, imgB, noOwners);
    const mixed = await diffImages(imgA, { kind: 'dir', path: rb }, noOwners);
    assert.deepEqual([mixed.onlyInA, mixed.onlyInB, mixed.different], [full.onlyInA, full.onlyInB, full.different]);
    const dirs = await diffImages({ kind: 'dir', path: ra }, { kind: 'dir', path: rb }, noOwners);
    assert.deepEqual([dirs.onlyInA, dirs.onlyInB, dirs.different], [full.onlyInA, full.onlyInB, full.different]);
  });
});

function* ancestors(p: string): Generator<string> {
  for (let q = p.slice(0, p.lastIndexOf('/')); q; q = q.slice(0, q.lastIndexOf('/'))) yield q;
}
