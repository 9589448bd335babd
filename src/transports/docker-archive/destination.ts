import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, promises as fsp, type Stats } from 'node:fs';
import { basename, dirname, join, posix } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as zlib from 'node:zlib';
import { DigestingStream, digestAlgorithm, type Digest } from '../../digest/index.js';
import { NotFoundError, WharfError, asWharfError } from '../../errors.js';
import { TAR_BLOCK, TarWriter, normalizeTarPath, setHeaderChecksum } from '../../archive/tar.js';
import { MediaType, isLayerMediaType } from '../../oci/media-types.js';
import { MAX_CONFIG_BYTES, parseConfig, parseManifest } from '../../oci/manifest.js';
import type { Descriptor } from '../../oci/types.js';
import { parseDockerReference, type DockerReference } from '../../reference/index.js';
import { goMarshal } from '../../util/go-json.js';
import { fsyncDir, streamToFile, tempPathBeside, withLock } from '../../util/fs.js';
import type { Context, DestinationCapabilities, ImageDestination, PutBlobExpectation } from '../types.js';
import { normalizeRepoTag } from './archive.js';
import { ExistingArchive, NOT_A_DOCKER_ARCHIVE, type ExistingImage } from './existing.js';
import { configFileName, layerFileName, legacyLayers, manifestJson, repositoriesJson } from './gojson.js';
import type { DockerArchiveReference } from './reference.js';

export interface DockerArchiveDestinationOptions {
  /**
   * Replace whatever file is at the path instead of adding the image to it (the archive then holds this image
   * only). Default false: an existing docker-archive keeps its images and gains this one, and a non-empty file
   * that is not a docker-archive is refused with DESTINATION_EXISTS. Either way the write is atomic.
   */
  overwrite?: boolean;
  /** More tags for the image, besides the reference's own (skopeo copy --additional-tag). */
  additionalTags?: (DockerReference | string)[];
}

export const DOCKER_ARCHIVE_CAPABILITIES: DestinationCapabilities = Object.freeze({
  manifestTypes: Object.freeze([MediaType.DockerManifest]),
  acceptsIndex: false,
  concurrentPutBlob: true,
  layerCompression: 'decompress',
});

interface StagedBlob {
  /** A staging file (the whole file), or the direct archive (an entry's data at `offset`). */
  path: string;
  offset: number;
  size: number;
  /** Whether the blob is already an entry of the direct archive (named by layerFileName). */
  direct: boolean;
}

/**
 * The temporary archive beside the path, opened with the destination when it writes a new file: layers are
 * streamed straight into it as tar entries while the copy runs, so each is written once. commit() appends the
 * rest of the archive to it and renames it into place (or, when it must merge after all, reads the layers back
 * from it like staged files).
 */
interface DirectArchive {
  path: string;
  fh: fsp.FileHandle;
  /** The end of the last complete entry: where the next one goes. */
  end: number;
  /** Whether a blob is being streamed into it (one at a time). */
  busy: boolean;
}

/** The largest size a ustar header holds (11 octal digits); a larger entry needs a PAX header, so is staged. */
const MAX_USTAR_SIZE = 0o77777777777;

interface PendingImage {
  configDigest: Digest;
  configBytes: Buffer;
  layers: Digest[];
}

/** Where the archive goes: a new or replaced regular file (atomic rename), or a pipe/device (written directly). */
type TargetKind = 'file' | 'stream';

/** Where the new image's files ended up in the archive. */
interface WrittenImage {
  config: string;
  layers: string[];
  /** The top legacy layer id, which `repositories` maps the image's tags to. */
  topID: string | undefined;
}

/** Root files of the old archive that are not copied: rewritten (manifest.json, repositories) or made stale. */
const REWRITTEN = new Set(['manifest.json', 'repositories']);
/** The OCI view `docker save` (Docker 25+) adds: its index.json would not list the new image, so it is dropped. */
const STALE_OCI_VIEW = new Set(['index.json', 'oci-layout']);

/** A commit holds the lock for as long as it writes; it refreshes the lock so waiters know it is alive. */
const LOCK_STALE_MS = 60_000;
const LOCK_REFRESH_MS = 10_000;
const LOCK_TIMEOUT_MS = 30 * 60_000;

