/**
 * Debian version ordering against dpkg's own test vectors, each checked both ways:
 * - lib/dpkg/t/t-version.c, dpkg's C unit test (guillemj/dpkg): its compare, relate and parse cases;
 * - scripts/t/Dpkg_Version.t, dpkg's Perl test, whose __DATA__ table it also runs through `dpkg --compare-versions`;
 * - a table recorded from `dpkg --compare-versions` of dpkg 1.21.22 (Debian 12, amd64), for what those two leave
 *   out: absent revisions, tilde ladders, control and non-ASCII characters, strtol epochs, real security updates;
 * - live, seeded random versions against the dpkg on PATH (a peer: Debian always has it).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, test } from 'node:test';
import {
  compareDpkg,
  compareDpkgVersions,
  formatDpkgVersion,
  parseDpkgVersion,
  verrevcmp,
  type DpkgVersion,
} from '../src/scan/version/dpkg.js';
import { compareVersions, osvEcosystemKind, versionComparator } from '../src/scan/version/index.js';
import { requirePeer } from './helpers/peers.js';
import { label, expectInvalid, type Want } from './helpers/version.js';



function checkBothWays<T>(compare: (a: T, b: T) => number, a: T, b: T, want: Want, what: string): void {
  assert.equal(compare(a, b), want, what);
  assert.equal(compare(b, a), want === 0 ? 0 : -want, `${what} (reversed)`);
  assert.equal(compare(a, a), 0, `${what}: a vs itself`);
  assert.equal(compare(b, b), 0, `${what}: b vs itself`);
}

function checkStrings(a: string, b: string, want: Want): void {
  checkBothWays(compareDpkg, a, b, want, `${label(a)} vs ${label(b)}`);
}


/** t-version.c's DPKG_VERSION_OBJECT(epoch, version, revision); NULL is ''. */
const obj = (epoch: number, upstream: string, revision: string): DpkgVersion => ({ epoch, upstream, revision });
const blank = obj(0, '', '');

