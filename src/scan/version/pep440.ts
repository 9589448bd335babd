/**
 * Python version ordering, PEP 440 as the `packaging` library (packaging.version.Version) parses, normalises and
 * orders versions:
 *
 *   [N!]N(.N)*[{a|b|rc}N][.postN][.devN][+local]
 *
 * with the spellings `packaging` accepts and normalises: any case; an optional leading `v`; surrounding white
 * space; `.`, `-` or `_` (or nothing) before and inside the pre, post and dev parts; alpha = a, beta = b,
 * c = pre = preview = rc; rev = r = post; `1.0-1` = 1.0.post1; a missing number = 0 (1.0rc = 1.0rc0); local parts
 * separated by `.`, `-` or `_`.
 *
 * Order: epoch; release, trailing zeros ignored (1.0 = 1.0.0); then dev-only releases (1.0.dev1) < a < b < rc <
 * the release < its post releases, with a dev release before the release it leads to (1.0a1.dev1 < 1.0a1,
 * 1.0.post1.dev1 < 1.0.post1); then no local < any local, local parts compared in turn, numbers numerically and
 * above strings, strings in order, fewer parts lower. All numbers are compared exactly at any length (Python's
 * int() refuses strings above 4300 digits; we don't need to).
 *
 * Parsed by hand, linearly, rather than with a backtracking regular expression, so a hostile megabyte-long
 * string costs one pass. Anything `packaging` raises InvalidVersion for is VERSION_INVALID.
 */
import { compareDigitRuns, compareDigits, compareStrings, invalidVersion } from './common.js';

export interface Pep440Version {
  /** Digit strings, as written (compared as numbers). */
  epoch: string;
  release: string[];
  pre?: { label: 'a' | 'b' | 'rc'; number: string };
  post?: string;
  dev?: string;
  /** Lower-cased local parts; all-digit parts compare as numbers. */
  local?: string[];
}

const HINT = 'a Python version is [N!]N(.N)*[{a|b|rc}N][.postN][.devN][+local], e.g. 2.31.0 or 1.0rc1 (PEP 440)';

const PRE_LABELS: ReadonlyArray<[string, 'a' | 'b' | 'rc']> = [
  // Longest first, so that the longest spelling wins (no shorter one could be followed by what remains).
  ['preview', 'rc'],
  ['alpha', 'a'],
  ['beta', 'b'],
  ['pre', 'rc'],
  ['rc', 'rc'],
  ['a', 'a'],
  ['b', 'b'],
  ['c', 'rc'],
];
const POST_LABELS = ['post', 'rev', 'r'];

/** What Python's str.isspace() accepts, which `\s` matches around a version. */
function isPySpace(c: number): boolean {
  return (
    (c >= 0x09 && c <= 0x0d) ||
    (c >= 0x1c && c <= 0x20) ||
    c === 0x85 ||
    c === 0xa0 ||
    c === 0x1680 ||
    (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 ||
    c === 0x2029 ||
    c === 0x202f ||
    c === 0x205f ||
    c === 0x3000
  );
}
function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}
function isAsciiAlnum(c: number): boolean {
  return isDigit(c) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
}
function isSep(c: number): boolean {
  return c === 0x2e || c === 0x2d || c === 0x5f; // . - _
}

class Cursor {
  constructor(
    readonly s: string,
    public pos: number,
    readonly end: number,
  ) {}
  peek(offset = 0): number {
    const i = this.pos + offset;
    return i < this.end ? this.s.charCodeAt(i) : -1;
  }
  /** Digits at the cursor (possibly none), consumed. */
  digits(): string {
    const start = this.pos;
    while (this.pos < this.end && isDigit(this.s.charCodeAt(this.pos))) this.pos++;
    return this.s.slice(start, this.pos);
  }
  /** Consume `word` (ASCII, case-insensitive) if it is at the cursor. */
  word(word: string): boolean {
    if (this.pos + word.length > this.end) return false;
    if (this.s.slice(this.pos, this.pos + word.length).toLowerCase() !== word) return false;
    // toLowerCase maps a few non-ASCII letters to ASCII ones (U+0130 → i̇, U+212A → k): accept ASCII only.
    for (let i = 0; i < word.length; i++) if (this.s.charCodeAt(this.pos + i) > 0x7f) return false;
    this.pos += word.length;
    return true;
  }
  /** An optional separator, consumed. */
  sep(): void {
    if (isSep(this.peek())) this.pos++;
  }
}

