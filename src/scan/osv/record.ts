/**
 * OSV records (https://ossf.github.io/osv-schema/), read from untrusted JSON and kept as a validated subset:
 * what matching a package and reporting a finding need (ids, aliases, summary, times, affected packages with
 * their ranges and versions, severities), nothing of `details`, `references` or `credits`.
 *
 * The kept record uses the schema's own field names (snake_case), so it is still an OSV record: a reader that
 * knows the schema knows it, and `wharf db lookup --json` prints what osv.dev would.
 *
 * A record that breaks the schema in a way that changes what it means (an event with two bounds, a package
 * without a name, a time that is not RFC 3339) is refused as a whole: a half-read range could hide a fix or an
 * introduction. The refusal is a warning for the caller; nothing here throws for bad input.
 */
/** Told about each record (or part of one) skipped, so an import goes on and the user learns what was not read. */
export type WarningHandler = (message: string) => void;

export type OsvRangeType = 'ECOSYSTEM' | 'SEMVER' | 'GIT';

/** Exactly one bound per event, as the schema requires. */
export type OsvEvent = { introduced: string } | { fixed: string } | { last_affected: string } | { limit: string };

export interface OsvRange {
  type: OsvRangeType;
  /** GIT ranges: the repository the commit hashes belong to. */
  repo?: string;
  events: OsvEvent[];
}

export interface OsvSeverity {
  /** `CVSS_V2`, `CVSS_V3`, `CVSS_V4`, `Ubuntu`, or a type a later schema defines (kept as written). */
  type: string;
  score: string;
}

export interface OsvPackage {
  ecosystem: string;
  name: string;
  purl?: string;
}

export interface OsvAffected {
  package: OsvPackage;
  ranges: OsvRange[];
  versions: string[];
  severity?: OsvSeverity[];
  ecosystem_specific?: Record<string, unknown>;
  database_specific?: Record<string, unknown>;
}

export interface OsvRecord {
  id: string;
  /** As written in the record; compare with {@link timestampKey}. */
  modified: string;
  published?: string;
  /** Set when the record was withdrawn: it then matches nothing. */
  withdrawn?: string;
  aliases: string[];
  /** Ids this record was derived from (Debian and Alpine records name their CVE here, not in aliases). */
  upstream?: string[];
  related?: string[];
  summary?: string;
  severity: OsvSeverity[];
  /** Only the entries that name a package: an entry with GIT ranges alone cannot be looked up by name. */
  affected: OsvAffected[];
  database_specific?: Record<string, unknown>;
}

/** Caps on what one record may hold; larger is refused (or, for free-form objects, dropped) with a warning. */
export interface RecordLimits {
  /** Bytes of JSON in one file or zip entry. */
  maxBytes: number;
  maxAffected: number;
  maxRanges: number;
  maxEvents: number;
  maxVersions: number;
  /** Ids, ecosystems, names, versions, purls, severity scores. */
  maxStringLength: number;
  /** Longer summaries are cut. */
  maxSummaryLength: number;
  /** ecosystem_specific / database_specific objects serialised larger than this are dropped. */
  maxSpecificBytes: number;
  /** Records in one file that holds an array of them. */
  maxRecordsPerFile: number;
}

export const DEFAULT_RECORD_LIMITS: Readonly<RecordLimits> = Object.freeze({
  maxBytes: 16 << 20,
  maxAffected: 10_000,
  maxRanges: 1_000,
  maxEvents: 10_000,
  maxVersions: 200_000,
  maxStringLength: 1024,
  maxSummaryLength: 1024,
  maxSpecificBytes: 64 << 10,
  maxRecordsPerFile: 1_000_000,
});

class Refused extends Error {}

function refuse(why: string): never {
  throw new Refused(why);
}

const EVENT_KEYS = ['introduced', 'fixed', 'last_affected', 'limit'] as const;
const RANGE_TYPES: readonly string[] = ['ECOSYSTEM', 'SEMVER', 'GIT'];

/** The zero instant Debian's converter writes where it knows no date: not a date. */
const ZERO_TIME = '0001-01-01T00:00:00.000000000Z';

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9})\d*)?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;

/**
 * An RFC 3339 time as a string that sorts as the instant does: UTC, nine fractional digits
 * (`2024-05-01T10:00:00.120000000Z`), so records modified a few nanoseconds apart are still told apart.
 * Undefined for anything that is not an RFC 3339 date-time.
 */