describe('dpkg lib/dpkg/t/t-version.c', () => {
  test('test_version_compare', () => {
    checkBothWays(compareDpkgVersions, blank, blank, 0, 'blank = blank');
    checkBothWays(compareDpkgVersions, { ...blank, epoch: 1 }, { ...blank, epoch: 2 }, -1, 'epoch 1 < epoch 2');
    checkBothWays(compareDpkgVersions, obj(0, '1', '1'), obj(0, '2', '1'), -1, '1-1 < 2-1');
    checkBothWays(compareDpkgVersions, obj(0, '1', '1'), obj(0, '1', '2'), -1, '1-1 < 1-2');
    checkBothWays(compareDpkgVersions, obj(0, '0', '0'), obj(0, '0', '0'), 0, '0-0 = 0-0');
    checkBothWays(compareDpkgVersions, obj(0, '0', '00'), obj(0, '00', '0'), 0, '0-00 = 00-0');
    checkBothWays(compareDpkgVersions, obj(1, '2', '3'), obj(1, '2', '3'), 0, '1:2-3 = 1:2-3');
    checkBothWays(compareDpkgVersions, obj(0, '0', '0'), obj(1, '0', '0'), -1, 'epoch difference');
    checkBothWays(compareDpkgVersions, obj(0, 'a', '0'), obj(0, 'b', '0'), -1, 'version component difference');
    checkBothWays(compareDpkgVersions, obj(0, '0', 'a'), obj(0, '0', 'b'), -1, 'revision component difference');
  });

  test('test_version_relate', () => {
    checkBothWays(compareDpkgVersions, obj(0, '1', '1'), obj(0, '1', '1'), 0, '1-1 = 1-1');
    checkBothWays(compareDpkgVersions, obj(0, '1', '1'), obj(0, '2', '1'), -1, '1-1 < 2-1');
    checkBothWays(compareDpkgVersions, obj(0, '2', '1'), obj(0, '1', '1'), 1, '2-1 > 1-1');
  });

  test('test_version_parse: what parses, into what', () => {
    const cases: Array<[string, DpkgVersion]> = [
      ['0', obj(0, '0', '')],
      ['0:0', obj(0, '0', '')],
      ['0:0-0', obj(0, '0', '0')],
      ['0:0.0-0.0', obj(0, '0.0', '0.0')],
      ['1:0', obj(1, '0', '')],
      ['5:1', obj(5, '1', '')],
      // multiple hyphens
      ['0:0-0-0', obj(0, '0-0', '0')],
      ['0:0-0-0-0', obj(0, '0-0-0', '0')],
      // multiple colons
      ['0:0:0-0', obj(0, '0:0', '0')],
      ['0:0:0:0-0', obj(0, '0:0:0', '0')],
      // multiple hyphens and colons
      ['0:0:0-0-0', obj(0, '0:0-0', '0')],
      ['0:0-0:0-0', obj(0, '0-0:0', '0')],
      // valid characters in upstream version and revision
      ['0:09azAZ.-+~:-0', obj(0, '09azAZ.-+~:', '0')],
      ['0:0-azAZ09.+~', obj(0, '0', 'azAZ09.+~')],
      // leading and trailing spaces
      ['  \t0:0-1', obj(0, '0', '1')],
      ['0:0-1\t  ', obj(0, '0', '1')],
      ['\t  0:0-1  \t', obj(0, '0', '1')],
    ];
    for (const [text, want] of cases) {
      const got = parseDpkgVersion(text);
      assert.equal(got.warning, undefined, JSON.stringify(text));
      const { warning: _, ...fields } = got;
      assert.deepEqual(fields, want, JSON.stringify(text));
      checkBothWays(compareDpkgVersions, got, want, 0, JSON.stringify(text));
    }
  });

  test('test_version_parse: errors', () => {
    for (const text of [
      '',
      '  ',
      '0:',
      ':1.0',
      '1.0-',
      '0:0 0-1',
      '-1:0-1',
      '999999999999999999999999:0-1',
      'a:0-0',
      'A:0-0',
      '-0',
      '0:-0',
    ]) {
      expectInvalid(() => parseDpkgVersion(text), JSON.stringify(text));
      expectInvalid(() => compareDpkg(text, '1.0'), JSON.stringify(text));
      expectInvalid(() => compareDpkg('1.0', text), JSON.stringify(text));
    }
  });

  test('test_version_parse: warnings, which dpkg still accepts and orders', () => {
    assert.equal(parseDpkgVersion('0:abc3-0').warning, 'version number does not start with digit');
    for (const c of "!#@$%&/|\\<>()[]{};,_=*^'") {
      const text = `0:0${c}-0`;
      assert.equal(parseDpkgVersion(text).warning, 'invalid character in version number', text);
    }
    assert.equal(parseDpkgVersion('0:0-0:0').warning, 'invalid character in revision number');
    for (const c of "!#@$%&/|\\<>()[]{}:;,_=*^'") {
      const text = `0:0-${c}`;
      assert.equal(parseDpkgVersion(text).warning, 'invalid character in revision number', text);
    }
  });
});

