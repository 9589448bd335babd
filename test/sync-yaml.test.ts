/**
 * The parts of sync that need no registry: skopeo's sync YAML (and hostile versions of it), the semver
 * constraint evaluator behind images-by-semver, the Go-regexp translation behind images-by-tag-regex, and
 * destination naming.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { WharfError } from '../src/errors.js';
import {
  MAX_SYNC_YAML_BYTES,
  compileGoRegexp,
  destinationFor,
  parseSemver,
  parseSemverConstraint,
  parseSyncYaml,
  sync,
  type SyncOptions,
} from '../src/sync/index.js';

function usageError(pattern: RegExp) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof WharfError, `not a WharfError: ${String(err)}`);
    assert.match(err.message, pattern);
    return true;
  };
}

// ---------------------------------------------------------------------------------------------------------
// YAML

test('sync YAML: the example of skopeo-sync(1) parses as skopeo reads it', () => {
  const y = parseSyncYaml(
    `registry.example.com:
    images:
        busybox: []
        redis:
            - "1.0"
            - "2.0"
            - "sha256:0000000000000000000000000000000011111111111111111111111111111111"
    images-by-tag-regex:
        nginx: ^1\\.13\\.[12]-alpine-perl$
    images-by-semver:
        alpine: ">= 3.12.0"
    credentials:
        username: john
        password: this is a secret
    tls-verify: true
    cert-dir: /home/john/certs
quay.io:
    tls-verify: false
    images:
        coreos/etcd:
            - latest
`,
    'sync.yml',
  );
  assert.equal(y.registries.length, 2);
  const [reg, quay] = y.registries;
  assert.equal(reg!.name, 'registry.example.com');
  assert.deepEqual(
    reg!.images.map((i) => [i.repository.name(), i.tags, i.digests]),
    [
      ['registry.example.com/busybox', [], []],
      ['registry.example.com/redis', ['1.0', '2.0'], ['sha256:0000000000000000000000000000000011111111111111111111111111111111']],
    ],
  );
  assert.equal(reg!.imagesByTagRegex[0]!.repository.name(), 'registry.example.com/nginx');
  assert.ok(reg!.imagesByTagRegex[0]!.regex.test('1.13.2-alpine-perl'));
  assert.ok(!reg!.imagesByTagRegex[0]!.regex.test('1.13.3-alpine-perl'));
  assert.ok(reg!.imagesBySemver[0]!.constraint.matchesTag('3.12.1'));
  assert.ok(!reg!.imagesBySemver[0]!.constraint.matchesTag('3.11.9'));
  assert.deepEqual(reg!.credentials, { username: 'john', password: 'this is a secret' });
  assert.equal(reg!.tlsVerify, true);
  assert.equal(reg!.certDir, '/home/john/certs');
  assert.equal(quay!.tlsVerify, false);
  assert.deepEqual(quay!.images[0]!.tags, ['latest']);
});

test('sync YAML: scalars are read as written, empty lists and nulls mean every tag, docker.io is normalised', () => {
  const y = parseSyncYaml('docker.io:\n  images:\n    busybox:\n    alpine: []\n    redis: [1.10, 7.0, 010]\n  tls-verify: no\n', 'f.yaml');
  const reg = y.registries[0]!;
  assert.deepEqual(
    reg.images.map((i) => [i.repository.name(), i.tags]),
    [
      ['docker.io/library/busybox', []],
      ['docker.io/library/alpine', []],
      ['docker.io/library/redis', ['1.10', '7.0', '010']],
    ],
  );
  assert.equal(reg.tlsVerify, false);
  // An empty file is no registries (skopeo syncs nothing and succeeds).
  assert.deepEqual(parseSyncYaml('', 'empty.yaml').registries, []);
  assert.deepEqual(parseSyncYaml('# nothing\n', 'empty.yaml').registries, []);
});

test('sync YAML: anchors and merge keys work within the alias limit', () => {
  const y = parseSyncYaml(
    'a.example:\n  credentials: &creds {username: u, password: p}\n  images: {app: [v1]}\nb.example:\n  credentials: *creds\n  images: {app: [v2]}\n',
    'f.yaml',
  );
  assert.deepEqual(y.registries[1]!.credentials, { username: 'u', password: 'p' });
});

test('hostile sync YAML: not a mapping, wrong types, bad names — each a USAGE error naming where', () => {
  const cases: [string, RegExp][] = [
    ['- a\n- b\n', /f\.yaml: the document must be a mapping.*not a list/],
    ['just a string\n', /the document must be a mapping.*not a string/],
    ['reg.io: [1, 2]\n', /registry "reg\.io" must be a mapping/],
    ['reg.io:\n  images: [app]\n', /registry "reg\.io", images must be a mapping/],
    ['reg.io:\n  images:\n    app: v1\n', /registry "reg\.io", images, app must be a list/],
    ['reg.io:\n  images:\n    app: [[v1]]\n', /a tag of registry "reg\.io", images, app must be a string, not a list/],
    ['reg.io:\n  images:\n    app: [{a: b}]\n', /must be a string, not a mapping/],
    ['reg.io:\n  images:\n    App: []\n', /registry "reg\.io", images: .*must be lowercase/],
    ['reg.io:\n  images:\n    "app:1": []\n', /"app:1" names an image, not a repository/],
    ['reg.io:\n  images:\n    app: ["bad tag"]\n', /images, app: invalid tag "bad tag"/],
    ['reg.io:\n  images:\n    app: ["sha256:abc"]\n', /"sha256:abc" is not a valid digest/],
    ['reg.io:\n  images-by-tag-regex:\n    app: [a, b]\n', /the regular expression of registry "reg\.io", images-by-tag-regex, app must be a string/],
    ['reg.io:\n  tls-verify: maybe\n', /tls-verify must be true or false, not "maybe"/],
    ['reg.io:\n  tls-verify: [true]\n', /tls-verify must be a string, not a list/],
    ['reg.io:\n  cert-dir: {a: b}\n', /cert-dir must be a string, not a mapping/],
    ['reg.io:\n  credentials: [alice, secret]\n', /credentials must be a mapping/],
    ['? [a, b]\n: {}\n', /a registry must be a plain name, not a list/],
    ['reg.io: {}\nreg.io: {}\n', /not valid YAML: Map keys must be unique/],
    ['reg.io: {images: {a: []}\n', /not valid YAML/],
    ['a: 1\n---\nb: 2\n', /not valid YAML: Source contains multiple documents/],
  ];
  for (const [text, pattern] of cases) {
    assert.throws(() => parseSyncYaml(text, 'f.yaml'), usageError(pattern), text);
  }
});

test('hostile sync YAML: unknown keys are refused with the key (typos do not silently sync nothing)', () => {
  assert.throws(() => parseSyncYaml('reg.io:\n  image:\n    app: []\n', 'f.yaml'), usageError(/registry "reg\.io": unknown key "image"/));
  assert.throws(() => parseSyncYaml('reg.io:\n  tls_verify: false\n', 'f.yaml'), usageError(/unknown key "tls_verify"/));
  assert.throws(() => parseSyncYaml('reg.io:\n  credentials: {username: a, passwd: b}\n', 'f.yaml'), usageError(/credentials: unknown key "passwd"/));
});

test('hostile sync YAML: a secret of the wrong type is never echoed', () => {
  assert.throws(
    () => parseSyncYaml('reg.io:\n  credentials: {username: alice, password: [hunter2-secret]}\n', 'f.yaml'),
    (err: unknown) => err instanceof WharfError && /password must be a string/.test(err.message) && !err.message.includes('hunter2'),
  );
});

test('hostile sync YAML: an invalid regex names the registry and repository', () => {
  for (const pattern of ['"(unclosed"', '"(?=lookahead)"', '"\\\\1"', '"[z-a]"']) {
    assert.throws(
      () => parseSyncYaml(`reg.example.com:\n  images-by-tag-regex:\n    team/app: ${pattern}\n`, 'f.yaml'),
      usageError(/f\.yaml: registry "reg\.example\.com", images-by-tag-regex, team\/app: invalid regular expression/),
      pattern,
    );
  }
});

test('hostile sync YAML: an invalid semver constraint names the registry and repository', () => {
  for (const c of ['">> 1"', '"banana"', '"1.2 ||"', '">= 1,"', '"1.x.3"']) {
    assert.throws(
      () => parseSyncYaml(`reg.example.com:\n  images-by-semver:\n    team/app: ${c}\n`, 'f.yaml'),
      usageError(/f\.yaml: registry "reg\.example\.com", images-by-semver, team\/app: invalid semver constraint/),
      c,
    );
  }
});

test('hostile sync YAML: a billion-laughs alias bomb is refused quickly', () => {
  const lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
  const names = 'bcdefghi';
  for (let i = 0; i < names.length; i++) {
    const prev = i === 0 ? 'a' : names[i - 1];
    lines.push(`${names[i]}: &${names[i]} [${Array(9).fill(`*${prev}`).join(',')}]`);
  }
  assert.throws(() => parseSyncYaml(`${lines.join('\n')}\n`, 'bomb.yaml'), usageError(/bomb\.yaml: aliases expand to too much data/));
  // Many aliases to a small node are refused too, before they are expanded.
  const many = `x: &x [a]\ny: [${Array(500).fill('*x').join(', ')}]\n`;
  assert.throws(() => parseSyncYaml(many, 'many.yaml'), usageError(/aliases expand/));
});

test('hostile sync YAML: huge files are refused before parsing, deep nesting is an error not a crash', async () => {
  const huge = `reg.io:\n  images:\n    app: [${'"x", '.repeat(MAX_SYNC_YAML_BYTES / 5)}]\n`;
  assert.throws(() => parseSyncYaml(huge, 'huge.yaml'), usageError(/huge\.yaml: the file is larger than/));
  // Through sync(): the reader's bytes are capped too.
  await assert.rejects(
    sync({ src: 'yaml', dest: 'dir', source: 'huge.yaml', destination: '/nonexistent/out', readFile: async () => Buffer.from(huge) }),
    (err: unknown) => err instanceof WharfError && err.code === 'TOO_LARGE',
  );
  const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}\n`;
  assert.throws(() => parseSyncYaml(deep, 'deep.yaml'), (err: unknown) => err instanceof WharfError && err.code === 'USAGE');
  await assert.rejects(
    sync({ src: 'yaml', dest: 'dir', source: 'bad.yaml', destination: '/nonexistent/out', readFile: async () => Buffer.from([0xff, 0xfe, 0x00]) }),
    usageError(/bad\.yaml: not UTF-8 text/),
  );
});

test('sync YAML with no images: nothing to do, and a warning', async () => {
  const warnings: string[] = [];
  const r = await sync({
    src: 'yaml',
    dest: 'dir',
    source: 'f.yaml',
    destination: '/nonexistent/out',
    readFile: async () => Buffer.from('reg.example.com:\n  tls-verify: false\n'),
    logger: { warn: (m) => warnings.push(m) },
  });
  assert.deepEqual(r.planned, []);
  assert.match(warnings.join('\n'), /no images specified for registry reg\.example\.com/);
});

// ---------------------------------------------------------------------------------------------------------
// Semver

function matching(constraint: string, tags: string[]): string[] {
  const c = parseSemverConstraint(constraint);
  return tags.filter((t) => c.matchesTag(t));
}

const TAGS = ['0.0.3', '0.2.5', '0.3.0', '1', '1.0.0', 'v1.2.0', '1.2.3', '1.2.10', '1.3.0', '1.10.0', '2.0.0-rc.1', '2.0.0', 'v2.1', '3.0.0', 'latest', '1.2.3.4', 'v'];

test('semver: versions parse leniently, with or without v; other tags are not versions', () => {
  assert.deepEqual(parseSemver('v1.2'), { major: 1n, minor: 2n, patch: 0n, prerelease: '', build: '', original: 'v1.2' });
  assert.equal(parseSemver('1.2.3-rc.1')!.prerelease, 'rc.1');
  for (const bad of ['latest', '1.2.3.4', 'v', '', '1.2.3-01', 'V1.2.3', '1..2', '1.2.3-', 'x1']) assert.equal(parseSemver(bad), undefined, bad);
});

test('semver: comparison operators', () => {
  assert.deepEqual(matching('>= 1.2.0', TAGS), ['v1.2.0', '1.2.3', '1.2.10', '1.3.0', '1.10.0', '2.0.0', 'v2.1', '3.0.0']);
  assert.deepEqual(matching('> 1.2.3', TAGS), ['1.2.10', '1.3.0', '1.10.0', '2.0.0', 'v2.1', '3.0.0']);
  assert.deepEqual(matching('< 1.2.3', TAGS), ['0.0.3', '0.2.5', '0.3.0', '1', '1.0.0', 'v1.2.0']);
  assert.deepEqual(matching('<= 1.2.3', TAGS), ['0.0.3', '0.2.5', '0.3.0', '1', '1.0.0', 'v1.2.0', '1.2.3']);
  assert.deepEqual(matching('= 1.2.3', TAGS), ['1.2.3']);
  assert.deepEqual(matching('1.2.3', TAGS), ['1.2.3']);
  assert.deepEqual(matching('v2.1.0', TAGS), ['v2.1']);
  assert.deepEqual(matching('!= 1.2.3', TAGS).includes('1.2.3'), false);
  assert.deepEqual(matching('=> 3', TAGS), ['3.0.0']);
  assert.deepEqual(matching('=< 0.2.5', TAGS), ['0.0.3', '0.2.5']);
  // Numeric order, not string order.
  assert.deepEqual(matching('> 1.2.3, < 1.3', TAGS), ['1.2.10']);
});

test('semver: comma and space are and, || is or', () => {
  assert.deepEqual(matching('>= 1.2.0, < 2', TAGS), ['v1.2.0', '1.2.3', '1.2.10', '1.3.0', '1.10.0']);
  assert.deepEqual(matching('>=1.2.0 <2', TAGS), ['v1.2.0', '1.2.3', '1.2.10', '1.3.0', '1.10.0']);
  assert.deepEqual(matching('< 0.3 || >= 3', TAGS), ['0.0.3', '0.2.5', '3.0.0']);
  assert.deepEqual(matching('1.0.0 || 1.2.3 || 3.0.0', TAGS), ['1', '1.0.0', '1.2.3', '3.0.0']);
});

test('semver: tilde', () => {
  assert.deepEqual(matching('~1.2.3', TAGS), ['1.2.3', '1.2.10']);
  assert.deepEqual(matching('~1.2', TAGS), ['v1.2.0', '1.2.3', '1.2.10']);
  assert.deepEqual(matching('~>1.2.x', TAGS), ['v1.2.0', '1.2.3', '1.2.10']);
  assert.deepEqual(matching('~1', TAGS), ['1', '1.0.0', 'v1.2.0', '1.2.3', '1.2.10', '1.3.0', '1.10.0']);
  assert.deepEqual(matching('~0.2.3', TAGS), ['0.2.5']);
});

test('semver: caret', () => {
  assert.deepEqual(matching('^1.2.3', TAGS), ['1.2.3', '1.2.10', '1.3.0', '1.10.0']);
  assert.deepEqual(matching('^1', TAGS), ['1', '1.0.0', 'v1.2.0', '1.2.3', '1.2.10', '1.3.0', '1.10.0']);
  assert.deepEqual(matching('^0.2.3', TAGS), ['0.2.5']);
  assert.deepEqual(matching('^0.2', TAGS), ['0.2.5']);
  assert.deepEqual(matching('^0.0.3', TAGS), ['0.0.3']);
  assert.deepEqual(matching('^0', TAGS), ['0.0.3', '0.2.5', '0.3.0']);
  assert.deepEqual(matching('^0.0', TAGS), ['0.0.3']);
});

test('semver: x-ranges and hyphen ranges', () => {
  assert.deepEqual(matching('1.2.x', TAGS), ['v1.2.0', '1.2.3', '1.2.10']);
  assert.deepEqual(matching('1.x', TAGS), ['1', '1.0.0', 'v1.2.0', '1.2.3', '1.2.10', '1.3.0', '1.10.0']);
  assert.deepEqual(matching('1.X.*', TAGS), matching('1.x', TAGS));
  assert.deepEqual(matching('1.2', TAGS), ['v1.2.0', '1.2.3', '1.2.10']);
  assert.deepEqual(matching('*', TAGS), ['0.0.3', '0.2.5', '0.3.0', '1', '1.0.0', 'v1.2.0', '1.2.3', '1.2.10', '1.3.0', '1.10.0', '2.0.0', 'v2.1', '3.0.0']);
  assert.deepEqual(matching('> 1.x', TAGS), ['2.0.0', 'v2.1', '3.0.0']);
  assert.deepEqual(matching('> 1.2', TAGS), ['1.3.0', '1.10.0', '2.0.0', 'v2.1', '3.0.0']);
  assert.deepEqual(matching('<= 1.2', TAGS), ['0.0.3', '0.2.5', '0.3.0', '1', '1.0.0', 'v1.2.0', '1.2.3', '1.2.10']);
  assert.deepEqual(matching('!= 1.2.x', TAGS).filter((t) => t.startsWith('1.2') || t === 'v1.2.0'), []);
  assert.deepEqual(matching('1.2 - 1.3', TAGS), ['v1.2.0', '1.2.3', '1.2.10', '1.3.0']);
  assert.deepEqual(matching('1.2.3 - 2', TAGS), ['1.2.3', '1.2.10', '1.3.0', '1.10.0', '2.0.0', 'v2.1']);
});

test('semver: prereleases match only comparisons that name a prerelease', () => {
  assert.equal(matching('>= 1.0.0', TAGS).includes('2.0.0-rc.1'), false);
  assert.deepEqual(matching('>= 2.0.0-0', ['2.0.0-rc.1', '2.0.0-rc.2', '2.0.0', '1.9.0']), ['2.0.0-rc.1', '2.0.0-rc.2', '2.0.0']);
  assert.deepEqual(matching('> 2.0.0-rc.1', ['2.0.0-rc.1', '2.0.0-rc.2', '2.0.0-rc.10', '2.0.0-beta', '2.0.0']), ['2.0.0-rc.2', '2.0.0-rc.10', '2.0.0']);
  assert.deepEqual(matching('< 2.0.0-rc.2', ['2.0.0-alpha', '2.0.0-rc.1', '2.0.0-1', '1.0.0']), ['2.0.0-alpha', '2.0.0-rc.1', '2.0.0-1', '1.0.0']);
});

test('semver: invalid constraints are USAGE errors that say what is wrong', () => {
  for (const [c, why] of [
    ['', /it is empty/],
    ['>', /">" is not a comparison/],
    ['>> 1', /is not a comparison/],
    ['1.2.3foo', /"1\.2\.3foo" is not a comparison/],
    ['>= 1,', /ends with a comma/],
    ['1 || ', /a group between "\|\|" is empty/],
    ['1.x.3', /number after an x/],
    ['x'.repeat(2000), /longer than/],
  ] as const) {
    assert.throws(() => parseSemverConstraint(c), (err: unknown) => err instanceof WharfError && err.code === 'USAGE' && why.test(err.message), c.slice(0, 20));
  }
});

// ---------------------------------------------------------------------------------------------------------
// Go regular expressions

test('tag regex: RE2 syntax is translated, matched anywhere in the tag as Go does', () => {
  const re = (p: string) => compileGoRegexp(p);
  assert.ok(re('^1\\.13\\.[12]-alpine-perl$').test('1.13.1-alpine-perl'));
  assert.ok(re('alpine').test('3.19-alpine-slim'));
  assert.ok(re('(?i)^V1').test('v1.2'));
  assert.ok(re('^[[:digit:]]+\\.[[:digit:]]+$').test('10.2'));
  assert.ok(!re('^[[:digit:]]+$').test('10a'));
  assert.ok(re('^[]a]+$').test(']a]'));
  assert.ok(re('\\Q1.0\\E$').test('v1.0'));
  assert.ok(!re('\\Q1.0\\E$').test('v1x0'));
  assert.ok(re('\\Av1\\z').test('v1'));
  assert.ok(re('^(?P<major>[0-9]+)\\.').test('12.1'));
  assert.ok(re('^\\x{76}1$').test('v1'));
});

test('tag regex: what RE2 refuses is refused', () => {
  for (const p of ['(?=a)', '(?!a)', '(?<=a)', '(?<!a)', '(a)\\1', '\\k<x>', 'a**', '(', '[a', 'a{1001}', '\\pL', '(?i:a)', '\\y']) {
    assert.throws(() => compileGoRegexp(p), Error, p);
  }
});

// ---------------------------------------------------------------------------------------------------------
// Destination naming (skopeo's rules)

function dest(namePath: string, o: Partial<SyncOptions>): string {
  return destinationFor(namePath, { src: 'docker', dest: 'docker', source: 's', destination: 'my-registry.local.lan/test', ...o }).label;
}

test('destination names: the last path component, or the whole name with scoped', () => {
  assert.equal(dest('registry.example.com/a/b/busybox:1-glibc', {}), 'docker://my-registry.local.lan/test/busybox:1-glibc');
  assert.equal(dest('registry.example.com/a/b/busybox:1-glibc', { scoped: true }), 'docker://my-registry.local.lan/test/registry.example.com/a/b/busybox:1-glibc');
  assert.equal(dest('registry.example.com/busybox:1', { destination: 'my-registry.local.lan/test/' }), 'docker://my-registry.local.lan/test/busybox:1');
  assert.equal(dest('registry.example.com/busybox:1', { destination: 'docker://my-registry.local.lan' }), 'docker://my-registry.local.lan/busybox:1');
  assert.equal(dest('registry.example.com/busybox:1', { dest: 'dir', destination: '/media/usb' }), 'dir:/media/usb/busybox:1');
  assert.equal(dest('registry.example.com/busybox:1', { dest: 'dir', destination: '/media/usb', scoped: true }), 'dir:/media/usb/registry.example.com/busybox:1');
  assert.equal(dest('registry.example.com/busybox:1', { dest: 'oci', destination: '/out' }), 'oci:/out/busybox:1');
  assert.equal(dest('registry.example.com/a/busybox:1', { dest: 'oci', destination: '/out', scoped: true }), 'oci:/out/registry.example.com/a/busybox:1');
  const digest = `sha256:${'ab'.repeat(32)}`;
  assert.equal(dest(`registry.example.com/busybox@${digest}`, { dest: 'dir', destination: '/media/usb' }), `dir:/media/usb/busybox@${digest}`);
  assert.equal(dest(`registry.example.com/busybox@${digest}`, {}), `docker://my-registry.local.lan/test/busybox@${digest}`);
  assert.equal(dest(`registry.example.com/busybox@${digest}`, { dest: 'oci', destination: '/out' }), `oci:/out/busybox:${digest}`);
  // A dir: image without a tag in its name: latest at a registry.
  assert.equal(dest('myimage', {}), 'docker://my-registry.local.lan/test/myimage');
});

test('destination names: --append-suffix goes on the tag; it cannot go on a digest', () => {
  assert.equal(dest('registry.example.com/busybox:1.36', { appendSuffix: '-mirror' }), 'docker://my-registry.local.lan/test/busybox:1.36-mirror');
  assert.equal(dest('registry.example.com/busybox:1.36', { dest: 'dir', destination: '/m', appendSuffix: '-mirror' }), 'dir:/m/busybox:1.36-mirror');
  assert.throws(() => dest(`registry.example.com/busybox@sha256:${'ab'.repeat(32)}`, { appendSuffix: '-mirror' }), usageError(/named by digest/));
});

test('destination names: a name a registry cannot hold is an INVALID_REFERENCE naming the source', () => {
  assert.throws(
    () => dest('127.0.0.1:5000/team/app:1', { scoped: true }),
    (err: unknown) => err instanceof WharfError && err.code === 'INVALID_REFERENCE' && /127\.0\.0\.1:5000\/team\/app:1/.test(err.message),
  );
  assert.throws(() => dest('My Image:1', {}), (err: unknown) => err instanceof WharfError && err.code === 'INVALID_REFERENCE');
});

test('sync options are checked before anything happens', async () => {
  const base = { source: 'reg.example.com/app', destination: '/tmp/x' };
  await assert.rejects(sync({ ...base, src: 'ftp' as 'docker', dest: 'dir' }), usageError(/"ftp" is not a valid source transport/));
  await assert.rejects(sync({ ...base, src: 'docker', dest: 'yaml' as 'dir' }), usageError(/"yaml" is not a valid destination transport/));
  await assert.rejects(sync({ ...base, src: 'docker', dest: 'dir', parallel: 0 }), usageError(/parallel must be/));
  await assert.rejects(sync({ ...base, src: 'docker', dest: 'dir', appendSuffix: '/../x' }), usageError(/append-suffix/));
  await assert.rejects(sync({ ...base, src: 'docker', dest: 'dir', source: '' }), usageError(/source is empty/));
});
