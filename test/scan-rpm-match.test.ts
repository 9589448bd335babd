/**
 * Vulnerability matching for rpm distributions (issue #6) on a real rpm database: rpms built here by rpmbuild
 * and installed by rpm, in an image whose os-release says Rocky Linux 9, AlmaLinux 9 or RHEL 9 (UBI) in turn,
 * against records shaped exactly as each feed publishes them — asserting which are reported:
 *
 * - curl, libcurl 7.76.1-14.el9_0.4: vulnerable (the fix is 7.76.1-14.el9_0.5, ALSA/RLSA/RHSA-2022:6157);
 * - xz, xz-libs 5.2.5-8.el9_0: exactly at the fix (RLSA/ALSA/RHSA-2022:4940);
 * - bash 5.1.8-9.el9: newer than the fix;
 * - vim-minimal, vim-common 2:8.2.2637-16.el9_0.2 from vim-…src.rpm, which builds no `vim`: binary names that
 *   differ from the source rpm's, with an epoch (the fix is 2:8.2.2637-16.el9_0.3, 2022:5942);
 * - openssl-libs 1:3.0.7-27.el9, exactly at a fix written with its epoch (without it, 3.0.7-27.el9 would be
 *   older than 1:3.0.7-27.el9 for ever);
 * - perl-libs 4:5.32.1-481.el9 and perl-Errno 1.30-481.el9 (epoch 0, a version of its own) from
 *   perl-5.32.1-481.el9.src.rpm: the source's epoch is not perl-Errno's.
 *
 * Then once through `wharf db import` and `wharf scan --db-dir`, as a user runs it.
 */
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import * as library from '../src/index.js';
import { parseReference } from '../src/index.js';
import { OsvMatcher } from '../src/scan/match.js';
import { validateOsvRecord, type OsvRecord } from '../src/scan/osv/index.js';
import { scanImage, type ScanReport } from '../src/scan/scan.js';
import { buildLayout } from './helpers/images.js';
import { requirePeer, runPeer, tempDir } from './helpers/peers.js';
import { buildFixtureRpms, installRpms, type Spec } from './helpers/rpmdb.js';
import { runCli, type CliRun } from './helpers/run-cli.js';

// ---------------------------------------------------------------------------------------------------------------
// The rpms

const SPECS: Spec[] = [
  { name: 'curl', version: '7.76.1', release: '14.el9_0.4', license: 'MIT', subpackages: [{ name: 'libcurl' }] },
  { name: 'xz', version: '5.2.5', release: '8.el9_0', license: 'MIT', subpackages: [{ name: 'xz-libs' }] },
  { name: 'bash', version: '5.1.8', release: '9.el9', license: 'MIT' },
  { name: 'vim', version: '8.2.2637', release: '16.el9_0.2', epoch: 2, license: 'MIT', main: false, subpackages: [{ name: 'vim-minimal' }, { name: 'vim-common' }] },
  { name: 'openssl', version: '3.0.7', release: '27.el9', epoch: 1, license: 'MIT', main: false, subpackages: [{ name: 'openssl-libs' }] },
  { name: 'perl', version: '5.32.1', release: '481.el9', epoch: 4, license: 'MIT', main: false, subpackages: [{ name: 'perl-libs' }, { name: 'perl-Errno', version: '1.30', epoch: 0 }] },
];

/** `name epoch:version-release source-rpm` for every package, as rpm -qa prints them. */
const RPM_QA = [
  'bash 0:5.1.8-9.el9 bash-5.1.8-9.el9.src.rpm',
  'curl 0:7.76.1-14.el9_0.4 curl-7.76.1-14.el9_0.4.src.rpm',
  'libcurl 0:7.76.1-14.el9_0.4 curl-7.76.1-14.el9_0.4.src.rpm',
  'openssl-libs 1:3.0.7-27.el9 openssl-3.0.7-27.el9.src.rpm',
  'perl-Errno 0:1.30-481.el9 perl-5.32.1-481.el9.src.rpm',
  'perl-libs 4:5.32.1-481.el9 perl-5.32.1-481.el9.src.rpm',
  'vim-common 2:8.2.2637-16.el9_0.2 vim-8.2.2637-16.el9_0.2.src.rpm',
  'vim-minimal 2:8.2.2637-16.el9_0.2 vim-8.2.2637-16.el9_0.2.src.rpm',
  'xz 0:5.2.5-8.el9_0 xz-5.2.5-8.el9_0.src.rpm',
  'xz-libs 0:5.2.5-8.el9_0 xz-5.2.5-8.el9_0.src.rpm',
];

