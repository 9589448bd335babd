/**
 * Fixtures for the rpm database readers, all made at test time:
 * - real rpms built by rpmbuild from specs written here, installed by rpm into a temporary root (sqlite, the
 *   backend Debian's rpm writes), queried by `rpm -qa` (the peer), their headers exported by `rpmdb --exportdb`;
 * - Berkeley DB hash files written by the real Berkeley DB (db5.3_load), read back by rpm's bdb_ro backend;
 * - small hand-made files of each format, written from the format descriptions, for the hostile tests (which
 *   need exact control over every byte) and for ndb, which Debian's rpm can neither write nor read.
 */
import { execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { requirePeer, runPeer } from './peers.js';
import assert from 'node:assert/strict';
import { WharfError } from '../../src/errors.js';
import { readRpmDatabaseFile, type RpmPackage } from '../../src/scan/rpmdb/index.js';

// ---------------------------------------------------------------------------------------------------------------
// Real rpms

export interface Spec {
  name: string;
  version: string;
  release: string;
  epoch?: number;
  license: string;
  /** Default noarch; `host` builds for the machine's architecture (a package without files needs no compiler). */
  arch?: 'noarch' | 'host';
  description?: string;
  /** Whether the source builds a binary of its own name (default true; vim and openssl in RHEL do not). */
  main?: boolean;
  /**
   * Subpackages `-n NAME`: same source rpm, licence of their own, and optionally a version and epoch of their own
   * (as perl.spec gives perl-Errno).
   */
  subpackages?: Array<{ name: string; license?: string; version?: string; epoch?: number }>;
}

/** The packages every rpmdb test installs: epochs absent, 0 and 2; dashes, tilde, caret and plus in names and versions; a header far larger than a page; subpackages sharing a source rpm; a non-ASCII licence. */
export const FIXTURE_SPECS: Spec[] = [
  { name: 'wharf-alpha', version: '1.2.3', release: '4.fc99', epoch: 2, license: 'MIT and (GPL-2.0-or-later OR Apache-2.0)' },
  { name: 'wharf-zero', version: '0.9', release: '1.el9_3', epoch: 0, license: 'BSD-3-Clause', arch: 'host' },
  { name: 'wharf-lib++-devel', version: '2.0~rc1^git3', release: '0.1.el9', license: 'LGPL-2.1-only' },
  { name: 'wharf-big', version: '10', release: '1', license: 'Copyright © Ærø; Apache-2.0', description: 'A header larger than any page. '.repeat(1500) },
  {
    name: 'wharf-many',
    version: '3.0',
    release: '7.suse',
    license: 'MIT',
    subpackages: Array.from({ length: 36 }, (_, i) => ({ name: `wharf-many-sub-${i + 1}`, license: i % 2 ? 'MIT' : 'ISC' })),
  },
];

function specText(s: Spec): string {
  const lines = [`Name: ${s.name}`, `Version: ${s.version}`, `Release: ${s.release}`];
  if (s.epoch !== undefined) lines.push(`Epoch: ${s.epoch}`);
  lines.push(`Summary: wharf rpmdb fixture ${s.name}`, `License: ${s.license}`);
  if ((s.arch ?? 'noarch') === 'noarch') lines.push('BuildArch: noarch');
  lines.push('%description', s.description ?? `The ${s.name} fixture.`);
  if (s.main ?? true) lines.push('%files');
  for (const sub of s.subpackages ?? []) {
    lines.push(`%package -n ${sub.name}`, `Summary: subpackage ${sub.name}`);
    if (sub.license) lines.push(`License: ${sub.license}`);
    if (sub.version) lines.push(`Version: ${sub.version}`);
    if (sub.epoch !== undefined) lines.push(`Epoch: ${sub.epoch}`);
    lines.push(`%description -n ${sub.name}`, `Subpackage ${sub.name}.`, `%files -n ${sub.name}`);
  }
  return lines.join('\n') + '\n';
}

/** Build the fixture rpms under `dir`; resolves with their paths. */
export async function buildFixtureRpms(dir: string, specs: Spec[] = FIXTURE_SPECS): Promise<string[]> {
  const top = join(dir, 'rpmbuild');
  await mkdir(top, { recursive: true });
  for (const s of specs) {
    const file = join(dir, `${s.name}.spec`);
    await writeFile(file, specText(s));
    await runPeer('rpmbuild', ['-bb', '--quiet', '--define', `_topdir ${top}`, '--define', '_build_id_links none', file]);
  }
  const rpms: string[] = [];
  const rpmsDir = join(top, 'RPMS');
  for (const arch of await readdir(rpmsDir)) {
    for (const f of await readdir(join(rpmsDir, arch))) if (f.endsWith('.rpm')) rpms.push(join(rpmsDir, arch, f));
  }
  return rpms.sort();
}

export interface RpmFixture {
  /** The rpms built. */
  rpms: string[];
  /** A root whose var/lib/rpm/rpmdb.sqlite rpm wrote with all of them installed. */
  root: string;
  /** What `rpm -qa` says of it. */
  expected: string[];
  /** A scratch directory for the test's own files (removed when the process exits). */
  scratch: string;
}

let fixture: Promise<RpmFixture> | undefined;

/**
 * The fixture rpms built and installed once per test process, or undefined (the test skipped) when rpm or
 * rpmbuild is missing; with WHARF_REQUIRE_PEERS=1 a missing peer fails instead.
 */
export async function rpmFixture(t: TestContext): Promise<RpmFixture | undefined> {
  if (!requirePeer(t, 'rpm') || !requirePeer(t, 'rpmbuild', 'rpm') || !requirePeer(t, 'rpmdb', 'rpm')) return undefined;
  fixture ??= (async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wharf-rpmdb-'));
    process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
    const rpms = await buildFixtureRpms(join(dir, 'build'));
    const root = join(dir, 'root');
    await installRpms(root, rpms);
    const expected = await rpmQueryAll(root);
    const scratch = join(dir, 'scratch');
    await mkdir(scratch);
    return { rpms, root, expected, scratch };
  })();
  return fixture;
}

