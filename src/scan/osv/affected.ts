/**
 * Whether a version of a package is affected by an OSV record, evaluated as the schema's pseudo-code says
 * (https://ossf.github.io/osv-schema/#evaluation):
 *
 * - a version is affected when it is in the `versions` list, or inside any one of the ranges (ranges are OR);
 * - a range applies only below one of its `limit` events (no limit: an implicit `"*"`, infinity);
 * - its other events are sorted by version (`introduced: "0"` before everything) and walked in order:
 *   `introduced` ≤ v makes v vulnerable, `fixed` ≤ v makes it not, `last_affected` < v makes it not.
 *
 * Events of equal version keep the record's order, so `[introduced 1, fixed 2, introduced 2, fixed 3]`
 * leaves 2 affected (by the second interval) and `[introduced 2, fixed 2]` leaves it not (an empty one).
 * GIT ranges need the repository's commit graph and are not evaluated here; their records carry `versions`.
 *
 * Version order comes from the caller (an injected comparator for the record's ecosystem, and one for SEMVER
 * ranges): nothing here knows a version grammar. A bound the comparator cannot read is left out and reported
 * in `problems`, so one malformed bound neither crashes a scan nor silently decides it.
 */
import type { OsvAffected, OsvEvent, OsvRange, OsvRecord } from './record.js';

/** Negative, zero or positive as a is before, equal to or after b; may throw for a version it cannot read. */
export type VersionCompare = (a: string, b: string) => number;

export interface AffectedOptions {
  /** For SEMVER ranges; default: the ecosystem comparator (right for npm, Go, crates.io, …). */
  semver?: VersionCompare;
}

export interface AffectedResult {
  affected: boolean;
  /** What said so: the `versions` list, or the range at `range` (index into `affected.ranges`). */
  via?: 'versions' | 'range';
  range?: number;
  /** The version that fixes it: the first `fixed` above the version (for reports: "fixed in …"). */
  fixed?: string;
  /** When the range ends with `last_affected` instead: the last version known affected. */
  lastAffected?: string;
  /** Bounds that could not be compared (left out), ranges that could not be evaluated. Empty when all was read. */
  problems: string[];
}

interface Bound {
  kind: 'introduced' | 'fixed' | 'last_affected' | 'limit';
  value: string;
  /** `introduced: "0"`: before every version. */
  zero: boolean;
  /** A limit containing `*`: infinity. */
  infinite: boolean;
  /** compare(version, value), when computed. */
  cmp: number;
  /** Position in the record, for a stable order among equal versions. */
  at: number;
}

function boundOf(e: OsvEvent, at: number): Bound {
  const [kind, value] = Object.entries(e)[0] as [Bound['kind'], string];
  return { kind, value, zero: kind === 'introduced' && value === '0', infinite: kind === 'limit' && value.includes('*'), cmp: 0, at };
}

function describe(err: unknown): string {
  return (err as Error)?.message?.slice(0, 160) ?? String(err);
}

interface RangeOutcome {
  affected: boolean;
  fixed?: string;
  lastAffected?: string;
}

/** One ECOSYSTEM or SEMVER range, per the pseudo-code; problems are pushed onto `problems`. */
function evaluateRange(range: OsvRange, index: number, version: string, compare: VersionCompare, problems: string[]): RangeOutcome {
  const bounds: Bound[] = [];
  let hadLimits = false;
  range.events.forEach((e, at) => {
    const b = boundOf(e, at);
    if (b.kind === 'limit') hadLimits = true;
    if (!b.zero && !b.infinite) {
      try {
        b.cmp = Math.sign(compare(version, b.value));
        if (Number.isNaN(b.cmp)) throw new Error('the comparator returned NaN');
      } catch (err) {
        problems.push(`ranges[${index}]: ${b.kind} ${JSON.stringify(b.value.slice(0, 80))} cannot be compared with ${JSON.stringify(version.slice(0, 80))}: ${describe(err)}`);
        return;
      }
    }
    bounds.push(b);
  });

  // BeforeLimits: no limit event means an implicit "*". A limit that could not be read is left out; when none
  // could be read, the range is not cut short (a wrong "affected" is safer than a silent "not affected").
  const limits = bounds.filter((b) => b.kind === 'limit');
  if (hadLimits && limits.length > 0 && !limits.some((b) => b.infinite || b.cmp < 0)) return { affected: false };

  const events = bounds.filter((b) => b.kind !== 'limit');
  try {
    events.sort((a, b) => {
      if (a.zero || b.zero) return a.zero && b.zero ? a.at - b.at : a.zero ? -1 : 1;
      return Math.sign(compare(a.value, b.value)) || a.at - b.at;
    });
  } catch (err) {
    events.sort((a, b) => a.at - b.at);
    problems.push(`ranges[${index}]: its events cannot be sorted (${describe(err)}): taken in the record's order`);
  }

  let vulnerable = false;
  let lastFired = -1;
  events.forEach((b, i) => {
    if (b.kind === 'introduced') {
      if (b.zero || b.cmp >= 0) {
        vulnerable = true;
        lastFired = i;
      }
    } else if (b.kind === 'fixed') {
      if (b.cmp >= 0) {
        vulnerable = false;
        lastFired = i;
      }
    } else if (b.cmp > 0) {
      vulnerable = false;
      lastFired = i;
    }
  });
  if (!vulnerable) return { affected: false };
  for (let i = lastFired + 1; i < events.length; i++) {
    const b = events[i]!;
    if (b.kind === 'fixed') return { affected: true, fixed: b.value };
    if (b.kind === 'last_affected') return { affected: true, lastAffected: b.value };
  }
  return { affected: true };
}

