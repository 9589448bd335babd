/**
 * OSV test data: records shaped like the ones osv.dev serves for Debian, Alpine, Ubuntu and npm (trimmed to
 * the fields that matter), a comparator for dotted numbers, and a zip writer for archives made in the test
 * (stored or deflated entries, zip64 on demand, and the layout so a test can damage it on purpose).
 */
import { deflateRawSync } from 'node:zlib';
import { crc32 } from '../../src/scan/db/zip.js';

/** Compare dotted decimal versions (`1.10.0` > `1.9`), missing parts as 0. Throws for anything else. */
export function dotted(a: string, b: string): number {
  const parse = (v: string): number[] => {
    if (!/^\d+(\.\d+)*$/.test(v)) throw new Error(`not a dotted version: ${v}`);
    return v.split('.').map(Number);
  };
  const x = parse(a);
  const y = parse(b);
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return 0;
}

/** DEBIAN-CVE-… as the Debian security tracker's converter writes it: one source package, several releases. */
export function debianRecord(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    schema_version: '1.7.3',
    id: 'DEBIAN-CVE-2024-2511',
    published: '0001-01-01T00:00:00Z',
    modified: '2025-02-10T08:30:12.123456789Z',
    upstream: ['CVE-2024-2511'],
    details: 'Issue summary: Some non-default TLS server configurations can cause unbounded memory growth when processing TLSv1.3 sessions. '.repeat(3),
    affected: [
      {
        package: { name: 'openssl', ecosystem: 'Debian:12', purl: 'pkg:deb/debian/openssl?arch=source&distro=bookworm' },
        ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed: '3.0.13-1~deb12u1' }] }],
        versions: ['3.0.9-1', '3.0.11-1~deb12u1', '3.0.11-1~deb12u2'],
        ecosystem_specific: { urgency: 'low' },
        database_specific: { source: 'https://storage.googleapis.com/debian-osv/debian-cve-osv/DEBIAN-CVE-2024-2511.json' },
      },
      {
        package: { name: 'openssl', ecosystem: 'Debian:13', purl: 'pkg:deb/debian/openssl?arch=source&distro=trixie' },
        ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed: '3.2.1-3' }] }],
        ecosystem_specific: { urgency: 'low' },
      },
    ],
    references: [{ type: 'ADVISORY', url: 'https://security-tracker.debian.org/tracker/CVE-2024-2511' }],
    severity: [{ type: 'CVSS_V3', score: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H' }],
    ...overrides,
  };
}

/** A DSA for Debian:12 with no severity at all (the DSA records carry none). */
export function dsaRecord(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: 'DSA-5678-1',
    summary: 'glibc - security update',
    modified: '2024-04-15T13:00:00Z',
    published: '2024-04-15T00:00:00Z',
    related: ['CVE-2024-2961'],
    affected: [
      {
        package: { ecosystem: 'Debian:12', name: 'glibc', purl: 'pkg:deb/debian/glibc?arch=source' },
        ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed: '2.36-9+deb12u6' }] }],
        versions: ['2.36-9+deb12u3', '2.36-9+deb12u4'],
      },
    ],
    ...overrides,
  };
}

/** ALPINE-CVE-… from osv.dev: the CVE in `upstream`, no severity. */
export function alpineRecord(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    schema_version: '1.7.0',
    id: 'ALPINE-CVE-2024-58251',
    modified: '2025-05-02T10:11:12.756478307Z',
    published: '2025-04-23T16:15:27Z',
    upstream: ['CVE-2024-58251'],
    details: 'In netstat in BusyBox through 1.37.0, local users can launch of network application with an argument…',
    affected: [
      {
        package: { ecosystem: 'Alpine:v3.20', name: 'busybox', purl: 'pkg:apk/alpine/busybox?arch=source' },
        ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed: '1.36.1-r30' }] }],
      },
      {
        package: { ecosystem: 'Alpine:v3.21', name: 'busybox', purl: 'pkg:apk/alpine/busybox?arch=source' },
        ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed: '1.37.0-r13' }] }],
      },
    ],
    references: [{ type: 'ADVISORY', url: 'https://security.alpinelinux.org/vuln/CVE-2024-58251' }],
    ...overrides,
  };
}

/** A GitHub advisory for an npm package: SEMVER range, CVSS v3, `database_specific.severity`. */
export function npmRecord(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    schema_version: '1.4.0',
    id: 'GHSA-p6mc-m468-83gw',
    modified: '2024-03-01T00:03:53Z',
    published: '2020-07-15T19:15:48Z',
    aliases: ['CVE-2020-8203'],
    summary: 'Prototype Pollution in lodash',
    details: 'Versions of lodash prior to 4.17.19 are vulnerable to Prototype Pollution.',
    severity: [{ type: 'CVSS_V3', score: 'CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:N/I:H/A:H' }],
    affected: [
      {
        package: { ecosystem: 'npm', name: 'lodash', purl: 'pkg:npm/lodash' },
        ranges: [{ type: 'SEMVER', events: [{ introduced: '3.7.0' }, { fixed: '4.17.19' }] }],
        database_specific: { source: 'https://github.com/github/advisory-database/blob/main/advisories/github-reviewed/2020/07/GHSA-p6mc-m468-83gw/GHSA-p6mc-m468-83gw.json' },
      },
      {
        package: { ecosystem: 'npm', name: 'lodash.pick', purl: 'pkg:npm/lodash.pick' },
        ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '4.0.0' }, { last_affected: '4.4.0' }] }],
      },
    ],
    database_specific: { cwe_ids: ['CWE-1321', 'CWE-770'], severity: 'HIGH', github_reviewed: true, github_reviewed_at: '2020-07-15T19:15:17Z', nvd_published_at: '2020-07-15T17:15:00Z' },
    ...overrides,
  };
}

