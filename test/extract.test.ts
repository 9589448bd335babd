/**
 * `wharf extract` / extractImage: a few paths of an image, from the header-only tree and a second read of only
 * the layers that hold their content; OCI whiteouts and opaque folders respected; symlinked parents resolved
 * inside the image, selected symlinks never followed; hard links kept or filled in; --layer; a tar on stdout
 * that GNU tar reads; a missing path exits 3; hostile paths refused; an interrupted extract leaves DIR as it was;
 * and on the bench image, the same bytes as umoci's unpack.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { test, type TestContext } from 'node:test';
import * as library from '../src/index.js';
import { parseReference } from '../src/index.js';
import { run } from '../src/cli/app.js';
import type { CliIO } from '../src/cli/types.js';
import { extractImage, type ExtractOptions } from '../src/filesystem/extract.js';
import { unpackImage } from '../src/filesystem/unpack.js';
import type { ImageReference, ImageSource } from '../src/transports/types.js';
import { buildLayout, removeBlob, type BuiltLayout, type ImageSpec } from './helpers/images.js';
import { requirePeer, runPeer, tempDir } from './helpers/peers.js';
import { WHARF_BIN } from './helpers/bin.js';

const BIN = WHARF_BIN;

const IMAGE: ImageSpec = {
  tag: 'v1',
  layers: [
    [
      { path: 'etc/passwd', content: 'root:x:0:0::/root:/bin/sh\n' },
      { path: 'etc/os-release', type: 'symlink', linkTarget: '../usr/lib/os-release' },
      { path: 'usr/lib/os-release', content: 'ID=wharf\n' },
      { path: 'lib', type: 'symlink', linkTarget: 'usr/lib' },
      { path: 'bin/tool', content: '#!/bin/sh\necho tool\n', mode: 0o4755 },
      { path: 'bin/tool-link', type: 'hardlink', linkTarget: 'bin/tool' },
      { path: 'bin/other-link', type: 'hardlink', linkTarget: 'bin/tool' },
      { path: 'bin/empty', content: '' },
      { path: 'data/old1', content: '1' },
      { path: 'data/old2', content: '2' },
      { path: 'secret.env', content: 'AWS=1' },
      // Symlinks that point outside the image when followed on the host.
      { path: 'escape', type: 'symlink', linkTarget: '/etc' },
      { path: 'rel', type: 'symlink', linkTarget: '../../../../../../tmp' },
      { path: 'ro', type: 'dir', mode: 0o555 },
      { path: 'ro/inside', content: 'in a read-only folder' },
    ],
    {
      // No directory entries: `lib/` would replace the symlink with a directory.
      implicitDirs: false,
      files: [
        { path: '.wh.secret.env', content: '' },
        { path: 'etc/hostname', content: 'wharf\n' },
        { path: 'lib/liby.so', content: 'through the usrmerge link' },
        { path: 'escape/planted', content: 'written through /escape, inside the image' },
      ],
    },
    [
      { path: 'data/new1', content: 'new' },
      { path: 'data/.wh..wh..opq', content: '' },
      { path: 'data', type: 'dir', mode: 0o750 },
    ],
    [{ path: 'unrelated/big.bin', size: 256 << 10 }],
  ],
};

async function built(t: TestContext): Promise<{ dir: string; layout: BuiltLayout; ref: string }> {
  const dir = await tempDir(t, 'wharf-extract-');
  const layout = await buildLayout(join(dir, 'src'), [IMAGE]);
  return { dir, layout, ref: `oci:${layout.dir}:v1` };
}

/** Every path under root: type, mode, size, link target, content hash (and inode, to see hard links). */
async function describeTree(root: string, withInodes = false): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const inodes = new Map<number, string>();
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
        let what = `file ${mode} ${st.size} ${createHash('sha256').update(await fsp.readFile(p)).digest('hex').slice(0, 16)}`;
        if (withInodes) {
          const first = inodes.get(st.ino);
          if (first) what += ` =${first}`;
          else inodes.set(st.ino, r);
        }
        out.set(r, what);
      } else {
        out.set(r, 'other');
      }
    }
  };
  await walk(root, '');
  return out;
}

