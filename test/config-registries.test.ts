import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  loadRegistriesConf,
  parseRegistriesConf,
  registriesConfCandidates,
  type ImageRef,
  type PullSource,
} from '../src/config/index.js';
import { WharfError } from '../src/errors.js';

let root: string;
let n = 0;
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'wharf-regconf-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

async function file(rel: string, text: string): Promise<string> {
  const p = join(root, rel);
  await mkdir(join(p, '..'), { recursive: true });
  await writeFile(p, text);
  return p;
}

const DIGEST = `sha256:${'a'.repeat(64)}`;

function short(sources: PullSource[]): string[] {
  return sources.map((s) => {
    const r = s.rewrittenRef;
    return `${s.endpoint}${s.insecure ? ' (insecure)' : ''} -> ${r.domain}/${r.path}${r.tag ? `:${r.tag}` : ''}${r.digest ? `@${r.digest}` : ''}`;
  });
}

function invalid(re: RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof WharfError, String(err));
    assert.equal(err.code, 'REGISTRIES_CONF_INVALID', err.message);
    assert.match(err.message, re);
    return true;
  };
}

const MAN_PAGE_EXAMPLE = `
unqualified-search-registries = ["example.com"]

[[registry]]
prefix = "example.com/foo"
insecure = false
blocked = false
location = "internal-registry-for-example.com/bar"

[[registry.mirror]]
location = "example-mirror-0.local/mirror-for-foo"

[[registry.mirror]]
location = "example-mirror-1.local/mirrors/foo"
insecure = true

[[registry]]
location = "registry.com"

[[registry.mirror]]
location = "mirror.registry.com"
`;

