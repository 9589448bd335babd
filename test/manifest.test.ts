import assert from 'node:assert/strict';
import { test } from 'node:test';
import { digestOf, manifestDigest, MediaType, parseManifest, WharfError } from '../src/index.js';
import { goTimeString } from '../src/inspect/go-time.js';
import { MAX_MANIFEST_BYTES, schema1Config, schema1Layers } from '../src/oci/manifest.js';
import { chooseInstance, parsePlatform } from '../src/oci/platform.js';

const D1 = `sha256:${'a'.repeat(64)}` as const;
const D2 = `sha256:${'b'.repeat(64)}` as const;

function rejects(input: string | Buffer, code: string, mediaType?: string, part?: RegExp): void {
  assert.throws(
    () => parseManifest(Buffer.isBuffer(input) ? input : Buffer.from(input), mediaType),
    (err: unknown) => {
      assert.ok(err instanceof WharfError, String(err));
      assert.equal(err.code, code, err.message);
      if (part) assert.match(err.message, part);
      return true;
    },
  );
}

test('manifests of every kind parse, and the kind is guessed without a media type', () => {
  const oci = { schemaVersion: 2, mediaType: MediaType.OciManifest, config: { mediaType: MediaType.OciConfig, digest: D1, size: 2 }, layers: [] };
  assert.equal(parseManifest(Buffer.from(JSON.stringify(oci))).kind, 'image');
  const docker = { schemaVersion: 2, config: { mediaType: MediaType.DockerConfig, digest: D1, size: 2 }, layers: [{ mediaType: MediaType.DockerLayerGzip, digest: D2, size: 9 }] };
  const p = parseManifest(Buffer.from(JSON.stringify(docker)));
  assert.equal(p.mediaType, MediaType.DockerManifest);
  const index = { schemaVersion: 2, manifests: [{ mediaType: MediaType.OciManifest, digest: D1, size: 5, platform: { os: 'linux', architecture: 'amd64' } }] };
  assert.equal(parseManifest(Buffer.from(JSON.stringify(index))).kind, 'index');
  const list = { ...index, mediaType: MediaType.DockerManifestList };
  assert.equal(parseManifest(Buffer.from(JSON.stringify(list))).mediaType, MediaType.DockerManifestList);
});

test('schema 1 is read: layers base-first without throwaway entries, config from v1Compatibility', () => {
  const s1 = {
    schemaVersion: 1,
    name: 'x',
    tag: 'y',
    architecture: 'amd64',
    fsLayers: [{ blobSum: D2 }, { blobSum: D1 }],
    history: [
      { v1Compatibility: JSON.stringify({ created: '2020-01-01T00:00:00Z', architecture: 'amd64', os: 'linux', config: { Env: ['A=1'] }, throwaway: true }) },
      { v1Compatibility: JSON.stringify({ created: '2019-01-01T00:00:00Z' }) },
    ],
  };
  const p = parseManifest(Buffer.from(JSON.stringify(s1)));
  assert.equal(p.kind, 'schema1');
  if (p.kind !== 'schema1') return;
  assert.deepEqual(schema1Layers(p.manifest).map((l) => l.digest), [D1]);
  assert.deepEqual(schema1Config(p.manifest).config?.Env, ['A=1']);
});