/**
 * Writes a `docker save` archive, in the layout containers/image writes (so skopeo, podman and docker load
 * it, and a copy by wharf into a new file is byte-identical to one by skopeo): `<hex>.tar` layers
 * (uncompressed, named by diff_id), `<hex>.json` config, legacy `<id>/{layer.tar,VERSION,json}` folders,
 * `manifest.json` and `repositories`.
 *
 * When the archive is a new file (nothing at the path, an empty file, or overwrite), a temporary archive is
 * opened beside the path with the destination, and each layer is streamed straight into it as a tar entry
 * (hashed and verified as it passes; a bad one is cut off again), so it is written once; one layer streams
 * in at a time, and layers arriving meanwhile are staged. Other blobs (the config) are staged (hashed and
 * verified) in a scratch folder. commit() appends the staged layers, the config, legacy folders,
 * manifest.json and repositories to the temporary archive (layer files thus come in arrival order), fsyncs
 * it and renames it into place, so an uncommitted or failed copy leaves the path exactly as it was (same
 * file, same bytes) and no temporary file beside it. When an archive must be merged after all (one appeared
 * at the path by commit), the streamed layers are read back from the temporary archive like staged files.
 *
 * Writing into an existing archive adds the image, the way `docker save a b` archives hold several images
 * (skopeo refuses instead: "docker-archive doesn't support modifying existing images"):
 * - Under a lock beside the path (`.NAME.wharf-lock`, shared with oci-archive), so concurrent writers lose
 *   nothing, the archive at the path is read again and a new one is written: every entry of the old archive,
 *   copied by streaming byte ranges of it (never buffering a layer), then the new image's files, then a
 *   manifest.json listing the old items, in their order, then the new one, and a merged `repositories`.
 *   Old layer files are verified against the diff_id their image's config lists, and old configs against
 *   the digest their names claim, as they are copied: a corrupt old archive fails the commit with
 *   DIGEST_MISMATCH and is left as it was.
 * - A layer or config the old archive already holds (same digest) is not written again: the new image's
 *   manifest.json item names the old file. Legacy `<id>/` files already present (shared base layers give the
 *   same ids) are not written again either.
 * - Tags move as with `docker load`: a tag of the new image (reference tag or additional tag) is removed from
 *   any older image that has it. An older image left with no tags stays in the archive, untagged, reachable
 *   as `:@N` (docker save archives can hold untagged images); nothing is ever dropped.
 * - An image identical to one the archive holds (same config digest, hence same layers) is not added again:
 *   its tags are merged into that item. If that changes nothing, the file is not rewritten at all.
 * - A gzip-compressed archive stays gzip-compressed. The OCI view Docker 25+ adds (index.json, oci-layout)
 *   is dropped with a warning, since it would not list the new image; the images stay loadable from
 *   manifest.json.
 * - A non-empty file that is not a docker-archive wharf can read (not a tar, no valid manifest.json, a
 *   missing layer, an unsupported compression) is refused with DESTINATION_EXISTS and left untouched; an
 *   empty file is replaced. `overwrite: true` replaces whatever is there.
 * - The existing archive also serves blob reuse: a plain layer file or config it holds is not sent again by
 *   the copy engine; it is copied (and verified) from the old archive at commit.
 * The price of keeping the old images is that the whole old archive is copied into the new one (a tar cannot
 * be changed in place atomically): adding to a large archive costs about its size in extra I/O.
 *
 * A pipe or device as the path (docker-archive:/dev/stdout) is written directly, with no merge and no lock.
 */
export class DockerArchiveDestination implements ImageDestination {
  readonly capabilities = DOCKER_ARCHIVE_CAPABILITIES;
  private readonly blobs = new Map<Digest, StagedBlob>();
  /** Blobs tryReuseBlob said the existing archive holds, so the copy engine did not send them. */
  private readonly reused = new Set<Digest>();
  private readonly repoTags: DockerReference[] = [];
  private image: PendingImage | undefined;
  private tempTar: string | undefined;
  private direct: DirectArchive | undefined;
  private committed = false;
  private closed = false;

  private constructor(
    readonly reference: DockerArchiveReference,
    private readonly target: string,
    private readonly kind: TargetKind,
    private readonly staging: string,
    private readonly ctx: Context,
    private readonly overwrite: boolean,
    /** The archive at the path when the destination was opened, for blob reuse; commit() looks again. */
    private readonly existing: ExistingArchive | undefined,
  ) {
    if (reference.ref) this.repoTags.push(reference.ref);
  }

  static async open(
    reference: DockerArchiveReference,
    ctx: Context = {},
    options: DockerArchiveDestinationOptions = {},
  ): Promise<DockerArchiveDestination> {
    if (reference.index !== undefined) {
      throw new WharfError('INVALID_REFERENCE', `${reference.toString()}: @${reference.index} selects an image to read, not a place to write`, {
        hint: 'write to docker-archive:PATH or docker-archive:PATH:NAME:TAG',
      });
    }
    const overwrite = options.overwrite ?? false;
    const { target, kind, stats } = await checkTarget(reference.path);
    // Refuse a foreign file now, before anything is copied; commit() checks again under the lock.
    const existing =
      kind === 'file' && !overwrite && stats && stats.size > 0 ? await openExisting(target, reference.toString(), ctx) : undefined;
    let staging: string;
    try {
      staging = await fsp.mkdtemp(join(ctx.tmpDir ?? dirname(target), '.wharf-docker-archive-'));
    } catch (err) {
      await existing?.close();
      throw asWharfError(err, 'IO_ERROR', `preparing to write ${reference.toString()}`);
    }
    const dest = new DockerArchiveDestination(reference, target, kind, staging, ctx, overwrite, existing);
    // A new file (or one replaced): stream layers straight into the archive. Merging keeps staging.
    if (kind === 'file' && !existing) await dest.openDirect();
    if (options.additionalTags?.length) {
      try {
        dest.addRepoTags(options.additionalTags);
      } catch (err) {
        await dest.close();
        throw err;
      }
    }
    return dest;
  }

