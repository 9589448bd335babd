/**
 * The package cataloguer: which files of an image's filesystem say what is installed (catalogPaths), and what
 * they say (catalog). Pure: the caller reads the files (from layers, a directory, a test) and hands their bytes;
 * nothing here touches a disk or an image.
 */
import { parseApkInstalled } from './apk.js';
import { parseDpkgStatus, parseDpkgStatusD } from './dpkg.js';
import { parseInstalledPackageJson, parsePackageLock } from './npm.js';
import { parseAlpineRelease, parseDebianVersion, parseOsRelease, resolveOs, type OsEvidence } from './os-release.js';
import { packageUrl } from './purl.js';
import { parsePythonMetadata } from './python.js';
import type { OsRelease, Package, WarningHandler } from './types.js';

export type { OsRelease, Package, PackageType, WarningHandler } from './types.js';
export { parseApkInstalled } from './apk.js';
export { parseDpkgStatus, parseDpkgStatusD } from './dpkg.js';
export { parseInstalledPackageJson, parsePackageLock } from './npm.js';
export { osvEcosystem, parseAlpineRelease, parseDebianVersion, parseOsRelease, parseOsReleaseFields, resolveOs } from './os-release.js';
export { formatPurl, normalizePypiName, packageUrl, purlEncode } from './purl.js';
export { parsePythonMetadata } from './python.js';

const MiB = 1 << 20;

/** What a file is to the cataloguer. */
export type CatalogKind = 'os-release' | 'debian_version' | 'alpine-release' | 'dpkg-status' | 'dpkg-status.d' | 'apk-installed' | 'npm-lockfile' | 'npm-package' | 'python-metadata';

/** A kind of file the cataloguer reads: which paths, and the most bytes it reads of one. */
export interface CatalogPath {
  kind: CatalogKind;
  /** Whether a normalised path (`var/lib/dpkg/status`: no leading `/` or `./`) is of this kind. */
  test(path: string): boolean;
  /** A larger file is skipped with a warning; a scanner can skip reading it. */
  maxBytes: number;
  /** For help and debugging: the paths, as a glob. */
  glob: string;
}

const exact =
  (...paths: string[]) =>
  (p: string): boolean =>
    paths.includes(p);
const matches =
  (re: RegExp) =>
  (p: string): boolean =>
    re.test(p);

