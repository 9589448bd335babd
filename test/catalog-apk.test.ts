/**
 * apk's installed database, in the format apk-tools writes (an Alpine 3.20 base image's, abridged to a few
 * files per package): names, versions, architectures, origins and licenses; and hostile databases — shell
 * syntax and escapes in versions, a missing blank line, NUL bytes, binary junk, a huge stanza.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { catalog, osvEcosystem, parseApkInstalled } from '../src/scan/catalog/index.js';
import { warnings } from './helpers/catalog-files.js';

/** lib/apk/db/installed of alpine:3.20, its first packages, with their file lists shortened. */
const INSTALLED = `C:Q1Rz5LuOt3XHQo0Y+PLuNUB4TWjQA=
P:alpine-baselayout-data
V:3.6.5-r0
A:x86_64
S:11235
I:77824
T:Alpine base dir structure and init scripts
U:https://git.alpinelinux.org/cgit/aports/tree/main/alpine-baselayout
L:GPL-2.0-only
o:alpine-baselayout
m:Natanael Copa <ncopa@alpinelinux.org>
t:1714981135
c:66187892e05b03a41d08e9acabd19b7576a1c875
r:alpine-baselayout
F:etc
R:fstab
Z:Q11Q7hNe8QpDS531guqCdrXBzoA/o=
R:group
Z:Q12Otk4M39fP2Zjkobu0nC9FvlRI0=

C:Q1i0XkkDBNbW4ycHUV2MZ7Q6pZSCs=
P:musl
V:1.2.5-r0
A:x86_64
S:411323
I:667648
T:the musl c library (libc) implementation
U:https://musl.libc.org/
L:MIT
o:musl
m:Timo Teräs <timo.teras@iki.fi>
t:1712163549
c:ba9b3f1d6e3d0e8ee8c5db6ff6aee2b0c7ac0dfd
p:so:libc.musl-x86_64.so.1=1
F:lib
R:ld-musl-x86_64.so.1
a:0:0:755
Z:Q1yd+pzKDHsx5e+eV0Wo5PQ7kLtfI=
R:libc.musl-x86_64.so.1
a:0:0:777
Z:Q17yJ3JFNypA4mxhJJr0ou6CzsJVI=

C:Q1P8tt7zOlD1rX9R7c4uyB5D8Q21c=
P:busybox
V:1.36.1-r29
A:x86_64
S:509282
I:946176
T:Size optimized toolbox of many common UNIX utilities
U:https://busybox.net/
L:GPL-2.0-only
o:busybox
m:Sören Tempel <soeren+alpine@soeren-tempel.net>
t:1717432396
c:a5c6f88a9ec0ac4e4bb5bb3d29d3e8cbb2ddf0f6
D:so:libc.musl-x86_64.so.1
p:cmd:busybox=1.36.1-r29
r:busybox-initscripts
F:bin
R:busybox
a:0:0:755
Z:Q1WUwBY0eOGgzgVxTZxJBZPyQUicI=
F:etc
R:securetty
Z:Q1mB95Hq2NUTZ599RDiSsj9w5FrOU=

C:Q1aJrI0gR3KyTqXXD2qn9eZ7EDpHY=
P:libcrypto3
V:3.3.2-r0
A:x86_64
S:1719389
I:4386816
T:Crypto library from openssl
U:https://www.openssl.org/
L:Apache-2.0
o:openssl
m:Ariadne Conill <ariadne@dereferenced.org>
t:1725304962
c:2c8c8d5e2f5a0c6b8e8eb5fd4d5b5b5e6e1fd4c0
D:so:libc.musl-x86_64.so.1
p:so:libcrypto.so.3=3
r:libcrypto1.1
F:etc
F:etc/ssl
R:ct_log_list.cnf
Z:Q1olh8TpdAi2QnTl4FK3TjdUiSwTo=
F:usr
F:usr/lib
R:libcrypto.so.3
a:0:0:755
Z:Q1WdcIFRt4tVRc/PdRkYoKV6lcXDs=

C:Q1hX4mXHWkm6ZmnMlJqD0U1Sx/5m8=
P:ssl_client
V:1.36.1-r29
A:x86_64
S:4997
I:14336
T:EXternal ssl_client for busybox wget
U:https://busybox.net/
L:GPL-2.0-only
o:busybox
m:Sören Tempel <soeren+alpine@soeren-tempel.net>
t:1717432396
c:a5c6f88a9ec0ac4e4bb5bb3d29d3e8cbb2ddf0f6
D:so:libc.musl-x86_64.so.1 so:libcrypto.so.3 so:libssl.so.3
i:busybox=1.36.1-r29 libssl3
F:usr
F:usr/bin
R:ssl_client
a:0:0:755
Z:Q1PmBHp1DmdoJL9KbaQAdk9kMbh4s=

C:Q1e0iIUlpcEt6vaVHdaJgTSR9VE2A=
P:ca-certificates-bundle
V:20240705-r0
A:x86_64
S:126493
I:233472
T:Pre generated bundle of Mozilla certificates
U:https://www.mozilla.org/en-US/about/governance/policies/security-group/certs/
L:MPL-2.0 AND MIT
o:ca-certificates
m:Natanael Copa <ncopa@alpinelinux.org>
t:1720440104
c:0a3e3c4a8ac2a2e3a0d4b3b1d6c9f2e5bb3e3f5b
p:ca-certificates-cert
F:etc
F:etc/ssl
F:etc/ssl/certs
R:ca-certificates.crt
Z:Q1nRwXPvfb0XvRygzcZu1BMTasS+k=

C:Q1u3qyAk8G2mVLbXkNE/9PTSkd3vM=
P:scanelf
V:1.3.7-r2
A:x86_64
S:36745
I:98304
T:Scan ELF binaries for stuff
U:https://wiki.gentoo.org/wiki/Hardened/PaX_Utilities
L:GPL-2.0-only
o:pax-utils
m:Natanael Copa <ncopa@alpinelinux.org>
t:1711383227
c:48ab2c2f5d8d8b3b6e0dbf9f01b1b6d8bb5bdeef
D:so:libc.musl-x86_64.so.1
p:cmd:scanelf=1.3.7-r2
r:pax-utils
F:usr
F:usr/bin
R:scanelf
a:0:0:755
Z:Q1Ci3gbXmX7oyNRZ/ezfHRYKbH1f4=
`;