  /** Add tags (normalised, `latest` when none) the image will be listed under in manifest.json. */
  addRepoTags(tags: (DockerReference | string)[]): void {
    for (const t of tags) {
      const ref = (typeof t === 'string' ? parseDockerReference(t) : t).tagNameOnly();
      if (ref.digest) {
        throw new WharfError('INVALID_REFERENCE', `tag ${ref.toString()} has a digest; docker-archive stores NAME:TAG only`);
      }
      if (!this.repoTags.some((r) => r.toString() === ref.toString())) this.repoTags.push(ref);
    }
  }

  async tryReuseBlob(descriptor: Descriptor): Promise<boolean> {
    if (this.blobs.has(descriptor.digest)) return true;
    if (this.closed || this.committed || !this.existing) return false;
    const held = this.existing.reusable(descriptor.digest);
    if (!held || (descriptor.size >= 0 && descriptor.size !== held.size)) return false;
    this.reused.add(descriptor.digest);
    return true;
  }

  async putBlob(stream: Readable, expected: PutBlobExpectation, signal?: AbortSignal): Promise<Descriptor> {
    this.checkWritable();
    if (expected.digest && digestAlgorithm(expected.digest) !== 'sha256') {
      stream.destroy();
      throw new WharfError('UNSUPPORTED', `docker-archive stores sha256 blobs only, not ${expected.digest}`);
    }
    const where = `blob ${expected.digest ?? '(new)'} for ${this.reference.toString()}`;
    signal ??= this.ctx.signal;
    const d = this.direct;
    if (
      d &&
      isLayerMediaType(expected.mediaType) &&
      !(expected.size !== undefined && expected.size > MAX_USTAR_SIZE) &&
      !(expected.digest && this.blobs.has(expected.digest))
    ) {
      // One blob at a time streams into the archive; one arriving meanwhile is staged (its source keeps flowing).
      if (!d.busy) {
        d.busy = true;
        try {
          return await this.putDirect(d, stream, expected, where, signal);
        } finally {
          d.busy = false;
        }
      }
    }
    const incoming = join(this.staging, `incoming-${randomBytes(8).toString('hex')}`);
    const { digest, size } = await streamToFile(stream, incoming, { digest: expected.digest, size: expected.size, where }, signal);
    if (this.blobs.has(digest)) {
      await fsp.rm(incoming, { force: true });
    } else {
      const path = join(this.staging, digest.replace(':', '-'));
      await fsp.rename(incoming, path);
      this.blobs.set(digest, { path, offset: 0, size, direct: false });
    }
    return { mediaType: expected.mediaType, digest, size };
  }

  /** Open the temporary archive beside the path; on failure, blobs are simply staged. */
  private async openDirect(): Promise<void> {
    const path = tempPathBeside(this.target);
    try {
      const fh = await fsp.open(path, 'wx', 0o644);
      this.direct = { path, fh, end: 0, busy: false };
    } catch (err) {
      await fsp.rm(path, { force: true }).catch(() => {});
      this.ctx.logger?.debug?.(`${this.reference.toString()}: cannot write beside ${this.target} now (${(err as Error).message}); staging blobs`);
    }
  }

