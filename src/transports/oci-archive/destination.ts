/**
 * Writing an OCI archive.
 *
 * The image is staged with the oci: destination into a scratch layout (in ctx.tmpDir, or a hidden directory
 * beside PATH), so blobs are hashed and verified exactly as for oci:. commit() then writes the archive —
 * `oci-layout`, `index.json`, `blobs/`, then every blob under `blobs/<alg>/` — with TarWriter into a temporary
 * file beside PATH, fsyncs it and renames it over PATH. Blobs are streamed from the staging layout (or the
 * existing archive) into the tar, never held in memory. Until the rename, PATH is untouched; close() without
 * commit removes everything that was staged.
 *
 * Writing into an existing archive: skopeo replaces the file, losing the images it held. We keep them when
 * that is safe: if PATH already is a readable OCI archive, its other index.json entries are kept (an entry
 * with the same ref.name as ours is replaced, as oci: does), and the blobs they reach are copied into the
 * new archive (verified against their digests on the way), so `oci-archive:x.tar:a` then `oci-archive:x.tar:b`
 * holds both. Blobs no kept entry reaches are dropped. If a kept entry's manifest cannot be understood, every
 * blob of the old archive is kept rather than guess. The read-merge-rename runs under a lock beside PATH,
 * so concurrent writers into one archive lose no entries. A file at PATH that is not a readable OCI archive
 * is replaced, as skopeo does, with a warning. The existing archive also serves blob reuse: a blob it holds
 * is not sent again. The price of keeping is that the kept blobs are copied into the new archive (a tar cannot
 * be changed in place atomically), so writing into a large archive costs about its size in extra I/O.
 *
 * PATH may also be a pipe or device (oci-archive:/dev/stdout): the archive is then written to it directly.
 */
import { createReadStream, createWriteStream, promises as fsp, type Stats } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { Writable, pipeline as pipelineCb, type Readable } from 'node:stream';
import { DigestingStream, digestAlgorithm, digestHex, digestOf, parseDigest, type Digest } from '../../digest/index.js';
import { NotFoundError, WharfError, asWharfError } from '../../errors.js';
import { TarWriter, type TarEntry } from '../../archive/tar.js';
import { MAX_MANIFEST_BYTES, parseJsonObject } from '../../oci/manifest.js';
import { MediaType, isImageManifestMediaType, isIndexMediaType } from '../../oci/media-types.js';
import type { Descriptor, ImageIndex } from '../../oci/types.js';
import { fsyncDir, tempPathBeside, withLock } from '../../util/fs.js';
import { OciLayoutDestination } from '../oci-layout/destination.js';
import { LAYOUT_VERSION, blobPath, readIndex } from '../../oci/layout.js';
import { REF_NAME_ANNOTATION } from '../oci-layout/reference-name.js';
import type { Context, DestinationCapabilities, ImageDestination, ImageReference, PutBlobExpectation } from '../types.js';
import { OciArchiveReader, readerOptions } from './archive.js';

/** A blob the new archive will hold, and where its bytes come from. */
type BlobSource =
  | { kind: 'staged'; path: string; size: number }
  | { kind: 'archive'; reader: OciArchiveReader; entry: TarEntry };

/** Where the archive goes: a new or replaced regular file (atomic rename), or a pipe/device (written directly). */
type TargetKind = 'file' | 'stream';

/** Codes that mean "the file at PATH is not an OCI archive we can read": it is then replaced, as skopeo does. */
const NOT_AN_ARCHIVE = new Set(['ARCHIVE_INVALID', 'TAR_INVALID', 'TOO_LARGE', 'INVALID_DIGEST', 'MANIFEST_INVALID']);

const ARTIFACT_MANIFEST = 'application/vnd.oci.artifact.manifest.v1+json';
/** A commit holds the lock for as long as it writes; it refreshes the lock so waiters know it is alive. */
const LOCK_STALE_MS = 60_000;
const LOCK_REFRESH_MS = 10_000;
const LOCK_TIMEOUT_MS = 30 * 60_000;

export class OciArchiveDestination implements ImageDestination {
  readonly capabilities: DestinationCapabilities;
  /** Blobs tryReuseBlob said the existing archive holds, so the copy engine did not send them. */
  private readonly reused = new Set<Digest>();
  private tempTar: string | undefined;
  private committed = false;
  private closed = false;

