/**
 * `repackImage`: what changed in a directory since it was unpacked from an image, added to that image as one new
 * layer — `umoci repack` without the mtree file umoci keeps beside a bundle: the image itself is the record. The
 * directory is compared with the image by the diff engine (tar headers on the image side, lstat on the directory,
 * files of the same size and time taken as unchanged, as rsync does, unless `fullCompare`), and the new layer
 * holds every path added or changed, and a whiteout for every path removed (the topmost removed path only: a
 * whiteout of a directory removes what is below it).
 *
 * The layer is written once, to a temporary file, hashing its tar (the diff_id) and its compressed bytes (the
 * digest) on the way; the new config (diff_ids and history extended, `created` now) and manifest are built from
 * the base image's own bytes, so every field wharf does not know survives. The result is written by the copy
 * engine, so the destination is left as it was if anything fails, and blobs it already holds are not copied.
 *
 * Owners: as root, a path's owner on disk. Rootless (the unpack could not apply owners), a path that was in the
 * base keeps the owner the image gave it, and a new path is 0:0 — what a rootless unpack of the result gives
 * back. Extended attributes are not read (Node cannot); sockets, devices and fifos are left out with a warning.
 */
import { constants as fsc, createReadStream, createWriteStream, promises as fsp } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { TarWriter, type TarWriteOptions } from '../archive/tar.js';
import { compressor } from '../archive/compression.js';
import { copyImage } from '../copy/copy.js';
import type { CopyEvent } from '../copy/types.js';
import { digestOf, newHasher, type Digest } from '../digest/index.js';
import { WharfError, asWharfError } from '../errors.js';
import { inspectSource } from '../inspect/inspect.js';
import { parseJsonObject } from '../oci/manifest.js';
import { manifestFormatOf } from '../oci/convert.js';
import { layerMediaType, type Compression } from '../oci/media-types.js';
import type { Descriptor, Platform } from '../oci/types.js';
import type { Context, ImageReference, ImageSource } from '../transports/types.js';
import { diffImages, type DiffResult } from './diff.js';

export interface RepackOptions extends Context {
  /** The image DIR was unpacked from (default: the destination itself, which then gains the layer). */
  base?: ImageReference;
  /** Which image of an index the base is (default: this machine's platform). */
  platform?: Platform;
  /** Whether this process is root: then owners come from disk, else from the base image (see the module comment). */
  isRoot?: boolean;
  /** The new history entry's created_by (default `wharf repack`) and comment. */
  createdBy?: string;
  comment?: string;
  /** The new layer's compression (default gzip). */
  compression?: Compression;
  /** Hash every file of the same size on both sides, even when its time says it is unchanged. */
  fullCompare?: boolean;
  /** Write a layer even when nothing changed (default: nothing is written then). */
  allowEmpty?: boolean;
  /** The time recorded as created (default now). */
  now?: Date;
  onWarning?: (message: string) => void;
  onEvent?: (event: CopyEvent) => void;
}

export interface RepackResult {
  /** The manifest digest written, or the base's when nothing changed and nothing was written. */
  digest: Digest;
  /** False when DIR held no changes and nothing was written. */
  written: boolean;
  added: number;
  changed: number;
  removed: number;
  /** The new layer (absent when nothing was written). */
  layer?: Descriptor & { diffId: Digest };
  /** Paths left out, by reason (`socket`, `device`, `fifo`). */
  skipped: Record<string, number>;
}

/** The layer's entries, in the order they are written: whiteouts, then paths sorted (parents first). */
interface Plan {
  whiteouts: string[];
  paths: string[];
  added: number;
  changed: number;
  removed: number;
}

