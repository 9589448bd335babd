/**
 * npm: lockfiles v1, v2 and v3 written here and read as npm itself reads them (`npm query --package-lock-only`);
 * the installed tree of this machine's npm (node_modules/**\/package.json) against `npm query` on it; and
 * hostile JSON — a package.json that is an array, deeply nested JSON, a lockfile with __proto__ keys (no
 * prototype pollution), objects where strings belong, URLs as versions, invalid names.
 */
import assert from 'node:assert/strict';
import { existsSync, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { catalog, catalogKind, parseInstalledPackageJson, parsePackageLock, type Package } from '../src/scan/catalog/index.js';
import { regularFiles, warnings } from './helpers/catalog-files.js';
import { requirePeer, runPeer, tempDir } from './helpers/peers.js';

interface QueryNode {
  name: string;
  version: string;
  location: string;
  dev: boolean;
}

/** What npm says a lockfile (or an installed tree) holds: `name@version` (+ ` dev`), in node_modules only. */
async function npmQuery(dir: string, lockOnly: boolean): Promise<string[]> {
  const args = ['query', '--offline', ...(lockOnly ? ['--package-lock-only'] : []), '--prefix', dir, '*'];
  const nodes = JSON.parse(await runPeer('npm', args)) as QueryNode[];
  return nodes
    .filter((n) => /(^|\/)node_modules\//.test(n.location))
    .map((n) => `${n.name}@${n.version}${n.dev ? ' dev' : ''}`)
    .sort();
}

const listed = (pkgs: Package[]): string[] => pkgs.map((p) => `${p.name}@${p.version}${p.dev ? ' dev' : ''}`).sort();

const MANIFEST = { name: 'app', version: '1.0.0', workspaces: ['packages/*'], dependencies: { a: '^1.0.0', alias: 'npm:real@^1.0.0', '@scope/s': '2' }, devDependencies: { d: '1' } };

const V3 = {
  name: 'app',
  version: '1.0.0',
  lockfileVersion: 3,
  requires: true,
  packages: {
    '': { name: 'app', version: '1.0.0', workspaces: ['packages/*'], dependencies: MANIFEST.dependencies, devDependencies: MANIFEST.devDependencies },
    'node_modules/a': { version: '1.2.3', resolved: 'https://registry.npmjs.org/a/-/a-1.2.3.tgz', integrity: 'sha512-a', license: 'MIT', dependencies: { b: '^2' } },
    'node_modules/a/node_modules/b': { version: '2.0.0', resolved: 'https://registry.npmjs.org/b/-/b-2.0.0.tgz', integrity: 'sha512-b' },
    'node_modules/b': { version: '1.0.0', dev: true, resolved: 'https://registry.npmjs.org/b/-/b-1.0.0.tgz', integrity: 'sha512-b1' },
    'node_modules/alias': { name: 'real', version: '1.0.1', resolved: 'https://registry.npmjs.org/real/-/real-1.0.1.tgz', integrity: 'sha512-r' },
    'node_modules/@scope/s': { version: '2.1.0-beta.1', resolved: 'https://registry.npmjs.org/@scope/s/-/s-2.1.0-beta.1.tgz', integrity: 'sha512-s', license: 'ISC' },
    'node_modules/d': { version: '1.0.0', dev: true, resolved: 'https://registry.npmjs.org/d/-/d-1.0.0.tgz', integrity: 'sha512-d', dependencies: { b: '1' } },
    'node_modules/ws': { resolved: 'packages/ws', link: true },
    'packages/ws': { name: 'ws', version: '0.0.1' },
  },
};

/** v2: `packages` as v3, plus the v1 `dependencies` tree that older npm reads; `packages` wins. */
const V2 = {
  ...V3,
  lockfileVersion: 2,
  dependencies: {
    a: { version: '1.2.3', requires: { b: '^2' }, dependencies: { b: { version: '2.0.0' } } },
    b: { version: '1.0.0', dev: true },
    alias: { version: 'npm:real@1.0.1' },
    '@scope/s': { version: '2.1.0-beta.1' },
    d: { version: '1.0.0', dev: true },
    ws: { version: 'file:packages/ws' },
    ignored: { version: '9.9.9' },
  },
};

const V1 = {
  name: 'app',
  version: '1.0.0',
  lockfileVersion: 1,
  requires: true,
  dependencies: {
    a: { version: '1.2.3', resolved: 'https://registry.npmjs.org/a/-/a-1.2.3.tgz', integrity: 'sha512-a', requires: { b: '^2' }, dependencies: { b: { version: '2.0.0', resolved: 'https://registry.npmjs.org/b/-/b-2.0.0.tgz', integrity: 'sha512-b' } } },
    b: { version: '1.0.0', dev: true, resolved: 'https://registry.npmjs.org/b/-/b-1.0.0.tgz', integrity: 'sha512-b1' },
    alias: { version: 'npm:real@1.0.1', resolved: 'https://registry.npmjs.org/real/-/real-1.0.1.tgz', integrity: 'sha512-r' },
    '@scope/s': { version: '2.1.0-beta.1', resolved: 'https://registry.npmjs.org/@scope/s/-/s-2.1.0-beta.1.tgz', integrity: 'sha512-s' },
    d: { version: '1.0.0', dev: true, resolved: 'https://registry.npmjs.org/d/-/d-1.0.0.tgz', integrity: 'sha512-d' },
  },
};

const EXPECTED = ['@scope/s@2.1.0-beta.1', 'a@1.2.3', 'b@1.0.0 dev', 'b@2.0.0', 'd@1.0.0 dev', 'real@1.0.1'];

describe('parsePackageLock', () => {
  for (const [name, lock, manifest] of [
    ['v1', V1, { ...MANIFEST, workspaces: undefined }],
    ['v2', V2, MANIFEST],
    ['v3', V3, MANIFEST],
  ] as const) {
    test(`lockfileVersion ${name}: the packages npm reads from it, with dev flags, aliases resolved, workspaces and links left out`, async (t) => {
      const w = warnings();
      const pkgs = parsePackageLock(Buffer.from(JSON.stringify(lock, null, 2)), { path: 'app/package-lock.json', onWarning: w.on });
      assert.deepEqual(listed(pkgs), EXPECTED);
      assert.deepEqual(w.list, []);
      assert.equal(pkgs.find((p) => p.name === '@scope/s')!.purl, 'pkg:npm/%40scope/s@2.1.0-beta.1');
      if (name !== 'v1') assert.deepEqual(pkgs.find((p) => p.name === 'a')!.licenses, ['MIT']);
      if (!requirePeer(t, 'npm')) return;
      const dir = await tempDir(t, 'wharf-catalog-npm-');
      await fsp.writeFile(join(dir, 'package.json'), JSON.stringify(manifest));
      await fsp.mkdir(join(dir, 'packages/ws'), { recursive: true });
      await fsp.writeFile(join(dir, 'packages/ws/package.json'), JSON.stringify({ name: 'ws', version: '0.0.1' }));
      await fsp.writeFile(join(dir, 'package-lock.json'), JSON.stringify(lock));
      assert.deepEqual(listed(pkgs), await npmQuery(dir, true));
    });
  }

  test("this project's own lockfile, against npm", async (t) => {
    const root = new URL('../..', import.meta.url).pathname;
    if (!existsSync(join(root, 'package-lock.json'))) {
      t.skip('no package-lock.json');
      return;
    }
    if (!requirePeer(t, 'npm')) return;
    const pkgs = parsePackageLock(await fsp.readFile(join(root, 'package-lock.json')));
    assert.ok(pkgs.length >= 3);
    assert.deepEqual(listed(pkgs), await npmQuery(root, true));
  });

  test('git, file: and tarball dependencies of a v1 lockfile have no registry version: skipped, with a warning', () => {
    const w = warnings();
    const lock = { lockfileVersion: 1, dependencies: { g: { version: 'github:user/repo#abc123' }, f: { version: 'file:../f' }, u: { version: 'https://example.com/u.tgz' }, ok: { version: '1.0.0' } } };
    assert.deepEqual(listed(parsePackageLock(Buffer.from(JSON.stringify(lock)), { onWarning: w.on })), ['ok@1.0.0']);
    assert.equal(w.list.length, 3);
  });

  test('a lockfile with __proto__ keys: just keys, no prototype pollution', () => {
    const text = `{
      "__proto__": {"polluted": "top", "packages": {"node_modules/evil": {"version": "6.6.6"}}},
      "lockfileVersion": 3,
      "packages": {
        "__proto__": {"polluted": "packages", "version": "1.0.0"},
        "node_modules/__proto__": {"version": "1.0.0", "__proto__": {"polluted": "entry"}},
        "node_modules/constructor": {"version": "1.0.0"},
        "node_modules/hasOwnProperty": {"version": "2.0.0"},
        "node_modules/x": {"version": "1.0.0", "__proto__": {"dev": true, "name": "evil"}},
        "node_modules/toString": {"name": "valueOf", "version": "3.0.0"}
      }
    }`;
    const w = warnings();
    const r = catalog([{ path: 'package-lock.json', data: Buffer.from(text) }], w.on);
    assert.deepEqual(listed(r.packages), ['constructor@1.0.0', 'hasOwnProperty@2.0.0', 'valueOf@3.0.0', 'x@1.0.0']);
    const probe = {} as Record<string, unknown>;
    assert.equal(probe.polluted, undefined);
    assert.equal(probe.dev, undefined);
    assert.equal(Object.prototype.hasOwnProperty.call(Object.prototype, 'polluted'), false);
    assert.equal(typeof probe.hasOwnProperty, 'function');
    assert.match(w.list.join('\n'), /"__proto__" is not a valid package name/);
  });

  test('objects where strings belong (even with toString and valueOf keys), arrays where objects belong', () => {
    const lock = {
      lockfileVersion: { toString: 'x', valueOf: 1 },
      packages: {
        'node_modules/a': { version: { toString: 'x' } },
        'node_modules/b': [1, 2],
        'node_modules/c': { version: ['1.0.0'] },
        'node_modules/d': { name: 42, version: '1.0.0' },
        'node_modules/e': { version: '1.0.0', license: { toString: 'x' } },
        'node_modules/f': null,
      },
    };
    const w = warnings();
    const pkgs = parsePackageLock(Buffer.from(JSON.stringify(lock)), { onWarning: w.on });
    assert.deepEqual(listed(pkgs), ['d@1.0.0', 'e@1.0.0']);
    assert.equal(pkgs[1]!.licenses, undefined);
    assert.equal(w.list.length, 5, w.list.join('\n'));
  });

  test('deeply nested JSON: a v1 tree 100k dependencies deep is walked without recursion', () => {
    // JSON.stringify would recurse; build the text by hand.
    const parts: string[] = [];
    for (let i = 0; i < 100_000; i++) parts.push(`{"p${i}":{"version":"1.0.${i}","dependencies":`);
    const text = `{"lockfileVersion":1,"dependencies":${parts.join('')}{}${'}}'.repeat(100_000)}}`;
    const pkgs = parsePackageLock(Buffer.from(text));
    assert.equal(pkgs.length, 100_000);
  });

  test('not a lockfile: an array, a string, invalid JSON, an empty object', () => {
    for (const text of ['[1,2,3]', '"lockfile"', '{"lockfileVersion": 3, "packages": {', '{}', '\u0000\u0001']) {
      const w = warnings();
      assert.deepEqual(parsePackageLock(Buffer.from(text), { onWarning: w.on }), []);
      assert.equal(w.list.length, 1, `${JSON.stringify(text)}: ${w.list.join('\n')}`);
    }
  });
});

describe('parseInstalledPackageJson', () => {
  test("this machine's npm: every package installed under its node_modules, as npm query lists them", async (t) => {
    const root = '/usr/lib/node_modules/npm';
    if (!existsSync(join(root, 'node_modules'))) {
      t.skip(`${root} is not there`);
      return;
    }
    if (!requirePeer(t, 'npm')) return;
    const files = await regularFiles(root, (p) => catalogKind(p)?.kind === 'npm-package');
    const w = warnings();
    const pkgs = files.map((f) => parseInstalledPackageJson(f.data, { path: f.path, onWarning: w.on })).filter((p): p is Package => p !== undefined);
    assert.deepEqual(w.list, []);
    assert.ok(pkgs.length > 50, `${pkgs.length}`);
    assert.deepEqual(listed(pkgs), await npmQuery(root, false));
  });

  test('a package.json that is an array, a string, null, invalid JSON: skipped with a warning', () => {
    for (const text of ['[{"name":"a","version":"1.0.0"}]', '"a"', 'null', '{"name":', '']) {
      const w = warnings();
      assert.equal(parseInstalledPackageJson(Buffer.from(text), { onWarning: w.on }), undefined);
      assert.equal(w.list.length, 1, text);
    }
  });

  test('deeply nested JSON in a package.json: read, the nesting ignored', () => {
    const deep = `${'['.repeat(500_000)}${']'.repeat(500_000)}`;
    const pkg = parseInstalledPackageJson(Buffer.from(`{"name":"deep","version":"1.0.0","config":${deep},"license":${deep}}`));
    assert.equal(pkg?.name, 'deep');
    assert.equal(pkg?.licenses, undefined);
  });

  test('names and versions no package has: refused; private packages (workspaces, local folders) are not packages', () => {
    const cases: [unknown, string | undefined][] = [
      [{ name: '__proto__', version: '1.0.0' }, undefined],
      [{ name: '../../etc', version: '1.0.0' }, undefined],
      [{ name: '.hidden', version: '1.0.0' }, undefined],
      [{ name: 'a b', version: '1.0.0' }, undefined],
      [{ name: '@scope/', version: '1.0.0' }, undefined],
      [{ name: 'x'.repeat(215), version: '1.0.0' }, undefined],
      [{ name: 'ok', version: '^1.0.0' }, undefined],
      [{ name: 'ok', version: 'latest' }, undefined],
      [{ name: 'ok', version: '1.0.0; rm -rf /' }, undefined],
      [{ name: 'ok', version: 'git+https://github.com/a/b.git' }, undefined],
      [{ name: 'ws', version: '1.0.0', private: true }, undefined],
      [{ name: 'JSONStream', version: '1.3.5' }, 'pkg:npm/jsonstream@1.3.5'],
      [{ name: '@Scope/Pkg', version: 'v1.0.0', license: 'MIT' }, 'pkg:npm/%40scope/pkg@v1.0.0'],
      [{ name: 'old', version: '1.0.0', licenses: [{ type: 'MIT' }, { type: 'Apache-2.0' }] }, 'pkg:npm/old@1.0.0'],
    ];
    for (const [json, purl] of cases) {
      const pkg = parseInstalledPackageJson(Buffer.from(JSON.stringify(json)), { onWarning: () => {} });
      assert.equal(pkg?.purl, purl, JSON.stringify(json).slice(0, 80));
    }
    assert.deepEqual(parseInstalledPackageJson(Buffer.from(JSON.stringify(cases.at(-1)![0])))!.licenses, ['MIT', 'Apache-2.0']);
  });

  test('a UTF-8 byte order mark is allowed', () => {
    assert.equal(parseInstalledPackageJson(Buffer.from('\ufeff{"name":"bom","version":"1.0.0"}'))?.name, 'bom');
  });
});
