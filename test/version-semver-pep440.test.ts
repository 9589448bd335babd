/**
 * npm (semver) and Python (PEP 440) version ordering against their reference implementations' own test vectors,
 * each checked both ways:
 * - npm/node-semver test/fixtures: comparisons.js, equality.js, valid-versions.js, invalid-versions.js;
 *   and the precedence example of semver.org §11;
 * - pypa/packaging tests/test_version.py: VERSIONS (a list in sorted order), the invalid versions, the
 *   normalisation and str() tables; and PEP 440's own ordering example;
 * - a table recorded from packaging 26.2's Version() for spellings those leave out;
 * - the mapping of OSV ecosystem names to comparators.
 * (Both implementations were also run against these comparators on thousands of generated versions while they
 * were written; neither is a peer the test suite can count on, so what they said is recorded here.)
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { compareVersions, osvEcosystemKind, versionComparator, type Ecosystem } from '../src/scan/version/index.js';
import { comparePep440, normalizePep440, parsePep440 } from '../src/scan/version/pep440.js';
import { compareSemver, parseSemver } from '../src/scan/version/semver.js';
import { label, checkBothWays, expectInvalid, type Want } from './helpers/version.js';





/** Every pair of a list in increasing order compares as its positions do. */
function checkAscending(compare: (a: string, b: string) => number, list: readonly string[]): void {
  for (let i = 0; i < list.length; i++) {
    for (let j = i; j < list.length; j++) checkBothWays(compare, list[i]!, list[j]!, i === j ? 0 : -1);
  }
}