  private constructor(
    readonly reference: ImageReference,
    private readonly target: string,
    private readonly kind: TargetKind,
    private readonly staging: string,
    private readonly layoutRoot: string,
    private readonly layout: OciLayoutDestination,
    /** The archive at PATH when the destination was opened, if it was a readable OCI archive. */
    private readonly existing: OciArchiveReader | undefined,
    private readonly ctx: Context,
  ) {
    this.capabilities = { ...layout.capabilities };
  }

  static async open(reference: ImageReference, path: string, name: string | undefined, ctx: Context = {}): Promise<OciArchiveDestination> {
    const { target, kind, stats } = await checkTarget(path, reference.toString());
    let staging: string;
    try {
      // Beside PATH by default (its filesystem has room for the archive); a device or pipe has no such place.
      const scratch = ctx.tmpDir ?? (kind === 'file' ? dirname(target) : tmpdir());
      staging = await fsp.mkdtemp(join(scratch, '.wharf-oci-archive-'));
    } catch (err) {
      throw asWharfError(err, 'IO_ERROR', `preparing to write ${reference.toString()}`);
    }
    let existing: OciArchiveReader | undefined;
    try {
      const layoutRoot = join(staging, 'layout');
      const layout = await OciLayoutDestination.open(reference, layoutRoot, name, { durable: false });
      if (kind === 'file' && stats && stats.size > 0) {
        // Only for blob reuse; commit() looks at PATH again under the lock.
        existing = await OciArchiveReader.open(target, readerOptions(ctx, `existing oci-archive ${path}`)).catch((err: unknown) => {
          ctx.logger?.debug?.(`${reference.toString()}: not reusing blobs of ${path}: ${(err as Error).message}`);
          return undefined;
        });
      }
      return new OciArchiveDestination(reference, target, kind, staging, layoutRoot, layout, existing, ctx);
    } catch (err) {
      await existing?.close();
      await fsp.rm(staging, { recursive: true, force: true }).catch(() => {});
      throw err;
    }
  }

  async tryReuseBlob(descriptor: Descriptor): Promise<boolean> {
    this.checkWritable();
    if (await this.layout.tryReuseBlob(descriptor)) return true;
    if (!this.existing) return false;
    let entry: TarEntry | undefined;
    try {
      entry = this.existing.findBlob(descriptor.digest);
    } catch {
      return false;
    }
    if (!entry || (descriptor.size >= 0 && entry.size !== descriptor.size)) return false;
    this.reused.add(descriptor.digest);
    return true;
  }

  async putBlob(stream: Readable, expected: PutBlobExpectation, signal?: AbortSignal): Promise<Descriptor> {
    this.checkWritable();
    return this.layout.putBlob(stream, expected, signal ?? this.ctx.signal);
  }

  async putManifest(bytes: Buffer, mediaType: string, instance?: Digest): Promise<void> {
    this.checkWritable();
    await this.layout.putManifest(bytes, mediaType, instance);
  }

  async commit(): Promise<void> {
    this.checkWritable();
    // Staged blobs move into the scratch layout's blobs/, and its index.json names our image.
    await this.layout.commit();
    const ours = (await readIndex(this.layoutRoot, true))!.manifests;
    if (this.kind === 'stream') {
      await this.write(undefined, ours);
    } else {
      const lockPath = join(dirname(this.target), `.${basename(this.target)}.wharf-lock`);
      await withLock(
        lockPath,
        async () => {
          const current = await this.currentArchive();
          try {
            await this.write(current, ours);
          } finally {
            if (current && current !== this.existing) await current.close();
          }
        },
        { timeoutMs: LOCK_TIMEOUT_MS, staleMs: LOCK_STALE_MS, refreshMs: LOCK_REFRESH_MS },
      );
    }
    this.committed = true;
    await this.cleanup();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.cleanup();
  }

  private async cleanup(): Promise<void> {
    await this.layout.close().catch(() => {});
    await this.existing?.close();
    if (this.tempTar) await fsp.rm(this.tempTar, { force: true }).catch(() => {});
    this.tempTar = undefined;
    await fsp.rm(this.staging, { recursive: true, force: true }).catch(() => {});
  }

