/**
 * Which OSV ecosystems an image's packages are matched in (issue #6), from os-release files as the images ship
 * them; and matching end to end on images built here for the two distributions test/scan-match.test.ts leaves
 * out: Ubuntu 22.04 (dpkg, `Ubuntu:22.04:LTS` and Ubuntu Pro's `Ubuntu:Pro:22.04:LTS`) and Alpine 3.20 (apk,
 * records named by the origin package), asserting exactly which records are reported.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { parseReference } from '../src/index.js';
import { parseOsRelease } from '../src/scan/catalog/index.js';
import { osvEcosystem, osvEcosystems } from '../src/scan/catalog/os-release.js';
import { OsvMatcher } from '../src/scan/match.js';
import { validateOsvRecord, type OsvRecord } from '../src/scan/osv/index.js';
import { scanImage } from '../src/scan/scan.js';
import { buildLayout, type FileSpec } from './helpers/images.js';
import { alpineRecord, ubuntuRecord } from './helpers/osv.js';
import { tempDir } from './helpers/peers.js';

const UBUNTU_2204 =
  'PRETTY_NAME="Ubuntu 22.04.4 LTS"\nNAME="Ubuntu"\nVERSION_ID="22.04"\nVERSION="22.04.4 LTS (Jammy Jellyfish)"\nVERSION_CODENAME=jammy\nID=ubuntu\nID_LIKE=debian\nHOME_URL="https://www.ubuntu.com/"\nUBUNTU_CODENAME=jammy\n';
const ALPINE_320 = 'NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.20.3\nPRETTY_NAME="Alpine Linux v3.20"\nHOME_URL="https://alpinelinux.org/"\n';

/** os-release files (trimmed to the fields read) and the ecosystems their packages are matched in, in order. */
const RELEASES: [string, string, string[]][] = [
  ['debian 12', 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nVERSION="12 (bookworm)"\nVERSION_CODENAME=bookworm\nID=debian\n', ['Debian:12', 'Debian']],
  ['debian sid', 'PRETTY_NAME="Debian GNU/Linux trixie/sid"\nNAME="Debian GNU/Linux"\nVERSION_CODENAME=trixie\nID=debian\n', []],
  ['ubuntu 22.04', UBUNTU_2204, ['Ubuntu:22.04:LTS', 'Ubuntu:Pro:22.04:LTS']],
  ['ubuntu 23.10', 'PRETTY_NAME="Ubuntu 23.10"\nNAME="Ubuntu"\nVERSION_ID="23.10"\nVERSION="23.10 (Mantic Minotaur)"\nVERSION_CODENAME=mantic\nID=ubuntu\nID_LIKE=debian\n', ['Ubuntu:23.10']],
  ['alpine 3.20', ALPINE_320, ['Alpine:v3.20']],
  ['alpine edge', 'NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.21_alpha20240807\nPRETTY_NAME="Alpine Linux edge"\n', []],
  [
    'ubi 9',
    'NAME="Red Hat Enterprise Linux"\nVERSION="9.4 (Plow)"\nID="rhel"\nVERSION_ID="9.4"\nPRETTY_NAME="Red Hat Enterprise Linux 9.4 (Plow)"\nCPE_NAME="cpe:/o:redhat:enterprise_linux:9::baseos"\n',
    ['Red Hat:enterprise_linux:9::baseos', 'Red Hat:enterprise_linux:9::appstream', 'Red Hat:enterprise_linux:9::crb'],
  ],
  [
    'rhel 8 without CPE_NAME',
    'NAME="Red Hat Enterprise Linux"\nVERSION="8.10 (Ootpa)"\nID="rhel"\nVERSION_ID="8.10"\n',
    ['Red Hat:enterprise_linux:8::baseos', 'Red Hat:enterprise_linux:8::appstream', 'Red Hat:enterprise_linux:8::crb'],
  ],
  // A CPE without a channel (Red Hat's RHEL 10 CPEs carry the minor release and no channel) is taken as it is.
  ['rhel with a channel-less CPE', 'ID="rhel"\nVERSION_ID="10.0"\nCPE_NAME="cpe:/o:redhat:enterprise_linux:10.0"\n', ['Red Hat:enterprise_linux:10.0']],
  ['rocky 9', 'NAME="Rocky Linux"\nVERSION="9.3 (Blue Onyx)"\nID="rocky"\nVERSION_ID="9.3"\nCPE_NAME="cpe:/o:rocky:rocky:9::baseos"\n', ['Rocky Linux:9', 'Rocky Linux']],
  ['almalinux 9', 'NAME="AlmaLinux"\nVERSION="9.4 (Seafoam Ocelot)"\nID="almalinux"\nVERSION_ID="9.4"\nCPE_NAME="cpe:/o:almalinux:almalinux:9::baseos"\n', ['AlmaLinux:9', 'AlmaLinux']],
  ['sles 15 sp5', 'NAME="SLES"\nVERSION="15-SP5"\nVERSION_ID="15.5"\nPRETTY_NAME="SUSE Linux Enterprise Server 15 SP5"\nID="sles"\nCPE_NAME="cpe:/o:suse:sles:15:sp5"\n', ['SUSE:Linux Enterprise Server 15 SP5']],
  ['opensuse leap 15.5', 'NAME="openSUSE Leap"\nVERSION="15.5"\nID="opensuse-leap"\nVERSION_ID="15.5"\nPRETTY_NAME="openSUSE Leap 15.5"\n', ['openSUSE:Leap 15.5']],
  ['opensuse leap, no PRETTY_NAME', 'ID="opensuse-leap"\nVERSION_ID="15.6"\n', ['openSUSE:Leap 15.6']],
  ['opensuse tumbleweed', 'NAME="openSUSE Tumbleweed"\nID="opensuse-tumbleweed"\nVERSION_ID="20240801"\nPRETTY_NAME="openSUSE Tumbleweed"\n', ['openSUSE:Tumbleweed']],
  ['mageia 9', 'NAME="Mageia"\nVERSION="9"\nID=mageia\nVERSION_ID=9\nPRETTY_NAME="Mageia 9"\n', ['Mageia:9']],
  ['photon 5', 'NAME="VMware Photon OS"\nVERSION="5.0"\nID=photon\nVERSION_ID=5.0\nPRETTY_NAME="VMware Photon OS/Linux"\n', ['Photon OS:5.0']],
  ['wolfi', 'ID=wolfi\nNAME="Wolfi"\nPRETTY_NAME="Wolfi"\nVERSION_ID="20230201"\n', ['Wolfi']],
  ['chainguard', 'ID=chainguard\nNAME="Chainguard"\nPRETTY_NAME="Chainguard"\nVERSION_ID="20230214"\n', ['Chainguard']],
  ['arch', 'NAME="Arch Linux"\nPRETTY_NAME="Arch Linux"\nID=arch\nBUILD_ID=rolling\n', []],
];

describe('osvEcosystems', () => {
  for (const [name, text, ecosystems] of RELEASES) {
    test(`${name}: ${ecosystems.join(', ') || 'none'}`, () => {
      const os = parseOsRelease(Buffer.from(text));
      assert.deepEqual(osvEcosystems(os), ecosystems);
      assert.equal(osvEcosystem(os), ecosystems[0], 'the first is the one osvEcosystem names');
    });
  }
});

// ---------------------------------------------------------------------------------------------------------------

function valid(raw: Record<string, unknown>): OsvRecord {
  const r = validateOsvRecord(raw);
  assert.ok(r, `${String(raw.id)} is a valid record`);
  return r;
}

function lookup(records: OsvRecord[]) {
  return async (ecosystem: string, name: string): Promise<OsvRecord[]> => records.filter((r) => r.affected.some((a) => a.package.ecosystem === ecosystem && a.package.name === name));
}

async function scan(t: TestContext, files: FileSpec[], records: OsvRecord[]): Promise<string[]> {
  const dir = await tempDir(t, 'wharf-ecosystems-');
  const layout = await buildLayout(join(dir, 'l'), [{ tag: 'v1', layers: [files] }]);
  const r = await scanImage(parseReference(`oci:${layout.dir}:v1`), { secrets: false, matcher: new OsvMatcher(lookup(records)) });
  return r.vulnerabilities.map((f) => `${f.id} ${f.package.name} ${f.package.version} ${f.fixedVersion ?? '-'} ${f.ecosystem} ${f.severity}`).sort();
}

/** An UBUNTU-CVE record as test/helpers/osv.ts has osv.dev's: one entry per source package and release. */
function ubuntu(id: string, entries: [ecosystem: string, name: string, fixed: string][]): OsvRecord {
  return valid(
    ubuntuRecord({
      id,
      upstream: [id.replace(/^UBUNTU-/, '')],
      affected: entries.map(([ecosystem, name, fixed]) => ({
        package: { name, ecosystem, purl: `pkg:deb/ubuntu/${name}?arch=source&distro=jammy` },
        ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed }] }],
      })),
    }),
  );
}

