/**
 * Shapes the parsers accept for names and versions. Package databases in an image are untrusted input: a value
 * that no package manager would write (control characters, spaces, shell syntax, kilobytes long) is refused
 * with a warning rather than passed on to matchers, reports and terminals.
 */

/** Longest name or version accepted; real ones are well under 100 characters. */
export const MAX_FIELD = 256;

/**
 * A version as dpkg, apk, rpm, npm (semver) and PyPI (PEP 440) write them: starts with an alphanumeric, then
 * alphanumerics and `.+~:_!-` only.
 */
export function isPlausibleVersion(v: string): boolean {
  return v.length > 0 && v.length <= MAX_FIELD && /^[A-Za-z0-9][A-Za-z0-9.+~:_!-]*$/.test(v);
}

/** A dpkg package name (dpkg's pkg_name_is_illegal: an alphanumeric, then alphanumerics and `-+._`). */
export function isDpkgName(n: string): boolean {
  return n.length <= MAX_FIELD && /^[A-Za-z0-9][A-Za-z0-9+._-]*$/.test(n);
}

/** An apk package name: alphanumerics and `+._-`, not starting with punctuation. */
export function isApkName(n: string): boolean {
  return n.length <= MAX_FIELD && /^[A-Za-z0-9][A-Za-z0-9+._-]*$/.test(n);
}

/** An architecture name: `amd64`, `x86_64`, `all`, `noarch`, `armhf`. */
export function isArch(a: string): boolean {
  return a.length <= 64 && /^[A-Za-z0-9][A-Za-z0-9_-]*$/.test(a);
}

/**
 * An npm package name (validate-npm-package-name, for old and new packages): `name` or `@scope/name`, URL-safe,
 * not starting with `.` or `_`, at most 214 characters. Uppercase is allowed, as old packages have it.
 */
export function isNpmName(n: string): boolean {
  if (n.length === 0 || n.length > 214) return false;
  const part = /^[A-Za-z0-9~-][A-Za-z0-9._~-]*$/;
  const m = /^@([^/]+)\/([^/]+)$/.exec(n);
  if (m) return part.test(m[1]!) && part.test(m[2]!);
  return part.test(n);
}

/** A semver version as npm installs them (`1.2.3`, `1.0.0-rc.1+build.5`); not ranges, tags, URLs or paths. */
export function isSemver(v: string): boolean {
  return (
    v.length <= MAX_FIELD &&
    /^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$/.test(v)
  );
}

/** A Python distribution name (PEP 508 / core metadata `Name`). */
export function isPythonName(n: string): boolean {
  return n.length <= MAX_FIELD && /^([A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9._-]*[A-Za-z0-9])$/.test(n);
}

/** A license string worth keeping: one short line (a `License:` field may hold a whole license text). */
export function plausibleLicense(l: unknown): string | undefined {
  if (typeof l !== 'string') return undefined;
  const t = l.trim();
  if (t === '' || t.length > MAX_FIELD || /[\u0000-\u001f\u007f]/.test(t)) return undefined;
  return t;
}