test('hostile and malformed manifests are clear errors', () => {
  rejects('{not json', 'MANIFEST_INVALID', undefined, /not valid JSON/);
  rejects('[]', 'MANIFEST_INVALID', undefined, /not a JSON object/);
  rejects('null', 'MANIFEST_INVALID');
  rejects('{}', 'MANIFEST_INVALID');
  rejects(JSON.stringify({ schemaVersion: 2, mediaType: 'application/x-evil' }), 'MANIFEST_UNSUPPORTED', undefined, /x-evil/);
  rejects(JSON.stringify({ schemaVersion: 2, config: { mediaType: MediaType.OciConfig, digest: 'sha256:xyz', size: 1 }, layers: [] }), 'MANIFEST_INVALID', undefined, /digest/);
  rejects(JSON.stringify({ schemaVersion: 2, config: { mediaType: MediaType.OciConfig, digest: D1, size: -1 }, layers: [] }), 'MANIFEST_INVALID', undefined, /size/);
  rejects(JSON.stringify({ schemaVersion: 2, config: { mediaType: MediaType.OciConfig, digest: D1, size: 1.5 }, layers: [] }), 'MANIFEST_INVALID');
  rejects(JSON.stringify({ schemaVersion: 2, config: { mediaType: MediaType.OciConfig, digest: D1, size: 1 }, layers: {} }), 'MANIFEST_INVALID', undefined, /layers/);
  rejects(JSON.stringify({ schemaVersion: 3, config: { mediaType: MediaType.OciConfig, digest: D1, size: 1 }, layers: [] }), 'MANIFEST_INVALID', undefined, /schemaVersion/);
  rejects(JSON.stringify({ schemaVersion: 2, config: { mediaType: MediaType.OciConfig, digest: `md5:${'a'.repeat(32)}`, size: 1 }, layers: [] }), 'MANIFEST_INVALID', undefined, /md5/);
  rejects(JSON.stringify({ schemaVersion: 2, config: { mediaType: MediaType.OciConfig, digest: `sha256:../../${'a'.repeat(58)}`, size: 1 }, layers: [] }), 'MANIFEST_INVALID');
  rejects(JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: MediaType.OciManifest, digest: D1, size: 1, platform: { os: 1 } }] }), 'MANIFEST_INVALID', undefined, /platform/);
  rejects(JSON.stringify({ schemaVersion: 1, fsLayers: [{ blobSum: D1 }], history: [] }), 'MANIFEST_INVALID', undefined, /equal length/);
  rejects(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [] }), 'MANIFEST_INVALID', MediaType.DockerManifest, /declared/);
  rejects(Buffer.alloc(MAX_MANIFEST_BYTES + 1, 0x20), 'TOO_LARGE');
  // Deeply nested JSON must not crash the parser with a stack overflow reaching the user.
  rejects('['.repeat(100_000), 'MANIFEST_INVALID');
});

test('manifest-digest: of the bytes, and of the payload for signed schema 1', () => {
  const bytes = Buffer.from('{"schemaVersion":2}');
  assert.equal(manifestDigest(bytes), digestOf(bytes));
  const payload = '{\n   "schemaVersion": 1,\n   "fsLayers": []';
  const tail = '\n}';
  const protectedHeader = Buffer.from(JSON.stringify({ formatLength: payload.length, formatTail: Buffer.from(tail).toString('base64url') })).toString('base64url');
  const signed = `${payload},\n   "signatures": [{"protected": "${protectedHeader}"}]\n}`;
  assert.equal(manifestDigest(Buffer.from(signed)), digestOf(payload + tail));
  assert.throws(() => manifestDigest(Buffer.from('{"schemaVersion":1,"signatures":[{"protected":"!!"}]}')), /protected header|formatLength/);
});

test('Created is formatted as Go formats time.Time', () => {
  assert.equal(goTimeString('2024-05-06T07:08:09.120000000Z'), '2024-05-06T07:08:09.12Z');
  assert.equal(goTimeString('2024-05-06T07:08:09.000Z'), '2024-05-06T07:08:09Z');
  assert.equal(goTimeString('2024-05-06T07:08:09+00:00'), '2024-05-06T07:08:09Z');
  assert.equal(goTimeString('2024-05-06T07:08:09.5+02:00'), '2024-05-06T07:08:09.5+02:00');
  assert.equal(goTimeString(undefined), null);
});

test('platform choice from an index, as skopeo chooses', () => {
  const index = {
    schemaVersion: 2 as const,
    manifests: [
      { mediaType: MediaType.OciManifest, digest: D1, size: 1, platform: { os: 'linux', architecture: 'amd64' } },
      { mediaType: MediaType.OciManifest, digest: D2, size: 1, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
    ],
  };
  assert.equal(chooseInstance(index, parsePlatform('linux/arm64')).digest, D2);
  assert.equal(chooseInstance(index, parsePlatform('linux/arm64/v8')).digest, D2);
  assert.equal(chooseInstance(index, parsePlatform('linux/amd64')).digest, D1);
  assert.throws(() => chooseInstance(index, parsePlatform('linux/ppc64le')), /linux\/amd64, linux\/arm64\/v8/);
  for (const bad of ['linux', 'a/b/c/d', 'linux/', 'li nux/amd64']) assert.throws(() => parsePlatform(bad), WharfError);
});
