/**
 * rpm header blobs: the tags a package list needs, the source rpm's name split into its parts, and hostile
 * headers (each named after its attack) refused with RPMDB_INVALID without allocating what they claim.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { WharfError } from '../src/errors.js';
import { parseRpmHeader, parseSourceRpm } from '../src/scan/rpmdb/index.js';
import { rpmHeader, simpleHeader, type HeaderEntry } from './helpers/rpmdb.js';

const STRING = 6;
const INT32 = 4;
const STRING_ARRAY = 8;
const I18NSTRING = 9;

const BASE: HeaderEntry[] = [
  { tag: 1000, type: STRING, value: 'bash' },
  { tag: 1001, type: STRING, value: '5.1.8' },
  { tag: 1002, type: STRING, value: '9.el9' },
];

function invalid(blob: Buffer, pattern: RegExp): void {
  assert.throws(
    () => parseRpmHeader(blob, 'header 7'),
    (err: unknown) => {
      assert.ok(err instanceof WharfError, `a WharfError, not ${String(err)}`);
      assert.equal(err.code, 'RPMDB_INVALID');
      assert.match(err.message, /^header 7: /);
      assert.match(err.message, pattern);
      return true;
    },
  );
}

test('a header: name, version, release, epoch, arch, source rpm and its parts, licence, modularity label', () => {
  const blob = rpmHeader([
    ...BASE,
    { tag: 1003, type: INT32, value: [1] },
    { tag: 1014, type: STRING, value: 'GPL-3.0-or-later' },
    { tag: 1022, type: STRING, value: 'x86_64' },
    { tag: 1044, type: STRING, value: 'bash-5.1.8-9.el9.src.rpm' },
    { tag: 5096, type: STRING, value: 'bash:5:9000:abcdef' },
  ]);
  assert.deepEqual(parseRpmHeader(blob), {
    name: 'bash',
    version: '5.1.8',
    release: '9.el9',
    epoch: 1,
    arch: 'x86_64',
    sourceRpm: 'bash-5.1.8-9.el9.src.rpm',
    sourceName: 'bash',
    sourceVersion: '5.1.8',
    sourceRelease: '9.el9',
    license: 'GPL-3.0-or-later',
    modularityLabel: 'bash:5:9000:abcdef',
  });
});

test('a gpg-pubkey pseudo-package: no arch, no source rpm, no epoch', () => {
  const p = parseRpmHeader(rpmHeader([{ tag: 1000, type: STRING, value: 'gpg-pubkey' }, { tag: 1001, type: STRING, value: 'fd431d51' }, { tag: 1002, type: STRING, value: '4ae0493b' }]));
  assert.deepEqual(p, { name: 'gpg-pubkey', version: 'fd431d51', release: '4ae0493b', arch: '' });
});

test('strings from STRING_ARRAY and I18NSTRING tags are their first (C locale) value; a tag given twice is the later one', () => {
  const p = parseRpmHeader(
    rpmHeader([
      { tag: 1000, type: I18NSTRING, value: ['name-c', 'name-de'] },
      ...BASE.slice(1),
      { tag: 1014, type: STRING_ARRAY, value: ['MIT', 'BSD'] },
      { tag: 1022, type: STRING, value: 'noarch' },
      { tag: 1022, type: STRING, value: 'aarch64' },
    ]),
  );
  assert.equal(p.name, 'name-c');
  assert.equal(p.license, 'MIT');
  assert.equal(p.arch, 'aarch64');
});

test('source rpm names: dashes in names, dots in versions, nosrc; anything else is not split', () => {
  assert.deepEqual(parseSourceRpm('python3.11-setuptools-65.5.1-2.el9.src.rpm'), { name: 'python3.11-setuptools', version: '65.5.1', release: '2.el9' });
  assert.deepEqual(parseSourceRpm('kernel-5.14.0-362.8.1.el9_3.nosrc.rpm'), { name: 'kernel', version: '5.14.0', release: '362.8.1.el9_3' });
  assert.deepEqual(parseSourceRpm('wharf-lib++-devel-2.0~rc1^git3-0.1.el9.src.rpm'), { name: 'wharf-lib++-devel', version: '2.0~rc1^git3', release: '0.1.el9' });
  assert.equal(parseSourceRpm('bash.src.rpm'), undefined);
  assert.equal(parseSourceRpm('bash-5.1.src.rpm'), undefined);
  assert.equal(parseSourceRpm('bash-5.1-1.x86_64.rpm'), undefined);
  const p = parseRpmHeader(rpmHeader([...BASE, { tag: 1044, type: STRING, value: 'odd' }]));
  assert.equal(p.sourceRpm, 'odd');
  assert.equal(p.sourceName, undefined);
});

test('header: an index count claiming 2^31 entries', { timeout: 5_000 }, () => {
  const blob = Buffer.alloc(64);
  blob.writeUInt32BE(0x80000000, 0);
  blob.writeUInt32BE(16, 4);
  invalid(blob, /claims 2147483648 index entries, more than rpm's limit of 65535/);
});

test('header: a data length claiming 4 GiB', { timeout: 5_000 }, () => {
  const blob = Buffer.alloc(64);
  blob.writeUInt32BE(1, 0);
  blob.writeUInt32BE(0xffffffff, 4);
  invalid(blob, /claims 4294967295 bytes of data/);
});

test('header: index and data longer than the blob (truncated)', () => {
  const blob = simpleHeader('bash');
  invalid(blob.subarray(0, blob.length - 1), /truncated: .* need \d+ bytes, it has \d+/);
  invalid(blob.subarray(0, 5), /5 bytes is too short/);
});

test('header: no index entries', () => {
  invalid(Buffer.alloc(8), /no index entries/);
});

test('header: a string without NUL terminator', () => {
  const blob = rpmHeader(BASE);
  blob[blob.length - 1] = 0x41; // the release's NUL, the last byte of the data
  invalid(blob, /tag 1002: the string at offset \d+ has no NUL terminator/);
});

test('header: an offset outside the data', () => {
  const blob = rpmHeader(BASE);
  blob.writeInt32BE(10_000, 8 + 16 + 8); // VERSION's offset
  invalid(blob, /tag 1001: offset 10000 is outside/);
});

test('header: a negative offset', () => {
  const blob = rpmHeader(BASE);
  blob.writeInt32BE(-4, 8 + 8);
  invalid(blob, /tag 1000: offset -4 is outside/);
});

test('header: a count of zero, and a count larger than the data', () => {
  const zero = rpmHeader(BASE);
  zero.writeUInt32BE(0, 8 + 12);
  invalid(zero, /tag 1000: count 0/);
  const huge = rpmHeader(BASE);
  huge.writeUInt32BE(0xffffffff, 8 + 12);
  invalid(huge, /tag 1000: count 4294967295/);
});

test('header: an INT32 epoch running past the data, and one not aligned', () => {
  const past = rpmHeader([...BASE, { tag: 1003, type: INT32, value: [1] }]);
  past.writeUInt32BE(2, 8 + 3 * 16 + 12); // two values where there is room for one
  invalid(past, /tag 1003: 2 values at offset \d+ run past the data/);
  const misaligned = rpmHeader([...BASE, { tag: 1003, type: INT32, value: [1] }]);
  misaligned.writeInt32BE(misaligned.readInt32BE(8 + 3 * 16 + 8) + 1, 8 + 3 * 16 + 8);
  invalid(misaligned, /tag 1003: offset \d+ is not aligned/);
});

test('header: a string tag of a number type, and a number tag of a string type', () => {
  invalid(rpmHeader([{ tag: 1000, type: INT32, value: [5] }, ...BASE.slice(1)]), /tag 1000: type 4 where a string was expected/);
  invalid(rpmHeader([...BASE, { tag: 1003, type: STRING, value: '1' }]), /tag 1003: type 6 where a number was expected/);
});

test('header: no NAME, VERSION or RELEASE', () => {
  invalid(rpmHeader([{ tag: 1014, type: STRING, value: 'MIT' }]), /no NAME, VERSION, RELEASE/);
  invalid(rpmHeader(BASE.slice(0, 2)), /no RELEASE/);
});