describe('dpkg scripts/t/Dpkg_Version.t', () => {
  // Its __DATA__ table: "a b result".
  const DATA = `
1.0-1 2.0-2 -1
2.2~rc-4 2.2-1 -1
2.2-1 2.2~rc-4 1
1.0000-1 1.0-1 0
1 0:1 0
0 0:0-0 0
2:2.5 1:7.5 1
1:0foo 0foo 1
0:0foo 0foo 0
0foo 0foo 0
0foo- 0foo 0
0foo- 0foo-0 0
0foo 0fo 1
0foo- 0foo+ -1
0foo~1 0foo -1
0foo~foo+Bar 0foo~foo+bar -1
0foo~~ 0foo~ -1
1~ 1 -1
12345+that-really-is-some-ver-0 12345+that-really-is-some-ver-10 -1
0foo-0 0foo-01 -1
0foo.bar 0foobar 1
0foo.bar 0foo1bar 1
0foo.bar 0foo0bar 1
0foo1bar-1 0foobar-1 -1
0foo2.0 0foo2 1
0foo2.0.0 0foo2.10.0 -1
0foo2.0 0foo2.0.0 -1
0foo2.0 0foo2.10 -1
0foo2.1 0foo2.10 -1
1.09 1.9 0
1.0.8+nmu1 1.0.8 1
3.11 3.10+nmu1 1
0.9j-20080306-4 0.9i-20070324-2 1
1.2.0~b7-1 1.2.0~b6-1 1
1.011-1 1.06-2 1
0.0.9+dfsg1-1 0.0.8+dfsg1-3 1
4.6.99+svn6582-1 4.6.99+svn6496-1 1
53 52 1
0.9.9~pre122-1 0.9.9~pre111-1 1
2:2.3.2-2+lenny2 2:2.3.2-2 1
1:3.8.1-1 3.8.GA-1 1
1.0.1+gpl-1 1.0.1-2 1
1a 1000a -1
-0.6.5 0.9.1 -1
`;
  const rows = DATA.trim()
    .split('\n')
    .map((line) => {
      const [a, b, r] = line.split(' ');
      return { a: a!, b: b!, want: Number(r) as Want, line };
    });
  // dpkg's C parser (dpkg 1.21 and later, which reads the status database and runs --compare-versions) refuses an
  // empty revision ("0foo-": "revision number is empty") and an empty upstream version ("-0.6.5"); only the Perl
  // module still orders them. We follow the C parser.
  const refusedByC = new Set(['0foo-', '-0.6.5']);

  test('every row the C parser accepts, both ways', () => {
    let n = 0;
    for (const { a, b, want, line } of rows) {
      if (refusedByC.has(a) || refusedByC.has(b)) continue;
      checkBothWays(compareDpkg, a, b, want, line);
      n++;
    }
    assert.equal(n, 40);
  });

  test('the four rows with "0foo-" and "-0.6.5" are VERSION_INVALID, as in dpkg --compare-versions', () => {
    const refused = rows.filter(({ a, b }) => refusedByC.has(a) || refusedByC.has(b));
    assert.equal(refused.length, 4);
    for (const { a, b, line } of refused) expectInvalid(() => compareDpkg(a, b), line);
  });

  test('its invalid versions: a bad epoch is an error; bad characters and a letter first are warnings', () => {
    expectInvalid(() => parseDpkgVersion('10a:5.2'), '10a:5.2');
    assert.equal(parseDpkgVersion('5.2@3-2').warning, 'invalid character in version number');
    assert.equal(parseDpkgVersion('foo5.2').warning, 'version number does not start with digit');
    assert.equal(parseDpkgVersion('0:foo5.2').warning, 'version number does not start with digit');
  });
});

