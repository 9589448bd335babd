/**
 * dpkg's status database: the debian bench image's real database (made by debootstrap) read as dpkg-query reads
 * it, every package, version, source name and source version equal; a written database with every Status,
 * Source and continuation form, against dpkg-query too; distroless status.d; and hostile databases — a 50 MB
 * status file, 100k stanzas, NUL bytes, binary junk, missing fields, injected versions — that warn and go on.
 */
import assert from 'node:assert/strict';
import { existsSync, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { extractImage } from '../src/filesystem/extract.js';
import { catalog, osvEcosystem, parseDpkgStatus, parseDpkgStatusD, type Package } from '../src/scan/catalog/index.js';
import { regularFiles, warnings } from './helpers/catalog-files.js';
import { requirePeer, runPeer, tempDir } from './helpers/peers.js';

const FIXTURE = '/tmp/wharf-fixtures/oci/debian';

/** What dpkg-query says is installed: `name version source:name source:version` per installed package. */
async function dpkgQuery(admindir: string): Promise<string[]> {
  const out = await runPeer('dpkg-query', [`--admindir=${admindir}`, '-W', '-f', '${db:Status-Status} ${Package} ${Version} ${source:Package} ${source:Version}\n']);
  return out
    .split('\n')
    .filter((l) => /^(installed|triggers-pending|triggers-awaited) /.test(l))
    .map((l) => l.slice(l.indexOf(' ') + 1))
    .sort();
}

const line = (p: Package): string => `${p.name} ${p.version} ${p.sourceName} ${p.sourceVersion}`;

describe('the debian bench image', () => {
  test('its dpkg database, read from the image, agrees with dpkg-query on every package', { timeout: 120_000 }, async (t) => {
    if (!existsSync(join(FIXTURE, 'index.json'))) {
      t.skip(`${FIXTURE} is not there (../shared/bench/make-fixtures.sh makes it)`);
      return;
    }
    if (!requirePeer(t, 'dpkg-query', 'dpkg')) return;
    const dir = await tempDir(t, 'wharf-catalog-dpkg-');
    const root = join(dir, 'root');
    await extractImage(`oci:${FIXTURE}:latest`, ['/var/lib/dpkg/status', '/etc/os-release', '/usr/lib/os-release', '/etc/debian_version'], root);
    const files = await regularFiles(root);
    assert.deepEqual(files.map((f) => f.path).sort(), ['etc/debian_version', 'usr/lib/os-release', 'var/lib/dpkg/status'], 'etc/os-release is a symlink in the image');
    const w = warnings();
    const r = catalog(files, w.on);
    assert.deepEqual(w.list, []);
    const theirs = await dpkgQuery(join(root, 'var/lib/dpkg'));
    assert.ok(theirs.length > 50, `${theirs.length} packages`);
    assert.equal(r.packages.length, theirs.length);
    assert.deepEqual(r.packages.map(line).sort(), theirs);
    // The release, and purls with it.
    assert.equal(r.os?.id, 'debian');
    assert.equal(r.os?.versionId, '12');
    assert.equal(r.os?.versionCodename, 'bookworm');
    assert.equal(osvEcosystem(r.os!), 'Debian:12');
    const bash = r.packages.find((p) => p.name === 'bash')!;
    assert.match(bash.purl, /^pkg:deb\/debian\/bash@[0-9][^?]*\?arch=amd64&distro=debian-12$/);
    assert.ok(!bash.purl.includes('+'), 'a + is %2B in a purl');
    for (const p of r.packages) {
      assert.equal(p.type, 'dpkg');
      assert.equal(p.path, 'var/lib/dpkg/status');
      assert.ok(p.arch === 'amd64' || p.arch === 'all', `${p.name} ${p.arch}`);
    }
    // Architectures as dpkg-query has them.
    const arches = (await runPeer('dpkg-query', [`--admindir=${join(root, 'var/lib/dpkg')}`, '-W', '-f', '${Package} ${Architecture}\n'])).trim().split('\n').sort();
    assert.deepEqual(r.packages.map((p) => `${p.name} ${p.arch}`).sort(), arches);
    // At least one binNMU or renamed source, so both Source forms were exercised.
    assert.ok(r.packages.some((p) => p.sourceVersion !== p.version), 'a Source: name (version)');
    assert.ok(r.packages.some((p) => p.sourceName !== p.name && p.sourceVersion === p.version), 'a Source: name');
  });
});

/** A status database with every form that matters, valid enough for dpkg-query to read. */
const WRITTEN = `Package: plain
Status: install ok installed
Priority: required
Architecture: amd64
Version: 1.0-1
Description: a plain package
 with a long description
 .
 over several lines

Package: epoch
Status: install ok installed
Architecture: amd64
Source: epoch-src
Version: 2:3.4.5-6+deb12u1
Description: an epoch, and a source with another name

Package: binnmu
Status: hold ok installed
Architecture: arm64
Multi-Arch: same
Source: binnmu-src (1.2-3)
Version: 1.2-3+b2
Depends: libc6 (>= 2.34),
 plain
Description: held, from a source whose version differs

Package: gone
Status: deinstall ok config-files
Architecture: amd64
Version: 0.9
Conffiles:
 /etc/gone.conf 0123456789abcdef0123456789abcdef
Description: removed, its configuration kept

Package: purged
Status: purge ok not-installed
Architecture: amd64

Package: half
Status: install reinstreq half-installed
Architecture: amd64
Version: 5.0
Description: half installed

Package: trig
Status: install ok triggers-pending
Architecture: all
Version: 1
Description: installed, triggers pending
Triggers-Pending: ldconfig

Package: tilde
Status: install ok installed
Architecture: all
Version: 1.0~rc1+dfsg-2ubuntu0.1
Description: tilde and plus

Package: unpacked
Status: install ok unpacked
Architecture: amd64
Version: 7
Description: unpacked, not configured
`;

describe('parseDpkgStatus', () => {
  test('a written database: the packages dpkg-query shows as installed, with their sources', async (t) => {
    const w = warnings();
    const pkgs = parseDpkgStatus(Buffer.from(WRITTEN), { onWarning: w.on });
    assert.deepEqual(pkgs.map(line), [
      'plain 1.0-1 plain 1.0-1',
      'epoch 2:3.4.5-6+deb12u1 epoch-src 2:3.4.5-6+deb12u1',
      'binnmu 1.2-3+b2 binnmu-src 1.2-3',
      'trig 1 trig 1',
      'tilde 1.0~rc1+dfsg-2ubuntu0.1 tilde 1.0~rc1+dfsg-2ubuntu0.1',
    ]);
    assert.deepEqual(pkgs.map((p) => p.arch), ['amd64', 'amd64', 'arm64', 'all', 'all']);
    // half-installed and unpacked packages are not counted, and say so; removed ones silently.
    assert.equal(w.list.length, 2, w.list.join('\n'));
    assert.match(w.list[0]!, /half.*half-installed \(not fully installed\); skipped/);
    assert.match(w.list[1]!, /unpacked.*unpacked \(not fully installed\); skipped/);
    assert.equal(pkgs[1]!.purl, 'pkg:deb/debian/epoch@2:3.4.5-6%2Bdeb12u1?arch=amd64');
    if (!requirePeer(t, 'dpkg-query', 'dpkg')) return;
    const dir = await tempDir(t, 'wharf-catalog-dpkg-');
    await fsp.writeFile(join(dir, 'status'), WRITTEN);
    assert.deepEqual(pkgs.map(line).sort(), await dpkgQuery(dir));
  });

  test('field names are case-insensitive and CRLF line ends are read', () => {
    const pkgs = parseDpkgStatus(Buffer.from('package: a\r\nSTATUS: install ok installed\r\nversion: 1\r\nsource: b (2)\r\n\r\n'));
    assert.deepEqual(pkgs.map(line), ['a 1 b 2']);
    // A line separator inside a value is text, not the end of a line.
    const w = warnings();
    parseDpkgStatus(Buffer.from('Package: a\nStatus: install ok installed\nVersion: 1\nDescription: one\u2028two\n'), { onWarning: w.on });
    assert.deepEqual(w.list, []);
  });

  test('distroless status.d: one file per package, no Status field', () => {
    const w = warnings();
    const data = Buffer.from('Package: base-files\nVersion: 12.4+deb12u5\nArchitecture: amd64\nSource: base-files\nMaintainer: Santiago Vila <sanvila@debian.org>\nInstalled-Size: 340\nSection: admin\nPriority: required\nDescription: Debian base system miscellaneous files\n');
    const pkgs = parseDpkgStatusD(data, { path: 'var/lib/dpkg/status.d/base-files', onWarning: w.on });
    assert.deepEqual(pkgs.map(line), ['base-files 12.4+deb12u5 base-files 12.4+deb12u5']);
    assert.equal(pkgs[0]!.path, 'var/lib/dpkg/status.d/base-files');
    assert.deepEqual(w.list, []);
    // In the status file, a stanza without Status is not trusted to be installed.
    const strict = warnings();
    assert.deepEqual(parseDpkgStatus(data, { onWarning: strict.on }), []);
    assert.match(strict.list[0]!, /no Status field; skipped/);
  });

  test('missing fields: each such stanza is skipped with a warning, the others are read', () => {
    const w = warnings();
    const data = Buffer.from(
      [
        'Status: install ok installed\nVersion: 1',
        'Package: noversion\nStatus: install ok installed',
        'Package: \nStatus: install ok installed\nVersion: 1',
        'Package: nostatus-word\nStatus: install ok\nVersion: 1',
        'Package: ok\nStatus: install ok installed\nVersion: 1',
        'Package: badsource\nStatus: install ok installed\nVersion: 1\nSource: (',
      ].join('\n\n'),
    );
    const pkgs = parseDpkgStatus(data, { onWarning: w.on });
    assert.deepEqual(pkgs.map(line), ['ok 1 ok 1', 'badsource 1 badsource 1']);
    assert.equal(w.list.length, 5, w.list.join('\n'));
    assert.match(w.list[0]!, /stanza at line 1: no Package field/);
    assert.match(w.list[1]!, /noversion.*no Version field/);
    assert.match(w.list[2]!, /no Package field/);
    assert.match(w.list[3]!, /Status "install ok" is not "want flag state"/);
    assert.match(w.list[4]!, /badsource.*Source "\(" is not "name" or "name \(version\)"/);
  });

  test('NUL bytes in a stanza: the line is dropped with a warning, the stanza stands or falls without it', () => {
    const w = warnings();
    const data = Buffer.from('Package: a\nStatus: install ok installed\nVersion: 1\x00; rm -rf /\n\nPackage: b\nStatus: install ok installed\nVersion: 2\nDescription: x\x00y\n');
    const pkgs = parseDpkgStatus(data, { onWarning: w.on });
    assert.deepEqual(pkgs.map(line), ['b 2 b 2']);
    assert.match(w.list.join('\n'), /line with NUL bytes dropped/);
    assert.match(w.list.join('\n'), /\(a\): no Version field; skipped/);
  });

  test('hostile versions and names are refused: shell syntax, spaces, continuation-injected lines, control characters, 10k characters', () => {
    const w = warnings();
    const bad = ['1.0; rm -rf /', '1.0 2.0', '$(reboot)', '1.0\u001b[31m', '../../etc/passwd', '9'.repeat(10_000), '-1', ':1.0'];
    const stanzas = bad.map((v, i) => `Package: p${i}\nStatus: install ok installed\nVersion: ${v}`);
    stanzas.push('Package: cont\nStatus: install ok installed\nVersion: 1.0\n injected continuation');
    stanzas.push('Package: ../evil\nStatus: install ok installed\nVersion: 1');
    stanzas.push('Package: spaced name\nStatus: install ok installed\nVersion: 1');
    stanzas.push('Package: archy\nStatus: install ok installed\nVersion: 1\nArchitecture: amd64; echo');
    const pkgs = parseDpkgStatus(Buffer.from(stanzas.join('\n\n')), { onWarning: w.on });
    assert.deepEqual(pkgs.map((p) => [p.name, p.version, p.arch]), [['archy', '1', undefined]]);
    assert.ok(w.list.length >= 10, w.list.join('\n'));
    assert.ok(w.list.every((m) => m.length < 300), 'warnings quote at most a readable part of the value');
    assert.ok(!w.list.join('').includes('\u001b'), 'no terminal escapes in warnings');
  });

  test('binary junk: warnings, at most a few, and nothing found; junk around real stanzas leaves them readable', () => {
    let seed = 42;
    const junk = Buffer.alloc(1 << 20);
    for (let i = 0; i < junk.length; i++) junk[i] = (seed = (seed * 1103515245 + 12345) & 0x7fffffff) >> 16;
    const w = warnings();
    assert.deepEqual(parseDpkgStatus(junk, { onWarning: w.on }), []);
    assert.ok(w.list.length <= 11, `${w.list.length} warnings`);
    assert.match(w.list.at(-1)!, /more problems not shown/);
    const mixed = Buffer.concat([junk.subarray(0, 5000), Buffer.from('\n\nPackage: real\nStatus: install ok installed\nVersion: 1\n\n'), junk.subarray(5000, 9000)]);
    assert.deepEqual(parseDpkgStatus(mixed, { onWarning: () => {} }).map((p) => p.name), ['real']);
  });

  test('100k stanzas: all read, quickly', () => {
    const parts: string[] = [];
    for (let i = 0; i < 100_000; i++) parts.push(`Package: pkg${i}\nStatus: install ok installed\nArchitecture: amd64\nSource: src${i % 100} (1.${i})\nVersion: 1.${i}-1\nDescription: package ${i}\n a continuation\n`);
    const data = Buffer.from(parts.join('\n'));
    const started = Date.now();
    const pkgs = parseDpkgStatus(data);
    assert.equal(pkgs.length, 100_000);
    assert.equal(line(pkgs[99_999]!), 'pkg99999 1.99999-1 src99 1.99999');
    assert.ok(Date.now() - started < 10_000, `${Date.now() - started} ms`);
  });

  test('a 50 MB status file: every stanza read with bounded warnings; one 50 MB stanza is skipped unread', () => {
    const description = ` ${'x'.repeat(70)}\n`.repeat(6);
    const stanza = (i: number): string => `Package: p${i}\nStatus: install ok installed\nArchitecture: all\nVersion: ${i}\nDescription: big\n${description}\n`;
    const one = Buffer.byteLength(stanza(0));
    const count = Math.ceil((50 << 20) / one);
    const data = Buffer.from(Array.from({ length: count }, (_, i) => stanza(i)).join(''));
    assert.ok(data.length >= 50 << 20);
    const w = warnings();
    const pkgs = parseDpkgStatus(data, { onWarning: w.on });
    assert.equal(pkgs.length, count);
    assert.deepEqual(w.list, []);
    // The same bytes with no blank line: one stanza, far over the cap, skipped with one warning.
    const flat = Buffer.from(data.toString('latin1').replace(/\n\n/g, '\n'), 'latin1');
    const w2 = warnings();
    assert.deepEqual(parseDpkgStatus(flat, { onWarning: w2.on }), []);
    assert.equal(w2.list.length, 1);
    assert.match(w2.list[0]!, /larger than \d+; skipped/);
  });
});
