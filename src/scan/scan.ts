/**
 * `scanImage`: what is in an image and what is wrong with it, from one pass over its layers (image-files.ts):
 * the packages its package managers recorded (dpkg, apk, rpm, npm, Python), the secrets in any layer, setuid and
 * world-writable files, the config's lint — and, given a vulnerability matcher, the known vulnerabilities of
 * those packages. Each package, and each finding about it, names the layer that installed it (package-layers.ts).
 * Phases are timed for docs/BENCHMARKS.md (read layers, catalogue, match).
 */
import { openImage, type OpenImageOptions } from '../filesystem/image-layers.js';
import type { ImageReference } from '../transports/types.js';
import { catalog, catalogKind, packageUrl, type CatalogFile, type OsRelease, type Package } from './catalog/index.js';
import type { PackageLayer } from './catalog/types.js';
import { lintConfig, type ConfigFinding } from './config-lint.js';
import { readImageFiles, type FileSecret, type PermissionFinding } from './image-files.js';
import { attributeLayers, type DatabaseReaders, type LayerIds } from './package-layers.js';
import { isRpmDatabasePath, readRpmDatabase, type RpmPackage } from './rpmdb/index.js';

export type Severity = 'unknown' | 'low' | 'medium' | 'high' | 'critical';
export const SEVERITIES: readonly Severity[] = ['unknown', 'low', 'medium', 'high', 'critical'];

export interface VulnerabilityFinding {
  id: string;
  aliases: string[];
  summary?: string;
  severity: Severity;
  /** The CVSS score the severity comes from, when the data gave one. */
  score?: number;
  /** The package it is about; `layer` is that package's (the layer that installed it), when it is known. */
  package: { type: Package['type']; name: string; version: string; sourceName?: string; purl: string; layer?: PackageLayer };
  /** The fixed version, when the data names one. */
  fixedVersion?: string;
  /** The OSV ecosystem the record was matched in (`Debian:12`). */
  ecosystem: string;
}

/**
 * Matches packages against vulnerability data (the local OSV database, or anything else that can). A finding
 * should carry its package's `layer`; scanImage fills it in from the package when a matcher leaves it out.
 */
export interface VulnerabilityMatcher {
  match(os: OsRelease | undefined, packages: readonly Package[], onWarning?: (m: string) => void): Promise<VulnerabilityFinding[]>;
}

export interface ScanOptions extends OpenImageOptions {
  /** Which analyses run (default all but vulnerabilities without a matcher). */
  packages?: boolean;
  secrets?: boolean;
  matcher?: VulnerabilityMatcher;
  onWarning?: (message: string) => void;
}

export interface ScanReport {
  /** The reference as given, and what the image says it is. */
  /** `layers` counts them; `layerIds` are their blob digests and diff IDs, base first (a finding's layer N is layerIds[N-1]). */
  image: { reference: string; os?: OsRelease; architecture: string; layers: number; layerIds: LayerIds[] };
  packages: Package[];
  vulnerabilities: VulnerabilityFinding[];
  secrets: FileSecret[];
  permissions: PermissionFinding[];
  config: ConfigFinding[];
  /** Milliseconds per phase. */
  timings: { readLayers: number; catalogue: number; match: number };
}

