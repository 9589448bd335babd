import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createWriteStream, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { PassThrough, Readable, Writable } from 'node:stream';
import { buffer as streamToBuffer } from 'node:stream/consumers';
import { test } from 'node:test';
import { WharfError } from '../src/errors.js';
import {
  TarWriter,
  indexTarFile,
  normalizeTarPath,
  readTarEntry,
  readTarEntryBuffer,
  type TarEntry,
} from '../src/archive/tar.js';
import { requirePeer, runPeer, tempDir } from './helpers/peers.js';

async function writeTar(path: string, build: (w: TarWriter) => Promise<void>): Promise<void> {
  const out = createWriteStream(path);
  const w = new TarWriter(out);
  await build(w);
  await w.finish();
}

function byName(entries: TarEntry[]): Map<string, TarEntry> {
  return new Map(entries.map((e) => [e.name, e]));
}

async function readAll(path: string, e: TarEntry): Promise<Buffer> {
  return streamToBuffer(readTarEntry(path, e));
}

/** Recompute a header block's checksum after a test edited it. */
function fixChecksum(block: Buffer): void {
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += block[i]!;
  block.write(sum.toString(8).padStart(6, '0'), 148, 6, 'latin1');
  block[154] = 0;
  block[155] = 0x20;
}

async function assertTarInvalid(path: string, pattern?: RegExp, options = {}): Promise<void> {
  await assert.rejects(indexTarFile(path, options), (err: unknown) => {
    assert.ok(err instanceof WharfError, `expected WharfError, got ${String(err)}`);
    assert.equal(err.code, 'TAR_INVALID', err.message);
    assert.ok(err.hint, 'a TAR_INVALID error carries a hint');
    if (pattern) assert.match(err.message, pattern);
    return true;
  });
}

const LONG_DIR = `${'d'.repeat(60)}/${'e'.repeat(60)}`;
const LONG_FILE = `${LONG_DIR}/${'f'.repeat(120)}.txt`;

test('round trip: files, directories, links, long and non-ASCII names', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'a.tar');
  const big = Buffer.alloc(3 * 1024 * 1024 + 17);
  for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 0xff;
  await writeTar(path, async (w) => {
    await w.addDirectory('etc');
    await w.addFile('etc/hello', 6, Buffer.from('hello\n'));
    await w.addFile('empty', 0, Buffer.alloc(0));
    await w.addFile('big.bin', big.length, Readable.from(chunks(big, 65536)), { mode: 0o600, mtime: 1700000000 });
    await w.addFile(LONG_FILE, 3, Buffer.from('abc'));
    await w.addFile('héllo-wörld', 2, Buffer.from('hi'));
    await w.addSymlink('link', `../${'t'.repeat(150)}`);
    await w.addHardlink('hard', 'etc/hello');
  });
  const stat = await fsp.stat(path);
  assert.equal(stat.size % 512, 0);

  const entries = await indexTarFile(path);
  assert.deepEqual(
    entries.map((e) => [e.name, e.type]),
    [
      ['etc/', 'dir'],
      ['etc/hello', 'file'],
      ['empty', 'file'],
      ['big.bin', 'file'],
      [LONG_FILE, 'file'],
      ['héllo-wörld', 'file'],
      ['link', 'symlink'],
      ['hard', 'hardlink'],
    ],
  );
  const m = byName(entries);
  assert.equal(m.get('etc/')!.mode, 0o755);
  assert.equal(m.get('etc/hello')!.mode, 0o644);
  assert.equal(m.get('etc/hello')!.mtime, 0);
  assert.equal(m.get('big.bin')!.mode, 0o600);
  assert.equal(m.get('big.bin')!.mtime, 1700000000);
  assert.equal(m.get('link')!.linkname, `../${'t'.repeat(150)}`);
  assert.equal(m.get('hard')!.linkname, 'etc/hello');
  assert.equal((await readAll(path, m.get('etc/hello')!)).toString(), 'hello\n');
  assert.equal((await readAll(path, m.get('empty')!)).length, 0);
  assert.ok((await readAll(path, m.get('big.bin')!)).equals(big));
  assert.equal((await readAll(path, m.get(LONG_FILE)!)).toString(), 'abc');
  assert.equal((await readTarEntryBuffer(path, m.get('héllo-wörld')!, 100)).toString(), 'hi');
  await assert.rejects(readTarEntryBuffer(path, m.get('big.bin')!, 1000), { code: 'TOO_LARGE' });
  assert.throws(() => readTarEntry(path, m.get('link')!), { code: 'TAR_INVALID' });
});

