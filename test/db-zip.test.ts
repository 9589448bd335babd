/**
 * The zip reader on archives made here (stored, deflated, zip64), by Info-ZIP's zip (plain, -fz, streamed),
 * and on hostile ones: each damage is an error with a code, never a crash, a hang or a runaway allocation.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { deflateRawSync } from 'node:zlib';
import { WharfError } from '../src/errors.js';
import { ZipReader, crc32 } from '../src/scan/db/zip.js';
import { makeZip } from './helpers/osv.js';
import { requirePeer, runPeer, tempDir } from './helpers/peers.js';

async function readAll(path: string, limits = {}): Promise<Record<string, string>> {
  const zip = await ZipReader.open(path, { limits });
  try {
    const out: Record<string, string> = {};
    for (const e of zip.entries) if (!e.isDirectory) out[e.name] = (await zip.read(e)).toString();
    return out;
  } finally {
    await zip.close();
  }
}

async function rejectsWith(p: Promise<unknown>, code: string, message?: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof WharfError, `not a WharfError: ${String(err)}`);
    assert.equal(err.code, code, err.message);
    if (message) assert.match(err.message, message);
    return true;
  });
}

const FILES = [
  { name: 'a.json', data: '{"id":"A-1"}' },
  { name: 'dir/b.json', data: JSON.stringify({ id: 'B-1', text: 'x'.repeat(5000) }) },
  { name: 'stored.json', data: '{"id":"S-1"}', method: 0 as const },
  { name: 'empty.json', data: '' },
];
const EXPECTED = { 'a.json': '{"id":"A-1"}', 'dir/b.json': FILES[1]!.data, 'stored.json': '{"id":"S-1"}', 'empty.json': '' };

describe('zip reader: archives it must read', () => {
  test('crc32 of a known string', () => {
    assert.equal(crc32(Buffer.from('123456789')), 0xcbf43926);
  });

  test('stored and deflated entries', async (t) => {
    const dir = await tempDir(t);
    await writeFile(join(dir, 'x.zip'), makeZip(FILES).bytes);
    assert.deepEqual(await readAll(join(dir, 'x.zip')), EXPECTED);
  });

  test('zip64: sizes and offsets in the zip64 extra field and end record', async (t) => {
    const dir = await tempDir(t);
    await writeFile(join(dir, 'x.zip'), makeZip(FILES, { zip64: true }).bytes);
    assert.deepEqual(await readAll(join(dir, 'x.zip')), EXPECTED);
  });

  test('an empty archive', async (t) => {
    const dir = await tempDir(t);
    await writeFile(join(dir, 'x.zip'), makeZip([]).bytes);
    assert.deepEqual(await readAll(join(dir, 'x.zip')), {});
  });

  test('Info-ZIP zip: plain, forced zip64 (-fz) and streamed to stdout (data descriptors)', async (t) => {
    if (!requirePeer(t, 'zip')) return;
    const dir = await tempDir(t);
    await writeFile(join(dir, 'a.json'), '{"id":"A-1"}');
    await writeFile(join(dir, 'big.json'), JSON.stringify({ id: 'B-1', text: 'lorem ipsum '.repeat(20_000) }));
    const want = { 'a.json': '{"id":"A-1"}', 'big.json': JSON.stringify({ id: 'B-1', text: 'lorem ipsum '.repeat(20_000) }) };
    await runPeer('sh', ['-c', `cd ${dir} && zip -q plain.zip a.json big.json && zip -q -fz z64.zip a.json big.json && zip -q - a.json big.json > streamed.zip`]);
    assert.deepEqual(await readAll(join(dir, 'plain.zip')), want);
    assert.deepEqual(await readAll(join(dir, 'z64.zip')), want);
    assert.deepEqual(await readAll(join(dir, 'streamed.zip')), want);
  });
});

describe('zip reader: hostile archives are errors', () => {
  async function write(t: Parameters<typeof tempDir>[0], bytes: Buffer): Promise<string> {
    const dir = await tempDir(t);
    await writeFile(join(dir, 'x.zip'), bytes);
    return join(dir, 'x.zip');
  }

  test('not a zip, too short, truncated (the end record cut off)', async (t) => {
    await rejectsWith(ZipReader.open(await write(t, Buffer.from('{"id":"not a zip at all, but long enough to look"}'))), 'ARCHIVE_INVALID', /no end-of-central-directory record/);
    await rejectsWith(ZipReader.open(await write(t, Buffer.from('PK'))), 'ARCHIVE_INVALID', /too short/);
    const z = makeZip(FILES).bytes;
    await rejectsWith(ZipReader.open(await write(t, z.subarray(0, z.length - 10))), 'ARCHIVE_INVALID');
    await rejectsWith(ZipReader.open(await write(t, z.subarray(0, 40))), 'ARCHIVE_INVALID');
  });

  test('a central directory offset or size outside the file', async (t) => {
    const z = makeZip(FILES);
    const bad = Buffer.from(z.bytes);
    bad.writeUInt32LE(0x7fffffff, z.eocdOffset + 16);
    await rejectsWith(ZipReader.open(await write(t, bad)), 'ARCHIVE_INVALID', /outside the file/);
    const big = Buffer.from(z.bytes);
    big.writeUInt32LE(0x7ffffff0, z.eocdOffset + 12);
    await rejectsWith(ZipReader.open(await write(t, big)), 'ARCHIVE_INVALID', /outside the file/);
  });

  test('an entry count the directory cannot hold; more entries than allowed', async (t) => {
    const z = makeZip(FILES);
    const bad = Buffer.from(z.bytes);
    bad.writeUInt16LE(60_000, z.eocdOffset + 10);
    await rejectsWith(ZipReader.open(await write(t, bad)), 'ARCHIVE_INVALID', /cannot fit/);
    await rejectsWith(ZipReader.open(await write(t, z.bytes), { limits: { maxEntries: 2 } }), 'TOO_LARGE', /4 entries is more than the 2/);
  });

  test('a local header offset pointing nowhere, or at the middle of another entry', async (t) => {
    const z = makeZip(FILES);
    const bad = Buffer.from(z.bytes);
    bad.writeUInt32LE(0x00ffffff, z.cdOffset + 42);
    await rejectsWith(ZipReader.open(await write(t, bad)), 'ARCHIVE_INVALID', /data outside the file/);
    // Point the second entry at a spot inside the first one's data.
    const shifted = Buffer.from(z.bytes);
    const secondCentral = z.cdOffset + 46 + 'a.json'.length;
    shifted.writeUInt32LE(5, secondCentral + 42);
    await rejectsWith(ZipReader.open(await write(t, shifted)), 'ARCHIVE_INVALID', /overlap/);
  });

  test('overlapping entries (many entries, one compressed kernel): refused before anything is inflated', async (t) => {
    // The "better zip bomb" shape: every central entry points at the same local header.
    const kernel = makeZip([{ name: 'k.json', data: '{"id":"K-1"}' }]);
    const one = kernel.bytes.subarray(kernel.cdOffset, kernel.eocdOffset);
    const cd = Buffer.concat(Array.from({ length: 50 }, () => one));
    const eocd = Buffer.from(kernel.bytes.subarray(kernel.eocdOffset));
    eocd.writeUInt16LE(50, 8);
    eocd.writeUInt16LE(50, 10);
    eocd.writeUInt32LE(cd.length, 12);
    const bomb = Buffer.concat([kernel.bytes.subarray(0, kernel.cdOffset), cd, eocd]);
    await rejectsWith(ZipReader.open(await write(t, bomb)), 'ARCHIVE_INVALID', /overlap/);
  });

  test('a compression ratio no honest entry has; more bytes in all than allowed', async (t) => {
    const zeros = Buffer.alloc(64 << 20);
    const bomb = makeZip([{ name: 'zeros.json', data: zeros }]).bytes;
    await rejectsWith(ZipReader.open(await write(t, bomb)), 'TOO_LARGE', /zip bomb/);
    await rejectsWith(ZipReader.open(await write(t, makeZip(FILES).bytes), { limits: { maxTotalBytes: 100 } }), 'TOO_LARGE', /bytes uncompressed in all/);
  });

  test('an entry that inflates to more than it declares (the size in the directory lies)', async (t) => {
    const z = makeZip([{ name: 'a.json', data: 'x'.repeat(10_000) }]);
    const bad = Buffer.from(z.bytes);
    bad.writeUInt32LE(100, z.cdOffset + 24);
    const path = await write(t, bad);
    const zip = await ZipReader.open(path);
    try {
      await rejectsWith(zip.read(zip.entries[0]!), 'ARCHIVE_INVALID', /inflates to more than the 100 bytes it declares/);
    } finally {
      await zip.close();
    }
  });

  test('an entry larger than the per-entry cap is listed as tooLarge and not read', async (t) => {
    const path = await write(t, makeZip(FILES).bytes);
    const zip = await ZipReader.open(path, { limits: { maxEntryBytes: 1000 } });
    try {
      const big = zip.entries.find((e) => e.name === 'dir/b.json')!;
      assert.equal(big.tooLarge, true);
      await rejectsWith(zip.read(big), 'TOO_LARGE');
    } finally {
      await zip.close();
    }
  });

  test('damaged deflate data, a wrong CRC, a missing local header, an unknown method', async (t) => {
    const z = makeZip([{ name: 'a.json', data: JSON.stringify({ id: 'A-1', pad: 'y'.repeat(2000) }) }]);
    const entry = z.entries[0]!;
    const cases: [string, (b: Buffer) => void, string, RegExp][] = [
      ['deflate', (b) => b.fill(0xff, entry.dataOffset, entry.dataOffset + 8), 'ARCHIVE_INVALID', /deflate data is damaged|inflates to/],
      ['crc', (b) => b.writeUInt32LE(0xdeadbeef, z.cdOffset + 16), 'ARCHIVE_INVALID', /CRC-32/],
      ['local header', (b) => b.writeUInt32LE(0, entry.localOffset), 'ARCHIVE_INVALID', /no local header/],
      ['method', (b) => b.writeUInt16LE(12, z.cdOffset + 10), 'UNSUPPORTED', /compression method 12/],
      ['encrypted', (b) => b.writeUInt16LE(0x801, z.cdOffset + 8), 'UNSUPPORTED', /encrypted/],
      ['local name length', (b) => b.writeUInt16LE(60_000, entry.localOffset + 26), 'ARCHIVE_INVALID', /runs into the next entry/],
    ];
    for (const [, damage, code, message] of cases) {
      const bad = Buffer.from(z.bytes);
      damage(bad);
      const zip = await ZipReader.open(await write(t, bad));
      try {
        await rejectsWith(zip.read(zip.entries[0]!), code, message);
      } finally {
        await zip.close();
      }
    }
  });

  test('zip64: a locator pointing nowhere, an end record that is not one, a size past 2^53', async (t) => {
    const z = makeZip(FILES, { zip64: true });
    const locator = z.eocdOffset - 20;
    const nowhere = Buffer.from(z.bytes);
    nowhere.writeBigUInt64LE(0xffffffffffn, locator + 8);
    await rejectsWith(ZipReader.open(await write(t, nowhere)), 'ARCHIVE_INVALID', /zip64 end record is outside the file/);
    const notOne = Buffer.from(z.bytes);
    notOne.writeUInt32LE(0, locator - 56);
    await rejectsWith(ZipReader.open(await write(t, notOne)), 'ARCHIVE_INVALID', /no zip64 end record/);
    const huge = Buffer.from(z.bytes);
    huge.writeBigUInt64LE(0xffffffffffffffffn, locator - 56 + 40);
    await rejectsWith(ZipReader.open(await write(t, huge)), 'ARCHIVE_INVALID', /not a size a real archive has/);
    const noLocator = Buffer.from(z.bytes);
    noLocator.writeUInt32LE(0, locator);
    await rejectsWith(ZipReader.open(await write(t, noLocator)), 'ARCHIVE_INVALID', /without a zip64 locator/);
  });

  test('a zip64 entry without its extra field', async (t) => {
    const z = makeZip([{ name: 'a.json', data: '{}' }]);
    const bad = Buffer.from(z.bytes);
    bad.writeUInt32LE(0xffffffff, z.cdOffset + 24);
    await rejectsWith(ZipReader.open(await write(t, bad)), 'ARCHIVE_INVALID', /no zip64 extra field/);
  });

  test('an entry whose deflated stream is cut short', async (t) => {
    const raw = Buffer.from(JSON.stringify({ id: 'A-1', pad: 'z'.repeat(3000) }));
    const full = deflateRawSync(raw);
    const z = makeZip([{ name: 'a.json', data: raw }]);
    const bad = Buffer.from(z.bytes);
    // Claim half the compressed bytes: the stream ends early, so fewer bytes come out than declared.
    bad.writeUInt32LE(Math.floor(full.length / 2), z.cdOffset + 20);
    const zip = await ZipReader.open(await write(t, bad));
    try {
      await rejectsWith(zip.read(zip.entries[0]!), 'ARCHIVE_INVALID');
    } finally {
      await zip.close();
    }
  });
});