let database: Promise<Buffer> | undefined;

/** The rpmdb.sqlite rpm wrote with all of SPECS installed (built once per process). */
async function rpmDatabase(t: TestContext): Promise<Buffer | undefined> {
  if (!requirePeer(t, 'rpm') || !requirePeer(t, 'rpmbuild', 'rpm')) return undefined;
  const dir = await tempDir(t, 'wharf-rpm-match-');
  database ??= (async () => {
    const rpms = await buildFixtureRpms(dir, SPECS);
    const root = join(dir, 'root');
    await installRpms(root, rpms);
    const qa = await runPeer('rpm', ['--root', root, '--dbpath', '/var/lib/rpm', '-qa', '--qf', '%{NAME} %{EPOCHNUM}:%{VERSION}-%{RELEASE} %{SOURCERPM}\\n']);
    assert.deepEqual(qa.split('\n').filter(Boolean).sort(), RPM_QA, 'rpm installed what the specs say');
    assert.ok(!existsSync(join(root, 'var/lib/rpm/rpmdb.sqlite-wal')) || (await readFile(join(root, 'var/lib/rpm/rpmdb.sqlite-wal'))).length === 0, 'rpm left no WAL to lay over the database');
    return readFile(join(root, 'var/lib/rpm/rpmdb.sqlite'));
  })();
  return database;
}

// ---------------------------------------------------------------------------------------------------------------
// The images: one rpm database, three os-release files (as the rockylinux:9.3, almalinux:9.4 and ubi9:9.4
// images ship them)

const OS_RELEASE = {
  rocky:
    'NAME="Rocky Linux"\nVERSION="9.3 (Blue Onyx)"\nID="rocky"\nID_LIKE="rhel centos fedora"\nVERSION_ID="9.3"\nPLATFORM_ID="platform:el9"\nPRETTY_NAME="Rocky Linux 9.3 (Blue Onyx)"\nANSI_COLOR="0;32"\nLOGO="fedora-logo-icon"\nCPE_NAME="cpe:/o:rocky:rocky:9::baseos"\nHOME_URL="https://rockylinux.org/"\n',
  alma: 'NAME="AlmaLinux"\nVERSION="9.4 (Seafoam Ocelot)"\nID="almalinux"\nID_LIKE="rhel centos fedora"\nVERSION_ID="9.4"\nPLATFORM_ID="platform:el9"\nPRETTY_NAME="AlmaLinux 9.4 (Seafoam Ocelot)"\nANSI_COLOR="0;34"\nLOGO="fedora-logo-icon"\nCPE_NAME="cpe:/o:almalinux:almalinux:9::baseos"\nHOME_URL="https://almalinux.org/"\n',
  rhel: 'NAME="Red Hat Enterprise Linux"\nVERSION="9.4 (Plow)"\nID="rhel"\nID_LIKE="fedora"\nVERSION_ID="9.4"\nPLATFORM_ID="platform:el9"\nPRETTY_NAME="Red Hat Enterprise Linux 9.4 (Plow)"\nANSI_COLOR="0;31"\nLOGO="fedora-logo-icon"\nCPE_NAME="cpe:/o:redhat:enterprise_linux:9::baseos"\nHOME_URL="https://www.redhat.com/"\n',
};

async function image(t: TestContext, distro: keyof typeof OS_RELEASE, db: Buffer): Promise<string> {
  const dir = await tempDir(t, 'wharf-rpm-image-');
  const layout = await buildLayout(join(dir, 'l'), [
    { tag: 'v1', layers: [[{ path: 'etc/os-release', content: OS_RELEASE[distro] }, { path: 'var/lib/rpm/rpmdb.sqlite', content: db }]] },
  ]);
  return `oci:${layout.dir}:v1`;
}

// ---------------------------------------------------------------------------------------------------------------
// The records. Ids of year 2099 are planted; the others, their package lists and fixed versions are the real
// advisories', trimmed to the fields that matter.