/** Scan an image (see the module comment). */
export async function scanImage(ref: ImageReference, options: ScanOptions = {}): Promise<ScanReport> {
  const warn = options.onWarning ?? (() => {});
  const image = await openImage(ref, options);
  try {
    // Wanted files up to 256 MiB: an rpm Packages database of a large RHEL 8 image passes 64.
    const readOptions: Parameters<typeof readImageFiles>[1] = { onWarning: warn, secrets: options.secrets ?? true, maxWantedBytes: 256 << 20 };
    if (options.signal) readOptions.signal = options.signal;
    if (options.packages ?? true) readOptions.wanted = (p) => catalogKind(p) !== undefined || isRpmDatabasePath(p);
    // (catalog() skips, with a warning, a file over its kind's size cap.)
    const files = await readImageFiles(image, readOptions);
    const t0 = performance.now();
    const found = catalog([...files.files].map(([path, data]) => ({ path, data })), warn);
    const packages = [...found.packages];
    const rpm = await readRpmDatabase([...files.files].filter(([p]) => isRpmDatabasePath(p)).map(([path, data]) => ({ path, data })), warn).catch((err: unknown) => {
      warn(`the rpm database could not be read: ${(err as Error).message}`);
      return undefined;
    });
    // gpg-pubkey entries are the keys rpm imported, not software.
    if (rpm) packages.push(...rpm.packages.filter((p) => p.name !== 'gpg-pubkey').map((p) => rpmPackage(p, rpm.path, found.os)));
    const layers: LayerIds[] = image.layers.map((d, i) => (image.diffIds[i] ? { digest: d.digest, diffID: image.diffIds[i] } : { digest: d.digest }));
    await attributeLayers(packages, files.versions, layers, READERS);
    const t1 = performance.now();
    const vulnerabilities = options.matcher ? withLayers(await options.matcher.match(found.os, packages, warn), packages) : [];
    const t2 = performance.now();
    const report: ScanReport = {
      image: { reference: ref.toString(), architecture: image.config.architecture, layers: files.layers, layerIds: layers },
      packages,
      vulnerabilities: sortFindings(vulnerabilities),
      secrets: files.secrets,
      permissions: files.permissions,
      config: lintConfig(image.config),
      timings: { readLayers: files.timings.readLayers + files.timings.permissions, catalogue: t1 - t0, match: t2 - t1 },
    };
    if (found.os) report.image.os = found.os;
    return report;
  } finally {
    await image.close();
  }
}

/** The scan's own parsers, for the earlier versions of a package database (their warnings are not wanted). */
const READERS: DatabaseReaders = {
  catalog: (files: CatalogFile[]) => catalog(files).packages,
  rpm: async (files: CatalogFile[]) => {
    const db = await readRpmDatabase(files);
    return db ? db.packages.map((p) => rpmPackage(p, db.path, undefined)) : [];
  },
};

/** Findings with their package's layer, for a matcher that did not copy it. */
function withLayers(findings: VulnerabilityFinding[], packages: readonly Package[]): VulnerabilityFinding[] {
  const byPurl = new Map<string, Package>();
  for (const p of packages) if (p.layer && !byPurl.has(`${p.type} ${p.purl}`)) byPurl.set(`${p.type} ${p.purl}`, p);
  return findings.map((f) => {
    const layer = f.package.layer ?? byPurl.get(`${f.package.type} ${f.package.purl}`)?.layer;
    return layer && !f.package.layer ? { ...f, package: { ...f.package, layer } } : f;
  });
}

/** An rpm database entry as a Package: EVR as rpm prints it, the source package from SOURCERPM. */
function rpmPackage(p: RpmPackage, path: string, os: OsRelease | undefined): Package {
  const version = `${p.epoch !== undefined && p.epoch !== 0 ? `${p.epoch}:` : ''}${p.version}-${p.release}`;
  const pkg: Package = { type: 'rpm', name: p.name, version, path, purl: '' };
  if (p.arch) pkg.arch = p.arch;
  pkg.purl = packageUrl(pkg, os);
  if (p.sourceName) pkg.sourceName = p.sourceName;
  if (p.sourceVersion) pkg.sourceVersion = p.sourceRelease ? `${p.sourceVersion}-${p.sourceRelease}` : p.sourceVersion;
  if (p.license) pkg.licenses = [p.license];
  return pkg;
}

function sortFindings(list: VulnerabilityFinding[]): VulnerabilityFinding[] {
  return [...list].sort((a, b) => SEVERITIES.indexOf(b.severity) - SEVERITIES.indexOf(a.severity) || a.package.name.localeCompare(b.package.name) || a.id.localeCompare(b.id));
}

/** Whether a report has a vulnerability at or above `threshold` (the --fail-on gate). */
export function failsAt(report: ScanReport, threshold: Severity): boolean {
  const min = SEVERITIES.indexOf(threshold);
  return report.vulnerabilities.some((v) => SEVERITIES.indexOf(v.severity) >= min);
}
