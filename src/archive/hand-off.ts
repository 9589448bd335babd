import { Transform, type TransformCallback } from 'node:stream';

/**
 * Passes each chunk on in a later turn of the event loop, so the work after a decompressor overlaps with it.
 *
 * Why: Node's zlib pushes a chunk of output and only then starts inflating the next one, and a push into a
 * flowing pipe runs the whole chain after it (hashing, tar parsing) synchronously inside that push. The
 * decompressor's thread and the main thread then take turns instead of working at once. Here the chunk is
 * taken at once and handed on from setImmediate: zlib has already queued its next inflate on the thread pool
 * by then, so the hashing of chunk N runs while chunk N+1 is inflated. At most one chunk waits here; the
 * Transform's own buffers give backpressure as before.
 */
export class HandOff extends Transform {
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    setImmediate(() => {
      if (this.destroyed) return done();
      this.push(chunk);
      done();
    });
  }
}