function valid(raw: Record<string, unknown>): OsvRecord {
  const r = validateOsvRecord(raw);
  assert.ok(r, `${String(raw.id)} is a valid record`);
  return r;
}

/**
 * AlmaLinux, as github.com/AlmaLinux/osv-database advisories/almalinux9/ALSA-2022:6157.json has it: one entry
 * per binary rpm (curl, curl-minimal, libcurl, …; vim-X11, vim-common, … and no `vim`), no purl, `fixed` as
 * version-release with the epoch only when it is not 0, the CVEs in `related`, no schema_version or severity.
 */
function alsa(id: string, summary: string, fixed: Record<string, string>, ecosystem = 'AlmaLinux:9'): Record<string, unknown> {
  return {
    id,
    summary,
    affected: Object.entries(fixed).map(([name, v]) => ({ package: { ecosystem, name }, ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed: v }] }] })),
    related: [`CVE-${id.slice(5, 9)}-0001`],
    published: '2022-08-24T00:00:00Z',
    modified: '2022-08-30T18:17:01Z',
    details: `${summary}.`,
    references: [{ url: `https://errata.almalinux.org/9/${id.replace(':', '-')}.html`, type: 'ADVISORY' }],
  };
}

/**
 * Rocky Linux, as RESF's Apollo writes it (github.com/resf/distro-tools apollo/server/routes/api_osv.py,
 * to_osv_advisory): one entry per source rpm ("Only process src packages"), ecosystem `Rocky Linux:<major>`,
 * a purl `pkg:rpm/rocky-linux/<src>@<version-release>?distro=rocky-linux-9&epoch=<n>`, the repository in the
 * range's database_specific, the CVEs in `aliases`; `fixed` carries the epoch, 0 included, as osv.dev serves
 * the records (`0:5.2.5-8.el9_0` for RLSA-2022:4940).
 */
function rlsa(id: string, summary: string, fixed: Record<string, string>, ecosystem = 'Rocky Linux:9'): OsvRecord {
  return valid({
    schema_version: '1.3.1',
    id,
    modified: '2023-02-08T21:47:40Z',
    published: '2022-08-30T00:00:00Z',
    aliases: [`CVE-${id.slice(5, 9)}-0001`],
    summary,
    details: `${summary}.`,
    severity: [{ type: 'CVSS_V3', score: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:L/A:L' }],
    affected: Object.entries(fixed).map(([name, v]) => {
      const [epoch, vr] = v.split(/:(.*)/s) as [string, string];
      return {
        package: { ecosystem, name, purl: `pkg:rpm/rocky-linux/${name}@${vr}?distro=rocky-linux-9&epoch=${epoch}` },
        ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed: v }], database_specific: { yum_repository: 'BaseOS' } }],
      };
    }),
    references: [{ type: 'ADVISORY', url: `https://errata.rockylinux.org/${id}` }],
    credits: [{ name: 'Rocky Enterprise Software Foundation' }, { name: 'Red Hat' }],
  });
}

/**
 * Red Hat, as Red Hat's CSAF-to-OSV converter writes it (github.com/ossf/osv-schema tools/redhat/redhat_osv/
 * osv.py; testdata/OSV/RHSA-2024_4546.json): one entry per binary rpm and product stream (debuginfo and
 * debugsource included), ecosystem `Red Hat:` + the CPE without `cpe:/[oa]:redhat:` (`enterprise_linux:9::baseos`
 * for BaseOS, `…::appstream` for AppStream), purl `pkg:rpm/redhat/<name>`, `fixed` always with its epoch.
 */
function rhsa(id: string, summary: string, fixed: Record<string, [string, string]>): OsvRecord {
  return valid({
    schema_version: '1.7.0',
    id,
    upstream: [`CVE-${id.slice(5, 9)}-0001`],
    published: '2022-08-24T14:30:00Z',
    modified: '2024-09-02T14:30:00Z',
    summary: `Red Hat Security Advisory: ${summary}`,
    severity: [{ type: 'CVSS_V3', score: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H' }],
    affected: Object.entries(fixed).map(([key, [stream, v]]) => {
      const name = key.replace(/#.*/, '');
      return { package: { name, ecosystem: `Red Hat:${stream}`, purl: `pkg:rpm/redhat/${name}` }, ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed: v }] }] };
    }),
    references: [{ type: 'ADVISORY', url: `https://access.redhat.com/errata/${id}` }],
  });
}