// ---------------------------------------------------------------------------------------------------------------
describe('npm: node-semver test/fixtures', () => {
  // comparisons.js: [v1, v2] with v1 greater than v2 (the ones marked loose parse strictly too).
  const COMPARISONS: Array<[string, string]> = [
    ['0.0.0', '0.0.0-foo'],
    ['0.0.1', '0.0.0'],
    ['1.0.0', '0.9.9'],
    ['0.10.0', '0.9.0'],
    ['0.99.0', '0.10.0'],
    ['2.0.0', '1.2.3'],
    ['v0.0.0', '0.0.0-foo'],
    ['v0.0.1', '0.0.0'],
    ['v1.0.0', '0.9.9'],
    ['v0.10.0', '0.9.0'],
    ['v0.99.0', '0.10.0'],
    ['v2.0.0', '1.2.3'],
    ['0.0.0', 'v0.0.0-foo'],
    ['0.0.1', 'v0.0.0'],
    ['1.0.0', 'v0.9.9'],
    ['0.10.0', 'v0.9.0'],
    ['0.99.0', 'v0.10.0'],
    ['2.0.0', 'v1.2.3'],
    ['1.2.3', '1.2.3-asdf'],
    ['1.2.3', '1.2.3-4'],
    ['1.2.3', '1.2.3-4-foo'],
    ['1.2.3-5-foo', '1.2.3-5'],
    ['1.2.3-5', '1.2.3-4'],
    ['1.2.3-5-foo', '1.2.3-5-Foo'],
    ['3.0.0', '2.7.2+asdf'],
    ['1.2.3-a.10', '1.2.3-a.5'],
    ['1.2.3-a.b', '1.2.3-a.5'],
    ['1.2.3-a.b', '1.2.3-a'],
    ['1.2.3-a.b.c.10.d.5', '1.2.3-a.b.c.5.d.100'],
    ['1.2.3-r2', '1.2.3-r100'],
    ['1.2.3-r100', '1.2.3-R2'],
  ];
  test('comparisons.js, both ways', () => {
    for (const [a, b] of COMPARISONS) checkBothWays(compareSemver, a, b, 1);
  });

  test('equality.js: the strict rows are equal (build metadata ignored)', () => {
    for (const [a, b] of [
      ['1.2.3-beta+build', '1.2.3-beta+otherbuild'],
      ['1.2.3+build', '1.2.3+otherbuild'],
      ['  v1.2.3+build', '1.2.3+otherbuild'],
      ['1.2.3', 'v1.2.3'],
      ['1.2.3', ' v1.2.3'],
      ['1.2.3-0', 'v1.2.3-0'],
      ['1.2.3-beta', ' v1.2.3-beta'],
    ] as const) {
      checkBothWays(compareSemver, a, b, 0);
    }
  });

  test('equality.js: the rows it marks loose ("=1.2.3", "v 1.2.3") are VERSION_INVALID in strict mode, as in npm', () => {
    for (const v of ['=1.2.3', 'v 1.2.3', '= 1.2.3', ' =1.2.3', ' v 1.2.3', ' = 1.2.3', '=1.2.3-0', 'v 1.2.3-beta']) {
      expectInvalid(() => parseSemver(v), JSON.stringify(v));
    }
  });

  test('valid-versions.js', () => {
    const VALID: Array<[string, number, number, number, string[], string[]]> = [
      ['1.0.0', 1, 0, 0, [], []],
      ['2.1.0', 2, 1, 0, [], []],
      ['3.2.1', 3, 2, 1, [], []],
      ['v1.2.3', 1, 2, 3, [], []],
      ['1.2.3-0', 1, 2, 3, ['0'], []],
      ['1.2.3-123', 1, 2, 3, ['123'], []],
      ['1.2.3-1.2.3', 1, 2, 3, ['1', '2', '3'], []],
      ['1.2.3-1a', 1, 2, 3, ['1a'], []],
      ['1.2.3-a1', 1, 2, 3, ['a1'], []],
      ['1.2.3-alpha', 1, 2, 3, ['alpha'], []],
      ['1.2.3-alpha.1', 1, 2, 3, ['alpha', '1'], []],
      ['1.2.3-alpha-1', 1, 2, 3, ['alpha-1'], []],
      ['1.2.3-alpha-.-beta', 1, 2, 3, ['alpha-', '-beta'], []],
      ['1.2.3+456', 1, 2, 3, [], ['456']],
      ['1.2.3+build', 1, 2, 3, [], ['build']],
      ['1.2.3+new-build', 1, 2, 3, [], ['new-build']],
      ['1.2.3+build.1', 1, 2, 3, [], ['build', '1']],
      ['1.2.3+build.1a', 1, 2, 3, [], ['build', '1a']],
      ['1.2.3+build.a1', 1, 2, 3, [], ['build', 'a1']],
      ['1.2.3+build.alpha', 1, 2, 3, [], ['build', 'alpha']],
      ['1.2.3+build.alpha.beta', 1, 2, 3, [], ['build', 'alpha', 'beta']],
      ['1.2.3-alpha+build', 1, 2, 3, ['alpha'], ['build']],
    ];
    for (const [v, major, minor, patch, prerelease, build] of VALID) {
      assert.deepEqual(parseSemver(v), { major, minor, patch, prerelease, build }, v);
    }
  });

  test('invalid-versions.js', () => {
    const MAX_SAFE = String(Number.MAX_SAFE_INTEGER);
    for (const v of [`${'1'.repeat(255)}.0.0`, `${MAX_SAFE}0.0.0`, `0.${MAX_SAFE}0.0`, `0.0.${MAX_SAFE}0`, 'hello, world', 'xyz']) {
      expectInvalid(() => parseSemver(v), label(v));
    }
    for (const v of [/a regexp/, /1.2.3/, { toString: () => '1.2.3' }]) {
      expectInvalid(() => parseSemver(v as unknown as string), String(v));
    }
    // the limits themselves are fine
    assert.equal(parseSemver(`${MAX_SAFE}.0.0`).major, Number.MAX_SAFE_INTEGER);
    assert.equal(parseSemver(`${'1'.repeat(6)}.0.0-${'a'.repeat(245)}`).prerelease[0]!.length, 245);
  });
});

describe('npm: semver.org §11 and the rest of the grammar', () => {
  test('the precedence example of §11, every pair', () => {
    checkAscending(compareSemver, ['1.0.0', '2.0.0', '2.1.0', '2.1.1']);
    checkAscending(compareSemver, [
      '1.0.0-alpha',
      '1.0.0-alpha.1',
      '1.0.0-alpha.beta',
      '1.0.0-beta',
      '1.0.0-beta.2',
      '1.0.0-beta.11',
      '1.0.0-rc.1',
      '1.0.0',
    ]);
  });
  test('leading zeros, empty identifiers, missing parts: VERSION_INVALID', () => {
    for (const v of ['01.0.0', '1.01.0', '1.0.01', '1.0.0-01', '1.0.0-', '1.0.0+', '1.0.0-a..b', '1.0.0+a..b', '1.0', '1', '1.0.0.0', 'v', '', ' ', '1.0.0-ü', '1.0.0+ü', '１.0.0']) {
      expectInvalid(() => compareSemver(v, '1.0.0'), JSON.stringify(v));
    }
  });
  test('numeric prerelease identifiers compare exactly at any length', () => {
    checkBothWays(compareSemver, '1.0.0-99999999999999999999', '1.0.0-99999999999999999998', 1);
    checkBothWays(compareSemver, '1.0.0-9007199254740993', '1.0.0-9007199254740992', 1);
  });
});