/** Add what changed in `dir` (an unpacked root filesystem, or a bundle holding rootfs/) to an image, as one layer. */
export async function repackImage(dir: string, dest: ImageReference, options: RepackOptions = {}): Promise<RepackResult> {
  const base = options.base ?? dest;
  const rootfs = await rootfsOf(dir);
  const warn = options.onWarning ?? (() => {});
  const source = await base.newSource(options);
  let sourceOwned = true;
  try {
    const info = await inspectSource(source, { ...options, noTags: true });
    if (!info.rawConfig) throw new WharfError('UNSUPPORTED', `${base} is a schema 1 image, which has no config to extend`, { hint: `convert it first: wharf copy --format v2s2 ${base} oci:./layout:tag` });
    const diffOptions: Parameters<typeof diffImages>[2] = { keepNodes: true, trustTimes: options.fullCompare !== true };
    if (!options.isRoot) diffOptions.ignore = ['uid', 'gid'];
    if (options.platform) diffOptions.platform = options.platform;
    if (options.signal) diffOptions.signal = options.signal;
    if (options.registry) diffOptions.registry = options.registry;
    diffOptions.onWarning = warn;
    const diff = await diffImages({ kind: 'image', ref: base }, { kind: 'dir', path: rootfs }, diffOptions);
    const plan = planLayer(diff);
    const skipped: Record<string, number> = {};
    const counts = { added: plan.added, changed: plan.changed, removed: plan.removed };
    if (plan.paths.length + plan.whiteouts.length === 0 && !options.allowEmpty) {
      return { digest: digestOf(info.rawManifest), written: false, ...counts, skipped };
    }
    const scratch = await fsp.mkdtemp(join(options.tmpDir ?? tmpdir(), 'wharf-repack-'));
    try {
      const compression = options.compression ?? 'gzip';
      const format = manifestFormatOf(info.imageMediaType);
      const mediaType = layerMediaType(format, compression);
      if (!mediaType) throw new WharfError('USAGE', `a ${format === 'v2s2' ? 'Docker v2s2' : 'OCI'} image cannot hold a ${compression} layer`, { hint: 'use --compress gzip (or --compress none)' });
      const layerFile = join(scratch, 'layer');
      const owners = ownerPolicy(diff, options.isRoot === true);
      const written = await writeLayer(rootfs, plan, layerFile, compression, owners, (reason, path) => {
        skipped[reason] = (skipped[reason] ?? 0) + 1;
        if (skipped[reason] === 1) warn(`${path}: a ${reason} cannot be stored by repack; left out (and any more like it)`);
      }, options.signal);
      const layer: Descriptor = { mediaType, digest: written.digest, size: written.size };
      const now = (options.now ?? new Date()).toISOString();
      const config = extendConfig(info.rawConfig, written.diffId, now, options.createdBy ?? 'wharf repack', options.comment);
      const manifest = extendManifest(info.imageManifest, layer, config);
      const overlay = overlaySource(source, manifest, info.imageMediaType, new Map<string, () => Readable>([
        [config.descriptor.digest, () => Readable.from([config.bytes])],
        [layer.digest, () => createReadStream(layerFile)],
      ]));
      sourceOwned = false; // the copy closes it
      const copyOptions: Parameters<typeof copyImage>[2] = { ...options };
      delete (copyOptions as { platform?: Platform }).platform; // the overlay is one image already
      const result = await copyImage(overlay.reference, dest, copyOptions);
      return { digest: result.digest, written: true, ...counts, layer: { ...layer, diffId: written.diffId }, skipped };
    } finally {
      await fsp.rm(scratch, { recursive: true, force: true }).catch(() => {});
    }
  } finally {
    if (sourceOwned) await source.close();
  }
}

/** DIR itself, or DIR/rootfs when DIR is a runtime bundle (config.json beside rootfs/). */
async function rootfsOf(dir: string): Promise<string> {
  const st = await fsp.stat(dir).catch((err: unknown) => {
    throw asWharfError(err, 'IO_ERROR', dir);
  });
  if (!st.isDirectory()) throw new WharfError('USAGE', `${dir} is not a directory`, { hint: 'give the directory wharf unpack wrote (or the bundle of wharf unpack --bundle)' });
  const bundle = await Promise.all([fsp.stat(join(dir, 'config.json')), fsp.stat(join(dir, 'rootfs'))]).then(([c, r]) => c.isFile() && r.isDirectory(), () => false);
  return bundle ? join(dir, 'rootfs') : dir;
}