/** Parse and normalise a version as packaging.version.Version does; VERSION_INVALID where it raises. */
export function parsePep440(version: string): Pep440Version {
  const fail = (why: string): never => {
    throw invalidVersion('Python', version, why, HINT);
  };
  if (typeof version !== 'string') fail('not a string');
  let start = 0;
  let end = version.length;
  while (start < end && isPySpace(version.charCodeAt(start))) start++;
  while (end > start && isPySpace(version.charCodeAt(end - 1))) end--;
  if (start === end) fail('version string is empty');
  const c = new Cursor(version, start, end);

  if (c.peek() === 0x76 || c.peek() === 0x56) c.pos++; // v

  // Epoch: digits followed by '!'; otherwise the same digits open the release.
  let epoch = '0';
  const mark = c.pos;
  const first = c.digits();
  if (first !== '' && c.peek() === 0x21 /* ! */) {
    epoch = first;
    c.pos++;
  } else {
    c.pos = mark;
  }

  const release: string[] = [];
  const n = c.digits();
  if (n === '') fail('the release must start with a number');
  release.push(n);
  while (c.peek() === 0x2e && isDigit(c.peek(1))) {
    c.pos++;
    release.push(c.digits());
  }

  const out: Pep440Version = { epoch, release };

  // Pre-release: [sep] label [sep] [N]
  {
    const save = c.pos;
    c.sep();
    const label = PRE_LABELS.find(([spelling]) => c.word(spelling));
    if (label) {
      // The separator after the label is taken even with no number after it ("1.0a." is 1.0a0), as the
      // regular expression's greedy match does; no later part needs it back.
      c.sep();
      out.pre = { label: label[1], number: c.digits() || '0' };
    } else {
      c.pos = save;
    }
  }

  // Post release: -N, or [sep] label [sep] [N]
  {
    const save = c.pos;
    let matched = false;
    if (c.peek() === 0x2d && isDigit(c.peek(1))) {
      c.pos++;
      out.post = c.digits();
      matched = true;
    } else {
      c.sep();
      if (POST_LABELS.some((w) => c.word(w))) {
        c.sep();
        out.post = c.digits() || '0';
        matched = true;
      }
    }
    if (!matched) c.pos = save;
  }

  // Dev release: [sep] dev [sep] [N]
  {
    const save = c.pos;
    c.sep();
    if (c.word('dev')) {
      c.sep();
      out.dev = c.digits() || '0';
    } else {
      c.pos = save;
    }
  }

  // Local version: + alnum+ ([sep] alnum+)*
  if (c.peek() === 0x2b /* + */) {
    c.pos++;
    const parts: string[] = [];
    for (;;) {
      const partStart = c.pos;
      while (c.pos < c.end && isAsciiAlnum(c.s.charCodeAt(c.pos))) c.pos++;
      if (c.pos === partStart) fail('empty local version part');
      parts.push(c.s.slice(partStart, c.pos).toLowerCase());
      if (isSep(c.peek()) && isAsciiAlnum(c.peek(1))) c.pos++;
      else break;
    }
    out.local = parts;
  }

  if (c.pos !== c.end) fail(`unexpected ${JSON.stringify(version[c.pos])} at position ${c.pos}`);
  return out;
}

const PRE_RANK = { a: 0, b: 1, rc: 2 } as const;
const PRE_RANK_DEV_ONLY = -1;
const PRE_RANK_RELEASE = 3;

function isZero(digits: string): boolean {
  return /^0+$/.test(digits);
}

function compareRelease(a: string[], b: string[]): number {
  let la = a.length;
  let lb = b.length;
  while (la > 0 && isZero(a[la - 1]!)) la--;
  while (lb > 0 && isZero(b[lb - 1]!)) lb--;
  for (let i = 0; i < Math.min(la, lb); i++) {
    const r = compareDigits(a[i]!, b[i]!);
    if (r !== 0) return r;
  }
  return la === lb ? 0 : la < lb ? -1 : 1;
}

/** (rank, number) pairs for the pre, post and dev parts, as packaging's _cmpkey builds them. */
function suffixKey(v: Pep440Version): Array<[number, string]> {
  let pre: [number, string];
  if (!v.pre && v.post === undefined && v.dev !== undefined) pre = [PRE_RANK_DEV_ONLY, '0'];
  else if (!v.pre) pre = [PRE_RANK_RELEASE, '0'];
  else pre = [PRE_RANK[v.pre.label], v.pre.number];
  const post: [number, string] = v.post === undefined ? [0, '0'] : [1, v.post];
  const dev: [number, string] = v.dev === undefined ? [1, '0'] : [0, v.dev];
  return [pre, post, dev];
}

const ALL_DIGITS = /^[0-9]+$/;

function compareLocal(a: string[] | undefined, b: string[] | undefined): number {
  if (a === undefined || b === undefined) return a === b ? 0 : a === undefined ? -1 : 1;
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const x = a[i]!;
    const y = b[i]!;
    const xn = ALL_DIGITS.test(x);
    const yn = ALL_DIGITS.test(y);
    let r: number;
    if (xn && yn) r = compareDigitRuns(x, 0, x.length, y, 0, y.length);
    else if (xn) r = 1;
    else if (yn) r = -1;
    else r = compareStrings(x, y);
    if (r !== 0) return r;
  }
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
}

/** Order two parsed versions. */
export function comparePep440Parsed(a: Pep440Version, b: Pep440Version): number {
  let r = compareDigits(a.epoch, b.epoch) || compareRelease(a.release, b.release);
  if (r !== 0) return r;
  const ka = suffixKey(a);
  const kb = suffixKey(b);
  for (let i = 0; i < ka.length; i++) {
    const [ra, na] = ka[i]!;
    const [rb, nb] = kb[i]!;
    if (ra !== rb) return ra < rb ? -1 : 1;
    r = compareDigits(na, nb);
    if (r !== 0) return r;
  }
  return compareLocal(a.local, b.local);
}

/** Order two Python versions as packaging.version.Version does: -1, 0 or 1; VERSION_INVALID for anything else. */
export function comparePep440(a: string, b: string): number {
  return comparePep440Parsed(parsePep440(a), parsePep440(b));
}

/** The normalised spelling of a version (str(packaging.version.Version(v))), numbers as written minus zeros. */
export function normalizePep440(v: Pep440Version): string {
  const num = (d: string): string => d.replace(/^0+(?=\d)/, '');
  let s = v.epoch !== '0' && !isZero(v.epoch) ? `${num(v.epoch)}!` : '';
  s += v.release.map(num).join('.');
  if (v.pre) s += `${v.pre.label}${num(v.pre.number)}`;
  if (v.post !== undefined) s += `.post${num(v.post)}`;
  if (v.dev !== undefined) s += `.dev${num(v.dev)}`;
  if (v.local) s += `+${v.local.map((p) => (ALL_DIGITS.test(p) ? num(p) : p)).join('.')}`;
  return s;
}