/** A dpkg status file of installed packages. */
function status(...pkgs: [name: string, version: string, source?: string][]): string {
  return pkgs.map(([name, version, source]) => `Package: ${name}\nStatus: install ok installed\nArchitecture: amd64\n${source ? `Source: ${source}\n` : ''}Version: ${version}\n`).join('\n');
}

test('Ubuntu 22.04: by source package in Ubuntu:22.04:LTS, and in Ubuntu:Pro:22.04:LTS where the standard archive has no entry', async (t) => {
  const files: FileSpec[] = [
    { path: 'etc/os-release', content: UBUNTU_2204 },
    {
      path: 'var/lib/dpkg/status',
      content: status(
        ['libssl3', '3.0.2-0ubuntu1.14', 'openssl'],
        ['openssl', '3.0.2-0ubuntu1.14'],
        ['libc6', '2.35-0ubuntu3.6', 'glibc'],
        ['libmagickcore-6.q16-6', '8:6.9.11.60+dfsg-1.3ubuntu0.22.04.3', 'imagemagick'],
        ['curl', '7.81.0-1ubuntu1.16'],
        ['libvips42', '8.12.1-1', 'vips'],
      ),
    },
  ];
  const records = [
    ubuntu('UBUNTU-CVE-2099-0001', [
      ['Ubuntu:20.04:LTS', 'openssl', '1.1.1f-1ubuntu2.99'],
      ['Ubuntu:22.04:LTS', 'openssl', '3.0.2-0ubuntu1.15'],
    ]),
    // Fixed exactly at the installed version.
    ubuntu('UBUNTU-CVE-2099-0002', [['Ubuntu:22.04:LTS', 'glibc', '2.35-0ubuntu3.6']]),
    // A universe package whose fix ships only through Ubuntu Pro (ESM).
    ubuntu('UBUNTU-CVE-2099-0003', [['Ubuntu:Pro:22.04:LTS', 'imagemagick', '8:6.9.11.60+dfsg-1.3ubuntu0.22.04.5+esm1']]),
    // The standard archive's entry (fixed) decides, not the Pro one.
    ubuntu('UBUNTU-CVE-2099-0004', [
      ['Ubuntu:22.04:LTS', 'curl', '7.81.0-1ubuntu1.16'],
      ['Ubuntu:Pro:22.04:LTS', 'curl', '7.81.0-1ubuntu1.17+esm1'],
    ]),
    // A FIPS stream is not the image's.
    ubuntu('UBUNTU-CVE-2099-0005', [['Ubuntu:Pro:FIPS-updates:22.04:LTS', 'openssl', '3.0.2-0ubuntu1.99+fips']]),
    // No fix yet: the versions list and the Ubuntu priority (test/helpers/osv.ts ubuntuRecord as it is).
    valid(ubuntuRecord()),
  ];
  // Severity: the record's `Ubuntu` priority (medium) over its CVSS vector, as the distribution rates it.
  assert.deepEqual(await scan(t, files, records), [
    'UBUNTU-CVE-2025-29769 libvips42 8.12.1-1 - Ubuntu:22.04:LTS medium',
    'UBUNTU-CVE-2099-0001 libssl3 3.0.2-0ubuntu1.14 3.0.2-0ubuntu1.15 Ubuntu:22.04:LTS medium',
    'UBUNTU-CVE-2099-0001 openssl 3.0.2-0ubuntu1.14 3.0.2-0ubuntu1.15 Ubuntu:22.04:LTS medium',
    'UBUNTU-CVE-2099-0003 libmagickcore-6.q16-6 8:6.9.11.60+dfsg-1.3ubuntu0.22.04.3 8:6.9.11.60+dfsg-1.3ubuntu0.22.04.5+esm1 Ubuntu:Pro:22.04:LTS medium',
  ]);
});

