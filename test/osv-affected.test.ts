/**
 * Range evaluation against the schema's pseudo-code and its own examples (https://ossf.github.io/osv-schema/
 * #evaluation), with a plain dotted-number comparator: the range logic needs no version grammar.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isAffected, matchRecord, parseOsvRecord, type OsvAffected, type OsvEvent, type OsvRange } from '../src/scan/osv/index.js';
import { dotted, npmRecord } from './helpers/osv.js';

function entry(ranges: OsvRange[], versions: string[] = []): OsvAffected {
  return { package: { ecosystem: 'npm', name: 'pkg' }, ranges, versions };
}

function semver(...events: OsvEvent[]): OsvRange {
  return { type: 'SEMVER', events };
}

function eco(...events: OsvEvent[]): OsvRange {
  return { type: 'ECOSYSTEM', events };
}

/** Which of `versions` are affected. */
function affectedOf(a: OsvAffected, versions: string[]): string[] {
  return versions.filter((v) => isAffected(a, v, dotted).affected);
}

const ALL = ['0.0.1', '0.9', '1.0.0', '1.0.1', '1.0.2', '1.5', '2.0.0', '2.1.213', '2.1.214', '2.1.215', '2.9', '3.0.0', '3.1', '3.2.4', '3.2.5', '4.0', '99'];

describe('the schema examples', () => {
  test('unfixed: { introduced: "0" } — every version', () => {
    assert.deepEqual(affectedOf(entry([semver({ introduced: '0' })]), ALL), ALL);
  });

  test('fixed: introduced 0, fixed 1.0.2 — everything before 1.0.2', () => {
    const a = entry([semver({ introduced: '0' }, { fixed: '1.0.2' })]);
    assert.deepEqual(affectedOf(a, ALL), ['0.0.1', '0.9', '1.0.0', '1.0.1']);
    assert.equal(isAffected(a, '1.0.1', dotted).fixed, '1.0.2');
  });

  test('multiple ranges in one events list: [1.0.0, 1.0.2) and [3.0.0, 3.2.5)', () => {
    const a = entry([semver({ introduced: '1.0.0' }, { fixed: '1.0.2' }, { introduced: '3.0.0' }, { fixed: '3.2.5' })]);
    assert.deepEqual(affectedOf(a, ALL), ['1.0.0', '1.0.1', '3.0.0', '3.1', '3.2.4']);
    assert.equal(isAffected(a, '1.0.0', dotted).fixed, '1.0.2');
    assert.equal(isAffected(a, '3.1', dotted).fixed, '3.2.5');
  });

  test('last_affected 2.1.214: 2.1.214 is affected, what follows is not', () => {
    const a = entry([eco({ introduced: '0' }, { last_affected: '2.1.214' })]);
    assert.deepEqual(affectedOf(a, ['2.1.213', '2.1.214', '2.1.215']), ['2.1.213', '2.1.214']);
    const r = isAffected(a, '2.1.214', dotted);
    assert.equal(r.lastAffected, '2.1.214');
    assert.equal(r.fixed, undefined);
  });

  test('fixed 2.1.214 (the counterpart): 2.1.214 is not affected', () => {
    assert.deepEqual(affectedOf(entry([eco({ introduced: '0' }, { fixed: '2.1.214' })]), ['2.1.213', '2.1.214', '2.1.215']), ['2.1.213']);
  });
});