export function timestampKey(value: string): string | undefined {
  if (value.length > 64) return undefined;
  const m = RFC3339.exec(value);
  if (!m) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) return undefined;
  const d = new Date(0);
  d.setUTCFullYear(year, month - 1, day);
  d.setUTCHours(hour, minute, Math.min(second, 59), 0);
  if (d.getUTCDate() !== day) return undefined; // 2024-02-30
  if (m[9]) {
    const offset = (Number(m[10]) * 60 + Number(m[11])) * 60_000;
    d.setTime(d.getTime() + (m[9] === '+' ? -offset : offset));
  }
  const iso = d.toISOString();
  if (!/^\d{4}-/.test(iso)) return undefined; // an offset moved it out of years 0000-9999
  return `${iso.slice(0, 19)}.${(m[7] ?? '').padEnd(9, '0')}Z`;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** No control characters: ids, names and versions are printed and used as keys. */
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

interface Reader {
  limits: RecordLimits;
  warn: (why: string) => void;
}

function str(v: unknown, what: string, r: Reader, opts: { required?: boolean; allowEmpty?: boolean } = {}): string | undefined {
  if (v === undefined || v === null) {
    if (opts.required) refuse(`${what} is missing`);
    return undefined;
  }
  if (typeof v !== 'string') refuse(`${what} is not a string`);
  if (v.length > r.limits.maxStringLength) refuse(`${what} is longer than ${r.limits.maxStringLength} characters`);
  if (CONTROL.test(v)) refuse(`${what} holds control characters`);
  if (!opts.allowEmpty && v.trim() === '') {
    if (opts.required) refuse(`${what} is empty`);
    return undefined;
  }
  return v;
}

function strList(v: unknown, what: string, r: Reader, max: number): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) refuse(`${what} is not a list`);
  if (v.length > max) refuse(`${what} has more than ${max} entries`);
  const out: string[] = [];
  for (let i = 0; i < v.length; i++) {
    const s = str(v[i], `${what}[${i}]`, r);
    if (s !== undefined) out.push(s);
  }
  return out;
}

function time(v: unknown, what: string, r: Reader, required: boolean): string | undefined {
  const s = str(v, what, r, { required });
  if (s === undefined) return undefined;
  const key = timestampKey(s);
  if (key === undefined) refuse(`${what} ${JSON.stringify(s.slice(0, 40))} is not an RFC 3339 time`);
  return s;
}

/** A free-form object, kept when small; dropped (with a warning) when large, ignored when not an object. */
function specific(v: unknown, what: string, r: Reader): Record<string, unknown> | undefined {
  if (!isObject(v)) return undefined;
  const size = JSON.stringify(v).length;
  if (size > r.limits.maxSpecificBytes) {
    r.warn(`${what} (${size} bytes) is larger than ${r.limits.maxSpecificBytes} bytes: dropped`);
    return undefined;
  }
  return v;
}

function severities(v: unknown, what: string, r: Reader): OsvSeverity[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) refuse(`${what} is not a list`);
  if (v.length > 64) refuse(`${what} has more than 64 entries`);
  const out: OsvSeverity[] = [];
  v.forEach((s, i) => {
    if (!isObject(s)) refuse(`${what}[${i}] is not an object`);
    const type = str(s.type, `${what}[${i}].type`, r, { required: true })!;
    const score = str(s.score, `${what}[${i}].score`, r);
    if (score !== undefined) out.push({ type, score });
  });
  return out;
}

function event(v: unknown, what: string): OsvEvent {
  if (!isObject(v)) refuse(`${what} is not an object`);
  const present = EVENT_KEYS.filter((k) => v[k] !== undefined);
  if (present.length !== 1) {
    refuse(present.length === 0 ? `${what} has no introduced, fixed, last_affected or limit` : `${what} has more than one bound (${present.join(', ')})`);
  }
  const key = present[0]!;
  const value = v[key];
  if (typeof value !== 'string' || value.trim() === '') refuse(`${what}.${key} is not a version`);
  return { [key]: value } as OsvEvent;
}

