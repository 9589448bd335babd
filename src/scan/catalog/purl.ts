/**
 * Package URLs in canonical form (purl-spec, "How to build"): lowercase type, namespace and name where the type
 * says they are case-insensitive, every character outside `A-Za-z0-9.-_~:` percent-encoded as UTF-8 (so `+` is
 * `%2B`, the epoch's `:` stays), empty qualifiers dropped, qualifiers sorted by key.
 */
import type { OsRelease, Package } from './types.js';

/** Percent-encode one purl component: keep alphanumerics, `.-_~` and `:`. */
export function purlEncode(s: string): string {
  return encodeURIComponent(s)
    .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%3A/g, ':');
}

export interface PurlParts {
  type: string;
  namespace?: string;
  name: string;
  version?: string;
  qualifiers?: Record<string, string | undefined>;
}

export function formatPurl(p: PurlParts): string {
  let s = `pkg:${p.type.toLowerCase()}/`;
  if (p.namespace) {
    const segs = p.namespace.split('/').filter((x) => x !== '');
    if (segs.length > 0) s += `${segs.map(purlEncode).join('/')}/`;
  }
  s += purlEncode(p.name);
  if (p.version) s += `@${purlEncode(p.version)}`;
  const q = Object.entries(p.qualifiers ?? {})
    .filter((e): e is [string, string] => typeof e[1] === 'string' && e[1] !== '')
    .map(([k, v]) => `${k.toLowerCase()}=${purlEncode(v)}`)
    .sort();
  if (q.length > 0) s += `?${q.join('&')}`;
  return s;
}

/** `debian-12`, `ubuntu-22.04`, `alpine-3.20.3`: the `distro` qualifier, when the release is known. */
function distro(os: OsRelease | undefined): string | undefined {
  if (!os || !os.id || !os.versionId) return undefined;
  return `${os.id}-${os.versionId}`;
}

/** The purl vendor (namespace) for an OS package: the distribution's ID, or the ecosystem's home distribution. */
function vendor(os: OsRelease | undefined, fallback: string): string {
  return (os?.id || fallback).toLowerCase();
}

/** The PEP 503 normal form of a Python distribution name: lowercase, runs of `-_.` as one `-`. */
export function normalizePypiName(name: string): string {
  return name.toLowerCase().replace(/[-_.]+/g, '-');
}

/** Split an RPM `epoch:version-release` into the purl's version and `epoch` qualifier. */
function rpmVersion(version: string): { version: string; epoch?: string } {
  const m = /^(\d+):(.+)$/.exec(version);
  return m ? { version: m[2]!, epoch: m[1]! } : { version };
}

/** The canonical purl of a package, in the context of the distribution it was found on. */
export function packageUrl(pkg: Pick<Package, 'type' | 'name' | 'version' | 'arch'>, os?: OsRelease): string {
  switch (pkg.type) {
    case 'dpkg':
      return formatPurl({
        type: 'deb',
        namespace: vendor(os, 'debian'),
        name: pkg.name.toLowerCase(),
        version: pkg.version,
        qualifiers: { arch: pkg.arch, distro: distro(os) },
      });
    case 'apk':
      return formatPurl({
        type: 'apk',
        namespace: vendor(os, 'alpine'),
        name: pkg.name.toLowerCase(),
        version: pkg.version,
        qualifiers: { arch: pkg.arch, distro: distro(os) },
      });
    case 'rpm': {
      const v = rpmVersion(pkg.version);
      return formatPurl({
        type: 'rpm',
        namespace: os?.id ? os.id.toLowerCase() : undefined,
        name: pkg.name,
        version: v.version,
        qualifiers: { arch: pkg.arch, epoch: v.epoch, distro: distro(os) },
      });
    }
    case 'npm': {
      const slash = pkg.name.startsWith('@') ? pkg.name.indexOf('/') : -1;
      const namespace = slash > 0 ? pkg.name.slice(0, slash).toLowerCase() : undefined;
      const name = (slash > 0 ? pkg.name.slice(slash + 1) : pkg.name).toLowerCase();
      return formatPurl({ type: 'npm', namespace, name, version: pkg.version });
    }
    case 'pypi':
      return formatPurl({ type: 'pypi', name: normalizePypiName(pkg.name), version: pkg.version });
  }
}
