/**
 * The streaming layer reader (src/layer/tar-stream.ts): real archives made by GNU tar, Python's tarfile and our
 * own TarWriter, checked against what an independent reader (Python's tarfile, `tar -tf`) says about them; the
 * body contract (backpressure, skipping unread bodies); bounded memory on a 300 MiB stream; and one test per
 * attack on a layer, each named after it.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { test, type TestContext } from 'node:test';
import { gzipSync } from 'node:zlib';
import { TarWriter, indexTarFile, normalizeTarPath } from '../src/archive/tar.js';
import { WharfError } from '../src/errors.js';
import { layerEntries, normalizeLayerPath, readLayerEntries, type TarStreamOptions } from '../src/layer/tar-stream.js';
import type { LayerEntry } from '../src/layer/types.js';
import { hasPeer, requirePeer, runPeer, tempDir } from './helpers/peers.js';

// ---------------------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------------------

interface Read {
  entries: LayerEntry[];
  /** Content of each file entry, by path. */
  data: Map<string, Buffer>;
  warnings: string[];
}

/** Read every entry, consuming every body into memory (small archives only). */
async function readAll(stream: Readable, options: TarStreamOptions = {}): Promise<Read> {
  const warnings: string[] = [];
  const entries: LayerEntry[] = [];
  const data = new Map<string, Buffer>();
  for await (const { entry, body } of readLayerEntries(stream, { onWarning: (m) => warnings.push(m), ...options })) {
    entries.push(entry);
    if (body) {
      const chunks: Buffer[] = [];
      for await (const c of body) chunks.push(c as Buffer);
      data.set(entry.path, Buffer.concat(chunks));
    }
  }
  return { entries, data, warnings };
}

/** The bytes as a stream, cut into chunks of awkward sizes so that headers and bodies straddle chunk boundaries. */
function chunked(buf: Buffer, sizes: number[] = [1, 7, 511, 513, 4096, 100_003]): Readable {
  const parts: Buffer[] = [];
  for (let at = 0, i = 0; at < buf.length; i++) {
    const n = sizes[i % sizes.length]!;
    parts.push(buf.subarray(at, at + n));
    at += n;
  }
  return Readable.from(parts);
}

function whole(buf: Buffer): Readable {
  return Readable.from([buf]);
}

function fixChecksum(block: Buffer): void {
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += block[i]!;
  block.write(sum.toString(8).padStart(6, '0'), 148, 6, 'latin1');
  block[154] = 0;
  block[155] = 0x20;
}

interface HeaderOptions {
  size?: number;
  linkname?: string;
  mode?: number;
  mtime?: number;
  /** ustar (POSIX) or gnu magic */
  magic?: 'ustar' | 'gnu';
  prefix?: string;
}

/** One header block, written field by field (names as raw bytes, so they may hold anything). */
function header(name: string | Buffer, typeflag: string, o: HeaderOptions = {}): Buffer {
  const b = Buffer.alloc(512);
  (typeof name === 'string' ? Buffer.from(name) : name).copy(b, 0, 0, 100);
  b.write(`${(o.mode ?? 0o644).toString(8).padStart(7, '0')}\0`, 100, 8, 'latin1');
  b.write('0000000\0', 108, 8, 'latin1');
  b.write('0000000\0', 116, 8, 'latin1');
  b.write(`${(o.size ?? 0).toString(8).padStart(11, '0')}\0`, 124, 12, 'latin1');
  b.write(`${(o.mtime ?? 0).toString(8).padStart(11, '0')}\0`, 136, 12, 'latin1');
  b.write(typeflag, 156, 1, 'latin1');
  if (o.linkname) b.write(o.linkname, 157, 100, 'utf8');
  b.write(o.magic === 'gnu' ? 'ustar  \0' : 'ustar\x0000', 257, 8, 'latin1');
  if (o.prefix) b.write(o.prefix, 345, 155, 'utf8');
  fixChecksum(b);
  return b;
}

function pad(b: Buffer): Buffer {
  return Buffer.concat([b, Buffer.alloc((512 - (b.length % 512)) % 512)]);
}

function paxRec(key: string, value: string | Buffer): Buffer {
  const v = typeof value === 'string' ? Buffer.from(value) : value;
  const rest = Buffer.byteLength(` ${key}=`) + v.length + 1;
  let n = rest + 1;
  while (String(n).length + rest !== n) n = String(n).length + rest;
  return Buffer.concat([Buffer.from(`${n} ${key}=`), v, Buffer.from('\n')]);
}

/** A PAX extended header ('x', or 'g' for global) with these records. */
function pax(records: Array<[string, string | Buffer]>, typeflag = 'x'): Buffer {
  const body = Buffer.concat(records.map(([k, v]) => paxRec(k, v)));
  return Buffer.concat([header('PaxHeaders/x', typeflag, { size: body.length }), pad(body)]);
}

/** A GNU long name ('L') or long link ('K') header. */
function gnuLong(value: string | Buffer, typeflag = 'L'): Buffer {
  const body = Buffer.concat([typeof value === 'string' ? Buffer.from(value) : value, Buffer.from([0])]);
  return Buffer.concat([header('././@LongLink', typeflag, { size: body.length, magic: 'gnu' }), pad(body)]);
}

function file(name: string, content: string | Buffer, o: HeaderOptions = {}): Buffer {
  const c = typeof content === 'string' ? Buffer.from(content) : content;
  return Buffer.concat([header(name, '0', { ...o, size: c.length }), pad(c)]);
}

const END = Buffer.alloc(1024);

function tar(...parts: Buffer[]): Buffer {
  return Buffer.concat([...parts, END]);
}

async function assertLayerInvalid(p: Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof WharfError, `expected a WharfError, got ${String(err)}`);
    assert.equal(err.code, 'LAYER_INVALID', err.message);
    assert.ok(err.hint, 'a LAYER_INVALID error says what to do');
    assert.match(err.message, pattern);
    return true;
  });
}

function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

