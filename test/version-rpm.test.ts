/**
 * RPM version ordering against rpm's own test vectors, each checked both ways:
 * - tests/rpmvercmp.at (rpm-software-management/rpm), every RPMVERCMP(a, b, result) line, tilde and caret
 *   included, plus the "arguably buggy" current behaviours it documents in comments (RhBug:811992, non-ASCII);
 * - a table recorded from rpm 4.18.0's `rpm.vercmp` (Debian 12), which compares whole EVRs with rpmverCmp, for
 *   what rpmvercmp.at leaves out: epochs, releases, empty parts, control and non-ASCII characters;
 * - live, seeded random EVRs against the rpm on PATH (a peer).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, test } from 'node:test';
import { compareVersions, osvEcosystemKind, versionComparator } from '../src/scan/version/index.js';
import { compareRpm, compareRpmEvr, parseRpmEvr, rpmvercmp } from '../src/scan/version/rpm.js';
import { requirePeer } from './helpers/peers.js';
import { checkBothWays, expectInvalid, type Want } from './helpers/version.js';





/** tests/rpmvercmp.at, its RPMVERCMP lines as they are written there. */
const RPMVERCMP_AT = `
RPMVERCMP(1.0, 1.0, 0)
RPMVERCMP(1.0, 2.0, -1)
RPMVERCMP(2.0, 1.0, 1)

RPMVERCMP(2.0.1, 2.0.1, 0)
RPMVERCMP(2.0, 2.0.1, -1)
RPMVERCMP(2.0.1, 2.0, 1)

RPMVERCMP(2.0.1a, 2.0.1a, 0)
RPMVERCMP(2.0.1a, 2.0.1, 1)
RPMVERCMP(2.0.1, 2.0.1a, -1)

RPMVERCMP(5.5p1, 5.5p1, 0)
RPMVERCMP(5.5p1, 5.5p2, -1)
RPMVERCMP(5.5p2, 5.5p1, 1)

RPMVERCMP(5.5p10, 5.5p10, 0)
RPMVERCMP(5.5p1, 5.5p10, -1)
RPMVERCMP(5.5p10, 5.5p1, 1)

RPMVERCMP(10xyz, 10.1xyz, -1)
RPMVERCMP(10.1xyz, 10xyz, 1)

RPMVERCMP(xyz10, xyz10, 0)
RPMVERCMP(xyz10, xyz10.1, -1)
RPMVERCMP(xyz10.1, xyz10, 1)

RPMVERCMP(xyz.4, xyz.4, 0)
RPMVERCMP(xyz.4, 8, -1)
RPMVERCMP(8, xyz.4, 1)
RPMVERCMP(xyz.4, 2, -1)
RPMVERCMP(2, xyz.4, 1)

RPMVERCMP(5.5p2, 5.6p1, -1)
RPMVERCMP(5.6p1, 5.5p2, 1)

RPMVERCMP(5.6p1, 6.5p1, -1)
RPMVERCMP(6.5p1, 5.6p1, 1)

RPMVERCMP(6.0.rc1, 6.0, 1)
RPMVERCMP(6.0, 6.0.rc1, -1)

RPMVERCMP(10b2, 10a1, 1)
RPMVERCMP(10a2, 10b2, -1)

RPMVERCMP(1.0aa, 1.0aa, 0)
RPMVERCMP(1.0a, 1.0aa, -1)
RPMVERCMP(1.0aa, 1.0a, 1)

RPMVERCMP(10.0001, 10.0001, 0)
RPMVERCMP(10.0001, 10.1, 0)
RPMVERCMP(10.1, 10.0001, 0)
RPMVERCMP(10.0001, 10.0039, -1)
RPMVERCMP(10.0039, 10.0001, 1)

RPMVERCMP(4.999.9, 5.0, -1)
RPMVERCMP(5.0, 4.999.9, 1)

RPMVERCMP(20101121, 20101121, 0)
RPMVERCMP(20101121, 20101122, -1)
RPMVERCMP(20101122, 20101121, 1)

RPMVERCMP(2_0, 2_0, 0)
RPMVERCMP(2.0, 2_0, 0)
RPMVERCMP(2_0, 2.0, 0)

dnl RhBug:178798 case
RPMVERCMP(a, a, 0)
RPMVERCMP(a+, a+, 0)
RPMVERCMP(a+, a_, 0)
RPMVERCMP(a_, a+, 0)
RPMVERCMP(+a, +a, 0)
RPMVERCMP(+a, _a, 0)
RPMVERCMP(_a, +a, 0)
RPMVERCMP(+_, +_, 0)
RPMVERCMP(_+, +_, 0)
RPMVERCMP(_+, _+, 0)
RPMVERCMP(+, _, 0)
RPMVERCMP(_, +, 0)

dnl Basic testcases for tilde sorting
RPMVERCMP(1.0~rc1, 1.0~rc1, 0)
RPMVERCMP(1.0~rc1, 1.0, -1)
RPMVERCMP(1.0, 1.0~rc1, 1)
RPMVERCMP(1.0~rc1, 1.0~rc2, -1)
RPMVERCMP(1.0~rc2, 1.0~rc1, 1)
RPMVERCMP(1.0~rc1~git123, 1.0~rc1~git123, 0)
RPMVERCMP(1.0~rc1~git123, 1.0~rc1, -1)
RPMVERCMP(1.0~rc1, 1.0~rc1~git123, 1)

dnl Basic testcases for caret sorting
RPMVERCMP(1.0^, 1.0^, 0)
RPMVERCMP(1.0^, 1.0, 1)
RPMVERCMP(1.0, 1.0^, -1)
RPMVERCMP(1.0^git1, 1.0^git1, 0)
RPMVERCMP(1.0^git1, 1.0, 1)
RPMVERCMP(1.0, 1.0^git1, -1)
RPMVERCMP(1.0^git1, 1.0^git2, -1)
RPMVERCMP(1.0^git2, 1.0^git1, 1)
RPMVERCMP(1.0^git1, 1.01, -1)
RPMVERCMP(1.01, 1.0^git1, 1)
RPMVERCMP(1.0^20160101, 1.0^20160101, 0)
RPMVERCMP(1.0^20160101, 1.0.1, -1)
RPMVERCMP(1.0.1, 1.0^20160101, 1)
RPMVERCMP(1.0^20160101^git1, 1.0^20160101^git1, 0)
RPMVERCMP(1.0^20160102, 1.0^20160101^git1, 1)
RPMVERCMP(1.0^20160101^git1, 1.0^20160102, -1)

dnl Basic testcases for tilde and caret sorting
RPMVERCMP(1.0~rc1^git1, 1.0~rc1^git1, 0)
RPMVERCMP(1.0~rc1^git1, 1.0~rc1, 1)
RPMVERCMP(1.0~rc1, 1.0~rc1^git1, -1)
RPMVERCMP(1.0^git1~pre, 1.0^git1~pre, 0)
RPMVERCMP(1.0^git1, 1.0^git1~pre, 1)
RPMVERCMP(1.0^git1~pre, 1.0^git1, -1)

dnl These are included here to document current, arguably buggy behaviors
dnl for reference purposes and for easy checking against  unintended
dnl behavior changes.
dnl
dnl AT_BANNER([RPM version comparison oddities])
dnl RhBug:811992 case
dnl RPMVERCMP(1b.fc17, 1b.fc17, 0)
dnl RPMVERCMP(1b.fc17, 1.fc17, -1)
dnl RPMVERCMP(1.fc17, 1b.fc17, 1)
dnl RPMVERCMP(1g.fc17, 1g.fc17, 0)
dnl RPMVERCMP(1g.fc17, 1.fc17, 1)
dnl RPMVERCMP(1.fc17, 1g.fc17, -1)

dnl Non-ascii characters are considered equal so these are all the same, eh...
dnl RPMVERCMP(1.1.α, 1.1.α, 0)
dnl RPMVERCMP(1.1.α, 1.1.β, 0)
dnl RPMVERCMP(1.1.β, 1.1.α, 0)
dnl RPMVERCMP(1.1.αα, 1.1.α, 0)
dnl RPMVERCMP(1.1.α, 1.1.ββ, 0)
dnl RPMVERCMP(1.1.ββ, 1.1.αα, 0)
`;