// ---------------------------------------------------------------------------------------------------------------
describe('PyPI: packaging tests/test_version.py', () => {
  // VERSIONS: "This list must be in the correct sorting order".
  const VERSIONS: string[] = [];
  const ONE_EPOCH = [
    '1.0.dev0',
    '1.0.dev456',
    '1.0.dev456+local',
    '1.0a0',
    '1.0a0.post0.dev0',
    '1.0a0.post0',
    '1.0a1.dev1',
    '1.0a1.dev1+local',
    '1.0a1',
    '1.0a1+local',
    '1.0b0',
    '1.0b1.dev456',
    '1.0b2',
    '1.0b2.post345.dev456',
    '1.0b2.post345',
    '1.0b2-346',
    '1.0rc0',
    '1.0rc1.dev1',
    '1.0c1',
    '1.0rc2',
    '1.0',
    '1.0.post0.dev0',
    '1.0.post0',
    '1.0.post456.dev34',
    '1.0.post456',
    '1.0.post456+local',
    '1.0.1.dev1',
    '1.0.1a1',
    '1.0.1',
    '1.0.1+local',
    '1.0.1.post1',
    '1.1.dev1',
    '1.2+a',
    '1.2+abc',
    '1.2+abcdef',
    '1.2+def',
    '1.2+0',
    '1.2+1',
    '1.2+1.abc',
    '1.2+1.1',
    '1.2+1.1.0',
    '1.2+2',
    '1.2+123',
    '1.2+123456',
    '1.2.r32+123456',
    '1.2.rev33+123456',
  ];
  VERSIONS.push(...ONE_EPOCH, ...ONE_EPOCH.map((v) => `1!${v}`));

  test('VERSIONS: every pair compares as their positions in the list do', () => {
    assert.equal(VERSIONS.length, 92);
    checkAscending(comparePep440, VERSIONS);
  });

  test('invalid versions', () => {
    for (const v of [
      'french toast',
      '1.0+a+',
      '1.0++',
      '1.0+_foobar',
      '1.0+foo&asd',
      '1.0+1+1',
      '1. 0',
      '1 .0',
      '1. 0a1',
      '1 .0a1',
      '1.0 a1',
      '1.0a 1',
      '٠١٢.٣٤٥.٦٧٨٩',
      '.',
      '..',
      '1..0',
      '1.0.',
      '.1.0',
      '1..2.3',
      '1.0+\u0130',
    ]) {
      expectInvalid(() => parsePep440(v), JSON.stringify(v));
      expectInvalid(() => comparePep440(v, '1.0'), JSON.stringify(v));
    }
  });

  test('normalised spellings compare equal to their normal form', () => {
    const NORMALIZED: Array<[string, string]> = [
      ['1.0dev', '1.0.dev0'],
      ['1.0.dev', '1.0.dev0'],
      ['1.0dev1', '1.0.dev1'],
      ['1.0-dev', '1.0.dev0'],
      ['1.0-dev1', '1.0.dev1'],
      ['1.0DEV', '1.0.dev0'],
      ['1.0.DEV', '1.0.dev0'],
      ['1.0DEV1', '1.0.dev1'],
      ['1.0.DEV1', '1.0.dev1'],
      ['1.0-DEV', '1.0.dev0'],
      ['1.0-DEV1', '1.0.dev1'],
      ['1.0a', '1.0a0'],
      ['1.0.a', '1.0a0'],
      ['1.0.a1', '1.0a1'],
      ['1.0-a', '1.0a0'],
      ['1.0-a1', '1.0a1'],
      ['1.0alpha', '1.0a0'],
      ['1.0.alpha', '1.0a0'],
      ['1.0.alpha1', '1.0a1'],
      ['1.0-alpha', '1.0a0'],
      ['1.0-alpha1', '1.0a1'],
      ['1.0A', '1.0a0'],
      ['1.0.A', '1.0a0'],
      ['1.0.A1', '1.0a1'],
      ['1.0-A', '1.0a0'],
      ['1.0-A1', '1.0a1'],
      ['1.0ALPHA', '1.0a0'],
      ['1.0.ALPHA', '1.0a0'],
      ['1.0.ALPHA1', '1.0a1'],
      ['1.0-ALPHA', '1.0a0'],
      ['1.0-ALPHA1', '1.0a1'],
      ['1.0b', '1.0b0'],
      ['1.0.b', '1.0b0'],
      ['1.0.b1', '1.0b1'],
      ['1.0-b', '1.0b0'],
      ['1.0-b1', '1.0b1'],
      ['1.0beta', '1.0b0'],
      ['1.0.beta', '1.0b0'],
      ['1.0.beta1', '1.0b1'],
      ['1.0-beta', '1.0b0'],
      ['1.0-beta1', '1.0b1'],
      ['1.0B', '1.0b0'],
      ['1.0.B', '1.0b0'],
      ['1.0.B1', '1.0b1'],
      ['1.0-B', '1.0b0'],
      ['1.0-B1', '1.0b1'],
      ['1.0BETA', '1.0b0'],
      ['1.0.BETA', '1.0b0'],
      ['1.0.BETA1', '1.0b1'],
      ['1.0-BETA', '1.0b0'],
      ['1.0-BETA1', '1.0b1'],
      ['1.0c', '1.0rc0'],
      ['1.0.c', '1.0rc0'],
      ['1.0.c1', '1.0rc1'],
      ['1.0-c', '1.0rc0'],
      ['1.0-c1', '1.0rc1'],
      ['1.0rc', '1.0rc0'],
      ['1.0.rc', '1.0rc0'],
      ['1.0.rc1', '1.0rc1'],
      ['1.0-rc', '1.0rc0'],
      ['1.0-rc1', '1.0rc1'],
      ['1.0C', '1.0rc0'],
      ['1.0.C', '1.0rc0'],
      ['1.0.C1', '1.0rc1'],
      ['1.0-C', '1.0rc0'],
      ['1.0-C1', '1.0rc1'],
      ['1.0RC', '1.0rc0'],
      ['1.0.RC', '1.0rc0'],
      ['1.0.RC1', '1.0rc1'],
      ['1.0-RC', '1.0rc0'],
      ['1.0-RC1', '1.0rc1'],
      ['1.0post', '1.0.post0'],
      ['1.0.post', '1.0.post0'],
      ['1.0post1', '1.0.post1'],
      ['1.0-post', '1.0.post0'],
      ['1.0-post1', '1.0.post1'],
      ['1.0POST', '1.0.post0'],
      ['1.0.POST', '1.0.post0'],
      ['1.0POST1', '1.0.post1'],
      ['1.0r', '1.0.post0'],
      ['1.0rev', '1.0.post0'],
      ['1.0.POST1', '1.0.post1'],
      ['1.0.r1', '1.0.post1'],
      ['1.0.rev1', '1.0.post1'],
      ['1.0-POST', '1.0.post0'],
      ['1.0-POST1', '1.0.post1'],
      ['1.0-5', '1.0.post5'],
      ['1.0-r5', '1.0.post5'],
      ['1.0-rev5', '1.0.post5'],
      ['1.0+AbC', '1.0+abc'],
      ['1.01', '1.1'],
      ['1.0a05', '1.0a5'],
      ['1.0b07', '1.0b7'],
      ['1.0c056', '1.0rc56'],
      ['1.0rc09', '1.0rc9'],
      ['1.0.post000', '1.0.post0'],
      ['1.1.dev09000', '1.1.dev9000'],
      ['00!1.2', '1.2'],
      ['0100!0.0', '100!0.0'],
      ['v1.0', '1.0'],
      ['   v1.0\t\n', '1.0'],
      ['\u202f1.0\t\u2029\n ', '1.0'],
    ];
    for (const [spelling, normal] of NORMALIZED) {
      assert.equal(normalizePep440(parsePep440(spelling)), normal, JSON.stringify(spelling));
      checkBothWays(comparePep440, spelling, normal, 0);
    }
  });

  test('str() of already normal versions is themselves', () => {
    for (const v of [
      '1.0.dev456',
      '1.0a12.dev456',
      '1.0b2.post345.dev456',
      '1.0rc1',
      '1.0.post456.dev34',
      '0!1.0.2',
      '1.0.3+7',
      '0!1.0.4+8.0',
      '1.2+1234.abc',
      '1.2+123abc456',
      '1.2+abc123def',
      '7!1.0b2.post345.dev456',
      '7!1.0.5+9.5',
    ]) {
      assert.equal(normalizePep440(parsePep440(v)), v.replace(/^0!/, ''), v);
    }
  });

  test('1.0rc1 = 1.0c1', () => checkBothWays(comparePep440, '1.0rc1', '1.0c1', 0));
});

