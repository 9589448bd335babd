/**
 * Semantic versions and version constraints, as skopeo's `images-by-semver` reads them (it uses the Go library
 * Masterminds/semver v3, whose behaviour is reproduced here):
 *
 * - A tag is a version when it looks like `[v]MAJOR[.MINOR[.PATCH]][-PRERELEASE][+BUILD]`; missing parts are 0
 *   (`v1.2` is 1.2.0). Anything else (`latest`, `1.2.3.4`) is not a version and never matches.
 * - A constraint is one or more groups joined by `||` (or); in a group, comparisons are separated by commas or
 *   spaces (and): `>= 1.2.0, < 2 || 3.x`.
 * - Operators: `=` (or none), `!=`, `>`, `<`, `>=` (`=>`), `<=` (`=<`), `~` (`~>`), `^`; hyphen ranges
 *   `1.2 - 1.4.5` (`>= 1.2, <= 1.4.5`); x-ranges `1.2.x`, `1.x`, `*` (a missing part is an x: `1.2` is `1.2.x`).
 * - A prerelease version (`2.0.0-rc.1`) matches only a comparison that itself names a prerelease.
 */
import { WharfError } from '../errors.js';

export interface SemverVersion {
  major: bigint;
  minor: bigint;
  patch: bigint;
  /** Without the leading `-`; '' for a release. */
  prerelease: string;
  /** Without the leading `+`; ignored when comparing. */
  build: string;
  original: string;
}

/** Longer input is not a version (Masterminds' limit). */
const MAX_VERSION_LENGTH = 256;
const MAX_CONSTRAINT_LENGTH = 1024;

const IDENT = '[0-9A-Za-z-]+';
const VERSION_RE = new RegExp(
  `^v?([0-9]+)(?:\\.([0-9]+))?(?:\\.([0-9]+))?(?:-(${IDENT}(?:\\.${IDENT})*))?(?:\\+(${IDENT}(?:\\.${IDENT})*))?$`,
);
const UINT64_MAX = (1n << 64n) - 1n;

/** Parse a version the lenient way (`v1`, `1.2`, `01.2.3` are accepted); undefined when it is not one. */
export function parseSemver(text: string): SemverVersion | undefined {
  if (text.length === 0 || text.length > MAX_VERSION_LENGTH) return undefined;
  const m = VERSION_RE.exec(text);
  if (!m) return undefined;
  const num = (s: string | undefined): bigint | undefined => {
    const n = s === undefined ? 0n : BigInt(s);
    return n > UINT64_MAX ? undefined : n;
  };
  const major = num(m[1]);
  const minor = num(m[2]);
  const patch = num(m[3]);
  if (major === undefined || minor === undefined || patch === undefined) return undefined;
  const prerelease = m[4] ?? '';
  // "Numeric identifiers MUST NOT include leading zeroes" (semver 2.0.0 §9), as Masterminds checks.
  if (prerelease && prerelease.split('.').some((p) => /^0[0-9]+$/.test(p))) return undefined;
  return { major, minor, patch, prerelease, build: m[5] ?? '', original: text };
}

/** -1, 0 or 1, by semver precedence (build metadata ignored). */
export function compareSemver(a: SemverVersion, b: SemverVersion): number {
  for (const k of ['major', 'minor', 'patch'] as const) {
    if (a[k] !== b[k]) return a[k] < b[k] ? -1 : 1;
  }
  if (a.prerelease === b.prerelease) return 0;
  if (a.prerelease === '') return 1;
  if (b.prerelease === '') return -1;
  const pa = a.prerelease.split('.');
  const pb = b.prerelease.split('.');
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i];
    const y = pb[i];
    if (x === undefined) return -1;
    if (y === undefined) return 1;
    if (x === y) continue;
    const xn = /^[0-9]+$/.test(x);
    const yn = /^[0-9]+$/.test(y);
    if (xn && yn) return BigInt(x) < BigInt(y) ? -1 : 1;
    if (xn) return -1;
    if (yn) return 1;
    return x < y ? -1 : 1;
  }
  return 0;
}

type Op = '' | '=' | '!=' | '>' | '<' | '>=' | '<=' | '~' | '^';

interface Comparison {
  op: Op;
  /** The version with x parts as 0. */
  version: SemverVersion;
  /** Which parts were x (or missing): major makes all three dirty. */
  dirty: boolean;
  minorDirty: boolean;
  patchDirty: boolean;
  text: string;
}