/** What goes into the layer, from the diff of the base image (A) against the directory (B). */
export function planLayer(diff: DiffResult): Plan {
  const nodes = diff.nodes!;
  const paths = [...diff.onlyInB, ...diff.different.map((d) => d.path)].filter((p) => p !== '/').sort();
  const removedSet = new Set(diff.onlyInA);
  const whiteouts: string[] = [];
  for (const p of diff.onlyInA) {
    // Below a removed directory, or below a directory that is now something else: the parent's own change says it.
    let covered = false;
    for (let q = p.slice(0, p.lastIndexOf('/')); q; q = q.slice(0, q.lastIndexOf('/'))) {
      if (removedSet.has(q) || nodes.b(q)?.type !== 'dir') {
        covered = true;
        break;
      }
    }
    if (!covered) whiteouts.push(p);
  }
  return { whiteouts, paths, added: diff.onlyInB.length, changed: diff.different.length, removed: diff.onlyInA.length };
}

/** The owner a path gets in the layer, given its owner on disk. */
type OwnerOf = (path: string, disk: { uid: number; gid: number }) => { uid: number; gid: number };

/** Root: owners from disk. Rootless: the base image's owner for paths it had, 0:0 for new ones. */
function ownerPolicy(diff: DiffResult, isRoot: boolean): OwnerOf {
  if (isRoot) return (_p, disk) => ({ uid: disk.uid, gid: disk.gid });
  return (p) => {
    const before = diff.nodes!.a(p);
    return before ? { uid: before.uid, gid: before.gid } : { uid: 0, gid: 0 };
  };
}

/** Write the layer tar, compressed, to `file`: its diff_id, digest and size. */
async function writeLayer(
  rootfs: string,
  plan: Plan,
  file: string,
  compression: Compression,
  ownerOf: OwnerOf,
  skip: (reason: string, path: string) => void,
  signal?: AbortSignal,
): Promise<{ diffId: Digest; digest: Digest; size: number }> {
  const tarHash = hashing();
  const blobHash = hashing();
  const head = new PassThrough({ highWaterMark: 1 << 20 });
  const z = compressor(compression) ?? new PassThrough();
  const sink = pipeline(head, tarHash.stream, z, blobHash.stream, createWriteStream(file), signal ? { signal } : {});
  sink.catch(() => {});
  const tar = new TarWriter(head, signal);
  try {
    for (const p of plan.whiteouts) {
      const slash = p.lastIndexOf('/');
      await tar.addFile(`${p.slice(1, slash + 1)}.wh.${p.slice(slash + 1)}`, 0, Buffer.alloc(0), { mode: 0o644, uid: 0, gid: 0, mtime: 0 });
    }
    const firstName = new Map<string, string>(); // inode -> the first path written for it
    for (const p of plan.paths) {
      signal?.throwIfAborted();
      await addPath(tar, rootfs, p, ownerOf, firstName, skip);
    }
    await tar.finish();
    await sink;
  } catch (err) {
    head.destroy();
    await sink.catch(() => {});
    throw err;
  }
  return { diffId: tarHash.digest(), digest: blobHash.digest(), size: blobHash.bytes() };
}

/** One path of the directory as a tar entry, read again with lstat (the diff's view may be a moment old). */
async function addPath(tar: TarWriter, rootfs: string, path: string, ownerOf: OwnerOf, firstName: Map<string, string>, skip: (reason: string, path: string) => void): Promise<void> {
  const abs = join(rootfs, path);
  const name = path.slice(1);
  const st = await fsp.lstat(abs).catch((err: unknown) => {
    throw changedDuringRepack(abs, err);
  });
  const opts: TarWriteOptions = { mode: st.mode & 0o7777, mtime: Math.floor(st.mtimeMs / 1000), ...ownerOf(path, st) };
  if (st.isDirectory()) return tar.addDirectory(name, opts);
  if (st.isSymbolicLink()) return tar.addSymlink(name, await fsp.readlink(abs), opts);
  if (st.isFile()) {
    const inode = st.nlink > 1 ? `${st.dev}:${st.ino}` : undefined;
    const first = inode ? firstName.get(inode) : undefined;
    if (first !== undefined) return tar.addHardlink(name, first, opts);
    const fh = await fsp.open(abs, fsc.O_RDONLY | fsc.O_NOFOLLOW | fsc.O_NONBLOCK).catch((err: unknown) => {
      throw changedDuringRepack(abs, err);
    });
    try {
      const now = await fh.stat();
      if (!now.isFile() || now.size !== st.size) throw changedDuringRepack(abs);
      await tar.addFile(name, st.size, fh.createReadStream({ autoClose: false, start: 0, end: Math.max(0, st.size - 1), highWaterMark: 1 << 20 }), opts);
    } finally {
      await fh.close();
    }
    if (inode) firstName.set(inode, name);
    return;
  }
  skip(st.isSocket() ? 'socket' : st.isFIFO() ? 'fifo' : 'device', path);
}

