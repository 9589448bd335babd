/**
 * skopeo's sync YAML (`--src yaml`): top-level keys are registries, each with
 *
 *   registry.example.com:
 *     images:                      # repository → tags or digests; an empty list (or nothing) means every tag
 *       busybox: []
 *       redis: ["1.0", "2.0", "sha256:…"]
 *     images-by-tag-regex:         # repository → a Go (RE2) regular expression matched against each tag
 *       nginx: ^1\.13\.[12]-alpine-perl$
 *     images-by-semver:            # repository → a semver constraint over the tags that are versions
 *       alpine: ">= 3.12.0"
 *     credentials: { username: john, password: secret }
 *     tls-verify: true
 *     cert-dir: /home/john/certs
 *
 * The file is untrusted input: its size is capped, aliases cannot expand it (YAML bombs), and every value is
 * checked here, before anything is listed or copied, with errors that name the registry and repository.
 * Scalars are read as written (`1.10` stays the tag "1.10", not the number 1.1), as Go's decoder does.
 */
import { parseDocument } from 'yaml';
import { parseDigest, type Digest } from '../digest/index.js';
import { WharfError } from '../errors.js';
import { parseDockerReference, printable, validateTag, type DockerReference } from '../reference/index.js';
import { compileTagRegexp } from './go-regexp.js';
import { parseSemverConstraint, type SemverConstraint } from './semver.js';

/** A sync YAML larger than this is refused before it is parsed. */
export const MAX_SYNC_YAML_BYTES = 4 << 20;
/** How many times aliases may be expanded in all (the yaml package's own guard against bombs uses it too). */
export const MAX_YAML_ALIASES = 100;
const MAX_NODES = 200_000;

export interface SyncYamlCredentials {
  username?: string;
  password?: string;
  /** `identitytoken`: an OAuth2 refresh token, as in auth.json. */
  identityToken?: string;
}

export interface SyncYamlImages {
  /** `registry/repo`, normalised (docker.io/library/…). */
  repository: DockerReference;
  /** The key as written under the registry. */
  name: string;
}

export interface SyncYamlRegistry {
  /** The top-level key. */
  name: string;
  /** `images`: each with its tags and digests; none means every tag. */
  images: (SyncYamlImages & { tags: string[]; digests: Digest[] })[];
  imagesByTagRegex: (SyncYamlImages & { pattern: string; regex: RegExp })[];
  imagesBySemver: (SyncYamlImages & { constraint: SemverConstraint })[];
  credentials?: SyncYamlCredentials;
  /** Absent: as the command line says (sourceRegistry). */
  tlsVerify?: boolean;
  certDir?: string;
}

export interface SyncYaml {
  origin: string;
  registries: SyncYamlRegistry[];
}

const REGISTRY_KEYS = new Set(['images', 'images-by-tag-regex', 'images-by-semver', 'credentials', 'tls-verify', 'cert-dir']);
const CREDENTIAL_KEYS = new Set(['username', 'password', 'identitytoken']);

class YamlError {
  constructor(readonly origin: string) {}
  fail(what: string, hint?: string): WharfError {
    return new WharfError('USAGE', `${this.origin}: ${what}`, {
      hint: hint ?? 'see skopeo-sync(1) for the format: registries at the top, each with images, images-by-tag-regex, images-by-semver, credentials, tls-verify, cert-dir',
    });
  }
}

/** Parse and check a sync YAML. `origin` (the file name) starts every error message. */
export function parseSyncYaml(text: string, origin: string): SyncYaml {
  const e = new YamlError(origin);
  if (typeof text !== 'string') throw e.fail('the YAML is not text');
  if (Buffer.byteLength(text, 'utf8') > MAX_SYNC_YAML_BYTES) {
    throw e.fail(`the file is larger than ${MAX_SYNC_YAML_BYTES} bytes`, 'a sync YAML lists registries and repositories; split a file this large');
  }
  let root: unknown;
  try {
    // failsafe: every scalar is a string as written; merge keys (<<) as Go's yaml.v3 reads them.
    const doc = parseDocument(text, { schema: 'failsafe', merge: true, uniqueKeys: true, prettyErrors: false, strict: true });
    const first = doc.errors[0];
    if (first) throw e.fail(`not valid YAML: ${firstLine(first.message)}`);
    root = doc.toJS({ maxAliasCount: MAX_YAML_ALIASES, mapAsMap: true });
  } catch (err) {
    if (err instanceof WharfError) throw err;
    const message = (err as Error)?.message ?? String(err);
    if (err instanceof ReferenceError || /alias/i.test(message)) {
      throw e.fail(`aliases expand to too much data (${firstLine(message)})`, 'a YAML bomb, or anchors used far more than a sync file needs');
    }
    throw e.fail(`not valid YAML: ${firstLine(message)}`);
  }
  countNodes(root, e);
  // An empty file is an empty list of registries, as skopeo reads it.
  if (root === null || root === undefined || root === '') return { origin, registries: [] };
  const top = asMap(root, e, 'the document', 'registries as keys, e.g. "registry.example.com:"');
  const registries: SyncYamlRegistry[] = [];
  for (const [rawName, rawValue] of top) {
    const name = keyString(rawName, e, 'a registry');
    registries.push(parseRegistry(name, rawValue, e));
  }
  return { origin, registries };
}