test('GNU tar reads what TarWriter writes', async (t) => {
  if (!requirePeer(t, 'tar')) return;
  const dir = await tempDir(t);
  const path = join(dir, 'a.tar');
  await writeTar(path, async (w) => {
    await w.addDirectory('x');
    await w.addFile(LONG_FILE, 5, Readable.from([Buffer.from('he'), Buffer.from('llo')]));
    await w.addFile('x/é', 1, Buffer.from('!'));
    await w.addSymlink('x/l', 'é');
  });
  const listing = (await runPeer('tar', ['-tf', path])).trim().split('\n');
  assert.deepEqual(listing, ['x/', LONG_FILE, 'x/é', 'x/l']);
  const out = join(dir, 'out');
  await fsp.mkdir(out);
  await runPeer('tar', ['-xf', path, '-C', out]);
  assert.equal(await fsp.readFile(join(out, LONG_FILE), 'utf8'), 'hello');
  assert.equal(await fsp.readlink(join(out, 'x/l')), 'é');
});

for (const format of ['gnu', 'pax', 'ustar', 'v7'] as const) {
  test(`archives made by GNU tar --format=${format} index correctly`, async (t) => {
    if (!requirePeer(t, 'tar')) return;
    const dir = await tempDir(t);
    const src = join(dir, 'src');
    // ustar has no long names, only the 155-byte prefix field; v7 has neither.
    const long = format === 'v7' ? 'short/name.txt' : format === 'ustar' ? `${LONG_DIR}/${'f'.repeat(80)}.txt` : LONG_FILE;
    const target = format === 'v7' || format === 'ustar' ? 'small' : `small${'/.'.repeat(60)}`;
    await fsp.mkdir(join(src, long, '..'), { recursive: true });
    await fsp.writeFile(join(src, long), 'long name content\n');
    await fsp.writeFile(join(src, 'small'), 'x');
    const payload = Buffer.alloc(100_000, 7);
    await fsp.writeFile(join(src, 'payload'), payload);
    await fsp.symlink(target, join(src, 'sym'));
    await fsp.link(join(src, 'small'), join(src, 'hard'));
    const path = join(dir, `a-${format}.tar`);
    await runPeer('tar', [`--format=${format}`, '--sort=name', '-cf', path, '-C', src, '.']);

    const entries = await indexTarFile(path);
    const m = new Map(entries.map((e) => [normalizeTarPath(e.name), e]));
    const expectedNames = (await runPeer('tar', ['-tf', path])).trim().split('\n');
    assert.deepEqual(entries.map((e) => e.name), expectedNames);
    assert.equal((await readAll(path, m.get(long)!)).toString(), 'long name content\n');
    assert.ok((await readAll(path, m.get('payload')!)).equals(payload));
    assert.equal(m.get('sym')!.type, 'symlink');
    assert.equal(m.get('sym')!.linkname, target);
    // GNU tar stores the second name of a hard-linked file as a hard link to the first.
    const links = entries.filter((e) => e.type === 'hardlink');
    assert.equal(links.length, 1);
    assert.ok(['./small', './hard'].includes(links[0]!.linkname));
    const d = entries.find((e) => normalizeTarPath(e.name) === long.split('/')[0])!;
    assert.equal(d.type, 'dir');
  });
}

test('a tar stored inside a larger file can be indexed by range', async (t) => {
  const dir = await tempDir(t);
  const inner = join(dir, 'inner.tar');
  await writeTar(inner, async (w) => {
    await w.addFile('a', 1, Buffer.from('A'));
  });
  const outer = join(dir, 'outer.tar');
  const innerBytes = await fsp.readFile(inner);
  await writeTar(outer, async (w) => {
    await w.addFile('first', 3, Buffer.from('xyz'));
    await w.addFile('layer.tar', innerBytes.length, innerBytes);
  });
  const layer = (await indexTarFile(outer)).find((e) => e.name === 'layer.tar')!;
  const entries = await indexTarFile(outer, { start: layer.dataOffset, length: layer.size });
  assert.equal(entries.length, 1);
  assert.equal((await readAll(outer, entries[0]!)).toString(), 'A');
});

