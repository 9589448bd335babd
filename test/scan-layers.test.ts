/**
 * Which layer installed each package, and so holds each vulnerability (issue #6, trivy's `Layer`): on the bench
 * fixtures (one layer; debian + app layers that leave dpkg alone), on images built here on the fixture's real
 * dpkg database (a later layer upgrading one package and installing another), and on small synthetic histories:
 * upgrade, install, remove then reinstall (by rewriting the file and by whiteout), status.d, npm, rpm; with the
 * earlier versions' warnings not repeated, and the layer in the text and JSON reports.
 */
import assert from 'node:assert/strict';
import { existsSync, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { run } from '../src/cli/app.js';
import type { CliIO } from '../src/cli/types.js';
import { openImage } from '../src/filesystem/image-layers.js';
import * as library from '../src/index.js';
import { parseReference } from '../src/index.js';
import { catalogKind, type Package } from '../src/scan/catalog/index.js';
import { readImageFiles } from '../src/scan/image-files.js';
import { isRpmDatabasePath } from '../src/scan/rpmdb/index.js';
import { OsvMatcher } from '../src/scan/match.js';
import { validateOsvRecord, type OsvRecord } from '../src/scan/osv/index.js';
import { reportJson, reportText } from '../src/scan/report-text.js';
import { scanImage, type ScanReport } from '../src/scan/scan.js';
import { buildLayout, type BuiltLayout, type FileSpec, type LayerSpec } from './helpers/images.js';
import { tempDir } from './helpers/peers.js';
import { simpleHeader, sqliteFile } from './helpers/rpmdb.js';
import { Sink } from './helpers/sink.js';

const FIXTURES = '/tmp/wharf-fixtures/oci';
const DEBIAN = join(FIXTURES, 'debian');
const APP = join(FIXTURES, 'debian-app');

function fixture(t: TestContext, dir: string): boolean {
  if (existsSync(dir)) return true;
  t.skip(`the bench fixtures are not in ${dir} (make them with ../shared/bench/make-fixtures.sh)`);
  return false;
}

const STATUS = 'var/lib/dpkg/status';
const OS_RELEASE: FileSpec = { path: 'etc/os-release', content: 'ID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n' };

/** A dpkg status file of installed packages. */
function status(...pkgs: [name: string, version: string, source?: string][]): string {
  return pkgs.map(([name, version, source]) => `Package: ${name}\nStatus: install ok installed\nArchitecture: amd64\n${source ? `Source: ${source}\n` : ''}Version: ${version}\n`).join('\n');
}

async function build(t: TestContext, layers: LayerSpec[]): Promise<{ ref: string; layout: BuiltLayout }> {
  const dir = await tempDir(t, 'wharf-scan-layers-');
  const layout = await buildLayout(join(dir, 'l'), [{ tag: 'v1', layers }]);
  return { ref: `oci:${layout.dir}:v1`, layout };
}

/** `name version → layer` for every package of a type. */
function layersOf(report: ScanReport, type: Package['type'] = 'dpkg'): Record<string, number | undefined> {
  return Object.fromEntries(report.packages.filter((p) => p.type === type).map((p) => [`${p.name} ${p.version}`, p.layer?.index]));
}

function record(id: string, name: string, events: Record<string, string>[]): OsvRecord {
  const r = validateOsvRecord({ schema_version: '1.6.0', id, modified: '2026-11-01T00:00:00Z', affected: [{ package: { ecosystem: 'Debian:12', name }, ranges: [{ type: 'ECOSYSTEM', events }] }] });
  assert.ok(r, `${id} is a valid record`);
  return r;
}

function lookup(records: OsvRecord[]) {
  return async (ecosystem: string, name: string): Promise<OsvRecord[]> => records.filter((r) => r.affected.some((a) => a.package.ecosystem === ecosystem && a.package.name === name));
}

describe('the bench fixtures', () => {
  test('debian (one layer): every dpkg package is in layer 1, with the manifest’s layer digest and the config’s diff_id', async (t) => {
    if (!fixture(t, DEBIAN)) return;
    const image = await openImage(parseReference(`oci:${DEBIAN}:latest`));
    await image.close();
    assert.equal(image.layers.length, 1);
    const r = await scanImage(parseReference(`oci:${DEBIAN}:latest`), { secrets: false });
    const dpkg = r.packages.filter((p) => p.type === 'dpkg');
    assert.ok(dpkg.length > 80);
    for (const p of dpkg) assert.deepEqual(p.layer, { index: 1, digest: image.layers[0]!.digest, diffID: image.diffIds[0] }, p.name);
  });

  test('debian-app: its later layers install nothing (truth file, history), so every package is the base layer’s', async (t) => {
    if (!fixture(t, APP)) return;
    const truth = JSON.parse(await fsp.readFile(`${APP}.truth.json`, 'utf8')) as { layers: { index: number; digest: string }[]; layer_paths: Record<string, string[]> };
    // What the fixture's later layers hold: no package database is among them, and no history step runs apt.
    for (const paths of Object.values(truth.layer_paths)) assert.deepEqual(paths.filter((p) => catalogKind(p) !== undefined || isRpmDatabasePath(p) || p.startsWith('/var/lib/dpkg/')), [], 'no later layer touches a package database');
    const image = await openImage(parseReference(`oci:${APP}:latest`));
    await image.close();
    assert.deepEqual(image.layers.map((l) => l.digest), truth.layers.map((l) => l.digest));
    assert.ok(!(image.config.history ?? []).slice(1).some((h) => /apt|dpkg/.test(h.created_by ?? '')));
    const r = await scanImage(parseReference(`oci:${APP}:latest`), { secrets: false });
    const dpkg = r.packages.filter((p) => p.type === 'dpkg');
    assert.ok(dpkg.length > 80);
    for (const p of dpkg) assert.deepEqual(p.layer, { index: 1, digest: truth.layers[0]!.digest, diffID: image.diffIds[0] }, p.name);
  });

  test('debian’s real dpkg database, then a layer that upgrades tar and installs a package, then an unrelated layer: each package’s layer, the findings’, the report', async (t) => {
    if (!fixture(t, DEBIAN)) return;
    const image = await openImage(parseReference(`oci:${DEBIAN}:latest`));
    let base;
    try {
      base = await readImageFiles(image, { wanted: (p) => catalogKind(p) !== undefined, secrets: false });
    } finally {
      await image.close();
    }
    const real = base.files.get(STATUS)!.toString('utf8');
    const tarStanza = /(^|\n)Package: tar\n[\s\S]*?\n\n/.exec(real);
    assert.ok(tarStanza && tarStanza[0].includes('\nVersion: 1.34+dfsg-1.2+deb12u1\n'), 'the fixture has tar 1.34+dfsg-1.2+deb12u1');
    // What `apt-get install wharf-tool && apt-get upgrade tar` leaves: the same database, two stanzas changed.
    const upgraded = real.replace(tarStanza[0], tarStanza[0].replace('\nVersion: 1.34+dfsg-1.2+deb12u1\n', '\nVersion: 1.34+dfsg-1.2+deb12u2\n'));
    const installed = `${upgraded.replace(/\n*$/, '\n')}\n${status(['wharf-tool', '1.0-1', 'wharf-src'])}`;
    const layer1 = [...base.files].map(([path, data]) => ({ path, content: data }));
    const { ref, layout } = await build(t, [layer1, [{ path: STATUS, content: installed }], [{ path: 'srv/unrelated.txt', content: 'x' }]]);
    const built = layout.images[0]!;

    const records = [
      record('DEBIAN-CVE-2099-0001', 'glibc', [{ introduced: '0' }, { fixed: '2.36-9+deb12u15' }]),
      record('DEBIAN-CVE-2099-0020', 'tar', [{ introduced: '0' }, { fixed: '1.34+dfsg-1.2+deb12u3' }]),
      record('DEBIAN-CVE-2099-0021', 'wharf-src', [{ introduced: '0' }, { fixed: '1.0-2' }]),
    ];
    const warnings: string[] = [];
    const r = await scanImage(parseReference(ref), { secrets: false, matcher: new OsvMatcher(lookup(records)), onWarning: (m) => warnings.push(m) });
    const got = layersOf(r);
    assert.equal(got['tar 1.34+dfsg-1.2+deb12u2'], 2, 'upgraded in layer 2');
    assert.equal(got['wharf-tool 1.0-1'], 2, 'installed in layer 2');
    const rest = Object.entries(got).filter(([k]) => !k.startsWith('tar ') && !k.startsWith('wharf-tool '));
    assert.ok(rest.length > 80);
    assert.deepEqual(rest.filter(([, layer]) => layer !== 1), [], 'everything else stays with the layer that first installed it');
    assert.deepEqual(r.packages.find((p) => p.name === 'tar')!.layer, { index: 2, digest: built.layers[1]!.digest, diffID: built.layers[1]!.diffId });

    assert.deepEqual(
      r.vulnerabilities.map((v) => `${v.id} ${v.package.name} layer ${v.package.layer?.index} ${v.package.layer?.digest === built.layers[v.package.layer!.index - 1]!.digest}`).sort(),
      ['DEBIAN-CVE-2099-0001 libc-bin layer 1 true', 'DEBIAN-CVE-2099-0001 libc6 layer 1 true', 'DEBIAN-CVE-2099-0020 tar layer 2 true', 'DEBIAN-CVE-2099-0021 wharf-tool layer 2 true'],
    );
    assert.equal(warnings.length, 0, warnings.join('\n'));

    const text = reportText(r);
    const short = built.layers[1]!.digest.slice(0, 'sha256:'.length + 12);
    assert.match(text, new RegExp(`\\n    DEBIAN-CVE-2099-0020  tar 1\\.34\\+dfsg-1\\.2\\+deb12u2  fixed in 1\\.34\\+dfsg-1\\.2\\+deb12u3  \\(layer 2 ${short}\\)\\n`));
    assert.match(text, new RegExp(`\\n    DEBIAN-CVE-2099-0001  libc6 \\S+  fixed in \\S+  \\(layer 1 ${built.layers[0]!.digest.slice(0, 19)}\\)\\n`));
    const json = JSON.parse(JSON.stringify(reportJson(r))) as ScanReport;
    assert.deepEqual(json.vulnerabilities.find((v) => v.package.name === 'wharf-tool')!.package.layer, { index: 2, digest: built.layers[1]!.digest, diffID: built.layers[1]!.diffId });
  });
});

describe('layers of packages on built images', () => {
  test('status rewritten in layer 2 (a kept, b upgraded, c installed), layer 3 unrelated: a → 1, b → 2, c → 2; a finding for b names layer 2', async (t) => {
    const { ref, layout } = await build(t, [
      [OS_RELEASE, { path: STATUS, content: status(['a', '1.0'], ['b', '1.0']) }],
      [{ path: STATUS, content: status(['a', '1.0'], ['b', '2.0'], ['c', '1.0']) }],
      [{ path: 'srv/unrelated.txt', content: 'x' }],
    ]);
    const built = layout.images[0]!;
    const r = await scanImage(parseReference(ref), { secrets: false, matcher: new OsvMatcher(lookup([record('DEBIAN-CVE-2099-0030', 'b', [{ introduced: '0' }, { fixed: '3.0' }])])) });
    assert.deepEqual(layersOf(r), { 'a 1.0': 1, 'b 2.0': 2, 'c 1.0': 2 });
    for (const p of r.packages) assert.deepEqual(p.layer, { index: p.layer!.index, digest: built.layers[p.layer!.index - 1]!.digest, diffID: built.layers[p.layer!.index - 1]!.diffId });
    assert.equal(r.vulnerabilities.length, 1);
    assert.deepEqual(r.vulnerabilities[0]!.package.layer, { index: 2, digest: built.layers[1]!.digest, diffID: built.layers[1]!.diffId });
    // The matcher itself copies the layer (a library user calling match() directly gets it too).
    const direct = await new OsvMatcher(lookup([record('DEBIAN-CVE-2099-0030', 'b', [{ introduced: '0' }, { fixed: '3.0' }])])).match(r.image.os, r.packages);
    assert.equal(direct[0]!.package.layer?.index, 2);
    // A matcher of the library user's own that does not copy it: scanImage fills it in from the package.
    const own = await scanImage(parseReference(ref), {
      secrets: false,
      matcher: { match: async (_os, pkgs) => pkgs.filter((p) => p.name === 'c').map((p) => ({ id: 'X-1', aliases: [], severity: 'low' as const, ecosystem: 'Debian:12', package: { type: p.type, name: p.name, version: p.version, purl: p.purl } })) },
    });
    assert.deepEqual(own.vulnerabilities.map((v) => [v.package.name, v.package.layer?.index, v.package.layer?.digest]), [['c', 2, built.layers[1]!.digest]]);
  });

  test('removed in layer 2 and installed again, same version, in layer 3: layer 3 — whether the status file is rewritten or deleted by a whiteout', async (t) => {
    const rewritten = await build(t, [
      [OS_RELEASE, { path: STATUS, content: status(['a', '1.0'], ['b', '1.0']) }],
      [{ path: STATUS, content: status(['a', '1.0']) }],
      [{ path: STATUS, content: status(['a', '1.0'], ['b', '1.0']) }],
    ]);
    assert.deepEqual(layersOf(await scanImage(parseReference(rewritten.ref), { secrets: false })), { 'a 1.0': 1, 'b 1.0': 3 });
    const whiteout = await build(t, [
      [OS_RELEASE, { path: STATUS, content: status(['a', '1.0'], ['b', '1.0']) }],
      [{ path: 'var/lib/dpkg/.wh.status', content: '' }],
      [{ path: STATUS, content: status(['a', '1.0'], ['b', '1.0']) }],
    ]);
    assert.deepEqual(layersOf(await scanImage(parseReference(whiteout.ref), { secrets: false })), { 'a 1.0': 3, 'b 1.0': 3 });
    // An opaque var/lib/dpkg in layer 2 is a removal too.
    const opaque = await build(t, [
      [OS_RELEASE, { path: STATUS, content: status(['a', '1.0']) }],
      [{ path: 'var/lib/dpkg/.wh..wh..opq', content: '' }, { path: 'var/lib/dpkg/lock', content: '' }],
      [{ path: STATUS, content: status(['a', '1.0']) }],
    ]);
    assert.deepEqual(layersOf(await scanImage(parseReference(opaque.ref), { secrets: false })), { 'a 1.0': 3 });
  });

  test('the history readImageFiles keeps: a version per layer that changed the file, a removal as a version without data', async (t) => {
    const { ref } = await build(t, [
      [{ path: STATUS, content: status(['a', '1.0']) }],
      [{ path: 'var/lib/dpkg/.wh.status', content: '' }],
      [{ path: 'srv/x', content: 'x' }],
      [{ path: STATUS, content: status(['a', '2.0']) }],
    ]);
    const image = await openImage(parseReference(ref));
    try {
      const files = await readImageFiles(image, { wanted: (p) => p === STATUS, secrets: false });
      assert.deepEqual(files.versions.get(STATUS)!.map((v) => [v.layer, v.data?.toString().match(/Version: (\S+)/)?.[1] ?? null]), [[1, '1.0'], [2, null], [4, '2.0']]);
      assert.equal(files.files.get(STATUS), files.versions.get(STATUS)![2]!.data);
    } finally {
      await image.close();
    }
  });

  test('distroless status.d: one file per package is one database; a package moving from status.d to status keeps its layer', async (t) => {
    const { ref } = await build(t, [
      [OS_RELEASE, { path: 'var/lib/dpkg/status.d/base', content: 'Package: base-files\nVersion: 12.4\nArchitecture: amd64\n' }, { path: 'var/lib/dpkg/status.d/tzdata', content: 'Package: tzdata\nVersion: 2024a-0\nArchitecture: all\n' }],
      [{ path: 'var/lib/dpkg/status.d/libssl3', content: 'Package: libssl3\nVersion: 3.0.13-1\nArchitecture: amd64\n' }, { path: 'var/lib/dpkg/status.d/.wh.tzdata', content: '' }, { path: STATUS, content: 'Package: tzdata\nStatus: install ok installed\nVersion: 2024a-0\nArchitecture: all\n' }],
    ]);
    assert.deepEqual(layersOf(await scanImage(parseReference(ref), { secrets: false })), { 'base-files 12.4': 1, 'libssl3 3.0.13-1': 2, 'tzdata 2024a-0': 1 });
  });

  test('npm lockfile and rpm database: upgraded and added packages are the later layer’s, the rest the first’s', async (t) => {
    const lock = (deps: Record<string, string>): string =>
      JSON.stringify({ name: 'app', version: '1.0.0', lockfileVersion: 3, packages: { '': { name: 'app', version: '1.0.0' }, ...Object.fromEntries(Object.entries(deps).map(([n, v]) => [`node_modules/${n}`, { version: v }])) } });
    const rpmdb = (...pkgs: [string, string][]): Buffer => sqliteFile(pkgs.map(([name, version], i) => ({ rowid: i + 1, blob: simpleHeader(name, { version, release: '1', arch: 'x86_64' }) }))).file;
    const { ref } = await build(t, [
      [{ path: 'etc/os-release', content: 'ID=fedora\nVERSION_ID=40\n' }, { path: 'var/lib/rpm/rpmdb.sqlite', content: rpmdb(['bash', '5.2'], ['glibc', '2.39']) }, { path: 'app/package-lock.json', content: lock({ lodash: '4.17.20', ms: '2.1.3' }) }],
      [{ path: 'var/lib/rpm/rpmdb.sqlite', content: rpmdb(['bash', '5.2'], ['glibc', '2.40'], ['openssl', '3.2']) }, { path: 'app/package-lock.json', content: lock({ lodash: '4.17.21', ms: '2.1.3', express: '4.19.2' }) }],
    ]);
    const r = await scanImage(parseReference(ref), { secrets: false });
    assert.deepEqual(layersOf(r, 'rpm'), { 'bash 5.2-1': 1, 'glibc 2.40-1': 2, 'openssl 3.2-1': 2 });
    assert.deepEqual(layersOf(r, 'npm'), { 'express 4.19.2': 2, 'lodash 4.17.21': 2, 'ms 2.1.3': 1 });
  });

  test('warnings of an earlier version of a database are not repeated; the final version’s are told once', async (t) => {
    const bad = 'Package: broken\nStatus: install ok installed\nVersion: not a version\n';
    const { ref } = await build(t, [
      [OS_RELEASE, { path: STATUS, content: `${status(['a', '1.0'])}\n${bad}` }],
      [{ path: STATUS, content: `${status(['a', '1.0'], ['b', '1.0'])}\n${bad}` }],
      [{ path: STATUS, content: `${status(['a', '1.0'], ['b', '1.0'])}\nPackage: other\nStatus: install ok installed\n` }],
    ]);
    const warnings: string[] = [];
    const r = await scanImage(parseReference(ref), { secrets: false, onWarning: (m) => warnings.push(m) });
    assert.deepEqual(layersOf(r), { 'a 1.0': 1, 'b 1.0': 2 });
    assert.equal(warnings.length, 1, warnings.join('\n'));
    assert.match(warnings[0]!, /\(other\): no Version field/);
  });

  test('wharf scan --format json: each package with its layer', async (t) => {
    const { ref, layout } = await build(t, [
      [OS_RELEASE, { path: STATUS, content: status(['a', '1.0']) }],
      [{ path: STATUS, content: status(['a', '1.0'], ['b', '1.0']) }],
    ]);
    const dir = await tempDir(t, 'wharf-scan-layers-');
    const stdout = new Sink();
    const stderr = new Sink();
    const io: CliIO = { stdout, stderr, env: {}, cwd: dir };
    const code = await run(['scan', '--format', 'json', '--skip-secrets', '--db-dir', join(dir, 'no-db'), ref], io, library);
    assert.equal(code, 0, stderr.text);
    const report = JSON.parse(stdout.text) as ScanReport;
    const built = layout.images[0]!;
    assert.deepEqual(
      report.packages.map((p) => [p.name, p.layer]),
      [
        ['a', { index: 1, digest: built.layers[0]!.digest, diffID: built.layers[0]!.diffId }],
        ['b', { index: 2, digest: built.layers[1]!.digest, diffID: built.layers[1]!.diffId }],
      ],
    );
  });
});