describe('registries.conf v2', () => {
  test('the man page example: mirrors in order, then the rewritten primary', () => {
    const conf = parseRegistriesConf(MAN_PAGE_EXAMPLE, 'example.conf');
    assert.deepEqual(conf.unqualifiedSearchRegistries, ['example.com']);
    assert.equal(conf.shortNameMode, 'permissive');
    const ref: ImageRef = { domain: 'example.com', path: 'foo/image', tag: 'latest' };
    assert.deepEqual(short(conf.pullSources(ref)), [
      'example-mirror-0.local/mirror-for-foo -> example-mirror-0.local/mirror-for-foo/image:latest',
      'example-mirror-1.local/mirrors/foo (insecure) -> example-mirror-1.local/mirrors/foo/image:latest',
      'internal-registry-for-example.com/bar -> internal-registry-for-example.com/bar/image:latest',
    ]);
    assert.deepEqual(conf.pullSources(ref).map((s) => s.mirror), [true, true, false]);
    // A mirror belongs to its own [[registry]] only.
    assert.deepEqual(short(conf.pullSources({ domain: 'registry.com', path: 'image', tag: 'latest' })), [
      'mirror.registry.com -> mirror.registry.com/image:latest',
      'registry.com -> registry.com/image:latest',
    ]);
  });

  test('no matching [[registry]]: the reference itself', () => {
    const conf = parseRegistriesConf(MAN_PAGE_EXAMPLE);
    const ref = { domain: 'quay.io', path: 'a/b', digest: DIGEST };
    assert.deepEqual(conf.pullSources(ref), [{ endpoint: 'quay.io', insecure: false, rewrittenRef: ref, mirror: false }]);
    assert.equal(conf.findRegistry('quay.io/a/b'), undefined);
  });

  test('a prefix matches at component boundaries only', () => {
    const conf = parseRegistriesConf(MAN_PAGE_EXAMPLE);
    assert.equal(conf.findRegistry('example.com/foobar/x'), undefined);
    assert.equal(conf.findRegistry('example.com/foo/x')?.prefix, 'example.com/foo');
    assert.equal(conf.findRegistry('example.com/foo')?.prefix, 'example.com/foo');
    assert.equal(conf.findRegistry('registry.company/x'), undefined);
    // A host prefix does not swallow another port of the same host.
    assert.equal(conf.findRegistry('registry.com:5000/x'), undefined);
  });

  test('the longest prefix wins', () => {
    const conf = parseRegistriesConf(`
      [[registry]]
      prefix = "example.com"
      location = "a.local"
      [[registry]]
      prefix = "example.com/team"
      location = "b.local/t"
      [[registry]]
      prefix = "example.com/team/app"
      location = "c.local/app"
    `);
    assert.equal(conf.findRegistry('example.com/team/app')?.location, 'c.local/app');
    assert.equal(conf.findRegistry('example.com/team/other')?.location, 'b.local/t');
    assert.equal(conf.findRegistry('example.com/x')?.location, 'a.local');
    assert.deepEqual(short(conf.pullSources({ domain: 'example.com', path: 'team/app', tag: 'v1' })), ['c.local/app -> c.local/app:v1']);
    assert.deepEqual(short(conf.pullSources({ domain: 'example.com', path: 'team/app/sub', digest: DIGEST })), [
      `c.local/app -> c.local/app/sub@${DIGEST}`,
    ]);
  });

  test('pull-from-mirror: digest-only, tag-only, all', () => {
    const conf = parseRegistriesConf(`
      [[registry]]
      location = "docker.io"
      [[registry.mirror]]
      location = "digest.mirror"
      pull-from-mirror = "digest-only"
      [[registry.mirror]]
      location = "tag.mirror"
      pull-from-mirror = "tag-only"
      [[registry.mirror]]
      location = "all.mirror:5000/hub"
      pull-from-mirror = "all"
    `);
    assert.deepEqual(short(conf.pullSources({ domain: 'docker.io', path: 'library/alpine', tag: '3' })), [
      'tag.mirror -> tag.mirror/library/alpine:3',
      'all.mirror:5000/hub -> all.mirror:5000/hub/library/alpine:3',
      'docker.io -> docker.io/library/alpine:3',
    ]);
    assert.deepEqual(short(conf.pullSources({ domain: 'docker.io', path: 'library/alpine', digest: DIGEST })), [
      `digest.mirror -> digest.mirror/library/alpine@${DIGEST}`,
      `all.mirror:5000/hub -> all.mirror:5000/hub/library/alpine@${DIGEST}`,
      `docker.io -> docker.io/library/alpine@${DIGEST}`,
    ]);
    // tag and digest together count as a digest reference
    assert.equal(conf.pullSources({ domain: 'docker.io', path: 'library/alpine', tag: '3', digest: DIGEST })[0]!.endpoint, 'digest.mirror');
  });

  test('mirror-by-digest-only keeps tag pulls on the primary', () => {
    const conf = parseRegistriesConf(`
      [[registry]]
      prefix = "quay.io/org"
      location = "quay.io/org"
      mirror-by-digest-only = true
      [[registry.mirror]]
      location = "mirror.local/quay-org"
    `);
    assert.deepEqual(short(conf.pullSources({ domain: 'quay.io', path: 'org/app', tag: 'latest' })), ['quay.io/org -> quay.io/org/app:latest']);
    assert.deepEqual(short(conf.pullSources({ domain: 'quay.io', path: 'org/app', digest: DIGEST })), [
      `mirror.local/quay-org -> mirror.local/quay-org/app@${DIGEST}`,
      `quay.io/org -> quay.io/org/app@${DIGEST}`,
    ]);
  });

  test('wildcard prefixes match subdomains, any depth, not the domain itself', () => {
    const conf = parseRegistriesConf(`
      [[registry]]
      prefix = "*.example.com"
      insecure = true
      [[registry.mirror]]
      location = "mirror.local/cache"
      [[registry]]
      prefix = "special.example.com"
      location = "special.example.com"
    `);
    assert.equal(conf.findRegistry('a.example.com/x')?.prefix, '*.example.com');
    assert.equal(conf.findRegistry('b.a.example.com:5000/x/y')?.prefix, '*.example.com');
    assert.equal(conf.findRegistry('example.com/x'), undefined);
    assert.equal(conf.findRegistry('a.example.com.evil.org/x'), undefined);
    assert.equal(conf.findRegistry('aexample.com/x'), undefined);
    // The literal prefix is longer, so it wins.
    assert.equal(conf.findRegistry('special.example.com/x')?.prefix, 'special.example.com');
    assert.equal(conf.isInsecure('a.example.com/x'), true);
    // No location: the reference is used as it is; mirrors get what follows the host.
    assert.deepEqual(short(conf.pullSources({ domain: 'a.example.com', path: 'team/app', tag: '1' })), [
      'mirror.local/cache -> mirror.local/cache/team/app:1',
      'a.example.com (insecure) -> a.example.com/team/app:1',
    ]);
  });

  test('blocked registries', () => {
    const conf = parseRegistriesConf(`
      [[registry]]
      location = "evil.io"
      blocked = true
      [[registry]]
      prefix = "ok.io/bad"
      location = "ok.io/bad"
      blocked = true
    `, 'b.conf');
    assert.equal(conf.isBlocked({ domain: 'evil.io', path: 'x' }), true);
    assert.equal(conf.isBlocked('ok.io/bad/x'), true);
    assert.equal(conf.isBlocked('ok.io/good'), false);
    assert.throws(
      () => conf.pullSources({ domain: 'evil.io', path: 'x', tag: 'latest' }),
      (e: unknown) => e instanceof WharfError && e.code === 'REGISTRY_BLOCKED' && /evil\.io\/x:latest.*b\.conf/.test(e.message),
    );
  });

  test('a location that rewrites docker.io gets library/ for a single-component path', () => {
    const conf = parseRegistriesConf(`
      [[registry]]
      prefix = "mirror.corp/hub"
      location = "docker.io"
    `);
    assert.deepEqual(short(conf.pullSources({ domain: 'mirror.corp', path: 'hub/alpine', tag: '3' })), ['docker.io -> docker.io/library/alpine:3']);
  });

  test('a prefix naming a whole repository mapped to a bare host is a clear error at rewrite', () => {
    const conf = parseRegistriesConf(`
      [[registry]]
      prefix = "example.com/app"
      location = "other.com"
    `, 'r.conf');
    assert.throws(() => conf.pullSources({ domain: 'example.com', path: 'app', tag: 'v1' }), invalid(/r\.conf: location "other\.com".*not a valid image reference/));
  });

  test('short-name-mode and aliases', () => {
    const conf = parseRegistriesConf(`
      short-name-mode = "enforcing"
      [aliases]
      "fedora" = "registry.fedoraproject.org/fedora"
      "ubi8/ubi" = "registry.access.redhat.com/ubi8/ubi"
      "alpine" = "docker.io/alpine"
    `);
    assert.equal(conf.shortNameMode, 'enforcing');
    assert.equal(conf.resolveAlias('fedora'), 'registry.fedoraproject.org/fedora');
    assert.equal(conf.resolveAlias('fedora:39'), 'registry.fedoraproject.org/fedora:39');
    assert.equal(conf.resolveAlias(`ubi8/ubi@${DIGEST}`), `registry.access.redhat.com/ubi8/ubi@${DIGEST}`);
    assert.equal(conf.resolveAlias('alpine'), 'docker.io/library/alpine');
    assert.equal(conf.resolveAlias('debian'), undefined);
  });

  test('the first [[registry]] with a prefix wins within one file', () => {
    const conf = parseRegistriesConf(`
      [[registry]]
      prefix = "a.io"
      location = "first.io"
      [[registry]]
      prefix = "a.io"
      location = "second.io"
    `);
    assert.equal(conf.findRegistry('a.io/x')?.location, 'first.io');
    assert.equal(conf.registries.length, 1);
  });

  test('trailing slashes are dropped from locations', () => {
    const conf = parseRegistriesConf(`
      [[registry]]
      prefix = "a.io/"
      location = "b.io/x/"
    `);
    assert.equal(conf.findRegistry('a.io/y')?.location, 'b.io/x');
  });

  test('version 1 format is read in the main file', () => {
    const conf = parseRegistriesConf(`
      [registries.search]
      registries = ['registry1.com', 'registry2.com']
      [registries.insecure]
      registries = ['registry3.com']
      [registries.block]
      registries = ['registry.untrusted.com']
    `);
    assert.deepEqual(conf.unqualifiedSearchRegistries, ['registry1.com', 'registry2.com']);
    assert.equal(conf.isInsecure('registry3.com/x'), true);
    assert.equal(conf.isBlocked('registry.untrusted.com/x'), true);
    assert.equal(conf.isBlocked('registry1.com/x'), false);
  });
});