  /** The OCI archive at PATH now (under the lock): the one opened earlier if unchanged, else read afresh. */
  private async currentArchive(): Promise<OciArchiveReader | undefined> {
    let st: Stats;
    try {
      st = await fsp.stat(this.target);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw asWharfError(err, 'IO_ERROR', `checking ${this.target}`);
    }
    if (!st.isFile()) {
      throw new WharfError('DESTINATION_EXISTS', `${this.target} is no longer a regular file`, { hint: 'something replaced it while wharf was writing' });
    }
    if (st.size === 0) return undefined;
    if (this.existing?.sameFile(st)) return this.existing;
    try {
      return await OciArchiveReader.open(this.target, readerOptions(this.ctx, `existing oci-archive ${this.target}`));
    } catch (err) {
      if (err instanceof NotFoundError) return undefined;
      if (err instanceof WharfError && NOT_AN_ARCHIVE.has(err.code)) {
        this.ctx.logger?.warn(`${this.target} is not a readable OCI archive (${err.message}); replacing it`);
        return undefined;
      }
      throw err;
    }
  }

  /** Merge our index entries with those `current` keeps, gather the blobs, and write the archive. */
  private async write(current: OciArchiveReader | undefined, ours: Descriptor[]): Promise<void> {
    const plan = new Map<Digest, BlobSource>();
    // 1. Everything the copy staged.
    const blobsDir = join(this.layoutRoot, 'blobs');
    for (const alg of await fsp.readdir(blobsDir).catch(() => [] as string[])) {
      for (const hex of await fsp.readdir(join(blobsDir, alg))) {
        const digest = `${alg}:${hex}` as Digest;
        const path = blobPath(this.layoutRoot, parseDigest(digest));
        plan.set(digest, { kind: 'staged', path, size: (await fsp.stat(path)).size });
      }
    }
    // 2. What the copy engine did not send because the existing archive held it.
    for (const digest of this.reused) {
      if (plan.has(digest)) continue;
      const reader = [this.existing, current].find((r) => r && safeFind(r, digest));
      if (!reader) {
        throw new NotFoundError('BLOB_UNKNOWN', `${this.reference.toString()}: blob ${digest} was to be kept from the existing archive, which no longer holds it`, {
          hint: 'the archive changed while wharf was writing; copy again',
        });
      }
      plan.set(digest, { kind: 'archive', reader, entry: reader.findBlob(digest)! });
    }
    // 3. The other images of the existing archive, and the blobs they reach.
    let kept: Descriptor[] = [];
    if (current) {
      kept = current.index.manifests.filter((m) => !ours.some((o) => replaces(o, m)));
      const walker = new Walker(current, plan, this.ctx);
      for (const d of kept) await walker.walk(d, true);
      if (walker.unsure) {
        this.ctx.logger?.warn(`${this.target}: ${walker.unsure}; keeping every blob of the existing archive`);
        for (const digest of current.blobDigests()) {
          if (plan.has(digest)) continue;
          const entry = safeFind(current, digest);
          if (entry) plan.set(digest, { kind: 'archive', reader: current, entry });
        }
      }
    }
    const base: Record<string, unknown> = current ? { ...current.indexJson } : {};
    const index: ImageIndex = { ...base, schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [...kept, ...ours] };
    await this.writeTar(index, plan);
  }

