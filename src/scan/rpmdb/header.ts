/**
 * An rpm header as the databases store it (a "header blob"): no lead, no magic, just
 *
 *   il (u32) | dl (u32) | il index entries of 16 bytes (tag, type, offset, count) | dl bytes of data
 *
 * all big-endian. A tag's value lives at `offset` in the data store; strings end with a NUL. Only the few
 * tags a package list needs are read, each checked against the bounds of the data store before it is touched;
 * the counts are checked against rpm's own limits before anything is sized from them.
 */
import { rpmdbInvalid } from './errors.js';

/** One installed package, as `rpm -qa --qf '%{NAME} %{EPOCH} %{VERSION} %{RELEASE} %{ARCH} …'` has it. */
export interface RpmPackage {
  name: string;
  version: string;
  release: string;
  /** Only when the header has an EPOCH (rpm's %{EPOCHNUM} prints 0 without one). */
  epoch?: number;
  /** Empty for the gpg-pubkey pseudo-packages, which have none (rpm prints `(none)`). */
  arch: string;
  /** The source rpm's file name: `bash-5.1.8-9.el9.src.rpm`. */
  sourceRpm?: string;
  /** Derived from sourceRpm (`name-version-release.src.rpm`), when it has that shape. */
  sourceName?: string;
  sourceVersion?: string;
  sourceRelease?: string;
  /** The LICENSE tag, as written: `GPL-3.0-or-later AND MIT`, `GPLv2+`. */
  license?: string;
  /** MODULARITYLABEL (RHEL 8 application streams): `nodejs:18:8090020231025135519:a75119d5`. */
  modularityLabel?: string;
}

export const RpmTag = {
  NAME: 1000,
  VERSION: 1001,
  RELEASE: 1002,
  EPOCH: 1003,
  LICENSE: 1014,
  ARCH: 1022,
  SOURCERPM: 1044,
  MODULARITYLABEL: 5096,
} as const;

export const RpmType = {
  NULL: 0,
  CHAR: 1,
  INT8: 2,
  INT16: 3,
  INT32: 4,
  INT64: 5,
  STRING: 6,
  BIN: 7,
  STRING_ARRAY: 8,
  I18NSTRING: 9,
} as const;

/** rpm's own limits (lib/header_internal.h): at most 65535 index entries and 256 MiB of data. */
export const HEADER_MAX_ENTRIES = 0xffff;
export const HEADER_MAX_DATA = 0x0fffffff;

interface Entry {
  type: number;
  offset: number;
  count: number;
}

/** The index of a header blob, checked for size; entries are looked at only when asked for. */
class HeaderBlob {
  private readonly entries = new Map<number, Entry>();
  private readonly data: Buffer;

  constructor(
    blob: Buffer,
    private readonly where: string,
  ) {
    if (blob.length < 8) throw this.invalid(`${blob.length} bytes is too short for a header`);
    const il = blob.readUInt32BE(0);
    const dl = blob.readUInt32BE(4);
    if (il === 0) throw this.invalid('the header has no index entries');
    if (il > HEADER_MAX_ENTRIES) throw this.invalid(`the header claims ${il} index entries, more than rpm's limit of ${HEADER_MAX_ENTRIES}`);
    if (dl > HEADER_MAX_DATA) throw this.invalid(`the header claims ${dl} bytes of data, more than rpm's limit of ${HEADER_MAX_DATA}`);
    const dataStart = 8 + il * 16;
    if (dataStart + dl > blob.length) {
      throw this.invalid(`the header is truncated: ${il} entries and ${dl} bytes of data need ${dataStart + dl} bytes, it has ${blob.length}`);
    }
    this.data = blob.subarray(dataStart, dataStart + dl);
    // A tag may appear twice: entries added after the immutable region ("dribbles") come later and win.
    for (let i = 0; i < il; i++) {
      const at = 8 + i * 16;
      const tag = blob.readUInt32BE(at);
      this.entries.set(tag, { type: blob.readUInt32BE(at + 4), offset: blob.readInt32BE(at + 8), count: blob.readUInt32BE(at + 12) });
    }
  }

  invalid(message: string): Error {
    return rpmdbInvalid(this.where, message);
  }

