/**
 * The OCI distribution-spec v1.1 conformance suite (helpers/conformance.ts) against an independent
 * implementation: Debian's docker-registry (CNCF distribution 2.8). It validates the suite itself: every test
 * must pass here, and where distribution 2.8 departs from the spec the departure is declared below — as a
 * capability it lacks or a named known deviation — rather than loosening the suite for everyone.
 */
import { conformanceSuite } from './helpers/conformance.js';
import { startRegistryOrSkip } from './helpers/registry.js';

conformanceSuite(
  async (t) => {
    // The helper already enables deletes; say so anyway, the suite depends on it.
    const reg = await startRegistryOrSkip(t, { config: { storage: { delete: { enabled: true } } } });
    if (!reg) return undefined;
    return {
      url: reg.url,
      namespace: 'conformance/a',
      crossmountNamespace: 'conformance/b',
      supports: {
        referrers: false, // 2.8 predates distribution-spec 1.1: no /referrers/ route, no OCI-Subject
        deleteManifests: true,
        deleteBlobs: true,
        // DELETE /v2/<name>/manifests/<tag> is refused with 400 (see tagDeleteRefusalCode); tag deletion came in 3.0.
        deleteTags: false,
        // sha512 blobs are stored and served by their sha512 digest (Docker-Content-Digest is the sha256 one, which
        // the spec allows: it "MAY differ from the provided digest"), but a manifest PUT by a sha512 digest is
        // 400 DIGEST_INVALID: 2.8 only computes the canonical sha256 of a manifest.
        sha512: false,
        sha512Blobs: true,
        chunkMinLength: false,
        automaticMount: false, // a mount needs `from` naming a repository that has the blob; else 202
        singlePostUpload: false, // POST ?digest= with a body is 202 (the body is dropped) and needs the PUT
        blobRange: true,
        acceptsManifestsWithMissingBlobs: false,
        largeManifests: true,
        catalog: true,
      },
      deviations: {
        // spec: "Chunks MUST be uploaded in order, with the first byte of a chunk being the last chunk's
        // <end-of-range> plus one. If a chunk is uploaded out of order, the registry MUST respond with a 416".
        patchIgnoresContentRange:
          'distribution 2.8 ignores Content-Range on PATCH: a chunk out of order (or a first one not at 0) is appended with 202',
        // spec: "If the list is not empty, the tags MUST be in lexical order".
        tagsListUnordered: 'distribution 2.8 lists tags in the storage driver\'s directory order (Readdirnames), not sorted',
        // spec: "the response MUST include <int> results" / "When n is zero, this endpoint MUST return an empty list".
        tagsListIgnoresPagination: 'distribution 2.8 ignores n and last on tags/list (it always returns every tag, without Link)',
        // The spec allows it ("A 4XX response code from the registry MAY return a body in any format"), the suite
        // does not: distribution's router answers Go's "404 page not found" text for paths it does not route
        // (names outside its grammar, /referrers/).
        plainTextNotFound: 'distribution 2.8 answers text/plain "404 page not found" for paths its router does not match',
        // spec: "If tag deletion is disabled, the registry MUST respond with either a 400 Bad Request or a 405 Method
        // Not Allowed" — 2.8 does answer 400, but with DIGEST_INVALID (it parses the tag as a digest), not UNSUPPORTED.
        tagDeleteRefusalCode: { code: 'DIGEST_INVALID', why: 'distribution 2.8 parses the reference of a manifest DELETE as a digest' },
      },
    };
  },
  { name: 'OCI distribution-spec v1.1 conformance: CNCF distribution 2.8 (docker-registry)' },
);