describe('recorded from dpkg 1.21.22 --compare-versions (amd64)', () => {
  const RECORDED: Array<[string, string, Want]> = [
    // an absent revision is "0"
    ['1.0', '1.0-0', 0],
    ['1.0', '1.0-1', -1],
    ['1.0-0', '1.0-00', 0],
    // the tilde ladder (Debian Policy 5.6.12: ~~ < ~~a < ~ < "" < a)
    ['1.0~~', '1.0~~a', -1],
    ['1.0~~a', '1.0~', -1],
    ['1.0~', '1.0', -1],
    ['1.0', '1.0a', -1],
    ['1.0-~', '1.0', -1],
    ['1.0-~', '1.0-0', -1],
    // letters, then everything else by code
    ['1.0a', '1.0+', -1],
    ['1.0+', '1.0.', -1],
    ['1.0.', '1.0-1', 1],
    ['1.0Z', '1.0a', -1],
    ['1.0-+', '1.0-0', 1],
    ['1.0_1', '1.0.1', 1],
    ['1.0^1', '1.0+1', 1],
    ['1.0@', '1.0_', -1],
    // control characters (dpkg warns, then orders them by code + 256)
    ['1.0\x01', '1.0', 1],
    ['1.0\x01', '1.0~', 1],
    ['1.0\x01', '1.0a', 1],
    ['1.0\x7f', '1.0\x01', 1],
    // non-ASCII, by UTF-8 byte, as a signed char: after the letters, before ASCII punctuation
    ['1.0z', '1.0é', -1],
    ['1.0é', '1.0+', -1],
    ['1.0é', '1.0ê', -1],
    ['1.0ÿ', '1.0é', 1],
    ['1.0€', '1.0é', 1],
    ['1.0😀', '1.0€', 1],
    // epochs, as strtol reads them
    ['2:1.0', '1:9.9', 1],
    ['0:1.0', '1.0', 0],
    ['+1:1.0', '1:1.0', 0],
    ['-0:1.0', '1.0', 0],
    ['1:1.0-1:2', '1:1.0', 1],
    // numbers: leading zeros, any length
    ['00010', '10', 0],
    ['9999999999999999999999', '9999999999999999999998', 1],
    ['1.0.0', '1.0', 1],
    ['1.0.0', '1.0.0.0', -1],
    ['1.2.3', '1.2.3.', -1],
    ['1.0-a-b', '1.0-a', 1],
    // no digit first (a warning): still ordered
    ['abc', '1', 1],
    ['foo', 'bar', 1],
    ['1:foo', '1:0', 1],
    // blanks around
    ['1\t', '1', 0],
    ['\t 1.0', '1.0', 0],
    // the shapes security updates have
    ['1.0-1ubuntu1', '1.0-1', 1],
    ['1.0-1+deb12u1', '1.0-1+deb12u2', -1],
    ['2.36-9+deb12u4', '2.36-9+deb12u10', -1],
    ['1:2.3.4-5ubuntu0.1', '1:2.3.4-5ubuntu0.10', -1],
    ['3.0.11-1~deb12u2', '3.0.11-1', -1],
    ['7.88.1-10+deb12u5', '7.88.1-10+deb12u12', -1],
  ];
  for (const [a, b, want] of RECORDED) {
    test(`${JSON.stringify(a)} vs ${JSON.stringify(b)}: ${want}`, () => checkStrings(a, b, want));
  }
  test('"1.0-1:2" is an error: the epoch is everything before the first colon', () => {
    expectInvalid(() => compareDpkg('1.0-1:2', '1.0'), '1.0-1:2');
  });
});

describe('the parsed form', () => {
  test('warnings are kept, accepted versions round-trip', () => {
    for (const text of ['1:2.36-9+deb12u4', '2.36', '0:1.0', '1.0-0', '1:1.0-1:2', '0:a:b-c', '1.0~rc1', ' 1.0_1 ']) {
      const v = parseDpkgVersion(text);
      checkBothWays(compareDpkgVersions, v, parseDpkgVersion(formatDpkgVersion(v)), 0, text);
    }
    assert.equal(formatDpkgVersion(parseDpkgVersion('0:1.0')), '1.0');
    assert.equal(formatDpkgVersion(parseDpkgVersion('0:1:2-3')), '0:1:2-3');
  });
  test('verrevcmp on its own', () => {
    checkBothWays(verrevcmp, '', '0', 0, '"" = "0"');
    checkBothWays(verrevcmp, '~', '', -1, '~ < ""');
    checkBothWays(verrevcmp, '1.0~rc1', '1.0', -1, '1.0~rc1 < 1.0');
  });
});