/** A reference whose sources count getBlob calls per digest: which layers were read, and how often. */
function counting(ref: ImageReference, counts: Map<string, number>): ImageReference {
  return {
    transport: ref.transport,
    toString: () => ref.toString(),
    dockerReference: () => ref.dockerReference(),
    newDestination: (ctx) => ref.newDestination(ctx),
    newSource: async (ctx) => {
      const src = await ref.newSource(ctx);
      return new Proxy(src, {
        get(target, key) {
          if (key === 'getBlob') {
            return (d: Parameters<ImageSource['getBlob']>[0], signal?: AbortSignal) => {
              counts.set(d.digest, (counts.get(d.digest) ?? 0) + 1);
              return target.getBlob(d, signal);
            };
          }
          const v = Reflect.get(target, key) as unknown;
          return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
        },
      });
    },
  };
}

interface CliRun {
  code: number;
  stdout: Buffer;
  stderr: string;
}

/** `wharf ARGS` in-process, with the real library, stdout collected as bytes. */
async function cli(args: string[], cwd: string, options: { tty?: boolean } = {}): Promise<CliRun> {
  const out: Buffer[] = [];
  let err = '';
  const io: CliIO = {
    stdout: { write: (c: string | Uint8Array) => void out.push(Buffer.from(c)), isTTY: options.tty === true },
    stderr: { write: (c: string | Uint8Array) => void (err += Buffer.from(c).toString()) },
    env: {},
    cwd,
  };
  const code = await run(args, io, library);
  return { code, stdout: Buffer.concat(out), stderr: err };
}

/** The bin, its stdout as bytes (for `--to -`). */
function bin(args: string[]): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout: Buffer.concat(out), stderr: err }));
  });
}

const sha = (s: string | Buffer): string => createHash('sha256').update(s).digest('hex').slice(0, 16);

test('a file from a lower layer: the first pass reads every layer\'s headers, the second only the layer that holds it', async (t) => {
  const { dir, layout, ref } = await built(t);
  const counts = new Map<string, number>();
  const to = join(dir, 'out');
  const r = await extractImage(counting(parseReference(ref), counts), ['/etc/hostname'], to);
  assert.equal(await fsp.readFile(join(to, 'etc/hostname'), 'utf8'), 'wharf\n');
  assert.deepEqual([...(await describeTree(to)).keys()], ['etc', 'etc/hostname'], 'just the file (and its parent)');
  assert.deepEqual(r.layersRead, [{ layer: 2, files: 1, bytes: 6 }]);
  assert.deepEqual(r.paths, [{ path: '/etc/hostname', resolved: '/etc/hostname', type: 'file', layer: 2, entries: 1 }]);
  const layers = layout.images[0]!.layers.map((l) => counts.get(l.digest) ?? 0);
  assert.deepEqual(layers, [1, 2, 1, 1], 'layer 2 read twice (headers, then its file); the others once, for their headers only');
});

test('a blob of a layer that holds nothing selected can be missing with --layer (only that layer is read)', async (t) => {
  const { dir, layout, ref } = await built(t);
  const ls = layout.images[0]!.layers;
  for (const i of [0, 1, 3]) await removeBlob(layout.dir, ls[i]!.digest);
  const to = join(dir, 'out');
  const r = await extractImage(ref, ['/data'], to, { layer: 3 });
  assert.deepEqual(Object.fromEntries(await describeTree(to)), { data: 'dir 750', 'data/new1': `file 644 3 ${sha('new')}` }, 'the opaque marker is not written');
  assert.deepEqual(r.layersRead.map((l) => l.layer), [3]);
  // Without --layer, the first pass needs every layer's headers: a missing blob is an error (not a wrong answer).
  await assert.rejects(extractImage(ref, ['/data'], join(dir, 'out2')), (err: Error & { code?: string }) => err.code === 'BLOB_UNKNOWN');
  assert.ok(!existsSync(join(dir, 'out2')));
});

