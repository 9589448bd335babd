import { Transform, type TransformCallback } from 'node:stream';

/** Counts bytes as they pass and reports them at most every `intervalMs`, and once at the end. */
export class ProgressStream extends Transform {
  private bytes = 0;
  private last = 0;

  constructor(
    private readonly report: (bytes: number) => void,
    private readonly intervalMs = 100,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length;
    const now = Date.now();
    if (now - this.last >= this.intervalMs) {
      this.last = now;
      this.report(this.bytes);
    }
    done(null, chunk);
  }

  override _flush(done: TransformCallback): void {
    this.report(this.bytes);
    done();
  }
}