  private entry(tag: number): Entry | undefined {
    const e = this.entries.get(tag);
    if (!e) return undefined;
    if (e.count < 1 || e.count > this.data.length) throw this.invalid(`tag ${tag}: count ${e.count} does not fit the ${this.data.length} bytes of data`);
    if (e.offset < 0 || e.offset >= this.data.length) throw this.invalid(`tag ${tag}: offset ${e.offset} is outside the ${this.data.length} bytes of data`);
    return e;
  }

  /** A STRING, or the first string of a STRING_ARRAY / I18NSTRING (the C locale's). */
  string(tag: number): string | undefined {
    const e = this.entry(tag);
    if (!e) return undefined;
    if (e.type !== RpmType.STRING && e.type !== RpmType.STRING_ARRAY && e.type !== RpmType.I18NSTRING) {
      throw this.invalid(`tag ${tag}: type ${e.type} where a string was expected`);
    }
    const end = this.data.indexOf(0, e.offset);
    if (end < 0) throw this.invalid(`tag ${tag}: the string at offset ${e.offset} has no NUL terminator inside the data`);
    return this.data.toString('utf8', e.offset, end);
  }

  /** The first value of an integer tag. */
  number(tag: number): number | undefined {
    const e = this.entry(tag);
    if (!e) return undefined;
    const size = e.type === RpmType.INT8 || e.type === RpmType.CHAR ? 1 : e.type === RpmType.INT16 ? 2 : e.type === RpmType.INT32 ? 4 : e.type === RpmType.INT64 ? 8 : 0;
    if (size === 0) throw this.invalid(`tag ${tag}: type ${e.type} where a number was expected`);
    if (e.offset % size !== 0) throw this.invalid(`tag ${tag}: offset ${e.offset} is not aligned for a ${size}-byte integer`);
    if (e.offset + size * e.count > this.data.length) throw this.invalid(`tag ${tag}: ${e.count} values at offset ${e.offset} run past the data`);
    if (size === 1) return this.data[e.offset]!;
    if (size === 2) return this.data.readUInt16BE(e.offset);
    if (size === 4) return this.data.readUInt32BE(e.offset);
    return Number(this.data.readBigUInt64BE(e.offset));
  }
}

/**
 * Read one installed package from its header blob. Throws RPMDB_INVALID (naming `where`) when the blob is
 * malformed or lacks a name, version or release.
 */
export function parseRpmHeader(blob: Buffer, where = 'rpm header'): RpmPackage {
  const h = new HeaderBlob(blob, where);
  const name = h.string(RpmTag.NAME);
  const version = h.string(RpmTag.VERSION);
  const release = h.string(RpmTag.RELEASE);
  if (name === undefined || version === undefined || release === undefined) {
    const missing = [name === undefined && 'NAME', version === undefined && 'VERSION', release === undefined && 'RELEASE'].filter(Boolean);
    throw h.invalid(`the header has no ${missing.join(', ')}`);
  }
  const pkg: RpmPackage = { name, version, release, arch: h.string(RpmTag.ARCH) ?? '' };
  const epoch = h.number(RpmTag.EPOCH);
  if (epoch !== undefined) pkg.epoch = epoch;
  const sourceRpm = h.string(RpmTag.SOURCERPM);
  if (sourceRpm !== undefined && sourceRpm !== '') {
    pkg.sourceRpm = sourceRpm;
    const source = parseSourceRpm(sourceRpm);
    if (source) {
      pkg.sourceName = source.name;
      pkg.sourceVersion = source.version;
      pkg.sourceRelease = source.release;
    }
  }
  const license = h.string(RpmTag.LICENSE);
  if (license !== undefined) pkg.license = license;
  const modularityLabel = h.string(RpmTag.MODULARITYLABEL);
  if (modularityLabel !== undefined && modularityLabel !== '') pkg.modularityLabel = modularityLabel;
  return pkg;
}

/**
 * `name-version-release.src.rpm` (or `.nosrc.rpm`) → its parts; the name may hold dashes, version and release
 * cannot. Undefined for anything of another shape.
 */
export function parseSourceRpm(file: string): { name: string; version: string; release: string } | undefined {
  const m = /^(.+)-([^-]+)-([^-]+)\.(?:no)?src\.rpm$/.exec(file);
  if (!m) return undefined;
  return { name: m[1]!, version: m[2]!, release: m[3]! };
}
