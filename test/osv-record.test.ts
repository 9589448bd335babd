import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseOsvRecord, parseOsvRecords, timestampKey, validateOsvRecord, type OsvRecord } from '../src/scan/osv/index.js';
import { alpineRecord, debianRecord, dsaRecord, npmRecord, ubuntuRecord } from './helpers/osv.js';

function parse(value: unknown, limits = {}): { record: OsvRecord | undefined; warnings: string[]; skipped: number } {
  const warnings: string[] = [];
  let skipped = 0;
  const record = parseOsvRecord(typeof value === 'string' ? value : JSON.stringify(value), { where: 'x.json', onWarning: (m) => warnings.push(m), onSkip: () => skipped++, limits });
  return { record, warnings, skipped };
}

describe('OSV records: real-looking data is read', () => {
  test('Debian (DEBIAN-CVE): two releases, versions list, urgency; the zero "published" is no date; details dropped', () => {
    const { record, warnings } = parse(debianRecord());
    assert.deepEqual(warnings, []);
    assert.ok(record);
    assert.equal(record.id, 'DEBIAN-CVE-2024-2511');
    assert.equal(record.modified, '2025-02-10T08:30:12.123456789Z');
    assert.equal(record.published, undefined);
    assert.deepEqual(record.upstream, ['CVE-2024-2511']);
    assert.deepEqual(
      record.affected.map((a) => a.package.ecosystem),
      ['Debian:12', 'Debian:13'],
    );
    assert.deepEqual(record.affected[0]!.versions, ['3.0.9-1', '3.0.11-1~deb12u1', '3.0.11-1~deb12u2']);
    assert.deepEqual(record.affected[0]!.ranges, [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed: '3.0.13-1~deb12u1' }] }]);
    assert.deepEqual(record.affected[0]!.ecosystem_specific, { urgency: 'low' });
    assert.equal(record.affected[0]!.package.purl, 'pkg:deb/debian/openssl?arch=source&distro=bookworm');
    assert.equal((record as unknown as Record<string, unknown>).details, undefined);
    assert.equal((record as unknown as Record<string, unknown>).references, undefined);
    assert.equal(record.severity[0]!.type, 'CVSS_V3');
    // "id" first: the database finds it on a line without parsing the line.
    assert.ok(JSON.stringify(record).startsWith('{"id":"DEBIAN-CVE-2024-2511","modified":'));
  });

  test('Debian DSA, Alpine, Ubuntu and npm records', () => {
    const dsa = parse(dsaRecord()).record!;
    assert.equal(dsa.summary, 'glibc - security update');
    assert.deepEqual(dsa.related, ['CVE-2024-2961']);
    assert.equal(dsa.published, '2024-04-15T00:00:00Z');
    const alpine = parse(alpineRecord()).record!;
    assert.deepEqual(
      alpine.affected.map((a) => `${a.package.ecosystem} ${a.package.name}`),
      ['Alpine:v3.20 busybox', 'Alpine:v3.21 busybox'],
    );
    assert.deepEqual(alpine.severity, []);
    const ubuntu = parse(ubuntuRecord()).record!;
    assert.deepEqual(
      ubuntu.severity.map((s) => s.type),
      ['CVSS_V4', 'Ubuntu'],
    );
    const npm = parse(npmRecord()).record!;
    assert.deepEqual(npm.aliases, ['CVE-2020-8203']);
    assert.equal(npm.affected[0]!.ranges[0]!.type, 'SEMVER');
    assert.deepEqual(npm.affected[1]!.ranges[0]!.events, [{ introduced: '4.0.0' }, { last_affected: '4.4.0' }]);
    assert.equal(npm.database_specific?.severity, 'HIGH');
  });

  test('withdrawn: kept with its time; the zero time means not withdrawn', () => {
    assert.equal(parse(dsaRecord({ withdrawn: '2024-05-01T00:00:00Z' })).record!.withdrawn, '2024-05-01T00:00:00Z');
    assert.equal(parse(dsaRecord({ withdrawn: '0001-01-01T00:00:00Z' })).record!.withdrawn, undefined);
  });

  test('an affected entry without a package (GIT ranges only) is left out; the rest is kept', () => {
    const { record, warnings } = parse(
      dsaRecord({
        affected: [
          { ranges: [{ type: 'GIT', repo: 'https://github.com/x/y', events: [{ introduced: 'a'.repeat(40) }, { fixed: 'b'.repeat(40) }] }] },
          { package: { ecosystem: 'Debian:12', name: 'glibc' }, ranges: [{ type: 'GIT', repo: 'https://sourceware.org/git/glibc.git', events: [{ introduced: '0' }, { fixed: 'c'.repeat(40) }] }], versions: ['2.36-9'] },
        ],
      }),
    );
    assert.deepEqual(warnings, []);
    assert.equal(record!.affected.length, 1);
    assert.equal(record!.affected[0]!.ranges[0]!.repo, 'https://sourceware.org/git/glibc.git');
  });

  test('an unknown range type is dropped with a warning, the record kept', () => {
    const { record, warnings } = parse(dsaRecord({ affected: [{ package: { ecosystem: 'Debian:12', name: 'glibc' }, ranges: [{ type: 'CALVER', events: [{ introduced: '0' }] }, { type: 'ECOSYSTEM', events: [{ introduced: '0' }] }] }] }));
    assert.equal(record!.affected[0]!.ranges.length, 1);
    assert.match(warnings[0]!, /x\.json "DSA-5678-1": affected\[0\]\.ranges\[0\]: unknown range type "CALVER"/);
  });

  test('a large ecosystem_specific is dropped with a warning; a long summary is cut; controls in it become spaces', () => {
    const { record, warnings } = parse(
      dsaRecord({ summary: `line one\nline two ${'x'.repeat(3000)}`, affected: [{ package: { ecosystem: 'Go', name: 'golang.org/x/net' }, ecosystem_specific: { imports: [{ symbols: Array.from({ length: 20_000 }, (_, i) => `Sym${i}`) }] }, ranges: [{ type: 'SEMVER', events: [{ introduced: '0' }] }] }] }),
    );
    assert.equal(record!.affected[0]!.ecosystem_specific, undefined);
    assert.match(warnings[0]!, /ecosystem_specific \(\d+ bytes\) is larger than 65536 bytes: dropped/);
    assert.equal(record!.summary!.length, 1024);
    assert.ok(record!.summary!.startsWith('line one line two x'));
    assert.ok(record!.summary!.endsWith('…'));
  });

  test('a file holding a list of records: the good ones are kept, each bad one is a warning', () => {
    const warnings: string[] = [];
    let skipped = 0;
    const records = parseOsvRecords(JSON.stringify([dsaRecord(), { id: 'X-1' }, alpineRecord()]), { where: 'all.json', onWarning: (m) => warnings.push(m), onSkip: () => skipped++ });
    assert.deepEqual(
      records.map((r) => r.id),
      ['DSA-5678-1', 'ALPINE-CVE-2024-58251'],
    );
    assert.deepEqual(warnings, ['all.json[1] "X-1": skipped: modified is missing']);
    assert.equal(skipped, 1);
    assert.equal(parse([dsaRecord()]).record, undefined);
  });
});

