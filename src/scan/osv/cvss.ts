/**
 * CVSS base scores from vector strings, computed with the specifications' own formulas:
 * v3.0/v3.1 (https://www.first.org/cvss/v3.1/specification-document §7.1, Roundup of Appendix A) and v2
 * (https://www.first.org/cvss/v2/guide §3.2.1). Only the base metrics count; temporal and environmental ones
 * are accepted in the vector and ignored, as OSV's CVSS_V2/CVSS_V3 severities are base vectors.
 *
 * CVSS v4 is not scored here (its score comes from a table of macro vectors, not a formula): a v4 vector is
 * kept in the record and its severity is `unknown` unless another source rates it.
 */

export type SeverityLevel = 'unknown' | 'none' | 'low' | 'medium' | 'high' | 'critical';

export interface CvssScore {
  version: '2.0' | '3.0' | '3.1';
  /** The vector as given. */
  vector: string;
  /** The base score, 0.0 to 10.0. */
  score: number;
  level: SeverityLevel;
}

/** The qualitative rating of a v3 score (v3.1 §5): None, Low, Medium, High, Critical. */
export function levelOfCvss3(score: number): SeverityLevel {
  if (score === 0) return 'none';
  if (score < 4) return 'low';
  if (score < 7) return 'medium';
  if (score < 9) return 'high';
  return 'critical';
}

/** NVD's rating of a v2 score: Low, Medium, High (v2 defines no Critical). */
export function levelOfCvss2(score: number): SeverityLevel {
  if (score < 4) return 'low';
  if (score < 7) return 'medium';
  return 'high';
}

/** Split `K:V/K:V…` into a map; undefined when a metric repeats, a part is malformed or a key is not allowed. */
function metrics(parts: readonly string[], allowed: ReadonlySet<string>): Map<string, string> | undefined {
  const out = new Map<string, string>();
  for (const part of parts) {
    const m = /^([A-Za-z]+):([A-Za-z]+)$/.exec(part);
    if (!m || !allowed.has(m[1]!) || out.has(m[1]!)) return undefined;
    out.set(m[1]!, m[2]!);
  }
  return out;
}

const V3_BASE = {
  AV: { N: 0.85, A: 0.62, L: 0.55, P: 0.2 },
  AC: { L: 0.77, H: 0.44 },
  UI: { N: 0.85, R: 0.62 },
  CIA: { H: 0.56, L: 0.22, N: 0 },
} as const;

const V3_KEYS = new Set(['AV', 'AC', 'PR', 'UI', 'S', 'C', 'I', 'A', 'E', 'RL', 'RC', 'CR', 'IR', 'AR', 'MAV', 'MAC', 'MPR', 'MUI', 'MS', 'MC', 'MI', 'MA']);

/** v3.1 Appendix A: the smallest number with one decimal that is ≥ x, without floating-point surprises. */
function roundUp31(x: number): number {
  const i = Math.round(x * 100_000);
  return i % 10_000 === 0 ? i / 100_000 : (Math.floor(i / 10_000) + 1) / 10;
}

/** v3.0 §8.1: round up to one decimal. */
function roundUp30(x: number): number {
  return Math.ceil(x * 10) / 10;
}

function pick<T extends Record<string, number>>(table: T, value: string | undefined): number | undefined {
  return value !== undefined && Object.prototype.hasOwnProperty.call(table, value) ? table[value as keyof T] : undefined;
}

/** The v3.0/v3.1 base score of `CVSS:3.x/AV:…/AC:…/PR:…/UI:…/S:…/C:…/I:…/A:…`; undefined when it is not one. */
export function cvss3(vector: string): CvssScore | undefined {
  if (vector.length > 256) return undefined;
  const parts = vector.trim().split('/');
  const head = /^CVSS:(3\.[01])$/.exec(parts[0] ?? '');
  if (!head) return undefined;
  const m = metrics(parts.slice(1), V3_KEYS);
  if (!m) return undefined;
  const scope = m.get('S');
  if (scope !== 'U' && scope !== 'C') return undefined;
  const changed = scope === 'C';
  const av = pick(V3_BASE.AV, m.get('AV'));
  const ac = pick(V3_BASE.AC, m.get('AC'));
  const ui = pick(V3_BASE.UI, m.get('UI'));
  const pr = pick(changed ? { N: 0.85, L: 0.68, H: 0.5 } : { N: 0.85, L: 0.62, H: 0.27 }, m.get('PR'));
  const c = pick(V3_BASE.CIA, m.get('C'));
  const i = pick(V3_BASE.CIA, m.get('I'));
  const a = pick(V3_BASE.CIA, m.get('A'));
  if (av === undefined || ac === undefined || ui === undefined || pr === undefined || c === undefined || i === undefined || a === undefined) return undefined;
  const version = head[1] as '3.0' | '3.1';
  const roundUp = version === '3.1' ? roundUp31 : roundUp30;
  const iss = 1 - (1 - c) * (1 - i) * (1 - a);
  const impact = changed ? 7.52 * (iss - 0.029) - 3.25 * Math.pow(iss - 0.02, 15) : 6.42 * iss;
  const exploitability = 8.22 * av * ac * pr * ui;
  let score = 0;
  if (impact > 0) score = roundUp(Math.min((changed ? 1.08 : 1) * (impact + exploitability), 10));
  return { version, vector, score, level: levelOfCvss3(score) };
}

const V2_BASE = {
  AV: { L: 0.395, A: 0.646, N: 1.0 },
  AC: { H: 0.35, M: 0.61, L: 0.71 },
  Au: { M: 0.45, S: 0.56, N: 0.704 },
  CIA: { N: 0, P: 0.275, C: 0.66 },
} as const;

const V2_KEYS = new Set(['AV', 'AC', 'Au', 'C', 'I', 'A', 'E', 'RL', 'RC', 'CDP', 'TD', 'CR', 'IR', 'AR']);

/** The v2 base score of `AV:…/AC:…/Au:…/C:…/I:…/A:…` (optionally in parentheses or after `CVSS:2.0/`). */
export function cvss2(vector: string): CvssScore | undefined {
  if (vector.length > 256) return undefined;
  let text = vector.trim();
  if (text.startsWith('(') && text.endsWith(')')) text = text.slice(1, -1);
  if (text.startsWith('CVSS:2.0/')) text = text.slice('CVSS:2.0/'.length);
  const m = metrics(text.split('/'), V2_KEYS);
  if (!m) return undefined;
  const av = pick(V2_BASE.AV, m.get('AV'));
  const ac = pick(V2_BASE.AC, m.get('AC'));
  const au = pick(V2_BASE.Au, m.get('Au'));
  const c = pick(V2_BASE.CIA, m.get('C'));
  const i = pick(V2_BASE.CIA, m.get('I'));
  const a = pick(V2_BASE.CIA, m.get('A'));
  if (av === undefined || ac === undefined || au === undefined || c === undefined || i === undefined || a === undefined) return undefined;
  const impact = 10.41 * (1 - (1 - c) * (1 - i) * (1 - a));
  const exploitability = 20 * av * ac * au;
  const f = impact === 0 ? 0 : 1.176;
  // Round to one decimal; the epsilon keeps 7.45 (a float 7.4499…) from rounding down.
  const raw = (0.6 * impact + 0.4 * exploitability - 1.5) * f;
  const score = Math.max(0, Math.round(raw * 10 + 1e-9) / 10);
  return { version: '2.0', vector, score, level: levelOfCvss2(score) };
}
