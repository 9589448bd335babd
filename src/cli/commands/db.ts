import { isAbsolute, join, resolve } from 'node:path';
import { WharfError } from '../../errors.js';
import type { DbStatus, ImportResult } from '../../scan/db/index.js';
import type { recordSeverity as RecordSeverity } from '../../scan/osv/severity.js';
import type { OsvRecord } from '../../scan/osv/record.js';
import { fitWidth, keyValueTable, sanitizeForTerminal } from '../format.js';
import type { CliIO, Command } from '../types.js';

/** Warnings told one by one on stderr; the rest are counted. */
const WARNINGS_SHOWN = 20;
/** Warnings kept in --json output. */
const WARNINGS_KEPT = 100;

/** --db-dir, else $WHARF_DB_DIR, else $XDG_CACHE_HOME/wharf/db, else ~/.cache/wharf/db. */
export function defaultDbDir(io: CliIO): string {
  if (io.env.WHARF_DB_DIR) return resolve(io.cwd, io.env.WHARF_DB_DIR);
  const xdg = io.env.XDG_CACHE_HOME;
  // XDG: a relative XDG_CACHE_HOME is invalid and ignored.
  const cache = xdg && isAbsolute(xdg) ? xdg : join(io.env.HOME || io.cwd, '.cache');
  return join(cache, 'wharf', 'db');
}