describe('OSV records: broken ones are warnings, never crashes', () => {
  const event = (events: unknown[]): Record<string, unknown> => dsaRecord({ affected: [{ package: { ecosystem: 'Debian:12', name: 'glibc' }, ranges: [{ type: 'ECOSYSTEM', events }] }] });
  const cases: [string, unknown, RegExp][] = [
    ['not JSON', '{"id": "DSA-1"', /skipped: not JSON/],
    ['not an object', '"just a string"', /skipped: not a JSON object/],
    ['null', 'null', /skipped: not a JSON object/],
    ['no id', { modified: '2024-01-01T00:00:00Z' }, /skipped: id is missing/],
    ['id with a space', { id: 'DSA 5678', modified: '2024-01-01T00:00:00Z' }, /holds white space/],
    ['id not a string', { id: 42, modified: '2024-01-01T00:00:00Z' }, /id is not a string/],
    ['no modified', { id: 'DSA-1' }, /modified is missing/],
    ['modified not RFC 3339', { id: 'DSA-1', modified: '2024-01-01 10:00:00' }, /modified "2024-01-01 10:00:00" is not an RFC 3339 time/],
    ['an impossible date', { id: 'DSA-1', modified: '2024-02-30T00:00:00Z' }, /not an RFC 3339 time/],
    ['a later major schema', { schema_version: '2.0.0', id: 'DSA-1', modified: '2024-01-01T00:00:00Z' }, /later major version/],
    ['an event with two bounds', event([{ introduced: '0', fixed: '1.0' }]), /more than one bound \(introduced, fixed\)/],
    ['an event with no bound', event([{ introduced: '0' }, { patched: '1.0' }]), /has no introduced, fixed, last_affected or limit/],
    ['an event bound that is not a string', event([{ introduced: 0 }]), /introduced is not a version/],
    ['an empty events list', event([]), /events is empty/],
    ['a package without a name', dsaRecord({ affected: [{ package: { ecosystem: 'Debian:12', name: ' ' } }] }), /package\.name is empty/],
    ['a package without an ecosystem', dsaRecord({ affected: [{ package: { name: 'glibc' } }] }), /package\.ecosystem is missing/],
    ['a name with a control character', dsaRecord({ affected: [{ package: { ecosystem: 'npm', name: 'evil\u001b[2J' } }] }), /holds control characters/],
    ['affected not a list', dsaRecord({ affected: { package: {} } }), /affected is not a list/],
    ['versions not a list', dsaRecord({ affected: [{ package: { ecosystem: 'npm', name: 'x' }, versions: '1.0' }] }), /versions is not a list/],
    ['a version that is not a string', dsaRecord({ affected: [{ package: { ecosystem: 'npm', name: 'x' }, versions: ['1.0', 2] }] }), /versions\[1\] is not a string/],
    ['a severity without a type', dsaRecord({ severity: [{ score: 'CVSS:3.1/AV:N' }] }), /severity\[0\]\.type is missing/],
  ];
  for (const [name, value, why] of cases) {
    test(name, () => {
      const { record, warnings, skipped } = parse(value);
      assert.equal(record, undefined);
      assert.equal(warnings.length, 1, warnings.join('\n'));
      assert.match(warnings[0]!, /^x\.json/);
      assert.match(warnings[0]!, why);
      assert.equal(skipped, 1);
    });
  }

  test('size caps: bytes, versions, strings', () => {
    assert.match(parse(dsaRecord(), { maxBytes: 100 }).warnings[0]!, /skipped: \d+ bytes is more than the 100 a record may have/);
    assert.match(parse(dsaRecord({ affected: [{ package: { ecosystem: 'npm', name: 'x' }, versions: ['1', '2', '3'] }] }), { maxVersions: 2 }).warnings[0]!, /versions has more than 2 entries/);
    assert.match(parse(dsaRecord({ id: `DSA-${'9'.repeat(2000)}` })).warnings[0]!, /id is longer than 1024 characters/);
  });

  test('not UTF-8, a deep nesting, a huge number: warnings', () => {
    const warnings: string[] = [];
    assert.deepEqual(parseOsvRecords(Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]), { onWarning: (m) => warnings.push(m) }), []);
    assert.deepEqual(parseOsvRecords('['.repeat(100_000) + ']'.repeat(100_000), { onWarning: (m) => warnings.push(m) }), []);
    assert.equal(validateOsvRecord({ id: 'X-1', modified: 1e308 }, { onWarning: (m) => warnings.push(m) }), undefined);
    assert.equal(warnings.length, 3);
  });

  test('__proto__ keys pollute nothing and survive a round trip as data', () => {
    const text = `{"__proto__":{"polluted":true},"id":"X-1","modified":"2024-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"npm","name":"x"},"ecosystem_specific":{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}}}}]}`;
    const record = parseOsvRecords(text)[0]!;
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.equal(record.id, 'X-1');
    assert.equal(JSON.parse(JSON.stringify(record)).affected[0].ecosystem_specific.constructor.prototype.polluted, true);
  });

  test('a byte-order mark is allowed', () => {
    assert.equal(parseOsvRecords(`\ufeff${JSON.stringify(dsaRecord())}`)[0]!.id, 'DSA-5678-1');
  });
});

