import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { decompressor } from '../src/archive/compression.js';
import { HandOff } from '../src/archive/hand-off.js';

test('HandOff passes every byte on, in order, behind a gunzip', async () => {
  const data = Buffer.concat(Array.from({ length: 64 }, (_, i) => Buffer.concat([randomBytes(20_000), Buffer.alloc(40_000, i)])));
  const gz = gzipSync(data);
  const chunks = Array.from({ length: Math.ceil(gz.length / 7000) }, (_, i) => gz.subarray(i * 7000, (i + 1) * 7000));
  const out = createHash('sha256');
  await pipeline(Readable.from(chunks), decompressor('gzip')!, new HandOff(), new Writable({ write: (c: Buffer, _e, cb) => (out.update(c), cb()) }));
  assert.equal(out.digest('hex'), createHash('sha256').update(data).digest('hex'));
});

test('HandOff keeps backpressure: a slow consumer holds the producer back instead of the chunks piling up here', async () => {
  const hand = new HandOff();
  let produced = 0;
  let consumed = 0;
  let maxAhead = 0;
  const source = new Readable({
    read() {
      if (produced >= 400) return this.push(null);
      produced++;
      this.push(Buffer.alloc(64 * 1024));
    },
  });
  const slow = new Writable({
    highWaterMark: 64 * 1024,
    write(_c, _e, cb) {
      consumed++;
      maxAhead = Math.max(maxAhead, produced - consumed);
      setTimeout(cb, 1);
    },
  });
  await pipeline(source, hand, slow);
  assert.equal(consumed, 400);
  // Each stage buffers a chunk or so; without backpressure the source would run all 400 ahead.
  assert.ok(maxAhead < 12, `the producer ran ${maxAhead} chunks ahead`);
});

test('HandOff: an error upstream fails the pipeline and nothing is passed on after it', async () => {
  const bad = Buffer.concat([gzipSync(Buffer.alloc(100_000, 1)).subarray(0, 500), Buffer.from('not gzip at all')]);
  await assert.rejects(pipeline(Readable.from([bad]), decompressor('gzip')!, new HandOff(), new Writable({ write: (_c, _e, cb) => cb() })), (err: NodeJS.ErrnoException) => typeof err.code === 'string' && err.code.startsWith('Z_'));
});