const ALMA_FILES: Record<string, unknown>[] = [
  alsa('ALSA-2022:6157', 'Moderate: curl security update', Object.fromEntries(['curl', 'curl-minimal', 'libcurl', 'libcurl-devel', 'libcurl-minimal'].map((n) => [n, '7.76.1-14.el9_0.5']))),
  alsa('ALSA-2022:4940', 'Important: xz security update', Object.fromEntries(['xz', 'xz-devel', 'xz-libs', 'xz-lzma-compat'].map((n) => [n, '5.2.5-8.el9_0']))),
  alsa('ALSA-2022:5942', 'Moderate: vim security update', Object.fromEntries(['vim-X11', 'vim-common', 'vim-enhanced', 'vim-filesystem', 'vim-minimal'].map((n) => [n, '2:8.2.2637-16.el9_0.3']))),
  alsa('ALSA-2099:0001', 'Moderate: bash security update', { bash: '5.1.8-6.el9_1', 'bash-devel': '5.1.8-6.el9_1' }),
  alsa('ALSA-2099:0002', 'Important: openssl security update', Object.fromEntries(['openssl', 'openssl-devel', 'openssl-libs', 'openssl-perl'].map((n) => [n, '1:3.0.7-27.el9']))),
  alsa('ALSA-2099:0003', 'Moderate: perl security update', { 'perl-libs': '4:5.32.1-481.el9', 'perl-Errno': '1.30-481.el9' }),
  alsa('ALSA-2099:0004', 'Moderate: perl security update', { 'perl-libs': '4:5.32.1-482.el9', 'perl-Errno': '1.30-482.el9' }),
  // Another release's advisory for a package and version that would match.
  alsa('ALSA-2099:0005', 'Moderate: curl security update', { curl: '7.61.1-99.el8', libcurl: '7.61.1-99.el8' }, 'AlmaLinux:8'),
];
const ALMA = ALMA_FILES.map(valid);

const ROCKY: OsvRecord[] = [
  rlsa('RLSA-2022:6157', 'Moderate: curl security update', { curl: '0:7.76.1-14.el9_0.5' }),
  rlsa('RLSA-2022:4940', 'Important: xz security update', { xz: '0:5.2.5-8.el9_0' }),
  rlsa('RLSA-2022:5942', 'Moderate: vim security update', { vim: '2:8.2.2637-16.el9_0.3' }),
  rlsa('RLSA-2099:0001', 'Moderate: bash security update', { bash: '0:5.1.8-6.el9_1' }),
  rlsa('RLSA-2099:0002', 'Important: openssl security update', { openssl: '1:3.0.7-27.el9' }),
  // perl-Errno is 0:1.30-481.el9, its source 4:5.32.1-481.el9 (the epoch comes from perl-libs, built from it).
  rlsa('RLSA-2099:0003', 'Moderate: perl security update', { perl: '4:5.32.1-481.el9' }),
  rlsa('RLSA-2099:0004', 'Moderate: perl security update', { perl: '4:5.32.1-482.el9' }),
  rlsa('RLSA-2099:0005', 'Moderate: curl security update', { curl: '0:7.61.1-99.el8' }, 'Rocky Linux:8'),
];

