/**
 * `.wharfignore`: findings the user has looked at and accepted, one id per line, in trivy's .trivyignore format
 * so an existing file works as it is — `CVE-2023-1234`, `CVE-2023-1234 exp:2027-01-31` (ignored until that day
 * ends, then reported again), `# comments`. An id matches a vulnerability by its id or any alias, a secret or a
 * config finding by its rule id (`aws-access-key-id`, `runs-as-root`).
 */
import { WharfError } from '../errors.js';
import type { ScanReport } from './scan.js';

export interface IgnoreRule {
  id: string;
  /** Last day (UTC, inclusive) the rule holds; none: for ever. */
  until?: string;
  line: number;
}

const MAX_IGNORE_BYTES = 1 << 20;

/** Parse an ignore file; a line that is not `ID [exp:YYYY-MM-DD]` is an error naming the line. */
export function parseIgnoreFile(text: string, where = '.wharfignore'): IgnoreRule[] {
  if (text.length > MAX_IGNORE_BYTES) throw new WharfError('CONFIG_INVALID', `${where} is larger than ${MAX_IGNORE_BYTES} bytes`, { hint: 'an ignore file lists ids, one per line' });
  const rules: IgnoreRule[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.replace(/(^|\s)#.*$/, '').trim();
    if (line === '') return;
    const m = /^(\S{1,200})(?:\s+exp:(\d{4}-\d{2}-\d{2}))?$/.exec(line);
    if (!m || (m[2] !== undefined && Number.isNaN(Date.parse(`${m[2]}T00:00:00Z`)))) {
      throw new WharfError('CONFIG_INVALID', `${where}:${i + 1}: not an ignore rule: ${JSON.stringify(raw.slice(0, 80))}`, { hint: 'write one id per line, optionally followed by exp:YYYY-MM-DD' });
    }
    const rule: IgnoreRule = { id: m[1]!, line: i + 1 };
    if (m[2]) rule.until = m[2];
    rules.push(rule);
  });
  return rules;
}

/** The report without the ignored findings (rules whose day has passed no longer apply), and how many went. */
export function applyIgnores(report: ScanReport, rules: readonly IgnoreRule[], now: Date = new Date()): { report: ScanReport; ignored: number } {
  const today = now.toISOString().slice(0, 10);
  const live = new Set(rules.filter((r) => r.until === undefined || r.until >= today).map((r) => r.id));
  if (live.size === 0) return { report, ignored: 0 };
  const vulnerabilities = report.vulnerabilities.filter((v) => !live.has(v.id) && !v.aliases.some((a) => live.has(a)));
  const secrets = report.secrets.filter((s) => !live.has(s.rule));
  const config = report.config.filter((c) => !live.has(c.rule));
  const ignored = report.vulnerabilities.length - vulnerabilities.length + (report.secrets.length - secrets.length) + (report.config.length - config.length);
  return { report: { ...report, vulnerabilities, secrets, config }, ignored };
}