/** A parsed constraint: groups joined by `||`, each a list of comparisons that must all hold. */
export class SemverConstraint {
  constructor(
    readonly text: string,
    private readonly groups: Comparison[][],
  ) {}

  /** Whether the version satisfies the constraint. */
  test(version: SemverVersion): boolean {
    return this.groups.some((group) => group.every((c) => check(c, version)));
  }

  /** Whether a tag is a version that satisfies the constraint. */
  matchesTag(tag: string): boolean {
    const v = parseSemver(tag);
    return v !== undefined && this.test(v);
  }

  toString(): string {
    return this.text;
  }
}

/** Parse a constraint such as `>= 1.2.0, < 2 || ~3.1`; throws USAGE naming what is wrong. */
export function parseSemverConstraint(text: string): SemverConstraint {
  if (typeof text !== 'string') throw invalidConstraint(String(text), 'it is not a string');
  if (text.length > MAX_CONSTRAINT_LENGTH) throw invalidConstraint(text, `it is longer than ${MAX_CONSTRAINT_LENGTH} characters`);
  const groups = text.split('||').map((g) => parseGroup(g, text));
  return new SemverConstraint(text, groups);
}

/** Aliases Masterminds accepts for some operators. */
const ALIASES: Record<string, Op> = { '=>': '>=', '=<': '<=', '~>': '~' };
const PART = '(?:[0-9]+|[xX*])';
const CONSTRAINT_VERSION = `v?${PART}(?:\\.${PART}){0,2}(?:-${IDENT}(?:\\.${IDENT})*)?(?:\\+${IDENT}(?:\\.${IDENT})*)?`;
const HYPHEN_RANGE = new RegExp(`(${CONSTRAINT_VERSION})\\s+-\\s+(${CONSTRAINT_VERSION})`, 'g');
/** One comparison: an optional operator, then a version that ends at a space, a comma or the end. */
const ITEM = new RegExp(`^(!=|>=|=>|<=|=<|~>|>|<|=|~|\\^)?\\s*(${CONSTRAINT_VERSION})(?=[\\s,]|$)`);
/** Between comparisons: a comma (spaces around it allowed) or spaces alone. */
const SEPARATOR = /^(?:\s*,\s*|\s+)/;

function parseGroup(group: string, whole: string): Comparison[] {
  // `1.2 - 1.4.5` is `>= 1.2, <= 1.4.5`.
  const s = group.replace(HYPHEN_RANGE, '>= $1, <= $2').trim();
  if (s === '') throw invalidConstraint(whole, group.trim() === '' && whole.includes('||') ? 'a group between "||" is empty' : 'it is empty');
  const out: Comparison[] = [];
  let i = 0;
  while (i < s.length) {
    if (out.length > 0) {
      const sep = SEPARATOR.exec(s.slice(i));
      if (!sep) throw invalidConstraint(whole, `expected "," or a space before ${JSON.stringify(s.slice(i, i + 20))}`);
      i += sep[0].length;
      if (i >= s.length) throw invalidConstraint(whole, 'it ends with a comma');
    }
    const m = ITEM.exec(s.slice(i));
    if (!m) throw invalidConstraint(whole, `${JSON.stringify(s.slice(i, i + 20))} is not a comparison such as ">= 1.2.0"`);
    const op = (m[1] === undefined ? '' : (ALIASES[m[1]] ?? m[1])) as Op;
    out.push(comparison(op, m[2]!, whole));
    i += m[0].length;
  }
  return out;
}