describe("PyPI: PEP 440's ordering example and the recorded edge cases", () => {
  test('the summary of permitted suffixes and relative ordering', () => {
    checkAscending(comparePep440, [
      '1.dev0',
      '1.0.dev456',
      '1.0a1',
      '1.0a2.dev456',
      '1.0a12.dev456',
      '1.0a12',
      '1.0b1.dev456',
      '1.0b2',
      '1.0b2.post345.dev456',
      '1.0b2.post345',
      '1.0rc1.dev456',
      '1.0rc1',
      '1.0',
      '1.0+abc.5',
      '1.0+abc.7',
      '1.0+5',
      '1.0.post456.dev34',
      '1.0.post456',
      '1.0.15',
      '1.1.dev1',
    ]);
  });

  test('recorded from packaging 26.2: normal forms (or invalid)', () => {
    const RECORDED: Array<[string, string | null]> = [
      ['1.0a.', '1.0a0'],
      ['1.0a.-post', '1.0a0.post0'],
      ['1.0.post.', '1.0.post0'],
      ['1.0.dev.', '1.0.dev0'],
      ['1.0a-1', '1.0a1'],
      ['1.0a--1', '1.0a0.post1'],
      ['1.0+01', '1.0+1'],
      ['1.0+1_A-b', '1.0+1.a.b'],
      ['\x1c1.0\x1f', '1.0'],
      ['\x851.0', '1.0'],
      ['1.0\u3000', '1.0'],
      ['V1.0', '1.0'],
      ['1.0RC1', '1.0rc1'],
      ['1.0-post1', '1.0.post1'],
      ['1.0.POST-1', '1.0.post1'],
      ['1.0pre', '1.0rc0'],
      ['1.0preview2', '1.0rc2'],
      ['1.0+K', '1.0+k'],
      ['1.0dev-1', '1.0.dev1'],
      ['1.0-dev.1', '1.0.dev1'],
      ['1.0_r_1', '1.0.post1'],
      ['1.0rc1.post1.dev1+ubuntu.1', '1.0rc1.post1.dev1+ubuntu.1'],
      ['0!0', '0'],
      ['0001.0010', '1.10'],
      ['1.0 ', '1.0'],
      ['1.0.0.0.0+0.0', '1.0.0.0.0+0.0'],
      ['1.0-', null],
      ['1.0_', null],
      ['1.0-1-1', null],
      ['1!', null],
      ['!1', null],
      ['\u200b1.0', null],
      ['\ufeff1.0', null],
      ['vv1.0', null],
      ['1.0ſ', null],
      ['1.0+ſ', null],
      ['1.0+\u212a', null],
      ['1.0a1b2', null],
      ['1.0.post1.post2', null],
      [' ', null],
      ['', null],
      ['1.0+a.', null],
    ];
    for (const [v, normal] of RECORDED) {
      if (normal === null) expectInvalid(() => parsePep440(v), JSON.stringify(v));
      else {
        assert.equal(normalizePep440(parsePep440(v)), normal, JSON.stringify(v));
        checkBothWays(comparePep440, v, normal, 0);
      }
    }
  });

  test('release segments: trailing zeros ignored, numbers exact at any length', () => {
    checkBothWays(comparePep440, '1.0.0.0', '1', 0);
    checkBothWays(comparePep440, '1.0.0.0.1', '1', 1);
    checkBothWays(comparePep440, `1.${'9'.repeat(5000)}`, `1.${'9'.repeat(4999)}8`, 1);
    checkBothWays(comparePep440, '1.0+1.0', '1.0+1', 1);
    checkBothWays(comparePep440, '1.0+a', '1.0+0', -1);
  });
});

