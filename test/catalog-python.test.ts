/**
 * Python distributions: every dist-info and egg-info of this machine's site-packages read as Python's own
 * importlib.metadata reads them (names PEP 503-normalised on both sides); METADATA and PKG-INFO as wheels and
 * setuptools write them; and hostile files — no headers, NUL bytes, a whole license text in License:, 20 MB of
 * headers, binary junk.
 */
import assert from 'node:assert/strict';
import { existsSync, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { catalog, catalogKind, normalizePypiName, parsePythonMetadata, type Package } from '../src/scan/catalog/index.js';
import { warnings } from './helpers/catalog-files.js';
import { requirePeer, runPeer } from './helpers/peers.js';

/** The distributions importlib.metadata finds directly in `dir`: normalised `name@version`. */
async function importlibList(dir: string): Promise<string[]> {
  const script = [
    'import importlib.metadata as m, json, re, sys',
    'out = []',
    'for d in m.distributions(path=[sys.argv[1]]):',
    "    n = d.metadata['Name']",
    "    if n: out.append(re.sub(r'[-_.]+', '-', n).lower() + '@' + d.version)",
    'print(json.dumps(out))',
  ].join('\n');
  return (JSON.parse(await runPeer('python3', ['-c', script, dir])) as string[]).sort();
}

/** The metadata files directly in a site-packages folder, as catalogPaths names them. */
async function metadataFiles(dir: string): Promise<{ path: string; data: Buffer }[]> {
  const out: { path: string; data: Buffer }[] = [];
  for (const entry of await fsp.readdir(dir, { withFileTypes: true })) {
    const candidates = entry.isDirectory() ? [`${entry.name}/METADATA`, `${entry.name}/PKG-INFO`] : entry.isFile() ? [entry.name] : [];
    for (const rel of candidates) {
      const path = `usr/lib/python3/site-packages/${rel}`;
      if (catalogKind(path)?.kind !== 'python-metadata') continue;
      const data = await fsp.readFile(join(dir, rel)).catch(() => undefined);
      if (data) out.push({ path, data });
    }
  }
  return out;
}

const listed = (pkgs: Package[]): string[] => pkgs.map((p) => `${p.name}@${p.version}`).sort();

describe('this machine', () => {
  test("every distribution in this machine's site-packages, as importlib.metadata lists it", async (t) => {
    if (!requirePeer(t, 'python3')) return;
    const dirs = JSON.parse(await runPeer('python3', ['-c', "import json, site; print(json.dumps(site.getsitepackages() + ['/usr/lib/python3/dist-packages']))"])) as string[];
    let total = 0;
    for (const dir of [...new Set(dirs)].filter((d) => existsSync(d))) {
      const w = warnings();
      const pkgs = (await metadataFiles(dir)).map((f) => parsePythonMetadata(f.data, { path: f.path, onWarning: w.on })).filter((p): p is Package => p !== undefined);
      assert.deepEqual(w.list, [], dir);
      assert.deepEqual(listed(pkgs), await importlibList(dir), dir);
      total += pkgs.length;
    }
    if (total === 0) t.skip('no installed Python distributions on this machine');
    else t.diagnostic(`${total} distributions compared`);
  });
});

const METADATA = `Metadata-Version: 2.1
Name: Requests
Version: 2.31.0
Summary: Python HTTP for Humans.
Home-page: https://requests.readthedocs.io
Author: Kenneth Reitz
Author-email: me@kennethreitz.org
License: Apache 2.0
Project-URL: Documentation, https://requests.readthedocs.io
Classifier: License :: OSI Approved :: Apache Software License
Classifier: Programming Language :: Python :: 3
Requires-Python: >=3.7
Description-Content-Type: text/markdown
License-File: LICENSE
Requires-Dist: charset-normalizer (<4,>=2)
Requires-Dist: idna (<4,>=2.5)
Provides-Extra: socks

# Requests

Name: not-a-header
Version: 0.0.0
`;

describe('parsePythonMetadata', () => {
  test('a wheel METADATA: name normalised, version, license; the description body is not read', () => {
    const w = warnings();
    const pkg = parsePythonMetadata(Buffer.from(METADATA), { path: 'usr/lib/python3/site-packages/requests-2.31.0.dist-info/METADATA', onWarning: w.on });
    assert.deepEqual(w.list, []);
    assert.deepEqual(pkg, {
      type: 'pypi',
      name: 'requests',
      version: '2.31.0',
      path: 'usr/lib/python3/site-packages/requests-2.31.0.dist-info/METADATA',
      licenses: ['Apache 2.0'],
      purl: 'pkg:pypi/requests@2.31.0',
    });
  });

  test('PEP 503 names, License-Expression over License, PEP 440 versions, CRLF', () => {
    const pkg = parsePythonMetadata(Buffer.from('Metadata-Version: 2.4\r\nName: Zope.Interface__Extra\r\nVersion: 1!2.0.post1+local.7\r\nLicense: ignored\r\nLicense-Expression: MIT OR Apache-2.0\r\n\r\nbody'));
    assert.equal(pkg?.name, 'zope-interface-extra');
    assert.equal(pkg?.version, '1!2.0.post1+local.7');
    assert.deepEqual(pkg?.licenses, ['MIT OR Apache-2.0']);
    assert.equal(pkg?.purl, 'pkg:pypi/zope-interface-extra@1%212.0.post1%2Blocal.7');
    assert.equal(normalizePypiName('ruamel.yaml'), 'ruamel-yaml');
  });

  test('an egg-info PKG-INFO (setuptools) and an egg-info file (distutils)', () => {
    const info = 'Metadata-Version: 1.1\nName: PyYAML\nVersion: 6.0\nSummary: YAML parser and emitter for Python\nLicense: UNKNOWN\nPlatform: Any\n';
    const r = catalog([
      { path: 'usr/lib/python3/dist-packages/PyYAML-6.0.egg-info/PKG-INFO', data: Buffer.from(info) },
      { path: 'usr/lib/python2.7/dist-packages/PyYAML-6.0.egg-info', data: Buffer.from(info) },
    ]);
    assert.deepEqual(r.packages.map((p) => [p.name, p.version, p.path, p.alsoAt, p.licenses]), [
      ['pyyaml', '6.0', 'usr/lib/python2.7/dist-packages/PyYAML-6.0.egg-info', ['usr/lib/python3/dist-packages/PyYAML-6.0.egg-info/PKG-INFO'], undefined],
    ]);
  });

  test('a whole license text in License: not kept as a license', () => {
    const text = `Name: gpl\nVersion: 1.0\nLicense: GNU GENERAL PUBLIC LICENSE\n        Version 3, 29 June 2007\n        ${'Everyone is permitted to copy. '.repeat(50)}\n\n`;
    assert.equal(parsePythonMetadata(Buffer.from(text))?.licenses, undefined);
  });

  test('no headers, no Name, no Version, invalid Name or Version: skipped, with a warning', () => {
    const cases = ['', '\n\nName: after-body\nVersion: 1', 'Version: 1.0\n', 'Name: x\n', 'Name: ../../etc\nVersion: 1', 'Name: x\nVersion: 1.0; rm -rf /', 'Name: -x\nVersion: 1', `Name: x\nVersion: ${'1'.repeat(1000)}`];
    for (const text of cases) {
      const w = warnings();
      assert.equal(parsePythonMetadata(Buffer.from(text), { onWarning: w.on }), undefined, JSON.stringify(text));
      assert.equal(w.list.length, 1, JSON.stringify(text));
    }
  });

  test('NUL bytes in the headers: the line is dropped with a warning', () => {
    const w = warnings();
    const pkg = parsePythonMetadata(Buffer.from('Name: ok\nSummary: a\x00b\nVersion: 1.0\n'), { onWarning: w.on });
    assert.equal(pkg?.version, '1.0');
    assert.match(w.list.join('\n'), /NUL/);
    assert.equal(parsePythonMetadata(Buffer.from('Name: ok\nVersion: 1.0\x00evil\n'), { onWarning: () => {} }), undefined);
  });

  test('20 MB of headers: the first MiB read, with a warning; catalog refuses the file over its size cap', () => {
    const big = Buffer.from(`Name: big\nVersion: 1.0\n${'Classifier: x\n'.repeat((20 << 20) / 14)}`);
    const w = warnings();
    assert.equal(parsePythonMetadata(big, { onWarning: w.on })?.name, 'big');
    assert.match(w.list[0]!, /only the first read/);
    const c = warnings();
    assert.deepEqual(catalog([{ path: 'x.dist-info/METADATA', data: big }], c.on).packages, []);
    assert.match(c.list[0]!, /bytes, more than the \d+ a python-metadata file may have; skipped/);
  });

  test('binary junk: nothing, at most a few warnings', () => {
    const junk = Buffer.from(Array.from({ length: 1 << 16 }, (_, i) => (i * 40503) & 0xff));
    const w = warnings();
    assert.equal(parsePythonMetadata(junk, { onWarning: w.on }), undefined);
    assert.ok(w.list.length >= 1 && w.list.length <= 11);
  });
});