/** What Python's tarfile (an independent reader) says about each member. */
interface PyMember {
  name: string;
  type: string;
  size: number;
  linkname: string;
  mode: number;
  uid: number;
  gid: number;
  uname: string;
  gname: string;
  mtime: number;
  devmajor: number;
  devminor: number;
  sparse: boolean;
}

const PY_LIST = `
import json, sys, tarfile
out = []
with tarfile.open(sys.argv[1]) as t:
    for m in t:
        out.append(dict(name=m.name, type=m.type.decode('latin1'), size=m.size, linkname=m.linkname, mode=m.mode,
                        uid=m.uid, gid=m.gid, uname=m.uname, gname=m.gname, mtime=m.mtime,
                        devmajor=m.devmajor, devminor=m.devminor, sparse=m.issparse()))
print(json.dumps(out))
`;

async function pythonList(path: string): Promise<PyMember[]> {
  return JSON.parse(await runPeer('python3', ['-c', PY_LIST, path])) as PyMember[];
}

const PY_TYPES: Record<string, LayerEntry['type']> = {
  '0': 'file',
  '\0': 'file',
  '7': 'file',
  '1': 'hardlink',
  '2': 'symlink',
  '3': 'char',
  '4': 'block',
  '5': 'dir',
  '6': 'fifo',
};

/** Python's view of a member, in LayerEntry terms. */
function fromPython(m: PyMember): Partial<LayerEntry> {
  const type = PY_TYPES[m.type];
  assert.ok(type, `python reports type ${JSON.stringify(m.type)} for ${m.name}`);
  const e: Partial<LayerEntry> = {
    path: normalizeLayerPath(m.name)!,
    type,
    mode: m.mode,
    uid: m.uid,
    gid: m.gid,
    size: type === 'file' ? m.size : 0,
    mtime: m.mtime,
  };
  if (m.uname) e.uname = m.uname;
  if (m.gname) e.gname = m.gname;
  if (type === 'symlink') e.linkname = m.linkname;
  if (type === 'hardlink') e.linkname = normalizeLayerPath(m.linkname)!;
  if (type === 'char' || type === 'block') {
    e.devmajor = m.devmajor;
    e.devminor = m.devminor;
  }
  return e;
}

function withoutXattrs(e: LayerEntry): Partial<LayerEntry> {
  const { xattrs: _x, ...rest } = e;
  return rest;
}

function python(t: TestContext): boolean {
  return requirePeer(t, 'python3', 'python3');
}

/** Tar's own names (`tar -tf`), normalised the way the reader normalises them. */
async function tarNames(path: string): Promise<string[]> {
  return (await runPeer('tar', ['-tf', path])).split('\n').filter((l) => l !== '').map((n) => normalizeLayerPath(n)!);
}

// A name over 100 bytes (needs a GNU long name, PAX path or the ustar prefix) and one over 255 (no ustar).
const NAME_121 = `${'g'.repeat(60)}/${'h'.repeat(60)}`;
const NAME_302 = `${'d'.repeat(100)}/${'e'.repeat(100)}/${'f'.repeat(100)}`;
const LONG_TARGET = `../${'t'.repeat(150)}/${'u'.repeat(50)}`;

// ---------------------------------------------------------------------------------------------------------
// Real archives
// ---------------------------------------------------------------------------------------------------------

for (const format of ['gnu', 'pax', 'ustar'] as const) {
  test(`archives made by GNU tar --format=${format} read as Python's tarfile and tar -tf read them`, async (t) => {
    if (!requirePeer(t, 'tar') || !python(t)) return;
    const dir = await tempDir(t);
    const src = join(dir, 'src');
    const long = format === 'ustar' ? [NAME_121] : [NAME_121, NAME_302];
    for (const n of long) {
      await fsp.mkdir(join(src, n, '..'), { recursive: true });
      await fsp.writeFile(join(src, n), `content of ${n.length}\n`);
    }
    await fsp.writeFile(join(src, 'small'), 'x');
    await fsp.writeFile(join(src, 'empty'), '');
    const payload = Buffer.alloc(300_001);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 7 + 3) & 0xff;
    await fsp.writeFile(join(src, 'payload'), payload);
    await fsp.writeFile(join(src, 'setuid'), '#!/bin/sh\n');
    await fsp.chmod(join(src, 'setuid'), 0o4755);
    await fsp.symlink('/etc/passwd', join(src, 'abs-link'));
    await fsp.symlink(format === 'ustar' ? '../up/there' : LONG_TARGET, join(src, 'rel-link'));
    await fsp.link(join(src, 'small'), join(src, 'zz-hard'));
    if (format !== 'ustar') await fsp.link(join(src, NAME_302), join(src, 'zz-hard-long'));
    if (spawnSync('mkfifo', [join(src, 'fifo')]).status !== 0) throw new Error('mkfifo failed');
    await fsp.utimes(join(src, 'payload'), 1_600_000_000.25, 1_600_000_000.25);
    const path = join(dir, `${format}.tar`);
    await runPeer('tar', [`--format=${format}`, '--sort=name', '-cf', path, '-C', src, '.']);

    const expected = (await pythonList(path)).map(fromPython);
    for (const stream of [createReadStream(path), chunked(await fsp.readFile(path))]) {
      const got = await readAll(stream);
      assert.deepEqual(got.warnings, []);
      assert.deepEqual(got.entries.map(withoutXattrs), expected);
      assert.deepEqual(got.entries.map((e) => e.path), await tarNames(path));
      for (const e of got.entries.filter((x) => x.type === 'file')) {
        const onDisk = await fsp.readFile(join(src, e.path));
        assert.equal(sha256(got.data.get(e.path)!), sha256(onDisk), `content of ${e.path}`);
      }
      const byPath = new Map(got.entries.map((e) => [e.path, e]));
      assert.equal(byPath.get('')?.type, 'dir', 'the root is the empty path');
      assert.equal(byPath.get('setuid')?.mode, 0o4755);
      assert.equal(byPath.get('abs-link')?.linkname, '/etc/passwd', 'symlink targets are kept as written');
      assert.equal(byPath.get('fifo')?.type, 'fifo');
      assert.deepEqual([byPath.get('zz-hard')?.type, byPath.get('zz-hard')?.linkname], ['hardlink', 'small']);
      if (format !== 'ustar') {
        assert.equal(byPath.get('rel-link')?.linkname, LONG_TARGET);
        assert.deepEqual([byPath.get('zz-hard-long')?.type, byPath.get('zz-hard-long')?.linkname], ['hardlink', NAME_302]);
      }
    }

    // The file indexer shares the header decoding: it must agree.
    const indexed = await indexTarFile(path);
    assert.deepEqual(
      indexed.map((e) => normalizeTarPath(e.name)),
      (await readAll(createReadStream(path))).entries.map((e) => e.path),
    );
  });
}