function changedDuringRepack(path: string, cause?: unknown): WharfError {
  return new WharfError('IO_ERROR', `${path} changed while repack was reading it`, { hint: 'stop whatever writes to the directory (a running container) and repack again', ...(cause ? { cause } : {}) });
}

/** A pass-through that hashes (sha256) and counts what flows through it. */
function hashing(): { stream: Transform; digest: () => Digest; bytes: () => number } {
  const h = newHasher('sha256');
  let n = 0;
  let hex: string | undefined;
  const stream = new Transform({
    transform(chunk: Buffer, _enc, done) {
      h.update(chunk);
      n += chunk.length;
      done(null, chunk);
    },
  });
  return { stream, digest: () => `sha256:${(hex ??= h.digest('hex'))}` as Digest, bytes: () => n };
}

/** The base config's own JSON with the layer's diff_id and a history entry added; unknown fields kept. */
export function extendConfig(raw: Buffer, diffId: Digest, created: string, createdBy: string, comment?: string): { bytes: Buffer; descriptor: Descriptor } {
  const config = parseJsonObject(raw, 'image config', 'CONFIG_INVALID') as Record<string, unknown>;
  const rootfs = (config.rootfs && typeof config.rootfs === 'object' ? config.rootfs : { type: 'layers' }) as { type?: string; diff_ids?: unknown };
  const diffIds = Array.isArray(rootfs.diff_ids) ? [...(rootfs.diff_ids as unknown[])] : [];
  config.rootfs = { ...rootfs, type: rootfs.type ?? 'layers', diff_ids: [...diffIds, diffId] };
  const history = Array.isArray(config.history) ? [...(config.history as unknown[])] : [];
  config.history = [...history, { created, created_by: createdBy, ...(comment ? { comment } : {}) }];
  config.created = created;
  const bytes = Buffer.from(JSON.stringify(config));
  return { bytes, descriptor: { mediaType: '', digest: digestOf(bytes), size: bytes.length } };
}

/** The base manifest's own JSON with the new config and one more layer; unknown fields and annotations kept. */
export function extendManifest(raw: Buffer, layer: Descriptor, config: { descriptor: Descriptor }): Buffer {
  const manifest = parseJsonObject(raw, 'image manifest', 'MANIFEST_INVALID') as Record<string, unknown>;
  const oldConfig = manifest.config as Record<string, unknown>;
  manifest.config = { ...oldConfig, digest: config.descriptor.digest, size: config.descriptor.size };
  manifest.layers = [...((manifest.layers as unknown[]) ?? []), { mediaType: layer.mediaType, digest: layer.digest, size: layer.size }];
  return Buffer.from(JSON.stringify(manifest));
}

/**
 * The base source with a new top manifest and the new blobs: what the copy engine reads. It names itself after
 * the base (messages say where blobs came from) and closes the base when it is closed.
 */
function overlaySource(base: ImageSource, manifest: Buffer, mediaType: string, blobs: Map<string, () => Readable>): { reference: ImageReference } {
  const reference: ImageReference = {
    transport: base.reference.transport,
    toString: () => base.reference.toString(),
    dockerReference: () => base.reference.dockerReference(),
    newSource: async () => source,
    newDestination: () => Promise.reject(new WharfError('UNSUPPORTED', 'a repacked image is read, never written to')),
  };
  const source: ImageSource = {
    reference,
    getManifest: async (instance, signal) => (instance ? base.getManifest(instance, signal) : { bytes: manifest, mediaType }),
    getBlob: async (descriptor, signal) => {
      const make = blobs.get(descriptor.digest);
      if (make) return { stream: make(), size: descriptor.size };
      return base.getBlob(descriptor, signal);
    },
    repoTags: () => [],
    close: () => base.close(),
  };
  return { reference };
}