let forceDebian: boolean | undefined;

/** Install `rpms` into the database of `root` (var/lib/rpm), database only. */
export async function installRpms(root: string, rpms: string[]): Promise<void> {
  if (forceDebian === undefined) forceDebian = (await runPeer('rpm', ['--help'])).includes('--force-debian');
  const args = ['--root', root, '--dbpath', '/var/lib/rpm', '--nodeps', '--justdb', '--noscripts', '-i'];
  if (forceDebian) args.unshift('--force-debian');
  await runPeer('rpm', [...args, ...rpms]);
}

const QF = '%{NAME}\\t%{EPOCHNUM}\\t%{EPOCH}\\t%{VERSION}\\t%{RELEASE}\\t%{ARCH}\\t%{SOURCERPM}\\t%{LICENSE}\\n';

/** What `rpm -qa` says is in the database of `root`, one line a package (the peer). */
export async function rpmQueryAll(root: string, backend?: 'bdb_ro' | 'sqlite'): Promise<string[]> {
  const args = ['--root', root, '--dbpath', '/var/lib/rpm'];
  if (backend) args.push('--define', `_db_backend ${backend}`);
  const out = await runPeer('rpm', [...args, '-qa', '--qf', QF]);
  return out.split('\n').filter((l) => l !== '');
}

/** The same line for a package wharf read: how rpm prints a missing value. */
export function queryLine(p: RpmPackage): string {
  const none = '(none)';
  return [p.name, p.epoch ?? 0, p.epoch ?? none, p.version, p.release, p.arch || none, p.sourceRpm ?? none, p.license ?? none].join('\t');
}

/** The header blobs of the database of `root`, as `rpmdb --exportdb` writes them (each after an 8-byte magic). */
export async function exportHeaders(root: string): Promise<Buffer[]> {
  const out = await runPeerBuffer('rpmdb', ['--root', root, '--dbpath', '/var/lib/rpm', '--exportdb']);
  const blobs: Buffer[] = [];
  for (let at = 0; at < out.length; ) {
    if (out.readUInt32BE(at) !== 0x8eade801) throw new Error(`rpmdb --exportdb: no header magic at ${at}`);
    const il = out.readUInt32BE(at + 8);
    const dl = out.readUInt32BE(at + 12);
    const size = 8 + il * 16 + dl;
    blobs.push(Buffer.from(out.subarray(at + 8, at + 8 + size)));
    at += 8 + size;
  }
  return blobs;
}