interface Vector {
  a: string;
  b: string;
  want: Want;
  documentedOddity: boolean;
}

const VECTORS: Vector[] = [...RPMVERCMP_AT.matchAll(/^(dnl )?RPMVERCMP\(([^,]+), ([^,]+), (-?[01])\)$/gm)].map((m) => ({
  documentedOddity: m[1] !== undefined,
  a: m[2]!,
  b: m[3]!,
  want: Number(m[4]) as Want,
}));

describe('rpm tests/rpmvercmp.at', () => {
  test('the file parses into its 91 tests and 12 documented oddities', () => {
    assert.equal(VECTORS.filter((v) => !v.documentedOddity).length, 91);
    assert.equal(VECTORS.filter((v) => v.documentedOddity).length, 12);
  });

  test('every RPMVERCMP, both ways, through rpmvercmp and through the EVR compare', () => {
    for (const { a, b, want } of VECTORS.filter((v) => !v.documentedOddity)) {
      checkBothWays(rpmvercmp, a, b, want, 'rpmvercmp: ');
      checkBothWays(compareRpm, a, b, want, 'compareRpm: ');
    }
  });

  test('the current behaviours it documents: RhBug:811992, and non-ASCII characters all equal', () => {
    for (const { a, b, want } of VECTORS.filter((v) => v.documentedOddity)) {
      checkBothWays(rpmvercmp, a, b, want, 'rpmvercmp: ');
      checkBothWays(compareRpm, a, b, want, 'compareRpm: ');
    }
  });

  test('all its versions sort into one consistent order (transitivity)', () => {
    const all = [...new Set(VECTORS.flatMap((v) => [v.a, v.b]))];
    const sorted = [...all].sort(compareRpm);
    for (let i = 0; i < sorted.length; i++) {
      for (let j = i + 1; j < sorted.length; j++) assert.ok(compareRpm(sorted[i]!, sorted[j]!) <= 0, `${sorted[i]} <= ${sorted[j]}`);
    }
  });
});