test('a folder --path takes everything below it; an opaque folder shows none of the lower layers\' content', async (t) => {
  const { dir, ref } = await built(t);
  const to = join(dir, 'out');
  const r = await extractImage(ref, ['/data'], to);
  assert.deepEqual(Object.fromEntries(await describeTree(to)), { data: 'dir 750', 'data/new1': `file 644 3 ${sha('new')}` });
  assert.deepEqual(r.paths, [{ path: '/data', resolved: '/data', type: 'dir', layer: 3, entries: 2 }]);
  const ro = join(dir, 'ro');
  await extractImage(ref, ['ro'], ro);
  assert.deepEqual(Object.fromEntries(await describeTree(ro)), { ro: 'dir 555', 'ro/inside': `file 644 21 ${sha('in a read-only folder')}` }, 'a read-only folder is filled before its mode is set');
});

test('a file deleted by a later layer is not in the image: PATH_NOT_FOUND, and the hint names the layer that holds it', async (t) => {
  const { dir, ref } = await built(t);
  await assert.rejects(extractImage(ref, ['/secret.env'], join(dir, 'out')), (err: Error & { code?: string; hint?: string }) => {
    assert.equal(err.code, 'PATH_NOT_FOUND');
    assert.match(err.message, /\/secret\.env: not in the image/);
    assert.match(err.hint ?? '', /deleted in layer 2; --layer 1 extracts it/);
    return true;
  });
  assert.ok(!existsSync(join(dir, 'out')), 'nothing written');
  const to = join(dir, 'l1');
  await extractImage(ref, ['/secret.env'], to, { layer: 1 });
  assert.equal(await fsp.readFile(join(to, 'secret.env'), 'utf8'), 'AWS=1');
});

test('symlinks among the parents of a --path are resolved inside the image; a selected symlink is written as one', async (t) => {
  const { dir, ref } = await built(t);
  const to = join(dir, 'out');
  const r = await extractImage(ref, ['/lib/liby.so', '/lib', '/etc/os-release'], to);
  assert.deepEqual(Object.fromEntries(await describeTree(to)), {
    etc: 'dir 755',
    'etc/os-release': 'symlink -> ../usr/lib/os-release',
    lib: 'symlink -> usr/lib',
    usr: 'dir 755',
    'usr/lib': 'dir 755',
    'usr/lib/liby.so': `file 644 25 ${sha('through the usrmerge link')}`,
  });
  assert.deepEqual(r.paths.map((p) => [p.path, p.resolved, p.type]), [
    ['/lib/liby.so', '/usr/lib/liby.so', 'file'],
    ['/lib', '/lib', 'symlink'],
    ['/etc/os-release', '/etc/os-release', 'symlink'],
  ]);
  // A symlink alone needs no layer's content at all.
  const links = await extractImage(ref, ['/lib', '/etc/os-release'], join(dir, 'links'));
  assert.deepEqual(links.layersRead, []);
});

test('hard links: kept when the target is extracted too, else the first gets the target\'s bytes and the rest link to it', async (t) => {
  const { dir, ref } = await built(t);
  const all = join(dir, 'all');
  const r = await extractImage(ref, ['/bin'], all);
  const tool = `file 4755 20 ${sha('#!/bin/sh\necho tool\n')}`;
  assert.deepEqual(Object.fromEntries(await describeTree(all, true)), {
    bin: 'dir 755',
    'bin/empty': `file 644 0 ${sha('')}`,
    'bin/other-link': tool,
    'bin/tool': `${tool} =bin/other-link`,
    'bin/tool-link': `${tool} =bin/other-link`,
  });
  assert.equal(r.links, 2);
  const links = join(dir, 'links');
  await extractImage(ref, ['/bin/tool-link', '/bin/other-link'], links);
  assert.deepEqual(Object.fromEntries(await describeTree(links, true)), {
    bin: 'dir 755',
    'bin/other-link': tool,
    'bin/tool-link': `${tool} =bin/other-link`,
  }, 'the target is not extracted: its content is, once, and the other link shares it');
});

