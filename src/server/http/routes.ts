/**
 * The distribution API's URL space. A repository name may itself contain `manifests`, `tags` or `uploads` as
 * components, so each pattern anchors on its tail and takes the longest name before it. Nothing is
 * percent-decoded in the name (a `%` makes it invalid: no encoded traversal can reach the storage path); the
 * last segment (tag, digest, upload id) is decoded once and then checked against its own grammar.
 */
export type Route =
  | { kind: 'base' }
  | { kind: 'catalog' }
  | { kind: 'tags'; name: string }
  | { kind: 'manifest'; name: string; reference: string }
  | { kind: 'blob'; name: string; digest: string }
  | { kind: 'uploads'; name: string }
  | { kind: 'upload'; name: string; id: string }
  | { kind: 'referrers'; name: string; digest: string }
  | { kind: 'token' }
  | { kind: 'healthz' }
  | { kind: 'metrics' }
  | { kind: 'invalid' }
  | { kind: 'unknown' };

const TAILS: [RegExp, (name: string, last: string) => Route][] = [
  [/^\/v2\/(.+)\/manifests\/([^/]+)$/, (name, reference) => ({ kind: 'manifest', name, reference })],
  [/^\/v2\/(.+)\/blobs\/uploads\/?$/, (name) => ({ kind: 'uploads', name })],
  [/^\/v2\/(.+)\/blobs\/uploads\/([^/]+)$/, (name, id) => ({ kind: 'upload', name, id })],
  [/^\/v2\/(.+)\/blobs\/([^/]+)$/, (name, digest) => ({ kind: 'blob', name, digest })],
  [/^\/v2\/(.+)\/referrers\/([^/]+)$/, (name, digest) => ({ kind: 'referrers', name, digest })],
  [/^\/v2\/(.+)\/tags\/list$/, (name) => ({ kind: 'tags', name })],
];

export function routeOf(pathname: string): Route {
  // Dot segments and backslashes never name anything here; refusing them outright keeps this path and the one a
  // proxy in front of us checked the same path.
  if (pathname.includes('\\') || /(?:^|\/)(?:\.|%2e){1,2}(?:\/|$)/i.test(pathname)) return { kind: 'invalid' };
  if (pathname === '/v2/' || pathname === '/v2') return { kind: 'base' };
  if (pathname === '/v2/_catalog') return { kind: 'catalog' };
  if (pathname === '/token' || pathname === '/v2/token') return { kind: 'token' };
  if (pathname === '/healthz') return { kind: 'healthz' };
  if (pathname === '/metrics') return { kind: 'metrics' };
  for (const [pattern, make] of TAILS) {
    const m = pattern.exec(pathname);
    if (!m) continue;
    let last = m[2] ?? '';
    try {
      last = decodeURIComponent(last);
    } catch {
      last = '\0'; // undecodable: fails every grammar downstream
    }
    return make(m[1]!, last);
  }
  return { kind: 'unknown' };
}

/** The repository a route acts on, if any (for access checks and the access log). */
export function repositoryOf(route: Route): string | undefined {
  return 'name' in route ? route.name : undefined;
}
