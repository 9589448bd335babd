import { MediaType } from '../../oci/media-types.js';
import { RegistryApiError } from '../errors.js';
import { isDigestReference } from '../storage/store.js';
import { digestParam } from './blobs.js';
import { readCapped } from './body.js';
import type { RequestContext } from './context.js';
import { sendEmpty, sendJson } from './respond.js';

export async function getManifest(ctx: RequestContext, name: string, reference: string): Promise<void> {
  const m = await ctx.store.getManifest(name, reference);
  ctx.res.writeHead(200, {
    'Content-Type': m.mediaType,
    'Content-Length': String(m.bytes.length),
    'Docker-Content-Digest': m.digest,
    ETag: `"${m.digest}"`,
  });
  ctx.res.end(ctx.req.method === 'HEAD' ? undefined : m.bytes);
}

export async function putManifest(ctx: RequestContext, name: string, reference: string): Promise<void> {
  const bytes = await readCapped(ctx.req, ctx.limits.maxManifestBytes, 'the manifest');
  ctx.note.bytesIn = bytes.length;
  const result = await ctx.store.putManifest(name, reference, bytes, ctx.req.headers['content-type']);
  const headers: Record<string, string> = { Location: `/v2/${name}/manifests/${result.digest}`, 'Docker-Content-Digest': result.digest };
  if (result.subject) headers['OCI-Subject'] = result.subject;
  sendEmpty(ctx.res, 201, headers);
}

/** DELETE by digest removes the manifest; by tag, only the tag (the spec allows both). */
export async function deleteManifest(ctx: RequestContext, name: string, reference: string): Promise<void> {
  if (isDigestReference(reference)) await ctx.store.deleteManifest(name, digestParam(reference));
  else await ctx.store.deleteTag(name, reference);
  sendEmpty(ctx.res, 202);
}

/**
 * One page of a sorted list, as tags/list and _catalog page: `n` entries after `last`, and a Link header to the
 * next page when more remain.
 */
function page(ctx: RequestContext, all: string[]): { items: string[]; link?: string } {
  const params = ctx.url.searchParams;
  const nText = params.get('n');
  let n = ctx.limits.defaultPageSize;
  if (nText !== null) {
    if (!/^\d{1,9}$/.test(nText)) throw new RegistryApiError(400, 'UNSUPPORTED', `n "${nText.slice(0, 20)}" is not a number`);
    n = Math.min(Number(nText), ctx.limits.maxPageSize);
  }
  const last = params.get('last');
  const start = last === null ? 0 : firstAfter(all, last);
  const items = all.slice(start, start + n);
  if (start + n >= all.length || items.length === 0) return { items };
  const next = new URLSearchParams({ n: String(n), last: items[items.length - 1]! });
  return { items, link: `<${ctx.path}?${next.toString()}>; rel="next"` };
}

function firstAfter(sorted: string[], last: string): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! <= last) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export async function listTags(ctx: RequestContext, name: string): Promise<void> {
  const { items, link } = page(ctx, await ctx.store.tags(name));
  sendJson(ctx.res, 200, { name, tags: items }, link ? { Link: link } : {});
}

export async function catalog(ctx: RequestContext): Promise<void> {
  const visible = (await ctx.store.repositories()).filter((repo) => ctx.gate.canSee(ctx.caller, repo));
  const { items, link } = page(ctx, visible);
  sendJson(ctx.res, 200, { repositories: items }, link ? { Link: link } : {});
}

/** The referrers API: an image index of the manifests whose subject is the digest, filtered by artifactType. */
export async function referrers(ctx: RequestContext, name: string, digestText: string): Promise<void> {
  const digest = digestParam(digestText);
  let manifests = await ctx.store.referrers(name, digest);
  const headers: Record<string, string> = {};
  const wanted = ctx.url.searchParams.getAll('artifactType');
  if (wanted.length > 0) {
    manifests = manifests.filter((d) => d.artifactType !== undefined && wanted.includes(d.artifactType));
    headers['OCI-Filters-Applied'] = 'artifactType';
  }
  const body = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests }));
  ctx.res.writeHead(200, { 'Content-Type': MediaType.OciIndex, 'Content-Length': String(body.length), ...headers });
  ctx.res.end(body);
}
