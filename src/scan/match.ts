/**
 * Packages against OSV records: each package looked up in the ecosystems OSV names its distribution by
 * (`Debian:12`, `Ubuntu:22.04:LTS` and `Ubuntu:Pro:22.04:LTS`, `Red Hat:enterprise_linux:9::baseos` and its
 * sibling channels, from the image's os-release; `npm`, `PyPI` for language packages), under the name and
 * version that distribution's feed uses, with that ecosystem's own version ordering. A package whose version
 * cannot be compared is a warning, not a guess.
 *
 * Which name a feed uses differs per distribution, and matching the wrong one is a silent miss:
 *
 * - Debian, Ubuntu, Alpine (and Wolfi, Chainguard, as osv-scanner queries them): the source package, with the
 *   source version (`Source:` of dpkg, the apk origin `o:`): one record covers every binary built from it.
 * - Red Hat and AlmaLinux: the binary rpm, with its full `epoch:version-release` (their records list
 *   `vim-minimal`, `vim-common`, … and no `vim`; Red Hat writes `0:` epochs, AlmaLinux only non-zero ones,
 *   which rpm orders the same).
 * - Rocky Linux, SUSE, openSUSE, Mageia, Photon OS: the source rpm by the schema (Rocky's exporter writes only
 *   source packages), and the binary too (osv-scanner queries binary names), so either shape of record is met.
 *   A source rpm's file name carries no epoch: it is taken from a package of the image built from the same
 *   source rpm at the same version-release (a subpackage with its own version, like perl-Errno, keeps no
 *   epoch of the source's); when none is, epochs are left out of that comparison rather than taken as 0.
 */
import type { OsRelease, Package } from './catalog/index.js';
import { osvEcosystems } from './catalog/os-release.js';
import { matchRecord, recordSeverity, type OsvRecord, type VersionCompare } from './osv/index.js';
import type { Severity, VulnerabilityFinding, VulnerabilityMatcher } from './scan.js';
import { compareRpmEvr, parseRpmEvr, versionComparator } from './version/index.js';

/** Records for a package name in an ecosystem (the local database's lookup). */
export type RecordLookup = (ecosystem: string, name: string) => Promise<readonly OsvRecord[]>;

export interface OsvMatcherOptions {
  /** Leave out vulnerabilities with no fixed version (trivy's --ignore-unfixed). */
  ignoreUnfixed?: boolean;
}

/** One way a package is named in an ecosystem's records. */
interface Query {
  name: string;
  version: string;
  compare: VersionCompare;
}

/** rpm ecosystems whose records name binary packages only. */
const BINARY_NAMED = new Set(['Red Hat', 'AlmaLinux']);

export class OsvMatcher implements VulnerabilityMatcher {
  constructor(
    private readonly lookup: RecordLookup,
    private readonly options: OsvMatcherOptions = {},
  ) {}

