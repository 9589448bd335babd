/**
 * Alpine (apk-tools) version ordering, as apk-tools' src/version.c orders versions today (its token_first /
 * token_next / token_cmp tokenizer, with the `~<hash>` token of apk-tools 3):
 *
 *   digit{.digit}...{letter}{_suffix{digits}}...{~hexhash}{-r<digits>}
 *
 * - Tokens are compared in turn while both versions have a token of the same kind. The first number compares as a
 *   number; a later `.`-number also compares as a number unless either side starts with a `0`, in which case the
 *   two digit strings compare as strings (so 1.09 < 1.9 and 8.2.0 < 8.2.001, the Gentoo rule).
 * - One lower-case letter may follow the numbers (1.0a < 1.0b). Suffixes order
 *   _alpha < _beta < _pre < _rc < (no suffix) < _cvs < _svn < _git < _hg < _p, each with an optional number.
 * - `~hash` (lower-case hex) compares as a string; `-rN` is the package revision, compared as a number.
 * - When one version runs out of tokens first, or its next token is of another kind: a pre-release suffix
 *   (alpha/beta/pre/rc) makes its side lower; otherwise the side whose token comes later in the grammar is lower
 *   (so 1.0 < 1.0.1 < 1.0.1-r1, 1.0_rc1 < 1.0, 1.0 < 1.0_p1).
 *
 * apk itself also orders strings its grammar rejects (its test data has 1.0 < 1.0bc, "invalid. do string sort"):
 * two versions that turn invalid at the same token compare equal, which for a scanner is a silent guess. So by
 * default compareApk refuses a version that apk_version_validate() rejects with VERSION_INVALID; pass
 * `{ lenient: true }` to get apk's exact answer for any input instead.
 *
 * Numbers are compared exactly at any length (apk reads them into a 64-bit integer that wraps past 2^64; no
 * real version comes near that). Older apk-tools (the get_token tokenizer) differed in corners: it weighed a run
 * of leading zeros as a negative number (8.2.0 above 8.2.001, where today's apk and this code put it below), had
 * no `~hash`, and accepted a digit after the letter (1.0a1); apk's test data pins today's behaviour.
 */
import { compareDigitRuns, invalidVersion } from './common.js';

// Token kinds, in grammar order: the order is the semantics (see the tail of compareApk).
const INITIAL_DIGIT = 0;
const DIGIT = 1;
const LETTER = 2;
const SUFFIX = 3;
const SUFFIX_NO = 4;
const COMMIT_HASH = 5;
const REVISION_NO = 6;
const END = 7;
const INVALID = 8;

// Suffix ranks; NONE is the pivot between pre-release and post-release suffixes.
const SUFFIX_INVALID = 0;
const SUFFIX_NONE = 5;
const SUFFIXES = new Map<string, number>([
  ['alpha', 1],
  ['beta', 2],
  ['pre', 3],
  ['rc', 4],
  ['cvs', 6],
  ['svn', 7],
  ['git', 8],
  ['hg', 9],
  ['p', 10],
]);

const HINT = 'an Alpine version is digits{.digits}[letter]{_suffix[N]}[~hash][-rN], e.g. 1.2.3_rc1-r0 (apk version -c)';

interface Token {
  kind: number;
  suffix: number;
  /** The token's text is s[start, end). */
  start: number;
  end: number;
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}
function isLower(c: number): boolean {
  return c >= 0x61 && c <= 0x7a;
}
function isHex(c: number): boolean {
  return isDigit(c) || (c >= 0x61 && c <= 0x66);
}

/** A cursor over one version string. */
class Tokenizer {
  pos = 0;
  readonly t: Token = { kind: INITIAL_DIGIT, suffix: SUFFIX_INVALID, start: 0, end: 0 };
  constructor(private readonly s: string) {
    this.digits(INITIAL_DIGIT);
  }

  private span(pred: (c: number) => boolean): void {
    this.t.start = this.pos;
    while (this.pos < this.s.length && pred(this.s.charCodeAt(this.pos))) this.pos++;
    this.t.end = this.pos;
  }

  private digits(kind: number): void {
    this.span(isDigit);
    this.t.kind = this.t.end > this.t.start ? kind : INVALID;
  }

