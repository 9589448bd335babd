/**
 * The local vulnerability database: OSV records imported from osv.dev's exports (or any OSV JSON), stored so
 * that the records of one package are found by reading one small file. See layout.ts for the files,
 * import.ts for how an import stays incremental and atomic, query.ts for readers.
 */
export { importOsv, type ImportOptions, type ImportPhase, type ImportProgress, type ImportResult } from './import.js';
export { lookup, status, type DbStatus, type EcosystemStatus, type QueryOptions } from './query.js';
export { displaySource, ecosystemKey, type LastImport } from './layout.js';
export { isUrl, type FetchFunction } from './download.js';
export { ZipReader, DEFAULT_ZIP_LIMITS, crc32, looksLikeZip, type ZipEntry, type ZipLimits } from './zip.js';
export type { SourceKind } from './sources.js';
