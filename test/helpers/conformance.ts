/**
 * A conformance suite for the OCI Distribution Specification v1.1 (spec.md of opencontainers/distribution-spec
 * v1.1.0), written from the text of the spec. It speaks HTTP with the global fetch only, to any registry:
 *
 *   conformanceSuite(async (t) => {
 *     const reg = await startRegistryOrSkip(t);
 *     if (!reg) return undefined;                        // skipped (t.skip was called)
 *     return { url: reg.url, namespace: 'conformance/a', crossmountNamespace: 'conformance/b', supports: { … } };
 *   });
 *
 * registers one top-level node:test `test` whose subtests are the spec's workflow categories (API, Pull, Push,
 * Content Discovery, Content Management), each with one subtest per requirement, named after it. Every test
 * builds its own content (random blobs, a config + layer + manifest), so none depends on another's order.
 *
 * The suite is strict: what the spec makes optional (MAY) is a capability in `supports`; what a target does
 * against the spec is a named entry in `deviations`, whose text says why, and which relaxes just that assertion
 * for just that target (each relaxed check writes a diagnostic line naming the deviation). Two places where the
 * suite is deliberately stricter than the spec are noted where they happen: every 4xx with a body must carry
 * the JSON error form (the spec lets a 4xx body be in any format), and the SHOULD-level headers
 * (Docker-Content-Digest, Content-Length on HEAD) are required.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { test, type TestContext } from 'node:test';

// ---------------------------------------------------------------------------------------------------------
// The API

export interface ConformanceSupports {
  /** The referrers API (`GET /v2/<name>/referrers/<digest>`, `OCI-Subject` on a manifest PUT with a subject). */
  referrers: boolean;
  /** `DELETE /v2/<name>/manifests/<digest>` is 202; when false it must be refused with 400 or 405. */
  deleteManifests: boolean;
  /** `DELETE /v2/<name>/blobs/<digest>` is 202; when false it must be refused with 400 or 405. */
  deleteBlobs: boolean;
  /** `DELETE /v2/<name>/manifests/<tag>` is 202; when false it must be refused with 400 or 405 (UNSUPPORTED). */
  deleteTags: boolean;
  /** Blobs and manifests addressed by sha512 digests (push by a sha512 digest, pull by it). */
  sha512: boolean;
  /** Only blobs addressed by sha512 (defaults to `sha512`). */
  sha512Blobs?: boolean;
  /** The upload POST answers `OCI-Chunk-Min-Length` (then it is required; chunk sizes always honour it). */
  chunkMinLength?: boolean;
  /** A mount whose `from` lacks the blob still mounts it from elsewhere ("it MAY cross-mount the blob if it can be found"). */
  automaticMount?: boolean;
  /** A mount without `from` mounts the blob ("The registry MAY treat the from parameter as optional"); default `automaticMount`. */
  mountWithoutFrom?: boolean;
  /** `POST /blobs/uploads/?digest=` with the body is 201 (the spec also allows 202 and a PUT). */
  singlePostUpload?: boolean;
  /** Range requests on blobs (SHOULD, RFC 9110); default true. */
  blobRange?: boolean;
  /** `artifactType` filtering of referrers (SHOULD); default true when `referrers`. */
  referrersFilter?: boolean;
  /** The registry accepts manifests whose blobs are missing (it MAY reject them); default false: expect rejection. */
  acceptsManifestsWithMissingBlobs?: boolean;
  /** Manifests of at least 4 MB are accepted (SHOULD); default true. */
  largeManifests?: boolean;
  /** `GET /v2/_catalog` — not part of OCI 1.1 (Docker Registry HTTP API V2 only); default false. */
  catalog?: boolean;
}

/**
 * Where a target does not do what the spec says. Each value is the explanation (shown in the diagnostics and
 * skip reasons); only the named assertion is relaxed, for that target only.
 */
export interface KnownDeviations {
  /** PATCH ignores Content-Range: a chunk out of order is appended instead of answering 416. */
  patchIgnoresContentRange?: string;
  /** tags/list is not in lexical order (the set of tags is still checked). */
  tagsListUnordered?: string;
  /** tags/list ignores `n` and `last` (the pagination tests are skipped). */
  tagsListIgnoresPagination?: string;
  /** Paths the registry's router does not match (bad names, unknown endpoints) answer a non-JSON 404 body. */
  plainTextNotFound?: string;
  /** A refused tag deletion answers this error code instead of UNSUPPORTED. */
  tagDeleteRefusalCode?: { code: string; why: string };
}

export interface ConformanceTarget {
  /** `http://127.0.0.1:PORT` */
  url: string;
  /** The repository to push into, e.g. `conformance/a`. Some tests use repositories below it (`NAME/sep.a_b`). */
  namespace: string;
  /** Another repository, for cross-repository mounts and repository scoping. */
  crossmountNamespace: string;
  /** Sent with every request (e.g. `authorization: Basic …`). */
  headers?: Record<string, string>;
  supports: ConformanceSupports;
  deviations?: KnownDeviations;
}

export interface ConformanceOptions {
  /** Name of the top-level test (default "OCI distribution-spec v1.1 conformance"). */
  name?: string;
  /** Per-request timeout in ms (default 10000). */
  requestTimeout?: number;
  /** Per-test timeout in ms (default 20000). */
  testTimeout?: number;
}

export type TargetFactory = (t: TestContext) => Promise<ConformanceTarget | undefined> | ConformanceTarget | undefined;

/**
 * Register the suite as one top-level test. `target` runs inside it (so it can use `t.after` for clean up);
 * returning undefined means the target is unavailable and the test was skipped (e.g. by startRegistryOrSkip).
 */
export function conformanceSuite(target: TargetFactory, options: ConformanceOptions = {}): void {
  test(options.name ?? 'OCI distribution-spec v1.1 conformance', async (t) => {
    const tgt = await target(t);
    if (!tgt) return;
    await runConformance(t, tgt, options);
  });
}

/** The spec's error codes (Error Codes table), and the legacy Docker ones it says a client MAY encounter. */
export const SPEC_ERROR_CODES = [
  'BLOB_UNKNOWN',
  'BLOB_UPLOAD_INVALID',
  'BLOB_UPLOAD_UNKNOWN',
  'DIGEST_INVALID',
  'MANIFEST_BLOB_UNKNOWN',
  'MANIFEST_INVALID',
  'MANIFEST_UNKNOWN',
  'NAME_INVALID',
  'NAME_UNKNOWN',
  'SIZE_INVALID',
  'UNAUTHORIZED',
  'DENIED',
  'UNSUPPORTED',
  'TOOMANYREQUESTS',
] as const;
const LEGACY_ERROR_CODES = ['TAG_INVALID', 'MANIFEST_UNVERIFIED'];

export const MT = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociEmpty: 'application/vnd.oci.empty.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
} as const;

const ACCEPT_MANIFESTS = [MT.ociManifest, MT.ociIndex, MT.dockerManifest, MT.dockerList].join(', ');
const UUID_RE = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/i;

// ---------------------------------------------------------------------------------------------------------
// HTTP and content helpers

type Alg = 'sha256' | 'sha512';

export function digestOf(data: Buffer | string, alg: Alg = 'sha256'): string {
  return `${alg}:${createHash(alg).update(data).digest('hex')}`;
}

interface Res {
  method: string;
  url: string;
  status: number;
  headers: Headers;
  body: Buffer;
}

interface ReqOptions {
  body?: Buffer | string;
  headers?: Record<string, string>;
}

function describeRes(r: Res): string {
  const text = r.body.subarray(0, 400).toString('utf8');
  return `${r.method} ${r.url} → ${r.status} ${r.headers.get('content-type') ?? ''} ${JSON.stringify(text)}`;
}

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
  platform?: { architecture: string; os: string };
}

interface Image {
  repo: string;
  manifest: Buffer;
  digest: string;
  mediaType: string;
  config: Descriptor;
  layer: Descriptor & { bytes: Buffer };
  descriptor: Descriptor;
}

interface ListPage {
  res: Res;
  items: string[];
  next?: string;
}

/** `Link: <url>; rel="next"` (RFC 5988) → url, or undefined; asserts the form when a Link header is present. */
function nextLink(r: Res): string | undefined {
  const link = r.headers.get('link');
  if (link === null) return undefined;
  for (const part of link.split(/,(?=\s*<)/)) {
    const m = /^\s*<([^>]*)>((?:\s*;\s*[^;]+)*)\s*$/.exec(part);
    assert.ok(m, `Link header is not RFC 5988 (<url>; rel="next"): ${JSON.stringify(link)} on ${describeRes(r)}`);
    const rel = /;\s*rel\s*=\s*(?:"([^"]*)"|([^\s;]+))/i.exec(m[2]!);
    if (rel && (rel[1] ?? rel[2] ?? '').split(/\s+/).includes('next')) return m[1];
  }
  assert.fail(`Link header without rel="next": ${JSON.stringify(link)} on ${describeRes(r)}`);
}

class Client {
  readonly ns: string;
  readonly cross: string;
  readonly s: ConformanceSupports;
  readonly dev: KnownDeviations;

  constructor(
    readonly target: ConformanceTarget,
    private readonly requestTimeout: number,
  ) {
    this.ns = target.namespace;
    this.cross = target.crossmountNamespace;
    this.s = target.supports;
    this.dev = target.deviations ?? {};
  }

  abs(pathOrUrl: string): string {
    return new URL(pathOrUrl, this.target.url).href;
  }