describe('EVRs: recorded from rpm 4.18.0 rpm.vercmp (rpmverCmp)', () => {
  const RECORDED: Array<[string, string, Want]> = [
    // release: compared when both have one; a missing release is lower
    ['1.0', '1.0-1', -1],
    ['1.0-1', '1.0-2', -1],
    ['1:2', '1:2-0', -1],
    ['1.0-', '1.0', 1],
    ['1.0-', '1.0-0', -1],
    // epoch: missing = 0, empty = 0, compared as a version (00 = 0), and it wins over everything else
    ['0:1.0', '1.0', 0],
    [':1.0', '0:1.0', 0],
    ['00:1.0', '0:1.0', 0],
    ['1:1.0', '2.0', 1],
    ['1:1.0-1', '1:1.0', 1],
    ['3.0.7-27.el9', '1:3.0.7-24.el9', -1],
    // only leading digits then ':' make an epoch; the release starts at the last '-'
    ['a:1.0', '1.0', -1],
    ['-1', '1', -1],
    ['1-2-3', '1-2', 1],
    ['1.0--1', '1.0-1', 0],
    // distribution-style releases
    ['2.0-1', '10.0-1', -1],
    ['1.0-1.el9', '1.0-1.el9_3', -1],
    ['1.0-1.el9_3', '1.0-1.el9_10', -1],
    ['1.0-1.fc40', '1.0-1.fc39', 1],
    ['1.0.0-0.1.beta2', '1.0.0-0.2.beta1', -1],
    ['5.4.17-2136.300.7.el8uek', '5.4.17-2136.300.7.el8uek', 0],
    ['2.fc17', '2.el9', 1],
    // tilde and caret in version and release
    ['1.0~rc1-1', '1.0-0', -1],
    ['1.0^git1-1', '1.0-99', 1],
    ['1.0-1~', '1.0-1', -1],
    ['1.0-1^', '1.0-1', 1],
    ['1.0~~', '1.0~', -1],
    ['1.0^^', '1.0^', 1],
    ['1.0^~', '1.0^', -1],
    // separators only separate
    ['1.0a', '1.0.a', 0],
    ['1.0', '1.0.', 0],
    ['1.0 1', '1.0.1', 0],
    ['1.0\x01', '1.0', 0],
    ['1.0é', '1.0', 0],
    // numbers: leading zeros, any length
    ['01', '1', 0],
    ['0', '00', 0],
    ['99999999999999999999999', '99999999999999999999998', 1],
    ['1.0.0', '1.0', 1],
  ];
  for (const [a, b, want] of RECORDED) {
    test(`${JSON.stringify(a)} vs ${JSON.stringify(b)}: ${want}`, () => checkBothWays(compareRpm, a, b, want));
  }

  test('parseRpmEvr splits as parseEVR does', () => {
    assert.deepEqual(parseRpmEvr('1:3.0.7-27.el9'), { epoch: '1', version: '3.0.7', release: '27.el9' });
    assert.deepEqual(parseRpmEvr('3.0.7-27.el9'), { version: '3.0.7', release: '27.el9' });
    assert.deepEqual(parseRpmEvr('3.0.7'), { version: '3.0.7' });
    assert.deepEqual(parseRpmEvr(':1.0'), { epoch: '0', version: '1.0' });
    assert.deepEqual(parseRpmEvr('1.0-a-b'), { version: '1.0-a', release: 'b' });
    assert.deepEqual(parseRpmEvr('12-3'), { version: '12', release: '3' });
    assert.deepEqual(parseRpmEvr('a:1'), { version: 'a:1' });
    assert.equal(compareRpmEvr({ version: '1.0' }, { epoch: '0', version: '1.0' }), 0);
  });
});

