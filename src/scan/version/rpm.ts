/**
 * RPM version ordering, as rpm itself orders versions (rpmio/rpmvercmp.c rpmvercmp; rpmio/rpmver.c parseEVR and
 * rpmverCmp, rpm 4.17+):
 *
 * - rpmvercmp splits a version into runs of ASCII digits and runs of ASCII letters; everything else (`.`, `_`, `+`,
 *   non-ASCII, …) only separates runs, so 2.0 = 2_0 and 1.0 = 1.0. (rpm's own tests record that two versions that
 *   differ only in non-ASCII characters compare equal: 1.1.α = 1.1.β).
 * - `~` sorts before everything, even the end: 1.0~rc1 < 1.0. `^` sorts after the end but before any further
 *   run: 1.0 < 1.0^git1 < 1.0.1.
 * - Digit runs compare as numbers (leading zeros dropped, then the longer one wins, then digit by digit); letter
 *   runs compare as strings; a digit run is greater than a letter run. When all runs so far are equal, the
 *   version with something left over is greater.
 * - An EVR `[epoch:]version[-release]` compares epoch (missing = 0, compared as a version so 00 = 0), then
 *   version, then release, where a missing release is lower than any release (rpmverCmp).
 *
 * rpm accepts anything but the empty string; so do we, except that we also refuse a NUL character, where C
 * would silently stop reading.
 */
import { compareDigitRuns, invalidVersion } from './common.js';

const HINT = 'an RPM version is [epoch:]version[-release], e.g. 1:3.0.7-27.el9';

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}
function isAlpha(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
}
function isAlnum(c: number): boolean {
  return isDigit(c) || isAlpha(c);
}

const TILDE = 0x7e;
const CARET = 0x5e;

/** rpm's rpmvercmp over two version (or release) strings: -1, 0 or 1. Linear, no recursion. */
export function rpmvercmp(a: string, b: string): number {
  if (a === b) return 0;
  // charCodeAt past the end is NaN, which no test below matches: it plays the part of C's NUL.
  const la = a.length;
  const lb = b.length;
  let i = 0;
  let j = 0;
  while (i < la || j < lb) {
    while (i < la && !isAlnum(a.charCodeAt(i)) && a.charCodeAt(i) !== TILDE && a.charCodeAt(i) !== CARET) i++;
    while (j < lb && !isAlnum(b.charCodeAt(j)) && b.charCodeAt(j) !== TILDE && b.charCodeAt(j) !== CARET) j++;

    // The tilde sorts before everything else, the end included.
    const ca = a.charCodeAt(i);
    const cb = b.charCodeAt(j);
    if (ca === TILDE || cb === TILDE) {
      if (ca !== TILDE) return 1;
      if (cb !== TILDE) return -1;
      i++;
      j++;
      continue;
    }
    // The caret likewise, except that the end sorts before it.
    if (ca === CARET || cb === CARET) {
      if (i >= la) return -1;
      if (j >= lb) return 1;
      if (ca !== CARET) return 1;
      if (cb !== CARET) return -1;
      i++;
      j++;
      continue;
    }
    if (i >= la || j >= lb) break;

    // One run of digits or of letters on each side; the kind is set by the first side.
    const isNum = isDigit(ca);
    const pred = isNum ? isDigit : isAlpha;
    let ei = i;
    let ej = j;
    while (ei < la && pred(a.charCodeAt(ei))) ei++;
    while (ej < lb && pred(b.charCodeAt(ej))) ej++;
    // The other side has a run of the other kind: a number is newer than letters.
    if (ej === j) return isNum ? 1 : -1;
    if (isNum) {
      const r = compareDigitRuns(a, i, ei, b, j, ej);
      if (r !== 0) return r;
    } else {
      const sa = a.slice(i, ei);
      const sb = b.slice(j, ej);
      if (sa !== sb) return sa < sb ? -1 : 1;
    }
    i = ei;
    j = ej;
  }
  // All runs compared equal (the separators may have differed): whichever has something left is newer.
  if (i >= la && j >= lb) return 0;
  return i >= la ? -1 : 1;
}

export interface RpmEvr {
  /** Absent when the EVR has no `epoch:` (it then compares as 0); "0" for an empty one (":1.0"). */
  epoch?: string;
  version: string;
  /** Absent when the EVR has no `-release`. */
  release?: string;
}

/** Split `[epoch:]version[-release]` as rpm's parseEVR does; VERSION_INVALID for the empty string or a NUL. */
export function parseRpmEvr(evr: string): RpmEvr {
  if (typeof evr !== 'string') throw invalidVersion('RPM', String(evr), 'not a string', HINT);
  if (evr === '') throw invalidVersion('RPM', evr, 'version string is empty', HINT);
  if (evr.includes('\0')) throw invalidVersion('RPM', evr, 'contains a NUL character', HINT);
  let s = 0;
  while (s < evr.length && isDigit(evr.charCodeAt(s))) s++;
  // The release starts after the last '-' that follows the epoch's digits.
  const dash = evr.lastIndexOf('-');
  const se = dash >= s ? dash : -1;
  const out: RpmEvr = { version: '' };
  let versionStart = 0;
  if (evr.charCodeAt(s) === 0x3a /* : */) {
    out.epoch = s === 0 ? '0' : evr.slice(0, s);
    versionStart = s + 1;
  }
  if (se !== -1) {
    out.version = evr.slice(versionStart, se);
    out.release = evr.slice(se + 1);
  } else {
    out.version = evr.slice(versionStart);
  }
  return out;
}

function compareValues(a: string | undefined, b: string | undefined): number {
  if (a === undefined && b === undefined) return 0;
  if (b === undefined) return 1;
  if (a === undefined) return -1;
  return rpmvercmp(a, b);
}

/** Order two parsed EVRs as rpmverCmp does. */
export function compareRpmEvr(a: RpmEvr, b: RpmEvr): number {
  return (
    compareValues(a.epoch ?? '0', b.epoch ?? '0') ||
    compareValues(a.version, b.version) ||
    compareValues(a.release, b.release)
  );
}

/** Order two RPM EVR strings (`[epoch:]version[-release]`) as rpm does: -1, 0 or 1. */
export function compareRpm(a: string, b: string): number {
  return compareRpmEvr(parseRpmEvr(a), parseRpmEvr(b));
}