test('TarWriter verifies sizes', async () => {
  const sink = (): Writable => new Writable({ write: (_c, _e, cb) => cb() });
  await assert.rejects(new TarWriter(sink()).addFile('a', 3, Buffer.from('ab')), { code: 'SIZE_MISMATCH' });
  const w1 = new TarWriter(sink());
  await assert.rejects(w1.addFile('a', 3, Readable.from([Buffer.from('abcd')])), { code: 'SIZE_MISMATCH' });
  // After a failure the writer refuses to continue: the archive is incomplete.
  await assert.rejects(w1.addFile('b', 1, Buffer.from('b')), { code: 'IO_ERROR' });
  const w2 = new TarWriter(sink());
  await assert.rejects(w2.addFile('a', 10, Readable.from([Buffer.from('abc')])), { code: 'SIZE_MISMATCH' });
  const w3 = new TarWriter(sink());
  const p = w3.addFile('a', 1, Readable.from([Buffer.from('a')]));
  await assert.rejects(w3.addFile('b', 1, Buffer.from('b')), { code: 'USAGE' });
  await p;
});

test('TarWriter respects backpressure and never buffers a whole file', async () => {
  let inFlight = 0;
  let maxInFlight = 0;
  let total = 0;
  const hash = createHash('sha256');
  const slow = new Writable({
    highWaterMark: 16 * 1024,
    write(chunk: Buffer, _enc, cb) {
      inFlight += chunk.length;
      maxInFlight = Math.max(maxInFlight, inFlight);
      total += chunk.length;
      hash.update(chunk);
      setImmediate(() => {
        inFlight -= chunk.length;
        cb();
      });
    },
  });
  const size = 16 * 1024 * 1024;
  let produced = 0;
  const source = new Readable({
    highWaterMark: 64 * 1024,
    read() {
      if (produced >= size) return void this.push(null);
      const n = Math.min(64 * 1024, size - produced);
      produced += n;
      this.push(Buffer.alloc(n, 1));
    },
  });
  const w = new TarWriter(slow);
  await w.addFile('big', size, source);
  await w.finish();
  assert.equal(total, 512 + size + 1024);
  assert.equal(w.bytesWritten, total);
  assert.ok(maxInFlight < 1024 * 1024, `at most a few chunks in flight, saw ${maxInFlight}`);
});

test('TarWriter into a PassThrough gives a readable tar stream', async (t) => {
  const dir = await tempDir(t);
  const pass = new PassThrough();
  const collected = streamToBuffer(pass);
  const w = new TarWriter(pass);
  await w.addFile('a', 2, Buffer.from('hi'));
  await w.finish();
  const path = join(dir, 'p.tar');
  await fsp.writeFile(path, await collected);
  const [e] = await indexTarFile(path);
  assert.equal((await readAll(path, e!)).toString(), 'hi');
});

// ---------------------------------------------------------------------------------------------------------
// Hostile inputs
// ---------------------------------------------------------------------------------------------------------

async function sampleTar(dir: string): Promise<{ path: string; bytes: Buffer }> {
  const path = join(dir, 'ok.tar');
  await writeTar(path, async (w) => {
    await w.addFile('a.txt', 5, Buffer.from('hello'));
    await w.addFile('b.txt', 3, Buffer.from('bye'));
  });
  return { path, bytes: await fsp.readFile(path) };
}

test('hostile: bad checksum', async (t) => {
  const dir = await tempDir(t);
  const { bytes } = await sampleTar(dir);
  bytes[0] = 'z'.charCodeAt(0);
  const p = join(dir, 'bad.tar');
  await fsp.writeFile(p, bytes);
  await assertTarInvalid(p, /checksum/);
});

