/**
 * The small part of the image-name grammar that the configuration files need. config/ may import only
 * errors.ts, so this does not use reference/: it checks the shapes the containers tools accept in
 * auth.json keys, registries.conf prefixes/locations and aliases, and certs.d directory names.
 *
 * The grammar is distribution's (docker/reference): a host is a DNS name or a bracketed IPv6 address with an
 * optional port; path components are lowercase alphanumerics joined by `.`, `_`, `__` or runs of `-`.
 */

const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN_NAME = `${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*`;
const IPV6 = '\\[[a-fA-F0-9:]+\\]';
const HOST = `(?:${DOMAIN_NAME}|${IPV6})`;
const PORT = '(?::[0-9]+)';
const PATH_COMPONENT = '[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*';

const DOMAIN_RE = new RegExp(`^${HOST}${PORT}?$`);
const DOMAIN_NAME_RE = new RegExp(`^${DOMAIN_NAME}$`);
const PATH_RE = new RegExp(`^${PATH_COMPONENT}(?:/${PATH_COMPONENT})*$`);
const TAG_RE = /^[\w][\w.-]{0,127}$/;
const DIGEST_RE = /^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$/;

/** The longest repository name distribution accepts. */
export const MAX_NAME_LENGTH = 255;

/** `host[:port]`, as in `registry.example.com:5000` or `[::1]:5000`. */
export function isDomain(s: string): boolean {
  return s.length <= MAX_NAME_LENGTH && DOMAIN_RE.test(s);
}

/** A DNS name without a port (the part of a `*.example.com` wildcard after `*.`). */
export function isDomainName(s: string): boolean {
  return s.length <= MAX_NAME_LENGTH && DOMAIN_NAME_RE.test(s);
}

/** `team/app`: one or more path components. */
export function isRepoPath(s: string): boolean {
  return s.length <= MAX_NAME_LENGTH && PATH_RE.test(s);
}

export function isTag(s: string): boolean {
  return TAG_RE.test(s);
}

export function isDigest(s: string): boolean {
  return DIGEST_RE.test(s);
}

/** An image name split into its parts; `path` may be empty when the string named only a registry. */
export interface NameParts {
  domain: string;
  path: string;
  tag?: string;
  digest?: string;
}

/**
 * Split `host[:port][/path][:tag][@digest]`, where the first component is always the host (the form
 * registries.conf prefixes and locations, and auth.json keys, use). Returns undefined if any part does not
 * follow the grammar.
 */
export function splitQualifiedName(s: string): NameParts | undefined {
  let rest = s;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!isDigest(digest)) return undefined;
  }
  const slash = rest.indexOf('/');
  let domain = slash < 0 ? rest : rest.slice(0, slash);
  let path = slash < 0 ? '' : rest.slice(slash + 1);
  let tag: string | undefined;
  if (path !== '') {
    const colon = path.lastIndexOf(':');
    if (colon >= 0) {
      tag = path.slice(colon + 1);
      path = path.slice(0, colon);
      if (!isTag(tag)) return undefined;
    }
    if (!isRepoPath(path)) return undefined;
  } else if (digest !== undefined) {
    return undefined; // a registry alone cannot carry a digest
  }
  if (!isDomain(domain)) return undefined;
  if (domain.length + 1 + path.length > MAX_NAME_LENGTH) return undefined;
  const out: NameParts = { domain, path };
  if (tag !== undefined) out.tag = tag;
  if (digest !== undefined) out.digest = digest;
  return out;
}

export function joinName(p: NameParts): string {
  let s = p.path === '' ? p.domain : `${p.domain}/${p.path}`;
  if (p.tag !== undefined) s += `:${p.tag}`;
  if (p.digest !== undefined) s += `@${p.digest}`;
  return s;
}

/** Does the first component of a name look like a registry (as distribution decides for unqualified input)? */
export function looksLikeDomain(component: string): boolean {
  return component.includes('.') || component.includes(':') || component === 'localhost';
}

/** Docker Hub's registry has several spellings; the containers tools store it as `docker.io`. */
export function normalizeRegistryHost(host: string): string {
  return host === 'index.docker.io' || host === 'registry-1.docker.io' ? 'docker.io' : host;
}

/** Strip ASCII control characters and cap the length, for quoting untrusted text (helper output) in messages. */
export function printable(s: string, max = 200): string {
  const clean = s.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
  return clean.length > max ? `${clean.slice(0, max)}…` : clean;
}
