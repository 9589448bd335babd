/**
 * Debian version ordering, as dpkg itself orders versions (deb-version(5); lib/dpkg/parsehelp.c parseversion and
 * lib/dpkg/version.c verrevcmp, dpkg 1.21/1.22): `[epoch:]upstream[-revision]`.
 *
 * - The epoch is a decimal number (strtol rules: an optional sign, "-0" is 0, nothing above INT_MAX); without
 *   one it is 0. The upstream version runs from after the first ':' to the last '-'; the revision is what follows
 *   that '-'. No '-' means no revision, which compares exactly like the revision "0" (and like "").
 * - Upstream and revision are compared by verrevcmp: alternately a run of non-digits, compared character by
 *   character with `~` before everything (even the end of the string), then the end, then letters (ASCII order),
 *   then everything else (by code + 256); and a run of digits, compared as a number (leading zeros ignored).
 *
 * Where dpkg is lenient we are too: a version it parses with only a warning (not starting with a digit, a
 * character outside its alphabet, including control and non-ASCII characters) still gets dpkg's order, and the
 * warning is kept on the parsed version. What dpkg refuses as an error (empty, embedded blanks, a bad or huge
 * epoch, an empty upstream version or revision) is a VERSION_INVALID error here. Two things dpkg never sees are
 * refused too: a NUL character (C would silently stop reading there) and a lone UTF-16 surrogate (no UTF-8 form).
 *
 * Non-ASCII characters are compared by their UTF-8 bytes with the weight dpkg gives them where `char` is signed
 * (amd64, i386): a byte of 0x80-0xFF weighs the byte value, after every letter and before all ASCII punctuation.
 * (On unsigned-char platforms such as arm64, dpkg weighs it byte + 256, after ASCII punctuation: dpkg itself is not
 * consistent across architectures there, and such versions only ever come with dpkg's own warning.)
 */
import { hasLoneSurrogate, invalidVersion, sign } from './common.js';

export interface DpkgVersion {
  /** 0 when the version has none. */
  epoch: number;
  upstream: string;
  /** '' when the version has none (it then compares like "0"). */
  revision: string;
  /** The warning dpkg prints for this version while still accepting it, if any. */
  warning?: string;
}

const INT_MAX = 2147483647;
const HINT = 'a Debian version is [epoch:]upstream[-revision], e.g. 1:2.36-9+deb12u4 (deb-version(5))';

function isBlank(c: number): boolean {
  return c === 0x20 || c === 0x09;
}
function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}
function isAlpha(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
}
/** C's isspace in the C locale, which strtol skips before the number. */
function isSpace(c: number): boolean {
  return c === 0x20 || (c >= 0x09 && c <= 0x0d);
}

/** Parse a Debian version as dpkg's parseversion does, throwing VERSION_INVALID where dpkg reports an error. */
export function parseDpkgVersion(version: string): DpkgVersion {
  const fail = (why: string): never => {
    throw invalidVersion('Debian', version, why, HINT);
  };
  if (typeof version !== 'string') fail('not a string');
  if (version.includes('\0')) fail('contains a NUL character');
  if (hasLoneSurrogate(version)) fail('contains a lone UTF-16 surrogate');

  let start = 0;
  while (start < version.length && isBlank(version.charCodeAt(start))) start++;
  if (start === version.length) fail('version string is empty');
  let end = start;
  while (end < version.length && !isBlank(version.charCodeAt(end))) end++;
  for (let i = end; i < version.length; i++) {
    if (!isBlank(version.charCodeAt(i))) fail('version string has embedded spaces');
  }

  let epoch = 0;
  let rest = start;
  const colon = version.indexOf(':', start);
  if (colon !== -1 && colon < end) {
    // strtol: leading white space, an optional sign, then at least one digit, all the way up to the colon.
    let i = start;
    while (i < colon && isSpace(version.charCodeAt(i))) i++;
    let negative = false;
    if (i < colon && (version[i] === '+' || version[i] === '-')) {
      negative = version[i] === '-';
      i++;
    }
    const digitsStart = i;
    while (i < version.length && isDigit(version.charCodeAt(i))) i++;
    if (i === digitsStart) fail('epoch in version is empty');
    if (i !== colon) fail('epoch in version is not number');
    let value = 0;
    for (let j = digitsStart; j < colon; j++) {
      value = value * 10 + (version.charCodeAt(j) - 0x30);
      if (value > INT_MAX) fail(negative ? 'epoch in version is negative' : 'epoch in version is too big');
    }
    if (negative && value !== 0) fail('epoch in version is negative');
    if (colon + 1 >= end) fail(colon + 1 === version.length ? 'nothing after colon in version number' : 'version number is empty');
    epoch = value;
    rest = colon + 1;
  }

  const body = version.slice(rest, end);
  const hyphen = body.lastIndexOf('-');
  let upstream = body;
  let revision = '';
  if (hyphen !== -1) {
    upstream = body.slice(0, hyphen);
    revision = body.slice(hyphen + 1);
    if (revision === '') fail('revision number is empty');
  }
  if (upstream === '') fail('version number is empty');

  const parsed: DpkgVersion = { epoch, upstream, revision };
  if (!isDigit(upstream.charCodeAt(0))) parsed.warning = 'version number does not start with digit';
  else if (!/^[0-9A-Za-z.+~:-]*$/.test(upstream)) parsed.warning = 'invalid character in version number';
  else if (!/^[0-9A-Za-z.+~]*$/.test(revision)) parsed.warning = 'invalid character in revision number';
  return parsed;
}