test('GNU tar sparse files are skipped with a warning, and the entries after them still read (gnu and pax formats)', async (t) => {
  if (!requirePeer(t, 'tar') || !python(t)) return;
  const dir = await tempDir(t);
  const src = join(dir, 'src');
  await fsp.mkdir(src);
  // Ten islands of data in 20 MiB of holes: more than the 4 regions an old GNU sparse header holds, so the
  // gnu format needs extension blocks of sparse map between the header and the data.
  const fh = await fsp.open(join(src, 'a-sparse'), 'w');
  for (let i = 0; i < 10; i++) await fh.write(Buffer.alloc(4096, i + 1), 0, 4096, i * 2 * 1024 * 1024);
  await fh.truncate(20 * 1024 * 1024);
  await fh.close();
  await fsp.writeFile(join(src, 'b-after'), 'after the sparse file\n');
  for (const format of ['gnu', 'pax']) {
    const path = join(dir, `${format}.tar`);
    await runPeer('tar', [`--format=${format}`, '--sparse', '--sort=name', '-cf', path, '-C', src, '.']);
    const members = await pythonList(path);
    if (!members.some((m) => m.sparse)) {
      t.diagnostic(`tar did not store a-sparse as sparse with --format=${format} (no hole detection on this filesystem?)`);
      continue;
    }
    const got = await readAll(createReadStream(path));
    assert.equal(got.warnings.length, 1, got.warnings.join('\n'));
    assert.match(got.warnings[0]!, /a-sparse.*sparse file.*skipped/);
    assert.deepEqual(got.entries.map((e) => e.path), ['', 'b-after']);
    assert.equal(got.data.get('b-after')!.toString(), 'after the sparse file\n');
    // The file indexer steps over the sparse map the same way.
    const indexed = await indexTarFile(path);
    assert.deepEqual(indexed.map((e) => [normalizeTarPath(e.name), e.type]), [['', 'dir'], ['a-sparse', 'other'], ['b-after', 'file']]);
  }
});

test('extended attributes from GNU tar --xattrs arrive in xattrs', async (t) => {
  if (!requirePeer(t, 'tar') || !python(t)) return;
  const dir = await tempDir(t);
  const src = join(dir, 'src');
  await fsp.mkdir(src);
  const f = join(src, 'with-xattrs');
  await fsp.writeFile(f, 'x');
  // setfattr (attr package) when installed, else Python's os.setxattr: the same setxattr(2).
  const viaSetfattr = hasPeer('setfattr') && spawnSync('setfattr', ['-n', 'user.wharf', '-v', 'hello', f]).status === 0;
  const set = viaSetfattr
    ? spawnSync('setfattr', ['-n', 'user.bin', '-v', '0x000102ff', f])
    : spawnSync('python3', ['-c', `import os,sys; os.setxattr(sys.argv[1], 'user.wharf', b'hello'); os.setxattr(sys.argv[1], 'user.bin', bytes([0,1,2,255]))`, f]);
  if (set.status !== 0) {
    t.skip(`cannot set user xattrs here (setfattr ${hasPeer('setfattr') ? 'failed' : 'is not installed: apt-get install -y attr'}; os.setxattr failed: ${set.stderr?.toString().trim()})`);
    return;
  }
  const path = join(dir, 'x.tar');
  await runPeer('tar', ['--format=pax', '--xattrs', '--xattrs-include=user.*', '-cf', path, '-C', src, 'with-xattrs']);
  const { entries } = await readAll(createReadStream(path));
  assert.equal(entries.length, 1);
  assert.deepEqual({ ...entries[0]!.xattrs }, { 'user.wharf': Buffer.from('hello'), 'user.bin': Buffer.from([0, 1, 2, 255]) });
});

