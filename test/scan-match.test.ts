/**
 * Vulnerability matching on real data: the dpkg database debootstrap made in the bench fixture `debian`, against
 * OSV records written for packages and versions in it — vulnerable, fixed, equal to fixed, an epoch that decides,
 * `~`, last_affected, a versions list, another release, a withdrawn record — asserting exactly which are reported.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { test, type TestContext } from 'node:test';
import { parseReference } from '../src/index.js';
import { OsvMatcher } from '../src/scan/match.js';
import { validateOsvRecord, type OsvRecord } from '../src/scan/osv/index.js';
import { scanImage, type ScanReport } from '../src/scan/scan.js';

const DEBIAN = '/tmp/wharf-fixtures/oci/debian';

function fixture(t: TestContext): boolean {
  if (existsSync(DEBIAN)) return true;
  t.skip(`the bench fixtures are not in ${DEBIAN} (make them with ../shared/bench/make-fixtures.sh)`);
  return false;
}

function record(id: string, name: string, events: Record<string, string>[], extra: Record<string, unknown> = {}, ecosystem = 'Debian:12'): OsvRecord {
  const r = validateOsvRecord({
    schema_version: '1.6.0',
    id,
    modified: '2026-11-01T00:00:00Z',
    affected: [{ package: { ecosystem, name }, ranges: [{ type: 'ECOSYSTEM', events }], ...(extra.versions ? { versions: extra.versions } : {}), ...(extra.ecosystem_specific ? { ecosystem_specific: extra.ecosystem_specific } : {}) }],
    ...(extra.withdrawn ? { withdrawn: extra.withdrawn } : {}),
    ...(extra.severity ? { severity: extra.severity } : {}),
  });
  assert.ok(r, `${id} is a valid record`);
  return r;
}

const RECORDS: OsvRecord[] = [
  // glibc 2.36-9+deb12u14 is installed (libc6 and libc-bin are built from it).
  record('DEBIAN-CVE-2099-0001', 'glibc', [{ introduced: '0' }, { fixed: '2.36-9+deb12u15' }], { severity: [{ type: 'CVSS_V3', score: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H' }] }),
  record('DEBIAN-CVE-2099-0002', 'glibc', [{ introduced: '0' }, { fixed: '2.36-9+deb12u14' }]), // equal to fixed: not affected
  record('DEBIAN-CVE-2099-0003', 'glibc', [{ introduced: '0' }, { fixed: '2.36-9+deb12u3' }]), // fixed long ago
  // bash's binary is 5.2.15-2+b13 (a binNMU) from source 5.2.15-2: the advisory is about the source version.
  record('DEBIAN-CVE-2099-0004', 'bash', [{ introduced: '0' }, { fixed: '5.2.15-3' }], { ecosystem_specific: { urgency: 'medium' } }),
  // zlib is 1:1.2.13.dfsg-1: without the epoch the "fix" is older.
  record('DEBIAN-CVE-2099-0005', 'zlib', [{ introduced: '0' }, { fixed: '1:1.2.13.dfsg-2' }]),
  record('DEBIAN-CVE-2099-0006', 'zlib', [{ introduced: '0' }, { fixed: '1.2.13.dfsg-2' }]),
  // apt 2.6.1 is after 2.6.1~rc1.
  record('DEBIAN-CVE-2099-0007', 'apt', [{ introduced: '0' }, { fixed: '2.6.1~rc1' }]),
  // tar: no fix yet, last_affected is the installed version.
  record('DEBIAN-CVE-2099-0008', 'tar', [{ introduced: '0' }, { last_affected: '1.34+dfsg-1.2+deb12u1' }]),
  // coreutils: an explicit versions list.
  record('DEBIAN-CVE-2099-0009', 'coreutils', [{ introduced: '9.2' }], { versions: ['9.1-1'] }),
  // Another release's record for a package and version that would match.
  record('DEBIAN-CVE-2099-0010', 'glibc', [{ introduced: '0' }, { fixed: '9.99' }], {}, 'Debian:11'),
  // Withdrawn.
  record('DEBIAN-CVE-2099-0011', 'gzip', [{ introduced: '0' }, { fixed: '9.99' }], { withdrawn: '2026-10-01T00:00:00Z' }),
];

let scanned: ScanReport | undefined;
async function debian(): Promise<ScanReport> {
  scanned ??= await scanImage(parseReference(`oci:${DEBIAN}:latest`), { secrets: false });
  return scanned;
}

function lookup(records: OsvRecord[]) {
  return async (ecosystem: string, name: string): Promise<OsvRecord[]> => records.filter((r) => r.affected.some((a) => a.package.ecosystem === ecosystem && a.package.name === name));
}

test('the debian fixture against planted records: exactly the affected ones, per binary package, with fixed versions and severities', async (t) => {
  if (!fixture(t)) return;
  const report = await debian();
  const found = await new OsvMatcher(lookup(RECORDS)).match(report.image.os, report.packages);
  assert.deepEqual(
    found.map((f) => `${f.id} ${f.package.name} ${f.package.version} ${f.fixedVersion ?? '-'} ${f.severity}`).sort(),
    [
      'DEBIAN-CVE-2099-0001 libc-bin 2.36-9+deb12u14 2.36-9+deb12u15 critical',
      'DEBIAN-CVE-2099-0001 libc6 2.36-9+deb12u14 2.36-9+deb12u15 critical',
      'DEBIAN-CVE-2099-0004 bash 5.2.15-2+b13 5.2.15-3 medium',
      'DEBIAN-CVE-2099-0005 zlib1g 1:1.2.13.dfsg-1 1:1.2.13.dfsg-2 unknown',
      'DEBIAN-CVE-2099-0008 tar 1.34+dfsg-1.2+deb12u1 - unknown',
      'DEBIAN-CVE-2099-0009 coreutils 9.1-1 - unknown',
    ].sort(),
  );
  assert.equal(found.find((f) => f.id === 'DEBIAN-CVE-2099-0001')!.score, 9.8);
});

test('--ignore-unfixed leaves out what has no fix', async (t) => {
  if (!fixture(t)) return;
  const report = await debian();
  const found = await new OsvMatcher(lookup(RECORDS), { ignoreUnfixed: true }).match(report.image.os, report.packages);
  assert.deepEqual([...new Set(found.map((f) => f.id))].sort(), ['DEBIAN-CVE-2099-0001', 'DEBIAN-CVE-2099-0004', 'DEBIAN-CVE-2099-0005']);
});