describe('registries.conf: hostile and broken files', () => {
  test('invalid TOML names the file, line and column', () => {
    assert.throws(() => parseRegistriesConf('a = 1\n\n[[registry]]\nprefix = "x.io\n', 'bad.conf'), invalid(/^bad\.conf:4:\d+: invalid TOML/));
  });

  test('wrong types', () => {
    assert.throws(() => parseRegistriesConf('[[registry]]\nlocation = "a.io"\ninsecure = "yes"\n', 'w.conf'), invalid(/registry\[0\]\.insecure must be true or false, not a string/));
    assert.throws(() => parseRegistriesConf('unqualified-search-registries = "docker.io"'), invalid(/unqualified-search-registries must be an array of strings/));
    assert.throws(() => parseRegistriesConf('unqualified-search-registries = [1, 2]'), invalid(/must be an array of strings/));
    assert.throws(() => parseRegistriesConf('[registry]\nlocation = "a.io"'), invalid(/registry must be an array of tables/));
    assert.throws(() => parseRegistriesConf('[[registry]]\nlocation = 5'), invalid(/registry\[0\]\.location must be a string, not a number/));
    assert.throws(() => parseRegistriesConf('short-name-mode = "prompt"'), invalid(/short-name-mode must be/));
    assert.throws(() => parseRegistriesConf('aliases = 3'), invalid(/\[aliases\] must be a table/));
  });

  test('a prefix or location that is not a valid reference', () => {
    assert.throws(() => parseRegistriesConf('[[registry]]\nprefix = "Example.com/UPPER"\nlocation = "a.io"'), invalid(/registry\[0\]\.prefix .* is not a valid/));
    assert.throws(() => parseRegistriesConf('[[registry]]\nprefix = "a.io/x y"\nlocation = "a.io"'), invalid(/prefix/));
    assert.throws(() => parseRegistriesConf('[[registry]]\nlocation = "https://a.io"'), invalid(/URI schemes are not supported/));
    assert.throws(() => parseRegistriesConf('[[registry]]\nprefix = "a.io/../../etc"\nlocation = "b.io"'), invalid(/prefix/));
    assert.throws(() => parseRegistriesConf('[[registry]]\nprefix = "*.example.com/foo"'), invalid(/wildcard prefix must be \*\.example\.com/));
    assert.throws(() => parseRegistriesConf('[[registry]]\nprefix = "example.*.com"\nlocation = "a.io"'), invalid(/prefix/));
    assert.throws(() => parseRegistriesConf('[[registry]]\nprefix = "a.io"'), invalid(/no "location"/));
    assert.throws(() => parseRegistriesConf('[[registry]]\ninsecure = true'), invalid(/neither "prefix" nor "location"/));
    assert.throws(() => parseRegistriesConf('unqualified-search-registries = ["docker.io/library"]'), invalid(/is not a host\[:port\]/));
  });

  test('mirror without location, bad pull-from-mirror, and conflicting mirror settings', () => {
    assert.throws(() => parseRegistriesConf('[[registry]]\nlocation = "a.io"\n[[registry.mirror]]\ninsecure = true'), invalid(/registry\[0\]\.mirror\[0\] has no "location"/));
    assert.throws(() => parseRegistriesConf('[[registry]]\nlocation = "a.io"\n[[registry.mirror]]\nlocation = "m.io"\npull-from-mirror = "sometimes"'), invalid(/pull-from-mirror must be/));
    assert.throws(
      () => parseRegistriesConf('[[registry]]\nlocation = "a.io"\nmirror-by-digest-only = true\n[[registry.mirror]]\nlocation = "m.io"\npull-from-mirror = "all"'),
      invalid(/mirror-by-digest-only and .*pull-from-mirror/),
    );
    assert.throws(() => parseRegistriesConf('[[registry]]\nlocation = "a.io"\npull-from-mirror = "all"'), invalid(/not to the registry itself/));
  });

  test('one registry with conflicting insecure settings', () => {
    assert.throws(
      () => parseRegistriesConf('[[registry]]\nprefix = "a.io/x"\nlocation = "r.io"\ninsecure = true\n[[registry]]\nprefix = "a.io/y"\nlocation = "r.io"\n'),
      invalid(/conflicting "insecure"/),
    );
  });

  test('mixing version 1 and version 2 is refused', () => {
    assert.throws(() => parseRegistriesConf('unqualified-search-registries = ["a.io"]\n[registries.search]\nregistries = ["b.io"]'), invalid(/mixes the version 1 format/));
  });

  test('bad aliases', () => {
    assert.throws(() => parseRegistriesConf('[aliases]\n"quay.io/x" = "quay.io/x"'), invalid(/without a registry/));
    assert.throws(() => parseRegistriesConf('[aliases]\n"x:1" = "quay.io/x"'), invalid(/tag or digest/));
    assert.throws(() => parseRegistriesConf('[aliases]\n"x" = "x"'), invalid(/must include a registry/));
    assert.throws(() => parseRegistriesConf('[aliases]\n"x" = "quay.io/x:1"'), invalid(/must not contain a tag/));
    assert.throws(() => parseRegistriesConf('[aliases]\n"x" = 1'), invalid(/must be a string/));
  });

  test('NUL bytes and garbage', () => {
    assert.throws(() => parseRegistriesConf('unqualified-search-registries = ["a\u0000.io"]'), invalid(/./));
    assert.throws(() => parseRegistriesConf('\u0000\u0001\u0002'), invalid(/invalid TOML/));
  });

  test('a huge file is refused before parsing', async () => {
    const p = await file('huge/registries.conf', `# ${'x'.repeat(2 << 20)}\n`);
    await assert.rejects(loadRegistriesConf([p]), (e: unknown) => e instanceof WharfError && e.code === 'TOO_LARGE');
  });

  test('a missing main file is an error', async () => {
    await assert.rejects(loadRegistriesConf([join(root, 'nope.conf')]), invalid(/does not exist/));
  });

  test('a drop-in in version 1 format is refused', async () => {
    const main = await file(`v1drop/registries.conf`, '');
    const drop = await file(`v1drop/registries.conf.d/10.conf`, '[registries.search]\nregistries = ["a.io"]');
    await assert.rejects(loadRegistriesConf([main, drop]), invalid(/drop-in files must use the version 2 format/));
  });
});

