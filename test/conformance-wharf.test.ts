/**
 * The OCI distribution-spec v1.1 conformance suite (helpers/conformance.ts, validated against CNCF distribution
 * in conformance-distribution.test.ts) against `wharf serve`: with every capability on and no deviation
 * declared, once open and once behind auth (a user with Basic credentials on every request).
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { createAuthGate } from '../src/server/http/auth-gate.js';
import { conformanceSuite, type ConformanceSupports } from './helpers/conformance.js';
import { requirePeer, runPeer, tempDir } from './helpers/peers.js';
import { startWharfRegistry } from './helpers/wharf-registry.js';

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
    const srv = await startWharfRegistry(t);
    return { url: srv.url, namespace: 'conformance/a', crossmountNamespace: 'conformance/b', supports: SUPPORTS };
  },
  { name: 'OCI distribution-spec v1.1 conformance: wharf serve' },
);

conformanceSuite(
  async (t) => {
    if (!requirePeer(t, 'htpasswd', 'apache2-utils')) return undefined;
    const dir = await tempDir(t);
    const htpasswd = join(dir, 'htpasswd');
    await fsp.writeFile(htpasswd, await runPeer('htpasswd', ['-nbB', '-C', '5', 'conformance', 'c0nf0rm']));
    const auth = await createAuthGate({
      htpasswd,
      groups: {},
      access: [{ repositories: ['**'], users: ['conformance'], actions: ['pull', 'push', 'delete'] }],
      token: { issuer: 'wharf', service: 'wharf', expirySeconds: 300 },
      defaultKeyPath: join(dir, 'token.key'),
    });
    const srv = await startWharfRegistry(t, { gate: auth.gate, tokenEndpoint: auth.tokenEndpoint });
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
