/**
 * The cataloguer as a scanner uses it: catalogPaths selects, out of the debian bench image's 6657 paths, the
 * few it needs, and catalog() over them equals what the parsers say; paths of every kind selected and not;
 * packages de-duplicated across files in any order; purls built as the purl-spec examples have them; size caps.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { imageTree } from '../src/filesystem/image-tree.js';
import { extractImage } from '../src/filesystem/extract.js';
import { parseReference } from '../src/index.js';
import { catalog, catalogKind, catalogPaths, formatPurl, normalizeCatalogPath, packageUrl, type CatalogFile } from '../src/scan/catalog/index.js';
import { regularFiles, warnings } from './helpers/catalog-files.js';
import { tempDir } from './helpers/peers.js';

const FIXTURE = '/tmp/wharf-fixtures/oci/debian';

describe('catalogPaths', () => {
  test('out of the debian bench image, only its release files and dpkg database', { timeout: 120_000 }, async (t) => {
    if (!existsSync(join(FIXTURE, 'index.json'))) {
      t.skip(`${FIXTURE} is not there (../shared/bench/make-fixtures.sh makes it)`);
      return;
    }
    const { tree, image } = await imageTree(parseReference(`oci:${FIXTURE}:latest`));
    let wanted: string[];
    try {
      assert.ok(tree.paths().length > 1000);
      wanted = tree.paths().filter((p) => catalogKind(p) !== undefined && tree.get(p)!.entry.type === 'file');
    } finally {
      await image.close();
    }
    assert.deepEqual(wanted.sort(), ['etc/debian_version', 'usr/lib/os-release', 'var/lib/dpkg/status']);
    const dir = await tempDir(t, 'wharf-catalog-index-');
    await extractImage(`oci:${FIXTURE}:latest`, wanted.map((p) => `/${p}`), join(dir, 'root'));
    const w = warnings();
    const r = catalog(await regularFiles(join(dir, 'root')), w.on);
    assert.deepEqual(w.list, []);
    assert.equal(r.os?.id, 'debian');
    assert.ok(r.packages.length > 50);
    assert.ok(r.packages.every((p) => p.purl.endsWith('distro=debian-12') && p.purl.startsWith('pkg:deb/debian/')));
  });

  test('which paths are of which kind', () => {
    const kinds: [string, string | undefined][] = [
      ['etc/os-release', 'os-release'],
      ['/usr/lib/os-release', 'os-release'],
      ['./etc/debian_version', 'debian_version'],
      ['etc/alpine-release', 'alpine-release'],
      ['var/lib/dpkg/status', 'dpkg-status'],
      ['var/lib/dpkg/status-old', undefined],
      ['var/lib/dpkg/status.d/base-files', 'dpkg-status.d'],
      ['var/lib/dpkg/status.d/base-files.md5sums', undefined],
      ['var/lib/dpkg/status.d/.hidden', undefined],
      ['var/lib/dpkg/status.d/sub/file', undefined],
      ['lib/apk/db/installed', 'apk-installed'],
      ['usr/lib/apk/db/installed', 'apk-installed'],
      ['lib/apk/db/installed.old', undefined],
      ['app/package-lock.json', 'npm-lockfile'],
      ['package-lock.json', 'npm-lockfile'],
      ['srv/npm-shrinkwrap.json', 'npm-lockfile'],
      ['app/node_modules/.package-lock.json', 'npm-lockfile'],
      ['app/node_modules/foo/package-lock.json', undefined],
      ['app/package.json', undefined],
      ['usr/lib/node_modules/npm/package.json', 'npm-package'],
      ['app/node_modules/@scope/pkg/package.json', 'npm-package'],
      ['app/node_modules/a/node_modules/b/package.json', 'npm-package'],
      ['app/node_modules/a/lib/package.json', undefined],
      ['app/node_modules/@scope/package.json', undefined],
      ['app/node_modules/.bin/package.json', undefined],
      ['usr/lib/python3/dist-packages/PyYAML-6.0.dist-info/METADATA', 'python-metadata'],
      ['usr/local/lib/python3.12/site-packages/pip-24.0.dist-info/METADATA', 'python-metadata'],
      ['usr/lib/python3/dist-packages/Pygments-2.14.0.egg-info/PKG-INFO', 'python-metadata'],
      ['usr/lib/python2.7/dist-packages/foo-1.0.egg-info', 'python-metadata'],
      ['usr/lib/python3/dist-packages/x.dist-info/RECORD', undefined],
      ['etc/passwd', undefined],
    ];
    for (const [path, kind] of kinds) assert.equal(catalogKind(path)?.kind, kind, path);
    assert.equal(normalizeCatalogPath('//var/./lib//dpkg/status'), 'var/lib/dpkg/status');
    for (const c of catalogPaths()) assert.ok(c.maxBytes > 0 && c.glob.length > 0);
    assert.throws(() => (catalogPaths() as unknown as unknown[]).push({}), 'the table is frozen');
  });
});

describe('catalog', () => {
  const lock = JSON.stringify({
    lockfileVersion: 3,
    packages: { '': { name: 'app' }, 'node_modules/left-pad': { version: '1.3.0', dev: true }, 'node_modules/@types/node': { version: '20.1.0' } },
  });
  const hidden = JSON.stringify({ lockfileVersion: 3, packages: { 'node_modules/left-pad': { version: '1.3.0' } } });
  const files: CatalogFile[] = [
    { path: '/app/package-lock.json', data: Buffer.from(lock) },
    { path: 'app/node_modules/.package-lock.json', data: Buffer.from(hidden) },
    { path: 'app/node_modules/left-pad/package.json', data: Buffer.from('{"name":"left-pad","version":"1.3.0","license":"WTFPL"}') },
    { path: 'var/lib/dpkg/status', data: Buffer.from('Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nSource: glibc\nVersion: 2.36-9+deb12u4\n') },
    { path: 'var/lib/dpkg/status.d/libc6', data: Buffer.from('Package: libc6\nArchitecture: amd64\nSource: glibc\nVersion: 2.36-9+deb12u4\n') },
    { path: 'etc/passwd', data: Buffer.from('root:x:0:0::/root:/bin/sh\n') },
    { path: 'usr/lib/os-release', data: Buffer.from('ID=ubuntu\nVERSION_ID="22.04"\nVERSION="22.04.4 LTS (Jammy Jellyfish)"\n') },
  ];

  test('de-duplicated by purl, the other files in alsoAt, dev only where every file says so, in any order', () => {
    const orders = [files, [...files].reverse(), [files[3]!, files[6]!, files[2]!, files[0]!, files[5]!, files[1]!, files[4]!]];
    const results = orders.map((o) => catalog(o));
    for (const r of results.slice(1)) assert.deepEqual(r, results[0]);
    const r = results[0]!;
    assert.equal(r.os?.id, 'ubuntu');
    assert.deepEqual(
      r.packages.map((p) => [p.type, p.name, p.version, p.path, p.alsoAt, p.dev, p.licenses, p.purl]),
      [
        ['dpkg', 'libc6', '2.36-9+deb12u4', 'var/lib/dpkg/status', ['var/lib/dpkg/status.d/libc6'], undefined, undefined, 'pkg:deb/ubuntu/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=ubuntu-22.04'],
        ['npm', '@types/node', '20.1.0', 'app/package-lock.json', undefined, undefined, undefined, 'pkg:npm/%40types/node@20.1.0'],
        ['npm', 'left-pad', '1.3.0', 'app/node_modules/.package-lock.json', ['app/node_modules/left-pad/package.json', 'app/package-lock.json'], undefined, ['WTFPL'], 'pkg:npm/left-pad@1.3.0'],
      ],
    );
  });

  test('without an os-release, OS packages get their ecosystem\'s home vendor and no distro', () => {
    const r = catalog([files[3]!, { path: 'lib/apk/db/installed', data: Buffer.from('P:musl\nV:1.2.5-r0\nA:aarch64\n') }]);
    assert.equal(r.os, undefined);
    assert.deepEqual(r.packages.map((p) => p.purl), ['pkg:apk/alpine/musl@1.2.5-r0?arch=aarch64', 'pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64']);
  });

  test('a file over its size cap is skipped with one warning, and never parsed', () => {
    const w = warnings();
    const huge = Buffer.alloc(65 << 20, 0x41);
    const r = catalog([{ path: 'var/lib/dpkg/status', data: huge }, { path: 'etc/os-release', data: Buffer.alloc(100_000, 0x41) }, files[6]!], w.on);
    assert.deepEqual(r.packages, []);
    assert.equal(r.os?.id, 'ubuntu');
    assert.equal(w.list.length, 2);
    assert.match(w.list[0]!, /var\/lib\/dpkg\/status: 68157440 bytes, more than the 67108864 a dpkg-status file may have; skipped/);
  });

  test('files it does not need are ignored, whatever they hold', () => {
    const w = warnings();
    assert.deepEqual(catalog([{ path: 'etc/shadow', data: Buffer.from([0, 1, 2]) }, { path: 'app/package.json', data: Buffer.from('[') }], w.on), { packages: [] });
    assert.deepEqual(w.list, []);
  });
});

describe('purls', () => {
  test('the purl-spec examples, built from their parts', () => {
    assert.equal(formatPurl({ type: 'deb', namespace: 'debian', name: 'curl', version: '7.50.3-1', qualifiers: { arch: 'i386', distro: 'jessie' } }), 'pkg:deb/debian/curl@7.50.3-1?arch=i386&distro=jessie');
    assert.equal(formatPurl({ type: 'deb', namespace: 'debian', name: 'attr', version: '1:2.4.47-2+b1', qualifiers: { arch: 'amd64' } }), 'pkg:deb/debian/attr@1:2.4.47-2%2Bb1?arch=amd64');
    assert.equal(formatPurl({ type: 'npm', namespace: '@angular', name: 'animation', version: '12.3.1' }), 'pkg:npm/%40angular/animation@12.3.1');
    assert.equal(formatPurl({ type: 'apk', namespace: 'alpine', name: 'curl', version: '7.83.0-r0', qualifiers: { arch: 'x86' } }), 'pkg:apk/alpine/curl@7.83.0-r0?arch=x86');
    assert.equal(formatPurl({ type: 'rpm', namespace: 'fedora', name: 'curl', version: '7.50.3-1.fc25', qualifiers: { arch: 'i386', distro: 'fedora-25' } }), 'pkg:rpm/fedora/curl@7.50.3-1.fc25?arch=i386&distro=fedora-25');
    assert.equal(formatPurl({ type: 'pypi', name: 'django-allauth', version: '12.23' }), 'pkg:pypi/django-allauth@12.23');
    // Qualifiers sorted, empty ones dropped, values percent-encoded.
    assert.equal(formatPurl({ type: 'deb', namespace: 'debian', name: 'x', version: '1 ü', qualifiers: { z: 'a&b=c', arch: '', a: undefined } }), 'pkg:deb/debian/x@1%20%C3%BC?z=a%26b%3Dc');
  });

  test('per type: names lowercased where the type says so, RPM epochs as a qualifier, PyPI names normalised', () => {
    const os = { id: 'rhel', versionId: '9.4' };
    assert.equal(packageUrl({ type: 'rpm', name: 'NetworkManager', version: '1:1.46.0-8.el9', arch: 'x86_64' }, os), 'pkg:rpm/rhel/NetworkManager@1.46.0-8.el9?arch=x86_64&distro=rhel-9.4&epoch=1');
    assert.equal(packageUrl({ type: 'dpkg', name: 'Upper', version: '1' }), 'pkg:deb/debian/upper@1');
    assert.equal(packageUrl({ type: 'pypi', name: 'Zope.Interface', version: '6.0' }), 'pkg:pypi/zope-interface@6.0');
    assert.equal(packageUrl({ type: 'npm', name: 'JSONStream', version: '1.3.5' }), 'pkg:npm/jsonstream@1.3.5');
  });
});