/** The lowest `fixed` above the version in any range: the fix to report for a match found in `versions`. */
function lowestFixAbove(affected: OsvAffected, version: string, comparatorFor: (r: OsvRange) => VersionCompare): string | undefined {
  let best: string | undefined;
  for (const r of affected.ranges) {
    if (r.type === 'GIT') continue;
    const compare = comparatorFor(r);
    for (const e of r.events) {
      if (!('fixed' in e)) continue;
      try {
        if (compare(version, e.fixed) < 0 && (best === undefined || compare(e.fixed, best) < 0)) best = e.fixed;
      } catch {
        // a bound that cannot be read is no fix to report
      }
    }
  }
  return best;
}

/**
 * Whether `version` of the package named by `affected.package` is affected, and by what. `compare` orders the
 * ecosystem's versions (ECOSYSTEM ranges and the `versions` list); `options.semver` orders SEMVER ranges.
 * The version is matched against `versions` by exact text, or by the comparator saying equal.
 */
export function isAffected(affected: OsvAffected, version: string, compare: VersionCompare, options: AffectedOptions = {}): AffectedResult {
  const problems: string[] = [];
  const comparatorFor = (r: OsvRange): VersionCompare => (r.type === 'SEMVER' ? (options.semver ?? compare) : compare);
  for (let i = 0; i < affected.ranges.length; i++) {
    const r = affected.ranges[i]!;
    if (r.type === 'GIT') continue;
    const outcome = evaluateRange(r, i, version, comparatorFor(r), problems);
    if (outcome.affected) {
      return {
        affected: true,
        via: 'range',
        range: i,
        ...(outcome.fixed !== undefined ? { fixed: outcome.fixed } : {}),
        ...(outcome.lastAffected !== undefined ? { lastAffected: outcome.lastAffected } : {}),
        problems,
      };
    }
  }
  let listed = affected.versions.includes(version);
  for (let i = 0; !listed && i < affected.versions.length; i++) {
    try {
      listed = compare(version, affected.versions[i]!) === 0;
    } catch {
      // a listed version the comparator cannot read is only matched by its exact text
    }
  }
  if (listed) {
    const fixed = lowestFixAbove(affected, version, comparatorFor);
    return { affected: true, via: 'versions', ...(fixed !== undefined ? { fixed } : {}), problems };
  }
  return { affected: false, problems };
}

export interface RecordMatch extends AffectedResult {
  affected: true;
  record: OsvRecord;
  /** The entry of `record.affected` that matched. */
  entry: OsvAffected;
}

/**
 * Whether a package (ecosystem, name, version) is affected by a record: the schema's IsVulnerable. A withdrawn
 * record affects nothing. Entries are matched on the exact ecosystem and name; the first affected one is told.
 */
export function matchRecord(
  record: OsvRecord,
  pkg: { ecosystem: string; name: string; version: string },
  compare: VersionCompare,
  options: AffectedOptions = {},
): RecordMatch | undefined {
  if (record.withdrawn !== undefined) return undefined;
  for (const entry of record.affected) {
    if (entry.package.ecosystem !== pkg.ecosystem || entry.package.name !== pkg.name) continue;
    const result = isAffected(entry, pkg.version, compare, options);
    if (result.affected) return { ...result, affected: true, record, entry };
  }
  return undefined;
}