  async match(os: OsRelease | undefined, packages: readonly Package[], onWarning: (m: string) => void = () => {}): Promise<VulnerabilityFinding[]> {
    const distro = os ? osvEcosystems(os) : [];
    const epochs = sourceEpochs(packages);
    // Subpackages share their source's records: each (ecosystem, name) is read once per scan.
    const cache = new Map<string, Promise<readonly OsvRecord[]>>();
    const lookup = (ecosystem: string, name: string): Promise<readonly OsvRecord[]> => {
      const key = `${ecosystem}\0${name}`;
      let p = cache.get(key);
      if (!p) cache.set(key, (p = this.lookup(ecosystem, name)));
      return p;
    };
    const out: VulnerabilityFinding[] = [];
    const seen = new Set<string>();
    let noDistroWarned = false;
    for (const pkg of packages) {
      const isOs = pkg.type === 'dpkg' || pkg.type === 'apk' || pkg.type === 'rpm';
      const ecosystems = isOs ? distro : [pkg.type === 'npm' ? 'npm' : 'PyPI'];
      if (ecosystems.length === 0) {
        if (!noDistroWarned) onWarning(`the distribution${os ? ` (${os.id} ${os.versionId})` : ''} has no OSV ecosystem wharf knows: its packages are not matched`);
        noDistroWarned = true;
        continue;
      }
      // A record is decided by the first ecosystem (in osvEcosystems' order) that has an entry for the package.
      const decided = new Set<string>();
      for (const ecosystem of ecosystems) {
        const compare = versionComparator(ecosystem);
        if (!compare) continue;
        const queries = queriesFor(pkg, ecosystem, compare, epochs);
        const records = new Map<string, OsvRecord>();
        for (const q of queries) for (const r of await lookup(ecosystem, q.name)) if (!decided.has(r.id)) records.set(r.id, r);
        for (const record of records.values()) {
          if (!record.affected.some((a) => a.package.ecosystem === ecosystem && queries.some((q) => q.name === a.package.name))) continue;
          decided.add(record.id);
          for (const q of queries) {
            let m;
            try {
              m = matchRecord(record, { ecosystem, name: q.name, version: q.version }, q.compare);
            } catch (err) {
              onWarning(`${record.id}: ${q.name} ${q.version} could not be compared (${(err as Error).message}); not matched`);
              continue;
            }
            if (!m) continue;
            if (this.options.ignoreUnfixed && m.fixed === undefined) break;
            const key = `${record.id} ${pkg.type} ${pkg.name} ${pkg.version}`;
            if (seen.has(key)) break;
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
            break;
          }
        }
      }
    }
    return out;
  }
}

/** The names (and versions) a package has in an ecosystem's records, the likelier first. */
function queriesFor(pkg: Package, ecosystem: string, compare: VersionCompare, epochs: ReadonlyMap<string, string>): Query[] {
  const binary: Query = { name: pkg.name, version: pkg.version, compare };
  if (pkg.type === 'npm' || pkg.type === 'pypi') return [binary];
  // Distributions publish per source package, with the source version (the binary's may differ: binNMUs).
  if (pkg.type !== 'rpm') return [{ name: pkg.sourceName ?? pkg.name, version: pkg.sourceVersion ?? pkg.version, compare }];
  const colon = ecosystem.indexOf(':');
  const family = colon < 0 ? ecosystem : ecosystem.slice(0, colon);
  if (BINARY_NAMED.has(family) || !pkg.sourceName || !pkg.sourceVersion) return [binary];
  const epoch = epochs.get(`${pkg.sourceName}\0${pkg.sourceVersion}`);
  const source: Query =
    epoch !== undefined
      ? { name: pkg.sourceName, version: epoch === '0' ? pkg.sourceVersion : `${epoch}:${pkg.sourceVersion}`, compare }
      : { name: pkg.sourceName, version: pkg.sourceVersion, compare: withoutEpochs };
  return source.name === binary.name && source.version === binary.version ? [binary] : [source, binary];
}

/**
 * The epoch of each source rpm (`name\0version-release`), from the packages of the image built from it at the
 * version-release the source rpm's file name says: those inherit the spec's epoch.
 */
function sourceEpochs(packages: readonly Package[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const p of packages) {
    if (p.type !== 'rpm' || !p.sourceName || !p.sourceVersion) continue;
    let evr;
    try {
      evr = parseRpmEvr(p.version);
    } catch {
      continue;
    }
    if (evr.release === undefined || `${evr.version}-${evr.release}` !== p.sourceVersion) continue;
    const key = `${p.sourceName}\0${p.sourceVersion}`;
    if (!out.has(key)) out.set(key, evr.epoch ?? '0');
  }
  return out;
}

/** rpm ordering with both epochs left out: for a source version whose epoch the image does not tell. */
function withoutEpochs(a: string, b: string): number {
  const x = parseRpmEvr(a);
  const y = parseRpmEvr(b);
  delete x.epoch;
  delete y.epoch;
  return compareRpmEvr(x, y);
}

/** OSV's "none" (CVSS 0.0) is reported as low: it was still found. */
function level(l: string): Severity {
  return l === 'none' ? 'low' : (l as Severity);
}