test('a hard link made before its target was replaced keeps the old bytes, as unpack gives them; --path / is the whole unpack', async (t) => {
  const dir = await tempDir(t, 'wharf-extract-');
  const layout = await buildLayout(join(dir, 'src'), [
    IMAGE,
    {
      tag: 'relinked',
      layers: [
        [{ path: 'a/file', content: 'v1' }, { path: 'a/link', type: 'hardlink', linkTarget: 'a/file' }, { path: 'b/keep', content: 'k' }],
        [{ path: 'a/file', content: 'version 2' }],
        [{ path: 'b/link-to-old', type: 'hardlink', linkTarget: 'a/link' }],
      ],
    },
  ]);
  const ref = `oci:${layout.dir}:relinked`;
  const one = join(dir, 'one');
  await extractImage(ref, ['/a/link'], one);
  assert.equal(await fsp.readFile(join(one, 'a/link'), 'utf8'), 'v1', 'the bytes the link shares, not the later a/file');
  const all = join(dir, 'all');
  await extractImage(ref, ['/a', '/b'], all);
  assert.deepEqual(Object.fromEntries(await describeTree(all, true)), {
    a: 'dir 755',
    'a/file': `file 644 9 ${sha('version 2')}`,
    'a/link': `file 644 2 ${sha('v1')}`,
    b: 'dir 755',
    'b/keep': `file 644 1 ${sha('k')}`,
    'b/link-to-old': `file 644 2 ${sha('v1')} =a/link`,
  });
  // Everything, through extract, is what unpack writes (the same safe writer, fed from two passes).
  for (const tag of ['v1', 'relinked']) {
    const whole = join(dir, `whole-${tag}`);
    await extractImage(`oci:${layout.dir}:${tag}`, ['/'], whole);
    const unpacked = join(dir, `unpacked-${tag}`);
    await unpackImage(parseReference(`oci:${layout.dir}:${tag}`), unpacked);
    assert.deepEqual(Object.fromEntries(await describeTree(whole, true)), Object.fromEntries(await describeTree(unpacked, true)), tag);
  }
});

test('several --path, overlapping: each entry once', async (t) => {
  const { dir, ref } = await built(t);
  const to = join(dir, 'out');
  const r = await extractImage(ref, ['/etc/hostname', '/etc', 'etc/passwd', '/usr/lib/os-release'], to);
  assert.deepEqual([...(await describeTree(to)).keys()], ['etc', 'etc/hostname', 'etc/os-release', 'etc/passwd', 'etc/planted', 'usr', 'usr/lib', 'usr/lib/os-release']);
  assert.equal(r.entries, 6, 'etc, its four entries, usr/lib/os-release');
  assert.deepEqual(r.layersRead.map((l) => [l.layer, l.files]), [[1, 2], [2, 2]]);
});

test('--layer N: one layer alone, 1-based from the base or negative from the top; its whiteouts never appear', async (t) => {
  const { dir, ref } = await built(t);
  const top = join(dir, 'top');
  const r = await extractImage(ref, ['/'], top, { layer: -1 });
  assert.deepEqual([...(await describeTree(top)).keys()], ['unrelated', 'unrelated/big.bin']);
  assert.deepEqual(r.layersRead.map((l) => l.layer), [4]);
  const two = join(dir, 'two');
  await extractImage(ref, ['/'], two, { layer: 2 });
  assert.deepEqual([...(await describeTree(two)).keys()], ['escape', 'escape/planted', 'etc', 'etc/hostname', 'lib', 'lib/liby.so'], 'the layer alone: no .wh. entry, its own paths as written');
  await assert.rejects(extractImage(ref, ['/etc/passwd'], join(dir, 'x'), { layer: 2 }), (err: Error & { code?: string }) => err.code === 'PATH_NOT_FOUND' && /not in layer 2/.test(err.message));
  for (const layer of [0, 5, -5]) {
    await assert.rejects(extractImage(ref, ['/etc'], join(dir, 'x'), { layer }), (err: Error & { code?: string }) => err.code === 'USAGE', String(layer));
  }
});

