/**
 * What the cataloguer finds in an image's filesystem: the packages its package managers installed, and the
 * distribution it says it is. Plain data, as the parsers of this folder derive it from file contents.
 */

/** The package manager (or language ecosystem) a package belongs to. */
export type PackageType = 'dpkg' | 'apk' | 'rpm' | 'npm' | 'pypi';

export interface Package {
  type: PackageType;
  /** As the package manager names it; PyPI names are PEP 503-normalised (`zope-interface`). */
  name: string;
  /** Exactly as recorded, epoch included for dpkg (`1:2.38.1-5+deb12u3`). */
  version: string;
  /**
   * The source package it was built from (dpkg `Source:`, apk `o:` origin, the source RPM). For dpkg and apk it
   * is always set (a package without `Source:` is its own source), as `dpkg-query -f '${source:Package}'` has it.
   */
  sourceName?: string;
  /** The source package's version: dpkg `Source: name (version)`, else the binary's own version. */
  sourceVersion?: string;
  arch?: string;
  /** The file it came from, as the caller named it: `var/lib/dpkg/status`, `app/package-lock.json`. */
  path: string;
  /** Other files that recorded the same package (same purl), when de-duplicated. */
  alsoAt?: string[];
  /** License expressions or names, as recorded (apk `L:`, package.json `license`, METADATA `License-Expression`). */
  licenses?: string[];
  /** npm: a development dependency (`dev: true` in a lockfile); such packages may not be installed. */
  dev?: boolean;
  /** Package URL (https://github.com/package-url/purl-spec), canonical form: `pkg:deb/debian/bash@5.2.15-2%2Bb2?arch=amd64&distro=debian-12`. */
  purl: string;
  /**
   * The image layer in which this package, at this version, arrived (trivy's `Layer`): set by the image scanner,
   * never by the parsers of this folder, which see file contents and not layers.
   */
  layer?: PackageLayer;
}

/** An image layer, as a package or a finding names it. */
export interface PackageLayer {
  /** 1-based, in manifest order (the base layer is 1). */
  index: number;
  /** The layer blob's digest, as the manifest lists it. */
  digest: string;
  /** The digest of the uncompressed layer, from the config's rootfs.diff_ids, when the config has one for it. */
  diffID?: string;
}

/** The distribution, from /etc/os-release (os-release(5)) or its fallbacks. */
export interface OsRelease {
  /** `ID`, lowercase: `debian`, `ubuntu`, `alpine`, `rhel`, `rocky`, `almalinux`, `sles`, `opensuse-leap`. */
  id: string;
  /** `VERSION_ID`: `12`, `22.04`, `3.20.3`; empty when the file has none (Debian testing/sid, Arch). */
  versionId: string;
  versionCodename?: string;
  prettyName?: string;
  /** `VERSION`: `22.04.4 LTS (Jammy Jellyfish)`. */
  version?: string;
  /** `ID_LIKE`, split on spaces. */
  idLike?: string[];
  /** `CPE_NAME`: `cpe:/o:redhat:enterprise_linux:9::baseos`. */
  cpeName?: string;
}

/** Told about each thing skipped or repaired, so the scan goes on and the user learns what was not seen. */
export type WarningHandler = (message: string) => void;
