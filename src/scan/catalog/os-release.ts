/**
 * Which distribution an image is: /etc/os-release (or /usr/lib/os-release, which it usually links to) parsed
 * with the rules of os-release(5), with /etc/debian_version and /etc/alpine-release as fallbacks for images
 * that lack it; and the OSV ecosystems (ossf/osv-schema) whose advisories apply to its packages.
 */
import type { OsRelease, WarningHandler } from './types.js';
import { FileWarnings, quote } from './warnings.js';

/** The os-release fields this module reads, raw, from one file. */
export type OsReleaseFields = Map<string, string>;

/**
 * The `KEY=value` assignments of an os-release file. Values are shell-like: in double quotes `\` escapes `$`,
 * `` ` ``, `"` and `\` (elsewhere it is kept); in single quotes everything is literal; unquoted, `\` escapes the
 * next character. `#` starts a comment line. Malformed lines are skipped with a warning.
 */
export function parseOsReleaseFields(data: Buffer, path = 'etc/os-release', onWarning?: WarningHandler): OsReleaseFields {
  const w = new FileWarnings(path, onWarning);
  const out: OsReleaseFields = new Map();
  const text = data.toString('utf8');
  let n = 0;
  for (const raw of text.split('\n')) {
    n++;
    const line = raw.replace(/\r$/, '').replace(/^[ \t]+/, '');
    if (line === '' || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    const key = eq > 0 ? line.slice(0, eq) : '';
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) {
      w.warn(`line ${n} is not a KEY=value assignment: ${quote(line)}`);
      continue;
    }
    const value = unquote(line.slice(eq + 1), (m) => w.warn(`line ${n} (${key}): ${m}`));
    if (/[\u0000-\u0008\u000a-\u001f\u007f]/.test(value)) {
      w.warn(`line ${n} (${key}): control characters in the value; ignored`);
      continue;
    }
    out.set(key, value);
  }
  w.finish();
  return out;
}

function unquote(s: string, warn: (m: string) => void): string {
  let out = '';
  if (s.startsWith('"')) {
    let i = 1;
    for (; i < s.length; i++) {
      const c = s[i]!;
      if (c === '\\' && i + 1 < s.length && '$`"\\'.includes(s[i + 1]!)) out += s[++i];
      else if (c === '"') break;
      else out += c;
    }
    if (i >= s.length) warn('unterminated double quote');
    else if (s.slice(i + 1).trim() !== '') warn(`text after the closing quote ignored: ${quote(s.slice(i + 1))}`);
    return out;
  }
  if (s.startsWith("'")) {
    const close = s.indexOf("'", 1);
    if (close < 0) {
      warn('unterminated single quote');
      return s.slice(1);
    }
    if (s.slice(close + 1).trim() !== '') warn(`text after the closing quote ignored: ${quote(s.slice(close + 1))}`);
    return s.slice(1, close);
  }
  const t = s.replace(/[ \t]+$/, '');
  for (let i = 0; i < t.length; i++) out += t[i] === '\\' && i + 1 < t.length ? t[++i] : t[i];
  return out;
}

/** `ID` and `VERSION_ID` hold only `0-9a-z._-` (os-release(5)). */
const ID_CHARS = /^[a-z0-9._-]{1,64}$/;

/**
 * An os-release file as an OsRelease. A missing `ID` is `linux`, as os-release(5) says; an `ID` or
 * `VERSION_ID` outside its character set is ignored with a warning.
 */
export function parseOsRelease(data: Buffer, path = 'etc/os-release', onWarning?: WarningHandler): OsRelease {
  const f = parseOsReleaseFields(data, path, onWarning);
  const w = new FileWarnings(path, onWarning);
  const checked = (key: string): string | undefined => {
    const v = f.get(key);
    if (v === undefined || v === '') return undefined;
    const lower = key === 'ID' ? v.toLowerCase() : v;
    if (ID_CHARS.test(lower)) return lower;
    w.warn(`${key}=${quote(v)} is not a valid identifier; ignored`);
    return undefined;
  };
  const os: OsRelease = { id: checked('ID') ?? 'linux', versionId: checked('VERSION_ID') ?? '' };
  const codename = checked('VERSION_CODENAME');
  if (codename) os.versionCodename = codename;
  const optional: [keyof OsRelease, string][] = [
    ['prettyName', 'PRETTY_NAME'],
    ['version', 'VERSION'],
    ['cpeName', 'CPE_NAME'],
  ];
  for (const [field, key] of optional) {
    const v = f.get(key);
    if (v) (os as unknown as Record<string, string>)[field] = v.slice(0, 256);
  }
  const like = (f.get('ID_LIKE') ?? '').split(/\s+/).filter((x) => ID_CHARS.test(x));
  if (like.length > 0) os.idLike = like;
  w.finish();
  return os;
}

