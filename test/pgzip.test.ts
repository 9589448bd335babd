import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { ParallelGzip, parallelGzipAvailable, sampledEntropy } from '../src/archive/pgzip.js';
import { requirePeer, runPeer, tempDir } from './helpers/peers.js';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

async function gzipAll(chunks: Buffer[], blockSize?: number): Promise<Buffer> {
  const out: Buffer[] = [];
  await pipeline(Readable.from(chunks), new ParallelGzip(blockSize ? { blockSize } : {}), async function* (src: AsyncIterable<Buffer>) {
    for await (const c of src) out.push(c);
  });
  return Buffer.concat(out);
}

test('parallel gzip output is one gzip member that gunzip reads back exactly', { skip: !parallelGzipAvailable() && 'needs zlib.crc32 (Node 20.15+)' }, async (t) => {
  const text = Buffer.from('the quick brown fox jumps over the lazy dog\n'.repeat(50_000));
  const random = randomBytes(300_000);
  const mixed = Buffer.concat([text, random, text.subarray(0, 77_777)]);
  for (const [name, input, block] of [
    ['empty', Buffer.alloc(0), undefined],
    ['one byte', Buffer.from('x'), undefined],
    ['text, small blocks', text, 64 * 1024],
    ['random', random, 64 * 1024],
    ['mixed, odd chunking', mixed, 100_000],
  ] as const) {
    const chunks: Buffer[] = [];
    for (let i = 0; i < input.length; i += 33_333) chunks.push(input.subarray(i, i + 33_333));
    const gz = await gzipAll(chunks, block);
    assert.deepEqual(gunzipSync(gz), input, name);
    if (name.startsWith('text')) assert.ok(gz.length < input.length / 10, 'text still compresses well across block boundaries');
  }
  // The system gzip agrees (CRC and length in the trailer are checked by gzip -t).
  if (requirePeer(t, 'gzip')) {
    const dir = await tempDir(t);
    const file = join(dir, 'x.gz');
    await writeFile(file, await gzipAll([mixed], 64 * 1024));
    await runPeer('gzip', ['-t', file]);
    const out = await runPeer('sh', ['-c', `gzip -dc ${file} | sha256sum`]);
    assert.equal(out.split(' ')[0], createHash('sha256').update(mixed).digest('hex'));
  }
});

test('entropy sampling tells random bytes from text', () => {
  assert.ok(sampledEntropy(randomBytes(1 << 20)) > 7.9);
  assert.ok(sampledEntropy(Buffer.from('abcdefgh'.repeat(100_000))) < 4);
  assert.equal(sampledEntropy(Buffer.alloc(0)), 0);
});

test('stored blocks are valid raw deflate, for empty, small and multi-64 KiB input', async () => {
  const { storedBlocks } = await import('../src/archive/pgzip.js');
  const { inflateRawSync } = await import('node:zlib');
  for (const size of [0, 1, 65535, 65536, 200_000]) {
    const input = randomBytes(size);
    assert.deepEqual(inflateRawSync(storedBlocks(input, true)), input, `size ${size}`);
  }
});