function count(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

function importSummary(r: ImportResult): string {
  if (r.notModified) return `Unchanged: ${r.source} was not modified since it was last imported (HTTP 304); nothing downloaded\n`;
  const what = `${r.added} added, ${r.updated} updated, ${r.unchanged} unchanged, ${r.withdrawn} withdrawn, ${r.skipped} skipped`;
  return `${r.changed ? 'Imported' : 'Nothing new in'} ${r.source} (${count(r.records, 'record')} in ${count(r.files, 'file')}): ${what}\n`;
}

export function statusText(s: DbStatus): string {
  if (!s.exists) return `No vulnerability database in ${s.dbDir} yet: import one with 'wharf db import URL|FILE|DIR'\n`;
  const li = s.lastImport;
  let out = keyValueTable([
    ['Database', s.dbDir],
    ['Records', `${s.records}${s.withdrawn > 0 ? ` (and ${s.withdrawn} withdrawn)` : ''}`],
    ['Newest modified', s.newestModified],
    ['Last import', li ? [`${li.at} from ${li.source}`, li.notModified ? 'not modified since it was imported before (HTTP 304)' : `${li.added} added, ${li.updated} updated, ${li.unchanged} unchanged, ${li.withdrawn} withdrawn, ${li.skipped} skipped`] : undefined],
  ]);
  if (s.ecosystems.length > 0) {
    const rows = [['ECOSYSTEM', 'RECORDS', 'NEWEST MODIFIED'], ...s.ecosystems.map((e) => [sanitizeForTerminal(e.ecosystem), String(e.records), e.newestModified ?? ''])];
    const widths = [0, 1].map((c) => Math.max(...rows.map((r) => r[c]!.length)) + 3);
    out += '\n' + rows.map((r) => `${r[0]!.padEnd(widths[0]!)}${r[1]!.padStart(widths[1]! - 3).padEnd(widths[1]!)}${r[2]}`.trimEnd() + '\n').join('');
  }
  return out;
}

/** The fixed versions an entry names for the package, for the lookup table. */
function fixesFor(record: OsvRecord, ecosystem: string, name: string): string[] {
  const fixes = new Set<string>();
  for (const a of record.affected) {
    if (a.package.ecosystem !== ecosystem || a.package.name !== name) continue;
    for (const r of a.ranges) for (const e of r.events) if ('fixed' in e) fixes.add(e.fixed);
  }
  return [...fixes];
}

function lookupTable(records: readonly OsvRecord[], ecosystem: string, name: string, columns: number | undefined, recordSeverity: typeof RecordSeverity): string {
  const rows = [['ID', 'SEVERITY', 'FIXED', 'SUMMARY']];
  for (const r of records) {
    const entry = r.affected.find((a) => a.package.ecosystem === ecosystem && a.package.name === name);
    const sev = recordSeverity(r, entry);
    const level = sev.cvss ? `${sev.level} (${sev.cvss.score.toFixed(1)})` : sev.level;
    rows.push([r.id, level, fixesFor(r, ecosystem, name).join(', ') || '-', r.summary ?? '']);
  }
  const widths = [0, 1, 2].map((c) => Math.max(...rows.map((row) => row[c]!.length)) + 3);
  return rows
    .map((row) => {
      const line = row.map((c, i) => (i < 3 ? c.padEnd(widths[i]!) : c)).join('').trimEnd();
      return `${sanitizeForTerminal(columns ? fitWidth(line, columns) : line)}\n`;
    })
    .join('');
}

/** JSON whose C1 controls and line separators are escaped, so that printing it is safe (as history --json). */
function safeJson(value: unknown): string {
  return JSON.stringify(value, null, 2).replace(/[\u007f-\u009f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`) + '\n';
}

export const dbCommand: Command = {
  name: 'db',
  summary: "Manage the local vulnerability database (OSV): 'wharf db import', 'wharf db status'",
  usage: 'import FILE|DIR|URL | status | lookup ECOSYSTEM NAME  [--db-dir DIR] [--json]',
  description: `
The vulnerability database holds OSV records (https://ossf.github.io/osv-schema/), as osv.dev publishes
them for each ecosystem at https://osv-vulnerabilities.storage.googleapis.com/<Ecosystem>/all.zip
(Debian, Alpine, Ubuntu, npm, PyPI, Go, …; the names are case-sensitive).

  import FILE|DIR|URL   add the records of an OSV zip, a directory of .json files (searched recursively),
                        one .json file (a record or a list of them), or an http(s) URL of a zip or .json
                        (downloaded to a temporary file first, through $HTTPS_PROXY or $HTTP_PROXY unless
                        $NO_PROXY names the host). A URL imported before is asked for with the ETag and
                        Last-Modified its server sent: "304 Not Modified" downloads nothing and keeps the
                        records as they are (only the last import's time moves); --force downloads anyway.
                        Incremental: a record already stored with the same or a newer "modified" is kept; a
                        newer one replaces it; a withdrawn one removes it.
                        Atomic: until the import is done, readers see the database as it was, and an import
                        that fails or is killed leaves it so. Imports run one at a time (others wait).
                        Broken records are skipped with a warning; a damaged zip fails the import.
  status                the ecosystems held, their record counts and newest "modified", and the last import.
  lookup ECOSYSTEM NAME the records that name a package, e.g. 'lookup Debian:12 openssl' (exact names, as
                        OSV writes them: source package names for Debian and Alpine).

The database lives in --db-dir, else $WHARF_DB_DIR, else $XDG_CACHE_HOME/wharf/db (~/.cache/wharf/db).

  --json   import: the counts {added, updated, unchanged, withdrawn, skipped, records, files, generation,
           changed, notModified (a 304), warnings (the first ${WARNINGS_KEPT}), warningCount}; status: {exists,
           records, withdrawn, newestModified, lastImport, ecosystems [{ecosystem, records, newestModified}]};
           lookup: the records.`,
  flags: [
    { name: 'db-dir', type: 'string', placeholder: 'DIR', help: 'the database directory (default $WHARF_DB_DIR, else $XDG_CACHE_HOME/wharf/db)' },
    { name: 'json', type: 'boolean', help: 'print the result as JSON, and errors as JSON on stderr' },
    { name: 'force', type: 'boolean', help: 'import: download a URL again even if its server says it has not changed since the last import' },
  ],
  operands: { min: 1, max: 3, names: 'a subcommand (import, status or lookup) and its operands' },
  takesReferences: false,
  examples: [
    'wharf db import https://osv-vulnerabilities.storage.googleapis.com/Debian/all.zip',
    'wharf db import ./all.zip --db-dir /var/cache/wharf/db',
    'wharf db import --force https://osv-vulnerabilities.storage.googleapis.com/Alpine/all.zip',
    'wharf db import ./advisories/ --json',
    'wharf db status',
    'wharf db lookup Alpine:v3.20 openssl',
  ],
  async run(ctx) {
    // Loaded here, not at startup: every other command would pay for parsing the database code.
    const { importOsv, isUrl, lookup, status } = await import('../../scan/db/index.js');
    const { proxyFromEnv } = await import('../../util/proxy.js');
    const { recordSeverity } = await import('../../scan/osv/severity.js');
    const { args, io } = ctx;
    const [sub, ...rest] = args.operands;
    const dbDirFlag = args.str('db-dir');
    const dbDir = dbDirFlag !== undefined ? resolve(io.cwd, dbDirFlag) : defaultDbDir(io);
    const json = args.bool('json');
    const want = (n: number, names: string): void => {
      if (rest.length !== n) {
        throw new WharfError('USAGE', `'wharf db ${sub}' takes ${names}${rest.length > n ? `, but also got "${rest.slice(n).join(' ')}"` : ''}`, {
          hint: `usage: wharf db ${sub}${names === 'no operands' ? '' : ` ${names}`} [--db-dir DIR] [--json]`,
        });
      }
    };
    switch (sub) {
      case 'import': {
        want(1, 'FILE|DIR|URL');
        const source = isUrl(rest[0]!) ? rest[0]! : resolve(io.cwd, rest[0]!);
        const warnings: string[] = [];
        let warningCount = 0;
        const tty = io.stderr.isTTY === true && !json;
        let progressShown = false;
        const proxy = proxyFromEnv(io.env);
        const result = await importOsv(source, {
          dbDir,
          signal: ctx.signal,
          ...(proxy.enabled ? { proxy } : {}),
          ...(args.bool('force') ? { unconditional: true } : {}),
          onWarning: (m) => {
            warningCount++;
            if (json) {
              if (warnings.length < WARNINGS_KEPT) warnings.push(m);
            } else if (warningCount <= WARNINGS_SHOWN) {
              if (progressShown) io.stderr.write('\r\x1b[K');
              ctx.logger.warn(m);
            }
          },
          onProgress: (p) => {
            if (!tty) return;
            progressShown = true;
            const what = p.phase === 'download' ? 'downloading' : p.phase === 'read' ? `reading: ${count(p.files, 'file')}, ${count(p.records, 'record')}` : p.phase === 'write' ? 'writing' : 'finishing';
            io.stderr.write(`\r\x1b[Kwharf: ${what}…`);
          },
        });
        if (progressShown) io.stderr.write('\r\x1b[K');
        if (!json && warningCount > WARNINGS_SHOWN) ctx.logger.warn(`${warningCount - WARNINGS_SHOWN} more warnings not shown (--json lists the first ${WARNINGS_KEPT})`);
        if (json) io.stdout.write(safeJson({ ...result, warnings, warningCount }));
        else io.stdout.write(importSummary(result));
        return 0;
      }
      case 'status': {
        want(0, 'no operands');
        const s = await status(dbDir, { signal: ctx.signal });
        io.stdout.write(json ? safeJson(s) : statusText(s));
        return 0;
      }
      case 'lookup': {
        want(2, 'ECOSYSTEM NAME');
        const [ecosystem, name] = rest as [string, string];
        const records = await lookup(dbDir, ecosystem, name, { signal: ctx.signal });
        if (json) io.stdout.write(safeJson(records));
        else if (records.length === 0) io.stdout.write(`No records name ${sanitizeForTerminal(ecosystem)} package ${sanitizeForTerminal(name)}\n`);
        else io.stdout.write(lookupTable(records, ecosystem, name, io.stdout.isTTY ? io.stdout.columns : undefined, recordSeverity));
        return 0;
      }
      default:
        throw new WharfError('USAGE', `unknown db subcommand "${sanitizeForTerminal(String(sub).slice(0, 30))}"`, {
          hint: "the subcommands are import, status and lookup: 'wharf db import FILE|DIR|URL', 'wharf db status'",
        });
    }
  },
};