/** /etc/debian_version: `12.15` (a point release), or `trixie/sid` on testing and unstable. */
export function parseDebianVersion(data: Buffer): OsRelease | undefined {
  const v = data.toString('utf8').split('\n')[0]!.trim();
  const m = /^(\d+)(?:\.\d+)*$/.exec(v);
  if (m) return { id: 'debian', versionId: m[1]! };
  const c = /^([a-z]+)\/sid$/.exec(v);
  if (c) return { id: 'debian', versionId: '', versionCodename: c[1]! };
  return undefined;
}

/** /etc/alpine-release: `3.20.3`, or `3.21_alpha20240807` on edge. */
export function parseAlpineRelease(data: Buffer): OsRelease | undefined {
  const v = data.toString('utf8').split('\n')[0]!.trim();
  return /^\d+\.\d+(?:\.\d+)?(?:_[a-z]+\d*)?$/.test(v) ? { id: 'alpine', versionId: v } : undefined;
}

/** The files that say which distribution an image is, best first. */
export interface OsEvidence {
  etcOsRelease?: OsRelease;
  usrLibOsRelease?: OsRelease;
  debianVersion?: OsRelease;
  alpineRelease?: OsRelease;
}

/**
 * The distribution, from the best evidence: /etc/os-release over /usr/lib/os-release (os-release(5)), then the
 * distribution's own release file. A Debian os-release without `VERSION_ID` (testing, sid) takes the release
 * from /etc/debian_version when that has a number.
 */
export function resolveOs(e: OsEvidence): OsRelease | undefined {
  const os = e.etcOsRelease ?? e.usrLibOsRelease;
  if (!os) return e.alpineRelease ?? e.debianVersion;
  if (os.id === 'debian' && !os.versionId && e.debianVersion?.versionId) return { ...os, versionId: e.debianVersion.versionId };
  if (os.id === 'alpine' && !os.versionId && e.alpineRelease) return { ...os, versionId: e.alpineRelease.versionId };
  return os;
}

/** The first `n` dot-separated numeric components of a version, or undefined. */
function leading(version: string, n: number): string | undefined {
  const parts = version.split('.');
  if (parts.length < n || !parts.slice(0, n).every((p) => /^\d+$/.test(p))) return undefined;
  return parts.slice(0, n).join('.');
}

/**
 * The OSV ecosystem name (with its release suffix) for a distribution's packages, as the feeds spell it
 * (ossf/osv-schema ecosystems.json, and the records osv.dev serves): `Debian:12`, `Ubuntu:22.04:LTS`,
 * `Ubuntu:23.10`, `Alpine:v3.20`, `Red Hat:enterprise_linux:9::baseos` (the os-release CPE without
 * `cpe:/o:redhat:`, as osv-scalibr maps it), `Rocky Linux:9`, `AlmaLinux:9` (the major release only),
 * `SUSE:Linux Enterprise Server 15 SP5`, `openSUSE:Leap 15.5`, `openSUSE:Tumbleweed` (PRETTY_NAME without its
 * vendor word: the feeds have `openSUSE:Leap 15.5`, never `openSUSE:openSUSE Leap 15.5`), `Mageia:9`,
 * `Photon OS:5.0`, `Wolfi`, `Chainguard`. Undefined when OSV has no ecosystem for it, or the release is not
 * known (Debian sid, Alpine edge): matching against every release's advisories would be wrong.
 */