  async req(method: string, pathOrUrl: string, o: ReqOptions = {}): Promise<Res> {
    const url = this.abs(pathOrUrl);
    const headers: Record<string, string> = { ...(this.target.headers ?? {}), ...(o.headers ?? {}) };
    const res = await fetch(url, {
      method,
      headers,
      ...(o.body !== undefined ? { body: o.body } : {}),
      signal: AbortSignal.timeout(this.requestTimeout),
    });
    const body = Buffer.from(await res.arrayBuffer());
    const r: Res = { method, url, status: res.status, headers: res.headers, body };
    checkWarnings(r);
    if (method === 'HEAD') assert.equal(body.length, 0, `a HEAD response has no body: ${describeRes(r)}`);
    return r;
  }

  // ------------------------------------------------------------------ assertions

  expectStatus(r: Res, status: number | number[], what = ''): void {
    const ok = Array.isArray(status) ? status : [status];
    assert.ok(ok.includes(r.status), `${what ? `${what}: ` : ''}expected ${ok.join(' or ')}, got ${describeRes(r)}`);
  }

  /**
   * The error form of a 4xx: status in `status`; for anything but HEAD, a JSON body
   * `{"errors":[{"code","message"?,"detail"?}, …]}` whose codes are spec codes, one of them in `codes` (when
   * given). The spec lets a 4xx body be in any format; this suite demands the JSON form (stricter).
   */
  expectError(t: TestContext, r: Res, status: number | number[], codes?: readonly string[]): string[] {
    this.expectStatus(r, status);
    if (r.method === 'HEAD') return [];
    let parsed: unknown;
    try {
      parsed = JSON.parse(r.body.toString('utf8'));
    } catch {
      if (this.dev.plainTextNotFound && r.status === 404) {
        t.diagnostic(`known deviation plainTextNotFound (${this.dev.plainTextNotFound}): ${describeRes(r)}`);
        return [];
      }
      assert.fail(`an error response carries the spec's JSON error body: ${describeRes(r)}`);
    }
    const found = checkErrorBody(parsed, r);
    if (codes) assert.ok(found.some((c) => codes.includes(c)), `expected error code ${codes.join(' or ')}, got ${found.join(', ')}: ${describeRes(r)}`);
    return found;
  }

  expectDigestHeader(r: Res, expected: string, what = 'Docker-Content-Digest'): void {
    assert.equal(r.headers.get('docker-content-digest'), expected, `${what}: ${describeRes(r)}`);
  }

  /** Docker-Content-Digest present (SHOULD) and matching `body` in its own algorithm (MUST when present). */
  expectDigestMatchesBody(r: Res, body: Buffer): void {
    const d = r.headers.get('docker-content-digest');
    assert.ok(d, `Docker-Content-Digest is sent: ${describeRes(r)}`);
    const alg = d.split(':')[0];
    assert.ok(alg === 'sha256' || alg === 'sha512', `Docker-Content-Digest has a known algorithm: ${d}`);
    assert.equal(d, digestOf(body, alg), `Docker-Content-Digest matches the content: ${describeRes(r)}`);
  }

  // ------------------------------------------------------------------ blobs

  /** POST /blobs/uploads/ → 202 with Location (containing a UUID); returns the absolute location. */
  async startUpload(repo: string): Promise<{ location: string; res: Res }> {
    const res = await this.req('POST', `/v2/${repo}/blobs/uploads/`);
    this.expectStatus(res, 202, 'POST /blobs/uploads/');
    const loc = res.headers.get('location');
    assert.ok(loc, `the upload POST has a Location: ${describeRes(res)}`);
    return { location: this.abs(loc), res };
  }

  withDigest(location: string, digest: string): string {
    const u = new URL(location);
    u.searchParams.set('digest', digest);
    return u.href;
  }

  /** POST then PUT (monolithic); asserts 201 with Location, returns the PUT response. */
  async pushBlob(repo: string, data: Buffer, alg: Alg = 'sha256'): Promise<{ digest: string; res: Res }> {
    const { location } = await this.startUpload(repo);
    const digest = digestOf(data, alg);
    const res = await this.req('PUT', this.withDigest(location, digest), { body: data, headers: { 'content-type': 'application/octet-stream' } });
    this.expectStatus(res, 201, 'PUT <location>?digest=');
    assert.ok(res.headers.get('location'), `a finished upload has a Location: ${describeRes(res)}`);
    return { digest, res };
  }

  /** The chunk size to use: `want`, raised to the registry's OCI-Chunk-Min-Length when it states one. */
  chunkSize(post: Res, want: number): number {
    const min = post.headers.get('oci-chunk-min-length');
    if (min === null) return want;
    assert.match(min, /^[0-9]+$/, `OCI-Chunk-Min-Length is a size in bytes: ${describeRes(post)}`);
    return Math.max(want, Number(min));
  }

  async patch(location: string, chunk: Buffer, start: number): Promise<Res> {
    return this.req('PATCH', location, {
      body: chunk,
      headers: { 'content-type': 'application/octet-stream', 'content-range': `${start}-${start + chunk.length - 1}` },
    });
  }

  /** A PATCH that must succeed: 202, Location, Range 0-<end>; returns the next location. */
  async patchOk(location: string, chunk: Buffer, start: number): Promise<string> {
    const r = await this.patch(location, chunk, start);
    this.expectStatus(r, 202, `PATCH ${start}-${start + chunk.length - 1}`);
    const loc = r.headers.get('location');
    assert.ok(loc, `a chunk's 202 has a Location: ${describeRes(r)}`);
    assert.equal(r.headers.get('range'), `0-${start + chunk.length - 1}`, `a chunk's 202 has Range: 0-<end-of-range>: ${describeRes(r)}`);
    return this.abs(loc);
  }

  async expectBlob(repo: string, digest: string, data: Buffer): Promise<void> {
    const r = await this.req('GET', `/v2/${repo}/blobs/${digest}`);
    this.expectStatus(r, 200, 'GET blob');
    assert.ok(r.body.equals(data), `the blob's bytes come back: ${describeRes(r)}`);
  }

  // ------------------------------------------------------------------ manifests

  async putManifest(repo: string, ref: string, body: Buffer, mediaType: string): Promise<Res> {
    return this.req('PUT', `/v2/${repo}/manifests/${ref}`, { body, headers: { 'content-type': mediaType } });
  }

  /** PUT that must succeed: 201, Location, Docker-Content-Digest equal to `digest` (or sha256 of the bytes). */
  async putManifestOk(repo: string, ref: string, body: Buffer, mediaType: string, digest = digestOf(body)): Promise<Res> {
    const r = await this.putManifest(repo, ref, body, mediaType);
    this.expectStatus(r, 201, `PUT manifest ${ref}`);
    assert.ok(r.headers.get('location'), `a manifest PUT's 201 has a Location: ${describeRes(r)}`);
    this.expectDigestHeader(r, digest, 'a manifest PUT answers Docker-Content-Digest equal to the digest');
    return r;
  }

  async getManifest(repo: string, ref: string, method: 'GET' | 'HEAD' = 'GET'): Promise<Res> {
    return this.req(method, `/v2/${repo}/manifests/${ref}`, { headers: { accept: ACCEPT_MANIFESTS } });
  }

  /** GET by `ref`: 200, the same bytes, Content-Type = the pushed type, Docker-Content-Digest of the bytes. */
  async expectManifest(repo: string, ref: string, body: Buffer, mediaType: string, digest = digestOf(body)): Promise<Res> {
    const r = await this.getManifest(repo, ref);
    this.expectStatus(r, 200, `GET manifest ${ref}`);
    assert.ok(r.body.equals(body), `the manifest comes back byte for byte: ${describeRes(r)}`);
    assert.equal(r.headers.get('content-type'), mediaType, `Content-Type is the pushed media type: ${describeRes(r)}`);
    this.expectDigestHeader(r, digest);
    return r;
  }

  /** A config + one layer (random) and an OCI image manifest (or a Docker v2s2 one) over them, pushed by `ref`. */
  async pushImage(repo: string, ref?: string, opts: { docker?: boolean; extra?: Record<string, unknown>; noPush?: boolean } = {}): Promise<Image> {
    const layerBytes = randomBytes(512 + Math.floor(Math.random() * 512));
    const config = Buffer.from(
      JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [digestOf(layerBytes)] }, nonce: randomBytes(8).toString('hex') }),
    );
    await this.pushBlob(repo, config);
    await this.pushBlob(repo, layerBytes);
    const mediaType = opts.docker ? MT.dockerManifest : MT.ociManifest;
    const configDesc: Descriptor = { mediaType: opts.docker ? MT.dockerConfig : MT.ociConfig, digest: digestOf(config), size: config.length };
    const layer = { mediaType: opts.docker ? MT.dockerLayer : MT.ociLayer, digest: digestOf(layerBytes), size: layerBytes.length };
    const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType, config: configDesc, layers: [layer], ...(opts.extra ?? {}) }));
    const digest = digestOf(manifest);
    if (!opts.noPush) await this.putManifestOk(repo, ref ?? digest, manifest, mediaType);
    return {
      repo,
      manifest,
      digest,
      mediaType,
      config: configDesc,
      layer: { ...layer, bytes: layerBytes },
      descriptor: { mediaType, digest, size: manifest.length },
    };
  }

  // ------------------------------------------------------------------ lists

  async listPage(path: string, key: 'tags' | 'repositories'): Promise<ListPage> {
    const res = await this.req('GET', path);
    this.expectStatus(res, 200, `GET ${path}`);
    const parsed = JSON.parse(res.body.toString('utf8')) as Record<string, unknown>;
    const items = parsed[key];
    assert.ok(Array.isArray(items) && items.every((x) => typeof x === 'string'), `"${key}" is a list of strings: ${describeRes(res)}`);
    const next = nextLink(res);
    return { res, items: items as string[], ...(next !== undefined ? { next } : {}) };
  }

  /** Every entry, following Link rel="next" (bounded). */
  async listAll(path: string, key: 'tags' | 'repositories'): Promise<string[]> {
    const out: string[] = [];
    let page = await this.listPage(path, key);
    out.push(...page.items);
    for (let i = 0; page.next !== undefined; i++) {
      assert.ok(i < 10_000, 'the Link rel="next" chain ends');
      page = await this.listPage(page.next, key);
      out.push(...page.items);
    }
    return out;
  }

  async referrers(digest: string, query = '', repo = this.ns): Promise<{ res: Res; index: { schemaVersion: number; mediaType: string; manifests: Descriptor[] } }> {
    const res = await this.req('GET', `/v2/${repo}/referrers/${digest}${query}`);
    this.expectStatus(res, 200, 'GET referrers');
    assert.equal(res.headers.get('content-type'), MT.ociIndex, `the referrers list is served as an image index: ${describeRes(res)}`);
    const index = JSON.parse(res.body.toString('utf8')) as { schemaVersion: number; mediaType: string; manifests: Descriptor[] };
    assert.equal(index.schemaVersion, 2, `the referrers index has schemaVersion 2: ${describeRes(res)}`);
    assert.equal(index.mediaType, MT.ociIndex, `the referrers index has the index mediaType: ${describeRes(res)}`);
    assert.ok(Array.isArray(index.manifests), `the referrers index has a manifests list: ${describeRes(res)}`);
    // A Link header MUST be included when the list does not fit one response: collect the further pages.
    let next = nextLink(res);
    for (let i = 0; next !== undefined; i++) {
      assert.ok(i < 1000, 'the referrers Link chain ends');
      const more = await this.req('GET', next);
      this.expectStatus(more, 200, 'GET referrers (next page)');
      index.manifests.push(...(JSON.parse(more.body.toString('utf8')) as { manifests: Descriptor[] }).manifests);
      next = nextLink(more);
    }
    return { res, index };
  }
}

