import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { cvss2, cvss3, levelOfWord, parseOsvRecord, recordSeverity, severityRank } from '../src/scan/osv/index.js';
import { alpineRecord, debianRecord, dsaRecord, npmRecord, ubuntuRecord } from './helpers/osv.js';

describe('CVSS v3 base scores (the specification formula)', () => {
  // Scores as FIRST's and NVD's calculators give them.
  const vectors: [string, number, string][] = [
    ['CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H', 9.8, 'critical'],
    ['CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H', 10.0, 'critical'],
    ['CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:C/C:H/I:N/A:N', 6.8, 'medium'], // the OSV schema's own example
    ['CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H', 7.8, 'high'],
    ['CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N', 6.1, 'medium'],
    ['CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H', 7.5, 'high'],
    ['CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:N/A:N', 5.9, 'medium'],
    ['CVSS:3.1/AV:L/AC:L/PR:N/UI:R/S:U/C:N/I:N/A:H', 5.5, 'medium'],
    ['CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:N/I:H/A:H', 7.4, 'high'],
    ['CVSS:3.1/AV:L/AC:H/PR:L/UI:N/S:U/C:L/I:N/A:N', 2.5, 'low'],
    ['CVSS:3.1/AV:P/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N', 1.6, 'low'],
    ['CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H', 9.8, 'critical'],
    ['CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N', 0.0, 'none'],
    ['CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/E:P/RL:O/RC:C', 9.8, 'critical'], // temporal metrics ignored
  ];
  for (const [vector, score, level] of vectors) {
    test(`${vector} → ${score}`, () => {
      const s = cvss3(vector);
      assert.ok(s);
      assert.equal(s.score, score);
      assert.equal(s.level, level);
    });
  }

  test('not a v3 base vector: undefined', () => {
    for (const bad of [
      '',
      'AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H',
      'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H',
      'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:X/C:H/I:H/A:H',
      'CVSS:3.1/AV:N/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H',
      'CVSS:3.1/AV:Q/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H',
      'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/ZZ:1',
      'CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N',
      'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:__proto__',
    ]) {
      assert.equal(cvss3(bad), undefined, bad);
    }
  });
});

describe('CVSS v2 base scores', () => {
  const vectors: [string, number, string][] = [
    ['AV:N/AC:L/Au:N/C:P/I:P/A:P', 7.5, 'high'],
    ['AV:N/AC:L/Au:N/C:C/I:C/A:C', 10.0, 'high'],
    ['AV:N/AC:M/Au:N/C:N/I:P/A:N', 4.3, 'medium'],
    ['AV:L/AC:L/Au:N/C:P/I:N/A:N', 2.1, 'low'],
    ['(AV:N/AC:M/Au:N/C:P/I:P/A:P)', 6.8, 'medium'],
    ['AV:N/AC:L/Au:N/C:N/I:N/A:N', 0, 'low'],
  ];
  for (const [vector, score, level] of vectors) {
    test(`${vector} → ${score}`, () => {
      const s = cvss2(vector);
      assert.ok(s);
      assert.equal(s.score, score);
      assert.equal(s.level, level);
    });
  }
  test('not a v2 vector: undefined', () => {
    assert.equal(cvss2('AV:N/AC:L/Au:N/C:P/I:P'), undefined);
    assert.equal(cvss2('CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H'), undefined);
  });
});

describe('severity of real-looking records', () => {
  const rec = (v: Record<string, unknown>) => parseOsvRecord(JSON.stringify(v))!;

  test('Debian: the CVSS score, and the urgency as the vendor word', () => {
    const r = rec(debianRecord());
    const s = recordSeverity(r, r.affected[0]);
    assert.equal(s.level, 'high');
    assert.equal(s.cvss?.score, 7.5);
    assert.deepEqual(s.vendor, { source: 'ecosystem_specific.urgency', value: 'low', level: 'low' });
  });

  test('Debian without CVSS: the urgency decides; "not yet assigned" is unknown', () => {
    const r = rec(debianRecord({ severity: [] }));
    assert.equal(recordSeverity(r, r.affected[0]).level, 'low');
    const nya = rec(debianRecord({ severity: [], affected: [{ package: { ecosystem: 'Debian:12', name: 'openssl' }, ecosystem_specific: { urgency: 'not yet assigned' } }] }));
    assert.deepEqual(recordSeverity(nya, nya.affected[0]), { level: 'unknown' });
    const unimportant = rec(debianRecord({ severity: [], affected: [{ package: { ecosystem: 'Debian:12', name: 'openssl' }, ecosystem_specific: { urgency: 'unimportant' } }] }));
    assert.equal(recordSeverity(unimportant, unimportant.affected[0]).level, 'low');
  });

  test('a DSA and an Alpine record carry no severity: unknown', () => {
    assert.equal(recordSeverity(rec(dsaRecord())).level, 'unknown');
    const a = rec(alpineRecord());
    assert.deepEqual(recordSeverity(a, a.affected[0]), { level: 'unknown' });
  });

  test('npm (GitHub): CVSS first, database_specific.severity as the vendor word', () => {
    const r = rec(npmRecord());
    const s = recordSeverity(r, r.affected[0]);
    assert.equal(s.cvss?.score, 7.4);
    assert.equal(s.level, 'high');
    assert.deepEqual(s.vendor, { source: 'database_specific.severity', value: 'HIGH', level: 'high' });
    const moderate = rec(npmRecord({ severity: [], database_specific: { severity: 'MODERATE' } }));
    assert.equal(recordSeverity(moderate, moderate.affected[0]).level, 'medium');
  });

  test('Ubuntu: a v4 vector is kept unscored, the Ubuntu priority decides', () => {
    const r = rec(ubuntuRecord());
    const s = recordSeverity(r, r.affected[0]);
    assert.equal(s.level, 'medium');
    assert.equal(s.cvss, undefined);
    assert.equal(s.cvssV4, 'CVSS:4.0/AV:L/AC:L/AT:N/PR:L/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N');
    assert.equal(s.vendor?.source, 'Ubuntu');
  });

  test('an entry with its own severity wins over the record; the highest of several vectors counts', () => {
    const r = rec(
      npmRecord({
        severity: [
          { type: 'CVSS_V3', score: 'CVSS:3.1/AV:L/AC:H/PR:L/UI:N/S:U/C:L/I:N/A:N' },
          { type: 'CVSS_V3', score: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H' },
          { type: 'CVSS_V2', score: 'AV:N/AC:L/Au:N/C:C/I:C/A:C' },
        ],
      }),
    );
    assert.equal(recordSeverity(r).cvss?.score, 9.8);
    const own = { ...r.affected[0]!, severity: [{ type: 'CVSS_V2', score: 'AV:L/AC:L/Au:N/C:P/I:N/A:N' }] };
    assert.deepEqual(recordSeverity(r, own).cvss, { version: '2.0', vector: 'AV:L/AC:L/Au:N/C:P/I:N/A:N', score: 2.1, level: 'low' });
  });

  test('vendor words', () => {
    assert.equal(levelOfWord('Important'), 'high');
    assert.equal(levelOfWord('MODERATE'), 'medium');
    assert.equal(levelOfWord('negligible'), 'low');
    assert.equal(levelOfWord('low**'), 'low');
    assert.equal(levelOfWord('untriaged'), 'unknown');
    assert.ok(severityRank('critical') > severityRank('high') && severityRank('low') > severityRank('unknown'));
  });
});