describe('hostile input', () => {
  const MB = 1 << 20;
  test('the empty string (rpm: "invalid version") and a NUL are refused', () => {
    for (const v of ['', '\0', '1.0\0', '1.0-1\0x']) {
      expectInvalid(() => compareRpm(v, '1.0'), JSON.stringify(v));
      expectInvalid(() => compareRpm('1.0', v), JSON.stringify(v));
    }
    expectInvalid(() => compareRpm(undefined as unknown as string, '1.0'), 'undefined');
  });
  test('control characters, non-ASCII, lone surrogates: separators, a defined order both ways', () => {
    const odd = ['1.0\n', '\x1b[31m1', '1.0\ud800', '\udc00', '1.0\u{1f600}1', 'ß', ' ', '~', '^', '-', ':'];
    for (const v of odd) {
      for (const w of [...odd, '1.0', '1.0~', '1.0^', '1:1']) {
        const r = compareRpm(v, w);
        assert.equal(compareRpm(w, v), r === 0 ? 0 : -r, `${JSON.stringify(v)} vs ${JSON.stringify(w)}`);
      }
    }
  });
  test('a megabyte of digits, zeros, tildes, carets, letters, separators: linear, no stack overflow', () => {
    checkBothWays(compareRpm, '1'.repeat(MB), `${'1'.repeat(MB - 1)}2`, -1);
    checkBothWays(compareRpm, `${'0'.repeat(MB)}1`, '1', 0);
    checkBothWays(compareRpm, `1${'~'.repeat(MB)}`, `1${'~'.repeat(MB - 1)}`, -1);
    checkBothWays(compareRpm, `1${'^'.repeat(MB)}`, `1${'^'.repeat(MB - 1)}`, 1);
    checkBothWays(compareRpm, `1${'a'.repeat(MB)}`, `1${'a'.repeat(MB - 1)}b`, -1);
    checkBothWays(compareRpm, `1${'.'.repeat(MB)}2`, '1.2', 0);
    checkBothWays(compareRpm, `1${'a1'.repeat(MB / 2)}`, `1${'a1'.repeat(MB / 2 - 1)}a2`, -1);
    checkBothWays(compareRpm, `${'9'.repeat(MB)}:1`, '1:1', 1);
    checkBothWays(compareRpm, `1-${'-'.repeat(MB)}`, '1--', 0);
  });
});

