/**
 * An existing docker-archive that a destination adds an image to: indexed once (headers only), its images
 * understood (config read, diff_ids parsed, every layer file resolved), and every byte later read through one
 * file handle, so a file renamed over PATH meanwhile cannot mix two archives' bytes.
 *
 * Nothing here is trusted: each layer file is verified against the diff_id its image's config lists, and each
 * config against the digest its name claims, while it is copied into the new archive (see VerifyingCopy).
 */
import { promises as fsp, type Stats } from 'node:fs';
import { posix } from 'node:path';
import { Readable, Transform, type Duplex, type TransformCallback } from 'node:stream';
import { fileRangeStream } from '../../util/fs.js';
import { createHash } from 'node:crypto';
import { digestOf, parseDigest, type Digest } from '../../digest/index.js';
import { DigestMismatchError, NotFoundError, WharfError, asWharfError } from '../../errors.js';
import { decompressor } from '../../archive/compression.js';
import { normalizeTarPath, type TarEntry } from '../../archive/tar.js';
import { MAX_CONFIG_BYTES, parseConfig } from '../../oci/manifest.js';
import type { Context } from '../types.js';
import { DockerArchiveReader, MAX_ARCHIVE_MANIFEST_BYTES, normalizeRepoTag, sniffCompression, type ArchiveManifestItem, type SniffedCompression } from './archive.js';
import { legacyLayers } from './gojson.js';

/** Error codes that mean "the file at PATH is not a docker-archive wharf can read and add to". */
export const NOT_A_DOCKER_ARCHIVE = new Set([
  'TAR_INVALID',
  'ARCHIVE_INVALID',
  'UNSUPPORTED',
  'TOO_LARGE',
  'CONFIG_INVALID',
  'INVALID_DIGEST',
  'MANIFEST_INVALID',
]);

const READ_CHUNK = 1 << 20;
const OPEN_ATTEMPTS = 3;
const HEX_NAME = /^(?:sha256:)?([0-9a-f]{64})(?:\.json)?$/;
const LEGACY_LAYER = /^(?:.*\/)?([0-9a-f]{64})\/layer\.tar$/;

/** One image (manifest.json item) of the existing archive. */
export interface ExistingImage {
  /** The item exactly as manifest.json lists it (file names are kept as written). */
  item: ArchiveManifestItem;
  configEntry: TarEntry;
  configBytes: Buffer;
  configDigest: Digest;
  diffIDs: Digest[];
  /** The regular-file entry each of item.Layers resolves to. */
  layerEntries: TarEntry[];
}

/** What the bytes of an entry must be, checked while the entry is copied. */
export type EntryCheck =
  | { kind: 'layer'; diffID: Digest; compression: SniffedCompression; what: string }
  | { kind: 'config'; digest: Digest; what: string };

/** A blob of the existing archive that a new image may use instead of receiving it again. */
export type ReusableBlob =
  | { kind: 'layer'; entry: TarEntry; size: number }
  | { kind: 'config'; bytes: Buffer; size: number };

export class ExistingArchive {
  private closed = false;
  private readonly names = new Set<string>();
  private readonly layersByDiffID = new Map<Digest, TarEntry>();
  private readonly configsByDigest = new Map<Digest, ExistingImage>();

  private constructor(
    /** PATH, as written by the destination. */
    readonly path: string,
    /** Identity of the file at PATH when it was indexed. */
    private readonly identity: Stats,
    /** Whether PATH is a gzip-compressed tar (then the new archive is gzip-compressed too). */
    readonly gzipped: boolean,
    private readonly reader: DockerArchiveReader,
    private readonly fh: fsp.FileHandle,
    readonly images: ExistingImage[],
    /** The items of manifest.json as raw JSON objects, so fields wharf does not know (LayerSources) are kept. */
    readonly rawItems: Record<string, unknown>[],
    /** What each referenced regular-file entry must hash to. */
    readonly checks: Map<TarEntry, EntryCheck>,
    /** The legacy `repositories` file: name → tag → legacy layer id (empty when absent or unreadable). */
    readonly repositories: Map<string, Map<string, string>>,
  ) {
    for (const e of reader.entries) {
      const n = normalizeTarPath(e.name);
      if (n) this.names.add(n);
    }
    for (const img of images) {
      if (!this.configsByDigest.has(img.configDigest)) this.configsByDigest.set(img.configDigest, img);
      img.layerEntries.forEach((entry, i) => {
        const check = checks.get(entry);
        if (check?.kind === 'layer' && check.compression === 'none' && !this.layersByDiffID.has(img.diffIDs[i]!)) {
          this.layersByDiffID.set(img.diffIDs[i]!, entry);
        }
      });
    }
  }

