/**
 * Blank-line separated stanzas of `Key: value` lines, as dpkg's status database (deb822) and apk's installed
 * database have them, read from a Buffer one stanza at a time: the file is never split or decoded as a whole,
 * so memory stays at one stanza beyond the input, however large the file.
 */

export interface StanzaSpan {
  /** Byte offsets of the stanza in the buffer, without its separating blank lines. */
  start: number;
  end: number;
  /** 1-based line number of its first line, for warnings. */
  line: number;
}

const NL = 0x0a;

/** Whether bytes [from, to) are only spaces, tabs and carriage returns. */
function blank(buf: Buffer, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = buf[i];
    if (c !== 0x20 && c !== 0x09 && c !== 0x0d) return false;
  }
  return true;
}

/** The stanzas of `buf`, in order. A blank line is empty or holds only whitespace. */
export function* stanzas(buf: Buffer): Generator<StanzaSpan> {
  let pos = 0;
  let line = 1;
  let start = -1;
  let startLine = 0;
  let end = 0;
  while (pos < buf.length) {
    let nl = buf.indexOf(NL, pos);
    if (nl < 0) nl = buf.length;
    if (blank(buf, pos, nl)) {
      if (start >= 0) yield { start, end, line: startLine };
      start = -1;
    } else {
      if (start < 0) {
        start = pos;
        startLine = line;
      }
      end = nl;
    }
    pos = nl + 1;
    line++;
  }
  if (start >= 0) yield { start, end, line: startLine };
}

/** The lines of a stanza's text, without `\r`. */
export function lines(text: string): string[] {
  return text.split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
}
