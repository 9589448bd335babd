/**
 * os-release(5): the quoting rules checked against the shell that os-release files are written for (each
 * value as `sh -c '. FILE'` sees it), the real files of this machine and of the debian bench image; the
 * /etc/debian_version and /etc/alpine-release fallbacks; the OSV ecosystem of each distribution from its real
 * os-release; and hostile files (junk, control characters, shell syntax in ID) that warn and go on.
 */
import assert from 'node:assert/strict';
import { existsSync, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { catalog, osvEcosystem, parseAlpineRelease, parseDebianVersion, parseOsRelease, parseOsReleaseFields } from '../src/scan/catalog/index.js';
import { warnings } from './helpers/catalog-files.js';
import { requirePeer, runPeer, tempDir } from './helpers/peers.js';

/** Each variable of `file` as the shell sees it after sourcing it. */
async function shellValues(file: string, names: string[]): Promise<Map<string, string>> {
  const script = `. "$1"; shift; for n in "$@"; do eval "printf '%s\\\\0' \\"\\$$n\\""; done`;
  const out = await runPeer('sh', ['-c', script, 'sh', file, ...names]);
  const values = out.split('\0').slice(0, names.length);
  return new Map(names.map((n, i) => [n, values[i]!]));
}

const TRICKY = [
  'ID=debian',
  'PLAIN=unquoted',
  'DQ="a \\"quoted\\" word, \\$dollar, \\\\backslash, \\`tick\\`"',
  "SQ='single $HOME \"kept\" \\\\ as is'",
  'ESCAPED=esc\\ aped',
  'HASH="with # hash"',
  'KEEP="keep \\n and \\x as they are"',
  'EMPTY=""',
  'SPACES="  inner spaces  "',
  '# a comment',
  '',
  '   INDENTED="indented line"',
  'UTF8="Debian GNU/Linux 12 (bookworm) — ünïcödé"',
  'TRAILING="value"   ',
].join('\n');

describe('parseOsRelease', () => {
  test('quoting, escapes and comments as the shell reads them', async (t) => {
    const fields = parseOsReleaseFields(Buffer.from(TRICKY));
    const names = ['ID', 'PLAIN', 'DQ', 'SQ', 'ESCAPED', 'HASH', 'KEEP', 'EMPTY', 'SPACES', 'INDENTED', 'UTF8', 'TRAILING'];
    assert.deepEqual([...fields.keys()].sort(), [...names].sort());
    assert.equal(fields.get('DQ'), 'a "quoted" word, $dollar, \\backslash, `tick`');
    assert.equal(fields.get('SQ'), 'single $HOME "kept" \\\\ as is');
    if (!requirePeer(t, 'sh', 'dash')) return;
    const dir = await tempDir(t, 'wharf-catalog-os-');
    await fsp.writeFile(join(dir, 'os-release'), TRICKY);
    const sh = await shellValues(join(dir, 'os-release'), names);
    for (const n of names) assert.equal(fields.get(n), sh.get(n), n);
  });

  test("this machine's own os-release, field by field as the shell sees it", async (t) => {
    const file = ['/etc/os-release', '/usr/lib/os-release'].find((f) => existsSync(f));
    if (!file) {
      t.skip('no os-release on this machine');
      return;
    }
    if (!requirePeer(t, 'sh', 'dash')) return;
    const data = await fsp.readFile(file);
    const w = warnings();
    const fields = parseOsReleaseFields(data, file, w.on);
    assert.deepEqual(w.list, []);
    assert.ok(fields.size >= 3);
    const sh = await shellValues(file, [...fields.keys()]);
    for (const [k, v] of fields) assert.equal(v, sh.get(k), k);
    const os = parseOsRelease(data, file);
    assert.equal(os.id, sh.get('ID')?.toLowerCase() ?? 'linux');
  });

  test('an ID or VERSION_ID with shell syntax or capitals: lowercased or ignored, with a warning', () => {
    const w = warnings();
    const os = parseOsRelease(Buffer.from('ID="Debian"\nVERSION_ID="12; rm -rf /"\nVERSION_CODENAME=$(reboot)\nPRETTY_NAME="ok"\n'), 'etc/os-release', w.on);
    assert.deepEqual(os, { id: 'debian', versionId: '', prettyName: 'ok' });
    assert.equal(w.list.length, 2, w.list.join('\n'));
  });

  test('no ID: "linux", as os-release(5) says', () => {
    assert.deepEqual(parseOsRelease(Buffer.from('NAME=Something\n')), { id: 'linux', versionId: '' });
  });

  test('an os-release of binary junk: warnings, at most a few, and "linux"', () => {
    const junk = Buffer.from(Array.from({ length: 65536 }, (_, i) => (i * 7919) % 256));
    const w = warnings();
    const os = parseOsRelease(junk, 'etc/os-release', w.on);
    assert.equal(os.id, 'linux');
    assert.ok(w.list.length > 0 && w.list.length <= 11, `${w.list.length}`);
  });

  test('control characters in a value, unterminated quotes, text after the closing quote', () => {
    const w = warnings();
    const f = parseOsReleaseFields(Buffer.from('A="bell\x07"\nB="open\nC=\'open\nD="x" y\nE=ok\n'), 'os-release', w.on);
    assert.equal(f.has('A'), false);
    assert.equal(f.get('B'), 'open');
    assert.equal(f.get('C'), 'open');
    assert.equal(f.get('D'), 'x');
    assert.equal(f.get('E'), 'ok');
    assert.equal(w.list.length, 4, w.list.join('\n'));
  });
});

describe('fallbacks', () => {
  test('/etc/debian_version and /etc/alpine-release', () => {
    assert.deepEqual(parseDebianVersion(Buffer.from('12.15\n')), { id: 'debian', versionId: '12' });
    assert.deepEqual(parseDebianVersion(Buffer.from('trixie/sid\n')), { id: 'debian', versionId: '', versionCodename: 'trixie' });
    assert.equal(parseDebianVersion(Buffer.from('<script>\n')), undefined);
    assert.deepEqual(parseAlpineRelease(Buffer.from('3.20.3\n')), { id: 'alpine', versionId: '3.20.3' });
    assert.deepEqual(parseAlpineRelease(Buffer.from('3.21_alpha20240807\n')), { id: 'alpine', versionId: '3.21_alpha20240807' });
    assert.equal(parseAlpineRelease(Buffer.from('\x00\x01')), undefined);
  });

  test('/etc/os-release wins over /usr/lib/os-release, which wins over the release files; sid takes a number from debian_version when it has one', () => {
    const f = (path: string, text: string) => ({ path, data: Buffer.from(text) });
    assert.equal(catalog([f('usr/lib/os-release', 'ID=debian\nVERSION_ID=11\n'), f('etc/os-release', 'ID=debian\nVERSION_ID=12\n')]).os?.versionId, '12');
    assert.equal(catalog([f('etc/debian_version', '10.1\n'), f('/usr/lib/os-release', 'ID=debian\nVERSION_ID=11\n')]).os?.versionId, '11');
    assert.deepEqual(catalog([f('etc/alpine-release', '3.19.1\n')]).os, { id: 'alpine', versionId: '3.19.1' });
    assert.deepEqual(catalog([f('etc/debian_version', '12.5\n')]).os, { id: 'debian', versionId: '12' });
    const sid = catalog([f('etc/os-release', 'PRETTY_NAME="Debian GNU/Linux trixie/sid"\nVERSION_CODENAME=trixie\nID=debian\n'), f('etc/debian_version', 'trixie/sid\n')]).os!;
    assert.equal(sid.versionId, '');
    assert.equal(osvEcosystem(sid), undefined, 'sid has no release to match advisories against');
    assert.equal(catalog([]).os, undefined);
  });
});

/** Real os-release files, as the distributions' container images ship them. */
const RELEASES: [string, string, string | undefined][] = [
  [
    'debian 12',
    'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nVERSION="12 (bookworm)"\nVERSION_CODENAME=bookworm\nID=debian\nHOME_URL="https://www.debian.org/"\nSUPPORT_URL="https://www.debian.org/support"\nBUG_REPORT_URL="https://bugs.debian.org/"\n',
    'Debian:12',
  ],
  [
    'ubuntu 22.04',
    'PRETTY_NAME="Ubuntu 22.04.4 LTS"\nNAME="Ubuntu"\nVERSION_ID="22.04"\nVERSION="22.04.4 LTS (Jammy Jellyfish)"\nVERSION_CODENAME=jammy\nID=ubuntu\nID_LIKE=debian\nHOME_URL="https://www.ubuntu.com/"\nUBUNTU_CODENAME=jammy\n',
    'Ubuntu:22.04:LTS',
  ],
  ['ubuntu 23.10', 'PRETTY_NAME="Ubuntu 23.10"\nNAME="Ubuntu"\nVERSION_ID="23.10"\nVERSION="23.10 (Mantic Minotaur)"\nVERSION_CODENAME=mantic\nID=ubuntu\nID_LIKE=debian\n', 'Ubuntu:23.10'],
  ['alpine 3.20', 'NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.20.3\nPRETTY_NAME="Alpine Linux v3.20"\nHOME_URL="https://alpinelinux.org/"\nBUG_REPORT_URL="https://gitlab.alpinelinux.org/alpine/aports/-/issues"\n', 'Alpine:v3.20'],
  ['alpine edge', 'NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.21_alpha20240807\nPRETTY_NAME="Alpine Linux edge"\n', undefined],
  [
    'ubi 9',
    'NAME="Red Hat Enterprise Linux"\nVERSION="9.4 (Plow)"\nID="rhel"\nID_LIKE="fedora"\nVERSION_ID="9.4"\nPLATFORM_ID="platform:el9"\nPRETTY_NAME="Red Hat Enterprise Linux 9.4 (Plow)"\nANSI_COLOR="0;31"\nLOGO="fedora-logo-icon"\nCPE_NAME="cpe:/o:redhat:enterprise_linux:9::baseos"\nHOME_URL="https://www.redhat.com/"\n',
    'Red Hat:enterprise_linux:9::baseos',
  ],
  [
    'rocky 9',
    'NAME="Rocky Linux"\nVERSION="9.3 (Blue Onyx)"\nID="rocky"\nID_LIKE="rhel centos fedora"\nVERSION_ID="9.3"\nPLATFORM_ID="platform:el9"\nPRETTY_NAME="Rocky Linux 9.3 (Blue Onyx)"\nANSI_COLOR="0;32"\nCPE_NAME="cpe:/o:rocky:rocky:9::baseos"\n',
    'Rocky Linux:9',
  ],
  [
    'almalinux 9',
    'NAME="AlmaLinux"\nVERSION="9.4 (Seafoam Ocelot)"\nID="almalinux"\nID_LIKE="rhel centos fedora"\nVERSION_ID="9.4"\nPLATFORM_ID="platform:el9"\nPRETTY_NAME="AlmaLinux 9.4 (Seafoam Ocelot)"\nCPE_NAME="cpe:/o:almalinux:almalinux:9::baseos"\n',
    'AlmaLinux:9',
  ],
  [
    'sles 15 sp5',
    'NAME="SLES"\nVERSION="15-SP5"\nVERSION_ID="15.5"\nPRETTY_NAME="SUSE Linux Enterprise Server 15 SP5"\nID="sles"\nID_LIKE="suse"\nANSI_COLOR="0;32"\nCPE_NAME="cpe:/o:suse:sles:15:sp5"\n',
    'SUSE:Linux Enterprise Server 15 SP5',
  ],
  [
    'opensuse leap 15.5',
    'NAME="openSUSE Leap"\nVERSION="15.5"\nID="opensuse-leap"\nID_LIKE="suse opensuse"\nVERSION_ID="15.5"\nPRETTY_NAME="openSUSE Leap 15.5"\nANSI_COLOR="0;32"\nCPE_NAME="cpe:/o:opensuse:leap:15.5"\n',
    'openSUSE:Leap 15.5',
  ],
  ['wolfi', 'ID=wolfi\nNAME="Wolfi"\nPRETTY_NAME="Wolfi"\nVERSION_ID="20230201"\nHOME_URL="https://wolfi.dev"\n', 'Wolfi'],
  ['arch', 'NAME="Arch Linux"\nPRETTY_NAME="Arch Linux"\nID=arch\nBUILD_ID=rolling\n', undefined],
];

describe('osvEcosystem', () => {
  for (const [name, text, ecosystem] of RELEASES) {
    test(`${name}: ${ecosystem ?? 'none'}`, () => {
      const w = warnings();
      const os = parseOsRelease(Buffer.from(text), 'etc/os-release', w.on);
      assert.deepEqual(w.list, []);
      assert.equal(osvEcosystem(os), ecosystem);
    });
  }

  test('ubuntu without VERSION: LTS from the release number (even year, April)', () => {
    assert.equal(osvEcosystem({ id: 'ubuntu', versionId: '24.04' }), 'Ubuntu:24.04:LTS');
    assert.equal(osvEcosystem({ id: 'ubuntu', versionId: '23.04' }), 'Ubuntu:23.04');
    assert.equal(osvEcosystem({ id: 'ubuntu', versionId: '' }), undefined);
  });

  test('a fuller set of fields from os-release', () => {
    const os = parseOsRelease(Buffer.from(RELEASES[1]![1]));
    assert.deepEqual(os, { id: 'ubuntu', versionId: '22.04', versionCodename: 'jammy', prettyName: 'Ubuntu 22.04.4 LTS', version: '22.04.4 LTS (Jammy Jellyfish)', idLike: ['debian'] });
  });
});
