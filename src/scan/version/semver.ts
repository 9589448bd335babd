/**
 * npm's version ordering: Semantic Versioning 2.0.0 as the `semver` package parses and compares it
 * (`semver.compare`, strict mode, which is what npm and OSV's npm ranges use).
 *
 * - MAJOR.MINOR.PATCH, each 0 or a number without a leading zero, at most Number.MAX_SAFE_INTEGER; an optional
 *   leading `v` and surrounding white space are accepted, as `semver` does; at most 256 characters.
 * - A prerelease (`-alpha.1`) is lower than the release; its dot-separated identifiers compare in turn, numeric
 *   ones as numbers and lower than alphanumeric ones, which compare in ASCII order; when all are equal, fewer
 *   identifiers is lower. Numeric identifiers may not have leading zeros.
 * - Build metadata (`+build.5`) is ignored: 1.0.0+a = 1.0.0+b.
 *
 * Everything else is VERSION_INVALID. Numeric prerelease identifiers are compared exactly at any length, where
 * `semver` compares those above 2^53 as lossy floats.
 */
import { compareDigits, compareStrings, invalidVersion } from './common.js';

export interface SemVer {
  major: number;
  minor: number;
  patch: number;
  /** Dot-separated prerelease identifiers; empty for a release. */
  prerelease: string[];
  /** Dot-separated build identifiers (ignored by the ordering). */
  build: string[];
}

/** `semver`'s MAX_LENGTH. */
const MAX_LENGTH = 256;
const HINT = 'an npm version is MAJOR.MINOR.PATCH[-prerelease][+build], e.g. 1.2.3-beta.1 (semver.org)';

const NUM = '0|[1-9]\\d*';
const PRE_ID = `(?:${NUM}|\\d*[a-zA-Z-][a-zA-Z0-9-]*)`;
const BUILD_ID = '[0-9A-Za-z-]+';
const FULL = new RegExp(
  `^v?(${NUM})\\.(${NUM})\\.(${NUM})(?:-(${PRE_ID}(?:\\.${PRE_ID})*))?(?:\\+(${BUILD_ID}(?:\\.${BUILD_ID})*))?$`,
);

/** Parse a version as `new SemVer(v)` does; VERSION_INVALID where it throws. */
export function parseSemver(version: string): SemVer {
  if (typeof version !== 'string') throw invalidVersion('npm', String(version), 'not a string', HINT);
  if (version.length > MAX_LENGTH) {
    throw invalidVersion('npm', version, `longer than ${MAX_LENGTH} characters`, HINT);
  }
  const m = FULL.exec(version.trim());
  if (!m) throw invalidVersion('npm', version, 'not a semantic version', HINT);
  const part = (s: string, what: string): number => {
    const n = Number(s);
    if (!Number.isSafeInteger(n)) throw invalidVersion('npm', version, `${what} version is too big`, HINT);
    return n;
  };
  return {
    major: part(m[1]!, 'major'),
    minor: part(m[2]!, 'minor'),
    patch: part(m[3]!, 'patch'),
    prerelease: m[4] === undefined ? [] : m[4].split('.'),
    build: m[5] === undefined ? [] : m[5].split('.'),
  };
}

const NUMERIC = /^[0-9]+$/;

function compareIdentifiers(a: string, b: string): number {
  const an = NUMERIC.test(a);
  const bn = NUMERIC.test(b);
  if (an && bn) return compareDigits(a, b);
  if (an) return -1;
  if (bn) return 1;
  return compareStrings(a, b);
}

/** Order two parsed versions (build metadata ignored). */
export function compareSemverParsed(a: SemVer, b: SemVer): number {
  for (const k of ['major', 'minor', 'patch'] as const) {
    if (a[k] !== b[k]) return a[k] < b[k] ? -1 : 1;
  }
  const pa = a.prerelease;
  const pb = b.prerelease;
  if (pa.length === 0 || pb.length === 0) {
    return pa.length === pb.length ? 0 : pa.length === 0 ? 1 : -1;
  }
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    if (i >= pa.length) return -1;
    if (i >= pb.length) return 1;
    const r = compareIdentifiers(pa[i]!, pb[i]!);
    if (r !== 0) return r;
  }
  return 0;
}

/** Order two npm versions as `semver.compare(a, b)` does: -1, 0 or 1; VERSION_INVALID for anything else. */
export function compareSemver(a: string, b: string): number {
  return compareSemverParsed(parseSemver(a), parseSemver(b));
}