test('hostile: truncated entry and truncated header', async (t) => {
  const dir = await tempDir(t);
  const { bytes } = await sampleTar(dir);
  const p = join(dir, 'trunc.tar');
  await fsp.writeFile(p, bytes.subarray(0, 512 + 2));
  await assertTarInvalid(p, /declares 5 bytes/);
  await fsp.writeFile(p, bytes.subarray(0, 1024 + 100));
  await assertTarInvalid(p, /middle of a header/);
  // Cut right after the data of the last entry, without the end blocks: accepted (EOF ends the archive).
  await fsp.writeFile(p, bytes.subarray(0, 2048));
  assert.equal((await indexTarFile(p)).length, 2);
});

test('hostile: absurd size in a header', async (t) => {
  const dir = await tempDir(t);
  const { bytes } = await sampleTar(dir);
  bytes.write('77777777777\0', 124, 12, 'latin1');
  fixChecksum(bytes.subarray(0, 512));
  const p = join(dir, 'absurd.tar');
  await fsp.writeFile(p, bytes);
  await assertTarInvalid(p, /declares 8589934591 bytes/);
  // Base-256 size beyond any safe integer.
  bytes[124] = 0x80;
  bytes.fill(0xff, 125, 136);
  fixChecksum(bytes.subarray(0, 512));
  await fsp.writeFile(p, bytes);
  await assertTarInvalid(p, /too large/);
});

test('hostile: negative and garbage numbers', async (t) => {
  const dir = await tempDir(t);
  const p = join(dir, 'x.tar');
  const { bytes } = await sampleTar(dir);
  const neg = Buffer.from(bytes);
  neg.fill(0xff, 124, 136);
  fixChecksum(neg.subarray(0, 512));
  await fsp.writeFile(p, neg);
  await assertTarInvalid(p, /negative size/);

  const garbage = Buffer.from(bytes);
  garbage.write('12x4\0', 124, 5, 'latin1');
  fixChecksum(garbage.subarray(0, 512));
  await fsp.writeFile(p, garbage);
  await assertTarInvalid(p, /not an octal number/);

  const mtime = Buffer.from(bytes);
  mtime.write('-0000001\0', 136, 9, 'latin1');
  fixChecksum(mtime.subarray(0, 512));
  await fsp.writeFile(p, mtime);
  await assertTarInvalid(p, /mtime/);

  const cksum = Buffer.from(bytes);
  cksum.write('zzzzzz\0 ', 148, 8, 'latin1');
  await fsp.writeFile(p, cksum);
  await assertTarInvalid(p, /checksum/);
});

test('base-256 sizes are read', async (t) => {
  const dir = await tempDir(t);
  const { bytes } = await sampleTar(dir);
  bytes.fill(0, 124, 136);
  bytes[124] = 0x80;
  bytes[135] = 5;
  fixChecksum(bytes.subarray(0, 512));
  const p = join(dir, 'b256.tar');
  await fsp.writeFile(p, bytes);
  const entries = await indexTarFile(p);
  assert.equal(entries[0]!.size, 5);
  assert.equal((await readAll(p, entries[0]!)).toString(), 'hello');
});

function rawHeader(name: string, typeflag: string, size: number): Buffer {
  const b = Buffer.alloc(512);
  b.write(name, 0, 100, 'utf8');
  b.write('0000644\0', 100, 8, 'latin1');
  b.write('0000000\0', 108, 8, 'latin1');
  b.write('0000000\0', 116, 8, 'latin1');
  b.write(`${size.toString(8).padStart(11, '0')}\0`, 124, 12, 'latin1');
  b.write('00000000000\0', 136, 12, 'latin1');
  b.write(typeflag, 156, 1, 'latin1');
  b.write('ustar\x0000', 257, 8, 'latin1');
  fixChecksum(b);
  return b;
}

function paxRec(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  for (let n = 1; ; n++) if (String(body.length + n).length === n) return `${body.length + n}${body}`;
}

function pad(b: Buffer): Buffer {
  return Buffer.concat([b, Buffer.alloc((512 - (b.length % 512)) % 512)]);
}