test("Python tarfile's PAX: global headers apply to later entries, fractional mtimes, xattrs with NUL bytes, devices, base-256 ids", async (t) => {
  if (!python(t)) return;
  const dir = await tempDir(t);
  const path = join(dir, 'py.tar');
  const script = `
import io, sys, tarfile
with tarfile.open(sys.argv[1], 'w', format=tarfile.PAX_FORMAT, pax_headers={'uname': 'globaluser', 'comment': 'made by python'}) as t:
    a = tarfile.TarInfo('a.txt'); a.size = 3; a.mtime = 1700000000.25
    a.pax_headers = {'SCHILY.xattr.security.capability': '\\x01\\x00\\x00\\x02\\x00\\x20', 'SCHILY.xattr.user.note': 'héllo'}
    t.addfile(a, io.BytesIO(b'abc'))
    b = tarfile.TarInfo('b.txt'); b.size = 0; b.uname = 'own'; b.pax_headers = {'uname': 'own'}
    t.addfile(b)
    c = tarfile.TarInfo('dev/null'); c.type = tarfile.CHRTYPE; c.devmajor = 1; c.devminor = 3; c.mode = 0o666
    t.addfile(c)
    d = tarfile.TarInfo('dev/sda'); d.type = tarfile.BLKTYPE; d.devmajor = 8; d.devminor = 0
    t.addfile(d)
    u = tarfile.TarInfo('bigid'); u.uid = 3000000; u.gid = 4000000; u.mtime = 1
    t.addfile(u)
with tarfile.open(sys.argv[2], 'w', format=tarfile.GNU_FORMAT) as t:
    u = tarfile.TarInfo('bigid'); u.uid = 3000000; u.gid = 4000000; u.size = 2
    t.addfile(u, io.BytesIO(b'hi'))
`;
  const gnuPath = join(dir, 'gnu-base256.tar');
  await runPeer('python3', ['-c', script, path, gnuPath]);
  const got = await readAll(createReadStream(path));
  const byPath = new Map(got.entries.map((e) => [e.path, e]));
  const a = byPath.get('a.txt')!;
  assert.equal(a.mtime, 1700000000.25);
  assert.equal(a.uname, 'globaluser', 'a global header applies to the entries after it');
  assert.deepEqual({ ...a.xattrs }, { 'security.capability': Buffer.from([1, 0, 0, 2, 0, 0x20]), 'user.note': Buffer.from('héllo') });
  assert.equal(got.data.get('a.txt')!.toString(), 'abc');
  assert.equal(byPath.get('b.txt')!.uname, 'own', "an entry's own record overrides the global one");
  assert.deepEqual([byPath.get('dev/null')!.type, byPath.get('dev/null')!.devmajor, byPath.get('dev/null')!.devminor], ['char', 1, 3]);
  assert.deepEqual([byPath.get('dev/sda')!.type, byPath.get('dev/sda')!.devmajor, byPath.get('dev/sda')!.devminor], ['block', 8, 0]);
  assert.deepEqual([byPath.get('bigid')!.uid, byPath.get('bigid')!.gid], [3000000, 4000000]);
  // Everything Python itself reads back agrees (its members carry the global uname too).
  assert.deepEqual(got.entries.map(withoutXattrs), (await pythonList(path)).map(fromPython));

  // GNU format stores ids over 2^21-1 in base-256.
  const raw = await fsp.readFile(gnuPath);
  assert.equal(raw[108]! & 0x80, 0x80, 'python wrote the uid in base-256');
  const gnu = await readAll(whole(raw));
  assert.deepEqual([gnu.entries[0]!.uid, gnu.entries[0]!.gid, gnu.data.get('bigid')!.toString()], [3000000, 4000000, 'hi']);
});

test('tars written by TarWriter read back, streamed and chunked, and agree with indexTarFile', async (t) => {
  const dir = await tempDir(t);
  const pass = new PassThrough();
  const collected = (async () => {
    const parts: Buffer[] = [];
    for await (const c of pass) parts.push(c as Buffer);
    return Buffer.concat(parts);
  })();
  const w = new TarWriter(pass);
  const big = Buffer.alloc(1 << 20);
  for (let i = 0; i < big.length; i++) big[i] = i & 0xff;
  await w.addDirectory('etc', { mode: 0o700, mtime: 1700000000 });
  await w.addFile('etc/hello', 6, Buffer.from('hello\n'), { uid: 1000, gid: 1000, uname: 'me', gname: 'us' });
  await w.addFile(NAME_302, big.length, Readable.from([big.subarray(0, 1000), big.subarray(1000)]));
  await w.addFile('héllo-wörld', 2, Buffer.from('hi'));
  await w.addSymlink('link', LONG_TARGET);
  await w.addHardlink('hard', `./${NAME_302}`);
  await w.addFile('zero', 0, Buffer.alloc(0));
  await w.finish();
  const bytes = await collected;

  for (const stream of [whole(bytes), chunked(bytes)]) {
    const got = await readAll(stream);
    assert.deepEqual(
      got.entries.map((e) => [e.path, e.type, e.size, e.linkname]),
      [
        ['etc', 'dir', 0, undefined],
        ['etc/hello', 'file', 6, undefined],
        [NAME_302, 'file', big.length, undefined],
        ['héllo-wörld', 'file', 2, undefined],
        ['link', 'symlink', 0, LONG_TARGET],
        ['hard', 'hardlink', 0, NAME_302],
        ['zero', 'file', 0, undefined],
      ],
    );
    assert.deepEqual([got.entries[0]!.mode, got.entries[0]!.mtime], [0o700, 1700000000]);
    assert.deepEqual([got.entries[1]!.uid, got.entries[1]!.gid, got.entries[1]!.uname, got.entries[1]!.gname], [1000, 1000, 'me', 'us']);
    assert.ok(got.data.get(NAME_302)!.equals(big));
    assert.equal(got.data.get('héllo-wörld')!.toString(), 'hi');
    assert.equal(got.data.get('zero')!.length, 0);
  }
  const path = join(dir, 'w.tar');
  await fsp.writeFile(path, bytes);
  assert.deepEqual(
    (await indexTarFile(path)).map((e) => normalizeTarPath(e.name)),
    (await readAll(whole(bytes))).entries.map((e) => e.path),
  );
});

test('layerEntries reads a layer blob as stored: gzip, zstd or plain tar', async (t) => {
  const plain = tar(file('a', 'one'), header('d/', '5'), file('d/b', 'two'));
  const expect = [['a', 'one'], ['d', undefined], ['d/b', 'two']];
  const blobs: Array<[string, Buffer]> = [
    ['plain', plain],
    ['gzip', gzipSync(plain)],
  ];
  if (hasPeer('zstd')) {
    const z = spawnSync('zstd', ['-c', '-q'], { input: plain });
    blobs.push(['zstd', z.stdout]);
  } else t.diagnostic('zstd is not installed (apt-get install -y zstd): the zstd case is not run');
  for (const [name, blob] of blobs) {
    const got: Array<[string, string | undefined]> = [];
    for await (const { entry, body } of layerEntries(chunked(blob), { onWarning: () => {} })) {
      got.push([entry.path, body ? Buffer.concat(await body.toArray()).toString() : undefined]);
    }
    assert.deepEqual(got, expect, name);
  }
  // A corrupt gzip blob is a corrupt layer.
  const bad = gzipSync(plain);
  bad.fill(0x55, 20, 60);
  await assertLayerInvalid(
    (async () => {
      for await (const _ of layerEntries(whole(bad))) void _;
    })(),
    /not valid gzip/,
  );
});

