/**
 * What the version comparators share: the VERSION_INVALID error (with the offending version shortened, since a
 * hostile one may be a megabyte long) and an exact comparison of decimal digit runs of any length, so that no
 * comparator ever goes through a lossy Number or a wrapping machine integer.
 */
import { WharfError } from '../../errors.js';

/** How much of an invalid version an error message quotes. */
const QUOTE_MAX = 80;

function quote(value: unknown): string {
  const version = typeof value === 'string' ? value : String(value);
  let out = '';
  let used = 0;
  for (const ch of version) {
    if (out.length >= QUOTE_MAX) break;
    out += JSON.stringify(ch).slice(1, -1);
    used += ch.length;
  }
  return used < version.length ? `"${out}…" (${version.length} characters)` : `"${out}"`;
}

/** A VERSION_INVALID error: `<kind> version "<v>": <why>`, with a hint on what the grammar expects. */
export function invalidVersion(kind: string, version: unknown, why: string, hint: string): WharfError {
  return new WharfError('VERSION_INVALID', `${kind} version ${quote(version)}: ${why}`, { hint });
}

/** -1, 0 or 1 from any number: comparators return only these. */
export function sign(n: number): number {
  return n < 0 ? -1 : n > 0 ? 1 : 0;
}

/**
 * Compare the decimal numbers written in `a[aStart, aEnd)` and `b[bStart, bEnd)` (ASCII digits only, leading
 * zeros ignored, any length): -1, 0 or 1. Linear in the lengths.
 */
export function compareDigitRuns(a: string, aStart: number, aEnd: number, b: string, bStart: number, bEnd: number): number {
  while (aStart < aEnd && a.charCodeAt(aStart) === 0x30) aStart++;
  while (bStart < bEnd && b.charCodeAt(bStart) === 0x30) bStart++;
  const aLen = aEnd - aStart;
  const bLen = bEnd - bStart;
  if (aLen !== bLen) return aLen < bLen ? -1 : 1;
  for (let i = 0; i < aLen; i++) {
    const d = a.charCodeAt(aStart + i) - b.charCodeAt(bStart + i);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return 0;
}

/** compareDigitRuns over two whole strings of digits. */
export function compareDigits(a: string, b: string): number {
  return compareDigitRuns(a, 0, a.length, b, 0, b.length);
}

/** Plain code-unit order of two strings (what C's strcmp/memcmp gives for ASCII): -1, 0 or 1. */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** True if `s` holds a UTF-16 surrogate that is not half of a pair (such a string has no UTF-8 form). */
export function hasLoneSurrogate(s: string): boolean {
  return /\p{Cs}/u.test(s);
}
