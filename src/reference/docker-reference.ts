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
/** Longer input is refused before any parsing, so hostile strings cost nothing. */
const MAX_INPUT_LENGTH = 4096;
const TAG_HINT = 'a tag is 1 to 128 characters of [A-Za-z0-9_.-], not starting with . or -';

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

/**
 * Characters never echoed raw into a message: C0/C1 controls (terminal escape sequences), bidi overrides and
 * isolates, zero-width, non-ASCII space and line-separator characters, BOM, and lone surrogates. A reference
 * is untrusted input and the CLI prints these messages to a terminal.
 */
const UNPRINTABLE = /^[\x00-\x1f\x7f-\xa0\u00ad\u061c\u1680\u180e\u2000-\u200f\u202f\u205f\u3000\u2028-\u202e\u2060-\u2069\ufeff\ud800-\udfff]$/;

/** A part of untrusted input made safe to show: unprintable characters escaped, clipped to `max` characters. */
export function printable(value: string, max = 120): string {
  const chars: string[] = [];
  for (const ch of value) {
    chars.push(ch);
    if (chars.length > max) break;
  }
  const shown = chars.length > max ? chars.slice(0, max - 3) : chars;
  const text = shown.map((ch) => (UNPRINTABLE.test(ch) ? escapeChar(ch) : ch)).join('');
  return chars.length > max ? `${text}...` : text;
}

function escapeChar(ch: string): string {
  const cp = ch.codePointAt(0)!;
  return cp <= 0xff ? `\\x${cp.toString(16).padStart(2, '0')}` : `\\u${cp.toString(16).padStart(4, '0')}`;
}

function invalid(input: string, what: string, hint?: string): WharfError {
  return new WharfError('INVALID_REFERENCE', `invalid reference "${printable(input)}": ${what}`, {
    hint: hint ?? 'a docker reference looks like [registry[:port]/]repository[:tag][@sha256:digest]',
  });
}

/**
 * Split `NAME[:TAG][@DIGEST]` as text, validating nothing: the digest follows the first `@`; a tag follows the
 * last colon when that colon comes after the last slash (before it, the colon belongs to a port).
 */
export function splitNameTagDigest(input: string): { name: string; tag?: string; digest?: string } {
  let name = input;
  const out: { name: string; tag?: string; digest?: string } = { name };
  const at = name.indexOf('@');
  if (at >= 0) {
    out.digest = name.slice(at + 1);
    name = name.slice(0, at);
  }
  const colon = name.lastIndexOf(':');
  if (colon > name.lastIndexOf('/')) {
    out.tag = name.slice(colon + 1);
    name = name.slice(0, colon);
  }
  out.name = name;
  return out;
}

/** Parse and normalise a docker reference (`ParseNormalizedNamed` in distribution/reference). */
export function parseDockerReference(input: string, options: ParseDockerReferenceOptions = {}): DockerReference {
  if (typeof input !== 'string') throw invalid(String(input), `it is a ${typeof input}, not a string`);
  if (input.length === 0) throw invalid(input, 'it is empty');
  if (input.length > MAX_INPUT_LENGTH) throw invalid(input, `it is ${input.length} characters long, more than ${MAX_INPUT_LENGTH}`);
  const bad = /[\s\x00-\x1f\x7f-\x9f]/.exec(input);
  if (bad) {
    throw invalid(input, `it contains whitespace or a control character ("${printable(bad[0])}" at position ${bad.index})`);
  }

  const parts = splitNameTagDigest(input);
  let rest = parts.name;
  let digest: Digest | undefined;
  if (parts.digest !== undefined) {
    const digestPart = parts.digest;
    try {
      digest = parseDigest(digestPart);
    } catch (err) {
      throw invalid(
        input,
        `the digest "${printable(digestPart, 80)}" is not valid`,
        (err as WharfError).hint ?? 'a digest is algorithm:hex, e.g. sha256: and 64 lowercase hex characters',
      );
    }
  }

  const tag = parts.tag;
  if (tag !== undefined) {
    if (!TAG_RE.test(tag)) {
      const why = tag.length === 0 ? 'is empty' : tag.length > 128 ? `is ${tag.length} characters long` : 'is not valid';
      throw invalid(input, `the tag "${printable(tag, 80)}" ${why}`, TAG_HINT);
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
  if (path.length === 0) throw invalid(input, `the repository path after "${printable(domain, 80)}/" is empty`);
  if (domain === LEGACY_DEFAULT_DOMAIN) domain = DEFAULT_DOMAIN;
  if (domain === DEFAULT_DOMAIN && !path.includes('/')) path = OFFICIAL_REPO_PREFIX + path;

  if (!DOMAIN_RE.test(domain)) throw invalid(input, `the registry "${printable(domain, 80)}" is not a valid host[:port]`);
  if (path.toLowerCase() !== path && PATH_RE.test(path.toLowerCase())) {
    throw invalid(input, `the repository "${printable(path, 80)}" must be lowercase`);
  }
  if (!PATH_RE.test(path)) {
    throw invalid(
      input,
      `the repository path "${printable(path, 80)}" is not valid`,
      'path components are lowercase letters and digits, separated by ".", "_", "__" or dashes, joined by "/"',
    );
  }
  if (domain.length + 1 + path.length > MAX_NAME_LENGTH) {
    throw invalid(input, `the repository name is ${domain.length + 1 + path.length} characters long, more than ${MAX_NAME_LENGTH}`);
  }
  return new DockerReference(domain, path, tag, digest);
}

export function validateTag(tag: string): string {
  if (!TAG_RE.test(tag)) {
    throw new WharfError('INVALID_REFERENCE', `invalid tag "${printable(String(tag), 80)}"`, { hint: TAG_HINT });
  }
  return tag;
}
