/**
 * dpkg's database of installed packages: `var/lib/dpkg/status` (one deb822 stanza per package, with a
 * `Status:` field) and `var/lib/dpkg/status.d/NAME` (distroless images: one file per package, no `Status:`).
 * Read one stanza at a time from the Buffer; a malformed stanza is skipped with a warning and the rest is read.
 */
import { packageUrl } from './purl.js';
import { lines, stanzas } from './stanza.js';
import type { OsRelease, Package, WarningHandler } from './types.js';
import { isArch, isDpkgName, isPlausibleVersion } from './validate.js';
import { FileWarnings, quote } from './warnings.js';

export interface DpkgOptions {
  /** The file, for Package.path and warnings. */
  path?: string;
  /** The distribution, for the purl's vendor and `distro` qualifier. */
  os?: OsRelease;
  onWarning?: WarningHandler;
  /** status.d files have no `Status:` field: every stanza is an installed package. */
  statusOptional?: boolean;
}

/** A stanza larger than this is skipped unread (a real one, with its conffiles, is a few KiB). */
export const MAX_DPKG_STANZA = 4 << 20;

/** Current states (the third word of `Status:`) in which a package's files are installed. */
const INSTALLED = new Set(['installed', 'triggers-pending', 'triggers-awaited']);
/** States that are not installed and are not worth a warning. */
const GONE = new Set(['not-installed', 'config-files']);
const WANT = new Set(['unknown', 'install', 'hold', 'deinstall', 'purge']);
const EFLAG = new Set(['ok', 'reinstreq']);
const STATE = new Set([...INSTALLED, ...GONE, 'half-installed', 'unpacked', 'half-configured']);

/** The fields of one stanza that matter here, names lowercased (deb822 field names are case-insensitive). */
const WANTED = new Set(['package', 'status', 'version', 'source', 'architecture']);

/**
 * The fields of a stanza. Continuation lines (starting with a space or tab) extend the previous field; a line
 * with a NUL byte or without `Name:` is dropped with a warning; a repeated field keeps its first value.
 */
function fieldsOf(text: string, where: string, w: FileWarnings): Map<string, string> {
  const out = new Map<string, string>();
  let current: string | undefined;
  for (const line of lines(text)) {
    if (line.includes('\u0000')) {
      w.warn(`${where}: a line with NUL bytes dropped`);
      current = undefined;
      continue;
    }
    if (line.startsWith(' ') || line.startsWith('\t')) {
      if (current === undefined) continue;
      out.set(current, `${out.get(current)!}\n${line.trim()}`);
      continue;
    }
    const m = /^([!-9;-~]+):(.*)$/s.exec(line);
    if (!m) {
      w.warn(`${where}: not a field: ${quote(line)}`);
      current = undefined;
      continue;
    }
    const name = m[1]!.toLowerCase();
    if (!WANTED.has(name)) {
      current = undefined;
      continue;
    }
    if (out.has(name)) {
      w.warn(`${where}: ${m[1]} given twice; the first kept`);
      current = undefined;
      continue;
    }
    out.set(name, m[2]!.trim());
    current = name;
  }
  return out;
}

/** One stanza as a Package, or undefined (with a warning when it is malformed, silently when not installed). */
function packageOf(f: Map<string, string>, where: string, w: FileWarnings, opts: DpkgOptions): Package | undefined {
  const name = f.get('package');
  if (name === undefined || name === '') {
    w.warn(`${where}: no Package field; skipped`);
    return undefined;
  }
  if (!isDpkgName(name)) {
    w.warn(`${where}: Package ${quote(name)} is not a valid package name; skipped`);
    return undefined;
  }
  const at = `${where} (${name})`;
  const status = f.get('status');
  if (status === undefined) {
    if (!opts.statusOptional) {
      w.warn(`${at}: no Status field; skipped`);
      return undefined;
    }
  } else {
    const [want, eflag, state, ...extra] = status.split(/\s+/);
    if (!WANT.has(want!) || !EFLAG.has(eflag!) || !STATE.has(state!) || extra.length > 0) {
      w.warn(`${at}: Status ${quote(status)} is not "want flag state"; skipped`);
      return undefined;
    }
    if (!INSTALLED.has(state!)) {
      if (!GONE.has(state!)) w.warn(`${at}: ${state} (not fully installed); skipped`);
      return undefined;
    }
  }
  const version = f.get('version');
  if (version === undefined || version === '') {
    w.warn(`${at}: no Version field; skipped`);
    return undefined;
  }
  if (!isPlausibleVersion(version)) {
    w.warn(`${at}: Version ${quote(version)} is not a valid version; skipped`);
    return undefined;
  }
  const pkg: Package = {
    type: 'dpkg',
    name,
    version,
    sourceName: name,
    sourceVersion: version,
    path: opts.path ?? 'var/lib/dpkg/status',
    purl: '',
  };
  const arch = f.get('architecture');
  if (arch !== undefined && arch !== '') {
    if (isArch(arch)) pkg.arch = arch;
    else w.warn(`${at}: Architecture ${quote(arch)} ignored`);
  }
  const source = f.get('source');
  if (source !== undefined && source !== '') {
    // `Source: name` or `Source: name (version)` when the source's version differs from the binary's (binNMUs).
    const m = /^(\S+)(?:\s+\(([^()\s]+)\))?$/.exec(source);
    if (!m || !isDpkgName(m[1]!) || (m[2] !== undefined && !isPlausibleVersion(m[2]))) {
      w.warn(`${at}: Source ${quote(source)} is not "name" or "name (version)"; the package is taken as its own source`);
    } else {
      pkg.sourceName = m[1]!;
      if (m[2] !== undefined) pkg.sourceVersion = m[2];
    }
  }
  pkg.purl = packageUrl(pkg, opts.os);
  return pkg;
}

/** The installed packages of a dpkg status file (or of one status.d file, with `statusOptional`). */
export function parseDpkgStatus(data: Buffer, opts: DpkgOptions = {}): Package[] {
  const w = new FileWarnings(opts.path ?? 'var/lib/dpkg/status', opts.onWarning);
  const out: Package[] = [];
  for (const s of stanzas(data)) {
    const where = `stanza at line ${s.line}`;
    if (s.end - s.start > MAX_DPKG_STANZA) {
      w.warn(`${where}: ${s.end - s.start} bytes, larger than ${MAX_DPKG_STANZA}; skipped`);
      continue;
    }
    const pkg = packageOf(fieldsOf(data.toString('utf8', s.start, s.end), where, w), where, w, opts);
    if (pkg) out.push(pkg);
  }
  w.finish();
  return out;
}

/** One `var/lib/dpkg/status.d/NAME` file of a distroless image: stanzas without `Status:`. */
export function parseDpkgStatusD(data: Buffer, opts: Omit<DpkgOptions, 'statusOptional'> = {}): Package[] {
  return parseDpkgStatus(data, { ...opts, statusOptional: true });
}
