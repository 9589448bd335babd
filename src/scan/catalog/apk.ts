/**
 * apk's database of installed packages, `lib/apk/db/installed`: one blank-line separated stanza per package,
 * each line `X:value` with a one-letter key (P name, V version, A arch, o origin, L license; F/R/a/Z and the
 * rest describe files and are not needed here). Read one stanza at a time; malformed ones are skipped.
 */
import { packageUrl } from './purl.js';
import { lines, stanzas } from './stanza.js';
import type { OsRelease, Package, WarningHandler } from './types.js';
import { isApkName, isArch, isPlausibleVersion, plausibleLicense } from './validate.js';
import { FileWarnings, quote } from './warnings.js';

export interface ApkOptions {
  path?: string;
  os?: OsRelease;
  onWarning?: WarningHandler;
}

/** A stanza larger than this is skipped unread (one with thousands of files is a few hundred KiB). */
export const MAX_APK_STANZA = 16 << 20;

const WANTED = new Set(['P', 'V', 'A', 'o', 'L']);

/** The installed packages of an apk `installed` database. */
export function parseApkInstalled(data: Buffer, opts: ApkOptions = {}): Package[] {
  const path = opts.path ?? 'lib/apk/db/installed';
  const w = new FileWarnings(path, opts.onWarning);
  const out: Package[] = [];
  for (const s of stanzas(data)) {
    const where = `stanza at line ${s.line}`;
    if (s.end - s.start > MAX_APK_STANZA) {
      w.warn(`${where}: ${s.end - s.start} bytes, larger than ${MAX_APK_STANZA}; skipped`);
      continue;
    }
    const f = new Map<string, string>();
    let bad = 0;
    for (const line of lines(data.toString('utf8', s.start, s.end))) {
      if (line.length < 2 || line[1] !== ':' || line.includes('\u0000')) {
        bad++;
        continue;
      }
      const key = line[0]!;
      if (!WANTED.has(key)) continue;
      if (f.has(key)) {
        w.warn(`${where}: ${key}: given twice in one stanza (a missing blank line?); the first kept`);
        continue;
      }
      f.set(key, line.slice(2).trim());
    }
    if (bad > 0) w.warn(`${where}: ${bad} lines that are not "X:value" ignored`);
    const name = f.get('P');
    const version = f.get('V');
    if (!name) {
      w.warn(`${where}: no P: (package name); skipped`);
      continue;
    }
    if (!isApkName(name)) {
      w.warn(`${where}: P:${quote(name)} is not a valid package name; skipped`);
      continue;
    }
    if (!version) {
      w.warn(`${where} (${name}): no V: (version); skipped`);
      continue;
    }
    if (!isPlausibleVersion(version)) {
      w.warn(`${where} (${name}): V:${quote(version)} is not a valid version; skipped`);
      continue;
    }
    const pkg: Package = { type: 'apk', name, version, sourceName: name, sourceVersion: version, path, purl: '' };
    const origin = f.get('o');
    if (origin) {
      if (isApkName(origin)) pkg.sourceName = origin;
      else w.warn(`${where} (${name}): o:${quote(origin)} is not a valid origin; the package is taken as its own`);
    }
    const arch = f.get('A');
    if (arch) {
      if (isArch(arch)) pkg.arch = arch;
      else w.warn(`${where} (${name}): A:${quote(arch)} ignored`);
    }
    const license = plausibleLicense(f.get('L'));
    if (license) pkg.licenses = [license];
    pkg.purl = packageUrl(pkg, opts.os);
    out.push(pkg);
  }
  w.finish();
  return out;
}