test('--to - writes a tar that GNU tar lists and extracts to the same tree as --to DIR', async (t) => {
  const { dir, ref } = await built(t);
  const args = ['extract', '--path', '/etc', '--path', '/bin', '--path', '/data', '--path', '/lib', ref];
  const tar = await bin([...args, '--to', '-', '-q']);
  assert.equal(tar.code, 0, tar.stderr);
  assert.equal(tar.stderr, '');
  const list = spawnSync('tar', ['-tvf', '-'], { input: tar.stdout, env: { ...process.env, TZ: 'UTC', LC_ALL: 'C' } });
  assert.equal(list.status, 0, list.stderr.toString());
  const lines = list.stdout.toString().trim().split('\n').map((l) => l.replace(/\s+/g, ' '));
  const names = lines.map((l) => l.split(' ').slice(5).join(' ')).sort();
  assert.deepEqual(names, [
    'bin/',
    'bin/empty',
    'bin/other-link link to bin/tool',
    'bin/tool',
    'bin/tool-link link to bin/tool',
    'data/',
    'data/new1',
    'etc/',
    'etc/hostname',
    'etc/os-release -> ../usr/lib/os-release',
    'etc/passwd',
    'etc/planted',
    'lib -> usr/lib',
  ]);
  assert.ok(lines.includes('-rwsr-xr-x root/root 20 2023-11-14 22:13 bin/tool'), lines.join('\n'));
  assert.ok(lines.includes('drwxr-x--- root/root 0 2023-11-14 22:13 data/'), lines.join('\n'));
  assert.ok(lines.some((l) => l.startsWith('hrwsr-xr-x root/root 0 2023-11-14 22:13 bin/tool-link link to bin/tool')), lines.join('\n'));
  const fromTar = join(dir, 'from-tar');
  await fsp.mkdir(fromTar);
  const x = spawnSync('tar', ['-xf', '-', '-C', fromTar], { input: tar.stdout });
  assert.equal(x.status, 0, x.stderr.toString());
  const direct = await cli([...args, '--to', join(dir, 'direct'), '--json'], dir);
  assert.equal(direct.code, 0, direct.stderr);
  assert.deepEqual(Object.fromEntries(await describeTree(fromTar, true)), Object.fromEntries(await describeTree(join(dir, 'direct'), true)));
  const summary = JSON.parse(direct.stdout.toString()) as { to: string; layersRead: { layer: number }[]; links: number };
  assert.equal(summary.to, join(dir, 'direct'));
  assert.deepEqual(summary.layersRead.map((l) => l.layer), [1, 2, 3]);
  assert.equal(summary.links, 2);
});

test('--to - is refused when stdout is a terminal; --json goes to stderr then', async (t) => {
  const { dir, ref } = await built(t);
  const r = await cli(['extract', '--path', '/etc/passwd', '--to', '-', ref], dir, { tty: true });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /refusing to write a tar stream to a terminal/);
  assert.equal(r.stdout.length, 0);
  const j = await cli(['extract', '--path', '/etc/passwd', '--to', '-', '--json', ref], dir);
  assert.equal(j.code, 0, j.stderr);
  assert.equal(j.stdout.length % 512, 0, 'stdout holds the tar alone');
  assert.equal((JSON.parse(j.stderr) as { files: number }).files, 1);
});

test('a path that is not in the image exits 3 with "not in the image" and the nearest path', async (t) => {
  const { dir, ref } = await built(t);
  const r = await cli(['extract', '--path', '/etc/hostnme', '--path', '/nope/x', '--to', join(dir, 'out'), ref], dir);
  assert.equal(r.code, 3);
  assert.match(r.stderr, /\/etc\/hostnme, \/nope\/x: not in the image/);
  assert.match(r.stderr, /hint: did you mean \/etc\/hostname\?/);
  assert.ok(!existsSync(join(dir, 'out')));
  const usage = await cli(['extract', '--to', join(dir, 'out'), ref], dir);
  assert.equal(usage.code, 2, 'no --path');
  const noTo = await cli(['extract', '--path', '/etc', ref], dir);
  assert.equal(noTo.code, 2, 'no --to');
});

