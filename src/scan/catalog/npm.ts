/**
 * npm: what a lockfile says is installed (package-lock.json, npm-shrinkwrap.json, node_modules/.package-lock.json;
 * lockfileVersion 1, 2 and 3), and the package.json of each package installed under node_modules.
 */
import { isObject, own, ownString, parseJsonObject, type JsonObject } from './json.js';
import { packageUrl } from './purl.js';
import type { Package, WarningHandler } from './types.js';
import { isNpmName, isSemver, plausibleLicense } from './validate.js';
import { FileWarnings, quote, show } from './warnings.js';

export interface NpmOptions {
  path?: string;
  onWarning?: WarningHandler;
}

/** `license: "MIT"`, the old `license: {type}` and `licenses: [{type}]` forms. */
function licensesOf(o: JsonObject): string[] | undefined {
  const out: string[] = [];
  const add = (v: unknown): void => {
    const l = plausibleLicense(isObject(v) ? own(v, 'type') : v);
    if (l && !out.includes(l)) out.push(l);
  };
  add(own(o, 'license'));
  const list = own(o, 'licenses');
  if (Array.isArray(list)) for (const l of list.slice(0, 16)) add(l);
  return out.length > 0 ? out : undefined;
}

function npmPackage(name: string, version: string, path: string, extra: { dev?: boolean; licenses?: string[] | undefined }): Package {
  const pkg: Package = { type: 'npm', name, version, path, purl: '' };
  if (extra.dev) pkg.dev = true;
  if (extra.licenses) pkg.licenses = extra.licenses;
  pkg.purl = packageUrl(pkg);
  return pkg;
}

/** `npm:real-name@1.2.3` (an alias, in lockfile v1 `version`) as name and version. */
function alias(version: string): { name: string; version: string } | undefined {
  if (!version.startsWith('npm:')) return undefined;
  const spec = version.slice(4);
  const at = spec.lastIndexOf('@');
  return at > 0 ? { name: spec.slice(0, at), version: spec.slice(at + 1) } : undefined;
}

/** The packages a lockfile lists. Workspace folders, links and the root project itself are not packages. */
export function parsePackageLock(data: Buffer, opts: NpmOptions = {}): Package[] {
  const path = opts.path ?? 'package-lock.json';
  const w = new FileWarnings(path, opts.onWarning);
  const lock = parseJsonObject(data, w);
  const out: Package[] = [];
  if (lock) {
    const lv = own(lock, 'lockfileVersion');
    if (lv !== undefined && lv !== 1 && lv !== 2 && lv !== 3) w.warn(`lockfileVersion ${show(lv)} is not 1, 2 or 3; read as the newest`);
    const packages = own(lock, 'packages');
    const dependencies = own(lock, 'dependencies');
    if (isObject(packages)) fromPackages(packages, path, w, out);
    else if (isObject(dependencies)) fromDependencies(dependencies, path, w, out);
    else if (lv !== undefined) w.warn('neither "packages" nor "dependencies"; nothing listed');
    else w.warn('not a lockfile (no lockfileVersion, packages or dependencies); skipped');
  }
  w.finish();
  return out;
}

/** lockfileVersion 2 and 3: `packages` keyed by install path, `node_modules/a/node_modules/@s/b`. */
function fromPackages(packages: JsonObject, path: string, w: FileWarnings, out: Package[]): void {
  for (const [key, entry] of Object.entries(packages)) {
    if (key === '') continue;
    if (!isObject(entry)) {
      w.warn(`packages[${quote(key)}] is not an object; skipped`);
      continue;
    }
    if (own(entry, 'link') === true) continue;
    const at = key.lastIndexOf('node_modules/');
    if (at < 0 || (at > 0 && key[at - 1] !== '/')) continue; // a workspace's own folder
    const name = ownString(entry, 'name') ?? key.slice(at + 'node_modules/'.length);
    const version = ownString(entry, 'version');
    if (!isNpmName(name)) {
      w.warn(`packages[${quote(key)}]: ${quote(name)} is not a valid package name; skipped`);
      continue;
    }
    if (version === undefined || !isSemver(version)) {
      w.warn(`packages[${quote(key)}]: version ${show(own(entry, 'version'))} is not a semver version; skipped`);
      continue;
    }
    out.push(npmPackage(name, version, path, { dev: own(entry, 'dev') === true, licenses: licensesOf(entry) }));
  }
}

/** lockfileVersion 1: `dependencies` nested by where each is installed; walked without recursion. */
function fromDependencies(root: JsonObject, path: string, w: FileWarnings, out: Package[]): void {
  const stack: JsonObject[] = [root];
  while (stack.length > 0) {
    const deps = stack.pop()!;
    for (const [key, entry] of Object.entries(deps)) {
      if (!isObject(entry)) {
        w.warn(`dependencies[${quote(key)}] is not an object; skipped`);
        continue;
      }
      const nested = own(entry, 'dependencies');
      if (isObject(nested)) stack.push(nested);
      const raw = ownString(entry, 'version');
      const aka = raw === undefined ? undefined : alias(raw);
      const name = aka?.name ?? key;
      const version = aka?.version ?? raw;
      if (!isNpmName(name)) {
        w.warn(`dependencies[${quote(key)}]: ${quote(name)} is not a valid package name; skipped`);
        continue;
      }
      // git, file: and tarball URL dependencies have no registry version to match.
      if (version === undefined || !isSemver(version)) {
        w.warn(`dependencies[${quote(key)}]: version ${show(own(entry, 'version'))} is not a semver version; skipped`);
        continue;
      }
      out.push(npmPackage(name, version, path, { dev: own(entry, 'dev') === true }));
    }
  }
}

/**
 * The package.json of an installed package (`node_modules/NAME/package.json`), or undefined: a file that is not
 * an object, has no valid name and semver version, or is `private` (a workspace or local package, never
 * published) is not a package.
 */
export function parseInstalledPackageJson(data: Buffer, opts: NpmOptions = {}): Package | undefined {
  const path = opts.path ?? 'node_modules/package.json';
  const w = new FileWarnings(path, opts.onWarning);
  const json = parseJsonObject(data, w);
  let pkg: Package | undefined;
  if (json && own(json, 'private') !== true) {
    const name = own(json, 'name');
    const version = own(json, 'version');
    if (typeof name !== 'string' || !isNpmName(name)) w.warn(`name ${show(name)} is not a valid package name; skipped`);
    else if (typeof version !== 'string' || !isSemver(version)) w.warn(`${name}: version ${show(version)} is not a semver version; skipped`);
    else pkg = npmPackage(name, version, path, { licenses: licensesOf(json) });
  }
  w.finish();
  return pkg;
}