// ---------------------------------------------------------------------------------------------------------
// The body contract
// ---------------------------------------------------------------------------------------------------------

/** A tar stream made on demand, counting how many bytes the reader has pulled from it. */
function countingSource(bytes: Buffer, chunk = 64 << 10): { stream: Readable; pulled: () => number } {
  let at = 0;
  const stream = new Readable({
    highWaterMark: chunk,
    read() {
      if (at >= bytes.length) return void this.push(null);
      const n = Math.min(chunk, bytes.length - at);
      this.push(bytes.subarray(at, at + n));
      at += n;
    },
  });
  return { stream, pulled: () => at };
}

test('bodies stream with backpressure: the next header is not read until the body is done', async () => {
  const size = 16 << 20;
  const bytes = tar(file('big', Buffer.alloc(size, 1)), file('after', 'x'));
  const { stream, pulled } = countingSource(bytes);
  const it = readLayerEntries(stream);
  const first = await it.next();
  assert.equal(first.value?.entry.path, 'big');
  // Nothing of the body is read ahead of the consumer (beyond the source's and the body's small buffers).
  await new Promise((r) => setTimeout(r, 20));
  assert.ok(pulled() < 1 << 20, `pulled ${pulled()} bytes before the body was read`);
  const body = first.value!.body!;
  let consumed = 0;
  let maxAhead = 0;
  for await (const c of body) {
    consumed += (c as Buffer).length;
    maxAhead = Math.max(maxAhead, pulled() - 512 - consumed);
    await new Promise((r) => setImmediate(r));
  }
  assert.equal(consumed, size);
  assert.ok(maxAhead < 2 << 20, `the source ran ${maxAhead} bytes ahead of the consumer`);
  const second = await it.next();
  assert.equal(second.value?.entry.path, 'after');
  assert.equal(Buffer.concat(await second.value!.body!.toArray()).toString(), 'x');
  assert.equal((await it.next()).done, true);
});

test('a body the consumer never touches is skipped; resume()d, destroyed and half-read bodies too', async () => {
  const bytes = tar(
    file('untouched', Buffer.alloc(300_000, 1)),
    file('resumed', Buffer.alloc(300_000, 2)),
    file('destroyed', Buffer.alloc(300_000, 3)),
    file('half', Buffer.alloc(300_000, 4)),
    file('last', 'the end'),
  );
  for (const stream of [whole(bytes), chunked(bytes)]) {
    const paths: string[] = [];
    let last = '';
    for await (const { entry, body } of readLayerEntries(stream)) {
      paths.push(entry.path);
      if (entry.path === 'resumed') body!.resume();
      if (entry.path === 'destroyed') body!.destroy();
      if (entry.path === 'half') {
        for await (const _ of body!) break; // for-await's break destroys the body after one chunk
      }
      if (entry.path === 'last') last = Buffer.concat(await body!.toArray()).toString();
    }
    assert.deepEqual(paths, ['untouched', 'resumed', 'destroyed', 'half', 'last']);
    assert.equal(last, 'the end');
  }
});

test('a piped body is waited for, not drained under the consumer', async () => {
  const bytes = tar(file('piped', Buffer.alloc(1 << 20, 9)), file('next', 'n'));
  let got = 0;
  let reading: Promise<void> | undefined;
  const paths: string[] = [];
  for await (const { entry, body } of readLayerEntries(countingSource(bytes, 4096).stream)) {
    paths.push(entry.path);
    if (entry.path !== 'piped') continue;
    const sink = new PassThrough({ highWaterMark: 1024 });
    body!.pipe(sink);
    // Read the sink slowly, while the generator is already asked for the next entry.
    reading = (async () => {
      for await (const c of sink) {
        got += (c as Buffer).length;
        await new Promise((r) => setImmediate(r));
      }
    })();
  }
  await reading;
  assert.deepEqual(paths, ['piped', 'next']);
  assert.equal(got, 1 << 20, 'every byte reached the pipe');
});

test('bytes after the end-of-archive marker are read and ignored (so upstream digests see them); drainTrailing: false stops', async () => {
  const bytes = Buffer.concat([tar(file('a', 'A')), Buffer.alloc(8192, 0x47)]);
  const s1 = countingSource(bytes, 1024);
  const got = await readAll(s1.stream);
  assert.deepEqual(got.entries.map((e) => e.path), ['a']);
  assert.equal(s1.pulled(), bytes.length);
  const s2 = countingSource(bytes, 1024);
  await readAll(s2.stream, { drainTrailing: false });
  assert.ok(s2.pulled() < bytes.length);
  assert.ok(s2.stream.destroyed);
});

test('a stream without end-of-archive blocks reads, with a warning', async () => {
  const got = await readAll(whole(Buffer.concat([file('a', 'A'), file('b', 'BB')])));
  assert.deepEqual(got.entries.map((e) => e.path), ['a', 'b']);
  assert.equal(got.warnings.length, 1);
  assert.match(got.warnings[0]!, /no end-of-archive marker|without an end-of-archive marker/);
});

test('ending the iteration early destroys the source', async () => {
  const { stream } = countingSource(tar(file('a', 'A'), file('b', 'B')), 512);
  for await (const { entry } of readLayerEntries(stream)) if (entry.path === 'a') break;
  assert.ok(stream.destroyed);
});

test('an abort signal stops the reader, before and while a body streams', async () => {
  const ac = new AbortController();
  ac.abort();
  await assert.rejects(readAll(whole(tar(file('a', 'A'))), { signal: ac.signal }), { code: 'ABORTED' });

  const ac2 = new AbortController();
  let produced = 0;
  const endless = new Readable({
    read() {
      if (produced === 0) this.push(header('huge', '0', { size: 1 << 30 }));
      else this.push(Buffer.alloc(65536));
      produced++;
    },
  });
  await assert.rejects(
    (async () => {
      for await (const { body } of readLayerEntries(endless, { signal: ac2.signal })) {
        let n = 0;
        for await (const c of body!) {
          n += (c as Buffer).length;
          if (n > 1 << 20) ac2.abort();
        }
      }
    })(),
    { code: 'ABORTED' },
  );
  assert.ok(endless.destroyed);
});