describe('registries.conf files and drop-ins', () => {
  test('candidates: CONTAINERS_REGISTRIES_CONF, then system and user drop-ins', async () => {
    const base = join(root, `c${n++}`);
    const home = join(base, 'home');
    const sys = join(base, 'etc');
    const explicit = await file(`c${n - 1}/my.conf`, '');
    await file(`c${n - 1}/etc/registries.conf`, '');
    const s1 = await file(`c${n - 1}/etc/registries.conf.d/20-b.conf`, '');
    const s0 = await file(`c${n - 1}/etc/registries.conf.d/10-a.conf`, '');
    await file(`c${n - 1}/etc/registries.conf.d/30-ignored.txt`, '');
    await mkdir(join(sys, 'registries.conf.d', 'sub.conf'));
    const u0 = await file(`c${n - 1}/home/.config/containers/registries.conf.d/00.conf`, '');

    assert.deepEqual(await registriesConfCandidates({ CONTAINERS_REGISTRIES_CONF: explicit, HOME: home }, undefined, { systemDir: sys }), [explicit, s0, s1, u0]);
    assert.deepEqual(await registriesConfCandidates({ HOME: home }, explicit, { systemDir: sys }), [explicit, s0, s1, u0]);
    // No user file: the system file and both drop-in directories.
    assert.deepEqual(await registriesConfCandidates({ HOME: home }, undefined, { systemDir: sys }), [join(sys, 'registries.conf'), s0, s1, u0]);
    // A user file replaces the system file and its drop-ins.
    const userFile = await file(`c${n - 1}/home/.config/containers/registries.conf`, '');
    assert.deepEqual(await registriesConfCandidates({ HOME: home }, undefined, { systemDir: sys }), [userFile, u0]);
    // Nothing at all.
    assert.deepEqual(await registriesConfCandidates({ HOME: join(base, 'empty') }, undefined, { systemDir: join(base, 'none') }), []);
  });

  test('drop-ins override per prefix and per setting, in order', async () => {
    const main = await file(
      'merge/registries.conf',
      `
      unqualified-search-registries = ["a.io", "b.io"]
      short-name-mode = "enforcing"
      [[registry]]
      prefix = "x.io"
      location = "x-main.io"
      [[registry]]
      prefix = "y.io"
      location = "y-main.io"
      [aliases]
      "keep" = "k.io/keep"
      "drop" = "k.io/drop"
      "over" = "k.io/over"
      `,
    );
    const d1 = await file(
      'merge/registries.conf.d/10.conf',
      `
      [[registry]]
      prefix = "x.io"
      location = "x-drop.io"
      insecure = true
      [aliases]
      "drop" = ""
      "over" = "k.io/new"
      `,
    );
    const d2 = await file('merge/registries.conf.d/20.conf', 'unqualified-search-registries = ["c.io"]\n');
    const conf = await loadRegistriesConf([main, d1, d2]);
    assert.equal(conf.findRegistry('x.io/a')?.location, 'x-drop.io');
    assert.equal(conf.findRegistry('x.io/a')?.insecure, true);
    assert.equal(conf.findRegistry('y.io/a')?.location, 'y-main.io');
    assert.deepEqual(conf.unqualifiedSearchRegistries, ['c.io']);
    assert.equal(conf.unqualifiedSearchRegistriesOrigin, d2);
    assert.equal(conf.shortNameMode, 'enforcing');
    assert.equal(conf.resolveAlias('keep'), 'k.io/keep');
    assert.equal(conf.resolveAlias('drop'), undefined);
    assert.deepEqual(conf.resolveAliasWithOrigin('over'), { name: 'k.io/new', origin: d1 });
    assert.deepEqual(conf.files, [main, d1, d2]);
  });

  test('a drop-in that vanished after listing is skipped', async () => {
    const main = await file('vanish/registries.conf', 'unqualified-search-registries = ["a.io"]');
    const conf = await loadRegistriesConf([main, join(root, 'vanish', 'registries.conf.d', 'gone.conf')]);
    assert.deepEqual(conf.unqualifiedSearchRegistries, ['a.io']);
  });

  test('an empty configuration', async () => {
    const conf = await loadRegistriesConf([]);
    assert.deepEqual(conf.unqualifiedSearchRegistries, []);
    assert.equal(conf.shortNameMode, 'permissive');
    assert.equal(conf.pullSources({ domain: 'a.io', path: 'b' }).length, 1);
  });
});