  /**
   * Stream a layer into the direct archive as a tar entry: a placeholder header, the bytes (hashed and
   * verified as they pass), padding, then the real header written in place. A blob that fails (digest, size,
   * abort, I/O) is cut off again: the archive ends where the last good entry does.
   */
  private async putDirect(d: DirectArchive, stream: Readable, expected: PutBlobExpectation, where: string, signal: AbortSignal | undefined): Promise<Descriptor> {
    const start = d.end;
    const dataStart = start + TAR_BLOCK;
    const digester = new DigestingStream({ digest: expected.digest, size: expected.size, where });
    const sink = new PositionalWriter(d.fh, dataStart);
    try {
      if (this.closed || this.committed) throw new WharfError('USAGE', `${this.reference.toString()}: the destination is closed`);
      await writeAllAt(d.fh, Buffer.alloc(TAR_BLOCK), start);
      try {
        await pipeline(stream, digester, sink, signal ? { signal } : {});
      } finally {
        await sink.settled();
      }
      const digest = digester.digest();
      const size = digester.bytes;
      if (this.blobs.has(digest)) {
        await d.fh.truncate(start);
      } else if (size > MAX_USTAR_SIZE) {
        // Too large for a ustar header: move it out to a staging file; commit() writes it with a PAX header.
        const path = join(this.staging, digest.replace(':', '-'));
        await pipeline(createReadStream(d.path, { start: dataStart, end: dataStart + size - 1, highWaterMark: 1 << 20 }), createWriteStream(path, { flags: 'wx' }));
        await d.fh.truncate(start);
        this.blobs.set(digest, { path, offset: 0, size, direct: false });
      } else {
        const end = dataStart + roundUpBlock(size);
        if (end > dataStart + size) await writeAllAt(d.fh, Buffer.alloc(end - dataStart - size), dataStart + size);
        await writeAllAt(d.fh, await fileHeader(layerFileName(digest), size), start);
        d.end = end;
        this.blobs.set(digest, { path: d.path, offset: dataStart, size, direct: true });
      }
      return { mediaType: expected.mediaType, digest, size };
    } catch (err) {
      stream.destroy();
      await d.fh.truncate(start).catch(() => {});
      throw asWharfError(err, 'IO_ERROR', `writing ${where}`);
    }
  }

  async putManifest(bytes: Buffer, mediaType: string, instance?: Digest): Promise<void> {
    this.checkWritable();
    const where = `manifest for ${this.reference.toString()}`;
    if (instance !== undefined) {
      throw new WharfError('UNSUPPORTED', `${this.reference.toString()}: docker-archive holds single images, not an index`, {
        hint: 'copy one platform of the index (without --all)',
      });
    }
    const parsed = parseManifest(bytes, mediaType || undefined, where);
    if (parsed.kind !== 'image' || parsed.mediaType !== MediaType.DockerManifest) {
      throw new WharfError('MANIFEST_UNSUPPORTED', `${where}: docker-archive stores Docker schema 2 manifests, not ${parsed.mediaType}`, {
        hint: 'convert it to Docker schema 2 (--format v2s2)',
      });
    }
    const m = parsed.manifest;
    const configBytes = await this.configBytes(m.config.digest, where);
    const config = parseConfig(configBytes, `${where}: config`);
    const diffIDs = config.rootfs?.diff_ids;
    if (!Array.isArray(diffIDs)) throw new WharfError('CONFIG_INVALID', `${where}: the config has no rootfs.diff_ids`);
    if (diffIDs.length !== m.layers.length) {
      throw new WharfError('MANIFEST_INVALID', `${where}: ${m.layers.length} layers but the config lists ${diffIDs.length} diff_ids`);
    }
    for (const [i, layer] of m.layers.entries()) {
      if (layer.digest !== diffIDs[i]) {
        throw new WharfError(
          'MANIFEST_INVALID',
          `${where}: layer ${i + 1} is ${layer.digest} but the config's diff_id is ${diffIDs[i]}`,
          {
            hint: 'docker-archive stores uncompressed layers, named by their diff_id: copy with layer decompression (the default for docker-archive)',
          },
        );
      }
      const size = this.blobs.get(layer.digest)?.size ?? this.reusedSize(layer.digest);
      if (size === undefined) throw new NotFoundError('BLOB_UNKNOWN', `${where}: layer ${layer.digest} was not put before the manifest`);
      if (layer.size >= 0 && layer.size !== size) {
        throw new WharfError('SIZE_MISMATCH', `${where}: layer ${layer.digest} is ${size} bytes but the manifest says ${layer.size}`);
      }
    }
    this.image = { configDigest: m.config.digest, configBytes, layers: m.layers.map((l) => l.digest) };
  }