const PATHS: readonly CatalogPath[] = Object.freeze([
  { kind: 'os-release', test: exact('etc/os-release', 'usr/lib/os-release'), maxBytes: 64 * 1024, glob: '{etc,usr/lib}/os-release' },
  { kind: 'debian_version', test: exact('etc/debian_version'), maxBytes: 4096, glob: 'etc/debian_version' },
  { kind: 'alpine-release', test: exact('etc/alpine-release'), maxBytes: 4096, glob: 'etc/alpine-release' },
  { kind: 'dpkg-status', test: exact('var/lib/dpkg/status'), maxBytes: 64 * MiB, glob: 'var/lib/dpkg/status' },
  {
    kind: 'dpkg-status.d',
    test: (p) => /^var\/lib\/dpkg\/status\.d\/[^/.][^/]*$/.test(p) && !p.endsWith('.md5sums'),
    maxBytes: 4 * MiB,
    glob: 'var/lib/dpkg/status.d/*',
  },
  { kind: 'apk-installed', test: exact('lib/apk/db/installed', 'usr/lib/apk/db/installed'), maxBytes: 128 * MiB, glob: '{,usr/}lib/apk/db/installed' },
  {
    kind: 'npm-lockfile',
    // A project's lockfile (not one a package ships inside node_modules), or npm's hidden node_modules lockfile.
    test: (p) => (/(^|\/)(package-lock|npm-shrinkwrap)\.json$/.test(p) && !/(^|\/)node_modules\//.test(p)) || /(^|\/)node_modules\/\.package-lock\.json$/.test(p),
    maxBytes: 64 * MiB,
    glob: '**/{package-lock,npm-shrinkwrap}.json, **/node_modules/.package-lock.json',
  },
  {
    kind: 'npm-package',
    test: matches(/(^|\/)node_modules\/(@[^/.][^/]*\/)?[^/.@][^/]*\/package\.json$/),
    maxBytes: 4 * MiB,
    glob: '**/node_modules/{,@*/}*/package.json',
  },
  {
    kind: 'python-metadata',
    test: matches(/(^|\/)[^/]+\.(dist-info\/METADATA|egg-info\/PKG-INFO|egg-info)$/),
    maxBytes: 16 * MiB,
    glob: '**/*.dist-info/METADATA, **/*.egg-info/PKG-INFO, **/*.egg-info',
  },
] satisfies CatalogPath[]);

/** The kinds of files the cataloguer reads, so a scanner takes only those from the layers. */
export function catalogPaths(): readonly CatalogPath[] {
  return PATHS;
}

/** `/var/lib/dpkg/status`, `./var/lib/dpkg/status`, `var//lib/dpkg/status` → `var/lib/dpkg/status`. */
export function normalizeCatalogPath(path: string): string {
  return path
    .split('/')
    .filter((s) => s !== '' && s !== '.')
    .join('/');
}

/** The kind of file a path is to the cataloguer, or undefined when it does not need it. */
export function catalogKind(path: string): CatalogPath | undefined {
  const p = normalizeCatalogPath(path);
  return PATHS.find((c) => c.test(p));
}

export interface CatalogFile {
  /** The path in the image's filesystem, as `catalogPaths` tests it (a leading `/` is allowed). */
  path: string;
  data: Buffer;
}

export interface CatalogResult {
  os?: OsRelease;
  /** De-duplicated by purl, sorted by type, name, version and path. */
  packages: Package[];
}

const OS_PACKAGES = new Set<Package['type']>(['dpkg', 'apk', 'rpm']);

/**
 * What the files say is installed, and on which distribution. Files the cataloguer does not need are ignored;
 * any that is larger than its kind allows, or malformed, is skipped (in part or whole) with a warning. Never
 * throws for what a file holds.
 */
export function catalog(files: Iterable<CatalogFile>, onWarning?: WarningHandler): CatalogResult {
  const evidence: OsEvidence = {};
  const found: Package[] = [];
  for (const file of files) {
    const path = normalizeCatalogPath(file.path);
    const kind = PATHS.find((c) => c.test(path));
    if (!kind) continue;
    if (file.data.length > kind.maxBytes) {
      onWarning?.(`${path}: ${file.data.length} bytes, more than the ${kind.maxBytes} a ${kind.kind} file may have; skipped`);
      continue;
    }
    try {
      read(kind.kind, path, file.data, evidence, found, onWarning);
    } catch (err) {
      onWarning?.(`${path}: could not be read (${(err as Error)?.message ?? String(err)}); skipped`);
    }
  }
  const os = resolveOs(evidence);
  const packages = dedupe(found.map((p) => (OS_PACKAGES.has(p.type) ? { ...p, purl: packageUrl(p, os) } : p)));
  return os ? { os, packages } : { packages };
}

function read(kind: CatalogKind, path: string, data: Buffer, evidence: OsEvidence, found: Package[], onWarning?: WarningHandler): void {
  const opts = { path, onWarning };
  switch (kind) {
    case 'os-release':
      if (path === 'etc/os-release') evidence.etcOsRelease = parseOsRelease(data, path, onWarning);
      else evidence.usrLibOsRelease = parseOsRelease(data, path, onWarning);
      return;
    case 'debian_version': {
      const os = parseDebianVersion(data);
      if (os) evidence.debianVersion = os;
      else onWarning?.(`${path}: not a Debian release number or codename; ignored`);
      return;
    }
    case 'alpine-release': {
      const os = parseAlpineRelease(data);
      if (os) evidence.alpineRelease = os;
      else onWarning?.(`${path}: not an Alpine release number; ignored`);
      return;
    }
    case 'dpkg-status':
      found.push(...parseDpkgStatus(data, opts));
      return;
    case 'dpkg-status.d':
      found.push(...parseDpkgStatusD(data, opts));
      return;
    case 'apk-installed':
      found.push(...parseApkInstalled(data, opts));
      return;
    case 'npm-lockfile':
      found.push(...parsePackageLock(data, opts));
      return;
    case 'npm-package': {
      const pkg = parseInstalledPackageJson(data, opts);
      if (pkg) found.push(pkg);
      return;
    }
    case 'python-metadata': {
      const pkg = parsePythonMetadata(data, opts);
      if (pkg) found.push(pkg);
      return;
    }
  }
}

/** One package per purl; the other files that listed it go to `alsoAt`; `dev` only if every listing says so. */
function dedupe(found: Package[]): Package[] {
  const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
  const byPurl = new Map<string, Package>();
  // Sorted by path first, so which file is `path` and which are `alsoAt` does not depend on the files' order.
  for (const p of [...found].sort((a, b) => cmp(a.path, b.path))) {
    const seen = byPurl.get(p.purl);
    if (!seen) {
      byPurl.set(p.purl, { ...p });
      continue;
    }
    if (p.path !== seen.path && !(seen.alsoAt ?? []).includes(p.path)) (seen.alsoAt ??= []).push(p.path);
    if (seen.dev && !p.dev) delete seen.dev;
    if (!seen.licenses && p.licenses) seen.licenses = p.licenses;
  }
  return [...byPurl.values()].sort(
    (a, b) => cmp(a.type, b.type) || cmp(a.name, b.name) || cmp(a.version, b.version) || cmp(a.arch ?? '', b.arch ?? '') || cmp(a.path, b.path),
  );
}