/** The weight verrevcmp gives a byte of a non-digit run (0 is the end of the string). */
function order(c: number): number {
  if (isDigit(c)) return 0;
  if (isAlpha(c)) return c;
  if (c === 0x7e) return -1; // '~'
  if (c === 0) return 0;
  // A signed char holds c - 256 for a byte of 0x80 and above; dpkg then adds 256.
  return c >= 0x80 ? c : c + 256;
}

function bytesOf(s: string): Uint8Array {
  return /^[\x01-\x7f]*$/.test(s) ? Buffer.from(s, 'latin1') : Buffer.from(s, 'utf8');
}

/** dpkg's verrevcmp over two upstream versions or two revisions: -1, 0 or 1. Linear, no recursion. */
export function verrevcmp(a: string, b: string): number {
  if (a === b) return 0;
  const x = bytesOf(a);
  const y = bytesOf(b);
  const at = (buf: Uint8Array, i: number): number => (i < buf.length ? buf[i]! : 0);
  let i = 0;
  let j = 0;
  while (i < x.length || j < y.length) {
    let firstDiff = 0;
    while ((i < x.length && !isDigit(at(x, i))) || (j < y.length && !isDigit(at(y, j)))) {
      const ac = order(at(x, i));
      const bc = order(at(y, j));
      if (ac !== bc) return sign(ac - bc);
      i++;
      j++;
    }
    while (at(x, i) === 0x30) i++;
    while (at(y, j) === 0x30) j++;
    while (isDigit(at(x, i)) && isDigit(at(y, j))) {
      if (firstDiff === 0) firstDiff = at(x, i) - at(y, j);
      i++;
      j++;
    }
    if (isDigit(at(x, i))) return 1;
    if (isDigit(at(y, j))) return -1;
    if (firstDiff !== 0) return sign(firstDiff);
  }
  return 0;
}

/** Order two parsed Debian versions: epoch, then upstream, then revision. */
export function compareDpkgVersions(a: DpkgVersion, b: DpkgVersion): number {
  if (a.epoch !== b.epoch) return a.epoch < b.epoch ? -1 : 1;
  return verrevcmp(a.upstream, b.upstream) || verrevcmp(a.revision, b.revision);
}

/** Order two Debian version strings as `dpkg --compare-versions` does: -1, 0 or 1; VERSION_INVALID for garbage. */
export function compareDpkg(a: string, b: string): number {
  return compareDpkgVersions(parseDpkgVersion(a), parseDpkgVersion(b));
}

/** The version written back in dpkg's own form (epoch shown only when needed), for messages and reports. */
export function formatDpkgVersion(v: DpkgVersion): string {
  const needsEpoch = v.epoch !== 0 || v.upstream.includes(':') || v.revision.includes(':');
  return `${needsEpoch ? `${v.epoch}:` : ''}${v.upstream}${v.revision ? `-${v.revision}` : ''}`;
}
