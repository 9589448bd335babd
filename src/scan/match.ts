/**
 * Packages against OSV records: each package looked up in the ecosystem OSV names it by (`Debian:12` from the
 * image's os-release for dpkg, apk and rpm packages; `npm`, `PyPI` for language packages), by its source package
 * for the distributions (their advisories are per source package: one record covers every binary it builds),
 * with that ecosystem's own version ordering. A package whose version cannot be compared is a warning, not a
 * guess.
 */
import type { OsRelease, Package } from './catalog/index.js';
import { osvEcosystem } from './catalog/index.js';
import { matchRecord, recordSeverity, type OsvRecord } from './osv/index.js';
import type { Severity, VulnerabilityFinding, VulnerabilityMatcher } from './scan.js';
import { versionComparator } from './version/index.js';

/** Records for a package name in an ecosystem (the local database's lookup). */
export type RecordLookup = (ecosystem: string, name: string) => Promise<readonly OsvRecord[]>;

export interface OsvMatcherOptions {
  /** Leave out vulnerabilities with no fixed version (trivy's --ignore-unfixed). */
  ignoreUnfixed?: boolean;
}

export class OsvMatcher implements VulnerabilityMatcher {
  constructor(
    private readonly lookup: RecordLookup,
    private readonly options: OsvMatcherOptions = {},
  ) {}

  async match(os: OsRelease | undefined, packages: readonly Package[], onWarning: (m: string) => void = () => {}): Promise<VulnerabilityFinding[]> {
    const distro = os ? osvEcosystem(os) : undefined;
    const out: VulnerabilityFinding[] = [];
    const seen = new Set<string>();
    let noDistroWarned = false;
    for (const pkg of packages) {
      const isOs = pkg.type === 'dpkg' || pkg.type === 'apk' || pkg.type === 'rpm';
      const ecosystem = isOs ? distro : pkg.type === 'npm' ? 'npm' : 'PyPI';
      if (!ecosystem) {
        if (!noDistroWarned) onWarning(`the distribution${os ? ` (${os.id} ${os.versionId})` : ''} has no OSV ecosystem wharf knows: its packages are not matched`);
        noDistroWarned = true;
        continue;
      }
      const compare = versionComparator(ecosystem);
      if (!compare) continue;
      // Distributions publish per source package, with the source version (the binary's may differ: binNMUs).
      const name = isOs ? (pkg.sourceName ?? pkg.name) : pkg.name;
      const version = isOs ? (pkg.sourceVersion ?? pkg.version) : pkg.version;
      for (const record of await this.lookup(ecosystem, name)) {
        let m;
        try {
          m = matchRecord(record, { ecosystem, name, version }, compare);
        } catch (err) {
          onWarning(`${record.id}: ${name} ${version} could not be compared (${(err as Error).message}); not matched`);
          continue;
        }
        if (!m) continue;
        if (this.options.ignoreUnfixed && m.fixed === undefined) continue;
        const key = `${record.id} ${pkg.type} ${pkg.name} ${pkg.version}`;
        if (seen.has(key)) continue;
        seen.add(key);
        const sev = recordSeverity(record, m.entry);
        const finding: VulnerabilityFinding = {
          id: record.id,
          aliases: [...new Set([...record.aliases, ...(record.upstream ?? [])])],
          severity: level(sev.level),
          package: { type: pkg.type, name: pkg.name, version: pkg.version, purl: pkg.purl, ...(pkg.sourceName ? { sourceName: pkg.sourceName } : {}), ...(pkg.layer ? { layer: pkg.layer } : {}) },
          ecosystem,
        };
        if (record.summary) finding.summary = record.summary;
        if (sev.cvss) finding.score = sev.cvss.score;
        if (m.fixed !== undefined) finding.fixedVersion = m.fixed;
        out.push(finding);
      }
    }
    return out;
  }
}

/** OSV's "none" (CVSS 0.0) is reported as low: it was still found. */
function level(l: string): Severity {
  return l === 'none' ? 'low' : (l as Severity);
}