function range(v: unknown, what: string, r: Reader): OsvRange | undefined {
  if (!isObject(v)) refuse(`${what} is not an object`);
  const type = str(v.type, `${what}.type`, r, { required: true })!;
  if (!RANGE_TYPES.includes(type)) {
    r.warn(`${what}: unknown range type ${JSON.stringify(type)}: the range is ignored`);
    return undefined;
  }
  if (!Array.isArray(v.events)) refuse(`${what}.events is not a list`);
  if (v.events.length === 0) refuse(`${what}.events is empty`);
  if (v.events.length > r.limits.maxEvents) refuse(`${what}.events has more than ${r.limits.maxEvents} entries`);
  const events = v.events.map((e, i) => {
    const ev = event(e, `${what}.events[${i}]`);
    const value = Object.values(ev)[0] as string;
    if (value.length > r.limits.maxStringLength) refuse(`${what}.events[${i}] is longer than ${r.limits.maxStringLength} characters`);
    if (CONTROL.test(value)) refuse(`${what}.events[${i}] holds control characters`);
    return ev;
  });
  const repo = str(v.repo, `${what}.repo`, r);
  return { type: type as OsvRangeType, ...(repo !== undefined ? { repo } : {}), events };
}

function affectedEntry(v: unknown, what: string, r: Reader): OsvAffected | undefined {
  if (!isObject(v)) refuse(`${what} is not an object`);
  if (v.package === undefined || v.package === null) return undefined; // GIT-only entry: nothing to look up by name
  if (!isObject(v.package)) refuse(`${what}.package is not an object`);
  const ecosystem = str(v.package.ecosystem, `${what}.package.ecosystem`, r, { required: true })!;
  const name = str(v.package.name, `${what}.package.name`, r, { required: true })!;
  const purl = str(v.package.purl, `${what}.package.purl`, r);
  if (v.ranges !== undefined && v.ranges !== null && !Array.isArray(v.ranges)) refuse(`${what}.ranges is not a list`);
  const rawRanges = (v.ranges as unknown[] | undefined) ?? [];
  if (rawRanges.length > r.limits.maxRanges) refuse(`${what}.ranges has more than ${r.limits.maxRanges} entries`);
  const ranges = rawRanges.map((x, i) => range(x, `${what}.ranges[${i}]`, r)).filter((x): x is OsvRange => x !== undefined);
  const versions = strList(v.versions, `${what}.versions`, r, r.limits.maxVersions);
  const severity = severities(v.severity, `${what}.severity`, r);
  const eco = specific(v.ecosystem_specific, `${what}.ecosystem_specific`, r);
  const db = specific(v.database_specific, `${what}.database_specific`, r);
  return {
    package: { ecosystem, name, ...(purl !== undefined ? { purl } : {}) },
    ranges,
    versions,
    ...(severity.length > 0 ? { severity } : {}),
    ...(eco ? { ecosystem_specific: eco } : {}),
    ...(db ? { database_specific: db } : {}),
  };
}

/** Validate one parsed JSON value as an OSV record; throws Refused. */
function toRecord(v: unknown, r: Reader): OsvRecord {
  if (!isObject(v)) refuse('not a JSON object');
  const schemaVersion = v.schema_version;
  if (typeof schemaVersion === 'string' && /^\d+/.test(schemaVersion) && Number.parseInt(schemaVersion, 10) > 1) {
    refuse(`schema_version ${JSON.stringify(schemaVersion.slice(0, 20))} is a later major version than this reader knows (1.x)`);
  }
  const id = str(v.id, 'id', r, { required: true })!;
  if (/\s/.test(id)) refuse(`id ${JSON.stringify(id.slice(0, 60))} holds white space`);
  const modified = time(v.modified, 'modified', r, true)!;
  let published = time(v.published, 'published', r, false);
  let withdrawn = time(v.withdrawn, 'withdrawn', r, false);
  if (published !== undefined && timestampKey(published) === ZERO_TIME) published = undefined;
  if (withdrawn !== undefined && timestampKey(withdrawn) === ZERO_TIME) withdrawn = undefined;
  const aliases = strList(v.aliases, 'aliases', r, 1000);
  const upstream = strList(v.upstream, 'upstream', r, 1000);
  const related = strList(v.related, 'related', r, 1000);
  let summary: string | undefined;
  if (typeof v.summary === 'string' && v.summary.trim() !== '') {
    const one = v.summary.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, ' ').trim();
    summary = one.length > r.limits.maxSummaryLength ? `${one.slice(0, r.limits.maxSummaryLength - 1)}…` : one;
  }
  const severity = severities(v.severity, 'severity', r);
  if (v.affected !== undefined && v.affected !== null && !Array.isArray(v.affected)) refuse('affected is not a list');
  const rawAffected = (v.affected as unknown[] | undefined) ?? [];
  if (rawAffected.length > r.limits.maxAffected) refuse(`affected has more than ${r.limits.maxAffected} entries`);
  const affected = rawAffected.map((a, i) => affectedEntry(a, `affected[${i}]`, r)).filter((a): a is OsvAffected => a !== undefined);
  const db = specific(v.database_specific, 'database_specific', r);
  // Key order matters: the database finds `"id"` first on a line without parsing it.
  return {
    id,
    modified,
    ...(published !== undefined ? { published } : {}),
    ...(withdrawn !== undefined ? { withdrawn } : {}),
    aliases,
    ...(upstream.length > 0 ? { upstream } : {}),
    ...(related.length > 0 ? { related } : {}),
    ...(summary !== undefined ? { summary } : {}),
    severity,
    affected,
    ...(db ? { database_specific: db } : {}),
  };
}