test('memory stays bounded: a 300 MiB tar stream through the reader', async (t) => {
  const pass = new PassThrough({ highWaterMark: 1 << 20 });
  const fresh = (n: number, fill: number): Readable => {
    let left = n;
    return new Readable({
      read() {
        if (left === 0) return void this.push(null);
        const k = Math.min(64 << 10, left);
        left -= k;
        this.push(Buffer.alloc(k, fill));
      },
    });
  };
  const sizes = [200 << 20, ...Array.from({ length: 100 }, () => 1 << 20)];
  const writing = (async () => {
    const w = new TarWriter(pass);
    for (let i = 0; i < sizes.length; i++) await w.addFile(`f${i}`, sizes[i]!, fresh(sizes[i]!, i & 0xff));
    await w.finish();
  })();
  const before = process.memoryUsage().rss;
  let peak = before;
  let total = 0;
  let entries = 0;
  for await (const { entry, body } of readLayerEntries(pass)) {
    entries++;
    // Read the big one and every other small one; leave the rest to be skipped by the reader.
    if (entry.path === 'f0' || entries % 2 === 0) {
      const h = createHash('sha256');
      let i = 0;
      for await (const c of body!) {
        h.update(c as Buffer);
        total += (c as Buffer).length;
        if ((++i & 63) === 0) peak = Math.max(peak, process.memoryUsage().rss);
      }
      h.digest();
    }
    peak = Math.max(peak, process.memoryUsage().rss);
  }
  await writing;
  const after = process.memoryUsage().rss;
  assert.equal(entries, sizes.length);
  assert.equal(total, (200 << 20) + 50 * (1 << 20));
  const growth = Math.max(peak, after) - before;
  t.diagnostic(`RSS growth ${(growth / 2 ** 20).toFixed(1)} MiB for ${sizes.length} entries, ${(total / 2 ** 20).toFixed(0)} MiB of bodies read`);
  assert.ok(growth < 100 << 20, `RSS grew by ${(growth / 2 ** 20).toFixed(1)} MiB reading a 300 MiB stream`);
});

// ---------------------------------------------------------------------------------------------------------
// Paths
// ---------------------------------------------------------------------------------------------------------

test('paths are normalised: leading / and ./, doubled and trailing slashes, . components', async () => {
  const got = await readAll(
    whole(
      tar(
        header('./', '5'),
        header('/', '5'),
        file('/etc/passwd', 'p'),
        file('//usr//bin/./env', 'e'),
        header('./a/./b/', '5'),
        header('x', '2', { linkname: '/abs/../target' }),
        header('y', '1', { linkname: './/etc//passwd' }),
      ),
    ),
  );
  assert.deepEqual(
    got.entries.map((e) => [e.path, e.type, e.linkname]),
    [
      ['', 'dir', undefined],
      ['', 'dir', undefined],
      ['etc/passwd', 'file', undefined],
      ['usr/bin/env', 'file', undefined],
      ['a/b', 'dir', undefined],
      ['x', 'symlink', '/abs/../target'],
      ['y', 'hardlink', 'etc/passwd'],
    ],
  );
  assert.equal(normalizeLayerPath('a/../b'), undefined);
  assert.equal(normalizeLayerPath('./a//b/'), 'a/b');
});

test('ustar prefix + name are joined; old-style directories (regular file ending in /) are directories', async () => {
  const got = await readAll(whole(tar(file('file.txt', 'f', { prefix: 'some/long/prefix' }), header('olddir/', '0'), header('v7', '\0'))));
  assert.deepEqual(got.entries.map((e) => [e.path, e.type]), [['some/long/prefix/file.txt', 'file'], ['olddir', 'dir'], ['v7', 'file']]);
});

test('a signed header checksum (old Sun tar) is accepted as well as the unsigned one', async () => {
  const h = header('naïve-é', '0', { size: 1 });
  h.fill(0x20, 148, 156);
  let signed = 0;
  for (let i = 0; i < 512; i++) signed += h[i]! > 127 ? h[i]! - 256 : h[i]!;
  h.write(`${signed.toString(8).padStart(6, '0')}\0 `, 148, 8, 'latin1');
  const got = await readAll(whole(tar(h, pad(Buffer.from('s')))));
  assert.deepEqual(got.entries.map((e) => e.path), ['naïve-é']);
});

test('base-256 sizes are read', async () => {
  const h = header('b256', '0', { size: 0 });
  h.fill(0, 124, 136);
  h[124] = 0x80;
  h[135] = 5;
  fixChecksum(h);
  const got = await readAll(whole(tar(h, pad(Buffer.from('hello')))));
  assert.equal(got.data.get('b256')!.toString(), 'hello');
});

test('unknown entry types are skipped with a warning, never silently', async () => {
  const got = await readAll(whole(tar(header('label', 'V'), Buffer.concat([header('vendor', 'X', { size: 3 }), pad(Buffer.from('xyz'))]), file('ok', 'ok'))));
  assert.deepEqual(got.entries.map((e) => e.path), ['ok']);
  assert.equal(got.warnings.length, 2);
  assert.match(got.warnings[0]!, /"label".*type "V".*skipped/);
  assert.match(got.warnings[1]!, /"vendor".*type "X".*skipped/);
});

// ---------------------------------------------------------------------------------------------------------
// Hostile layers: one test per attack
// ---------------------------------------------------------------------------------------------------------

for (const name of ['../etc/passwd', 'a/../../b', '..', 'a/..']) {
  test(`hostile: path traversal "${name}" is refused (or skipped with onUnsafe: 'skip')`, async () => {
    const bytes = tar(file(name, 'evil'), file('fine', 'ok'));
    await assertLayerInvalid(readAll(whole(bytes)), new RegExp(`refusing "${name.replace(/\./g, '\\.')}".*\\.\\.`));
    const got = await readAll(whole(bytes), { onUnsafe: 'skip' });
    assert.deepEqual(got.entries.map((e) => e.path), ['fine']);
    assert.equal(got.data.get('fine')!.toString(), 'ok');
    assert.equal(got.warnings.length, 1);
    assert.match(got.warnings[0]!, /refusing.*skipped/);
  });
}