function checkWarnings(r: Res): void {
  const w = r.headers.get('warning');
  if (w === null) return;
  // "If included, Warning headers MUST specify a warn-code of 299 and a warn-agent of -, and MUST NOT specify a
  // warn-date value. A registry MUST NOT send more than 4096 bytes of warning data from all headers combined."
  assert.match(w, /^299 - "(?:[^"\\]|\\.)*"(?:\s*,\s*299 - "(?:[^"\\]|\\.)*")*$/, `Warning headers are 299 - "text": ${describeRes(r)}`);
  assert.ok(Buffer.byteLength(w) <= 4096, `at most 4096 bytes of warnings: ${describeRes(r)}`);
}

function checkErrorBody(parsed: unknown, r: Res): string[] {
  assert.ok(parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed), `the error body is a JSON object: ${describeRes(r)}`);
  const errors = (parsed as { errors?: unknown }).errors;
  assert.ok(Array.isArray(errors) && errors.length > 0, `the error body has a non-empty "errors" list: ${describeRes(r)}`);
  const codes: string[] = [];
  for (const e of errors) {
    assert.ok(e !== null && typeof e === 'object', `each error is an object: ${describeRes(r)}`);
    const { code, message } = e as { code?: unknown; message?: unknown };
    assert.ok(typeof code === 'string' && /^[A-Z_]+$/.test(code), `"code" is uppercase letters and underscores: ${describeRes(r)}`);
    assert.ok(
      (SPEC_ERROR_CODES as readonly string[]).includes(code) || LEGACY_ERROR_CODES.includes(code),
      `"code" is one of the spec's error codes, got ${code}: ${describeRes(r)}`,
    );
    assert.ok(message === undefined || typeof message === 'string', `"message", when present, is a string: ${describeRes(r)}`);
    codes.push(code);
  }
  return codes;
}

/** Case-insensitive lexical order, as the spec puts it ("lexical order (i.e. case-insensitive alphanumeric order)"). */
function lexical(a: string, b: string): number {
  const la = a.toLowerCase();
  const lb = b.toLowerCase();
  return la < lb ? -1 : la > lb ? 1 : a < b ? -1 : a > b ? 1 : 0;
}

function uniq(prefix: string): string {
  return `${prefix}${randomBytes(4).toString('hex')}`;
}

// ---------------------------------------------------------------------------------------------------------
// The tests

type Body = (t: TestContext, c: Client) => Promise<void>;

