/**
 * OSV vulnerability records: reading them from untrusted JSON (record.ts), deciding whether a package version
 * is affected (affected.ts, with an injected version comparator), and how severe they are (severity.ts, cvss.ts).
 * Pure: nothing here reads a disk; the database in ../db/ stores and finds the records.
 */
export {
  DEFAULT_RECORD_LIMITS,
  parseOsvRecord,
  parseOsvRecords,
  timestampKey,
  validateOsvRecord,
  type OsvAffected,
  type OsvEvent,
  type OsvPackage,
  type OsvRange,
  type OsvRangeType,
  type OsvRecord,
  type OsvSeverity,
  type ParseRecordOptions,
  type RecordLimits,
  type WarningHandler,
} from './record.js';
export { isAffected, matchRecord, type AffectedOptions, type AffectedResult, type RecordMatch, type VersionCompare } from './affected.js';
export { cvss2, cvss3, levelOfCvss2, levelOfCvss3, type CvssScore, type SeverityLevel } from './cvss.js';
export { levelOfWord, recordSeverity, severityRank, type Severity, type VendorSeverity } from './severity.js';