function parseRegistry(name: string, value: unknown, e: YamlError): SyncYamlRegistry {
  const where = `registry ${JSON.stringify(printable(name, 100))}`;
  if (name.trim() === '') throw e.fail('a registry name is empty');
  const out: SyncYamlRegistry = { name, images: [], imagesByTagRegex: [], imagesBySemver: [] };
  if (isNull(value)) return out;
  const map = asMap(value, e, where, 'a mapping with images, images-by-tag-regex, images-by-semver, credentials, tls-verify, cert-dir');
  for (const [rawKey, v] of map) {
    const key = keyString(rawKey, e, `a key of ${where}`);
    if (!REGISTRY_KEYS.has(key)) {
      throw e.fail(`${where}: unknown key ${JSON.stringify(printable(key, 60))}`, `the keys of a registry are: ${[...REGISTRY_KEYS].join(', ')}`);
    }
    const at = `${where}, ${key}`;
    switch (key) {
      case 'images':
        if (isNull(v)) break;
        for (const [rawRepo, refs] of asMap(v, e, at, 'repositories as keys, each with a list of tags and digests')) {
          const repoName = keyString(rawRepo, e, `a repository of ${at}`);
          const repo = repository(name, repoName, e, at);
          const tags: string[] = [];
          const digests: Digest[] = [];
          const list = isNull(refs) ? [] : asList(refs, e, `${at}, ${repoName}`);
          for (const item of list) {
            const ref = scalar(item, e, `a tag of ${at}, ${repoName}`);
            classifyRef(ref, tags, digests, e, `${at}, ${repoName}`);
          }
          out.images.push({ ...repo, tags: unique(tags), digests: unique(digests) });
        }
        break;
      case 'images-by-tag-regex':
        if (isNull(v)) break;
        for (const [rawRepo, pattern] of asMap(v, e, at, 'repositories as keys, each with a regular expression')) {
          const repoName = keyString(rawRepo, e, `a repository of ${at}`);
          const repo = repository(name, repoName, e, at);
          const text = scalar(pattern, e, `the regular expression of ${at}, ${repoName}`);
          out.imagesByTagRegex.push({ ...repo, pattern: text, regex: compileTagRegexp(text, `${e.origin}: ${at}, ${printable(repoName, 100)}`) });
        }
        break;
      case 'images-by-semver':
        if (isNull(v)) break;
        for (const [rawRepo, constraint] of asMap(v, e, at, 'repositories as keys, each with a constraint such as ">= 1.2.0"')) {
          const repoName = keyString(rawRepo, e, `a repository of ${at}`);
          const repo = repository(name, repoName, e, at);
          const text = scalar(constraint, e, `the constraint of ${at}, ${repoName}`);
          try {
            out.imagesBySemver.push({ ...repo, constraint: parseSemverConstraint(text) });
          } catch (err) {
            const w = err as WharfError;
            throw new WharfError('USAGE', `${e.origin}: ${at}, ${printable(repoName, 100)}: ${w.message}`, { hint: w.hint, cause: err });
          }
        }
        break;
      case 'credentials': {
        if (isNull(v)) break;
        const creds: SyncYamlCredentials = {};
        for (const [rawK, cv] of asMap(v, e, at, 'username and password')) {
          const k = keyString(rawK, e, `a key of ${at}`);
          if (!CREDENTIAL_KEYS.has(k)) {
            throw e.fail(`${at}: unknown key ${JSON.stringify(printable(k, 60))}`, 'credentials take username and password (or identitytoken)');
          }
          // The value is a secret: never echo it, even when it is of the wrong type.
          const s = isNull(cv) ? '' : typeof cv === 'string' ? cv : undefined;
          if (s === undefined) throw e.fail(`${at}: ${k} must be a string`);
          if (s === '') continue;
          if (k === 'username') creds.username = s;
          else if (k === 'password') creds.password = s;
          else creds.identityToken = s;
        }
        if (creds.username !== undefined || creds.password !== undefined || creds.identityToken !== undefined) out.credentials = creds;
        break;
      }
      case 'tls-verify':
        if (isNull(v)) break;
        out.tlsVerify = bool(v, e, at);
        break;
      case 'cert-dir': {
        const dir = isNull(v) ? '' : scalar(v, e, at);
        if (dir.includes('\0')) throw e.fail(`${at}: the path contains a NUL character`);
        if (dir !== '') out.certDir = dir;
        break;
      }
    }
  }
  return out;
}