/** Run every test of the suite as subtests of `t`, grouped by workflow category. */
export async function runConformance(t: TestContext, target: ConformanceTarget, options: ConformanceOptions = {}): Promise<void> {
  const c = new Client(target, options.requestTimeout ?? 10_000);
  const s = target.supports;
  const dev = target.deviations ?? {};
  const timeout = options.testTimeout ?? 20_000;
  const sha512Blobs = s.sha512Blobs ?? s.sha512;
  const referrersFilter = s.referrersFilter ?? true;

  let group: { t: TestContext } | undefined;
  const it = async (name: string, skip: string | false, fn: Body): Promise<void> => {
    assert.ok(group);
    await group.t.test(name, { timeout, ...(skip ? { skip } : {}) }, (tt) => fn(tt, c));
  };
  const category = async (name: string, body: () => Promise<void>): Promise<void> => {
    await t.test(name, async (gt) => {
      const prev = group;
      group = { t: gt };
      try {
        await body();
      } finally {
        group = prev;
      }
    });
  };
  const needs = (flag: boolean | undefined, what: string): string | false => (flag ? false : `the target does not support ${what}`);
  const deviates = (why: string | undefined, name: string): string | false => (why ? `known deviation ${name} of the target: ${why}` : false);

  // ================================================================================================ API
  await category('API: determining support', async () => {
    await it('api: GET /v2/ is 200 (Docker-Distribution-API-Version is not required)', false, async (_t, c) => {
      const r = await c.req('GET', '/v2/');
      c.expectStatus(r, 200, 'GET /v2/');
      // Legacy Docker headers "are OPTIONAL and clients SHOULD NOT depend on them": nothing else is demanded.
    });

    await it('api: a repository name outside the <name> grammar is refused (400 NAME_INVALID or 404 NAME_UNKNOWN)', false, async (t, c) => {
      for (const bad of [`${c.ns}/UPPER`, `${c.ns}/a..b`, `${c.ns}/-lead`]) {
        for (const [method, path] of [
          ['GET', `/v2/${bad}/manifests/latest`],
          ['GET', `/v2/${bad}/tags/list`],
          ['POST', `/v2/${bad}/blobs/uploads/`],
        ] as const) {
          const r = await c.req(method, path);
          c.expectError(t, r, [400, 404], ['NAME_INVALID', 'NAME_UNKNOWN']);
        }
      }
    });
  });

  // =============================================================================================== PULL
  await category('Pull', async () => {
    await it('pull: GET of a manifest by tag is 200 with its bytes, its Content-Type and Docker-Content-Digest', false, async (_t, c) => {
      const tag = uniq('pull-');
      const img = await c.pushImage(c.ns, tag);
      await c.expectManifest(c.ns, tag, img.manifest, img.mediaType, img.digest);
    });

    await it('pull: GET of a manifest by digest is 200 with its bytes and its Content-Type', false, async (_t, c) => {
      const img = await c.pushImage(c.ns, uniq('pull-'));
      await c.expectManifest(c.ns, img.digest, img.manifest, img.mediaType, img.digest);
    });

    await it('pull: HEAD of a manifest by tag and by digest is 200 with Docker-Content-Digest, Content-Length and no body', false, async (_t, c) => {
      const tag = uniq('head-');
      const img = await c.pushImage(c.ns, tag);
      for (const ref of [tag, img.digest]) {
        const r = await c.getManifest(c.ns, ref, 'HEAD');
        c.expectStatus(r, 200, `HEAD manifest ${ref}`);
        c.expectDigestHeader(r, img.digest);
        assert.equal(r.headers.get('content-length'), String(img.manifest.length), `HEAD has the manifest's Content-Length: ${describeRes(r)}`);
        assert.equal(r.headers.get('content-type'), img.mediaType, `HEAD has the manifest's Content-Type: ${describeRes(r)}`);
      }
    });

    await it('pull: a manifest that is not in the repository is 404 MANIFEST_UNKNOWN (by tag and by digest, GET and HEAD)', false, async (t, c) => {
      await c.pushImage(c.ns, uniq('exists-')); // the repository exists
      for (const ref of [uniq('missing-'), digestOf(randomBytes(32))]) {
        c.expectError(t, await c.getManifest(c.ns, ref), 404, ['MANIFEST_UNKNOWN']);
        c.expectError(t, await c.getManifest(c.ns, ref, 'HEAD'), 404);
      }
    });

    await it('pull: a manifest of a repository that does not exist is 404 (NAME_UNKNOWN or MANIFEST_UNKNOWN)', false, async (t, c) => {
      const repo = `${c.ns}/${uniq('nothere')}`;
      c.expectError(t, await c.getManifest(repo, 'latest'), 404, ['NAME_UNKNOWN', 'MANIFEST_UNKNOWN']);
      c.expectError(t, await c.getManifest(repo, digestOf(randomBytes(8))), 404, ['NAME_UNKNOWN', 'MANIFEST_UNKNOWN']);
    });

    await it('pull: GET of a blob is 200 with its bytes and a Docker-Content-Digest that matches them', false, async (_t, c) => {
      const data = randomBytes(2048);
      const { digest } = await c.pushBlob(c.ns, data);
      const r = await c.req('GET', `/v2/${c.ns}/blobs/${digest}`);
      c.expectStatus(r, 200, 'GET blob');
      assert.ok(r.body.equals(data), `the blob's bytes come back: ${describeRes(r)}`);
      c.expectDigestHeader(r, digest);
    });

    await it('pull: HEAD of a blob is 200 with Content-Length, Docker-Content-Digest and no body', false, async (_t, c) => {
      const data = randomBytes(1500);
      const { digest } = await c.pushBlob(c.ns, data);
      const r = await c.req('HEAD', `/v2/${c.ns}/blobs/${digest}`);
      c.expectStatus(r, 200, 'HEAD blob');
      assert.equal(r.headers.get('content-length'), String(data.length), `HEAD has the blob's Content-Length: ${describeRes(r)}`);
      c.expectDigestHeader(r, digest);
    });

    await it('pull: a blob that is not in the repository is 404 BLOB_UNKNOWN (GET and HEAD)', false, async (t, c) => {
      await c.pushBlob(c.ns, randomBytes(16)); // the repository exists
      const missing = digestOf(randomBytes(32));
      c.expectError(t, await c.req('GET', `/v2/${c.ns}/blobs/${missing}`), 404, ['BLOB_UNKNOWN']);
      c.expectError(t, await c.req('HEAD', `/v2/${c.ns}/blobs/${missing}`), 404);
    });

    await it('pull: a blob pushed to one repository is 404 in another (content is scoped to the repository)', false, async (t, c) => {
      const data = randomBytes(300);
      const { digest } = await c.pushBlob(c.ns, data);
      await c.pushBlob(c.cross, randomBytes(16)); // the other repository exists
      c.expectError(t, await c.req('GET', `/v2/${c.cross}/blobs/${digest}`), 404, ['BLOB_UNKNOWN']);
    });

    await it('pull: a blob GET with Range is 206 with Content-Range and just those bytes (SHOULD, RFC 9110)', needs(s.blobRange ?? true, 'Range requests'), async (_t, c) => {
      const data = randomBytes(4096);
      const { digest } = await c.pushBlob(c.ns, data);
      const r = await c.req('GET', `/v2/${c.ns}/blobs/${digest}`, { headers: { range: 'bytes=100-1099' } });
      c.expectStatus(r, 206, 'GET blob with Range');
      assert.equal(r.headers.get('content-range'), `bytes 100-1099/${data.length}`, `Content-Range of the part: ${describeRes(r)}`);
      assert.ok(r.body.equals(data.subarray(100, 1100)), `just the requested bytes: ${describeRes(r)}`);
      const tail = await c.req('GET', `/v2/${c.ns}/blobs/${digest}`, { headers: { range: 'bytes=4000-' } });
      c.expectStatus(tail, 206, 'GET blob with an open Range');
      assert.ok(tail.body.equals(data.subarray(4000)), `the tail of the blob: ${describeRes(tail)}`);
    });
  });

  // =============================================================================================== PUSH
  await category('Push', async () => {
    await it('push: POST /blobs/uploads/ is 202 with a Location containing a UUID, unique per session', false, async (_t, c) => {
      const a = await c.startUpload(c.ns);
      const b = await c.startUpload(c.ns);
      assert.match(a.location, UUID_RE, 'the <location> MUST contain a UUID');
      assert.notEqual(a.location, b.location, 'two sessions have different locations');
    });

    await it('push: POST then PUT <location>?digest= uploads a blob (201, Location is a pullable blob URL)', false, async (_t, c) => {
      const data = randomBytes(3000);
      const { digest, res } = await c.pushBlob(c.ns, data);
      const pulled = await c.req('GET', res.headers.get('location')!);
      c.expectStatus(pulled, 200, 'GET of the blob Location');
      assert.ok(pulled.body.equals(data), `the Location serves the blob: ${describeRes(pulled)}`);
      await c.expectBlob(c.ns, digest, data);
    });

    await it(
      `push: a single POST ?digest= with the body is 201 with Location${s.singlePostUpload ? '' : ' (or 202 and the upload completes with a PUT)'}`,
      false,
      async (_t, c) => {
        const data = randomBytes(1200);
        const digest = digestOf(data);
        const r = await c.req('POST', `/v2/${c.ns}/blobs/uploads/?digest=${digest}`, { body: data, headers: { 'content-type': 'application/octet-stream' } });
        c.expectStatus(r, s.singlePostUpload ? 201 : [201, 202], 'single POST');
        const loc = r.headers.get('location');
        assert.ok(loc, `a Location: ${describeRes(r)}`);
        if (r.status === 202) {
          // "Registries that do not support single request monolithic uploads SHOULD return a 202 Accepted status
          // code and Location header and clients SHOULD proceed with a subsequent PUT request".
          const put = await c.req('PUT', c.withDigest(c.abs(loc), digest), { body: data, headers: { 'content-type': 'application/octet-stream' } });
          c.expectStatus(put, 201, 'PUT after a 202 single POST');
        }
        await c.expectBlob(c.ns, digest, data);
      },
    );

    await it('push: a PUT whose digest does not match the uploaded bytes is 400 DIGEST_INVALID and stores nothing', false, async (t, c) => {
      const data = randomBytes(500);
      const wrong = digestOf(randomBytes(500));
      const { location } = await c.startUpload(c.ns);
      const r = await c.req('PUT', c.withDigest(location, wrong), { body: data, headers: { 'content-type': 'application/octet-stream' } });
      c.expectError(t, r, 400, ['DIGEST_INVALID']);
      c.expectError(t, await c.req('HEAD', `/v2/${c.ns}/blobs/${wrong}`), 404);
    });

    await it('push: a chunked upload (POST, PATCHes with Content-Range and Content-Length, empty PUT) stores the blob', false, async (_t, c) => {
      const { location, res } = await c.startUpload(c.ns);
      const size = c.chunkSize(res, 1024);
      const data = randomBytes(size * 3);
      let loc = location;
      for (let off = 0; off < data.length; off += size) loc = await c.patchOk(loc, data.subarray(off, off + size), off);
      const digest = digestOf(data);
      const put = await c.req('PUT', c.withDigest(loc, digest));
      c.expectStatus(put, 201, 'closing PUT');
      assert.ok(put.headers.get('location'), `the closing PUT has a Location: ${describeRes(put)}`);
      await c.expectBlob(c.ns, digest, data);
    });

    await it('push: the last chunk may come with the closing PUT (Content-Range, Content-Length)', false, async (_t, c) => {
      const { location, res } = await c.startUpload(c.ns);
      const size = c.chunkSize(res, 1024);
      const data = randomBytes(size * 2 + 77);
      let loc = await c.patchOk(location, data.subarray(0, size), 0);
      loc = await c.patchOk(loc, data.subarray(size, size * 2), size);
      const last = data.subarray(size * 2);
      const digest = digestOf(data);
      const put = await c.req('PUT', c.withDigest(loc, digest), {
        body: last,
        headers: { 'content-type': 'application/octet-stream', 'content-range': `${size * 2}-${data.length - 1}` },
      });
      c.expectStatus(put, 201, 'closing PUT with the last chunk');
      await c.expectBlob(c.ns, digest, data);
    });

    await it('push: GET of an upload session is 204 with Location and Range: 0-<end-of-range>', false, async (_t, c) => {
      const { location, res } = await c.startUpload(c.ns);
      const size = c.chunkSize(res, 700);
      const data = randomBytes(size * 2);
      const loc = await c.patchOk(location, data.subarray(0, size), 0);
      const st = await c.req('GET', loc);
      c.expectStatus(st, 204, 'GET upload status');
      assert.equal(st.headers.get('range'), `0-${size - 1}`, `the status has Range: 0-<end-of-range>: ${describeRes(st)}`);
      const stLoc = st.headers.get('location');
      assert.ok(stLoc, `the status has a Location: ${describeRes(st)}`);
      // "The following chunk upload SHOULD use the <location> provided in the response."
      const next = await c.patchOk(c.abs(stLoc), data.subarray(size), size);
      const put = await c.req('PUT', c.withDigest(next, digestOf(data)));
      c.expectStatus(put, 201, 'closing PUT after a status GET');
      await c.expectBlob(c.ns, digestOf(data), data);
    });

    const rangeDeviation = deviates(dev.patchIgnoresContentRange, 'patchIgnoresContentRange');
    await it('push: a PATCH whose Content-Range does not start at the current offset is 416', rangeDeviation, async (t, c) => {
      const { location, res } = await c.startUpload(c.ns);
      const size = c.chunkSize(res, 512);
      const data = randomBytes(size * 3);
      const loc = await c.patchOk(location, data.subarray(0, size), 0);
      const skipAhead = await c.patch(loc, data.subarray(size * 2), size * 2);
      c.expectError(t, skipAhead, 416);
      const overlap = await c.patch(loc, data.subarray(size - 10, size * 2), size - 10);
      c.expectError(t, overlap, 416);
    });

    await it("push: a first chunk whose range does not begin with 0 is 416", rangeDeviation, async (t, c) => {
      const { location } = await c.startUpload(c.ns);
      c.expectError(t, await c.patch(location, randomBytes(100), 5), 416);
    });

    await it('push: after a 416 the session is intact: GET reports the offset and the upload completes', rangeDeviation, async (t, c) => {
      const { location, res } = await c.startUpload(c.ns);
      const size = c.chunkSize(res, 512);
      const data = randomBytes(size * 2);
      const loc = await c.patchOk(location, data.subarray(0, size), 0);
      c.expectError(t, await c.patch(loc, data.subarray(size + 1), size + 1), 416);
      const st = await c.req('GET', loc);
      c.expectStatus(st, 204, 'GET upload status after 416');
      assert.equal(st.headers.get('range'), `0-${size - 1}`, `the offset is unchanged: ${describeRes(st)}`);
      const next = await c.patchOk(c.abs(st.headers.get('location') ?? loc), data.subarray(size), size);
      c.expectStatus(await c.req('PUT', c.withDigest(next, digestOf(data))), 201, 'closing PUT after a 416');
      await c.expectBlob(c.ns, digestOf(data), data);
    });

    await it('push: the upload POST states OCI-Chunk-Min-Length and chunks of that size are accepted', needs(s.chunkMinLength, 'OCI-Chunk-Min-Length'), async (_t, c) => {
      const { location, res } = await c.startUpload(c.ns);
      const min = res.headers.get('oci-chunk-min-length');
      assert.ok(min !== null && /^[1-9][0-9]*$/.test(min), `OCI-Chunk-Min-Length is a positive size: ${describeRes(res)}`);
      const size = Number(min);
      const data = randomBytes(size + 1); // the final chunk MAY have any length
      let loc = await c.patchOk(location, data.subarray(0, size), 0);
      loc = await c.patchOk(loc, data.subarray(size), size);
      c.expectStatus(await c.req('PUT', c.withDigest(loc, digestOf(data))), 201, 'closing PUT');
    });

    await it('push: DELETE of an upload session is 204 and the session is then 404 BLOB_UPLOAD_UNKNOWN (detail.md)', false, async (t, c) => {
      // The v1.1 endpoint table has no DELETE of a session; the historical detail.md (apdx-1) defines it: 204.
      const { location, res } = await c.startUpload(c.ns);
      const data = randomBytes(c.chunkSize(res, 256));
      const loc = await c.patchOk(location, data, 0);
      c.expectStatus(await c.req('DELETE', loc), 204, 'DELETE upload');
      c.expectError(t, await c.req('GET', loc), 404, ['BLOB_UPLOAD_UNKNOWN']);
      c.expectError(t, await c.patch(loc, randomBytes(10), data.length), 404, ['BLOB_UPLOAD_UNKNOWN']);
      c.expectError(t, await c.req('PUT', c.withDigest(loc, digestOf(data))), 404, ['BLOB_UPLOAD_UNKNOWN']);
    });

    await it('push: a mount (?mount=&from=) of a blob in another repository is 201 with a Location, and the blob is served', false, async (_t, c) => {
      const data = randomBytes(900);
      const { digest } = await c.pushBlob(c.ns, data);
      const r = await c.req('POST', `/v2/${c.cross}/blobs/uploads/?mount=${digest}&from=${c.ns}`);
      c.expectStatus(r, 201, 'mount');
      const loc = r.headers.get('location');
      assert.ok(loc, `a mount's 201 has a Location: ${describeRes(r)}`);
      const pulled = await c.req('GET', loc);
      c.expectStatus(pulled, 200, 'GET of the mount Location');
      assert.ok(pulled.body.equals(data), `the Location serves the blob: ${describeRes(pulled)}`);
      await c.expectBlob(c.cross, digest, data);
    });

    await it('push: a mount of a blob the registry does not have is 202 with an upload session that completes', false, async (_t, c) => {
      const data = randomBytes(400);
      const digest = digestOf(data);
      await c.pushBlob(c.ns, randomBytes(16)); // `from` exists, the blob does not
      const r = await c.req('POST', `/v2/${c.cross}/blobs/uploads/?mount=${digest}&from=${c.ns}`);
      c.expectStatus(r, 202, 'mount of an unknown blob');
      const loc = r.headers.get('location');
      assert.ok(loc, `the 202 has a Location: ${describeRes(r)}`);
      const put = await c.req('PUT', c.withDigest(c.abs(loc), digest), { body: data, headers: { 'content-type': 'application/octet-stream' } });
      c.expectStatus(put, 201, 'PUT into the session the mount opened');
      await c.expectBlob(c.cross, digest, data);
    });

    // "The registry MAY treat the from parameter as optional, and it MAY cross-mount the blob if it can be found."
    await it(
      `push: a mount whose from repository lacks the blob is ${s.automaticMount ? '201 (the registry finds it elsewhere)' : '202 with an upload session'}`,
      false,
      async (_t, c) => {
        const { digest } = await c.pushBlob(c.ns, randomBytes(400));
        const other = `${c.ns}/${uniq('lacks')}`;
        await c.pushBlob(other, randomBytes(16));
        const r = await c.req('POST', `/v2/${c.cross}/blobs/uploads/?mount=${digest}&from=${other}`);
        c.expectStatus(r, s.automaticMount ? 201 : 202, 'mount from a repository without the blob');
        assert.ok(r.headers.get('location'), `a Location: ${describeRes(r)}`);
      },
    );

    const withoutFrom = s.mountWithoutFrom ?? s.automaticMount;
    await it(
      `push: a mount without from is ${withoutFrom ? '201 (from is treated as optional)' : '202 with an upload session'}`,
      false,
      async (_t, c) => {
        const { digest } = await c.pushBlob(c.ns, randomBytes(400));
        const r = await c.req('POST', `/v2/${c.cross}/blobs/uploads/?mount=${digest}`);
        c.expectStatus(r, withoutFrom ? 201 : 202, 'mount without from');
        assert.ok(r.headers.get('location'), `a Location: ${describeRes(r)}`);
      },
    );

    await it('push: PUT of a manifest by tag is 201 with Location (pullable) and Docker-Content-Digest', false, async (_t, c) => {
      const tag = uniq('put-');
      const img = await c.pushImage(c.ns, undefined, { noPush: true });
      const r = await c.putManifestOk(c.ns, tag, img.manifest, img.mediaType);
      const pulled = await c.req('GET', r.headers.get('location')!, { headers: { accept: ACCEPT_MANIFESTS } });
      c.expectStatus(pulled, 200, 'GET of the manifest Location');
      assert.ok(pulled.body.equals(img.manifest), `the Location serves the manifest: ${describeRes(pulled)}`);
      await c.expectManifest(c.ns, tag, img.manifest, img.mediaType);
    });

    await it('push: PUT of a manifest by digest is 201 with Docker-Content-Digest equal to that digest', false, async (_t, c) => {
      const img = await c.pushImage(c.ns, undefined, { noPush: true });
      await c.putManifestOk(c.ns, img.digest, img.manifest, img.mediaType, img.digest);
      await c.expectManifest(c.ns, img.digest, img.manifest, img.mediaType);
    });

    await it('push: the registry stores the manifest in the exact bytes the client sent', false, async (_t, c) => {
      const base = await c.pushImage(c.ns, undefined, { noPush: true });
      const obj = JSON.parse(base.manifest.toString('utf8')) as Record<string, unknown>;
      // Unusual key order, tabs, CRLF, a trailing newline and escaped characters: none of it may be normalised.
      const odd = Buffer.from(
        `{\r\n\t"layers" : ${JSON.stringify(obj.layers, null, 1)},\r\n\t"annotations": {"x": "\\u00e9\\/"},\r\n\t"config":${JSON.stringify(obj.config)},\t"mediaType": "${MT.ociManifest}", "schemaVersion": 2\r\n}\n\n`,
      );
      const tag = uniq('bytes-');
      await c.putManifestOk(c.ns, tag, odd, MT.ociManifest);
      await c.expectManifest(c.ns, tag, odd, MT.ociManifest);
      await c.expectManifest(c.ns, digestOf(odd), odd, MT.ociManifest);
    });

    await it('push: a manifest PUT to a digest that does not match its bytes is 400 (DIGEST_INVALID)', false, async (t, c) => {
      const img = await c.pushImage(c.ns, undefined, { noPush: true });
      const wrong = digestOf(randomBytes(20));
      c.expectError(t, await c.putManifest(c.ns, wrong, img.manifest, img.mediaType), 400, ['DIGEST_INVALID', 'MANIFEST_INVALID']);
      c.expectError(t, await c.getManifest(c.ns, wrong), 404, ['MANIFEST_UNKNOWN']);
    });

    await it(
      s.acceptsManifestsWithMissingBlobs
        ? 'push: a manifest referencing a blob that is not in the repository is accepted (the registry MAY reject it)'
        : 'push: a manifest referencing a blob that is not in the repository is 400 MANIFEST_BLOB_UNKNOWN',
      false,
      async (t, c) => {
        const img = await c.pushImage(c.ns, undefined, { noPush: true });
        const missing = randomBytes(64);
        const m = Buffer.from(
          JSON.stringify({
            schemaVersion: 2,
            mediaType: MT.ociManifest,
            config: img.config,
            layers: [{ mediaType: MT.ociLayer, digest: digestOf(missing), size: missing.length }],
          }),
        );
        const r = await c.putManifest(c.ns, uniq('dangling-'), m, MT.ociManifest);
        // "When a manifest is rejected for this reason, it MUST result in one or more MANIFEST_BLOB_UNKNOWN errors".
        if (s.acceptsManifestsWithMissingBlobs) c.expectStatus(r, 201, 'manifest with a missing layer');
        else c.expectError(t, r, 400, ['MANIFEST_BLOB_UNKNOWN']);
      },
    );

    await it(
      s.acceptsManifestsWithMissingBlobs
        ? 'push: an image index referencing a manifest that is not in the repository is accepted (the registry MAY reject it)'
        : 'push: an image index referencing a manifest that is not in the repository is 400 MANIFEST_BLOB_UNKNOWN',
      false,
      async (t, c) => {
        const ghost = randomBytes(100);
        const idx = Buffer.from(
          JSON.stringify({ schemaVersion: 2, mediaType: MT.ociIndex, manifests: [{ mediaType: MT.ociManifest, digest: digestOf(ghost), size: ghost.length }] }),
        );
        const r = await c.putManifest(c.ns, uniq('dangling-index-'), idx, MT.ociIndex);
        if (s.acceptsManifestsWithMissingBlobs) c.expectStatus(r, 201, 'index with a missing child');
        else c.expectError(t, r, 400, ['MANIFEST_BLOB_UNKNOWN']);
      },
    );

    await it('push: a manifest that is not valid JSON is 400 MANIFEST_INVALID', false, async (t, c) => {
      c.expectError(t, await c.putManifest(c.ns, uniq('bad-'), Buffer.from('{"schemaVersion": 2, "mediaType": '), MT.ociManifest), 400, ['MANIFEST_INVALID']);
    });

    await it('push: an OCI image index whose children were pushed first is 201 and served with its media type', false, async (_t, c) => {
      const a = await c.pushImage(c.ns);
      const b = await c.pushImage(c.ns);
      const idx = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: MT.ociIndex,
          manifests: [
            { ...a.descriptor, platform: { architecture: 'amd64', os: 'linux' } },
            { ...b.descriptor, platform: { architecture: 'arm64', os: 'linux' } },
          ],
        }),
      );
      const tag = uniq('index-');
      await c.putManifestOk(c.ns, tag, idx, MT.ociIndex);
      await c.expectManifest(c.ns, tag, idx, MT.ociIndex);
      await c.expectManifest(c.ns, digestOf(idx), idx, MT.ociIndex);
      await c.expectManifest(c.ns, a.digest, a.manifest, a.mediaType);
    });

    await it('push: a Docker v2 schema 2 manifest is 201 and served as application/vnd.docker.distribution.manifest.v2+json', false, async (_t, c) => {
      const tag = uniq('docker-');
      const img = await c.pushImage(c.ns, tag, { docker: true });
      await c.expectManifest(c.ns, tag, img.manifest, MT.dockerManifest);
      await c.expectManifest(c.ns, img.digest, img.manifest, MT.dockerManifest);
    });

    await it('push: a Docker manifest list is 201 and served as application/vnd.docker.distribution.manifest.list.v2+json', false, async (_t, c) => {
      const a = await c.pushImage(c.ns, undefined, { docker: true });
      const list = Buffer.from(
        JSON.stringify({ schemaVersion: 2, mediaType: MT.dockerList, manifests: [{ ...a.descriptor, platform: { architecture: 'amd64', os: 'linux' } }] }),
      );
      const tag = uniq('list-');
      await c.putManifestOk(c.ns, tag, list, MT.dockerList);
      await c.expectManifest(c.ns, tag, list, MT.dockerList);
    });

    await it('push: a manifest whose subject does not exist is accepted (201): referrers may be pushed first', false, async (_t, c) => {
      const subject = { mediaType: MT.ociManifest, digest: digestOf(randomBytes(40)), size: 40 };
      const art = await artifact(c, c.ns, { subject, artifactType: 'application/vnd.example.test.v1' });
      const r = await c.putManifestOk(c.ns, art.digest, art.manifest, MT.ociManifest);
      if (s.referrers) assert.equal(r.headers.get('oci-subject'), subject.digest, `OCI-Subject names the subject: ${describeRes(r)}`);
      await c.expectManifest(c.ns, art.digest, art.manifest, MT.ociManifest);
    });

    if (s.referrers) {
      await it('push: a PUT of a manifest with a subject answers OCI-Subject: <subject digest>', false, async (_t, c) => {
        const subject = await c.pushImage(c.ns);
        const art = await artifact(c, c.ns, { subject: subject.descriptor });
        const r = await c.putManifestOk(c.ns, art.digest, art.manifest, MT.ociManifest);
        assert.equal(r.headers.get('oci-subject'), subject.digest, `OCI-Subject: ${describeRes(r)}`);
        const idx = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MT.ociIndex, manifests: [], subject: subject.descriptor }));
        const ri = await c.putManifestOk(c.ns, digestOf(idx), idx, MT.ociIndex);
        assert.equal(ri.headers.get('oci-subject'), subject.digest, `OCI-Subject for an index with a subject: ${describeRes(ri)}`);
      });
    } else {
      await it('push: without the referrers API a PUT with a subject does not answer OCI-Subject (clients keep the tag schema)', false, async (_t, c) => {
        const subject = await c.pushImage(c.ns);
        const art = await artifact(c, c.ns, { subject: subject.descriptor });
        const r = await c.putManifestOk(c.ns, art.digest, art.manifest, MT.ociManifest);
        assert.equal(r.headers.get('oci-subject'), null, `no OCI-Subject: ${describeRes(r)}`);
      });
    }

    await it('push: pushing a tag again points it at the new manifest', false, async (_t, c) => {
      const tag = uniq('move-');
      await c.pushImage(c.ns, tag);
      const b = await c.pushImage(c.ns, tag);
      await c.expectManifest(c.ns, tag, b.manifest, b.mediaType);
    });

    await it('push: a tag of 128 characters (the grammar\'s longest) is accepted', false, async (_t, c) => {
      const tag = `${uniq('t')}_.-`.padEnd(128, 'x');
      const img = await c.pushImage(c.ns, tag);
      await c.expectManifest(c.ns, tag, img.manifest, img.mediaType);
    });

    await it('push: repository names using every separator of the grammar (., _, __, -, ---) and nested components work', false, async (_t, c) => {
      const repo = `${c.ns}/${uniq('sep')}.a_b__c-d---e/f0/1`;
      const tag = 'v1';
      const img = await c.pushImage(repo, tag);
      await c.expectManifest(repo, tag, img.manifest, img.mediaType);
      await c.expectBlob(repo, img.layer.digest, img.layer.bytes);
    });

    await it('push: a manifest of 4 MB is accepted (SHOULD: "support manifest pushes of at least 4 megabytes")', needs(s.largeManifests ?? true, 'manifests of 4 MB'), async (_t, c) => {
      const img = await c.pushImage(c.ns, undefined, { noPush: true });
      const build = (pad: string) =>
        Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MT.ociManifest, config: img.config, layers: [{ mediaType: img.layer.mediaType, digest: img.layer.digest, size: img.layer.size }], annotations: { 'org.example.pad': pad } }));
      const big = build('x'.repeat(4_000_000 - build('').length));
      assert.equal(big.length, 4_000_000);
      const tag = uniq('big-');
      await c.putManifestOk(c.ns, tag, big, MT.ociManifest);
      await c.expectManifest(c.ns, tag, big, MT.ociManifest);
    });

    await it('push: a blob uploaded under a sha512 digest is 201 and pulled by that digest', needs(sha512Blobs, 'sha512 blobs'), async (_t, c) => {
      const data = randomBytes(777);
      const { digest } = await c.pushBlob(c.ns, data, 'sha512');
      const r = await c.req('GET', `/v2/${c.ns}/blobs/${digest}`);
      c.expectStatus(r, 200, 'GET sha512 blob');
      assert.ok(r.body.equals(data), `the blob comes back: ${describeRes(r)}`);
      // "The Docker-Content-Digest header ... MAY differ from the provided digest", but must match the body.
      c.expectDigestMatchesBody(r, data);
      const h = await c.req('HEAD', `/v2/${c.ns}/blobs/${digest}`);
      c.expectStatus(h, 200, 'HEAD sha512 blob');
      assert.equal(h.headers.get('content-length'), String(data.length));
    });

    await it('push: a manifest pushed by a sha512 digest (with sha512 descriptors) is 201 with that digest and pulled by it', needs(s.sha512, 'sha512 manifests'), async (_t, c) => {
      const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, n: randomBytes(4).toString('hex') }));
      const layer = randomBytes(300);
      const cd = (await c.pushBlob(c.ns, config, 'sha512')).digest;
      const ld = (await c.pushBlob(c.ns, layer, 'sha512')).digest;
      const m = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: MT.ociManifest,
          config: { mediaType: MT.ociConfig, digest: cd, size: config.length },
          layers: [{ mediaType: MT.ociLayer, digest: ld, size: layer.length }],
        }),
      );
      const d = digestOf(m, 'sha512');
      await c.putManifestOk(c.ns, d, m, MT.ociManifest, d);
      const r = await c.getManifest(c.ns, d);
      c.expectStatus(r, 200, 'GET sha512 manifest');
      assert.ok(r.body.equals(m), `the manifest comes back: ${describeRes(r)}`);
      assert.equal(r.headers.get('content-type'), MT.ociManifest);
      c.expectDigestMatchesBody(r, m);
    });
  });

  // ================================================================================== CONTENT DISCOVERY
  await category('Content Discovery', async () => {
    await it('discovery: tags/list is 200 {"name","tags"} with the tags in lexical order', false, async (t, c) => {
      const p = uniq('ls');
      const mine = [`${p}-b10`, `${p}-b2`, `${p}-a`, `${p}.z`, `${p}0`, `${p}-a.1`];
      const img = await c.pushImage(c.ns, mine[0]);
      for (const tag of mine.slice(1)) await c.putManifestOk(c.ns, tag, img.manifest, img.mediaType);
      const page = await c.listPage(`/v2/${c.ns}/tags/list`, 'tags');
      const body = JSON.parse(page.res.body.toString('utf8')) as { name?: unknown };
      assert.equal(body.name, c.ns, `"name" is the repository: ${describeRes(page.res)}`);
      const all = await c.listAll(`/v2/${c.ns}/tags/list`, 'tags');
      const got = all.filter((x) => x.startsWith(p));
      const want = [...mine].sort(lexical);
      if (dev.tagsListUnordered) {
        t.diagnostic(`known deviation tagsListUnordered (${dev.tagsListUnordered}): only the set of tags is checked`);
        assert.deepEqual([...got].sort(lexical), want);
      } else {
        assert.deepEqual(got, want, 'the tags are in lexical order');
        assert.deepEqual(all, [...all].sort(lexical), 'the whole list is in lexical order');
      }
    });

    await it('discovery: tags/list of a repository that does not exist is 404 NAME_UNKNOWN', false, async (t, c) => {
      c.expectError(t, await c.req('GET', `/v2/${c.ns}/${uniq('nothere')}/tags/list`), 404, ['NAME_UNKNOWN']);
    });

    const pagination = deviates(dev.tagsListIgnoresPagination, 'tagsListIgnoresPagination');
    /** Tags p-a … p-e in the namespace, and the full sorted list. */
    const pagedTags = async (c: Client): Promise<{ mine: string[]; all: string[] }> => {
      const p = uniq('pg');
      const mine = ['a', 'b', 'c', 'd', 'e'].map((x) => `${p}-${x}`);
      const img = await c.pushImage(c.ns, mine[0]);
      for (const tag of mine.slice(1)) await c.putManifestOk(c.ns, tag, img.manifest, img.mediaType);
      const all = await c.listAll(`/v2/${c.ns}/tags/list`, 'tags');
      if (!dev.tagsListUnordered) assert.deepEqual(all, [...all].sort(lexical), 'the tags are in lexical order');
      else all.sort(lexical);
      return { mine, all };
    };
    /** "MAY return fewer than <int> results, but only when the total … is less than <int> or a Link header is provided." */
    const checkPage = (page: ListPage, expected: string[], n: number): void => {
      if (page.items.length < Math.min(n, expected.length)) assert.ok(page.next, `fewer than n tags only with a Link header: ${describeRes(page.res)}`);
      assert.ok(page.items.length <= n, `at most n tags: ${describeRes(page.res)}`);
      assert.deepEqual(page.items, expected.slice(0, page.items.length), `the page is the next tags in lexical order: ${describeRes(page.res)}`);
    };

    await it('discovery: tags/list?n=<int> returns the first n tags (fewer only with a Link rel="next")', pagination, async (_t, c) => {
      const { all } = await pagedTags(c);
      const page = await c.listPage(`/v2/${c.ns}/tags/list?n=2`, 'tags');
      // "A Link header MAY be included in the response when additional tags are available": when it is, listPage
      // has checked its RFC 5988 form with rel="next".
      checkPage(page, all, 2);
    });

    await it('discovery: tags/list?n=<int>&last=<tag> returns up to n tags after <tag>, non-inclusively', pagination, async (_t, c) => {
      const { mine, all } = await pagedTags(c);
      const after = all.slice(all.indexOf(mine[0]!) + 1);
      const page = await c.listPage(`/v2/${c.ns}/tags/list?n=3&last=${mine[0]}`, 'tags');
      checkPage(page, after, 3);
      assert.ok(!page.items.includes(mine[0]!), '<last> itself is not included');
    });

    await it('discovery: tags/list?last=<tag> without n returns the tags after <tag>', pagination, async (_t, c) => {
      const { mine, all } = await pagedTags(c);
      const after = all.slice(all.indexOf(mine[2]!) + 1);
      const page = await c.listPage(`/v2/${c.ns}/tags/list?last=${mine[2]}`, 'tags');
      assert.deepEqual(page.items, after.slice(0, page.items.length), `the tags after <last>: ${describeRes(page.res)}`);
      if (!page.next) assert.deepEqual(page.items, after, 'without a Link header, all the tags after <last>');
    });

    await it('discovery: paging with n (following Link rel="next", else last=) walks the whole tag list once', pagination, async (_t, c) => {
      const { all } = await pagedTags(c);
      const walked: string[] = [];
      let page = await c.listPage(`/v2/${c.ns}/tags/list?n=2`, 'tags');
      for (let i = 0; ; i++) {
        assert.ok(i <= all.length + 1, 'the walk ends');
        checkPage(page, all.slice(walked.length), 2);
        walked.push(...page.items);
        if (page.next !== undefined) page = await c.listPage(page.next, 'tags');
        else if (page.items.length === 2 && walked.length < all.length) page = await c.listPage(`/v2/${c.ns}/tags/list?n=2&last=${encodeURIComponent(walked.at(-1)!)}`, 'tags');
        else break;
      }
      assert.deepEqual(walked, all);
    });

    await it('discovery: tags/list?n=0 returns an empty list and no Link header', pagination, async (_t, c) => {
      await pagedTags(c);
      const r = await c.req('GET', `/v2/${c.ns}/tags/list?n=0`);
      c.expectStatus(r, 200, 'tags/list?n=0');
      const body = JSON.parse(r.body.toString('utf8')) as { tags?: unknown };
      assert.deepEqual(body.tags, [], `an empty list: ${describeRes(r)}`);
      assert.equal(r.headers.get('link'), null, `no Link header: ${describeRes(r)}`);
    });

    await it('discovery (optional, Docker Registry API, not OCI 1.1): /v2/_catalog lists repositories with n/last and Link', needs(s.catalog, '/v2/_catalog'), async (_t, c) => {
      await c.pushBlob(c.ns, randomBytes(10));
      await c.pushImage(c.cross);
      const all = await c.listAll('/v2/_catalog', 'repositories');
      assert.ok(all.includes(c.ns) && all.includes(c.cross), `the catalog lists ${c.ns} and ${c.cross}: ${JSON.stringify(all)}`);
      assert.deepEqual(all, [...all].sort(lexical), 'repositories in lexical order');
      const first = await c.listPage('/v2/_catalog?n=1', 'repositories');
      checkPage(first, all, 1);
      if (all.length > 1) assert.ok(first.next, `a Link rel="next" when more remain: ${describeRes(first.res)}`);
      const after = await c.listPage(`/v2/_catalog?n=1&last=${encodeURIComponent(all[0]!)}`, 'repositories');
      checkPage(after, all.slice(1), 1);
    });

    if (s.referrers) {
      await it('discovery: GET /referrers/<digest> is 200 with an image index of the manifests whose subject is <digest>', false, async (_t, c) => {
        const f = await referrersFixture(c);
        const { index } = await c.referrers(f.subject.digest);
        const got = index.manifests.map((d) => d.digest).sort();
        assert.deepEqual(got, [f.sbom.digest, f.sig.digest, f.idx.digest].sort(), 'exactly the three referrers of this repository');
        for (const d of index.manifests) {
          const want = [f.sbom, f.sig, f.idx].find((x) => x.digest === d.digest)!;
          assert.equal(d.mediaType, want.mediaType, `descriptor mediaType of ${d.digest}`);
          assert.equal(d.size, want.manifest.length, `descriptor size of ${d.digest}`);
        }
      });

      await it('discovery: a referrer descriptor has artifactType (else config.mediaType; none for an index without one) and the annotations', false, async (_t, c) => {
        const f = await referrersFixture(c);
        const { index } = await c.referrers(f.subject.digest);
        const by = (d: string) => index.manifests.find((x) => x.digest === d);
        assert.equal(by(f.sbom.digest)?.artifactType, 'application/vnd.example.sbom.v1', 'artifactType from the manifest');
        assert.equal(by(f.sig.digest)?.artifactType, 'application/vnd.example.signature.config.v1+json', 'artifactType from config.mediaType');
        assert.ok(by(f.idx.digest) && !('artifactType' in by(f.idx.digest)!), 'no artifactType for an index without one');
        assert.deepEqual(by(f.sbom.digest)?.annotations, f.sbom.annotations, 'annotations copied');
        assert.deepEqual(by(f.sig.digest)?.annotations, f.sig.annotations, 'annotations copied');
        assert.deepEqual(by(f.idx.digest)?.annotations, f.idx.annotations, 'annotations copied from an index');
      });

      await it(
        'discovery: ?artifactType= filters the referrers and answers OCI-Filters-Applied: artifactType',
        needs(referrersFilter, 'artifactType filtering'),
        async (_t, c) => {
          const f = await referrersFixture(c);
          const { res, index } = await c.referrers(f.subject.digest, `?artifactType=${encodeURIComponent('application/vnd.example.sbom.v1')}`);
          const applied = (res.headers.get('oci-filters-applied') ?? '').split(',').map((x) => x.trim());
          assert.ok(applied.includes('artifactType'), `OCI-Filters-Applied: artifactType: ${describeRes(res)}`);
          assert.deepEqual(index.manifests.map((d) => d.digest), [f.sbom.digest], 'only the matching referrer');
          const none = await c.referrers(f.subject.digest, `?artifactType=${encodeURIComponent('application/vnd.example.none')}`);
          assert.deepEqual(none.index.manifests, [], 'no referrer of another type');
        },
      );

      await it('discovery: referrers of a digest nothing refers to (or that does not exist) is 200 with an empty index', false, async (_t, c) => {
        const img = await c.pushImage(c.ns);
        assert.deepEqual((await c.referrers(img.digest)).index.manifests, []);
        assert.deepEqual((await c.referrers(digestOf(randomBytes(16)))).index.manifests, []);
      });

      await it('discovery: referrers with an invalid digest is 400', false, async (t, c) => {
        c.expectError(t, await c.req('GET', `/v2/${c.ns}/referrers/sha256:not-a-digest`), 400);
      });

      await it('discovery: referrers only lists manifests of the same repository', false, async (_t, c) => {
        const subject = await c.pushImage(c.ns);
        const elsewhere = await artifact(c, c.cross, { subject: subject.descriptor, artifactType: 'application/vnd.example.x' });
        await c.putManifestOk(c.cross, elsewhere.digest, elsewhere.manifest, MT.ociManifest);
        assert.deepEqual((await c.referrers(subject.digest)).index.manifests, [], `${c.ns} has no referrers`);
        assert.deepEqual((await c.referrers(subject.digest, '', c.cross)).index.manifests.map((d) => d.digest), [elsewhere.digest]);
      });

      await it('discovery: a deleted referrer leaves the referrers list', needs(s.deleteManifests, 'manifest deletion'), async (_t, c) => {
        const subject = await c.pushImage(c.ns);
        const art = await artifact(c, c.ns, { subject: subject.descriptor, artifactType: 'application/vnd.example.y' });
        await c.putManifestOk(c.ns, art.digest, art.manifest, MT.ociManifest);
        assert.deepEqual((await c.referrers(subject.digest)).index.manifests.map((d) => d.digest), [art.digest]);
        c.expectStatus(await c.req('DELETE', `/v2/${c.ns}/manifests/${art.digest}`), 202, 'DELETE referrer');
        assert.deepEqual((await c.referrers(subject.digest)).index.manifests, []);
      });
    } else {
      await it('discovery: without the referrers API, GET /referrers/<digest> is 404 so clients fall back to the tag schema', false, async (t, c) => {
        const img = await c.pushImage(c.ns);
        c.expectError(t, await c.req('GET', `/v2/${c.ns}/referrers/${img.digest}`), 404);
      });

      await it('discovery: the referrers tag schema fallback: an index pushed to tag <alg>-<ref> is served back', false, async (_t, c) => {
        const subject = await c.pushImage(c.ns);
        const art = await artifact(c, c.ns, { subject: subject.descriptor, artifactType: 'application/vnd.example.sbom.v1' });
        await c.putManifestOk(c.ns, art.digest, art.manifest, MT.ociManifest);
        const idx = Buffer.from(
          JSON.stringify({ schemaVersion: 2, mediaType: MT.ociIndex, manifests: [{ ...art.descriptor, artifactType: 'application/vnd.example.sbom.v1' }] }),
        );
        const tag = subject.digest.replace(':', '-');
        await c.putManifestOk(c.ns, tag, idx, MT.ociIndex);
        await c.expectManifest(c.ns, tag, idx, MT.ociIndex);
      });
    }
  });

  // ================================================================================= CONTENT MANAGEMENT
  await category('Content Management', async () => {
    await it(
      s.deleteManifests
        ? 'management: DELETE of a manifest by digest is 202, then it and the tags pointing to it are 404'
        : 'management: with manifest deletion disabled, DELETE of a manifest by digest is 400 or 405',
      false,
      async (t, c) => {
        const tag = uniq('del-');
        const img = await c.pushImage(c.ns, tag);
        const r = await c.req('DELETE', `/v2/${c.ns}/manifests/${img.digest}`);
        if (!s.deleteManifests) {
          c.expectError(t, r, [400, 405]);
          await c.expectManifest(c.ns, img.digest, img.manifest, img.mediaType);
          return;
        }
        c.expectStatus(r, 202, 'DELETE manifest');
        c.expectError(t, await c.getManifest(c.ns, img.digest), 404, ['MANIFEST_UNKNOWN']);
        c.expectError(t, await c.getManifest(c.ns, img.digest, 'HEAD'), 404);
        c.expectError(t, await c.getManifest(c.ns, tag), 404, ['MANIFEST_UNKNOWN']);
        const list = await c.req('GET', `/v2/${c.ns}/tags/list`);
        if (list.status === 200) {
          const tags = await c.listAll(`/v2/${c.ns}/tags/list`, 'tags');
          assert.ok(!tags.includes(tag), `tags/list no longer lists ${tag}`);
        } else c.expectError(t, list, 404, ['NAME_UNKNOWN']);
      },
    );

    await it('management: DELETE of a manifest that is not in the repository is 404 (MANIFEST_UNKNOWN)', needs(s.deleteManifests, 'manifest deletion'), async (t, c) => {
      await c.pushImage(c.ns);
      c.expectError(t, await c.req('DELETE', `/v2/${c.ns}/manifests/${digestOf(randomBytes(12))}`), 404, ['MANIFEST_UNKNOWN']);
    });

    await it('management: DELETE of a manifest in a repository that does not exist is 404', needs(s.deleteManifests, 'manifest deletion'), async (t, c) => {
      c.expectError(t, await c.req('DELETE', `/v2/${c.ns}/${uniq('nothere')}/manifests/${digestOf(randomBytes(12))}`), 404, ['NAME_UNKNOWN', 'MANIFEST_UNKNOWN']);
    });

    await it(
      s.deleteTags
        ? 'management: DELETE of a tag is 202, the tag is then 404 and the manifest and its other tags stay'
        : 'management: with tag deletion disabled, DELETE of a tag is 400 or 405 UNSUPPORTED and the tag stays',
      false,
      async (t, c) => {
        const tag = uniq('deltag-');
        const keep = uniq('keep-');
        const img = await c.pushImage(c.ns, tag);
        await c.putManifestOk(c.ns, keep, img.manifest, img.mediaType);
        const r = await c.req('DELETE', `/v2/${c.ns}/manifests/${tag}`);
        if (!s.deleteTags) {
          let code = 'UNSUPPORTED';
          if (dev.tagDeleteRefusalCode) {
            t.diagnostic(`known deviation tagDeleteRefusalCode: ${dev.tagDeleteRefusalCode.code} (${dev.tagDeleteRefusalCode.why})`);
            code = dev.tagDeleteRefusalCode.code;
          }
          c.expectError(t, r, [400, 405], [code]);
          await c.expectManifest(c.ns, tag, img.manifest, img.mediaType);
          return;
        }
        c.expectStatus(r, 202, 'DELETE tag');
        c.expectError(t, await c.getManifest(c.ns, tag), 404, ['MANIFEST_UNKNOWN']);
        await c.expectManifest(c.ns, img.digest, img.manifest, img.mediaType);
        await c.expectManifest(c.ns, keep, img.manifest, img.mediaType);
      },
    );

    await it(
      s.deleteBlobs
        ? 'management: DELETE of a blob is 202, then GET and HEAD are 404 BLOB_UNKNOWN'
        : 'management: with blob deletion disabled, DELETE of a blob is 400 or 405',
      false,
      async (t, c) => {
        const data = randomBytes(600);
        const { digest } = await c.pushBlob(c.ns, data);
        const r = await c.req('DELETE', `/v2/${c.ns}/blobs/${digest}`);
        if (!s.deleteBlobs) {
          c.expectError(t, r, [400, 405]);
          await c.expectBlob(c.ns, digest, data);
          return;
        }
        c.expectStatus(r, 202, 'DELETE blob');
        c.expectError(t, await c.req('GET', `/v2/${c.ns}/blobs/${digest}`), 404, ['BLOB_UNKNOWN']);
        c.expectError(t, await c.req('HEAD', `/v2/${c.ns}/blobs/${digest}`), 404);
      },
    );

    await it('management: DELETE of a blob that is not in the repository is 404 BLOB_UNKNOWN', needs(s.deleteBlobs, 'blob deletion'), async (t, c) => {
      await c.pushBlob(c.ns, randomBytes(10));
      c.expectError(t, await c.req('DELETE', `/v2/${c.ns}/blobs/${digestOf(randomBytes(12))}`), 404, ['BLOB_UNKNOWN']);
    });
  });
}