/** A Lua string literal for any text: printable ASCII as is, every other byte of its UTF-8 as \ddd. */
function luaString(s: string): string {
  let out = '"';
  for (const b of Buffer.from(s, 'utf8')) out += b >= 0x20 && b < 0x7f && b !== 0x22 && b !== 0x5c ? String.fromCharCode(b) : `\\${b}`;
  return `${out}"`;
}

describe('against the rpm on PATH', () => {
  test('seeded random EVRs order as rpm.vercmp orders them', (t) => {
    if (!requirePeer(t, 'rpm')) return;
    let seed = 4181;
    const rnd = (): number => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    const pieces = ['0', '1', '2', '9', '00', '01', '10', 'a', 'b', 'z', 'A', 'Z', '~', '^', '+', '.', '_', '-', ':', '1:', 'é', 'fc', 'el9', 'rc', 'git'];
    const gen = (): string => {
      let s = '';
      for (let i = Math.floor(rnd() * 7) + 1; i > 0; i--) s += pieces[Math.floor(rnd() * pieces.length)];
      return s;
    };
    const pairs: Array<[string, string]> = [];
    for (let i = 0; i < 2000; i++) {
      const a = gen();
      pairs.push([a, rnd() < 0.3 ? a.replace(/0/g, '00').replace(/\./g, '_') : gen()]);
    }
    const lua =
      `local t = {${pairs.map(([a, b]) => `{${luaString(a)},${luaString(b)}}`).join(',')}} ` +
      'local o = {} for _, p in ipairs(t) do o[#o + 1] = tostring(rpm.vercmp(p[1], p[2])) end print(table.concat(o, " "))';
    const out = spawnSync('rpm', ['--eval', `%{lua: ${lua}}`], { encoding: 'utf8', maxBuffer: 1 << 24 });
    assert.equal(out.status, 0, out.stderr);
    const theirs = out.stdout.trim().split(' ').map(Number);
    assert.equal(theirs.length, pairs.length);
    pairs.forEach(([a, b], i) => assert.equal(compareRpm(a, b), theirs[i], `${JSON.stringify(a)} vs ${JSON.stringify(b)}`));
  });
});

describe('OSV ecosystems ordered like rpm', () => {
  const names = [
    'Red Hat',
    'Red Hat:rhel_aus:8.4::appstream',
    'Red Hat:enterprise_linux:9::baseos',
    'Rocky Linux',
    'Rocky Linux:9',
    'AlmaLinux',
    'AlmaLinux:8',
    'SUSE',
    'SUSE:Linux Enterprise Server 15 SP5',
    'openSUSE',
    'openSUSE:Leap 15.5',
    'Mageia:9',
    'Photon OS:5.0',
  ];
  for (const name of names) {
    test(name, () => {
      assert.equal(osvEcosystemKind(name), 'rpm');
      const compare = versionComparator(name)!;
      checkBothWays(compare, '1:3.0.7-27.el9', '3.0.7-28.el9', 1);
      checkBothWays(compare, '1.0~rc1-1', '1.0-1', -1);
      expectInvalid(() => compare('', '1.0'), name);
    });
  }
  test('compareVersions("rpm", …)', () => {
    checkBothWays((a, b) => compareVersions('rpm', a, b), '0:2.34-100.el9_4.2', '0:2.34-100.el9', 1);
  });
});