  /**
   * Index and understand the docker-archive at `path`. Throws IMAGE_NOT_FOUND when it does not exist, one of
   * NOT_A_DOCKER_ARCHIVE's codes when it is not a docker-archive wharf can read, DIGEST_MISMATCH when a
   * config's bytes contradict the digest its name claims.
   */
  static async open(path: string, ctx: Context = {}): Promise<ExistingArchive> {
    for (let attempt = 1; ; attempt++) {
      const before = await statOrThrow(path);
      let reader: DockerArchiveReader;
      try {
        reader = await DockerArchiveReader.open(path, ctx);
      } catch (err) {
        // Another writer renamed a new archive over the path while it was being read: read it again.
        const now = await fsp.stat(path).catch(() => undefined);
        if (attempt < OPEN_ATTEMPTS && now && !sameIdentity(before, now)) continue;
        throw err;
      }
      let fh: fsp.FileHandle | undefined;
      try {
        fh = await fsp.open(reader.tarPath, 'r');
        const after = await statOrThrow(path);
        const gzipped = reader.tarPath !== path;
        const stable = sameIdentity(before, after) && (gzipped || sameIdentity(await fh.stat(), after));
        if (!stable) {
          if (attempt >= OPEN_ATTEMPTS) {
            throw new WharfError('IO_ERROR', `${path} keeps changing while wharf reads it`, {
              hint: 'another program is rewriting the archive; wait for it to finish',
              retryable: true,
            });
          }
          await fh.close();
          await reader.close();
          continue;
        }
        const { images, checks } = await analyze(reader, fh, path);
        const repositories = await readRepositories(reader, fh, path, ctx);
        const manifestBytes = await readEntry(fh, reader.resolve('manifest.json', 'manifest.json'), MAX_ARCHIVE_MANIFEST_BYTES, path);
        // Already validated by DockerArchiveReader.open: an array of objects, one per image.
        const rawItems = JSON.parse(manifestBytes.toString('utf8')) as Record<string, unknown>[];
        if (rawItems.length !== images.length) throw new WharfError('IO_ERROR', `${path} changed while wharf read it`, { retryable: true });
        return new ExistingArchive(path, after, gzipped, reader, fh, images, rawItems, checks, repositories);
      } catch (err) {
        await fh?.close().catch(() => {});
        await reader.close();
        throw err;
      }
    }
  }

  /** Every entry of the archive, in archive order. */
  get entries(): readonly TarEntry[] {
    return this.reader.entries;
  }

  /** Whether the file at PATH (as `st` describes it) still is the one indexed. */
  sameFile(st: Stats): boolean {
    return sameIdentity(st, this.identity);
  }

  /** Whether an entry of the archive has this (normalised) name. */
  hasName(name: string): boolean {
    return this.names.has(name);
  }

  /** The uncompressed layer file holding `diffID`, per its image's config (verified when copied). */
  layerFile(diffID: Digest): TarEntry | undefined {
    return this.layersByDiffID.get(diffID);
  }

  /** The image whose config has this digest. */
  imageWithConfig(digest: Digest): ExistingImage | undefined {
    return this.configsByDigest.get(digest);
  }