// ---------------------------------------------------------------------------------------------------------
// Artifacts and referrers

interface Artifact {
  manifest: Buffer;
  digest: string;
  mediaType: string;
  annotations: Record<string, string>;
  descriptor: Descriptor;
}

/**
 * An OCI image manifest artifact: the empty config (or a custom config type), one small layer, a subject and
 * annotations; its blobs are pushed, the manifest is not.
 */
async function artifact(
  c: Client,
  repo: string,
  o: { subject: Descriptor; artifactType?: string; configType?: string },
): Promise<Artifact> {
  const empty = Buffer.from('{}');
  await c.pushBlob(repo, empty);
  const layer = randomBytes(64);
  await c.pushBlob(repo, layer);
  const annotations = { 'org.opencontainers.image.created': '2024-02-15T00:00:00Z', 'org.example.nonce': randomBytes(4).toString('hex') };
  const m = {
    schemaVersion: 2,
    mediaType: MT.ociManifest,
    ...(o.artifactType ? { artifactType: o.artifactType } : {}),
    config: { mediaType: o.configType ?? MT.ociEmpty, digest: digestOf(empty), size: empty.length },
    layers: [{ mediaType: 'application/vnd.example.data.v1', digest: digestOf(layer), size: layer.length }],
    subject: { mediaType: o.subject.mediaType, digest: o.subject.digest, size: o.subject.size },
    annotations,
  };
  const manifest = Buffer.from(JSON.stringify(m));
  const digest = digestOf(manifest);
  return { manifest, digest, mediaType: MT.ociManifest, annotations, descriptor: { mediaType: MT.ociManifest, digest, size: manifest.length } };
}

