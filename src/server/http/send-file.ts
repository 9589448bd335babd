import type { FileHandle } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';

/**
 * Buffers for sending blobs, reused across responses. Node has no sendfile: every byte is read into memory and
 * written to the socket. A read stream allocates a fresh buffer per chunk, and at gigabytes a second the
 * allocation and the garbage collection behind it cost more than the copying; reusing a few fixed buffers
 * roughly doubled blob GET throughput on loopback here (bench/serve.sh, docs/BENCHMARKS.md).
 */
export class BufferPool {
  private readonly free: Buffer[] = [];
  constructor(
    readonly size: number,
    private readonly keep: number,
  ) {}

  take(): Buffer {
    return this.free.pop() ?? Buffer.allocUnsafeSlow(this.size);
  }

  /** Only a buffer no write still holds may come back. */
  give(buf: Buffer): void {
    if (this.free.length < this.keep) this.free.push(buf);
  }
}

class ClosedError extends Error {}

/**
 * Send bytes `start`..`end` of an open file as the response body with two buffers from the pool: one is read
 * into while the other is being written, and a buffer is read into again only after the socket took its last
 * write. Ends the response; rejects (and leaves the response to be destroyed) when the client goes away or the
 * file is shorter than promised.
 */
export async function sendFileRange(handle: FileHandle, res: ServerResponse, start: number, end: number, pool: BufferPool): Promise<void> {
  const bufs = [pool.take(), pool.take()];
  const writes: Promise<void>[] = [Promise.resolve(), Promise.resolve()];
  let closed = false;
  let onClosed: (err: Error) => void = () => {};
  const closedPromise = new Promise<never>((_, reject) => {
    onClosed = reject;
  });
  closedPromise.catch(() => {});
  const closeListener = (): void => {
    if (res.writableFinished) return;
    closed = true;
    onClosed(new ClosedError('the client went away'));
  };
  res.once('close', closeListener);
  let pos = start;
  let i = 0;
  try {
    while (pos <= end) {
      await Promise.race([writes[i], closedPromise]);
      const buf = bufs[i]!;
      const { bytesRead } = await handle.read(buf, 0, Math.min(buf.length, end - pos + 1), pos);
      if (bytesRead === 0) throw new Error('the blob is shorter than its size');
      pos += bytesRead;
      const chunk = bytesRead === buf.length ? buf : buf.subarray(0, bytesRead);
      const written = new Promise<void>((resolve, reject) => res.write(chunk, (err) => (err ? reject(err) : resolve())));
      written.catch(() => {});
      writes[i] = written;
      i ^= 1;
    }
    await Promise.race([Promise.all(writes), closedPromise]);
    await new Promise<void>((resolve) => res.end(resolve));
  } finally {
    res.off('close', closeListener);
    if (!closed) {
      // A buffer goes back only when its write completed; one a failed socket may still hold is dropped.
      const settled = await Promise.allSettled(writes);
      settled.forEach((s, k) => {
        if (s.status === 'fulfilled') pool.give(bufs[k]!);
      });
    }
  }
}