  /** Advance to the next token, checking that it may follow the current one (apk's token_next). */
  next(): void {
    const t = this.t;
    const s = this.s;
    if (this.pos >= s.length) {
      t.kind = END;
      return;
    }
    const c = s.charCodeAt(this.pos);
    if (isLower(c)) {
      if (t.kind > DIGIT) return this.invalid();
      t.start = this.pos;
      t.end = ++this.pos;
      t.kind = LETTER;
    } else if (c === 0x2e /* . */ || isDigit(c)) {
      if (c === 0x2e) {
        if (t.kind > DIGIT) return this.invalid();
        this.pos++;
      }
      if (t.kind === INITIAL_DIGIT || t.kind === DIGIT) this.digits(DIGIT);
      else if (t.kind === SUFFIX) this.digits(SUFFIX_NO);
      else this.invalid();
    } else if (c === 0x5f /* _ */) {
      if (t.kind > SUFFIX_NO) return this.invalid();
      this.pos++;
      this.span(isLower);
      t.suffix = SUFFIXES.get(s.slice(t.start, t.end)) ?? SUFFIX_INVALID;
      if (t.suffix === SUFFIX_INVALID) return this.invalid();
      t.kind = SUFFIX;
    } else if (c === 0x7e /* ~ */) {
      if (t.kind >= COMMIT_HASH) return this.invalid();
      this.pos++;
      this.span(isHex);
      if (t.end === t.start) return this.invalid();
      t.kind = COMMIT_HASH;
    } else if (c === 0x2d /* - */) {
      if (t.kind >= REVISION_NO) return this.invalid();
      if (s.charCodeAt(this.pos + 1) !== 0x72 /* r */) return this.invalid();
      this.pos += 2;
      this.digits(REVISION_NO);
    } else {
      this.invalid();
    }
  }

  private invalid(): void {
    this.t.kind = INVALID;
  }
}

/** Byte-string order of two slices: common prefix first, then the shorter one (apk_blob_sort). */
function blobSort(a: string, as: number, ae: number, b: string, bs: number, be: number): number {
  const n = Math.min(ae - as, be - bs);
  for (let i = 0; i < n; i++) {
    const d = a.charCodeAt(as + i) - b.charCodeAt(bs + i);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  const la = ae - as;
  const lb = be - bs;
  return la === lb ? 0 : la < lb ? -1 : 1;
}

/** Compare two tokens of the same kind (apk's token_cmp). */
function tokenCmp(a: string, ta: Token, b: string, tb: Token): number {
  switch (ta.kind) {
    case DIGIT:
      // A leading zero on either side: compare the digits as strings, as the Gentoo spec does.
      if (a.charCodeAt(ta.start) === 0x30 || b.charCodeAt(tb.start) === 0x30) {
        return blobSort(a, ta.start, ta.end, b, tb.start, tb.end);
      }
      return compareDigitRuns(a, ta.start, ta.end, b, tb.start, tb.end);
    case INITIAL_DIGIT:
    case SUFFIX_NO:
    case REVISION_NO:
      return compareDigitRuns(a, ta.start, ta.end, b, tb.start, tb.end);
    case LETTER: {
      const d = a.charCodeAt(ta.start) - b.charCodeAt(tb.start);
      return d < 0 ? -1 : d > 0 ? 1 : 0;
    }
    case SUFFIX:
      return ta.suffix < tb.suffix ? -1 : ta.suffix > tb.suffix ? 1 : 0;
    default:
      return blobSort(a, ta.start, ta.end, b, tb.start, tb.end);
  }
}

/** True if apk would accept `version` (apk_version_validate). */
export function isValidApkVersion(version: string): boolean {
  if (typeof version !== 'string') return false;
  const tz = new Tokenizer(version);
  while (tz.t.kind < END) tz.next();
  return tz.t.kind === END;
}

/** Throw VERSION_INVALID unless apk would accept `version`; return it. */
export function parseApkVersion(version: string): string {
  if (isValidApkVersion(version)) return version;
  let why = 'not a valid apk version';
  if (typeof version !== 'string') why = 'not a string';
  else if (version === '') why = 'version string is empty';
  else if (!isDigit(version.charCodeAt(0))) why = 'does not start with a digit';
  throw invalidVersion('Alpine', version, why, HINT);
}

export interface ApkCompareOptions {
  /** Order versions apk's grammar rejects the way apk does (possibly "equal") instead of refusing them. */
  lenient?: boolean;
}

/** Order two Alpine versions as `apk version -t` does: -1, 0 or 1. */
export function compareApk(a: string, b: string, options: ApkCompareOptions = {}): number {
  if (!options.lenient) {
    parseApkVersion(a);
    parseApkVersion(b);
  }
  if (a === b) return 0;
  const x = new Tokenizer(a);
  const y = new Tokenizer(b);
  const ta = x.t;
  const tb = y.t;
  while (ta.kind === tb.kind && ta.kind < END) {
    const r = tokenCmp(a, ta, b, tb);
    if (r !== 0) return r;
    x.next();
    y.next();
  }
  // Both ended, or both turned invalid at the same place.
  if (ta.kind === tb.kind) return 0;
  // The prefixes are equal: the one that goes on is greater, unless it goes on with a pre-release suffix.
  if (ta.kind === SUFFIX && ta.suffix < SUFFIX_NONE) return -1;
  if (tb.kind === SUFFIX && tb.suffix < SUFFIX_NONE) return 1;
  if (ta.kind > tb.kind) return -1;
  if (tb.kind > ta.kind) return 1;
  return 0;
}