describe('introduced / fixed / limit / order', () => {
  test('introduced and fixed pairs: lower bound inclusive, upper exclusive', () => {
    const a = entry([eco({ introduced: '1.0.0' }, { fixed: '2.0.0' })]);
    assert.deepEqual(affectedOf(a, ['0.9', '1.0.0', '1.5', '2.0.0', '2.9']), ['1.0.0', '1.5']);
  });

  test('events in any order in the record are sorted first; "0" sorts before everything', () => {
    const shuffled = entry([eco({ fixed: '3.2.5' }, { introduced: '3.0.0' }, { fixed: '1.0.2' }, { introduced: '0' })]);
    assert.deepEqual(affectedOf(shuffled, ALL), ['0.0.1', '0.9', '1.0.0', '1.0.1', '3.0.0', '3.1', '3.2.4']);
  });

  test('an interval ending where the next begins: the version there is in the second', () => {
    const a = entry([eco({ introduced: '1.0.0' }, { fixed: '2.0.0' }, { introduced: '2.0.0' }, { fixed: '3.0.0' })]);
    assert.deepEqual(affectedOf(a, ['1.5', '2.0.0', '2.9', '3.0.0']), ['1.5', '2.0.0', '2.9']);
    assert.equal(isAffected(a, '2.0.0', dotted).fixed, '3.0.0');
    // Introduced and fixed at one version: an empty interval.
    assert.deepEqual(affectedOf(entry([eco({ introduced: '2.0.0' }, { fixed: '2.0.0' })]), ['1.5', '2.0.0', '2.9']), []);
  });

  test('no fixed: affected from introduced on, with no fix to report', () => {
    const r = isAffected(entry([eco({ introduced: '2.0.0' })]), '99', dotted);
    assert.deepEqual(r, { affected: true, via: 'range', range: 0, problems: [] });
    assert.equal(isAffected(entry([eco({ introduced: '2.0.0' })]), '1.5', dotted).affected, false);
  });

  test('a range with no introduced affects nothing', () => {
    assert.deepEqual(affectedOf(entry([eco({ fixed: '2.0.0' })]), ALL), []);
  });

  test('limit: only versions below a limit; several limits widen; "*" is infinity', () => {
    const limited = entry([eco({ introduced: '1.0.0' }, { limit: '2.0.0' })]);
    assert.deepEqual(affectedOf(limited, ['0.9', '1.0.0', '1.5', '2.0.0', '3.1']), ['1.0.0', '1.5']);
    const two = entry([eco({ introduced: '1.0.0' }, { limit: '2.0.0' }, { limit: '3.2.4' })]);
    assert.deepEqual(affectedOf(two, ['1.5', '2.0.0', '3.1', '3.2.4', '4.0']), ['1.5', '2.0.0', '3.1']);
    const star = entry([eco({ introduced: '1.0.0' }, { limit: '*' })]);
    assert.deepEqual(affectedOf(star, ['0.9', '1.0.0', '99']), ['1.0.0', '99']);
    const fixedAndLimit = entry([eco({ introduced: '0' }, { fixed: '1.0.2' }, { limit: '1.0.1' })]);
    assert.deepEqual(affectedOf(fixedAndLimit, ['1.0.0', '1.0.1', '1.0.2']), ['1.0.0']);
  });

  test('several ranges are OR; the first that matches is told', () => {
    const a = entry([eco({ introduced: '1.0.0' }, { fixed: '1.0.2' }), eco({ introduced: '3.0.0' }, { last_affected: '3.1' })]);
    assert.deepEqual(affectedOf(a, ALL), ['1.0.0', '1.0.1', '3.0.0', '3.1']);
    assert.deepEqual(isAffected(a, '3.1', dotted), { affected: true, via: 'range', range: 1, lastAffected: '3.1', problems: [] });
  });
});

describe('the versions list', () => {
  test('a listed version is affected even outside every range', () => {
    const a = entry([eco({ introduced: '0' }, { fixed: '1.0.2' })], ['2.9']);
    assert.deepEqual(affectedOf(a, ['1.0.1', '2.0.0', '2.9']), ['1.0.1', '2.9']);
    assert.equal(isAffected(a, '2.9', dotted).via, 'versions');
  });

  test('matched by text, or by the comparator saying equal', () => {
    const a = entry([], ['1.0', 'not-a-version']);
    assert.equal(isAffected(a, '1.0.0', dotted).affected, true);
    assert.equal(isAffected(a, 'not-a-version', dotted).affected, true);
    assert.equal(isAffected(a, '1.0.1', dotted).affected, false);
  });

  test('a versions match reports the lowest fix above it from the ranges', () => {
    const a = entry([eco({ introduced: '3.0.0' }, { fixed: '3.2.5' }, { introduced: '4.0' }, { fixed: '4.1' })], ['1.5']);
    assert.equal(isAffected(a, '1.5', dotted).fixed, '3.2.5');
  });

  test('GIT ranges are not evaluated; their versions list is', () => {
    const a = entry([{ type: 'GIT', repo: 'https://example.com/r.git', events: [{ introduced: '0' }, { fixed: 'a'.repeat(40) }] }], ['1.0.1']);
    assert.deepEqual(affectedOf(a, ['1.0.0', '1.0.1']), ['1.0.1']);
  });
});