// ---- hostile -------------------------------------------------------------------------------------------

test('attack: a --path with .. is a usage error, before anything is read', async (t) => {
  const { dir, ref } = await built(t);
  for (const p of ['/etc/../../outside', '../etc/passwd', 'etc/..']) {
    const r = await cli(['extract', '--path', p, '--to', join(dir, 'out'), ref], dir);
    assert.equal(r.code, 2, p);
    assert.match(r.stderr, /has a "\.\." component/);
  }
  await assert.rejects(extractImage(ref, ['a/../b'], join(dir, 'out')), (err: Error & { code?: string }) => err.code === 'USAGE');
  assert.ok(!existsSync(join(dir, 'out')));
});

test('attack: selected symlinks that point outside are written as symlinks, never followed; paths through them stay in the image', async (t) => {
  const { dir, ref } = await built(t);
  const outside = join(dir, 'outside');
  await fsp.mkdir(outside);
  await fsp.writeFile(join(outside, 'victim'), 'untouched');
  const to = join(dir, 'out');
  const r = await extractImage(ref, ['/escape', '/rel', '/escape/passwd', '/escape/planted'], to);
  assert.deepEqual(Object.fromEntries(await describeTree(to)), {
    escape: 'symlink -> /etc',
    etc: 'dir 755',
    'etc/passwd': `file 644 26 ${sha('root:x:0:0::/root:/bin/sh\n')}`,
    'etc/planted': `file 644 41 ${sha('written through /escape, inside the image')}`,
    rel: 'symlink -> ../../../../../../tmp',
  }, '/escape/passwd is the image\'s /etc/passwd, not the host\'s');
  assert.deepEqual(r.paths.map((p) => p.resolved), ['/escape', '/rel', '/etc/passwd', '/etc/planted']);
  assert.deepEqual(await fsp.readdir(outside), ['victim']);
  assert.equal(await fsp.readFile(join(outside, 'victim'), 'utf8'), 'untouched');
  // The same through the tar stream: the links as written, nothing resolved on the host.
  const sink = new PassThrough();
  const chunks: Buffer[] = [];
  sink.on('data', (c: Buffer) => chunks.push(c));
  await extractImage(ref, ['/escape', '/rel'], sink);
  const list = spawnSync('tar', ['-tvf', '-'], { input: Buffer.concat(chunks) });
  assert.match(list.stdout.toString(), /escape -> \/etc\n[^\n]*rel -> \.\.\/\.\.\/\.\.\/\.\.\/\.\.\/\.\.\/tmp\n/);
});

test('an interrupted extract leaves DIR as it was (empty, or absent) and the next run works; a non-empty DIR is refused', async (t) => {
  const { dir, ref } = await built(t);
  for (const existing of [true, false]) {
    const to = join(dir, existing ? 'empty' : 'absent');
    if (existing) await fsp.mkdir(to);
    const controller = new AbortController();
    const options: ExtractOptions = {
      signal: controller.signal,
      onLayer: (phase) => {
        if (phase === 'extract') controller.abort();
      },
    };
    await assert.rejects(extractImage(ref, ['/etc', '/unrelated'], to, options));
    if (existing) assert.deepEqual(await fsp.readdir(to), [], 'still there, still empty');
    else assert.ok(!existsSync(to), 'still absent');
    assert.ok(!(await fsp.readdir(dir)).some((n) => n.includes('wharf-extract')), 'no staging folder left');
    await extractImage(ref, ['/etc', '/unrelated'], to);
    assert.deepEqual((await fsp.readdir(to)).sort(), ['etc', 'unrelated']);
    await assert.rejects(extractImage(ref, ['/etc'], to), (err: Error & { code?: string }) => err.code === 'DESTINATION_EXISTS');
    assert.deepEqual((await fsp.readdir(to)).sort(), ['etc', 'unrelated'], 'left as it was');
  }
});

// ---- the bench image, against umoci ---------------------------------------------------------------------

const BENCH = '/tmp/wharf-fixtures/oci/debian-app';