/** `registry/repo`, which must name a repository (no tag, no digest), as skopeo's parseRepositoryReference checks. */
function repository(registry: string, repo: string, e: YamlError, where: string): SyncYamlImages {
  const full = `${registry}/${repo}`;
  let ref: DockerReference;
  try {
    ref = parseDockerReference(full);
  } catch (err) {
    throw e.fail(`${where}: ${(err as WharfError).message}`, (err as WharfError).hint);
  }
  if (ref.tag !== undefined || ref.digest !== undefined) {
    throw e.fail(`${where}: ${JSON.stringify(printable(repo, 100))} names an image, not a repository`, 'list tags and digests under the repository instead, e.g. redis: ["7.2", "sha256:…"]');
  }
  return { repository: ref, name: repo };
}

/** A digest (`sha256:…`) when it parses as one, otherwise a tag, as skopeo tries them. */
function classifyRef(ref: string, tags: string[], digests: Digest[], e: YamlError, where: string): void {
  if (/^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:/.test(ref)) {
    try {
      digests.push(parseDigest(ref));
      return;
    } catch (err) {
      throw e.fail(`${where}: ${JSON.stringify(printable(ref, 100))} is not a valid digest (${(err as Error).message})`);
    }
  }
  try {
    tags.push(validateTag(ref));
  } catch (err) {
    throw e.fail(`${where}: ${(err as WharfError).message}`, (err as WharfError).hint);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Value checks (with the failsafe schema, a value is a string, an array or a Map)

function isNull(v: unknown): boolean {
  return v === null || v === undefined || v === '';
}

function describe(v: unknown): string {
  if (v instanceof Map) return 'a mapping';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'string') return 'a string';
  return v === null || v === undefined ? 'empty' : typeof v;
}

function asMap(v: unknown, e: YamlError, where: string, expected: string): Map<unknown, unknown> {
  if (!(v instanceof Map)) throw e.fail(`${where} must be a mapping (${expected}), not ${describe(v)}`);
  return v;
}

function asList(v: unknown, e: YamlError, where: string): unknown[] {
  if (!Array.isArray(v)) throw e.fail(`${where} must be a list of tags and digests, not ${describe(v)}`, 'write it as ["1.0", "2.0"], or [] for every tag');
  return v;
}

function scalar(v: unknown, e: YamlError, where: string): string {
  if (typeof v !== 'string') throw e.fail(`${where} must be a string, not ${describe(v)}`);
  return v;
}

function keyString(v: unknown, e: YamlError, what: string): string {
  if (typeof v !== 'string') throw e.fail(`${what} must be a plain name, not ${describe(v)}`);
  return v;
}

/** true/false, and the YAML 1.1 spellings Go's yaml.v3 accepts for a boolean field. */
function bool(v: unknown, e: YamlError, where: string): boolean {
  const s = scalar(v, e, where);
  if (/^(?:true|True|TRUE|y|Y|yes|Yes|YES|on|On|ON)$/.test(s)) return true;
  if (/^(?:false|False|FALSE|n|N|no|No|NO|off|Off|OFF)$/.test(s)) return false;
  throw e.fail(`${where} must be true or false, not ${JSON.stringify(printable(s, 40))}`);
}

function unique<T>(items: T[]): T[] {
  return [...new Set(items)];
}

/** Defence in depth after the alias limit: the expanded document must stay small. */
function countNodes(root: unknown, e: YamlError): void {
  let count = 0;
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const v = stack.pop();
    if (++count > MAX_NODES) throw e.fail(`the document has more than ${MAX_NODES} values`, 'a YAML bomb, or a file far larger than a sync file needs');
    if (v instanceof Map) for (const [k, x] of v) stack.push(k, x);
    else if (Array.isArray(v)) for (const x of v) stack.push(x);
  }
}

function firstLine(message: string): string {
  return message.split('\n')[0]!.slice(0, 300);
}