describe('comparators', () => {
  test('SEMVER ranges use the semver comparator when given, ECOSYSTEM ones the ecosystem comparator', () => {
    const seen: string[] = [];
    const eco1 = (a: string, b: string): number => (seen.push(`eco ${a} ${b}`), dotted(a, b));
    const sem = (a: string, b: string): number => (seen.push(`semver ${a} ${b}`), dotted(a, b));
    isAffected(entry([semver({ introduced: '1.0.0' })]), '1.5', eco1, { semver: sem });
    assert.ok(seen.length > 0 && seen.every((s) => s.startsWith('semver')));
    seen.length = 0;
    isAffected(entry([eco({ introduced: '1.0.0' })]), '1.5', eco1, { semver: sem });
    assert.ok(seen.length > 0 && seen.every((s) => s.startsWith('eco')));
  });

  test('a bound the comparator cannot read is left out and told; the rest still decides', () => {
    const a = entry([eco({ introduced: '0' }, { fixed: 'garbage!' }, { fixed: '2.0.0' })]);
    const r = isAffected(a, '1.5', dotted);
    assert.equal(r.affected, true);
    assert.equal(r.fixed, '2.0.0');
    assert.equal(r.problems.length, 1);
    assert.match(r.problems[0]!, /ranges\[0\]: fixed "garbage!" cannot be compared with "1\.5": not a dotted version/);
    assert.equal(isAffected(a, '2.0.0', dotted).affected, false);
  });

  test('a version the comparator cannot read: not affected by ranges, with problems; never a throw', () => {
    const r = isAffected(entry([eco({ introduced: '1.0.0' }, { fixed: '2.0.0' })]), '1:1.5-1', dotted);
    assert.equal(r.affected, false);
    assert.equal(r.problems.length, 2);
    // introduced "0" needs no comparison at all.
    assert.equal(isAffected(entry([eco({ introduced: '0' })]), '1:1.5-1', dotted).affected, true);
  });
});

describe('matchRecord', () => {
  const record = parseOsvRecord(JSON.stringify(npmRecord()))!;

  test('matches on the exact ecosystem and name; tells the entry and the fix', () => {
    const m = matchRecord(record, { ecosystem: 'npm', name: 'lodash', version: '4.17.15' }, dotted);
    assert.ok(m);
    assert.equal(m.entry.package.name, 'lodash');
    assert.equal(m.fixed, '4.17.19');
    assert.equal(matchRecord(record, { ecosystem: 'npm', name: 'lodash', version: '4.17.19' }, dotted), undefined);
    assert.equal(matchRecord(record, { ecosystem: 'npm', name: 'lodash', version: '3.6.9' }, dotted), undefined);
    assert.equal(matchRecord(record, { ecosystem: 'PyPI', name: 'lodash', version: '4.17.15' }, dotted), undefined);
    assert.equal(matchRecord(record, { ecosystem: 'npm', name: 'Lodash', version: '4.17.15' }, dotted), undefined);
    assert.equal(matchRecord(record, { ecosystem: 'npm', name: 'lodash.pick', version: '4.4.0' }, dotted)?.lastAffected, '4.4.0');
  });

  test('a withdrawn record matches nothing', () => {
    const withdrawn = parseOsvRecord(JSON.stringify(npmRecord({ withdrawn: '2024-06-01T00:00:00Z' })))!;
    assert.equal(matchRecord(withdrawn, { ecosystem: 'npm', name: 'lodash', version: '4.17.15' }, dotted), undefined);
  });
});