  /** A blob this archive holds that a new image could use: a plain layer file by diff_id, or a config. */
  reusable(digest: Digest): ReusableBlob | undefined {
    const entry = this.layersByDiffID.get(digest);
    if (entry) return { kind: 'layer', entry, size: entry.size };
    const img = this.configsByDigest.get(digest);
    if (img) return { kind: 'config', bytes: img.configBytes, size: img.configBytes.length };
    return undefined;
  }

  /** The legacy layer id `repositories` should map a tag of `img` to, if one can be told. */
  topLegacyID(img: ExistingImage): string | undefined {
    const own = new Set(img.item.RepoTags.map(normalizeRepoTag));
    for (const [name, tags] of this.repositories) {
      for (const [tag, id] of tags) if (own.has(normalizeRepoTag(`${name}:${tag}`))) return id;
    }
    const last = img.item.Layers[img.item.Layers.length - 1];
    const m = last === undefined ? null : LEGACY_LAYER.exec(normalizeTarPath(last) ?? '');
    if (m) return m[1];
    const top = legacyLayers(img.diffIDs, img.configBytes).at(-1);
    return top && this.names.has(`${top.id}/json`) ? top.id : undefined;
  }

  /** The data of a regular-file entry, read from the indexed file. */
  stream(entry: TarEntry, signal?: AbortSignal): Readable {
    this.checkOpen();
    return fileRangeStream(this.fh, entry.dataOffset, entry.size, {
      ...(signal ? { signal } : {}),
      onShort: (missing) => new WharfError('TAR_INVALID', `the archive ends ${missing} bytes early`),
      what: 'reading the existing archive',
    });
  }

  /**
   * The data of a regular-file entry, verified against `check` as it streams: the stream fails with
   * DIGEST_MISMATCH at its end when the bytes are not what the archive's manifest and configs say.
   */
  verifiedStream(entry: TarEntry, check: EntryCheck, ctx: Context): Readable {
    const raw = this.stream(entry, ctx.signal);
    const where = `${check.what} of the existing archive ${this.path}`;
    const expected = check.kind === 'layer' ? check.diffID : check.digest;
    let verify: Transform;
    if (check.kind === 'layer' && check.compression !== 'none') {
      const dec = check.compression === 'gzip' || check.compression === 'zstd' ? decompressor(check.compression) : undefined;
      if (!dec) {
        ctx.logger?.warn(`${where} is ${check.compression}-compressed; it is copied without verifying it`);
        return raw;
      }
      verify = new DecompressedDigestCheck(dec, expected, where);
    } else {
      verify = new RawDigestCheck(expected, entry.size, where);
    }
    raw.on('error', (err) => verify.destroy(err));
    verify.on('close', () => raw.destroy());
    return raw.pipe(verify);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.fh.close().catch(() => {});
    await this.reader.close();
  }

  private checkOpen(): void {
    if (this.closed) throw new WharfError('USAGE', `the existing archive ${this.path} is closed`);
  }
}

