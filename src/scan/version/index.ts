/**
 * Version ordering exactly as each package manager does it, and the choice of ordering for an OSV ecosystem.
 * A comparison bug is a false alarm or a missed vulnerability, so each comparator follows its package manager's
 * own code and is tested against that package manager's own test vectors. Every comparator returns -1, 0 or 1
 * and throws a WharfError with code VERSION_INVALID for a version its grammar rejects.
 */
import { compareApk } from './apk.js';
import { compareDpkg } from './dpkg.js';
import { comparePep440 } from './pep440.js';
import { compareRpm } from './rpm.js';
import { compareSemver } from './semver.js';

export { compareApk, isValidApkVersion, parseApkVersion, type ApkCompareOptions } from './apk.js';
export { compareDpkg, compareDpkgVersions, formatDpkgVersion, parseDpkgVersion, verrevcmp, type DpkgVersion } from './dpkg.js';
export { comparePep440, comparePep440Parsed, normalizePep440, parsePep440, type Pep440Version } from './pep440.js';
export { compareRpm, compareRpmEvr, parseRpmEvr, rpmvercmp, type RpmEvr } from './rpm.js';
export { compareSemver, compareSemverParsed, parseSemver, type SemVer } from './semver.js';

/** The version orderings wharf knows, named after the package manager (or registry) that defines each. */
export type Ecosystem = 'dpkg' | 'apk' | 'rpm' | 'npm' | 'pypi';

export type VersionComparator = (a: string, b: string) => number;

const COMPARATORS: Record<Ecosystem, VersionComparator> = {
  dpkg: compareDpkg,
  apk: (a, b) => compareApk(a, b),
  rpm: compareRpm,
  npm: compareSemver,
  pypi: comparePep440,
};

/** Order two versions of the given kind: -1, 0 or 1; VERSION_INVALID if either is not a version of that kind. */
export function compareVersions(kind: Ecosystem, a: string, b: string): number {
  if (!Object.hasOwn(COMPARATORS, kind)) throw new TypeError(`unknown version kind ${JSON.stringify(kind)}`);
  return COMPARATORS[kind](a, b);
}

/**
 * OSV ecosystem names (the part before the first ':' — `Debian:12`, `Ubuntu:Pro:18.04:LTS`, `Alpine:v3.20`,
 * `Red Hat:rhel_aus:8.4::appstream`) and the ordering their versions use, per the OSV schema's ecosystems list.
 * Names are matched exactly, as the schema spells them.
 */
const OSV_ECOSYSTEMS: ReadonlyMap<string, Ecosystem> = new Map<string, Ecosystem>([
  ['Debian', 'dpkg'],
  ['Ubuntu', 'dpkg'],
  ['Alpine', 'apk'],
  ['Wolfi', 'apk'],
  ['Chainguard', 'apk'],
  // BellSoft Alpaquita Linux packages with apk.
  ['BellSoft', 'apk'],
  ['Red Hat', 'rpm'],
  ['Rocky Linux', 'rpm'],
  ['AlmaLinux', 'rpm'],
  ['SUSE', 'rpm'],
  ['openSUSE', 'rpm'],
  ['Mageia', 'rpm'],
  ['Photon OS', 'rpm'],
  ['npm', 'npm'],
  ['PyPI', 'pypi'],
]);

/** The ordering an OSV ecosystem's versions use, or undefined for an ecosystem wharf has no ordering for. */
export function osvEcosystemKind(osvEcosystemName: string): Ecosystem | undefined {
  if (typeof osvEcosystemName !== 'string') return undefined;
  const colon = osvEcosystemName.indexOf(':');
  return OSV_ECOSYSTEMS.get(colon === -1 ? osvEcosystemName : osvEcosystemName.slice(0, colon));
}

/** The comparator for an OSV ecosystem (`Debian:12`, `npm`, `PyPI`, …), or undefined for an unknown one. */
export function versionComparator(osvEcosystemName: string): VersionComparator | undefined {
  const kind = osvEcosystemKind(osvEcosystemName);
  return kind === undefined ? undefined : COMPARATORS[kind];
}