describe('hostile input', () => {
  const MB = 1 << 20;
  test('npm: longer than 256 characters is refused at once, whatever it holds', () => {
    for (const v of ['1'.repeat(MB), `1.0.0-${'a'.repeat(MB)}`, `1.0.0+${'.'.repeat(MB)}`, `${' '.repeat(300)}1.0.0`]) {
      const err = expectInvalid(() => compareSemver(v, '1.0.0'), label(v));
      assert.match(err.message, /longer than 256 characters/);
    }
  });
  test('npm: control characters, NUL, non-ASCII, lone surrogates', () => {
    for (const v of ['1.0.0\0', '1.0.0-\x01', '1.0.0-é', '1.0.0-\ud800', '1\u200b.0.0', '1.0.0\x00+b']) {
      expectInvalid(() => compareSemver(v, '1.0.0'), JSON.stringify(v));
    }
    expectInvalid(() => compareSemver(undefined as unknown as string, '1.0.0'), 'undefined');
  });
  test('PyPI: a megabyte of digits, dots, zeros or local parts: linear, no stack overflow', () => {
    checkBothWays(comparePep440, '1'.repeat(MB), `${'1'.repeat(MB - 1)}2`, -1);
    checkBothWays(comparePep440, `${'0'.repeat(MB)}1`, '1', 0);
    checkBothWays(comparePep440, `1${'.0'.repeat(MB / 2)}`, '1', 0);
    checkBothWays(comparePep440, `1${'.1'.repeat(MB / 2)}`, `1${'.1'.repeat(MB / 2 - 1)}.2`, -1);
    checkBothWays(comparePep440, `1+${'a.'.repeat(MB / 2)}a`, `1+${'a.'.repeat(MB / 2)}b`, -1);
    checkBothWays(comparePep440, `${'9'.repeat(MB)}!1`, '1', 1);
  });
  test('PyPI: a megabyte of junk is refused with a short message', () => {
    for (const v of [`1${'a'.repeat(MB)}`, `1${'.post'.repeat(MB / 5)}`, `1${'_'.repeat(MB)}`, `1+${'+'.repeat(MB)}`, `1${'a1'.repeat(MB / 2)}`, '\0'.repeat(MB)]) {
      expectInvalid(() => comparePep440(v, '1.0'), label(v));
    }
  });
  test('PyPI: control characters, NUL, non-ASCII, lone surrogates, not a string', () => {
    for (const v of ['1.0\0', '1.0\x01', '1.0é', '1.0\ud800', '١.0', '1.0+\u{1f600}']) expectInvalid(() => comparePep440(v, '1.0'), JSON.stringify(v));
    expectInvalid(() => comparePep440(42 as unknown as string, '1.0'), 'a number');
  });
});