const BASEOS = 'enterprise_linux:9::baseos';
const APPSTREAM = 'enterprise_linux:9::appstream';
const RHEL: OsvRecord[] = [
  rhsa('RHSA-2022:6157', 'curl security update', {
    curl: [BASEOS, '0:7.76.1-14.el9_0.5'],
    'curl-debuginfo': [BASEOS, '0:7.76.1-14.el9_0.5'],
    'curl-debugsource': [BASEOS, '0:7.76.1-14.el9_0.5'],
    libcurl: [BASEOS, '0:7.76.1-14.el9_0.5'],
    'libcurl-devel': [APPSTREAM, '0:7.76.1-14.el9_0.5'],
  }),
  rhsa('RHSA-2022:4940', 'xz security update', { xz: [BASEOS, '0:5.2.5-8.el9_0'], 'xz-libs': [BASEOS, '0:5.2.5-8.el9_0'], 'xz-devel': [APPSTREAM, '0:5.2.5-8.el9_0'] }),
  // vim-minimal ships in BaseOS, vim-common in AppStream: the image's os-release names only baseos.
  rhsa('RHSA-2022:5942', 'vim security update', {
    'vim-minimal': [BASEOS, '2:8.2.2637-16.el9_0.3'],
    'vim-common': [APPSTREAM, '2:8.2.2637-16.el9_0.3'],
    'vim-enhanced': [APPSTREAM, '2:8.2.2637-16.el9_0.3'],
  }),
  rhsa('RHSA-2099:0001', 'bash security update', { bash: [BASEOS, '0:5.1.8-6.el9_1'] }),
  rhsa('RHSA-2099:0002', 'openssl security update', { openssl: [BASEOS, '1:3.0.7-27.el9'], 'openssl-libs': [BASEOS, '1:3.0.7-27.el9'], 'openssl-devel': [APPSTREAM, '1:3.0.7-27.el9'] }),
  rhsa('RHSA-2099:0003', 'perl security update', { 'perl-libs': [APPSTREAM, '4:5.32.1-481.el9'], 'perl-Errno': [APPSTREAM, '0:1.30-481.el9'] }),
  rhsa('RHSA-2099:0004', 'perl security update', { 'perl-libs': [APPSTREAM, '4:5.32.1-482.el9'], 'perl-Errno': [APPSTREAM, '0:1.30-482.el9'] }),
  // Streams the image is not on: EUS 9.2, RHEL 8.
  rhsa('RHSA-2099:0005', 'curl security update', { curl: ['rhel_eus:9.2::baseos', '0:7.76.1-99.el9_2'], 'curl#8': ['enterprise_linux:8::baseos', '0:7.61.1-99.el8'] }),
];

function lookup(records: OsvRecord[]) {
  return async (ecosystem: string, name: string): Promise<OsvRecord[]> => records.filter((r) => r.affected.some((a) => a.package.ecosystem === ecosystem && a.package.name === name));
}

function findings(r: ScanReport): string[] {
  return r.vulnerabilities.map((f) => `${f.id} ${f.package.name} ${f.package.version} ${f.fixedVersion ?? '-'} ${f.ecosystem}`).sort();
}

// ---------------------------------------------------------------------------------------------------------------

