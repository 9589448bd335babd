import { parseDigest, type Digest } from '../digest/index.js';
import { WharfError } from '../errors.js';

/**
 * A docker image reference, normalised the way distribution/reference does it:
 * `busybox` → `docker.io/library/busybox`, `index.docker.io/x/y` → `docker.io/x/y`.
 */
export class DockerReference {
  constructor(
    /** Registry host with optional port: `docker.io`, `localhost:5000`, `[::1]:5000`. */
    readonly domain: string,
    /** Repository path within the registry: `library/busybox`. */
    readonly path: string,
    readonly tag?: string,
    readonly digest?: Digest,
  ) {}

  /** The repository name: `docker.io/library/busybox`. */
  name(): string {
    return `${this.domain}/${this.path}`;
  }

  /** The full normalised reference: `docker.io/library/busybox:latest@sha256:…`. */
  toString(): string {
    return `${this.name()}${this.tag ? `:${this.tag}` : ''}${this.digest ? `@${this.digest}` : ''}`;
  }

  /** The short form people type: `busybox:latest`. */
  familiar(): string {
    let name = this.name();
    if (this.domain === DEFAULT_DOMAIN) {
      name = this.path.startsWith('library/') && this.path.split('/').length === 2 ? this.path.slice(8) : this.path;
    }
    return `${name}${this.tag ? `:${this.tag}` : ''}${this.digest ? `@${this.digest}` : ''}`;
  }

  withTag(tag: string): DockerReference {
    return new DockerReference(this.domain, this.path, validateTag(tag), this.digest);
  }

  /** With `latest` when neither tag nor digest is set (docker's TagNameOnly). */
  tagNameOnly(): DockerReference {
    return this.tag || this.digest ? this : new DockerReference(this.domain, this.path, 'latest');
  }
}

export const DEFAULT_DOMAIN = 'docker.io';
const LEGACY_DEFAULT_DOMAIN = 'index.docker.io';
const OFFICIAL_REPO_PREFIX = 'library/';
const MAX_NAME_LENGTH = 255;

const ALNUM = '[a-z0-9]+';
const SEPARATOR = '(?:[._]|__|[-]+)';
const PATH_COMPONENT = `${ALNUM}(?:${SEPARATOR}${ALNUM})*`;
const PATH_RE = new RegExp(`^${PATH_COMPONENT}(?:/${PATH_COMPONENT})*$`);
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN_NAME = `${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*`;
const IPV6 = '\\[(?:[a-fA-F0-9:]+)\\]';
const DOMAIN_RE = new RegExp(`^(?:${DOMAIN_NAME}|${IPV6})(?::[0-9]+)?$`);
const TAG_RE = /^[\w][\w.-]{0,127}$/;
const ANCHORED_HEX64 = /^[a-f0-9]{64}$/;

export interface ParseDockerReferenceOptions {
  /**
   * When false, the input must name its registry (`registry.example.com/app`); a short name is an error
   * instead of being expanded to docker.io. Default true, as `docker pull` does.
   */
  allowShortName?: boolean;
}

function invalid(input: string, what: string, hint?: string): WharfError {
  const shown = input.length > 120 ? `${input.slice(0, 117)}...` : input;
  return new WharfError('INVALID_REFERENCE', `invalid reference "${shown}": ${what}`, {
    hint: hint ?? 'a docker reference looks like [registry[:port]/]repository[:tag][@sha256:digest]',
  });
}

/** Parse and normalise a docker reference (`ParseNormalizedNamed` in distribution/reference). */
export function parseDockerReference(input: string, options: ParseDockerReferenceOptions = {}): DockerReference {
  if (typeof input !== 'string' || input.length === 0) throw invalid(String(input), 'it is empty');
  if (input.length > 4096) throw invalid(input, 'it is too long');
  if (/[\s\x00-\x1f\x7f]/.test(input)) throw invalid(input, 'it contains whitespace or control characters');

  let rest = input;
  let digest: Digest | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    const digestPart = rest.slice(at + 1);
    try {
      digest = parseDigest(digestPart);
    } catch (err) {
      throw invalid(input, `the digest "${digestPart}" is not valid (${(err as WharfError).message})`);
    }
    rest = rest.slice(0, at);
  }

  // A tag is after the last colon, if that colon comes after the last slash (otherwise it is a port).
  let tag: string | undefined;
  const lastColon = rest.lastIndexOf(':');
  if (lastColon > rest.lastIndexOf('/')) {
    tag = rest.slice(lastColon + 1);
    rest = rest.slice(0, lastColon);
    if (!TAG_RE.test(tag)) {
      throw invalid(input, `the tag "${tag}" is not valid`, 'a tag is 1 to 128 characters of [A-Za-z0-9_.-], not starting with . or -');
    }
  }

  if (rest.length === 0) throw invalid(input, 'the repository name is empty');
  if (ANCHORED_HEX64.test(rest)) {
    throw invalid(input, 'a 64-character hexadecimal string is an image ID, not a repository name');
  }

  let domain: string;
  let path: string;
  const slash = rest.indexOf('/');
  const first = slash < 0 ? '' : rest.slice(0, slash);
  if (slash < 0 || (!first.includes('.') && !first.includes(':') && first !== 'localhost' && first.toLowerCase() === first)) {
    if (options.allowShortName === false) {
      throw invalid(input, 'it does not name a registry', 'write the registry in full, e.g. docker.io/library/busybox');
    }
    domain = DEFAULT_DOMAIN;
    path = rest;
  } else {
    domain = first;
    path = rest.slice(slash + 1);
  }
  if (domain === LEGACY_DEFAULT_DOMAIN) domain = DEFAULT_DOMAIN;
  if (domain === DEFAULT_DOMAIN && !path.includes('/')) path = OFFICIAL_REPO_PREFIX + path;

  if (!DOMAIN_RE.test(domain)) throw invalid(input, `the registry "${domain}" is not a valid host[:port]`);
  if (path.toLowerCase() !== path && PATH_RE.test(path.toLowerCase())) {
    throw invalid(input, `the repository "${path}" must be lowercase`);
  }
  if (!PATH_RE.test(path)) {
    throw invalid(
      input,
      `the repository path "${path}" is not valid`,
      'path components are lowercase letters and digits, separated by ".", "_", "__" or dashes, joined by "/"',
    );
  }
  if (domain.length + 1 + path.length > MAX_NAME_LENGTH) {
    throw invalid(input, `the repository name is longer than ${MAX_NAME_LENGTH} characters`);
  }
  return new DockerReference(domain, path, tag, digest);
}

export function validateTag(tag: string): string {
  if (!TAG_RE.test(tag)) {
    throw new WharfError('INVALID_REFERENCE', `invalid tag "${tag.slice(0, 130)}"`, {
      hint: 'a tag is 1 to 128 characters of [A-Za-z0-9_.-], not starting with . or -',
    });
  }
  return tag;
}