export function osvEcosystem(os: OsRelease): string | undefined {
  const v = os.versionId;
  switch (os.id) {
    case 'debian': {
      const major = leading(v, 1);
      return major ? `Debian:${major}` : undefined;
    }
    case 'ubuntu': {
      const yymm = /^(\d{2})\.(\d{2})/.exec(v);
      if (!yymm) return undefined;
      const said = `${os.version ?? ''} ${os.prettyName ?? ''}`;
      const lts = /\bLTS\b/.test(said) || (!/\S/.test(said) && yymm[2] === '04' && Number(yymm[1]) % 2 === 0);
      return `Ubuntu:${yymm[1]}.${yymm[2]}${lts ? ':LTS' : ''}`;
    }
    case 'alpine': {
      if (!/^\d+\.\d+(?:\.\d+)?$/.test(v)) return undefined;
      return `Alpine:v${leading(v, 2)!}`;
    }
    case 'rhel': {
      const cpe = /^cpe:\/o:redhat:(.+)$/.exec(os.cpeName ?? '');
      if (cpe) return `Red Hat:${cpe[1]!}`;
      const major = leading(v, 1);
      return major ? `Red Hat:enterprise_linux:${major}::baseos` : undefined;
    }
    case 'rocky': {
      const major = leading(v, 1);
      return major ? `Rocky Linux:${major}` : undefined;
    }
    case 'almalinux': {
      const major = leading(v, 1);
      return major ? `AlmaLinux:${major}` : undefined;
    }
    case 'sles':
    case 'sled':
    case 'sle-micro':
    case 'sl-micro':
      return suseProduct(os, 'SUSE');
    case 'opensuse-leap':
    case 'opensuse-tumbleweed':
    case 'opensuse-leap-micro':
    case 'opensuse':
      return suseProduct(os, 'openSUSE');
    case 'mageia': {
      const major = leading(v, 1);
      return major ? `Mageia:${major}` : undefined;
    }
    case 'photon': {
      const mm = leading(v, 2);
      return mm ? `Photon OS:${mm}` : undefined;
    }
    case 'wolfi':
      return 'Wolfi';
    case 'chainguard':
      return 'Chainguard';
    default:
      return undefined;
  }
}

/**
 * SUSE's ecosystems are `<vendor>:<product>`, the product being PRETTY_NAME without its leading vendor word
 * (`SUSE Linux Enterprise Server 15 SP5` → `SUSE:Linux Enterprise Server 15 SP5`). The schema's text says the
 * suffix "matches PRETTY_NAME", but the ecosystems osv.dev lists drop the vendor word (`openSUSE:Leap 15.5`,
 * `openSUSE:Tumbleweed`, `SUSE:Linux Enterprise Module for Basesystem 15 SP5`). Without a PRETTY_NAME of that
 * shape only the openSUSE releases can be named (`Leap <VERSION_ID>`, as osv-scalibr does).
 */
function suseProduct(os: OsRelease, vendor: 'SUSE' | 'openSUSE'): string | undefined {
  const pretty = (os.prettyName ?? '').trim();
  if (pretty.startsWith(`${vendor} `) && pretty.length > vendor.length + 1) return `${vendor}:${pretty.slice(vendor.length + 1).trim()}`;
  if (os.id === 'opensuse-leap' && os.versionId) return `openSUSE:Leap ${os.versionId}`;
  if (os.id === 'opensuse-tumbleweed') return 'openSUSE:Tumbleweed';
  return undefined;
}

/** RHEL 9 and earlier name their main-stream CPEs per channel; a container's packages come from these three. */
const RHEL_CHANNELS = ['baseos', 'appstream', 'crb'] as const;

/**
 * Every ecosystem whose records apply to the distribution's packages, the one osvEcosystem names first; the
 * matcher looks a package up in each, and the first that has an entry for it decides. Beyond that one:
 *
 * - Ubuntu LTS: `Ubuntu:Pro:22.04:LTS` too, the fixes shipped through Ubuntu Pro (ESM) — osv.dev answers a
 *   query for `Ubuntu:22.04` with both (osv/ecosystems/_ecosystems.py, add_matching_ecosystems); a package
 *   the standard archive has an entry for is decided by that entry, not by Pro's.
 * - RHEL ≤ 9: the three main-stream channels of the release (`::baseos`, `::appstream`, `::crb`). os-release
 *   names only baseos, but an image's packages come from AppStream as well, and Red Hat's guidance for
 *   scanners is to match every main-stream CPE of the release (security-data-guidelines, scanning-vendors).
 * - Debian, AlmaLinux, Rocky Linux: the bare family as well, which the schema allows for records that apply to
 *   every release ("might optionally have a `:<RELEASE>` suffix").
 */
export function osvEcosystems(os: OsRelease): string[] {
  const primary = osvEcosystem(os);
  if (!primary) return [];
  const out = [primary];
  const rhel = /^Red Hat:enterprise_linux:(\d+)::([a-z_]+)$/.exec(primary);
  const lts = /^Ubuntu:(\d{2}\.\d{2}):LTS$/.exec(primary);
  if (lts) out.push(`Ubuntu:Pro:${lts[1]!}:LTS`);
  else if (rhel && Number(rhel[1]) <= 9) {
    for (const channel of RHEL_CHANNELS) if (channel !== rhel[2]) out.push(`Red Hat:enterprise_linux:${rhel[1]!}::${channel}`);
  } else if (/^(Debian|AlmaLinux|Rocky Linux):/.test(primary)) out.push(primary.slice(0, primary.indexOf(':')));
  return out;
}