function runPeerBuffer(cmd: string, args: string[]): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { encoding: 'buffer', maxBuffer: 256 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')} failed: ${stderr.toString() || err.message}`));
      else resolve(stdout);
    });
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Berkeley DB through the real library

export interface DbLoadOptions {
  littleEndian: boolean;
  pageSize: number;
  /** h_ffactor: items per bucket before a split (small: many buckets; large: long bucket chains). */
  ffactor?: number;
}

/**
 * A Packages file as rpm's bdb backend keeps it, written by Berkeley DB itself (db5.3_load): key 0 holds the
 * next free header number, keys 1…n the headers, keys in the file's byte order.
 */
export async function writeBdbWithDbLoad(file: string, blobs: Buffer[], o: DbLoadOptions): Promise<void> {
  const u32 = (n: number) => {
    const b = Buffer.alloc(4);
    if (o.littleEndian) b.writeUInt32LE(n);
    else b.writeUInt32BE(n);
    return b;
  };
  const lines = ['VERSION=3', 'format=bytevalue', 'type=hash', `db_lorder=${o.littleEndian ? 1234 : 4321}`, `db_pagesize=${o.pageSize}`];
  if (o.ffactor) lines.push(`h_ffactor=${o.ffactor}`);
  lines.push('HEADER=END', ` ${u32(0).toString('hex')}`, ` ${u32(blobs.length + 1).toString('hex')}`);
  blobs.forEach((blob, i) => lines.push(` ${u32(i + 1).toString('hex')}`, ` ${blob.toString('hex')}`));
  lines.push('DATA=END', '');
  const dump = `${file}.dump`;
  await writeFile(dump, lines.join('\n'));
  await runPeer('db5.3_load', ['-f', dump, file]);
}

// ---------------------------------------------------------------------------------------------------------------
// Hand-made files, from the format descriptions

export interface HeaderEntry {
  tag: number;
  type: number;
  /** string for STRING; string[] for STRING_ARRAY / I18NSTRING; number[] for the integer types; Buffer for BIN. */
  value: string | string[] | number[] | Buffer;
}

const ALIGN: Record<number, number> = { 3: 2, 4: 4, 5: 8 };

/** An rpm header blob (il, dl, index, data), each value aligned as rpm aligns it. */
export function rpmHeader(entries: HeaderEntry[]): Buffer {
  const index = Buffer.alloc(entries.length * 16);
  const parts: Buffer[] = [];
  let dl = 0;
  entries.forEach((e, i) => {
    const align = ALIGN[e.type] ?? 1;
    const pad = (align - (dl % align)) % align;
    if (pad) parts.push(Buffer.alloc(pad));
    dl += pad;
    let bytes: Buffer;
    let count: number;
    if (typeof e.value === 'string') {
      bytes = Buffer.from(e.value + '\0');
      count = 1;
    } else if (Buffer.isBuffer(e.value)) {
      bytes = e.value;
      count = e.value.length;
    } else if (typeof e.value[0] === 'string') {
      bytes = Buffer.from((e.value as string[]).map((s) => s + '\0').join(''));
      count = e.value.length;
    } else {
      const nums = e.value as number[];
      const size = e.type === 3 ? 2 : e.type === 4 ? 4 : e.type === 5 ? 8 : 1;
      bytes = Buffer.alloc(nums.length * size);
      nums.forEach((n, j) => {
        if (size === 1) bytes[j] = n;
        else if (size === 2) bytes.writeUInt16BE(n, j * 2);
        else if (size === 4) bytes.writeUInt32BE(n, j * 4);
        else bytes.writeBigUInt64BE(BigInt(n), j * 8);
      });
      count = nums.length;
    }
    index.writeUInt32BE(e.tag, i * 16);
    index.writeUInt32BE(e.type, i * 16 + 4);
    index.writeInt32BE(dl, i * 16 + 8);
    index.writeUInt32BE(count, i * 16 + 12);
    parts.push(bytes);
    dl += bytes.length;
  });
  const head = Buffer.alloc(8);
  head.writeUInt32BE(entries.length, 0);
  head.writeUInt32BE(dl, 4);
  return Buffer.concat([head, index, ...parts]);
}