test('Alpine 3.20: by origin in Alpine:v3.20, not by binary name, not another branch', async (t) => {
  const apk = (name: string, version: string, origin: string): string => `C:Q1${'A'.repeat(27)}=\nP:${name}\nV:${version}\nA:x86_64\nS:100000\nI:200000\nT:${name}\no:${origin}\nL:MIT\n`;
  const files: FileSpec[] = [
    { path: 'etc/os-release', content: ALPINE_320 },
    { path: 'etc/alpine-release', content: '3.20.3\n' },
    {
      path: 'lib/apk/db/installed',
      content: [apk('busybox', '1.36.1-r29', 'busybox'), apk('ssl_client', '1.36.1-r29', 'busybox'), apk('libcrypto3', '3.3.2-r0', 'openssl'), apk('zlib', '1.3.1-r1', 'zlib')].join('\n'),
    },
  ];
  const entry = (ecosystem: string, name: string, fixed: string) => ({
    package: { ecosystem, name, purl: `pkg:apk/alpine/${name}?arch=source` },
    ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed }] }],
  });
  const records = [
    // osv.dev's ALPINE-CVE-2024-58251 (test/helpers/osv.ts): busybox fixed in 1.36.1-r30 on v3.20.
    valid(alpineRecord()),
    valid(alpineRecord({ id: 'ALPINE-CVE-2099-0001', upstream: ['CVE-2099-0001'], affected: [entry('Alpine:v3.20', 'openssl', '3.3.2-r0')] })),
    valid(alpineRecord({ id: 'ALPINE-CVE-2099-0002', upstream: ['CVE-2099-0002'], affected: [entry('Alpine:v3.21', 'zlib', '1.3.1-r2')] })),
    // Named by the binary, which is not how the feed names packages: never looked up.
    valid(alpineRecord({ id: 'ALPINE-CVE-2099-0003', upstream: ['CVE-2099-0003'], affected: [entry('Alpine:v3.20', 'libcrypto3', '9.9.9-r0')] })),
  ];
  assert.deepEqual(await scan(t, files, records), [
    'ALPINE-CVE-2024-58251 busybox 1.36.1-r29 1.36.1-r30 Alpine:v3.20 unknown',
    'ALPINE-CVE-2024-58251 ssl_client 1.36.1-r29 1.36.1-r30 Alpine:v3.20 unknown',
  ]);
});