describe('hostile input', () => {
  const MB = 1 << 20;
  test('empty, blanks only, embedded blanks: errors, as in dpkg', () => {
    for (const v of ['', ' ', '\t\t', '1 0', '1\t0', '1.0 -1']) expectInvalid(() => compareDpkg(v, '1.0'), JSON.stringify(v));
  });
  test('a NUL (C would stop reading there) and a lone surrogate (no UTF-8 form) are refused', () => {
    for (const v of ['1.0\0', '\0', '1.0\0garbage', '1.0\ud800', '1.0\udc00x']) expectInvalid(() => compareDpkg(v, '1.0'), JSON.stringify(v));
  });
  test('other control characters and non-ASCII: accepted with a warning and a defined order, both ways', () => {
    const odd = ['1.0\n', '1.0\r', '1.0\x1b[31m', '1.0\u200b', '1.0\ufeff', '١.٠', '1.0\u{10ffff}', 'ß', '1.0\x7f'];
    for (const v of odd) {
      assert.ok(parseDpkgVersion(v).warning, JSON.stringify(v));
      for (const w of [...odd, '1.0', '1.0~', '1.0a', '1.0.']) {
        const r = compareDpkg(v, w);
        assert.equal(compareDpkg(w, v), r === 0 ? 0 : -r, `${JSON.stringify(v)} vs ${JSON.stringify(w)}`);
      }
    }
  });
  test('a megabyte of digits, zeros, tildes, letters, dots: linear, no stack overflow', () => {
    checkStrings('1'.repeat(MB), `${'1'.repeat(MB - 1)}2`, -1);
    checkStrings('1'.repeat(MB), '2', 1);
    checkStrings(`${'0'.repeat(MB)}1`, '1', 0);
    checkStrings(`1${'~'.repeat(MB)}`, `1${'~'.repeat(MB - 1)}`, -1);
    checkStrings(`1${'a'.repeat(MB)}`, `1${'a'.repeat(MB - 1)}b`, -1);
    checkStrings(`1${'.1'.repeat(MB / 2)}`, `1${'.1'.repeat(MB / 2 - 1)}.2`, -1);
    checkStrings(`1:1-${'1'.repeat(MB)}`, '1:1-1', 1);
    checkStrings(`1${'é'.repeat(MB)}`, `1${'é'.repeat(MB - 1)}ê`, -1);
    const err = expectInvalid(() => compareDpkg(`${'9'.repeat(MB)}:1`, '1'), 'a megabyte epoch');
    assert.match(err.message, /epoch in version is too big/);
    assert.match(err.message, /1048578 characters/);
  });
  test('not a string', () => {
    expectInvalid(() => compareDpkg(undefined as unknown as string, '1'), 'undefined');
    expectInvalid(() => compareDpkg('1', null as unknown as string), 'null');
  });
});

describe('against the dpkg on PATH', () => {
  test('seeded random versions order as dpkg --compare-versions orders them', (t) => {
    if (!requirePeer(t, 'dpkg')) return;
    let seed = 20240601;
    const rnd = (): number => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    const pieces = ['0', '1', '2', '9', '00', '01', '10', 'a', 'b', 'z', 'A', 'Z', '~', '~~', '+', '.', '.', '-', 'é', '_', '~rc', ':', '1:'];
    const gen = (): string => {
      let s = '';
      for (let i = Math.floor(rnd() * 6) + 1; i > 0; i--) s += pieces[Math.floor(rnd() * pieces.length)];
      return s;
    };
    const dpkg = (a: string, op: string, b: string): number | null =>
      spawnSync('dpkg', ['--compare-versions', '--', a, op, b], { stdio: 'ignore' }).status;
    let compared = 0;
    for (let i = 0; i < 200; i++) {
      const a = gen();
      const b = rnd() < 0.3 ? a.replace(/0/g, '00') : gen();
      const lt = dpkg(a, 'lt', b);
      if (lt === 2) {
        // dpkg refuses one of them: so do we
        expectInvalid(() => compareDpkg(a, b), `${JSON.stringify(a)} vs ${JSON.stringify(b)}`);
        continue;
      }
      const theirs = lt === 0 ? -1 : dpkg(a, 'eq', b) === 0 ? 0 : 1;
      assert.equal(compareDpkg(a, b), theirs, `${JSON.stringify(a)} vs ${JSON.stringify(b)}`);
      compared++;
    }
    assert.ok(compared > 50, `${compared} pairs compared`);
  });
});

describe('OSV ecosystems ordered like dpkg', () => {
  for (const name of ['Debian', 'Debian:12', 'Debian:11', 'Ubuntu', 'Ubuntu:22.04:LTS', 'Ubuntu:Pro:18.04:LTS', 'Ubuntu:24.10']) {
    test(name, () => {
      assert.equal(osvEcosystemKind(name), 'dpkg');
      const compare = versionComparator(name)!;
      checkBothWays(compare, '3.0.11-1~deb12u2', '3.0.11-1', -1, name);
      checkBothWays(compare, '1:1.0', '2.0', 1, name);
      expectInvalid(() => compare('1.0-', '1.0'), name);
    });
  }
  test('compareVersions("dpkg", …)', () => {
    checkBothWays((a: string, b: string) => compareVersions('dpkg', a, b), '2.36-9+deb12u10', '2.36-9+deb12u4', 1, 'glibc');
  });
});