describe('timestampKey', () => {
  test('sorts as the instant does, to the nanosecond, across offsets', () => {
    const keys = ['2024-01-01T00:00:00Z', '2024-01-01T00:00:00.000000001Z', '2024-01-01T00:00:00.1Z', '2024-01-01T02:00:01+02:00', '2023-12-31T23:00:02-01:00'].map((t) => timestampKey(t)!);
    assert.deepEqual(keys, [...keys].sort());
    assert.equal(timestampKey('2024-01-01T02:00:01+02:00'), '2024-01-01T00:00:01.000000000Z');
    assert.equal(timestampKey('2025-02-10T08:30:12.123456789Z'), '2025-02-10T08:30:12.123456789Z');
    assert.equal(timestampKey('0001-01-01T00:00:00Z'), '0001-01-01T00:00:00.000000000Z');
    assert.equal(timestampKey('2024-01-01t00:00:00z'), '2024-01-01T00:00:00.000000000Z');
  });
  test('anything else is undefined', () => {
    for (const bad of ['', '2024-01-01', '2024-13-01T00:00:00Z', '2024-01-01T25:00:00Z', '2024-01-01T00:00:00', 'yesterday', `2024-01-01T00:00:00.${'1'.repeat(100)}Z`]) {
      assert.equal(timestampKey(bad), undefined, bad);
    }
  });
});