test('hostile: absolute paths are normalised into the root, not refused', async () => {
  const got = await readAll(whole(tar(file('/etc/shadow', 's'), header('/../', '5'))), { onUnsafe: 'skip' });
  assert.deepEqual(got.entries.map((e) => e.path), ['etc/shadow']);
  assert.equal(got.warnings.length, 1, 'but "/../" is still ".."');
});

test('hostile: NUL bytes in names (PAX path, GNU long name, a name field hiding bytes after its NUL)', async () => {
  const cases: Array<[string, Buffer]> = [
    ['PAX path', Buffer.concat([pax([['path', 'safe\0/../../etc/passwd']]), file('ignored', 'x')])],
    ['GNU long name', Buffer.concat([gnuLong(Buffer.from('safe\0../../etc/passwd')), file('ignored', 'x')])],
    ['name field', file(Buffer.concat([Buffer.from('safe\0'), Buffer.from('../../etc/passwd')]).toString('latin1'), 'x')],
    ['PAX linkpath', Buffer.concat([pax([['linkpath', 'etc/passwd\0x']]), header('l', '1')])],
  ];
  for (const [what, entry] of cases) {
    await assertLayerInvalid(readAll(whole(tar(entry))), /refusing "safe\\u0000\/?\.\.\/\.\.\/etc\/passwd": the path contains a NUL byte|refusing "l": the hard link target "etc\/passwd\\u0000x" contains a NUL byte/);
    const got = await readAll(whole(tar(entry, file('fine', 'ok'))), { onUnsafe: 'skip' });
    assert.deepEqual(got.entries.map((e) => e.path), ['fine'], what);
    assert.match(got.warnings[0]!, /NUL/, what);
  }
});

test('hostile: a hard link to ../outside is refused', async () => {
  for (const target of ['../outside', 'a/../../outside', '/../outside']) {
    const bytes = tar(header('link', '1', { linkname: target }), file('fine', 'ok'));
    await assertLayerInvalid(readAll(whole(bytes)), /refusing "link": the hard link target .*\.\./);
    const got = await readAll(whole(bytes), { onUnsafe: 'skip' });
    assert.deepEqual(got.entries.map((e) => e.path), ['fine']);
  }
  // A symlink to the same place is kept as written: whether to follow it is the unpacker's business.
  const sym = await readAll(whole(tar(header('s', '2', { linkname: '../outside' }))));
  assert.equal(sym.entries[0]!.linkname, '../outside');
});