function comparison(op: Op, raw: string, whole: string): Comparison {
  const body = raw.startsWith('v') ? raw.slice(1) : raw;
  const dash = body.search(/[-+]/);
  const core = dash < 0 ? body : body.slice(0, dash);
  const tail = dash < 0 ? '' : body.slice(dash);
  const pre = tail.startsWith('-') ? tail.slice(1).split('+')[0]! : '';
  const parts = core.split('.');
  const isX = (p: string | undefined): boolean => p === undefined || p === 'x' || p === 'X' || p === '*';
  let dirty = false;
  let minorDirty = false;
  let patchDirty = false;
  let versionText: string;
  if (isX(parts[0])) {
    dirty = true;
    versionText = `0.0.0${pre ? `-${pre}` : ''}`;
  } else if (isX(parts[1])) {
    dirty = minorDirty = true;
    versionText = `${parts[0]}.0.0${pre ? `-${pre}` : ''}`;
  } else if (isX(parts[2])) {
    dirty = patchDirty = true;
    versionText = `${parts[0]}.${parts[1]}.0${pre ? `-${pre}` : ''}`;
  } else {
    versionText = body;
  }
  // After an x, a later part must be an x too (`1.x.3` means nothing).
  if (parts.some((p, idx) => !isX(p) && parts.slice(0, idx).some((q) => isX(q)))) {
    throw invalidConstraint(whole, `"${raw}" has a number after an x`);
  }
  const version = parseSemver(versionText);
  if (!version) throw invalidConstraint(whole, `"${raw}" is not a version`);
  return { op, version, dirty, minorDirty, patchDirty, text: `${op}${raw}` };
}

function invalidConstraint(text: string, why: string): WharfError {
  return new WharfError('USAGE', `invalid semver constraint ${JSON.stringify(text.length > 120 ? `${text.slice(0, 117)}...` : text)}: ${why}`, {
    hint: 'write comparisons such as ">= 1.2.0, < 2", "~1.4", "^2", "1.x" or "1.2 - 1.4", joined by "||" for or',
  });
}

// ---------------------------------------------------------------------------------------------------------
// The comparisons, as Masterminds/semver v3 defines them.

function check(c: Comparison, v: SemverVersion): boolean {
  // A prerelease version is only considered by a comparison that names a prerelease itself.
  if (v.prerelease !== '' && c.version.prerelease === '') return false;
  const con = c.version;
  const cmp = compareSemver(v, con);
  switch (c.op) {
    case '':
    case '=':
      return c.dirty ? tilde(c, v) : cmp === 0;
    case '!=':
      return notEqual(c, v);
    case '>':
      if (!c.dirty) return cmp > 0;
      if (v.major !== con.major) return v.major > con.major;
      if (c.minorDirty) return false; // >1 is 2.0.0 and up
      if (c.patchDirty) return v.minor > con.minor; // >1.2 is 1.3.0 and up
      return cmp > 0;
    case '<':
      return cmp < 0;
    case '>=':
      return cmp >= 0;
    case '<=':
      if (!c.dirty) return cmp <= 0;
      if (v.major > con.major) return false;
      if (v.major === con.major && v.minor > con.minor && !c.minorDirty) return false;
      return true;
    case '~':
      return tilde(c, v);
    case '^':
      return caret(c, v);
  }
}

function notEqual(c: Comparison, v: SemverVersion): boolean {
  const con = c.version;
  if (c.dirty) {
    if (con.major !== v.major) return true;
    if (c.minorDirty) return false;
    if (con.minor !== v.minor) return true;
    if (c.patchDirty) {
      if (v.prerelease !== '' || con.prerelease !== '') return compareSemver({ ...v, major: 0n, minor: 0n, patch: 0n }, { ...con, major: 0n, minor: 0n, patch: 0n }) !== 0;
      return false;
    }
  }
  return compareSemver(v, con) !== 0;
}

/** ~1.2.3 is >=1.2.3 <1.3.0; ~1.2 and ~1.2.x the same from 1.2.0; ~1 and ~1.x are >=1.0.0 <2.0.0; ~* any. */
function tilde(c: Comparison, v: SemverVersion): boolean {
  const con = c.version;
  if (compareSemver(v, con) < 0) return false;
  if (con.major === 0n && con.minor === 0n && con.patch === 0n && !c.minorDirty && !c.patchDirty) return true;
  if (v.major !== con.major) return false;
  if (v.minor !== con.minor && !c.minorDirty) return false;
  return true;
}

/** ^1.2.3 is >=1.2.3 <2.0.0; ^0.2.3 is >=0.2.3 <0.3.0; ^0.0.3 is =0.0.3; ^0 is <1.0.0; ^0.0 is <0.1.0. */
function caret(c: Comparison, v: SemverVersion): boolean {
  const con = c.version;
  if (compareSemver(v, con) < 0) return false;
  if (con.major > 0n || c.minorDirty) return v.major === con.major;
  if (v.major > 0n) return false;
  if (con.minor > 0n || c.patchDirty) return v.minor === con.minor;
  if (v.minor > 0n) return false;
  return v.patch === con.patch;
}