/** Read every image of the archive: configs (capped, name-claimed digest checked), diff_ids, layer files. */
async function analyze(
  reader: DockerArchiveReader,
  fh: fsp.FileHandle,
  path: string,
): Promise<{ images: ExistingImage[]; checks: Map<TarEntry, EntryCheck> }> {
  const images: ExistingImage[] = [];
  const checks = new Map<TarEntry, EntryCheck>();
  const addCheck = (entry: TarEntry, check: EntryCheck): void => {
    const had = checks.get(entry);
    if (!had) {
      checks.set(entry, check);
      return;
    }
    const same =
      had.kind === check.kind && (had.kind === 'layer' ? had.diffID === (check as typeof had).diffID : had.digest === (check as typeof had).digest);
    if (!same) {
      throw new WharfError('ARCHIVE_INVALID', `docker-archive ${path}: the file "${entry.name}" is used as ${had.what} and as ${check.what}, which differ`, {
        hint: 'the archive is inconsistent',
      });
    }
  };
  for (const [i, item] of reader.items.entries()) {
    const at = `image @${i}`;
    const configEntry = reader.resolve(item.Config, `${at}: config`);
    const configBytes = await readEntry(fh, configEntry, MAX_CONFIG_BYTES, path);
    const configDigest = digestOf(configBytes);
    const claimed = HEX_NAME.exec(posix.basename(normalizeTarPath(configEntry.name) ?? ''));
    if (claimed && `sha256:${claimed[1]}` !== configDigest) {
      throw corrupt(new DigestMismatchError(`sha256:${claimed[1]}`, configDigest, `config ${configEntry.name} of ${at} of the existing archive ${path}`));
    }
    const config = parseConfig(configBytes, `docker-archive ${path}: ${at}: config ${item.Config}`);
    const raw = config.rootfs?.diff_ids;
    if (!Array.isArray(raw)) throw new WharfError('CONFIG_INVALID', `docker-archive ${path}: ${at}: the config has no rootfs.diff_ids`);
    const diffIDs = raw.map((d, k) => {
      try {
        return parseDigest(d);
      } catch (err) {
        throw new WharfError('CONFIG_INVALID', `docker-archive ${path}: ${at}: config rootfs.diff_ids[${k}]: ${(err as Error).message}`, { cause: err });
      }
    });
    if (diffIDs.length !== item.Layers.length) {
      throw new WharfError('ARCHIVE_INVALID', `docker-archive ${path}: ${at}: manifest.json lists ${item.Layers.length} layers but the config has ${diffIDs.length} diff_ids`);
    }
    addCheck(configEntry, { kind: 'config', digest: configDigest, what: `config ${configEntry.name} of ${at}` });
    const layerEntries: TarEntry[] = [];
    for (const [k, name] of item.Layers.entries()) {
      const entry = reader.resolve(name, `${at}: layer ${k + 1} of ${item.Layers.length}`);
      const known = checks.get(entry);
      const compression =
        known?.kind === 'layer' ? known.compression : sniffCompression(await readAt(fh, entry.dataOffset, Math.min(8, entry.size)));
      addCheck(entry, { kind: 'layer', diffID: diffIDs[k]!, compression, what: `layer ${entry.name} (${diffIDs[k]}) of ${at}` });
      layerEntries.push(entry);
    }
    images.push({ item, configEntry, configBytes, configDigest, diffIDs, layerEntries });
  }
  return { images, checks };
}

/** The legacy `repositories` file, if it is there and readable; a bad one is dropped with a warning. */
async function readRepositories(reader: DockerArchiveReader, fh: fsp.FileHandle, path: string, ctx: Context): Promise<Map<string, Map<string, string>>> {
  const out = new Map<string, Map<string, string>>();
  let entry: TarEntry;
  try {
    entry = reader.resolve('repositories', 'repositories');
  } catch {
    return out;
  }
  try {
    const json = JSON.parse((await readEntry(fh, entry, MAX_ARCHIVE_MANIFEST_BYTES, path)).toString('utf8')) as unknown;
    if (!isObject(json)) throw new Error('it is not a JSON object');
    for (const [name, tags] of Object.entries(json)) {
      if (!isObject(tags)) throw new Error(`"${name}" does not map tags to ids`);
      const m = new Map<string, string>();
      for (const [tag, id] of Object.entries(tags)) {
        if (typeof id !== 'string') throw new Error(`"${name}:${tag}" does not map to an id`);
        m.set(tag, id);
      }
      out.set(name, m);
    }
    return out;
  } catch (err) {
    ctx.logger?.warn(`docker-archive ${path}: its legacy "repositories" file is unreadable (${(err as Error).message}); it is rewritten from the new image's tags only`);
    return new Map();
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return !!v && typeof v === 'object' && !Array.isArray(v);
}

async function statOrThrow(path: string): Promise<Stats> {
  try {
    return await fsp.stat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new NotFoundError('IMAGE_NOT_FOUND', `docker-archive ${path} does not exist`, { cause: err });
    }
    throw asWharfError(err, 'IO_ERROR', `checking ${path}`);
  }
}

export function sameIdentity(a: Stats, b: Stats): boolean {
  return a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtimeMs === b.mtimeMs;
}