export interface ParseRecordOptions {
  /** Names the file or zip entry in warnings. */
  where?: string;
  onWarning?: WarningHandler;
  /** Called once for each file or record skipped (after its warning), for counts. */
  onSkip?: () => void;
  limits?: Partial<RecordLimits>;
}

function idOf(v: unknown): string {
  return isObject(v) && typeof v.id === 'string' ? ` ${JSON.stringify(v.id.slice(0, 60))}` : '';
}

/**
 * Validate one JSON value (already parsed) as an OSV record. Undefined, with a warning, when it is not one.
 */
export function validateOsvRecord(value: unknown, options: ParseRecordOptions = {}): OsvRecord | undefined {
  const where = options.where ?? 'OSV record';
  const limits = { ...DEFAULT_RECORD_LIMITS, ...options.limits };
  const warn = (why: string): void => options.onWarning?.(`${where}${idOf(value)}: ${why}`);
  try {
    return toRecord(value, { limits, warn });
  } catch (err) {
    if (!(err instanceof Refused)) throw err;
    options.onWarning?.(`${where}${idOf(value)}: skipped: ${err.message}`);
    options.onSkip?.();
    return undefined;
  }
}

/**
 * The OSV records in one JSON file: a record, or an array of records (as some feeds publish `all.json`).
 * Anything unreadable is a warning and yields no record; this never throws for bad input.
 */
export function parseOsvRecords(bytes: string | Uint8Array, options: ParseRecordOptions = {}): OsvRecord[] {
  const where = options.where ?? 'OSV record';
  const limits = { ...DEFAULT_RECORD_LIMITS, ...options.limits };
  const size = typeof bytes === 'string' ? Buffer.byteLength(bytes) : bytes.byteLength;
  if (size > limits.maxBytes) {
    options.onWarning?.(`${where}: skipped: ${size} bytes is more than the ${limits.maxBytes} a record may have`);
    options.onSkip?.();
    return [];
  }
  let value: unknown;
  try {
    const text = typeof bytes === 'string' ? bytes : new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    value = JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
  } catch (err) {
    options.onWarning?.(`${where}: skipped: not JSON (${(err as Error).message.slice(0, 120)})`);
    options.onSkip?.();
    return [];
  }
  if (!Array.isArray(value)) {
    const one = validateOsvRecord(value, { ...options, limits });
    return one ? [one] : [];
  }
  if (value.length > limits.maxRecordsPerFile) {
    options.onWarning?.(`${where}: skipped: more than ${limits.maxRecordsPerFile} records in one file`);
    options.onSkip?.();
    return [];
  }
  const out: OsvRecord[] = [];
  value.forEach((v, i) => {
    const one = validateOsvRecord(v, { ...options, limits, where: `${where}[${i}]` });
    if (one) out.push(one);
  });
  return out;
}

/** One record from one JSON text (a single object), or undefined with a warning. */
export function parseOsvRecord(bytes: string | Uint8Array, options: ParseRecordOptions = {}): OsvRecord | undefined {
  const where = options.where ?? 'OSV record';
  const head = typeof bytes === 'string' ? bytes.slice(0, 64) : Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(64, bytes.byteLength)).toString('latin1');
  if (head.replace(/^\uFEFF|^\xEF\xBB\xBF/, '').trimStart().startsWith('[')) {
    options.onWarning?.(`${where}: skipped: a list, not one record`);
    options.onSkip?.();
    return undefined;
  }
  return parseOsvRecords(bytes, options)[0];
}