/** UBUNTU-CVE-…: an `Ubuntu` priority next to the CVSS vector. */
export function ubuntuRecord(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: 'UBUNTU-CVE-2025-29769',
    modified: '2025-09-12T19:00:05.029622990Z',
    published: '2025-04-07T20:15:00Z',
    upstream: ['CVE-2025-29769'],
    severity: [
      { type: 'CVSS_V4', score: 'CVSS:4.0/AV:L/AC:L/AT:N/PR:L/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N' },
      { type: 'Ubuntu', score: 'medium' },
    ],
    affected: [
      {
        package: { name: 'vips', ecosystem: 'Ubuntu:22.04:LTS', purl: 'pkg:deb/ubuntu/vips?arch=source&distro=jammy' },
        ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }] }],
        versions: ['8.12.1-1'],
      },
    ],
    ...overrides,
  };
}

export interface ZipInput {
  name: string;
  data: string | Buffer;
  /** 8 (deflate, default) or 0 (stored). */
  method?: 0 | 8;
}

export interface BuiltZip {
  bytes: Buffer;
  /** Per entry: where its local header and its data start. */
  entries: { localOffset: number; dataOffset: number; compressedSize: number }[];
  cdOffset: number;
  eocdOffset: number;
}

/** A zip archive; with zip64, every size and offset goes through the zip64 fields (as `zip -fz` writes). */
export function makeZip(inputs: readonly ZipInput[], options: { zip64?: boolean } = {}): BuiltZip {
  const parts: Buffer[] = [];
  const central: Buffer[] = [];
  const entries: BuiltZip['entries'] = [];
  let offset = 0;
  for (const input of inputs) {
    const raw = Buffer.isBuffer(input.data) ? input.data : Buffer.from(input.data);
    const method = input.method ?? 8;
    const data = method === 8 ? deflateRawSync(raw) : raw;
    const name = Buffer.from(input.name);
    const crc = crc32(raw);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(options.zip64 ? 45 : 20, 4);
    local.writeUInt16LE(0x800, 6);
    local.writeUInt16LE(method, 8);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(raw.length, 22);
    local.writeUInt16LE(name.length, 26);
    entries.push({ localOffset: offset, dataOffset: offset + 30 + name.length, compressedSize: data.length });
    parts.push(local, name, data);
    const extra = Buffer.alloc(options.zip64 ? 28 : 0);
    if (options.zip64) {
      extra.writeUInt16LE(0x0001, 0);
      extra.writeUInt16LE(24, 2);
      extra.writeBigUInt64LE(BigInt(raw.length), 4);
      extra.writeBigUInt64LE(BigInt(data.length), 12);
      extra.writeBigUInt64LE(BigInt(offset), 20);
    }
    const c = Buffer.alloc(46);
    c.writeUInt32LE(0x02014b50, 0);
    c.writeUInt16LE(0x031e, 4);
    c.writeUInt16LE(options.zip64 ? 45 : 20, 6);
    c.writeUInt16LE(0x800, 8);
    c.writeUInt16LE(method, 10);
    c.writeUInt32LE(crc, 16);
    c.writeUInt32LE(options.zip64 ? 0xffffffff : data.length, 20);
    c.writeUInt32LE(options.zip64 ? 0xffffffff : raw.length, 24);
    c.writeUInt16LE(name.length, 28);
    c.writeUInt16LE(extra.length, 30);
    c.writeUInt32LE(options.zip64 ? 0xffffffff : offset, 42);
    central.push(c, name, extra);
    offset += 30 + name.length + data.length;
  }
  const cdOffset = offset;
  const cd = Buffer.concat(central);
  parts.push(cd);
  offset += cd.length;
  if (options.zip64) {
    const rec = Buffer.alloc(56);
    rec.writeUInt32LE(0x06064b50, 0);
    rec.writeBigUInt64LE(44n, 4);
    rec.writeUInt16LE(45, 12);
    rec.writeUInt16LE(45, 14);
    rec.writeBigUInt64LE(BigInt(inputs.length), 24);
    rec.writeBigUInt64LE(BigInt(inputs.length), 32);
    rec.writeBigUInt64LE(BigInt(cd.length), 40);
    rec.writeBigUInt64LE(BigInt(cdOffset), 48);
    const loc = Buffer.alloc(20);
    loc.writeUInt32LE(0x07064b50, 0);
    loc.writeBigUInt64LE(BigInt(offset), 8);
    loc.writeUInt32LE(1, 16);
    parts.push(rec, loc);
    offset += 76;
  }
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(options.zip64 ? 0xffff : inputs.length, 8);
  eocd.writeUInt16LE(options.zip64 ? 0xffff : inputs.length, 10);
  eocd.writeUInt32LE(options.zip64 ? 0xffffffff : cd.length, 12);
  eocd.writeUInt32LE(options.zip64 ? 0xffffffff : cdOffset, 16);
  parts.push(eocd);
  return { bytes: Buffer.concat(parts), entries, cdOffset, eocdOffset: offset };
}

/** Records as a zip of `<id>.json` entries, as osv.dev's all.zip holds them. */
export function osvZip(records: readonly Record<string, unknown>[], options: { zip64?: boolean } = {}): Buffer {
  return makeZip(
    records.map((r) => ({ name: `${String(r.id)}.json`, data: JSON.stringify(r, null, 2) })),
    options,
  ).bytes;
}
