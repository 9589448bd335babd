/** A stdout/stderr stand-in for CLI tests: collects what is written as text. */
export class Sink {
  text = '';
  isTTY = false;
  columns: number | undefined;
  write(chunk: string | Uint8Array): boolean {
    this.text += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    return true;
  }
}