/** A small package header: NAME, VERSION, RELEASE, ARCH, SOURCERPM, LICENSE (and EPOCH when given). */
export function simpleHeader(name: string, options: { version?: string; release?: string; epoch?: number; arch?: string; padding?: number } = {}): Buffer {
  const version = options.version ?? '1.0';
  const release = options.release ?? '1';
  const entries: HeaderEntry[] = [
    { tag: 1000, type: 6, value: name },
    { tag: 1001, type: 6, value: version },
    { tag: 1002, type: 6, value: release },
  ];
  if (options.epoch !== undefined) entries.push({ tag: 1003, type: 4, value: [options.epoch] });
  entries.push({ tag: 1014, type: 6, value: 'MIT' }, { tag: 1022, type: 6, value: options.arch ?? 'noarch' });
  entries.push({ tag: 1044, type: 6, value: `${name}-${version}-${release}.src.rpm` });
  // A description to make the header as large as asked (I18NSTRING, as rpm has it).
  if (options.padding) entries.push({ tag: 1005, type: 9, value: ['x'.repeat(options.padding)] });
  return rpmHeader(entries);
}

function varint(n: number | bigint): Buffer {
  let v = BigInt(n);
  if (v < 0n) v = BigInt.asUintN(64, v);
  if (v > 0x00ffffffffffffffn) {
    const out = Buffer.alloc(9);
    out[8] = Number(v & 0xffn);
    v >>= 8n;
    for (let i = 7; i >= 0; i--) {
      out[i] = Number(v & 0x7fn) | 0x80;
      v >>= 7n;
    }
    return out;
  }
  const bytes: number[] = [Number(v & 0x7fn)];
  v >>= 7n;
  while (v > 0n) {
    bytes.unshift(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  return Buffer.from(bytes);
}

type SqlCol = null | number | string | Buffer;

function sqlRecord(cols: SqlCol[]): Buffer {
  const types: Buffer[] = [];
  const body: Buffer[] = [];
  for (const c of cols) {
    if (c === null) types.push(varint(0));
    else if (typeof c === 'number') {
      const b = Buffer.alloc(4);
      b.writeInt32BE(c);
      types.push(varint(4));
      body.push(b);
    } else if (typeof c === 'string') {
      const b = Buffer.from(c);
      types.push(varint(13 + b.length * 2));
      body.push(b);
    } else {
      types.push(varint(12 + c.length * 2));
      body.push(c);
    }
  }
  const typeBytes = Buffer.concat(types);
  let hsize = typeBytes.length + 1;
  if (varint(hsize).length > 1) hsize = typeBytes.length + varint(typeBytes.length + 2).length;
  return Buffer.concat([varint(hsize), typeBytes, ...body]);
}

export interface SqliteLayout {
  pageSize?: number;
  /** The bytes of each page after the page number of the page (for hostile edits), by page number. */
  pages: Buffer[];
  /** Page number of the Packages root (2), of each row's leaf, and of each row's first overflow page (0 if none). */
  leafOf: number[];
  overflowOf: number[];
  file: Buffer;
}

/**
 * An SQLite file with the schema row of Packages (page 1) and a Packages table whose root (page 2) is an
 * interior page over one leaf page per row; a row's payload spills onto overflow pages as the format says.
 * `patch` may change the pages before the file is put together.
 */
export function sqliteFile(rows: Array<{ rowid: number; blob: Buffer }>, options: { pageSize?: number; patch?: (l: SqliteLayout) => void } = {}): SqliteLayout {
  const pageSize = options.pageSize ?? 4096;
  const U = pageSize;
  const pages: Buffer[] = [Buffer.alloc(0)]; // 1-based
  const alloc = (): number => {
    pages.push(Buffer.alloc(pageSize));
    return pages.length - 1;
  };
  const p1 = alloc();
  const root = alloc();
  const leafCell = (rowid: number, payload: Buffer, overflowOf: number[]): Buffer => {
    const X = U - 35;
    const head = Buffer.concat([varint(payload.length), varint(rowid)]);
    if (payload.length <= X) {
      overflowOf.push(0);
      return Buffer.concat([head, payload]);
    }
    const M = Math.floor(((U - 12) * 32) / 255) - 23;
    const K = M + ((payload.length - M) % (U - 4));
    const local = K <= X ? K : M;
    let rest = payload.subarray(local);
    const first = alloc();
    overflowOf.push(first);
    let pg = first;
    for (;;) {
      const chunk = rest.subarray(0, U - 4);
      rest = rest.subarray(chunk.length);
      chunk.copy(pages[pg]!, 4);
      if (rest.length === 0) break;
      const next = alloc();
      pages[pg]!.writeUInt32BE(next, 0);
      pg = next;
    }
    const ptr = Buffer.alloc(4);
    ptr.writeUInt32BE(first);
    return Buffer.concat([head, payload.subarray(0, local), ptr]);
  };
  const writeLeaf = (pg: number, headerAt: number, cells: Buffer[]): void => {
    const page = pages[pg]!;
    page[headerAt] = 0x0d;
    page.writeUInt16BE(cells.length, headerAt + 3);
    let top = U;
    cells.forEach((c, i) => {
      top -= c.length;
      c.copy(page, top);
      page.writeUInt16BE(top, headerAt + 8 + i * 2);
    });
    page.writeUInt16BE(top === 65536 ? 0 : top, headerAt + 5);
  };
  // The schema row first, so that page 1 is written with the root's number.
  const schema = sqlRecord(['table', 'Packages', 'Packages', root, "CREATE TABLE 'Packages' (hnum INTEGER PRIMARY KEY AUTOINCREMENT,blob BLOB NOT NULL)"]);
  const leafOf: number[] = [];
  const overflowOf: number[] = [];
  const leaves: Array<{ pg: number; rowid: number }> = [];
  for (const r of rows) {
    const pg = alloc();
    leafOf.push(pg);
    leaves.push({ pg, rowid: r.rowid });
    writeLeaf(pg, 0, [leafCell(r.rowid, sqlRecord([null, r.blob]), overflowOf)]);
  }
  writeLeaf(p1, 100, [leafCell(1, schema, [])]);
  // The root: an interior page whose cells point at all leaves but the last, the right pointer at the last.
  const rootPage = pages[root]!;
  rootPage[0] = leaves.length > 0 ? 0x05 : 0x0d;
  if (leaves.length > 0) {
    const cells = leaves.slice(0, -1).map((l) => {
      const b = Buffer.alloc(4);
      b.writeUInt32BE(l.pg);
      return Buffer.concat([b, varint(l.rowid)]);
    });
    rootPage.writeUInt16BE(cells.length, 3);
    let top = U;
    cells.forEach((c, i) => {
      top -= c.length;
      c.copy(rootPage, top);
      rootPage.writeUInt16BE(top, 12 + i * 2);
    });
    rootPage.writeUInt16BE(top === 65536 ? 0 : top, 5);
    rootPage.writeUInt32BE(leaves[leaves.length - 1]!.pg, 8);
  } else {
    rootPage.writeUInt16BE(U === 65536 ? 0 : U, 5);
  }
  // The database header.
  const h = pages[p1]!;
  Buffer.from('SQLite format 3\0', 'latin1').copy(h, 0);
  h.writeUInt16BE(pageSize === 65536 ? 1 : pageSize, 16);
  h[18] = 1;
  h[19] = 1;
  h[20] = 0;
  h[21] = 64;
  h[22] = 32;
  h[23] = 32;
  h.writeUInt32BE(1, 24); // change counter
  h.writeUInt32BE(pages.length - 1, 28);
  h.writeUInt32BE(1, 40); // schema cookie
  h.writeUInt32BE(4, 44); // schema format
  h.writeUInt32BE(1, 56); // UTF-8
  h.writeUInt32BE(1, 92); // version valid for
  h.writeUInt32BE(3040001, 96);
  const layout: SqliteLayout = { pageSize, pages, leafOf, overflowOf, file: Buffer.alloc(0) };
  options.patch?.(layout);
  layout.file = Buffer.concat(pages.slice(1));
  return layout;
}

export interface BdbLayout {
  pages: Buffer[];
  /** Page of each record's value overflow chain (0 when the value is on the bucket page). */
  overflowOf: number[];
  file: Buffer;
  littleEndian: boolean;
}

/**
 * A Berkeley DB hash file with one bucket (page 1, chained through next_pgno when it fills) holding
 * key 0 = next header number, then key i = blob i-1; values too large for a quarter page go to overflow pages.
 */
export function bdbHashFile(blobs: Buffer[], options: { pageSize?: number; littleEndian?: boolean; patch?: (l: BdbLayout) => void } = {}): BdbLayout {
  const ps = options.pageSize ?? 4096;
  const le = options.littleEndian ?? true;
  const w32 = (b: Buffer, v: number, at: number) => (le ? b.writeUInt32LE(v, at) : b.writeUInt32BE(v, at));
  const w16 = (b: Buffer, v: number, at: number) => (le ? b.writeUInt16LE(v, at) : b.writeUInt16BE(v, at));
  const pages: Buffer[] = [];
  const alloc = (type: number): number => {
    const p = Buffer.alloc(ps);
    const n = pages.length;
    w32(p, n, 8);
    p[25] = type;
    pages.push(p);
    return n;
  };
  alloc(8); // meta
  const overflowOf: number[] = [];
  const key = (n: number) => {
    const b = Buffer.alloc(4);
    w32(b, n, 0);
    return Buffer.concat([Buffer.from([1]), b]);
  };
  const value = (data: Buffer): Buffer => {
    if (data.length + 1 <= ps / 4) {
      overflowOf.push(0);
      return Buffer.concat([Buffer.from([1]), data]);
    }
    const first = alloc(7);
    overflowOf.push(first);
    let pg = first;
    let rest = data;
    for (;;) {
      const chunk = rest.subarray(0, ps - 26);
      rest = rest.subarray(chunk.length);
      chunk.copy(pages[pg]!, 26);
      w16(pages[pg]!, chunk.length, 22);
      if (rest.length === 0) break;
      const next = alloc(7);
      w32(pages[pg]!, next, 16);
      w32(pages[next]!, pg, 12);
      pg = next;
    }
    const item = Buffer.alloc(12);
    item[0] = 3;
    w32(item, first, 4);
    w32(item, data.length, 8);
    return item;
  };
  const bucket = alloc(13);
  const items: Buffer[] = [];
  const next = Buffer.alloc(4);
  w32(next, blobs.length + 1, 0);
  items.push(key(0), Buffer.concat([Buffer.from([1]), next]));
  blobs.forEach((b, i) => items.push(key(i + 1), value(b)));
  // Lay the items out on the bucket page and its chain.
  let pg = bucket;
  let count = 0;
  let top = ps;
  for (let i = 0; i < items.length; i += 2) {
    const pair = items[i]!.length + items[i + 1]!.length;
    if (26 + (count + 2) * 2 > top - pair) {
      w16(pages[pg]!, count, 20);
      w16(pages[pg]!, top, 22);
      const n = alloc(13);
      w32(pages[pg]!, n, 16);
      w32(pages[n]!, pg, 12);
      pg = n;
      count = 0;
      top = ps;
    }
    for (const it of [items[i]!, items[i + 1]!]) {
      top -= it.length;
      it.copy(pages[pg]!, top);
      w16(pages[pg]!, top, 26 + count * 2);
      count++;
    }
  }
  w16(pages[pg]!, count, 20);
  w16(pages[pg]!, top, 22);
  // The metadata page.
  const m = pages[0]!;
  w32(m, 0x00061561, 12);
  w32(m, 9, 16);
  w32(m, ps, 20);
  m[24] = 0;
  m[25] = 8;
  w32(m, pages.length - 1, 32);
  w32(m, 0, 72); // max_bucket
  w32(m, 0, 76); // high_mask
  w32(m, 0, 80); // low_mask
  w32(m, 0, 84); // ffactor
  w32(m, blobs.length + 1, 88); // nelem
  w32(m, fnvHash(Buffer.from('%$sniglet^&')), 92); // h_charkey: the hash function's mark
  w32(m, 1, 96); // spares[0]: bucket 0 is on page 0 + 1
  const layout: BdbLayout = { pages, overflowOf, file: Buffer.alloc(0), littleEndian: le };
  options.patch?.(layout);
  layout.file = Buffer.concat(pages);
  return layout;
}

/** Berkeley DB's default hash (__ham_func5, FNV-1 from 0). */
function fnvHash(key: Buffer): number {
  let h = 0;
  for (const c of key) h = (Math.imul(h, 16777619) ^ c) >>> 0;
  return h;
}

/** rpm's ndb Packages.db (lib/backend/ndb/rpmpkg.c): header, one slot page per 255 packages, blobs in 16-byte blocks. */
export function ndbFile(records: Array<{ pkgIdx: number; blob: Buffer }>, options: { patch?: (file: Buffer, slotAt: (i: number) => number, blobAt: number[]) => void } = {}): Buffer {
  const slotsPerPage = 4096 / 16;
  const slotPages = Math.max(1, Math.ceil((records.length + 2) / slotsPerPage));
  const parts: Buffer[] = [];
  const head = Buffer.alloc(slotPages * 4096);
  head.writeUInt32LE(0x506d7052, 0);
  head.writeUInt32LE(0, 4);
  head.writeUInt32LE(records.length + 1, 8); // generation
  head.writeUInt32LE(slotPages, 12);
  head.writeUInt32LE(Math.max(0, ...records.map((r) => r.pkgIdx)) + 1, 16);
  for (let at = 32; at < head.length; at += 16) head.writeUInt32LE(0x746f6c53, at);
  parts.push(head);
  let blk = (slotPages * 4096) / 16;
  const blobAt: number[] = [];
  records.forEach((r, i) => {
    const cnt = Math.ceil((16 + r.blob.length + 12) / 16);
    const blob = Buffer.alloc(cnt * 16);
    blob.writeUInt32LE(0x53626c42, 0);
    blob.writeUInt32LE(r.pkgIdx, 4);
    blob.writeUInt32LE(1700000000, 8);
    blob.writeUInt32LE(r.blob.length, 12);
    r.blob.copy(blob, 16);
    blob.writeUInt32LE(adler32(blob.subarray(0, blob.length - 12)), blob.length - 12);
    blob.writeUInt32LE(r.blob.length, blob.length - 8);
    blob.writeUInt32LE(0x45626c42, blob.length - 4);
    const slot = 32 + i * 16;
    head.writeUInt32LE(r.pkgIdx, slot + 4);
    head.writeUInt32LE(blk, slot + 8);
    head.writeUInt32LE(cnt, slot + 12);
    blobAt.push(blk * 16);
    parts.push(blob);
    blk += cnt;
  });
  const file = Buffer.concat(parts);
  options.patch?.(file, (i) => 32 + i * 16, blobAt);
  return file;
}

function adler32(b: Buffer): number {
  let s1 = 1;
  let s2 = 0;
  for (const c of b) {
    s1 = (s1 + c) % 65521;
    s2 = (s2 + s1) % 65521;
  }
  return ((s2 << 16) | s1) >>> 0;
}

/** fn throws RPMDB_INVALID with a message matching `pattern`. */
export function expectRpmdbInvalid(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof WharfError, `a WharfError, not ${String(err)}`);
    assert.equal(err.code, 'RPMDB_INVALID');
    assert.match(err.message, pattern);
    return true;
  });
}

/** The package names a database file gives, in order, and the warnings it raised. */
export function readPackageNames(path: string, file: Buffer): { names: string[]; warnings: string[] } {
  const warnings: string[] = [];
  const db = readRpmDatabaseFile(path, file, { onWarning: (m) => warnings.push(m) });
  return { names: db.packages.map((p) => p.name), warnings };
}