// ---------------------------------------------------------------------------------------------------------------
describe('versionComparator: OSV ecosystem names', () => {
  test('npm and PyPI', () => {
    assert.equal(osvEcosystemKind('npm'), 'npm');
    assert.equal(osvEcosystemKind('PyPI'), 'pypi');
    checkBothWays(versionComparator('npm')!, '1.0.0-rc.1', '1.0.0', -1);
    checkBothWays(versionComparator('PyPI')!, '1.0RC1', '1.0', -1);
    checkBothWays(versionComparator('PyPI')!, '2.0.0.post1', '2.0', 1);
  });

  test('ecosystems without an ordering here, and names spelled otherwise than the schema spells them', () => {
    for (const name of [
      'Go',
      'crates.io',
      'Maven',
      'Maven:https://maven.google.com',
      'RubyGems',
      'NuGet',
      'Packagist',
      'Hex',
      'Pub',
      'Linux',
      'Android',
      'GitHub Actions',
      'OSS-Fuzz',
      'Bitnami',
      'SwiftURL',
      'debian',
      'DEBIAN:12',
      'pypi',
      'NPM',
      ' Debian',
      'Debian ',
      '',
      ':Debian',
      'constructor',
      '__proto__',
      'toString',
    ]) {
      assert.equal(versionComparator(name), undefined, JSON.stringify(name));
      assert.equal(osvEcosystemKind(name), undefined, JSON.stringify(name));
    }
    assert.equal(versionComparator(undefined as unknown as string), undefined);
  });

  test('compareVersions by kind, and an unknown kind', () => {
    const cases: Array<[Ecosystem, string, string, Want]> = [
      ['dpkg', '1:1.0', '2.0', 1],
      ['apk', '1.0_rc1', '1.0', -1],
      ['rpm', '1.0^git1', '1.0', 1],
      ['npm', '1.0.0-alpha', '1.0.0', -1],
      ['pypi', '1.0.dev1', '1.0a1', -1],
    ];
    for (const [kind, a, b, want] of cases) checkBothWays((x, y) => compareVersions(kind, x, y), a, b, want, `${kind}: `);
    assert.throws(() => compareVersions('maven' as Ecosystem, '1', '2'), TypeError);
    assert.throws(() => compareVersions('__proto__' as Ecosystem, '1', '2'), TypeError);
  });
});