  async commit(): Promise<void> {
    this.checkWritable();
    const image = this.image;
    if (!image) {
      throw new WharfError('USAGE', `${this.reference.toString()}: nothing to commit, no manifest was put`);
    }
    if (this.kind === 'stream') {
      await this.writeOut(false, (tar) => this.writeFresh(tar, image));
    } else {
      const d = this.direct;
      if (d?.busy) throw new WharfError('USAGE', `${this.reference.toString()}: commit() while a blob is still being written`);
      const lockPath = join(dirname(this.target), `.${basename(this.target)}.wharf-lock`);
      await withLock(
        lockPath,
        async () => {
          let base: ExistingArchive | undefined;
          try {
            base = this.overwrite ? undefined : await this.currentArchive();
            if (!base) {
              // The layers streamed into the direct archive stay where they are, when they all belong to the image.
              const inDirect = [...this.blobs].filter(([, b]) => b.direct).map(([digest]) => digest);
              const into = d && inDirect.every((digest) => image.layers.includes(digest)) ? d : undefined;
              await this.writeOut(false, (tar) => this.writeFresh(tar, image, into ? new Set(inDirect) : undefined), into);
            } else {
              await this.merge(base, image);
            }
          } finally {
            if (base && base !== this.existing) await base.close();
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
    await this.existing?.close();
    const d = this.direct;
    if (d) {
      this.direct = undefined;
      await d.fh.close().catch(() => {});
      await fsp.rm(d.path, { force: true }).catch(() => {});
    }
    if (this.tempTar) await fsp.rm(this.tempTar, { force: true }).catch(() => {});
    this.tempTar = undefined;
    await fsp.rm(this.staging, { recursive: true, force: true }).catch(() => {});
  }

  /** The config's bytes: staged, or held by the existing archive (reuse). */
  private async configBytes(digest: Digest, where: string): Promise<Buffer> {
    const staged = this.blobs.get(digest);
    if (staged) {
      if (staged.size > MAX_CONFIG_BYTES) {
        throw new WharfError('TOO_LARGE', `${where}: config is ${staged.size} bytes, more than the ${MAX_CONFIG_BYTES}-byte limit`);
      }
      return readRange(staged.path, staged.offset, staged.size);
    }
    const held = this.reused.has(digest) ? this.existing?.reusable(digest) : undefined;
    if (held?.kind === 'config') return held.bytes;
    throw new NotFoundError('BLOB_UNKNOWN', `${where}: config ${digest} was not put before the manifest`);
  }

  private reusedSize(digest: Digest): number | undefined {
    if (!this.reused.has(digest)) return undefined;
    const held = this.existing?.reusable(digest);
    return held?.kind === 'layer' ? held.size : undefined;
  }

  /** The docker-archive at the path now (under the lock): the one opened earlier if unchanged, else read afresh. */
  private async currentArchive(): Promise<ExistingArchive | undefined> {
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
    return openExisting(this.target, this.reference.toString(), this.ctx);
  }

  /** Add the image to `base`: old entries, new files, merged manifest.json and repositories. */
  private async merge(base: ExistingArchive, image: PendingImage): Promise<void> {
    const newTags = this.repoTags.map((r) => `${r.name()}:${r.tag}`);
    const newKeys = new Set(this.repoTags.map((r) => r.toString()));
    const same = base.images.findIndex(
      (img) => img.configDigest === image.configDigest && img.diffIDs.length === image.layers.length && img.diffIDs.every((d, i) => d === image.layers[i]),
    );
    let changed = same < 0;
    const tagsOf = base.images.map((img, i) => {
      const own = img.item.RepoTags;
      if (i === same) {
        const have = new Set(own.map(normalizeRepoTag));
        const added = this.repoTags.filter((r) => !have.has(r.toString())).map((r) => `${r.name()}:${r.tag}`);
        if (added.length) changed = true;
        return [...own, ...added];
      }
      const kept = own.filter((t) => !newKeys.has(normalizeRepoTag(t)));
      if (kept.length !== own.length) changed = true;
      return kept;
    });
    if (!changed) {
      this.ctx.logger?.debug?.(`${this.reference.toString()}: the archive already holds this image with these tags; it is left as it is`);
      return;
    }

    await this.writeOut(base.gzipped, async (tar) => {
      await this.copyOldEntries(tar, base);
      const written = same < 0 ? await this.writeImageFiles(tar, image, base) : undefined;

      const items: Record<string, unknown>[] = base.rawItems.map((raw, i) => {
        const { Config, Layers, RepoTags: _old, ...rest } = raw;
        return { Config, RepoTags: tagsOf[i], Layers, ...rest };
      });
      if (written) items.push({ Config: written.config, RepoTags: newTags, Layers: written.layers });
      const manifest = Buffer.from(goMarshal(items), 'utf8');
      await tar.addFile('manifest.json', manifest.length, manifest, { mode: 0o444 });

      const repositories = new Map<string, Map<string, string>>();
      for (const [name, tags] of base.repositories) {
        const kept = new Map([...tags].filter(([tag]) => !newKeys.has(normalizeRepoTag(`${name}:${tag}`))));
        if (kept.size) repositories.set(name, kept);
      }
      const topID = written ? written.topID : base.topLegacyID(base.images[same]!);
      if (topID) addRepositories(repositories, this.repoTags, topID);
      const repos = repositoriesJson(repositories);
      await tar.addFile('repositories', repos.length, repos, { mode: 0o444 });
    });
  }

  /**
   * Copy every entry of the old archive except manifest.json, repositories and a stale OCI view, in archive
   * order, verifying layers and configs as they stream.
   */
  private async copyOldEntries(tar: TarWriter, base: ExistingArchive): Promise<void> {
    const copied = new Set<string>();
    const warn = (msg: string): void => this.ctx.logger?.warn(`${this.target}: ${msg}`);
    let droppedOci = false;
    for (const e of base.entries) {
      const name = normalizeTarPath(e.name);
      if (!name) {
        if (name === undefined) warn(`the entry "${e.name}" points outside the archive; it is not kept`);
        continue;
      }
      if (copied.has(name)) continue; // a later duplicate: readers use the first one
      if (REWRITTEN.has(name)) continue;
      if (STALE_OCI_VIEW.has(name)) {
        if (!droppedOci) warn('its OCI index.json and oci-layout (written by docker save 25+) would not list the new image; they are dropped, the images stay listed in manifest.json');
        droppedOci = true;
        continue;
      }
      const opts = { mode: e.mode, mtime: e.mtime, uid: e.uid, gid: e.gid };
      switch (e.type) {
        case 'dir':
          await tar.addDirectory(e.name, opts);
          break;
        case 'symlink':
          if (!e.linkname) {
            warn(`the symbolic link "${e.name}" has no target; it is not kept`);
            continue;
          }
          await tar.addSymlink(e.name, e.linkname, opts);
          break;
        case 'hardlink': {
          const to = normalizeTarPath(e.linkname);
          if (!to || !copied.has(to)) {
            warn(`the hard link "${e.name}" points to "${e.linkname}", which is not kept before it; it is not kept`);
            continue;
          }
          await tar.addHardlink(e.name, e.linkname, opts);
          break;
        }
        case 'file': {
          const check = base.checks.get(e);
          const data = check ? base.verifiedStream(e, check, this.ctx) : base.stream(e, this.ctx.signal);
          try {
            await tar.addFile(e.name, e.size, data, opts);
          } finally {
            data.destroy();
          }
          break;
        }
        default:
          warn(`the entry "${e.name}" is a device, fifo or sparse file; it is not kept`);
          continue;
      }
      copied.add(name);
    }
  }

  /** A new archive holding only the image, in the order containers/image writes it. */
  private async writeFresh(tar: TarWriter, image: PendingImage, present?: ReadonlySet<Digest>): Promise<void> {
    const written = await this.writeImageFiles(tar, image, undefined, present);
    const fileOpts = { mode: 0o444 };
    const tags = this.repoTags.map((r) => `${r.name()}:${r.tag}`);
    const manifest = manifestJson([{ config: written.config, repoTags: tags, layers: written.layers }]);
    await tar.addFile('manifest.json', manifest.length, manifest, fileOpts);
    const repositories = new Map<string, Map<string, string>>();
    if (written.topID) addRepositories(repositories, this.repoTags, written.topID);
    const repos = repositoriesJson(repositories);
    await tar.addFile('repositories', repos.length, repos, fileOpts);
  }

  /**
   * The image's layers, config and legacy folders, skipping any file `base` already holds (same digest, or
   * the same legacy id) and never reusing a name `base` gives to something else. Layers in `present` are
   * already in the archive being written (streamed into the direct archive, under their layerFileName).
   */
  private async writeImageFiles(
    tar: TarWriter,
    image: PendingImage,
    base: ExistingArchive | undefined,
    present?: ReadonlySet<Digest>,
  ): Promise<WrittenImage> {
    const fileOpts = { mode: 0o444 };
    const written = new Set<string>();
    const taken = (n: string): boolean => written.has(n) || (base?.hasName(n) ?? false);
    const freeName = (preferred: string, ext: string): string => {
      const stem = preferred.slice(0, -ext.length);
      let n = preferred;
      for (let k = 1; taken(n); k++) n = `${stem}-${k}${ext}`;
      written.add(n);
      return n;
    };

    const nameOf = new Map<Digest, string>();
    for (const digest of present ?? []) {
      const name = layerFileName(digest);
      if (taken(name)) throw new WharfError('IO_ERROR', `${this.reference.toString()}: layer file ${name} is written twice`);
      written.add(name);
      nameOf.set(digest, name);
    }
    for (const digest of image.layers) {
      if (nameOf.has(digest)) continue;
      const held = base?.layerFile(digest);
      if (held) {
        nameOf.set(digest, held.name);
        continue;
      }
      const name = freeName(layerFileName(digest), '.tar');
      nameOf.set(digest, name);
      await this.addLayer(tar, name, digest, fileOpts);
    }
    let config: string;
    const heldConfig: ExistingImage | undefined = base?.imageWithConfig(image.configDigest);
    if (heldConfig) {
      config = heldConfig.configEntry.name;
    } else {
      config = freeName(configFileName(image.configDigest), '.json');
      await tar.addFile(config, image.configBytes.length, image.configBytes, fileOpts);
    }

    const legacy = legacyLayers(image.layers, image.configBytes);
    const seen = new Set<string>();
    for (const l of legacy) {
      if (seen.has(l.id)) continue;
      seen.add(l.id);
      const layerName = nameOf.get(l.digest)!;
      const link = posix.relative(l.id, normalizeTarPath(layerName) ?? layerName);
      if (!taken(`${l.id}/layer.tar`)) await tar.addSymlink(`${l.id}/layer.tar`, link, { mode: 0 });
      if (!taken(`${l.id}/VERSION`)) await tar.addFile(`${l.id}/VERSION`, 3, Buffer.from('1.0'), fileOpts);
      if (!taken(`${l.id}/json`)) await tar.addFile(`${l.id}/json`, l.json.length, l.json, fileOpts);
    }
    return { config, layers: image.layers.map((d) => nameOf.get(d)!), topID: legacy[legacy.length - 1]?.id };
  }

  /** One layer file of the new image: from staging, or (reused) from the archive opened at the start. */
  private async addLayer(tar: TarWriter, name: string, digest: Digest, opts: { mode: number }): Promise<void> {
    const staged = this.blobs.get(digest);
    if (staged) {
      const source =
        staged.size === 0
          ? Readable.from([] as Buffer[])
          : createReadStream(staged.path, { start: staged.offset, end: staged.offset + staged.size - 1, highWaterMark: 1 << 20 });
      try {
        await tar.addFile(name, staged.size, source, opts);
      } finally {
        source.destroy();
      }
      return;
    }
    const held = this.reused.has(digest) ? this.existing?.reusable(digest) : undefined;
    if (held?.kind !== 'layer') {
      throw new NotFoundError('BLOB_UNKNOWN', `${this.reference.toString()}: layer ${digest} was neither put nor held by the existing archive`);
    }
    const data = this.existing!.verifiedStream(held.entry, { kind: 'layer', diffID: digest, compression: 'none', what: `layer ${held.entry.name}` }, this.ctx);
    try {
      await tar.addFile(name, held.size, data, opts);
    } finally {
      data.destroy();
    }
  }

  /**
   * Write an archive with `fill`: to a temporary file beside the path, fsynced and renamed over it (a file), or
   * straight into the pipe or device. A failure leaves the path as it was and removes the temporary file.
   * With `into`, the archive is the direct one: `fill` appends to the entries streamed into it.
   */
  private async writeOut(gzip: boolean, fill: (tar: TarWriter) => Promise<void>, into?: DirectArchive): Promise<void> {
    const direct = this.kind === 'stream';
    const out = into ? into.path : direct ? this.target : tempPathBeside(this.target);
    let fh: fsp.FileHandle | undefined;
    try {
      if (!direct) this.tempTar = out;
      if (into) {
        // The temp file and its handle now belong to this write (removed on failure, renamed on success).
        this.direct = undefined;
        fh = into.fh;
      } else {
        fh = await fsp.open(out, direct ? 'w' : 'wx', 0o644);
      }
      const sink = into ? new PositionalWriter(fh, into.end) : fileHandleWriter(fh);
      let tarOut: Writable = sink;
      let piping: Promise<void> | undefined;
      if (gzip) {
        const gz = zlib.createGzip({ chunkSize: 1 << 16 });
        piping = pipeline(gz, sink);
        piping.catch(() => {}); // observed below
        tarOut = gz;
      }
      const tar = new TarWriter(tarOut, this.ctx.signal);
      try {
        await fill(tar);
        await tar.finish();
        await piping;
      } catch (err) {
        tarOut.destroy();
        await piping?.catch(() => {});
        if (sink instanceof PositionalWriter) await sink.settled();
        throw err;
      }
      // A blob that failed after the last entry may have left bytes past the end.
      if (into) await fh.truncate(into.end + tar.bytesWritten);
      if (!direct) await fh.sync();
      await fh.close();
      fh = undefined;
      if (!direct) {
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

function addRepositories(repositories: Map<string, Map<string, string>>, tags: DockerReference[], id: string): void {
  for (const r of tags) {
    let tagsOf = repositories.get(r.name());
    if (!tagsOf) repositories.set(r.name(), (tagsOf = new Map()));
    tagsOf.set(r.tag!, id);
  }
}

/**
 * The docker-archive at `target`, or undefined when there is none (it vanished). A file that is not a
 * docker-archive wharf can read is refused with DESTINATION_EXISTS, and left alone.
 */
async function openExisting(target: string, ref: string, ctx: Context): Promise<ExistingArchive | undefined> {
  try {
    return await ExistingArchive.open(target, ctx);
  } catch (err) {
    if (err instanceof NotFoundError) return undefined;
    if (err instanceof WharfError && NOT_A_DOCKER_ARCHIVE.has(err.code)) {
      throw new WharfError('DESTINATION_EXISTS', `${ref}: ${target} exists and is not a docker-archive wharf can add an image to: ${err.message}`, {
        hint: 'wharf leaves a file it cannot read as a docker-archive alone: remove it, or write to another path',
        cause: err,
      });
    }
    throw err;
  }
}

/** Decide how the archive path can be written; refuse directories and dangling symlinks. */
async function checkTarget(path: string): Promise<{ target: string; kind: TargetKind; stats: Stats | undefined }> {
  let st: Stats;
  try {
    st = await fsp.stat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      // A dangling symlink would be replaced by the rename, not followed; refuse to guess.
      const lst = await fsp.lstat(path).catch(() => undefined);
      if (lst?.isSymbolicLink()) {
        throw new WharfError('USAGE', `${path} is a symbolic link to a missing file`, { hint: 'write to the real path' });
      }
      const parent = await fsp.stat(dirname(path)).catch(() => undefined);
      if (!parent?.isDirectory()) {
        throw new WharfError('IO_ERROR', `the directory ${dirname(path)} does not exist`, { hint: 'create it first' });
      }
      return { target: path, kind: 'file', stats: undefined };
    }
    throw asWharfError(err, 'IO_ERROR', `checking ${path}`);
  }
  if (st.isDirectory()) {
    throw new WharfError('USAGE', `${path} is a directory`, { hint: 'docker-archive:PATH names the tar file to write' });
  }
  // Write through a symlink to the file it names, keeping the link.
  const target = await fsp.realpath(path).catch((err: unknown) => {
    throw asWharfError(err, 'IO_ERROR', `checking ${path}`);
  });
  return { target, kind: st.isFile() ? 'file' : 'stream', stats: st };
}

/**
 * A Writable over an open FileHandle that leaves the handle open, so the caller can fsync and close it.
 * (FileHandle.createWriteStream with autoClose: false makes a later close() hang after sync() on Node 20.)
 */
function fileHandleWriter(fh: fsp.FileHandle): Writable {
  const writeAll = async (buf: Buffer): Promise<void> => {
    let off = 0;
    while (off < buf.length) {
      const { bytesWritten } = await fh.write(buf, off, buf.length - off);
      off += bytesWritten;
    }
  };
  return new Writable({
    highWaterMark: 1 << 20,
    write(chunk: Buffer, _enc, cb) {
      writeAll(chunk).then(() => cb(), cb);
    },
    writev(chunks, cb) {
      writeAll(Buffer.concat(chunks.map((c) => c.chunk as Buffer))).then(() => cb(), cb);
    },
  });
}


/**
 * A Writable writing at explicit positions of an open FileHandle, from `position` on; the handle stays open.
 * settled() waits for a write still in flight, so the caller can cut the file after a failure safely.
 */
class PositionalWriter extends Writable {
  private inFlight: Promise<void> = Promise.resolve();

  constructor(
    private readonly fh: fsp.FileHandle,
    private position: number,
  ) {
    super({ highWaterMark: 1 << 20 });
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.run(chunk, cb);
  }

  override _writev(chunks: { chunk: Buffer }[], cb: (err?: Error | null) => void): void {
    this.run(chunks.length === 1 ? chunks[0]!.chunk : Buffer.concat(chunks.map((c) => c.chunk)), cb);
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.inFlight.then(() => cb(err));
  }

  settled(): Promise<void> {
    return this.inFlight;
  }

  private run(buf: Buffer, cb: (err?: Error | null) => void): void {
    const at = this.position;
    this.position += buf.length;
    const p = writeAllAt(this.fh, buf, at);
    this.inFlight = p.then(
      () => {},
      () => {},
    );
    p.then(() => cb(), cb);
  }
}

async function writeAllAt(fh: fsp.FileHandle, buf: Buffer, position: number): Promise<void> {
  let off = 0;
  while (off < buf.length) {
    const { bytesWritten } = await fh.write(buf, off, buf.length - off, position + off);
    off += bytesWritten;
  }
}

function roundUpBlock(n: number): number {
  return Math.ceil(n / TAR_BLOCK) * TAR_BLOCK;
}

/**
 * The ustar header TarWriter writes for a layer file (`name` short and ASCII, `size` fitting 11 octal digits):
 * made by TarWriter for an empty file, then given its size and checksum.
 */
export async function fileHeader(name: string, size: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const collect = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk);
      cb();
    },
  });
  await new TarWriter(collect).addFile(name, 0, Buffer.alloc(0), { mode: 0o444 });
  const block = Buffer.concat(chunks);
  if (block.length !== TAR_BLOCK || size > MAX_USTAR_SIZE) throw new WharfError('IO_ERROR', `no plain ustar header for "${name}" (${size} bytes)`);
  block.write(size.toString(8).padStart(11, '0'), 124, 11, 'latin1');
  block[135] = 0;
  setHeaderChecksum(block);
  return block;
}

/** `size` bytes at `offset` of a file. */
async function readRange(path: string, offset: number, size: number): Promise<Buffer> {
  const fh = await fsp.open(path, 'r');
  try {
    const buf = Buffer.alloc(size);
    let got = 0;
    while (got < size) {
      const { bytesRead } = await fh.read(buf, got, size - got, offset + got);
      if (bytesRead === 0) throw new WharfError('IO_ERROR', `${path} ends ${size - got} bytes early`);
      got += bytesRead;
    }
    return buf;
  } finally {
    await fh.close();
  }
}