/**
 * A subject image with three referrers in the namespace (an SBOM with artifactType, a signature without one
 * whose config type stands in, an index without artifactType), one referrer of another subject and one
 * unrelated image.
 */
async function referrersFixture(c: Client): Promise<{ subject: Image; sbom: Artifact; sig: Artifact; idx: Artifact }> {
  const subject = await c.pushImage(c.ns);
  const sbom = await artifact(c, c.ns, { subject: subject.descriptor, artifactType: 'application/vnd.example.sbom.v1' });
  const sig = await artifact(c, c.ns, { subject: subject.descriptor, configType: 'application/vnd.example.signature.config.v1+json' });
  for (const a of [sbom, sig]) await c.putManifestOk(c.ns, a.digest, a.manifest, MT.ociManifest);
  const child = await c.pushImage(c.ns);
  const idxAnnotations = { 'org.example.kind': 'index-referrer' };
  const idxBytes = Buffer.from(
    JSON.stringify({ schemaVersion: 2, mediaType: MT.ociIndex, manifests: [child.descriptor], subject: subject.descriptor, annotations: idxAnnotations }),
  );
  await c.putManifestOk(c.ns, digestOf(idxBytes), idxBytes, MT.ociIndex);
  const idx: Artifact = {
    manifest: idxBytes,
    digest: digestOf(idxBytes),
    mediaType: MT.ociIndex,
    annotations: idxAnnotations,
    descriptor: { mediaType: MT.ociIndex, digest: digestOf(idxBytes), size: idxBytes.length },
  };
  const other = await c.pushImage(c.ns);
  const unrelated = await artifact(c, c.ns, { subject: other.descriptor, artifactType: 'application/vnd.example.sbom.v1' });
  await c.putManifestOk(c.ns, unrelated.digest, unrelated.manifest, MT.ociManifest);
  return { subject, sbom, sig, idx };
}
