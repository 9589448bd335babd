/**
 * How severe a record is for one affected package, from what OSV data carries, which differs by source:
 *
 * - `severity[]` (the record's, or the affected entry's, which then takes its place): CVSS_V3 and CVSS_V2
 *   vectors, scored here; CVSS_V4 kept as a vector; `Ubuntu` priorities (`negligible` … `critical`).
 * - Debian: `affected[].ecosystem_specific.urgency` (`unimportant`, `low`, `medium`, `high`, `not yet assigned`).
 * - GitHub advisories: `database_specific.severity` (`LOW`, `MODERATE`, `HIGH`, `CRITICAL`); Red Hat, Rocky and
 *   Alma advisories rate in words too (`Important`, `Moderate`).
 * - Alpine records carry none: their severity is a CVSS vector when osv.dev has one, else `unknown`.
 *
 * Both the CVSS score and the vendor's word are returned; `level` is the CVSS one when there is one (a number
 * that means the same everywhere), else the vendor's, else `unknown`.
 */
import { cvss2, cvss3, type CvssScore, type SeverityLevel } from './cvss.js';
import type { OsvAffected, OsvRecord, OsvSeverity } from './record.js';

export type { CvssScore, SeverityLevel } from './cvss.js';

export interface VendorSeverity {
  /** Where the word was found: `Ubuntu`, `ecosystem_specific.urgency`, `database_specific.severity`, … */
  source: string;
  /** As written. */
  value: string;
  level: SeverityLevel;
}

export interface Severity {
  level: SeverityLevel;
  /** The highest CVSS v3 base score among the vectors, else the highest v2 one. */
  cvss?: CvssScore;
  vendor?: VendorSeverity;
  /** A CVSS v4 vector, shown as it is (not scored). */
  cvssV4?: string;
}

const ORDER: readonly SeverityLevel[] = ['unknown', 'none', 'low', 'medium', 'high', 'critical'];

/** Sort key: `critical` highest, `unknown` lowest. */
export function severityRank(level: SeverityLevel): number {
  return ORDER.indexOf(level);
}

/** A vendor's word for severity as a level; `unknown` for words that rate nothing (`not yet assigned`, `untriaged`). */
export function levelOfWord(word: string): SeverityLevel {
  const w = word.trim().replace(/\*+$/, '').trim().toLowerCase();
  switch (w) {
    case 'critical':
      return 'critical';
    case 'high':
    case 'important':
      return 'high';
    case 'medium':
    case 'moderate':
      return 'medium';
    case 'low':
    case 'negligible':
    case 'unimportant':
    case 'minor':
      return 'low';
    case 'none':
      return 'none';
    default:
      return 'unknown';
  }
}

function best(scores: (CvssScore | undefined)[]): CvssScore | undefined {
  let top: CvssScore | undefined;
  for (const s of scores) if (s && (!top || s.score > top.score)) top = s;
  return top;
}

function cvssOf(list: readonly OsvSeverity[]): CvssScore | undefined {
  return best(list.filter((s) => s.type === 'CVSS_V3').map((s) => cvss3(s.score))) ?? best(list.filter((s) => s.type === 'CVSS_V2').map((s) => cvss2(s.score)));
}

function word(obj: Record<string, unknown> | undefined, key: string, source: string): VendorSeverity | undefined {
  const v = obj?.[key];
  if (typeof v !== 'string' || v.length > 64) return undefined;
  const level = levelOfWord(v);
  return level === 'unknown' ? undefined : { source, value: v, level };
}

/** The severity of `record` for one of its affected entries (or for the record as a whole). */
export function recordSeverity(record: OsvRecord, entry?: OsvAffected): Severity {
  // The schema: when entries carry their own severity, the record carries none; so the entry's wins.
  const list = entry?.severity && entry.severity.length > 0 ? entry.severity : record.severity;
  const cvss = cvssOf(list);
  const ubuntu = list.find((s) => s.type === 'Ubuntu');
  const vendor =
    (ubuntu && levelOfWord(ubuntu.score) !== 'unknown' ? { source: 'Ubuntu', value: ubuntu.score, level: levelOfWord(ubuntu.score) } : undefined) ??
    word(entry?.ecosystem_specific, 'severity', 'ecosystem_specific.severity') ??
    word(entry?.ecosystem_specific, 'urgency', 'ecosystem_specific.urgency') ??
    word(entry?.database_specific, 'severity', 'affected.database_specific.severity') ??
    word(record.database_specific, 'severity', 'database_specific.severity');
  const v4 = list.find((s) => s.type === 'CVSS_V4')?.score;
  return {
    level: cvss?.level ?? vendor?.level ?? 'unknown',
    ...(cvss ? { cvss } : {}),
    ...(vendor ? { vendor } : {}),
    ...(v4 !== undefined ? { cvssV4: v4 } : {}),
  };
}
