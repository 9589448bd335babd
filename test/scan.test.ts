/**
 * `wharf scan` end to end on the bench fixture debian-app: the packages dpkg recorded, the planted secrets
 * (redacted unless asked), the setuid files, the config findings, --fail-on, --format json, --output.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { extractImage } from '../src/filesystem/extract.js';
import * as library from '../src/index.js';
import { parseReference } from '../src/index.js';
import { SEVERITIES, scanImage } from '../src/scan/scan.js';
import { CLI_SEVERITIES } from '../src/cli/commands/scan.js';
import { requirePeer, tempDir } from './helpers/peers.js';
import { runCli, type CliRun } from './helpers/run-cli.js';

const APP = '/tmp/wharf-fixtures/oci/debian-app';

function fixture(t: TestContext): boolean {
  if (existsSync(APP)) return true;
  t.skip(`the bench fixtures are not in ${APP} (make them with ../shared/bench/make-fixtures.sh)`);
  return false;
}

function cli(argv: string[], cwd: string): Promise<CliRun> {
  return runCli(argv, { cwd });
}

describe('scanImage', () => {
  test('debian-app: every package dpkg-query lists, the OS, the planted secrets and setuid tool, phases timed', async (t) => {
    if (!fixture(t)) return;
    const r = await scanImage(parseReference(`oci:${APP}:latest`));
    assert.equal(r.image.os?.id, 'debian');
    assert.equal(r.image.os?.versionId, '12');
    if (requirePeer(t, 'dpkg-query', 'dpkg')) {
      const dir = await tempDir(t, 'wharf-scan-');
      await extractImage(parseReference(`oci:${APP}:latest`), ['/var/lib/dpkg/status'], join(dir, 'x'));
      const theirs = execFileSync('dpkg-query', [`--admindir=${join(dir, 'x/var/lib/dpkg')}`, '-W', '-f', '${Package} ${Version}\n'], { encoding: 'utf8' }).split('\n').filter(Boolean).sort();
      assert.deepEqual(r.packages.filter((p) => p.type === 'dpkg').map((p) => `${p.name} ${p.version}`).sort(), theirs);
    }
    assert.deepEqual(r.secrets.map((s) => s.path).sort(), ['/etc/app/secret.env', '/root/.ssh/id_rsa']);
    assert.ok(r.permissions.some((p) => p.kind === 'setuid' && p.path === '/usr/local/bin/suidtool' && p.layer === 2));
    assert.ok(r.config.some((c) => c.rule === 'secret-in-env'));
    for (const phase of ['readLayers', 'catalogue', 'match'] as const) assert.ok(r.timings[phase] >= 0);
  });
});

describe('wharf scan', () => {
  test('table: redacted by default, --show-secrets shows them; --fail-on high exits 1 because of the secrets', async (t) => {
    if (!fixture(t)) return;
    const r = await cli(['scan', `oci:${APP}:latest`], '/');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Packages: \d+ \(\d+ dpkg\)/);
    assert.match(r.stdout, /AWS access key ID +\/etc\/app\/secret\.env:2 +\(layer 2, deleted by layer 3 but still in the image\)/);
    assert.doesNotMatch(r.stdout, /WHARFBENCHFAKE|hunter2/);
    const shown = await cli(['scan', '--show-secrets', `oci:${APP}:latest`], '/');
    assert.match(shown.stdout, /AKIAWHARFBENCHFAKE01/);
    assert.match(shown.stdout, /PASSWORD=hunter2/);
    const gate = await cli(['scan', '--fail-on', 'high', `oci:${APP}:latest`], '/');
    assert.equal(gate.code, 1);
    const critical = await cli(['scan', '--fail-on', 'critical', `oci:${APP}:latest`], '/');
    assert.equal(critical.code, 0, 'no vulnerability data loaded: nothing critical');
  });

  test('--format json --output FILE: the report, secrets dropped (not only hidden) unless --show-secrets', async (t) => {
    if (!fixture(t)) return;
    const dir = await tempDir(t, 'wharf-scan-');
    const r = await cli(['scan', '--format', 'json', '--output', 'report.json', `oci:${APP}:latest`], dir);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '');
    const text = await fsp.readFile(join(dir, 'report.json'), 'utf8');
    assert.doesNotMatch(text, /WHARFBENCHFAKE|hunter2/);
    const report = JSON.parse(text) as { packages: unknown[]; secrets: { path: string; redacted: string; secret?: string }[] };
    assert.ok(report.packages.length > 50);
    assert.equal(report.secrets.length, 2);
    assert.equal(report.secrets[0]!.secret, undefined);
  });

  test('with an imported OSV database: vulnerabilities by severity, --ignore-unfixed, .wharfignore with an expiry, --fail-on', async (t) => {
    if (!fixture(t)) return;
    const dir = await tempDir(t, 'wharf-scan-');
    const records = join(dir, 'records');
    await fsp.mkdir(records);
    const rec = (id: string, name: string, events: object[], extra: object = {}): Promise<void> =>
      fsp.writeFile(join(records, `${id}.json`), JSON.stringify({ schema_version: '1.6.0', id, modified: '2026-11-01T00:00:00Z', affected: [{ package: { ecosystem: 'Debian:12', name }, ranges: [{ type: 'ECOSYSTEM', events }] }], ...extra }));
    await rec('DEBIAN-CVE-2099-0001', 'glibc', [{ introduced: '0' }, { fixed: '2.36-9+deb12u15' }], { aliases: ['CVE-2099-0001'], severity: [{ type: 'CVSS_V3', score: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H' }] });
    await rec('DEBIAN-CVE-2099-0008', 'tar', [{ introduced: '0' }, { last_affected: '1.34+dfsg-1.2+deb12u1' }]);
    const db = join(dir, 'db');
    const imported = await cli(['db', 'import', '--db-dir', db, records], dir);
    assert.equal(imported.code, 0, imported.stderr);
    const image = `oci:/tmp/wharf-fixtures/oci/debian:latest`;
    const json = async (...flags: string[]): Promise<{ code: number; ids: string[] }> => {
      const r = await cli(['scan', '--format', 'json', '--skip-secrets', '--db-dir', db, ...flags, image], dir);
      const report = JSON.parse(r.stdout) as { vulnerabilities: { id: string; package: { name: string }; severity: string }[] };
      return { code: r.code, ids: report.vulnerabilities.map((v) => `${v.id} ${v.package.name} ${v.severity}`) };
    };
    // The same from the library.
    const viaLibrary = await library.scanImage(parseReference(image), { matcher: await library.osvMatcher(db), secrets: false });
    assert.deepEqual(viaLibrary.vulnerabilities.map((v) => v.id).sort(), ['DEBIAN-CVE-2099-0001', 'DEBIAN-CVE-2099-0001', 'DEBIAN-CVE-2099-0008']);
    assert.deepEqual((await json()).ids, ['DEBIAN-CVE-2099-0001 libc-bin critical', 'DEBIAN-CVE-2099-0001 libc6 critical', 'DEBIAN-CVE-2099-0008 tar unknown']);
    assert.deepEqual((await json('--ignore-unfixed')).ids, ['DEBIAN-CVE-2099-0001 libc-bin critical', 'DEBIAN-CVE-2099-0001 libc6 critical']);
    assert.equal((await json('--fail-on', 'critical')).code, 1);
    assert.equal((await json('--fail-on', 'critical', '--ignore-unfixed')).code, 1);
    // An alias in .wharfignore leaves the record out; an expired rule does not.
    await fsp.writeFile(join(dir, '.wharfignore'), '# accepted until the fix lands\nCVE-2099-0001 exp:2999-12-31\nDEBIAN-CVE-2099-0008 exp:2020-01-01\n');
    const ignored = await json('--fail-on', 'critical');
    assert.deepEqual(ignored.ids, ['DEBIAN-CVE-2099-0008 tar unknown']);
    assert.equal(ignored.code, 0);
    assert.equal((await json('--fail-on', 'unknown')).code, 1, 'unknown is the lowest threshold: any vulnerability fails it');
    await fsp.writeFile(join(dir, '.wharfignore'), 'CVE-2099-0001 until tomorrow\n');
    const bad = await cli(['scan', '--db-dir', db, image], dir);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /\.wharfignore:1: not an ignore rule/);
  });

  test('bad flags are usage errors (exit 2) with a hint, before the image is read', async () => {
    assert.deepEqual(CLI_SEVERITIES, SEVERITIES, 'the CLI checks --fail-on against the same scale the scanner uses');
    const bad = await cli(['scan', '--format', 'xml', 'oci:/nonexistent:latest'], '/');
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /unknown format "xml"/);
    const sev = await cli(['scan', '--fail-on', 'severe', 'oci:/nonexistent:latest'], '/');
    assert.equal(sev.code, 2);
    assert.match(sev.stderr, /unknown severity "severe"/);
  });
});
