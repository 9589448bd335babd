/**
 * The OCI distribution-spec v1.1 conformance suite (helpers/conformance.ts, validated against CNCF distribution
 * in conformance-distribution.test.ts) against `wharf serve`: with every capability on and no deviation
 * declared, once open and once behind auth (a user with Basic credentials on every request).
 */
import { conformanceSuite, type ConformanceSupports } from './helpers/conformance.js';
import { requirePeer } from './helpers/peers.js';
import { serveInProcess } from './helpers/serve.js';

const SUPPORTS: ConformanceSupports = {
  referrers: true,
  deleteManifests: true,
  deleteBlobs: true,
  deleteTags: true,
  sha512: true,
  chunkMinLength: false, // no minimum: any chunk size is accepted, so none is announced
  automaticMount: false, // a mount names its source; a `from` that lacks the blob is an ordinary upload
  mountWithoutFrom: true, // without access control any blob is anyone's, so `mount` alone is honoured
  singlePostUpload: true,
  blobRange: true,
  referrersFilter: true,
  acceptsManifestsWithMissingBlobs: false,
  largeManifests: true,
  catalog: true,
};

conformanceSuite(
  async (t) => {
    const srv = await serveInProcess(t);
    return { url: srv.url, namespace: 'conformance/a', crossmountNamespace: 'conformance/b', supports: SUPPORTS };
  },
  { name: 'OCI distribution-spec v1.1 conformance: wharf serve' },
);

conformanceSuite(
  async (t) => {
    if (!requirePeer(t, 'htpasswd', 'apache2-utils')) return undefined;
    const srv = await serveInProcess(t, {
      auth: { users: { conformance: 'c0nf0rm' }, access: [{ repositories: ['**'], users: ['conformance'], actions: ['pull', 'push', 'delete'] }] },
    });
    return {
      url: srv.url,
      namespace: 'conformance/a',
      crossmountNamespace: 'conformance/b',
      headers: { Authorization: `Basic ${Buffer.from('conformance:c0nf0rm').toString('base64')}` },
      // With access control a bare `mount` is not honoured: the client must name a source it may pull from.
      supports: { ...SUPPORTS, mountWithoutFrom: false },
    };
  },
  { name: 'OCI distribution-spec v1.1 conformance: wharf serve with auth (Basic)' },
);