  private async writeTar(index: ImageIndex, plan: Map<Digest, BlobSource>): Promise<void> {
    const signal = this.ctx.signal;
    const direct = this.kind === 'stream';
    const out = direct ? this.target : tempPathBeside(this.target);
    let fh: fsp.FileHandle | undefined;
    try {
      let stream: Writable;
      if (direct) {
        stream = createWriteStream(this.target, { flags: 'w', highWaterMark: 1 << 20 });
      } else {
        this.tempTar = out;
        fh = await fsp.open(out, 'wx', 0o644);
        stream = handleWriter(fh);
      }
      const tar = new TarWriter(stream, signal);
      const layoutFile = Buffer.from(JSON.stringify({ imageLayoutVersion: LAYOUT_VERSION }));
      await tar.addFile('oci-layout', layoutFile.length, layoutFile);
      const indexBytes = Buffer.from(JSON.stringify(index));
      await tar.addFile('index.json', indexBytes.length, indexBytes);
      await tar.addDirectory('blobs');
      const digests = [...plan.keys()].sort();
      let alg = '';
      for (const digest of digests) {
        if (digestAlgorithm(digest) !== alg) {
          alg = digestAlgorithm(digest);
          await tar.addDirectory(`blobs/${alg}`);
        }
        const src = plan.get(digest)!;
        const name = `blobs/${alg}/${digestHex(digest)}`;
        if (src.kind === 'staged') {
          const input = createReadStream(src.path, { highWaterMark: 1 << 20 });
          try {
            await tar.addFile(name, src.size, input);
          } finally {
            input.destroy();
          }
        } else {
          // Bytes from the old archive were never verified by this copy: verify them as they pass.
          const raw = src.reader.stream(src.entry, `blob ${digest}`, signal);
          const verified = new DigestingStream({ digest, size: src.entry.size, where: `blob ${digest} of the existing archive ${this.target}` });
          pipelineCb(raw, verified, () => {});
          try {
            await tar.addFile(name, src.entry.size, verified);
          } catch (err) {
            if (err instanceof WharfError && err.code === 'DIGEST_MISMATCH') {
              throw new WharfError('DIGEST_MISMATCH', err.message, {
                hint: `the existing archive is corrupt and its images cannot be kept; remove ${this.target} or write elsewhere`,
                cause: err,
              });
            }
            throw err;
          } finally {
            verified.destroy();
          }
        }
      }
      await tar.finish();
      if (fh) {
        await fh.sync();
        await fh.close();
        fh = undefined;
        const old = await fsp.stat(this.target).catch(() => undefined);
        if (old?.isFile()) await fsp.chmod(out, old.mode & 0o7777).catch(() => {});
        await fsp.rename(out, this.target);
        this.tempTar = undefined;
        await fsyncDir(dirname(this.target));
      }
    } catch (err) {
      await fh?.close().catch(() => {});
      if (this.tempTar) await fsp.rm(this.tempTar, { force: true }).catch(() => {});
      this.tempTar = undefined;
      throw asWharfError(err, 'IO_ERROR', `writing ${this.reference.toString()}`);
    }
  }

  private checkWritable(): void {
    if (this.closed) throw new WharfError('USAGE', `${this.reference.toString()}: the destination is closed`);
    if (this.committed) throw new WharfError('USAGE', `${this.reference.toString()}: the destination is already committed`);
  }
}

/** Whether our new index entry `ours` takes the place of the existing entry `old` (same rule as oci:). */
function replaces(ours: Descriptor, old: Descriptor): boolean {
  const name = ours.annotations?.[REF_NAME_ANNOTATION];
  const oldName = old.annotations?.[REF_NAME_ANNOTATION];
  if (name !== undefined) return oldName === name;
  return oldName === undefined && old.digest === ours.digest;
}

function safeFind(reader: OciArchiveReader, digest: Digest): TarEntry | undefined {
  try {
    return reader.findBlob(digest);
  } catch {
    return undefined;
  }
}

/**
 * Finds the blobs the kept entries of an existing archive reach: manifests and indexes are read (capped,
 * verified) and their descriptors followed. Anything it cannot follow sets `unsure`, and the caller then
 * keeps every blob rather than risk dropping one that is needed.
 */
class Walker {
  unsure: string | undefined;
  private readonly seen = new Set<Digest>();

  constructor(
    private readonly archive: OciArchiveReader,
    private readonly plan: Map<Digest, BlobSource>,
    private readonly ctx: Context,
  ) {}