test('debian-app: /etc/os-release and the planted files have the bytes, modes and links of umoci\'s unpack', async (t) => {
  if (!existsSync(join(BENCH, 'index.json'))) {
    t.skip(`${BENCH} is not there (../shared/bench/make-fixtures.sh makes it)`);
    return;
  }
  if (!requirePeer(t, 'umoci')) return;
  const truth = JSON.parse(await fsp.readFile(`${BENCH}.truth.json`, 'utf8')) as {
    modified: { path: string }[];
    opaque_dirs: { dir: string; final_contents: string[] }[];
    whiteouts: { deletes: string }[];
    suid: { path: string; mode: string }[];
    secrets: { path?: string; in_final_rootfs?: boolean }[];
  };
  const dir = await tempDir(t, 'wharf-extract-bench-');
  const ref = `oci:${BENCH}:latest`;
  const kept = truth.secrets.filter((s) => s.path && s.in_final_rootfs).map((s) => s.path!);
  const paths = ['/etc/os-release', '/usr/lib/os-release', ...truth.modified.map((m) => m.path), ...truth.opaque_dirs.map((o) => o.dir), ...truth.suid.map((s) => s.path), ...kept, '/opt/app'];
  const ours = join(dir, 'ours');
  const counts = new Map<string, number>();
  const r = await extractImage(counting(parseReference(ref), counts), paths, ours);
  await runPeer('umoci', ['unpack', '--rootless', '--image', `${BENCH}:latest`, join(dir, 'umoci')]);
  const theirs = await describeTree(join(dir, 'umoci', 'rootfs'));
  const mine = await describeTree(ours);
  // Every selected path and everything below it, as umoci has it.
  const selected = [...mine.keys()].filter((p) => paths.some((s) => `/${p}` === s || `/${p}`.startsWith(`${s}/`)));
  assert.ok(selected.length >= paths.length + 20, `${selected.length} paths`);
  for (const p of selected) assert.equal(mine.get(p), theirs.get(p), p);
  for (const p of [...theirs.keys()].filter((q) => paths.some((s) => `/${q}`.startsWith(`${s}/`)))) assert.ok(mine.has(p), `${p} is in umoci's tree and not extracted`);
  assert.match(mine.get('etc/os-release') ?? '', /^symlink -> /, 'a symlink in debian, written as one');
  for (const o of truth.opaque_dirs) {
    assert.deepEqual([...mine.keys()].filter((p) => `/${p}`.startsWith(`${o.dir}/`)), o.final_contents.map((c) => c.slice(1)));
  }
  for (const s of truth.suid) assert.match(mine.get(s.path.slice(1)) ?? '', new RegExp(`^file ${s.mode} `));
  // The whited-out secret is not in the image, and says where it is.
  for (const w of truth.whiteouts) {
    await assert.rejects(extractImage(ref, [w.deletes], join(dir, 'gone')), (err: Error & { code?: string }) => err.code === 'PATH_NOT_FOUND');
  }
  assert.deepEqual(r.layersRead.map((l) => l.layer), [1, 2, 3, 4]);
  // Only what the upper layers planted: the 49 MiB base layer's blob is read once, for its headers.
  const upper = await extractImage(counting(parseReference(ref), (counts.clear(), counts)), ['/etc/hostname', '/opt/data'], join(dir, 'upper'));
  assert.deepEqual(upper.layersRead.map((l) => l.layer), [3, 4]);
  const manifest = JSON.parse(await fsp.readFile(join(BENCH, 'blobs', 'sha256', (JSON.parse(await fsp.readFile(join(BENCH, 'index.json'), 'utf8')) as { manifests: { digest: string }[] }).manifests[0]!.digest.slice(7)), 'utf8')) as { layers: { digest: string }[] };
  assert.deepEqual(manifest.layers.map((l) => counts.get(l.digest)), [1, 1, 2, 2]);
  assert.equal(await fsp.readFile(join(dir, 'upper', 'etc/hostname'), 'utf8'), await fsp.readFile(join(dir, 'umoci', 'rootfs', 'etc/hostname'), 'utf8'));
});