async function readAt(fh: fsp.FileHandle, offset: number, length: number): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  let got = 0;
  while (got < length) {
    const { bytesRead } = await fh.read(buf, got, length - got, offset + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return buf.subarray(0, got);
}

async function readEntry(fh: fsp.FileHandle, entry: TarEntry, max: number, path: string): Promise<Buffer> {
  if (entry.size > max) {
    throw new WharfError('TOO_LARGE', `docker-archive ${path}: "${entry.name}" is ${entry.size} bytes, more than the ${max}-byte limit`, {
      hint: 'a file this large is not what it claims to be; check the archive',
    });
  }
  const buf = await readAt(fh, entry.dataOffset, entry.size);
  if (buf.length !== entry.size) throw new WharfError('TAR_INVALID', `docker-archive ${path}: "${entry.name}" is truncated`);
  return buf;
}

/** A byte range of an open file as a stream; the handle stays open. */

function corrupt(err: WharfError): WharfError {
  return new WharfError('DIGEST_MISMATCH', err.message, {
    hint: 'the existing archive is corrupt, so its images cannot be kept; nothing was changed. Remove it, or write to another path',
    cause: err,
  });
}

/** Passes bytes through and checks, at the end, that they have `expected`'s digest and `size` bytes. */
class RawDigestCheck extends Transform {
  private readonly hash = createHash('sha256');
  private bytes = 0;

  constructor(
    private readonly expected: Digest,
    private readonly size: number,
    private readonly where: string,
  ) {
    super({ highWaterMark: READ_CHUNK });
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length;
    this.hash.update(chunk);
    done(null, chunk);
  }

  override _flush(done: TransformCallback): void {
    if (this.bytes !== this.size) {
      done(new WharfError('TAR_INVALID', `${this.where}: read ${this.bytes} bytes, expected ${this.size}`));
      return;
    }
    const actual = `sha256:${this.hash.digest('hex')}`;
    done(actual === this.expected ? null : corrupt(new DigestMismatchError(this.expected, actual, this.where)));
  }
}

/**
 * Passes a compressed layer's bytes through unchanged, while decompressing a copy of them and checking that
 * the decompressed bytes have the layer's diff_id.
 */
class DecompressedDigestCheck extends Transform {
  private readonly hash = createHash('sha256');
  private readonly ended: Promise<void>;
  private failure: Error | undefined;

  constructor(
    private readonly dec: Duplex,
    private readonly expected: Digest,
    private readonly where: string,
  ) {
    super({ highWaterMark: READ_CHUNK });
    this.ended = new Promise<void>((resolve) => {
      dec.on('data', (c: Buffer) => this.hash.update(c));
      dec.once('end', () => resolve());
      dec.once('error', (err) => {
        this.failure ??= err;
        resolve();
      });
    });
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    if (this.failure) {
      done(this.broken());
      return;
    }
    if (this.dec.write(chunk)) {
      done(null, chunk);
      return;
    }
    const onDrain = (): void => {
      this.dec.off('error', onError);
      done(null, chunk);
    };
    const onError = (): void => {
      this.dec.off('drain', onDrain);
      done(this.broken());
    };
    this.dec.once('drain', onDrain);
    this.dec.once('error', onError);
  }

  override _flush(done: TransformCallback): void {
    this.dec.end();
    this.ended.then(() => {
      if (this.failure) {
        done(this.broken());
        return;
      }
      const actual = `sha256:${this.hash.digest('hex')}`;
      done(actual === this.expected ? null : corrupt(new DigestMismatchError(this.expected, actual, this.where)));
    }, done);
  }

  override _destroy(err: Error | null, cb: (error: Error | null) => void): void {
    this.dec.destroy();
    cb(err);
  }

  private broken(): WharfError {
    return corrupt(
      new WharfError('DIGEST_MISMATCH', `${this.where}: cannot be decompressed (${this.failure?.message ?? 'unknown error'}), so it does not match its diff_id ${this.expected}`),
    );
  }
}