  async walk(desc: Descriptor, isManifest: boolean): Promise<void> {
    let digest: Digest;
    try {
      digest = parseDigest(desc.digest);
    } catch {
      this.unsure ??= `a descriptor has an invalid digest`;
      return;
    }
    if (this.seen.has(digest)) return;
    this.seen.add(digest);
    let src = this.plan.get(digest);
    if (!src) {
      const entry = safeFind(this.archive, digest);
      if (!entry) {
        // The old archive was already incomplete (or this is a foreign layer, fetched from its urls): keep
        // what there is, and say so.
        if (!desc.urls?.length) this.ctx.logger?.warn(`${this.archive.label}: blob ${digest} is missing; the image that needs it stays incomplete`);
        return;
      }
      src = { kind: 'archive', reader: this.archive, entry };
      this.plan.set(digest, src);
    }
    const mediaType = typeof desc.mediaType === 'string' ? desc.mediaType : '';
    if (!isManifest && !isManifestType(mediaType)) return;
    const size = src.kind === 'staged' ? src.size : src.entry.size;
    if (size > MAX_MANIFEST_BYTES) {
      this.unsure ??= `manifest ${digest} is too large to read`;
      return;
    }
    let json: Record<string, unknown>;
    try {
      const bytes = src.kind === 'staged' ? await fsp.readFile(src.path) : await src.reader.readFile(src.entry, MAX_MANIFEST_BYTES, `manifest ${digest}`);
      if (digestOf(bytes, digestAlgorithm(digest)) !== digest) throw new Error('digest mismatch');
      json = parseJsonObject(bytes, `manifest ${digest}`, 'MANIFEST_INVALID');
    } catch (err) {
      this.unsure ??= `manifest ${digest} cannot be read (${(err as Error).message})`;
      return;
    }
    const children: [unknown, boolean][] = [];
    const list = (v: unknown, asManifest: boolean): void => {
      if (Array.isArray(v)) for (const x of v) children.push([x, asManifest]);
    };
    if (json.config !== undefined) children.push([json.config, false]);
    list(json.layers, false);
    list(json.blobs, false);
    list(json.manifests, true);
    if (json.subject !== undefined) children.push([json.subject, true]);
    if (Array.isArray(json.fsLayers)) {
      for (const l of json.fsLayers) children.push([{ mediaType: '', digest: (l as { blobSum?: unknown })?.blobSum, size: -1 }, false]);
    }
    if (children.length === 0 && json.schemaVersion !== 2) {
      this.unsure ??= `manifest ${digest} is of a kind wharf does not know`;
    }
    for (const [child, asManifest] of children) {
      if (!child || typeof child !== 'object' || typeof (child as Descriptor).digest !== 'string') {
        this.unsure ??= `manifest ${digest} has a malformed descriptor`;
        continue;
      }
      await this.walk(child as Descriptor, asManifest);
    }
  }
}

function isManifestType(mt: string): boolean {
  return isImageManifestMediaType(mt) || isIndexMediaType(mt) || mt === ARTIFACT_MANIFEST;
}

/** Decide how PATH can be written; refuse directories and dangling symlinks. */
async function checkTarget(path: string, ref: string): Promise<{ target: string; kind: TargetKind; stats: Stats | undefined }> {
  let st: Stats;
  try {
    st = await fsp.stat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw asWharfError(err, 'IO_ERROR', `checking ${path}`);
    const lst = await fsp.lstat(path).catch(() => undefined);
    if (lst?.isSymbolicLink()) {
      throw new WharfError('USAGE', `${ref}: ${path} is a symbolic link to a missing file`, { hint: 'write to the real path' });
    }
    const parent = await fsp.stat(dirname(path)).catch(() => undefined);
    if (!parent?.isDirectory()) {
      throw new WharfError('IO_ERROR', `${ref}: the directory ${dirname(path)} does not exist`, { hint: 'create it first' });
    }
    return { target: path, kind: 'file', stats: undefined };
  }
  if (st.isDirectory()) {
    throw new WharfError('DESTINATION_EXISTS', `${ref}: ${path} is a directory`, {
      hint: 'oci-archive:PATH names the tar file to write; for a layout directory use oci:PATH',
    });
  }
  if (!st.isFile()) return { target: path, kind: 'stream', stats: st };
  // Write through a symlink to the file it names, keeping the link.
  return { target: await fsp.realpath(path), kind: 'file', stats: st };
}

/**
 * A Writable over an open FileHandle that leaves the handle open, so the caller can fsync and close it
 * once the archive is complete.
 */
function handleWriter(fh: fsp.FileHandle): Writable {
  let position = 0;
  const writeAll = async (buf: Buffer): Promise<void> => {
    let done = 0;
    while (done < buf.length) {
      const { bytesWritten } = await fh.write(buf, done, buf.length - done, position);
      done += bytesWritten;
      position += bytesWritten;
    }
  };
  return new Writable({
    highWaterMark: 1 << 20,
    write(chunk: Buffer, _enc, cb): void {
      writeAll(chunk).then(() => cb(), cb);
    },
    writev(chunks, cb): void {
      writeAll(Buffer.concat(chunks.map((c) => c.chunk as Buffer))).then(() => cb(), cb);
    },
  });
}
