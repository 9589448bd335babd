/** Reading a stream in pieces of a chosen size, for uploads that send a blob in chunks. */
import type { Readable } from 'node:stream';
import { asWharfError } from '../errors.js';

export class ChunkReader {
  private readonly it: AsyncIterator<unknown>;
  private carry: Buffer | undefined;
  private ended = false;

  constructor(private readonly stream: Readable) {
    this.it = stream[Symbol.asyncIterator]();
  }

  /** Up to `n` bytes; fewer only when the stream ended. */
  async read(n: number): Promise<Buffer> {
    const parts: Buffer[] = [];
    let got = 0;
    if (this.carry) {
      const take = this.carry.subarray(0, n);
      this.carry = take.length < this.carry.length ? this.carry.subarray(take.length) : undefined;
      parts.push(take);
      got += take.length;
    }
    while (got < n && !this.ended) {
      let r: IteratorResult<unknown>;
      try {
        r = await this.it.next();
      } catch (err) {
        throw asWharfError(err, 'IO_ERROR', 'reading the blob to upload');
      }
      if (r.done) {
        this.ended = true;
        break;
      }
      let b = typeof r.value === 'string' ? Buffer.from(r.value) : Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value as Uint8Array);
      if (got + b.length > n) {
        this.carry = b.subarray(n - got);
        b = b.subarray(0, n - got);
      }
      parts.push(b);
      got += b.length;
    }
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts, got);
  }

  /** Stop reading; the stream is destroyed (the caller gave it to us to consume). */
  close(): void {
    if (!this.ended) {
      this.ended = true;
      void this.it.return?.().catch(() => {});
      this.stream.destroy();
    }
  }
}