describe('parseApkInstalled', () => {
  test("alpine 3.20's database: every package with its version, arch, origin and license", () => {
    const w = warnings();
    const pkgs = parseApkInstalled(Buffer.from(INSTALLED), { onWarning: w.on });
    assert.deepEqual(w.list, []);
    assert.deepEqual(
      pkgs.map((p) => [p.name, p.version, p.arch, p.sourceName, p.sourceVersion, p.licenses]),
      [
        ['alpine-baselayout-data', '3.6.5-r0', 'x86_64', 'alpine-baselayout', '3.6.5-r0', ['GPL-2.0-only']],
        ['musl', '1.2.5-r0', 'x86_64', 'musl', '1.2.5-r0', ['MIT']],
        ['busybox', '1.36.1-r29', 'x86_64', 'busybox', '1.36.1-r29', ['GPL-2.0-only']],
        ['libcrypto3', '3.3.2-r0', 'x86_64', 'openssl', '3.3.2-r0', ['Apache-2.0']],
        ['ssl_client', '1.36.1-r29', 'x86_64', 'busybox', '1.36.1-r29', ['GPL-2.0-only']],
        ['ca-certificates-bundle', '20240705-r0', 'x86_64', 'ca-certificates', '20240705-r0', ['MPL-2.0 AND MIT']],
        ['scanelf', '1.3.7-r2', 'x86_64', 'pax-utils', '1.3.7-r2', ['GPL-2.0-only']],
      ],
    );
    assert.ok(pkgs.every((p) => p.type === 'apk' && p.path === 'lib/apk/db/installed'));
  });

  test('with the release from /etc/os-release: the purls and the OSV ecosystem', () => {
    const r = catalog([
      { path: 'lib/apk/db/installed', data: Buffer.from(INSTALLED) },
      { path: 'etc/os-release', data: Buffer.from('NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.20.3\nPRETTY_NAME="Alpine Linux v3.20"\n') },
      { path: 'etc/alpine-release', data: Buffer.from('3.20.3\n') },
    ]);
    assert.equal(osvEcosystem(r.os!), 'Alpine:v3.20');
    assert.equal(r.packages.find((p) => p.name === 'libcrypto3')!.purl, 'pkg:apk/alpine/libcrypto3@3.3.2-r0?arch=x86_64&distro=alpine-3.20.3');
    assert.equal(r.packages.length, 7);
  });

  test('hostile versions: shell syntax, spaces, escapes, newlines through CR, 10k characters, empty', () => {
    const bad = ['1.0-r0; rm -rf /', '1.0 -r0', '$(id)', '`id`', '1.0\u001b]0;pwned\u0007', '1.0\r-r0 injected', '9'.repeat(10_000), '', '-r0', '../../../etc/passwd'];
    const db = bad.map((v, i) => `P:p${i}\nV:${v}\nA:x86_64`).join('\n\n') + '\n\nP:good\nV:1.2.3_git20240101-r10\nA:x86_64\n';
    const w = warnings();
    const pkgs = parseApkInstalled(Buffer.from(db), { onWarning: w.on });
    assert.deepEqual(pkgs.map((p) => `${p.name} ${p.version}`), ['good 1.2.3_git20240101-r10']);
    assert.ok(w.list.length >= 10, w.list.join('\n'));
    assert.ok(!w.list.join('').includes('\u001b') && !w.list.join('').includes('\u0007'), 'no terminal escapes in warnings');
    assert.ok(w.list.every((m) => m.length < 300));
  });

  test('hostile names, origins and architectures', () => {
    const db = 'P:../evil\nV:1\n\nP:ok\nV:1\no:$(id)\nA:x86_64 && id\nL:MIT\x07\n';
    const w = warnings();
    const pkgs = parseApkInstalled(Buffer.from(db), { onWarning: w.on });
    assert.deepEqual(pkgs.map((p) => [p.name, p.sourceName, p.arch, p.licenses]), [['ok', 'ok', undefined, undefined]]);
    assert.equal(w.list.length, 3, w.list.join('\n'));
  });

  test('a missing blank line between two packages: the first kept, and a warning', () => {
    const w = warnings();
    const pkgs = parseApkInstalled(Buffer.from('P:a\nV:1\nP:b\nV:2\n'), { onWarning: w.on });
    assert.deepEqual(pkgs.map((p) => `${p.name} ${p.version}`), ['a 1']);
    assert.match(w.list.join('\n'), /P: given twice/);
  });

  test('NUL bytes in a stanza and lines that are not X:value: ignored, with one warning per stanza', () => {
    const w = warnings();
    const pkgs = parseApkInstalled(Buffer.from('P:a\nV:1\x00\nV:2\nnot a field\nV\n\nP:b\nV:3\n'), { onWarning: w.on });
    assert.deepEqual(pkgs.map((p) => `${p.name} ${p.version}`), ['a 2', 'b 3']);
    assert.equal(w.list.length, 1);
    assert.match(w.list[0]!, /3 lines that are not "X:value" ignored/);
  });

  test('missing P: or V:', () => {
    const w = warnings();
    assert.deepEqual(parseApkInstalled(Buffer.from('V:1\nA:x86_64\n\nP:nover\nA:x86_64\n'), { onWarning: w.on }), []);
    assert.equal(w.list.length, 2);
  });

  test('binary junk: at most a few warnings, nothing found', () => {
    const junk = Buffer.from(Array.from({ length: 1 << 20 }, (_, i) => (i * 2654435761) >>> 24));
    const w = warnings();
    assert.deepEqual(parseApkInstalled(junk, { onWarning: w.on }), []);
    assert.ok(w.list.length <= 11, `${w.list.length}`);
  });

  test('a package with 200k files (a 10 MB stanza) is read; 20k packages are read', () => {
    const files = Array.from({ length: 200_000 }, (_, i) => `R:file${i}\na:0:0:755\nZ:Q1yd+pzKDHsx5e+eV0Wo5PQ7kLtfI=`).join('\n');
    assert.deepEqual(parseApkInstalled(Buffer.from(`P:big\nV:1-r0\nF:usr\n${files}\n`)).map((p) => p.name), ['big']);
    const many = Array.from({ length: 20_000 }, (_, i) => `P:p${i}\nV:1.${i}-r0\nA:aarch64\nF:usr\nR:f\n`).join('\n');
    assert.equal(parseApkInstalled(Buffer.from(many)).length, 20_000);
  });
});