test('hostile: huge PAX header, huge GNU long name, malformed PAX records', async (t) => {
  const dir = await tempDir(t);
  const p = join(dir, 'pax.tar');
  const hugePax = Buffer.alloc(2 << 20, 0x61);
  await fsp.writeFile(p, Buffer.concat([rawHeader('PaxHeaders/x', 'x', hugePax.length), hugePax, Buffer.alloc(1024)]));
  await assertTarInvalid(p, /PAX header of 2097152 bytes exceeds/);

  const hugeName = Buffer.alloc(100 << 10, 0x61);
  await fsp.writeFile(p, Buffer.concat([rawHeader('././@LongLink', 'L', hugeName.length), hugeName, Buffer.alloc(1024)]));
  await assertTarInvalid(p, /long name of 102400 bytes exceeds/);

  for (const body of ['99 path=x\n', 'abc path=x\n', '12 path=xy\n', '11 =foobar\n', '9 path=xZ', '010 path=\n']) {
    const data = Buffer.from(body);
    await fsp.writeFile(
      p,
      Buffer.concat([rawHeader('PaxHeaders/x', 'x', data.length), pad(data), rawHeader('x', '0', 0), Buffer.alloc(1024)]),
    );
    await assertTarInvalid(p, /PAX/);
  }
  const badSize = Buffer.from('20 size=-1234567890\n');
  await fsp.writeFile(p, Buffer.concat([rawHeader('PaxHeaders/x', 'x', badSize.length), pad(badSize), rawHeader('x', '0', 0), Buffer.alloc(1024)]));
  await assertTarInvalid(p, /size/);
});

test('PAX records override the header; global headers are ignored', async (t) => {
  const dir = await tempDir(t);
  const p = join(dir, 'pax.tar');
  const records = Buffer.from(paxRec('path', 'from/pax/header.txt') + paxRec('mtime', '12.75'));
  const glob = Buffer.from(paxRec('comment', 'abc'));
  await fsp.writeFile(
    p,
    Buffer.concat([
      rawHeader('pax_global_header', 'g', glob.length),
      pad(glob),
      rawHeader('PaxHeaders/x', 'x', records.length),
      pad(records),
      rawHeader('short', '0', 4),
      pad(Buffer.from('data')),
      Buffer.alloc(1024),
    ]),
  );
  const [e, ...rest] = await indexTarFile(p);
  assert.equal(rest.length, 0);
  assert.equal(e!.name, 'from/pax/header.txt');
  assert.equal(e!.mtime, 12);
  assert.equal((await readAll(p, e!)).toString(), 'data');
});

test('hostile: metadata header with no entry after it, lone zero block, too many entries', async (t) => {
  const dir = await tempDir(t);
  const p = join(dir, 'x.tar');
  const name = Buffer.from('abc\0');
  await fsp.writeFile(p, Buffer.concat([rawHeader('././@LongLink', 'L', name.length), pad(name)]));
  await assertTarInvalid(p, /extended header/);
  await fsp.writeFile(p, Buffer.concat([rawHeader('././@LongLink', 'L', name.length), pad(name), Buffer.alloc(1024)]));
  await assertTarInvalid(p, /extended header/);
  await fsp.writeFile(p, Buffer.concat([Buffer.alloc(512), rawHeader('a', '0', 0), Buffer.alloc(1024)]));
  await assertTarInvalid(p, /single zero block/);
  const { path } = await sampleTar(dir);
  await assertTarInvalid(path, /more than 1 entries/, { maxEntries: 1 });
  // Not a tar at all.
  await fsp.writeFile(p, Buffer.alloc(4096, 0x41));
  await assertTarInvalid(p, /checksum|octal/);
});

test('indexing honours an abort signal and reports a missing file', async (t) => {
  const dir = await tempDir(t);
  const { path } = await sampleTar(dir);
  const ac = new AbortController();
  ac.abort();
  await assert.rejects(indexTarFile(path, ac.signal), { code: 'ABORTED' });
  await assert.rejects(indexTarFile(join(dir, 'missing.tar')), { code: 'IO_ERROR' });
});

test('normalizeTarPath', () => {
  assert.equal(normalizeTarPath('./a/b/'), 'a/b');
  assert.equal(normalizeTarPath('/a//b'), 'a/b');
  assert.equal(normalizeTarPath('a/../b'), 'b');
  assert.equal(normalizeTarPath('../x'), undefined);
  assert.equal(normalizeTarPath('a/../../x'), undefined);
  assert.equal(normalizeTarPath('.'), '');
});

function* chunks(buf: Buffer, size: number): Generator<Buffer> {
  for (let i = 0; i < buf.length; i += size) yield buf.subarray(i, i + size);
}