test('hostile: a PAX path with ".." is refused', async () => {
  const bytes = tar(pax([['path', 'usr/../../../root/.ssh/authorized_keys']]), file('harmless', 'k'));
  await assertLayerInvalid(readAll(whole(bytes)), /refusing "usr\/\.\.\/\.\.\/\.\.\/root/);
});

test('hostile: a file or link that names the image root itself', async () => {
  await assertLayerInvalid(readAll(whole(tar(file('.', 'x')))), /refusing ".": a file cannot replace the image root/);
  await assertLayerInvalid(readAll(whole(tar(header('/', '2', { linkname: 'elsewhere' })))), /a symlink cannot replace the image root/);
  await assertLayerInvalid(readAll(whole(tar(header('x', '1', { linkname: './' })))), /a hard link to the image root/);
});

test('hostile: absurd base-256 sizes (2^60) are refused before anything is read', async () => {
  const h = header('absurd', '0');
  h.fill(0, 124, 136);
  h[124] = 0x80;
  h[128] = 0x10; // 2^60 in the 11 big-endian bytes after the marker
  fixChecksum(h);
  const { stream, pulled } = countingSource(Buffer.concat([h, Buffer.alloc(4 << 20)]), 512);
  await assertLayerInvalid(readAll(stream), /size in header is too large/);
  assert.ok(pulled() < 64 << 10, `only the header was read, not the 4 MiB after it (read ${pulled()})`);
});

test('hostile: a negative size', async () => {
  const h = header('negative', '0');
  h.fill(0xff, 124, 136);
  fixChecksum(h);
  await assertLayerInvalid(readAll(whole(tar(h))), /negative size/);
});

test('hostile: a bad checksum', async () => {
  const h = header('tampered', '0', { size: 1 });
  h.write('evil', 0, 'latin1');
  await assertLayerInvalid(readAll(whole(tar(h, pad(Buffer.from('x'))))), /checksum/);
  await assertLayerInvalid(readAll(whole(Buffer.alloc(4096, 0x41))), /checksum|octal/);
});

test('hostile: a PAX header claiming a 2^40-byte size', async () => {
  const bytes = tar(pax([['size', String(2 ** 40)]]), file('claims-a-tebibyte', 'tiny'));
  // Read: the body fails as truncated when the stream runs out, without buffering.
  await assertLayerInvalid(readAll(whole(bytes)), /truncated: "claims-a-tebibyte" declares 1099511627776 bytes/);
  // Skipped: the same error from the generator.
  await assertLayerInvalid(
    (async () => {
      for await (const _ of readLayerEntries(whole(bytes))) void _;
    })(),
    /truncated/,
  );
  // With a cap, refused before any of it is read.
  await assertLayerInvalid(readAll(whole(bytes), { maxFileSize: 1 << 30 }), /declares 1099511627776 bytes, more than the 1073741824-byte limit/);
  // A size that is not a safe integer never gets that far.
  await assertLayerInvalid(readAll(whole(tar(pax([['size', '99999999999999999']]), file('x', 'x')))), /PAX size .* not a valid number/);
});

test('hostile: a truncated body', async () => {
  const full = tar(file('a', Buffer.alloc(10_000, 1)));
  const cut = full.subarray(0, 512 + 5000);
  await assertLayerInvalid(readAll(whole(cut)), /truncated: "a" declares 10000 bytes, the stream ends after 5000/);
  // The same when the consumer only resume()s the body (as an unpacker skipping it does): no crash, an error.
  await assertLayerInvalid(
    (async () => {
      for await (const { body } of readLayerEntries(whole(cut))) body?.resume();
    })(),
    /truncated/,
  );
});

test('hostile: a truncated header', async () => {
  const full = tar(file('a', 'A'), file('b', 'B'));
  await assertLayerInvalid(readAll(whole(full.subarray(0, 1024 + 100))), /truncated in the middle of a header \(100 of 512 bytes\)/);
  await assertLayerInvalid(readAll(whole(Buffer.concat([gnuLong('a-long-name')]))), /truncated after an extended header/);
  await assertLayerInvalid(readAll(whole(pax([['path', 'x']]).subarray(0, 515))), /truncated: an extended header \(type x\) declares 9 bytes/);
});

test('hostile: a single zero block followed by more entries (hiding them from readers that stop there)', async () => {
  await assertLayerInvalid(readAll(whole(Buffer.concat([file('a', 'A'), Buffer.alloc(512), file('hidden', 'H'), END]))), /single zero block/);
});

test('hostile: 2 million tiny entries (maxEntries)', async () => {
  const block = header('f', '0');
  const perChunk = 2048;
  const chunk = Buffer.concat(Array.from({ length: perChunk }, () => block));
  let sent = 0;
  const stream = new Readable({
    read() {
      if (sent >= 2_000_000) return void this.push(null);
      sent += perChunk;
      this.push(chunk);
    },
  });
  let seen = 0;
  await assertLayerInvalid(
    (async () => {
      for await (const _ of readLayerEntries(stream)) seen++;
    })(),
    /more than 1000000 entries/,
  );
  assert.equal(seen, 1_000_000);
  assert.ok(sent < 2_000_000, 'the reader stopped at the limit');
  await assertLayerInvalid(readAll(whole(tar(file('a', 'A'), file('b', 'B'))), { maxEntries: 1 }), /more than 1 entries/);
});

test('hostile: a path bomb (a 1 MiB name)', async () => {
  const mib = 'a/'.repeat(1 << 19);
  // As a PAX path: over the PAX header limit, refused before the header is read.
  await assertLayerInvalid(readAll(whole(tar(pax([['path', mib]]), file('x', 'x')))), /PAX header of \d+ bytes exceeds the 1048576-byte limit/);
  // As a GNU long name: over the long-name limit.
  await assertLayerInvalid(readAll(whole(tar(gnuLong(mib), file('x', 'x')))), /GNU long name of \d+ bytes exceeds the 65536-byte limit/);
  // Just inside the PAX limit: the path itself is over the path limit.
  const nearly = 'b/'.repeat((1 << 19) - 100);
  await assertLayerInvalid(readAll(whole(tar(pax([['path', nearly]]), file('x', 'x')))), /path of \d+ bytes is longer than the 65536-byte limit/);
  // A long symlink target the same.
  await assertLayerInvalid(readAll(whole(tar(pax([['linkpath', nearly]]), header('s', '2')))), /symlink target of \d+ bytes/);
  // Many PAX headers in front of one entry add up, and are capped together.
  const slab = pax([['comment', 'c'.repeat(600_000)]]);
  await assertLayerInvalid(readAll(whole(tar(slab, slab, file('x', 'x')))), /PAX headers for one entry add up to/);
  // …and so do global headers.
  await assertLayerInvalid(readAll(whole(tar(pax([['comment', 'c'.repeat(600_000)]], 'g'), pax([['c2', 'c'.repeat(600_000)]], 'g'), file('x', 'x')))), /PAX global headers add up/);
  // A path made of "./" components normalises to something short, and is fine.
  const dots = await readAll(whole(tar(pax([['path', `${'./'.repeat(100_000)}ok`]]), file('x', 'x'))));
  assert.deepEqual(dots.entries.map((e) => e.path), ['ok']);
});

test('hostile: garbage after the end-of-archive marker is ignored', async () => {
  const garbage = Buffer.concat([header('after-the-end', '0', { size: 3 }), pad(Buffer.from('bad')), Buffer.from('not a tar at all\n'.repeat(100))]);
  const got = await readAll(chunked(Buffer.concat([tar(file('a', 'A')), garbage])));
  assert.deepEqual(got.entries.map((e) => e.path), ['a']);
  assert.deepEqual(got.warnings, []);
});

test('hostile: an xattr named __proto__ is just a name (no prototype pollution)', async () => {
  const got = await readAll(whole(tar(pax([['SCHILY.xattr.__proto__', 'polluted'], ['SCHILY.xattr.user.a', 'b']]), file('x', 'x'))));
  const x = got.entries[0]!.xattrs!;
  assert.equal(Object.getPrototypeOf(x), null);
  assert.deepEqual(Object.keys(x).sort(), ['__proto__', 'user.a']);
  assert.equal(x['__proto__']!.toString(), 'polluted');
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
});

test('hostile: malformed PAX records are LAYER_INVALID', async () => {
  for (const body of ['99 path=x\n', 'abc path=x\n', '12 path=xy\n', '11 =foobar\n', '9 path=xZ']) {
    const data = Buffer.from(body);
    await assertLayerInvalid(readAll(whole(tar(header('PaxHeaders/x', 'x', { size: data.length }), pad(data), file('x', 'x')))), /PAX/);
  }
  await assertLayerInvalid(readAll(whole(tar(pax([['uname', 'ro\0ot']]), file('x', 'x')))), /PAX record "uname" contains a NUL byte/);
  await assertLayerInvalid(readAll(whole(tar(pax([['mtime', 'yesterday']]), file('x', 'x')))), /PAX mtime/);
});

test('errors thrown by the source stream become WharfErrors', async () => {
  const failing = new Readable({
    read() {
      this.destroy(Object.assign(new Error('connection reset'), { code: 'ECONNRESET' }));
    },
  });
  await assert.rejects(readAll(failing), (err: unknown) => err instanceof WharfError && err.code === 'IO_ERROR' && /connection reset/.test(err.message));
});