describe('rpm matching on a real rpm database', () => {
  test('Rocky Linux 9: by source rpm, with the source epoch (perl-Errno takes perl-libs’)', async (t) => {
    const db = await rpmDatabase(t);
    if (!db) return;
    const r = await scanImage(parseReference(await image(t, 'rocky', db)), { secrets: false, matcher: new OsvMatcher(lookup(ROCKY)) });
    assert.equal(r.image.os?.id, 'rocky');
    assert.deepEqual(r.packages.map((p) => `${p.name} ${p.version} ${p.sourceName}`).sort(), RPM_QA.map((l) => l.replace(/ 0:/, ' ').replace(/-[^-]+-[^-]+\.src\.rpm$/, '')));
    assert.deepEqual(findings(r), [
      'RLSA-2022:5942 vim-common 2:8.2.2637-16.el9_0.2 2:8.2.2637-16.el9_0.3 Rocky Linux:9',
      'RLSA-2022:5942 vim-minimal 2:8.2.2637-16.el9_0.2 2:8.2.2637-16.el9_0.3 Rocky Linux:9',
      'RLSA-2022:6157 curl 7.76.1-14.el9_0.4 0:7.76.1-14.el9_0.5 Rocky Linux:9',
      'RLSA-2022:6157 libcurl 7.76.1-14.el9_0.4 0:7.76.1-14.el9_0.5 Rocky Linux:9',
      'RLSA-2099:0004 perl-Errno 1.30-481.el9 4:5.32.1-482.el9 Rocky Linux:9',
      'RLSA-2099:0004 perl-libs 4:5.32.1-481.el9 4:5.32.1-482.el9 Rocky Linux:9',
    ]);
  });

  test('AlmaLinux 9: by binary rpm, epochs only where they are not 0', async (t) => {
    const db = await rpmDatabase(t);
    if (!db) return;
    const r = await scanImage(parseReference(await image(t, 'alma', db)), { secrets: false, matcher: new OsvMatcher(lookup(ALMA)) });
    assert.deepEqual(findings(r), [
      'ALSA-2022:5942 vim-common 2:8.2.2637-16.el9_0.2 2:8.2.2637-16.el9_0.3 AlmaLinux:9',
      'ALSA-2022:5942 vim-minimal 2:8.2.2637-16.el9_0.2 2:8.2.2637-16.el9_0.3 AlmaLinux:9',
      'ALSA-2022:6157 curl 7.76.1-14.el9_0.4 7.76.1-14.el9_0.5 AlmaLinux:9',
      'ALSA-2022:6157 libcurl 7.76.1-14.el9_0.4 7.76.1-14.el9_0.5 AlmaLinux:9',
      'ALSA-2099:0004 perl-Errno 1.30-481.el9 1.30-482.el9 AlmaLinux:9',
      'ALSA-2099:0004 perl-libs 4:5.32.1-481.el9 4:5.32.1-482.el9 AlmaLinux:9',
    ]);
  });

  test('RHEL 9 (UBI): by binary rpm, in BaseOS and AppStream though os-release names only baseos; not EUS, not RHEL 8', async (t) => {
    const db = await rpmDatabase(t);
    if (!db) return;
    const r = await scanImage(parseReference(await image(t, 'rhel', db)), { secrets: false, matcher: new OsvMatcher(lookup(RHEL)) });
    assert.deepEqual(findings(r), [
      'RHSA-2022:5942 vim-common 2:8.2.2637-16.el9_0.2 2:8.2.2637-16.el9_0.3 Red Hat:enterprise_linux:9::appstream',
      'RHSA-2022:5942 vim-minimal 2:8.2.2637-16.el9_0.2 2:8.2.2637-16.el9_0.3 Red Hat:enterprise_linux:9::baseos',
      'RHSA-2022:6157 curl 7.76.1-14.el9_0.4 0:7.76.1-14.el9_0.5 Red Hat:enterprise_linux:9::baseos',
      'RHSA-2022:6157 libcurl 7.76.1-14.el9_0.4 0:7.76.1-14.el9_0.5 Red Hat:enterprise_linux:9::baseos',
      'RHSA-2099:0004 perl-Errno 1.30-481.el9 0:1.30-482.el9 Red Hat:enterprise_linux:9::appstream',
      'RHSA-2099:0004 perl-libs 4:5.32.1-481.el9 4:5.32.1-482.el9 Red Hat:enterprise_linux:9::appstream',
    ]);
  });

  test('AlmaLinux 9 end to end: wharf db import, then wharf scan --db-dir (JSON) and the library’s osvMatcher', async (t) => {
    const db = await rpmDatabase(t);
    if (!db) return;
    const dir = await tempDir(t, 'wharf-rpm-cli-');
    const records = join(dir, 'records');
    await mkdir(records);
    // As the AlmaLinux export lays them out: one JSON file per advisory.
    for (const r of ALMA_FILES) await writeFile(join(records, `${String(r.id)}.json`), JSON.stringify(r, null, 2));
    const dbDir = join(dir, 'db');
    const imported = await cli(['db', 'import', '--db-dir', dbDir, records], dir);
    assert.equal(imported.code, 0, imported.stderr);
    const ref = await image(t, 'alma', db);
    const viaLibrary = await library.scanImage(parseReference(ref), { secrets: false, matcher: await library.osvMatcher(dbDir) });
    const expected = ['ALSA-2022:5942 vim-common', 'ALSA-2022:5942 vim-minimal', 'ALSA-2022:6157 curl', 'ALSA-2022:6157 libcurl', 'ALSA-2099:0004 perl-Errno', 'ALSA-2099:0004 perl-libs'];
    assert.deepEqual(viaLibrary.vulnerabilities.map((v) => `${v.id} ${v.package.name}`).sort(), expected);
    const scanned = await cli(['scan', '--format', 'json', '--skip-secrets', '--db-dir', dbDir, ref], dir);
    const report = JSON.parse(scanned.stdout) as { vulnerabilities: { id: string; package: { name: string }; fixedVersion?: string }[] };
    assert.deepEqual(report.vulnerabilities.map((v) => `${v.id} ${v.package.name}`).sort(), expected);
    assert.equal(report.vulnerabilities.find((v) => v.package.name === 'vim-minimal')?.fixedVersion, '2:8.2.2637-16.el9_0.3');
  });
});

function cli(argv: string[], cwd: string): Promise<CliRun> {
  return runCli(argv, { cwd });
}
